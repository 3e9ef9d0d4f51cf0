/* The blocks of 32 of the integer path, as avx2/int8_q0.h and avx512/int8_q0.h
 * read them (AVX2 + F16C intrinsics only; included after Q0AI and PFX are
 * defined). Q8_0, Q4_0, Q5_0, and the other types, which are Q8_0 blocks once
 * unpacked:
 *   IQ4_NL  f16 d | qs[16]          w = kv[nibble], iq4nl's 16 int8 levels
 *   MXFP4   u8 e | qs[16]           w = kv[nibble], E2M1 levels x 2, scale 2^(e - 128)
 *   Q4_1    f16 d | f16 m | qs[16]  w = d u + m, u the nibble (q0_min)
 *   Q5_1    f16 d | f16 m | qh[4] | qs[16], u the 5-bit value
 * (tensor/ggml_quants.h). How each ISA multiplies them (offsets or signs):
 * its q0_unpack, q0_c. */
#ifndef FR_INT8_Q0_BLOCKS_H
#define FR_INT8_Q0_BLOCKS_H

#include "tensor/ggml_quants.h"

/* bytes per block */
static Q0AI int64_t q0_bb(const int dt) {
    return dt == FR_DT_Q8_0 ? 34 : dt == FR_DT_Q5_0 ? 22 : dt == FR_DT_Q5_1 ? 24 : dt == FR_DT_Q4_1 ? 20
         : dt == FR_DT_MXFP4 ? 17 : 18;
}

/* Q4_1 and Q5_1: the block's sum is (d d_x) T + (m d_x) S, the second term
 * from the activations' sum S (q0_s) */
static Q0AI int q0_min(const int dt) { return dt == FR_DT_Q4_1 || dt == FR_DT_Q5_1; }

/* token t's sum S over block b */
static Q0AI int q0_s(const fr_qx *X, int64_t t, int64_t b) {
    const int16_t *s = X->s + t * (X->cols / 16) + 2 * b;
    return s[0] + s[1];
}

/* The blocks' scales from their first two bytes h (the f16 d; MXFP4: the low
 * byte is e, the scale fr_e8m0_half(e): (e - 1) << 23 as float bits, or the
 * subnormal 0x00200000 << e for e < 2) */
static Q0AI __m256 q0_d8(const int dt, const uint16_t *h) {
    const __m128i v = _mm_loadu_si128((const __m128i *)(const void *)h);
    if (dt != FR_DT_MXFP4) return _mm256_cvtph_ps(v);
    const __m256i e = _mm256_and_si256(_mm256_cvtepu16_epi32(v), _mm256_set1_epi32(0xff));
    const __m256i big = _mm256_slli_epi32(_mm256_sub_epi32(e, _mm256_set1_epi32(1)), 23);
    const __m256i small = _mm256_sllv_epi32(_mm256_set1_epi32(0x00200000), e);
    const __m256i lt2 = _mm256_cmpgt_epi32(_mm256_set1_epi32(2), e);
    return _mm256_castsi256_ps(_mm256_blendv_epi8(big, small, lt2));
}
static Q0AI float q0_d1(const int dt, uint16_t h) {
    return dt == FR_DT_MXFP4 ? fr_e8m0_half((uint8_t)h) : _cvtsh_ss(h);
}

/* MXFP4's levels (dt), else iq4nl's (IQ4_NL, IQ4_XS), as 16 bytes; + 128
 * (unsigned, for vpdpbusd) when plus128 */
static Q0AI __m128i fr_levels16(const int dt, const int plus128) {
    const __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(dt == FR_DT_MXFP4 ? fr_kvalues_mxfp4
                                                                                         : fr_kvalues_iq4nl));
    return plus128 ? _mm_xor_si128(v, _mm_set1_epi8((char)0x80)) : v;
}

/* The 32 nibbles of the block at p (not Q8_0) as bytes in element order, lane
 * 0 = elements 0..15 (the low nibbles), lane 1 = 16..31; IQ4_NL and MXFP4
 * looked up to their levels (+ 128 when plus128); Q5_0/Q5_1 without their
 * 5th bit */
static Q0AI __m256i q0_nibbles(const int dt, const uint8_t *p, const int plus128) {
    const uint8_t *qs =
        p + (dt == FR_DT_Q5_0 ? 6 : dt == FR_DT_MXFP4 ? 1 : dt == FR_DT_Q4_1 ? 4 : dt == FR_DT_Q5_1 ? 8 : 2);
    /* qs in both lanes; lane 0 keeps the low nibbles, lane 1 the high ones */
    __m256i v = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(const void *)qs));
    v = _mm256_and_si256(_mm256_srlv_epi64(v, _mm256_setr_epi64x(0, 0, 4, 4)), _mm256_set1_epi8(15));
    if (dt == FR_DT_MXFP4 || dt == FR_DT_IQ4_NL)
        v = _mm256_shuffle_epi8(_mm256_broadcastsi128_si256(fr_levels16(dt, plus128)), v);
    return v;
}

/* the table entry of one block-of-32 type */
#define Q0_FN(name, DT)                                                                                        \
    static void PFX(matmul_q_##name)(const fr_tensor *W, const fr_qx *X, float *Y, int64_t r0, int64_t r1) { \
        q0_body(DT, W, X, Y, r0, r1);                                                                          \
    }
#define INT8_Q0_FNS                                                                                            \
    Q0_FN(q8_0, FR_DT_Q8_0)                                                                                    \
    Q0_FN(q4_0, FR_DT_Q4_0)                                                                                    \
    Q0_FN(q5_0, FR_DT_Q5_0)                                                                                    \
    Q0_FN(iq4_nl, FR_DT_IQ4_NL)                                                                                \
    Q0_FN(mxfp4, FR_DT_MXFP4)                                                                                  \
    Q0_FN(q4_1, FR_DT_Q4_1)                                                                                    \
    Q0_FN(q5_1, FR_DT_Q5_1)
#define INT8_Q0_ENTRIES                                                                                        \
    [FR_DT_Q8_0] = PFX(matmul_q_q8_0), [FR_DT_Q4_0] = PFX(matmul_q_q4_0), [FR_DT_Q5_0] = PFX(matmul_q_q5_0),   \
    [FR_DT_IQ4_NL] = PFX(matmul_q_iq4_nl), [FR_DT_MXFP4] = PFX(matmul_q_mxfp4), [FR_DT_Q4_1] = PFX(matmul_q_q4_1), \
    [FR_DT_Q5_1] = PFX(matmul_q_q5_1),

#endif
