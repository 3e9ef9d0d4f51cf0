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
        const __mmask16 k = fr_tail16(n - i);
        const __m512 x = _mm512_maskz_loadu_ps(k, g + i);
        const __m512 s = _mm512_div_ps(x, _mm512_add_ps(_mm512_set1_ps(1.0f), exp512(_mm512_sub_ps(_mm512_setzero_ps(), x))));
        _mm512_mask_storeu_ps(g + i, k, _mm512_mul_ps(s, _mm512_maskz_loadu_ps(k, u + i)));
    }
}

/* log(u) for u > 0 finite: u = 2^k m with m in [sqrt(1/2), sqrt(2)), then
 * log(m) as Cephes' logf (f = m - 1, f - f^2/2 + f^3 P(f), Moshier's
 * coefficients) and k ln2 in two parts, as exp512 */
static inline __m512 log512(__m512 u) {
    __m512 m = _mm512_getmant_ps(u, _MM_MANT_NORM_1_2, _MM_MANT_SIGN_zero), k = _mm512_getexp_ps(u);
    const __mmask16 big = _mm512_cmp_ps_mask(m, _mm512_set1_ps(1.41421356f), _CMP_GT_OQ);
    m = _mm512_mask_mul_ps(m, big, m, _mm512_set1_ps(0.5f));
    k = _mm512_mask_add_ps(k, big, k, _mm512_set1_ps(1.0f));
    const __m512 f = _mm512_sub_ps(m, _mm512_set1_ps(1.0f)), z = _mm512_mul_ps(f, f);
    __m512 p = _mm512_set1_ps(7.0376836292e-2f);
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(-1.1514610310e-1f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.1676998740e-1f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(-1.2420140846e-1f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.4249322787e-1f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(-1.6668057665e-1f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(2.0000714765e-1f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(-2.4999993993e-1f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(3.3333331174e-1f));
    __m512 y = _mm512_mul_ps(_mm512_mul_ps(p, f), z);
    y = _mm512_fmadd_ps(k, _mm512_set1_ps(-2.12194440e-4f), y);
    y = _mm512_fnmadd_ps(z, _mm512_set1_ps(0.5f), y);
    return _mm512_fmadd_ps(k, _mm512_set1_ps(0.693359375f), _mm512_add_ps(f, y));
}

/* fr_kda_decay_gate: softplus(x) = log1p(e), e = exp(x), as log(1 + e) * e /
 * ((1 + e) - 1), which keeps log1p's accuracy where 1 + e rounds (e itself
 * where 1 + e == 1); x above 20 is kept */
static void PFX(kda_decay_gate)(float *g, const float *bias, float ea, int n) {
    const __m512 one = _mm512_set1_ps(1.0f), nea = _mm512_set1_ps(-ea);
    for (int i = 0; i < n; i += 16) {
        const __mmask16 m = fr_tail16(n - i);
        const __m512 x = _mm512_add_ps(_mm512_maskz_loadu_ps(m, g + i), _mm512_maskz_loadu_ps(m, bias + i));
        const __m512 e = exp512(x), u = _mm512_add_ps(one, e), d = _mm512_sub_ps(u, one);
        const __mmask16 exact1 = _mm512_cmp_ps_mask(d, _mm512_setzero_ps(), _CMP_EQ_OQ);
        __m512 sp = _mm512_mul_ps(log512(u), _mm512_div_ps(e, _mm512_mask_blend_ps(exact1, d, one)));
        sp = _mm512_mask_blend_ps(exact1, sp, e);
        sp = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, _mm512_set1_ps(20.0f), _CMP_GT_OQ), sp, x);
        _mm512_mask_storeu_ps(g + i, m, _mm512_mul_ps(nea, sp));
    }
}

/* fr_sigmoid_mul: o *= 1 / (1 + exp(-g)) */
static void PFX(sigmoid_mul)(float *o, const float *g, int n) {
    const __m512 one = _mm512_set1_ps(1.0f);
    for (int i = 0; i < n; i += 16) {
        const __mmask16 m = fr_tail16(n - i);
        const __m512 e = exp512(_mm512_sub_ps(_mm512_setzero_ps(), _mm512_maskz_loadu_ps(m, g + i)));
        const __m512 s = _mm512_div_ps(one, _mm512_add_ps(one, e));
        _mm512_mask_storeu_ps(o + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, o + i), s));
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
            const __mmask16 m = fr_tail16(K - c);
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
        const __mmask16 k = fr_tail16(n - i);
        const __m512 e = exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + i), mv));
        _mm512_mask_storeu_ps(x + i, k, e);
        s = _mm512_mask_add_ps(s, k, s, e);
    }
    return _mm512_reduce_add_ps(s);
}
