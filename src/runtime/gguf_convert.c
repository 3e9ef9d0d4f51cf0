/* frugal convert: a Hugging Face DeepSeek-V2/V3 (or Kimi K2 / Moonlight)
 * directory to a llama.cpp `deepseek2` GGUF, in the layout llama.cpp's
 * convert_hf_to_gguf.py writes (absorbed MLA: kv_b_proj split into attn_k_b
 * [H, kv_lora, nope] (transposed) and attn_v_b [H, v, kv_lora]; routed experts
 * stacked into [n_expert, rows, cols] tensors; the MTP layers are not written).
 * FP8 weights are dequantized with their 128x128 block scales, then encoded. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/err.h"
#include "formats/hf_config.h"
#include "formats/hf_dir.h"
#include "runtime/gguf_quantize.h"
#include "tensor/ggml_quants.h"

typedef struct conv {
    const fr_weights *w;
    const fr_mix *mx;
    fr_plan *p;
    int n_layer, n_expert;
    const char *dir;
} conv;

static int exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

/* ggml ne from a PyTorch shape */
static void ggml_ne(const fr_tensor *t, uint64_t *ne) {
    for (int i = 0; i < t->ndim; i++) ne[i] = (uint64_t)t->ne[t->ndim - 1 - i];
}

/* output type: the mix's choice; not a weight to encode (1-D, router) -> F32 */
static fr_dtype out_type(const conv *c, const char *gname, int n_dims, uint64_t ne0) {
    int ty = fr_mix_choose(c->mx, gname, n_dims, ne0, c->n_layer, c->n_expert);
    return ty < 0 ? FR_DT_F32 : (fr_dtype)ty;
}

/* one HF tensor -> one GGUF tensor */
static int plain(conv *c, const char *hf, const char *gname, int optional) {
    const fr_tensor *t = fr_weights_find(c->w, hf);
    if (!t) return optional ? 0 : fr_err("%s: missing tensor '%s'", c->dir, hf);
    if (t->ndim < 1 || t->ndim > 2) return fr_err("%s: tensor '%s' should be 1-D or 2-D", c->dir, hf);
    fr_tensor v;
    if (t->ndim == 2) {
        if (fr_weights_bind(c->w, hf, 2, t->ne, &v)) return -1; /* FP8 scales attached */
    } else {
        if (fr_weights_bind_vec(c->w, hf, t->ne[0], &v)) return -1;
    }
    uint64_t ne[4];
    ggml_ne(t, ne);
    fr_dtype ty = out_type(c, gname, t->ndim, ne[0]);
    fr_plan_src s = {.kind = FR_SRC_ROWS, .t = v};
    if (ty == t->dtype && (ty == FR_DT_F32 || ty == FR_DT_F16 || ty == FR_DT_BF16)) s = (fr_plan_src){.kind = FR_SRC_RAW, .raw = t->data};
    if (t->ndim == 1) { /* a row of one */
        s.t.ndim = 2;
        s.t.ne[0] = 1;
        s.t.ne[1] = t->ne[0];
    }
    return fr_plan_add(c->p, gname, fr_ggml_id(ty), t->ndim, ne, &s, t->nbytes);
}

static int experts(conv *c, int layer, int n_exp, const char *proj, const char *gname) {
    char name[512];
    fr_tensor *ex = calloc((size_t)n_exp, sizeof *ex);
    if (!ex) return fr_err("out of memory");
    uint64_t bytes = 0;
    for (int e = 0; e < n_exp; e++) {
        snprintf(name, sizeof name, "model.layers.%d.mlp.experts.%d.%s.weight", layer, e, proj);
        const fr_tensor *t = fr_weights_find(c->w, name);
        if (!t) {
            free(ex);
            return fr_err("%s: missing tensor '%s'", c->dir, name);
        }
        if (t->ndim != 2 || (e > 0 && (t->ne[0] != ex[0].ne[0] || t->ne[1] != ex[0].ne[1]))) {
            free(ex);
            return fr_err("%s: tensor '%s' does not have the shape of expert 0", c->dir, name);
        }
        if (fr_weights_bind(c->w, name, 2, t->ne, &ex[e])) {
            free(ex);
            return -1;
        }
        bytes += t->nbytes;
    }
    uint64_t ne[3] = {(uint64_t)ex[0].ne[1], (uint64_t)ex[0].ne[0], (uint64_t)n_exp};
    fr_plan_src s = {.kind = FR_SRC_EXPERTS, .ex = ex, .n_ex = n_exp};
    if (fr_plan_add(c->p, gname, fr_ggml_id(out_type(c, gname, 3, ne[0])), 3, ne, &s, bytes)) {
        free(ex);
        return -1;
    }
    return 0;
}

/* kv_b_proj [H*(dn+dv), r] -> attn_k_b [H, r, dn], attn_v_b [H, dv, r] */
static int split_kv_b(conv *c, int layer, int H, int dn, int dv, int r) {
    char hf[512], g[256];
    snprintf(hf, sizeof hf, "model.layers.%d.self_attn.kv_b_proj.weight", layer);
    int64_t ne[2] = {(int64_t)H * (dn + dv), r};
    fr_tensor kvb;
    if (fr_weights_bind(c->w, hf, 2, ne, &kvb)) return -1;
    fr_plan_src s = {.kind = FR_SRC_KB, .t = kvb, .H = H, .dn = dn, .dv = dv, .r = r};
    uint64_t kne[3] = {(uint64_t)dn, (uint64_t)r, (uint64_t)H}, vne[3] = {(uint64_t)r, (uint64_t)dv, (uint64_t)H};
    snprintf(g, sizeof g, "blk.%d.attn_k_b.weight", layer);
    if (fr_plan_add(c->p, g, fr_ggml_id(out_type(c, g, 3, kne[0])), 3, kne, &s, kvb.nbytes * (uint64_t)dn / (uint64_t)(dn + dv)))
        return -1;
    s.kind = FR_SRC_VB;
    snprintf(g, sizeof g, "blk.%d.attn_v_b.weight", layer);
    return fr_plan_add(c->p, g, fr_ggml_id(out_type(c, g, 3, vne[0])), 3, vne, &s, kvb.nbytes * (uint64_t)dv / (uint64_t)(dn + dv));
}

/* ---- tokenizer.json -> tokenizer.ggml.* ---------------------------------- */

static int tokenizer(const char *dir, const fr_cfg *cfg, const char *model_type, int n_vocab, fr_gguf_out *o) {
    char path[4096];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    if (!exists(path)) return 0; /* no tokenizer written (frugal does not need one to run) */
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je), *model, *vocab, *merges, *added;
    if (!root) return fr_err("%s: invalid JSON at line %d: %s", path, je.line, je.text);
    int rc = -1;
    char **tok = calloc((size_t)n_vocab, sizeof *tok);
    int32_t *type = calloc((size_t)n_vocab, sizeof *type);
    const char **mg = NULL;
    char **mg_own = NULL;
    size_t nm = 0;
    if (!tok || !type) {
        fr_err("out of memory");
        goto out;
    }
    model = json_object_get(root, "model");
    vocab = json_object_get(model, "vocab");
    merges = json_object_get(model, "merges");
    if (!json_is_object(vocab) || !json_is_array(merges)) {
        fr_err("%s: expected a BPE model with 'vocab' and 'merges'", path);
        goto out;
    }
    const char *k;
    json_t *v;
    json_object_foreach(vocab, k, v) {
        json_int_t id = json_integer_value(v);
        if (json_is_integer(v) && id >= 0 && id < n_vocab && !tok[id]) tok[id] = strdup(k), type[id] = 1;
    }
    added = json_object_get(root, "added_tokens");
    size_t i;
    json_array_foreach(added, i, v) {
        json_int_t id = json_integer_value(json_object_get(v, "id"));
        const char *content = json_string_value(json_object_get(v, "content"));
        if (!content || id < 0 || id >= n_vocab) continue;
        free(tok[id]);
        tok[id] = strdup(content);
        type[id] = json_is_true(json_object_get(v, "special")) ? 3 : 4; /* CONTROL : USER_DEFINED */
    }
    char pad[32];
    for (int t = 0; t < n_vocab; t++)
        if (!tok[t]) {
            snprintf(pad, sizeof pad, "[PAD%d]", t);
            tok[t] = strdup(pad);
            type[t] = 5; /* UNUSED */
        }
    nm = json_array_size(merges);
    mg = calloc(nm ? nm : 1, sizeof *mg);
    mg_own = calloc(nm ? nm : 1, sizeof *mg_own);
    if (!mg || !mg_own) {
        fr_err("out of memory");
        goto out;
    }
    json_array_foreach(merges, i, v) {
        if (json_is_string(v)) mg[i] = json_string_value(v);
        else if (json_is_array(v) && json_array_size(v) == 2 && json_is_string(json_array_get(v, 0))) {
            const char *a = json_string_value(json_array_get(v, 0)), *b = json_string_value(json_array_get(v, 1));
            if (!b) b = "";
            mg_own[i] = malloc(strlen(a) + strlen(b) + 2);
            if (!mg_own[i]) {
                fr_err("out of memory");
                goto out;
            }
            sprintf(mg_own[i], "%s %s", a, b);
            mg[i] = mg_own[i];
        } else {
            fr_err("%s: merge %zu is neither \"a b\" nor [a, b]", path, i);
            goto out;
        }
    }
    fr_gguf_out_kv_str(o, "tokenizer.ggml.model", "gpt2");
    fr_gguf_out_kv_str(o, "tokenizer.ggml.pre", !strcmp(model_type, "deepseek_v2")   ? "deepseek-llm"
                                                     : !strcmp(model_type, "kimi_linear") ? "kimi-k2"
                                                                                          : "deepseek-v3");
    fr_gguf_out_kv_arr_str(o, "tokenizer.ggml.tokens", (const char *const *)tok, (uint64_t)n_vocab);
    fr_gguf_out_kv_arr_i32(o, "tokenizer.ggml.token_type", type, (uint64_t)n_vocab);
    fr_gguf_out_kv_arr_str(o, "tokenizer.ggml.merges", mg, nm);
    int64_t id;
    if (fr_cfg_int(cfg, "bos_token_id", 0, -1, -1, n_vocab - 1, &id) == 0 && id >= 0)
        fr_gguf_out_kv_u32(o, "tokenizer.ggml.bos_token_id", (uint32_t)id);
    if (fr_cfg_int(cfg, "eos_token_id", 0, -1, -1, n_vocab - 1, &id) == 0 && id >= 0)
        fr_gguf_out_kv_u32(o, "tokenizer.ggml.eos_token_id", (uint32_t)id);
    fr_err_clear();
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    json_t *tc = exists(path) ? json_load_file(path, 0, &je) : NULL;
    if (tc) {
        json_t *ab = json_object_get(tc, "add_bos_token"), *ae = json_object_get(tc, "add_eos_token"),
               *ct = json_object_get(tc, "chat_template");
        if (json_is_boolean(ab)) fr_gguf_out_kv_bool(o, "tokenizer.ggml.add_bos_token", json_is_true(ab));
        if (json_is_boolean(ae)) fr_gguf_out_kv_bool(o, "tokenizer.ggml.add_eos_token", json_is_true(ae));
        if (json_is_string(ct)) fr_gguf_out_kv_str(o, "tokenizer.chat_template", json_string_value(ct));
        json_decref(tc);
    }
    rc = 0;
out:
    if (tok)
        for (int t = 0; t < n_vocab; t++) free(tok[t]);
    if (mg_own)
        for (size_t m = 0; m < nm; m++) free(mg_own[m]);
    free(mg_own);
    free(mg);
    free(tok);
    free(type);
    json_decref(root);
    return rc;
}

/* ---- the model ----------------------------------------------------------- */

static int kimi_linear_to_gguf(const char *dir, const char *out, const char *type, fr_cfg *cfg, fr_progress_fn cb, void *ud);

int fr_hf_to_gguf(const char *dir, const char *out, const char *type, fr_progress_fn cb, void *ud) {
    fr_cfg cfg;
    fr_weights w;
    fr_gguf_out o;
    fr_plan p = {0};
    char path[4096];
    memset(&w, 0, sizeof w);
    fr_gguf_out_init(&o);
    snprintf(path, sizeof path, "%s/config.json", dir);
    if (fr_cfg_load(&cfg, path)) return -1;
    int rc = -1;
    const char *mt;
    if (fr_cfg_str(&cfg, "model_type", 1, NULL, &mt)) goto out;
    if (!strcmp(mt, "kimi_linear")) { /* llama.cpp's kimi-linear architecture */
        rc = kimi_linear_to_gguf(dir, out, type, &cfg, cb, ud);
        goto out;
    }
    if (strcmp(mt, "deepseek_v2") && strcmp(mt, "deepseek_v3") && strcmp(mt, "kimi_k2")) {
        fr_err("%s: model_type '%s' cannot be converted (deepseek_v2, deepseek_v3, kimi_k2, kimi_linear)", path, mt);
        goto out;
    }
    if (fr_hf_open_weights(dir, &w, 0)) goto out;
    if (!type) { /* like the converter's "auto": keep 16-bit weights 16-bit */
        type = "F32";
        for (int i = 0; i < w.n; i++)
            if (w.t[i].dtype == FR_DT_BF16 || w.t[i].dtype == FR_DT_F8_E4M3) type = "BF16";
            else if (w.t[i].dtype == FR_DT_F16 && strcmp(type, "BF16")) type = "F16";
    }
    const fr_mix *mx = fr_mix_find(type);
    if (!mx) {
        fr_err("convert: unknown type '%s' (%s)", type, fr_quant_type_names);
        goto out;
    }
    int64_t n_vocab, d, n_layer, H, q_lora, kv_lora, dn, dr, dv, ff, n_exp, moe_ff = 0, n_shared, k = 0, n_group,
        topk_group, first_dense, max_pos, moe_freq;
    double eps, theta, rscale;
    int norm_topk;
    const char *scoring, *topk_method;
    if (fr_cfg_int(&cfg, "vocab_size", 1, 0, 1, 1 << 24, &n_vocab) || fr_cfg_int(&cfg, "hidden_size", 1, 0, 1, 1 << 20, &d) ||
        fr_cfg_int(&cfg, "num_hidden_layers", 1, 0, 1, 4096, &n_layer) ||
        fr_cfg_int(&cfg, "num_attention_heads", 1, 0, 1, 1 << 16, &H) ||
        fr_cfg_int(&cfg, "q_lora_rank", 0, 0, 0, 1 << 20, &q_lora) ||
        fr_cfg_int(&cfg, "kv_lora_rank", 1, 0, 1, 1 << 20, &kv_lora) ||
        fr_cfg_int(&cfg, "qk_nope_head_dim", 1, 0, 0, 1 << 16, &dn) ||
        fr_cfg_int(&cfg, "qk_rope_head_dim", 1, 0, 0, 1 << 16, &dr) ||
        fr_cfg_int(&cfg, "v_head_dim", 1, 0, 1, 1 << 16, &dv) ||
        fr_cfg_int(&cfg, "intermediate_size", 1, 0, 1, 1 << 30, &ff) ||
        fr_cfg_int(&cfg, "n_routed_experts", 0, 0, 0, 1 << 20, &n_exp) ||
        fr_cfg_int(&cfg, "n_shared_experts", 0, 0, 0, 1024, &n_shared) ||
        fr_cfg_int(&cfg, "n_group", 0, 1, 1, 1 << 20, &n_group) ||
        fr_cfg_int(&cfg, "topk_group", 0, 1, 1, 1 << 20, &topk_group) ||
        fr_cfg_int(&cfg, "first_k_dense_replace", 0, 0, 0, 1 << 20, &first_dense) ||
        fr_cfg_int(&cfg, "moe_layer_freq", 0, 1, 1, 1 << 20, &moe_freq) ||
        fr_cfg_int(&cfg, "max_position_embeddings", 0, 4096, 1, INT32_MAX, &max_pos) ||
        fr_cfg_num(&cfg, "rms_norm_eps", 0, 1e-6, 0, 1, &eps) || fr_cfg_num(&cfg, "rope_theta", 0, 10000, 1e-3, 1e12, &theta) ||
        fr_cfg_num(&cfg, "routed_scaling_factor", 0, 1.0, 0, 1e6, &rscale) ||
        fr_cfg_bool(&cfg, "norm_topk_prob", 0, 0, &norm_topk) || fr_cfg_str(&cfg, "scoring_func", 0, "softmax", &scoring) ||
        fr_cfg_str(&cfg, "topk_method", 0, "greedy", &topk_method))
        goto out;
    if (n_exp > 0 && (fr_cfg_int(&cfg, "moe_intermediate_size", 1, 0, 1, 1 << 30, &moe_ff) ||
                      fr_cfg_int(&cfg, "num_experts_per_tok", 1, 0, 1, n_exp, &k)))
        goto out;
    if (moe_freq != 1) {
        fr_err("%s: moe_layer_freq = %lld has no deepseek2 GGUF equivalent", path, (long long)moe_freq);
        goto out;
    }

    /* metadata, in the converter's order */
    char name[256];
    const char *A = "deepseek2";
#define KEY(s) (snprintf(name, sizeof name, "%s.%s", A, s), name)
    fr_gguf_out_kv_str(&o, "general.architecture", A);
    const char *slash = strrchr(dir, '/');
    fr_gguf_out_kv_str(&o, "general.name", slash && slash[1] ? slash + 1 : dir);
    fr_gguf_out_kv_u32(&o, KEY("block_count"), (uint32_t)n_layer);
    fr_gguf_out_kv_u32(&o, KEY("context_length"), (uint32_t)max_pos);
    fr_gguf_out_kv_u32(&o, KEY("embedding_length"), (uint32_t)d);
    fr_gguf_out_kv_u32(&o, KEY("feed_forward_length"), (uint32_t)ff);
    fr_gguf_out_kv_u32(&o, KEY("attention.head_count"), (uint32_t)H);
    fr_gguf_out_kv_u32(&o, KEY("attention.head_count_kv"), 1);
    fr_gguf_out_kv_f32(&o, KEY("rope.freq_base"), (float)theta);
    fr_gguf_out_kv_f32(&o, KEY("attention.layer_norm_rms_epsilon"), (float)eps);
    if (n_exp > 0) {
        fr_gguf_out_kv_u32(&o, KEY("expert_used_count"), (uint32_t)k);
        fr_gguf_out_kv_u32(&o, KEY("expert_count"), (uint32_t)n_exp);
        fr_gguf_out_kv_u32(&o, KEY("expert_shared_count"), (uint32_t)n_shared);
        fr_gguf_out_kv_u32(&o, KEY("expert_feed_forward_length"), (uint32_t)moe_ff);
        fr_gguf_out_kv_f32(&o, KEY("expert_weights_scale"), (float)rscale);
        fr_gguf_out_kv_bool(&o, KEY("expert_weights_norm"), norm_topk);
        fr_gguf_out_kv_u32(&o, KEY("expert_gating_func"), !strcmp(scoring, "sigmoid") ? 2 : 1);
        if (n_group > 1) {
            fr_gguf_out_kv_u32(&o, KEY("expert_group_count"), (uint32_t)n_group);
            fr_gguf_out_kv_u32(&o, KEY("expert_group_used_count"), (uint32_t)topk_group);
            /* llama.cpp ranks the groups by the sum of their two best scores (V3's
             * noaux_tc); DeepSeek-V2's group_limited_greedy by the best one. frugal's
             * own key keeps that exact (llama.cpp ignores it and runs its own rule, as
             * on the files its converter writes) */
            if (!strcmp(topk_method, "group_limited_greedy")) fr_gguf_out_kv_str(&o, "frugal.expert_group_scoring", "max");
        }
    }
    fr_gguf_out_kv_u32(&o, KEY("leading_dense_block_count"), (uint32_t)(n_exp > 0 ? first_dense : n_layer));
    fr_gguf_out_kv_u32(&o, KEY("vocab_size"), (uint32_t)n_vocab);
    /* always written (0 = no q LoRA): llama.cpp requires the key unless the model
     * has exactly the 26/27 layers of the V2-Lite family */
    fr_gguf_out_kv_u32(&o, KEY("attention.q_lora_rank"), (uint32_t)q_lora);
    fr_gguf_out_kv_u32(&o, KEY("attention.kv_lora_rank"), (uint32_t)kv_lora);
    fr_gguf_out_kv_u32(&o, KEY("attention.key_length"), (uint32_t)(kv_lora + dr));
    fr_gguf_out_kv_u32(&o, KEY("attention.value_length"), (uint32_t)kv_lora);
    fr_gguf_out_kv_u32(&o, KEY("attention.key_length_mla"), (uint32_t)(dn + dr));
    fr_gguf_out_kv_u32(&o, KEY("attention.value_length_mla"), (uint32_t)dv);
    fr_gguf_out_kv_u32(&o, KEY("rope.dimension_count"), (uint32_t)dr);
    fr_cfg rs;
    int r = fr_cfg_sub(&cfg, "rope_scaling", &rs);
    if (r < 0) goto out;
    if (r == 0) {
        const char *rt = NULL;
        double factor, orig, msc_all = 0, msc = 1, bf = 32, bs = 1;
        if (fr_cfg_str(&rs, "type", 0, NULL, &rt) || (!rt && fr_cfg_str(&rs, "rope_type", 0, NULL, &rt))) goto out;
        if (rt && !strcmp(rt, "yarn")) {
            if (fr_cfg_num(&rs, "factor", 1, 0, 1e-6, 1e6, &factor) ||
                fr_cfg_num(&rs, "original_max_position_embeddings", 1, 0, 1, 1e9, &orig) ||
                fr_cfg_num(&rs, "mscale_all_dim", 0, 0, 0, 1e3, &msc_all) || fr_cfg_num(&rs, "mscale", 0, 1, 0, 1e3, &msc) ||
                fr_cfg_num(&rs, "beta_fast", 0, 32, 1e-6, 1e6, &bf) || fr_cfg_num(&rs, "beta_slow", 0, 1, 1e-6, 1e6, &bs))
                goto out;
            if (factor > 1 && (msc != msc_all || msc_all == 0)) {
                /* llama.cpp takes mscale = mscale_all_dim (from yarn_log_multiplier) and, for 0,
                 * scales the rotation and the softmax by 1 + 0.1 ln(factor): exact only when
                 * mscale == mscale_all_dim != 0 (every DeepSeek / Kimi release) */
                fr_err("%s: rope_scaling mscale %g / mscale_all_dim %g has no deepseek2 GGUF equivalent (needs equal, non-zero)",
                       path, msc, msc_all);
                goto out;
            }
            fr_gguf_out_kv_str(&o, KEY("rope.scaling.type"), "yarn");
            fr_gguf_out_kv_f32(&o, KEY("rope.scaling.factor"), (float)factor);
            fr_gguf_out_kv_u32(&o, KEY("rope.scaling.original_context_length"), (uint32_t)orig);
            fr_gguf_out_kv_f32(&o, KEY("rope.scaling.yarn_log_multiplier"), (float)(0.1 * msc_all));
            if (bf != 32) fr_gguf_out_kv_f32(&o, KEY("rope.scaling.yarn_beta_fast"), (float)bf);
            if (bs != 1) fr_gguf_out_kv_f32(&o, KEY("rope.scaling.yarn_beta_slow"), (float)bs);
        } else if (rt && strcmp(rt, "default") != 0) {
            fr_err("%s: rope_scaling type '%s' cannot be converted (yarn)", path, rt);
            goto out;
        }
    }
#undef KEY
    fr_gguf_out_kv_u32(&o, "general.quantization_version", 2);
    fr_gguf_out_kv_u32(&o, "general.file_type", fr_mix_ftype(mx));
    if (tokenizer(dir, &cfg, mt, (int)n_vocab, &o)) goto out;

    /* tensors */
    conv c = {&w, mx, &p, (int)n_layer, (int)n_exp, dir};
    if (plain(&c, "model.embed_tokens.weight", "token_embd.weight", 0)) goto out;
    static const struct { const char *hf, *g; int optional; } attn[] = {
        {"input_layernorm.weight", "attn_norm.weight", 0},
        {"self_attn.q_proj.weight", "attn_q.weight", 1},
        {"self_attn.q_a_proj.weight", "attn_q_a.weight", 1},
        {"self_attn.q_a_layernorm.weight", "attn_q_a_norm.weight", 1},
        {"self_attn.q_b_proj.weight", "attn_q_b.weight", 1},
        {"self_attn.kv_a_proj_with_mqa.weight", "attn_kv_a_mqa.weight", 0},
        {"self_attn.kv_a_layernorm.weight", "attn_kv_a_norm.weight", 0},
    };
    for (int l = 0; l < n_layer; l++) {
        char hf[512], g[256];
#define MAP(h, gg, opt) (snprintf(hf, sizeof hf, "model.layers.%d.%s", l, h), snprintf(g, sizeof g, "blk.%d.%s", l, gg), plain(&c, hf, g, opt))
        for (size_t i = 0; i < sizeof attn / sizeof *attn; i++)
            if (MAP(attn[i].hf, attn[i].g, attn[i].optional)) goto out;
        if (split_kv_b(&c, l, (int)H, (int)dn, (int)dv, (int)kv_lora)) goto out;
        if (MAP("self_attn.o_proj.weight", "attn_output.weight", 0) || MAP("post_attention_layernorm.weight", "ffn_norm.weight", 0))
            goto out;
        if (n_exp > 0 && l >= first_dense) {
            if (MAP("mlp.gate.weight", "ffn_gate_inp.weight", 0) ||
                MAP("mlp.gate.e_score_correction_bias", "exp_probs_b.bias", 1))
                goto out;
            snprintf(g, sizeof g, "blk.%d.ffn_gate_exps.weight", l);
            if (experts(&c, l, (int)n_exp, "gate_proj", g)) goto out;
            snprintf(g, sizeof g, "blk.%d.ffn_up_exps.weight", l);
            if (experts(&c, l, (int)n_exp, "up_proj", g)) goto out;
            snprintf(g, sizeof g, "blk.%d.ffn_down_exps.weight", l);
            if (experts(&c, l, (int)n_exp, "down_proj", g)) goto out;
            if (n_shared > 0 && (MAP("mlp.shared_experts.gate_proj.weight", "ffn_gate_shexp.weight", 0) ||
                                 MAP("mlp.shared_experts.up_proj.weight", "ffn_up_shexp.weight", 0) ||
                                 MAP("mlp.shared_experts.down_proj.weight", "ffn_down_shexp.weight", 0)))
                goto out;
        } else {
            if (MAP("mlp.gate_proj.weight", "ffn_gate.weight", 0) || MAP("mlp.up_proj.weight", "ffn_up.weight", 0) ||
                MAP("mlp.down_proj.weight", "ffn_down.weight", 0))
                goto out;
        }
#undef MAP
    }
    if (plain(&c, "model.norm.weight", "output_norm.weight", 0)) goto out;
    if (plain(&c, "lm_head.weight", "output.weight", 1)) goto out;
    if (fr_plan_declare(&p, &o) || fr_gguf_out_open(&o, out) || fr_plan_write(&p, &o, cb, ud) || fr_gguf_out_close(&o))
        goto out;
    rc = 0;
out:
    fr_plan_free(&p);
    fr_gguf_out_free(&o);
    if (w.release || w.t) fr_weights_free(&w);
    fr_cfg_free(&cfg);
    return rc;
}

/* ---- kimi_linear -> llama.cpp `kimi-linear` ------------------------------- *
 * As llama.cpp's converter (conversion/kimi_linear.py + the TextModel defaults):
 *   KDA: q/k/v/o_proj -> attn_q/k/v/output; {q,k,v}_conv1d [HK,1,W] -> ssm_conv1d_{q,k,v} ne [W,1,HK,1] (F32);
 *        f_a/f_b/b/g_a/g_b_proj -> ssm_f_a/ssm_f_b/ssm_beta/ssm_g_a/ssm_g_b; o_norm -> ssm_norm;
 *        A_log [1,1,H,1] -> ssm_a = -exp(A_log) ne [1,H,1,1] (F32); dt_bias -> ssm_dt.bias (F32)
 *   MLA: as deepseek2 (kv_b_proj split into attn_k_b / attn_v_b)
 *   MoE: block_sparse_moe.gate -> ffn_gate_inp, e_score_correction_bias -> exp_probs_b.bias,
 *        experts w1/w3/w2 stacked -> ffn_gate/up/down_exps, shared_experts -> ffn_*_shexp
 *   attention.head_count_kv per layer: 1 for MLA layers, 0 for KDA layers. */

typedef struct kconv {
    conv c;
    float **bufs; /* synthesized tensors (ssm_a), alive until written */
    int n_bufs;
} kconv;

/* {q,k,v}_conv1d [HK,1,W] or [HK,W] -> ggml ne [W,1,HK,1], F32 (the converter keeps them F32) */
static int kimi_conv(kconv *k, const char *hf, const char *gname, int64_t HK, int64_t W) {
    const fr_tensor *t = fr_weights_find(k->c.w, hf);
    if (!t) return fr_err("%s: missing tensor '%s'", k->c.dir, hf);
    if (t->dtype != FR_DT_F32 && t->dtype != FR_DT_F16 && t->dtype != FR_DT_BF16)
        return fr_err("%s: tensor '%s' has dtype %s, expected F32, F16 or BF16", k->c.dir, hf, fr_dtype_get(t->dtype)->name);
    if (fr_tensor_nelem(t) != HK * W || t->ne[0] != HK || t->ne[t->ndim - 1] != W)
        return fr_err("%s: tensor '%s' should be [%lld, 1, %lld]", k->c.dir, hf, (long long)HK, (long long)W);
    fr_tensor v = *t;
    v.ndim = 2;
    v.ne[0] = HK;
    v.ne[1] = W;
    uint64_t ne[4] = {(uint64_t)W, 1, (uint64_t)HK, 1};
    fr_plan_src s = {.kind = FR_SRC_ROWS, .t = v};
    if (t->dtype == FR_DT_F32) s = (fr_plan_src){.kind = FR_SRC_RAW, .raw = t->data};
    return fr_plan_add(k->c.p, gname, fr_ggml_id(FR_DT_F32), 4, ne, &s, t->nbytes);
}

/* A_log -> ssm_a = -exp(A_log), F32, the HF shape reversed */
static int kimi_ssm_a(kconv *k, const char *hf, const char *gname, int64_t H) {
    const fr_tensor *t = fr_weights_find(k->c.w, hf);
    if (!t) return fr_err("%s: missing tensor '%s'", k->c.dir, hf);
    if (t->dtype != FR_DT_F32 && t->dtype != FR_DT_F16 && t->dtype != FR_DT_BF16)
        return fr_err("%s: tensor '%s' has dtype %s, expected F32, F16 or BF16", k->c.dir, hf, fr_dtype_get(t->dtype)->name);
    if (fr_tensor_nelem(t) != H) return fr_err("%s: tensor '%s' should have %lld elements", k->c.dir, hf, (long long)H);
    float **nb = realloc(k->bufs, (size_t)(k->n_bufs + 1) * sizeof *nb);
    if (!nb) return fr_err("out of memory");
    k->bufs = nb;
    float *a = malloc((size_t)H * sizeof *a);
    if (!a) return fr_err("out of memory");
    k->bufs[k->n_bufs++] = a;
    fr_tensor_to_f32(t, a);
    for (int64_t h = 0; h < H; h++) a[h] = -expf(a[h]);
    uint64_t ne[4];
    ggml_ne(t, ne);
    fr_plan_src s = {.kind = FR_SRC_RAW, .raw = (const uint8_t *)a};
    return fr_plan_add(k->c.p, gname, fr_ggml_id(FR_DT_F32), t->ndim, ne, &s, t->nbytes);
}

/* block_sparse_moe.experts.E.<proj> stacked into one [E, rows, cols] tensor */
static int kimi_experts(conv *c, int layer, int n_exp, const char *proj, const char *gname) {
    char name[512];
    fr_tensor *ex = calloc((size_t)n_exp, sizeof *ex);
    if (!ex) return fr_err("out of memory");
    uint64_t bytes = 0;
    for (int e = 0; e < n_exp; e++) {
        snprintf(name, sizeof name, "model.layers.%d.block_sparse_moe.experts.%d.%s.weight", layer, e, proj);
        const fr_tensor *t = fr_weights_find(c->w, name);
        if (!t || t->ndim != 2 || (e > 0 && (t->ne[0] != ex[0].ne[0] || t->ne[1] != ex[0].ne[1])) ||
            fr_weights_bind(c->w, name, 2, t->ne, &ex[e])) {
            free(ex);
            return t ? fr_err("%s: tensor '%s' is not a 2-D weight of the shape of expert 0", c->dir, name)
                     : fr_err("%s: missing tensor '%s'", c->dir, name);
        }
        bytes += t->nbytes;
    }
    uint64_t ne[3] = {(uint64_t)ex[0].ne[1], (uint64_t)ex[0].ne[0], (uint64_t)n_exp};
    fr_plan_src s = {.kind = FR_SRC_EXPERTS, .ex = ex, .n_ex = n_exp};
    if (fr_plan_add(c->p, gname, fr_ggml_id(out_type(c, gname, 3, ne[0])), 3, ne, &s, bytes)) {
        free(ex);
        return -1;
    }
    return 0;
}

static int kimi_linear_to_gguf(const char *dir, const char *out, const char *type, fr_cfg *cfg, fr_progress_fn cb, void *ud) {
    fr_weights w;
    fr_gguf_out o;
    fr_plan p = {0};
    kconv k = {0};
    char path[4096];
    memset(&w, 0, sizeof w);
    fr_gguf_out_init(&o);
    snprintf(path, sizeof path, "%s/config.json", dir);
    int rc = -1;
    if (fr_hf_open_weights(dir, &w, 0)) goto out;
    if (!type) { /* keep 16-bit weights 16-bit */
        type = "F32";
        for (int i = 0; i < w.n; i++)
            if (w.t[i].dtype == FR_DT_BF16 || w.t[i].dtype == FR_DT_F8_E4M3) type = "BF16";
            else if (w.t[i].dtype == FR_DT_F16 && strcmp(type, "BF16")) type = "F16";
    }
    const fr_mix *mx = fr_mix_find(type);
    if (!mx) {
        fr_err("convert: unknown type '%s' (%s)", type, fr_quant_type_names);
        goto out;
    }
    int64_t n_vocab, d, n_layer, H, q_lora, kv_lora, dn, dr, dv, ff, n_exp, moe_ff = 0, n_shared, topk = 0, n_group, topk_group,
        first_dense, moe_freq, max_pos, head_dim = 0, kda_heads, kda_dim, conv_w;
    double eps, theta, rscale;
    int renorm, nope = 1, flag = 0;
    const char *act, *hidden_act;
    if (fr_cfg_int(cfg, "vocab_size", 1, 0, 1, 1 << 24, &n_vocab) || fr_cfg_int(cfg, "hidden_size", 1, 0, 1, 1 << 20, &d) ||
        fr_cfg_int(cfg, "num_hidden_layers", 1, 0, 1, 1024, &n_layer) ||
        fr_cfg_int(cfg, "num_attention_heads", 1, 0, 1, 1 << 16, &H) || fr_cfg_int(cfg, "q_lora_rank", 0, 0, 0, 1 << 20, &q_lora) ||
        fr_cfg_int(cfg, "kv_lora_rank", 1, 0, 1, 1 << 20, &kv_lora) ||
        fr_cfg_int(cfg, "qk_nope_head_dim", 1, 0, 0, 1 << 16, &dn) || fr_cfg_int(cfg, "qk_rope_head_dim", 1, 0, 0, 1 << 16, &dr) ||
        fr_cfg_int(cfg, "v_head_dim", 1, 0, 1, 1 << 16, &dv) || fr_cfg_int(cfg, "intermediate_size", 1, 0, 1, 1 << 30, &ff) ||
        fr_cfg_int(cfg, "num_experts", 0, 0, 0, 1 << 14, &n_exp) || fr_cfg_int(cfg, "num_shared_experts", 0, 0, 0, 64, &n_shared) ||
        fr_cfg_int(cfg, "num_expert_group", 0, 1, 1, 1 << 14, &n_group) ||
        fr_cfg_int(cfg, "topk_group", 0, 1, 1, 1 << 14, &topk_group) ||
        fr_cfg_int(cfg, "first_k_dense_replace", 0, 0, 0, 1 << 20, &first_dense) ||
        fr_cfg_int(cfg, "moe_layer_freq", 0, 1, 1, 1 << 20, &moe_freq) || fr_cfg_int(cfg, "head_dim", 0, 0, 0, 1 << 16, &head_dim) ||
        fr_cfg_num(cfg, "rms_norm_eps", 0, 1e-5, 0, 1, &eps) || fr_cfg_num(cfg, "rope_theta", 0, 10000, 1e-3, 1e12, &theta) ||
        fr_cfg_num(cfg, "routed_scaling_factor", 0, 1.0, 0, 1e6, &rscale) || fr_cfg_bool(cfg, "moe_renormalize", 0, 1, &renorm) ||
        fr_cfg_str(cfg, "moe_router_activation_func", 0, "sigmoid", &act) || fr_cfg_bool(cfg, "mla_use_nope", 0, 1, &nope) ||
        fr_cfg_str(cfg, "hidden_act", 0, "silu", &hidden_act))
        goto out;
    if (fr_cfg_has(cfg, "max_position_embeddings")) {
        if (fr_cfg_int(cfg, "max_position_embeddings", 1, 0, 1, INT32_MAX, &max_pos)) goto out;
    } else if (fr_cfg_int(cfg, "model_max_length", 0, 0, 0, INT32_MAX, &max_pos)) goto out;
    if (n_exp > 0 && (fr_cfg_int(cfg, "moe_intermediate_size", 1, 0, 1, 1 << 30, &moe_ff) ||
                      fr_cfg_int(cfg, "num_experts_per_token", 1, 0, 1, n_exp, &topk)))
        goto out;
    /* what llama.cpp's kimi-linear graph cannot express: refuse rather than write a file that differs */
    if (moe_freq != 1 || !renorm || n_group > 1 || !nope || strcmp(hidden_act, "silu") != 0 ||
        (strcmp(act, "sigmoid") != 0 && strcmp(act, "softmax") != 0)) {
        fr_err("%s: moe_layer_freq %lld, moe_renormalize %s, num_expert_group %lld, mla_use_nope %s, hidden_act '%s', "
               "router '%s': kimi-linear GGUF needs 1, true, 1, true, 'silu', sigmoid/softmax",
               path, (long long)moe_freq, renorm ? "true" : "false", (long long)n_group, nope ? "true" : "false", hidden_act, act);
        goto out;
    }
    int gate2 = 0;
    if (fr_cfg_bool(cfg, "mla_use_output_gate", 0, 0, &flag) || fr_cfg_bool(cfg, "use_full_rank_gate", 0, 0, &gate2)) goto out;
    if (flag || gate2) {
        fr_err("%s: mla_use_output_gate / use_full_rank_gate are not supported", path);
        goto out;
    }
    fr_cfg la;
    int r = fr_cfg_sub(cfg, "linear_attn_config", &la);
    if (r) {
        if (r > 0) fr_err("%s: missing field 'linear_attn_config'", path);
        goto out;
    }
    if (fr_cfg_int(&la, "num_heads", 1, 0, 1, 1 << 16, &kda_heads) || fr_cfg_int(&la, "head_dim", 1, 0, 1, 1 << 16, &kda_dim) ||
        fr_cfg_int(&la, "short_conv_kernel_size", 0, 4, 1, 64, &conv_w))
        goto out;
    if (fr_cfg_has(&la, "gate_lower_bound")) {
        fr_err("%s: linear_attn_config.gate_lower_bound is not supported", path);
        goto out;
    }
    int64_t lst[1024];
    int nl;
    unsigned char is_mla[1024] = {0};
    if (fr_cfg_int_list(&la, "full_attn_layers", 0, 1, n_layer, lst, 1024, &nl)) goto out;
    for (int i = 0; i < nl; i++) is_mla[lst[i] - 1] = 1;
    if (fr_cfg_int_list(&la, "kda_layers", 1, 1, n_layer, lst, 1024, &nl)) goto out;
    {
        unsigned char is_kda[1024] = {0};
        for (int i = 0; i < nl; i++) is_kda[lst[i] - 1] = 1;
        for (int l = 0; l < n_layer; l++) is_mla[l] = !is_kda[l]; /* the family's rule: not KDA = MLA */
    }

    /* metadata */
    char name[256];
    const char *A = "kimi-linear";
#define KEY(s) (snprintf(name, sizeof name, "%s.%s", A, s), name)
    fr_gguf_out_kv_str(&o, "general.architecture", A);
    const char *slash = strrchr(dir, '/');
    fr_gguf_out_kv_str(&o, "general.name", slash && slash[1] ? slash + 1 : dir);
    fr_gguf_out_kv_u32(&o, KEY("block_count"), (uint32_t)n_layer);
    if (max_pos > 0) fr_gguf_out_kv_u32(&o, KEY("context_length"), (uint32_t)max_pos);
    fr_gguf_out_kv_u32(&o, KEY("embedding_length"), (uint32_t)d);
    fr_gguf_out_kv_u32(&o, KEY("feed_forward_length"), (uint32_t)ff);
    int32_t hkv[1024];
    if (kda_heads == H) {
        fr_gguf_out_kv_u32(&o, KEY("attention.head_count"), (uint32_t)H);
    } else { /* llama.cpp has one head count for both kinds: per layer instead (frugal reads it, llama.cpp cannot) */
        for (int l = 0; l < n_layer; l++) hkv[l] = (int32_t)(is_mla[l] ? H : kda_heads);
        fr_gguf_out_kv_arr_i32(&o, KEY("attention.head_count"), hkv, (uint64_t)n_layer);
    }
    for (int l = 0; l < n_layer; l++) hkv[l] = is_mla[l] ? 1 : 0;
    fr_gguf_out_kv_arr_i32(&o, KEY("attention.head_count_kv"), hkv, (uint64_t)n_layer);
    fr_gguf_out_kv_f32(&o, KEY("rope.freq_base"), (float)theta);
    fr_gguf_out_kv_f32(&o, KEY("attention.layer_norm_rms_epsilon"), (float)eps);
    if (n_exp > 0) {
        fr_gguf_out_kv_u32(&o, KEY("expert_count"), (uint32_t)n_exp);
        fr_gguf_out_kv_u32(&o, KEY("expert_used_count"), (uint32_t)topk);
        if (fr_cfg_has(cfg, "topk_group")) fr_gguf_out_kv_u32(&o, KEY("expert_group_used_count"), (uint32_t)topk_group);
        fr_gguf_out_kv_u32(&o, KEY("expert_gating_func"), !strcmp(act, "sigmoid") ? 2 : 1);
    }
    if (head_dim > 0) fr_gguf_out_kv_u32(&o, KEY("attention.value_length"), (uint32_t)head_dim);
    fr_gguf_out_kv_u32(&o, "general.file_type", fr_mix_ftype(mx));
    fr_gguf_out_kv_u32(&o, KEY("vocab_size"), (uint32_t)n_vocab);
    fr_gguf_out_kv_u32(&o, KEY("ssm.conv_kernel"), (uint32_t)conv_w);
    fr_gguf_out_kv_u32(&o, KEY("kda.head_dim"), (uint32_t)kda_dim);
    if (q_lora > 0) fr_gguf_out_kv_u32(&o, KEY("attention.q_lora_rank"), (uint32_t)q_lora);
    fr_gguf_out_kv_u32(&o, KEY("attention.kv_lora_rank"), (uint32_t)kv_lora);
    fr_gguf_out_kv_u32(&o, KEY("rope.dimension_count"), (uint32_t)dr);
    fr_gguf_out_kv_u32(&o, KEY("attention.key_length"), (uint32_t)(kv_lora + dr));
    fr_gguf_out_kv_u32(&o, KEY("attention.key_length_mla"), (uint32_t)(dn + dr));
    fr_gguf_out_kv_u32(&o, KEY("attention.value_length_mla"), (uint32_t)dv);
    fr_gguf_out_kv_u32(&o, KEY("expert_feed_forward_length"), (uint32_t)moe_ff);
    fr_gguf_out_kv_u32(&o, KEY("expert_shared_count"), (uint32_t)n_shared);
    fr_gguf_out_kv_u32(&o, KEY("leading_dense_block_count"), (uint32_t)(n_exp > 0 ? first_dense : n_layer));
    fr_gguf_out_kv_f32(&o, KEY("expert_weights_scale"), (float)rscale);
#undef KEY
    fr_gguf_out_kv_u32(&o, "general.quantization_version", 2);
    if (tokenizer(dir, cfg, "kimi_linear", (int)n_vocab, &o)) goto out;

    /* tensors */
    k.c = (conv){&w, mx, &p, (int)n_layer, (int)n_exp, dir};
    conv *c = &k.c;
    if (plain(c, "model.embed_tokens.weight", "token_embd.weight", 0)) goto out;
    const int64_t HK = kda_heads * kda_dim;
    for (int l = 0; l < n_layer; l++) {
        char hf[512], g[256];
#define HF(h) (snprintf(hf, sizeof hf, "model.layers.%d.%s", l, h), hf)
#define GG(s) (snprintf(g, sizeof g, "blk.%d.%s", l, s), g)
#define MAP(h, gg, opt) plain(c, HF(h), GG(gg), opt)
        if (MAP("input_layernorm.weight", "attn_norm.weight", 0)) goto out;
        if (!is_mla[l]) {
            static const char *const qkv[3] = {"q", "k", "v"};
            for (int s = 0; s < 3; s++) {
                char h1[64], g1[64];
                snprintf(h1, sizeof h1, "self_attn.%s_proj.weight", qkv[s]);
                snprintf(g1, sizeof g1, "attn_%s.weight", qkv[s]);
                if (MAP(h1, g1, 0)) goto out;
                snprintf(h1, sizeof h1, "self_attn.%s_conv1d.weight", qkv[s]);
                snprintf(g1, sizeof g1, "ssm_conv1d_%s.weight", qkv[s]);
                if (kimi_conv(&k, HF(h1), GG(g1), HK, conv_w)) goto out;
            }
            if (MAP("self_attn.f_a_proj.weight", "ssm_f_a.weight", 0) || MAP("self_attn.f_b_proj.weight", "ssm_f_b.weight", 0) ||
                MAP("self_attn.b_proj.weight", "ssm_beta.weight", 0) || kimi_ssm_a(&k, HF("self_attn.A_log"), GG("ssm_a"), kda_heads) ||
                MAP("self_attn.dt_bias", "ssm_dt.bias", 0) || MAP("self_attn.g_a_proj.weight", "ssm_g_a.weight", 0) ||
                MAP("self_attn.g_b_proj.weight", "ssm_g_b.weight", 0) || MAP("self_attn.o_norm.weight", "ssm_norm.weight", 0) ||
                MAP("self_attn.o_proj.weight", "attn_output.weight", 0))
                goto out;
        } else {
            if (MAP("self_attn.q_proj.weight", "attn_q.weight", 1) || MAP("self_attn.q_a_proj.weight", "attn_q_a.weight", 1) ||
                MAP("self_attn.q_a_layernorm.weight", "attn_q_a_norm.weight", 1) ||
                MAP("self_attn.q_b_proj.weight", "attn_q_b.weight", 1) ||
                MAP("self_attn.kv_a_proj_with_mqa.weight", "attn_kv_a_mqa.weight", 0) ||
                MAP("self_attn.kv_a_layernorm.weight", "attn_kv_a_norm.weight", 0) ||
                split_kv_b(c, l, (int)H, (int)dn, (int)dv, (int)kv_lora) || MAP("self_attn.o_proj.weight", "attn_output.weight", 0))
                goto out;
        }
        if (MAP("post_attention_layernorm.weight", "ffn_norm.weight", 0)) goto out;
        if (n_exp > 0 && l >= first_dense) {
            if (MAP("block_sparse_moe.gate.weight", "ffn_gate_inp.weight", 0) ||
                MAP("block_sparse_moe.gate.e_score_correction_bias", "exp_probs_b.bias", 1) ||
                kimi_experts(c, l, (int)n_exp, "w1", GG("ffn_gate_exps.weight")) ||
                kimi_experts(c, l, (int)n_exp, "w2", GG("ffn_down_exps.weight")) ||
                kimi_experts(c, l, (int)n_exp, "w3", GG("ffn_up_exps.weight")))
                goto out;
            if (n_shared > 0 && (MAP("block_sparse_moe.shared_experts.gate_proj.weight", "ffn_gate_shexp.weight", 0) ||
                                 MAP("block_sparse_moe.shared_experts.up_proj.weight", "ffn_up_shexp.weight", 0) ||
                                 MAP("block_sparse_moe.shared_experts.down_proj.weight", "ffn_down_shexp.weight", 0)))
                goto out;
        } else if (MAP("mlp.gate_proj.weight", "ffn_gate.weight", 0) || MAP("mlp.up_proj.weight", "ffn_up.weight", 0) ||
                   MAP("mlp.down_proj.weight", "ffn_down.weight", 0)) {
            goto out;
        }
#undef MAP
#undef GG
#undef HF
    }
    if (plain(c, "model.norm.weight", "output_norm.weight", 0)) goto out;
    if (plain(c, "lm_head.weight", "output.weight", 1)) goto out;
    if (fr_plan_declare(&p, &o) || fr_gguf_out_open(&o, out) || fr_plan_write(&p, &o, cb, ud) || fr_gguf_out_close(&o)) goto out;
    rc = 0;
out:
    fr_plan_free(&p);
    for (int i = 0; i < k.n_bufs; i++) free(k.bufs[i]);
    free(k.bufs);
    fr_gguf_out_free(&o);
    if (w.release || w.t) fr_weights_free(&w);
    return rc;
}
