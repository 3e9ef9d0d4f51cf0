/* AVX-512 (F, BW, VL) kernels: 16 floats per vector. Compiled with -mavx512*
 * (CMakeLists.txt); used only when the CPU and OS support them (dispatch.c).
 * avx512vnni/kernels.c compiles this file again with VNNI (FR_VNNI): the
 * "avx512vnni" table, whose integer kernels use vpdpbusd; avx512bf16/kernels.c
 * a third time with VNNI, BF16, VBMI and GFNI (FR_BF16): the "avx512bf16" table,
 * which adds the not-exact FP8 kernels on vdpbf16ps (avx512/dpbf16.h);
 * amx/kernels.c a fourth time with those and FR_AMX: the "amx" table, whose
 * integer prefill panels multiply on AMX tiles (avx512/amx.h), and
 * amxemu/kernels.c a fifth time with FR_AMX_EMU: the same with the tile
 * instructions emulated in C (tests, machines without AMX). */
#if defined(__x86_64__)
#include <immintrin.h>
#include <stdint.h>

#if defined(FR_AMX_EMU)
#define ISA_NAME "amxemu"
#define PFX(x) fr_amxemu_##x
#elif defined(FR_AMX)
#define ISA_NAME "amx"
#define PFX(x) fr_amx_##x
#elif defined(FR_BF16)
#define ISA_NAME "avx512bf16"
#define PFX(x) fr_avx512bf16_##x
#elif defined(FR_VNNI)
#define ISA_NAME "avx512vnni"
#define PFX(x) fr_avx512vnni_##x
#else
#define ISA_NAME "avx512"
#define PFX(x) fr_avx512_##x
#endif
#define VW 16
#define V __m512
#define VZERO() _mm512_setzero_ps()
#define VSET1(f) _mm512_set1_ps(f)
#define VLOADU(p) _mm512_loadu_ps(p)
#define VSTOREU(p, v) _mm512_storeu_ps(p, v)
#define VADD(a, b) _mm512_add_ps(a, b)
#define VMUL(a, b) _mm512_mul_ps(a, b)
#define VFMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define VHSUM(v) _mm512_reduce_add_ps(v)
/* the lanes of a 16-wide step with `left` elements still to do: all 16, the
 * first `left`, or none */
static inline __mmask16 fr_tail16(int64_t left) {
    return (__mmask16)(left >= 16 ? 0xffff : left > 0 ? (1u << left) - 1 : 0);
}
/* the 16 sums of r[0..16) in one vector: element e = sum of r[e]'s lanes */
static inline __m512 hsum16(const __m512 r[16]) {
    __m512 s[8], t[4], u[2];
    for (int i = 0; i < 8; i++) /* per 128-bit lane: [r2i 0+2, r2i+1 0+2, r2i 1+3, r2i+1 1+3] */
        s[i] = _mm512_add_ps(_mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]), _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]));
    for (int i = 0; i < 4; i++) { /* per lane: [r4i, r4i+1, r4i+2, r4i+3] (that lane's part) */
        const __m512d a = _mm512_castps_pd(s[2 * i]), b = _mm512_castps_pd(s[2 * i + 1]);
        t[i] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(a, b)), _mm512_castpd_ps(_mm512_unpackhi_pd(a, b)));
    }
    for (int i = 0; i < 2; i++) /* lanes 0+1, 2+3 of t2i, then of t2i+1 */
        u[i] = _mm512_add_ps(_mm512_shuffle_f32x4(t[2 * i], t[2 * i + 1], 0x88),
                             _mm512_shuffle_f32x4(t[2 * i], t[2 * i + 1], 0xDD));
    return _mm512_add_ps(_mm512_shuffle_f32x4(u[0], u[1], 0x88), _mm512_shuffle_f32x4(u[0], u[1], 0xDD));
}
#define VHSUM16(r, out) _mm512_storeu_ps(out, hsum16(r))

static inline __m512 ld_f16(const unsigned char *p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)p));
}
static inline __m512 ld_bf16(const unsigned char *p) {
    __m512i v = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(const void *)p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
}
/* e4m3fn -> float16 is a shift: S.EEEE.MMM becomes S.0EEEE.MMM0000000 (the
 * value times 2^-8, as float16 has bias 15 instead of 7; subnormals stay
 * exact). t = b << 7 puts the sign at bit 14; adding t & 0x4000 moves it to
 * bit 15. S.1111.111 is NaN. 32 weights -> lo, hi. */
#define LD2_E4M3(p, lo, hi)                                                                              \
    do {                                                                                                 \
        __m256i b_ = _mm256_loadu_si256((const __m256i *)(const void *)(p));                               \
        __m512i w_ = _mm512_cvtepu8_epi16(b_);                                                           \
        __m512i t_ = _mm512_slli_epi16(w_, 7);                                                           \
        __m512i h_ = _mm512_add_epi16(t_, _mm512_and_si512(t_, _mm512_set1_epi16(0x4000)));              \
        __mmask32 nan_ = _mm256_cmpeq_epi8_mask(_mm256_and_si256(b_, _mm256_set1_epi8(0x7f)), _mm256_set1_epi8(0x7f)); \
        (lo) = _mm512_cvtph_ps(_mm512_castsi512_si256(h_));                                              \
        (hi) = _mm512_cvtph_ps(_mm512_extracti64x4_epi64(h_, 1));                                        \
        if (nan_) {                                                                                      \
            (lo) = _mm512_mask_blend_ps((__mmask16)nan_, (lo), _mm512_set1_ps(__builtin_nanf("")));     \
            (hi) = _mm512_mask_blend_ps((__mmask16)(nan_ >> 16), (hi), _mm512_set1_ps(__builtin_nanf(""))); \
        }                                                                                                \
    } while (0)
#define LD2_BF16_EO(p, ev, od)                                                             \
    do {                                                                                   \
        __m512i v_ = _mm512_loadu_si512((const void *)(p));                                \
        (ev) = _mm512_castsi512_ps(_mm512_slli_epi32(v_, 16));                             \
        (od) = _mm512_castsi512_ps(_mm512_and_si512(v_, _mm512_set1_epi32((int)0xffff0000u))); \
    } while (0)
#define LD_F16(p) ld_f16(p)
/* VW int8 at p as float32 */
#define LD_I8(p) _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(const void *)(p))))
#define LD_BF16(p) ld_bf16(p)

#include "kernels/avx512/exp.h"
#define EXP_SHIFT_ENTRY PFX(exp_shift)
#define SILU_MUL_ENTRY PFX(silu_mul)
#define KDA_DECAY_DOTS_ENTRY PFX(kda_decay_dots)
#define KDA_DECAY_GATE_ENTRY PFX(kda_decay_gate)
#define SIGMOID_MUL_ENTRY PFX(sigmoid_mul)
#include "kernels/avx512/quant.h"
#include "kernels/avx512/int8.h"
#include "kernels/avx512/quant_act.h"
#define QX_ROWS_ENTRY PFX(qx_rows)
#ifdef FR_AMX
#include "kernels/avx512/amx.h"
#endif
#include "kernels/avx512/int8_q0.h"
#include "kernels/avx512/int8_k.h"
#ifdef FR_VNNI
#include "kernels/avx512/int8_x.h"
#else /* Q2_K, Q3_K, IQ4_XS without VNNI: the AVX2 kernels (ymm, vpmaddubsw) */
#include "kernels/avx2/int8_x.h"
#endif
#define INT8_MATMUL_ENTRIES INT8_Q0_ENTRIES INT8_K_ENTRIES INT8_X_ENTRIES
#ifdef FR_VNNI
#include "kernels/generic/generic.h"
#include "kernels/avx512/attn_i8.h"
#endif
#ifdef FR_BF16
static void PFX(matmul_e4m3)(const fr_tensor *W, const float *X, float *Y, int n, int64_t r0, int64_t r1);
static void PFX(matmul_bf16)(const fr_tensor *W, const float *X, float *Y, int n, int64_t r0, int64_t r1);
static void PFX(f32_bf16)(const float *x, uint16_t *dst, int64_t n);
#include "kernels/avx512/dpbf16.h"
#include "kernels/avx512/attn_bf16.h"
#ifdef FR_AMX
#include "kernels/avx512/attn_amx.h" /* the scores and values on tiles */
#endif
#endif
#define DECODE_LINES_H "kernels/avx512/decode_lines.h"
#include "kernels/simd_template.h"
#else
typedef int fr_avx512_unused;
#endif
