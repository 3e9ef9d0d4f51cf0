/* GGUF for Kimi Linear: every fixture of tests/fixtures/kimi_linear converted by
 * `frugal convert` to llama.cpp's `kimi-linear` layout, then loaded from the GGUF.
 *
 * Per fixture:
 *   - the layout llama.cpp's converter writes (conversion/kimi_linear.py):
 *     head_count_kv per layer (0 = KDA), ssm_conv1d_{q,k,v} ne [W,1,HK,1] F32 holding
 *     the HF bytes, ssm_a ne [1,H,1,1] = -exp(A_log), ssm_dt.bias, attn_k_b / attn_v_b,
 *     stacked experts, exp_probs_b.bias
 *   - F32 file: logits at every prompt position against the reference (row-relative
 *     <= 1e-4), the 16 greedy tokens of expected.json and their logits, one token per step
 *   - BF16 file (the fixture weights are BF16: no rounding): same tolerance on one prompt
 *   - Q8_0 file: loads, logits within a loose bound, reported
 *   - a corrupted ssm_a (not negative), a tensor of a later variant and a missing
 *     head_count_kv are refused with messages naming them */
#include <jansson.h>
#include <unistd.h>

#include "base/err.h"
#include "formats/gguf.h"
#include "formats/hf_dir.h"
#include "frugal.h"
#include "runtime/gguf_quantize.h"
#include "testutil.h"

#define TOL 1e-4

static const char *const FIXTURES[] = {"kimi_linear_tiny", "kimi_linear_tiny_dense"};
static const char *const PROMPTS[] = {"len1", "len7", "len64", "len200"};

static json_t *read_json(const char *fix, const char *name) {
    char rel[512];
    snprintf(rel, sizeof rel, "kimi_linear/%s/%s", fix, name);
    json_error_t e;
    json_t *j = json_load_file(t_fixture(rel), 0, &e);
    CHECK(j != NULL, "%s: %s", rel, e.text);
    return j;
}

static float *read_f32(const char *fix, const char *name, size_t expect) {
    char rel[512];
    snprintf(rel, sizeof rel, "kimi_linear/%s/%s", fix, name);
    size_t nb = 0;
    float *p = t_read(t_fixture(rel), &nb);
    if (!p || nb != expect * sizeof(float)) {
        CHECK(0, "%s: missing or %zu bytes, expected %zu", rel, nb, expect * sizeof(float));
        free(p);
        return NULL;
    }
    return p;
}

static int ids_of(json_t *arr, int32_t *out, int cap) {
    int n = (int)json_array_size(arr);
    if (n > cap) n = cap;
    for (int i = 0; i < n; i++) out[i] = (int32_t)json_integer_value(json_array_get(arr, i));
    return n;
}

static int argmax(const float *x, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

/* ---- the layout ---------------------------------------------------------- */

static const fr_gguf_tensor *want(const fr_gguf *g, const char *name, uint32_t type, int nd, uint64_t n0, uint64_t n1,
                                  uint64_t n2, uint64_t n3) {
    const fr_gguf_tensor *t = fr_gguf_tensor_find(g, name);
    uint64_t ne[4] = {n0, n1, n2, n3};
    int ok = t && t->type == type && t->n_dims == nd;
    for (int i = 0; ok && i < nd; i++) ok = t->ne[i] == ne[i];
    CHECK(ok, "%s: %s: expected type %u, ne [%llu %llu %llu %llu] (%d dims); got %s", g->path, name, type,
          (unsigned long long)n0, (unsigned long long)n1, (unsigned long long)n2, (unsigned long long)n3, nd,
          t ? "other" : "missing");
    return ok ? t : NULL;
}

static void test_layout(const char *fix, const char *src, const char *file) {
    fr_gguf g;
    if (fr_gguf_open(&g, file)) {
        CHECK(0, "%s: open: %s", file, fr_err_msg());
        return;
    }
    fr_weights w;
    memset(&w, 0, sizeof w);
    json_t *cfg = read_json(fix, "config.json");
    if (!cfg || fr_hf_open_weights(src, &w, 0)) {
        CHECK(0, "%s: HF weights: %s", src, fr_err_msg());
        goto done;
    }
    char *arch = NULL;
    CHECK(fr_gguf_get_str(&g, "general.architecture", &arch) == 0 && !strcmp(arch, "kimi-linear"), "%s: architecture %s",
          fix, arch ? arch : "(none)");
    free(arch);
    json_t *la = json_object_get(cfg, "linear_attn_config");
    int L = (int)json_integer_value(json_object_get(cfg, "num_hidden_layers"));
    int H = (int)json_integer_value(json_object_get(la, "num_heads")), K = (int)json_integer_value(json_object_get(la, "head_dim"));
    int Hm = (int)json_integer_value(json_object_get(cfg, "num_attention_heads"));
    int r = (int)json_integer_value(json_object_get(cfg, "kv_lora_rank")), dn = (int)json_integer_value(json_object_get(cfg, "qk_nope_head_dim"));
    int dv = (int)json_integer_value(json_object_get(cfg, "v_head_dim")), d = (int)json_integer_value(json_object_get(cfg, "hidden_size"));
    int E = (int)json_integer_value(json_object_get(cfg, "num_experts")), ff = (int)json_integer_value(json_object_get(cfg, "moe_intermediate_size"));
    int first = (int)json_integer_value(json_object_get(cfg, "first_k_dense_replace"));
    int is_kda[64] = {0};
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(la, "kda_layers"), i, v) is_kda[json_integer_value(v) - 1] = 1;

    char key[128], name[128];
    snprintf(key, sizeof key, "kimi-linear.attention.head_count_kv");
    const fr_gguf_kv *kv = fr_gguf_kv_find(&g, key);
    int ok = kv && kv->type == FR_GGUF_ARRAY && kv->arr_type == FR_GGUF_I32 && kv->arr_n == (uint64_t)L;
    for (int l = 0; ok && l < L; l++) ok = fr_gguf_arr_num(kv, (uint64_t)l) == (is_kda[l] ? 0 : 1);
    CHECK(ok, "%s: head_count_kv should be an i32 array, 0 for KDA layers and 1 for MLA layers", fix);
    int64_t x = 0;
    CHECK(fr_gguf_get_int(&g, "kimi-linear.kda.head_dim", 0, 1 << 20, &x) == 0 && x == K, "%s: kda.head_dim %lld", fix, (long long)x);
    CHECK(fr_gguf_get_int(&g, "kimi-linear.ssm.conv_kernel", 0, 1 << 20, &x) == 0 && x == 4, "%s: ssm.conv_kernel %lld", fix, (long long)x);
    CHECK(fr_gguf_get_int(&g, "kimi-linear.expert_gating_func", 0, 16, &x) == 0 && x == 2, "%s: expert_gating_func %lld", fix, (long long)x);

    for (int l = 0; l < L; l++) {
        if (is_kda[l]) {
            static const char *const s[3] = {"q", "k", "v"};
            for (int j = 0; j < 3; j++) {
                snprintf(name, sizeof name, "blk.%d.ssm_conv1d_%s.weight", l, s[j]);
                const fr_gguf_tensor *t = want(&g, name, 0, 4, 4, 1, (uint64_t)H * K, 1);
                char hf[128];
                snprintf(hf, sizeof hf, "model.layers.%d.self_attn.%s_conv1d.weight", l, s[j]);
                const fr_tensor *h = fr_weights_find(&w, hf);
                if (t && h) { /* the same numbers in the same order: [channel][tap] */
                    float *a = malloc((size_t)H * K * 4 * sizeof *a);
                    fr_tensor_to_f32(h, a);
                    CHECK(!memcmp(a, t->data, (size_t)H * K * 4 * sizeof *a), "%s: %s differs from %s", fix, name, hf);
                    free(a);
                }
            }
            snprintf(name, sizeof name, "blk.%d.ssm_a", l);
            const fr_gguf_tensor *t = want(&g, name, 0, 4, 1, (uint64_t)H, 1, 1);
            char hf[128];
            snprintf(hf, sizeof hf, "model.layers.%d.self_attn.A_log", l);
            const fr_tensor *h = fr_weights_find(&w, hf);
            if (t && h) {
                float a[64];
                fr_tensor_to_f32(h, a);
                const float *f = (const float *)t->data;
                int same = 1;
                for (int j = 0; j < H; j++) same &= f[j] == -expf(a[j]);
                CHECK(same, "%s: %s is not -exp(A_log)", fix, name);
            }
            snprintf(name, sizeof name, "blk.%d.ssm_dt.bias", l);
            want(&g, name, 0, 1, (uint64_t)H * K, 1, 1, 1);
            snprintf(name, sizeof name, "blk.%d.ssm_f_b.weight", l);
            want(&g, name, 0, 2, (uint64_t)K, (uint64_t)H * K, 1, 1);
            snprintf(name, sizeof name, "blk.%d.ssm_beta.weight", l);
            want(&g, name, 0, 2, (uint64_t)d, (uint64_t)H, 1, 1);
            snprintf(name, sizeof name, "blk.%d.ssm_norm.weight", l);
            want(&g, name, 0, 1, (uint64_t)K, 1, 1, 1);
            snprintf(name, sizeof name, "blk.%d.attn_k.weight", l);
            want(&g, name, 0, 2, (uint64_t)d, (uint64_t)H * K, 1, 1);
        } else {
            snprintf(name, sizeof name, "blk.%d.attn_k_b.weight", l);
            want(&g, name, 0, 3, (uint64_t)dn, (uint64_t)r, (uint64_t)Hm, 1);
            snprintf(name, sizeof name, "blk.%d.attn_v_b.weight", l);
            want(&g, name, 0, 3, (uint64_t)r, (uint64_t)dv, (uint64_t)Hm, 1);
            snprintf(name, sizeof name, "blk.%d.attn_kv_b.weight", l);
            CHECK(!fr_gguf_tensor_find(&g, name), "%s: %s should be split into attn_k_b / attn_v_b", fix, name);
        }
        if (l >= first) {
            snprintf(name, sizeof name, "blk.%d.ffn_gate_exps.weight", l);
            want(&g, name, 0, 3, (uint64_t)d, (uint64_t)ff, (uint64_t)E, 1);
            snprintf(name, sizeof name, "blk.%d.ffn_down_exps.weight", l);
            want(&g, name, 0, 3, (uint64_t)ff, (uint64_t)d, (uint64_t)E, 1);
            snprintf(name, sizeof name, "blk.%d.exp_probs_b.bias", l);
            want(&g, name, 0, 1, (uint64_t)E, 1, 1, 1);
        } else {
            snprintf(name, sizeof name, "blk.%d.ffn_gate.weight", l);
            CHECK(fr_gguf_tensor_find(&g, name) != NULL, "%s: dense layer %d has no %s", fix, l, name);
        }
    }
done:
    json_decref(cfg);
    if (w.release || w.t) fr_weights_free(&w);
    fr_gguf_close(&g);
}

/* ---- logits -------------------------------------------------------------- */

/* worst row-relative error of the prompt logits; greedy check and decode logits when full */
static double test_prompt(frugal_model *m, const char *fix, const char *pname, int full, float **keep) {
    frugal_model_info in;
    frugal_model_get_info(m, &in);
    const int V = in.n_vocab;
    json_t *toks = read_json(fix, "tokens.json"), *exp = read_json(fix, "expected.json");
    int32_t ids[1024], greedy[16];
    int n = ids_of(json_object_get(json_object_get(toks, "prompts"), pname), ids, 1024);
    int ng = ids_of(json_object_get(json_object_get(exp, "greedy"), pname), greedy, 16);
    json_decref(toks);
    json_decref(exp);
    double e = 1e9;
    CHECK(n > 0 && ng == 16, "%s %s: prompt %d tokens, %d greedy tokens", fix, pname, n, ng);
    if (n <= 0 || ng != 16) return e;
    char name[128];
    snprintf(name, sizeof name, "logits_%s.f32", pname);
    float *ref = read_f32(fix, name, (size_t)n * V);
    snprintf(name, sizeof name, "gen_logits_%s.f32", pname);
    float *gref = full ? read_f32(fix, name, (size_t)16 * V) : NULL;
    frugal_context *ctx = NULL;
    frugal_context_params cp = frugal_context_default_params();
    cp.n_ctx = n + 16;
    cp.n_threads = 2;
    cp.exact = 1; /* float32 activations: the Q8_0 file must match its weights decoded to F32 */
    if (!ref || (full && !gref) || frugal_context_create(m, &cp, &ctx)) {
        CHECK(0, "%s %s: setup: %s", fix, pname, frugal_last_error());
        goto done;
    }
    int rc = frugal_eval(ctx, ids, n, 0, 1);
    CHECK(rc == 0, "%s %s: eval: %s", fix, pname, frugal_last_error());
    if (rc) goto done;
    e = t_row_rel_err(frugal_get_logits(ctx, 0), ref, (size_t)n, (size_t)V);
    if (keep && (*keep = malloc((size_t)n * V * sizeof **keep)) != NULL)
        memcpy(*keep, frugal_get_logits(ctx, 0), (size_t)n * V * sizeof **keep);
    if (!full) goto done;
    CHECK(e <= TOL, "%s %s: prompt logits row-rel err %.3g", fix, pname, e);
    const float *lg = frugal_get_logits(ctx, n - 1);
    double eg = 0;
    int match = 1;
    for (int j = 0; j < 16; j++) {
        double ej = t_row_rel_err(lg, gref + (size_t)j * V, 1, (size_t)V);
        eg = ej > eg ? ej : eg;
        if (argmax(lg, V) != greedy[j]) match = 0;
        if (j == 15) break;
        if (frugal_eval(ctx, &greedy[j], 1, n + j, 0)) {
            CHECK(0, "%s %s: decode step %d: %s", fix, pname, j, frugal_last_error());
            match = 0;
            break;
        }
        lg = frugal_get_logits(ctx, 0);
    }
    CHECK(eg <= TOL, "%s %s: gen_logits row-rel err %.3g", fix, pname, eg);
    CHECK(match, "%s %s: greedy tokens differ from expected.json", fix, pname);
    printf("%s.gguf (F32) %s: prompt logits %.3g, gen_logits %.3g, greedy %s\n", fix, pname, e, eg, match ? "16/16" : "MISMATCH");
done:
    frugal_context_free(ctx);
    free(ref);
    free(gref);
    return e;
}

/* convert src to dir/<fix>.<type>.gguf; the path in out */
static int convert(const char *dir, const char *fix, const char *src, const char *type, char *out, size_t cap) {
    snprintf(out, cap, "%s/%s.%s.gguf", dir, fix, type);
    int rc = fr_hf_to_gguf(src, out, type, NULL, NULL);
    CHECK(rc == 0, "%s: convert to %s: %s", fix, type, fr_err_msg());
    return rc;
}

/* set the first element of blk.L.ssm_a to +0.5 in a copy of file, which must be refused */
static void test_bad_ssm_a(const char *file, const char *dir, int layer) {
    char bad[600], name[64];
    snprintf(bad, sizeof bad, "%s/bad.gguf", dir);
    snprintf(name, sizeof name, "blk.%d.ssm_a", layer);
    size_t n = 0;
    uint8_t *buf = t_read(file, &n);
    fr_gguf g;
    int found = 0;
    if (buf && fr_gguf_parse(&g, buf, n, file) == 0) {
        const fr_gguf_tensor *t = fr_gguf_tensor_find(&g, name);
        if (t) {
            float pos = 0.5f;
            memcpy(buf + (t->data - buf), &pos, sizeof pos);
            found = 1;
        }
        fr_gguf_close(&g);
    }
    FILE *f = found ? fopen(bad, "wb") : NULL;
    int wrote = f && fwrite(buf, 1, n, f) == n;
    if (f) fclose(f);
    free(buf);
    CHECK(wrote, "%s: could not write a corrupted copy with %s", file, name);
    if (!wrote) return;
    frugal_model *m = NULL;
    int rc = frugal_model_load(bad, &m);
    CHECK(rc != 0 && strstr(frugal_last_error(), name), "a positive %s should be refused naming it, got rc %d: %s", name, rc,
          frugal_last_error());
    frugal_model_free(m);
    unlink(bad);
}

/* A Q8_0 file: tensor types as llama.cpp's converter picks them (the short convolutions,
 * ssm_a, biases, norms and the router stay F32), and its logits equal those of the same
 * weights decoded to F32 by frugal quantize. Against the BF16 reference a Q8_0 file of
 * these random tiny models is far off (routing flips): reported, not checked. */
static void test_q8(const char *fix, const char *file, const char *dir, int kda_layer) {
    fr_gguf g;
    if (fr_gguf_open(&g, file)) {
        CHECK(0, "%s: open: %s", file, fr_err_msg());
        return;
    }
    static const struct { const char *suffix; uint32_t type; } ty[] = {
        {"ssm_conv1d_q.weight", 0}, {"ssm_a", 0}, {"ssm_dt.bias", 0}, {"ssm_norm.weight", 0}, {"attn_norm.weight", 0},
        {"ffn_gate_inp.weight", 0}, {"exp_probs_b.bias", 0}, {"attn_q.weight", 8}, {"ssm_beta.weight", 8}, {"ssm_f_a.weight", 8},
    };
    for (size_t i = 0; i < sizeof ty / sizeof *ty; i++) {
        char name[128];
        snprintf(name, sizeof name, "blk.%d.%s", kda_layer, ty[i].suffix);
        const fr_gguf_tensor *t = fr_gguf_tensor_find(&g, name);
        CHECK(t && t->type == ty[i].type, "%s (Q8_0): %s has type %d, expected %u", fix, name, t ? (int)t->type : -1, ty[i].type);
    }
    fr_gguf_close(&g);
    char f32[700];
    snprintf(f32, sizeof f32, "%s/decoded.gguf", dir);
    int rc = fr_gguf_quantize(file, f32, "F32", NULL, NULL);
    CHECK(rc == 0, "%s: Q8_0 -> F32: %s", fix, fr_err_msg());
    frugal_model *mq = NULL, *mf = NULL;
    float *lq = NULL, *lf = NULL;
    if (rc == 0 && frugal_model_load(file, &mq) == 0 && frugal_model_load(f32, &mf) == 0) {
        double eq = test_prompt(mq, fix, "len64", 0, &lq);
        test_prompt(mf, fix, "len64", 0, &lf);
        frugal_model_info in;
        frugal_model_get_info(mq, &in);
        json_t *toks = read_json(fix, "tokens.json");
        size_t n = json_array_size(json_object_get(json_object_get(toks, "prompts"), "len64"));
        json_decref(toks);
        double e = lq && lf ? t_row_rel_err(lq, lf, n, (size_t)in.n_vocab) : 1e9;
        CHECK(e <= TOL, "%s.gguf (Q8_0) len64: logits vs the same weights in F32: row-rel err %.3g", fix, e);
        printf("%s.gguf (Q8_0) len64: vs its weights decoded to F32 %.3g; vs the BF16 reference %.3g (not checked)\n", fix, e,
               eq);
    } else {
        CHECK(0, "%s: load Q8_0 / decoded GGUF: %s", fix, frugal_last_error());
    }
    free(lq);
    free(lf);
    frugal_model_free(mq);
    frugal_model_free(mf);
    unlink(f32);
}

/* A copy of file with the first occurrence of `from` replaced by `to` (same length) in
 * the header must be refused with a message containing `msg`. */
static void test_refused(const char *file, const char *dir, const char *from, const char *to, const char *msg) {
    char bad[600];
    snprintf(bad, sizeof bad, "%s/bad.gguf", dir);
    size_t n = 0, lf = strlen(from);
    uint8_t *buf = t_read(file, &n);
    uint8_t *at = NULL;
    for (size_t i = 0; buf && lf == strlen(to) && i + lf <= n && i < (1u << 20); i++)
        if (!memcmp(buf + i, from, lf)) {
            at = buf + i;
            break;
        }
    if (at) memcpy(at, to, lf);
    FILE *f = at ? fopen(bad, "wb") : NULL;
    int wrote = f && fwrite(buf, 1, n, f) == n;
    if (f) fclose(f);
    free(buf);
    CHECK(wrote, "%s: could not write a copy with '%s' -> '%s'", file, from, to);
    if (!wrote) return;
    frugal_model *m = NULL;
    int rc = frugal_model_load(bad, &m);
    CHECK(rc != 0 && strstr(frugal_last_error(), msg), "'%s' -> '%s' should be refused with '%s', got rc %d: %s", from, to, msg,
          rc, frugal_last_error());
    frugal_model_free(m);
    unlink(bad);
}

int main(void) {
    char dir[] = "/tmp/frugal_kgguf_XXXXXX";
    if (!mkdtemp(dir)) return 1;
    char out[700];
    for (size_t f = 0; f < sizeof FIXTURES / sizeof *FIXTURES; f++) {
        const char *fix = FIXTURES[f];
        char rel[256], src[4096];
        snprintf(rel, sizeof rel, "kimi_linear/%s", fix);
        snprintf(src, sizeof src, "%s", t_fixture(rel));

        /* F32: layout, then every prompt */
        if (convert(dir, fix, src, "F32", out, sizeof out)) continue;
        test_layout(fix, src, out);
        frugal_model *m = NULL;
        int rc = frugal_model_load(out, &m);
        CHECK(rc == 0, "%s: load GGUF: %s", fix, frugal_last_error());
        if (rc == 0) {
            frugal_model_info in;
            frugal_model_get_info(m, &in);
            CHECK(!strcmp(in.arch, "kimi_linear") && in.cache_bytes_fixed > 0, "%s: arch %s, fixed cache %lld", fix, in.arch,
                  (long long)in.cache_bytes_fixed);
            for (size_t p = 0; p < sizeof PROMPTS / sizeof *PROMPTS; p++) test_prompt(m, fix, PROMPTS[p], 1, NULL);
            frugal_model_free(m);
        }
        test_bad_ssm_a(out, dir, f == 0 ? 0 : 1); /* a KDA layer of each fixture */
        if (f == 0) {
            /* a tensor of a later variant (attention output gate), a missing layer-kind key */
            test_refused(out, dir, "blk.0.ssm_g_a.weight", "blk.0.attn_gate.wxyz", "variant frugal does not support");
            test_refused(out, dir, "kimi-linear.attention.head_count_kv", "kimi-linear.attention.head_count_xx",
                         "missing key 'kimi-linear.attention.head_count_kv'");
        }
        unlink(out);

        /* BF16: the fixture's own precision, so the same tolerance */
        if (convert(dir, fix, src, "BF16", out, sizeof out) == 0) {
            m = NULL;
            rc = frugal_model_load(out, &m);
            CHECK(rc == 0, "%s: load BF16 GGUF: %s", fix, frugal_last_error());
            if (rc == 0) {
                double e = test_prompt(m, fix, "len64", 0, NULL);
                CHECK(e <= TOL, "%s.gguf (BF16) len64: logits row-rel err %.3g", fix, e);
                printf("%s.gguf (BF16) len64: prompt logits %.3g\n", fix, e);
                frugal_model_free(m);
            }
            unlink(out);
        }
        /* Q8_0: llama.cpp's type choices, and the logits of the same weights decoded to F32 */
        if (convert(dir, fix, src, "Q8_0", out, sizeof out) == 0) {
            test_q8(fix, out, dir, f == 0 ? 0 : 1);
            unlink(out);
        }
    }
    rmdir(dir);
    return t_done();
}
