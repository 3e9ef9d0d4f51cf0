/* frugal convert: every DeepSeek-V2/V3 fixture (tests/fixtures/deepseek, with
 * the official reference outputs) converted to an F32 GGUF in llama.cpp's
 * absorbed layout gives the reference logits of the safetensors path
 * (row-relative error <= 1e-4), for prompts of 64 and 200 tokens (the 200-token
 * one runs past YaRN's original context in v3_yarn_tiny). The FP8 fixture is
 * dequantized with its block scales at conversion. Also BF16 conversion, the
 * tokenizer keys from a real tokenizer.json, and DeepSeek-V2's group-limited
 * routing carried through the GGUF. */
#include <jansson.h>
#include <unistd.h>

#include "base/err.h"
#include "formats/gguf.h"
#include "frugal.h"
#include "runtime/gguf_quantize.h"
#include "testutil.h"

#define TOL 1e-4

static const char *g_fix[] = {"v2lite_tiny", "v3_tiny", "v3_yarn_tiny", "v3_fp8_tiny"};

/* a context of m after evaluating ids [T] with the logits of every row (rows
 * contiguous from frugal_get_logits(ctx, 0)); NULL on failure */
static frugal_context *eval_all(frugal_model *m, const int32_t *ids, int T) {
    frugal_context_params cp = frugal_context_default_params();
    cp.n_ctx = T + 4;
    cp.cache_type = FRUGAL_CACHE_F32; /* the model math; the cache's rounding: test_cache_types */
    cp.n_threads = 2;
    cp.exact = 1; /* the safetensors' BF16 weights on float32 activations, as the F32 files */
    frugal_context *ctx = NULL;
    if (T <= 0 || frugal_context_create(m, &cp, &ctx) != 0) return NULL;
    if (frugal_eval(ctx, ids, T, 0, 1) != 0) {
        frugal_context_free(ctx);
        return NULL;
    }
    return ctx;
}

static double prompt_err(frugal_model *m, const char *fix, json_t *tokens, int p) {
    frugal_model_info in;
    frugal_model_get_info(m, &in);
    json_t *toks = json_array_get(json_object_get(tokens, "prompts"), (size_t)p);
    int T = (int)json_array_size(toks);
    int32_t *ids = malloc((size_t)(T ? T : 1) * sizeof *ids);
    for (int i = 0; i < T; i++) ids[i] = (int32_t)json_integer_value(json_array_get(toks, (size_t)i));
    char rel[512];
    snprintf(rel, sizeof rel, "deepseek/%s/reference/p%d.logits.f32", fix, p);
    size_t n;
    float *ref = t_read(t_fixture(rel), &n);
    double e = 1e9;
    frugal_context *ctx = ref && n == (size_t)T * in.n_vocab * 4 ? eval_all(m, ids, T) : NULL;
    if (ctx) e = t_row_rel_err(frugal_get_logits(ctx, 0), ref, (size_t)T, (size_t)in.n_vocab);
    frugal_context_free(ctx);
    free(ref);
    free(ids);
    return e;
}

/* logits of tokens 0..T-1 (all rows) of the model at path; NULL on failure */
static float *logits_of(const char *path, const int32_t *ids, int T, int *n_vocab) {
    frugal_model *m = NULL;
    frugal_context *ctx = NULL;
    float *r = NULL;
    if (frugal_model_load(path, &m) == 0 && (ctx = eval_all(m, ids, T))) {
        frugal_model_info in;
        frugal_model_get_info(m, &in);
        *n_vocab = in.n_vocab;
        if ((r = malloc((size_t)T * in.n_vocab * sizeof *r)))
            memcpy(r, frugal_get_logits(ctx, 0), (size_t)T * in.n_vocab * sizeof *r);
    } else {
        fprintf(stderr, "%s: %s\n", path, frugal_last_error());
    }
    frugal_context_free(ctx);
    frugal_model_free(m);
    return r;
}

/* DeepSeek-V2 (236B) ranks its expert groups by their best score
 * (group_limited_greedy), llama.cpp's deepseek2 by the sum of the two best:
 * the GGUF carries frugal.expert_group_scoring = max and gives the logits of
 * the safetensors directory, which differ from plain top-k routing. */
static void test_group_max(const char *dir) {
    char gdir[700], cmd[3000], cfg[800], out[800];
    snprintf(gdir, sizeof gdir, "%s/glg", dir);
    snprintf(cfg, sizeof cfg, "%s/config.json", gdir);
    snprintf(out, sizeof out, "%s/glg.gguf", dir);
    snprintf(cmd, sizeof cmd, "mkdir -p %s && cp %s/model.safetensors %s/", gdir, t_fixture("deepseek/v2lite_tiny"), gdir);
    char src[4096];
    snprintf(src, sizeof src, "%s/config.json", t_fixture("deepseek/v2lite_tiny"));
    json_error_t je;
    json_t *c = json_load_file(src, 0, &je);
    CHECK(c && system(cmd) == 0, "group routing: setup");
    if (!c) return;
    /* 16 experts in 4 groups, the experts of 1 group kept, top 4 of them */
    json_object_set_new(c, "topk_method", json_string("group_limited_greedy"));
    json_object_set_new(c, "n_group", json_integer(4));
    json_object_set_new(c, "topk_group", json_integer(1));
    CHECK(json_dump_file(c, cfg, 0) == 0, "group routing: config");
    json_decref(c);
    int rc = fr_hf_to_gguf(gdir, out, "F32", NULL, NULL);
    CHECK(rc == 0, "group routing: convert: %s", fr_err_msg());
    fr_gguf g;
    if (rc == 0 && fr_gguf_open(&g, out) == 0) {
        char *s = NULL;
        int64_t ng = 0;
        CHECK(fr_gguf_get_str(&g, "frugal.expert_group_scoring", &s) == 0 && s && !strcmp(s, "max") &&
                  fr_gguf_get_int(&g, "deepseek2.expert_group_count", 0, 100, &ng) == 0 && ng == 4,
              "group routing: GGUF keys");
        free(s);
        fr_gguf_close(&g);
    }
    int32_t ids[48];
    for (int i = 0; i < 48; i++) ids[i] = (int32_t)((i * 37 + 11) % 1000);
    int V = 0, V2 = 0, V3 = 0;
    float *a = logits_of(gdir, ids, 48, &V), *b = rc ? NULL : logits_of(out, ids, 48, &V2);
    float *plain = logits_of(t_fixture("deepseek/v2lite_tiny"), ids, 48, &V3);
    CHECK(a && b && plain && V == V2 && V == V3, "group routing: logits");
    if (a && b && plain && V == V2 && V == V3) {
        double e = t_row_rel_err(b, a, 48, (size_t)V), d = t_row_rel_err(plain, a, 48, (size_t)V);
        printf("group_limited_greedy: GGUF vs safetensors %.3g, plain top-k vs groups %.3g\n", e, d);
        CHECK(e <= TOL, "group routing: GGUF differs from the safetensors model by %.3g", e);
        CHECK(d > 100 * TOL, "group routing: the groups change nothing (%.3g), the test cannot fail", d);
    }
    free(a);
    free(b);
    free(plain);
    /* an unknown scoring rule is refused by name: the key's value "max" patched to "sum" */
    size_t nf = 0;
    unsigned char *f = rc ? NULL : t_read(out, &nf);
    const char key[] = "frugal.expert_group_scoring";
    unsigned char *at = NULL;
    for (size_t i = 0; f && i + sizeof key - 1 + 4 + 8 + 3 <= nf && !at; i++)
        if (!memcmp(f + i, key, sizeof key - 1)) at = f + i + sizeof key - 1 + 4 + 8; /* type u32, length u64 */
    CHECK(at && !memcmp(at, "max", 3), "group routing: the key's value in the file");
    if (at) {
        memcpy(at, "sum", 3);
        FILE *fp = fopen(out, "wb");
        CHECK(fp && fwrite(f, 1, nf, fp) == nf && fclose(fp) == 0, "group routing: write the patched file");
        frugal_model *m = NULL;
        CHECK(frugal_model_load(out, &m) != 0 && strstr(frugal_last_error(), "frugal.expert_group_scoring") &&
                  strstr(frugal_last_error(), "sum"),
              "group routing: unknown rule not refused by name (%s)", frugal_last_error());
        frugal_model_free(m);
    }
    free(f);
    snprintf(cmd, sizeof cmd, "rm -rf %s", gdir);
    CHECK(system(cmd) == 0, "cleanup");
    unlink(out);
}

int main(void) {
    char dir[] = "/tmp/frugal_conv_XXXXXX";
    if (!mkdtemp(dir)) return 1;
    char out[600];
    snprintf(out, sizeof out, "%s/m.gguf", dir);
    for (size_t f = 0; f < sizeof g_fix / sizeof *g_fix; f++) {
        char rel[256];
        snprintf(rel, sizeof rel, "deepseek/%s", g_fix[f]);
        char src[4096];
        snprintf(src, sizeof src, "%s", t_fixture(rel));
        int rc = fr_hf_to_gguf(src, out, "F32", NULL, NULL);
        CHECK(rc == 0, "%s: convert: %s", g_fix[f], fr_err_msg());
        if (rc) continue;
        /* the layout llama.cpp's converter writes */
        fr_gguf g;
        if (fr_gguf_open(&g, out) == 0) {
            const fr_gguf_tensor *kb = fr_gguf_tensor_find(&g, "blk.0.attn_k_b.weight");
            const fr_gguf_tensor *ex = fr_gguf_tensor_find(&g, "blk.1.ffn_down_exps.weight");
            int64_t hkv = 0;
            CHECK(kb && kb->n_dims == 3 && ex && ex->n_dims == 3 && !fr_gguf_tensor_find(&g, "blk.0.attn_kv_b.weight") &&
                      fr_gguf_get_int(&g, "deepseek2.attention.head_count_kv", 0, 100, &hkv) == 0 && hkv == 1,
                  "%s: absorbed layout, stacked experts", g_fix[f]);
            fr_gguf_close(&g);
        }
        snprintf(rel, sizeof rel, "deepseek/%s/tokens.json", g_fix[f]);
        json_error_t je;
        json_t *tokens = json_load_file(t_fixture(rel), 0, &je);
        frugal_model *m = NULL;
        CHECK(tokens && frugal_model_load(out, &m) == 0, "%s: load: %s", g_fix[f], frugal_last_error());
        if (m && tokens) {
            for (int p = 2; p <= 3; p++) {
                double e = prompt_err(m, g_fix[f], tokens, p);
                printf("%-14s F32 GGUF, prompt %d: row-relative error vs reference %.3g\n", g_fix[f], p, e);
                CHECK(e <= TOL, "%s p%d: error %.3g > %g", g_fix[f], p, e, TOL);
            }
        }
        frugal_model_free(m);
        json_decref(tokens);
    }

    /* BF16 (default for FP8 sources), Q8_0 with its F16 fallback for odd rows */
    char fp8[4096];
    snprintf(fp8, sizeof fp8, "%s", t_fixture("deepseek/v3_fp8_tiny"));
    CHECK(fr_hf_to_gguf(fp8, out, NULL, NULL, NULL) == 0, "fp8 -> default: %s", fr_err_msg());
    fr_gguf g;
    if (fr_gguf_open(&g, out) == 0) {
        CHECK(fr_gguf_tensor_find(&g, "blk.1.ffn_gate_exps.weight")->type == 30, "FP8 source -> BF16 by default");
        CHECK(fr_gguf_tensor_find(&g, "blk.1.ffn_gate_inp.weight")->type == 0, "router stays F32");
        CHECK(fr_gguf_tensor_find(&g, "blk.1.attn_norm.weight")->type == 0, "norms F32");
        fr_gguf_close(&g);
    }
    CHECK(fr_hf_to_gguf(fp8, out, "Q9", NULL, NULL) != 0 && strstr(fr_err_msg(), "Q9"), "unknown type named");

    /* tokenizer keys: a directory with the fixture model and the real DeepSeek-V3 tokenizer files */
    char tdir[700], cmd[3000];
    snprintf(tdir, sizeof tdir, "%s/tok", dir);
    snprintf(cmd, sizeof cmd, "mkdir -p %s && cp %s/config.json %s/model.safetensors %s/ && cp %s %s %s/", tdir,
             t_fixture("deepseek/v2lite_tiny"), t_fixture("deepseek/v2lite_tiny"), tdir,
             t_fixture("tokenizer/deepseek_v3/tokenizer.json"), t_fixture("tokenizer/deepseek_v3/tokenizer_config.json"),
             tdir);
    if (access(t_fixture("tokenizer/deepseek_v3/tokenizer.json"), R_OK) == 0 && system(cmd) == 0) {
        int rc = fr_hf_to_gguf(tdir, out, "F32", NULL, NULL);
        CHECK(rc == 0, "convert with tokenizer: %s", fr_err_msg());
        if (rc == 0 && fr_gguf_open(&g, out) == 0) {
            const fr_gguf_kv *tk = fr_gguf_kv_find(&g, "tokenizer.ggml.tokens");
            const fr_gguf_kv *mg = fr_gguf_kv_find(&g, "tokenizer.ggml.merges");
            char *s = NULL;
            CHECK(tk && tk->arr_n == 1024 && mg && mg->arr_n > 1000, "tokens (vocab_size of the config) and merges");
            if (tk) {
                const char *p;
                uint64_t len;
                fr_gguf_arr_str(tk, 0, &p, &len);
                CHECK(len == strlen("<｜begin▁of▁sentence｜>") && !memcmp(p, "<｜begin▁of▁sentence｜>", len), "token 0");
            }
            CHECK(fr_gguf_get_str(&g, "tokenizer.chat_template", &s) == 0 && s && strlen(s) > 100, "chat template");
            free(s);
            fr_gguf_close(&g);
        }
        snprintf(cmd, sizeof cmd, "rm -rf %s", tdir);
        CHECK(system(cmd) == 0, "cleanup");
    }
    test_group_max(dir);
    unlink(out);
    rmdir(dir);
    return t_done();
}
