/* DeepSeek-V2 / V2-Lite / V3 / R1 / V3.1, Moonlight and Kimi K2.
 *
 * Reads top to bottom like the papers:
 *   h0 = embed[tokens]
 *   each block: h += MLA(RMSNorm(h)); h += FFN(RMSNorm(h))
 *     FFN = dense SwiGLU below first_k_dense_replace (and off the moe_layer_freq
 *     grid), DeepSeekMoE elsewhere
 *   logits = lm_head(RMSNorm(h))
 *   MTP (V3): x = eh_proj([enorm(embed(t_{i+1})) ; hnorm(h_i)]), one more block,
 *     logits = shared_head.head(shared_head.norm(x))
 * Reference: deepseek-ai/DeepSeek-V3 inference/model.py (float32). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/arena.h"
#include "base/err.h"
#include "kernels/kernels.h"
#include "layers/mla.h"
#include "layers/moe.h"
#include "layers/rope.h"
#include "runtime/model.h"

typedef struct ds_hparams {
    int n_vocab, d, n_layer, n_head, q_lora, kv_lora, d_nope, d_rope, d_v;
    int ff, moe_ff, n_expert, n_shared, k, n_group, topk_group, first_dense, moe_freq;
    int scoring, group_mode, norm_topk, has_bias, n_mtp;
    float eps, route_scale, scale;
    float eps_mla; /* q_a / kv_a layernorms: 1e-6 in the HF code; GGUF (llama.cpp) uses eps */
    fr_rope_cfg rope;
    const char *topk_method;
} ds_hparams;

typedef struct ds_block {
    float *attn_norm, *ffn_norm; /* [d] */
    fr_mla attn;
    int is_moe;
    fr_mlp mlp;
    fr_moe moe;
} ds_block;

typedef struct ds_mtp {
    fr_tensor embed;           /* [vocab, d] */
    float *enorm, *hnorm;      /* [d] */
    fr_tensor eh_proj;         /* [d, 2d] */
    ds_block block;
    float *head_norm;          /* [d] */
    fr_tensor head;            /* [vocab, d] */
} ds_mtp;

typedef struct ds_model {
    ds_hparams hp;
    fr_tensor embed;           /* [vocab, d] */
    ds_block *blocks;          /* [n_layer] */
    float *norm;               /* [d] */
    fr_tensor lm_head;         /* [vocab, d] */
    ds_mtp *mtp;               /* NULL without MTP */
} ds_model;

typedef struct ds_ctx {
    fr_mla_cache *kv;          /* [n_layer] */
    fr_mla_cache mtp_kv;
    float *cos_t, *sin_t;      /* [n_ctx][d_rope/2] */
    fr_arena arena;
    int mtp_past;
} ds_ctx;

/* ---- configuration ------------------------------------------------------- */

static int ds_match(const char *mt) {
    return !strcmp(mt, "deepseek_v2") || !strcmp(mt, "deepseek_v3") || !strcmp(mt, "kimi_k2");
}

static int read_hparams(const fr_cfg *c, ds_hparams *hp, int *max_pos) {
    int64_t v;
    double x;
    const char *s;
#define INT(key, req, def, lo, hi, dst) \
    do { if (fr_cfg_int(c, key, req, def, lo, hi, &v)) return -1; dst = (int)v; } while (0)
    INT("vocab_size", 1, 0, 1, 1 << 24, hp->n_vocab);
    INT("hidden_size", 1, 0, 1, 1 << 16, hp->d);
    INT("num_hidden_layers", 1, 0, 1, 1024, hp->n_layer);
    INT("num_attention_heads", 1, 0, 1, 1024, hp->n_head);
    INT("q_lora_rank", 0, 0, 0, 1 << 16, hp->q_lora);
    INT("kv_lora_rank", 1, 0, 1, 1 << 14, hp->kv_lora);
    INT("qk_nope_head_dim", 1, 0, 0, 4096, hp->d_nope);
    INT("qk_rope_head_dim", 1, 0, 0, 1024, hp->d_rope);
    INT("v_head_dim", 1, 0, 1, 4096, hp->d_v);
    INT("intermediate_size", 1, 0, 1, 1 << 20, hp->ff);
    INT("n_routed_experts", 0, 0, 0, 1 << 14, hp->n_expert);
    INT("moe_intermediate_size", hp->n_expert > 0, 0, 1, 1 << 20, hp->moe_ff);
    INT("n_shared_experts", 0, 0, 0, 64, hp->n_shared);
    INT("num_experts_per_tok", hp->n_expert > 0, 0, 1, hp->n_expert > 0 ? hp->n_expert : 1, hp->k);
    INT("n_group", 0, 1, 1, 1024, hp->n_group);
    INT("topk_group", 0, 1, 1, hp->n_group, hp->topk_group);
    INT("first_k_dense_replace", 0, 0, 0, 1 << 20, hp->first_dense);
    INT("moe_layer_freq", 0, 1, 1, 1024, hp->moe_freq);
    INT("num_nextn_predict_layers", 0, 0, 0, 1, hp->n_mtp);
    INT("max_position_embeddings", 0, 4096, 1, 1 << 24, *max_pos);
#undef INT
    if (hp->d_rope % 2) return fr_err("%s: field 'qk_rope_head_dim' = %d must be even", c->path, hp->d_rope);
    if (fr_cfg_num(c, "rms_norm_eps", 0, 1e-6, 0, 1, &x)) return -1;
    hp->eps = (float)x;
    /* set by the GGUF loader only: llama.cpp normalises the MLA latents with the model eps */
    if (fr_cfg_num(c, "mla_layernorm_eps", 0, 1e-6, 0, 1, &x)) return -1;
    hp->eps_mla = (float)x;
    if (fr_cfg_num(c, "routed_scaling_factor", 0, 1.0, 0, 1e6, &x)) return -1;
    hp->route_scale = (float)x;
    if (fr_cfg_bool(c, "norm_topk_prob", 0, 0, &hp->norm_topk)) return -1;
    if (fr_cfg_str(c, "scoring_func", 0, "softmax", &s)) return -1;
    if (!strcmp(s, "softmax")) hp->scoring = FR_SCORE_SOFTMAX;
    else if (!strcmp(s, "sigmoid")) hp->scoring = FR_SCORE_SIGMOID;
    else return fr_err("%s: field 'scoring_func' = '%s' is not supported (softmax, sigmoid)", c->path, s);
    if (fr_cfg_str(c, "topk_method", 0, "greedy", &hp->topk_method)) return -1;
    s = hp->topk_method;
    if (!strcmp(s, "greedy")) hp->group_mode = FR_GROUP_NONE;
    else if (!strcmp(s, "group_limited_greedy")) hp->group_mode = FR_GROUP_MAX;
    else if (!strcmp(s, "noaux_tc")) hp->group_mode = FR_GROUP_TOP2SUM;
    else return fr_err("%s: field 'topk_method' = '%s' is not supported (greedy, group_limited_greedy, noaux_tc)", c->path, s);
    hp->has_bias = hp->group_mode == FR_GROUP_TOP2SUM;
    if (hp->n_expert > 0 && hp->n_expert % hp->n_group)
        return fr_err("%s: n_routed_experts = %d is not a multiple of n_group = %d", c->path, hp->n_expert, hp->n_group);
    if (hp->n_expert > 0 && hp->group_mode != FR_GROUP_NONE && hp->n_group > 1 &&
        hp->k > hp->topk_group * (hp->n_expert / hp->n_group))
        return fr_err("%s: num_experts_per_tok = %d exceeds the experts of topk_group = %d groups", c->path, hp->k,
                      hp->topk_group);
    if (hp->group_mode == FR_GROUP_TOP2SUM && hp->n_group > 1 && hp->n_expert / hp->n_group < 2)
        return fr_err("%s: noaux_tc needs at least 2 experts per group", c->path);

    /* RoPE and YaRN */
    if (fr_cfg_num(c, "rope_theta", 0, 10000.0, 1e-3, 1e12, &hp->rope.theta)) return -1;
    hp->rope.dim = hp->d_rope;
    fr_cfg rs;
    int r = fr_cfg_sub(c, "rope_scaling", &rs);
    if (r < 0) return -1;
    double mscale_all = 1.0;
    if (r == 0) {
        const char *type = NULL;
        if (fr_cfg_str(&rs, "type", 0, NULL, &type)) return -1;
        if (!type && fr_cfg_str(&rs, "rope_type", 0, NULL, &type)) return -1;
        if (!type) return fr_err("%s: rope_scaling has no 'type'", c->path);
        if (!strcmp(type, "yarn")) {
            hp->rope.yarn = 1;
            if (fr_cfg_num(&rs, "factor", 1, 0, 1e-6, 1e6, &hp->rope.factor) ||
                fr_cfg_num(&rs, "original_max_position_embeddings", 1, 0, 1, 1e9, &hp->rope.orig_ctx) ||
                fr_cfg_num(&rs, "beta_fast", 0, 32, 1e-6, 1e6, &hp->rope.beta_fast) ||
                fr_cfg_num(&rs, "beta_slow", 0, 1, 1e-6, 1e6, &hp->rope.beta_slow) ||
                fr_cfg_num(&rs, "mscale", 0, 1, 0, 1e3, &hp->rope.mscale) ||
                fr_cfg_num(&rs, "mscale_all_dim", 0, 0, 0, 1e3, &hp->rope.mscale_all_dim) ||
                /* set by the GGUF loader only: llama.cpp's scale of the rotated dims */
                fr_cfg_num(&rs, "llama_cpp_attn_factor", 0, 1, 1e-6, 1e6, &hp->rope.amplitude))
                return -1;
            mscale_all = fr_yarn_mscale(hp->rope.factor, hp->rope.mscale_all_dim);
            double kq = 0; /* set by the GGUF loader only: llama.cpp's softmax mscale */
            if (fr_cfg_num(&rs, "llama_cpp_kq_mscale", 0, 0, 0, 1e6, &kq)) return -1;
            if (kq > 0) mscale_all = kq;
        } else if (strcmp(type, "default") != 0) {
            return fr_err("%s: rope_scaling type '%s' is not supported (yarn)", c->path, type);
        }
    }
    hp->scale = (float)(1.0 / sqrt((double)(hp->d_nope + hp->d_rope)) * mscale_all * mscale_all);
    return 0;
}

/* ---- weights ------------------------------------------------------------- */

static int bind_block(const ds_hparams *hp, const fr_weights *w, int layer, ds_block *b) {
    char p[256], name[320];
    snprintf(p, sizeof p, "model.layers.%d.", layer);
    snprintf(name, sizeof name, "%sinput_layernorm.weight", p);
    if (fr_weights_load_vec(w, name, hp->d, &b->attn_norm)) return -1;
    snprintf(name, sizeof name, "%spost_attention_layernorm.weight", p);
    if (fr_weights_load_vec(w, name, hp->d, &b->ffn_norm)) return -1;
    fr_mla_cfg mc = {
        .d = hp->d, .n_head = hp->n_head, .q_lora = hp->q_lora, .kv_lora = hp->kv_lora,
        .d_nope = hp->d_nope, .d_rope = hp->d_rope, .d_v = hp->d_v, .scale = hp->scale,
        .eps_q = hp->eps_mla, .eps_kv = hp->eps_mla, .use_rope = 1,
    };
    snprintf(name, sizeof name, "%sself_attn.", p);
    if (fr_mla_bind_hf(&b->attn, w, name, &mc)) return -1;
    /* the MTP block (layer == n_layer) is always MoE when the model has experts */
    b->is_moe = hp->n_expert > 0 && layer >= hp->first_dense && (layer % hp->moe_freq == 0 || layer >= hp->n_layer);
    snprintf(name, sizeof name, "%smlp.", p);
    if (b->is_moe) {
        fr_moe_cfg ec = {
            .d = hp->d, .n_expert = hp->n_expert, .k = hp->k, .ff = hp->moe_ff, .n_shared = hp->n_shared,
            .scoring = hp->scoring, .group_mode = hp->group_mode, .n_group = hp->n_group,
            .topk_group = hp->topk_group, .norm_topk = hp->norm_topk, .route_scale = hp->route_scale,
        };
        return fr_moe_bind_hf(&b->moe, w, name, &ec, hp->has_bias);
    }
    return fr_mlp_bind(&b->mlp, w, name, "gate_proj.weight", "up_proj.weight", "down_proj.weight", hp->d, hp->ff);
}

static void free_block(ds_block *b) {
    free(b->attn_norm);
    free(b->ffn_norm);
    fr_mla_free(&b->attn);
    if (b->is_moe) fr_moe_free(&b->moe);
}

/* info: a block's weights (norm vectors count as parameters, not bytes) */
static void block_stats(const ds_block *b, int d, fr_wstats *s) {
    fr_wstats_vec(s, 2 * (int64_t)d);
    fr_mla_stats(&b->attn, s);
    if (b->is_moe) fr_moe_stats(&b->moe, s);
    else fr_mlp_stats(&b->mlp, s);
}

static int ds_load(frugal_model *fm) {
    ds_model *m = calloc(1, sizeof *m);
    if (!m) return fr_err("out of memory");
    fm->impl = m;
    ds_hparams *hp = &m->hp;
    if (read_hparams(&fm->cfg, hp, &fm->max_pos)) return -1;
    const fr_weights *w = &fm->w;
    int64_t emb[2] = {hp->n_vocab, hp->d};
    if (fr_weights_bind(w, "model.embed_tokens.weight", 2, emb, &m->embed)) return -1;
    int tied = 0;
    if (fr_cfg_bool(&fm->cfg, "tie_word_embeddings", 0, 0, &tied)) return -1;
    if (tied && !fr_weights_find(w, "lm_head.weight")) m->lm_head = m->embed;
    else if (fr_weights_bind(w, "lm_head.weight", 2, emb, &m->lm_head)) return -1;
    if (fr_weights_load_vec(w, "model.norm.weight", hp->d, &m->norm)) return -1;
    m->blocks = calloc((size_t)hp->n_layer, sizeof *m->blocks);
    if (!m->blocks) return fr_err("out of memory");
    for (int l = 0; l < hp->n_layer; l++)
        if (bind_block(hp, w, l, &m->blocks[l])) return -1;

    /* MTP module: model.layers.<n_layer>.* when present in the files */
    char name[320];
    snprintf(name, sizeof name, "model.layers.%d.eh_proj.weight", hp->n_layer);
    if (hp->n_mtp > 0 || fr_weights_find(w, name)) {
        ds_mtp *t = m->mtp = calloc(1, sizeof *t);
        if (!t) return fr_err("out of memory");
        int L = hp->n_layer;
        int64_t eh[2] = {hp->d, 2 * (int64_t)hp->d};
        snprintf(name, sizeof name, "model.layers.%d.embed_tokens.weight", L);
        if (fr_weights_bind(w, name, 2, emb, &t->embed)) return -1;
        snprintf(name, sizeof name, "model.layers.%d.enorm.weight", L);
        if (fr_weights_load_vec(w, name, hp->d, &t->enorm)) return -1;
        snprintf(name, sizeof name, "model.layers.%d.hnorm.weight", L);
        if (fr_weights_load_vec(w, name, hp->d, &t->hnorm)) return -1;
        snprintf(name, sizeof name, "model.layers.%d.eh_proj.weight", L);
        if (fr_weights_bind(w, name, 2, eh, &t->eh_proj)) return -1;
        snprintf(name, sizeof name, "model.layers.%d.shared_head.norm.weight", L);
        if (fr_weights_load_vec(w, name, hp->d, &t->head_norm)) return -1;
        snprintf(name, sizeof name, "model.layers.%d.shared_head.head.weight", L);
        if (fr_weights_bind(w, name, 2, emb, &t->head)) return -1;
        if (bind_block(hp, w, L, &t->block)) return -1;
    }

    /* info */
    frugal_model_info *in = &fm->info;
    in->n_vocab = hp->n_vocab;
    in->n_embd = hp->d;
    in->n_layer = hp->n_layer;
    in->n_mtp = m->mtp != NULL;
    in->n_expert = hp->n_expert;
    in->n_expert_used = hp->k;
    for (int l = 0; l < hp->n_layer; l++) in->n_moe_layers += m->blocks[l].is_moe;
    fr_wstats st = {0};
    fr_wstats_embed_head(&st, &m->embed, &m->lm_head);
    fr_wstats_vec(&st, hp->d);
    for (int l = 0; l < hp->n_layer; l++) block_stats(&m->blocks[l], hp->d, &st);
    if (m->mtp) { /* stored, never read by plain decoding */
        fr_wstats x = {0};
        block_stats(&m->mtp->block, hp->d, &x);
        fr_wstats_dense(&x, &m->mtp->embed);
        fr_wstats_dense(&x, &m->mtp->head);
        fr_wstats_dense(&x, &m->mtp->eh_proj);
        fr_wstats_vec(&x, 3 * (int64_t)hp->d);
        st.params += x.params;
        st.bytes += x.bytes;
    }
    in->n_params = st.params;
    in->n_params_active = st.active;
    in->bytes_weights = st.bytes;
    in->bytes_per_token = st.read;
    in->cache_bytes_per_token = (int64_t)hp->n_layer * (hp->kv_lora + hp->d_rope) * (int64_t)sizeof(float);
    in->cache_bytes_fixed = 0;
    in->cache_latent_per_token = (int64_t)hp->n_layer * hp->kv_lora;
    in->cache_rope_per_token = (int64_t)hp->n_layer * hp->d_rope;
    in->n_cache_layers = hp->n_layer;
    return 0;
}

static void ds_free(frugal_model *fm) {
    ds_model *m = fm->impl;
    if (!m) return;
    if (m->blocks)
        for (int l = 0; l < m->hp.n_layer; l++) free_block(&m->blocks[l]);
    free(m->blocks);
    free(m->norm);
    if (m->mtp) {
        free(m->mtp->enorm);
        free(m->mtp->hnorm);
        free(m->mtp->head_norm);
        free_block(&m->mtp->block);
        free(m->mtp);
    }
    free(m);
    fm->impl = NULL;
}

/* ---- contexts ------------------------------------------------------------ */

static int ds_ctx_init(frugal_context *ctx) {
    const ds_model *m = ctx->model->impl;
    const ds_hparams *hp = &m->hp;
    ds_ctx *c = calloc(1, sizeof *c);
    if (!c) return fr_err("out of memory");
    ctx->impl = c;
    int nl = hp->n_layer + (m->mtp ? 1 : 0);
    c->kv = calloc((size_t)hp->n_layer, sizeof *c->kv);
    size_t hr = (size_t)(hp->d_rope / 2 ? hp->d_rope / 2 : 1);
    c->cos_t = malloc((size_t)ctx->n_ctx * hr * sizeof(float));
    c->sin_t = malloc((size_t)ctx->n_ctx * hr * sizeof(float));
    if (!c->kv || !c->cos_t || !c->sin_t)
        return fr_err("out of memory allocating the cache for %d positions", ctx->n_ctx);
    for (int l = 0; l < nl; l++)
        if (fr_mla_cache_alloc(l < hp->n_layer ? &c->kv[l] : &c->mtp_kv, ctx->cache_type, ctx->n_ctx, hp->kv_lora,
                               hp->d_rope))
            return -1;
    if (hp->d_rope > 0) fr_rope_tables(&hp->rope, ctx->n_ctx, c->cos_t, c->sin_t);
    return 0;
}

static void ds_ctx_free(frugal_context *ctx) {
    const ds_model *m = ctx->model->impl;
    ds_ctx *c = ctx->impl;
    if (!c) return;
    if (c->kv)
        for (int l = 0; l < m->hp.n_layer; l++) fr_mla_cache_free(&c->kv[l]);
    fr_mla_cache_free(&c->mtp_kv);
    free(c->kv);
    free(c->cos_t);
    free(c->sin_t);
    fr_arena_free(&c->arena);
    free(c);
    ctx->impl = NULL;
}

/* ---- forward ------------------------------------------------------------- */

/* h[n][d] += Block(h): attention then feed-forward, both pre-normed */
static void block_forward(const ds_hparams *hp, const ds_block *b, fr_mla_cache *kv, const ds_ctx *c, float *h,
                          int n, int pos0, int32_t *moe_idx, float *moe_w, fr_arena *a) {
    int d = hp->d;
    fr_arena_mark mk = fr_arena_save(a);
    float *xn = fr_arena_f32(a, (size_t)n * d), *y = fr_arena_f32(a, (size_t)n * d);
    fr_add_rmsnorm_rows(xn, h, NULL, b->attn_norm, hp->eps, d, n);
    fr_mla_forward(&b->attn, kv, c->cos_t, c->sin_t, xn, y, n, pos0, a);
    fr_add_rmsnorm_rows(xn, h, y, b->ffn_norm, hp->eps, d, n); /* h += y, then the norm */
    if (b->is_moe) fr_moe_forward(&b->moe, xn, y, n, moe_idx, moe_w, a);
    else fr_mlp_forward(&b->mlp, xn, y, n, a);
    fr_add_rmsnorm_rows(NULL, h, y, NULL, 0, d, n);
    fr_arena_restore(a, mk);
}

static int ds_forward(frugal_context *ctx, const int32_t *tokens, int n, int pos0) {
    const ds_model *m = ctx->model->impl;
    const ds_hparams *hp = &m->hp;
    ds_ctx *c = ctx->impl;
    int d = hp->d;
    fr_arena *a = &c->arena;
    fr_arena_reset(a);
    float *h = fr_arena_f32(a, (size_t)n * d);
    if (!h) return fr_err("out of memory");
    for (int t = 0; t < n; t++) fr_tensor_row_f32(&m->embed, tokens[t], h + (size_t)t * d);

    int moe_l = 0;
    for (int l = 0; l < hp->n_layer; l++) {
        const ds_block *b = &m->blocks[l];
        int32_t *ti = NULL;
        float *tw = NULL;
        if (b->is_moe && ctx->trace.moe_idx) {
            ti = ctx->trace.moe_idx + (size_t)moe_l * n * hp->k;
            tw = ctx->trace.moe_w ? ctx->trace.moe_w + (size_t)moe_l * n * hp->k : NULL;
        }
        block_forward(hp, b, &c->kv[l], c, h, n, pos0, ti, tw, a);
        if (ctx->trace.hidden_layers) memcpy(ctx->trace.hidden_layers + (size_t)l * n * d, h, (size_t)n * d * sizeof *h);
        moe_l += b->is_moe;
    }
    fr_add_rmsnorm_rows(ctx->hidden, h, NULL, m->norm, hp->eps, d, n);
    if (ctx->logits_all) fr_matmul(&m->lm_head, ctx->hidden, ctx->logits, n);
    else fr_matmul(&m->lm_head, ctx->hidden + (size_t)(n - 1) * d, ctx->logits, 1);
    c->mtp_past = c->mtp_past < pos0 ? c->mtp_past : pos0;
    return 0;
}

static int ds_mtp_forward(frugal_context *ctx, const int32_t *next, int zero_pos0, float *out) {
    const ds_model *m = ctx->model->impl;
    const ds_hparams *hp = &m->hp;
    ds_ctx *c = ctx->impl;
    const ds_mtp *t = m->mtp;
    if (!t) return fr_err("%s: the model has no MTP module", ctx->model->path);
    int n = ctx->n_rows, d = hp->d, pos0 = ctx->n_past - n;
    if (c->mtp_past < pos0)
        return fr_err("MTP cache holds positions < %d; run MTP after every eval to keep it in step", c->mtp_past);
    for (int i = 0; i < n; i++)
        if (next[i] < 0 || next[i] >= hp->n_vocab) return fr_err("MTP token %d out of range [0, %d)", next[i], hp->n_vocab);
    fr_arena *a = &c->arena;
    fr_arena_reset(a);
    float *cat = fr_arena_f32(a, (size_t)n * 2 * d), *x = fr_arena_f32(a, (size_t)n * d);
    float *hn = fr_arena_f32(a, (size_t)n * d);
    for (int i = 0; i < n; i++) {
        float *e = cat + (size_t)i * 2 * d;
        fr_tensor_row_f32(&t->embed, next[i], e);
        if (zero_pos0 && pos0 + i == 0) memset(e, 0, (size_t)d * sizeof *e);
        fr_rmsnorm(e, e, t->enorm, hp->eps, d);
        fr_rmsnorm(e + d, ctx->hidden + (size_t)i * d, t->hnorm, hp->eps, d);
    }
    fr_matmul(&t->eh_proj, cat, x, n); /* [n][d] */
    block_forward(hp, &t->block, &c->mtp_kv, c, x, n, pos0, NULL, NULL, a);
    fr_add_rmsnorm_rows(hn, x, NULL, t->head_norm, hp->eps, d, n);
    fr_matmul(&t->head, hn, out, n);
    c->mtp_past = pos0 + n;
    return 0;
}

static const char *dtype_of(const fr_tensor *t) { return t->data ? fr_dtype_get(t->dtype)->name : "-"; }

static int ds_describe(const frugal_model *fm, char *buf, size_t size) {
    const ds_model *m = fm->impl;
    const ds_hparams *hp = &m->hp;
    const ds_block *b0 = &m->blocks[0], *bl = &m->blocks[hp->n_layer - 1];
    const fr_mla *at = &b0->attn;
    const fr_tensor *ffw = bl->is_moe ? &bl->moe.experts[0].gate : &bl->mlp.gate;
    return snprintf(buf, size,
                    "layers %d (dense below %d, MoE every %d), hidden %d, heads %d, vocab %d\n"
                    "MLA: q_lora %d, kv_lora %d, nope %d, rope %d, v %d, softmax scale %.6g%s\n"
                    "MoE: %d routed experts (top %d, ff %d), %d shared, %s scores, %s, groups %d keep %d, "
                    "norm %s, scale %g\n"
                    "RoPE: theta %g%s (factor %g, original %g, beta %g/%g, mscale %g/%g)\n"
                    "dtypes: embed %s, attention %s, experts %s, lm_head %s\n"
                    "MTP modules: %d\n",
                    hp->n_layer, hp->first_dense, hp->moe_freq, hp->d, hp->n_head, hp->n_vocab, hp->q_lora,
                    hp->kv_lora, hp->d_nope, hp->d_rope, hp->d_v, (double)hp->scale, "",
                    hp->n_expert, hp->k, hp->moe_ff, hp->n_shared,
                    hp->scoring == FR_SCORE_SOFTMAX ? "softmax" : "sigmoid", hp->topk_method, hp->n_group,
                    hp->topk_group, hp->norm_topk ? "yes" : "no", (double)hp->route_scale, hp->rope.theta,
                    hp->rope.yarn ? ", YaRN" : "", hp->rope.factor, hp->rope.orig_ctx, hp->rope.beta_fast,
                    hp->rope.beta_slow, hp->rope.mscale, hp->rope.mscale_all_dim, dtype_of(&m->embed),
                    dtype_of(at->c.q_lora ? &at->wq_b : &at->wq), dtype_of(ffw), dtype_of(&m->lm_head),
                    m->mtp ? 1 : 0) < 0 ? -1 : 0;
}

const fr_family fr_family_deepseek = {
    .name = "deepseek",
    .match = ds_match,
    .load = ds_load,
    .free = ds_free,
    .ctx_init = ds_ctx_init,
    .ctx_free = ds_ctx_free,
    .forward = ds_forward,
    .mtp = ds_mtp_forward,
    .describe = ds_describe,
};
