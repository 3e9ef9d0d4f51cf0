/* The AVX-512 kernels compiled again with VNNI (-mavx512vnni): the "avx512vnni"
 * table, used when the CPU has AVX512_VNNI. Only the integer kernels differ
 * (vpdpbusd instead of vpmaddubsw + vpmaddwd; avx512/int8.h). */
#define FR_VNNI 1
#include "kernels/avx512/kernels.c"
