/* Internal model and context structs shared by the runtime and the families. */
#ifndef FR_MODEL_H
#define FR_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "formats/hf_config.h"
#include "frugal.h"
#include "tensor/weights.h"

typedef struct fr_family fr_family;

struct frugal_model {
    char *path;
    fr_cfg cfg;
    fr_weights w;
    const fr_family *family;
    void *impl; /* the family's weights and hyper-parameters */
    frugal_model_info info;
    int max_pos; /* max_position_embeddings */
};

/* Optional per-eval traces for tests and debugging (NULL = off). */
typedef struct fr_trace {
    int32_t *moe_idx;     /* [n_moe_layers][n][k] */
    float *moe_w;         /* [n_moe_layers][n][k] */
    float *hidden_layers; /* [n_layer][n][n_embd]: residual after each block */
} fr_trace;

struct frugal_context {
    frugal_model *model;
    int n_ctx;
    int n_threads;
    int exact; /* float32 activations for every weight type (frugal_context_params) */
    fr_dtype cache_type;  /* of the MLA latent cache */
    struct fr_pool *pool; /* worker threads of this context */
    int n_past;
    int n_rows;       /* rows of the last eval */
    int logits_all;
    float *logits;    /* [n_rows or 1][n_vocab] */
    float *hidden;    /* [n_rows][n_embd]: final-norm hidden of the last eval */
    size_t cap_rows;  /* rows the two buffers above hold */
    fr_trace trace;
    void *impl;       /* the family's caches and scratch */
};

struct fr_family {
    const char *name;
    /* 1 when this family runs config model_type */
    int (*match)(const char *model_type);
    int (*load)(frugal_model *m);
    void (*free)(frugal_model *m);
    int (*ctx_init)(frugal_context *ctx);
    void (*ctx_free)(frugal_context *ctx);
    /* tokens at positions pos0.., cache already truncated to pos0; writes
     * ctx->hidden for every row and ctx->logits (all rows or the last) */
    int (*forward)(frugal_context *ctx, const int32_t *tokens, int n, int pos0);
    int (*mtp)(frugal_context *ctx, const int32_t *next_tokens, int zero_pos0, float *out);
    int (*describe)(const frugal_model *m, char *buf, size_t size);
    /* optional, for fr_context_bench_skip: accept n positions as held */
    int (*bench_skip)(frugal_context *ctx, int n);
};

extern const fr_family fr_family_deepseek;
extern const fr_family fr_family_kimi_linear;

/* Context internals for tests. */
void fr_context_set_trace(frugal_context *ctx, const fr_trace *t);
/* Benchmarks only: treat positions 0..n-1 as held without computing them (the
 * caches keep whatever they hold, zeros after creation), so that decoding at a
 * long context can be timed without the prefill. The outputs are meaningless. */
int fr_context_bench_skip(frugal_context *ctx, int n);

#endif
