/* GGUF models end to end: every file in fixtures/gguf (random-weight deepseek2
 * models written in llama.cpp's layouts by an independent writer) is loaded
 * through frugal_model_load and its logits for tokens.txt are compared with an
 * exact float64 forward pass over the stored weights (<name>.exact_logits.f32).
 * With exact = 1 frugal keeps f32 activations, so every file, f16/bf16/q8_0
 * included, must be within 1e-4 row-relative (see fixtures/gguf/README.md). The
 * default integer path (int8 activations for q8_0) must stay within 5e-2, the
 * activation rounding llama.cpp also has (it measures 2.5e-2 on v3_q8_0).
 * Every file is loaded twice: memory-mapped (the default) and read into memory
 * (frugal_model_params.use_mmap = 0, --no-mmap), each held to the same bounds. */
#include "frugal.h"
#include "testutil.h"

static const char *g_models[] = {
    "v2_softmax_f32", "v3_sigmoid_f32", "v3_yarn_f32", "v3_legacy_kvb_f32", "v3_fused_f16", "v3_bf16", "v3_q8_0",
};

int main(void) {
    size_t tn;
    char *raw = t_read(t_fixture("gguf/tokens.txt"), &tn);
    CHECK(raw != NULL, "tokens.txt");
    if (!raw) return t_done();
    char *txt = calloc(tn + 1, 1); /* NUL-terminated for strtol */
    memcpy(txt, raw, tn);
    free(raw);
    int32_t tok[256];
    int n = 0;
    for (char *p = txt; p < txt + tn && n < 256;) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p) { p++; continue; }
        tok[n++] = (int32_t)v;
        p = end;
    }
    free(txt);
    CHECK(n == 48, "48 tokens, got %d", n);
    for (size_t k = 0; k < 2 * sizeof g_models / sizeof *g_models; k++) {
        const size_t i = k / 2;
        char rel[256];
        snprintf(rel, sizeof rel, "gguf/%s.gguf", g_models[i]);
        frugal_model *m = NULL;
        frugal_model_params mp = frugal_model_default_params();
        mp.use_mmap = !(k & 1);
        if (frugal_model_load_params(t_fixture(rel), &mp, &m)) {
            CHECK(0, "%s (use_mmap %d): %s", g_models[i], mp.use_mmap, frugal_last_error());
            continue;
        }
        frugal_model_info info;
        frugal_model_get_info(m, &info);
        CHECK(info.n_vocab == 512 && info.n_layer == 3 && info.n_moe_layers == 2 && info.n_expert == 8, "%s: info",
              g_models[i]);
        CHECK(info.bos_token_id == 0 && info.eos_token_id == 1, "%s: special tokens %d %d", g_models[i],
              info.bos_token_id, info.eos_token_id);
        for (int exact = 1; exact >= 0; exact--) {
        if (!exact && !strstr(g_models[i], "q8_0")) break;
        const double tol = exact ? 1e-4 : 5e-2;
        frugal_context_params cp = frugal_context_default_params();
        cp.n_ctx = 64;
        cp.exact = exact;
        frugal_context *c = NULL;
        CHECK(frugal_context_create(m, &cp, &c) == 0, "%s: context: %s", g_models[i], frugal_last_error());
        if (c && frugal_eval(c, tok, n, 0, 1) == 0) {
            float *got = malloc((size_t)n * 512 * sizeof(float));
            for (int r = 0; r < n; r++) memcpy(got + (size_t)r * 512, frugal_get_logits(c, r), 512 * sizeof(float));
            snprintf(rel, sizeof rel, "gguf/%s.exact_logits.f32", g_models[i]);
            size_t rn;
            float *ref = t_read(t_fixture(rel), &rn);
            CHECK(ref && rn == (size_t)n * 512 * sizeof(float), "%s: reference logits", g_models[i]);
            if (ref && rn == (size_t)n * 512 * sizeof(float)) {
                double e = t_row_rel_err(got, ref, (size_t)n, 512);
                printf("%-20s %-7s %-8s row-relative error vs exact: %.3g\n", g_models[i], exact ? "exact" : "int8",
                       mp.use_mmap ? "mapped" : "read", e);
                CHECK(e <= tol, "%s (exact %d, use_mmap %d): row-relative error %.3g > %g", g_models[i], exact,
                      mp.use_mmap, e, tol);
            }
            free(ref);
            free(got);
        } else if (c) {
            CHECK(0, "%s: eval: %s", g_models[i], frugal_last_error());
        }
        frugal_context_free(c);
        }
        frugal_model_free(m);
    }
    return t_done();
}
