/* CPU features, read once with cpuid/xgetbv (x86-64; all zero elsewhere). */
#ifndef FR_CPU_H
#define FR_CPU_H

typedef struct fr_cpu {
    int avx2, fma, f16c;                     /* with OS support for ymm state */
    int avx512f, avx512bw, avx512vl, avx512vnni, avx512bf16, avx512vbmi, avx512bitalg, gfni; /* with zmm/opmask state */
    int amx_tile, amx_int8, amx_bf16;        /* cpuid bits; usable only when amx_ok */
    int amx_ok;                              /* OS granted the tile state (Linux arch_prctl) */
    int amd;                                 /* vendor "AuthenticAMD" (cpuid leaf 0) */
} fr_cpu;

/* The features of this machine (computed on first call, thread-safe). */
const fr_cpu *fr_cpu_get(void);
/* "avx2 fma f16c avx512f ..." */
void fr_cpu_describe(char *buf, int size);

#endif
