/* AVX-512 (F, BW, VL) kernels: 16 floats per vector. Compiled with -mavx512*
 * (CMakeLists.txt); used only when the CPU and OS support them (dispatch.c). */
#if defined(__x86_64__)
#include <immintrin.h>

#define ISA_NAME "avx512"
#define VW 16
#define V __m512
#define PFX(x) fr_avx512_##x
#define VZERO() _mm512_setzero_ps()
#define VSET1(f) _mm512_set1_ps(f)
#define VLOADU(p) _mm512_loadu_ps(p)
#define VSTOREU(p, v) _mm512_storeu_ps(p, v)
#define VADD(a, b) _mm512_add_ps(a, b)
#define VMUL(a, b) _mm512_mul_ps(a, b)
#define VFMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define VHSUM(v) _mm512_reduce_add_ps(v)

static inline __m512 ld_f16(const unsigned char *p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)p));
}
static inline __m512 ld_bf16(const unsigned char *p) {
    __m512i v = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(const void *)p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
}
/* e4m3fn: the byte's exponent and mantissa bits placed at float bits 20..26
 * read as a float with bias 127 instead of 7, so times 2^120 (exact, also for
 * subnormals); S.1111.111 is NaN. */
static inline __m512 ld_e4m3(const unsigned char *p) {
    __m512i b = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(const void *)p));
    __m512i mag = _mm512_and_si512(b, _mm512_set1_epi32(0x7f));
    __m512i bits = _mm512_or_si512(_mm512_slli_epi32(mag, 20), _mm512_slli_epi32(_mm512_and_si512(b, _mm512_set1_epi32(0x80)), 24));
    __m512 v = _mm512_mul_ps(_mm512_castsi512_ps(bits), _mm512_set1_ps(0x1p120f));
    __mmask16 nan = _mm512_cmpeq_epi32_mask(mag, _mm512_set1_epi32(0x7f));
    return _mm512_mask_blend_ps(nan, v, _mm512_set1_ps(__builtin_nanf("")));
}
#define LD_F16(p) ld_f16(p)
#define LD_BF16(p) ld_bf16(p)
#define LD_E4M3(p) ld_e4m3(p)

#include "kernels/simd_template.h"
#else
typedef int fr_avx512_unused;
#endif
