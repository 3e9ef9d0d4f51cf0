#define _DEFAULT_SOURCE /* syscall() */
/* cpuid leaf 7 for the ISA extensions, xgetbv for what the OS saves on a
 * context switch: an instruction set is usable only when both agree. AMX also
 * needs permission per process on Linux (arch_prctl ARCH_REQ_XCOMP_PERM). */
#include "base/cpu.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#ifdef __linux__
#include <sys/syscall.h>
#include <unistd.h>
#endif

static unsigned long long xgetbv0(void) {
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}

static int amx_request(void) {
#ifdef __linux__
    /* ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18 */
    return syscall(SYS_arch_prctl, 0x1023, 18) == 0;
#else
    return 0;
#endif
}

static void detect(fr_cpu *c) {
    unsigned a, b, cx, d;
    if (!__get_cpuid(0, &a, &b, &cx, &d)) return;
    c->amd = b == 0x68747541u && d == 0x69746e65u && cx == 0x444d4163u; /* "Auth" "enti" "cAMD" */
    if (!__get_cpuid(1, &a, &b, &cx, &d)) return;
    int osxsave = (cx >> 27) & 1, avx = (cx >> 28) & 1, fma = (cx >> 12) & 1, f16c = (cx >> 29) & 1;
    if (!osxsave || !avx) return;
    unsigned long long xcr0 = xgetbv0();
    int ymm = (xcr0 & 0x6) == 0x6, zmm = (xcr0 & 0xe6) == 0xe6, tiles = (xcr0 & 0x60000) == 0x60000;
    if (!ymm) return;
    unsigned max = __get_cpuid_max(0, NULL);
    if (max < 7) return;
    __cpuid_count(7, 0, a, b, cx, d);
    c->avx2 = (b >> 5) & 1;
    c->fma = fma;
    c->f16c = f16c;
    if (zmm) {
        c->avx512f = (b >> 16) & 1;
        c->avx512bw = (b >> 30) & 1;
        c->avx512vl = (b >> 31) & 1;
        c->avx512vnni = (cx >> 11) & 1;
        c->avx512vbmi = (cx >> 1) & 1;
        c->avx512bitalg = (cx >> 12) & 1;
        c->gfni = (cx >> 8) & 1; /* on zmm with avx512f */
    }
    c->amx_bf16 = (d >> 22) & 1;
    c->amx_tile = (d >> 24) & 1;
    c->amx_int8 = (d >> 25) & 1;
    unsigned a1, b1, c1, d1;
    __cpuid_count(7, 1, a1, b1, c1, d1);
    if (zmm) c->avx512bf16 = (a1 >> 5) & 1;
    (void)b1; (void)c1; (void)d1;
    if (c->amx_tile && amx_request()) c->amx_ok = tiles || (xgetbv0() & 0x60000) == 0x60000;
}
#else
static void detect(fr_cpu *c) { (void)c; }
#endif

static fr_cpu g_cpu;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static void init(void) { detect(&g_cpu); }

const fr_cpu *fr_cpu_get(void) {
    pthread_once(&g_once, init);
    return &g_cpu;
}

void fr_cpu_describe(char *buf, int size) {
    const fr_cpu *c = fr_cpu_get();
    const struct { int on; const char *name; } f[] = {
        {c->avx2, "avx2"}, {c->fma, "fma"}, {c->f16c, "f16c"}, {c->avx512f, "avx512f"},
        {c->avx512bw, "avx512bw"}, {c->avx512vl, "avx512vl"}, {c->avx512vnni, "avx512vnni"},
        {c->avx512vbmi, "avx512vbmi"}, {c->avx512bitalg, "avx512bitalg"}, {c->gfni, "gfni"},
        {c->avx512bf16, "avx512bf16"}, {c->amx_tile && c->amx_ok, "amx-tile"},
        {c->amx_int8 && c->amx_ok, "amx-int8"}, {c->amx_bf16 && c->amx_ok, "amx-bf16"},
    };
    int n = 0;
    if (size > 0) buf[0] = 0;
    for (size_t i = 0; i < sizeof f / sizeof *f; i++)
        if (f[i].on && n < size) n += snprintf(buf + n, (size_t)(size - n), "%s%s", n ? " " : "", f[i].name);
}
