/* MLA attention over a bfloat16 latent cache on vdpbf16ps, the not-exact path
 * (included by avx512/kernels.c when FR_BF16: the "avx512bf16" table).
 *
 * The float path (fr_dots / fr_wsum) decodes every cache row to float32 and
 * runs 16 float multiply-adds per instruction; at depth the absorbed attention
 * (16 heads x (512 + 512) products per cached row and layer for V2-Lite) is
 * arithmetic-bound there. vdpbf16ps does 32 products per instruction straight
 * on the cache's bfloat16 values (each product exact, sums in float32), so:
 *   - scores: the absorbed queries are rounded once to bfloat16 (the caller)
 *     and packed (pack_bf16), the cache rows are read as they are stored, the
 *     heads in the lanes (below);
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

/* Scores with the heads in the lanes. The queries are packed once per token
 * (pack_bf16) so that one 128-bit broadcast of 8 values of a cache row (4
 * pairs, the same in every 128-bit lane) meets 4 vectors of queries: lane
 * 4j + ph of vector g holds head 4j + g's pair ph of those 8 values. Each
 * vdpbf16ps then adds 2 products for 16 (head, pair) lanes, the 4 pairs' sums
 * of a head are added at the end of the row, and no operand needs a shuffle:
 * one broadcast load per 4 vdpbf16ps (a 32-bit broadcast per instruction, or
 * the horizontal sums of rows of products, cost about a third more here:
 * bench/RESULTS.md Run 17).
 * Packed: for each group G of 16 heads and step s of 8 values, 4 vectors of
 * 32 bfloat16: dst[((G*S + s)*4 + g)*32 + 8j + 2ph + e] = A[16G + 4j + g][8s + 2ph + e]
 * (S = ceil(k / 8) steps; zero past m heads and past k values). */
#ifndef FR_AMX /* the amx tables pack for tiles (attn_amx.h) */
static void PFX(pack_bf16)(const uint16_t *A, int64_t lda, int m, int k, uint16_t *dst) {
    const int S = (k + 7) / 8;
    for (int G = 0; G < (m + 15) / 16; G++)
        for (int s = 0; s < S; s++)
            for (int g = 0; g < 4; g++)
                for (int j = 0; j < 4; j++) {
                    const int h = 16 * G + 4 * j + g, c = 8 * s;
                    uint16_t *o = dst + (((int64_t)G * S + s) * 4 + g) * 32 + 8 * j;
                    if (h < m && c + 8 <= k) memcpy(o, A + h * lda + c, 16);
                    else
                        for (int e = 0; e < 8; e++) o[e] = h < m && c + e < k ? A[h * lda + c + e] : 0;
                }
}

#endif

/* step s of abf_scores_tile: 8 values of RB rows (those of mask mk unless full) */
static inline __attribute__((always_inline)) void abf_scores_step(const int RB, const int full, const uint16_t *Q, int s,
                                                                  __mmask8 mk, const uint16_t *B, int64_t ldb,
                                                                  __m512 acc[4][4], const uint16_t *pf) {
    __m512bh q[4];
    for (int g = 0; g < 4; g++) q[g] = (__m512bh)_mm512_loadu_si512(Q + ((int64_t)s * 4 + g) * 32);
    if (pf) _mm_prefetch((const char *)(pf + (s & 3) * ldb + (s >> 2) * 32), _MM_HINT_T0);
    for (int i = 0; i < RB; i++) {
        const uint16_t *p = B + i * ldb + 8 * s;
        const __m128i x = full ? _mm_loadu_si128((const __m128i *)(const void *)p) : _mm_maskz_loadu_epi16(mk, p);
        const __m512bh b = (__m512bh)_mm512_broadcast_i32x4(x);
        for (int g = 0; g < 4; g++) acc[i][g] = _mm512_dpbf16_ps(acc[i][g], q[g], b);
    }
}

/* y[i] (16 heads in lanes) for RB <= 4 cache rows from B (rows ldb apart) and
 * one group's packed queries Q (S steps); the last step masked by mk (nothing
 * read past k in a row); pf: the rows 8 ahead, a cache line per step */
static inline __attribute__((always_inline)) void abf_scores_tile(const int RB, const uint16_t *Q, int S, __mmask8 mk,
                                                                  const uint16_t *B, int64_t ldb, __m512 *y,
                                                                  const uint16_t *pf) {
    __m512 acc[4][4];
    for (int i = 0; i < RB; i++)
        for (int g = 0; g < 4; g++) acc[i][g] = _mm512_setzero_ps();
    for (int s = 0; s + 1 < S; s++) abf_scores_step(RB, 1, Q, s, 0xff, B, ldb, acc, pf);
    if (mk == 0xff) abf_scores_step(RB, 1, Q, S - 1, mk, B, ldb, acc, pf);
    else abf_scores_step(RB, 0, Q, S - 1, mk, B, ldb, acc, pf);
    for (int i = 0; i < RB; i++) { /* lane 4j + g: the sum of head 4j + g's 4 pairs (lanes 4j..4j+3 of acc g) */
        const __m512 x01 = _mm512_add_ps(_mm512_unpacklo_ps(acc[i][0], acc[i][1]), _mm512_unpackhi_ps(acc[i][0], acc[i][1]));
        const __m512 x23 = _mm512_add_ps(_mm512_unpacklo_ps(acc[i][2], acc[i][3]), _mm512_unpackhi_ps(acc[i][2], acc[i][3]));
        y[i] = _mm512_add_ps((__m512)_mm512_unpacklo_pd((__m512d)x01, (__m512d)x23),
                             (__m512)_mm512_unpackhi_pd((__m512d)x01, (__m512d)x23));
    }
}

/* t[i] := column i of the 16 x 16 matrix of rows t[0..16) */
static inline void abf_transpose16(__m512 t[16]) {
    __m512 a[16], b[16];
    for (int i = 0; i < 16; i += 2) {
        a[i] = _mm512_unpacklo_ps(t[i], t[i + 1]);
        a[i + 1] = _mm512_unpackhi_ps(t[i], t[i + 1]);
    }
    for (int i = 0; i < 16; i += 4)
        for (int e = 0; e < 2; e++) { /* b[i + x]: value x of each 128-bit lane of rows i..i+3 */
            b[i + 2 * e] = (__m512)_mm512_unpacklo_pd((__m512d)a[i + e], (__m512d)a[i + 2 + e]);
            b[i + 2 * e + 1] = (__m512)_mm512_unpackhi_pd((__m512d)a[i + e], (__m512d)a[i + 2 + e]);
        }
    for (int i = 0; i < 16; i += 8)
        for (int e = 0; e < 4; e++) {
            a[i + e] = _mm512_shuffle_f32x4(b[i + e], b[i + 4 + e], 0x88);
            a[i + 4 + e] = _mm512_shuffle_f32x4(b[i + e], b[i + 4 + e], 0xdd);
        }
    for (int e = 0; e < 8; e++) {
        t[e] = _mm512_shuffle_f32x4(a[e], a[8 + e], 0x88);
        t[8 + e] = _mm512_shuffle_f32x4(a[e], a[8 + e], 0xdd);
    }
}

/* Scores: C[i*ldc + j] = sum_c A_i[c] B_j[c] for i < m, j < n, c < k; Ap the
 * queries A packed by pack_bf16, B [n][ldb] bfloat16 (nothing read past k in
 * a row). Per group of 16 heads, 16 rows at a time in tiles of 4, then a
 * transpose so each head's 16 scores are one store. B streams from memory
 * (the cache rows, read once per token): the rows 8 ahead are prefetched (a
 * prefetch past the block, even past the cache, does not fault). */
#ifndef FR_AMX
static void PFX(dots_bf16)(const uint16_t *Ap, const uint16_t *B, int64_t ldb, float *C, int64_t ldc, int m, int n,
                           int k) {
    const int S = (k + 7) / 8;
    const __mmask8 mk = (__mmask8)((1u << (k - 8 * (S - 1))) - 1);
    for (int G = 0; G < (m + 15) / 16; G++) {
        const uint16_t *Q = Ap + (int64_t)G * S * 128;
        const int mh = m - 16 * G < 16 ? m - 16 * G : 16;
        for (int j0 = 0; j0 < n; j0 += 16) {
            const int nr = n - j0 < 16 ? n - j0 : 16;
            __m512 t[16];
            for (int i = 0; i < 16; i += 4) {
                const uint16_t *b = B + (j0 + i) * ldb, *pf = G == 0 ? b + 8 * ldb : NULL;
                if (nr - i >= 4) abf_scores_tile(4, Q, S, mk, b, ldb, t + i, pf);
                else if (nr - i == 3) abf_scores_tile(3, Q, S, mk, b, ldb, t + i, pf);
                else if (nr - i == 2) abf_scores_tile(2, Q, S, mk, b, ldb, t + i, pf);
                else if (nr - i == 1) abf_scores_tile(1, Q, S, mk, b, ldb, t + i, pf);
                for (int e = nr - i > 0 ? nr - i : 0; e < 4; e++) t[i + e] = _mm512_setzero_ps();
            }
            abf_transpose16(t);
            const __mmask16 mn = (__mmask16)((1u << nr) - 1);
            for (int i = 0; i < mh; i++) _mm512_mask_storeu_ps(C + (16 * G + i) * ldc + j0, mn, t[i]);
        }
    }
}
#endif

#define ABF_MAXN 256 /* cache rows per fr_wsum_bf16 call (the weights' pairs on the stack) */

/* acc[i] += the pair of rows v0, v1 (interleaved) times head i's weight pair w[i] */
static inline __attribute__((always_inline)) void abf_wsum_pair(const int MA, const uint32_t *w, __m512i v0, __m512i v1,
                                                                __m512 acc[8][2]) {
    for (int i = 0; i < MA; i++) {
        const __m512bh wi = (__m512bh)_mm512_set1_epi32((int)w[i]);
        acc[i][0] = _mm512_dpbf16_ps(acc[i][0], (__m512bh)v0, wi);
        acc[i][1] = _mm512_dpbf16_ps(acc[i][1], (__m512bh)v1, wi);
    }
}

/* columns [c, c + 32) of MA <= 8 heads (those of mask m unless full): C_i +=
 * the sum over the n rows, in pairs. Per pair: two vpermt2w interleave the
 * rows' 32 columns (lane 2c: row j, lane 2c+1: row j+1), each head's weight
 * pair pp[jp][i] is broadcast once for both halves; an odd last row pairs
 * with zeros. */
static inline __attribute__((always_inline)) void abf_wsum_cols(const int MA, const int full, const uint32_t pp[][16],
                                                                int n, const uint16_t *B, int64_t ldb, float *C,
                                                                int64_t ldc, int c, __mmask32 m) {
    const __m512i i0 = _mm512_set_epi16(47, 15, 46, 14, 45, 13, 44, 12, 43, 11, 42, 10, 41, 9, 40, 8, 39, 7, 38, 6, 37,
                                        5, 36, 4, 35, 3, 34, 2, 33, 1, 32, 0); /* columns 0-15; bit 5: row j+1 */
    const __m512i i1 = _mm512_add_epi16(i0, _mm512_set1_epi16(16));             /* columns 16-31 */
    const __mmask16 m0 = (__mmask16)m, m1 = (__mmask16)(m >> 16);
    __m512 acc[8][2];
    for (int i = 0; i < MA; i++) {
        acc[i][0] = full ? _mm512_loadu_ps(C + i * ldc) : _mm512_maskz_loadu_ps(m0, C + i * ldc);
        acc[i][1] = full ? _mm512_loadu_ps(C + i * ldc + 16) : _mm512_maskz_loadu_ps(m1, C + i * ldc + 16);
    }
    int jp = 0;
    for (; 2 * jp + 1 < n; jp++) {
        const __m512i a = abf_load32(full, m, B + 2 * jp * ldb + c), b = abf_load32(full, m, B + (2 * jp + 1) * ldb + c);
        abf_wsum_pair(MA, pp[jp], _mm512_permutex2var_epi16(a, i0, b), _mm512_permutex2var_epi16(a, i1, b), acc);
    }
    if (n & 1) { /* the last row with zeros */
        const __m512i a = abf_load32(full, m, B + 2 * jp * ldb + c), z = _mm512_setzero_si512();
        abf_wsum_pair(MA, pp[jp], _mm512_permutex2var_epi16(a, i0, z), _mm512_permutex2var_epi16(a, i1, z), acc);
    }
    for (int i = 0; i < MA; i++) {
        if (full) _mm512_storeu_ps(C + i * ldc, acc[i][0]), _mm512_storeu_ps(C + i * ldc + 16, acc[i][1]);
        else _mm512_mask_storeu_ps(C + i * ldc, m0, acc[i][0]), _mm512_mask_storeu_ps(C + i * ldc + 16, m1, acc[i][1]);
    }
}

/* Values: C_i[c] += sum_j P_i[j] B_j[c] for i < m, j < n, c < k; P [m][ldp]
 * float32 (rounded to bfloat16 here), B [n][ldb] bfloat16 (nothing read past
 * k in a row), n <= ABF_MAXN. Per group of 16 heads the weights are rounded
 * and transposed once to pairs of rows x heads, pp[jp][i] = (bf16 P_i[2jp],
 * bf16 P_i[2jp+1] in the high half), so a pair's 16 heads are one cache line;
 * then heads in groups of 8, two accumulators each for 32 columns, the rows
 * interleaved in pairs, so vdpbf16ps adds B_j[c] P_i[j] + B_j+1[c] P_i[j+1]. */
#ifndef FR_AMX
static void PFX(wsum_bf16)(const float *P, int64_t ldp, const uint16_t *B, int64_t ldb, float *C, int64_t ldc, int m,
                           int n, int k) {
    _Alignas(64) uint32_t pp[ABF_MAXN / 2][16];
    for (int i0 = 0; i0 < m; i0 += 16) {
        const int ma = m - i0 < 16 ? m - i0 : 16;
        for (int j = 0; j < n; j += 32) { /* rows [j, j + 32): 16 heads' 16 pairs, transposed */
            const __mmask32 mj = abf_mask32(n - j);
            __m512 t[16];
            for (int i = 0; i < 16; i++) {
                const float *p = P + (i0 + i) * ldp + j;
                t[i] = i < ma ? (__m512)_mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps((__mmask16)(mj >> 16), p + 16),
                                                            _mm512_maskz_loadu_ps((__mmask16)mj, p))
                              : _mm512_setzero_ps(); /* cvtne2ps: the high 16 from the first operand */
            }
            abf_transpose16(t);
            for (int x = 0; x < 16 && j / 2 + x < (n + 1) / 2; x++) _mm512_store_ps((float *)pp[j / 2 + x], t[x]);
        }
        for (int c = 0; c < k; c += 32) {
            const __mmask32 mk = abf_mask32(k - c);
            for (int g = 0; g < ma; g += 8) { /* heads in groups of 8 */
                float *cc = C + (i0 + g) * ldc + c;
                const int mg = ma - g < 8 ? ma - g : 8;
                const uint32_t(*pg)[16] = (const uint32_t(*)[16])(&pp[0][g]);
                if (mg == 8 && k - c >= 32) abf_wsum_cols(8, 1, pg, n, B, ldb, cc, ldc, c, mk);
                else if (mg == 8) abf_wsum_cols(8, 0, pg, n, B, ldb, cc, ldc, c, mk);
                else abf_wsum_cols(mg, 0, pg, n, B, ldb, cc, ldc, c, mk);
            }
        }
    }
}
#endif
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
    .pack_bf16 = PFX(pack_bf16), .dots_bf16 = PFX(dots_bf16), .wsum_bf16 = PFX(wsum_bf16),                         \
    .q8_0_bf16 = PFX(q8_0_bf16), .f32_bf16 = PFX(f32_bf16),
