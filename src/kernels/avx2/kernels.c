/* AVX2 + FMA + F16C kernels: 8 floats per vector. Compiled with -mavx2 -mfma
 * -mf16c (CMakeLists.txt); used only when the CPU and OS support them. */
#if defined(__x86_64__)
#include <immintrin.h>

#define ISA_NAME "avx2"
#define VW 8
#define V __m256
#define PFX(x) fr_avx2_##x
#define VZERO() _mm256_setzero_ps()
#define VSET1(f) _mm256_set1_ps(f)
#define VLOADU(p) _mm256_loadu_ps(p)
#define VSTOREU(p, v) _mm256_storeu_ps(p, v)
#define VADD(a, b) _mm256_add_ps(a, b)
#define VMUL(a, b) _mm256_mul_ps(a, b)
#define VFMA(a, b, c) _mm256_fmadd_ps(a, b, c)

static inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
#define VHSUM(v) hsum8(v)

static inline __m256 ld_f16(const unsigned char *p) {
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)p));
}
static inline __m256 ld_bf16(const unsigned char *p) {
    __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(const void *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}
/* e4m3fn through float16 as in the AVX-512 file: 16 weights -> lo, hi (times 2^-8) */
#define LD2_E4M3(p, lo, hi)                                                                          \
    do {                                                                                             \
        __m128i b_ = _mm_loadu_si128((const __m128i *)(const void *)(p));                            \
        __m256i w_ = _mm256_cvtepu8_epi16(b_);                                                       \
        __m256i t_ = _mm256_slli_epi16(w_, 7);                                                       \
        __m256i h_ = _mm256_add_epi16(t_, _mm256_and_si256(t_, _mm256_set1_epi16(0x4000)));          \
        (lo) = _mm256_cvtph_ps(_mm256_castsi256_si128(h_));                                          \
        (hi) = _mm256_cvtph_ps(_mm256_extracti128_si256(h_, 1));                                     \
        __m128i n_ = _mm_cmpeq_epi8(_mm_and_si128(b_, _mm_set1_epi8(0x7f)), _mm_set1_epi8(0x7f));    \
        if (_mm_movemask_epi8(n_)) {                                                                 \
            __m256 q_ = _mm256_set1_ps(__builtin_nanf(""));                                          \
            (lo) = _mm256_blendv_ps((lo), q_, _mm256_castsi256_ps(_mm256_cvtepi8_epi32(n_)));        \
            (hi) = _mm256_blendv_ps((hi), q_, _mm256_castsi256_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(n_, 8)))); \
        }                                                                                            \
    } while (0)
#define LD2_BF16_EO(p, ev, od)                                                             \
    do {                                                                                   \
        __m256i v_ = _mm256_loadu_si256((const __m256i *)(const void *)(p));               \
        (ev) = _mm256_castsi256_ps(_mm256_slli_epi32(v_, 16));                             \
        (od) = _mm256_castsi256_ps(_mm256_and_si256(v_, _mm256_set1_epi32((int)0xffff0000u))); \
    } while (0)
#define LD_F16(p) ld_f16(p)
/* VW int8 at p as float32 */
#define LD_I8(p) _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(p))))
#define LD_BF16(p) ld_bf16(p)

/* 16 vector registers: fr_dots 4 x 3 tiles, fr_wsum 4 rows x 2 vectors (simd_template.h). On the
 * Zen 3 VM, 16 heads x 64 rows x 512 (a decode block), lane FMAs a cycle: dots 4 x 4 6.6 (spilled),
 * 4 x 2 9.4, 4 x 3 10.5-10.8; wsum 8 rows x 1 vector 8.0, 2 x 4 8.0, 4 x 2 13.2, 4 x 3 13.0-13.5 */
#define TBMAX 3 /* the float tiles: 4 x 3 sums (4 x 6 spilled) */
#define DOTS_NB 3
#define WSUM_MA 4
#define WSUM_CV 2

#include "kernels/avx2/quant.h"
#include "kernels/avx2/int8_q0.h"
#include "kernels/avx2/int8_k.h"
#include "kernels/avx2/int8_x.h"
#include "kernels/avx2/quant_act.h"
#include "kernels/avx2/exp.h"
#include "kernels/generic/generic.h"
#include "kernels/avx2/attn_i8.h"
#define INT8_MATMUL_ENTRIES INT8_Q0_ENTRIES INT8_K_ENTRIES INT8_X_ENTRIES
#define DECODE_E4M3_H "kernels/avx2/decode_e4m3.h"
#include "kernels/simd_template.h"
#else
typedef int fr_avx2_unused;
#endif
