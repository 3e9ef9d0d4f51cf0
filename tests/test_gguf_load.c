/* GGUF model loading errors: a fixture file patched in one place (architecture,
 * a tensor's type, a required key) must fail with a message naming it. Also
 * checks the shapes the loader derives (per-expert views, split k_b/v_b). */
#include <unistd.h>

#include "base/err.h"
#include "formats/gguf.h"
#include "frugal.h"
#include "runtime/gguf_load.h"
#include "testutil.h"

static uint8_t *g_buf;
static size_t g_n;

/* offset of the first occurrence of s (as GGUF string bytes) in the file */
static size_t find(const char *s) {
    size_t k = strlen(s);
    for (size_t i = 0; i + k <= g_n; i++)
        if (!memcmp(g_buf + i, s, k)) return i;
    return 0;
}

static int load_patched(const uint8_t *b, size_t n, char *msg, size_t msz) {
    char path[] = "/tmp/frugal_gguf_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return -2;
    int ok = write(fd, b, n) == (ssize_t)n;
    close(fd);
    frugal_model *m = NULL;
    int rc = ok ? frugal_model_load(path, &m) : -2;
    snprintf(msg, msz, "%s", frugal_last_error());
    frugal_model_free(m);
    unlink(path);
    return rc;
}

int main(void) {
    g_buf = t_read(t_fixture("gguf/v3_sigmoid_f32.gguf"), &g_n);
    CHECK(g_buf != NULL, "fixture");
    if (!g_buf) return t_done();
    char msg[2048];
    uint8_t *b = malloc(g_n);

    /* the architecture */
    memcpy(b, g_buf, g_n);
    size_t at = find("deepseek2");
    CHECK(at > 0, "arch string");
    memcpy(b + at, "llamaxxxx", 9);
    CHECK(load_patched(b, g_n, msg, sizeof msg) != 0 && strstr(msg, "llamaxxxx") && strstr(msg, "not supported"),
          "wrong architecture: '%s'", msg);

    /* a tensor type frugal has no decoder for (F32 -> I32, same size) */
    memcpy(b, g_buf, g_n);
    at = find("blk.1.ffn_gate_exps.weight");
    CHECK(at > 0, "tensor name");
    size_t ty = at + strlen("blk.1.ffn_gate_exps.weight") + 4 + 3 * 8; /* n_dims, ne[3] */
    CHECK(b[ty] == 0, "type field found");
    b[ty] = 26;
    CHECK(load_patched(b, g_n, msg, sizeof msg) != 0 && strstr(msg, "blk.1.ffn_gate_exps.weight") && strstr(msg, "I32"),
          "unsupported type: '%s'", msg);

    /* a required key renamed */
    memcpy(b, g_buf, g_n);
    at = find("deepseek2.attention.kv_lora_rank");
    memcpy(b + at, "deepseek2.attention.kv_lora_ranq", 32);
    CHECK(load_patched(b, g_n, msg, sizeof msg) != 0 && strstr(msg, "kv_lora_rank"), "missing key: '%s'", msg);

    /* the MLA latent norms use the file's eps, as llama.cpp does: eps patched to 0.5,
     * compared with llama.cpp's logits for that file */
    memcpy(b, g_buf, g_n);
    at = find("deepseek2.attention.layer_norm_rms_epsilon") + strlen("deepseek2.attention.layer_norm_rms_epsilon");
    CHECK(b[at] == 6, "eps is an f32");
    float half = 0.5f;
    memcpy(b + at + 4, &half, 4);
    {
        char path[] = "/tmp/frugal_gguf_eps_XXXXXX";
        int fd = mkstemp(path);
        int ok = fd >= 0 && write(fd, b, g_n) == (ssize_t)g_n;
        if (fd >= 0) close(fd);
        size_t rn;
        float *ref = t_read(t_fixture("gguf/v3_sigmoid_f32_eps05.llama_logits.f32"), &rn);
        frugal_model *m = NULL;
        frugal_context *c = NULL;
        frugal_context_params cp = frugal_context_default_params();
        cp.n_ctx = 64;
        cp.cache_type = FRUGAL_CACHE_F32; /* the model math; the cache's rounding: test_cache_types */
        int32_t tok[48] = {0, 17, 300, 5, 42, 42, 42, 99, 411, 7, 256, 3, 200, 180, 9, 77, 1, 2, 3, 4, 500, 321, 123, 64,
                           65, 66, 90, 91, 92, 93, 94, 95, 96, 97, 98, 99, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111};
        if (ok && ref && rn == 48 * 512 * 4 && frugal_model_load(path, &m) == 0 && frugal_context_create(m, &cp, &c) == 0 &&
            frugal_eval(c, tok, 48, 0, 1) == 0) {
            float *got = malloc(48 * 512 * sizeof(float));
            for (int r = 0; r < 48; r++) memcpy(got + r * 512, frugal_get_logits(c, r), 512 * sizeof(float));
            double e = t_row_rel_err(got, ref, 48, 512);
            printf("eps 0.5: row-relative error vs llama.cpp %.3g\n", e);
            CHECK(e <= 1e-4, "eps 0.5: error vs llama.cpp %.3g", e);
            free(got);
        } else {
            CHECK(0, "eps 0.5 model: %s", frugal_last_error());
        }
        frugal_context_free(c);
        frugal_model_free(m);
        free(ref);
        unlink(path);
    }

    /* YaRN without a log-multiplier (0): llama.cpp then scales the rotated dims and
     * the softmax by 1 + 0.1 ln(factor); compared with llama.cpp's logits */
    {
        size_t yn;
        uint8_t *y = t_read(t_fixture("gguf/v3_yarn_f32.gguf"), &yn);
        const char *key = "deepseek2.rope.scaling.yarn_log_multiplier";
        size_t ka = 0;
        for (size_t i = 0; y && i + strlen(key) <= yn; i++)
            if (!memcmp(y + i, key, strlen(key))) { ka = i + strlen(key); break; }
        CHECK(ka > 0 && y[ka] == 6, "log multiplier is an f32");
        if (ka > 0) memset(y + ka + 4, 0, 4);
        char path[] = "/tmp/frugal_gguf_yarn_XXXXXX";
        int fd = mkstemp(path);
        int ok = y && fd >= 0 && write(fd, y, yn) == (ssize_t)yn;
        if (fd >= 0) close(fd);
        size_t rn;
        float *ref = t_read(t_fixture("gguf/v3_yarn_f32_logmul0.llama_logits.f32"), &rn);
        frugal_model *m = NULL;
        frugal_context *c = NULL;
        frugal_context_params cp = frugal_context_default_params();
        cp.n_ctx = 64;
        cp.cache_type = FRUGAL_CACHE_F32; /* the model math; the cache's rounding: test_cache_types */
        int32_t tok[48] = {0, 17, 300, 5, 42, 42, 42, 99, 411, 7, 256, 3, 200, 180, 9, 77, 1, 2, 3, 4, 500, 321, 123, 64,
                           65, 66, 90, 91, 92, 93, 94, 95, 96, 97, 98, 99, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111};
        if (ok && ref && rn == 48 * 512 * 4 && frugal_model_load(path, &m) == 0 && frugal_context_create(m, &cp, &c) == 0 &&
            frugal_eval(c, tok, 48, 0, 1) == 0) {
            float *got = malloc(48 * 512 * sizeof(float));
            for (int r = 0; r < 48; r++) memcpy(got + r * 512, frugal_get_logits(c, r), 512 * sizeof(float));
            double e = t_row_rel_err(got, ref, 48, 512);
            printf("YaRN log-multiplier 0: row-relative error vs llama.cpp %.3g\n", e);
            CHECK(e <= 1e-4, "YaRN log-multiplier 0: error vs llama.cpp %.3g", e);
            free(got);
        } else {
            CHECK(0, "YaRN log-multiplier 0 model: %s", frugal_last_error());
        }
        frugal_context_free(c);
        frugal_model_free(m);
        free(ref);
        free(y);
        unlink(path);
    }

    /* a truncated file */
    CHECK(load_patched(g_buf, g_n - 100, msg, sizeof msg) != 0 && strstr(msg, "past the end"), "truncated: '%s'", msg);

    /* the derived views */
    fr_cfg cfg;
    fr_weights w;
    int rc = fr_gguf_load(t_fixture("gguf/v3_fused_f16.gguf"), &cfg, &w, 0);
    CHECK(rc == 0, "load: %s", fr_err_msg());
    if (rc == 0) {
        const fr_tensor *g3 = fr_weights_find(&w, "model.layers.1.mlp.experts.3.gate_proj.weight");
        const fr_tensor *u3 = fr_weights_find(&w, "model.layers.1.mlp.experts.3.up_proj.weight");
        const fr_tensor *d7 = fr_weights_find(&w, "model.layers.2.mlp.experts.7.down_proj.weight");
        const fr_tensor *kb = fr_weights_find(&w, "model.layers.0.self_attn.k_b_proj.weight");
        const fr_gguf *g = fr_gguf_of_weights(&w);
        const fr_gguf_tensor *fused = g ? fr_gguf_tensor_find(g, "blk.1.ffn_gate_up_exps.weight") : NULL;
        CHECK(g3 && u3 && d7 && kb && fused, "views present");
        if (g3 && u3 && d7 && kb && fused) {
            CHECK(g3->ndim == 2 && g3->ne[0] == 64 && g3->ne[1] == 96 && g3->dtype == FR_DT_F16, "gate view shape");
            /* expert 3 of [8, 128, 96] f16: gate rows at 3*128*96*2 bytes, up 64 rows later */
            CHECK((const uint8_t *)g3->data == fused->data + 3 * 128 * 96 * 2, "gate view offset");
            CHECK((const uint8_t *)u3->data == fused->data + 3 * 128 * 96 * 2 + 64 * 96 * 2, "up view offset");
            CHECK(d7->ne[0] == 96 && d7->ne[1] == 64, "down view shape");
            CHECK(kb->ndim == 3 && kb->ne[0] == 2 && kb->ne[1] == 32 && kb->ne[2] == 32, "k_b shape [H, kv_lora, nope]");
        }
        int64_t v;
        CHECK(fr_cfg_int(&cfg, "n_group", 0, 1, 1, 1000, &v) == 0 && v == 1, "n_group (absent: 1)");
        CHECK(fr_cfg_int(&cfg, "qk_nope_head_dim", 1, 0, 0, 1000, &v) == 0 && v == 32, "nope from key_length_mla");
        const char *s;
        CHECK(fr_cfg_str(&cfg, "scoring_func", 1, NULL, &s) == 0 && !strcmp(s, "sigmoid"), "scoring_func");
        CHECK(fr_cfg_str(&cfg, "topk_method", 1, NULL, &s) == 0 && !strcmp(s, "noaux_tc"), "topk_method");
        const fr_gguf_kv *tk = g ? fr_gguf_kv_find(g, "tokenizer.ggml.tokens") : NULL;
        CHECK(tk && tk->arr_n == 512, "tokenizer tokens exposed");
        fr_weights_free(&w);
        fr_cfg_free(&cfg);
    }
    free(b);
    free(g_buf);
    return t_done();
}
