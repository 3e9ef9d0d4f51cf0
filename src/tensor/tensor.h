/* Weight views: a dtype, a shape and a pointer into a mapped file.
 *
 * Shapes are in PyTorch order: a linear weight is [rows = out_features,
 * cols = in_features] and y = W x. Nothing here owns memory. */
#ifndef FR_TENSOR_H
#define FR_TENSOR_H

#include <stddef.h>
#include <stdint.h>

typedef enum fr_dtype {
    FR_DT_F32 = 0,
    FR_DT_F16,
    FR_DT_BF16,
    FR_DT_F8_E4M3, /* float8_e4m3fn; with 128x128 block scales (see fr_tensor.scale) */
    FR_DT_I32,
    FR_DT_I64,
    /* known to the file readers, not used by the kernels */
    FR_DT_F64,
    FR_DT_I8,
    FR_DT_U8,
    FR_DT_I16,
    FR_DT_BOOL,
    FR_DT_F8_E5M2,
    /* ggml block types (GGUF files), dequantized as ggml does (tensor/ggml_quants.c) */
    FR_DT_Q4_0,
    FR_DT_Q4_1,
    FR_DT_Q5_0,
    FR_DT_Q5_1,
    FR_DT_Q8_0,
    FR_DT_Q2_K,
    FR_DT_Q3_K,
    FR_DT_Q4_K,
    FR_DT_Q5_K,
    FR_DT_Q6_K,
    FR_DT_IQ4_NL,
    FR_DT_IQ4_XS,
    FR_DT_MXFP4,
    FR_DT_COUNT
} fr_dtype;

typedef struct fr_dtype_info {
    const char *name;    /* safetensors spelling (ggml's for the block types) */
    int block;           /* elements per block (1 for scalar types) */
    int block_bytes;     /* bytes per block */
    int is_weight;       /* usable by the matrix kernels */
} fr_dtype_info;

const fr_dtype_info *fr_dtype_get(fr_dtype t);
/* safetensors dtype string -> dtype; -1 when unknown (block types are GGUF-only). */
int fr_dtype_from_name(const char *name);

/* Bytes of n elements (n a multiple of the block size). */
static inline size_t fr_dtype_bytes(fr_dtype t, int64_t n) {
    const fr_dtype_info *d = fr_dtype_get(t);
    return (size_t)(n / d->block) * (size_t)d->block_bytes;
}

#define FR_MAX_DIMS 4
#define FR_FP8_BLOCK 128

typedef struct fr_tensor {
    const char *name;
    fr_dtype dtype;
    int ndim;
    int64_t ne[FR_MAX_DIMS];  /* ne[0] outermost */
    const void *data;
    size_t nbytes;
    /* FP8 only: "<name>_scale_inv" float32 [ceil(rows/128)][ceil(cols/128)];
     * W[i][j] = e4m3(q[i][j]) * scale[i/128][j/128]. */
    const float *scale;
    /* FP8 only, may be NULL: one byte a row, what the one-token kernel has
     * seen of the row's codes (FR_F8ROW_*), so that a row of normal codes only
     * is later read without looking for the others. Zeroed memory owned by the
     * table the tensor came from (fr_weights_add); the kernel writes it. */
    unsigned char *f8rows;
} fr_tensor;

enum { FR_F8ROW_UNSEEN = 0, FR_F8ROW_NORMAL = 1, FR_F8ROW_OTHER = 2 };
/* row r's note (UNSEEN without notes), and the note of a first pass that did
 * (other) or did not find a subnormal or NaN code. Relaxed atomics: two
 * decodes on one model at once may test the same row and note the same. */
static inline int fr_f8row_get(const fr_tensor *t, int64_t r) {
    return t->f8rows ? __atomic_load_n(t->f8rows + r, __ATOMIC_RELAXED) : FR_F8ROW_UNSEEN;
}
static inline void fr_f8row_note(const fr_tensor *t, int64_t r, int other) {
    if (t->f8rows)
        __atomic_store_n(t->f8rows + r, (unsigned char)(other ? FR_F8ROW_OTHER : FR_F8ROW_NORMAL), __ATOMIC_RELAXED);
}

static inline int64_t fr_tensor_nelem(const fr_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->ne[i];
    return n;
}
/* A 2-D weight's rows and columns (a 1-D tensor is one row). */
static inline int64_t fr_rows(const fr_tensor *t) { return t->ndim >= 2 ? t->ne[0] : 1; }
static inline int64_t fr_cols(const fr_tensor *t) { return t->ne[t->ndim - 1]; }

/* Bytes of one row (the last dimension) of t. */
static inline size_t fr_row_bytes(const fr_tensor *t) { return fr_dtype_bytes(t->dtype, fr_cols(t)); }

/* Dequantize row r of a 2-D weight (or a 1-D vector, r = 0) to float32. */
void fr_tensor_row_f32(const fr_tensor *t, int64_t r, float *dst);
/* Dequantize the whole tensor into dst (nelem floats). */
void fr_tensor_to_f32(const fr_tensor *t, float *dst);

/* Scalar conversions. */
float fr_f16_to_f32(uint16_t h);
uint16_t fr_f32_to_f16(float f);
float fr_bf16_to_f32(uint16_t b);
uint16_t fr_f32_to_bf16(float f); /* round to nearest even */
float fr_e4m3_to_f32(uint8_t c);

#endif
