/* exp over a vector of attention scores (softmax), included by
 * avx512/kernels.c: x[i] = exp(x[i] - m) for i < n, returning their sum.
 *
 * Range reduction t = k ln2 + r with k = round(t / ln2), |r| <= ln2 / 2 (ln2
 * in two parts, 0.693359375 exactly representable plus -2.12194440e-4, so
 * k ln2 subtracts without rounding for the k that occur), then
 *   exp(r) = 1 + r + r^2 P(r),
 * P of degree 5 with the coefficients of Cephes' expf (Moshier's minimax fit),
 * and the result times 2^k by vscalefps, which rounds to subnormals and to 0
 * (or inf) as the true value does. test_kernels: within 2 ulp of expf over
 * [-110, 89], exp(-inf) = 0, NaN stays NaN. The sum is float32 per lane. */

#include <stdint.h>

static inline __m512 exp512(__m512 t) {
    /* clamp into [-104, 89] (below: 0, above: inf after scalef); max/min return
     * their second operand when one is NaN, so a NaN t stays NaN */
    t = _mm512_min_ps(_mm512_set1_ps(89.0f), _mm512_max_ps(_mm512_set1_ps(-104.0f), t));
    const __m512 k = _mm512_roundscale_ps(_mm512_mul_ps(t, _mm512_set1_ps(1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(k, _mm512_set1_ps(0.693359375f), t);
    r = _mm512_fnmadd_ps(k, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    const __m512 e = _mm512_add_ps(_mm512_fmadd_ps(_mm512_mul_ps(r, r), p, r), _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(e, k);
}

/* g[i] = silu(g[i]) * u[i] = g[i] / (1 + exp(-g[i])) * u[i], the same
 * operations as fr_silu with exp512 for expf */
static void PFX(silu_mul)(float *g, const float *u, int64_t n) {
    int64_t i = 0;
    for (; i < n; i += 16) {
        const __mmask16 k = (__mmask16)(n - i >= 16 ? 0xffff : (1u << (n - i)) - 1);
        const __m512 x = _mm512_maskz_loadu_ps(k, g + i);
        const __m512 s = _mm512_div_ps(x, _mm512_add_ps(_mm512_set1_ps(1.0f), exp512(_mm512_sub_ps(_mm512_setzero_ps(), x))));
        _mm512_mask_storeu_ps(g + i, k, _mm512_mul_ps(s, _mm512_maskz_loadu_ps(k, u + i)));
    }
}

/* fr_kda_decay_dots: 16 channels per step (masked at the end), the decay
 * differences in double, rounded to float as the generic loop does, exp512
 * for expf; sa and sq summed per lane, then across the lanes */
static void PFX(kda_decay_dots)(const float *ki, const float *qi, const double *Gi, const float *k, int64_t ldk,
                                const double *G, int nj, int K, float *sa, float *sq) {
    for (int j = 0; j < nj; j++) {
        const float *kj = k + (size_t)j * (size_t)ldk;
        const double *Gj = G + (size_t)j * (size_t)K;
        __m512 a = _mm512_setzero_ps(), q = _mm512_setzero_ps();
        for (int c = 0; c < K; c += 16) {
            const __mmask16 m = (__mmask16)(K - c >= 16 ? 0xffff : (1u << (K - c)) - 1);
            const __mmask8 m0 = (__mmask8)m, m1 = (__mmask8)(m >> 8);
            const __m256 d0 =
                _mm512_cvtpd_ps(_mm512_sub_pd(_mm512_maskz_loadu_pd(m0, Gi + c), _mm512_maskz_loadu_pd(m0, Gj + c)));
            const __m256 d1 = _mm512_cvtpd_ps(
                _mm512_sub_pd(_mm512_maskz_loadu_pd(m1, Gi + c + 8), _mm512_maskz_loadu_pd(m1, Gj + c + 8)));
            const __m512 d = _mm512_castpd_ps(
                _mm512_insertf64x4(_mm512_castps_pd(_mm512_castps256_ps512(d0)), _mm256_castps_pd(d1), 1));
            const __m512 e = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, kj + c), exp512(d));
            a = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, ki + c), e, a);
            q = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, qi + c), e, q);
        }
        sa[j] = _mm512_reduce_add_ps(a);
        sq[j] = _mm512_reduce_add_ps(q);
    }
}

static float PFX(exp_shift)(float *x, int n, float m) {
    const __m512 mv = _mm512_set1_ps(m);
    __m512 s = _mm512_setzero_ps();
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512 e = exp512(_mm512_sub_ps(_mm512_loadu_ps(x + i), mv));
        _mm512_storeu_ps(x + i, e);
        s = _mm512_add_ps(s, e);
    }
    if (i < n) {
        const __mmask16 k = (__mmask16)((1u << (n - i)) - 1);
        const __m512 e = exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + i), mv));
        _mm512_mask_storeu_ps(x + i, k, e);
        s = _mm512_mask_add_ps(s, k, s, e);
    }
    return _mm512_reduce_add_ps(s);
}
