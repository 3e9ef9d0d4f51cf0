/* The decode kernel (n = 1) of the integer path for blocks of 32, shared by
 * avx2/int8_q0.h and avx512/int8_q0.h (included after their q0_unpack, q0_dot
 * and q0_c, and kernels/int8_q0_blocks.h; AVX2 + FMA + F16C intrinsics only). */
#ifndef FR_INT8_Q0_ROW_H
#define FR_INT8_Q0_ROW_H
#ifndef Q0_PD
/* bytes of the row prefetched ahead (0: off). Nothing measurable on the Zen 5 class VM (its
 * hardware prefetcher kept up with this kernel); on the Xeon with AMX, single thread from DRAM
 * (bench/int8_bench.c Q8_0 1 300000), off 8.4-8.7 GB/s, 2048 10.8-12.0, 4096 11.9-12.2 */
#define Q0_PD 4096
#endif

/* ---- decode: a row at a time, or two ----
 * n = 1 reads the weights as sequential streams: a row's blocks in order, then
 * the next row. q0_rows takes N = 1 or 2 rows at once (two streams: on the Zen 3
 * VM a thread reads more from DRAM with two, bench/RESULTS.md Run 35; tiles of
 * 8 rows read 8 interleaved streams, which the memory system serves far slower:
 * measured 32-36 GB/s against 35-56 GB/s sequential with 2 threads on the
 * Xeon, bench/RESULTS.md). Eight blocks at a time: their 8 ymm of partial sums
 * reduce (vphaddd) into one ymm, lane i = block b + i's exact sum, then acc +=
 * (d_w * d_x) * float(sum - C * S) for the 8 blocks at once; the 8 lanes are
 * summed at the end of the row (a different float order from the generic
 * kernel: within 1e-6 of sum|w x|). A row's operations are the same alone or
 * in a pair: the same output bit for bit. */
static Q0AI void q0_rows(const int N, const int dt, const fr_tensor *W, const fr_qx *X, float *Y, const int64_t *rs) {
    const int64_t nb = X->cols / 32;
    const int64_t bb = q0_bb(dt);
    const int C = q0_c(dt);
    const uint8_t *wr[2];
    for (int k = 0; k < N; k++) wr[k] = (const uint8_t *)W->data + (size_t)rs[k] * fr_row_bytes(W);
    const int8_t *xq = X->q;
    const float *xd = X->d;
    const int16_t *xs = X->s;
    __m256 acc[2];
    for (int k = 0; k < N; k++) acc[k] = _mm256_setzero_ps();
    int64_t b = 0;
    for (; b + 8 <= nb; b += 8) {
        const __m256 dx = _mm256_loadu_ps(xd + b);
        for (int k = 0; k < N; k++) {
            const uint8_t *p = wr[k] + b * bb;
#if Q0_PD
            for (int64_t l = 0; l < 8 * bb; l += 64) {
                _mm_prefetch((const char *)p + Q0_PD + l, _MM_HINT_T0);
                if (FR_PF_L2) _mm_prefetch((const char *)p + FR_PF_L2 + l, _MM_HINT_T1); /* kernels.h */
            }
#endif
            __m256i d[8];
            uint16_t dh[8];
            for (int i = 0; i < 8; i++) {
                if (!q0_min(dt)) memcpy(&dh[i], p + i * bb, 2);
                d[i] = q0_dot(dt, q0_unpack(dt, p + i * bb),
                              _mm256_loadu_si256((const __m256i *)(const void *)(xq + 32 * (b + i))));
            }
            /* lane i = block b + i: pairs, pairs of pairs, then the two 128-bit halves */
            __m256i q0 = _mm256_hadd_epi32(_mm256_hadd_epi32(d[0], d[1]), _mm256_hadd_epi32(d[2], d[3]));
            __m256i q1 = _mm256_hadd_epi32(_mm256_hadd_epi32(d[4], d[5]), _mm256_hadd_epi32(d[6], d[7]));
            __m256i sum =
                _mm256_add_epi32(_mm256_permute2x128_si256(q0, q1, 0x20), _mm256_permute2x128_si256(q0, q1, 0x31));
            if (C) { /* S of block b + i = s[2(b+i)] + s[2(b+i)+1] */
                __m256i sx = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)(const void *)(xs + 2 * b)),
                                               _mm256_set1_epi16(1));
                sum = _mm256_sub_epi32(sum, _mm256_mullo_epi32(sx, _mm256_set1_epi32(C)));
            }
            if (q0_min(dt)) { /* the 8 blocks' f16 d | f16 m in one gather; + (m d_x) S per block */
                const __m256i dm = _mm256_i32gather_epi32(
                    (const int *)(const void *)p,
                    _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32((int)bb)), 1);
                const __m256i lo = _mm256_set1_epi32(0xffff);
                const __m256 d8 = _mm256_cvtph_ps(_mm_packus_epi32(_mm256_castsi256_si128(_mm256_and_si256(dm, lo)),
                                                                   _mm256_extracti128_si256(_mm256_and_si256(dm, lo), 1)));
                const __m256 m8 = _mm256_cvtph_ps(_mm_packus_epi32(_mm256_castsi256_si128(_mm256_srli_epi32(dm, 16)),
                                                                   _mm256_extracti128_si256(_mm256_srli_epi32(dm, 16), 1)));
                const __m256i sx = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)(const void *)(xs + 2 * b)),
                                                     _mm256_set1_epi16(1));
                acc[k] = _mm256_fmadd_ps(_mm256_mul_ps(d8, dx), _mm256_cvtepi32_ps(sum), acc[k]);
                acc[k] = _mm256_fmadd_ps(_mm256_mul_ps(m8, dx), _mm256_cvtepi32_ps(sx), acc[k]);
            } else {
                acc[k] = _mm256_fmadd_ps(_mm256_mul_ps(q0_d8(dt, dh), dx), _mm256_cvtepi32_ps(sum), acc[k]);
            }
        }
    }
    for (int k = 0; k < N; k++) {
        const uint8_t *w = wr[k];
        __m128 h = _mm_add_ps(_mm256_castps256_ps128(acc[k]), _mm256_extractf128_ps(acc[k], 1));
        h = _mm_add_ps(h, _mm_movehl_ps(h, h));
        float y = _mm_cvtss_f32(_mm_add_ss(h, _mm_movehdup_ps(h)));
        for (int64_t e = b; e < nb; e++) { /* the last nb % 8 blocks one by one */
            __m256i d = q0_dot(dt, q0_unpack(dt, w + e * bb), _mm256_loadu_si256((const __m256i *)(const void *)(xq + 32 * e)));
            __m128i d4 = _mm_add_epi32(_mm256_castsi256_si128(d), _mm256_extracti128_si256(d, 1));
            d4 = _mm_add_epi32(d4, _mm_shuffle_epi32(d4, 0x4e));
            d4 = _mm_add_epi32(d4, _mm_shuffle_epi32(d4, 0xb1));
            int isum = _mm_cvtsi128_si32(d4) - C * (xs[2 * e] + xs[2 * e + 1]);
            uint16_t dh, mh;
            memcpy(&dh, w + e * bb, 2), memcpy(&mh, w + e * bb + 2, 2);
            if (q0_min(dt))
                y += (q0_d1(dt, dh) * xd[e]) * (float)isum + (q0_d1(dt, mh) * xd[e]) * (float)(xs[2 * e] + xs[2 * e + 1]);
            else
                y += (q0_d1(dt, dh) * xd[e]) * (float)isum;
        }
        Y[rs[k]] = y;
    }
}

/* one row */
static Q0AI void q0_row(const int dt, const fr_tensor *W, const fr_qx *X, float *Y, int64_t r) { q0_rows(1, dt, W, X, Y, &r); }

#endif
