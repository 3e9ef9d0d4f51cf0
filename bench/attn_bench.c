/* The absorbed-MLA attention blocks per thread, in CPU time: H heads over
 * ROWS cached rows of 512 latent + 64 rope-key values (scores, then values over
 * the latent), as mla.c runs them per block of rows (64, 128 on the bfloat16
 * kernels, 256 on the int8 ones):
 *   gcc -O3 -std=c17 -D_POSIX_C_SOURCE=200809L -Isrc bench/attn_bench.c build/libfrugal.a -lpthread -lm -o /tmp/ab
 *   /tmp/ab [H=16] [ROWS=8192]
 * f32: a float32 cache on fr_dots / fr_wsum (rope keys apart); bf16->f32: a
 * bfloat16 cache decoded per block (the exact path); bf16: dots_bf16 over the
 * whole rows / wsum_bf16 (not exact); i8: an I8 cache (int8, groups of 4 rows
 * interleaved) on i8_dots / i8_wsum (not exact); " scores" and " values"
 * after bf16 and i8: that type's two kernels alone. GFLOP counts
 * 2 x H x (576 + 512) per row (576 or 512 alone). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "kernels/kernels.h"
static double cpu(void) { struct timespec t; clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }
enum { R = 512, DR = 64, L = R + DR, BMAX = 256 };
int main(int argc, char **argv) {
    const int H = argc > 1 ? atoi(argv[1]) : 16, N = argc > 2 ? atoi(argv[2]) : 8192;
    /* f32: latent [N][R] and rope keys [N][DR] apart; bf16: rows [N][L]; queries [H][L] */
    float *cf = malloc(sizeof(float) * N * R), *pe = malloc(sizeof(float) * N * DR), *q = malloc(sizeof(float) * H * L);
    float *u = calloc((size_t)H * R, 4), *sc = malloc(sizeof(float) * H * BMAX), *tmp = malloc(sizeof(float) * H * BMAX);
    float *lat = malloc(sizeof(float) * BMAX * L);
    uint16_t *cb = aligned_alloc(64, 2u * N * L), *qb = malloc(2u * H * L), *qp = malloc(2u * (size_t)fr_bf16_pack_len(H, L));
    /* i8: [N/4][L][4] bytes, [N/4][2][4] scales; queries int8 with scales and sums */
    uint8_t *ci = malloc((size_t)N * L);
    float *kd = malloc(sizeof(float) * 2 * N), *qd = malloc(sizeof(float) * 2 * H);
    int8_t *qi = malloc((size_t)H * L);
    int32_t *qs = calloc(2u * H, sizeof(int32_t));
    for (int i = 0; i < N * L; i++) ci[i] = (uint8_t)(128 + (i * 7919 % 255) - 127);
    for (int i = 0; i < 2 * N; i++) kd[i] = 1.0f / 127;
    for (int i = 0; i < H * L; i++) qi[i] = (int8_t)((i * 31) % 255 - 127), qs[2 * (i / L) + (i % L >= R)] += qi[i];
    for (int i = 0; i < 2 * H; i++) qd[i] = 1.0f / 127;
    for (int i = 0; i < N * L; i++) {
        const float x = (float)((i % 1000) * 7919 % 1000) * 1e-3f - 0.5f;
        cb[i] = fr_f32_to_bf16(x);
        if (i % L < R) cf[i / L * R + i % L] = x;
        else pe[i / L * DR + i % L - R] = x;
    }
    for (int i = 0; i < H * L; i++) q[i] = (float)((i * 31) % 100) * 1e-2f, qb[i] = fr_f32_to_bf16(q[i]);
    fr_tensor v = {.name = "cache", .dtype = FR_DT_BF16, .ndim = 2, .ne = {BMAX, L}};
    const char *isas[] = {"avx2", "avx512", "avx512vnni", "avx512bf16", "amx"}; /* amx: AMX-BF16 tiles */
    for (int k = 0; k < 5; k++) {
        const fr_kernel_table *t = fr_kernels_isa(isas[k]);
        if (!t) continue;
        for (int mode = 0; mode < 8; mode++) {
            if ((mode == 2 || mode == 4 || mode == 5) && !t->dots_bf16) continue;
            if (mode >= 6 && !t->i8_dots) continue;
            if (mode == 2 || mode == 4) t->pack_bf16(qb, L, H, L, qp);
            if (mode == 3 && !t->i8_dots) continue;
            /* mla.c's blocks of cache rows: ROWBLK 64 (float), BF16BLK 128, I8BLK 256 */
            const int BLK = mode == 3 || mode >= 6 ? 256 : mode == 2 || mode == 4 || mode == 5 ? 128 : 64;
            double best = 1e9;
            for (int rep = 0; rep < 5; rep++) {
                double t0 = cpu();
                for (int b = 0; b < N; b += BLK) {
                    if (mode == 0) {
                        t->dots(q, L, cf + (size_t)b * R, R, sc, BLK, H, BLK, R);
                        t->dots(q + R, L, pe + (size_t)b * DR, DR, tmp, BLK, H, BLK, DR);
                        t->wsum(sc, BLK, cf + (size_t)b * R, R, u, R, H, BLK, R);
                    } else if (mode == 1) {
                        v.data = cb + (size_t)b * L;
                        for (int i = 0; i < BLK; i++) t->row_f32(&v, i, lat + i * L);
                        t->dots(q, L, lat, L, sc, BLK, H, BLK, R);
                        t->dots(q + R, L, lat + R, L, tmp, BLK, H, BLK, DR);
                        t->wsum(sc, BLK, lat, L, u, R, H, BLK, R);
                    } else if (mode == 3 || mode >= 6) {
                        if (mode != 7) t->i8_dots(qi, qd, qs, H, ci + (size_t)b * L, kd + (size_t)b * 2, R, DR, BLK, sc, BLK);
                        if (mode != 6) t->i8_wsum(sc, BLK, H, ci + (size_t)b * L, kd + (size_t)b * 2, R, DR, BLK, u, R);
                    } else {
                        if (mode != 5) t->dots_bf16(qp, cb + (size_t)b * L, L, sc, BLK, H, BLK, L);
                        if (mode != 4) t->wsum_bf16(sc, BLK, cb + (size_t)b * L, L, u, R, H, BLK, R);
                    }
                    for (int i = 0; i < H * BLK; i++) sc[i] = 1.0f / BLK; /* as softmax weights */
                }
                double d = cpu() - t0;
                best = d < best ? d : best;
            }
            static const char *mn[] = {"f32", "bf16->f32", "bf16", "i8", " scores", " values", " scores", " values"};
            const int w = mode == 4 || mode == 6 ? L : mode == 5 || mode == 7 ? R : L + R; /* products a row and head */
            printf("%-11s %-10s H=%d rows=%d: %7.3f ms, %6.1f GFLOP/s per thread\n", isas[k], mn[mode], H, N, best * 1e3,
                   2.0 * H * w * N / best / 1e9);
        }
    }
    return 0;
}
