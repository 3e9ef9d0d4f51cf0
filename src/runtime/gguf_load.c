#include "runtime/gguf_load.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/err.h"
#include "layers/rope.h"
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
struct gguf_owner;
static int kimi_load(struct gguf_owner *o, fr_cfg *cfg, fr_weights *w, const char *arch);
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
/* A mapped tensor: under its HF name hf (k_b / v_b written 2-D [H*rows, cols]
 * are viewed per head), or, when hf is NULL, stacked experts [E, rows, cols]
 * (or fused gate+up) split into per-expert views named
 * "model.layers.<layer>.<expert_prefix>.experts.<e>.<gate|up|down>". */
static int add_mapped(gguf_owner *o, fr_weights *w, const fr_gguf_tensor *t, int dt, int nd, const int64_t *ne,
                      int layer, const char *hf, const char *suffix, int n_head, const char *expert_prefix,
                      const char *const which[3]) {
    const char *path = o->g.path;
    char name[512];
    if (hf) {
        if (layer >= 0) snprintf(name, sizeof name, "model.layers.%d.%s", layer, hf);
        else snprintf(name, sizeof name, "%s", hf);
        if (nd == 2 && (strstr(hf, ".k_b_proj") || strstr(hf, ".v_b_proj")) && n_head > 0 && ne[0] % n_head == 0) {
            int64_t ne3[3] = {n_head, ne[0] / n_head, ne[1]};
            return add(o, w, name, (fr_dtype)dt, 3, ne3, t->data);
        }
        return add(o, w, name, (fr_dtype)dt, nd, ne, t->data);
    }
    if (nd != 3) return fr_err("%s: tensor '%s' should be 3-D [experts, rows, cols], has %d dimensions", path, t->name, nd);
    int64_t E = ne[0], rows = ne[1], cols = ne[2];
    size_t row_bytes = fr_dtype_bytes((fr_dtype)dt, cols), mat = (size_t)rows * row_bytes;
    int fused = !strcmp(suffix, "ffn_gate_up_exps.weight");
    if (fused && rows % 2) return fr_err("%s: tensor '%s' fuses gate and up but has an odd row count %lld", path, t->name, (long long)rows);
    for (int64_t e = 0; e < E; e++) {
        const uint8_t *base = t->data + (size_t)e * mat;
        if (fused) {
            int64_t half[2] = {rows / 2, cols};
            snprintf(name, sizeof name, "model.layers.%d.%s.experts.%lld.%s", layer, expert_prefix, (long long)e, which[0]);
            if (add(o, w, name, (fr_dtype)dt, 2, half, base)) return -1;
            snprintf(name, sizeof name, "model.layers.%d.%s.experts.%lld.%s", layer, expert_prefix, (long long)e, which[1]);
            if (add(o, w, name, (fr_dtype)dt, 2, half, base + (size_t)(rows / 2) * row_bytes)) return -1;
        } else {
            const char *wh = !strncmp(suffix, "ffn_gate", 8) ? which[0] : !strncmp(suffix, "ffn_up", 6) ? which[1] : which[2];
            int64_t m2[2] = {rows, cols};
            snprintf(name, sizeof name, "model.layers.%d.%s.experts.%lld.%s", layer, expert_prefix, (long long)e, wh);
            if (add(o, w, name, (fr_dtype)dt, 2, m2, base)) return -1;
        }
    }
    return 0;
}

static int map_tensor(gguf_owner *o, fr_weights *w, const fr_gguf_tensor *t, int n_layer, int n_head) {
    const char *path = o->g.path;
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

    static const char *const which[3] = {"gate_proj.weight", "up_proj.weight", "down_proj.weight"};
    return add_mapped(o, w, t, dt, nd, ne, layer, hf, suffix, n_head, "mlp", which);
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
        fr_err("%s: general.architecture '%s' is not supported (deepseek2, kimi-linear)", g->path, arch);
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
        /* frugal convert marks DeepSeek-V2's groups ranked by their best score */
        char *gs = NULL;
        if (fr_gguf_get_str(g, "frugal.expert_group_scoring", &gs) < 0) goto out;
        if (gs && strcmp(gs, "max")) {
            fr_err("%s: key 'frugal.expert_group_scoring' = '%s' is not supported (max)", g->path, gs);
            free(gs);
            goto out;
        }
        json_object_set_new(j, "topk_method", json_string(gs && n_group > 1 && !has_bias ? "group_limited_greedy"
                                                          : has_bias || n_group > 1 ? "noaux_tc" : "greedy"));
        free(gs);
    }

    if ((r = get_num(&b, "attention.layer_norm_rms_epsilon", &d)) < 0) goto out;
    if (r == 0) {
        json_object_set_new(j, "rms_norm_eps", json_real(d));
        json_object_set_new(j, "mla_layernorm_eps", json_real(d)); /* llama.cpp: every norm uses it */
    }
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
            get_num(&b, "rope.scaling.yarn_log_multiplier", &logm) < 0) {
            free(rtype);
            goto out;
        }
        if (orig <= 0) {
            fr_err("%s: YaRN without '%s.rope.scaling.original_context_length'", g->path, arch);
            free(rtype);
            goto out;
        }
        /* llama.cpp (since its PR 17945): mscale_all_dim = yarn_log_multiplier / 0.1 and,
         * for deepseek2, mscale = mscale_all_dim. The rotated dims are scaled by
         * amp = rope.scaling.attn_factor x HF's yarn attention_factor, which is
         * g(mscale) / g(mscale_all_dim) = 1 when mscale_all_dim != 0, else g(1)
         * (g(m) = 1 + 0.1 m ln factor; a file without the key gets g(1)); the
         * softmax scale is multiplied by (amp x g(mscale_all_dim))^2.
         * rope.scaling.yarn_beta_* are not read by llama.cpp for deepseek2 (32 / 1).
         * (Checked against llama.cpp's logits with these keys patched.) */
        double msc = logm / 0.1, af = 1;
        if (get_num(&b, "rope.scaling.attn_factor", &af) < 0) {
            free(rtype);
            goto out;
        }
        double amp = af * (msc != 0 ? 1.0 : fr_yarn_mscale(factor, 1.0));
        double kq = amp * fr_yarn_mscale(factor, msc);
        json_object_set_new(rs, "factor", json_real(factor));
        json_object_set_new(rs, "original_max_position_embeddings", json_real(orig));
        json_object_set_new(rs, "beta_fast", json_real(bf));
        json_object_set_new(rs, "beta_slow", json_real(bs));
        json_object_set_new(rs, "mscale", json_real(msc));
        json_object_set_new(rs, "mscale_all_dim", json_real(msc));
        if (amp != 1.0) {
            json_object_set_new(rs, "llama_cpp_attn_factor", json_real(amp));
            json_object_set_new(rs, "llama_cpp_kq_mscale", json_real(kq));
        }
    }
    if (r == 1 || !strcmp(rtype, "none")) {
        /* llama.cpp scales the rotation by rope.scaling.attn_factor even without YaRN
         * (and the softmax scale by its square): a YaRN of factor 1 carries it */
        double af = 1;
        if (get_num(&b, "rope.scaling.attn_factor", &af) < 0) {
            free(rtype);
            goto out;
        }
        if (af != 1) {
            json_t *rs = json_object();
            json_object_set_new(j, "rope_scaling", rs);
            json_object_set_new(rs, "type", json_string("yarn"));
            json_object_set_new(rs, "factor", json_real(1.0));
            json_object_set_new(rs, "original_max_position_embeddings", json_real(4096));
            json_object_set_new(rs, "llama_cpp_attn_factor", json_real(af));
            json_object_set_new(rs, "llama_cpp_kq_mscale", json_real(af));
        }
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

int fr_gguf_load(const char *path, fr_cfg *cfg, fr_weights *w, int in_memory) {
    memset(cfg, 0, sizeof *cfg);
    gguf_owner *o = calloc(1, sizeof *o);
    if (!o) return fr_err("out of memory");
    if (fr_gguf_open_mode(&o->g, path, in_memory)) {
        free(o);
        return -1;
    }
    fr_weights_init(w, o->g.path);
    w->release = release_marker;
    w->owner = o;
    int n_layer = 0, n_head = 0;
    char *arch = NULL;
    if (fr_gguf_get_str(&o->g, "general.architecture", &arch) == 0 && !strcmp(arch, "kimi-linear")) {
        int rc = kimi_load(o, cfg, w, arch);
        free(arch);
        return rc;
    }
    free(arch);
    fr_err_clear();
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

/* ---- architecture kimi-linear (Kimi Linear: KDA + MLA without RoPE) ------ *
 * Names and transforms as llama.cpp's converter writes them (conversion/kimi_linear.py,
 * src/models/kimi-linear.cpp):
 *   blk.N.attn_{q,k,v,output}            -> self_attn.{q,k,v,o}_proj (KDA) / attn_q, attn_output (MLA)
 *   blk.N.ssm_conv1d_{q,k,v} [W,1,HK,1]  -> self_attn.{q,k,v}_conv1d.weight [HK,1,W] (same bytes)
 *   blk.N.ssm_f_a / ssm_f_b / ssm_beta / ssm_g_a / ssm_g_b -> f_a_proj / f_b_proj / b_proj / g_a_proj / g_b_proj
 *   blk.N.ssm_a [1,H,1,1] = -exp(A_log)  -> self_attn.A_log = log(-ssm_a)  (the converter's transform undone)
 *   blk.N.ssm_dt.bias -> dt_bias, blk.N.ssm_norm -> o_norm
 *   blk.N.ffn_gate_inp / exp_probs_b / ffn_*_exps / ffn_*_shexp -> block_sparse_moe.{gate, experts.E.w1|w3|w2,
 *   shared_experts.*_proj}; dense layers: ffn_{gate,up,down} -> mlp.*_proj
 * Layer kinds: attention.head_count_kv is per layer, 0 for KDA layers. */

static const struct { const char *gguf, *hf; } g_kimi_names[] = {
    {"attn_norm.weight", "input_layernorm.weight"},
    {"ffn_norm.weight", "post_attention_layernorm.weight"},
    {"attn_q.weight", "self_attn.q_proj.weight"},
    {"attn_k.weight", "self_attn.k_proj.weight"},
    {"attn_v.weight", "self_attn.v_proj.weight"},
    {"attn_output.weight", "self_attn.o_proj.weight"},
    {"attn_q_a.weight", "self_attn.q_a_proj.weight"},
    {"attn_q_a_norm.weight", "self_attn.q_a_layernorm.weight"},
    {"attn_q_b.weight", "self_attn.q_b_proj.weight"},
    {"attn_kv_a_mqa.weight", "self_attn.kv_a_proj_with_mqa.weight"},
    {"attn_kv_a_norm.weight", "self_attn.kv_a_layernorm.weight"},
    {"attn_kv_b.weight", "self_attn.kv_b_proj.weight"},
    {"attn_k_b.weight", "self_attn.k_b_proj.weight"},
    {"attn_v_b.weight", "self_attn.v_b_proj.weight"},
    {"ssm_conv1d_q.weight", "self_attn.q_conv1d.weight"},
    {"ssm_conv1d_k.weight", "self_attn.k_conv1d.weight"},
    {"ssm_conv1d_v.weight", "self_attn.v_conv1d.weight"},
    {"ssm_f_a.weight", "self_attn.f_a_proj.weight"},
    {"ssm_f_b.weight", "self_attn.f_b_proj.weight"},
    {"ssm_beta.weight", "self_attn.b_proj.weight"},
    {"ssm_g_a.weight", "self_attn.g_a_proj.weight"},
    {"ssm_g_b.weight", "self_attn.g_b_proj.weight"},
    {"ssm_norm.weight", "self_attn.o_norm.weight"},
    {"ssm_dt.bias", "self_attn.dt_bias"},
    {"ffn_gate.weight", "mlp.gate_proj.weight"},
    {"ffn_up.weight", "mlp.up_proj.weight"},
    {"ffn_down.weight", "mlp.down_proj.weight"},
    {"ffn_gate_inp.weight", "block_sparse_moe.gate.weight"},
    {"exp_probs_b.bias", "block_sparse_moe.gate.e_score_correction_bias"},
    {"ffn_gate_shexp.weight", "block_sparse_moe.shared_experts.gate_proj.weight"},
    {"ffn_up_shexp.weight", "block_sparse_moe.shared_experts.up_proj.weight"},
    {"ffn_down_shexp.weight", "block_sparse_moe.shared_experts.down_proj.weight"},
};

/* tensors of later llama.cpp kimi-linear variants that change the math frugal computes */
static const char *const g_kimi_unsupported[] = {"attn_gate.", "attn_res_", "ffn_res_", "ffn_latent_", "ffn_norm_exps."};

static float *owner_buf(gguf_owner *o, size_t n) {
    float **nb = realloc(o->bufs, (size_t)(o->n_bufs + 1) * sizeof *nb);
    if (!nb) return NULL;
    o->bufs = nb;
    float *b = calloc(n ? n : 1, sizeof(float));
    if (b) o->bufs[o->n_bufs++] = b;
    return b;
}

static int kimi_map_tensor(gguf_owner *o, fr_weights *w, const fr_gguf_tensor *t, int n_layer, int n_head, int kda_heads) {
    const char *path = o->g.path;
    char name[512];
    int nd = t->n_dims;
    int64_t ne[FR_MAX_DIMS];
    if (nd < 1 || nd > FR_MAX_DIMS) return fr_err("%s: tensor '%s' has %d dimensions", path, t->name, nd);
    for (int i = 0; i < nd; i++) ne[i] = (int64_t)t->ne[nd - 1 - i]; /* PyTorch order */
    const char *suffix = NULL, *hf = NULL;
    int layer = -1;
    if (!strncmp(t->name, "blk.", 4)) {
        char *end;
        long l = strtol(t->name + 4, &end, 10);
        if (end == t->name + 4 || *end != '.' || l < 0 || l > 100000) return 0;
        layer = (int)l;
        suffix = end + 1;
        if (layer >= n_layer) return 0;
        for (size_t i = 0; i < sizeof g_kimi_unsupported / sizeof *g_kimi_unsupported; i++)
            if (!strncmp(suffix, g_kimi_unsupported[i], strlen(g_kimi_unsupported[i])))
                return fr_err("%s: tensor '%s' belongs to a kimi-linear variant frugal does not support", path, t->name);
        for (size_t i = 0; i < sizeof g_kimi_names / sizeof *g_kimi_names; i++)
            if (!strcmp(suffix, g_kimi_names[i].gguf)) hf = g_kimi_names[i].hf;
    } else if (!strcmp(t->name, "token_embd.weight")) hf = "model.embed_tokens.weight";
    else if (!strcmp(t->name, "output_norm.weight")) hf = "model.norm.weight";
    else if (!strcmp(t->name, "output.weight")) hf = "lm_head.weight";
    else if (!strncmp(t->name, "output_attn_res", 15))
        return fr_err("%s: tensor '%s' belongs to a kimi-linear variant frugal does not support", path, t->name);

    int is_a = suffix && !strcmp(suffix, "ssm_a");
    int is_exps = suffix && (!strcmp(suffix, "ffn_gate_exps.weight") || !strcmp(suffix, "ffn_up_exps.weight") ||
                             !strcmp(suffix, "ffn_down_exps.weight") || !strcmp(suffix, "ffn_gate_up_exps.weight"));
    if (!hf && !is_exps && !is_a) return 0;

    int dt = fr_dtype_from_ggml(t->type);
    if (dt < 0) {
        const fr_ggml_type_info *ti = fr_ggml_type(t->type);
        return fr_err("%s: tensor '%s' has ggml type %s (%u), which frugal does not support", path, t->name,
                      ti ? ti->name : "?", t->type);
    }

    if (is_a) { /* ssm_a = -exp(A_log) -> A_log = log(-ssm_a), [H] f32 */
        if (dt != FR_DT_F32 && dt != FR_DT_F16 && dt != FR_DT_BF16)
            return fr_err("%s: tensor '%s' has dtype %s, expected F32, F16 or BF16", path, t->name,
                          fr_dtype_get((fr_dtype)dt)->name);
        fr_tensor src = {.name = t->name, .dtype = (fr_dtype)dt, .ndim = nd, .data = t->data};
        for (int i = 0; i < nd; i++) src.ne[i] = ne[i];
        int64_t H = fr_tensor_nelem(&src);
        if (H != kda_heads)
            return fr_err("%s: tensor '%s' has %lld elements, expected %d (KDA heads)", path, t->name, (long long)H, kda_heads);
        float *a = owner_buf(o, (size_t)H);
        if (!a) return fr_err("out of memory");
        fr_tensor_to_f32(&src, a);
        for (int64_t h = 0; h < H; h++) {
            if (!(a[h] < 0) || !isfinite(a[h]))
                return fr_err("%s: tensor '%s' element %lld = %g: expected -exp(A_log) < 0", path, t->name, (long long)h,
                              (double)a[h]);
            a[h] = (float)log(-(double)a[h]);
        }
        snprintf(name, sizeof name, "model.layers.%d.self_attn.A_log", layer);
        int64_t one[1] = {H};
        return add(o, w, name, FR_DT_F32, 1, one, a);
    }

    /* stacked experts -> block_sparse_moe.experts.E.w1 (gate) / w3 (up) / w2 (down) */
    static const char *const which[3] = {"w1.weight", "w3.weight", "w2.weight"};
    return add_mapped(o, w, t, dt, nd, ne, layer, hf, suffix, n_head, "block_sparse_moe", which);
}

/* arch.<key>: an integer, or an integer array of one entry per layer */
static int kimi_layer_key(const fr_gguf *g, const char *arch, const char *key, int64_t n_layer, const fr_gguf_kv **out) {
    char k[256];
    snprintf(k, sizeof k, "%s.%s", arch, key);
    const fr_gguf_kv *kv = fr_gguf_kv_find(g, k);
    if (!kv) return fr_err("%s: missing key '%s'", g->path, k);
    int is_int = kv->type <= FR_GGUF_I32 || kv->type == FR_GGUF_U64 || kv->type == FR_GGUF_I64;
    int arr_int = kv->type == FR_GGUF_ARRAY &&
                  (kv->arr_type <= FR_GGUF_I32 || kv->arr_type == FR_GGUF_U64 || kv->arr_type == FR_GGUF_I64);
    if (!is_int && !arr_int) return fr_err("%s: key '%s' should be an integer or an integer array", g->path, k);
    if (arr_int && kv->arr_n != (uint64_t)n_layer)
        return fr_err("%s: key '%s' has %llu entries, expected %lld (block_count)", g->path, k, (unsigned long long)kv->arr_n,
                      (long long)n_layer);
    *out = kv;
    return 0;
}

static int64_t kimi_layer_val(const fr_gguf_kv *kv, int64_t l) {
    double v = kv->type == FR_GGUF_ARRAY ? fr_gguf_arr_num(kv, (uint64_t)l)
               : kv->type == FR_GGUF_I8 || kv->type == FR_GGUF_I16 || kv->type == FR_GGUF_I32 || kv->type == FR_GGUF_I64
                   ? (double)kv->v.i
                   : (double)kv->v.u;
    return v < 0 || v > (1 << 20) ? -1 : (int64_t)v;
}

/* The HF config.json of the kimi_linear family from the kimi-linear metadata. */
static int kimi_build_config(gguf_owner *o, fr_cfg *cfg, const char *arch, int *n_layer_out, int *n_head_out) {
    const fr_gguf *g = &o->g;
    json_t *j = json_object();
    cfgb b = {g, j, arch};
    cfg->root = cfg->owned = j;
    cfg->path = strdup(g->path);
    int64_t n_layer = 0, n_head = 0, kv_lora = 0, rope_dim = 0, k_mla = 0, v_mla = 0, kda_dim = 0, conv = 4, x;
    double d;
    int r;
    json_object_set_new(j, "model_type", json_string("kimi_linear"));
    if (put_int(&b, "block_count", "num_hidden_layers", 1, 1024, 1, &n_layer) ||
        put_int(&b, "embedding_length", "hidden_size", 1, 1 << 20, 1, NULL) ||
        put_int(&b, "attention.kv_lora_rank", "kv_lora_rank", 1, 1 << 20, 1, &kv_lora) ||
        put_int(&b, "rope.dimension_count", "qk_rope_head_dim", 0, 1 << 16, 1, &rope_dim) ||
        put_int(&b, "attention.key_length_mla", NULL, 1, 1 << 20, 1, &k_mla) ||
        put_int(&b, "attention.value_length_mla", "v_head_dim", 1, 1 << 20, 1, &v_mla) ||
        put_int(&b, "feed_forward_length", "intermediate_size", 1, 1 << 30, 1, NULL) ||
        put_int(&b, "kda.head_dim", NULL, 1, 1 << 16, 1, &kda_dim))
        return -1;
    if ((r = put_int(&b, "ssm.conv_kernel", NULL, 1, 64, 0, &conv)) < 0) return -1;
    if ((r = put_int(&b, "attention.q_lora_rank", NULL, 0, 1 << 20, 0, &x)) < 0) return -1;
    if (r == 0 && x > 0) json_object_set_new(j, "q_lora_rank", json_integer(x));
    if (k_mla <= rope_dim)
        return fr_err("%s: key '%s.attention.key_length_mla' = %lld is not larger than the rope dimension %lld", g->path, arch,
                      (long long)k_mla, (long long)rope_dim);
    json_object_set_new(j, "qk_nope_head_dim", json_integer(k_mla - rope_dim));
    if ((r = put_int(&b, "attn_res.block_size", NULL, 0, INT32_MAX, 0, &x)) < 0) return -1;
    if (r == 0 && x > 0)
        return fr_err("%s: key '%s.attn_res.block_size' = %lld (attention residuals) is not supported", g->path, arch, (long long)x);

    /* layer kinds: head_count_kv per layer, 0 = KDA (llama.cpp marks those recurrent).
     * attention.head_count: one count for both kinds (what llama.cpp reads), or per layer
     * (frugal writes that when the KDA and MLA head counts differ) */
    const fr_gguf_kv *hkv, *hq;
    if (kimi_layer_key(g, arch, "attention.head_count_kv", n_layer, &hkv) ||
        kimi_layer_key(g, arch, "attention.head_count", n_layer, &hq))
        return -1;
    json_t *kda = json_array(), *full = json_array();
    json_t *la = json_object();
    json_object_set_new(j, "linear_attn_config", la);
    json_object_set_new(la, "kda_layers", kda);
    json_object_set_new(la, "full_attn_layers", full);
    int64_t kda_heads = 0;
    for (int64_t l = 0; l < n_layer; l++) {
        int64_t h = kimi_layer_val(hkv, l), nh = kimi_layer_val(hq, l), *dst = h == 0 ? &kda_heads : &n_head;
        if (nh < 1 || nh > (1 << 16) || (*dst && *dst != nh))
            return fr_err("%s: key '%s.attention.head_count' at layer %lld = %lld: expected one positive count per layer kind",
                          g->path, arch, (long long)l, (long long)nh);
        *dst = nh;
        json_array_append_new(h == 0 ? kda : full, json_integer(l + 1));
    }
    if (!n_head) n_head = kda_heads; /* no MLA layer */
    if (!kda_heads) kda_heads = n_head;
    json_object_set_new(j, "num_attention_heads", json_integer(n_head));
    json_object_set_new(la, "num_heads", json_integer(kda_heads));
    json_object_set_new(la, "head_dim", json_integer(kda_dim));
    json_object_set_new(la, "short_conv_kernel_size", json_integer(conv));

    /* experts (llama.cpp: renormalized top-k weights, no expert groups) */
    int64_t n_exp = 0, n_group = 1, gating = 2;
    if ((r = put_int(&b, "expert_count", "num_experts", 0, 1 << 14, 0, &n_exp)) < 0) return -1;
    if (n_exp > 0) {
        if (put_int(&b, "expert_feed_forward_length", "moe_intermediate_size", 1, 1 << 30, 1, NULL) ||
            put_int(&b, "expert_used_count", "num_experts_per_token", 1, n_exp, 1, NULL))
            return -1;
        if (put_int(&b, "expert_shared_count", "num_shared_experts", 0, 64, 0, NULL) < 0 ||
            put_int(&b, "leading_dense_block_count", "first_k_dense_replace", 0, n_layer, 0, NULL) < 0 ||
            put_int(&b, "expert_group_count", "num_expert_group", 1, n_exp, 0, &n_group) < 0 ||
            put_int(&b, "expert_group_used_count", "topk_group", 1, n_group, 0, NULL) < 0)
            return -1;
        if ((r = put_int(&b, "expert_gating_func", NULL, 0, 16, 0, &gating)) < 0) return -1;
        if (r == 1) return fr_err("%s: missing key '%s.expert_gating_func'", g->path, arch);
        if (gating != 1 && gating != 2)
            return fr_err("%s: key '%s.expert_gating_func' = %lld is not supported (1 softmax, 2 sigmoid)", g->path, arch,
                          (long long)gating);
        json_object_set_new(j, "moe_router_activation_func", json_string(gating == 2 ? "sigmoid" : "softmax"));
        if ((r = get_num(&b, "expert_weights_scale", &d)) < 0) return -1;
        json_object_set_new(j, "routed_scaling_factor", json_real(r == 0 && d != 0 ? d : 1.0));
        json_object_set_new(j, "moe_renormalize", json_true());
    }
    if ((r = get_num(&b, "attention.layer_norm_rms_epsilon", &d)) < 0) return -1;
    if (r == 0) json_object_set_new(j, "rms_norm_eps", json_real(d));
    if ((r = put_int(&b, "context_length", "max_position_embeddings", 1, 1 << 24, 0, NULL)) < 0) return -1;

    int64_t vocab = 0;
    if ((r = put_int(&b, "vocab_size", NULL, 1, 1 << 24, 0, &vocab)) < 0) return -1;
    if (r == 1) {
        const fr_gguf_tensor *te = fr_gguf_tensor_find(g, "token_embd.weight");
        if (!te || te->n_dims != 2)
            return fr_err("%s: cannot tell the vocabulary size (no '%s.vocab_size' or token_embd)", g->path, arch);
        vocab = (int64_t)te->ne[1];
    }
    json_object_set_new(j, "vocab_size", json_integer(vocab));
    json_object_set_new(j, "tie_word_embeddings", json_boolean(fr_gguf_tensor_find(g, "output.weight") == NULL));
    int64_t id;
    if ((r = fr_gguf_get_int(g, "tokenizer.ggml.bos_token_id", 0, INT32_MAX, &id)) < 0) return -1;
    if (r == 0) json_object_set_new(j, "bos_token_id", json_integer(id));
    if ((r = fr_gguf_get_int(g, "tokenizer.ggml.eos_token_id", 0, INT32_MAX, &id)) < 0) return -1;
    if (r == 0) json_object_set_new(j, "eos_token_id", json_integer(id));
    *n_layer_out = (int)n_layer;
    n_head_out[0] = (int)n_head;
    n_head_out[1] = (int)kda_heads;
    return 0;
}

static int kimi_load(gguf_owner *o, fr_cfg *cfg, fr_weights *w, const char *arch) {
    int n_layer = 0, heads[2] = {0, 0}; /* MLA, KDA */
    if (kimi_build_config(o, cfg, arch, &n_layer, heads)) return -1;
    for (uint64_t i = 0; i < o->g.n_tensors; i++)
        if (kimi_map_tensor(o, w, &o->g.t[i], n_layer, heads[0], heads[1])) return -1;
    return 0;
}
