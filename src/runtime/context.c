/* Contexts: the caches of one sequence, and evaluation of token batches. */
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/pool.h"
#include "kernels/kernels.h"
#include "runtime/model.h"

frugal_context_params frugal_context_default_params(void) {
    frugal_context_params p = {.n_ctx = 0, .n_threads = 0};
    return p;
}

frugal_cache_type frugal_cache_type_default(int exact) { return exact ? FRUGAL_CACHE_F32 : FRUGAL_CACHE_BF16; }

static const char *const g_cache_names[] = {"auto", "f32", "f16", "bf16", "q8_0", "i8"};

const char *frugal_cache_type_name(frugal_cache_type type) {
    return (unsigned)type <= FRUGAL_CACHE_I8 ? g_cache_names[type] : "?";
}

int frugal_cache_type_from_name(const char *name) {
    for (int i = 0; i <= FRUGAL_CACHE_I8; i++)
        if (!strcmp(name, g_cache_names[i])) return i;
    return -1;
}

int frugal_context_create(frugal_model *model, const frugal_context_params *params, frugal_context **out) {
    *out = NULL;
    frugal_context_params p = params ? *params : frugal_context_default_params();
    if (p.n_ctx < 0 || p.n_threads < 0) return fr_err("context: n_ctx and n_threads must be >= 0");
    frugal_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return fr_err("out of memory");
    ctx->model = model;
    ctx->n_ctx = p.n_ctx ? p.n_ctx : (model->max_pos < 4096 ? model->max_pos : 4096);
    ctx->n_threads = p.n_threads;
    ctx->exact = p.exact != 0;
    static const fr_dtype types[] = {[FRUGAL_CACHE_F32] = FR_DT_F32, [FRUGAL_CACHE_F16] = FR_DT_F16,
                                     [FRUGAL_CACHE_BF16] = FR_DT_BF16, [FRUGAL_CACHE_Q8_0] = FR_DT_Q8_0, [FRUGAL_CACHE_I8] = FR_DT_I8};
    if ((unsigned)p.cache_type > FRUGAL_CACHE_I8) {
        free(ctx);
        return fr_err("context: unknown cache type %d", (int)p.cache_type);
    }
    /* AUTO: bf16, or f32 in exact mode (the flag or FRUGAL_EXACT=1) */
    const int exact = ctx->exact || fr_kernels_exact();
    ctx->cache_type = types[p.cache_type == FRUGAL_CACHE_AUTO ? frugal_cache_type_default(exact) : p.cache_type];
    ctx->pool = fr_pool_create(p.n_threads);
    if (!ctx->pool) {
        free(ctx);
        return fr_err("cannot create %d threads", p.n_threads);
    }
    if (model->family->ctx_init(ctx)) {
        frugal_context_free(ctx);
        return -1;
    }
    *out = ctx;
    return 0;
}

void frugal_context_free(frugal_context *ctx) {
    if (!ctx) return;
    if (ctx->model->family->ctx_free) ctx->model->family->ctx_free(ctx);
    free(ctx->logits);
    free(ctx->hidden);
    fr_pool_free(ctx->pool);
    free(ctx);
}

int frugal_context_n_ctx(const frugal_context *ctx) { return ctx->n_ctx; }

frugal_cache_type frugal_context_cache_type(const frugal_context *ctx) {
    switch (ctx->cache_type) {
    case FR_DT_F16: return FRUGAL_CACHE_F16;
    case FR_DT_BF16: return FRUGAL_CACHE_BF16;
    case FR_DT_Q8_0: return FRUGAL_CACHE_Q8_0;
    case FR_DT_I8: return FRUGAL_CACHE_I8;
    default: return FRUGAL_CACHE_F32;
    }
}
int frugal_n_past(const frugal_context *ctx) { return ctx->n_past; }

void fr_context_set_trace(frugal_context *ctx, const fr_trace *t) {
    if (t) ctx->trace = *t;
    else memset(&ctx->trace, 0, sizeof ctx->trace);
}

int fr_context_bench_skip(frugal_context *ctx, int n) {
    if (n < 0 || n >= ctx->n_ctx) return fr_err("bench skip: position %d is outside the context [0, %d)", n, ctx->n_ctx);
    if (ctx->model->family->bench_skip && ctx->model->family->bench_skip(ctx, n)) return -1;
    ctx->n_past = n;
    ctx->n_rows = 0;
    return 0;
}

int frugal_eval(frugal_context *ctx, const int32_t *tokens, int n, int pos0, int logits_all) {
    const frugal_model_info *in = &ctx->model->info;
    if (n <= 0) return fr_err("eval: no tokens");
    if (pos0 < 0 || pos0 > ctx->n_past)
        return fr_err("eval: position %d is past the %d positions held in the cache", pos0, ctx->n_past);
    if (pos0 + n > ctx->n_ctx)
        return fr_err("eval: positions up to %d exceed the context size %d (use -c)", pos0 + n, ctx->n_ctx);
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= in->n_vocab)
            return fr_err("eval: token id %d at index %d is out of range [0, %d)", tokens[i], i, in->n_vocab);
    size_t rows = (size_t)n;
    if (rows > ctx->cap_rows) {
        float *l = realloc(ctx->logits, rows * (size_t)in->n_vocab * sizeof(float));
        if (l) ctx->logits = l;
        float *h = realloc(ctx->hidden, rows * (size_t)in->n_embd * sizeof(float));
        if (h) ctx->hidden = h;
        if (!l || !h) return fr_err("out of memory for %d rows of logits", n);
        ctx->cap_rows = rows;
    }
    ctx->logits_all = logits_all;
    ctx->n_past = pos0; /* the cache is valid below pos0 */
    fr_pool_set_current(ctx->pool);
    fr_kernels_set_exact(ctx->exact);
    int rc = ctx->model->family->forward(ctx, tokens, n, pos0);
    fr_kernels_set_exact(0);
    fr_pool_set_current(NULL);
    if (rc) return -1;
    ctx->n_rows = n;
    ctx->n_past = pos0 + n;
    return 0;
}

const float *frugal_get_logits(const frugal_context *ctx, int i) {
    if (i < 0 || i >= ctx->n_rows) return NULL;
    if (ctx->logits_all) return ctx->logits + (size_t)i * ctx->model->info.n_vocab;
    return i == ctx->n_rows - 1 ? ctx->logits : NULL;
}

const float *frugal_get_hidden(const frugal_context *ctx, int i) {
    if (i < 0 || i >= ctx->n_rows) return NULL;
    return ctx->hidden + (size_t)i * ctx->model->info.n_embd;
}

int frugal_eval_mtp(frugal_context *ctx, const int32_t *next_tokens, int zero_pos0, float *out) {
    if (ctx->n_rows <= 0) return fr_err("mtp: no eval to continue from");
    if (!ctx->model->family->mtp) return fr_err("mtp: the model family has no MTP module");
    fr_pool_set_current(ctx->pool);
    fr_kernels_set_exact(ctx->exact);
    int rc = ctx->model->family->mtp(ctx, next_tokens, zero_pos0, out);
    fr_kernels_set_exact(0);
    fr_pool_set_current(NULL);
    return rc;
}
