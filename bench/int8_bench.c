/* Integer-path vs float-path matmul throughput per thread, in CPU time (robust
 * to a shared machine), for one ggml weight type:
 *   cc -O2 -std=c17 -Isrc bench/int8_bench.c build/libfrugal.a -lpthread -lm -o /tmp/ib
 *   [GRAIN=R] [ISA=amx] /tmp/ib Q8_0|Q4_0|Q5_0|Q4_K|Q5_K|Q6_K N_TOKENS ROWS [COLS=2048]
 * Weights [ROWS, COLS] with random values; ROWS=128 keeps them in L2 (the
 * kernel's compute speed); weights well past the L3 (32 MiB here) stream
 * from memory, as a model's do (Q4_K 32768 x 7168: 132 MB). Prints weight
 * bytes read per CPU second and GFLOP/s for every table this CPU has: the float
 * kernel (matmul) and the integer kernel (matmul_q; activation quantization
 * not included, it is done once per matmul). */
#define _DEFAULT_SOURCE /* madvise */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <string.h>
#include <time.h>

#include "kernels/kernels.h"
#include "tensor/ggml_quants.h"

static double cpu(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s TYPE N_TOKENS ROWS [COLS]\n", argv[0]);
        return 2;
    }
    fr_dtype dt = FR_DT_COUNT;
    for (int d = 0; d < FR_DT_COUNT; d++)
        if (fr_dtype_get(d) && fr_dtype_get(d)->name && !strcmp(fr_dtype_get(d)->name, argv[1])) dt = d;
    if (dt == FR_DT_COUNT || !fr_qx_blk(dt)) {
        fprintf(stderr, "%s: not a type with an integer kernel\n", argv[1]);
        return 2;
    }
    int n = atoi(argv[2]);
    int64_t rows = atoll(argv[3]), cols = argc > 4 ? atoll(argv[4]) : 2048;
    fr_tensor W = {.dtype = dt, .ndim = 2, .ne = {rows, cols}};
    W.nbytes = fr_dtype_bytes(dt, rows * cols);
    float *f = malloc(sizeof(float) * (size_t)cols);
    /* in transparent huge pages where the system gives them on request, as frugal's --no-mmap weights */
    const size_t huge = (size_t)2 << 20, wn = (W.nbytes + huge - 1) & ~(huge - 1);
    void *wd = aligned_alloc(huge, wn);
    if (wd) madvise(wd, wn, MADV_HUGEPAGE);
    srand(1);
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t c = 0; c < cols; c++) f[c] = (float)rand() / RAND_MAX - 0.5f;
        fr_ggml_quantize(dt, f, (char *)wd + (size_t)r * fr_row_bytes(&W), cols);
    }
    W.data = wd;
    float *x = malloc(sizeof(float) * (size_t)(cols * n)), *y = malloc(sizeof(float) * (size_t)(rows * n));
    for (int64_t i = 0; i < cols * n; i++) x[i] = (float)rand() / RAND_MAX - 0.5f;
    int blk = fr_qx_blk(dt);
    /* rows per call: decode one stream of all rows, prefill the work items of
     * fr_matmul at 2 threads; GRAIN=R sets it (the MoE experts' work items are
     * 256 rows, layers/mlp.c) */
    int64_t grain = n <= 2 ? rows : fr_matmul_grain(rows, n, 2);
    if (getenv("GRAIN") && atoll(getenv("GRAIN")) > 0) grain = atoll(getenv("GRAIN"));
    void *qb = aligned_alloc(64, (fr_qx_bytes(n, cols, blk) + 63) & ~(size_t)63);
    fr_qx q;
    fr_qx_quantize(x, n, cols, blk, qb, &q);
    const char *isas[] = {"generic", "avx2", "avx512", "avx512vnni", "avx512bf16", "amx"}; /* amx: only with AMX */
    double gb = (double)W.nbytes / 1e9, gf = 2.0 * (double)rows * (double)cols * n / 1e9;
    for (int k = 0; k < 6; k++) {
        const fr_kernel_table *t = fr_kernels_isa(isas[k]);
        if (!t || (getenv("ISA") && strcmp(getenv("ISA"), isas[k]))) continue;
        for (int path = 0; path < 2; path++) {
            if (path == 0 && (!t->matmul[dt] || (k == 0 && n > 4))) continue;
            if (path == 1 && (!t->matmul_q[dt] || (k > 0 && t->matmul_q[dt] == fr_kernels_generic()->matmul_q[dt])))
                continue;
            double best = 1e9, budget = 0.3;
            for (int r = 0; r < 5; r++) {
                int reps = 0;
                double t0 = cpu(), el;
                do { /* batches of calls doubling in length: reading the CPU clock is a system call, about
                      * 1.5 us on the Zen 5 class VM, which was a fifth of a 256-row Q5_0 decode call */
                    for (int k = 0; k < (reps ? reps : 1); k++) {
                        if (path == 0) t->matmul[dt](&W, x, y, n, 0, rows);
                        else /* in the work items fr_matmul hands a thread in prefill (fr_matmul_grain) */
                            for (int64_t r = 0; r < rows; r += grain)
                                t->matmul_q[dt](&W, &q, y, r, r + grain < rows ? r + grain : rows);
                    }
                    reps += reps ? reps : 1;
                } while ((el = cpu() - t0) < budget / 5);
                if (el / reps < best) best = el / reps;
            }
            printf("%-10s %-5s %-5s n=%-4d rows=%-6lld: %7.2f GB/s of weights, %7.1f GFLOP/s (per thread CPU second)\n",
                   isas[k], path ? "int8" : "float", argv[1], n, (long long)rows, gb / best, gf / best);
        }
    }
    free(f), free(wd), free(x), free(y), free(qb);
    return 0;
}
