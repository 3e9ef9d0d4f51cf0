/* The arithmetic ceiling of one core: how many vdpbf16ps (32 bfloat16
 * multiply-adds), vpdpbusd (64 int8 multiply-adds) and vfmadd231ps (16 float
 * multiply-adds) zmm instructions it retires per second, 12 independent
 * accumulators each (more than latency x ports on current cores), in CPU time:
 *   gcc -O2 -mavx512f -mavx512bf16 -mavx512vnni bench/peak_bench.c -o /tmp/pk && /tmp/pk
 * The kernels' rates (bench/attn_bench.c, bench/int8_bench.c) divided by these
 * say how close to the machine they run. Needs AVX512-BF16 and VNNI. */
#define _POSIX_C_SOURCE 200809L
#include <immintrin.h>
#include <stdio.h>
#include <time.h>

static double cpu(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

#define R12(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#define N 100000000L

int main(void) {
#define DECL(i) __m512 f##i = _mm512_set1_ps((float)(i)); __m512i q##i = _mm512_set1_epi32(i);
    R12(DECL)
    __m512bh x = (__m512bh)_mm512_set1_epi16(0x3f80), y = (__m512bh)_mm512_set1_epi16(0x3f81);
    __m512i xi = _mm512_set1_epi8(3), yi = _mm512_set1_epi8(5);
    __m512 xf = _mm512_set1_ps(1e-9f);
    /* the empty asm keeps each loop's operand live, so no iteration is folded away */
#define DP(i) f##i = _mm512_dpbf16_ps(f##i, x, y);
#define DI(i) q##i = _mm512_dpbusd_epi32(q##i, xi, yi);
#define FM(i) f##i = _mm512_fmadd_ps(f##i, xf, f##i);
    double t0 = cpu();
    for (long n = 0; n < N; n++) { R12(DP) __asm__ volatile("" : "+v"(x)); }
    double t1 = cpu();
    for (long n = 0; n < N; n++) { R12(DI) __asm__ volatile("" : "+v"(xi)); }
    double t2 = cpu();
    for (long n = 0; n < N; n++) { R12(FM) __asm__ volatile("" : "+v"(xf)); }
    double t3 = cpu();
    float s = 0;
#define SUM(i) s += _mm512_reduce_add_ps(f##i) + (float)_mm512_reduce_add_epi32(q##i);
    R12(SUM)
    const double g = 12.0 * N / 1e9;
    printf("per core: vdpbf16ps %.2f G/s (%.0f G bf16 MAC/s), vpdpbusd %.2f G/s (%.0f G int8 MAC/s), "
           "vfmadd231ps %.2f G/s (%.0f G float MAC/s)  [%g]\n",
           g / (t1 - t0), 32 * g / (t1 - t0), g / (t2 - t1), 64 * g / (t2 - t1), g / (t3 - t2), 16 * g / (t3 - t2),
           (double)s);
    return 0;
}
