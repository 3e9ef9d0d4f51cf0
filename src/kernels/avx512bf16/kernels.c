/* The AVX-512 kernels compiled a third time with VNNI, BF16, VBMI and GFNI: the
 * "avx512bf16" table, used when the CPU has them all. Adds the not-exact FP8
 * kernels (avx512/dpbf16.h: activations rounded to bfloat16, e4m3 widened to
 * bfloat16 by a vpermi2b table, products on vdpbf16ps); everything else is the
 * avx512vnni code. */
#define FR_VNNI 1
#define FR_BF16 1
#include "kernels/avx512/kernels.c"
