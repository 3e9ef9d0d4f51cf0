/* The "amx" table with its tile instructions emulated in C (FR_AMX_EMU,
 * avx512/amx.h): the "amxemu" table. Never chosen automatically; the tests
 * run it against the avx512bf16 table on machines without AMX, so the code of
 * the AMX panels is checked everywhere. Slow: one scalar loop per tdpbsud. */
#define FR_AMX_EMU 1
#include "kernels/amx/kernels.c"
