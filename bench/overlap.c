/* How much work per byte a decode row can do and still read at the memory's
 * pace: a stream of 640 MiB read in the work items of a decode matmul (a
 * V2-Lite expert's Q4_K rows in eighths, 198 KiB, handed out by frugal's
 * pool), with W vpdpbusd per 64-byte line (independent chains, nothing
 * else), without and with the decode rows' software prefetch (kernels.h: the
 * line 4 KiB ahead into L1, 8 KiB ahead into L2). For each it prints
 *   memory   GB/s of the stream from memory, all threads
 *   compute  GB/s of the same loop over one 32 KiB item in L1 (no misses):
 *            what its instructions allow
 * A plain read (W = 0) is the roofline's pattern; a decode kernel sits where
 * its own compute rate does (bench/matmul_threads.c at COLS x ROWS in L2).
 *   cc -O2 -std=c17 -Isrc bench/overlap.c build/libfrugal.a -lpthread -lm -o /tmp/overlap
 *   [T=2] [R=3] /tmp/overlap
 * Needs AVX512-VNNI (x86-64); elsewhere it says so. */
#define _DEFAULT_SOURCE /* madvise */
#include <immintrin.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "base/pool.h"
#include "base/timer.h"

#define ALL ((size_t)640 << 20)
#define ITEM ((size_t)1408 * 1152 / 8) /* bytes of a decode item: 176 Q4_K rows of 2048 */
#define L1ITEM ((size_t)32768)

typedef struct {
    const char *p;
    size_t item;
    int w, pf, l1;
    int32_t sum[64];
} ov_job;

/* W vpdpbusd per line on four chains, 256 bytes a step; pf: the decode rows' prefetch */
#define OV_RUN(WW)                                                                                                \
    __attribute__((target("avx512f,avx512bw,avx512vnni"))) static int32_t ov_run##WW(const char *p, size_t n,    \
                                                                                      int pf) {                   \
        __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;                                           \
        for (size_t o = 0; o + 256 <= n; o += 256) {                                                              \
            if (pf)                                                                                               \
                for (size_t l = 0; l < 256; l += 64) {                                                            \
                    _mm_prefetch((const char *)((uintptr_t)p + o + 4096 + l), _MM_HINT_T0);                       \
                    _mm_prefetch((const char *)((uintptr_t)p + o + 8192 + l), _MM_HINT_T1);                       \
                }                                                                                                 \
            const __m512i v0 = _mm512_load_si512((const void *)(p + o)), v1 = _mm512_load_si512((const void *)(p + o + 64)); \
            const __m512i v2 = _mm512_load_si512((const void *)(p + o + 128)), v3 = _mm512_load_si512((const void *)(p + o + 192)); \
            if (WW == 0) {                                                                                        \
                a0 = _mm512_add_epi32(a0, v0), a1 = _mm512_add_epi32(a1, v1);                                     \
                a2 = _mm512_add_epi32(a2, v2), a3 = _mm512_add_epi32(a3, v3);                                     \
            }                                                                                                     \
            for (int k = 0; k < WW; k++) {                                                                        \
                a0 = _mm512_dpbusd_epi32(a0, v0, v1), a1 = _mm512_dpbusd_epi32(a1, v1, v2);                       \
                a2 = _mm512_dpbusd_epi32(a2, v2, v3), a3 = _mm512_dpbusd_epi32(a3, v3, v0);                       \
            }                                                                                                     \
        }                                                                                                         \
        return _mm512_reduce_add_epi32(_mm512_add_epi32(_mm512_add_epi32(a0, a1), _mm512_add_epi32(a2, a3)));     \
    }
OV_RUN(0)
OV_RUN(1)
OV_RUN(2)
OV_RUN(3)
OV_RUN(4)
OV_RUN(6)
static const int g_ws[] = {0, 1, 2, 3, 4, 6};

static void ov_item(void *arg, int64_t i0, int64_t i1, int ith) {
    ov_job *j = arg;
    for (int64_t i = i0; i < i1; i++) {
        const char *p = j->l1 ? j->p : j->p + (size_t)i * j->item;
        const int32_t s = j->w == 0 ? ov_run0(p, j->item, j->pf) : j->w == 1 ? ov_run1(p, j->item, j->pf)
                        : j->w == 2 ? ov_run2(p, j->item, j->pf) : j->w == 3 ? ov_run3(p, j->item, j->pf)
                        : j->w == 4 ? ov_run4(p, j->item, j->pf) : ov_run6(p, j->item, j->pf);
        j->sum[ith & 63] += s;
    }
}

int main(void) {
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx512vnni")) {
        fprintf(stderr, "overlap: needs AVX512-VNNI\n");
        return 2;
    }
    const int threads = getenv("T") ? atoi(getenv("T")) : 2, reps = getenv("R") ? atoi(getenv("R")) : 3;
    char *buf = aligned_alloc((size_t)2 << 20, ALL);
    if (!buf) return 1;
    madvise(buf, ALL, MADV_HUGEPAGE);
    memset(buf, 1, ALL);
    fr_pool *pool = fr_pool_create(threads);
    fr_pool_set_current(pool);
    int32_t sink = 0;
    printf("%d threads, items of %zu bytes, GB/s: memory / compute (one item in L1)\n", threads, ITEM);
    for (int r = 0; r < reps; r++)
        for (int pf = 0; pf < 2; pf++) {
            printf("%-12s", pf ? "prefetch" : "no prefetch");
            for (size_t wi = 0; wi < sizeof g_ws / sizeof *g_ws; wi++) {
                ov_job j = {.p = buf, .item = ITEM, .w = g_ws[wi], .pf = pf};
                double t = fr_now();
                fr_parallel_for((int64_t)(ALL / ITEM), 1, ov_item, &j);
                const double mem = (double)(ALL / ITEM * ITEM) / (fr_now() - t) / 1e9;
                ov_job c = {.p = buf, .item = L1ITEM, .w = g_ws[wi], .pf = pf, .l1 = 1};
                t = fr_now();
                fr_parallel_for((int64_t)(ALL / L1ITEM), 1, ov_item, &c);
                const double cmp = (double)ALL / (fr_now() - t) / 1e9;
                printf("  W=%d %5.1f / %5.1f", g_ws[wi], mem, cmp);
                for (int i = 0; i < 64; i++) sink += j.sum[i] + c.sum[i];
            }
            printf("\n");
        }
    fr_pool_set_current(NULL);
    fr_pool_free(pool);
    free(buf);
    return sink == 1; /* the sums are used */
}
