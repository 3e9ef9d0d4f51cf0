#include <math.h>
#include <pthread.h>
#include <string.h>

#include "tensor/tensor.h"
#include "tensor/ggml_quants.h"

static const fr_dtype_info g_dtypes[FR_DT_COUNT] = {
    [FR_DT_F32] = {"F32", 1, 4, 1},
    [FR_DT_F16] = {"F16", 1, 2, 1},
    [FR_DT_BF16] = {"BF16", 1, 2, 1},
    [FR_DT_F8_E4M3] = {"F8_E4M3", 1, 1, 1},
    [FR_DT_I32] = {"I32", 1, 4, 0},
    [FR_DT_I64] = {"I64", 1, 8, 0},
    [FR_DT_F64] = {"F64", 1, 8, 0},
    [FR_DT_I8] = {"I8", 1, 1, 0},
    [FR_DT_U8] = {"U8", 1, 1, 0},
    [FR_DT_I16] = {"I16", 1, 2, 0},
    [FR_DT_BOOL] = {"BOOL", 1, 1, 0},
    [FR_DT_F8_E5M2] = {"F8_E5M2", 1, 1, 0},
    [FR_DT_Q4_0] = {"Q4_0", 32, 18, 1},
    [FR_DT_Q4_1] = {"Q4_1", 32, 20, 1},
    [FR_DT_Q5_0] = {"Q5_0", 32, 22, 1},
    [FR_DT_Q5_1] = {"Q5_1", 32, 24, 1},
    [FR_DT_Q8_0] = {"Q8_0", 32, 34, 1},
    [FR_DT_Q2_K] = {"Q2_K", 256, 84, 1},
    [FR_DT_Q3_K] = {"Q3_K", 256, 110, 1},
    [FR_DT_Q4_K] = {"Q4_K", 256, 144, 1},
    [FR_DT_Q5_K] = {"Q5_K", 256, 176, 1},
    [FR_DT_Q6_K] = {"Q6_K", 256, 210, 1},
    [FR_DT_IQ4_NL] = {"IQ4_NL", 32, 18, 1},
    [FR_DT_IQ4_XS] = {"IQ4_XS", 256, 136, 1},
    [FR_DT_MXFP4] = {"MXFP4", 32, 17, 1},
};

const fr_dtype_info *fr_dtype_get(fr_dtype t) { return &g_dtypes[t]; }

int fr_dtype_from_name(const char *name) {
    for (int i = 0; i < FR_DT_COUNT; i++)
        if (g_dtypes[i].block == 1 && strcmp(g_dtypes[i].name, name) == 0) return i;
    return -1;
}

float fr_bf16_to_f32(uint16_t b) {
    uint32_t u = (uint32_t)b << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

uint16_t fr_f32_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

float fr_f16_to_f32(uint16_t h) {
    uint32_t s = (uint32_t)(h >> 15) << 31, e = (h >> 10) & 31u, m = h & 0x3ffu, u;
    if (e == 0) {
        /* zero or subnormal: m * 2^-24 is exact in float */
        float v = (float)m * 0x1p-24f;
        return s ? -v : v;
    }
    if (e == 31) u = s | 0x7f800000u | (m << 13);
    else u = s | ((e + 112u) << 23) | (m << 13);
    float f;
    memcpy(&f, &u, 4);
    return f;
}

uint16_t fr_f32_to_f16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    uint16_t s = (uint16_t)((u >> 16) & 0x8000u);
    float a = fabsf(f);
    if (a != a) return s | 0x7e00u;
    if (a >= 65520.0f) return s | 0x7c00u; /* rounds to inf */
    if (a < 0x1p-14f) {                    /* subnormal: round(a / 2^-24) */
        return s | (uint16_t)lrintf(a * 0x1p24f);
    }
    uint32_t au = u & 0x7fffffffu;
    uint32_t e = (au >> 23) - 112u, m = au & 0x7fffffu;
    uint32_t h = (e << 10) | (m >> 13);
    uint32_t rest = m & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) h++;
    return s | (uint16_t)h;
}

float fr_e4m3_to_f32(uint8_t c) {
    int s = c >> 7, e = (c >> 3) & 15, m = c & 7;
    if (e == 15 && m == 7) return NAN;
    float v = (e == 0) ? ldexpf((float)m, -9) : ldexpf(1.0f + (float)m / 8.0f, e - 7);
    return s ? -v : v;
}

/* 256-entry table, built once. */
static float g_e4m3[256];
static void e4m3_init(void) {
    for (int i = 0; i < 256; i++) g_e4m3[i] = fr_e4m3_to_f32((uint8_t)i);
}

void fr_tensor_row_f32(const fr_tensor *t, int64_t r, float *dst) {
    int64_t n = fr_cols(t);
    switch (t->dtype) {
    case FR_DT_F32:
        memcpy(dst, (const float *)t->data + r * n, (size_t)n * 4);
        break;
    case FR_DT_F16: {
        const uint16_t *p = (const uint16_t *)t->data + r * n;
        for (int64_t j = 0; j < n; j++) dst[j] = fr_f16_to_f32(p[j]);
        break;
    }
    case FR_DT_BF16: {
        const uint16_t *p = (const uint16_t *)t->data + r * n;
        for (int64_t j = 0; j < n; j++) dst[j] = fr_bf16_to_f32(p[j]);
        break;
    }
    case FR_DT_F8_E4M3: {
        static pthread_once_t once = PTHREAD_ONCE_INIT;
        pthread_once(&once, e4m3_init);
        const uint8_t *p = (const uint8_t *)t->data + r * n;
        int64_t nb = (n + FR_FP8_BLOCK - 1) / FR_FP8_BLOCK;
        const float *s = t->scale + (r / FR_FP8_BLOCK) * nb;
        for (int64_t j = 0; j < n; j++) dst[j] = g_e4m3[p[j]] * s[j / FR_FP8_BLOCK];
        break;
    }
    case FR_DT_I32: {
        const int32_t *p = (const int32_t *)t->data + r * n;
        for (int64_t j = 0; j < n; j++) dst[j] = (float)p[j];
        break;
    }
    case FR_DT_I64: {
        const int64_t *p = (const int64_t *)t->data + r * n;
        for (int64_t j = 0; j < n; j++) dst[j] = (float)p[j];
        break;
    }
    default:
        if (fr_dtype_get(t->dtype)->block > 1)
            fr_ggml_dequant(t->dtype, (const uint8_t *)t->data + (size_t)r * fr_row_bytes(t), dst, n);
        break;
    }
}

void fr_tensor_to_f32(const fr_tensor *t, float *dst) {
    int64_t rows = fr_tensor_nelem(t) / fr_cols(t), n = fr_cols(t);
    if (t->ndim > 2 && t->dtype == FR_DT_F8_E4M3) return; /* not used: FP8 weights are 2-D */
    for (int64_t r = 0; r < rows; r++) fr_tensor_row_f32(t, r, dst + r * n);
}
