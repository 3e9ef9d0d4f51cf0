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

/* C[i*ldc + j] = A_i . B_j for a tile of MA <= 4 rows of A and NB <= 4 rows of B */
static inline __attribute__((always_inline)) void abf_dots_tile(const int MA, const int NB, const uint16_t *A, int64_t lda, const uint16_t *B,
                             int64_t ldb, float *C, int64_t ldc, int k) {
    __m512 acc[16];
    for (int i = 0; i < 16; i++) acc[i] = _mm512_setzero_ps();
    for (int c = 0; c < k; c += 32) {
        /* the last k % 32 values by masked loads (zeros past k) */
        const __mmask32 m = k - c >= 32 ? ~(__mmask32)0 : (__mmask32)((1u << (k - c)) - 1);
        __m512bh b[4];
        for (int j = 0; j < NB; j++) b[j] = (__m512bh)_mm512_maskz_loadu_epi16(m, B + j * ldb + c);
        for (int i = 0; i < MA; i++) {
            const __m512bh a = (__m512bh)_mm512_maskz_loadu_epi16(m, A + i * lda + c);
            for (int j = 0; j < NB; j++) acc[i * 4 + j] = _mm512_dpbf16_ps(acc[i * 4 + j], a, b[j]);
        }
    }
    float s[16];
    _mm512_storeu_ps(s, hsum16(acc));
    for (int i = 0; i < MA; i++)
        for (int j = 0; j < NB; j++) C[i * ldc + j] = s[i * 4 + j];
}

/* Scores: C[i*ldc + j] = sum_c A_i[c] B_j[c] for i < m, j < n; A [m][lda] and
 * B [n][ldb] bfloat16 (nothing read past k in a row). */
static void PFX(dots_bf16)(const uint16_t *A, int64_t lda, const uint16_t *B, int64_t ldb, float *C, int64_t ldc,
                           int m, int n, int k) {
    for (int j = 0; j < n; j += 4) {
        const int nb = n - j < 4 ? n - j : 4;
        const uint16_t *b = B + j * ldb;
        for (int i = 0; i < m; i += 4) {
            const int ma = m - i < 4 ? m - i : 4;
            const uint16_t *a = A + i * lda;
            float *cc = C + i * ldc + j;
            if (ma == 4 && nb == 4) abf_dots_tile(4, 4, a, lda, b, ldb, cc, ldc, k);
            else abf_dots_tile(ma, nb, a, lda, b, ldb, cc, ldc, k); /* the edges */
        }
    }
}

#define ABF_MAXN 256 /* cache rows per fr_wsum_bf16 call (the weights' pairs on the stack) */

/* columns [c, c + 16) of MA <= 16 heads (those of mask m): C_i += sum over the np pairs of rows */
static inline __attribute__((always_inline)) void abf_wsum_cols(const int MA, const uint32_t pp[][ABF_MAXN / 2], int np, const uint16_t *B, int64_t ldb,
                             float *C, int64_t ldc, int n, int c, __mmask16 m) {
    /* lane 2c takes column c of row j (the low 256 bits), lane 2c+1 column c of row j+1 */
    const __m512i ilv = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7, 22, 6,
                                         21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    __m512 acc[16];
    for (int i = 0; i < MA; i++) acc[i] = _mm512_maskz_loadu_ps(m, C + i * ldc);
    for (int jp = 0; jp < np; jp++) {
        const __m256i lo = _mm256_maskz_loadu_epi16(m, B + 2 * jp * ldb + c);
        const __m256i hi = 2 * jp + 1 < n ? _mm256_maskz_loadu_epi16(m, B + (2 * jp + 1) * ldb + c) : _mm256_setzero_si256();
        const __m512bh v = (__m512bh)_mm512_permutexvar_epi16(ilv, _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1));
        for (int i = 0; i < MA; i++) acc[i] = _mm512_dpbf16_ps(acc[i], v, (__m512bh)_mm512_set1_epi32((int)pp[i][jp]));
    }
    for (int i = 0; i < MA; i++) _mm512_mask_storeu_ps(C + i * ldc, m, acc[i]);
}

/* Values: C_i[c] += sum_j P_i[j] B_j[c] for i < m, j < n, c < k; P [m][ldp]
 * float32 (rounded to bfloat16 here), B [n][ldb] bfloat16 (nothing read past
 * k in a row), n <= ABF_MAXN. Heads in groups of 16 (one accumulator each for 16 columns);
 * per pair of cache rows one vpermw interleaves their 16 columns, so
 * vdpbf16ps adds B_j[c] P_i[j] + B_j+1[c] P_i[j+1]. */
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
        for (int c = 0; c < k; c += 16) {
            float *cc = C + i0 * ldc + c;
            const __mmask16 mk = k - c >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (k - c)) - 1);
            if (ma == 16) abf_wsum_cols(16, pp, np, B, ldb, cc, ldc, n, c, mk);
            else abf_wsum_cols(ma, pp, np, B, ldb, cc, ldc, n, c, mk);
        }
    }
}
#define ATTN_BF16_ENTRIES .dots_bf16 = PFX(dots_bf16), .wsum_bf16 = PFX(wsum_bf16),
