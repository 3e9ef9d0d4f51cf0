/* The math. One entry point per operation; the implementation is chosen at
 * start-up from the CPU's features (generic C is the reference). */
#ifndef FR_KERNELS_H
#define FR_KERNELS_H

#include <stdint.h>

#include "tensor/tensor.h"

/* Y[n][rows] = X[n][cols] . W^T  (W: [rows, cols], any weight dtype).
 * Threads split the rows. */
void fr_matmul(const fr_tensor *W, const float *X, float *Y, int n);

/* The same for rows [r0, r1) of W only, single-threaded; Y keeps the full row
 * stride (rows of W). */
typedef void (*fr_matmul_fn)(const fr_tensor *W, const float *X, float *Y, int n, int64_t r0, int64_t r1);

typedef struct fr_kernel_table {
    const char *name;
    fr_matmul_fn matmul[FR_DT_COUNT];
} fr_kernel_table;

/* The table in use; the generic one always exists (the test oracle). */
const fr_kernel_table *fr_kernels(void);
const fr_kernel_table *fr_kernels_generic(void);
/* Force the generic kernels (tests, FRUGAL_KERNELS=generic). */
void fr_kernels_use_generic(int on);

/* Threads: kernels split work over the calling thread's pool (base/pool.h). */

/* y = x / sqrt(mean(x^2) + eps) * w, over d elements; y may alias x. */
void fr_rmsnorm(float *y, const float *x, const float *w, float eps, int d);
/* In-place softmax over n elements. */
void fr_softmax(float *x, int n);
static inline float fr_silu(float x);
/* Interleaved RoPE on pairs (2i, 2i+1) of x[0..d): cs[i] = cos, sn[i] = sin. */
void fr_rope_interleaved(float *x, const float *cs, const float *sn, int d);
/* Half-split (NeoX) RoPE on pairs (i, i + d/2). */
void fr_rope_neox(float *x, const float *cs, const float *sn, int d);
float fr_dot(const float *a, const float *b, int n);
/* y += a * x */
void fr_axpy(float *y, float a, const float *x, int n);

#include <math.h>
static inline float fr_silu(float x) { return x / (1.0f + expf(-x)); }

#endif
