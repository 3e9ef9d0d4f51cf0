/* AVX-512 integer kernels for the K-quant weights Q4_K, Q5_K, Q6_K (and the
 * transposed prefill of IQ4_XS, Q3_K, Q2_K for avx512/int8_x.h; kernels.h,
 * fr_qx; activations int8 in blocks of 256), included by avx512/kernels.c,
 * which is compiled twice: "avx512" (vpmaddubsw + vpmaddwd) and "avx512vnni"
 * (FR_VNNI: vpdpwssd folds the vpmaddwd and the add). The math is the one of
 * generic/matmul_q.c; the integer sums are the same (exact), and so are the
 * float operations per block.
 *
 * One weight block (256 weights) of one row is unpacked once into registers:
 *   w[4]   4 x 64 unsigned bytes: Q4_K 0..15, Q5_K 0..31, Q6_K q6 + 32 in
 *          0..63, small enough that vpmaddubsw's int16 pair sums never
 *          saturate. In element order (w[c] holds elements 64c..64c+63, met by
 *          the activations x[64c..] as they lie in memory), or for Q4_K/Q5_K in
 *          the decode tile "split": w[2h] the low nibbles of qs[64h..64h+63],
 *          w[2h+1] their high nibbles, straight from a 64-byte load, met by the
 *          activations reordered once per block for the 4 rows (i8k_xload)
 *   sc[4]  int16 per word: the sub-block scale of the two bytes under that word
 *          (Q4_K/Q5_K: words 0..15 one sub-block, 16..31 another; Q6_K:
 *          128-bit lane i holds scale 4c+i, sub-blocks of 16)
 *   m      int16 words 0..15 (16..31 zero), multiplied with the 16 sums of
 *          X->s: Q4_K/Q5_K the mins (m_j in words 2j, 2j+1; the decode tile
 *          does the mins of 4 rows together instead); Q6_K -32 sc_j (the -32
 *          offset of the 6-bit values)
 * and then, per token, 16 int32 lanes hold partial sums of sc_j * w * q:
 *   p = sum_c vpmaddwd(vpmaddubsw(w[c], x[c]), sc[c])   (+ m * S for Q6_K)
 * Four such (row, token) pairs at a time are reduced to their exact block sums
 * (vphaddd), and one 4-lane float step per block does what the generic kernel
 * does: acc += d_x * (d * T - dmin * M), the same float operations in the same
 * order, so the result is the generic kernel's bit for bit; the 4 lanes are 4
 * outputs, so there is no horizontal sum at the end either.
 *
 * Decode (n = 1) goes one row at a time, so each thread reads the weights as
 * ONE sequential stream (i8k_decode: i8k_row for Q4_K/Q5_K, i8k_row_q6), 4
 * blocks of the row per step; it sums floats in another order than the
 * generic kernel (within 1e-6 of sum|w x|, tests/test_int8_kernels.c).
 * Tiles (n >= 2): 4 rows x 1 or 2 tokens so the 4 rows share the
 * activation loads (and Q4_K/Q5_K their reordering); up to 7 tokens take 1 row
 * x 4 tokens so each block is unpacked once for 4 tokens, the last 1..3 tokens
 * the 4-row tile; passes of 8 tokens or more the transposed prefill below
 * (16 rows in the lanes of a zmm, vpdpbusd, float sums per sub-block), each
 * chunk of blocks transposed once per 16 rows and met by all the tokens.
 *
 * Per thread on the Zen 4 host (bench/int8_bench.c, cols 2048), avx512vnni:
 * Q4_K n = 1 about 25 GB/s of weights from L2 (float kernel 6.8), 16-20 GB/s
 * from DRAM (rows 102400; the 4-row tile got 7-8), n = 64 about 145 GFLOP/s
 * (float 67); Q6_K n = 1 about 27-29 GB/s from L2 (float 10.6), 19-21 from
 * DRAM (tile 7-8). Transposed prefill, n = 48, rows 1408: Q4_K 271 GFLOP/s,
 * Q5_K 260, Q6_K 257 (the 1-row x 8-token tile: 143, 140, 149).
 * On the Zen 5 class host, per thread, avx512vnni, once the packed bytes of 16
 * rows were transposed as dwords and unpacked and scaled 16 rows at a time
 * (i8k_ptrans; before: each row unpacked, its 8 or 16 scales stored one float
 * at a time, then 8 x 8 transposes of the unpacked bytes): Q4_K n = 16, 7168
 * columns (DeepSeek-V3's experts at pp512) 402-438 -> 517-565 GFLOP/s, n = 48,
 * 2048 columns 582-608 -> 686-690; Q5_K n = 16 409 -> 498; Q6_K n = 16 319 ->
 * 357, n = 64 unchanged (378-414 both). Then the -32 offset of Q6_K taken out
 * of the sub-block sums into one integer sum per block (as the mins of Q4_K),
 * and the pair sums of the Q4_K mins formed once per pass: 7168 columns, Q6_K
 * n = 512 448-451 -> 554-598, n = 16 305-347 -> 390-401; Q4_K n = 512 606-647
 * -> 614-722 (five runs each), n = 16 unchanged. Then 32-row tiles (two 16-row
 * halves, 4 tokens) so each activation broadcast serves two vpdpbusd: Q4_K
 * n = 512, 7168 columns 649-701 -> 713-731, Q6_K 593-616 -> 625-647. Then
 * the next panel's weights prefetched a few lines per block (avx512/int8.h
 * fr_pf) instead of all at once before the panel, measured with the weights
 * past the L3 and 256 rows a call (GRAIN=256 bench/int8_bench.c): Q4_K n = 16
 * 7168 columns 307-355 -> 517-560, Q6_K n = 16 2048 columns 195-217 ->
 * 355-370, Q8_0 n = 16 308 -> 475; from the L3 and at n = 512 within the
 * noise (Q4_K n = 16 about 2 % lower, n = 512 -1 to +4 %). */
#include <string.h>

#include "kernels/kernels.h"

#define I8K_AI __attribute__((always_inline)) inline
/* the types of 16 sub-blocks of 16 values in the transposed prefill: Q6_K, and
 * Q3_K and Q2_K (avx512/int8_x.h takes them there from 8 tokens) */
static I8K_AI int i8k_s16(const int dt) { return dt == FR_DT_Q6_K || dt == FR_DT_Q3_K || dt == FR_DT_Q2_K; }
/* bytes per block */
static I8K_AI size_t i8k_bb(const int dt) {
    return dt == FR_DT_Q6_K ? 210 : dt == FR_DT_Q5_K ? 176 : dt == FR_DT_IQ4_XS ? 136 : dt == FR_DT_Q3_K ? 110
         : dt == FR_DT_Q2_K ? 84 : 144;
}
#define I8K_TBMAX 8 /* tokens per prefill tile */
#ifndef I8K_XCH
#define I8K_XCH 128 /* blocks of reordered activations for n = 1 (32 KiB on the stack) */
#endif
#ifndef I8K_PD
#define I8K_PD 4096 /* n = 1, Q4_K/Q5_K: prefetch the row's weights this many bytes ahead; 0: off.
                      * Single thread from DRAM, rows of 2048 (bench/int8_bench.c Q4_K 1 32768 2048,
                      * three alternations): off 21.0-22.4 GB/s, 2048 22.3-23.8, 4096 23.0-25.3.
                      * The same in the Q6_K rows measured 20-21 -> 17.5-20 there (Zen 5), but see
                      * I8K_PD6. On the 27-layer V2-Lite Q4_K_M, 2 threads: no measurable change
                      * (RESULTS.md). */
#endif
#ifndef I8K_PD6
#define I8K_PD6 4096 /* the same in the Q6_K rows (i8k_row_q6). On the Zen 5 class VM it changed
                      * nothing measurable (two processes at once); on the Xeon with AMX, single thread
                      * from DRAM (int8_bench Q6_K 1 300000), off 6.9-7.8 GB/s, 2048 10.1-12.2, 4096
                      * 9.5-12.4; with Q0_PD (int8_q0_row.h) the 27-layer V2-Lite Q4_K_M decode
                      * 9.6-10.2 -> 10.5-11.2 t/s (RESULTS.md Run 19) */
#endif

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
static I8K_AI __m512i i8k_halves(uint32_t ua, uint32_t ub) {
    const int a = (int)ua, b = (int)ub;
    return _mm512_set_epi32(b, b, b, b, b, b, b, b, a, a, a, a, a, a, a, a);
}

/* The 6-bit scales and mins of Q4_K/Q5_K (12 bytes at block offset 4), in each
 * 128-bit lane of v (lane bytes 0..11; 12..15 ignored) decoded to bytes
 * [sc0..sc7, m0..m7]. With u0, u1, u2 the three dwords: scales 0..3 are the
 * low 6 bits of u0, mins 0..3 of u1; scales 4..7 the low nibbles of u2 | the
 * top 2 bits of u0's bytes << 4, mins 4..7 the high nibbles of u2 | the top 2
 * bits of u1's bytes << 4. */
static I8K_AI __m512i i8k_scmin(__m512i v) {
    const __m512i a = _mm512_srlv_epi32(_mm512_shuffle_epi32(v, 0x98), /* dwords u0, u2, u1, u2 */
                                        _mm512_setr4_epi32(0, 0, 0, 4)); /* u2 >> 4 in dword 3 */
    /* dwords -, u0, -, u1: ((u >> 6) & 3) << 4 per byte is (u >> 2) & 0x30 */
    const __m512i t = _mm512_and_si512(_mm512_srli_epi32(_mm512_shuffle_epi32(v, 0x40), 2),
                                       _mm512_setr4_epi32(0, 0x30303030, 0, 0x30303030));
    /* 0xEA: (a & b) | c */
    return _mm512_ternarylogic_epi32(a, _mm512_setr4_epi32(0x3f3f3f3f, 0x0f0f0f0f, 0x3f3f3f3f, 0x0f0f0f0f), t, 0xEA);
}

#ifdef FR_BF16
#include "kernels/avx512/gfni.h" /* gf_hi, gf_lohi, gf_qh01, gf_qh45 */
#endif

/* One row's block, unpacked (see the top of the file). */
typedef struct {
    __m512i w[4], sc[4], m;
} i8k_blk;

/* sm (Q4_K, Q5_K): i8k_scmin's 16 bytes of this row in every 128-bit lane;
 * with_m: also fill k->m (the decode tile does the mins of 4 rows at once);
 * split (Q4_K, Q5_K): the weights in the order of i8k_xload's split */
static I8K_AI void i8k_unpack(const int dt, const uint8_t *b, __m512i sm, const int with_m, const int split,
                              i8k_blk *k) {
    const __m512i m4 = _mm512_set1_epi8(15);
    const __mmask32 hi16 = 0xffff0000u; /* the upper 16 words (bytes 32..63) */
    if (dt == FR_DT_Q6_K) {
        /* ql[128] | qh[64] | i8 scales[16] | f16 d. Element 128h + 32k + l (k < 4, l < 32):
         * nibble of ql[64h + 32(k & 1) + l] (low for k < 2) | bits 2k, 2k+1 of qh[32h + l] << 4.
         * So w[2h] = low nibbles of ql[64h..64h+63] (k = 0, 1), w[2h+1] = their high nibbles
         * (k = 2, 3); qh[32h..] goes to both halves, the upper half shifted right by 2, so that
         * for w[2h] the bits sit at 0-1 (shift left 4) and for w[2h+1] at 4-5. The masked
         * word shifts pull bits across the byte boundary only outside the 0x30 mask. */
#ifndef FR_BF16
        const __m512i m30 = _mm512_set1_epi8(0x30);
#endif
#pragma GCC unroll 8
        for (int h = 0; h < 2; h++) {
            __m512i l = _mm512_loadu_si512((const void *)(b + 64 * h));
            __m512i qh = i8k_bcast32(b + 128 + 32 * h);
#ifdef FR_BF16 /* GFNI: each bit move one instruction per vector (gf_*), 5 for the two vectors, not 7 */
            /* 0xEA: (a & b) | c */
            k->w[2 * h] = _mm512_ternarylogic_epi32(l, m4, _mm512_gf2p8affine_epi64_epi8(qh, gf_qh01(), 0), 0xEA);
            k->w[2 * h + 1] = _mm512_or_si512(_mm512_gf2p8affine_epi64_epi8(l, gf_hi(), 0),
                                              _mm512_gf2p8affine_epi64_epi8(qh, gf_qh45(), 0));
#else
            qh = _mm512_mask_srli_epi16(qh, hi16, qh, 2);
            /* 0xF8: a | (b & c) */
            k->w[2 * h] = _mm512_ternarylogic_epi32(_mm512_and_si512(l, m4), _mm512_slli_epi16(qh, 4), m30, 0xF8);
            k->w[2 * h + 1] =
                _mm512_ternarylogic_epi32(_mm512_and_si512(_mm512_srli_epi16(l, 4), m4), qh, m30, 0xF8);
#endif
        }
        /* 16 signed scales as int16 (s0..s7 in every 128-bit lane of b0, s8..s15 of b1);
         * sc[c] lane i = scale 4c + i, picked by vpshufb: word (4c + i) & 7 of b0 (c < 2) or b1 */
        __m256i s16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(b + 192)));
        const __m512i b0 = _mm512_broadcast_i32x4(_mm256_castsi256_si128(s16));
        const __m512i b1 = _mm512_broadcast_i32x4(_mm256_extracti128_si256(s16, 1));
#pragma GCC unroll 8
        for (int c = 0; c < 4; c++) {
            const int w0 = ((4 * c) & 7) * 0x0202 + 0x0100, w1 = w0 + 0x0202, w2 = w1 + 0x0202, w3 = w2 + 0x0202;
            const __m512i ctl = _mm512_set_epi32(w3 << 16 | w3, w3 << 16 | w3, w3 << 16 | w3, w3 << 16 | w3,
                                                 w2 << 16 | w2, w2 << 16 | w2, w2 << 16 | w2, w2 << 16 | w2,
                                                 w1 << 16 | w1, w1 << 16 | w1, w1 << 16 | w1, w1 << 16 | w1,
                                                 w0 << 16 | w0, w0 << 16 | w0, w0 << 16 | w0, w0 << 16 | w0);
            k->sc[c] = _mm512_shuffle_epi8(c < 2 ? b0 : b1, ctl);
        }
        /* -32 * sc_j against S_j (the sum of the 16 activations of sub-block j) */
        k->m = _mm512_zextsi256_si512(_mm256_mullo_epi16(s16, _mm256_set1_epi16(-32)));
        return;
    }
    /* Q4_K: f16 d | f16 dmin | scales[12] | qs[128]; Q5_K: qh[32] before qs.
     * Element 64c + l (l < 32): low nibble of qs[32c + l]; 64c + 32 + l: its high nibble. */
    const uint8_t *qs = b + (dt == FR_DT_Q4_K ? 16 : 48);
    if (!split) {
        /* w[c] = qs[32c..32c+31] in both halves, the upper half shifted right by 4, & 15: elements
         * 64c..64c+63, sub-blocks 2c, 2c + 1 */
        __m512i qh = _mm512_setzero_si512();
        if (dt == FR_DT_Q5_K) { /* the 5th bit of element 64c + l is bit 2c of qh[l], of 64c + 32 + l bit
                                 * 2c + 1: with the upper half shifted right by 1 both are bit 2c */
            qh = i8k_bcast32(b + 16);
            qh = _mm512_mask_srli_epi16(qh, hi16, qh, 1);
        }
#pragma GCC unroll 8
        for (int c = 0; c < 4; c++) {
            __m512i q = i8k_bcast32(qs + 32 * c);
#ifdef FR_BF16
            q = _mm512_gf2p8affine_epi64_epi8(q, gf_lohi(), 0);
#else
            q = _mm512_and_si512(_mm512_mask_srli_epi16(q, hi16, q, 4), m4);
#endif
            if (dt == FR_DT_Q5_K) { /* bit 2c to bit 4; bits from the neighbour byte land outside 0x10 */
                __m512i h = c == 0 ? _mm512_slli_epi16(qh, 4) : c == 1 ? _mm512_slli_epi16(qh, 2)
                          : c == 2 ? qh : _mm512_srli_epi16(qh, 2);
                q = _mm512_ternarylogic_epi32(q, h, _mm512_set1_epi8(0x10), 0xF8);
            }
            k->w[c] = q;
        }
        /* vpshufb: word = (byte k, 0) with index word 0x8000 | k */
#pragma GCC unroll 8
        for (int c = 0; c < 4; c++)
            k->sc[c] = _mm512_shuffle_epi8(sm, i8k_halves(0x80008000u | (uint32_t)(2 * c) << 16 | (uint32_t)(2 * c),
                                                          0x80008000u | (uint32_t)(2 * c + 1) << 16 | (uint32_t)(2 * c + 1)));
    } else {
        /* split: w[2h] = low nibbles of qs[64h..64h+63] (elements 128h + [0..31 | 64..95], sub-blocks
         * 4h | 4h + 2), w[2h+1] their high nibbles (sub-blocks 4h + 1 | 4h + 3); the activations
         * come in the same order (i8k_xload). No shuffles on the weight side. */
        __m512i qh = _mm512_setzero_si512();
        if (dt == FR_DT_Q5_K) { /* w[2h + e], lower half: bit 4h + e of qh[l], upper half 4h + e + 2: with
                                 * the upper half shifted right by 2 both are bit 4h + e */
            qh = i8k_bcast32(b + 16);
            qh = _mm512_mask_srli_epi16(qh, hi16, qh, 2);
        }
#pragma GCC unroll 8
        for (int h = 0; h < 2; h++) {
            const __m512i q = _mm512_loadu_si512((const void *)(qs + 64 * h));
            k->w[2 * h] = _mm512_and_si512(q, m4);
#ifdef FR_BF16
            k->w[2 * h + 1] = _mm512_gf2p8affine_epi64_epi8(q, gf_hi(), 0);
#else
            k->w[2 * h + 1] = _mm512_and_si512(_mm512_srli_epi16(q, 4), m4);
#endif
        }
        if (dt == FR_DT_Q5_K) { /* bit 0, 1, 4, 5 to bit 4 */
            const __m512i m10 = _mm512_set1_epi8(0x10);
            k->w[0] = _mm512_ternarylogic_epi32(k->w[0], _mm512_slli_epi16(qh, 4), m10, 0xF8);
            k->w[1] = _mm512_ternarylogic_epi32(k->w[1], _mm512_slli_epi16(qh, 3), m10, 0xF8);
            k->w[2] = _mm512_ternarylogic_epi32(k->w[2], qh, m10, 0xF8);
            k->w[3] = _mm512_ternarylogic_epi32(k->w[3], _mm512_srli_epi16(qh, 1), m10, 0xF8);
        }
#pragma GCC unroll 8
        for (int c = 0; c < 4; c++) { /* sub-blocks a | a + 2, a = 0, 1, 4, 5 */
            const int a = (c >> 1) * 4 + (c & 1);
            k->sc[c] = _mm512_shuffle_epi8(sm, i8k_halves(0x80008000u | (uint32_t)a << 16 | (uint32_t)a,
                                                          0x80008000u | (uint32_t)(a + 2) << 16 | (uint32_t)(a + 2)));
        }
    }
    /* words 2j, 2j+1 = min j (j < 4 in the low 128-bit lane, 4..7 in the next) */
    const __m256i mctl = _mm256_set_epi32((int)0x800f800f, (int)0x800e800e, (int)0x800d800d, (int)0x800c800c,
                                          (int)0x800b800b, (int)0x800a800a, (int)0x80098009, (int)0x80088008);
    k->m = with_m ? _mm512_zextsi256_si512(_mm256_shuffle_epi8(_mm512_castsi512_si256(sm), mctl)) : _mm512_setzero_si512();
}

/* One unpacked block times one token's block (x: its 256 int8, s: its 16 sums):
 * the exact integer sums, spread over lanes: *p 16 int32 lanes adding up to
 * sum_j sc_j sum_i w_i q_i (Q6_K: minus 32 sum_j sc_j S_j), *m (Q4_K, Q5_K) 8
 * lanes adding up to sum_j m_j S_j. */
static I8K_AI void i8k_dot(const int dt, const i8k_blk *k, const __m512i *x, const int16_t *s, __m512i *p,
                           __m256i *m) {
    __m512i acc = _mm512_setzero_si512();
#pragma GCC unroll 8
    for (int c = 0; c < 4; c++) acc = i8k_dpwssd(acc, _mm512_maddubs_epi16(k->w[c], x[c]), k->sc[c]);
    const __m256i S = _mm256_loadu_si256((const __m256i *)(const void *)s);
    if (dt == FR_DT_Q6_K) acc = i8k_dpwssd(acc, k->m, _mm512_zextsi256_si512(S));
    else *m = _mm256_madd_epi16(_mm512_castsi512_si256(k->m), S);
    *p = acc;
}

/* a token's 256 activations at x as 4 vectors: in order, or (split) in the
 * order of the split Q4_K/Q5_K weights: [0..31 | 64..95], [32..63 | 96..127],
 * then the same 128 further */
static I8K_AI void i8k_xload(const int8_t *x, const int split, __m512i *v) {
#pragma GCC unroll 8
    for (int c = 0; c < 4; c++) {
        if (!split) {
            v[c] = _mm512_loadu_si512((const void *)(x + 64 * c));
        } else {
            const int8_t *a = x + 128 * (c >> 1) + 32 * (c & 1);
            v[c] = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(const void *)a)),
                                      _mm256_loadu_si256((const __m256i *)(const void *)(a + 64)), 1);
        }
    }
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

/* the f16s of 4 rows' blocks at offset o (d: 0, Q6_K 208; dmin: 2) as floats */
static I8K_AI __m128 i8k_f16x4(const uint8_t *const *h, int o) {
    return _mm_cvtph_ps(_mm_setr_epi16((short)(h[0][o] | h[0][o + 1] << 8), (short)(h[1][o] | h[1][o + 1] << 8),
                                       (short)(h[2][o] | h[2][o + 1] << 8), (short)(h[3][o] | h[3][o + 1] << 8), 0,
                                       0, 0, 0));
}

/* the generic kernel's per-block float step for 4 (row, token) pairs with exact
 * block sums T (and M): acc += dx * (d * T - dmin * M), Q6_K acc += (dx * d) * T;
 * the same operations in the same order, not fused (-std=c17 does not
 * contract), so each lane is the generic kernel's result bit for bit */
static I8K_AI __m128 i8k_step(const int dt, __m128 acc, __m128 dx, __m128 d, __m128 dmin, __m128i T, __m128i M) {
    if (dt == FR_DT_Q6_K) return _mm_add_ps(acc, _mm_mul_ps(_mm_mul_ps(dx, d), _mm_cvtepi32_ps(T)));
    return _mm_add_ps(acc, _mm_mul_ps(dx, _mm_sub_ps(_mm_mul_ps(d, _mm_cvtepi32_ps(T)),
                                                     _mm_mul_ps(dmin, _mm_cvtepi32_ps(M)))));
}

/* Decode tile: out[4j + i] = W row wr[i] . token t + j, i < 4, j < TB (1 or
 * 2), over the nb blocks of a row. The 4 rows share the tokens' loads; each
 * row's block is unpacked once for the TB tokens; the scales and mins of the 4
 * rows are decoded together (one 128-bit lane each), and so are the mins sums. */
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
        for (int i = 0; i < 4; i++) h[i] = wr[i] + (size_t)b * bb;
        const int16_t *xs[2];
        __m512i p[2][4], xv[2][4];
        __m128i M[2];
#pragma GCC unroll 8
        for (int j = 0; j < TB; j++) {
            xs[j] = xs0 + j * (cols / 16) + 16 * b;
            i8k_xload(xq0 + j * cols + 256 * b, dt != FR_DT_Q6_K, xv[j]);
            M[j] = _mm_setzero_si128();
        }
        if (dt == FR_DT_Q6_K) {
#pragma GCC unroll 8
            for (int i = 0; i < 4; i++) {
                i8k_blk k;
                __m256i m_unused;
                i8k_unpack(dt, h[i], _mm512_setzero_si512(), 1, 0, &k);
#pragma GCC unroll 8
                for (int j = 0; j < TB; j++) i8k_dot(dt, &k, xv[j], xs[j], &p[j][i], &m_unused);
            }
        } else {
            /* lane i: row i's [sc0..7, m0..7] */
            __m512i z = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)(const void *)(h[0] + 4)));
            z = _mm512_inserti32x4(z, _mm_loadu_si128((const __m128i *)(const void *)(h[1] + 4)), 1);
            z = _mm512_inserti32x4(z, _mm_loadu_si128((const __m128i *)(const void *)(h[2] + 4)), 2);
            z = _mm512_inserti32x4(z, _mm_loadu_si128((const __m128i *)(const void *)(h[3] + 4)), 3);
            z = i8k_scmin(z);
#pragma GCC unroll 8
            for (int i = 0; i < 4; i++) {
                i8k_blk k;
                __m256i m_unused;
                /* row i's lane in all four */
                const __m512i sm = i == 0 ? _mm512_shuffle_i32x4(z, z, 0x00) : i == 1 ? _mm512_shuffle_i32x4(z, z, 0x55)
                                 : i == 2 ? _mm512_shuffle_i32x4(z, z, 0xAA) : _mm512_shuffle_i32x4(z, z, 0xFF);
                i8k_unpack(dt, h[i], sm, 0, 1, &k);
#pragma GCC unroll 8
                for (int j = 0; j < TB; j++) i8k_dot(dt, &k, xv[j], xs[j], &p[j][i], &m_unused);
            }
            /* the mins bytes of the 4 rows as words, lane i = row i */
            const __m512i mw = _mm512_unpackhi_epi8(z, _mm512_setzero_si512());
#pragma GCC unroll 8
            for (int j = 0; j < TB; j++) {
                /* M_i = sum_j m_j S_j with S_j = s[2j] + s[2j+1] (|S_j| <= 32 * 127 fits int16) */
                const __m256i s2 = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)(const void *)xs[j]),
                                                     _mm256_set1_epi16(1));
                const __m512i S8 = _mm512_broadcast_i32x4(
                    _mm_packs_epi32(_mm256_castsi256_si128(s2), _mm256_extracti128_si256(s2, 1)));
                __m512i mt = _mm512_madd_epi16(mw, S8);
                mt = _mm512_add_epi32(mt, _mm512_shuffle_epi32(mt, 0x4E)); /* lane sums in every dword */
                mt = _mm512_add_epi32(mt, _mm512_shuffle_epi32(mt, 0xB1));
                M[j] = _mm512_castsi512_si128(_mm512_permutexvar_epi32(_mm512_setr4_epi32(0, 4, 8, 12), mt));
            }
        }
        /* d (and dmin) of the 4 rows */
        __m128 d, dmin = _mm_setzero_ps();
        if (dt == FR_DT_Q6_K) {
            d = i8k_f16x4(h, 208);
        } else { /* d, dmin of 4 rows as 8 f16 words, reordered to d0..d3, dmin0..dmin3 */
            __m128i dm = _mm_setr_epi32((int)i8k_ld32(h[0]), (int)i8k_ld32(h[1]), (int)i8k_ld32(h[2]), (int)i8k_ld32(h[3]));
            dm = _mm_shuffle_epi8(dm, _mm_setr_epi8(0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15));
            const __m256 dd = _mm256_cvtph_ps(dm);
            d = _mm256_castps256_ps128(dd);
            dmin = _mm256_extractf128_ps(dd, 1);
        }
#pragma GCC unroll 8
        for (int j = 0; j < TB; j++) {
            const __m128i T = i8k_sum4(i8k_fold(p[j][0]), i8k_fold(p[j][1]), i8k_fold(p[j][2]), i8k_fold(p[j][3]));
            acc[j] = i8k_step(dt, acc[j], _mm_set1_ps(xd0[j * nb + b]), d, dmin, T, M[j]);
        }
    }
    for (int j = 0; j < TB; j++) _mm_storeu_ps(out + 4 * j, acc[j]);
}

/* Prefill tile: out[j] = W row w . token t + j, j < TB (8, or 4 for the rest
 * of the tokens): each block is unpacked once for the TB tokens, whose pairs
 * go in groups of 4 through the exact reduction and the float step. */
static I8K_AI void i8k_tile_tokens(const int dt, const int TB, const uint8_t *w, const fr_qx *X, int t, int64_t nb,
                                   float *out) {
    const size_t bb = i8k_bb(dt);
    const int64_t cols = X->cols;
    __m128 acc[I8K_TBMAX / 4];
    for (int g = 0; g < TB / 4; g++) acc[g] = _mm_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *h = w + (size_t)b * bb;
        i8k_blk k;
        __m512i sm = _mm512_setzero_si512();
        if (dt != FR_DT_Q6_K) sm = i8k_scmin(_mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(const void *)(h + 4))));
        i8k_unpack(dt, h, sm, 1, 0, &k);
        __m128 d, dmin = _mm_setzero_ps();
        if (dt == FR_DT_Q6_K) {
            d = _mm_set1_ps(i8k_f16(h + 208));
        } else {
            const __m128 dm = _mm_cvtph_ps(_mm_cvtsi32_si128((int)i8k_ld32(h)));
            d = _mm_broadcastss_ps(dm);
            dmin = _mm_broadcastss_ps(_mm_movehdup_ps(dm));
        }
#pragma GCC unroll 8
        for (int g = 0; g < TB / 4; g++) {
            __m512i p[4];
            __m256i m[4];
#pragma GCC unroll 8
            for (int e = 0; e < 4; e++) {
                const int64_t tj = t + 4 * g + e;
                __m512i xv[4];
                i8k_xload(X->q + tj * cols + 256 * b, 0, xv);
                i8k_dot(dt, &k, xv, X->s + tj * (cols / 16) + 16 * b, &p[e], &m[e]);
            }
            const __m128i T = i8k_sum4(i8k_fold(p[0]), i8k_fold(p[1]), i8k_fold(p[2]), i8k_fold(p[3]));
            const __m128i M = dt == FR_DT_Q6_K ? _mm_setzero_si128() : i8k_sum4(m[0], m[1], m[2], m[3]);
            const float *xd = X->d + (int64_t)(t + 4 * g) * nb + b;
            acc[g] = i8k_step(dt, acc[g], _mm_setr_ps(xd[0], xd[nb], xd[2 * nb], xd[3 * nb]), d, dmin, T, M);
        }
    }
    for (int g = 0; g < TB / 4; g++) _mm_storeu_ps(out + 4 * g, acc[g]);
}

/* ---- decode: one row at a time ----
 * n = 1 reads the weights as one sequential stream per thread: a row's blocks
 * in order, then the next row (a tile of 4 rows reads 4 interleaved streams,
 * which the memory system serves far slower; see avx512/int8_q0.h q0_row).
 * Four blocks of the row per step. Each block's exact integer sums stay
 * spread over 16 int32 lanes (p of i8k_dot) and go into a float accumulator
 * of 16 lanes at once: acc += (d * d_x) * float(p); Q4_K/Q5_K also
 * acc -= (dmin * d_x) * float(m_j S_j) for the 4 blocks' mins together. The
 * lanes are summed at the end of the row: a different float order from the
 * generic kernel (within 1e-6 of sum|w x|), and no per-block reduction.
 * Q4_K/Q5_K take the weights split (i8k_unpack: two 64-byte loads per block,
 * no shuffles) against activations reordered once per matmul (xr, i8k_decode);
 * their scales and mins are decoded for the 4 blocks together (one 128-bit
 * lane each). (dpwssd chains kept short: long ones measured slower from DRAM.)
 *
 * i8k_row4: blocks 0 .. nv-1 (nv <= 4) from w (activations xr, sub-block sums xs32, scales xd
 * at the same block) into acc; blocks past nv repeat the last one, their factors are 0. Each
 * block's first 16 bytes (d, dmin, the 12 bytes of scales and mins) come in with one 128-bit
 * load into lane i of z; d and dmin of the 4 blocks are one vpermw from there, and the mins
 * meet the activations' sums per 32-value sub-block (xs32, 8 int16 a block, made once per
 * call in i8k_decode) in one vpmaddwd for the 4 blocks: dword 4i + q of it is block i's
 * m_2q S_2q + m_2q+1 S_2q+1. (11 vector instructions fewer a step than scalar loads of d and
 * dmin and the mins against the 16-value sums: on the Zen 5 class VM, one thread from L2,
 * Q5_K +2-3 %, Q4_K the same; bench/RESULTS.md Run 29.) */
static I8K_AI void i8k_row4(const int dt, const uint8_t *w, const int8_t *xr, const int16_t *xs32, const float *xd,
                            const int nv, __m512 *acc) {
    const size_t bb = dt == FR_DT_Q5_K ? 176 : 144;
    const __mmask8 mk = (__mmask8)((1u << nv) - 1);
    const uint8_t *h[4];
    int bi[4];
    for (int i = 0; i < 4; i++) bi[i] = i < nv ? i : nv - 1, h[i] = w + (size_t)bi[i] * bb;
#if I8K_PD
    for (size_t l = 0; l < 4 * bb; l += 64) {
        _mm_prefetch((const char *)(w + I8K_PD + l), _MM_HINT_T0);
        if (FR_PF_L2) _mm_prefetch((const char *)(w + FR_PF_L2 + l), _MM_HINT_T1); /* kernels.h */
    }
#endif
    /* lane i: block i's bytes 0..15 (f16 d, f16 dmin, scales[12]) */
    __m512i z = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)(const void *)h[0]));
    z = _mm512_inserti32x4(z, _mm_loadu_si128((const __m128i *)(const void *)h[1]), 1);
    z = _mm512_inserti32x4(z, _mm_loadu_si128((const __m128i *)(const void *)h[2]), 2);
    z = _mm512_inserti32x4(z, _mm_loadu_si128((const __m128i *)(const void *)h[3]), 3);
    /* words 0..7: d0..d3, dmin0..dmin3 */
    const __m512i dix = _mm512_castsi128_si512(_mm_setr_epi16(0, 8, 16, 24, 1, 9, 17, 25));
    const __m256 dd = _mm256_cvtph_ps(_mm512_castsi512_si128(_mm512_permutexvar_epi16(dix, z)));
    const __m128 dx = _mm_maskz_loadu_ps(mk, xd);
    /* lanes 0..3: d * d_x per block; dmin * d_x */
    const __m512 fd = _mm512_castps128_ps512(_mm_maskz_mul_ps(mk, _mm256_castps256_ps128(dd), dx));
    const __m512 fm = _mm512_castps128_ps512(_mm_maskz_mul_ps(mk, _mm256_extractf128_ps(dd, 1), dx));
    z = i8k_scmin(_mm512_bsrli_epi128(z, 4)); /* lane i: block i's [sc0..7, m0..7] */
#pragma GCC unroll 8
    for (int i = 0; i < 4; i++) {
        i8k_blk k;
        const __m512i sm = i == 0 ? _mm512_shuffle_i32x4(z, z, 0x00) : i == 1 ? _mm512_shuffle_i32x4(z, z, 0x55)
                         : i == 2 ? _mm512_shuffle_i32x4(z, z, 0xAA) : _mm512_shuffle_i32x4(z, z, 0xFF);
        i8k_unpack(dt, h[i], sm, 0, 1, &k);
        const int8_t *x = xr + 256 * bi[i];
        __m512i a[4]; /* two short chains: c = 0, 2 and 1, 3 */
#pragma GCC unroll 8
        for (int c = 0; c < 4; c++) a[c] = _mm512_maddubs_epi16(k.w[c], _mm512_loadu_si512((const void *)(x + 64 * c)));
        const __m512i p = _mm512_add_epi32(i8k_dpwssd(_mm512_madd_epi16(a[0], k.sc[0]), a[2], k.sc[2]),
                                           i8k_dpwssd(_mm512_madd_epi16(a[1], k.sc[1]), a[3], k.sc[3]));
        acc[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), _mm512_permutexvar_ps(_mm512_set1_epi32(i), fd), acc[i]);
    }
    /* mins: lane i of mw = block i's m0..m7 as words, against its 8 sums S32 (blocks past nv: 0) */
    const __m512i mw = _mm512_unpackhi_epi8(z, _mm512_setzero_si512());
    const __m512i S = nv == 4 ? _mm512_loadu_si512((const void *)xs32)
                              : _mm512_maskz_loadu_epi16((__mmask32)((1ull << (8 * nv)) - 1), xs32);
    const __m512 f4 = _mm512_permutexvar_ps(_mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0), fm);
    acc[0] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(_mm512_madd_epi16(mw, S)), f4, acc[0]);
}

/* the row's dot product over nb blocks from w, with xr/xs32/xd at the same block */
static I8K_AI float i8k_row(const int dt, const uint8_t *w, const int8_t *xr, const int16_t *xs32, const float *xd,
                            int64_t nb) {
    const size_t bb = dt == FR_DT_Q5_K ? 176 : 144;
    __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
    int64_t b = 0;
    for (; b + 4 <= nb; b += 4) i8k_row4(dt, w + (size_t)b * bb, xr + 256 * b, xs32 + 8 * b, xd + b, 4, acc);
    if (b < nb) i8k_row4(dt, w + (size_t)b * bb, xr + 256 * b, xs32 + 8 * b, xd + b, (int)(nb - b), acc);
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3])));
}

/* Q6_K row (n = 1): four blocks per step, each unpacked and multiplied as in
 * the tiles (i8k_dot), their sums reduced together to 4 lanes per block (exact
 * int32), one float step for the 4 blocks: acc += (d_x * d) * T; the 16 lanes
 * are summed at the end of the row. (Measured: this beat the float
 * accumulation of i8k_row for Q6_K from DRAM, 20 against 16 GB/s. The rows'
 * arithmetic overlaps their memory stream only in part, so every instruction
 * per byte counts: with the reduction by unpacks instead of vphaddd and the
 * unpacking on GFNI, the 4-layer V2-Lite Q4_K_M decoded 3.6 % faster in one
 * process, within the noise across processes, bench/RESULTS.md Run 27.) */
static I8K_AI float i8k_row_q6(const uint8_t *w, const fr_qx *X, int64_t nb) {
    const size_t bb = 210;
    __m512 acc = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b += 4) {
        /* the 4 blocks b..b+3; past nb repeat the last one (lanes masked off below) */
        const int nv = nb - b < 4 ? (int)(nb - b) : 4;
        const uint8_t *h[4];
        int64_t bi[4];
        for (int i = 0; i < 4; i++) bi[i] = b + (i < nv ? i : nv - 1), h[i] = w + (size_t)bi[i] * bb;
#if I8K_PD6
        for (size_t l = 0; l < 4 * bb; l += 64) {
            _mm_prefetch((const char *)(w + (size_t)b * bb + I8K_PD6 + l), _MM_HINT_T0);
            if (FR_PF_L2) _mm_prefetch((const char *)(w + (size_t)b * bb + FR_PF_L2 + l), _MM_HINT_T1);
        }
#endif
        __m512i p[4];
#pragma GCC unroll 8
        for (int i = 0; i < 4; i++) {
            i8k_blk k;
            __m512i xv[4];
            __m256i m_unused;
            i8k_unpack(FR_DT_Q6_K, h[i], _mm512_setzero_si512(), 1, 0, &k);
            i8k_xload(X->q + 256 * bi[i], 0, xv);
            i8k_dot(FR_DT_Q6_K, &k, xv, X->s + 16 * bi[i], &p[i], &m_unused);
        }
        /* the 4 blocks' 16 lanes each folded to 4 (exact int32 sums) by unpacks: dword 4q + i =
         * block i's share of quarter q, so one convert and one multiply-add on zmm take the 4
         * blocks (vphaddd, three uops each, did it on 128 bits before); blocks past nv repeat the
         * last one with factor 0 */
        const __m512i t01 = _mm512_add_epi32(_mm512_unpacklo_epi32(p[0], p[1]), _mm512_unpackhi_epi32(p[0], p[1]));
        const __m512i t23 = _mm512_add_epi32(_mm512_unpacklo_epi32(p[2], p[3]), _mm512_unpackhi_epi32(p[2], p[3]));
        const __m512i T = _mm512_add_epi32(_mm512_unpacklo_epi64(t01, t23), _mm512_unpackhi_epi64(t01, t23));
        const __mmask8 mk = (__mmask8)((1u << nv) - 1);
        const __m128 f = _mm_mul_ps(_mm_maskz_loadu_ps(mk, X->d + b), i8k_f16x4(h, 208)); /* d_x d per block */
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(T), _mm512_broadcast_f32x4(f), acc);
    }
    return _mm512_reduce_add_ps(acc);
}

/* n = 1: rows [r0, r1) one at a time (i8k_row); a separate function per type
 * (not inlined into i8k_body, which made the compiler spill in the row loop) */
static I8K_AI void i8k_decode(const int dt, const fr_tensor *W, const fr_qx *X, float *Y, int64_t r0, int64_t r1) {
    const int64_t nb = X->cols / 256;
    const size_t rb = fr_row_bytes(W);
    const uint8_t *w0 = W->data;
    if (dt == FR_DT_Q6_K) {
        for (int64_t r = r0; r < r1; r++) Y[r] = i8k_row_q6(w0 + (size_t)r * rb, X, nb);
        return;
    }
    /* Q4_K/Q5_K: the activations reordered for the split weights (i8k_xload) once for all rows,
     * I8K_XCH blocks at a time (rows longer than that go over the rows once per chunk) */
    _Alignas(64) int8_t xr[I8K_XCH * 256];
    _Alignas(64) int16_t xs32[I8K_XCH * 8];
    for (int64_t c0 = 0; c0 < nb; c0 += I8K_XCH) {
        const int64_t cnt = nb - c0 < I8K_XCH ? nb - c0 : I8K_XCH;
        for (int64_t b = 0; b < cnt; b++) {
            __m512i v[4];
            i8k_xload(X->q + 256 * (c0 + b), 1, v);
            for (int c = 0; c < 4; c++) _mm512_store_si512((void *)(xr + 256 * b + 64 * c), v[c]);
            /* the 8 sums of 32 activations (|sum| <= 32 x 127: int16) */
            const __m256i s16 = _mm256_loadu_si256((const __m256i *)(const void *)(X->s + 16 * (c0 + b)));
            _mm_store_si128((__m128i *)(void *)(xs32 + 8 * b),
                            _mm256_cvtepi32_epi16(_mm256_madd_epi16(s16, _mm256_set1_epi16(1))));
        }
        const size_t bb = dt == FR_DT_Q5_K ? 176 : 144;
        for (int64_t r = r0; r < r1; r++) {
            const float v = i8k_row(dt, w0 + (size_t)r * rb + (size_t)c0 * bb, xr, xs32, X->d + c0, cnt);
            Y[r] = c0 ? Y[r] + v : v;
        }
    }
}

/* ---- prefill: transposed weights (as q0_prefill in avx512/int8_q0.h) ----
 * For a pass of I8K_PMIN(dt) tokens or more, 16 rows' blocks are transposed and
 * unpacked to unsigned bytes u (Q4_K 0..15, Q5_K 0..31, Q6_K the raw 0..63; in
 * i8k_unpack's element order) in dwords (i8k_ptrans):
 *     ut[k][g][c] lane i = elements 32g + 4c .. 32g + 4c + 3 of block k of row i
 * with the per-row factors in lanes:
 *     D[k][j] lane i = d_i * sc_ij per sub-block j (Q4_K/Q5_K: 8 of 32 values,
 *                      j = g; Q6_K: 16 of 16, two per group)
 *     Q4_K/Q5_K: mm[k][p] lane i = the mins (m_2p, m_2p+1) of row i as int16,
 *                dmin[k] lane i = dmin_i
 *     Q6_K:      mm[k][p] lane i = the scales (sc_2p, sc_2p+1) of row i as int16,
 *                dmin[k] lane i = 32 d_i (the -32 offset of the 6-bit values)
 * Then per token (activations q, block scale d_x, sums of 16 s) and block:
 *     a_j = sum_c dpbusd(ut[k][g][c], q[32g + 4c ..]) over sub-block j   (exact int)
 *     Q4_K/Q5_K: B = sum_j D_j * float(a_j) - dmin * float(sum_j m_j S_j)  (S_j = s_2j + s_2j+1,
 *                the pairs (S_2p, S_2p+1) summed once per pass and chunk)
 *     Q6_K:      B = sum_j D_j * float(a_j) - 32 d * float(sum_j sc_j s_j)
 *     acc += d_x * B
 * One dpbusd per 4 x 16 products and no horizontal steps (the token tile
 * i8k_tile_tokens: 2 ops per 4 x 16 and a reduction per block and token). The
 * float sums go per sub-block, so this is not the generic kernel bit for bit:
 * within 1e-6 of sum|w x| (tests/test_int8_kernels.c). Without VNNI fr_dpbusd
 * is vpmaddubsw + vpmaddwd: u <= 63 keeps the pair sums below 2 * 63 * 127. */
#define I8K_PR 16   /* rows per prefill tile: the 16 lanes of a zmm */
#define I8K_PKC 4   /* blocks per transposed chunk (4 KiB of ut each) */
#define I8K_PTB 8   /* tokens per prefill tile, at most */
/* tokens in a pass from which the transposed path runs: per thread, 256 rows
 * a call, 7168 columns, weights past the L3, 4-row/4-token tiles vs
 * transposed: Q4_K n = 4 130 -> 259 GFLOP/s, n = 6 150 -> 321, Q5_K n = 4
 * 99 -> 205 (from the L3 243 -> 262, 229 -> 243); Q6_K, whose transposition
 * costs more, n = 4 246 -> 120 and n = 7 237 -> 217 (2048 columns) */
#define I8K_PMIN(dt) (i8k_s16(dt) ? 8 : 4)

/* A token's block offsets, integer, per row lane: Q4_K/Q5_K/IQ4_XS sum_j m_j S_j
 * (mm: the pairs of m_j; sp: the token's pairs of sums of 32), the 16-value
 * sub-block types sum_j sc_j s_j (the pairs of sums of 16 as they lie in X->s at
 * s): |sum| < 2^31 */
/* the 32-value sub-block types' part: sum_p dpwssd(mm[p], spb[p]), spb the pairs broadcast */
static I8K_AI __m512i i8k_offsets32(const __m512i *mm, const __m512i *spb) {
    __m512i mt = _mm512_setzero_si512();
#pragma GCC unroll 4
    for (int p = 0; p < 4; p++) mt = i8k_dpwssd(mt, mm[p], spb[p]);
    return mt;
}
static I8K_AI __m512i i8k_offsets(const int dt, const __m512i *mm, const int16_t *s, const int32_t *sp) {
    __m512i mt = _mm512_setzero_si512();
    if (i8k_s16(dt)) {
#pragma GCC unroll 8
        for (int p = 0; p < 8; p++) {
            int32_t s2;
            memcpy(&s2, s + 2 * p, 4);
            mt = i8k_dpwssd(mt, mm[p], _mm512_set1_epi32(s2));
        }
    } else {
        __m512i spb[4];
        for (int p = 0; p < 4; p++) spb[p] = _mm512_set1_epi32(sp[p]);
        mt = i8k_offsets32(mm, spb);
    }
    return mt;
}

/* Y[t + j][r + 16h + i] (+)= blocks b0 .. b0 + cnt - 1 for TB tokens from t and
 * NH 16-row halves h (NH = 2: each activation broadcast meets the weights of
 * 32 rows; the broadcasts, not the arithmetic, held the 16-row tile: with the
 * activations in registers instead it ran 12-19 % faster); first: start from
 * 0, else from Y. Per lane the same operations in the same order for any NH. */
static I8K_AI void i8k_ptile(const int dt, const int NH, const int TB, const __m512i (*const ut[2])[8][8],
                             const float (*const D[2])[16][I8K_PR], const __m512i (*const mm[2])[8],
                             const float (*const dmin[2])[I8K_PR], const int32_t (*sp)[I8K_PKC][4], int cnt, int64_t b0,
                             const fr_qx *X, float *Y, int64_t rows, int64_t r, const __mmask16 *m, int t, int first,
                             fr_pf *pf) {
    const int64_t cols = X->cols, nb = cols / 256, pq = (8 * pf->per * TB + cnt - 1) / cnt;
    __m512 acc[2][I8K_PTB];
    for (int h = 0; h < NH; h++)
        for (int j = 0; j < TB; j++)
            acc[h][j] = first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m[h], Y + (int64_t)(t + j) * rows + r + 16 * h);
    for (int k = 0; k < cnt; k++) {
        const int64_t b = b0 + k;
        __m512 B[2][I8K_PTB];
        __m512i a[2][I8K_PTB];
#pragma GCC unroll 8
        for (int h = 0; h < NH; h++)
#pragma GCC unroll 8
            for (int j = 0; j < TB; j++) B[h][j] = _mm512_setzero_ps();
        fr_pf_some(pf, pq);
        for (int g = 0; g < 8; g++) {
            for (int hs = 0; hs < (i8k_s16(dt) ? 2 : 1); hs++) {
                const int c0 = i8k_s16(dt) ? 4 * hs : 0, c1 = i8k_s16(dt) ? c0 + 4 : 8;
#pragma GCC unroll 8
                for (int h = 0; h < NH; h++)
#pragma GCC unroll 8
                    for (int j = 0; j < TB; j++) a[h][j] = _mm512_setzero_si512();
#pragma GCC unroll 8
                for (int c = c0; c < c1; c++)
#pragma GCC unroll 8
                    for (int j = 0; j < TB; j++) {
                        int32_t x4; /* elements 32g + 4c .. + 3 of token j's block */
                        memcpy(&x4, X->q + (int64_t)(t + j) * cols + 256 * b + 32 * g + 4 * c, 4);
                        const __m512i xb = _mm512_set1_epi32(x4);
#pragma GCC unroll 2
                        for (int h = 0; h < NH; h++) a[h][j] = fr_dpbusd(a[h][j], ut[h][k][g][c], xb);
                    }
#pragma GCC unroll 2
                for (int h = 0; h < NH; h++) {
                    const __m512 dj = _mm512_load_ps(D[h][k][i8k_s16(dt) ? 2 * g + hs : g]);
#pragma GCC unroll 8
                    for (int j = 0; j < TB; j++) B[h][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(a[h][j]), dj, B[h][j]);
                }
            }
        }
#pragma GCC unroll 2
        for (int h = 0; h < NH; h++) { /* the offsets (i8k_offsets) */
            const __m512 dm = _mm512_load_ps(dmin[h][k]);
#pragma GCC unroll 8
            for (int j = 0; j < TB; j++) {
                const __m512i mt = i8k_offsets(dt, mm[h][k], X->s + (int64_t)(t + j) * (cols / 16) + 16 * b, sp[j][k]);
                B[h][j] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(mt), dm, B[h][j]);
            }
        }
#pragma GCC unroll 8
        for (int j = 0; j < TB; j++) {
            const __m512 dx = _mm512_set1_ps(X->d[(int64_t)(t + j) * nb + b]);
#pragma GCC unroll 2
            for (int h = 0; h < NH; h++) acc[h][j] = _mm512_fmadd_ps(B[h][j], dx, acc[h][j]);
        }
    }
    for (int h = 0; h < NH; h++)
        for (int j = 0; j < TB; j++) _mm512_mask_storeu_ps(Y + (int64_t)(t + j) * rows + r + 16 * h, m[h], acc[h][j]);
}

#ifdef FR_AMX
/* i8k_ptile on AMX tiles (avx512/amx.h), M <= 16 tokens, IQ4_XS (Q4_K and Q5_K:
 * i8k_ptile_amx_split below, the same before Run 22): per
 * block, each sub-block's sums for the M tokens and NH halves come from one
 * tdpbsud per half (A: the M tokens' 32 bytes of the sub-block; B: the 8 ut
 * vectors of the sub-block) into cb; then per (half, token) the float steps of
 * i8k_ptile in its order, so the outputs are its outputs bit for bit.
 * (The types of 16-value sub-blocks, Q2_K, Q3_K and Q6_K, fill a quarter of
 * a tile per instruction; with a store per sub-block they ran slower on tiles
 * than on i8k_ptile's vpdpbusd and take that: bench/RESULTS.md Run 21.) */
static I8K_AI void i8k_ptile_amx(const int dt, const int NH, const int M, const __m512i (*const ut[2])[8][8],
                                 const float (*const D[2])[16][I8K_PR], const __m512i (*const mm[2])[8],
                                 const float (*const dmin[2])[I8K_PR], const int32_t (*sp)[I8K_PKC][4], int cnt,
                                 int64_t b0, const fr_qx *X, float *Y, int64_t rows, int64_t r, const __mmask16 *m,
                                 int t, int first, fr_pf *pf, amx_state *as) {
    const int64_t cols = X->cols, nb = cols / 256, pq = (8 * pf->per * M + cnt - 1) / cnt;
    _Alignas(64) int32_t cb[8][2][16][16]; /* sub-block, half, token, row */
    const int8_t *xa = X->q + (int64_t)t * cols + 256 * b0;
    amx_cfg(as, M, 32);
    for (int k = 0; k < cnt; k++) {
        const int64_t b = b0 + k;
        fr_pf_some(pf, pq);
        for (int s = 0; s < 8; s++) /* (NH = 1: the second half's pointers go unused) */
            amx_mul(NH, 0, xa + 256 * k + 32 * s, cols, &ut[0][k][s][0], &ut[1][k][s][0], cb[s][0][0], cb[s][1][0]);
#pragma GCC unroll 2
        for (int h = 0; h < NH; h++) {
            const __m512 dm = _mm512_load_ps(dmin[h][k]);
            for (int j = 0; j < M; j++) {
                __m512 B = _mm512_setzero_ps();
                for (int s = 0; s < 8; s++)
                    B = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_load_si512((const void *)cb[s][h][j])),
                                        _mm512_load_ps(D[h][k][s]), B);
                const __m512i mt = i8k_offsets(dt, mm[h][k], X->s + (int64_t)(t + j) * (cols / 16) + 16 * b, sp[j][k]);
                B = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(mt), dm, B);
                float *y = Y + (int64_t)(t + j) * rows + r + 16 * h;
                const __m512 acc = first && k == 0 ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m[h], y);
                const __m512 dx = _mm512_set1_ps(X->d[(int64_t)(t + j) * nb + b]);
                _mm512_mask_storeu_ps(y, m[h], _mm512_fmadd_ps(B, dx, acc));
            }
        }
    }
}

/* Q4_K and Q5_K on tiles with the 6-bit scales in the weights (i8k_ptrans with
 * split): sc_j = 8 sh_j + sl_j (sh, sl <= 7), ut[2k] holds u sh and ut[2k + 1]
 * u sl (bytes <= 31 x 7), so per block and half two C tiles sum over all 256
 * values, four K = 64 products each:
 *     H = sum_i (u_i sh_j(i)) q_i,  L = sum_i (u_i sl_j(i)) q_i,  8 H + L = sum_j sc_j a_j  (exact)
 *     B = d float(8 H + L) - dmin float(sum_j m_j S_j),  acc += d_x B
 * the generic kernel's integer sums, not i8k_ptile's float ones (the same to
 * 1e-6 of sum|w x|). One store per C tile and block, where the sub-block
 * panel stores one per sub-block of 32 (the tile unit runs a store as long
 * as a product: bench/RESULTS.md Run 21); twice the weight tiles to load
 * instead, 32 KiB a chunk of 2 blocks. Pipelined as the Q8_0 panel: the next
 * block's (or the next token tile's) products go to the tiles before a
 * block's float steps, their stores after them. Tokens [t, t1) of the pass
 * in tiles of 16 (sp from t). Tiles: 0 = A (M tokens x 64 bytes), 1, 2 = B,
 * 3 + 2h = H and 4 + 2h = L of half h. */
static I8K_AI void i8k_split_prod(const int NH, const int8_t *a, int64_t stride, const __m512i (*const ut[2])[8][8],
                                  int k) {
    AMX_ZERO(3);
    AMX_ZERO(4);
    if (NH == 2) {
        AMX_ZERO(5);
        AMX_ZERO(6);
    }
    for (int p = 0; p < 4; p++) {
        AMX_LOAD(0, a + 64 * p, stride);
        AMX_LOAD(1, &ut[0][2 * k][2 * p][0], 64);
        AMX_DPBSUD(3, 0, 1);
        AMX_LOAD(2, &ut[0][2 * k + 1][2 * p][0], 64);
        AMX_DPBSUD(4, 0, 2);
        if (NH == 2) {
            AMX_LOAD(1, &ut[1][2 * k][2 * p][0], 64);
            AMX_DPBSUD(5, 0, 1);
            AMX_LOAD(2, &ut[1][2 * k + 1][2 * p][0], 64);
            AMX_DPBSUD(6, 0, 2);
        }
    }
}
static I8K_AI void i8k_split_store(const int NH, int32_t (*cb)[2][16][16]) {
    AMX_STORE(3, cb[0][0][0], 64);
    AMX_STORE(4, cb[0][1][0], 64);
    if (NH == 2) {
        AMX_STORE(5, cb[1][0][0], 64);
        AMX_STORE(6, cb[1][1][0], 64);
    }
}

static I8K_AI void i8k_ptile_amx_split(const int NH, const int t0, const int t1, const __m512i (*const ut[2])[8][8],
                                       const float (*const D[2])[16][I8K_PR], const __m512i (*const mm[2])[8],
                                       const float (*const dmin[2])[I8K_PR], const int32_t (*sp)[I8K_PKC][4], int cnt,
                                       int64_t b0, const fr_qx *X, float *Y, int64_t rows, int64_t r,
                                       const __mmask16 *m, int first, fr_pf *pf, amx_state *as) {
    const int64_t cols = X->cols, nb = cols / 256;
    _Alignas(64) int32_t cb[2][2][2][16][16]; /* item i & 1, half, H | L, token, row */
    /* items i = (tile of 16 tokens from t, block k): the next item's products are issued before
     * this one's float steps across the tiles too, but not across a change of M (ldtilecfg
     * clears the tiles) */
    const int items = (t1 - t0 + 15) / 16 * cnt;
#define I8K_SPLIT_M(i) (t1 - (t0 + 16 * ((i) / cnt)) < 16 ? t1 - (t0 + 16 * ((i) / cnt)) : 16)
#define I8K_SPLIT_A(i) (X->q + (int64_t)(t0 + 16 * ((i) / cnt)) * cols + 256 * (b0 + (i) % cnt))
    amx_cfg(as, I8K_SPLIT_M(0), 64);
    i8k_split_prod(NH, I8K_SPLIT_A(0), cols, ut, 0);
    i8k_split_store(NH, cb[0]);
    for (int i = 0; i < items; i++) {
        const int k = i % cnt, M = I8K_SPLIT_M(i), ahead = i + 1 < items && I8K_SPLIT_M(i + 1) == M;
        const int64_t b = b0 + k;
        const int t = t0 + 16 * (i / cnt);
        fr_pf_some(pf, (8 * pf->per * M + cnt - 1) / cnt);
        if (ahead) i8k_split_prod(NH, I8K_SPLIT_A(i + 1), cols, ut, (i + 1) % cnt);
        for (int j = 0; j < M; j++) { /* per token both halves: the broadcasts once */
            const __m512 dx = _mm512_set1_ps(X->d[(int64_t)(t + j) * nb + b]);
            __m512i spb[4]; /* the token's pairs of sums of 32 (i8k_offsets) */
            for (int p = 0; p < 4; p++) spb[p] = _mm512_set1_epi32(sp[t - t0 + j][k][p]);
#pragma GCC unroll 2
            for (int h = 0; h < NH; h++) {
                const __m512i hs = _mm512_load_si512((const void *)cb[i & 1][h][0][j]);
                const __m512i ls = _mm512_load_si512((const void *)cb[i & 1][h][1][j]);
                __m512 B = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(_mm512_slli_epi32(hs, 3), ls)),
                                         _mm512_load_ps(D[h][k][0]));
                const __m512i mt = i8k_offsets32(mm[h][k], spb); /* sum_j m_j S_j */
                B = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(mt), _mm512_load_ps(dmin[h][k]), B);
                float *y = Y + (int64_t)(t + j) * rows + r + 16 * h;
                const __m512 acc = first && k == 0 ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m[h], y);
                _mm512_mask_storeu_ps(y, m[h], _mm512_fmadd_ps(B, dx, acc));
            }
        }
        if (ahead) i8k_split_store(NH, cb[(i + 1) & 1]);
        else if (i + 1 < items) { /* the last, shorter tile */
            amx_cfg(as, I8K_SPLIT_M(i + 1), 64);
            i8k_split_prod(NH, I8K_SPLIT_A(i + 1), cols, ut, (i + 1) % cnt);
            i8k_split_store(NH, cb[(i + 1) & 1]);
        }
    }
#undef I8K_SPLIT_M
#undef I8K_SPLIT_A
}
#endif

/* The 128-bit lanes of a, b, c, d transposed in place as a 4 x 4 matrix:
 * lane L of the i-th vector becomes lane i of the L-th */
static I8K_AI void i8k_t4lanes(__m512i *a, __m512i *b, __m512i *c, __m512i *d) {
    const __m512i t0 = _mm512_shuffle_i32x4(*a, *b, 0x44), t1 = _mm512_shuffle_i32x4(*a, *b, 0xEE); /* lanes 0, 1 | 2, 3 */
    const __m512i t2 = _mm512_shuffle_i32x4(*c, *d, 0x44), t3 = _mm512_shuffle_i32x4(*c, *d, 0xEE);
    *a = _mm512_shuffle_i32x4(t0, t2, 0x88), *b = _mm512_shuffle_i32x4(t0, t2, 0xDD);
    *c = _mm512_shuffle_i32x4(t1, t3, 0x88), *d = _mm512_shuffle_i32x4(t1, t3, 0xDD);
}

/* 16 x 16 dwords transposed in place: r[i] lane j becomes r[j] lane i.
 * Dwords, then qwords unpacked within 128-bit lanes (r[4a + c] lane L: rows
 * 4a..4a+3 of column 4L + c), then the 128-bit lanes of r[c], r[4 + c],
 * r[8 + c], r[12 + c] transposed. */
static I8K_AI void i8k_t16(__m512i *r) {
    __m512i t[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
    }
    for (int a = 0; a < 16; a += 4) {
        r[a] = _mm512_unpacklo_epi64(t[a], t[a + 2]);
        r[a + 1] = _mm512_unpackhi_epi64(t[a], t[a + 2]);
        r[a + 2] = _mm512_unpacklo_epi64(t[a + 1], t[a + 3]);
        r[a + 3] = _mm512_unpackhi_epi64(t[a + 1], t[a + 3]);
    }
    for (int c = 0; c < 4; c++) i8k_t4lanes(&r[c], &r[4 + c], &r[8 + c], &r[12 + c]);
}

static I8K_AI __m128i i8k_ld16(const uint8_t *p) { return _mm_loadu_si128((const __m128i *)(const void *)p); }

/* The 4 dwords at p[i] + o of 16 rows transposed: w[q] lane i = dword q of row i */
static I8K_AI void i8k_t16x4(const uint8_t *const *p, size_t o, __m512i *w) {
    const __m512i ix = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    for (int a = 0; a < 4; a++) { /* w[a] 128-bit lane q: dword q of rows 4a..4a+3 */
        __m512i z = _mm512_castsi128_si512(i8k_ld16(p[4 * a] + o)); /* the lane index is an immediate */
        z = _mm512_inserti32x4(z, i8k_ld16(p[4 * a + 1] + o), 1);
        z = _mm512_inserti32x4(z, i8k_ld16(p[4 * a + 2] + o), 2);
        z = _mm512_inserti32x4(z, i8k_ld16(p[4 * a + 3] + o), 3);
        w[a] = _mm512_permutexvar_epi32(ix, z);
    }
    i8k_t4lanes(&w[0], &w[1], &w[2], &w[3]);
}

/* 16 rows' 64 bytes at p[i] + o as 16 dwords each, transposed: w[q] lane i = dword q of row i */
static I8K_AI void i8k_t16x16(const uint8_t *const *p, size_t o, __m512i *w) {
    for (int i = 0; i < 16; i++) w[i] = _mm512_loadu_si512((const void *)(p[i] + o));
    i8k_t16(w);
}

/* The I8K_PKC blocks from b0 of the 16 rows from r (rows past r1 repeat the
 * last) into ut, D, dmin, mm as i8k_ptile reads them. The packed bytes of the
 * 16 rows are transposed as dwords (i8k_t16), so that lane i holds row i, and
 * unpacked there, all 16 rows at once: with Q the transposed dwords of qs (Q4_K,
 * Q5_K) or ql (Q6_K) and H those of qh,
 *   Q4_K  ut[2c'+e][c] = nibble e of Q[8c' + c]
 *   Q5_K  ut[2c'+e][c] = nibble e of Q[8c' + c] | bit 2c' + e of H[c] << 4
 *   Q6_K  ut[4h+k][c]  = nibble (k >= 2) of Q[16h + 8(k & 1) + c] | bits 2k, 2k + 1 of H[8h + c] << 4
 * (i8k_unpack's element order). The scales are decoded from their transposed
 * dwords the same way, 16 rows per operation. split (Q4_K, Q5_K on tiles, at
 * most I8K_PKC / 2 blocks): block k's u sh_j in ut[2k], u sl_j in ut[2k + 1]
 * (sc_j = 8 sh_j + sl_j) and D[k][0] = d, for i8k_ptile_amx_split. */
static I8K_AI void i8k_ptrans(const int dt, const int split, const fr_tensor *W, int64_t r, int64_t r1, int64_t b0,
                              int cnt, __m512i (*ut)[8][8], float (*D)[16][I8K_PR], float (*dmin)[I8K_PR],
                              __m512i (*mm)[8]) {
    const size_t bb = i8k_bb(dt);
    const size_t rb = fr_row_bytes(W);
    const __m512i m4 = _mm512_set1_epi8(15);
    for (int k = 0; k < cnt; k++) {
        const uint8_t *h[I8K_PR];
        for (int i = 0; i < I8K_PR; i++)
            h[i] = (const uint8_t *)W->data + (size_t)(r + i < r1 ? r + i : r1 - 1) * rb + (size_t)(b0 + k) * bb;
        __m512i w[4], Q[32], H[16];
        if (dt == FR_DT_Q6_K) {
            /* ql[128] | qh[64] | int8 scales[16] | f16 d */
            i8k_t16x4(h, 192, w);
            __m512i wd[4]; /* bytes 194..209: dword 3 = sc14, sc15, d */
            i8k_t16x4(h, 194, wd);
            const __m512 d = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(wd[3], 16)));
            _mm512_store_ps(dmin[k], _mm512_mul_ps(d, _mm512_set1_ps(32.0f)));
            __m512i sc[16];
            for (int j = 0; j < 16; j++) {
                sc[j] = _mm512_srai_epi32(_mm512_slli_epi32(w[j / 4], 24 - 8 * (j % 4)), 24);
                _mm512_store_ps(D[k][j], _mm512_mul_ps(d, _mm512_cvtepi32_ps(sc[j])));
            }
            for (int p = 0; p < 8; p++)
                mm[k][p] = _mm512_or_si512(_mm512_and_si512(sc[2 * p], _mm512_set1_epi32(0xffff)),
                                           _mm512_slli_epi32(sc[2 * p + 1], 16));
            i8k_t16x16(h, 0, Q), i8k_t16x16(h, 64, Q + 16), i8k_t16x16(h, 128, H);
            const __m512i m30 = _mm512_set1_epi8(0x30);
            for (int hh = 0; hh < 2; hh++)
                for (int kk = 0; kk < 4; kk++)
                    for (int c = 0; c < 8; c++) {
                        const __m512i q = Q[16 * hh + 8 * (kk & 1) + c], qh = H[8 * hh + c];
                        const __m512i lo = _mm512_and_si512(kk >= 2 ? _mm512_srli_epi16(q, 4) : q, m4);
                        const __m512i hi = kk == 0 ? _mm512_slli_epi16(qh, 4) : kk == 1 ? _mm512_slli_epi16(qh, 2)
                                         : kk == 2 ? qh : _mm512_srli_epi16(qh, 2);
                        /* 0xF8: a | (b & c) */
                        ut[k][4 * hh + kk][c] = _mm512_ternarylogic_epi32(lo, hi, m30, 0xF8);
                    }
            continue;
        }
        if (dt == FR_DT_Q2_K || dt == FR_DT_Q3_K) {
            /* (avx512/int8_x.h) element 128h + 32j + l (sub-block 8h + 2j + l / 16): bits 2j of
             * qs[32h + l], Q3_K with bit 4h + j of hmask[l] as bit 2. As Q6_K: D_j = d sc_j and the
             * offsets from the sums of 16: Q2_K scales[16] (sc_j low nibble, m_j high) | qs[64] |
             * f16 d | f16 dmin: mm the pairs of m_j, dmin; Q3_K hmask[32] | qs[64] | scales[12]
             * (6-bit, minus 32) | f16 d: w = u - 4, mm the pairs of sc_j, dmin = 4 d. */
            const int q2 = dt == FR_DT_Q2_K;
            /* the header bytes: Q2_K scales at 0 (w: 16 bytes), d, dmin at 80 (bytes 68..83: dword 3);
             * Q3_K bytes 94..109: scale byte b at 2 + b, d in the top half of dword 3 */
            i8k_t16x4(h, q2 ? 0 : 94, w);
            __m512i wd[4];
            if (q2) i8k_t16x4(h, 68, wd);
            const __m512i dd = q2 ? wd[3] : w[3];
            const __m512 d = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(q2 ? dd : _mm512_srli_epi32(dd, 16)));
            if (q2) _mm512_store_ps(dmin[k], _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(dd, 16))));
            else _mm512_store_ps(dmin[k], _mm512_mul_ps(d, _mm512_set1_ps(4.0f)));
            __m512i sc[16], mn[16];
            const __m512i mff = _mm512_set1_epi32(0xff);
#define I8K_BYTE(i) _mm512_and_si512(_mm512_srli_epi32(w[(i) / 4], 8 * ((i) % 4)), mff)
            for (int j = 0; j < 16; j++) {
                if (q2) {
                    const __m512i v = I8K_BYTE(j);
                    sc[j] = _mm512_and_si512(v, _mm512_set1_epi32(15));
                    mn[j] = _mm512_srli_epi32(v, 4);
                } else {
                    const __m512i lo = j < 8 ? _mm512_and_si512(I8K_BYTE(2 + j), _mm512_set1_epi32(15))
                                             : _mm512_srli_epi32(I8K_BYTE(2 + j - 8), 4);
                    const __m512i hi = _mm512_and_si512(_mm512_srli_epi32(I8K_BYTE(2 + 8 + j % 4), 2 * (j / 4)),
                                                        _mm512_set1_epi32(3));
                    sc[j] = _mm512_sub_epi32(_mm512_or_si512(lo, _mm512_slli_epi32(hi, 4)), _mm512_set1_epi32(32));
                    mn[j] = sc[j];
                }
                _mm512_store_ps(D[k][j], _mm512_mul_ps(d, _mm512_cvtepi32_ps(sc[j])));
            }
#undef I8K_BYTE
            for (int p = 0; p < 8; p++)
                mm[k][p] = _mm512_or_si512(_mm512_and_si512(mn[2 * p], _mm512_set1_epi32(0xffff)),
                                           _mm512_slli_epi32(mn[2 * p + 1], 16));
            i8k_t16x16(h, q2 ? 16 : 32, Q);
            if (!q2) i8k_t16x16(h, 0, H);
            const __m512i m3 = _mm512_set1_epi8(3);
            for (int g = 0; g < 8; g++)
                for (int c = 0; c < 8; c++) {
                    const int hh = g / 4, j = g % 4;
                    __m512i u = _mm512_and_si512(_mm512_srli_epi16(Q[8 * hh + c], 2 * j), m3);
                    if (!q2) /* bit 4hh + j of hmask to bit 2 */
                        u = _mm512_ternarylogic_epi32(u, _mm512_slli_epi16(_mm512_srli_epi16(H[c], 4 * hh + j), 2),
                                                      _mm512_set1_epi8(4), 0xF8);
                    ut[k][g][c] = u;
                }
            continue;
        }
        if (dt == FR_DT_IQ4_XS) {
            /* f16 d | u16 scales_h | scales_l[4] | qs[128] (avx512/int8_x.h): sub-block j's scale
             * sc_j = (bits 4j.. of scales_l | bits 2j.. of scales_h << 4) - 32, element 32j + i the level
             * of the low nibble of qs[16j + i], 32j + 16 + i of its high nibble. As Q4_K with kv + 128 for
             * u and the offset as the "mins": D_j = d sc_j, mm the pairs of sc_j, dmin = 128 d. */
            i8k_t16x4(h, 0, w);
            const __m512 d = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(w[0]));
            _mm512_store_ps(dmin[k], _mm512_mul_ps(d, _mm512_set1_ps(128.0f)));
            const __m512i shi = _mm512_srli_epi32(w[0], 16);
            __m512i sc[8];
            for (int j = 0; j < 8; j++) {
                const __m512i lo = _mm512_and_si512(_mm512_srli_epi32(w[1], 4 * j), _mm512_set1_epi32(15));
                const __m512i hi = _mm512_and_si512(_mm512_srli_epi32(shi, 2 * j), _mm512_set1_epi32(3));
                sc[j] = _mm512_sub_epi32(_mm512_or_si512(lo, _mm512_slli_epi32(hi, 4)), _mm512_set1_epi32(32));
                _mm512_store_ps(D[k][j], _mm512_mul_ps(d, _mm512_cvtepi32_ps(sc[j])));
            }
            for (int p = 0; p < 4; p++)
                mm[k][p] = _mm512_or_si512(_mm512_and_si512(sc[2 * p], _mm512_set1_epi32(0xffff)),
                                           _mm512_slli_epi32(sc[2 * p + 1], 16));
            i8k_t16x16(h, 8, Q), i8k_t16x16(h, 72, Q + 16);
            const __m512i tab = _mm512_broadcast_i32x4(fr_levels16(dt, 1));
            for (int g = 0; g < 8; g++)
                for (int c = 0; c < 4; c++) {
                    const __m512i q = Q[4 * g + c];
                    ut[k][g][c] = _mm512_shuffle_epi8(tab, _mm512_and_si512(q, m4));
                    ut[k][g][4 + c] = _mm512_shuffle_epi8(tab, _mm512_and_si512(_mm512_srli_epi16(q, 4), m4));
                }
            continue;
        }
        /* Q4_K: f16 d | f16 dmin | scales[12] | qs[128]; Q5_K: qh[32] before qs */
        i8k_t16x4(h, 0, w);
        const __m512 d = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(w[0]));
        _mm512_store_ps(dmin[k], _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(w[0], 16))));
        /* u0, u1, u2 = w[1..3]: scales 0..3 the low 6 bits of u0's bytes, mins 0..3 of u1's;
         * scales 4..7 the low nibbles of u2 | the top 2 bits of u0's bytes << 4, mins 4..7 the
         * high nibbles of u2 | the top 2 bits of u1's bytes << 4 (as i8k_scmin) */
        const __m512i m63 = _mm512_set1_epi32(63), m15 = _mm512_set1_epi32(15), m48 = _mm512_set1_epi32(48);
        __m512i mn[8], scs[8];
        for (int j = 0; j < 4; j++) {
            const __m512i sc = _mm512_and_si512(_mm512_srli_epi32(w[1], 8 * j), m63);
            const __m512i sc4 = _mm512_ternarylogic_epi32(_mm512_and_si512(_mm512_srli_epi32(w[3], 8 * j), m15),
                                                          _mm512_srli_epi32(w[1], 8 * j + 2), m48, 0xF8);
            scs[j] = sc, scs[4 + j] = sc4;
            _mm512_store_ps(D[k][j], _mm512_mul_ps(d, _mm512_cvtepi32_ps(sc)));
            _mm512_store_ps(D[k][4 + j], _mm512_mul_ps(d, _mm512_cvtepi32_ps(sc4)));
            mn[j] = _mm512_and_si512(_mm512_srli_epi32(w[2], 8 * j), m63);
            mn[4 + j] = _mm512_ternarylogic_epi32(_mm512_and_si512(_mm512_srli_epi32(w[3], 8 * j + 4), m15),
                                                  _mm512_srli_epi32(w[2], 8 * j + 2), m48, 0xF8);
        }
        for (int p = 0; p < 4; p++) mm[k][p] = _mm512_or_si512(mn[2 * p], _mm512_slli_epi32(mn[2 * p + 1], 16));
        const size_t oq = dt == FR_DT_Q4_K ? 16 : 48;
        i8k_t16x16(h, oq, Q), i8k_t16x16(h, oq + 64, Q + 16);
        if (dt == FR_DT_Q5_K) { /* qh[32]: 8 dwords a row, the upper 8 columns unused */
            for (int i = 0; i < 16; i++)
                H[i] = _mm512_zextsi256_si512(_mm256_loadu_si256((const __m256i *)(const void *)(h[i] + 16)));
            i8k_t16(H);
        }
        for (int cp = 0; cp < 4; cp++)
            for (int e = 0; e < 2; e++) {
                /* split: sc = 8 sh + sl, sh and sl in both 16-bit halves of each lane */
                const __m512i sc = scs[2 * cp + e], sh1 = _mm512_srli_epi32(sc, 3),
                              sl1 = _mm512_and_si512(sc, _mm512_set1_epi32(7));
                const __m512i sh = _mm512_or_si512(sh1, _mm512_slli_epi32(sh1, 16)),
                              sl = _mm512_or_si512(sl1, _mm512_slli_epi32(sl1, 16));
                for (int c = 0; c < 8; c++) {
                    const __m512i q = Q[8 * cp + c];
                    __m512i u = _mm512_and_si512(e ? _mm512_srli_epi16(q, 4) : q, m4);
                    if (dt == FR_DT_Q5_K) { /* bit b = 2c' + e of each byte of H[c] to bit 4 */
                        const int b = 2 * cp + e;
                        const __m512i qh = b < 4   ? _mm512_slli_epi16(H[c], 4 - b)
                                           : b > 4 ? _mm512_srli_epi16(H[c], b - 4)
                                                   : H[c];
                        u = _mm512_ternarylogic_epi32(u, qh, _mm512_set1_epi8(0x10), 0xF8);
                    }
                    if (!split) ut[k][2 * cp + e][c] = u;
                    else { /* u sh and u sl: each byte <= 31 x 7, so vpmullw carries nothing across */
                        ut[2 * k][2 * cp + e][c] = _mm512_mullo_epi16(u, sh);
                        ut[2 * k + 1][2 * cp + e][c] = _mm512_mullo_epi16(u, sl);
                    }
                }
            }
        if (split) _mm512_store_ps(D[k][0], d);
    }
}

/* Q4_K, Q5_K on AMX: the scales in the weights, two blocks a chunk (i8k_ptile_amx_split) */
static I8K_AI int i8k_split(const int dt) {
#ifdef FR_AMX
    return dt == FR_DT_Q4_K || dt == FR_DT_Q5_K;
#else
    (void)dt;
    return 0;
#endif
}

/* tokens [t0, t1) x rows [r0, r1): per chunk of I8K_PKC blocks, each 16-row
 * tile is transposed once and meets all the tokens, so the chunk's
 * activations (t1 - t0 tokens x I8K_PKC x 256 bytes) stay in L2 across the
 * tiles and every block is transposed once per pass, whatever the row length
 * (tokens outside, rows inside transposed each block once per L2-sized token
 * chunk: rows of 18432 took 18 chunks of 28 tokens for n = 512, 40 % of the
 * time of rows of 1408). The split tiles (i8k_split) take chunks of
 * I8K_PKC / 2 blocks: their panel is twice the bytes. */
static I8K_AI void i8k_prefill(const int dt, const fr_tensor *W, const fr_qx *X, float *Y, int64_t r0, int64_t r1,
                               int t0, int t1) {
    const int64_t rows = fr_rows(W), nb = X->cols / 256;
    const size_t bb = i8k_bb(dt);
    const size_t rb = fr_row_bytes(W);
    /* two 16-row halves */
    _Alignas(64) __m512i ut[2][I8K_PKC][8][8];
    _Alignas(64) float D[2][I8K_PKC][16][I8K_PR];
    _Alignas(64) float dmin[2][I8K_PKC][I8K_PR];
    _Alignas(64) __m512i mm[2][I8K_PKC][8];
    const __m512i(*const cut[2])[8][8] = {(const __m512i(*)[8][8])ut[0], (const __m512i(*)[8][8])ut[1]};
    const float(*const cD[2])[16][I8K_PR] = {(const float(*)[16][I8K_PR])D[0], (const float(*)[16][I8K_PR])D[1]};
    const __m512i(*const cmm[2])[8] = {(const __m512i(*)[8])mm[0], (const __m512i(*)[8])mm[1]};
    const float(*const cdm[2])[I8K_PR] = {(const float(*)[I8K_PR])dmin[0], (const float(*)[I8K_PR])dmin[1]};
    /* Q4_K/Q5_K, token t0 + i, block b0 + k: S_2p | S_2p+1 << 16 */
    _Alignas(64) int32_t sp[FR_PREFILL_PASS_MAX][I8K_PKC][4];
    const int32_t(*csp)[I8K_PKC][4] = (const int32_t(*)[I8K_PKC][4])sp;
#ifdef FR_AMX
    amx_state as = {0, 0};
#endif
    const int split = i8k_split(dt);
    const int pkc = split ? I8K_PKC / 2 : I8K_PKC;
    for (int64_t b0 = 0; b0 < nb; b0 += pkc) {
        const int cnt = nb - b0 < pkc ? (int)(nb - b0) : pkc;
        if (!i8k_s16(dt))
            for (int t = t0; t < t1; t++)
                for (int k = 0; k < cnt; k++) { /* S_j = s_2j + s_2j+1 as int16 pairs: |S| <= 32 * 128 */
                    const int16_t *s = X->s + (int64_t)t * (nb * 16) + 16 * (b0 + k);
                    const __m256i s2 =
                        _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)(const void *)s), _mm256_set1_epi16(1));
                    _mm_store_si128((__m128i *)(void *)sp[t - t0][k],
                                    _mm_packs_epi32(_mm256_castsi256_si128(s2), _mm256_extracti128_si256(s2, 1)));
                }
        for (int64_t r = r0; r < r1; r += 2 * I8K_PR) {
            const int nh = r + I8K_PR < r1 ? 2 : 1;
            __mmask16 m[2] = {0, 0};
            for (int h = 0; h < nh; h++) {
                const int64_t rh = r + I8K_PR * h;
                i8k_ptrans(dt, split, W, rh, r1, b0, cnt, ut[h], D[h], dmin[h], mm[h]);
                m[h] = fr_tail16(r1 - rh);
            }
            int t = t0;
            fr_pf pf;
            fr_pf_init(&pf, (const uint8_t *)W->data, rb, r, r0, r1, 2 * I8K_PR, b0, I8K_PKC, nb, bb, t1 - t0);
#ifdef FR_AMX /* tiles of up to 16 tokens (not the 16-value sub-blocks: i8k_ptile_amx) */
#define I8K_PTILE_SPLIT(NH)                                                                                  \
    i8k_ptile_amx_split(NH, t0, t1, cut, cD, cmm, cdm, csp, cnt, b0, X, Y, rows, r, m, b0 == 0, &pf, &as)
            if (split) { /* all the pass's tokens */
                if (nh == 2) I8K_PTILE_SPLIT(2);
                else I8K_PTILE_SPLIT(1);
                t = t1;
            }
#undef I8K_PTILE_SPLIT
            for (; !i8k_s16(dt) && t < t1; t += 16) {
                const int mt = t1 - t < 16 ? t1 - t : 16;
#define I8K_PTILE_AMX(NH)                                                                                    \
    i8k_ptile_amx(dt, NH, mt, cut, cD, cmm, cdm, csp + (t - t0), cnt, b0, X, Y, rows, r, m, t, b0 == 0, &pf, &as)
                if (nh == 2) I8K_PTILE_AMX(2);
                else I8K_PTILE_AMX(1);
#undef I8K_PTILE_AMX
            }
#endif
#define I8K_PTILE(NH, TB)                                                                                    \
    i8k_ptile(dt, NH, TB, cut, cD, cmm, cdm, csp + (t - t0), cnt, b0, X, Y, rows, r, m, t, b0 == 0, &pf)
            FR_PTILE_TOKENS(nh, I8K_PTB, t, t1, I8K_PTILE);
#undef I8K_PTILE
        }
    }
#ifdef FR_AMX
    amx_done(&as);
#endif
}

static I8K_AI void i8k_body(const int dt, const fr_tensor *W, const fr_qx *X, float *Y, int64_t r0, int64_t r1) {
    const int n = X->n;
    const int64_t rows = fr_rows(W), nb = X->cols / 256;
    const size_t rb = fr_row_bytes(W);
    const uint8_t *w0 = W->data;
    float out[I8K_TBMAX];
    /* tokens per pass: transposed, fr_prefill_pass_tokens (the split tiles, whose
     * transposition costs more and whose float steps run per block: the most, 256; int8_bench,
     * one thread, 512 tokens, GFLOP/s for passes of 64 / 128 / 256 tokens: 1024 x 7168 502 /
     * 558 / 599, 12288 x 1536 482 / 534 / 554, 3584 x 16384 522 / 580 / 575; 128 tokens,
     * 1024 x 7168: 509 / 597); the other tiles take the tokens in passes whose whole
     * activations (about 1.1 bytes per value) fill about 512 KiB of L2 while the weight rows
     * stream once */
    const int64_t tc = (512 * 1024) / X->cols;
    const int tchunk = n < I8K_PMIN(dt) ? (tc < I8K_TBMAX ? I8K_TBMAX : tc > 512 ? 512 : (int)(tc / I8K_TBMAX * I8K_TBMAX))
                       : i8k_split(dt) ? FR_PREFILL_PASS_MAX
                                       : fr_prefill_pass_tokens(r0, r1, I8K_PTB);
    for (int t0 = 0; t0 < n; t0 += tchunk) {
        const int t1 = t0 + tchunk < n ? t0 + tchunk : n;
        if (t1 - t0 >= I8K_PMIN(dt)) {
            i8k_prefill(dt, W, X, Y, r0, r1, t0, t1);
            continue;
        }
        /* tokens [t0, t8) in 8-token tiles, then [t8, t4) in one 4-token tile, the rest in the decode tile */
        const int t8 = t0 + (t1 - t0) / I8K_TBMAX * I8K_TBMAX, t4 = t1 - t8 >= 4 ? t8 + 4 : t8;
        if (t4 > t0)
            for (int64_t r = r0; r < r1; r++) {
                for (int t = t0; t < t8; t += I8K_TBMAX) {
                    i8k_tile_tokens(dt, I8K_TBMAX, w0 + (size_t)r * rb, X, t, nb, out);
                    for (int j = 0; j < I8K_TBMAX; j++) Y[(int64_t)(t + j) * rows + r] = out[j];
                }
                if (t4 > t8) {
                    i8k_tile_tokens(dt, 4, w0 + (size_t)r * rb, X, t8, nb, out);
                    for (int j = 0; j < 4; j++) Y[(int64_t)(t8 + j) * rows + r] = out[j];
                }
            }
        /* the rest two tokens or one at a time, 4 rows per tile */
        for (int t = t4; t < t1; t += 2) {
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

static __attribute__((noinline)) void PFX(decode_q4_k)(const fr_tensor *W, const fr_qx *X, float *Y, int64_t r0,
                                                        int64_t r1) {
    i8k_decode(FR_DT_Q4_K, W, X, Y, r0, r1);
}
static void PFX(matmul_q_q4_k)(const fr_tensor *W, const fr_qx *X, float *Y, int64_t r0, int64_t r1) {
    if (X->n == 1) PFX(decode_q4_k)(W, X, Y, r0, r1);
    else i8k_body(FR_DT_Q4_K, W, X, Y, r0, r1);
}
static __attribute__((noinline)) void PFX(decode_q5_k)(const fr_tensor *W, const fr_qx *X, float *Y, int64_t r0,
                                                        int64_t r1) {
    i8k_decode(FR_DT_Q5_K, W, X, Y, r0, r1);
}
static void PFX(matmul_q_q5_k)(const fr_tensor *W, const fr_qx *X, float *Y, int64_t r0, int64_t r1) {
    if (X->n == 1) PFX(decode_q5_k)(W, X, Y, r0, r1);
    else i8k_body(FR_DT_Q5_K, W, X, Y, r0, r1);
}
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
