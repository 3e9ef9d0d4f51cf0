/* Activations to int8 blocks (kernels.h fr_qx) with 16-float vectors: the
 * generic loop's float operations (quant_act.c), bit for bit:
 *   amax = max |x| over the block (NaN ignored, as fmaxf does: vmaxps returns
 *          its second operand, the running max, when x is NaN),
 *   d = amax / 127, id = amax > 0 ? 127 / amax : 0,
 *   q = x * id rounded to nearest even (vcvtps2dq, MXCSR default), clamped to
 *       [-127, 127] (clamping before or after rounding to integer bounds gives the
 *       same), NaN -> 0,
 *   s = the sum of each 16 q.
 * Blocks [b0, b1) of blk values (blk a multiple of 16). */
static void PFX(qx_rows)(const float *X, int blk, int8_t *q, float *d, int16_t *s, size_t b0, size_t b1) {
    const __m512 hi = _mm512_set1_ps(127.0f), lo = _mm512_set1_ps(-127.0f);
    for (size_t b = b0; b < b1; b++) {
        const float *x = X + b * (size_t)blk;
        int8_t *qb = q + b * (size_t)blk;
        __m512 m = _mm512_setzero_ps();
        for (int j = 0; j < blk; j += 16) m = _mm512_max_ps(_mm512_abs_ps(_mm512_loadu_ps(x + j)), m);
        const float amax = _mm512_reduce_max_ps(m);
        d[b] = amax / 127.0f;
        const __m512 id = _mm512_set1_ps(amax > 0 ? 127.0f / amax : 0.0f);
        for (int j = 0; j < blk; j += 16) {
            const __m512 v = _mm512_mul_ps(_mm512_loadu_ps(x + j), id);
            const __mmask16 ord = _mm512_cmp_ps_mask(v, v, _CMP_ORD_Q);
            const __m512i r = _mm512_maskz_cvtps_epi32(ord, _mm512_max_ps(_mm512_min_ps(v, hi), lo));
            _mm_storeu_si128((__m128i *)(void *)(qb + j), _mm512_cvtepi32_epi8(r));
            s[(b * (size_t)blk + (size_t)j) / 16] = (int16_t)_mm512_reduce_add_epi32(r);
        }
    }
}
