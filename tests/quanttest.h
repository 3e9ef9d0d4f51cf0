/* Shared by the quantized-kernel tests: a seeded xorshift generator and random
 * ggml block weights. Define QT_SEED before including to pick the sequence. */
#ifndef FR_QUANTTEST_H
#define FR_QUANTTEST_H

#include "tensor/ggml_quants.h"
#include "testutil.h"

#ifndef QT_SEED
#define QT_SEED 0x2545f4914f6cdd1dull
#endif

static uint64_t g_rng = QT_SEED;
static double urand(void) { /* [0, 1) */
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (double)(g_rng >> 11) * 0x1p-53;
}

/* random weights [rows, cols] quantized to dt with fr_ggml_quantize; each
 * 16-weight run gets its own magnitude (and sometimes an offset) so the
 * sub-block scales and mins differ. t->data is malloc'd (the caller frees). */
static int make_q(fr_tensor *t, fr_dtype dt, int64_t rows, int64_t cols) {
    memset(t, 0, sizeof *t);
    t->dtype = dt;
    t->ndim = 2;
    t->ne[0] = rows;
    t->ne[1] = cols;
    t->nbytes = fr_dtype_bytes(dt, rows * cols);
    float *f = malloc(sizeof(float) * (size_t)(rows * cols));
    float mag = 1, off = 0;
    for (int64_t i = 0; i < rows * cols; i++) {
        if (i % 16 == 0) mag = (float)(0.01 + 3 * urand()), off = urand() < 0.3 ? (float)(urand() - 0.5) : 0;
        f[i] = mag * (float)(urand() * 2 - 1) + off;
    }
    void *d = malloc(t->nbytes);
    int rc = fr_ggml_quantize(dt, f, d, rows * cols);
    free(f);
    t->data = d;
    return rc;
}

/* the types with SIMD kernels (float and integer paths) */
static const fr_dtype g_qts[] = {FR_DT_Q8_0, FR_DT_Q4_0, FR_DT_Q5_0, FR_DT_Q4_K, FR_DT_Q5_K, FR_DT_Q6_K};

#endif
