#include "runtime/gguf_quantize.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "formats/gguf.h"
#include "formats/gguf_write.h"
#include "tensor/ggml_quants.h"

const char *const fr_quant_type_names =
    "F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q2_K Q3_K Q4_K Q5_K Q6_K IQ4_NL IQ4_XS MXFP4, "
    "mixes Q3_K_S Q3_K_M Q3_K_L Q4_K_S Q4_K_M Q5_K_S Q5_K_M MXFP4_MOE";

/* fr dtype -> ggml type id */
static uint32_t ggml_id(fr_dtype t) {
    for (uint32_t g = 0; g < 64; g++)
        if (fr_dtype_from_ggml(g) == (int)t) return g;
    return UINT32_MAX;
}

typedef struct mix {
    const char *name;
    fr_dtype base;
    uint32_t ftype; /* llama_ftype written to general.file_type */
    int kind;       /* per-tensor rules, see choose() */
} mix;

enum { PLAIN, K_S, K_M, K3_S, K3_M, K3_L, MXFP4_MOE };

static const mix g_mixes[] = {
    {"F32", FR_DT_F32, 0, PLAIN},        {"F16", FR_DT_F16, 1, PLAIN},        {"BF16", FR_DT_BF16, 32, PLAIN},
    {"Q4_0", FR_DT_Q4_0, 2, PLAIN},      {"Q4_1", FR_DT_Q4_1, 3, PLAIN},      {"Q8_0", FR_DT_Q8_0, 7, PLAIN},
    {"Q5_0", FR_DT_Q5_0, 8, PLAIN},      {"Q5_1", FR_DT_Q5_1, 9, PLAIN},      {"Q2_K", FR_DT_Q2_K, 10, PLAIN},
    {"Q3_K", FR_DT_Q3_K, 12, K3_M},      {"Q3_K_S", FR_DT_Q3_K, 11, K3_S},    {"Q3_K_M", FR_DT_Q3_K, 12, K3_M},
    {"Q3_K_L", FR_DT_Q3_K, 13, K3_L},    {"Q4_K", FR_DT_Q4_K, 15, K_M},       {"Q4_K_S", FR_DT_Q4_K, 14, K_S},
    {"Q4_K_M", FR_DT_Q4_K, 15, K_M},     {"Q5_K", FR_DT_Q5_K, 17, K_M},       {"Q5_K_S", FR_DT_Q5_K, 16, K_S},
    {"Q5_K_M", FR_DT_Q5_K, 17, K_M},     {"Q6_K", FR_DT_Q6_K, 18, PLAIN},     {"IQ4_NL", FR_DT_IQ4_NL, 25, PLAIN},
    {"IQ4_XS", FR_DT_IQ4_XS, 30, PLAIN}, {"MXFP4", FR_DT_MXFP4, 38, PLAIN},   {"MXFP4_MOE", FR_DT_MXFP4, 38, MXFP4_MOE},
};

/* llama.cpp's choice of layers that get more bits in the K mixes */
static int more_bits(int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

static int is_k(fr_dtype t) {
    return t == FR_DT_Q2_K || t == FR_DT_Q3_K || t == FR_DT_Q4_K || t == FR_DT_Q5_K || t == FR_DT_Q6_K || t == FR_DT_IQ4_XS;
}

/* rows that are not whole blocks: llama.cpp's fallbacks */
static fr_dtype fallback(fr_dtype t, uint64_t ne0) {
    if (ne0 % (uint64_t)fr_dtype_get(t)->block == 0) return t;
    if (is_k(t)) {
        switch (t) {
        case FR_DT_Q4_K: t = FR_DT_Q5_0; break;
        case FR_DT_Q5_K: t = FR_DT_Q5_1; break;
        case FR_DT_Q6_K: t = FR_DT_Q8_0; break;
        default: t = FR_DT_IQ4_NL; break;
        }
    }
    return ne0 % (uint64_t)fr_dtype_get(t)->block == 0 ? t : FR_DT_F16;
}

static int contains(const char *s, const char *p) { return strstr(s, p) != NULL; }

/* the type for one weight; -1: leave the tensor as it is */
static int choose(const mix *mx, const fr_gguf_tensor *t, int n_layer) {
    const char *n = t->name;
    size_t len = strlen(n);
    if (t->n_dims < 2 || len < 7 || strcmp(n + len - 7, ".weight") != 0) return -1;
    if (contains(n, "ffn_gate_inp") || contains(n, "_norm")) return -1;
    int layer = -1;
    if (!strncmp(n, "blk.", 4)) layer = atoi(n + 4);
    fr_dtype ty = mx->base;
    int is_output = !strcmp(n, "output.weight");
    int down = contains(n, "ffn_down"), attn_v = contains(n, "attn_v.") || contains(n, "attn_v_b.");
    switch (mx->kind) {
    case K_M:
        if (is_output) ty = FR_DT_Q6_K;
        else if ((down || attn_v) && layer >= 0 && more_bits(layer, n_layer)) ty = FR_DT_Q6_K;
        break;
    case K_S:
        if (is_output) ty = FR_DT_Q6_K;
        else if (down && layer >= 0 && layer < n_layer / 8) ty = mx->base == FR_DT_Q4_K ? FR_DT_Q5_K : FR_DT_Q6_K;
        break;
    case K3_S:
        if (is_output) ty = FR_DT_Q6_K;
        break;
    case K3_M:
        if (is_output) ty = FR_DT_Q6_K;
        else if (attn_v) ty = layer < 2 ? FR_DT_Q5_K : FR_DT_Q4_K;
        else if (down && layer >= 0) ty = layer < n_layer / 16 ? FR_DT_Q5_K : more_bits(layer, n_layer) ? FR_DT_Q4_K : FR_DT_Q3_K;
        break;
    case K3_L:
        if (is_output) ty = FR_DT_Q6_K;
        else if (attn_v || down) ty = FR_DT_Q5_K;
        break;
    case MXFP4_MOE: /* routed experts in MXFP4, everything else Q8_0 */
        ty = contains(n, "_exps.") ? FR_DT_MXFP4 : FR_DT_Q8_0;
        break;
    default:
        if (is_output && mx->base != FR_DT_F32 && mx->base != FR_DT_F16 && mx->base != FR_DT_BF16 &&
            mx->base != FR_DT_Q8_0 && mx->base != FR_DT_Q6_K)
            ty = FR_DT_Q6_K;
        break;
    }
    return (int)fallback(ty, t->ne[0]);
}

int fr_gguf_quantize(const char *in, const char *out, const char *type, fr_progress_fn cb, void *ud) {
    const mix *mx = NULL;
    for (size_t i = 0; i < sizeof g_mixes / sizeof *g_mixes; i++)
        if (!strcmp(g_mixes[i].name, type)) mx = &g_mixes[i];
    if (!mx) return fr_err("quantize: unknown type '%s' (%s)", type, fr_quant_type_names);
    fr_gguf g;
    if (fr_gguf_open(&g, in)) return -1;
    fr_gguf_out o;
    fr_gguf_out_init(&o);
    int rc = -1, *types = calloc((size_t)(g.n_tensors ? g.n_tensors : 1), sizeof *types);
    float *f32 = NULL;
    uint8_t *qbuf = NULL;
    if (!types) {
        fr_err("out of memory");
        goto out;
    }
    /* metadata: everything but the keys rewritten here */
    for (uint64_t i = 0; i < g.n_kv; i++) {
        const char *k = g.kv[i].key;
        if (!strcmp(k, "general.file_type") || !strcmp(k, "general.alignment") || !strcmp(k, "general.quantization_version"))
            continue;
        fr_gguf_out_kv_raw(&o, g.buf + g.kv[i].rec_off, (size_t)g.kv[i].rec_len);
    }
    fr_gguf_out_kv_u32(&o, "general.quantization_version", 2);
    fr_gguf_out_kv_u32(&o, "general.file_type", mx->ftype);
    char *arch = NULL, key[256];
    int64_t n_layer = 1;
    if (fr_gguf_get_str(&g, "general.architecture", &arch) == 0) {
        snprintf(key, sizeof key, "%s.block_count", arch);
        if (fr_gguf_get_int(&g, key, 1, 1 << 20, &n_layer) < 0) n_layer = 1;
    }
    free(arch);
    fr_err_clear();

    uint64_t total = 0, max_row = 0;
    for (uint64_t i = 0; i < g.n_tensors; i++) {
        const fr_gguf_tensor *t = &g.t[i];
        int ty = choose(mx, t, (int)n_layer);
        int src = fr_dtype_from_ggml(t->type);
        if (ty >= 0 && src == ty) ty = -1; /* already in that type: copied */
        if (ty >= 0 && src < 0) {
            fr_err("%s: tensor '%s' has ggml type %s, which frugal cannot re-encode", in, t->name,
                   fr_ggml_type(t->type)->name);
            goto out;
        }
        types[i] = ty;
        uint32_t gt = ty >= 0 ? ggml_id((fr_dtype)ty) : t->type;
        if (fr_gguf_out_tensor_add(&o, t->name, gt, t->n_dims, t->ne)) goto out;
        total += t->nbytes;
        if (t->ne[0] > max_row) max_row = t->ne[0];
    }
    if (fr_gguf_out_open(&o, out)) goto out;

    /* data: rows in chunks of up to 64 */
    enum { ROWS = 64 };
    f32 = malloc((size_t)max_row * ROWS * sizeof *f32);
    qbuf = malloc((size_t)max_row * ROWS * 4 + 64);
    if (!f32 || !qbuf) {
        fr_err("out of memory");
        goto out;
    }
    uint64_t done = 0;
    for (uint64_t i = 0; i < g.n_tensors; i++) {
        const fr_gguf_tensor *t = &g.t[i];
        if (cb) cb(ud, done, total, t->name);
        if (types[i] < 0) {
            if (fr_gguf_out_write(&o, t->data, (size_t)t->nbytes)) goto out;
        } else {
            fr_dtype src = (fr_dtype)fr_dtype_from_ggml(t->type), dst = (fr_dtype)types[i];
            uint64_t cols = t->ne[0], rows = (t->n_dims > 1 ? t->ne[1] : 1) * t->ne[2] * t->ne[3];
            size_t in_row = fr_dtype_bytes(src, (int64_t)cols), out_row = fr_dtype_bytes(dst, (int64_t)cols);
            fr_tensor view = {.name = t->name, .dtype = src, .ndim = 2, .ne = {(int64_t)rows, (int64_t)cols}, .data = t->data};
            for (uint64_t r0 = 0; r0 < rows; r0 += ROWS) {
                int nr = rows - r0 < ROWS ? (int)(rows - r0) : ROWS;
#pragma omp parallel for schedule(static)
                for (int r = 0; r < nr; r++) {
                    float *x = f32 + (size_t)r * cols;
                    fr_tensor_row_f32(&view, (int64_t)(r0 + (uint64_t)r), x);
                    fr_ggml_quantize(dst, x, qbuf + (size_t)r * out_row, (int64_t)cols);
                }
                if (fr_gguf_out_write(&o, qbuf, (size_t)nr * out_row)) goto out;
                if (cb && (r0 / ROWS) % 64 == 63) cb(ud, done + (r0 + (uint64_t)nr) * in_row, total, t->name);
            }
        }
        done += t->nbytes;
    }
    if (cb) cb(ud, total, total, "");
    if (fr_gguf_out_close(&o)) goto out;
    rc = 0;
out:
    free(f32);
    free(qbuf);
    free(types);
    fr_gguf_out_free(&o);
    fr_gguf_close(&g);
    return rc;
}
