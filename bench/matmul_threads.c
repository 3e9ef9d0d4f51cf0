/* Decode matmuls (one token) as the model runs them: fr_matmul on the thread
 * pool, wall time, weights in transparent huge pages. NMATS matrices of ROWS x
 * COLS one after another, ten rounds a measurement, seven measurements:
 *   cc -O2 -std=c17 -Isrc bench/matmul_threads.c build/libfrugal.a -lpthread -lm -o /tmp/mt
 *   [R=7] [T=2] [OFF=0] [F8=real|any] [NOTES=1|0] /tmp/mt Q6_K|Q4_K|Q8_0|BF16|F8_E4M3|... ROWS [COLS=2048] [NMATS=1]
 * Pick NMATS so that NMATS x the matrix is well past the L3 (300 MiB on the
 * Xeon of Run 19): the lm_head of V2-Lite in Q6_K alone (102400 x 2048, 172
 * MB) partly stays there and reads faster than memory (bench/RESULTS.md Run 20).
 * Prints GB/s of weights per wall second, and next to it the rate of a plain
 * read of the same matrices in the same work items (64-byte loads summed, the
 * items handed out by the pool as fr_matmul hands out its rows): what the
 * memory gives this pattern of reads when nothing is computed. Their ratio is
 * the part of the decode's shortfall that lies in the kernel, not in the
 * memory system (bench/RESULTS.md Run 27). */
#define _DEFAULT_SOURCE /* madvise */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "base/pool.h"
#include "kernels/kernels.h"
#include "tensor/ggml_quants.h"

typedef uint64_t mt_vec __attribute__((vector_size(64), aligned(64)));
typedef struct {
    const char *w; /* the matrix */
    size_t rb;     /* bytes per row */
    uint64_t sum[64]; /* per thread, so the loads stay */
} mt_plain;

/* rows [i0, i1) of the matrix read in 64-byte vectors, two sums (as frugal_read_bandwidth) */
#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
static void mt_read(void *arg, int64_t i0, int64_t i1, int ith) {
    mt_plain *j = arg;
    const char *p = j->w + (size_t)i0 * j->rb;
    const size_t n = (size_t)(i1 - i0) * j->rb / sizeof(mt_vec);
    mt_vec s0 = {0}, s1 = {0}, v0, v1;
    for (size_t i = 0; i + 2 <= n; i += 2) {
        memcpy(&v0, p + i * sizeof(mt_vec), sizeof v0);
        memcpy(&v1, p + (i + 1) * sizeof(mt_vec), sizeof v1);
        s0 += v0, s1 += v1;
    }
    j->sum[ith & 63] += s0[0] + s1[7];
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s TYPE ROWS [COLS] [NMATS]\n", argv[0]);
        return 2;
    }
    fr_dtype dt = FR_DT_COUNT;
    for (int d = 0; d < FR_DT_COUNT; d++)
        if (fr_dtype_get(d) && fr_dtype_get(d)->name && !strcmp(fr_dtype_get(d)->name, argv[1])) dt = d;
    const int64_t rows = atoll(argv[2]), cols = argc > 3 ? atoll(argv[3]) : 2048;
    const int nm = argc > 4 ? atoi(argv[4]) : 1, reps = getenv("R") ? atoi(getenv("R")) : 7;
    const int threads = getenv("T") ? atoi(getenv("T")) : 2;
    if (dt == FR_DT_COUNT || rows < 1 || cols < 32 || cols % fr_dtype_get(dt)->block || nm < 1) {
        fprintf(stderr, "%s: bad type or sizes\n", argv[1]);
        return 2;
    }
    fr_tensor t0 = {.dtype = dt, .ndim = 2, .ne = {rows, cols}};
    t0.nbytes = fr_dtype_bytes(dt, rows * cols);
    const size_t huge = (size_t)2 << 20, rb = fr_row_bytes(&t0), all = t0.nbytes * (size_t)nm;
    /* OFF=n: the matrices start n bytes past a cache line (0-63), as a safetensors file places them */
    const size_t off = getenv("OFF") ? (size_t)atoi(getenv("OFF")) % 64 : 0, wn = (all + off + huge - 1) & ~(huge - 1);
    char *wa = aligned_alloc(huge, wn), *wd = wa + off;
    float *x = malloc(sizeof(float) * (size_t)cols), *y = malloc(sizeof(float) * (size_t)rows);
    fr_tensor *W = calloc((size_t)nm, sizeof *W);
    if (!wa || !x || !y || !W) return 1;
    madvise(wa, wn, MADV_HUGEPAGE);
    srand(1);
    for (int64_t c = 0; c < cols; c++) x[c] = (float)rand() / RAND_MAX - 0.5f;
    /* one row, copied: the values do not change the speed, except F8_E4M3's (FP8 checkpoints):
     * the decode handles codes with exponent field 0 (subnormals, zero) and NaN aside (dpbf16.h).
     * F8=real (default): normal values of sd 448/4.5 rounded to the nearest code, as a
     * block-scaled checkpoint's (largest ~448); F8=any: any code but NaN (1 in 16 has e = 0).
     * Every 128 x 128 block scale 1. */
    float *sc = NULL;
    if (dt == FR_DT_F8_E4M3) {
        const char *f8 = getenv("F8");
        const int any = f8 && !strcmp(f8, "any");
        for (int64_t c = 0; c < cols; c++) {
            if (any) {
                const int v = rand() & 0xff;
                wd[c] = (char)((v & 0x7f) == 0x7f ? 0 : v);
                continue;
            }
            double g = 0; /* Irwin-Hall: about normal, sd 1 */
            for (int k = 0; k < 12; k++) g += (double)rand() / RAND_MAX;
            const double want = (g - 6) * 448 / 4.5;
            int best = 0;
            for (int v = 0; v < 256; v++) { /* the nearest code (not NaN) */
                const double dv = fabs(fr_e4m3_to_f32((uint8_t)v) - want);
                if ((v & 0x7f) != 0x7f && dv < fabs(fr_e4m3_to_f32((uint8_t)best) - want)) best = v;
            }
            wd[c] = (char)best;
        }
        const size_t ns = (size_t)((rows + 127) / 128) * (size_t)((cols + 127) / 128);
        if (!(sc = malloc(sizeof(float) * ns))) return 1;
        for (size_t i = 0; i < ns; i++) sc[i] = 1.0f;
    } else
        fr_ggml_quantize(dt, x, wd, cols);
    for (size_t o = rb; o < all; o += rb) memcpy(wd + o, wd, rb);
    /* FP8: the rows' notes (tensor.h f8rows), as a model's weight table gives them; NOTES=0: none */
    unsigned char *notes = NULL;
    if (dt == FR_DT_F8_E4M3 && !(getenv("NOTES") && !strcmp(getenv("NOTES"), "0")) &&
        !(notes = calloc((size_t)(rows * nm), 1)))
        return 1;
    for (int i = 0; i < nm; i++) {
        W[i] = t0, W[i].data = wd + t0.nbytes * (size_t)i, W[i].scale = sc;
        if (notes) W[i].f8rows = notes + (size_t)rows * (size_t)i;
    }
    fr_pool *p = fr_pool_create(threads);
    fr_pool_set_current(p);
    for (int r = 0; r < reps; r++) {
        const double t = now();
        for (int k = 0; k < 10; k++)
            for (int i = 0; i < nm; i++) fr_matmul(&W[i], x, y, 1);
        const double gk = 10.0 * (double)all / (now() - t) / 1e9;
        mt_plain j = {.rb = rb};
        const double t2 = now();
        for (int k = 0; k < 10; k++)
            for (int i = 0; i < nm; i++) {
                j.w = W[i].data;
                fr_parallel_for_guided(rows, fr_matmul_grain(rows, 1, threads), mt_read, &j); /* as fr_matmul */
            }
        const double gp = 10.0 * (double)all / (now() - t2) / 1e9;
        uint64_t sum = 0;
        for (int i = 0; i < 64; i++) sum += j.sum[i];
        printf("%s %lld x %lld x %d matrices, %d threads: %.2f GB/s, a plain read of the same items %.2f (%.2f)%s\n",
               argv[1], (long long)rows, (long long)cols, nm, threads, gk, gp, gk / gp, sum == 1 ? " " : "");
    }
    fr_pool_set_current(NULL);
    fr_pool_free(p);
    free(W), free(x), free(y), free(wa), free(sc), free(notes);
    return 0;
}
