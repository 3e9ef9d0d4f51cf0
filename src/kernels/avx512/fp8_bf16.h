/* FP8 (e4m3fn) decode on AVX512-BF16 + VBMI, the not-exact path (included by
 * avx512/kernels.c when FR_BF16: the "avx512bf16" table).
 *
 * The exact kernel (decode_e4m3 in simd_template.h) widens each weight to
 * float32 and is arithmetic-bound at ~12 G weights/s per thread, below the
 * memory stream. Here:
 *   - every e4m3 value is exactly a bfloat16 (3 mantissa bits, exponents
 *     2^-9..2^8), so a weight widens by a 128-entry table lookup (vpermi2b on
 *     the low 7 bits: one lookup for the high byte, one for the low byte; the
 *     sign bit is or-ed into the high byte); S.1111.111 (NaN) maps to NaN;
 *   - x is rounded once per call to bfloat16 (to nearest even), the precision
 *     of the official DeepSeek-V3 inference, which runs its linear layers on
 *     bfloat16 activations (or coarser: FP8 ones for its FP8 GEMM);
 *   - vdpbf16ps multiplies bfloat16 pairs exactly and sums them in float32.
 * So y = sum_c w_c bf16(x_c), summed in float32 per 128-column block, then
 * times the block's scale: error <= 2^-9 sum|w x| plus float32 summation
 * (test_kernels: the error bound, every code exactly, NaN). Measured on the
 * 27-layer V2-Lite FP8 model, 2 threads: tg 12.8 t/s with x as two bfloat16s
 * (x = xh + xl, error 2^-18: the kernel was arithmetic-bound at ~24 G
 * weights/s per thread), 14.3-14.8 t/s with one. --exact keeps float32.
 * The interleave of the two table bytes (unpacklo/hi_epi8) puts weights in the
 * order of the permutation in fp8f_x below; x is stored permuted the same way,
 * so each pair meets its own activation.
 *
 *   W [rows, cols] e4m3 bytes, scale [rows/128][cols/128]; x [cols]; Y[r] for r in [r0, r1). */

#include <stdint.h>
#include <string.h>

#include "tensor/tensor.h"

#define FP8F_MAXC 32768 /* x as bfloat16 on the stack: 64 KiB */

/* bf16 bits of the e4m3 magnitude m (0..127) */
static inline unsigned fp8f_bf16_bits(unsigned m) {
    float f = fr_e4m3_to_f32((uint8_t)m);
    uint32_t u;
    memcpy(&u, &f, 4);
    return u >> 16; /* exact: 3 mantissa bits */
}

/* x[0..cols) -> bf16(x) in the weights' order: per 64 columns, 32 values for
 * the low-interleave register (columns 0-7, 16-23, 32-39, 48-55), then 32 for
 * the high one (8-15, 24-31, 40-47, 56-63). cols a multiple of 64. */
static void fp8f_x(const float *x, int64_t cols, uint16_t *xh) {
    const __m512i i0 = _mm512_set_epi16(55, 54, 53, 52, 51, 50, 49, 48, 39, 38, 37, 36, 35, 34, 33, 32, 23, 22, 21,
                                        20, 19, 18, 17, 16, 7, 6, 5, 4, 3, 2, 1, 0);
    const __m512i i1 = _mm512_add_epi16(i0, _mm512_set1_epi16(8));
    for (int64_t c = 0; c < cols; c += 64) {
        /* natural order: a = columns 0-31, b = 32-63 (cvtne2ps: the high half from the first operand) */
        const __m512i a = (__m512i)_mm512_cvtne2ps_pbh(_mm512_loadu_ps(x + c + 16), _mm512_loadu_ps(x + c));
        const __m512i b = (__m512i)_mm512_cvtne2ps_pbh(_mm512_loadu_ps(x + c + 48), _mm512_loadu_ps(x + c + 32));
        /* index bit 5 selects b: columns 32-63 */
        _mm512_storeu_si512(xh + c, _mm512_permutex2var_epi16(a, i0, b));
        _mm512_storeu_si512(xh + c + 32, _mm512_permutex2var_epi16(a, i1, b));
    }
}

static void fp8f_decode(const fr_tensor *W, const float *x, float *Y, int64_t r0, int64_t r1) {
    const int64_t cols = fr_cols(W), nb = (cols + FR_FP8_BLOCK - 1) / FR_FP8_BLOCK;
    uint16_t xh[FP8F_MAXC] __attribute__((aligned(64)));
    fp8f_x(x, cols, xh);
    /* the table: high and low bytes of bf16(e4m3 m), m = 0..127 in two registers each */
    uint8_t th[128], tl[128];
    for (unsigned m = 0; m < 128; m++) {
        unsigned b = fp8f_bf16_bits(m);
        th[m] = (uint8_t)(b >> 8);
        tl[m] = (uint8_t)b;
    }
    const __m512i th0 = _mm512_loadu_si512(th), th1 = _mm512_loadu_si512(th + 64);
    const __m512i tl0 = _mm512_loadu_si512(tl), tl1 = _mm512_loadu_si512(tl + 64);
    const __m512i sign = _mm512_set1_epi8((char)0x80);
    for (int64_t r = r0; r < r1; r++) {
        const unsigned char *w = (const unsigned char *)W->data + r * cols;
        const float *sr = W->scale + (r / FR_FP8_BLOCK) * nb;
        __m512 acc = _mm512_setzero_ps();
        for (int64_t b0 = 0; b0 < cols; b0 += FR_FP8_BLOCK) {
            const int64_t b1 = b0 + FR_FP8_BLOCK < cols ? b0 + FR_FP8_BLOCK : cols;
            __m512 s0 = _mm512_setzero_ps(), s1 = s0;
            for (int64_t c = b0; c < b1; c += 64) {
                const __m512i b = _mm512_loadu_si512(w + c);
                __m512i hi = _mm512_permutex2var_epi8(th0, b, th1);
                const __m512i lo = _mm512_permutex2var_epi8(tl0, b, tl1);
                hi = _mm512_ternarylogic_epi32(hi, b, sign, 0xF8); /* hi | (b & 0x80) */
                const __m512bh e0 = (__m512bh)_mm512_unpacklo_epi8(lo, hi);
                const __m512bh e1 = (__m512bh)_mm512_unpackhi_epi8(lo, hi);
                s0 = _mm512_dpbf16_ps(s0, e0, (__m512bh)_mm512_load_si512(xh + c));
                s1 = _mm512_dpbf16_ps(s1, e1, (__m512bh)_mm512_load_si512(xh + c + 32));
            }
            acc = _mm512_fmadd_ps(_mm512_add_ps(s0, s1),
                                  _mm512_set1_ps(sr[b0 / FR_FP8_BLOCK]), acc);
        }
        Y[r] = _mm512_reduce_add_ps(acc);
    }
}

/* One token, cols a multiple of 64 and at most FP8F_MAXC: the kernel above;
 * otherwise the exact one. */
static void PFX(matmul_e4m3_fast)(const fr_tensor *W, const float *X, float *Y, int n, int64_t r0, int64_t r1) {
    if (n == 1 && fr_cols(W) % 64 == 0 && fr_cols(W) <= FP8F_MAXC) fp8f_decode(W, X, Y, r0, r1);
    else PFX(matmul_e4m3)(W, X, Y, n, r0, r1);
}
#define FAST_MATMUL_ENTRIES [FR_DT_F8_E4M3] = PFX(matmul_e4m3_fast),
