/* exp over a vector of attention scores (softmax) and SwiGLU's gate, included
 * by avx2/kernels.c: avx512/exp.h (read that first) with 8-float vectors. The
 * same range reduction and polynomial (Cephes' expf coefficients); AVX2 has no
 * vscalefps, so the result is multiplied by 2^k as 2^k1 * 2^k2 (k1 = k >> 1,
 * k2 = k - k1, both normal for the clamped k in [-150, 128]): the first
 * product is exact, the second rounds once, to subnormals and to 0 (or inf)
 * as the true value does. test_kernels: within 2 ulp of expf over [-110, 89],
 * exp(-inf) = 0, NaN stays NaN. */

static inline __m256 exp256(__m256 t) {
    /* max/min return their second operand when one is NaN, so a NaN t stays NaN */
    t = _mm256_min_ps(_mm256_set1_ps(89.0f), _mm256_max_ps(_mm256_set1_ps(-104.0f), t));
    const __m256 k = _mm256_round_ps(_mm256_mul_ps(t, _mm256_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(k, _mm256_set1_ps(0.693359375f), t);
    r = _mm256_fnmadd_ps(k, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    const __m256 e = _mm256_add_ps(_mm256_fmadd_ps(_mm256_mul_ps(r, r), p, r), _mm256_set1_ps(1.0f));
    const __m256i ki = _mm256_cvtps_epi32(k), k1 = _mm256_srai_epi32(ki, 1), k2 = _mm256_sub_epi32(ki, k1);
    const __m256i b = _mm256_set1_epi32(127);
    const __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(k1, b), 23));
    const __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(k2, b), 23));
    return _mm256_mul_ps(_mm256_mul_ps(e, s1), s2);
}

/* lanes i < n of 8 (n > 0) */
static inline __m256i tail8(int64_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n < 8 ? (int)n : 8), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* g[i] = silu(g[i]) * u[i] = g[i] / (1 + exp(-g[i])) * u[i], the same
 * operations as fr_silu with exp256 for expf */
static void PFX(silu_mul)(float *g, const float *u, int64_t n) {
    for (int64_t i = 0; i < n; i += 8) {
        const __m256i k = tail8(n - i);
        const __m256 x = _mm256_maskload_ps(g + i, k);
        const __m256 e = exp256(_mm256_sub_ps(_mm256_setzero_ps(), x));
        const __m256 s = _mm256_div_ps(x, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
        _mm256_maskstore_ps(g + i, k, _mm256_mul_ps(s, _mm256_maskload_ps(u + i, k)));
    }
}

/* x[i] = exp(x[i] - m) for i < n; returns their sum (8 float lanes) */
static float PFX(exp_shift)(float *x, int n, float m) {
    const __m256 mv = _mm256_set1_ps(m);
    __m256 s = _mm256_setzero_ps();
    for (int i = 0; i < n; i += 8) {
        const __m256i k = tail8(n - i);
        const __m256 e = exp256(_mm256_sub_ps(_mm256_maskload_ps(x + i, k), mv));
        _mm256_maskstore_ps(x + i, k, e);
        s = _mm256_add_ps(s, _mm256_and_ps(e, _mm256_castsi256_ps(k)));
    }
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    return _mm_cvtss_f32(_mm_add_ss(h, _mm_movehdup_ps(h)));
}
#define EXP_SHIFT_ENTRY PFX(exp_shift)
#define SILU_MUL_ENTRY PFX(silu_mul)
