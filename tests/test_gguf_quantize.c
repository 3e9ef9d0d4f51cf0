/* frugal quantize: a Q8_0 file decoded to F32 and re-encoded to Q8_0 gives the
 * original bytes back (the same holds for BF16); files written for each type
 * load and run, and each re-encoded tensor stays within the type's error bound
 * (logits are not compared: on these random-weight MoE models a tiny weight
 * change flips expert choices, so logits move by O(1) even for BF16); the
 * per-tensor choices of a mix follow llama.cpp's rules and fallbacks. */
#include <unistd.h>

#include "tensor/ggml_quants.h"

#include "base/err.h"
#include "formats/gguf.h"
#include "frugal.h"
#include "runtime/gguf_quantize.h"
#include "testutil.h"

static char g_dir[] = "/tmp/frugal_quant_XXXXXX";

static const char *tmp(const char *name) {
    static char buf[4][512];
    static int k;
    char *b = buf[k++ % 4];
    snprintf(b, sizeof buf[0], "%s/%s", g_dir, name);
    return b;
}

/* 1 when every tensor of a and b has the same type, shape and bytes */
static int same_tensors(const char *pa, const char *pb) {
    fr_gguf a, b;
    if (fr_gguf_open(&a, pa)) return 0;
    if (fr_gguf_open(&b, pb)) {
        fr_gguf_close(&a);
        return 0;
    }
    int ok = a.n_tensors == b.n_tensors;
    for (uint64_t i = 0; ok && i < a.n_tensors; i++) {
        const fr_gguf_tensor *x = &a.t[i], *y = fr_gguf_tensor_find(&b, x->name);
        ok = y && x->type == y->type && x->nbytes == y->nbytes && !memcmp(x->data, y->data, (size_t)x->nbytes);
        if (!ok) fprintf(stderr, "tensor '%s' differs\n", x->name);
    }
    fr_gguf_close(&a);
    fr_gguf_close(&b);
    return ok;
}

static int32_t g_tok[48];

/* loads, evaluates; 1 when every logit is finite */
static int runs(const char *model) {
    frugal_model *m = NULL;
    if (frugal_model_load(model, &m)) {
        fprintf(stderr, "%s: %s\n", model, frugal_last_error());
        return 0;
    }
    frugal_context_params cp = frugal_context_default_params();
    cp.n_ctx = 64;
    frugal_context *c = NULL;
    int ok = 0;
    if (frugal_context_create(m, &cp, &c) == 0 && frugal_eval(c, g_tok, 48, 0, 1) == 0) {
        ok = 1;
        for (int r = 0; r < 48; r++)
            for (int j = 0; j < 512; j++) ok &= isfinite(frugal_get_logits(c, r)[j]);
    }
    frugal_context_free(c);
    frugal_model_free(m);
    return ok;
}

/* worst relative RMS error of a re-encoded tensor against its source (F32) */
static double worst_tensor_err(const char *src, const char *dst, char *which, size_t wsz) {
    fr_gguf a, b;
    double worst = 1e9;
    if (fr_gguf_open(&a, src)) return worst;
    if (fr_gguf_open(&b, dst)) {
        fr_gguf_close(&a);
        return worst;
    }
    worst = 0;
    for (uint64_t i = 0; i < a.n_tensors; i++) {
        const fr_gguf_tensor *x = &a.t[i], *y = fr_gguf_tensor_find(&b, x->name);
        if (!y || x->type != 0) { worst = 1e9; break; }
        int64_t n = (int64_t)(x->nbytes / 4);
        float *d = malloc((size_t)n * sizeof *d);
        fr_tensor v = {.name = y->name, .dtype = (fr_dtype)fr_dtype_from_ggml(y->type), .ndim = 1, .ne = {n}, .data = y->data};
        fr_tensor_row_f32(&v, 0, d);
        double e = 0, r = 0;
        for (int64_t k = 0; k < n; k++) {
            float s;
            memcpy(&s, x->data + 4 * k, 4);
            e += (double)(d[k] - s) * (d[k] - s), r += (double)s * s;
        }
        free(d);
        double rel = r > 0 ? sqrt(e / r) : sqrt(e);
        if (!(rel <= worst)) worst = rel, snprintf(which, wsz, "%s", x->name);
    }
    fr_gguf_close(&a);
    fr_gguf_close(&b);
    return worst;
}

static uint32_t type_of(const fr_gguf *g, const char *name) {
    const fr_gguf_tensor *t = fr_gguf_tensor_find(g, name);
    return t ? t->type : 999;
}

int main(void) {
    if (!mkdtemp(g_dir)) return 1;
    /* decode and re-encode */
    const char *q8 = t_fixture("gguf/v3_q8_0.gguf"), *bf = t_fixture("gguf/v3_bf16.gguf");
    CHECK(fr_gguf_quantize(q8, tmp("a.gguf"), "F32", NULL, NULL) == 0, "Q8_0 -> F32: %s", fr_err_msg());
    CHECK(fr_gguf_quantize(tmp("a.gguf"), tmp("b.gguf"), "Q8_0", NULL, NULL) == 0, "F32 -> Q8_0: %s", fr_err_msg());
    CHECK(same_tensors(q8, tmp("b.gguf")), "Q8_0 -> F32 -> Q8_0 restores every tensor");
    CHECK(fr_gguf_quantize(bf, tmp("a.gguf"), "F32", NULL, NULL) == 0, "BF16 -> F32: %s", fr_err_msg());
    CHECK(fr_gguf_quantize(tmp("a.gguf"), tmp("b.gguf"), "BF16", NULL, NULL) == 0, "F32 -> BF16: %s", fr_err_msg());
    CHECK(same_tensors(bf, tmp("b.gguf")), "BF16 -> F32 -> BF16 restores every tensor");

    /* written files run; error against the exact pass over the F32 source */
    size_t tn, rn;
    char *raw = t_read(t_fixture("gguf/tokens.txt"), &tn);
    float *ref = t_read(t_fixture("gguf/v3_sigmoid_f32.exact_logits.f32"), &rn);
    CHECK(raw && ref && rn == 48 * 512 * 4, "fixtures");
    if (!raw || !ref) return t_done();
    char *txt = calloc(tn + 1, 1);
    memcpy(txt, raw, tn);
    int n = 0;
    for (char *p = txt; *p && n < 48;) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p) { p++; continue; }
        g_tok[n++] = (int32_t)v;
        p = end;
    }
    /* worst tensor error bounds: those of test_ggml_roundtrip for the weakest type a mix uses */
    static const struct { const char *type; double bound; } cases[] = {
        {"F16", 1e-3}, {"BF16", 5e-3}, {"Q8_0", 0.01}, {"Q6_K", 0.03}, {"Q5_K_M", 0.06}, {"Q4_K_M", 0.12},
        {"Q4_0", 0.12}, {"IQ4_NL", 0.12}, {"IQ4_XS", 0.12}, {"MXFP4_MOE", 0.25}, {"Q3_K_M", 0.25},
    };
    const char *src = t_fixture("gguf/v3_sigmoid_f32.gguf");
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int rc = fr_gguf_quantize(src, tmp("q.gguf"), cases[i].type, NULL, NULL);
        CHECK(rc == 0, "%s: %s", cases[i].type, fr_err_msg());
        if (rc) continue;
        char which[256] = "";
        double e = worst_tensor_err(src, tmp("q.gguf"), which, sizeof which);
        printf("%-10s worst tensor relative RMS error %.4f (%s), bound %.3g\n", cases[i].type, e, which, cases[i].bound);
        CHECK(e <= cases[i].bound, "%s: tensor error %.3g > %.3g", cases[i].type, e, cases[i].bound);
        CHECK(runs(tmp("q.gguf")), "%s: the file loads and gives finite logits", cases[i].type);
    }
    (void)ref;

    /* Q4_K_M choices on 96/64/32-wide rows (3 layers): K types fall back */
    CHECK(fr_gguf_quantize(src, tmp("m.gguf"), "Q4_K_M", NULL, NULL) == 0, "Q4_K_M: %s", fr_err_msg());
    fr_gguf g;
    if (fr_gguf_open(&g, tmp("m.gguf")) == 0) {
        CHECK(type_of(&g, "output.weight") == 8, "output: Q6_K -> Q8_0 (96-wide rows)");
        CHECK(type_of(&g, "blk.0.ffn_down.weight") == 6, "layer 0 ffn_down: Q4_K -> Q5_0 (128-wide rows)");
        CHECK(type_of(&g, "blk.2.ffn_down_exps.weight") == 8, "layer 2 ffn_down_exps: more bits, Q6_K -> Q8_0");
        CHECK(type_of(&g, "blk.1.ffn_gate_inp.weight") == 0, "router kept F32");
        CHECK(type_of(&g, "blk.1.attn_norm.weight") == 0, "norms kept F32");
        int64_t ft;
        CHECK(fr_gguf_get_int(&g, "general.file_type", 0, 100, &ft) == 0 && ft == 15, "file_type 15 (MOSTLY_Q4_K_M)");
        CHECK(fr_gguf_kv_find(&g, "tokenizer.ggml.merges") != NULL, "metadata copied");
        fr_gguf_close(&g);
    }
    CHECK(fr_gguf_quantize(src, tmp("x.gguf"), "Q9_9", NULL, NULL) != 0 && strstr(fr_err_msg(), "Q9_9"), "unknown type");
    CHECK(access(tmp("x.gguf"), F_OK) != 0, "no file left behind");

    const char *names[] = {"a.gguf", "b.gguf", "q.gguf", "m.gguf"};
    for (int i = 0; i < 4; i++) unlink(tmp(names[i]));
    rmdir(g_dir);
    free(raw);
    free(txt);
    free(ref);
    return t_done();
}
