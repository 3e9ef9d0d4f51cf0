/* Integer kernels for Q8_0, Q4_0, Q5_0 weights, and IQ4_NL, MXFP4, Q4_1, Q5_1
 * (kernels/int8_q0_blocks.h) (AVX2 + FMA + F16C, no VNNI):
 * the scheme of avx512/int8_q0.h (read that first) with AVX2 instructions.
 *
 * Per 32-block b: y += (d_w * d_x) * sum_i w_i q_i, the int sum exact. The
 * products are vpmaddubsw (unsigned bytes u times signed bytes s, pairs summed
 * to int16 with saturation) + vpmaddwd by 1 (pairs of those to int32):
 *   Q4_0, Q5_0: u = the nibble / 5-bit value (<= 31), s = q; pairs stay far
 *               below 32767; the offset 8 / 16 comes back as
 *               - C * (s[2b] + s[2b + 1]) from the activations' per-16 sums.
 *   Q8_0:       u = |w| (-128 gives 0x80 = 128 as an unsigned byte, right),
 *               s = q * sign(w) (|q| <= 127, no overflow); pairs within
 *               2 * 128 * 127 < 32767: exact for every byte.
 * Lanes are weight rows: a tile is 8 rows x TB tokens; the 8 rows' int32
 * partial sums of a block are reduced together (vphaddd twice, one cross-lane
 * add) into one ymm, lane i = row i's exact block sum, then
 * acc += (d_w * d_x) * float(sum) for the 8 rows at once, the generic kernel's
 * float operations in its order: the result is the generic one bit for bit.
 * Q4_0/Q5_0 take two blocks per ymm (q0_pair). For n >= 3 tokens all three
 * run on transposed 8-row chunks (q0_prefill, below). */
#include <string.h>

#include "kernels/kernels.h"

#define Q0AI __attribute__((always_inline)) inline

#define Q0RB 8    /* weight rows per tile: the 8 lanes of a ymm */
#define Q0TBMAX 2 /* tokens per tile, at most (16 ymm registers) */

/* 16 where bit i of m is set (byte i of a ymm): byte i tests bit i % 8 of m's byte i / 8 */
static Q0AI __m256i q0_bit16(uint32_t m) {
    const __m256i bit = _mm256_set1_epi64x(0x8040201008040201ll);
    __m256i h = _mm256_shuffle_epi8(_mm256_set1_epi32((int)m),
                                    _mm256_setr_epi64x(0, 0x0101010101010101ll, 0x0202020202020202ll, 0x0303030303030303ll));
    return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(h, bit), bit), _mm256_set1_epi8(16));
}

#include "kernels/int8_q0_blocks.h"

/* the offset C of the unsigned weights (see the top); the signed ones, IQ4_NL
 * and MXFP4 as Q8_0 (|w| times q sign(w)) */
static Q0AI int q0_c(const int dt) { return dt == FR_DT_Q4_0 ? 8 : dt == FR_DT_Q5_0 ? 16 : 0; }
static Q0AI int q0_sgn(const int dt) { return dt == FR_DT_Q8_0 || dt == FR_DT_IQ4_NL || dt == FR_DT_MXFP4; }

/* The 32 weights of block p as the unsigned operand (see the top), ymm lane
 * 0 = elements 0..15, lane 1 = 16..31, as the activations. Q8_0: the raw q8
 * (q0_dot makes |w| and the signs). */
static Q0AI __m256i q0_unpack(const int dt, const uint8_t *p) {
    if (dt == FR_DT_Q8_0) return _mm256_loadu_si256((const __m256i *)(const void *)(p + 2));
    __m256i v = q0_nibbles(dt, p, 0); /* IQ4_NL, MXFP4: the levels, signed */
    if (dt == FR_DT_Q5_0 || dt == FR_DT_Q5_1) { /* | 16 where bit i of qh is set: byte i gets qh byte i / 8,
                                                 * tests bit i % 8 */
        uint32_t qh;
        memcpy(&qh, p + (dt == FR_DT_Q5_0 ? 2 : 4), 4);
        v = _mm256_or_si256(v, q0_bit16(qh));
    }
    return v;
}

/* 8 int32 lanes of partial sums of the weights u (q0_unpack) times the 32
 * int8 activations x, the offset C not yet taken off */
static Q0AI __m256i q0_dot(const int dt, __m256i u, __m256i x) {
    __m256i p;
    if (q0_sgn(dt)) p = _mm256_maddubs_epi16(_mm256_abs_epi8(u), _mm256_sign_epi8(x, u));
    else p = _mm256_maddubs_epi16(u, x);
    return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
}

/* Q4_0 / Q5_0, blocks b and b + 1 of 8 rows x TB tokens at once (as in
 * avx512/int8_q0.h): one ymm [qs of b | qs of b + 1] gives lo = v & 15
 * (elements 0..15 of b | of b + 1) and hi = v >> 4 (16..31), against
 * xlo = [q 0..15 of b | of b + 1] and xhi = [q 16..31 ...]. The two
 * vpmaddubsw pair sums (<= 2 * 31 * 127 each) add in int16, one vpmaddwd: int32
 * lanes 0..3 for block b, 4..7 for b + 1; the 8 rows reduce with half the
 * steps of two single blocks. Then the float steps of b and of b + 1. */
static Q0AI void q0_pair(const int dt, const int TB, const uint8_t *const *wr, const int8_t *const *xq,
                         const float *const *xd, const int16_t *const *xs, int64_t b, const int C, __m256 *acc) {
    const int64_t bb = dt == FR_DT_Q4_0 ? 18 : 22;
    const int o = dt == FR_DT_Q4_0 ? 2 : 6; /* qs offset in the block */
    uint16_t dh[2][Q0RB];                  /* the 8 rows' f16 d of block b, b + 1 */
    for (int i = 0; i < Q0RB; i++) memcpy(&dh[0][i], wr[i] + b * bb, 2), memcpy(&dh[1][i], wr[i] + (b + 1) * bb, 2);
    const __m256 dw0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)dh[0]));
    const __m256 dw1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)dh[1]));
    for (int j = 0; j < TB; j++) {
        const int8_t *x = xq[j] + 32 * b;
        const __m256i xlo = _mm256_loadu2_m128i((const __m128i *)(const void *)(x + 32), (const __m128i *)(const void *)x);
        const __m256i xhi = _mm256_loadu2_m128i((const __m128i *)(const void *)(x + 48), (const __m128i *)(const void *)(x + 16));
        __m256i h[4]; /* rows (0,1), (2,3), (4,5), (6,7) one step reduced */
        for (int k = 0; k < 4; k++) {
            __m256i d[2];
            for (int e = 0; e < 2; e++) {
                const uint8_t *p = wr[2 * k + e] + b * bb;
                __m256i v = _mm256_loadu2_m128i((const __m128i *)(const void *)(p + bb + o), (const __m128i *)(const void *)(p + o));
                __m256i lo = _mm256_and_si256(v, _mm256_set1_epi8(15));
                __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), _mm256_set1_epi8(15));
                if (dt == FR_DT_Q5_0) { /* | 16 where the element's qh bit is set */
                    uint32_t h0, h1;
                    memcpy(&h0, p + 2, 4), memcpy(&h1, p + bb + 2, 4);
                    lo = _mm256_or_si256(lo, q0_bit16((h0 & 0xffffu) | h1 << 16));
                    hi = _mm256_or_si256(hi, q0_bit16(h0 >> 16 | (h1 & 0xffff0000u)));
                }
                d[e] = _mm256_madd_epi16(_mm256_add_epi16(_mm256_maddubs_epi16(lo, xlo), _mm256_maddubs_epi16(hi, xhi)),
                                         _mm256_set1_epi16(1));
            }
            h[k] = _mm256_hadd_epi32(d[0], d[1]);
        }
        /* per 128-bit lane (a block): rows 0..3 (q0), 4..7 (q1) */
        __m256i q0 = _mm256_hadd_epi32(h[0], h[1]), q1 = _mm256_hadd_epi32(h[2], h[3]);
        __m256i s0 = _mm256_permute2x128_si256(q0, q1, 0x20), s1 = _mm256_permute2x128_si256(q0, q1, 0x31);
        s0 = _mm256_sub_epi32(s0, _mm256_set1_epi32(C * (xs[j][2 * b] + xs[j][2 * b + 1])));
        s1 = _mm256_sub_epi32(s1, _mm256_set1_epi32(C * (xs[j][2 * b + 2] + xs[j][2 * b + 3])));
        const __m256 sc0 = _mm256_mul_ps(dw0, _mm256_set1_ps(xd[j][b])), sc1 = _mm256_mul_ps(dw1, _mm256_set1_ps(xd[j][b + 1]));
        acc[j] = _mm256_add_ps(acc[j], _mm256_mul_ps(sc0, _mm256_cvtepi32_ps(s0)));
        acc[j] = _mm256_add_ps(acc[j], _mm256_mul_ps(sc1, _mm256_cvtepi32_ps(s1)));
    }
}

/* Y[t + j][r + i] for the 8 rows from r (rows past r1 repeat the last; not
 * written) x TB tokens from t */
static Q0AI void q0_tile(const int dt, const int TB, const fr_tensor *W, const fr_qx *X, float *Y, int64_t r,
                         int64_t r1, int t) {
    const int64_t rows = fr_rows(W), cols = X->cols, nb = cols / 32;
    const int64_t bb = q0_bb(dt);
    const size_t rb = fr_row_bytes(W);
    const int C = q0_c(dt);
    const uint8_t *wr[Q0RB];
    for (int i = 0; i < Q0RB; i++) wr[i] = (const uint8_t *)W->data + (size_t)(r + i < r1 ? r + i : r1 - 1) * rb;
    const int8_t *xq[Q0TBMAX];
    const float *xd[Q0TBMAX];
    const int16_t *xs[Q0TBMAX];
    for (int j = 0; j < TB; j++)
        xq[j] = X->q + (int64_t)(t + j) * cols, xd[j] = X->d + (int64_t)(t + j) * nb, xs[j] = X->s + (int64_t)(t + j) * (cols / 16);
    __m256 acc[Q0TBMAX]; /* token j: lane i = row i's sum so far */
    for (int j = 0; j < TB; j++) acc[j] = _mm256_setzero_ps();
    int64_t b = 0;
    if (dt == FR_DT_Q4_0 || dt == FR_DT_Q5_0) /* nibble blocks two at a time (q0_pair) */
        for (; b + 2 <= nb; b += 2) q0_pair(dt, TB, wr, xq, xd, xs, b, C, acc);
    for (; b < nb; b++) {
        /* the 8 rows' f16 d (and Q4_1/Q5_1's m) */
        uint16_t dh[Q0RB];
        for (int i = 0; i < Q0RB; i++) memcpy(&dh[i], wr[i] + b * bb, 2);
        const __m256 dw = q0_d8(dt, dh);
        __m256 mw = _mm256_setzero_ps();
        if (q0_min(dt)) {
            for (int i = 0; i < Q0RB; i++) memcpy(&dh[i], wr[i] + b * bb + 2, 2);
            mw = q0_d8(dt, dh);
        }
        for (int j = 0; j < TB; j++) {
            const __m256i x = _mm256_loadu_si256((const __m256i *)(const void *)(xq[j] + 32 * b));
            /* h: rows (0,1), (2,3), (4,5), (6,7), each 128-bit lane [r 0+1, r 2+3, r' 0+1, r' 2+3] of partials */
            __m256i h[4];
            for (int k = 0; k < 4; k++)
                h[k] = _mm256_hadd_epi32(q0_dot(dt, q0_unpack(dt, wr[2 * k] + b * bb), x),
                                         q0_dot(dt, q0_unpack(dt, wr[2 * k + 1] + b * bb), x));
            /* q0: lanes 0..3 rows 0..3 over elements 0..15, lanes 4..7 over 16..31; q1 rows 4..7 */
            __m256i q0 = _mm256_hadd_epi32(h[0], h[1]), q1 = _mm256_hadd_epi32(h[2], h[3]);
            __m256i s = _mm256_add_epi32(_mm256_permute2x128_si256(q0, q1, 0x20), _mm256_permute2x128_si256(q0, q1, 0x31));
            if (C) s = _mm256_sub_epi32(s, _mm256_set1_epi32(C * (xs[j][2 * b] + xs[j][2 * b + 1])));
            const __m256 sc = _mm256_mul_ps(dw, _mm256_set1_ps(xd[j][b])); /* d_w * d_x */
            __m256 v = _mm256_mul_ps(sc, _mm256_cvtepi32_ps(s));
            if (q0_min(dt))
                v = _mm256_add_ps(v, _mm256_mul_ps(_mm256_mul_ps(mw, _mm256_set1_ps(xd[j][b])),
                                                   _mm256_set1_ps((float)(xs[j][2 * b] + xs[j][2 * b + 1]))));
            acc[j] = _mm256_add_ps(acc[j], v);
        }
    }
    for (int j = 0; j < TB; j++) {
        float *y = Y + (int64_t)(t + j) * rows + r;
        if (r1 - r >= Q0RB) {
            _mm256_storeu_ps(y, acc[j]);
        } else {
            float o[Q0RB];
            _mm256_storeu_ps(o, acc[j]);
            memcpy(y, o, sizeof(float) * (size_t)(r1 - r));
        }
    }
}

/* ---- prefill (n >= 3): transposed weights, no reductions ----
 * As in avx512/int8_q0.h: the 8 rows' blocks are transposed into dwords,
 *     ut[k][c] lane i = elements 4c .. 4c + 3 of block k of row i
 * (16 blocks, 4 KiB, per step), then per token and block the products are
 * vpmaddubsw(ut[k][c], bcast(q[4c .. 4c + 3])): lane i gets row i's int16
 * pair sums directly. Those are small (u <= 31): Q4_0 sums all 8 of a block
 * in int16 (16 products * 15 * 127 = 30480 <= 32767), Q5_0 two halves of 4
 * (8 * 31 * 127 = 31496), then one vpmaddwd to int32 -- exact. Float steps as
 * before (blocks in order; acc in Y between chunks): bitwise the generic
 * kernel. Q8_0 (raw q8 in ut): vpmaddubsw(|w|, q * sign(w)) per dword, each
 * to int32 at once (pair sums up to 32512: two would not fit int16). */
#define Q0KC 16 /* blocks per transposed chunk */
/* keeps v in a register as one chain of adds: without it GCC reassociated the
 * sums of a block into trees whose partial sums spilled (Q5_0 115 GFLOP/s a
 * thread, bench/int8_bench.c n 512 rows 128, best of 3, Zen 3 VM; the K-quant
 * panels of avx2/int8_k.h use it too: Q4_K 121 -> 161 with two panels x 2
 * tokens) */
#define Q0_CHAIN(v) __asm__("" : "+x"(v))
#define Q0PTB 4 /* tokens per prefill tile, at most */

/* dwords of unsigned weights whose vpmaddubsw pair sums add up in int16: 8 for
 * the nibbles (16 * 15 * 127 = 30480), 4 for the 5-bit values (31496) */
static Q0AI int q0_c16(const int dt) { return dt == FR_DT_Q4_0 || dt == FR_DT_Q4_1 ? 8 : 4; }

/* ut[c] = dword c of the 8 vectors u[i] (lane i = u[i]'s dword c): an 8x8 transpose */
static Q0AI void q0_transpose(const __m256i *u, __m256i *ut) {
    __m256i t[8], v[8];
    for (int i = 0; i < 8; i += 2) { /* t[i]: [u_i d0, u_i+1 d0, u_i d1, u_i+1 d1 | d4 d5 likewise], t[i+1]: d2 d3 | d6 d7 */
        t[i] = _mm256_unpacklo_epi32(u[i], u[i + 1]);
        t[i + 1] = _mm256_unpackhi_epi32(u[i], u[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) { /* v[i + m]: rows i..i+3 of dword m | m + 4 */
        v[i] = _mm256_unpacklo_epi64(t[i], t[i + 2]);
        v[i + 1] = _mm256_unpackhi_epi64(t[i], t[i + 2]);
        v[i + 2] = _mm256_unpacklo_epi64(t[i + 1], t[i + 3]);
        v[i + 3] = _mm256_unpackhi_epi64(t[i + 1], t[i + 3]);
    }
    for (int m = 0; m < 4; m++) {
        ut[m] = _mm256_permute2x128_si256(v[m], v[4 + m], 0x20);
        ut[m + 4] = _mm256_permute2x128_si256(v[m], v[4 + m], 0x31);
    }
}

/* Y[t + j][r + i] (+)= blocks b0 .. b0 + cnt - 1 for TB tokens from t, from the
 * transposed ut[k][c] and dw[k] (lane i: row i's d), nr valid rows; first:
 * start from 0, else from Y. */
static Q0AI void q0_ptile(const int dt, const int TB, const __m256i (*ut)[8], const float (*dw)[8],
                          const float (*mw)[8], int cnt, int64_t b0, const fr_qx *X, float *Y, int64_t rows, int64_t r,
                          int nr, int t, int first) {
    const int64_t cols = X->cols, nb = cols / 32;
    const int C = q0_c(dt);
    const __m256i one = _mm256_set1_epi16(1);
    __m256 acc[Q0PTB];
    float o[8];
    for (int j = 0; j < TB; j++) {
        memset(o, 0, sizeof o);
        if (!first) memcpy(o, Y + (int64_t)(t + j) * rows + r, sizeof(float) * (size_t)nr);
        acc[j] = _mm256_loadu_ps(o);
    }
    for (int k = 0; k < cnt; k++) {
        const int64_t b = b0 + k;
        const __m256 d = _mm256_loadu_ps(dw[k]);
        __m256i a[Q0PTB]; /* token j: lane i = row i's block sum (int32) */
        for (int j = 0; j < TB; j++) {
            const int16_t *sx = X->s + (int64_t)(t + j) * (cols / 16) + 2 * b;
            a[j] = _mm256_set1_epi32(-C * (sx[0] + sx[1]));
        }
        if (q0_sgn(dt)) /* signed w in ut: |w| times q * sign(w), each pair sum to int32 at once */
            for (int c = 0; c < 8; c++) {
                const __m256i w = _mm256_load_si256(&ut[k][c]), u = _mm256_abs_epi8(w);
                for (int j = 0; j < TB; j++) {
                    int32_t x4;
                    memcpy(&x4, X->q + (int64_t)(t + j) * cols + 32 * b + 4 * c, 4);
                    __m256i p = _mm256_maddubs_epi16(u, _mm256_sign_epi8(_mm256_set1_epi32(x4), w));
                    a[j] = _mm256_add_epi32(a[j], _mm256_madd_epi16(p, one));
                    Q0_CHAIN(a[j]);
                }
            }
        else
        for (int h = 0; h < 8; h += q0_c16(dt)) { /* chunks summed in int16 */
            __m256i p[Q0PTB];
            for (int j = 0; j < TB; j++) p[j] = _mm256_setzero_si256();
            for (int c = h; c < h + q0_c16(dt); c++) {
                const __m256i u = _mm256_load_si256(&ut[k][c]);
                for (int j = 0; j < TB; j++) {
                    int32_t x4; /* elements 4c .. 4c + 3 of token j's block */
                    memcpy(&x4, X->q + (int64_t)(t + j) * cols + 32 * b + 4 * c, 4);
                    p[j] = _mm256_add_epi16(p[j], _mm256_maddubs_epi16(u, _mm256_set1_epi32(x4)));
                    Q0_CHAIN(p[j]);
                }
            }
            for (int j = 0; j < TB; j++) a[j] = _mm256_add_epi32(a[j], _mm256_madd_epi16(p[j], one));
        }
        for (int j = 0; j < TB; j++) {
            const __m256 dx = _mm256_set1_ps(X->d[(int64_t)(t + j) * nb + b]);
            const __m256 sc = _mm256_mul_ps(d, dx); /* d_w * d_x */
            __m256 v = _mm256_mul_ps(sc, _mm256_cvtepi32_ps(a[j]));
            if (q0_min(dt))
                v = _mm256_add_ps(v, _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(mw[k]), dx),
                                                   _mm256_set1_ps((float)q0_s(X, t + j, b))));
            acc[j] = _mm256_add_ps(acc[j], v);
        }
    }
    for (int j = 0; j < TB; j++) {
        _mm256_storeu_ps(o, acc[j]);
        memcpy(Y + (int64_t)(t + j) * rows + r, o, sizeof(float) * (size_t)nr);
    }
}

/* tokens [t0, t1) x rows [r0, r1): per chunk of Q0KC blocks, each 8-row tile
 * (rows past r1 repeat the last; not written) is transposed once and meets all
 * the tokens, so the chunk's activations stay in L2 across the tiles: every
 * block is transposed once per pass, whatever the row length (as in
 * avx512/int8_q0.h) */
static Q0AI void q0_prefill(const int dt, const fr_tensor *W, const fr_qx *X, float *Y, int64_t r0, int64_t r1,
                            int t0, int t1) {
    const int64_t rows = fr_rows(W), nb = X->cols / 32;
    const int64_t bb = q0_bb(dt);
    const size_t rb = fr_row_bytes(W);
    _Alignas(32) __m256i ut[Q0KC][8];
    _Alignas(32) float dw[Q0KC][8], mw[Q0KC][8]; /* mw: Q4_1/Q5_1's m */
    for (int64_t b0 = 0; b0 < nb; b0 += Q0KC) {
        const int cnt = nb - b0 < Q0KC ? (int)(nb - b0) : Q0KC;
        for (int64_t r = r0; r < r1; r += Q0RB) {
            const uint8_t *wr[Q0RB];
            for (int i = 0; i < Q0RB; i++) wr[i] = (const uint8_t *)W->data + (size_t)(r + i < r1 ? r + i : r1 - 1) * rb;
            const int nr = r1 - r >= Q0RB ? Q0RB : (int)(r1 - r);
            for (int k = 0; k < cnt; k++) {
                __m256i u[Q0RB];
                uint16_t dh[Q0RB];
                for (int i = 0; i < Q0RB; i++) {
                    u[i] = q0_unpack(dt, wr[i] + (b0 + k) * bb);
                    memcpy(&dh[i], wr[i] + (b0 + k) * bb, 2);
                }
                q0_transpose(u, ut[k]);
                _mm256_store_ps(dw[k], q0_d8(dt, dh));
                if (q0_min(dt)) {
                    for (int i = 0; i < Q0RB; i++) memcpy(&dh[i], wr[i] + (b0 + k) * bb + 2, 2);
                    _mm256_store_ps(mw[k], q0_d8(dt, dh));
                }
            }
            const __m256i(*cut)[8] = (const __m256i(*)[8])ut;
            const float(*cdw)[8] = (const float(*)[8])dw;
            const float(*cmw)[8] = (const float(*)[8])mw;
            int t = t0;
            for (; t + Q0PTB <= t1; t += Q0PTB)
                q0_ptile(dt, Q0PTB, cut, cdw, cmw, cnt, b0, X, Y, rows, r, nr, t, b0 == 0);
            if (t + 2 <= t1) q0_ptile(dt, 2, cut, cdw, cmw, cnt, b0, X, Y, rows, r, nr, t, b0 == 0), t += 2;
            if (t < t1) q0_ptile(dt, 1, cut, cdw, cmw, cnt, b0, X, Y, rows, r, nr, t, b0 == 0);
        }
    }
}

#include "kernels/int8_q0_row.h"

static Q0AI void q0_body(const int dt, const fr_tensor *W, const fr_qx *X, float *Y, int64_t r0, int64_t r1) {
    const int n = X->n;
    if (n == 1) { /* decode (int8_q0_row.h): Q8_0 rows r0 + i and r0 + h + i together, two sequential
                   * streams; the unpacked types one row at a time (their unpacking makes them arithmetic-
                   * bound on the Zen 3 VM, and two rows ran 4-13 % slower from L2: bench/RESULTS.md Run 35) */
        const int64_t h = dt == FR_DT_Q8_0 ? (r1 - r0) / 2 : 0;
        for (int64_t i = 0; i < h; i++) {
            const int64_t rs[2] = {r0 + i, r0 + h + i};
            q0_rows(2, dt, W, X, Y, rs);
        }
        for (int64_t r = r0 + 2 * h; r < r1; r++) q0_row(dt, W, X, Y, r);
        return;
    }
    /* tokens per pass: transposed (3 or more), fr_prefill_pass_tokens; else passes whose int8
     * activations fill about 256 KiB (L2) while the weight rows stream once per pass (a
     * tile's rows stay in L1) */
    const int64_t tb = (256 * 1024) / (X->cols > 0 ? X->cols : 1);
    const int tblk = n >= 3 ? fr_prefill_pass_tokens(r0, r1, Q0PTB)
                            : (tb < Q0PTB ? Q0PTB : tb > 1024 ? 1024 : (int)(tb / Q0PTB * Q0PTB));
    for (int t0 = 0; t0 < n; t0 += tblk) {
        const int t1 = t0 + tblk < n ? t0 + tblk : n;
        if (t1 - t0 >= 3 && X->cols > 0) { /* (no blocks: the tiles write the zeros) */
            q0_prefill(dt, W, X, Y, r0, r1, t0, t1);
            continue;
        }
        for (int64_t r = r0; r < r1; r += Q0RB) {
            int t = t0;
            for (; t + Q0TBMAX <= t1; t += Q0TBMAX) q0_tile(dt, Q0TBMAX, W, X, Y, r, r1, t);
            for (; t < t1; t++) q0_tile(dt, 1, W, X, Y, r, r1, t);
        }
    }
}

INT8_Q0_FNS
