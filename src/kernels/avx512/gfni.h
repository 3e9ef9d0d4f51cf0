#ifndef FR_AVX512_GFNI_H
#define FR_AVX512_GFNI_H

#include <immintrin.h>

#define GF_AI __attribute__((always_inline)) inline

/* Bit moves within each byte by vgf2p8affineqb (GFNI; the tables of FR_BF16:
 * avx512/int8_k.h, avx512/q0_row_vbmi.h). Output bit i is the parity of the
 * input byte ANDed with byte 7 - i of the qword's matrix, so a matrix with one
 * bit per row moves bits, and an empty row clears one; a vector of matrices
 * moves bits differently per qword. One instruction where a shift across the
 * word and an AND take two (Q6_K's qh bits: three). On the Xeon of
 * bench/RESULTS.md Run 27, 8 independent chains of it ran 4.9 per ns, of
 * vpmaddubsw 3.4, of vpshufb 2.2. */
static GF_AI __m512i gf_hi(void) { return _mm512_set1_epi64(0x1020408000000000LL); } /* x >> 4 */
static GF_AI __m512i gf_lohi(void) { /* lower 256 bits x & 15, upper x >> 4 */
    return _mm512_set_epi64(0x1020408000000000LL, 0x1020408000000000LL, 0x1020408000000000LL, 0x1020408000000000LL,
                            0x0102040800000000LL, 0x0102040800000000LL, 0x0102040800000000LL, 0x0102040800000000LL);
}
static GF_AI __m512i gf_qh01(void) { /* bits 0, 1 (lower 256 bits) or 2, 3 (upper) to bits 4, 5 */
    return _mm512_set_epi64(0x04080000, 0x04080000, 0x04080000, 0x04080000, 0x01020000, 0x01020000, 0x01020000,
                            0x01020000);
}
static GF_AI __m512i gf_qh45(void) { /* bits 4, 5 (lower 256 bits) or 6, 7 (upper) to bits 4, 5 */
    return _mm512_set_epi64(0x40800000, 0x40800000, 0x40800000, 0x40800000, 0x10200000, 0x10200000, 0x10200000,
                            0x10200000);
}

#endif
