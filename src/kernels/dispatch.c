/* Kernel selection and the threaded matmul entry point. */
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

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
static int g_threads = 0;

const fr_kernel_table *fr_kernels_generic(void) { return &g_generic; }

const fr_kernel_table *fr_kernels(void) {
    if (g_force_generic < 0) {
        const char *e = getenv("FRUGAL_KERNELS");
        g_force_generic = e && strcmp(e, "generic") == 0;
    }
    return &g_generic; /* per-ISA tables plug in here */
}

void fr_kernels_use_generic(int on) { g_force_generic = on; }

void fr_set_threads(int n) { g_threads = n; }

int fr_get_threads(void) {
#ifdef _OPENMP
    return g_threads > 0 ? g_threads : omp_get_num_procs();
#else
    return 1;
#endif
}

void fr_matmul(const fr_tensor *W, const float *X, float *Y, int n) {
    fr_matmul_fn f = fr_kernels()->matmul[W->dtype];
    int64_t rows = fr_rows(W);
    int nth = fr_get_threads();
    /* split rows into blocks of 16 so each thread gets whole cache lines of Y */
    int64_t nblk = (rows + 15) / 16;
    if (nth <= 1 || rows * fr_cols(W) * (int64_t)n < 32768) {
        f(W, X, Y, n, 0, rows);
        return;
    }
#pragma omp parallel for num_threads(nth) schedule(static)
    for (int64_t b = 0; b < nblk; b++) {
        int64_t r0 = b * 16, r1 = r0 + 16 < rows ? r0 + 16 : rows;
        f(W, X, Y, n, r0, r1);
    }
}
