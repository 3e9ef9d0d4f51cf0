/* AVX-512 integer kernels for the K-quant weights Q4_K, Q5_K, Q6_K (kernels.h,
 * fr_qx; activations int8 in blocks of 256), included by avx512/kernels.c,
 * which is compiled twice: "avx512" (vpmaddubsw + vpmaddwd) and "avx512vnni"
 * (FR_VNNI: vpdpwssd folds the vpmaddwd and the add). The math is the one of
 * generic/matmul_q.c; the integer sums are the same (exact), and so are the
 * float operations per block.
 *
 * One weight block (256 weights) of one row is unpacked once into registers:
 *   w[4]   4 x 64 unsigned bytes, the weights in element order (w[c] holds
 *          elements 64c..64c+63), so they meet the activations x[64c..] as they
 *          lie in memory; Q4_K 0..15, Q5_K 0..31, Q6_K 0..63 (q6 + 32), small
 *          enough that vpmaddubsw's int16 pair sums never saturate
 *   sc[4]  int16 per word: the sub-block scale of the two bytes under that word
 *          (Q4_K/Q5_K: words 0..15 scale 2c, words 16..31 scale 2c+1; Q6_K:
 *          128-bit lane i holds scale 4c+i, sub-blocks of 16)
 *   m      int16 words 0..15 (16..31 zero), multiplied with the 16 sums of
 *          X->s: Q4_K/Q5_K the mins (m_j in words 2j, 2j+1); Q6_K -32 sc_j
 *          (the -32 offset of the 6-bit values)
 * and then, per token, 16 int32 lanes hold partial sums of sc_j * w * q:
 *   p = sum_c vpmaddwd(vpmaddubsw(w[c], x[c]), sc[c])   (+ m * S for Q6_K)
 * Four such (row, token) pairs at a time are reduced to their exact block sums
 * (vphaddd), and one 4-lane float step per block does what the generic kernel
 * does: acc += d_x * (d * T - dmin * M), the same float operations in the same
 * order, so the result is the generic kernel's bit for bit; the 4 lanes are 4
 * outputs, so there is no horizontal sum at the end either.
 *
 * Tiles: decode (few tokens) takes 4 rows x 1 token so the 4 rows share the
 * activation loads; prefill takes 1 row x 8 tokens so each block is unpacked
 * once for 8 tokens, tokens in chunks whose activations stay in L2. */
#include <string.h>

#include "kernels/kernels.h"

#define I8K_AI __attribute__((always_inline)) inline
#define I8K_TBMAX 8 /* tokens per prefill tile */
#define I8K_RBMAX 4 /* rows per decode tile */

static I8K_AI uint32_t i8k_ld32(const uint8_t *p) {
    uint32_t u;
    memcpy(&u, p, 4);
    return u;
}

/* acc + per int32 lane the sum of its two int16 products a * b */
static I8K_AI __m512i i8k_dpwssd(__m512i acc, __m512i a, __m512i b) {
#ifdef FR_VNNI
    return _mm512_dpwssd_epi32(acc, a, b);
#else
    return _mm512_add_epi32(acc, _mm512_madd_epi16(a, b));
#endif
}

/* 32 bytes at p in both 256-bit halves */
static I8K_AI __m512i i8k_bcast32(const uint8_t *p) {
    return _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(const void *)p));
}

/* 16 dwords: a in dwords 0..7, b in dwords 8..15 */
static I8K_AI __m512i i8k_halves(int a, int b) {
    return _mm512_set_epi32(b, b, b, b, b, b, b, b, a, a, a, a, a, a, a, a);
}

/* One row's block, unpacked (see the top of the file). */
typedef struct {
    __m512i w[4], sc[4], m;
} i8k_blk;

static I8K_AI void i8k_unpack(const int dt, const uint8_t *b, i8k_blk *k) {
    const __m512i m4 = _mm512_set1_epi8(15);
    const __mmask32 hi16 = 0xffff0000u; /* the upper 16 words (bytes 32..63) */
    if (dt == FR_DT_Q6_K) {
        /* ql[128] | qh[64] | i8 scales[16] | f16 d. Element 128h + 32k + l (k < 4, l < 32):
         * nibble of ql[64h + 32(k & 1) + l] (low for k < 2) | bits 2k, 2k+1 of qh[32h + l] << 4.
         * So w[2h] = low nibbles of ql[64h..64h+63] (k = 0, 1), w[2h+1] = their high nibbles
         * (k = 2, 3); qh[32h..] goes to both halves, the upper half shifted right by 2, so that
         * for w[2h] the bits sit at 0-1 (shift left 4) and for w[2h+1] at 4-5. The masked
         * word shifts pull bits across the byte boundary only outside the 0x30 mask. */
        const __m512i m30 = _mm512_set1_epi8(0x30);
        for (int h = 0; h < 2; h++) {
            __m512i l = _mm512_loadu_si512((const void *)(b + 64 * h));
            __m512i qh = i8k_bcast32(b + 128 + 32 * h);
            qh = _mm512_mask_srli_epi16(qh, hi16, qh, 2);
            /* 0xF8: a | (b & c) */
            k->w[2 * h] = _mm512_ternarylogic_epi32(_mm512_and_si512(l, m4), _mm512_slli_epi16(qh, 4), m30, 0xF8);
            k->w[2 * h + 1] =
                _mm512_ternarylogic_epi32(_mm512_and_si512(_mm512_srli_epi16(l, 4), m4), qh, m30, 0xF8);
        }
        /* 16 signed scales as int16; sc[c] lane i = scale 4c + i (vpermw) */
        __m256i s16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(b + 192)));
        __m512i s16z = _mm512_zextsi256_si512(s16);
        for (int c = 0; c < 4; c++) {
            const int a0 = 4 * c, a1 = 4 * c + 1, a2 = 4 * c + 2, a3 = 4 * c + 3;
            const __m512i idx = _mm512_set_epi32(a3 << 16 | a3, a3 << 16 | a3, a3 << 16 | a3, a3 << 16 | a3,
                                                 a2 << 16 | a2, a2 << 16 | a2, a2 << 16 | a2, a2 << 16 | a2,
                                                 a1 << 16 | a1, a1 << 16 | a1, a1 << 16 | a1, a1 << 16 | a1,
                                                 a0 << 16 | a0, a0 << 16 | a0, a0 << 16 | a0, a0 << 16 | a0);
            k->sc[c] = _mm512_permutexvar_epi16(idx, s16z);
        }
        /* -32 * sc_j against S_j (the sum of the 16 activations of sub-block j) */
        k->m = _mm512_zextsi256_si512(_mm256_mullo_epi16(s16, _mm256_set1_epi16(-32)));
        return;
    }
    /* Q4_K: f16 d | f16 dmin | scales[12] | qs[128]; Q5_K: qh[32] before qs.
     * Element 64c + l (l < 32): low nibble of qs[32c + l]; 64c + 32 + l: its high nibble.
     * So w[c] = qs[32c..32c+31] in both halves, the upper half shifted right by 4, & 15. */
    const uint8_t *qs = b + (dt == FR_DT_Q4_K ? 16 : 48);
    __m512i qh = _mm512_setzero_si512();
    if (dt == FR_DT_Q5_K) { /* the 5th bit of element 64c + l is bit 2c of qh[l], of 64c + 32 + l bit 2c + 1:
                             * with the upper half shifted right by 1 both are bit 2c */
        qh = i8k_bcast32(b + 16);
        qh = _mm512_mask_srli_epi16(qh, hi16, qh, 1);
    }
    for (int c = 0; c < 4; c++) {
        __m512i q = i8k_bcast32(qs + 32 * c);
        q = _mm512_and_si512(_mm512_mask_srli_epi16(q, hi16, q, 4), m4);
        if (dt == FR_DT_Q5_K) { /* bit 2c to bit 4; bits from the neighbour byte land outside 0x10 */
            __m512i h = c == 0 ? _mm512_slli_epi16(qh, 4) : c == 1 ? _mm512_slli_epi16(qh, 2)
                      : c == 2 ? qh : _mm512_srli_epi16(qh, 2);
            q = _mm512_ternarylogic_epi32(q, h, _mm512_set1_epi8(0x10), 0xF8);
        }
        k->w[c] = q;
    }
    /* the 6-bit scales and mins as bytes (as quant.h's qprep): scales 0..3 low 6 bits of bytes 0..3,
     * 4..7 low nibbles of bytes 8..11 | top 2 bits of bytes 0..3 << 4; mins from bytes 4..7 and
     * the high nibbles of 8..11 */
    const uint32_t u0 = i8k_ld32(b + 4), u1 = i8k_ld32(b + 8), u2 = i8k_ld32(b + 12);
    const uint64_t s8 = (uint64_t)(u0 & 0x3f3f3f3fu) | (uint64_t)((u2 & 0x0f0f0f0fu) | ((u0 >> 6) & 0x03030303u) << 4) << 32;
    const uint64_t m8 = (uint64_t)(u1 & 0x3f3f3f3fu) | (uint64_t)(((u2 >> 4) & 0x0f0f0f0fu) | ((u1 >> 6) & 0x03030303u) << 4) << 32;
    /* scale bytes 0..7, min bytes 8..15, in every 128-bit lane */
    const __m512i sm = _mm512_broadcast_i32x4(_mm_set_epi64x((long long)m8, (long long)s8));
    /* vpshufb: word = (byte k, 0) with index word 0x8000 | k */
    for (int c = 0; c < 4; c++)
        k->sc[c] = _mm512_shuffle_epi8(sm, i8k_halves(0x80008000 | (2 * c) << 16 | 2 * c,
                                                      0x80008000 | (2 * c + 1) << 16 | (2 * c + 1)));
    /* words 2j, 2j+1 = min j (j < 4 in the low 128-bit lane, 4..7 in the next) */
    const __m256i mctl = _mm256_set_epi32(0x800f800f, 0x800e800e, 0x800d800d, 0x800c800c, 0x800b800b, 0x800a800a,
                                          0x80098009, 0x80088008);
    k->m = _mm512_zextsi256_si512(_mm256_shuffle_epi8(_mm512_castsi512_si256(sm), mctl));
}

/* One unpacked block times one token's block (x: its 256 int8, s: its 16 sums):
 * the exact integer sums, spread over lanes: *p 16 int32 lanes adding up to
 * sum_j sc_j sum_i w_i q_i (Q6_K: minus 32 sum_j sc_j S_j), *m (Q4_K, Q5_K) 8
 * lanes adding up to sum_j m_j S_j. */
static I8K_AI void i8k_dot(const int dt, const i8k_blk *k, const int8_t *x, const int16_t *s, __m512i *p,
                           __m256i *m) {
    __m512i acc = _mm512_setzero_si512();
    for (int c = 0; c < 4; c++)
        acc = i8k_dpwssd(acc, _mm512_maddubs_epi16(k->w[c], _mm512_loadu_si512((const void *)(x + 64 * c))), k->sc[c]);
    const __m256i S = _mm256_loadu_si256((const __m256i *)(const void *)s);
    if (dt == FR_DT_Q6_K) acc = i8k_dpwssd(acc, k->m, _mm512_zextsi256_si512(S));
    else *m = _mm256_madd_epi16(_mm512_castsi512_si256(k->m), S);
    *p = acc;
}

/* 4 vectors of 8 int32 lanes -> their 4 sums (exact) */
static I8K_AI __m128i i8k_sum4(__m256i a, __m256i b, __m256i c, __m256i d) {
    /* h: [a01+a23, b.., c.., d.. | a45+a67, b.., c.., d..] */
    __m256i h = _mm256_hadd_epi32(_mm256_hadd_epi32(a, b), _mm256_hadd_epi32(c, d));
    return _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
}
static I8K_AI __m256i i8k_fold(__m512i p) { /* 16 int32 lanes -> 8, same sum */
    return _mm256_add_epi32(_mm512_castsi512_si256(p), _mm512_extracti64x4_epi64(p, 1));
}

/* the f16 at p as float */
static I8K_AI float i8k_f16(const uint8_t *p) { return _cvtsh_ss((unsigned short)(p[0] | p[1] << 8)); }

/* out[i*TB + j] = W row wr[i] . token t + j over the nb blocks of a row; RB*TB
 * is 4 (decode: 4 rows x 1 token) or 8 (prefill: 1 row x 8 tokens). Per block
 * the (row, token) pairs go in groups of 4: their integer sums are reduced to 4
 * exact block sums T (and M), and one 4-lane float step does what the generic
 * kernel does per block, acc += dx * (d * T - dmin * M) (Q6_K: dx * d * T),
 * with lane e of acc[g] the output of pair 4g + e. */
static I8K_AI void i8k_tile(const int dt, const int RB, const int TB, const uint8_t *const *wr, const fr_qx *X,
                            int t, int64_t nb, float *out) {
    const size_t bb = dt == FR_DT_Q6_K ? 210 : dt == FR_DT_Q5_K ? 176 : 144;
    const int64_t cols = X->cols;
    const int ng = RB * TB / 4;
    __m128 acc[I8K_TBMAX / 4];
    for (int g = 0; g < ng; g++) acc[g] = _mm_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        i8k_blk k;
        if (RB == 1) i8k_unpack(dt, wr[0] + (size_t)b * bb, &k);
        for (int g = 0; g < ng; g++) {
            __m512i p[4];
            __m256i m[4];
            for (int e = 0; e < 4; e++) {
                const int q = 4 * g + e, i = q / TB;
                const int64_t tj = t + q % TB;
                if (RB > 1) i8k_unpack(dt, wr[i] + (size_t)b * bb, &k);
                i8k_dot(dt, &k, X->q + tj * cols + 256 * b, X->s + tj * (cols / 16) + 16 * b, &p[e], &m[e]);
            }
            const __m128 T = _mm_cvtepi32_ps(i8k_sum4(i8k_fold(p[0]), i8k_fold(p[1]), i8k_fold(p[2]), i8k_fold(p[3])));
            /* the pairs' d (and dmin) and dx, 4 lanes */
            __m128 d, dmin = _mm_setzero_ps(), dx;
            if (RB == 1) {
                const uint8_t *h = wr[0] + (size_t)b * bb;
                d = _mm_set1_ps(i8k_f16(h + (dt == FR_DT_Q6_K ? 208 : 0)));
                if (dt != FR_DT_Q6_K) dmin = _mm_set1_ps(i8k_f16(h + 2));
                const float *xd = X->d + (int64_t)(t + 4 * g) * nb + b;
                dx = _mm_setr_ps(xd[0], xd[nb], xd[2 * nb], xd[3 * nb]);
            } else {
                const uint8_t *h0 = wr[0] + (size_t)b * bb, *h1 = wr[1] + (size_t)b * bb,
                              *h2 = wr[2] + (size_t)b * bb, *h3 = wr[3] + (size_t)b * bb;
                if (dt == FR_DT_Q6_K) {
                    d = _mm_setr_ps(i8k_f16(h0 + 208), i8k_f16(h1 + 208), i8k_f16(h2 + 208), i8k_f16(h3 + 208));
                } else { /* d, dmin of 4 rows as 8 f16 words, reordered to d0..d3, dmin0..dmin3 */
                    __m128i h = _mm_setr_epi32((int)i8k_ld32(h0), (int)i8k_ld32(h1), (int)i8k_ld32(h2), (int)i8k_ld32(h3));
                    h = _mm_shuffle_epi8(h, _mm_setr_epi8(0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15));
                    const __m256 dd = _mm256_cvtph_ps(h);
                    d = _mm256_castps256_ps128(dd);
                    dmin = _mm256_extractf128_ps(dd, 1);
                }
                dx = _mm_set1_ps(X->d[(int64_t)t * nb + b]);
            }
            /* the generic kernel's float operations, in its order and without fusing them, so each
             * lane is the generic kernel's result bit for bit (-std=c17 does not contract) */
            if (dt == FR_DT_Q6_K) {
                acc[g] = _mm_add_ps(acc[g], _mm_mul_ps(_mm_mul_ps(dx, d), T));
            } else {
                const __m128 M = _mm_cvtepi32_ps(i8k_sum4(m[0], m[1], m[2], m[3]));
                acc[g] = _mm_add_ps(acc[g], _mm_mul_ps(dx, _mm_sub_ps(_mm_mul_ps(d, T), _mm_mul_ps(dmin, M))));
            }
        }
    }
    for (int g = 0; g < ng; g++) _mm_storeu_ps(out + 4 * g, acc[g]);
}

/* RB rows from r x TB tokens from t into Y; rows past r1 repeat the last one
 * and are not stored */
static I8K_AI void i8k_run(const int dt, const int RB, const int TB, const fr_tensor *W, const fr_qx *X, float *Y,
                           int64_t r, int64_t r1, int t) {
    const int64_t rows = fr_rows(W), nb = X->cols / 256;
    const size_t rb = fr_row_bytes(W);
    const uint8_t *wr[I8K_RBMAX];
    for (int i = 0; i < RB; i++) wr[i] = (const uint8_t *)W->data + (size_t)(r + i < r1 ? r + i : r1 - 1) * rb;
    float out[I8K_TBMAX];
    i8k_tile(dt, RB, TB, wr, X, t, nb, out);
    for (int i = 0; i < RB && r + i < r1; i++)
        for (int j = 0; j < TB; j++) Y[(int64_t)(t + j) * rows + r + i] = out[i * TB + j];
}

static I8K_AI void i8k_body(const int dt, const fr_tensor *W, const fr_qx *X, float *Y, int64_t r0, int64_t r1) {
    const int n = X->n;
    /* tokens per chunk: their activations (about 1.1 bytes per value) fill about 512 KiB of L2
     * while the chunk's weight rows stream once */
    int64_t tc = (512 * 1024) / X->cols;
    const int tchunk = tc < I8K_TBMAX ? I8K_TBMAX : tc > 512 ? 512 : (int)(tc / I8K_TBMAX * I8K_TBMAX);
    for (int t0 = 0; t0 < n; t0 += tchunk) {
        const int t1 = t0 + tchunk < n ? t0 + tchunk : n;
        const int tfull = t0 + (t1 - t0) / I8K_TBMAX * I8K_TBMAX; /* tokens [t0, tfull) in 8-token tiles */
        if (tfull > t0)
            for (int64_t r = r0; r < r1; r++)
                for (int t = t0; t < tfull; t += I8K_TBMAX) i8k_run(dt, 1, I8K_TBMAX, W, X, Y, r, r1, t);
        for (int t = tfull; t < t1; t++) /* the rest one token at a time, 4 rows per tile */
            for (int64_t r = r0; r < r1; r += I8K_RBMAX) i8k_run(dt, I8K_RBMAX, 1, W, X, Y, r, r1, t);
    }
}

static void PFX(matmul_q_q4_k)(const fr_tensor *W, const fr_qx *X, float *Y, int64_t r0, int64_t r1) {
    i8k_body(FR_DT_Q4_K, W, X, Y, r0, r1);
}
static void PFX(matmul_q_q5_k)(const fr_tensor *W, const fr_qx *X, float *Y, int64_t r0, int64_t r1) {
    i8k_body(FR_DT_Q5_K, W, X, Y, r0, r1);
}
static void PFX(matmul_q_q6_k)(const fr_tensor *W, const fr_qx *X, float *Y, int64_t r0, int64_t r1) {
    i8k_body(FR_DT_Q6_K, W, X, Y, r0, r1);
}

#define INT8_K_ENTRIES                                                                                        \
    [FR_DT_Q4_K] = PFX(matmul_q_q4_k), [FR_DT_Q5_K] = PFX(matmul_q_q5_k), [FR_DT_Q6_K] = PFX(matmul_q_q6_k),
