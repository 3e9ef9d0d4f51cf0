/* Activations to int8 blocks (kernels.h fr_qx) with 8-float vectors: the
 * generic loop's float operations (quant_act.c), bit for bit, as
 * avx512/quant_act.h (read that first):
 *   amax = max |x| over the block (NaN ignored: vmaxps returns its second
 *          operand, the running max, when x is NaN),
 *   d = amax / 127, id = amax > 0 ? 127 / amax : 0,
 *   q = x * id rounded to nearest even (vcvtps2dq), clamped to [-127, 127],
 *       NaN -> 0,
 *   s = the sum of each 16 q.
 * Blocks [b0, b1) of blk values (blk a multiple of 16). */
static void PFX(qx_rows)(const float *X, int blk, int8_t *q, float *d, int16_t *s, size_t b0, size_t b1) {
    const __m256 hi = _mm256_set1_ps(127.0f), lo = _mm256_set1_ps(-127.0f);
    const __m256 nosign = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    for (size_t b = b0; b < b1; b++) {
        const float *x = X + b * (size_t)blk;
        int8_t *qb = q + b * (size_t)blk;
        __m256 m = _mm256_setzero_ps();
        for (int j = 0; j < blk; j += 8) m = _mm256_max_ps(_mm256_and_ps(_mm256_loadu_ps(x + j), nosign), m);
        __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        const float amax = _mm_cvtss_f32(_mm_max_ss(m4, _mm_movehdup_ps(m4)));
        d[b] = amax / 127.0f;
        const __m256 id = _mm256_set1_ps(amax > 0 ? 127.0f / amax : 0.0f);
        for (int j = 0; j < blk; j += 16) {
            __m256i r[2];
            for (int e = 0; e < 2; e++) {
                const __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x + j + 8 * e), id);
                const __m256i ord = _mm256_castps_si256(_mm256_cmp_ps(v, v, _CMP_ORD_Q));
                r[e] = _mm256_and_si256(_mm256_cvtps_epi32(_mm256_max_ps(_mm256_min_ps(v, hi), lo)), ord);
            }
            /* int16 in order: packs gives [r0 0..3, r1 0..3 | r0 4..7, r1 4..7] */
            const __m256i w = _mm256_permute4x64_epi64(_mm256_packs_epi32(r[0], r[1]), 0xD8);
            _mm_storeu_si128((__m128i *)(void *)(qb + j),
                             _mm_packs_epi16(_mm256_castsi256_si128(w), _mm256_extracti128_si256(w, 1)));
            __m256i t = _mm256_add_epi32(r[0], r[1]);
            __m128i t4 = _mm_add_epi32(_mm256_castsi256_si128(t), _mm256_extracti128_si256(t, 1));
            t4 = _mm_add_epi32(t4, _mm_shuffle_epi32(t4, 0x4E));
            t4 = _mm_add_epi32(t4, _mm_shuffle_epi32(t4, 0xB1));
            s[(b * (size_t)blk + (size_t)j) / 16] = (int16_t)_mm_cvtsi128_si32(t4);
        }
    }
}
#define QX_ROWS_ENTRY PFX(qx_rows)
