#ifndef FR_KERNELS_GENERIC_H
#define FR_KERNELS_GENERIC_H
#include "kernels/kernels.h"

/* W[r][c0..c1) as float32 (c0 a multiple of the dtype's block). */
void fr_dequant_segment(const fr_tensor *W, int64_t r, int64_t c0, int64_t c1, float *dst);
void fr_matmul_generic(const fr_tensor *W, const float *X, float *Y, int n, int64_t r0, int64_t r1);
void fr_matmul_q_generic(const fr_tensor *W, const fr_qx *X, float *Y, int64_t r0, int64_t r1);
void fr_dots_generic(const float *A, int64_t lda, const float *B, int64_t ldb, float *C, int64_t ldc, int m, int n,
                     int k);
void fr_wsum_generic(const float *P, int64_t ldp, const float *B, int64_t ldb, float *C, int64_t ldc, int m, int n,
                     int k);
void fr_i8_dots_generic(const int8_t *Q, const float *qd, const int32_t *qs, int m, const uint8_t *K, const float *kd,
                        int r, int dr, int n, float *S, int64_t lds);
void fr_i8_wsum_generic(const float *P, int64_t ldp, int m, const uint8_t *K, const float *kd, int r, int dr, int n,
                        float *U, int64_t ldu);
float fr_exp_shift_generic(float *x, int n, float m);
void fr_silu_mul_generic(float *g, const float *u, int64_t n);
void fr_kda_decay_gate_generic(float *g, const float *bias, float ea, int n);
void fr_sigmoid_mul_generic(float *o, const float *g, int n);
void fr_kda_decay_dots_generic(const float *ki, const float *qi, const double *Gi, const float *k, int64_t ldk,
                               const double *G, int nj, int K, float *sa, float *sq);
float fr_dot_generic(const float *a, const float *b, int n);
void fr_axpy_generic(float *y, float a, const float *x, int n);
#endif
