/* Kimi Linear (Kimi-Linear-48B-A3B): a hybrid of Kimi Delta Attention (KDA)
 * and MLA without positional encoding, with DeepSeek-V3-style MoE.
 *
 *   h0 = embed[tokens]
 *   each block i: h += Mixer_i(RMSNorm(h)); h += FFN_i(RMSNorm(h))
 *     Mixer_i = KDA when i+1 is in linear_attn_config.kda_layers (1-based), else MLA (NoPE)
 *     FFN_i   = dense SwiGLU below first_k_dense_replace, MoE elsewhere:
 *               s = sigmoid(W_g x); top-k by s + e_score_correction_bias;
 *               w = s / sum s (moe_renormalize) * routed_scaling_factor; plus shared experts
 *   logits = lm_head(RMSNorm(h))
 * Router weights are the unbiased scores (vLLM, DeepSeek-V3 noaux_tc).
 *
 * Cache: a fixed-size state per KDA layer (conv inputs + [H][K][K] state) and
 * the MLA latent cache per MLA layer. KDA states cannot be rewound: an eval
 * must continue at n_past or restart at 0.
 * Reference: moonshotai/Kimi-Linear-48B-A3B-Instruct modeling_kimi.py, fla/ops/kda. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/arena.h"
#include "base/err.h"
#include "kernels/kernels.h"
#include "layers/kda.h"
#include "layers/mla.h"
#include "layers/moe.h"
#include "runtime/model.h"

#define KL_MAX_LAYERS 1024

typedef struct kl_hparams {
    int n_vocab, d, n_layer, ff, tie;
    int n_head, q_lora, kv_lora, d_nope, d_rope, d_v;          /* MLA */
    int kda_heads, kda_dim, conv;                               /* KDA */
    int n_expert, k, moe_ff, n_shared, first_dense, moe_freq, n_group, topk_group, renorm, scoring;
    float eps, route_scale, scale;
    unsigned char is_kda[KL_MAX_LAYERS];
    int n_kda, n_mla;
} kl_hparams;

typedef struct kl_block {
    float *attn_norm, *ffn_norm; /* [d] */
    int is_kda, is_moe;
    fr_kda kda;
    fr_mla mla;
    fr_mlp mlp;
    fr_moe moe;
} kl_block;

typedef struct kl_model {
    kl_hparams hp;
    fr_tensor embed;   /* [vocab, d] */
    kl_block *blocks;  /* [n_layer] */
    float *norm;       /* [d] */
    fr_tensor lm_head; /* [vocab, d] */
} kl_model;

typedef struct kl_ctx {
    fr_mla_cache *kv;    /* [n_layer], used by MLA layers */
    fr_kda_state *st;    /* [n_layer], used by KDA layers */
    float *st_mem;
    int kda_pos;         /* tokens the KDA states have consumed; -1: unknown (reset needed) */
    fr_arena arena;
} kl_ctx;

/* ---- configuration ------------------------------------------------------- */

static int kl_match(const char *mt) { return !strcmp(mt, "kimi_linear"); }

static int read_hparams(const fr_cfg *c, kl_hparams *hp, int *max_pos) {
    int64_t v;
    double x;
    const char *s;
#define INT(cfg, key, req, def, lo, hi, dst) \
    do { if (fr_cfg_int(cfg, key, req, def, lo, hi, &v)) return -1; dst = (int)v; } while (0)
    INT(c, "vocab_size", 1, 0, 1, 1 << 24, hp->n_vocab);
    INT(c, "hidden_size", 1, 0, 1, 1 << 16, hp->d);
    INT(c, "num_hidden_layers", 1, 0, 1, KL_MAX_LAYERS, hp->n_layer);
    INT(c, "intermediate_size", 1, 0, 1, 1 << 20, hp->ff);
    INT(c, "num_attention_heads", 1, 0, 1, 1024, hp->n_head);
    INT(c, "q_lora_rank", 0, 0, 0, 1 << 16, hp->q_lora);
    INT(c, "kv_lora_rank", 1, 0, 1, 1 << 14, hp->kv_lora);
    INT(c, "qk_nope_head_dim", 1, 0, 0, 4096, hp->d_nope);
    INT(c, "qk_rope_head_dim", 1, 0, 0, 1024, hp->d_rope);
    INT(c, "v_head_dim", 1, 0, 1, 4096, hp->d_v);
    INT(c, "num_experts", 0, 0, 0, 1 << 14, hp->n_expert);
    INT(c, "num_experts_per_token", hp->n_expert > 0, 0, 1, hp->n_expert > 0 ? hp->n_expert : 1, hp->k);
    INT(c, "moe_intermediate_size", hp->n_expert > 0, 0, 1, 1 << 20, hp->moe_ff);
    INT(c, "num_shared_experts", 0, 0, 0, 64, hp->n_shared);
    INT(c, "first_k_dense_replace", 0, 0, 0, 1 << 20, hp->first_dense);
    INT(c, "moe_layer_freq", 0, 1, 1, 1024, hp->moe_freq);
    INT(c, "num_expert_group", 0, 1, 1, 1024, hp->n_group);
    INT(c, "topk_group", 0, 1, 1, hp->n_group, hp->topk_group);
    if (fr_cfg_has(c, "max_position_embeddings")) INT(c, "max_position_embeddings", 1, 0, 1, 1 << 24, *max_pos);
    else INT(c, "model_max_length", 0, 1 << 20, 1, 1 << 24, *max_pos);
    if (fr_cfg_num(c, "rms_norm_eps", 0, 1e-5, 0, 1, &x)) return -1;
    hp->eps = (float)x;
    if (fr_cfg_num(c, "routed_scaling_factor", 0, 1.0, 0, 1e6, &x)) return -1;
    hp->route_scale = (float)x;
    if (fr_cfg_bool(c, "moe_renormalize", 0, 1, &hp->renorm)) return -1;
    if (fr_cfg_bool(c, "tie_word_embeddings", 0, 0, &hp->tie)) return -1;
    if (fr_cfg_str(c, "moe_router_activation_func", 0, "sigmoid", &s)) return -1;
    if (!strcmp(s, "sigmoid")) hp->scoring = FR_SCORE_SIGMOID;
    else if (!strcmp(s, "softmax")) hp->scoring = FR_SCORE_SOFTMAX;
    else return fr_err("%s: field 'moe_router_activation_func' = '%s' is not supported (sigmoid, softmax)", c->path, s);
    if (hp->n_expert > 0 && hp->n_expert % hp->n_group)
        return fr_err("%s: num_experts = %d is not a multiple of num_expert_group = %d", c->path, hp->n_expert,
                      hp->n_group);
    if (hp->n_expert > 0 && hp->n_group > 1 && hp->n_expert / hp->n_group < 2)
        return fr_err("%s: grouped routing needs at least 2 experts per group", c->path);
    if (hp->n_expert > 0 && hp->n_group > 1 && hp->k > hp->topk_group * (hp->n_expert / hp->n_group))
        return fr_err("%s: num_experts_per_token = %d exceeds the experts of topk_group = %d groups", c->path, hp->k,
                      hp->topk_group);
    /* fields of later releases that change the math: refuse rather than guess */
    int nope = 1, flag = 0;
    if (fr_cfg_bool(c, "mla_use_nope", 0, 1, &nope)) return -1;
    if (!nope) return fr_err("%s: field 'mla_use_nope' = false (MLA with RoPE) is not supported for kimi_linear", c->path);
    if (fr_cfg_bool(c, "mla_use_output_gate", 0, 0, &flag)) return -1;
    if (flag) return fr_err("%s: field 'mla_use_output_gate' = true is not supported", c->path);
    if (fr_cfg_bool(c, "use_full_rank_gate", 0, 0, &flag)) return -1;
    if (flag) return fr_err("%s: field 'use_full_rank_gate' = true is not supported", c->path);
    if (fr_cfg_str(c, "hidden_act", 0, "silu", &s)) return -1;
    if (strcmp(s, "silu") != 0) return fr_err("%s: field 'hidden_act' = '%s' is not supported (silu)", c->path, s);

    /* KDA */
    fr_cfg la;
    int r = fr_cfg_sub(c, "linear_attn_config", &la);
    if (r < 0) return -1;
    if (r > 0) return fr_err("%s: missing field 'linear_attn_config'", c->path);
    INT(&la, "num_heads", 1, 0, 1, 1024, hp->kda_heads);
    INT(&la, "head_dim", 1, 0, 1, 4096, hp->kda_dim);
    INT(&la, "short_conv_kernel_size", 0, 4, 1, 64, hp->conv);
#undef INT
    if (fr_cfg_has(&la, "gate_lower_bound"))
        return fr_err("%s: field 'linear_attn_config.gate_lower_bound' (the K3 decay gate) is not supported", c->path);
    int64_t lst[KL_MAX_LAYERS];
    int nl;
    if (fr_cfg_int_list(&la, "kda_layers", 1, 1, hp->n_layer, lst, KL_MAX_LAYERS, &nl)) return -1;
    memset(hp->is_kda, 0, sizeof hp->is_kda);
    for (int i = 0; i < nl; i++) {
        if (hp->is_kda[lst[i] - 1])
            return fr_err("%s: linear_attn_config.kda_layers lists layer %lld twice", c->path, (long long)lst[i]);
        hp->is_kda[lst[i] - 1] = 1;
    }
    if (fr_cfg_int_list(&la, "full_attn_layers", 0, 1, hp->n_layer, lst, KL_MAX_LAYERS, &nl)) return -1;
    for (int i = 0; i < nl; i++)
        if (hp->is_kda[lst[i] - 1])
            return fr_err("%s: layer %lld is in both linear_attn_config.kda_layers and full_attn_layers (1-based)",
                          c->path, (long long)lst[i]);
    hp->n_kda = hp->n_mla = 0;
    for (int l = 0; l < hp->n_layer; l++) {
        hp->n_kda += hp->is_kda[l];
        hp->n_mla += !hp->is_kda[l];
    }
    hp->scale = (float)(1.0 / sqrt((double)(hp->d_nope + hp->d_rope)));
    return 0;
}

/* ---- weights ------------------------------------------------------------- */

static int bind_block(const kl_hparams *hp, const fr_weights *w, int layer, kl_block *b) {
    char p[256], name[320];
    snprintf(p, sizeof p, "model.layers.%d.", layer);
    snprintf(name, sizeof name, "%sinput_layernorm.weight", p);
    if (fr_weights_load_vec(w, name, hp->d, &b->attn_norm)) return -1;
    snprintf(name, sizeof name, "%spost_attention_layernorm.weight", p);
    if (fr_weights_load_vec(w, name, hp->d, &b->ffn_norm)) return -1;
    snprintf(name, sizeof name, "%sself_attn.", p);
    b->is_kda = hp->is_kda[layer];
    if (b->is_kda) {
        fr_kda_cfg kc = {.d = hp->d, .n_head = hp->kda_heads, .head_dim = hp->kda_dim, .conv = hp->conv, .eps = hp->eps};
        if (fr_kda_bind_hf(&b->kda, w, name, &kc)) return -1;
    } else {
        /* kv_a_layernorm keeps the module default eps 1e-6 (modeling_kimi.py) */
        fr_mla_cfg mc = {
            .d = hp->d, .n_head = hp->n_head, .q_lora = hp->q_lora, .kv_lora = hp->kv_lora,
            .d_nope = hp->d_nope, .d_rope = hp->d_rope, .d_v = hp->d_v, .scale = hp->scale,
            .eps_q = 1e-6f, .eps_kv = 1e-6f, .use_rope = 0,
        };
        if (fr_mla_bind_hf(&b->mla, w, name, &mc)) return -1;
    }
    b->is_moe = hp->n_expert > 0 && layer >= hp->first_dense && layer % hp->moe_freq == 0;
    if (b->is_moe) {
        fr_moe_cfg ec = {
            .d = hp->d, .n_expert = hp->n_expert, .k = hp->k, .ff = hp->moe_ff, .n_shared = hp->n_shared,
            .scoring = hp->scoring, .group_mode = hp->n_group > 1 ? FR_GROUP_TOP2SUM : FR_GROUP_NONE,
            .n_group = hp->n_group, .topk_group = hp->topk_group, .norm_topk = hp->renorm,
            .route_scale = hp->route_scale,
        };
        static const fr_moe_names kimi = {"w1.weight", "w3.weight", "w2.weight"};
        char bias[400];
        snprintf(name, sizeof name, "%sblock_sparse_moe.", p);
        snprintf(bias, sizeof bias, "%sgate.e_score_correction_bias", name);
        return fr_moe_bind_names(&b->moe, w, name, &ec, fr_weights_find(w, bias) != NULL, &kimi);
    }
    snprintf(name, sizeof name, "%smlp.", p);
    return fr_mlp_bind(&b->mlp, w, name, "gate_proj.weight", "up_proj.weight", "down_proj.weight", hp->d, hp->ff);
}

static void free_block(kl_block *b) {
    free(b->attn_norm);
    free(b->ffn_norm);
    if (b->is_kda) fr_kda_free(&b->kda);
    else fr_mla_free(&b->mla);
    if (b->is_moe) fr_moe_free(&b->moe);
}

/* info: a block's weights (norm vectors count as parameters, not bytes) */
static void block_stats(const kl_block *b, int d, fr_wstats *s) {
    fr_wstats_vec(s, 2 * (int64_t)d);
    if (b->is_kda) fr_kda_stats(&b->kda, s);
    else fr_mla_stats(&b->mla, s);
    if (b->is_moe) fr_moe_stats(&b->moe, s);
    else fr_mlp_stats(&b->mlp, s);
}

static int kl_load(frugal_model *fm) {
    kl_model *m = calloc(1, sizeof *m);
    if (!m) return fr_err("out of memory");
    fm->impl = m;
    kl_hparams *hp = &m->hp;
    if (read_hparams(&fm->cfg, hp, &fm->max_pos)) return -1;
    const fr_weights *w = &fm->w;
    int64_t emb[2] = {hp->n_vocab, hp->d};
    if (fr_weights_bind(w, "model.embed_tokens.weight", 2, emb, &m->embed)) return -1;
    if (hp->tie) m->lm_head = m->embed;
    else if (fr_weights_bind(w, "lm_head.weight", 2, emb, &m->lm_head)) return -1;
    if (fr_weights_load_vec(w, "model.norm.weight", hp->d, &m->norm)) return -1;
    m->blocks = calloc((size_t)hp->n_layer, sizeof *m->blocks);
    if (!m->blocks) return fr_err("out of memory");
    for (int l = 0; l < hp->n_layer; l++)
        if (bind_block(hp, w, l, &m->blocks[l])) return -1;

    frugal_model_info *in = &fm->info;
    in->n_vocab = hp->n_vocab;
    in->n_embd = hp->d;
    in->n_layer = hp->n_layer;
    in->n_mtp = 0;
    in->n_expert = hp->n_expert;
    in->n_expert_used = hp->k;
    for (int l = 0; l < hp->n_layer; l++) in->n_moe_layers += m->blocks[l].is_moe;
    fr_wstats st = {0};
    fr_wstats_embed_head(&st, &m->embed, &m->lm_head);
    fr_wstats_vec(&st, hp->d);
    for (int l = 0; l < hp->n_layer; l++) block_stats(&m->blocks[l], hp->d, &st);
    in->n_params = st.params;
    in->n_params_active = st.active;
    in->bytes_weights = st.bytes;
    in->bytes_per_token = st.read;
    fr_kda_cfg kc = {.d = hp->d, .n_head = hp->kda_heads, .head_dim = hp->kda_dim, .conv = hp->conv};
    in->cache_bytes_per_token = (int64_t)hp->n_mla * (hp->kv_lora + hp->d_rope) * (int64_t)sizeof(float);
    in->cache_bytes_fixed = (int64_t)hp->n_kda * (int64_t)fr_kda_state_floats(&kc) * (int64_t)sizeof(float);
    in->cache_latent_per_token = (int64_t)hp->n_mla * hp->kv_lora;
    in->cache_rope_per_token = (int64_t)hp->n_mla * hp->d_rope;
    in->n_cache_layers = hp->n_mla;
    return 0;
}

static void kl_free(frugal_model *fm) {
    kl_model *m = fm->impl;
    if (!m) return;
    if (m->blocks)
        for (int l = 0; l < m->hp.n_layer; l++) free_block(&m->blocks[l]);
    free(m->blocks);
    free(m->norm);
    free(m);
    fm->impl = NULL;
}

/* ---- contexts ------------------------------------------------------------ */

static int kl_ctx_init(frugal_context *ctx) {
    const kl_model *m = ctx->model->impl;
    const kl_hparams *hp = &m->hp;
    kl_ctx *c = calloc(1, sizeof *c);
    if (!c) return fr_err("out of memory");
    ctx->impl = c;
    fr_kda_cfg kc = {.d = hp->d, .n_head = hp->kda_heads, .head_dim = hp->kda_dim, .conv = hp->conv};
    size_t sf = fr_kda_state_floats(&kc);
    c->kv = calloc((size_t)hp->n_layer, sizeof *c->kv);
    c->st = calloc((size_t)hp->n_layer, sizeof *c->st);
    c->st_mem = calloc(sf * (size_t)(hp->n_kda ? hp->n_kda : 1), sizeof(float));
    if (!c->kv || !c->st || !c->st_mem)
        return fr_err("out of memory allocating the cache for %d positions", ctx->n_ctx);
    int ik = 0;
    for (int l = 0; l < hp->n_layer; l++) {
        if (m->blocks[l].is_kda) {
            fr_kda_state_init(&c->st[l], &kc, c->st_mem + sf * (size_t)ik++);
        } else if (fr_mla_cache_alloc(&c->kv[l], ctx->cache_type, ctx->n_ctx, hp->kv_lora, hp->d_rope)) {
            return -1;
        }
    }
    c->kda_pos = 0;
    return 0;
}

static void kl_ctx_free(frugal_context *ctx) {
    kl_ctx *c = ctx->impl;
    if (!c) return;
    if (c->kv)
        for (int l = 0; l < ctx->model->info.n_layer; l++) fr_mla_cache_free(&c->kv[l]);
    free(c->kv);
    free(c->st);
    free(c->st_mem);
    fr_arena_free(&c->arena);
    free(c);
    ctx->impl = NULL;
}

/* ---- forward ------------------------------------------------------------- */

static int kl_forward(frugal_context *ctx, const int32_t *tokens, int n, int pos0) {
    const kl_model *m = ctx->model->impl;
    const kl_hparams *hp = &m->hp;
    kl_ctx *c = ctx->impl;
    int d = hp->d;
    if (hp->n_kda > 0 && pos0 != c->kda_pos) {
        if (pos0 != 0) {
            int held = c->kda_pos;
            ctx->n_past = held < 0 ? 0 : held; /* nothing was touched: the cache stays as it was */
            return fr_err("%s: eval at position %d: Kimi Linear's KDA state holds %d tokens and cannot be "
                          "rewound; continue at %d or restart at 0",
                          ctx->model->path, pos0, held < 0 ? 0 : held, held < 0 ? 0 : held);
        }
        for (int l = 0; l < hp->n_layer; l++)
            if (m->blocks[l].is_kda) fr_kda_state_reset(&c->st[l], &m->blocks[l].kda.c);
    }
    c->kda_pos = -1; /* until this pass completes */
    fr_arena *a = &c->arena;
    fr_arena_reset(a);
    float *h = fr_arena_f32(a, (size_t)n * d), *xn = fr_arena_f32(a, (size_t)n * d), *y = fr_arena_f32(a, (size_t)n * d);
    if (!h || !xn || !y) return fr_err("out of memory");
    for (int t = 0; t < n; t++) fr_tensor_row_f32(&m->embed, tokens[t], h + (size_t)t * d);

    int moe_l = 0;
    for (int l = 0; l < hp->n_layer; l++) {
        const kl_block *b = &m->blocks[l];
        fr_add_rmsnorm_rows(xn, h, NULL, b->attn_norm, hp->eps, d, n);
        if (b->is_kda) fr_kda_forward(&b->kda, &c->st[l], xn, y, n, a);
        else fr_mla_forward(&b->mla, &c->kv[l], NULL, NULL, xn, y, n, pos0, a);
        fr_add_rmsnorm_rows(xn, h, y, b->ffn_norm, hp->eps, d, n); /* h += y, then the norm */
        if (b->is_moe) {
            int32_t *ti = NULL;
            float *tw = NULL;
            if (ctx->trace.moe_idx) {
                ti = ctx->trace.moe_idx + (size_t)moe_l * n * hp->k;
                tw = ctx->trace.moe_w ? ctx->trace.moe_w + (size_t)moe_l * n * hp->k : NULL;
            }
            fr_moe_forward(&b->moe, xn, y, n, ti, tw, a);
        } else {
            fr_mlp_forward(&b->mlp, xn, y, n, a);
        }
        fr_add_rmsnorm_rows(NULL, h, y, NULL, 0, d, n);
        if (ctx->trace.hidden_layers) memcpy(ctx->trace.hidden_layers + (size_t)l * n * d, h, (size_t)n * d * sizeof *h);
        moe_l += b->is_moe;
    }
    fr_add_rmsnorm_rows(ctx->hidden, h, NULL, m->norm, hp->eps, d, n);
    if (ctx->logits_all) fr_matmul(&m->lm_head, ctx->hidden, ctx->logits, n);
    else fr_matmul(&m->lm_head, ctx->hidden + (size_t)(n - 1) * d, ctx->logits, 1);
    c->kda_pos = pos0 + n;
    return 0;
}

static int kl_bench_skip(frugal_context *ctx, int n) {
    kl_ctx *c = ctx->impl;
    c->kda_pos = n;
    return 0;
}

static const char *dtype_of(const fr_tensor *t) { return t->data ? fr_dtype_get(t->dtype)->name : "-"; }

static int kl_describe(const frugal_model *fm, char *buf, size_t size) {
    const kl_model *m = fm->impl;
    const kl_hparams *hp = &m->hp;
    char pat[KL_MAX_LAYERS + 1];
    for (int l = 0; l < hp->n_layer; l++) pat[l] = hp->is_kda[l] ? 'K' : 'M';
    pat[hp->n_layer] = 0;
    const kl_block *bl = &m->blocks[hp->n_layer - 1];
    const fr_tensor *ffw = bl->is_moe ? &bl->moe.experts[0].gate : &bl->mlp.gate;
    fr_kda_cfg kc = {.d = hp->d, .n_head = hp->kda_heads, .head_dim = hp->kda_dim, .conv = hp->conv};
    return snprintf(buf, size,
                    "layers %d: %d KDA + %d MLA (K/M: %s), hidden %d, vocab %d, dense below %d\n"
                    "KDA: %d heads x %d, short conv %d, state %zu floats per layer\n"
                    "MLA (NoPE): heads %d, q_lora %d, kv_lora %d, nope %d, rope-slot %d (unrotated), v %d, "
                    "softmax scale %.6g\n"
                    "MoE: %d routed experts (top %d, ff %d), %d shared, %s scores + bias for selection, groups %d "
                    "keep %d, renormalize %s, scale %g\n"
                    "dtypes: embed %s, experts %s, lm_head %s\n",
                    hp->n_layer, hp->n_kda, hp->n_mla, pat, hp->d, hp->n_vocab, hp->first_dense, hp->kda_heads,
                    hp->kda_dim, hp->conv, fr_kda_state_floats(&kc), hp->n_head, hp->q_lora, hp->kv_lora,
                    hp->d_nope, hp->d_rope, hp->d_v, (double)hp->scale, hp->n_expert, hp->k, hp->moe_ff,
                    hp->n_shared, hp->scoring == FR_SCORE_SIGMOID ? "sigmoid" : "softmax", hp->n_group,
                    hp->topk_group, hp->renorm ? "yes" : "no", (double)hp->route_scale, dtype_of(&m->embed),
                    dtype_of(ffw), dtype_of(&m->lm_head)) < 0 ? -1 : 0;
}

const fr_family fr_family_kimi_linear = {
    .name = "kimi_linear",
    .match = kl_match,
    .load = kl_load,
    .free = kl_free,
    .ctx_init = kl_ctx_init,
    .ctx_free = kl_ctx_free,
    .forward = kl_forward,
    .mtp = NULL,
    .describe = kl_describe,
    .bench_skip = kl_bench_skip,
};
