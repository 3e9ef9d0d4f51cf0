/* ggml's block quantization formats, dequantized exactly as ggml defines them.
 *
 * Block layouts (little-endian, "f16" = IEEE half; 32-element blocks unless noted):
 *   Q4_0   f16 d; u8 qs[16]                 x = (nibble - 8) * d
 *   Q4_1   f16 d, m; u8 qs[16]              x = nibble * d + m
 *   Q5_0   f16 d; u8 qh[4]; u8 qs[16]       x = ((nibble | hbit << 4) - 16) * d
 *   Q5_1   f16 d, m; u8 qh[4]; u8 qs[16]    x = (nibble | hbit << 4) * d + m
 *   Q8_0   f16 d; i8 qs[32]                 x = q * d
 *   IQ4_NL f16 d; u8 qs[16]                 x = d * kvalues_iq4nl[nibble]
 *   MXFP4  u8 e (E8M0); u8 qs[16]           x = kvalues_mxfp4[nibble] * 2^(e - 128)
 *   (in all of these, byte j holds element j in its low nibble and element j + 16 in its high one)
 * 256-element super-blocks:
 *   Q2_K   u8 scales[16]; u8 qs[64]; f16 d, dmin
 *   Q3_K   u8 hmask[32]; u8 qs[64]; u8 scales[12]; f16 d
 *   Q4_K   f16 d, dmin; u8 scales[12]; u8 qs[128]
 *   Q5_K   f16 d, dmin; u8 scales[12]; u8 qh[32]; u8 qs[128]
 *   Q6_K   u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d
 *   IQ4_XS f16 d; u16 scales_h; u8 scales_l[4]; u8 qs[128]
 * (details beside each decoder in ggml_quants.c) */
#ifndef FR_GGML_QUANTS_H
#define FR_GGML_QUANTS_H

#include <stdint.h>

#include "tensor/tensor.h"

/* The 16 levels of IQ4_NL/IQ4_XS nibbles, and of MXFP4's (E2M1 times two; the
 * block scale carries the factor 1/2). Defined here, not extern, so that the
 * SIMD kernels' table loads fold to constants. */
static const int8_t fr_kvalues_iq4nl[16] __attribute__((unused)) = {-127, -104, -83, -65, -49, -35, -22, -10,
                                                                      1,    13,   25,  38,  53,  69,  89,  113};
static const int8_t fr_kvalues_mxfp4[16] __attribute__((unused)) = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};

/* MXFP4's block scale for its doubled levels: 2^(e - 127) / 2 = 2^(e - 128),
 * exactly (the float bits: subnormal 0x00200000 << e for e < 2) */
static inline float fr_e8m0_half(uint8_t e) {
    const uint32_t bits = e < 2 ? 0x00200000u << e : (uint32_t)(e - 1) << 23;
    float f;
    __builtin_memcpy(&f, &bits, 4);
    return f;
}

/* dst[0..n) = the n elements (a multiple of the block size) starting at src. */
void fr_ggml_dequant(fr_dtype t, const void *src, float *dst, int64_t n);

/* ggml type id -> dtype; -1 when frugal has no decoder for it. */
int fr_dtype_from_ggml(uint32_t ggml_type);

#endif

#ifndef FR_GGML_QUANTIZE_DECL
#define FR_GGML_QUANTIZE_DECL
/* Quantize n floats (a multiple of the block size) into dst in format t (any
 * weight dtype except FP8). Simple round-to-nearest encoders: the blocks are
 * valid ggml blocks (dequantized by any ggml build), not bit-identical to
 * llama-quantize's search-based choices. Returns -1 for a type with no encoder. */
int fr_ggml_quantize(fr_dtype t, const float *x, void *dst, int64_t n);
#endif
