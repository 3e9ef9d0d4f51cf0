#include "runtime/gguf_load.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/err.h"
#include "tensor/ggml_quants.h"

typedef struct gguf_owner {
    fr_gguf g;
    char **names; /* HF names handed to the table */
    int n_names, cap_names;
    float **bufs; /* synthesized tensors (zero router biases) */
    int n_bufs;
} gguf_owner;

static void release_owner(void *p) {
    gguf_owner *o = p;
    for (int i = 0; i < o->n_names; i++) free(o->names[i]);
    for (int i = 0; i < o->n_bufs; i++) free(o->bufs[i]);
    free(o->names);
    free(o->bufs);
    fr_gguf_close(&o->g);
    free(o);
}

static void release_marker(void *p); /* identifies our tables */
static void release_marker(void *p) { release_owner(p); }

const fr_gguf *fr_gguf_of_weights(const fr_weights *w) {
    return w->release == release_marker ? &((const gguf_owner *)w->owner)->g : NULL;
}

int fr_is_gguf_path(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) return 0;
    size_t n = strlen(path);
    if (n >= 5 && !strcmp(path + n - 5, ".gguf")) return 1;
    return fr_gguf_sniff(path);
}

/* ---- the weight table ---------------------------------------------------- */

static int add(gguf_owner *o, fr_weights *w, const char *name, fr_dtype dt, int ndim, const int64_t *ne,
               const void *data) {
    if (o->n_names == o->cap_names) {
        int cap = o->cap_names ? 2 * o->cap_names : 256;
        char **nn = realloc(o->names, (size_t)cap * sizeof *nn);
        if (!nn) return fr_err("out of memory");
        o->names = nn;
        o->cap_names = cap;
    }
    char *copy = strdup(name);
    if (!copy) return fr_err("out of memory");
    o->names[o->n_names++] = copy;
    fr_tensor t = {.name = copy, .dtype = dt, .ndim = ndim, .data = data};
    for (int i = 0; i < ndim; i++) t.ne[i] = ne[i];
    t.nbytes = fr_dtype_bytes(dt, fr_tensor_nelem(&t));
    return fr_weights_add(w, &t);
}

/* GGUF suffix -> HF name inside model.layers.N. */
static const struct { const char *gguf, *hf; } g_block_names[] = {
    {"attn_norm.weight", "input_layernorm.weight"},
    {"ffn_norm.weight", "post_attention_layernorm.weight"},
    {"attn_q.weight", "self_attn.q_proj.weight"},
    {"attn_q_a.weight", "self_attn.q_a_proj.weight"},
    {"attn_q_a_norm.weight", "self_attn.q_a_layernorm.weight"},
    {"attn_q_b.weight", "self_attn.q_b_proj.weight"},
    {"attn_kv_a_mqa.weight", "self_attn.kv_a_proj_with_mqa.weight"},
    {"attn_kv_a_norm.weight", "self_attn.kv_a_layernorm.weight"},
    {"attn_kv_b.weight", "self_attn.kv_b_proj.weight"},
    {"attn_k_b.weight", "self_attn.k_b_proj.weight"},
    {"attn_v_b.weight", "self_attn.v_b_proj.weight"},
    {"attn_output.weight", "self_attn.o_proj.weight"},
    {"ffn_gate.weight", "mlp.gate_proj.weight"},
    {"ffn_up.weight", "mlp.up_proj.weight"},
    {"ffn_down.weight", "mlp.down_proj.weight"},
    {"ffn_gate_inp.weight", "mlp.gate.weight"},
    {"exp_probs_b.bias", "mlp.gate.e_score_correction_bias"},
    {"ffn_gate_shexp.weight", "mlp.shared_experts.gate_proj.weight"},
    {"ffn_up_shexp.weight", "mlp.shared_experts.up_proj.weight"},
    {"ffn_down_shexp.weight", "mlp.shared_experts.down_proj.weight"},
};

/* Register one GGUF tensor under its HF name(s). */
static int map_tensor(gguf_owner *o, fr_weights *w, const fr_gguf_tensor *t, int n_layer, int n_head) {
    const char *path = o->g.path;
    char name[512];
    int nd = t->n_dims, layer = -1;
    int64_t ne[FR_MAX_DIMS];
    for (int i = 0; i < nd; i++) ne[i] = (int64_t)t->ne[nd - 1 - i]; /* PyTorch order */
    const char *suffix = NULL, *hf = NULL;

    if (!strncmp(t->name, "blk.", 4)) {
        char *end;
        long l = strtol(t->name + 4, &end, 10);
        if (end == t->name + 4 || *end != '.' || l < 0 || l > 100000) return 0; /* not ours */
        layer = (int)l;
        suffix = end + 1;
        if (layer >= n_layer || !strncmp(suffix, "nextn.", 6)) return 0; /* MTP: not converted for deepseek2 */
        for (size_t i = 0; i < sizeof g_block_names / sizeof *g_block_names; i++)
            if (!strcmp(suffix, g_block_names[i].gguf)) hf = g_block_names[i].hf;
    } else if (!strcmp(t->name, "token_embd.weight")) hf = "model.embed_tokens.weight";
    else if (!strcmp(t->name, "output_norm.weight")) hf = "model.norm.weight";
    else if (!strcmp(t->name, "output.weight")) hf = "lm_head.weight";

    int is_exps = suffix && (!strcmp(suffix, "ffn_gate_exps.weight") || !strcmp(suffix, "ffn_up_exps.weight") ||
                             !strcmp(suffix, "ffn_down_exps.weight") || !strcmp(suffix, "ffn_gate_up_exps.weight"));
    if (!hf && !is_exps) return 0; /* tensors frugal does not use are left alone */

    int dt = fr_dtype_from_ggml(t->type);
    if (dt < 0) {
        const fr_ggml_type_info *ti = fr_ggml_type(t->type);
        return fr_err("%s: tensor '%s' has ggml type %s (%u), which frugal does not support (F32, F16, BF16, Q4_0, "
                      "Q4_1, Q5_0, Q5_1, Q8_0, Q2_K..Q6_K, IQ4_NL, IQ4_XS, MXFP4)",
                      path, t->name, ti ? ti->name : "?", t->type);
    }

    if (hf) {
        if (layer >= 0) snprintf(name, sizeof name, "model.layers.%d.%s", layer, hf);
        else snprintf(name, sizeof name, "%s", hf);
        /* k_b / v_b written as 2-D [H*rows, cols]: view them per head */
        if (nd == 2 && (strstr(hf, ".k_b_proj") || strstr(hf, ".v_b_proj")) && n_head > 0 && ne[0] % n_head == 0) {
            int64_t ne3[3] = {n_head, ne[0] / n_head, ne[1]};
            return add(o, w, name, (fr_dtype)dt, 3, ne3, t->data);
        }
        return add(o, w, name, (fr_dtype)dt, nd, ne, t->data);
    }

    /* stacked experts [E, rows, cols] -> per-expert [rows, cols] views */
    if (nd != 3) return fr_err("%s: tensor '%s' should be 3-D [experts, rows, cols], has %d dimensions", path, t->name, nd);
    int64_t E = ne[0], rows = ne[1], cols = ne[2];
    size_t row_bytes = fr_dtype_bytes((fr_dtype)dt, cols), mat = (size_t)rows * row_bytes;
    int fused = !strcmp(suffix, "ffn_gate_up_exps.weight");
    if (fused && rows % 2) return fr_err("%s: tensor '%s' fuses gate and up but has an odd row count %lld", path, t->name, (long long)rows);
    for (int64_t e = 0; e < E; e++) {
        const uint8_t *base = t->data + (size_t)e * mat;
        if (fused) {
            int64_t half[2] = {rows / 2, cols};
            snprintf(name, sizeof name, "model.layers.%d.mlp.experts.%lld.gate_proj.weight", layer, (long long)e);
            if (add(o, w, name, (fr_dtype)dt, 2, half, base)) return -1;
            snprintf(name, sizeof name, "model.layers.%d.mlp.experts.%lld.up_proj.weight", layer, (long long)e);
            if (add(o, w, name, (fr_dtype)dt, 2, half, base + (size_t)(rows / 2) * row_bytes)) return -1;
        } else {
            const char *which = !strncmp(suffix, "ffn_gate", 8) ? "gate" : !strncmp(suffix, "ffn_up", 6) ? "up" : "down";
            int64_t m2[2] = {rows, cols};
            snprintf(name, sizeof name, "model.layers.%d.mlp.experts.%lld.%s_proj.weight", layer, (long long)e, which);
            if (add(o, w, name, (fr_dtype)dt, 2, m2, base)) return -1;
        }
    }
    return 0;
}

/* ---- the config ---------------------------------------------------------- */

typedef struct cfgb {
    const fr_gguf *g;
    json_t *j;
    const char *arch;
} cfgb;

/* integer key arch.<key> -> HF field; 1 when missing */
static int put_int(cfgb *b, const char *key, const char *field, int64_t lo, int64_t hi, int required, int64_t *out) {
    char k[256];
    int64_t v = 0;
    snprintf(k, sizeof k, "%s.%s", b->arch, key);
    int r = fr_gguf_get_int(b->g, k, lo, hi, &v);
    if (r < 0) return -1;
    if (r == 1) {
        if (required) return fr_err("%s: missing key '%s'", b->g->path, k);
        return 1;
    }
    if (field) json_object_set_new(b->j, field, json_integer(v));
    if (out) *out = v;
    return 0;
}

static int get_num(cfgb *b, const char *key, double *out) {
    char k[256];
    snprintf(k, sizeof k, "%s.%s", b->arch, key);
    return fr_gguf_get_num(b->g, k, out);
}

static int build_config(gguf_owner *o, fr_cfg *cfg, int *n_layer_out, int *n_head_out) {
    const fr_gguf *g = &o->g;
    char *arch = NULL;
    int r = fr_gguf_get_str(g, "general.architecture", &arch);
    if (r) {
        if (r == 1) fr_err("%s: missing key 'general.architecture'", g->path);
        return -1;
    }
    if (strcmp(arch, "deepseek2") != 0) {
        fr_err("%s: general.architecture '%s' is not supported (deepseek2)", g->path, arch);
        free(arch);
        return -1;
    }
    json_t *j = json_object();
    cfgb b = {g, j, arch};
    cfg->root = cfg->owned = j;
    cfg->path = strdup(g->path);
    int rc = -1;
    int64_t n_layer = 0, n_head = 0, kv_lora = 0, rope_dim = 0, k_len = 0, v_len = 0, k_mla = 0, v_mla = 0, n_group = 1, gating = 1, nextn = 0, x;
    double d;
    int bl;

    if (put_int(&b, "block_count", NULL, 1, 4096, 1, &n_layer) < 0) goto out;
    r = put_int(&b, "nextn_predict_layers", NULL, 0, n_layer - 1, 0, &nextn);
    if (r < 0) goto out;
    json_object_set_new(j, "num_hidden_layers", json_integer(n_layer - nextn));
    if (put_int(&b, "embedding_length", "hidden_size", 1, 1 << 20, 1, NULL) ||
        put_int(&b, "attention.head_count", "num_attention_heads", 1, 1 << 16, 1, &n_head) ||
        put_int(&b, "attention.kv_lora_rank", "kv_lora_rank", 1, 1 << 20, 1, &kv_lora) ||
        put_int(&b, "rope.dimension_count", "qk_rope_head_dim", 0, 1 << 16, 1, &rope_dim) ||
        put_int(&b, "attention.key_length", NULL, 1, 1 << 20, 1, &k_len) ||
        put_int(&b, "attention.value_length", NULL, 1, 1 << 20, 1, &v_len) ||
        put_int(&b, "feed_forward_length", "intermediate_size", 1, 1 << 30, 1, NULL))
        goto out;
    r = put_int(&b, "attention.q_lora_rank", NULL, 0, 1 << 20, 0, &x);
    if (r < 0) goto out;
    if (r == 0 && x > 0) json_object_set_new(j, "q_lora_rank", json_integer(x));
    /* MLA head sizes: the absorbed layout stores key_length = kv_lora + rope and the
     * per-head sizes in *_mla; the older one key_length = nope + rope, value_length = v */
    if ((r = put_int(&b, "attention.key_length_mla", NULL, 1, 1 << 20, 0, &k_mla)) < 0) goto out;
    if ((r = put_int(&b, "attention.value_length_mla", NULL, 1, 1 << 20, 0, &v_mla)) < 0) goto out;
    if (k_mla > 0) {
        if (v_mla <= 0) {
            fr_err("%s: key '%s.attention.key_length_mla' without '%s.attention.value_length_mla'", g->path, arch, arch);
            goto out;
        }
        k_len = k_mla;
        v_len = v_mla;
    }
    if (k_len <= rope_dim) {
        fr_err("%s: key length %lld is not larger than the rope dimension %lld", g->path, (long long)k_len, (long long)rope_dim);
        goto out;
    }
    json_object_set_new(j, "qk_nope_head_dim", json_integer(k_len - rope_dim));
    json_object_set_new(j, "v_head_dim", json_integer(v_len));

    /* experts */
    int64_t n_exp = 0;
    if ((r = put_int(&b, "expert_count", "n_routed_experts", 0, 1 << 20, 0, &n_exp)) < 0) goto out;
    if (n_exp > 0) {
        if (put_int(&b, "expert_feed_forward_length", "moe_intermediate_size", 1, 1 << 30, 1, NULL) ||
            put_int(&b, "expert_used_count", "num_experts_per_tok", 1, n_exp, 1, NULL))
            goto out;
        if (put_int(&b, "expert_shared_count", "n_shared_experts", 0, 1024, 0, NULL) < 0 ||
            put_int(&b, "leading_dense_block_count", "first_k_dense_replace", 0, n_layer, 0, NULL) < 0 ||
            put_int(&b, "expert_group_count", "n_group", 1, n_exp, 0, &n_group) < 0 ||
            put_int(&b, "expert_group_used_count", "topk_group", 1, n_group, 0, NULL) < 0)
            goto out;
        if ((r = put_int(&b, "expert_gating_func", NULL, 0, 16, 0, &gating)) < 0) goto out;
        if (r == 1 || gating == 0) gating = 1; /* llama.cpp: softmax when unset */
        if (gating != 1 && gating != 2) {
            fr_err("%s: key '%s.expert_gating_func' = %lld is not supported (1 softmax, 2 sigmoid)", g->path, arch,
                   (long long)gating);
            goto out;
        }
        json_object_set_new(j, "scoring_func", json_string(gating == 2 ? "sigmoid" : "softmax"));
        if ((r = get_num(&b, "expert_weights_scale", &d)) < 0) goto out;
        json_object_set_new(j, "routed_scaling_factor", json_real(r == 0 && d != 0 ? d : 1.0));
        char k[256];
        snprintf(k, sizeof k, "%s.expert_weights_norm", arch);
        bl = 0;
        if (fr_gguf_get_bool(g, k, &bl) < 0) goto out;
        json_object_set_new(j, "norm_topk_prob", json_boolean(bl));
        /* selection: with a score-correction bias or groups, llama.cpp selects on
         * probs + bias with groups ranked by their two best (DeepSeek-V3 noaux_tc) */
        int has_bias = 0;
        for (uint64_t i = 0; i < g->n_tensors; i++)
            if (strstr(g->t[i].name, ".exp_probs_b.")) has_bias = 1;
        json_object_set_new(j, "topk_method", json_string(has_bias || n_group > 1 ? "noaux_tc" : "greedy"));
    }

    if ((r = get_num(&b, "attention.layer_norm_rms_epsilon", &d)) < 0) goto out;
    if (r == 0) json_object_set_new(j, "rms_norm_eps", json_real(d));
    if ((r = get_num(&b, "rope.freq_base", &d)) < 0) goto out;
    if (r == 0) json_object_set_new(j, "rope_theta", json_real(d));
    if ((r = put_int(&b, "context_length", "max_position_embeddings", 1, INT32_MAX, 0, NULL)) < 0) goto out;

    /* YaRN */
    char k[256], *rtype = NULL;
    snprintf(k, sizeof k, "%s.rope.scaling.type", arch);
    if ((r = fr_gguf_get_str(g, k, &rtype)) < 0) goto out;
    if (r == 0 && strcmp(rtype, "none") != 0) {
        if (strcmp(rtype, "yarn") != 0) {
            fr_err("%s: key '%s' = '%s' is not supported (yarn, none)", g->path, k, rtype);
            free(rtype);
            goto out;
        }
        json_t *rs = json_object();
        json_object_set_new(j, "rope_scaling", rs);
        json_object_set_new(rs, "type", json_string("yarn"));
        double factor = 1, orig = 0, logm = 0, bf = 32, bs = 1;
        if (get_num(&b, "rope.scaling.factor", &factor) < 0 || get_num(&b, "rope.scaling.original_context_length", &orig) < 0 ||
            get_num(&b, "rope.scaling.yarn_log_multiplier", &logm) < 0 || get_num(&b, "rope.scaling.yarn_beta_fast", &bf) < 0 ||
            get_num(&b, "rope.scaling.yarn_beta_slow", &bs) < 0) {
            free(rtype);
            goto out;
        }
        if (orig <= 0) {
            fr_err("%s: YaRN without '%s.rope.scaling.original_context_length'", g->path, arch);
            free(rtype);
            goto out;
        }
        /* llama.cpp: attention mscale = 1 + yarn_log_multiplier * ln(factor), the
         * rotation itself unscaled: HF mscale = mscale_all_dim = log_multiplier / 0.1 */
        double msc = logm / 0.1;
        json_object_set_new(rs, "factor", json_real(factor));
        json_object_set_new(rs, "original_max_position_embeddings", json_real(orig));
        json_object_set_new(rs, "beta_fast", json_real(bf));
        json_object_set_new(rs, "beta_slow", json_real(bs));
        json_object_set_new(rs, "mscale", json_real(msc));
        json_object_set_new(rs, "mscale_all_dim", json_real(msc));
    }
    free(rtype);

    /* vocabulary and special tokens */
    int64_t vocab = 0;
    if ((r = put_int(&b, "vocab_size", NULL, 1, 1 << 24, 0, &vocab)) < 0) goto out;
    if (r == 1) {
        const fr_gguf_tensor *te = fr_gguf_tensor_find(g, "token_embd.weight");
        const fr_gguf_kv *tk = fr_gguf_kv_find(g, "tokenizer.ggml.tokens");
        if (te && te->n_dims == 2) vocab = (int64_t)te->ne[1];
        else if (tk && tk->type == FR_GGUF_ARRAY) vocab = (int64_t)tk->arr_n;
        else {
            fr_err("%s: cannot tell the vocabulary size (no '%s.vocab_size', token_embd or tokenizer.ggml.tokens)", g->path, arch);
            goto out;
        }
    }
    json_object_set_new(j, "vocab_size", json_integer(vocab));
    int64_t id;
    if ((r = fr_gguf_get_int(g, "tokenizer.ggml.bos_token_id", 0, INT32_MAX, &id)) < 0) goto out;
    if (r == 0) json_object_set_new(j, "bos_token_id", json_integer(id));
    if ((r = fr_gguf_get_int(g, "tokenizer.ggml.eos_token_id", 0, INT32_MAX, &id)) < 0) goto out;
    if (r == 0) json_object_set_new(j, "eos_token_id", json_integer(id));
    json_object_set_new(j, "model_type", json_string(gating == 2 ? "deepseek_v3" : "deepseek_v2"));
    *n_layer_out = (int)(n_layer - nextn);
    *n_head_out = (int)n_head;
    rc = 0;
out:
    free(arch);
    return rc;
}

int fr_gguf_load(const char *path, fr_cfg *cfg, fr_weights *w) {
    memset(cfg, 0, sizeof *cfg);
    gguf_owner *o = calloc(1, sizeof *o);
    if (!o) return fr_err("out of memory");
    if (fr_gguf_open(&o->g, path)) {
        free(o);
        return -1;
    }
    fr_weights_init(w, o->g.path);
    w->release = release_marker;
    w->owner = o;
    int n_layer = 0, n_head = 0;
    if (build_config(o, cfg, &n_layer, &n_head)) return -1;
    for (uint64_t i = 0; i < o->g.n_tensors; i++)
        if (map_tensor(o, w, &o->g.t[i], n_layer, n_head)) return -1;
    /* tied output */
    if (!fr_weights_find(w, "lm_head.weight")) {
        const fr_tensor *e = fr_weights_find(w, "model.embed_tokens.weight");
        if (e && add(o, w, "lm_head.weight", e->dtype, e->ndim, e->ne, e->data)) return -1;
    }
    /* noaux_tc selection without a bias tensor in some layer: a zero bias */
    const char *tm = NULL;
    int64_t n_exp = 0;
    if (fr_cfg_str(cfg, "topk_method", 0, "greedy", &tm) == 0 && !strcmp(tm, "noaux_tc") &&
        fr_cfg_int(cfg, "n_routed_experts", 0, 0, 0, 1 << 20, &n_exp) == 0 && n_exp > 0) {
        for (int l = 0; l < n_layer; l++) {
            char gate[256], bias[256];
            snprintf(gate, sizeof gate, "model.layers.%d.mlp.gate.weight", l);
            snprintf(bias, sizeof bias, "model.layers.%d.mlp.gate.e_score_correction_bias", l);
            if (!fr_weights_find(w, gate) || fr_weights_find(w, bias)) continue;
            float **nb = realloc(o->bufs, (size_t)(o->n_bufs + 1) * sizeof *nb);
            if (!nb) return fr_err("out of memory");
            o->bufs = nb;
            o->bufs[o->n_bufs] = calloc((size_t)n_exp, sizeof(float));
            if (!o->bufs[o->n_bufs]) return fr_err("out of memory");
            int64_t ne[1] = {n_exp};
            if (add(o, w, bias, FR_DT_F32, 1, ne, o->bufs[o->n_bufs++])) return -1;
        }
    }
    return 0;
}
