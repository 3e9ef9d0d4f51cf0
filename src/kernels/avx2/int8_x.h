/* AVX2 integer kernels for Q2_K, Q3_K and IQ4_XS (kernels.h fr_qx, activations
 * in blocks of 256): the scheme of avx512/int8_x.h (read that first) with ymm
 * and vpmaddubsw + vpmaddwd, for every token count (no transposed prefill).
 *
 * A block is unpacked to 8 vectors of 32 weights in element order, vector c =
 * groups 2c and 2c + 1 of 16, with w = a_g u + b_g per group:
 *   Q2_K    u = the 2 bits                a = d sc_g    b = -dmin m_g
 *   Q3_K    u = the 3 bits (w = u - 4)    a = d sc_g    b = -4 a
 *   IQ4_XS  u = kv[nibble], signed        a = d sc_j    b = 0   (j = g / 2)
 * vpmaddubsw's pair sums stay exact: u <= 7 against |q| <= 127, and IQ4_XS
 * multiplies |kv| <= 127 by q sign(kv) (as Q8_0 in avx2/int8_q0.h). Then
 * vpmaddwd by 1 leaves 8 int32 lanes, 0..3 for group 2c and 4..7 for 2c + 1,
 * one convert and one multiply-add with the factors (ap), and b against the
 * sums of 16 (X->s). Float sums per group: within 1e-6 of sum|w x| of the
 * generic kernel (tests/test_int8_kernels.c). */
#include <string.h>

#include "kernels/kernels.h"

#define IX2_AI __attribute__((always_inline)) inline
#define IX2_TB 4 /* tokens per tile */

typedef struct ix2_blk {
    __m256i u[8];  /* elements 32c .. 32c + 31 */
    __m256 ap[8];  /* lanes 0..3: a of group 2c, 4..7: of group 2c + 1 */
    __m256 b[2];   /* lane g: b of group g (b[0]) or 8 + g (b[1]) */
} ix2_blk;

static IX2_AI float ix2_f16(const uint8_t *p) { return _cvtsh_ss((unsigned short)(p[0] | p[1] << 8)); }

/* the float factors a of the 16 groups (lo: 0..7, hi: 8..15) to ap */
static IX2_AI void ix2_ap(__m256 lo, __m256 hi, ix2_blk *e) {
#pragma GCC unroll 8
    for (int c = 0; c < 8; c++) {
        const int g = (2 * c) % 8;
        e->ap[c] = _mm256_permutevar8x32_ps(c < 4 ? lo : hi, _mm256_setr_epi32(g, g, g, g, g + 1, g + 1, g + 1, g + 1));
    }
}

static IX2_AI void ix2_unpack(const int dt, const uint8_t *p, ix2_blk *e) {
    const __m256i m3 = _mm256_set1_epi8(3), m15 = _mm256_set1_epi32(15);
    if (dt == FR_DT_IQ4_XS) { /* f16 d | u16 scales_h | scales_l[4] | qs[128] */
        const float d = ix2_f16(p);
        const int sh = p[2] | p[3] << 8;
        const __m256i j = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        uint32_t sl4;
        memcpy(&sl4, p + 4, 4);
        /* sub-block j: nibble j % 2 of scales_l[j / 2], i.e. bits 4j.. of the 32-bit scales_l */
        const __m256i lo = _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32((int)sl4), _mm256_slli_epi32(j, 2)), m15);
        const __m256i hi =
            _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32(sh), _mm256_slli_epi32(j, 1)), _mm256_set1_epi32(3));
        const __m256 a8 = _mm256_mul_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(_mm256_sub_epi32(
                                                               _mm256_or_si256(lo, _mm256_slli_epi32(hi, 4)),
                                                               _mm256_set1_epi32(32))));
        ix2_ap(_mm256_permutevar8x32_ps(a8, _mm256_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3)),
               _mm256_permutevar8x32_ps(a8, _mm256_setr_epi32(4, 4, 5, 5, 6, 6, 7, 7)), e);
        e->b[0] = e->b[1] = _mm256_setzero_ps();
        const __m256i tab = _mm256_broadcastsi128_si256(fr_levels16(dt, 0));
#pragma GCC unroll 8
        for (int c = 0; c < 8; c++) { /* sub-block c: qs[16c .. 16c + 15], low nibbles then high ones */
            __m256i v = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(const void *)(p + 8 + 16 * c)));
            v = _mm256_and_si256(_mm256_srlv_epi64(v, _mm256_setr_epi64x(0, 0, 4, 4)), _mm256_set1_epi8(15));
            e->u[c] = _mm256_shuffle_epi8(tab, v);
        }
        return;
    }
    __m256 lo, hi;
    if (dt == FR_DT_Q2_K) { /* scales[16] | qs[64] | f16 d | f16 dmin */
        const __m256i s0 = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)p));
        const __m256i s1 = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(p + 8)));
        const __m256 d = _mm256_set1_ps(ix2_f16(p + 80)), dm = _mm256_set1_ps(-ix2_f16(p + 82));
        lo = _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_and_si256(s0, m15)));
        hi = _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_and_si256(s1, m15)));
        e->b[0] = _mm256_mul_ps(dm, _mm256_cvtepi32_ps(_mm256_srli_epi32(s0, 4)));
        e->b[1] = _mm256_mul_ps(dm, _mm256_cvtepi32_ps(_mm256_srli_epi32(s1, 4)));
    } else { /* Q3_K: hmask[32] | qs[64] | scales[12] | f16 d; scale s: low 4 bits from byte s % 8 (high
              * nibble for s >= 8), high 2 bits at 2 (s / 4) of byte 8 + s % 4, minus 32 */
        const __m256i b07 = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(p + 96)));
        uint32_t b811;
        memcpy(&b811, p + 104, 4);
        const __m256i h4 = _mm256_cvtepu8_epi32(_mm_set1_epi32((int)b811)); /* bytes 8..11, 8..11 */
        const __m256 d = _mm256_set1_ps(ix2_f16(p + 108));
        const __m256i hlo = _mm256_and_si256(_mm256_srlv_epi32(h4, _mm256_setr_epi32(0, 0, 0, 0, 2, 2, 2, 2)),
                                             _mm256_set1_epi32(3));
        const __m256i hhi = _mm256_and_si256(_mm256_srlv_epi32(h4, _mm256_setr_epi32(4, 4, 4, 4, 6, 6, 6, 6)),
                                             _mm256_set1_epi32(3));
        const __m256i s0 = _mm256_or_si256(_mm256_and_si256(b07, m15), _mm256_slli_epi32(hlo, 4));
        const __m256i s1 = _mm256_or_si256(_mm256_srli_epi32(b07, 4), _mm256_slli_epi32(hhi, 4));
        lo = _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_sub_epi32(s0, _mm256_set1_epi32(32))));
        hi = _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_sub_epi32(s1, _mm256_set1_epi32(32))));
        e->b[0] = _mm256_mul_ps(lo, _mm256_set1_ps(-4.0f));
        e->b[1] = _mm256_mul_ps(hi, _mm256_set1_ps(-4.0f));
    }
    ix2_ap(lo, hi, e);
    /* element 128h + 32j + l: bits 2j of qs[32h + l] (vector c = 4h + j); Q3_K: bit 4h + j of hmask[l] as bit 2 */
    const uint8_t *qs = p + (dt == FR_DT_Q2_K ? 16 : 32);
    const __m256i hm = _mm256_loadu_si256((const __m256i *)(const void *)p);
#pragma GCC unroll 8
    for (int c = 0; c < 8; c++) {
        const int h = c / 4, j = c % 4;
        const __m256i q = _mm256_loadu_si256((const __m256i *)(const void *)(qs + 32 * h));
        __m256i u = _mm256_and_si256(_mm256_srli_epi16(q, 2 * j), m3);
        if (dt == FR_DT_Q3_K)
            u = _mm256_or_si256(u, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hm, 4 * h + j), _mm256_set1_epi8(1)), 2));
        e->u[c] = u;
    }
}

/* acc + the block e times one token's 256 activations x, sums s (16), scale dx */
static IX2_AI __m256 ix2_dot(const int dt, const ix2_blk *e, const int8_t *x, const int16_t *s, float dx, __m256 acc) {
    __m256 t = _mm256_setzero_ps();
#pragma GCC unroll 8
    for (int c = 0; c < 8; c++) {
        const __m256i xv = _mm256_loadu_si256((const __m256i *)(const void *)(x + 32 * c));
        const __m256i p = dt == FR_DT_IQ4_XS ? _mm256_maddubs_epi16(_mm256_abs_epi8(e->u[c]), _mm256_sign_epi8(xv, e->u[c]))
                                              : _mm256_maddubs_epi16(e->u[c], xv);
        t = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_madd_epi16(p, _mm256_set1_epi16(1))), e->ap[c], t);
    }
    if (dt != FR_DT_IQ4_XS) { /* b_g times the group's sum: Q2_K's mins, Q3_K's -4 */
        const __m256i sv = _mm256_loadu_si256((const __m256i *)(const void *)s);
        t = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepi16_epi32(_mm256_castsi256_si128(sv))), e->b[0], t);
        t = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepi16_epi32(_mm256_extracti128_si256(sv, 1))), e->b[1], t);
    }
    return _mm256_fmadd_ps(t, _mm256_set1_ps(dx), acc);
}

static IX2_AI float ix2_hsum(__m256 v) {
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    return _mm_cvtss_f32(_mm_add_ss(h, _mm_movehdup_ps(h)));
}

/* rows [r0, r1) x all tokens: each row's block unpacked once for IX2_TB tokens,
 * in passes of tokens whose activations fill about 256 KiB (n = 1: one row at
 * a time, a sequential stream) */
static IX2_AI void ix2_body(const int dt, const fr_tensor *W, const fr_qx *X, float *Y, int64_t r0, int64_t r1) {
    const int64_t rows = fr_rows(W), cols = X->cols, nb = cols / 256;
    const size_t rb = fr_row_bytes(W), bb = dt == FR_DT_Q2_K ? 84 : dt == FR_DT_Q3_K ? 110 : 136;
    const uint8_t *w0 = W->data;
    const int n = X->n;
    const int64_t tp = (256 * 1024) / cols;
    const int pass = tp < IX2_TB ? IX2_TB : (int)(tp / IX2_TB * IX2_TB);
    for (int t0 = 0; t0 < n; t0 += pass) {
        const int t1 = t0 + pass < n ? t0 + pass : n;
        for (int64_t r = r0; r < r1; r++) {
            const uint8_t *w = w0 + (size_t)r * rb;
            for (int t = t0; t < t1; t += IX2_TB) {
                const int nt = t1 - t < IX2_TB ? t1 - t : IX2_TB;
                __m256 acc[IX2_TB];
                for (int j = 0; j < IX2_TB; j++) acc[j] = _mm256_setzero_ps();
                for (int64_t b = 0; b < nb; b++) {
                    ix2_blk e;
                    ix2_unpack(dt, w + (size_t)b * bb, &e);
#pragma GCC unroll 4
                    for (int j = 0; j < IX2_TB; j++)
                        if (j < nt)
                            acc[j] = ix2_dot(dt, &e, X->q + (int64_t)(t + j) * cols + 256 * b,
                                             X->s + (int64_t)(t + j) * (cols / 16) + 16 * b,
                                             X->d[(int64_t)(t + j) * nb + b], acc[j]);
                }
                for (int j = 0; j < nt; j++) Y[(int64_t)(t + j) * rows + r] = ix2_hsum(acc[j]);
            }
        }
    }
}

#define IX2_FN(name, DT)                                                                                       \
    static void PFX(matmul_q_##name)(const fr_tensor *W, const fr_qx *X, float *Y, int64_t r0, int64_t r1) { \
        ix2_body(DT, W, X, Y, r0, r1);                                                                         \
    }
IX2_FN(q2_k, FR_DT_Q2_K)
IX2_FN(q3_k, FR_DT_Q3_K)
IX2_FN(iq4_xs, FR_DT_IQ4_XS)
#undef IX2_FN

#define INT8_X_ENTRIES                                                                                         \
    [FR_DT_Q2_K] = PFX(matmul_q_q2_k), [FR_DT_Q3_K] = PFX(matmul_q_q3_k), [FR_DT_IQ4_XS] = PFX(matmul_q_iq4_xs),
