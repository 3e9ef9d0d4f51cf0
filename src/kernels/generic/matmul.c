/* Reference matrix kernels: dequantize a 256-column chunk of a weight row,
 * then take its dot product with every input row. Plain loops; the fast
 * per-ISA kernels are tested against these. */
#include <string.h>

#include "kernels/generic/generic.h"
#include "tensor/ggml_quants.h"

#define CHUNK 256 /* a multiple of every block size (FP8 128, GGML 32/256) */
#define TOK 8     /* input rows sharing one dequantized chunk */

void fr_dequant_segment(const fr_tensor *W, int64_t r, int64_t c0, int64_t c1, float *dst) {
    int64_t cols = fr_cols(W), n = c1 - c0;
    switch (W->dtype) {
    case FR_DT_F32:
        memcpy(dst, (const float *)W->data + r * cols + c0, (size_t)n * 4);
        break;
    case FR_DT_F16: {
        const uint16_t *p = (const uint16_t *)W->data + r * cols + c0;
        for (int64_t j = 0; j < n; j++) dst[j] = fr_f16_to_f32(p[j]);
        break;
    }
    case FR_DT_BF16: {
        const uint16_t *p = (const uint16_t *)W->data + r * cols + c0;
        for (int64_t j = 0; j < n; j++) dst[j] = fr_bf16_to_f32(p[j]);
        break;
    }
    case FR_DT_F8_E4M3: {
        const uint8_t *p = (const uint8_t *)W->data + r * cols + c0;
        int64_t nb = (cols + FR_FP8_BLOCK - 1) / FR_FP8_BLOCK;
        const float *s = W->scale + (r / FR_FP8_BLOCK) * nb;
        for (int64_t j = 0; j < n; j++) dst[j] = fr_e4m3_to_f32(p[j]) * s[(c0 + j) / FR_FP8_BLOCK];
        break;
    }
    default:
        if (fr_dtype_get(W->dtype)->block > 1) {
            /* ggml blocks: rows are whole blocks and c0 is a block boundary */
            const uint8_t *p = (const uint8_t *)W->data + (size_t)r * fr_row_bytes(W) + fr_dtype_bytes(W->dtype, c0);
            fr_ggml_dequant(W->dtype, p, dst, n);
            break;
        }
        memset(dst, 0, (size_t)n * 4);
        break;
    }
}

void fr_matmul_generic(const fr_tensor *W, const float *X, float *Y, int n, int64_t r0, int64_t r1) {
    int64_t rows = fr_rows(W), cols = fr_cols(W);
    float w[CHUNK];
    for (int64_t r = r0; r < r1; r++) {
        for (int t0 = 0; t0 < n; t0 += TOK) {
            int nt = n - t0 < TOK ? n - t0 : TOK;
            double acc[TOK] = {0};
            for (int64_t c0 = 0; c0 < cols; c0 += CHUNK) {
                int64_t c1 = c0 + CHUNK < cols ? c0 + CHUNK : cols;
                fr_dequant_segment(W, r, c0, c1, w);
                for (int t = 0; t < nt; t++) {
                    const float *x = X + (int64_t)(t0 + t) * cols + c0;
                    float s = 0;
                    for (int64_t j = 0; j < c1 - c0; j++) s += w[j] * x[j];
                    acc[t] += s;
                }
            }
            for (int t = 0; t < nt; t++) Y[(int64_t)(t0 + t) * rows + r] = (float)acc[t];
        }
    }
}
