#include "runtime/gguf_quantize.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "formats/gguf.h"
#include "tensor/ggml_quants.h"

const char *const fr_quant_type_names =
    "F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q2_K Q3_K Q4_K Q5_K Q6_K IQ4_NL IQ4_XS MXFP4, "
    "mixes Q3_K_S Q3_K_M Q3_K_L Q4_K_S Q4_K_M Q5_K_S Q5_K_M MXFP4_MOE";

uint32_t fr_ggml_id(fr_dtype t) {
    for (uint32_t g = 0; g < 64; g++)
        if (fr_dtype_from_ggml(g) == (int)t) return g;
    return UINT32_MAX;
}

/* ---- type choice --------------------------------------------------------- */

struct fr_mix {
    const char *name;
    fr_dtype base;
    uint32_t ftype; /* llama_ftype */
    int kind;       /* per-tensor rules, see fr_mix_choose() */
};

enum { PLAIN, K_S, K_M, K3_S, K3_M, K3_L, MXFP4_MOE };

static const fr_mix g_mixes[] = {
    {"F32", FR_DT_F32, 0, PLAIN},        {"F16", FR_DT_F16, 1, PLAIN},        {"BF16", FR_DT_BF16, 32, PLAIN},
    {"Q4_0", FR_DT_Q4_0, 2, PLAIN},      {"Q4_1", FR_DT_Q4_1, 3, PLAIN},      {"Q8_0", FR_DT_Q8_0, 7, PLAIN},
    {"Q5_0", FR_DT_Q5_0, 8, PLAIN},      {"Q5_1", FR_DT_Q5_1, 9, PLAIN},      {"Q2_K", FR_DT_Q2_K, 10, PLAIN},
    {"Q3_K", FR_DT_Q3_K, 12, K3_M},      {"Q3_K_S", FR_DT_Q3_K, 11, K3_S},    {"Q3_K_M", FR_DT_Q3_K, 12, K3_M},
    {"Q3_K_L", FR_DT_Q3_K, 13, K3_L},    {"Q4_K", FR_DT_Q4_K, 15, K_M},       {"Q4_K_S", FR_DT_Q4_K, 14, K_S},
    {"Q4_K_M", FR_DT_Q4_K, 15, K_M},     {"Q5_K", FR_DT_Q5_K, 17, K_M},       {"Q5_K_S", FR_DT_Q5_K, 16, K_S},
    {"Q5_K_M", FR_DT_Q5_K, 17, K_M},     {"Q6_K", FR_DT_Q6_K, 18, PLAIN},     {"IQ4_NL", FR_DT_IQ4_NL, 25, PLAIN},
    {"IQ4_XS", FR_DT_IQ4_XS, 30, PLAIN}, {"MXFP4", FR_DT_MXFP4, 38, PLAIN},   {"MXFP4_MOE", FR_DT_MXFP4, 38, MXFP4_MOE},
};

const fr_mix *fr_mix_find(const char *name) {
    for (size_t i = 0; i < sizeof g_mixes / sizeof *g_mixes; i++)
        if (!strcmp(g_mixes[i].name, name)) return &g_mixes[i];
    return NULL;
}

uint32_t fr_mix_ftype(const fr_mix *m) { return m->ftype; }

/* llama.cpp's choice of layers that get more bits in the K mixes */
static int more_bits(int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

static int is_k(fr_dtype t) {
    return t == FR_DT_Q2_K || t == FR_DT_Q3_K || t == FR_DT_Q4_K || t == FR_DT_Q5_K || t == FR_DT_Q6_K || t == FR_DT_IQ4_XS;
}

/* rows that are not whole blocks: llama.cpp's fallbacks */
static fr_dtype fallback(fr_dtype t, uint64_t ne0) {
    if (ne0 % (uint64_t)fr_dtype_get(t)->block == 0) return t;
    if (is_k(t)) { /* as the llama.cpp build of node-llama-cpp 3.21.1 does */
        switch (t) {
        case FR_DT_Q4_K: t = FR_DT_Q5_0; break;
        case FR_DT_Q5_K: t = FR_DT_Q5_1; break;
        case FR_DT_Q6_K: t = FR_DT_Q8_0; break;
        case FR_DT_IQ4_XS: t = FR_DT_IQ4_NL; break;
        default: t = FR_DT_Q4_0; break; /* Q2_K, Q3_K */
        }
    }
    return ne0 % (uint64_t)fr_dtype_get(t)->block == 0 ? t : FR_DT_F16;
}

static int contains(const char *s, const char *p) { return strstr(s, p) != NULL; }

int fr_mix_choose(const fr_mix *mx, const char *n, int n_dims, uint64_t ne0, int n_layer, int n_expert) {
    size_t len = strlen(n);
    if (n_dims < 2 || len < 7 || strcmp(n + len - 7, ".weight") != 0) return -1;
    if (contains(n, "ffn_gate_inp") || contains(n, "_norm")) return -1;
    if (contains(n, "ssm_conv1d")) return -1; /* kimi-linear's short convolutions: llama.cpp keeps them as they are */
    int layer = -1;
    if (!strncmp(n, "blk.", 4)) layer = atoi(n + 4);
    fr_dtype ty = mx->base;
    const char *ftype = mx->name;
    int is_output = !strcmp(n, "output.weight");
    /* llama.cpp's categories: ffn_down* (dense, experts, shared); attn_v (attn_kv_b in
     * the older MLA layout; not attn_v_b); attn_output */
    int down = contains(n, "ffn_down"), attn_v = contains(n, "attn_v.weight") || contains(n, "attn_kv_b.weight");
    int attn_out = contains(n, "attn_output.weight");
    int quant = mx->base != FR_DT_F32 && mx->base != FR_DT_F16 && mx->base != FR_DT_BF16;
    int iq4 = !strcmp(ftype, "IQ4_NL") || !strcmp(ftype, "IQ4_XS");
    if (mx->kind == MXFP4_MOE) { /* stacked 3-D tensors (experts, attn_k_b/v_b) in MXFP4, the rest Q8_0 */
        ty = n_dims == 3 ? FR_DT_MXFP4 : FR_DT_Q8_0;
    } else if (!quant) {
        /* 16/32-bit files: no per-tensor rules */
    } else if (is_output) {
        if (mx->base != FR_DT_F32 && mx->base != FR_DT_F16 && mx->base != FR_DT_BF16 && mx->base != FR_DT_Q8_0)
            ty = FR_DT_Q6_K;
    } else if (attn_v && layer >= 0) {
        if (!strcmp(ftype, "Q2_K")) ty = FR_DT_Q3_K;
        else if (!strcmp(ftype, "Q3_K_M") || !strcmp(ftype, "Q3_K")) ty = layer < 2 ? FR_DT_Q5_K : FR_DT_Q4_K;
        else if (!strcmp(ftype, "Q3_K_L")) ty = FR_DT_Q5_K;
        else if (mx->kind == K_M && more_bits(layer, n_layer)) ty = FR_DT_Q6_K;
        else if (!strcmp(ftype, "Q4_K_S") && layer < 4) ty = FR_DT_Q5_K;
        if (n_expert == 8) ty = FR_DT_Q8_0; /* llama.cpp: cheap for 8-expert models */
    } else if (down && layer >= 0) {
        if (!strcmp(ftype, "Q2_K")) ty = FR_DT_Q3_K;
        else if (!strcmp(ftype, "Q3_K_M") || !strcmp(ftype, "Q3_K")) ty = layer < n_layer / 16 ? FR_DT_Q5_K : FR_DT_Q4_K;
        else if (!strcmp(ftype, "Q3_K_L")) ty = FR_DT_Q5_K;
        else if ((!strcmp(ftype, "IQ4_NL") || !strcmp(ftype, "IQ4_XS")) && layer < n_layer / 8) ty = FR_DT_Q5_K;
        else if (mx->kind == K_M && more_bits(layer, n_layer)) ty = FR_DT_Q6_K;
        else if (!strcmp(ftype, "Q4_K_S") && layer < n_layer / 8) ty = FR_DT_Q5_K;
    } else if (attn_out) {
        if (n_expert == 8) {
            if (!strcmp(ftype, "Q2_K") || mx->kind == K3_S || mx->kind == K3_M || !strcmp(ftype, "Q4_K_S") ||
                !strcmp(ftype, "Q4_K_M") || !strcmp(ftype, "Q4_K") || iq4)
                ty = FR_DT_Q5_K;
        } else {
            if (!strcmp(ftype, "Q2_K")) ty = FR_DT_Q3_K;
            else if (mx->kind == K3_M) ty = FR_DT_Q4_K;
            else if (mx->kind == K3_L) ty = FR_DT_Q5_K;
        }
    }
    return (int)fallback(ty, ne0);
}

/* ---- plans --------------------------------------------------------------- */

int fr_plan_add(fr_plan *p, const char *name, uint32_t type, int n_dims, const uint64_t *ne, const fr_plan_src *src,
                uint64_t src_bytes) {
    if (p->n == p->cap) {
        int cap = p->cap ? 2 * p->cap : 256;
        fr_plan_tensor *nt = realloc(p->t, (size_t)cap * sizeof *nt);
        if (!nt) return fr_err("out of memory");
        p->t = nt;
        p->cap = cap;
    }
    fr_plan_tensor *t = &p->t[p->n];
    memset(t, 0, sizeof *t);
    t->name = strdup(name);
    if (!t->name) return fr_err("out of memory");
    t->type = type;
    t->n_dims = n_dims;
    for (int i = 0; i < 4; i++) t->ne[i] = i < n_dims ? ne[i] : 1;
    t->src = *src;
    t->src_bytes = src_bytes;
    p->n++;
    return 0;
}

void fr_plan_free(fr_plan *p) {
    for (int i = 0; i < p->n; i++) {
        free(p->t[i].name);
        free(p->t[i].src.ex);
    }
    free(p->t);
    memset(p, 0, sizeof *p);
}

int fr_plan_declare(const fr_plan *p, fr_gguf_out *o) {
    for (int i = 0; i < p->n; i++)
        if (fr_gguf_out_tensor_add(o, p->t[i].name, p->t[i].type, p->t[i].n_dims, p->t[i].ne)) return -1;
    return 0;
}

/* rows [r0, r0 + nr) of the output tensor as float32 into x[nr][cols] */
static void get_rows(const fr_plan_src *s, uint64_t r0, int nr, uint64_t cols, float *x, float *cache, int *cache_h) {
    switch (s->kind) {
    case FR_SRC_ROWS:
        for (int i = 0; i < nr; i++) fr_tensor_row_f32(&s->t, (int64_t)(r0 + (uint64_t)i), x + (size_t)i * cols);
        break;
    case FR_SRC_EXPERTS: {
        int64_t per = s->ex[0].ne[0];
        for (int i = 0; i < nr; i++) {
            int64_t r = (int64_t)(r0 + (uint64_t)i);
            fr_tensor_row_f32(&s->ex[r / per], r % per, x + (size_t)i * cols);
        }
        break;
    }
    case FR_SRC_VB:
        for (int i = 0; i < nr; i++) {
            int64_t r = (int64_t)(r0 + (uint64_t)i), h = r / s->dv, j = r % s->dv;
            fr_tensor_row_f32(&s->t, h * (s->dn + s->dv) + s->dn + j, x + (size_t)i * cols);
        }
        break;
    case FR_SRC_KB: /* row (h, k) = column k of kv_b rows h*(dn+dv) .. + dn; cache one head [dn][r] */
        for (int i = 0; i < nr; i++) {
            int64_t r = (int64_t)(r0 + (uint64_t)i), h = r / s->r, k = r % s->r;
            if (*cache_h != (int)h) {
                for (int d = 0; d < s->dn; d++) fr_tensor_row_f32(&s->t, h * (s->dn + s->dv) + d, cache + (size_t)d * s->r);
                *cache_h = (int)h;
            }
            for (int d = 0; d < s->dn; d++) x[(size_t)i * cols + d] = cache[(size_t)d * s->r + k];
        }
        break;
    default:
        break;
    }
}

int fr_plan_write(const fr_plan *p, fr_gguf_out *o, fr_progress_fn cb, void *ud) {
    enum { ROWS = 64 };
    uint64_t total = 0, done = 0, max_cols = 0, max_cache = 1;
    for (int i = 0; i < p->n; i++) {
        total += p->t[i].src_bytes;
        if (p->t[i].ne[0] > max_cols) max_cols = p->t[i].ne[0];
        if (p->t[i].src.kind == FR_SRC_KB && (uint64_t)p->t[i].src.dn * (uint64_t)p->t[i].src.r > max_cache)
            max_cache = (uint64_t)p->t[i].src.dn * (uint64_t)p->t[i].src.r;
    }
    float *x = malloc((size_t)max_cols * ROWS * sizeof *x), *cache = malloc((size_t)max_cache * sizeof *cache);
    uint8_t *q = malloc((size_t)max_cols * ROWS * 4 + 64);
    int rc = -1;
    if (!x || !q || !cache) {
        fr_err("out of memory");
        goto out;
    }
    for (int i = 0; i < p->n; i++) {
        const fr_plan_tensor *t = &p->t[i];
        if (cb) cb(ud, done, total, t->name);
        if (t->src.kind == FR_SRC_RAW) {
            if (fr_gguf_out_write(o, t->src.raw, (size_t)o->t[i].nbytes)) goto out;
            done += t->src_bytes;
            continue;
        }
        fr_dtype dst = (fr_dtype)fr_dtype_from_ggml(t->type);
        uint64_t cols = t->ne[0], rows = t->ne[1] * t->ne[2] * t->ne[3];
        size_t out_row = fr_dtype_bytes(dst, (int64_t)cols);
        int cache_h = -1;
        for (uint64_t r0 = 0; r0 < rows; r0 += ROWS) {
            int nr = rows - r0 < ROWS ? (int)(rows - r0) : ROWS;
            get_rows(&t->src, r0, nr, cols, x, cache, &cache_h);
            for (int r = 0; r < nr; r++) fr_ggml_quantize(dst, x + (size_t)r * cols, q + (size_t)r * out_row, (int64_t)cols);
            if (fr_gguf_out_write(o, q, (size_t)nr * out_row)) goto out;
            if (cb && (r0 / ROWS) % 256 == 255) cb(ud, done + t->src_bytes * (r0 + (uint64_t)nr) / rows, total, t->name);
        }
        done += t->src_bytes;
    }
    if (cb) cb(ud, total, total, "");
    rc = 0;
out:
    free(x);
    free(q);
    free(cache);
    return rc;
}

/* ---- frugal quantize ----------------------------------------------------- */

int fr_gguf_quantize(const char *in, const char *out, const char *type, fr_progress_fn cb, void *ud) {
    const fr_mix *mx = fr_mix_find(type);
    if (!mx) return fr_err("quantize: unknown type '%s' (%s)", type, fr_quant_type_names);
    fr_gguf g;
    if (fr_gguf_open(&g, in)) return -1;
    fr_gguf_out o;
    fr_gguf_out_init(&o);
    fr_plan p = {0};
    int rc = -1;
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
    int64_t n_layer = 1, n_expert = 0;
    if (fr_gguf_get_str(&g, "general.architecture", &arch) == 0) {
        snprintf(key, sizeof key, "%s.block_count", arch);
        if (fr_gguf_get_int(&g, key, 1, 1 << 20, &n_layer) < 0) n_layer = 1;
        snprintf(key, sizeof key, "%s.expert_count", arch);
        if (fr_gguf_get_int(&g, key, 0, 1 << 20, &n_expert) < 0) n_expert = 0;
    }
    free(arch);
    fr_err_clear();

    for (uint64_t i = 0; i < g.n_tensors; i++) {
        const fr_gguf_tensor *t = &g.t[i];
        int ty = fr_mix_choose(mx, t->name, t->n_dims, t->ne[0], (int)n_layer, (int)n_expert);
        int src = fr_dtype_from_ggml(t->type);
        fr_plan_src s = {.kind = FR_SRC_RAW, .raw = t->data};
        uint32_t gt = t->type;
        if (ty >= 0 && src != ty) {
            if (src < 0) {
                fr_err("%s: tensor '%s' has ggml type %s, which frugal cannot re-encode", in, t->name,
                       fr_ggml_type(t->type)->name);
                goto out;
            }
            uint64_t rows = t->ne[1] * t->ne[2] * t->ne[3];
            s.kind = FR_SRC_ROWS;
            s.t = (fr_tensor){.name = t->name, .dtype = (fr_dtype)src, .ndim = 2,
                              .ne = {(int64_t)rows, (int64_t)t->ne[0]}, .data = t->data, .nbytes = t->nbytes};
            gt = fr_ggml_id((fr_dtype)ty);
        }
        if (fr_plan_add(&p, t->name, gt, t->n_dims, t->ne, &s, t->nbytes)) goto out;
    }
    if (fr_plan_declare(&p, &o) || fr_gguf_out_open(&o, out) || fr_plan_write(&p, &o, cb, ud) || fr_gguf_out_close(&o))
        goto out;
    rc = 0;
out:
    fr_plan_free(&p);
    fr_gguf_out_free(&o);
    fr_gguf_close(&g);
    return rc;
}
