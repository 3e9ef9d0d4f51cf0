/* Kernel selection and the threaded matmul entry point. */
#include <stdlib.h>
#include <string.h>

#include "base/pool.h"

#include "kernels/generic/generic.h"
#include "kernels/kernels.h"

static fr_kernel_table g_generic = {
    .name = "generic",
    .matmul = {
        [FR_DT_F32] = fr_matmul_generic,
        [FR_DT_F16] = fr_matmul_generic,
        [FR_DT_BF16] = fr_matmul_generic,
        [FR_DT_F8_E4M3] = fr_matmul_generic,
        [FR_DT_Q4_0] = fr_matmul_generic,
        [FR_DT_Q4_1] = fr_matmul_generic,
        [FR_DT_Q5_0] = fr_matmul_generic,
        [FR_DT_Q5_1] = fr_matmul_generic,
        [FR_DT_Q8_0] = fr_matmul_generic,
        [FR_DT_Q2_K] = fr_matmul_generic,
        [FR_DT_Q3_K] = fr_matmul_generic,
        [FR_DT_Q4_K] = fr_matmul_generic,
        [FR_DT_Q5_K] = fr_matmul_generic,
        [FR_DT_Q6_K] = fr_matmul_generic,
        [FR_DT_IQ4_NL] = fr_matmul_generic,
        [FR_DT_IQ4_XS] = fr_matmul_generic,
        [FR_DT_MXFP4] = fr_matmul_generic,
    },
};

static int g_force_generic = -1;

const fr_kernel_table *fr_kernels_generic(void) { return &g_generic; }

const fr_kernel_table *fr_kernels(void) {
    if (g_force_generic < 0) {
        const char *e = getenv("FRUGAL_KERNELS");
        g_force_generic = e && strcmp(e, "generic") == 0;
    }
    return &g_generic; /* per-ISA tables plug in here */
}

void fr_kernels_use_generic(int on) { g_force_generic = on; }

typedef struct mm_job {
    fr_matmul_fn f;
    const fr_tensor *W;
    const float *X;
    float *Y;
    int n;
} mm_job;

static void mm_range(void *arg, int64_t r0, int64_t r1, int ith) {
    const mm_job *j = arg;
    j->f(j->W, j->X, j->Y, j->n, r0, r1);
}

void fr_matmul(const fr_tensor *W, const float *X, float *Y, int n) {
    mm_job j = {fr_kernels()->matmul[W->dtype], W, X, Y, n};
    int64_t rows = fr_rows(W);
    /* blocks of 16 rows keep each thread on whole cache lines of Y; small
     * products run on the calling thread */
    if (rows * fr_cols(W) * (int64_t)n < 32768) mm_range(&j, 0, rows, 0);
    else fr_parallel_for(rows, 16, mm_range, &j);
}
