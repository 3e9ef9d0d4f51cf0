/* AVX2 integer kernels for the K-quant weights Q4_K, Q5_K, Q6_K (kernels.h,
 * fr_qx; activations int8 in blocks of 256), included by avx2/kernels.c: the
 * AVX-512 file avx512/int8_k.h with 32-byte vectors and no VNNI. The integer
 * sums are those of generic/matmul_q.c (exact), and so are the float
 * operations per block, so the results are the generic kernel's bit for bit.
 *
 * A block (256 weights) is 8 pieces v of 32 weights, elements 32v..32v+31,
 * each met by the 32 activations x[32v..] as they lie in memory:
 *   w      32 unsigned bytes (Q4_K 0..15, Q5_K 0..31, Q6_K q6 + 32 in 0..63:
 *          vpmaddubsw's int16 pair sums never saturate)
 *   sc     int16 per word, the sub-block scale of the two bytes under it
 *          (Q4_K/Q5_K: piece v is sub-block v; Q6_K: 128-bit lane e of piece
 *          v is sub-block 2v + e)
 *   p     += vpmaddwd(vpmaddubsw(w, x), sc)     8 int32 lanes
 * Per block and (row, token) pair: p adds up to sum_j sc_j sum_i w_i q_i
 * (Q6_K: minus 32 sum_j sc_j S_j, with S_j from X->s), and M (Q4_K, Q5_K) to
 * sum_j m_j S_j. Four pairs at a time are reduced to their exact sums
 * (vphaddd) and a 4-lane float step does acc += d_x * (d * T - dmin * M).
 *
 * Decode (n = 1): one row at a time (i8k_row; one sequential weight stream per
 * thread), float sums in another order (within 1e-6 of sum|w x|).
 * Tiles (n >= 2): 4 rows x 1 or 2 tokens (the rows share the activation loads,
 * from L1); prefill 1 row x 4 tokens, each piece unpacked once for 4 tokens. */
#include <string.h>

#include "kernels/kernels.h"

#define I8K_AI __attribute__((always_inline)) inline
#define I8K_TB 4 /* tokens per prefill tile */

static I8K_AI uint32_t i8k_ld32(const uint8_t *p) {
    uint32_t u;
    memcpy(&u, p, 4);
    return u;
}
static I8K_AI __m256i i8k_ld256(const void *p) { return _mm256_loadu_si256((const __m256i *)p); }
static I8K_AI float i8k_f16(const uint8_t *p) { return _cvtsh_ss((unsigned short)(p[0] | p[1] << 8)); }

/* One row's block, ready for the pieces: */
typedef struct {
    const uint8_t *b;
    __m256i sm;       /* Q4_K/Q5_K: scale bytes 0..7, min bytes 8..15, in both lanes */
    __m256i s0, s1;   /* Q6_K: the 16 int16 scales 0..7 (s0) and 8..15 (s1), in both lanes */
} i8k_blk;

static I8K_AI void i8k_prep(const int dt, const uint8_t *b, i8k_blk *k) {
    k->b = b;
    if (dt == FR_DT_Q6_K) {
        const __m256i s16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(b + 192)));
        k->s0 = _mm256_permute4x64_epi64(s16, 0x44);
        k->s1 = _mm256_permute4x64_epi64(s16, 0xEE);
        k->sm = _mm256_setzero_si256();
        return;
    }
    /* the 6-bit scales and mins (as avx2/quant.h's qprep): scales 0..3 low 6 bits of bytes 0..3, 4..7
     * low nibbles of bytes 8..11 | top 2 bits of bytes 0..3 << 4; mins from bytes 4..7 and the high
     * nibbles of bytes 8..11 */
    const uint32_t u0 = i8k_ld32(b + 4), u1 = i8k_ld32(b + 8), u2 = i8k_ld32(b + 12);
    const uint64_t s8 = (uint64_t)(u0 & 0x3f3f3f3fu) | (uint64_t)((u2 & 0x0f0f0f0fu) | ((u0 >> 6) & 0x03030303u) << 4) << 32;
    const uint64_t m8 = (uint64_t)(u1 & 0x3f3f3f3fu) | (uint64_t)(((u2 >> 4) & 0x0f0f0f0fu) | ((u1 >> 6) & 0x03030303u) << 4) << 32;
    k->sm = _mm256_broadcastsi128_si256(_mm_set_epi64x((long long)m8, (long long)s8));
    k->s0 = k->s1 = _mm256_setzero_si256();
}

/* piece v (elements 32v..32v+31) of the block: weights *w, scales *sc */
static I8K_AI void i8k_piece(const int dt, const i8k_blk *k, const int v, __m256i *w, __m256i *sc) {
    const __m256i m4 = _mm256_set1_epi8(15);
    const uint8_t *b = k->b;
    if (dt == FR_DT_Q6_K) {
        /* ql[128] | qh[64] | i8 scales[16] | f16 d; v = 4h + kk: element 128h + 32kk + l is the nibble of
         * ql[64h + 32(kk & 1) + l] (low for kk < 2) | bits 2kk, 2kk+1 of qh[32h + l] << 4. Word shifts
         * move bits across the byte boundary only outside the 0x30 mask. */
        const int h = v >> 2, kk = v & 3;
        const __m256i l = i8k_ld256(b + 64 * h + 32 * (kk & 1)), qh = i8k_ld256(b + 128 + 32 * h);
        const __m256i lo = kk < 2 ? _mm256_and_si256(l, m4) : _mm256_and_si256(_mm256_srli_epi16(l, 4), m4);
        const __m256i hb = kk == 0 ? _mm256_slli_epi16(qh, 4) : kk == 1 ? _mm256_slli_epi16(qh, 2)
                         : kk == 2 ? qh : _mm256_srli_epi16(qh, 2);
        *w = _mm256_or_si256(lo, _mm256_and_si256(hb, _mm256_set1_epi8(0x30)));
        /* lane 0: scale 2v = word 2kk of s0 / s1, lane 1: scale 2v + 1 */
        const int a = 4 * kk, c = 4 * kk + 2;
        const __m256i ctl = _mm256_setr_epi8(a, a + 1, a, a + 1, a, a + 1, a, a + 1, a, a + 1, a, a + 1, a, a + 1,
                                             a, a + 1, c, c + 1, c, c + 1, c, c + 1, c, c + 1, c, c + 1, c, c + 1,
                                             c, c + 1, c, c + 1);
        *sc = _mm256_shuffle_epi8(h ? k->s1 : k->s0, ctl);
        return;
    }
    /* Q4_K: f16 d | f16 dmin | scales[12] | qs[128]; Q5_K: qh[32] before qs. Element 64c + l (l < 32):
     * low nibble of qs[32c + l]; 64c + 32 + l: its high nibble; v = 2c + e. */
    const __m256i q = i8k_ld256(b + (dt == FR_DT_Q4_K ? 16 : 48) + 32 * (v >> 1));
    __m256i x = (v & 1) ? _mm256_and_si256(_mm256_srli_epi16(q, 4), m4) : _mm256_and_si256(q, m4);
    if (dt == FR_DT_Q5_K) { /* the 5th bit: bit v of qh[l], moved to bit 4 (neighbour bits land outside 0x10) */
        const __m256i qh = i8k_ld256(b + 16);
        const __m256i hb = v < 4 ? _mm256_slli_epi16(qh, 4 - v) : _mm256_srli_epi16(qh, v - 4);
        x = _mm256_or_si256(x, _mm256_and_si256(hb, _mm256_set1_epi8(0x10)));
    }
    *w = x;
    *sc = _mm256_shuffle_epi8(k->sm, _mm256_set1_epi16((short)(0x8000 | v))); /* word = (scale byte v, 0) */
}

/* the mins of a Q4_K/Q5_K block against a token's 16 sums s: 8 int32 lanes
 * adding up to sum_j m_j (s[2j] + s[2j+1]) */
static I8K_AI __m256i i8k_mins(const i8k_blk *k, const int16_t *s) {
    /* words 2j, 2j+1 = min j (j < 4 in lane 0, 4..7 in lane 1) */
    const __m256i mctl = _mm256_set_epi32((int)0x800f800f, (int)0x800e800e, (int)0x800d800d, (int)0x800c800c,
                                          (int)0x800b800b, (int)0x800a800a, (int)0x80098009, (int)0x80088008);
    return _mm256_madd_epi16(_mm256_shuffle_epi8(k->sm, mctl), i8k_ld256(s));
}

/* Q6_K: -32 sum_j sc_j S_j as 8 int32 lanes */
static I8K_AI __m256i i8k_q6off(const i8k_blk *k, const int16_t *s) {
    const __m256i s16 = _mm256_blend_epi32(k->s0, k->s1, 0xF0); /* scales 0..7 | 8..15 */
    return _mm256_slli_epi32(_mm256_madd_epi16(s16, i8k_ld256(s)), 5);
}

/* 4 vectors of 8 int32 lanes -> their 4 sums (exact) */
static I8K_AI __m128i i8k_sum4(__m256i a, __m256i b, __m256i c, __m256i d) {
    __m256i h = _mm256_hadd_epi32(_mm256_hadd_epi32(a, b), _mm256_hadd_epi32(c, d));
    return _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
}

/* the generic kernel's per-block float step for 4 pairs: acc += dx * (d * T -
 * dmin * M), Q6_K acc += (dx * d) * T; same operations and order, not fused */
static I8K_AI __m128 i8k_step(const int dt, __m128 acc, __m128 dx, __m128 d, __m128 dmin, __m128i T, __m128i M) {
    if (dt == FR_DT_Q6_K) return _mm_add_ps(acc, _mm_mul_ps(_mm_mul_ps(dx, d), _mm_cvtepi32_ps(T)));
    return _mm_add_ps(acc, _mm_mul_ps(dx, _mm_sub_ps(_mm_mul_ps(d, _mm_cvtepi32_ps(T)),
                                                     _mm_mul_ps(dmin, _mm_cvtepi32_ps(M)))));
}

static I8K_AI size_t i8k_bb(const int dt) { return dt == FR_DT_Q6_K ? 210 : dt == FR_DT_Q5_K ? 176 : 144; }

/* Decode tile: out[4j + i] = W row wr[i] . token t + j, i < 4, j < TB (1 or
 * 2); each piece of a row's block is unpacked once for the TB tokens */
static I8K_AI void i8k_tile_rows(const int dt, const int TB, const uint8_t *const *wr, const fr_qx *X, int t,
                                 int64_t nb, float *out) {
    const size_t bb = i8k_bb(dt);
    const int64_t cols = X->cols;
    const int8_t *xq0 = X->q + (int64_t)t * cols;
    const int16_t *xs0 = X->s + (int64_t)t * (cols / 16);
    const float *xd0 = X->d + (int64_t)t * nb;
    __m128 acc[2];
    for (int j = 0; j < TB; j++) acc[j] = _mm_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *h[4];
        __m256i p[2][4], m[2][4];
#pragma GCC unroll 8
        for (int i = 0; i < 4; i++) {
            h[i] = wr[i] + (size_t)b * bb;
            i8k_blk k;
            i8k_prep(dt, h[i], &k);
            __m256i a[2];
            for (int j = 0; j < TB; j++) a[j] = _mm256_setzero_si256();
#pragma GCC unroll 8
            for (int v = 0; v < 8; v++) {
                __m256i w, sc;
                i8k_piece(dt, &k, v, &w, &sc);
#pragma GCC unroll 8
                for (int j = 0; j < TB; j++) {
                    const __m256i x = i8k_ld256(xq0 + j * cols + 256 * b + 32 * v);
                    a[j] = _mm256_add_epi32(a[j], _mm256_madd_epi16(_mm256_maddubs_epi16(w, x), sc));
                }
            }
#pragma GCC unroll 8
            for (int j = 0; j < TB; j++) {
                const int16_t *s = xs0 + j * (cols / 16) + 16 * b;
                if (dt == FR_DT_Q6_K) {
                    p[j][i] = _mm256_sub_epi32(a[j], i8k_q6off(&k, s));
                } else {
                    p[j][i] = a[j];
                    m[j][i] = i8k_mins(&k, s);
                }
            }
        }
        __m128 d, dmin = _mm_setzero_ps();
        if (dt == FR_DT_Q6_K) {
            d = _mm_setr_ps(i8k_f16(h[0] + 208), i8k_f16(h[1] + 208), i8k_f16(h[2] + 208), i8k_f16(h[3] + 208));
        } else { /* d, dmin of 4 rows as 8 f16 words, reordered to d0..d3, dmin0..dmin3 */
            __m128i dm = _mm_setr_epi32((int)i8k_ld32(h[0]), (int)i8k_ld32(h[1]), (int)i8k_ld32(h[2]), (int)i8k_ld32(h[3]));
            dm = _mm_shuffle_epi8(dm, _mm_setr_epi8(0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15));
            const __m256 dd = _mm256_cvtph_ps(dm);
            d = _mm256_castps256_ps128(dd);
            dmin = _mm256_extractf128_ps(dd, 1);
        }
#pragma GCC unroll 8
        for (int j = 0; j < TB; j++) {
            const __m128i M = dt == FR_DT_Q6_K ? _mm_setzero_si128() : i8k_sum4(m[j][0], m[j][1], m[j][2], m[j][3]);
            acc[j] = i8k_step(dt, acc[j], _mm_set1_ps(xd0[j * nb + b]), d, dmin,
                              i8k_sum4(p[j][0], p[j][1], p[j][2], p[j][3]), M);
        }
    }
    for (int j = 0; j < TB; j++) _mm_storeu_ps(out + 4 * j, acc[j]);
}

/* Prefill tile: out[j] = W row w . token t + j, j < 4; each piece is unpacked
 * once for the 4 tokens */
static I8K_AI void i8k_tile_tokens(const int dt, const uint8_t *w, const fr_qx *X, int t, int64_t nb, float *out) {
    const size_t bb = i8k_bb(dt);
    const int64_t cols = X->cols;
    __m128 acc = _mm_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *h = w + (size_t)b * bb;
        i8k_blk k;
        i8k_prep(dt, h, &k);
        __m256i p[I8K_TB], m[I8K_TB];
        for (int j = 0; j < I8K_TB; j++) p[j] = _mm256_setzero_si256();
#pragma GCC unroll 8
        for (int v = 0; v < 8; v++) {
            __m256i wv, sc;
            i8k_piece(dt, &k, v, &wv, &sc);
#pragma GCC unroll 8
            for (int j = 0; j < I8K_TB; j++) {
                const int8_t *x = X->q + (t + j) * cols + 256 * b + 32 * v;
                p[j] = _mm256_add_epi32(p[j], _mm256_madd_epi16(_mm256_maddubs_epi16(wv, i8k_ld256(x)), sc));
            }
        }
#pragma GCC unroll 8
        for (int j = 0; j < I8K_TB; j++) {
            const int16_t *s = X->s + (t + j) * (cols / 16) + 16 * b;
            if (dt == FR_DT_Q6_K) p[j] = _mm256_sub_epi32(p[j], i8k_q6off(&k, s));
            else m[j] = i8k_mins(&k, s);
        }
        const __m128i T = i8k_sum4(p[0], p[1], p[2], p[3]);
        const float *xd = X->d + (int64_t)t * nb + b;
        const __m128 dx = _mm_setr_ps(xd[0], xd[nb], xd[2 * nb], xd[3 * nb]);
        if (dt == FR_DT_Q6_K) {
            acc = i8k_step(dt, acc, dx, _mm_set1_ps(i8k_f16(h + 208)), _mm_setzero_ps(), T, _mm_setzero_si128());
        } else {
            const __m128 dm = _mm_cvtph_ps(_mm_cvtsi32_si128((int)i8k_ld32(h)));
            acc = i8k_step(dt, acc, dx, _mm_broadcastss_ps(dm), _mm_broadcastss_ps(_mm_movehdup_ps(dm)), T,
                           i8k_sum4(m[0], m[1], m[2], m[3]));
        }
    }
    _mm_storeu_ps(out, acc);
}

/* Decode (n = 1): one row at a time, so a thread reads the weights as ONE
 * sequential stream (a 4-row tile reads 4 interleaved streams, which the memory
 * system serves slower): 4 blocks of the row per step, their pieces as in the
 * tiles, the 4 blocks' sums reduced together (lane i = block b + i) and one
 * 4-lane float step; the lanes are summed at the end of the row (another
 * float order than the generic kernel: within 1e-6 of sum|w x|). */
static I8K_AI float i8k_row(const int dt, const uint8_t *w, const fr_qx *X, int64_t nb) {
    const size_t bb = i8k_bb(dt);
    __m128 acc = _mm_setzero_ps();
    for (int64_t b = 0; b < nb; b += 4) {
        /* the 4 blocks b..b+3; past nb repeat the last one (lanes left out below) */
        const int nv = nb - b < 4 ? (int)(nb - b) : 4;
        const uint8_t *h[4];
        int64_t bi[4];
        for (int i = 0; i < 4; i++) bi[i] = b + (i < nv ? i : nv - 1), h[i] = w + (size_t)bi[i] * bb;
        __m256i p[4], m[4];
#pragma GCC unroll 8
        for (int i = 0; i < 4; i++) {
            i8k_blk k;
            i8k_prep(dt, h[i], &k);
            __m256i a[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()}; /* two short chains */
#pragma GCC unroll 8
            for (int v = 0; v < 8; v++) {
                __m256i wv, sc;
                i8k_piece(dt, &k, v, &wv, &sc);
                const __m256i x = i8k_ld256(X->q + 256 * bi[i] + 32 * v);
                a[v & 1] = _mm256_add_epi32(a[v & 1], _mm256_madd_epi16(_mm256_maddubs_epi16(wv, x), sc));
            }
            const int16_t *s = X->s + 16 * bi[i];
            p[i] = _mm256_add_epi32(a[0], a[1]);
            if (dt == FR_DT_Q6_K) p[i] = _mm256_sub_epi32(p[i], i8k_q6off(&k, s));
            else m[i] = i8k_mins(&k, s);
        }
        __m128 d, dmin = _mm_setzero_ps();
        __m128i M = _mm_setzero_si128();
        if (dt == FR_DT_Q6_K) {
            d = _mm_setr_ps(i8k_f16(h[0] + 208), i8k_f16(h[1] + 208), i8k_f16(h[2] + 208), i8k_f16(h[3] + 208));
        } else { /* d, dmin of the 4 blocks as 8 f16 words, reordered to d0..d3, dmin0..dmin3 */
            __m128i dm = _mm_setr_epi32((int)i8k_ld32(h[0]), (int)i8k_ld32(h[1]), (int)i8k_ld32(h[2]), (int)i8k_ld32(h[3]));
            dm = _mm_shuffle_epi8(dm, _mm_setr_epi8(0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15));
            const __m256 dd = _mm256_cvtph_ps(dm);
            d = _mm256_castps256_ps128(dd);
            dmin = _mm256_extractf128_ps(dd, 1);
            M = i8k_sum4(m[0], m[1], m[2], m[3]);
        }
        const __m128i lane = _mm_cmpgt_epi32(_mm_set1_epi32(nv), _mm_setr_epi32(0, 1, 2, 3)); /* i < nv */
        const __m128 dx = _mm_castsi128_ps(_mm_maskload_epi32((const int *)(const void *)(X->d + b), lane));
        acc = _mm_blendv_ps(acc, i8k_step(dt, acc, dx, d, dmin, i8k_sum4(p[0], p[1], p[2], p[3]), M), _mm_castsi128_ps(lane));
    }
    __m128 s = _mm_add_ps(acc, _mm_movehl_ps(acc, acc));
    return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}

static I8K_AI void i8k_body(const int dt, const fr_tensor *W, const fr_qx *X, float *Y, int64_t r0, int64_t r1) {
    const int n = X->n;
    const int64_t rows = fr_rows(W), nb = X->cols / 256;
    const size_t rb = fr_row_bytes(W);
    const uint8_t *w0 = W->data;
    float out[8];
    /* tokens per chunk: their activations (about 1.1 bytes per value) fill about 512 KiB of L2
     * while the chunk's weight rows stream once */
    int64_t tc = (512 * 1024) / X->cols;
    const int tchunk = tc < I8K_TB ? I8K_TB : tc > 512 ? 512 : (int)(tc / I8K_TB * I8K_TB);
    for (int t0 = 0; t0 < n; t0 += tchunk) {
        const int t1 = t0 + tchunk < n ? t0 + tchunk : n;
        const int tfull = t0 + (t1 - t0) / I8K_TB * I8K_TB; /* tokens [t0, tfull) in 4-token tiles */
        if (tfull > t0)
            for (int64_t r = r0; r < r1; r++)
                for (int t = t0; t < tfull; t += I8K_TB) {
                    i8k_tile_tokens(dt, w0 + (size_t)r * rb, X, t, nb, out);
                    for (int j = 0; j < I8K_TB; j++) Y[(int64_t)(t + j) * rows + r] = out[j];
                }
        /* the rest two tokens or one at a time, 4 rows per tile */
        for (int t = tfull; t < t1; t += 2) {
            const int tb = t + 2 <= t1 ? 2 : 1;
            for (int64_t r = r0; r < r1; r += 4) {
                const uint8_t *wr[4]; /* rows past r1 repeat the last one and are not stored */
                for (int i = 0; i < 4; i++) wr[i] = w0 + (size_t)(r + i < r1 ? r + i : r1 - 1) * rb;
                if (tb == 2) i8k_tile_rows(dt, 2, wr, X, t, nb, out);
                else i8k_tile_rows(dt, 1, wr, X, t, nb, out);
                for (int j = 0; j < tb; j++)
                    for (int i = 0; i < 4 && r + i < r1; i++) Y[(int64_t)(t + j) * rows + r + i] = out[4 * j + i];
            }
        }
    }
}

/* n = 1 in its own function (not inlined into i8k_body's tiles) */
static __attribute__((noinline)) void PFX(decode_q4_k)(const fr_tensor *W, const fr_qx *X, float *Y, int64_t r0,
                                                        int64_t r1) {
    for (int64_t r = r0; r < r1; r++)
        Y[r] = i8k_row(FR_DT_Q4_K, (const uint8_t *)W->data + (size_t)r * fr_row_bytes(W), X, X->cols / 256);
}
static void PFX(matmul_q_q4_k)(const fr_tensor *W, const fr_qx *X, float *Y, int64_t r0, int64_t r1) {
    if (X->n == 1) PFX(decode_q4_k)(W, X, Y, r0, r1);
    else i8k_body(FR_DT_Q4_K, W, X, Y, r0, r1);
}
/* n = 1 in its own function (not inlined into i8k_body's tiles) */
static __attribute__((noinline)) void PFX(decode_q5_k)(const fr_tensor *W, const fr_qx *X, float *Y, int64_t r0,
                                                        int64_t r1) {
    for (int64_t r = r0; r < r1; r++)
        Y[r] = i8k_row(FR_DT_Q5_K, (const uint8_t *)W->data + (size_t)r * fr_row_bytes(W), X, X->cols / 256);
}
static void PFX(matmul_q_q5_k)(const fr_tensor *W, const fr_qx *X, float *Y, int64_t r0, int64_t r1) {
    if (X->n == 1) PFX(decode_q5_k)(W, X, Y, r0, r1);
    else i8k_body(FR_DT_Q5_K, W, X, Y, r0, r1);
}
/* n = 1 in its own function (not inlined into i8k_body's tiles) */
static __attribute__((noinline)) void PFX(decode_q6_k)(const fr_tensor *W, const fr_qx *X, float *Y, int64_t r0,
                                                        int64_t r1) {
    for (int64_t r = r0; r < r1; r++)
        Y[r] = i8k_row(FR_DT_Q6_K, (const uint8_t *)W->data + (size_t)r * fr_row_bytes(W), X, X->cols / 256);
}
static void PFX(matmul_q_q6_k)(const fr_tensor *W, const fr_qx *X, float *Y, int64_t r0, int64_t r1) {
    if (X->n == 1) PFX(decode_q6_k)(W, X, Y, r0, r1);
    else i8k_body(FR_DT_Q6_K, W, X, Y, r0, r1);
}

#define INT8_K_ENTRIES                                                                                        \
    [FR_DT_Q4_K] = PFX(matmul_q_q4_k), [FR_DT_Q5_K] = PFX(matmul_q_q5_k), [FR_DT_Q6_K] = PFX(matmul_q_q6_k),
