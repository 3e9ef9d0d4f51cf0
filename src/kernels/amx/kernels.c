/* The avx512bf16 kernels compiled a fourth time with FR_AMX: the "amx" table,
 * used when the CPU has AMX-TILE and AMX-INT8, the OS granted the tile state
 * (base/cpu.c), and the table passed dispatch.c's check at start-up. Only the
 * integer prefill panels differ (avx512/int8_k.h, int8_q0.h): their sums
 * come from tdpbsud on tiles (avx512/amx.h) instead of vpdpbusd, with the
 * same float steps, so the outputs are the avx512bf16 table's bit for bit. */
#define FR_AMX 1
#include "kernels/avx512bf16/kernels.c"
