/* What AMX tile instructions cost on this CPU, one thread, in CPU time per
 * 32-column block of the Q8_0 prefill panel (avx512/int8_q0.h: 16 tokens x
 * 32 weight rows, two 16-row halves):
 *   cc -O2 -std=c17 -Isrc bench/amx_ops.c -o /tmp/amx_ops && /tmp/amx_ops [STRIDE=7168]
 * STRIDE: bytes between the 16 tokens' activation rows (the row length).
 * Each line runs one mix of instructions over 16 blocks, 200000 times, and
 * prints the best of 5 (ns per block); the tiles' contents do not matter.
 *   panel    what amx_mul does per block: load A, B0, B1; zero C0, C1;
 *            tdpbsud x 2; store C0, C1
 *   dp       the two tdpbsud alone (accumulating)
 *   store    the two tilestored alone
 *   dp+store tdpbsud, tilestored, twice
 *   load+dp  the three loads and the two tdpbsud, no zero, no store
 *   zero+dp  tilezero and tdpbsud, twice
 * Then the K types' block of 256 values, two ways (run_k below).
 * Needs AMX (Linux grants the tile state on request); elsewhere it says so. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "kernels/avx512/amx.h"

#define NBLK 16
#define ITERS 200000

static double cpu(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static _Alignas(64) uint8_t g_ut[2][NBLK][8][64];
static _Alignas(64) int32_t g_c[NBLK][2][16][16];

static void run(int mode, const int8_t *x, int64_t stride) {
    for (int it = 0; it < ITERS; it++)
        for (int k = 0; k < NBLK; k++) switch (mode) {
            case 0:
                AMX_LOAD(0, x + 32 * k, stride);
                AMX_LOAD(1, g_ut[0][k], 64);
                AMX_ZERO(3);
                AMX_DPBSUD(3, 0, 1);
                AMX_LOAD(2, g_ut[1][k], 64);
                AMX_ZERO(4);
                AMX_DPBSUD(4, 0, 2);
                AMX_STORE(3, g_c[k][0], 64);
                AMX_STORE(4, g_c[k][1], 64);
                break;
            case 1:
                AMX_DPBSUD(3, 0, 1);
                AMX_DPBSUD(4, 0, 2);
                break;
            case 2:
                AMX_STORE(3, g_c[k][0], 64);
                AMX_STORE(4, g_c[k][1], 64);
                break;
            case 3:
                AMX_DPBSUD(3, 0, 1);
                AMX_DPBSUD(4, 0, 2);
                AMX_STORE(3, g_c[k][0], 64);
                AMX_STORE(4, g_c[k][1], 64);
                break;
            case 4:
                AMX_LOAD(0, x + 32 * k, stride);
                AMX_LOAD(1, g_ut[0][k], 64);
                AMX_DPBSUD(3, 0, 1);
                AMX_LOAD(2, g_ut[1][k], 64);
                AMX_DPBSUD(4, 0, 2);
                break;
            default:
                AMX_ZERO(3);
                AMX_DPBSUD(3, 0, 1);
                AMX_ZERO(4);
                AMX_DPBSUD(4, 0, 2);
                break;
            }
}

/* The K types' block of 256 values (16 tokens x 32 rows, two blocks in turn):
 *   K sub-blocks  the sub-block panel (i8k_ptile_amx, Q4_K before Run 22): per
 *                 sub-block of 32 load A (K = 32), B0, B1; zero, tdpbsud, twice;
 *                 store C0, C1
 *   K split       i8k_ptile_amx_split: zero 4 C tiles; per 64 values load A
 *                 (K = 64) and 4 B tiles (u sh, u sl of each half), 4 tdpbsud;
 *                 store the 4 C tiles once */
static _Alignas(64) uint8_t g_kut[2][2][8][512];
static _Alignas(64) uint8_t g_khl[2][2][2][4][1024]; /* half, block, sh | sl, 64 values */
static _Alignas(64) int32_t g_kc[8][2][16][16];

static void run_k(int mode, const int8_t *x, int64_t stride) {
    for (int it = 0; it < ITERS; it++)
        for (int k = 0; k < 2; k++) {
            const int8_t *a = x + 256 * k;
            if (mode == 0)
                for (int s = 0; s < 8; s++) {
                    AMX_LOAD(0, a + 32 * s, stride);
                    AMX_LOAD(1, g_kut[0][k][s], 64);
                    AMX_ZERO(3);
                    AMX_DPBSUD(3, 0, 1);
                    AMX_LOAD(2, g_kut[1][k][s], 64);
                    AMX_ZERO(4);
                    AMX_DPBSUD(4, 0, 2);
                    AMX_STORE(3, g_kc[s][0], 64);
                    AMX_STORE(4, g_kc[s][1], 64);
                }
            else {
                AMX_ZERO(3);
                AMX_ZERO(4);
                AMX_ZERO(5);
                AMX_ZERO(6);
                for (int p = 0; p < 4; p++) {
                    AMX_LOAD(0, a + 64 * p, stride);
                    AMX_LOAD(1, g_khl[0][k][0][p], 64);
                    AMX_DPBSUD(3, 0, 1);
                    AMX_LOAD(2, g_khl[0][k][1][p], 64);
                    AMX_DPBSUD(4, 0, 2);
                    AMX_LOAD(1, g_khl[1][k][0][p], 64);
                    AMX_DPBSUD(5, 0, 1);
                    AMX_LOAD(2, g_khl[1][k][1][p], 64);
                    AMX_DPBSUD(6, 0, 2);
                }
                AMX_STORE(3, g_kc[0][0], 64);
                AMX_STORE(4, g_kc[0][1], 64);
                AMX_STORE(5, g_kc[1][0], 64);
                AMX_STORE(6, g_kc[1][1], 64);
            }
        }
}

int main(int argc, char **argv) {
    const int64_t stride = argc > 1 ? atoll(argv[1]) : 7168;
    if (stride < 32 || stride > (1 << 20)) {
        fprintf(stderr, "usage: %s [STRIDE: 32 .. 1048576 bytes]\n", argv[0]);
        return 2;
    }
    /* ARCH_REQ_XCOMP_PERM for XFEATURE_XTILEDATA (18) */
    if (syscall(SYS_arch_prctl, 0x1023, 18) != 0) {
        fprintf(stderr, "no AMX tile state from the kernel: this CPU or OS has no AMX\n");
        return 1;
    }
    int8_t *x = aligned_alloc(64, (size_t)(16 * stride + 4096));
    if (!x) return 1;
    memset(x, 1, (size_t)(16 * stride + 4096));
    memset(g_ut, 2, sizeof g_ut);
    amx_state as = {0, 0};
    amx_cfg(&as, 16, 32);
    static const char *names[] = {"panel", "dp", "store", "dp+store", "load+dp", "zero+dp"};
    for (int mode = 0; mode < 6; mode++) {
        double best = 1e30;
        for (int rep = 0; rep < 5; rep++) {
            const double t0 = cpu();
            run(mode, x, stride);
            const double t = (cpu() - t0) / ITERS / NBLK * 1e9;
            if (t < best) best = t;
        }
        printf("%-9s %7.2f ns per block (stride %lld)\n", names[mode], best, (long long)stride);
    }
    static const char *knames[] = {"K sub-blocks", "K split"};
    for (int mode = 0; mode < 2; mode++) {
        amx_cfg(&as, 16, mode ? 64 : 32);
        double best = 1e30;
        for (int rep = 0; rep < 5; rep++) {
            const double t0 = cpu();
            run_k(mode, x, stride);
            const double t = (cpu() - t0) / ITERS / 2 * 1e9;
            if (t < best) best = t;
        }
        printf("%-12s %7.2f ns per block of 256 (stride %lld)\n", knames[mode], best, (long long)stride);
    }
    amx_done(&as);
    free(x);
    return g_c[1][1][2][3] == 12345 || g_kc[1][1][2][3] == 12345; /* keeps the stores */
}
