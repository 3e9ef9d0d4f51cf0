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

/* One instruction set's kernels. A NULL matmul entry (a weight type the ISA
 * has no kernel for yet) falls back to the generic one. */
typedef struct fr_kernel_table {
    const char *name;
    fr_matmul_fn matmul[FR_DT_COUNT];
    float (*dot)(const float *a, const float *b, int n);
    void (*axpy)(float *y, float a, const float *x, int n);
    /* row r of a 2-D weight as float32 (NULL: generic) */
    void (*row_f32)(const fr_tensor *W, int64_t r, float *dst);
} fr_kernel_table;

/* The table in use, chosen once from the CPU's features (base/cpu.h):
 * avx512 (F+BW+VL, FMA, F16C), else avx2 (AVX2+FMA+F16C), else generic.
 * FRUGAL_KERNELS=generic|avx2|avx512 picks one (if the CPU has it). The generic
 * table always exists (the test oracle). */
const fr_kernel_table *fr_kernels(void);
const fr_kernel_table *fr_kernels_generic(void);
/* The table of an instruction set ("generic", "avx2", "avx512"); NULL when
 * this CPU or build lacks it. */
const fr_kernel_table *fr_kernels_isa(const char *name);
/* Force the generic kernels (tests); 0 returns to the automatic choice. */
void fr_kernels_use_generic(int on);
/* Use the table t from now on (tests, bench); NULL: the automatic choice. */
void fr_kernels_set(const fr_kernel_table *t);

/* The single-threaded matmul of the current table for a weight type. */
fr_matmul_fn fr_matmul_kernel(fr_dtype dt);

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
/* row r of a 2-D weight as float32 with the current kernels (same values as
 * fr_tensor_row_f32) */
void fr_row_f32(const fr_tensor *W, int64_t r, float *dst);
/* y += a * x */
void fr_axpy(float *y, float a, const float *x, int n);

#include <math.h>
static inline float fr_silu(float x) { return x / (1.0f + expf(-x)); }

#endif
