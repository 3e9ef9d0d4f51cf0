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
 * Decode (n = 1): two rows at a time (i8k_rows; two sequential weight streams
 * per thread), float sums in another order (within 1e-6 of sum|w x|).
 * Tiles of 4 rows x 1 or 2 tokens (the rows share the activation loads, from
 * L1) for calls of 2 or 3 tokens; 4 tokens or more the transposed prefill
 * below. */
#include <string.h>

#include "kernels/kernels.h"

#define I8K_AI __attribute__((always_inline)) inline
#ifndef I8K_PD
#define I8K_PD 4096 /* n = 1: prefetch the row's weights this many bytes ahead; 0: off */
#endif

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

/* Decode (n = 1): rows r0 + i and r0 + h + i together (h half the rows), so a
 * thread reads the weights as two sequential streams (on the Zen 3 VM more
 * from DRAM than one, bench/RESULTS.md Run 35; a 4-row tile reads 4
 * interleaved streams, which the memory system serves slower), one block per
 * step: its pieces as in the tiles, the int32 lanes of the block (and of its
 * mins, or Q6_K's -32 offset taken off) to float and into 8-lane float sums,
 * acc += (d d_x) T and accm += (dmin d_x) M, summed at the end of the row
 * (another float order than the generic kernel: within 1e-6 of sum|w x|; a row
 * alone or in a pair, the same). On the Zen 3 VM (Run 33) the version before,
 * 4 blocks a step reduced to 4 lanes (vphaddd) and one 4-lane float step, ran
 * from L2 at 15.7 GB/s of Q4_K weights a thread and 22.2 of Q6_K
 * (bench/int8_bench.c n 1 rows 128), under the memory's share of a thread. */
static I8K_AI void i8k_rows(const int N, const int dt, const uint8_t *const *w, const fr_qx *X, int64_t nb,
                            float *y) {
    const size_t bb = i8k_bb(dt);
    __m256 acc[2], accm[2];
    for (int r = 0; r < N; r++) acc[r] = accm[r] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const int16_t *s = X->s + 16 * b;
        const float dx = X->d[b];
        for (int r = 0; r < N; r++) {
            const uint8_t *h = w[r] + (size_t)b * bb;
#if I8K_PD
            for (size_t l = 0; l < bb; l += 64) _mm_prefetch((const char *)(h + I8K_PD + l), _MM_HINT_T0);
#endif
            i8k_blk k;
            i8k_prep(dt, h, &k);
            __m256i a[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()}; /* two short chains */
#pragma GCC unroll 8
            for (int v = 0; v < 8; v++) {
                __m256i wv, sc;
                i8k_piece(dt, &k, v, &wv, &sc);
                const __m256i x = i8k_ld256(X->q + 256 * b + 32 * v);
                a[v & 1] = _mm256_add_epi32(a[v & 1], _mm256_madd_epi16(_mm256_maddubs_epi16(wv, x), sc));
            }
            __m256i T = _mm256_add_epi32(a[0], a[1]);
            if (dt == FR_DT_Q6_K) {
                T = _mm256_sub_epi32(T, i8k_q6off(&k, s));
                acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(T), _mm256_set1_ps(i8k_f16(h + 208) * dx), acc[r]);
            } else {
                const __m128 dm = _mm_mul_ps(_mm_cvtph_ps(_mm_cvtsi32_si128((int)i8k_ld32(h))), _mm_set1_ps(dx));
                acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(T), _mm256_broadcastss_ps(dm), acc[r]);
                const __m256 dmin = _mm256_broadcastss_ps(_mm_movehdup_ps(dm));
                accm[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(i8k_mins(&k, s)), dmin, accm[r]);
            }
        }
    }
    for (int r = 0; r < N; r++) {
        const __m256 t = _mm256_sub_ps(acc[r], accm[r]);
        __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
        s4 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
        y[r] = _mm_cvtss_f32(_mm_add_ss(s4, _mm_movehdup_ps(s4)));
    }
}

/* the decode's rows [r0, r1): pairs r0 + i, r0 + h + i, then the odd one */
static I8K_AI void i8k_decode(const int dt, const fr_tensor *W, const fr_qx *X, float *Y, int64_t r0, int64_t r1) {
    const uint8_t *w0 = W->data;
    const size_t rb = fr_row_bytes(W);
    const int64_t nb = X->cols / 256, h = (r1 - r0) / 2;
    for (int64_t i = 0; i < h; i++) {
        const uint8_t *w[2] = {w0 + (size_t)(r0 + i) * rb, w0 + (size_t)(r0 + h + i) * rb};
        float y[2];
        i8k_rows(2, dt, w, X, nb, y);
        Y[r0 + i] = y[0], Y[r0 + h + i] = y[1];
    }
    if ((r1 - r0) % 2) {
        const uint8_t *w[1] = {w0 + (size_t)(r1 - 1) * rb};
        i8k_rows(1, dt, w, X, nb, &Y[r1 - 1]);
    }
}

/* ---- prefill: transposed weights (the scheme of q0_prefill in avx2/int8_q0.h) ----
 * For a pass of I8K_PMIN tokens or more, 8 rows' blocks are transposed as dwords
 * and unpacked to unsigned bytes (Q4_K 0..15, Q5_K 0..31, Q6_K the raw 0..63),
 * a chunk of I8K_PKC blocks at a time (i8k_ptrans):
 *     ut[k][g][c] lane i = elements 32g + 4c .. 32g + 4c + 3 of block k of row i
 *     sc[k][j]    lane i = sc_ij in both int16 halves (sub-block j: Q4_K/Q5_K 8
 *                 of 32 values, j = g; Q6_K 16 of 16, j = 2g + c / 4)
 *     mm[k][p]    lane i = int16 pair (m_i,2p, m_i,2p+1), the mins (Q4_K/Q5_K), or
 *                 (sc_i,2p, sc_i,2p+1), the scales (Q6_K)
 *     d[k], dmin[k] lane i = row i's d, dmin
 * Then per token and block, vpmaddubsw(ut[k][g][c], bcast(q[32g + 4c ..])) gives
 * lane i row i's int16 pair sums directly. Those are small: they add up in
 * int16 over a run of dwords within a sub-block (Q4_K 8 dwords: 16 * 15 * 127 =
 * 30480 <= 32767; Q5_K 4: 8 * 31 * 127 = 31496; Q6_K 2: 4 * 63 * 127 = 32004),
 * and one vpmaddwd by sc[k][j] takes the run to int32, scaled: one vpmaddwd per
 * 8, 4 or 2 vpmaddubsw instead of one each (the row tiles above). Per block the
 * exact sums of the generic kernel, T = sum_j sc_j sum_i u_i q_i and
 *     Q4_K/Q5_K  M = sum_j m_j S_j (S_j = s_2j + s_2j+1, the pairs (S_2p, S_2p+1)
 *                    formed once per pass and chunk): acc += d_x * (d * T - dmin * M)
 *     Q6_K       T -= 32 sum_j sc_j s_j:               acc += (d_x * d) * T
 * the generic kernel's float operations in its order (acc in Y between chunks):
 * the result is the generic kernel's bit for bit.
 * One 8-row panel x 4 tokens (a weight load meets 4 tokens). On the Zen 3 VM
 * (bench/RESULTS.md Run 33), per thread, bench/int8_bench.c n 512 rows 128 cols
 * 2048, best of 5: Q4_K 75 GFLOP/s (the 1-row x 4-token tile before) -> 187,
 * Q5_K -> 179, Q6_K 77 -> 152; with chunks of 8 blocks instead of 4 (the tiles
 * store and reload their sums once per chunk; best of 3) Q4_K 181 -> 203, Q5_K
 * 175 -> 195, Q6_K 150 -> 166 (16 blocks: 200, 190, 168; 2: Q4_K 168). Tried
 * there and not kept: two panels x 2 tokens
 * (a broadcast meets 16 rows; 161-172: the 16 registers spill), and instead of
 * the broadcasts one vpshufd of the token's 32 bytes per two dwords, the
 * weights laid out [rows 0..3 at dword c | at c + 4] (157, 4 tokens 138). */
#define I8K_PR 8   /* rows per panel: the 8 lanes of a ymm */
#define I8K_PKC 8  /* blocks per transposed chunk (22.5 KiB of panel) */
#define I8K_PMIN 4 /* tokens in a pass from which the transposed path runs */
#define I8K_PTB 4  /* tokens per tile, at most */

typedef struct {
    __m256i ut[I8K_PKC][8][8];
    __m256i sc[I8K_PKC][16];
    __m256i mm[I8K_PKC][8];
    float d[I8K_PKC][I8K_PR], dmin[I8K_PKC][I8K_PR];
} i8k_panel;

/* dword o of the 8 rows' blocks h[i] */
static I8K_AI __m256i i8k_dw8(const uint8_t *const *h, size_t o) {
    return _mm256_setr_epi32((int)i8k_ld32(h[0] + o), (int)i8k_ld32(h[1] + o), (int)i8k_ld32(h[2] + o),
                             (int)i8k_ld32(h[3] + o), (int)i8k_ld32(h[4] + o), (int)i8k_ld32(h[5] + o),
                             (int)i8k_ld32(h[6] + o), (int)i8k_ld32(h[7] + o));
}
/* the 32 bytes at h[i] + o of the 8 rows as dwords: q[c] lane i = dword c of row i */
static I8K_AI void i8k_t8(const uint8_t *const *h, size_t o, __m256i *q) {
    __m256i u[8];
    for (int i = 0; i < 8; i++) u[i] = i8k_ld256(h[i] + o);
    q0_transpose(u, q);
}
/* the f16 at h[i] + o of the 8 rows as floats */
static I8K_AI __m256 i8k_f16x8(const uint8_t *const *h, size_t o) {
    uint16_t v[8];
    for (int i = 0; i < 8; i++) memcpy(&v[i], h[i] + o, 2);
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)v));
}
/* int16 pairs (a, b) from int32 lanes (|a|, |b| < 2^15); (v, v): v in both halves */
static I8K_AI __m256i i8k_pair16(__m256i a, __m256i b) {
    return _mm256_or_si256(_mm256_and_si256(a, _mm256_set1_epi32(0xffff)), _mm256_slli_epi32(b, 16));
}

/* The cnt blocks from b0 of the 8 rows from r (rows past r1 repeat the last) into P */
static I8K_AI void i8k_ptrans(const int dt, const fr_tensor *W, int64_t r, int64_t r1, int64_t b0, int cnt,
                              i8k_panel *P) {
    const size_t bb = i8k_bb(dt), rb = fr_row_bytes(W);
    const __m256i m4 = _mm256_set1_epi8(15);
    for (int k = 0; k < cnt; k++) {
        const uint8_t *h[I8K_PR];
        for (int i = 0; i < I8K_PR; i++)
            h[i] = (const uint8_t *)W->data + (size_t)(r + i < r1 ? r + i : r1 - 1) * rb + (size_t)(b0 + k) * bb;
        if (dt == FR_DT_Q6_K) {
            /* ql[128] | qh[64] | int8 scales[16] | f16 d; group g = 4hh + kk: nibble (kk >= 2) of ql chunk
             * 2hh + (kk & 1) | bits 2kk, 2kk + 1 of qh chunk hh << 4 (i8k_piece) */
            __m256i L[4][8], H[2][8], s[16];
            for (int m = 0; m < 4; m++) i8k_t8(h, 32 * (size_t)m, L[m]);
            for (int m = 0; m < 2; m++) i8k_t8(h, 128 + 32 * (size_t)m, H[m]);
            for (int hh = 0; hh < 2; hh++)
                for (int kk = 0; kk < 4; kk++)
                    for (int c = 0; c < 8; c++) {
                        const __m256i l = L[2 * hh + (kk & 1)][c], qh = H[hh][c];
                        const __m256i lo = _mm256_and_si256(kk >= 2 ? _mm256_srli_epi16(l, 4) : l, m4);
                        const __m256i hb = kk == 0 ? _mm256_slli_epi16(qh, 4) : kk == 1 ? _mm256_slli_epi16(qh, 2)
                                         : kk == 2 ? qh : _mm256_srli_epi16(qh, 2);
                        P->ut[k][4 * hh + kk][c] = _mm256_or_si256(lo, _mm256_and_si256(hb, _mm256_set1_epi8(0x30)));
                    }
            for (int q = 0; q < 4; q++) {
                const __m256i v = i8k_dw8(h, 192 + 4 * (size_t)q);
                for (int e = 0; e < 4; e++) s[4 * q + e] = _mm256_srai_epi32(_mm256_slli_epi32(v, 24 - 8 * e), 24);
            }
            for (int j = 0; j < 16; j++) P->sc[k][j] = i8k_pair16(s[j], s[j]);
            for (int p = 0; p < 8; p++) P->mm[k][p] = i8k_pair16(s[2 * p], s[2 * p + 1]);
            _mm256_store_ps(P->d[k], i8k_f16x8(h, 208));
            continue;
        }
        /* Q4_K: f16 d | f16 dmin | scales[12] | qs[128]; Q5_K: qh[32] before qs. Sub-block 2c' + e:
         * nibble e of qs[32c' ..] (| bit 2c' + e of qh << 4); scales as scale_min_k4 */
        const __m256i D0 = i8k_dw8(h, 4), D1 = i8k_dw8(h, 8), D2 = i8k_dw8(h, 12), m6 = _mm256_set1_epi32(63);
        __m256i s[8], m[8];
        for (int j = 0; j < 4; j++) {
            s[j] = _mm256_and_si256(_mm256_srli_epi32(D0, 8 * j), m6);
            m[j] = _mm256_and_si256(_mm256_srli_epi32(D1, 8 * j), m6);
            const __m256i top = _mm256_set1_epi32(0x30);
            s[j + 4] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(D2, 8 * j), _mm256_set1_epi32(15)),
                                       _mm256_and_si256(_mm256_srli_epi32(D0, 8 * j + 2), top));
            m[j + 4] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(D2, 8 * j + 4), _mm256_set1_epi32(15)),
                                       _mm256_and_si256(_mm256_srli_epi32(D1, 8 * j + 2), top));
        }
        for (int j = 0; j < 8; j++) P->sc[k][j] = i8k_pair16(s[j], s[j]);
        for (int p = 0; p < 4; p++) P->mm[k][p] = i8k_pair16(m[2 * p], m[2 * p + 1]);
        _mm256_store_ps(P->d[k], i8k_f16x8(h, 0));
        _mm256_store_ps(P->dmin[k], i8k_f16x8(h, 2));
        __m256i H[8];
        if (dt == FR_DT_Q5_K) i8k_t8(h, 16, H);
        for (int cc = 0; cc < 4; cc++) {
            __m256i Q[8];
            i8k_t8(h, (dt == FR_DT_Q4_K ? 16 : 48) + 32 * (size_t)cc, Q);
            for (int e = 0; e < 2; e++)
                for (int c = 0; c < 8; c++) {
                    __m256i u = _mm256_and_si256(e ? _mm256_srli_epi16(Q[c], 4) : Q[c], m4);
                    if (dt == FR_DT_Q5_K) { /* bit g of qh to bit 4 (neighbour bits land outside 0x10) */
                        const int g = 2 * cc + e;
                        const __m256i hb = g < 4 ? _mm256_slli_epi16(H[c], 4 - g) : _mm256_srli_epi16(H[c], g - 4);
                        u = _mm256_or_si256(u, _mm256_and_si256(hb, _mm256_set1_epi8(0x10)));
                    }
                    P->ut[k][2 * cc + e][c] = u;
                }
        }
    }
}

/* Y[t + j][r + i] (+)= blocks b0 .. b0 + cnt - 1 for TB tokens from t and the
 * 8 rows of panel P (lanes outside mask not written); first: start from 0,
 * else from Y */
static I8K_AI void i8k_ptile(const int dt, const int TB, const i8k_panel *P, const int32_t (*sp)[I8K_PKC][4], int cnt,
                             int64_t b0, const fr_qx *X, float *Y, int64_t rows, int64_t r, __m256i mask, int t,
                             int first) {
    const int64_t cols = X->cols, nb = cols / 256;
    const int run = dt == FR_DT_Q4_K ? 8 : dt == FR_DT_Q5_K ? 4 : 2; /* dwords summed in int16 */
    __m256 acc[I8K_PTB];
    for (int j = 0; j < TB; j++)
        acc[j] = first ? _mm256_setzero_ps() : _mm256_maskload_ps(Y + (int64_t)(t + j) * rows + r, mask);
    for (int k = 0; k < cnt; k++) {
        const int64_t b = b0 + k;
        __m256i T[I8K_PTB];
        for (int j = 0; j < TB; j++) T[j] = _mm256_setzero_si256();
        for (int g = 0; g < 8; g++) {
#pragma GCC unroll 4
            for (int c0 = 0; c0 < 8; c0 += run) {
                __m256i a[I8K_PTB];
#pragma GCC unroll 4
                for (int j = 0; j < TB; j++) a[j] = _mm256_setzero_si256();
#pragma GCC unroll 8
                for (int c = c0; c < c0 + run; c++) {
                    const __m256i u = _mm256_load_si256(&P->ut[k][g][c]);
#pragma GCC unroll 4
                    for (int j = 0; j < TB; j++) {
                        int32_t x4; /* elements 32g + 4c .. + 3 of token j's block */
                        memcpy(&x4, X->q + (int64_t)(t + j) * cols + 256 * b + 32 * g + 4 * c, 4);
                        a[j] = _mm256_add_epi16(a[j], _mm256_maddubs_epi16(u, _mm256_set1_epi32(x4)));
                        Q0_CHAIN(a[j]); /* avx2/int8_q0.h */
                    }
                }
                const __m256i sc = _mm256_load_si256(&P->sc[k][dt == FR_DT_Q6_K ? 2 * g + c0 / 4 : g]);
#pragma GCC unroll 4
                for (int j = 0; j < TB; j++) T[j] = _mm256_add_epi32(T[j], _mm256_madd_epi16(a[j], sc));
            }
        }
#pragma GCC unroll 4
        for (int j = 0; j < TB; j++) {
            const __m256 dx = _mm256_set1_ps(X->d[(int64_t)(t + j) * nb + b]);
            __m256i M = _mm256_setzero_si256();
            if (dt == FR_DT_Q6_K) {
                const int16_t *s = X->s + (int64_t)(t + j) * (cols / 16) + 16 * b;
#pragma GCC unroll 8
                for (int p = 0; p < 8; p++) {
                    int32_t s2;
                    memcpy(&s2, s + 2 * p, 4);
                    M = _mm256_add_epi32(M, _mm256_madd_epi16(P->mm[k][p], _mm256_set1_epi32(s2)));
                }
                const __m256i Tq = _mm256_sub_epi32(T[j], _mm256_slli_epi32(M, 5));
                acc[j] = _mm256_add_ps(acc[j], _mm256_mul_ps(_mm256_mul_ps(dx, _mm256_load_ps(P->d[k])),
                                                             _mm256_cvtepi32_ps(Tq)));
            } else {
#pragma GCC unroll 4
                for (int p = 0; p < 4; p++)
                    M = _mm256_add_epi32(M, _mm256_madd_epi16(P->mm[k][p], _mm256_set1_epi32(sp[j][k][p])));
                const __m256 v = _mm256_sub_ps(_mm256_mul_ps(_mm256_load_ps(P->d[k]), _mm256_cvtepi32_ps(T[j])),
                                               _mm256_mul_ps(_mm256_load_ps(P->dmin[k]), _mm256_cvtepi32_ps(M)));
                acc[j] = _mm256_add_ps(acc[j], _mm256_mul_ps(dx, v));
            }
        }
    }
    for (int j = 0; j < TB; j++) _mm256_maskstore_ps(Y + (int64_t)(t + j) * rows + r, mask, acc[j]);
}

/* tokens [t0, t1) x rows [r0, r1): per chunk of I8K_PKC blocks, each 8-row
 * panel is transposed once and meets all the tokens, so the chunk's
 * activations stay in L2 across the panels and every block is transposed once
 * per pass */
static I8K_AI void i8k_prefill(const int dt, const fr_tensor *W, const fr_qx *X, float *Y, int64_t r0, int64_t r1,
                               int t0, int t1) {
    const int64_t rows = fr_rows(W), nb = X->cols / 256;
    _Alignas(32) i8k_panel pan;
    /* Q4_K/Q5_K, token t0 + i, block b0 + k: S_2p | S_2p+1 << 16 */
    _Alignas(32) int32_t sp[FR_PREFILL_PASS_MAX][I8K_PKC][4];
    const int32_t(*csp)[I8K_PKC][4] = (const int32_t(*)[I8K_PKC][4])sp;
    for (int64_t b0 = 0; b0 < nb; b0 += I8K_PKC) {
        const int cnt = nb - b0 < I8K_PKC ? (int)(nb - b0) : I8K_PKC;
        if (dt != FR_DT_Q6_K)
            for (int t = t0; t < t1; t++)
                for (int k = 0; k < cnt; k++) { /* S_j = s_2j + s_2j+1 as int16 pairs: |S| <= 32 * 127 */
                    const int16_t *s = X->s + (int64_t)t * (nb * 16) + 16 * (b0 + k);
                    const __m256i s2 = _mm256_madd_epi16(i8k_ld256(s), _mm256_set1_epi16(1));
                    _mm_store_si128((__m128i *)(void *)sp[t - t0][k],
                                    _mm_packs_epi32(_mm256_castsi256_si128(s2), _mm256_extracti128_si256(s2, 1)));
                }
        for (int64_t r = r0; r < r1; r += I8K_PR) {
            const int64_t nr = r1 - r < I8K_PR ? r1 - r : I8K_PR;
            const __m256i mask =
                _mm256_cmpgt_epi32(_mm256_set1_epi32((int)nr), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
            i8k_ptrans(dt, W, r, r1, b0, cnt, &pan);
            int t = t0;
#define I8K_PTILE(TB) i8k_ptile(dt, TB, &pan, csp + (t - t0), cnt, b0, X, Y, rows, r, mask, t, b0 == 0)
            for (; t + 4 <= t1; t += 4) I8K_PTILE(4);
            if (t + 2 <= t1) I8K_PTILE(2), t += 2;
            if (t < t1) I8K_PTILE(1);
#undef I8K_PTILE
        }
    }
}

static I8K_AI void i8k_body(const int dt, const fr_tensor *W, const fr_qx *X, float *Y, int64_t r0, int64_t r1) {
    const int n = X->n;
    const int64_t rows = fr_rows(W), nb = X->cols / 256;
    const size_t rb = fr_row_bytes(W);
    const uint8_t *w0 = W->data;
    float out[8];
    /* passes of fr_prefill_pass_tokens tokens, transposed; a pass of fewer than I8K_PMIN (a
     * call of 2 or 3 tokens, or the last 1..3 of a pass) in the decode tile, two tokens or one
     * at a time, 4 rows per tile */
    const int tchunk = fr_prefill_pass_tokens(r0, r1, I8K_PTB);
    for (int t0 = 0; t0 < n; t0 += tchunk) {
        const int t1 = t0 + tchunk < n ? t0 + tchunk : n;
        if (t1 - t0 >= I8K_PMIN) {
            i8k_prefill(dt, W, X, Y, r0, r1, t0, t1);
            continue;
        }
        for (int t = t0; t < t1; t += 2) {
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
    i8k_decode(FR_DT_Q4_K, W, X, Y, r0, r1);
}
static void PFX(matmul_q_q4_k)(const fr_tensor *W, const fr_qx *X, float *Y, int64_t r0, int64_t r1) {
    if (X->n == 1) PFX(decode_q4_k)(W, X, Y, r0, r1);
    else i8k_body(FR_DT_Q4_K, W, X, Y, r0, r1);
}
/* n = 1 in its own function (not inlined into i8k_body's tiles) */
static __attribute__((noinline)) void PFX(decode_q5_k)(const fr_tensor *W, const fr_qx *X, float *Y, int64_t r0,
                                                        int64_t r1) {
    i8k_decode(FR_DT_Q5_K, W, X, Y, r0, r1);
}
static void PFX(matmul_q_q5_k)(const fr_tensor *W, const fr_qx *X, float *Y, int64_t r0, int64_t r1) {
    if (X->n == 1) PFX(decode_q5_k)(W, X, Y, r0, r1);
    else i8k_body(FR_DT_Q5_K, W, X, Y, r0, r1);
}
/* n = 1 in its own function (not inlined into i8k_body's tiles) */
static __attribute__((noinline)) void PFX(decode_q6_k)(const fr_tensor *W, const fr_qx *X, float *Y, int64_t r0,
                                                        int64_t r1) {
    i8k_decode(FR_DT_Q6_K, W, X, Y, r0, r1);
}
static void PFX(matmul_q_q6_k)(const fr_tensor *W, const fr_qx *X, float *Y, int64_t r0, int64_t r1) {
    if (X->n == 1) PFX(decode_q6_k)(W, X, Y, r0, r1);
    else i8k_body(FR_DT_Q6_K, W, X, Y, r0, r1);
}

#define INT8_K_ENTRIES                                                                                        \
    [FR_DT_Q4_K] = PFX(matmul_q_q4_k), [FR_DT_Q5_K] = PFX(matmul_q_q5_k), [FR_DT_Q6_K] = PFX(matmul_q_q6_k),
