/* Activations quantized to int8 for the integer kernels (kernels.h, fr_qx):
 * per block of blk values d = max|x| / 127 and q = rint(x * (127 / max|x|)),
 * rounding to nearest even as _mm512_cvtps_epi32 does, so a vector quantizer
 * (the table's qx_rows: avx512/quant_act.h) replaces this loop bit for bit. */
#include <math.h>
#include <string.h>

#include "base/pool.h"
#include "kernels/kernels.h"

int fr_qx_blk(fr_dtype dt) {
    switch (dt) {
    case FR_DT_Q8_0:
    case FR_DT_Q4_0:
    case FR_DT_Q5_0:
    case FR_DT_Q4_1:
    case FR_DT_Q5_1:
    case FR_DT_IQ4_NL:
    case FR_DT_MXFP4: return 32;
    case FR_DT_Q2_K:
    case FR_DT_Q3_K:
    case FR_DT_Q4_K:
    case FR_DT_Q5_K:
    case FR_DT_Q6_K:
    case FR_DT_IQ4_XS: return 256;
    default: return 0;
    }
}

static size_t up64(size_t b) { return (b + 63) & ~(size_t)63; }

size_t fr_qx_bytes(int n, int64_t cols, int blk) {
    size_t nv = (size_t)n * (size_t)cols;
    return up64(nv) + up64(nv / (size_t)blk * sizeof(float)) + up64(nv / 16 * sizeof(int16_t));
}

/* the views of buf for n rows */
static fr_qx views(int n, int64_t cols, int blk, void *buf) {
    size_t nv = (size_t)n * (size_t)cols;
    int8_t *q = buf;
    float *d = (float *)(void *)((char *)buf + up64(nv));
    int16_t *s = (int16_t *)(void *)((char *)d + up64(nv / (size_t)blk * sizeof(float)));
    return (fr_qx){.n = n, .blk = blk, .cols = cols, .q = q, .d = d, .s = s};
}

fr_qx fr_qx_view(int n, int64_t cols, int blk, void *buf) { return views(n, cols, blk, buf); }

void fr_qx_quantize_blocks(const float *X, int n, int64_t cols, int blk, void *buf, size_t b0, size_t b1) {
    fr_qx vw = views(n, cols, blk, buf);
    int8_t *q = (int8_t *)vw.q;
    float *d = (float *)vw.d;
    int16_t *s = (int16_t *)vw.s;
    const fr_kernel_table *k = fr_kernels();
    if (k->qx_rows && blk % 16 == 0) {
        k->qx_rows(X, blk, q, d, s, b0, b1);
        return;
    }
    for (size_t b = b0; b < b1; b++) { /* blocks never cross rows: cols % blk == 0 */
        const float *x = X + b * (size_t)blk;
        int8_t *qb = q + b * (size_t)blk;
        float amax = 0;
        for (int j = 0; j < blk; j++) amax = fmaxf(amax, fabsf(x[j]));
        float db = amax / 127.0f, id = amax > 0 ? 127.0f / amax : 0.0f;
        d[b] = db;
        for (int j = 0; j < blk; j++) {
            float v = nearbyintf(x[j] * id);
            qb[j] = (int8_t)(v > 127.0f ? 127 : v < -127.0f ? -127 : v == v ? (int)v : 0);
        }
    }
    for (size_t g = b0 * (size_t)blk / 16; g < b1 * (size_t)blk / 16; g++) {
        int sum = 0;
        for (int j = 0; j < 16; j++) sum += q[g * 16 + (size_t)j];
        s[g] = (int16_t)sum;
    }
}

void fr_qx_quantize_rows(const float *X, int n, int64_t cols, int blk, void *buf, int t0, int t1) {
    const size_t nb = (size_t)(cols / blk);
    fr_qx_quantize_blocks(X, n, cols, blk, buf, (size_t)t0 * nb, (size_t)t1 * nb);
}

void fr_qx_quantize(const float *X, int n, int64_t cols, int blk, void *buf, fr_qx *out) {
    fr_qx_quantize_rows(X, n, cols, blk, buf, 0, n);
    *out = views(n, cols, blk, buf);
}

typedef struct qjob {
    const float *X;
    int n, blk;
    int64_t cols;
    void *buf;
} qjob;

static void qrange(void *arg, int64_t t0, int64_t t1, int ith) {
    const qjob *j = arg;
    (void)ith;
    fr_qx_quantize_rows(j->X, j->n, j->cols, j->blk, j->buf, (int)t0, (int)t1);
}

void fr_qx_quantize_mt(const float *X, int n, int64_t cols, int blk, void *buf, fr_qx *out) {
    qjob j = {X, n, blk, cols, buf};
    int64_t grain = (16384 + cols - 1) / cols; /* rows of about 16k values per item */
    fr_parallel_for(n, grain, qrange, &j);
    *out = views(n, cols, blk, buf);
}
