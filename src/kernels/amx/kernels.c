/* The avx512bf16 kernels compiled a fourth time with FR_AMX: the "amx" table,
 * used when the CPU has AMX-TILE and AMX-INT8, the OS granted the tile state
 * (base/cpu.c), and the table passed dispatch.c's check at start-up. What
 * differs: the integer prefill panels (avx512/int8_k.h, int8_q0.h), whose sums
 * come from tdpbsud on tiles (avx512/amx.h) instead of vpdpbusd, with the
 * same float steps, so their outputs are the avx512bf16 table's bit for bit;
 * BF16 and FP8 prefill (avx512/amx_bf16.h) and the attention over a bfloat16
 * cache (avx512/attn_amx.h) on tdpbf16ps, the same products summed in
 * another float32 order. */
#define FR_AMX 1
#include "kernels/avx512bf16/kernels.c"
