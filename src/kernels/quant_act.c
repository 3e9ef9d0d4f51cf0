/* Activations quantized to int8 for the integer kernels (kernels.h, fr_qx):
 * per block of blk values d = max|x| / 127 and q = round-to-nearest-even(x / d),
 * the rounding _mm512_cvtps_epi32 does, so a vector quantizer may replace this
 * loop bit for bit. */
#include <math.h>
#include <string.h>

#include "kernels/kernels.h"

int fr_qx_blk(fr_dtype dt) {
    switch (dt) {
    case FR_DT_Q8_0:
    case FR_DT_Q4_0:
    case FR_DT_Q5_0: return 32;
    case FR_DT_Q4_K:
    case FR_DT_Q5_K:
    case FR_DT_Q6_K: return 256;
    default: return 0;
    }
}

static size_t up64(size_t b) { return (b + 63) & ~(size_t)63; }

size_t fr_qx_bytes(int n, int64_t cols, int blk) {
    size_t nv = (size_t)n * (size_t)cols;
    return up64(nv) + up64(nv / (size_t)blk * sizeof(float)) + up64(nv / 16 * sizeof(int16_t));
}

void fr_qx_quantize(const float *X, int n, int64_t cols, int blk, void *buf, fr_qx *out) {
    size_t nv = (size_t)n * (size_t)cols;
    int8_t *q = buf;
    float *d = (float *)(void *)((char *)buf + up64(nv));
    int16_t *s = (int16_t *)(void *)((char *)d + up64(nv / (size_t)blk * sizeof(float)));
    for (size_t b = 0; b < nv / (size_t)blk; b++) { /* blocks never cross rows: cols % blk == 0 */
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
    for (size_t g = 0; g < nv / 16; g++) {
        int sum = 0;
        for (int j = 0; j < 16; j++) sum += q[g * 16 + (size_t)j];
        s[g] = (int16_t)sum;
    }
    *out = (fr_qx){.n = n, .blk = blk, .cols = cols, .q = q, .d = d, .s = s};
}
