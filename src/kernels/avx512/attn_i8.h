/* MLA attention over an I8 latent cache on vpdpbusd, the not-exact path
 * (included by avx512/kernels.c with VNNI: the "avx512vnni" and "avx512bf16"
 * tables). The cache layout and the two operations are in kernels.h
 * (fr_i8_dots, fr_i8_wsum); fr_i8_dots_generic / fr_i8_wsum_generic are the
 * oracle, and these give the same floats bit for bit (the integer sums are
 * exact, the float steps are the same multiplies and adds in the same order).
 *
 * A group holds 4 positions, column-interleaved: the 64 bytes of a 16-column
 * chunk are [16 columns][4 positions].
 *   - values: a chunk is already what vpdpbusd wants (4 positions' bytes of
 *     one column in each dword), times a head's 4 weights broadcast: one
 *     instruction per head, chunk and group, the chunk loaded once for 16 heads;
 *   - scores: one vpshufb per chunk turns each 128-bit lane (4 columns x 4
 *     positions) into 4 positions x 4 columns; the query is laid out to match
 *     (lane L of every dword: the query's columns 4L..4L+3 of the chunk), so
 *     each dword sums one position's 4 columns; the 4 lanes of a head's
 *     accumulator are added at the end of the group (ai8_hsum4).
 * Per position and head 16 + 4 products per instruction over 576 columns
 * (V2-Lite: 512 latent + 64 rope): half the instructions of vdpbf16ps on a
 * bfloat16 cache, over half the bytes. */

#include <stdint.h>

#define AI8_MAXCH 40 /* 16-column chunks a position may have here (w <= 640); beyond: generic */

/* lane L, every dword: q[4L..4L+3] (the query chunk of 16 columns matched to a shuffled cache chunk) */
static inline __m512i ai8_qpat(const int8_t *q) {
    const __m512i idx = _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
    return _mm512_permutexvar_epi32(idx, _mm512_zextsi128_si512(_mm_loadu_si128((const __m128i *)(const void *)q)));
}

/* acc + vpdpbusd(u, s), in place and on registers. gcc 12 compiles the
 * intrinsic in a loop with a copy of each accumulator into another register
 * and back per step (and spills when 16 are live), and folds loads into it:
 * on this Zen 5 a vpdpbusd with a memory operand retires at a third of the
 * register form's rate (2.8 against 8.5 G/s a core, with the load apart 7.5). */
static inline __m512i ai8_dp(__m512i acc, __m512i u, __m512i s) {
#if defined(__GNUC__) && !defined(__clang__) && defined(__OPTIMIZE__)
    __asm__("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(u), "v"(s));
    return acc;
#else
    return _mm512_dpbusd_epi32(acc, u, s);
#endif
}

/* a cache chunk, each 128-bit lane [4 columns][4 positions] -> [4 positions][4 columns] */
static inline __m512i ai8_shuf(const uint8_t *k) {
    const __m512i ctl = _mm512_broadcast_i32x4(_mm_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15));
    return _mm512_shuffle_epi8(_mm512_loadu_si512((const void *)k), ctl);
}

/* 4 heads' score accumulators (lane L, dword j: position j over columns 4L..4L+3
 * of each chunk) -> lane h, dword j: head h's sum for position j */
static inline __m512i ai8_hsum4(__m512i a0, __m512i a1, __m512i a2, __m512i a3) {
    const __m512i c01 = _mm512_add_epi32(_mm512_shuffle_i32x4(a0, a1, 0x44), _mm512_shuffle_i32x4(a0, a1, 0xEE));
    const __m512i c23 = _mm512_add_epi32(_mm512_shuffle_i32x4(a2, a3, 0x44), _mm512_shuffle_i32x4(a2, a3, 0xEE));
    return _mm512_add_epi32(_mm512_shuffle_i32x4(c01, c23, 0x88), _mm512_shuffle_i32x4(c01, c23, 0xDD));
}

/* Scores of 4 heads x G <= 4 groups (a register tile: 16 accumulators, 4
 * query and 4 cache chunks live): over chunks [c0, c1) the accumulators of
 * head h and group g, then R[g] = ai8_hsum4 over the 4 heads (lane h, dword j:
 * head h, position 4g + j). qp [chunk][4 heads] from the tile's heads. The
 * loads per instruction are what limits here (64-byte loads from beyond a
 * few KB run at about a third of the L1 rate on this machine), so each chunk
 * loaded serves 4 instructions. */
static inline __attribute__((always_inline)) void ai8_tile(const int G, const __m512i *qp, const uint8_t *kg, size_t gs,
                                                           int c0, int c1, const uint8_t *pf, __m512i R[4]) {
    __m512i acc[16];
#pragma GCC unroll 16
    for (int i = 0; i < 16; i++) acc[i] = _mm512_setzero_si512();
    for (int c = c0; c < c1; c++) {
        __m512i t[4], q[4];
#pragma GCC unroll 4
        for (int g = 0; g < G; g++) t[g] = ai8_shuf(kg + g * gs + (size_t)c * 64);
        if (pf)
#pragma GCC unroll 4
            for (int g = 0; g < G; g++) _mm_prefetch((const char *)(pf + g * gs + (size_t)c * 64), _MM_HINT_T0);
#pragma GCC unroll 4
        for (int h = 0; h < 4; h++) q[h] = _mm512_load_si512((const void *)(qp + (size_t)c * 4 + h));
#pragma GCC unroll 4
        for (int h = 0; h < 4; h++)
#pragma GCC unroll 4
            for (int g = 0; g < G; g++) acc[h * 4 + g] = ai8_dp(acc[h * 4 + g], t[g], q[h]);
    }
#pragma GCC unroll 4
    for (int g = 0; g < G; g++) R[g] = ai8_hsum4(acc[g], acc[4 + g], acc[8 + g], acc[12 + g]);
}

/* lane h of a 4-head vector: x[2h + o] for the heads from x (x: [4][2]) */
static inline __m512 ai8_heads_f(const float *x, int o) {
    const __m512i idx = _mm512_set_epi32(6, 6, 6, 6, 4, 4, 4, 4, 2, 2, 2, 2, 0, 0, 0, 0);
    return _mm512_permutexvar_ps(_mm512_add_epi32(idx, _mm512_set1_epi32(o)), _mm512_castps256_ps512(_mm256_loadu_ps(x)));
}
static inline __m512i ai8_heads_i(const int32_t *x, int o) {
    const __m512i idx = _mm512_set_epi32(6, 6, 6, 6, 4, 4, 4, 4, 2, 2, 2, 2, 0, 0, 0, 0);
    return _mm512_permutexvar_epi32(_mm512_add_epi32(idx, _mm512_set1_epi32(o)),
                                    _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(const void *)x)));
}

/* the scores of heads hh..hh+3 for groups [g0, g0 + G): RL, RR their latent
 * and rope sums (ai8_tile), scaled and stored (positions past n masked).
 * The first heads' pass streams the cache from memory: it prefetches the
 * same chunks AI8_PFD groups ahead (past the block too: the next block
 * follows in the cache; a prefetch past the cache does not fault). */
#define AI8_PFD 8
static inline __attribute__((always_inline)) void ai8_scores(const int G, const __m512i *qp, const float *qd,
                                                             const int32_t *qs, int hh, const uint8_t *K,
                                                             const float *kd, int w, int ncl, int nch, int n, int g0,
                                                             float *S, int64_t lds) {
    const size_t gs = (size_t)4 * w;
    __m512i RL[4], RR[4];
    const uint8_t *pf = hh ? NULL : K + (g0 + AI8_PFD) * gs;
    ai8_tile(G, qp, K + g0 * gs, gs, 0, ncl, pf, RL);
    if (nch > ncl) ai8_tile(G, qp, K + g0 * gs, gs, ncl, nch, pf, RR);
    else
        for (int g = 0; g < G; g++) RR[g] = _mm512_setzero_si512();
    const __m512i offl = _mm512_slli_epi32(ai8_heads_i(qs + 2 * hh, 0), 7); /* 128 sum q */
    const __m512i offr = _mm512_slli_epi32(ai8_heads_i(qs + 2 * hh, 1), 7);
    const __m512 ql = ai8_heads_f(qd + 2 * hh, 0), qr = ai8_heads_f(qd + 2 * hh, 1);
    for (int g = 0; g < G; g++) {
        const int gi = g0 + g, nv = n - 4 * gi < 4 ? n - 4 * gi : 4;
        const __mmask8 mk = (__mmask8)((1u << nv) - 1);
        const __m512 a = _mm512_mul_ps(ql, _mm512_broadcast_f32x4(_mm_loadu_ps(kd + (size_t)gi * 8)));
        const __m512 b = _mm512_mul_ps(qr, _mm512_broadcast_f32x4(_mm_loadu_ps(kd + (size_t)gi * 8 + 4)));
        const __m512 il = _mm512_cvtepi32_ps(_mm512_sub_epi32(RL[g], offl));
        const __m512 ir = _mm512_cvtepi32_ps(_mm512_sub_epi32(RR[g], offr));
        const __m512 s = _mm512_add_ps(_mm512_mul_ps(a, il), _mm512_mul_ps(b, ir));
        float *o = S + (size_t)hh * lds + 4 * gi;
        _mm_mask_storeu_ps(o, mk, _mm512_castps512_ps128(s));
        _mm_mask_storeu_ps(o + lds, mk, _mm512_extractf32x4_ps(s, 1));
        _mm_mask_storeu_ps(o + 2 * lds, mk, _mm512_extractf32x4_ps(s, 2));
        _mm_mask_storeu_ps(o + 3 * lds, mk, _mm512_extractf32x4_ps(s, 3));
    }
}

static void PFX(i8_dots)(const int8_t *Q, const float *qd, const int32_t *qs, int m, const uint8_t *K, const float *kd,
                         int r, int dr, int n, float *S, int64_t lds) {
    const int w = r + dr, nch = w / 16, ncl = r / 16, ng = (n + 3) / 4;
    int h0 = 0;
    if (nch <= AI8_MAXCH && r % 16 == 0 && dr % 16 == 0) {
        __m512i qp[AI8_MAXCH * 4]; /* [nch][4 heads]: ai8_qpat of each chunk */
        for (; h0 + 4 <= m; h0 += 4) {
            for (int c = 0; c < nch; c++)
                for (int h = 0; h < 4; h++) qp[c * 4 + h] = ai8_qpat(Q + (size_t)(h0 + h) * w + c * 16);
            int g = 0;
            for (; g + 4 <= ng; g += 4) ai8_scores(4, qp, qd, qs, h0, K, kd, w, ncl, nch, n, g, S, lds);
            for (; g < ng; g++) ai8_scores(1, qp, qd, qs, h0, K, kd, w, ncl, nch, n, g, S, lds);
        }
    }
    if (h0 < m) /* heads past the last 4, or a shape this kernel does not take */
        fr_i8_dots_generic(Q + (size_t)h0 * w, qd + 2 * h0, qs + 2 * h0, m - h0, K, kd, r, dr, n, S + (size_t)h0 * lds,
                           lds);
}

/* P kd of one head quantized to 8 bits (max -> 255) into pq (4 ng bytes,
 * zero past n); returns the step (max / 255). The generic kernel's steps. */
static inline float ai8_pquant(const float *p, const float *kl, int n, int ng, uint8_t *pq) {
    __m512 mx = _mm512_setzero_ps();
    for (int i = 0; i < n; i += 16) {
        const __mmask16 mk = (__mmask16)(n - i >= 16 ? 0xffff : (1u << (n - i)) - 1);
        mx = _mm512_max_ps(mx, _mm512_mul_ps(_mm512_maskz_loadu_ps(mk, p + i), _mm512_maskz_loadu_ps(mk, kl + i)));
    }
    const float m1 = _mm512_reduce_max_ps(mx), inv = m1 > 0 ? 255.0f / m1 : 0;
    for (int i = 0; i < 4 * ng; i += 16) {
        const __mmask16 mk = (__mmask16)(n - i >= 16 ? 0xffff : n - i > 0 ? (1u << (n - i)) - 1 : 0);
        const __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(mk, p + i), _mm512_maskz_loadu_ps(mk, kl + i));
        const __m512i qi = _mm512_cvttps_epi32(_mm512_add_ps(_mm512_mul_ps(v, _mm512_set1_ps(inv)), _mm512_set1_ps(0.5f)));
        const __mmask16 st = (__mmask16)(4 * ng - i >= 16 ? 0xffff : (1u << (4 * ng - i)) - 1);
        _mm512_mask_cvtusepi32_storeu_epi8(pq + i, st, qi);
    }
    return m1 / 255.0f;
}

/* Values of 4 heads x C <= 4 chunks of 16 columns from column c (a register
 * tile, as ai8_tile): per group, C cache chunks (to signed) and 4 heads' 4
 * weights broadcast, 4 C instructions; then U += step * sum. pq [4][64]
 * dwords: each group's 4 weights of a head. */
static inline __attribute__((always_inline)) void ai8_vtile(const int C, const uint32_t (*pq)[64], const float *dp,
                                                            const uint8_t *K, size_t gs, int ng, int c, float *U,
                                                            int64_t ldu) {
    __m512i acc[16];
#pragma GCC unroll 16
    for (int i = 0; i < 16; i++) acc[i] = _mm512_setzero_si512();
    const __m512i x80 = _mm512_set1_epi8((char)0x80);
    for (int g = 0; g < ng; g++) {
        __m512i t[4], p[4];
#pragma GCC unroll 4
        for (int k = 0; k < C; k++) /* stored + 128 -> signed */
            t[k] = _mm512_xor_si512(_mm512_loadu_si512((const void *)(K + g * gs + (size_t)(c + 16 * k) * 4)), x80);
#pragma GCC unroll 4
        for (int h = 0; h < 4; h++) p[h] = _mm512_set1_epi32((int)pq[h][g]);
#pragma GCC unroll 4
        for (int h = 0; h < 4; h++)
#pragma GCC unroll 4
            for (int k = 0; k < C; k++) acc[h * 4 + k] = ai8_dp(acc[h * 4 + k], p[h], t[k]);
    }
    for (int h = 0; h < 4; h++)
        for (int k = 0; k < C; k++) {
            float *u = U + (size_t)h * ldu + c + 16 * k;
            _mm512_storeu_ps(u, _mm512_add_ps(_mm512_loadu_ps(u), _mm512_mul_ps(_mm512_set1_ps(dp[h]), _mm512_cvtepi32_ps(acc[h * 4 + k]))));
        }
}

static void PFX(i8_wsum)(const float *P, int64_t ldp, int m, const uint8_t *K, const float *kd, int r, int dr, int n,
                         float *U, int64_t ldu) {
    const int w = r + dr, ng = (n + 3) / 4;
    const size_t gs = (size_t)4 * w;
    int h0 = 0;
    if (n <= 256 && r % 16 == 0) {
        float kl[256], dp[4];
        uint32_t pq[4][64]; /* [head][group]: the group's 4 positions' 8-bit weights */
        for (int i = 0; i < n; i++) kl[i] = kd[(size_t)(i / 4) * 8 + i % 4];
        for (; h0 + 4 <= m; h0 += 4) {
            for (int h = 0; h < 4; h++) dp[h] = ai8_pquant(P + (size_t)(h0 + h) * ldp, kl, n, ng, (uint8_t *)pq[h]);
            float *u = U + (size_t)h0 * ldu;
            int c = 0;
            for (; c + 64 <= r; c += 64) ai8_vtile(4, (const uint32_t(*)[64])pq, dp, K, gs, ng, c, u, ldu);
            for (; c < r; c += 16) ai8_vtile(1, (const uint32_t(*)[64])pq, dp, K, gs, ng, c, u, ldu);
        }
    }
    if (h0 < m) /* heads past the last 4, or a shape this kernel does not take */
        fr_i8_wsum_generic(P + (size_t)h0 * ldp, ldp, m - h0, K, kd, r, dr, n, U + (size_t)h0 * ldu, ldu);
}

#define ATTN_I8_ENTRIES .i8_dots = PFX(i8_dots), .i8_wsum = PFX(i8_wsum),
