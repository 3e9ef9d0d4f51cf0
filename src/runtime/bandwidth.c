/* Memory read bandwidth for the decode roofline (include/frugal.h
 * frugal_read_bandwidth): a 1 GiB buffer (far past the caches) split over the
 * threads, each summing its slice in 64-byte vectors with two sums, as the
 * fastest decode kernels read (whole cache lines, avx512/decode_lines.h). A
 * scalar loop of 8-byte loads measured 47-50 GB/s on the development VM where
 * 64-byte loads read 55-70 (bench/RESULTS.md Run 15), and a roofline on it
 * flattered every kernel. Compiled for AVX-512, AVX2 and plain x86-64
 * (bw_sum: the best the CPU has, picked at run time). The buffer asks for
 * transparent huge pages (madvise), as weights read with --no-mmap do: on the
 * development VM that read 3-20 % faster than 4 KiB pages, in alternation.
 * Used by `frugal bench` and bench/frugal_speed.c. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

#include "base/err.h"
#include "base/timer.h"
#include "frugal.h"

typedef uint64_t bw_vec __attribute__((vector_size(64), aligned(64)));

/* The sum of n 64-byte vectors at p into out. In a target_clones function the
 * AVX2 clone of this 64-byte vector loop went through the stack, 8 bytes at a
 * time: on a Zen 3 VM (AVX2, no AVX-512) it read 18 GB/s where the decode read
 * 30 (bench/RESULTS.md Run 33). So one function per ISA, each with its own
 * vector width (two 64-byte sums; four 32-byte; four 16-byte), and the best
 * the CPU has picked at run time. */
#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("avx512f"))) static void bw_sum512(const bw_vec *p, size_t n, bw_vec *out) {
    bw_vec s0 = {0}, s1 = {0};
    for (size_t i = 0; i + 2 <= n; i += 2) {
        s0 += p[i];
        s1 += p[i + 1];
    }
    *out = s0 + s1;
}
typedef uint64_t bw_vec32 __attribute__((vector_size(32), aligned(32)));
__attribute__((target("avx2"))) static void bw_sum256(const bw_vec *p, size_t n, bw_vec *out) {
    const bw_vec32 *q = (const bw_vec32 *)(const void *)p;
    bw_vec32 s0 = {0}, s1 = {0}, s2 = {0}, s3 = {0};
    for (size_t i = 0; i + 2 <= n; i += 2) { /* 128 bytes */
        s0 += q[2 * i];
        s1 += q[2 * i + 1];
        s2 += q[2 * i + 2];
        s3 += q[2 * i + 3];
    }
    const bw_vec32 s = (s0 + s1) + (s2 + s3);
    *out = (bw_vec){s[0], s[1], s[2], s[3], 0, 0, 0, 0};
}
#endif
static void bw_sum128(const bw_vec *p, size_t n, bw_vec *out) {
    typedef uint64_t v2 __attribute__((vector_size(16), aligned(16)));
    const v2 *q = (const v2 *)(const void *)p;
    v2 s0 = {0}, s1 = {0}, s2 = {0}, s3 = {0};
    for (size_t i = 0; i < n; i++) { /* 64 bytes */
        s0 += q[4 * i];
        s1 += q[4 * i + 1];
        s2 += q[4 * i + 2];
        s3 += q[4 * i + 3];
    }
    const v2 s = (s0 + s1) + (s2 + s3);
    *out = (bw_vec){s[0], s[1], 0, 0, 0, 0, 0, 0};
}
static void bw_sum(const bw_vec *p, size_t n, bw_vec *out) {
#if defined(__x86_64__) && defined(__GNUC__)
    if (__builtin_cpu_supports("avx512f")) {
        bw_sum512(p, n, out);
        return;
    }
    if (__builtin_cpu_supports("avx2")) {
        bw_sum256(p, n, out);
        return;
    }
#endif
    bw_sum128(p, n, out);
}

typedef struct bw_job {
    const bw_vec *p;
    size_t n;   /* vectors */
    double cpu; /* the thread's own CPU time for its slice */
} bw_job;

static _Atomic uint64_t bw_sink; /* the threads' sums, used so the compiler keeps the loads */

static void *bw_read(void *arg) {
    bw_job *j = arg;
    const double c0 = fr_clock_s(CLOCK_THREAD_CPUTIME_ID);
    bw_vec s;
    bw_sum(j->p, j->n, &s);
    atomic_fetch_add_explicit(&bw_sink, s[0] + s[7], memory_order_relaxed);
    j->cpu = fr_clock_s(CLOCK_THREAD_CPUTIME_ID) - c0;
    return NULL;
}

int frugal_read_bandwidth(int threads, int passes, double *gbps, double *cpu_gbps) {
    if (threads < 1 || threads > 64 || passes < 1) return fr_err("read bandwidth: threads 1-64, passes >= 1");
    const size_t bytes = (size_t)1 << 30, n = bytes / sizeof(bw_vec), per = n / (size_t)threads;
    bw_vec *buf = aligned_alloc((size_t)2 << 20, bytes);
    if (!buf) return fr_err("read bandwidth: out of memory (1 GiB)");
#ifdef MADV_HUGEPAGE
    (void)madvise(buf, bytes, MADV_HUGEPAGE); /* a kernel without THP ignores it */
#endif
    for (size_t i = 0; i < bytes / sizeof(uint64_t); i++) ((uint64_t *)buf)[i] = i; /* touch every page */
    double best = 0, best_cpu = 0;
    for (int pass = 0; pass < passes; pass++) {
        pthread_t th[64];
        bw_job jobs[64];
        int ok[64] = {0};
        const double t0 = fr_now();
        for (int t = 0; t < threads; t++) {
            jobs[t] = (bw_job){buf + per * (size_t)t, per, 0};
            if (t > 0) ok[t] = pthread_create(&th[t], NULL, bw_read, &jobs[t]) == 0;
        }
        bw_read(&jobs[0]);
        for (int t = 1; t < threads; t++) {
            if (ok[t]) pthread_join(th[t], NULL);
            else bw_read(&jobs[t]); /* no thread: read it here */
        }
        const double g = (double)(per * (size_t)threads * sizeof(bw_vec)) / (fr_now() - t0) / 1e9;
        double gc = 0;
        for (int t = 0; t < threads; t++) gc += (double)(per * sizeof(bw_vec)) / jobs[t].cpu / 1e9;
        if (g > best) best = g;
        if (gc > best_cpu) best_cpu = gc;
    }
    free(buf);
    if (gbps) *gbps = best;
    if (cpu_gbps) *cpu_gbps = best_cpu;
    return 0;
}
