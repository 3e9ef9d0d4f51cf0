/* MLA attention over a bfloat16 latent cache on vdpbf16ps, the not-exact path
 * (included by avx512/kernels.c when FR_BF16: the "avx512bf16" table).
 *
 * The float path (fr_dots / fr_wsum) decodes every cache row to float32 and
 * runs 16 float multiply-adds per instruction; at depth the absorbed attention
 * (16 heads x (512 + 512) products per cached row and layer for V2-Lite) is
 * arithmetic-bound there. vdpbf16ps does 32 products per instruction straight
 * on the cache's bfloat16 values (each product exact, sums in float32), so:
 *   - scores: the absorbed queries are rounded once to bfloat16 (the caller),
 *     the cache rows are read as they are stored;
 *   - values: the softmax weights are rounded to bfloat16 here, pairs of cache
 *     rows are interleaved (row j, row j+1 per column) by one vpermw, and each
 *     head's pair of weights is a 32-bit broadcast.
 * Error: bfloat16's unit roundoff 2^-8 of sum |q c| and of sum |p c| (the cache
 * values themselves are stored exactly; test_kernels checks the bound). */

#include <stdint.h>
#include <string.h>

/* the first min(left, 32) of 32 lanes (left > 0): a row's last k % 32 values by masked loads */
static inline __mmask32 abf_mask32(int left) { return left >= 32 ? ~(__mmask32)0 : (__mmask32)((1u << left) - 1); }
/* 32 bfloat16 at p, those of mask m (the rest 0; nothing outside m is read): a plain load when
 * full (m all ones), as in all but a row's last partial step; masked 16-bit loads cost about 10 %
 * of the scores and values here (bench/attn_bench.c). The caller says full from its loop bounds,
 * so the compiler splits its loop on it (a test of m in here measured as slow as masked loads) */
static inline __attribute__((always_inline)) __m512i abf_load32(int full, __mmask32 m, const uint16_t *p) {
    return full ? _mm512_loadu_si512(p) : _mm512_maskz_loadu_epi16(m, p);
}

/* C[i*ldc + j] = A_i . B_j for a tile of MA <= 4 rows of A and NB <= 4 rows of
 * B; pf (or NULL): 4 rows at stride ldb to prefetch, a cache line of each per
 * step of 32 values */
static inline __attribute__((always_inline)) void abf_dots_tile(const int MA, const int NB, const uint16_t *A,
                                                                int64_t lda, const uint16_t *B, int64_t ldb, float *C,
                                                                int64_t ldc, int k, const uint16_t *pf) {
    __m512 acc[16];
    for (int i = 0; i < 16; i++) acc[i] = _mm512_setzero_ps();
    for (int c = 0; c < k; c += 32) {
        const __mmask32 m = abf_mask32(k - c);
        __m512bh b[4];
        if (pf)
            for (int j = 0; j < 4; j++) _mm_prefetch((const char *)(pf + j * ldb + c), _MM_HINT_T0);
        const int full = k - c >= 32;
        for (int j = 0; j < NB; j++) b[j] = (__m512bh)abf_load32(full, m, B + j * ldb + c);
        for (int i = 0; i < MA; i++) {
            const __m512bh a = (__m512bh)abf_load32(full, m, A + i * lda + c);
            for (int j = 0; j < NB; j++) acc[i * 4 + j] = _mm512_dpbf16_ps(acc[i * 4 + j], a, b[j]);
        }
    }
    float s[16];
    _mm512_storeu_ps(s, hsum16(acc));
    for (int i = 0; i < MA; i++)
        for (int j = 0; j < NB; j++) C[i * ldc + j] = s[i * 4 + j];
}

/* Scores: C[i*ldc + j] = sum_c A_i[c] B_j[c] for i < m, j < n; A [m][lda] and
 * B [n][ldb] bfloat16 (nothing read past k in a row). B streams from memory
 * (the cache rows, read once per token): while the first heads' tile of 4
 * rows runs, the 4 rows ABF_PFD further are prefetched (a prefetch past the
 * block, even past the cache, does not fault). */
#define ABF_PFD 8
static void PFX(dots_bf16)(const uint16_t *A, int64_t lda, const uint16_t *B, int64_t ldb, float *C, int64_t ldc,
                           int m, int n, int k) {
    for (int j = 0; j < n; j += 4) {
        const int nb = n - j < 4 ? n - j : 4;
        const uint16_t *b = B + j * ldb;
        for (int i = 0; i < m; i += 4) {
            const int ma = m - i < 4 ? m - i : 4;
            const uint16_t *a = A + i * lda;
            float *cc = C + i * ldc + j;
            const uint16_t *pf = i == 0 ? b + ABF_PFD * ldb : NULL;
            if (ma == 4 && nb == 4) abf_dots_tile(4, 4, a, lda, b, ldb, cc, ldc, k, pf);
            else abf_dots_tile(ma, nb, a, lda, b, ldb, cc, ldc, k, pf); /* the edges */
        }
    }
}

#define ABF_MAXN 256 /* cache rows per fr_wsum_bf16 call (the weights' pairs on the stack) */

/* columns [c, c + 32) of MA <= 8 heads (those of mask m): C_i += sum over the
 * np pairs of rows. Per pair: two vpermt2w interleave the rows' 32 columns
 * (lane 2c: row j, lane 2c+1: row j+1), each head's weight pair is broadcast
 * once for both halves. */
static inline __attribute__((always_inline)) void abf_wsum_cols(const int MA, const uint32_t pp[][ABF_MAXN / 2], int np,
                                                                const uint16_t *B, int64_t ldb, float *C, int64_t ldc,
                                                                int n, int c, __mmask32 m) {
    const __m512i i0 = _mm512_set_epi16(47, 15, 46, 14, 45, 13, 44, 12, 43, 11, 42, 10, 41, 9, 40, 8, 39, 7, 38, 6, 37,
                                        5, 36, 4, 35, 3, 34, 2, 33, 1, 32, 0); /* columns 0-15; bit 5: row j+1 */
    const __m512i i1 = _mm512_add_epi16(i0, _mm512_set1_epi16(16));             /* columns 16-31 */
    const __mmask16 m0 = (__mmask16)m, m1 = (__mmask16)(m >> 16);
    const int full = m == ~(__mmask32)0;
    __m512 acc[8][2];
    for (int i = 0; i < MA; i++) {
        acc[i][0] = _mm512_maskz_loadu_ps(m0, C + i * ldc);
        acc[i][1] = _mm512_maskz_loadu_ps(m1, C + i * ldc + 16);
    }
    for (int jp = 0; jp < np; jp++) {
        const __m512i a = abf_load32(full, m, B + 2 * jp * ldb + c);
        const __m512i b = 2 * jp + 1 < n ? abf_load32(full, m, B + (2 * jp + 1) * ldb + c) : _mm512_setzero_si512();
        const __m512bh v0 = (__m512bh)_mm512_permutex2var_epi16(a, i0, b), v1 = (__m512bh)_mm512_permutex2var_epi16(a, i1, b);
        for (int i = 0; i < MA; i++) {
            const __m512bh w = (__m512bh)_mm512_set1_epi32((int)pp[i][jp]);
            acc[i][0] = _mm512_dpbf16_ps(acc[i][0], v0, w);
            acc[i][1] = _mm512_dpbf16_ps(acc[i][1], v1, w);
        }
    }
    for (int i = 0; i < MA; i++) {
        _mm512_mask_storeu_ps(C + i * ldc, m0, acc[i][0]);
        _mm512_mask_storeu_ps(C + i * ldc + 16, m1, acc[i][1]);
    }
}

/* Values: C_i[c] += sum_j P_i[j] B_j[c] for i < m, j < n, c < k; P [m][ldp]
 * float32 (rounded to bfloat16 here), B [n][ldb] bfloat16 (nothing read past
 * k in a row), n <= ABF_MAXN. Heads in groups of 8, two accumulators each for
 * 32 columns; the rows interleaved in pairs, so vdpbf16ps adds
 * B_j[c] P_i[j] + B_j+1[c] P_i[j+1]. */
static void PFX(wsum_bf16)(const float *P, int64_t ldp, const uint16_t *B, int64_t ldb, float *C, int64_t ldc, int m,
                           int n, int k) {
    const int np = (n + 1) / 2;
    uint32_t pp[16][ABF_MAXN / 2]; /* pp[i][jp] = (bf16 P_i[2jp], bf16 P_i[2jp+1] in the high half) */
    for (int i0 = 0; i0 < m; i0 += 16) {
        const int ma = m - i0 < 16 ? m - i0 : 16;
        for (int i = 0; i < ma; i++) {
            const float *p = P + (i0 + i) * ldp;
            int j = 0;
            for (; j + 32 <= n; j += 32) /* cvtne2ps: the high 16 from the first operand */
                _mm512_storeu_si512((uint16_t *)pp[i] + j,
                                    (__m512i)_mm512_cvtne2ps_pbh(_mm512_loadu_ps(p + j + 16), _mm512_loadu_ps(p + j)));
            for (; j < n; j++) ((uint16_t *)pp[i])[j] = fr_f32_to_bf16(p[j]);
            if (n & 1) ((uint16_t *)pp[i])[n] = 0; /* the missing row's weight */
        }
        for (int c = 0; c < k; c += 32) {
            const __mmask32 mk = abf_mask32(k - c);
            for (int g = 0; g < ma; g += 8) { /* heads in groups of 8 */
                const uint32_t(*pg)[ABF_MAXN / 2] = pp + g;
                float *cc = C + (i0 + g) * ldc + c;
                if (ma - g >= 8) abf_wsum_cols(8, pg, np, B, ldb, cc, ldc, n, c, mk);
                else abf_wsum_cols(ma - g, pg, np, B, ldb, cc, ldc, n, c, mk);
            }
        }
    }
}
/* Rows of a Q8_0 latent cache as bfloat16 for wsum_bf16: dst[i][c] =
 * bf16(q * d), the generic decoder's float product rounded to nearest even
 * (bitwise fr_f32_to_bf16 of it: the products of a finite scale are never
 * float32 subnormals, which vcvtne2ps2bf16 would flush). n rows of k values
 * (k a multiple of 32), src rows lds bytes apart, dst rows ldd values apart. */
static void PFX(q8_0_bf16)(const uint8_t *src, int64_t lds, uint16_t *dst, int64_t ldd, int n, int k) {
    for (int i = 0; i < n; i++) {
        const uint8_t *p = src + i * lds;
        uint16_t *o = dst + i * ldd;
        for (int c = 0; c < k; c += 32, p += 34) {
            uint16_t h;
            memcpy(&h, p, 2);
            const __m512 d = _mm512_set1_ps(_cvtsh_ss(h));
            const __m512 a = _mm512_mul_ps(
                _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(const void *)(p + 2)))), d);
            const __m512 b = _mm512_mul_ps(
                _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(const void *)(p + 18)))), d);
            _mm512_storeu_si512(o + c, (__m512i)_mm512_cvtne2ps_pbh(b, a)); /* the high 16 from the first operand */
        }
    }
}

/* dst[i] = bf16(x[i]) rounded to nearest even for i < n: fr_f32_to_bf16's
 * result except that float32 subnormals become zero (vcvtne2ps2bf16 treats
 * them as zero) and a NaN keeps its sign but maybe not its payload */
static void PFX(f32_bf16)(const float *x, uint16_t *dst, int64_t n) {
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) /* the high 16 from the first operand */
        _mm512_storeu_si512(dst + i, (__m512i)_mm512_cvtne2ps_pbh(_mm512_loadu_ps(x + i + 16), _mm512_loadu_ps(x + i)));
    if (i < n) {
        const __mmask32 m = abf_mask32((int)(n - i));
        const __m512 lo = _mm512_maskz_loadu_ps((__mmask16)m, x + i), hi = _mm512_maskz_loadu_ps((__mmask16)(m >> 16), x + i + 16);
        _mm512_mask_storeu_epi16(dst + i, m, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
    }
}

#define ATTN_BF16_ENTRIES                                                                                          \
    .dots_bf16 = PFX(dots_bf16), .wsum_bf16 = PFX(wsum_bf16), .q8_0_bf16 = PFX(q8_0_bf16), .f32_bf16 = PFX(f32_bf16),
