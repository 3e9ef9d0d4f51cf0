/* Elementwise and reduction ops, float32. */
#include <math.h>

#include "kernels/generic/generic.h"

/* The sum of squares in double over 16 running sums (one chain of dependent
 * double adds, before, took 8 us a row of 7168 on the Zen 5 class VM: 2 % of a
 * Kimi K2 cut's pp512, on the main thread alone; the compiler vectorizes this) */
void fr_rmsnorm(float *y, const float *x, const float *w, float eps, int d) {
    double s16[16] = {0}, ss = 0;
    int i = 0;
    for (; i + 16 <= d; i += 16)
        for (int k = 0; k < 16; k++) s16[k] += (double)x[i + k] * x[i + k];
    for (; i < d; i++) ss += (double)x[i] * x[i];
    for (int k = 0; k < 16; k++) ss += s16[k];
    float r = 1.0f / sqrtf((float)(ss / d) + eps);
    for (i = 0; i < d; i++) y[i] = x[i] * r * w[i];
}

float fr_exp_shift_generic(float *x, int n, float m) {
    double s = 0;
    for (int i = 0; i < n; i++) {
        x[i] = expf(x[i] - m);
        s += x[i];
    }
    return (float)s;
}

void fr_silu_mul_generic(float *g, const float *u, int64_t n) {
    for (int64_t i = 0; i < n; i++) g[i] = fr_silu(g[i]) * u[i];
}

void fr_kda_decay_gate_generic(float *g, const float *bias, float ea, int n) {
    for (int i = 0; i < n; i++) {
        const float x = g[i] + bias[i];
        g[i] = -ea * (x > 20.0f ? x : log1pf(expf(x)));
    }
}

void fr_sigmoid_mul_generic(float *o, const float *g, int n) {
    for (int i = 0; i < n; i++) o[i] *= 1.0f / (1.0f + expf(-g[i]));
}

void fr_kda_decay_dots_generic(const float *ki, const float *qi, const double *Gi, const float *k, int64_t ldk,
                               const double *G, int nj, int K, float *sa, float *sq) {
    for (int j = 0; j < nj; j++) {
        const float *kj = k + (size_t)j * (size_t)ldk;
        const double *Gj = G + (size_t)j * (size_t)K;
        float a = 0, q = 0;
        for (int c = 0; c < K; c++) {
            float e = kj[c] * expf((float)(Gi[c] - Gj[c]));
            a += ki[c] * e;
            q += qi[c] * e;
        }
        sa[j] = a;
        sq[j] = q;
    }
}

void fr_softmax(float *x, int n) {
    float m = -INFINITY;
    for (int i = 0; i < n; i++) m = x[i] > m ? x[i] : m;
    float inv = 1.0f / fr_exp_shift(x, n, m);
    for (int i = 0; i < n; i++) x[i] *= inv;
}

void fr_rope_interleaved(float *x, const float *cs, const float *sn, int d) {
    for (int i = 0; i < d / 2; i++) {
        float a = x[2 * i], b = x[2 * i + 1];
        x[2 * i] = a * cs[i] - b * sn[i];
        x[2 * i + 1] = a * sn[i] + b * cs[i];
    }
}

void fr_rope_neox(float *x, const float *cs, const float *sn, int d) {
    int h = d / 2;
    for (int i = 0; i < h; i++) {
        float a = x[i], b = x[i + h];
        x[i] = a * cs[i] - b * sn[i];
        x[i + h] = a * sn[i] + b * cs[i];
    }
}

float fr_dot_generic(const float *a, const float *b, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += (double)a[i] * b[i];
    return (float)s;
}

void fr_axpy_generic(float *y, float a, const float *x, int n) {
    for (int i = 0; i < n; i++) y[i] += a * x[i];
}

/* the table's versions (fast ones on capable CPUs) */
float fr_dot(const float *a, const float *b, int n) { return fr_kernels()->dot(a, b, n); }
void fr_axpy(float *y, float a, const float *x, int n) { fr_kernels()->axpy(y, a, x, n); }
void fr_row_f32(const fr_tensor *W, int64_t r, float *dst) {
    const fr_kernel_table *k = fr_kernels();
    if (k->row_f32 && k->matmul[W->dtype]) k->row_f32(W, r, dst);
    else fr_tensor_row_f32(W, r, dst);
}

void fr_dots_generic(const float *A, int64_t lda, const float *B, int64_t ldb, float *C, int64_t ldc, int m, int n,
                     int k) {
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) C[i * ldc + j] = fr_dot_generic(A + i * lda, B + j * ldb, k);
}

void fr_wsum_generic(const float *P, int64_t ldp, const float *B, int64_t ldb, float *C, int64_t ldc, int m, int n,
                     int k) {
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) fr_axpy_generic(C + i * ldc, P[i * ldp + j], B + j * ldb, k);
}
