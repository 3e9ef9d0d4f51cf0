/* The absorbed-MLA attention blocks per thread, in CPU time: H heads over
 * ROWS cached latent rows of 512 (scores, then values), as mla.c runs them per
 * block of 64 rows:
 *   gcc -O3 -std=c17 -D_POSIX_C_SOURCE=200809L -Isrc bench/attn_bench.c build/libfrugal.a -lpthread -lm -o /tmp/ab
 *   /tmp/ab [H=16] [ROWS=8192]
 * f32: a float32 cache on fr_dots / fr_wsum; bf16->f32: a bfloat16 cache
 * decoded per block (the exact path); bf16: dots_bf16 / wsum_bf16 (not exact). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "kernels/kernels.h"
static double cpu(void) { struct timespec t; clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }
enum { R = 512, BLK = 64 };
int main(int argc, char **argv) {
    const int H = argc > 1 ? atoi(argv[1]) : 16, N = argc > 2 ? atoi(argv[2]) : 8192;
    float *cf = malloc(sizeof(float) * N * R), *q = malloc(sizeof(float) * H * R), *u = calloc((size_t)H * R, 4);
    float *sc = malloc(sizeof(float) * H * BLK), *lat = malloc(sizeof(float) * BLK * R);
    uint16_t *cb = malloc(2u * N * R), *qb = malloc(2u * H * R);
    for (int i = 0; i < N * R; i++) cf[i] = (float)((i * 7919) % 1000) * 1e-3f - 0.5f, cb[i] = fr_f32_to_bf16(cf[i]);
    for (int i = 0; i < H * R; i++) q[i] = (float)((i * 31) % 100) * 1e-2f, qb[i] = fr_f32_to_bf16(q[i]);
    fr_tensor v = {.name = "cache", .dtype = FR_DT_BF16, .ndim = 2, .ne = {BLK, R}};
    const char *isas[] = {"avx2", "avx512", "avx512vnni", "avx512bf16"};
    for (int k = 0; k < 4; k++) {
        const fr_kernel_table *t = fr_kernels_isa(isas[k]);
        if (!t) continue;
        for (int mode = 0; mode < 3; mode++) {
            if (mode == 2 && !t->dots_bf16) continue;
            double best = 1e9;
            for (int rep = 0; rep < 5; rep++) {
                double t0 = cpu();
                for (int b = 0; b < N; b += BLK) {
                    if (mode == 0) {
                        t->dots(q, R, cf + (size_t)b * R, R, sc, BLK, H, BLK, R);
                        t->wsum(sc, BLK, cf + (size_t)b * R, R, u, R, H, BLK, R);
                    } else if (mode == 1) {
                        v.data = cb + (size_t)b * R;
                        for (int i = 0; i < BLK; i++) t->row_f32(&v, i, lat + i * R);
                        t->dots(q, R, lat, R, sc, BLK, H, BLK, R);
                        t->wsum(sc, BLK, lat, R, u, R, H, BLK, R);
                    } else {
                        t->dots_bf16(qb, R, cb + (size_t)b * R, R, sc, BLK, H, BLK, R);
                        t->wsum_bf16(sc, BLK, cb + (size_t)b * R, R, u, R, H, BLK, R);
                    }
                    for (int i = 0; i < H * BLK; i++) sc[i] = 1.0f / BLK; /* as softmax weights */
                }
                double d = cpu() - t0;
                best = d < best ? d : best;
            }
            static const char *mn[] = {"f32", "bf16->f32", "bf16"};
            printf("%-11s %-10s H=%d rows=%d: %7.3f ms, %6.1f GFLOP/s per thread\n", isas[k], mn[mode], H, N, best * 1e3,
                   4.0 * H * R * N / best / 1e9);
        }
    }
    return 0;
}
