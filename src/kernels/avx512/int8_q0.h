/* Integer kernels for Q8_0, Q4_0, Q5_0 weights (activations in blocks of 32,
 * kernels.h fr_qx), and IQ4_NL, MXFP4, Q4_1, Q5_1 (kernels/int8_q0_blocks.h),
 * included by avx512/kernels.c, which is compiled twice: "avx512"
 * (vpmaddubsw + vpmaddwd) and "avx512vnni" (FR_VNNI: vpdpbusd).
 *
 * The math is the generic kernel's (generic/matmul_q.c): per 32-block b
 *     y += (d_w[b] * d_x[b]) * sum_i w_i q_i            (the int sum exact)
 * with w = q8 | nibble - 8 | q5 - 16. Block layouts (ggml):
 *     Q8_0: f16 d | i8 qs[32]                                       34 bytes
 *     Q4_0: f16 d | qs[16]  element i: low nibble of qs[i] (i < 16),
 *                           high nibble of qs[i - 16] (i >= 16)     18 bytes
 *     Q5_0: f16 d | u32 qh | qs[16]  as Q4_0, bit i of qh is bit 4 of element i
 *
 * vpdpbusd multiplies UNSIGNED bytes by signed ones, so the weights go in as
 * unsigned bytes u = w + C and the offset comes back through the activations'
 * per-16 sums (X->s):
 *     sum_i w_i q_i = sum_i u_i q_i - C * (s[2b] + s[2b + 1])
 * C = 8 (the nibble itself), 16 (the 5-bit value), 128 (q8 xor 0x80: right for
 * every byte, -128 included). Without VNNI, vpmaddubsw saturates pair sums to
 * int16: fine for u <= 31, not for u = q8 + 128, so Q8_0 there takes u = |w|
 * (-128 gives 0x80 = 128 as an unsigned byte, right) and s = q * sign(w) (|q| <=
 * 127, no overflow), C = 0: pairs stay within 2 * 128 * 127 < 32767, exact.
 *
 * Lanes are weight rows. A tile is Q0RB = 8 rows x TB tokens. Per block and
 * (row, token) one dpbusd gives a ymm of 8 int32 partial sums; the 8 rows'
 * ymms are reduced together (vphaddd of pairs, of pairs of pairs, one
 * cross-lane add) into one ymm whose lane i is row i's exact block sum. Then
 * for the 8 rows at once
 *     acc += (d_w * d_x) * float(sum)
 * the generic kernel's float operations in its order (blocks in sequence), so
 * the result is the generic one bit for bit, with no horizontal sum anywhere.
 * The 8 f16 d_w of a block are 8 scalar loads (vpgatherdd was slower).
 * Each weight block is unpacked once per tile and used for TB tokens; each
 * activation vector for 8 rows. Q4_0/Q5_0 take two blocks per ymm (q0_pair).
 *
 * Which path (q0_body), by the tokens n of a pass:
 *   n = 1      one row at a time (decode): q0_row (int8_q0_row.h), or on the
 *              avx512bf16 table (VBMI) for Q4_0, Q5_0 and Q8_0 four blocks a
 *              step from whole aligned lines (avx512/q0_row_vbmi.h); both sum
 *              their lanes at the end of the row (within 1e-6 of sum|w x|);
 *   q0_tile    8 rows x 1..2 tokens as above: n = 2 (but Q8_0 with VNNI);
 *   q0_prefill the rest: 16 rows' blocks transposed once, then one dpbusd
 *              per 32 products of 16 rows and no reduction at all.
 * The tiles and the prefill do the same float operations in the same order:
 * their outputs equal the generic kernel's bit for bit
 * (tests/test_int8_q0_edges.c). */
#include <string.h>

#include "kernels/kernels.h"

#define Q0AI __attribute__((always_inline)) inline

#define Q0RB 8    /* weight rows per tile: the 8 lanes of a ymm */
#define Q0TBMAX 2 /* tokens per tile, at most (more take q0_prefill) */

#include "kernels/int8_q0_blocks.h"

/* the offset C of the unsigned weights (see the top): with VNNI IQ4_NL and
 * MXFP4 are their levels + 128 (C = 128, as Q8_0), without it the levels stay
 * signed and multiply as Q8_0's |w| by q sign(w) (q0_sgn); Q4_1/Q5_1 are
 * their unsigned values (C = 0) with the min term (q0_min) */
static Q0AI int q0_c(const int dt) {
    if (dt == FR_DT_Q4_1 || dt == FR_DT_Q5_1) return 0;
#ifdef FR_VNNI
    return dt == FR_DT_Q8_0 || dt == FR_DT_IQ4_NL || dt == FR_DT_MXFP4 ? 128 : dt == FR_DT_Q4_0 ? 8 : 16;
#else
    return dt == FR_DT_Q8_0 || dt == FR_DT_IQ4_NL || dt == FR_DT_MXFP4 ? 0 : dt == FR_DT_Q4_0 ? 8 : 16;
#endif
}
#ifndef FR_VNNI
static Q0AI int q0_sgn(const int dt) { return dt == FR_DT_Q8_0 || dt == FR_DT_IQ4_NL || dt == FR_DT_MXFP4; }
#endif
/* q0_d8 for 16 blocks */
static Q0AI __m512 q0_d16(const int dt, const uint16_t *h) {
    const __m512d lo = _mm512_castps_pd(_mm512_castps256_ps512(q0_d8(dt, h)));
    return _mm512_castpd_ps(_mm512_insertf64x4(lo, _mm256_castps_pd(q0_d8(dt, h + 8)), 1));
}

/* The 32 weights of block p as the unsigned operand (see the top), ymm lane
 * 0 = elements 0..15, lane 1 = 16..31, as the activations. Q8_0 without VNNI:
 * the raw q8 (q0_dot makes |w| and the signs). raw (the AMX prefill's
 * tdpbssd, Q8_0, Q4_0, Q5_0, IQ4_NL, MXFP4): the signed weights w, no offset. */
static Q0AI __m256i q0_unpack_x(const int dt, const uint8_t *p, const int raw) {
    if (dt == FR_DT_Q8_0) {
        __m256i w = _mm256_loadu_si256((const __m256i *)(const void *)(p + 2));
#ifdef FR_VNNI
        if (!raw) w = _mm256_xor_si256(w, _mm256_set1_epi8((char)0x80));
#else
        (void)raw;
#endif
        return w;
    }
#ifdef FR_VNNI
    __m256i v = q0_nibbles(dt, p, !raw); /* IQ4_NL, MXFP4: the levels + 128, or raw */
#else
    __m256i v = q0_nibbles(dt, p, 0); /* the levels, signed */
#endif
    if (dt == FR_DT_Q5_0 || dt == FR_DT_Q5_1) { /* + 16 where bit i of qh is set */
        uint32_t qh;
        memcpy(&qh, p + (dt == FR_DT_Q5_0 ? 2 : 4), 4);
        v = _mm256_mask_add_epi8(v, (__mmask32)qh, v, _mm256_set1_epi8(16));
    }
    if (raw && (dt == FR_DT_Q4_0 || dt == FR_DT_Q5_0)) /* the signed values nibble - 8, q5 - 16 */
        v = _mm256_sub_epi8(v, _mm256_set1_epi8(dt == FR_DT_Q4_0 ? 8 : 16));
    return v;
}
static Q0AI __m256i q0_unpack(const int dt, const uint8_t *p) { return q0_unpack_x(dt, p, 0); }

/* the prefill panels' weights are signed (q0_unpack_x raw, C = 0) on AMX
 * tiles (tdpbssd): the types whose offset C is only there for vpdpbusd's
 * unsigned operand (Q4_1/Q5_1 are unsigned with C = 0 already) */
static Q0AI int q0_psigned(const int dt) {
#ifdef FR_AMX
    return dt == FR_DT_Q8_0 || dt == FR_DT_Q4_0 || dt == FR_DT_Q5_0 || dt == FR_DT_IQ4_NL || dt == FR_DT_MXFP4;
#else
    (void)dt;
    return 0;
#endif
}

/* 8 int32 lanes of partial sums of the weights u (q0_unpack) times the 32
 * int8 activations x, the offset C not yet taken off */
static Q0AI __m256i q0_dot(const int dt, __m256i u, __m256i x) {
#ifndef FR_VNNI
    if (q0_sgn(dt)) return fr_dpbusd256(_mm256_setzero_si256(), _mm256_abs_epi8(u), _mm256_sign_epi8(x, u));
#else
    (void)dt;
#endif
    return fr_dpbusd256(_mm256_setzero_si256(), u, x);
}

/* Q4_0 / Q5_0, blocks b and b + 1 of 8 rows x TB tokens at once: a block's
 * 16 qs bytes hold all 32 nibbles, so one ymm [qs of b | qs of b + 1] gives
 *     lo = v & 15  (elements 0..15 of b | of b + 1)
 *     hi = v >> 4  (elements 16..31 of b | of b + 1)
 * against xlo = [q 0..15 of b | of b + 1], xhi = [q 16..31 of b | of b + 1]:
 * two dpbusd leave int32 lanes 0..3 for block b, 4..7 for b + 1, and the 8
 * rows reduce with half the steps of two single blocks. Then the float steps
 * of block b and of block b + 1, in order. */
static Q0AI void q0_pair(const int dt, const int TB, const uint8_t *const *wr, const int8_t *const *xq,
                         const float *const *xd, const int16_t *const *xs, int64_t b, const int C, __m256 *acc) {
    const int64_t bb = dt == FR_DT_Q4_0 ? 18 : 22;
    const int o = dt == FR_DT_Q4_0 ? 2 : 6; /* qs offset in the block */
    uint16_t dh[2][Q0RB];                  /* the 8 rows' f16 d of block b, b + 1 */
    __m256i lo[Q0RB], hi[Q0RB];
    for (int i = 0; i < Q0RB; i++) {
        const uint8_t *p = wr[i] + b * bb;
        memcpy(&dh[0][i], p, 2), memcpy(&dh[1][i], p + bb, 2);
        __m256i v = _mm256_loadu2_m128i((const __m128i *)(const void *)(p + bb + o), (const __m128i *)(const void *)(p + o));
        lo[i] = _mm256_and_si256(v, _mm256_set1_epi8(15));
        hi[i] = _mm256_and_si256(_mm256_srli_epi16(v, 4), _mm256_set1_epi8(15));
        if (dt == FR_DT_Q5_0) { /* + 16 where the element's qh bit is set */
            uint32_t h0, h1;
            memcpy(&h0, p + 2, 4), memcpy(&h1, p + bb + 2, 4);
            lo[i] = _mm256_mask_add_epi8(lo[i], (__mmask32)((h0 & 0xffffu) | h1 << 16), lo[i], _mm256_set1_epi8(16));
            hi[i] = _mm256_mask_add_epi8(hi[i], (__mmask32)(h0 >> 16 | (h1 & 0xffff0000u)), hi[i], _mm256_set1_epi8(16));
        }
    }
    const __m256 dw0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)dh[0]));
    const __m256 dw1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)dh[1]));
    for (int j = 0; j < TB; j++) {
        const int8_t *x = xq[j] + 32 * b;
        const __m256i xlo = _mm256_loadu2_m128i((const __m128i *)(const void *)(x + 32), (const __m128i *)(const void *)x);
        const __m256i xhi = _mm256_loadu2_m128i((const __m128i *)(const void *)(x + 48), (const __m128i *)(const void *)(x + 16));
        __m256i d[Q0RB];
        for (int i = 0; i < Q0RB; i++) {
#ifdef FR_VNNI
            d[i] = _mm256_dpbusd_epi32(_mm256_dpbusd_epi32(_mm256_setzero_si256(), lo[i], xlo), hi[i], xhi);
#else /* pairs <= 2 * 31 * 127 each, two of them still fit int16 */
            d[i] = _mm256_madd_epi16(_mm256_add_epi16(_mm256_maddubs_epi16(lo[i], xlo), _mm256_maddubs_epi16(hi[i], xhi)),
                                     _mm256_set1_epi16(1));
#endif
        }
        /* per 128-bit lane (a block): h = [r 0+1, r 2+3, r' 0+1, r' 2+3], q = rows 0..3 (q0), 4..7 (q1) */
        __m256i q0 = _mm256_hadd_epi32(_mm256_hadd_epi32(d[0], d[1]), _mm256_hadd_epi32(d[2], d[3]));
        __m256i q1 = _mm256_hadd_epi32(_mm256_hadd_epi32(d[4], d[5]), _mm256_hadd_epi32(d[6], d[7]));
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
        /* the 8 rows' f16 d */
        uint16_t dh[Q0RB];
        for (int i = 0; i < Q0RB; i++) memcpy(&dh[i], wr[i] + b * bb, 2);
        const __m256 dw = q0_d8(dt, dh);
        __m256 mw = _mm256_setzero_ps(); /* Q4_1/Q5_1: the 8 rows' m */
        if (q0_min(dt)) {
            for (int i = 0; i < Q0RB; i++) memcpy(&dh[i], wr[i] + b * bb + 2, 2);
            mw = q0_d8(dt, dh);
        }
        __m256i u[Q0RB];
        for (int i = 0; i < Q0RB; i++) u[i] = q0_unpack(dt, wr[i] + b * bb);
        for (int j = 0; j < TB; j++) {
            const __m256i x = _mm256_loadu_si256((const __m256i *)(const void *)(xq[j] + 32 * b));
            /* h: rows (0,1), (2,3), (4,5), (6,7), each 128-bit lane [r 0+1, r 2+3, r' 0+1, r' 2+3] of partials */
            __m256i h0 = _mm256_hadd_epi32(q0_dot(dt, u[0], x), q0_dot(dt, u[1], x));
            __m256i h1 = _mm256_hadd_epi32(q0_dot(dt, u[2], x), q0_dot(dt, u[3], x));
            __m256i h2 = _mm256_hadd_epi32(q0_dot(dt, u[4], x), q0_dot(dt, u[5], x));
            __m256i h3 = _mm256_hadd_epi32(q0_dot(dt, u[6], x), q0_dot(dt, u[7], x));
            /* q0: lanes 0..3 rows 0..3 over elements 0..15, lanes 4..7 over 16..31; q1 rows 4..7 */
            __m256i q0 = _mm256_hadd_epi32(h0, h1), q1 = _mm256_hadd_epi32(h2, h3);
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
    const __mmask8 m = (__mmask8)(r1 - r >= Q0RB ? 0xff : (1u << (r1 - r)) - 1);
    for (int j = 0; j < TB; j++) _mm256_mask_storeu_ps(Y + (int64_t)(t + j) * rows + r, m, acc[j]);
}

/* ---- prefill: transposed weights, no reductions ----
 * For n >= 3 tokens (2 for Q8_0 with VNNI), 16 rows' blocks are first
 * transposed into dwords:
 *     ut[k][c] lane i = elements 4c .. 4c + 3 of block k of row i   (zmm)
 * (16 blocks, 8 KiB, per step). Then per token and block
 *     a = bcast(-C * S) ; a = dpbusd(a, ut[k][c], bcast(q[4c .. 4c + 3]))  c = 0..7
 * leaves lane i = row i's exact block sum: one dpbusd per 32 products of 16
 * rows, the activations as broadcast operands, no horizontal step. The
 * transpose costs about 3 ops per row block, once for all tokens of a pass.
 * Float steps as before (blocks in order, acc in Y between chunks of 16):
 * bitwise the generic kernel. Without VNNI, Q8_0 multiplies |w| by q * sign(w)
 * (a masked negate per dword and token) and Q4_0/Q5_0 sum vpmaddubsw in int16. */
#define Q0PR 16  /* rows per prefill tile: the 16 lanes of a zmm */
#define Q0KC 16  /* blocks per transposed chunk */
#define Q0PTB 8  /* tokens per prefill tile, at most */

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

/* Y[t + j][r + 16h + i] (+)= blocks b0 .. b0 + cnt - 1 for TB tokens from t and
 * NH 16-row halves h, from the transposed ut[h][k][c] and dw[h][k] (lane i: row
 * 16h + i's d); NH = 2: each activation broadcast meets the weights of 32 rows
 * (as i8k_ptile). first: start from 0, else from Y. Per lane the same
 * operations in the same order for any NH. */
static Q0AI void q0_ptile(const int dt, const int NH, const int TB, const __m512i (*const ut[2])[8],
                          const float (*const dw[2])[Q0PR], const float (*const mw[2])[Q0PR], int cnt, int64_t b0,
                          const fr_qx *X, float *Y, int64_t rows, int64_t r, const __mmask16 *m, int t, int first,
                          fr_pf *pf) {
    const int64_t cols = X->cols, nb = cols / 32, pq = (8 * pf->per * TB + cnt - 1) / cnt;
    const int C = q0_c(dt);
    __m512 acc[2][Q0PTB];
    int32_t cr[Q0PTB][Q0KC]; /* token j, block k: -C * (s[2b] + s[2b + 1]) */
    for (int j = 0; j < TB; j++) {
        for (int h = 0; h < NH; h++)
            acc[h][j] = first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m[h], Y + (int64_t)(t + j) * rows + r + 16 * h);
        __m512i sx = _mm512_maskz_loadu_epi16((__mmask32)(cnt == 16 ? 0xffffffffu : (1u << 2 * cnt) - 1),
                                              X->s + (int64_t)(t + j) * (cols / 16) + 2 * b0);
        _mm512_storeu_si512((void *)cr[j], _mm512_madd_epi16(sx, _mm512_set1_epi16((short)-C)));
    }
    for (int k = 0; k < cnt; k++) {
        const int64_t b = b0 + k;
        fr_pf_some(pf, pq);
        /* a[h][j]: token j's 16 row sums of block b in half h; the dpbusd chains interleaved */
        __m512i a[2][Q0PTB];
#pragma GCC unroll 8
        for (int j = 0; j < TB; j++)
#pragma GCC unroll 2
            for (int h = 0; h < NH; h++) a[h][j] = _mm512_set1_epi32(cr[j][k]);
#ifdef FR_VNNI
#pragma GCC unroll 8
        for (int c = 0; c < 8; c++)
#pragma GCC unroll 8
            for (int j = 0; j < TB; j++) {
                int32_t x4; /* elements 4c .. 4c + 3 of token j's block */
                memcpy(&x4, X->q + (int64_t)(t + j) * cols + 32 * b + 4 * c, 4);
                const __m512i xb = _mm512_set1_epi32(x4);
#pragma GCC unroll 2
                for (int h = 0; h < NH; h++) a[h][j] = fr_dpbusd(a[h][j], ut[h][k][c], xb);
            }
#else
        if (q0_sgn(dt)) /* signed w in ut: |w| times q * sign(w), each pair sum to int32 at once */
#pragma GCC unroll 8
            for (int c = 0; c < 8; c++)
#pragma GCC unroll 2
                for (int h = 0; h < NH; h++) {
                    const __m512i w = ut[h][k][c], ua = _mm512_abs_epi8(w);
                    const __mmask64 neg = _mm512_movepi8_mask(w);
#pragma GCC unroll 8
                    for (int j = 0; j < TB; j++) {
                        int32_t x4;
                        memcpy(&x4, X->q + (int64_t)(t + j) * cols + 32 * b + 4 * c, 4);
                        const __m512i xb = _mm512_set1_epi32(x4);
                        a[h][j] = fr_dpbusd(a[h][j], ua, _mm512_mask_sub_epi8(xb, neg, _mm512_setzero_si512(), xb));
                    }
                }
        else
        /* vpmaddubsw pair sums are small here (u <= 31): Q4_0/Q4_1 sum all 8 dwords
         * of a block in int16 (16 * 15 * 127 = 30480), Q5_0/Q5_1 halves of 4
         * (8 * 31 * 127 = 31496), then one vpmaddwd to int32: exact, fewer steps */
        for (int hb = 0; hb < 8; hb += dt == FR_DT_Q4_0 || dt == FR_DT_Q4_1 ? 8 : 4) {
            __m512i p[2][Q0PTB];
#pragma GCC unroll 8
            for (int j = 0; j < TB; j++)
#pragma GCC unroll 2
                for (int h = 0; h < NH; h++) p[h][j] = _mm512_setzero_si512();
            for (int c = hb; c < hb + (dt == FR_DT_Q4_0 || dt == FR_DT_Q4_1 ? 8 : 4); c++)
#pragma GCC unroll 8
                for (int j = 0; j < TB; j++) {
                    int32_t x4; /* elements 4c .. 4c + 3 of token j's block */
                    memcpy(&x4, X->q + (int64_t)(t + j) * cols + 32 * b + 4 * c, 4);
                    const __m512i xb = _mm512_set1_epi32(x4);
#pragma GCC unroll 2
                    for (int h = 0; h < NH; h++) p[h][j] = _mm512_add_epi16(p[h][j], _mm512_maddubs_epi16(ut[h][k][c], xb));
                }
#pragma GCC unroll 8
            for (int j = 0; j < TB; j++)
#pragma GCC unroll 2
                for (int h = 0; h < NH; h++)
                    a[h][j] = _mm512_add_epi32(a[h][j], _mm512_madd_epi16(p[h][j], _mm512_set1_epi16(1)));
        }
#endif
#pragma GCC unroll 2
        for (int h = 0; h < NH; h++) {
            const __m512 d = _mm512_loadu_ps(dw[h][k]);
#pragma GCC unroll 8
            for (int j = 0; j < TB; j++) {
                const __m512 dx = _mm512_set1_ps(X->d[(int64_t)(t + j) * nb + b]);
                const __m512 sc = _mm512_mul_ps(d, dx); /* d_w * d_x */
                __m512 v = _mm512_mul_ps(sc, _mm512_cvtepi32_ps(a[h][j]));
                if (q0_min(dt)) v = _mm512_add_ps(v, _mm512_mul_ps(_mm512_mul_ps(_mm512_loadu_ps(mw[h][k]), dx),
                                                                   _mm512_set1_ps((float)q0_s(X, t + j, b))));
                acc[h][j] = _mm512_add_ps(acc[h][j], v);
            }
        }
    }
    for (int h = 0; h < NH; h++)
        for (int j = 0; j < TB; j++) _mm512_mask_storeu_ps(Y + (int64_t)(t + j) * rows + r + 16 * h, m[h], acc[h][j]);
}

#ifdef FR_AMX
/* q0_ptile on AMX tiles (avx512/amx.h), M <= 16 tokens: each block's sums for
 * the M tokens and NH halves come from one tdpbsud per half (tdpbssd where
 * q0_psigned; A: the M tokens' 32 bytes of the block; B: the block's 8 ut
 * vectors) into cb; then per (half, token) the offset (if any) and the float
 * steps of q0_ptile in its order, so the
 * outputs are its outputs bit for bit. Block by block: the sums of one block
 * (cb, 2 KiB a half) and the running sums (acc) stay in L1, where the 16
 * blocks' sums at once (32 KiB) did not; and software-pipelined: the tile
 * unit runs its instructions one after another, and a tilestored holds back
 * the loads after it, so block k + 1's products are issued before block k's
 * float steps and stored after them (bench/RESULTS.md Run 21). */
static Q0AI void q0_ptile_amx(const int dt, const int NH, const int M, const __m512i (*const ut[2])[8],
                              const float (*const dw[2])[Q0PR], const float (*const mw[2])[Q0PR], int cnt, int64_t b0,
                              const fr_qx *X, float *Y, int64_t rows, int64_t r, const __mmask16 *m, int t, int first,
                              fr_pf *pf, amx_state *as) {
    const int64_t cols = X->cols, nb = cols / 32, pq = (8 * pf->per * M + cnt - 1) / cnt;
    const int C = q0_psigned(dt) ? 0 : q0_c(dt);
    _Alignas(64) int32_t cb[2][2][16][16]; /* block k's sums in cb[k % 2]: half, token, row */
    _Alignas(64) float acc[2][16][16];     /* half, token: the 16 rows' sums so far */
    _Alignas(64) int32_t cr[16][Q0KC];     /* token, block: -C * (s[2b] + s[2b + 1]) (C != 0) */
    const int8_t *xa = X->q + (int64_t)t * cols + 32 * b0;
    amx_cfg(as, M, 32);
    for (int j = 0; j < M; j++) {
        if (C) {
            const __m512i sx = _mm512_maskz_loadu_epi16((__mmask32)(cnt == 16 ? 0xffffffffu : (1u << 2 * cnt) - 1),
                                                        X->s + (int64_t)(t + j) * (cols / 16) + 2 * b0);
            _mm512_store_si512((void *)cr[j], _mm512_madd_epi16(sx, _mm512_set1_epi16((short)-C)));
        }
        for (int h = 0; h < NH; h++)
            _mm512_store_ps(acc[h][j], first ? _mm512_setzero_ps()
                                             : _mm512_maskz_loadu_ps(m[h], Y + (int64_t)(t + j) * rows + r + 16 * h));
    }
    const int ws = q0_psigned(dt);
    amx_prod(NH, ws, xa, cols, &ut[0][0][0], &ut[1][0][0]);
    amx_store(NH, cb[0][0][0], cb[0][1][0]);
    for (int k = 0; k < cnt; k++) {
        fr_pf_some(pf, pq);
        /* block k + 1's products run on the tiles during block k's float steps */
        if (k + 1 < cnt) amx_prod(NH, ws, xa + 32 * (k + 1), cols, &ut[0][k + 1][0], &ut[1][k + 1][0]);
        const int32_t(*const c)[16][16] = cb[k % 2];
        const float *dx = X->d + (int64_t)t * nb + b0 + k;
#pragma GCC unroll 2
        for (int h = 0; h < NH; h++) {
            const __m512 d = _mm512_loadu_ps(dw[h][k]);
            for (int j = 0; j < M; j++) {
                __m512i a = _mm512_load_si512((const void *)c[h][j]);
                if (C) a = _mm512_add_epi32(_mm512_set1_epi32(cr[j][k]), a);
                const __m512 dxk = _mm512_set1_ps(dx[(int64_t)j * nb]);
                const __m512 sc = _mm512_mul_ps(d, dxk); /* d_w * d_x */
                __m512 v = _mm512_mul_ps(sc, _mm512_cvtepi32_ps(a));
                if (q0_min(dt))
                    v = _mm512_add_ps(v, _mm512_mul_ps(_mm512_mul_ps(_mm512_loadu_ps(mw[h][k]), dxk),
                                                       _mm512_set1_ps((float)q0_s(X, t + j, b0 + k))));
                _mm512_store_ps(acc[h][j], _mm512_add_ps(_mm512_load_ps(acc[h][j]), v));
            }
        }
        if (k + 1 < cnt) amx_store(NH, cb[(k + 1) % 2][0][0], cb[(k + 1) % 2][1][0]);
    }
    for (int j = 0; j < M; j++)
        for (int h = 0; h < NH; h++) _mm512_mask_storeu_ps(Y + (int64_t)(t + j) * rows + r + 16 * h, m[h], _mm512_load_ps(acc[h][j]));
}
#endif

/* tokens [t0, t1) x rows [r0, r1): per chunk of Q0KC blocks, each 32-row tile
 * (two 16-row halves; rows past r1 repeat the last; not written) is transposed
 * once and meets all the tokens, so the chunk's activations (32 x Q0KC bytes per
 * token) stay in L2 across the tiles: every block is transposed once per pass,
 * whatever the row length (as i8k_prefill in avx512/int8_k.h) */
static Q0AI void q0_prefill(const int dt, const fr_tensor *W, const fr_qx *X, float *Y, int64_t r0, int64_t r1,
                            int t0, int t1) {
    const int64_t rows = fr_rows(W), nb = X->cols / 32;
    const int64_t bb = q0_bb(dt);
    const size_t rb = fr_row_bytes(W);
    _Alignas(64) __m512i ut[2][Q0KC][8];
    _Alignas(64) float dw[2][Q0KC][Q0PR], mw[2][Q0KC][Q0PR]; /* mw: Q4_1/Q5_1's m */
    const __m512i(*const cut[2])[8] = {(const __m512i(*)[8])ut[0], (const __m512i(*)[8])ut[1]};
    const float(*const cdw[2])[Q0PR] = {(const float(*)[Q0PR])dw[0], (const float(*)[Q0PR])dw[1]};
    const float(*const cmw[2])[Q0PR] = {(const float(*)[Q0PR])mw[0], (const float(*)[Q0PR])mw[1]};
#ifdef FR_AMX
    amx_state as = {0, 0};
#endif
    for (int64_t b0 = 0; b0 < nb; b0 += Q0KC) {
        const int cnt = nb - b0 < Q0KC ? (int)(nb - b0) : Q0KC;
        for (int64_t r = r0; r < r1; r += 2 * Q0PR) {
            const int nh = r + Q0PR < r1 ? 2 : 1;
            __mmask16 m[2] = {0, 0};
            for (int h = 0; h < nh; h++) {
                const int64_t rh = r + Q0PR * h;
                const uint8_t *wr[Q0PR];
                for (int i = 0; i < Q0PR; i++)
                    wr[i] = (const uint8_t *)W->data + (size_t)(rh + i < r1 ? rh + i : r1 - 1) * rb;
                m[h] = fr_tail16(r1 - rh);
                for (int k = 0; k < cnt; k++) {
                    __m256i u[Q0PR], lo[8], hi[8];
                    uint16_t dh[Q0PR];
                    for (int i = 0; i < Q0PR; i++) {
                        u[i] = q0_unpack_x(dt, wr[i] + (b0 + k) * bb, q0_psigned(dt));
                        memcpy(&dh[i], wr[i] + (b0 + k) * bb, 2);
                    }
                    q0_transpose(u, lo), q0_transpose(u + 8, hi);
                    for (int c = 0; c < 8; c++) ut[h][k][c] = _mm512_inserti64x4(_mm512_castsi256_si512(lo[c]), hi[c], 1);
                    _mm512_store_ps(dw[h][k], q0_d16(dt, dh));
                    if (q0_min(dt)) {
                        for (int i = 0; i < Q0PR; i++) memcpy(&dh[i], wr[i] + (b0 + k) * bb + 2, 2);
                        _mm512_store_ps(mw[h][k], q0_d16(dt, dh));
                    }
                }
            }
            int t = t0;
            fr_pf pf;
            fr_pf_init(&pf, (const uint8_t *)W->data, rb, r, r0, r1, 2 * Q0PR, b0, Q0KC, nb, (size_t)bb, t1 - t0);
#ifdef FR_AMX /* tiles of up to 16 tokens */
            for (; t < t1; t += 16) {
                const int mt = t1 - t < 16 ? t1 - t : 16;
                if (nh == 2) q0_ptile_amx(dt, 2, mt, cut, cdw, cmw, cnt, b0, X, Y, rows, r, m, t, b0 == 0, &pf, &as);
                else q0_ptile_amx(dt, 1, mt, cut, cdw, cmw, cnt, b0, X, Y, rows, r, m, t, b0 == 0, &pf, &as);
            }
#else
#define Q0_PTILE(NH, TB)                                                                                    \
    q0_ptile(dt, NH, TB, cut, cdw, cmw, cnt, b0, X, Y, rows, r, m, t, b0 == 0, &pf)
            FR_PTILE_TOKENS(nh, Q0PTB, t, t1, Q0_PTILE);
#undef Q0_PTILE
#endif
        }
    }
#ifdef FR_AMX
    amx_done(&as);
#endif
}

#include "kernels/int8_q0_row.h"
#ifdef FR_BF16
#include "kernels/avx512/q0_row_vbmi.h"
#endif

static Q0AI void q0_body(const int dt, const fr_tensor *W, const fr_qx *X, float *Y, int64_t r0, int64_t r1) {
    const int n = X->n;
    if (n == 1) {
#ifdef FR_BF16 /* VBMI: four blocks per step (avx512/q0_row_vbmi.h) */
        if (dt == FR_DT_Q4_0 || dt == FR_DT_Q5_0) {
            q0_decode_vbmi(dt, W, X, Y, r0, r1);
            return;
        }
        if (dt == FR_DT_Q8_0) {
            q8_decode_vbmi(W, X, Y, r0, r1);
            return;
        }
#endif
        for (int64_t r = r0; r < r1; r++) q0_row(dt, W, X, Y, r);
        return;
    }
#ifdef FR_VNNI
    const int nt = dt == FR_DT_Q8_0 ? 2 : 3; /* tokens from which the transposed path wins (measured) */
#else
    const int nt = 3;
#endif
    /* tokens per pass: transposed, fr_prefill_pass_tokens; the row tiles take passes whose
     * whole int8 activations fill about 256 KiB (L2) while the weight rows stream once per
     * pass (a tile's rows stay in L1) */
    const int64_t tb = (256 * 1024) / (X->cols > 0 ? X->cols : 1);
    const int tblk = n >= nt ? fr_prefill_pass_tokens(r0, r1, Q0PTB)
                             : (tb < Q0PTB ? Q0PTB : tb > 1024 ? 1024 : (int)(tb / Q0PTB * Q0PTB));
    for (int t0 = 0; t0 < n; t0 += tblk) {
        const int t1 = t0 + tblk < n ? t0 + tblk : n;
        if (t1 - t0 >= nt && X->cols > 0) { /* (no blocks: the tiles write the zeros) */
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
