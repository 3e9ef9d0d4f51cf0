/* Integer kernels for Q8_0, Q4_0, Q5_0 weights (AVX2 + FMA + F16C, no VNNI):
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
 * float operations in its order: the result is the generic one bit for bit. */
#include <string.h>

#include "kernels/kernels.h"

#define Q0AI __attribute__((always_inline)) inline

#define Q0RB 8    /* weight rows per tile: the 8 lanes of a ymm */
#define Q0TBMAX 2 /* tokens per tile, at most (16 ymm registers) */

/* The 32 weights of block p as the unsigned operand (see the top), ymm lane
 * 0 = elements 0..15, lane 1 = 16..31, as the activations. Q8_0: the raw q8
 * (q0_dot makes |w| and the signs). */
static Q0AI __m256i q0_unpack(const int dt, const uint8_t *p) {
    if (dt == FR_DT_Q8_0) return _mm256_loadu_si256((const __m256i *)(const void *)(p + 2));
    const uint8_t *qs = p + (dt == FR_DT_Q4_0 ? 2 : 6);
    /* qs in both lanes; lane 0 keeps the low nibbles, lane 1 the high ones */
    __m256i v = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(const void *)qs));
    v = _mm256_and_si256(_mm256_srlv_epi64(v, _mm256_setr_epi64x(0, 0, 4, 4)), _mm256_set1_epi8(15));
    if (dt == FR_DT_Q5_0) { /* | 16 where bit i of qh is set: byte i gets qh byte i / 8, tests bit i % 8 */
        uint32_t qh;
        memcpy(&qh, p + 2, 4);
        const __m256i bit = _mm256_set1_epi64x(0x8040201008040201ll);
        __m256i h = _mm256_shuffle_epi8(_mm256_set1_epi32((int)qh),
                                        _mm256_setr_epi64x(0, 0x0101010101010101ll, 0x0202020202020202ll, 0x0303030303030303ll));
        h = _mm256_cmpeq_epi8(_mm256_and_si256(h, bit), bit);
        v = _mm256_or_si256(v, _mm256_and_si256(h, _mm256_set1_epi8(16)));
    }
    return v;
}

/* 8 int32 lanes of partial sums of the weights u (q0_unpack) times the 32
 * int8 activations x, the offset C not yet taken off */
static Q0AI __m256i q0_dot(const int dt, __m256i u, __m256i x) {
    __m256i p;
    if (dt == FR_DT_Q8_0) p = _mm256_maddubs_epi16(_mm256_abs_epi8(u), _mm256_sign_epi8(x, u));
    else p = _mm256_maddubs_epi16(u, x);
    return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
}

/* Y[t + j][r + i] for the 8 rows from r (rows past r1 repeat the last; not
 * written) x TB tokens from t */
static Q0AI void q0_tile(const int dt, const int TB, const fr_tensor *W, const fr_qx *X, float *Y, int64_t r,
                         int64_t r1, int t) {
    const int64_t rows = fr_rows(W), cols = X->cols, nb = cols / 32;
    const int64_t bb = dt == FR_DT_Q8_0 ? 34 : dt == FR_DT_Q4_0 ? 18 : 22; /* bytes per block */
    const size_t rb = fr_row_bytes(W);
    const int C = dt == FR_DT_Q8_0 ? 0 : dt == FR_DT_Q4_0 ? 8 : 16;
    const uint8_t *wr[Q0RB];
    for (int i = 0; i < Q0RB; i++) wr[i] = (const uint8_t *)W->data + (size_t)(r + i < r1 ? r + i : r1 - 1) * rb;
    const int8_t *xq[Q0TBMAX];
    const float *xd[Q0TBMAX];
    const int16_t *xs[Q0TBMAX];
    for (int j = 0; j < TB; j++)
        xq[j] = X->q + (int64_t)(t + j) * cols, xd[j] = X->d + (int64_t)(t + j) * nb, xs[j] = X->s + (int64_t)(t + j) * (cols / 16);
    __m256 acc[Q0TBMAX]; /* token j: lane i = row i's sum so far */
    for (int j = 0; j < TB; j++) acc[j] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        /* the 8 rows' f16 d */
        uint16_t dh[Q0RB];
        for (int i = 0; i < Q0RB; i++) memcpy(&dh[i], wr[i] + b * bb, 2);
        const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)dh));
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
            acc[j] = _mm256_add_ps(acc[j], _mm256_mul_ps(sc, _mm256_cvtepi32_ps(s)));
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

static Q0AI void q0_body(const int dt, const fr_tensor *W, const fr_qx *X, float *Y, int64_t r0, int64_t r1) {
    const int n = X->n;
    /* tokens per pass: their int8 activations fill about 256 KiB (L2), while
     * the weight rows stream once per pass, 8 rows (in L1) per tile */
    int64_t tb = (256 * 1024) / (X->cols > 0 ? X->cols : 1);
    int tblk = tb < Q0TBMAX ? Q0TBMAX : tb > 1024 ? 1024 : (int)(tb / Q0TBMAX * Q0TBMAX);
    for (int t0 = 0; t0 < n; t0 += tblk) {
        const int t1 = t0 + tblk < n ? t0 + tblk : n;
        for (int64_t r = r0; r < r1; r += Q0RB) {
            int t = t0;
            for (; t + Q0TBMAX <= t1; t += Q0TBMAX) q0_tile(dt, Q0TBMAX, W, X, Y, r, r1, t);
            for (; t < t1; t++) q0_tile(dt, 1, W, X, Y, r, r1, t);
        }
    }
}

static void PFX(matmul_q_q8_0)(const fr_tensor *W, const fr_qx *X, float *Y, int64_t r0, int64_t r1) {
    q0_body(FR_DT_Q8_0, W, X, Y, r0, r1);
}
static void PFX(matmul_q_q4_0)(const fr_tensor *W, const fr_qx *X, float *Y, int64_t r0, int64_t r1) {
    q0_body(FR_DT_Q4_0, W, X, Y, r0, r1);
}
static void PFX(matmul_q_q5_0)(const fr_tensor *W, const fr_qx *X, float *Y, int64_t r0, int64_t r1) {
    q0_body(FR_DT_Q5_0, W, X, Y, r0, r1);
}

#define INT8_Q0_ENTRIES                                                                                      \
    [FR_DT_Q8_0] = PFX(matmul_q_q8_0), [FR_DT_Q4_0] = PFX(matmul_q_q4_0), [FR_DT_Q5_0] = PFX(matmul_q_q5_0),
