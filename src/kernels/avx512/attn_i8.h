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
 *     one column in each dword), times a head's 4 weights broadcast; tiles of
 *     4 heads x 4 chunks in registers (ai8_vtile);
 *   - scores: per 4 columns of a chunk, one permute puts a group's 4
 *     positions in the 4 128-bit lanes (each position's 4 bytes in every
 *     dword of its lane) and meets 4 heads' query dwords, one 128-bit
 *     broadcast load: the heads and positions in the lanes (ai8_scores16),
 *     4 x 4 positions x 16 heads in registers, one pass over the block.
 * Per position and head 576 products over V2-Lite's 512 latent + 64 rope
 * columns and 512 for the values, 64 per instruction: half the instructions
 * of vdpbf16ps on a bfloat16 cache, over half the bytes.
 *
 * Measured on the Zen 5 VM (AVX512-VNNI, no AMX; bench/attn_bench.c, 16
 * heads x 8192 rows per thread, blocks of 256): scores 0.26 ms, values 0.22
 * (570 and 600 GFLOP/s). Two things shaped the code there: 64-byte loads
 * from beyond a few KiB run at about 200 GB/s a core (so each loaded vector
 * serves 4 to 16 instructions), and the form of vpdpbusd (ai8_dp4x4). */

#include <stdint.h>
#include <string.h>

#define AI8_MAXCH 40 /* 16-column chunks a position may have here (w <= 640, queries
                      * laid out in 10 KiB); beyond: generic */

/* acc[4i + k] += vpdpbusd(u[i], s[k]) for i, k < 4: a 4 x 4 register tile.
 * gcc 12 compiled the intrinsic in such loops with a copy of each
 * accumulator into another register and back per step (and spills when 16
 * are live), so optimized gcc builds take asm blocks (two of 8 accumulators:
 * an asm takes at most 30 operands, and an in-out one counts twice); they
 * also keep loads out of vpdpbusd, which on this Zen 5 retires at a third of
 * the register form's rate with a memory operand (2.8 against 8.5 G/s a core).
 * (The scores below keep the intrinsic: with this tile they measured 0.30
 * ms against 0.26-0.28, bench/attn_bench.c.) */
static inline __attribute__((always_inline)) void ai8_dp4x4(__m512i acc[16], const __m512i u[4], const __m512i s[4]) {
#if defined(__GNUC__) && !defined(__clang__) && defined(__OPTIMIZE__)
    for (int i = 0; i < 4; i += 2)
        __asm__("vpdpbusd %[s0], %[u0], %[a0]\n\tvpdpbusd %[s1], %[u0], %[a1]\n\t"
                "vpdpbusd %[s2], %[u0], %[a2]\n\tvpdpbusd %[s3], %[u0], %[a3]\n\t"
                "vpdpbusd %[s0], %[u1], %[a4]\n\tvpdpbusd %[s1], %[u1], %[a5]\n\t"
                "vpdpbusd %[s2], %[u1], %[a6]\n\tvpdpbusd %[s3], %[u1], %[a7]"
                : [a0] "+v"(acc[4 * i]), [a1] "+v"(acc[4 * i + 1]), [a2] "+v"(acc[4 * i + 2]),
                  [a3] "+v"(acc[4 * i + 3]), [a4] "+v"(acc[4 * i + 4]), [a5] "+v"(acc[4 * i + 5]),
                  [a6] "+v"(acc[4 * i + 6]), [a7] "+v"(acc[4 * i + 7])
                : [u0] "v"(u[i]), [u1] "v"(u[i + 1]), [s0] "v"(s[0]), [s1] "v"(s[1]), [s2] "v"(s[2]), [s3] "v"(s[3]));
#else
    for (int i = 0; i < 4; i++)
        for (int k = 0; k < 4; k++) acc[4 * i + k] = _mm512_dpbusd_epi32(acc[4 * i + k], u[i], s[k]);
#endif
}

/* Scores, integer part, the heads in the lanes: 16 heads (queries qt:
 * [chunk][4][16 heads], each head's 4 bytes of columns 4l..4l+3 of the chunk
 * as one dword) x the 16 positions of the G <= 4 groups from kg (gs bytes
 * apart) over the chunks [c0, c1). For columns 4l..4l+3 of a chunk, one
 * vpermb puts a group's 4 positions in the 4 128-bit lanes, each position's 4
 * bytes in every dword of its lane; 4 heads' query dwords (one 128-bit
 * broadcast load) meet it: acc[4G + g] lane 4e + j = position 4G + e x head
 * 4g + j. 16 vpdpbusd per 4 vpermb and 4 query loads per group, against a
 * 32-bit broadcast per vpdpbusd when the positions were the lanes (a third
 * slower here, bench/attn_bench.c). The groups AI8_PFD ahead are prefetched. */
#define AI8_PFD 8
/* columns 4l..4l+3 of a chunk's 4 positions: byte 16e + 4j + k = column 4l + k of position e (chunk byte
 * 16l + 4k + e): one vpermb with VBMI (the avx512bf16 table; ix[l] its indices), else the chunk's lane l
 * to all lanes and a vpshufb (ix[l]: the indices within the lane) */
static inline __attribute__((always_inline)) __m512i ai8_lanes(__m512i v, const int l, __m512i ix) {
#ifdef FR_BF16
    return _mm512_permutexvar_epi8(ix, v);
#else
    __m512i b; /* lane l everywhere (the immediate a literal: -O0 does not fold l * 0x55) */
    switch (l) {
    case 0: b = _mm512_shuffle_i32x4(v, v, 0x00); break;
    case 1: b = _mm512_shuffle_i32x4(v, v, 0x55); break;
    case 2: b = _mm512_shuffle_i32x4(v, v, 0xaa); break;
    default: b = _mm512_shuffle_i32x4(v, v, 0xff); break;
    }
    return _mm512_shuffle_epi8(b, ix);
#endif
}

static inline __attribute__((always_inline)) void ai8_scores16(const int G, const int32_t *qt, const uint8_t *kg,
                                                               size_t gs, int c0, int c1, __m512i acc[16]) {
    __m512i ix[4]; /* ai8_lanes' indices */
    for (int l = 0; l < 4; l++) {
        uint8_t b[64];
#ifdef FR_BF16
        for (int i = 0; i < 64; i++) b[i] = (uint8_t)(16 * l + 4 * (i % 4) + i / 16);
#else
        for (int i = 0; i < 64; i++) b[i] = (uint8_t)(4 * (i % 4) + i / 16);
#endif
        ix[l] = _mm512_loadu_si512((const void *)b);
    }
#pragma GCC unroll 16
    for (int i = 0; i < 16; i++) acc[i] = _mm512_setzero_si512();
    for (int c = c0; c < c1; c++) {
        __m512i v[4];
#pragma GCC unroll 4
        for (int g = 0; g < G; g++) {
            v[g] = _mm512_loadu_si512((const void *)(kg + g * gs + (size_t)c * 64));
            _mm_prefetch((const char *)(kg + (AI8_PFD + g) * gs + (size_t)c * 64), _MM_HINT_T0);
        }
#pragma GCC unroll 4
        for (int l = 0; l < 4; l++) {
            __m512i q[4];
#pragma GCC unroll 4
            for (int h = 0; h < 4; h++)
                q[h] = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(const void *)(qt + ((size_t)c * 4 + l) * 16 + 4 * h)));
#pragma GCC unroll 4
            for (int g = 0; g < G; g++) {
                const __m512i u = ai8_lanes(v[g], l, ix[l]);
#pragma GCC unroll 4
                for (int h = 0; h < 4; h++) acc[4 * g + h] = _mm512_dpbusd_epi32(acc[4 * g + h], u, q[h]);
            }
        }
    }
}

/* the per-head factors of 16 heads from hh in ai8_scores16's lanes: lane
 * 4e + j of [g] = head hh + 4g + j's (qd, qs [h][2]; the sums times 128) */
typedef struct ai8_heads {
    __m512 qdl[4], qdr[4];
    __m512i qsl[4], qsr[4];
} ai8_heads;
static inline void ai8_head_factors(const float *qd, const int32_t *qs, int hh, ai8_heads *f) {
    const __m512i hj = _mm512_set_epi32(3, 2, 1, 0, 3, 2, 1, 0, 3, 2, 1, 0, 3, 2, 1, 0);
    for (int g = 0; g < 4; g++) {
        const __m512i h2 = _mm512_slli_epi32(_mm512_add_epi32(hj, _mm512_set1_epi32(hh + 4 * g)), 1); /* 2h */
        f->qdl[g] = _mm512_i32gather_ps(h2, qd, 4), f->qdr[g] = _mm512_i32gather_ps(h2, qd + 1, 4);
        f->qsl[g] = _mm512_slli_epi32(_mm512_i32gather_epi32(h2, qs, 4), 7);
        f->qsr[g] = _mm512_slli_epi32(_mm512_i32gather_epi32(h2, qs + 1, 4), 7);
    }
}

/* the scores of 16 heads from hh (their factors hf) for the 16 positions of
 * groups g0.. (G of them): latent and rope sums (ai8_scores16), scaled lane
 * by lane with the generic kernel's float steps, then per 4 heads a 4 x 4
 * transpose in each 128-bit lane and one vpermps so a head's 16 positions are
 * one store (past n masked) */
static inline __attribute__((always_inline)) void ai8_scores(const int G, const int32_t *qt, const ai8_heads *hf,
                                                             int hh, const uint8_t *K, const float *kd, int w,
                                                             int ncl, int nch, int n, int g0, float *S, int64_t lds) {
    const size_t gs = (size_t)4 * w;
    __m512i acc[16], lat[16];
    ai8_scores16(G, qt, K + g0 * gs, gs, 0, ncl, acc);
    for (int i = 0; i < 16; i++) lat[i] = acc[i];
    if (nch > ncl) ai8_scores16(G, qt, K + g0 * gs, gs, ncl, nch, acc);
    else
        for (int i = 0; i < 16; i++) acc[i] = _mm512_setzero_si512();
    /* lane 4e + j: position 4G + e's scales (kd [g][2][4]), head 4g + j's factors (hf) */
    const __m512i pe = _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
    __m512 f[16];
    for (int g = 0; g < 4; g++) {
        const __m512 qdl = hf->qdl[g], qdr = hf->qdr[g];
        const __m512i qsl = hf->qsl[g], qsr = hf->qsr[g];
        for (int e = 0; e < 4; e++) {
            if (e >= G) {
                f[4 * e + g] = _mm512_setzero_ps();
                continue;
            }
            const float *k = kd + (size_t)(g0 + e) * 8;
            const __m512 kl = _mm512_permutexvar_ps(pe, _mm512_castps128_ps512(_mm_loadu_ps(k)));
            const __m512 kr = _mm512_permutexvar_ps(pe, _mm512_castps128_ps512(_mm_loadu_ps(k + 4)));
            const __m512 a = _mm512_mul_ps(qdl, kl), b = _mm512_mul_ps(qdr, kr);
            const __m512 fl = _mm512_cvtepi32_ps(_mm512_sub_epi32(lat[4 * e + g], qsl));
            const __m512 fr = _mm512_cvtepi32_ps(_mm512_sub_epi32(acc[4 * e + g], qsr));
            f[4 * e + g] = _mm512_add_ps(_mm512_mul_ps(a, fl), _mm512_mul_ps(b, fr));
        }
    }
    const int nv = n - 4 * g0 < 16 ? n - 4 * g0 : 16;
    const __mmask16 mk = (__mmask16)((1u << nv) - 1);
    const __m512i pos = _mm512_set_epi32(15, 11, 7, 3, 14, 10, 6, 2, 13, 9, 5, 1, 12, 8, 4, 0); /* lane 4G + e <- 4e + G */
    for (int g = 0; g < 4; g++) { /* f[4G + g] lane 4e + j -> c[j] lane 4e + G -> lane 4G + e */
        const __m512 t0 = _mm512_unpacklo_ps(f[g], f[4 + g]), t1 = _mm512_unpackhi_ps(f[g], f[4 + g]);
        const __m512 t2 = _mm512_unpacklo_ps(f[8 + g], f[12 + g]), t3 = _mm512_unpackhi_ps(f[8 + g], f[12 + g]);
        __m512 c[4];
        c[0] = (__m512)_mm512_unpacklo_pd((__m512d)t0, (__m512d)t2);
        c[1] = (__m512)_mm512_unpackhi_pd((__m512d)t0, (__m512d)t2);
        c[2] = (__m512)_mm512_unpacklo_pd((__m512d)t1, (__m512d)t3);
        c[3] = (__m512)_mm512_unpackhi_pd((__m512d)t1, (__m512d)t3);
        for (int j = 0; j < 4; j++)
            _mm512_mask_storeu_ps(S + (size_t)(hh + 4 * g + j) * lds + 4 * g0, mk, _mm512_permutexvar_ps(pos, c[j]));
    }
}

static void PFX(i8_dots)(const int8_t *Q, const float *qd, const int32_t *qs, int m, const uint8_t *K, const float *kd,
                         int r, int dr, int n, float *S, int64_t lds) {
    const int w = r + dr, nch = w / 16, ncl = r / 16, ng = (n + 3) / 4;
    int h0 = 0;
    if (r % 16 == 0 && dr % 16 == 0 && nch <= AI8_MAXCH) {
        int32_t qt[AI8_MAXCH * 4 * 16]; /* [chunk][4][16 heads] */
        for (; h0 + 16 <= m; h0 += 16) {
            for (int h = 0; h < 16; h++)
                for (int d = 0; d < nch * 4; d++) memcpy(&qt[d * 16 + h], Q + (size_t)(h0 + h) * w + 4 * d, 4);
            int g = 0;
            ai8_heads hf; /* once per 16 heads, not per 16 positions: 16 gathers */
            ai8_head_factors(qd, qs, h0, &hf);
            for (; g + 4 <= ng; g += 4) ai8_scores(4, qt, &hf, h0, K, kd, w, ncl, nch, n, g, S, lds);
            if (ng - g == 3) ai8_scores(3, qt, &hf, h0, K, kd, w, ncl, nch, n, g, S, lds);
            else if (ng - g == 2) ai8_scores(2, qt, &hf, h0, K, kd, w, ncl, nch, n, g, S, lds);
            else if (ng - g == 1) ai8_scores(1, qt, &hf, h0, K, kd, w, ncl, nch, n, g, S, lds);
        }
    }
    if (h0 < m) /* heads past the last 16, or a shape this kernel does not take */
        fr_i8_dots_generic(Q + (size_t)h0 * w, qd + 2 * h0, qs + 2 * h0, m - h0, K, kd, r, dr, n, S + (size_t)h0 * lds,
                           lds);
}

/* P kd of one head quantized to 8 bits (max -> 255) into pq (4 ng bytes,
 * zero past n); returns the step (max / 255). The generic kernel's steps. */
static inline float ai8_pquant(const float *p, const float *kl, int n, int ng, uint8_t *pq) {
    __m512 mx = _mm512_setzero_ps();
    for (int i = 0; i < n; i += 16) {
        const __mmask16 mk = fr_tail16(n - i);
        mx = _mm512_max_ps(mx, _mm512_mul_ps(_mm512_maskz_loadu_ps(mk, p + i), _mm512_maskz_loadu_ps(mk, kl + i)));
    }
    const float m1 = _mm512_reduce_max_ps(mx), inv = m1 > 0 ? 255.0f / m1 : 0;
    for (int i = 0; i < 4 * ng; i += 16) {
        const __mmask16 mk = fr_tail16(n - i);
        const __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(mk, p + i), _mm512_maskz_loadu_ps(mk, kl + i));
        const __m512i qi = _mm512_cvttps_epi32(_mm512_add_ps(_mm512_mul_ps(v, _mm512_set1_ps(inv)), _mm512_set1_ps(0.5f)));
        const __mmask16 st = fr_tail16(4 * ng - i);
        _mm512_mask_cvtusepi32_storeu_epi8(pq + i, st, qi);
    }
    return m1 / 255.0f;
}

/* Values of 4 heads x C <= 4 chunks of 16 columns from column c (a register
 * tile): per group, C cache chunks (to signed) and 4 heads' 4
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
        if (C == 4) ai8_dp4x4(acc, p, t); /* acc[4h + k] */
        else
            for (int h = 0; h < 4; h++)
                for (int k = 0; k < C; k++) acc[h * 4 + k] = _mm512_dpbusd_epi32(acc[h * 4 + k], p[h], t[k]);
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
        for (int i = 0; i < n; i++) kl[i] = kd[fr_i8_kd_off(i)];
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
