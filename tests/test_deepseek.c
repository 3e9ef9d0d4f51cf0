/* DeepSeek-V2/V3 against the official reference outputs (tests/fixtures/deepseek):
 * logits of every prompt (batched prefill and token-by-token), routed expert ids
 * and weights, per-layer hidden states, decode logits and greedy tokens with the
 * cache, MTP logits (masked and unmasked). */
#include <jansson.h>

#include "frugal.h"
#include "layers/mla.h"
#include "runtime/model.h"
#include "testutil.h"

#define TOL 1e-4
/* The default (not exact) path: FP8 weights round the activations to bfloat16
 * (kernels/avx512/dpbf16.h), and so does the prefill of BF16 weights (single
 * tokens stay exact there). Measured on v3_fp8_tiny: decode logits 1.6e-3 to
 * 2.7e-3; token by token 2.8e-3 or less at every position but one, where a
 * router near-tie picks another expert (7.6e-2; the greedy tokens all match).
 * Prefill likewise: a few near-ties pick other experts (see the routing check)
 * and put their rows, and the MTP rows after them, 0.1-0.3 off. So not exact,
 * up to 4 % of the rows may pass TOL_FAST (rows_ok). */
#define TOL_FAST 1e-1

static int g_exact = 1;    /* the context's exact flag for the current pass */
static double g_tol = TOL; /* the tolerance in it */

typedef struct ref {
    const char *dir;
    json_t *meta, *tokens;
} ref;

/* a [rows][w] against want: exact, every row within g_tol; not exact, all but
 * 4 % of the rows (one of 8 to 49; none of fewer than 8, so that a short
 * prompt's check can still fail); *worst: the largest row-relative error */
static int rows_ok(const float *a, const float *want, size_t rows, size_t w, double *worst) {
    size_t allow = rows / 25;
    if (allow < 1 && rows >= 8) allow = 1;
    const size_t over = (size_t)t_rows_over(a, want, rows, w, g_tol, worst);
    return g_exact ? over == 0 : over <= allow;
}

static float *load_f32(const ref *r, int p, const char *kind, size_t expect) {
    char rel[512];
    snprintf(rel, sizeof rel, "deepseek/%s/reference/p%d.%s.%s", r->dir, p, kind,
             strcmp(kind, "moe_indices") ? "f32" : "i32");
    size_t n = 0;
    float *x = t_read(t_fixture(rel), &n);
    if (x && n != expect * 4) {
        free(x);
        return NULL;
    }
    return x;
}

/* meta.json holds non-standard JSON (Infinity) in its checks: read it as null */
static json_t *load_json(const char *path) {
    size_t n;
    char *txt = t_read(path, &n);
    if (!txt) return NULL;
    for (size_t i = 0; i + 8 <= n; i++)
        if (!memcmp(txt + i, "Infinity", 8)) memcpy(txt + i, "null    ", 8);
    json_error_t je;
    json_t *j = json_loadb(txt, n, 0, &je);
    if (!j) fprintf(stderr, "%s: %s (line %d)\n", path, je.text, je.line);
    free(txt);
    return j;
}

static int argmax(const float *x, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

static void run_prompt(const ref *r, frugal_model *m, int p) {
    frugal_model_info in;
    frugal_model_get_info(m, &in);
    const int V = in.n_vocab, d = in.n_embd, k = in.n_expert_used, nm = in.n_moe_layers;
    json_t *toks = json_array_get(json_object_get(r->tokens, "prompts"), (size_t)p);
    json_t *pm = json_array_get(json_object_get(r->meta, "prompts"), (size_t)p);
    int T = (int)json_array_size(toks);
    int32_t *ids = malloc((size_t)T * sizeof *ids);
    for (int i = 0; i < T; i++) ids[i] = (int32_t)json_integer_value(json_array_get(toks, (size_t)i));

    frugal_context_params cp = frugal_context_default_params();
    cp.n_ctx = T + 16;
    cp.n_threads = 2;
    cp.exact = g_exact;
    cp.cache_type = FRUGAL_CACHE_F32; /* the model math; the cache's rounding: test_cache_types */
    frugal_context *ctx;
    CHECK(frugal_context_create(m, &cp, &ctx) == 0, "%s: context: %s", r->dir, frugal_last_error());

    /* batched prefill with traces */
    int32_t *route = calloc((size_t)nm * T * k + 1, sizeof *route);
    float *rw = calloc((size_t)nm * T * k + 1, sizeof *rw);
    float *hid = calloc((size_t)in.n_layer * T * d, sizeof *hid);
    fr_trace tr = {.moe_idx = route, .moe_w = rw, .hidden_layers = hid};
    fr_context_set_trace(ctx, &tr);
    CHECK(frugal_eval(ctx, ids, T, 0, 1) == 0, "%s p%d: eval: %s", r->dir, p, frugal_last_error());
    fr_context_set_trace(ctx, NULL);

    float *ref_logits = load_f32(r, p, "logits", (size_t)T * V);
    CHECK(ref_logits != NULL, "%s p%d: reference logits", r->dir, p);
    if (ref_logits) {
        double e;
        CHECK(rows_ok(frugal_get_logits(ctx, 0), ref_logits, (size_t)T, (size_t)V, &e),
              "%s p%d: prefill logits rel err %.3g", r->dir, p, e);
        printf("%-14s p%d T=%-3d prefill logits  rel err %.3g\n", r->dir, p, T, e);
    }
    float *ref_h = load_f32(r, p, "hidden_layers", (size_t)in.n_layer * T * d);
    if (ref_h) {
        double e;
        CHECK(rows_ok(hid, ref_h, (size_t)in.n_layer * T, (size_t)d, &e), "%s p%d: hidden layers rel err %.3g",
              r->dir, p, e);
    }
    float *ref_fh = load_f32(r, p, "final_hidden", (size_t)T * d);
    if (ref_fh) {
        double e;
        CHECK(rows_ok(frugal_get_hidden(ctx, 0), ref_fh, (size_t)T, (size_t)d, &e), "%s p%d: final hidden rel err %.3g",
              r->dir, p, e);
    }
    int32_t *ref_idx = (int32_t *)load_f32(r, p, "moe_indices", (size_t)nm * T * k);
    float *ref_w = load_f32(r, p, "moe_weights", (size_t)nm * T * k);
    CHECK(ref_idx && ref_w, "%s p%d: reference routing", r->dir, p);
    if (ref_idx && ref_w) {
        /* exact: every expert id; not exact, a router near-tie may pick another expert:
         * at most 3 % of the ids (or one), and the weights compared where a token's ids
         * all match (measured: 1 of 14, 1-3 of 128 and 2-5 of 400 routed tokens) */
        int bad = 0;
        double e = 0;
        for (size_t row = 0; row < (size_t)nm * T; row++) {
            int same = 1;
            for (int i = 0; i < k; i++) same &= ref_idx[row * k + i] == route[row * k + i];
            bad += k - same * k > 0 ? 1 : 0;
            if (same) {
                double er = t_row_rel_err(rw + row * k, ref_w + row * k, 1, (size_t)k);
                e = er > e ? er : e;
            }
        }
        if (!g_exact && bad) printf("%s p%d: %d of %d routed tokens pick other experts (not exact)\n", r->dir, p, bad, nm * T);
        CHECK(g_exact ? bad == 0 : bad <= 1 || bad * 33 <= nm * T, "%s p%d: %d of %d routed tokens pick other experts",
              r->dir, p, bad, nm * T);
        CHECK(e <= g_tol, "%s p%d: routing weights rel err %.3g", r->dir, p, e);
    }

    /* MTP over the prompt rows: next token i+1, the last one greedy_tokens[0] */
    json_t *greedy = json_object_get(pm, "greedy_tokens");
    if (in.n_mtp) {
        int32_t *next = malloc((size_t)T * sizeof *next);
        float *mtp = malloc((size_t)T * V * sizeof *mtp);
        for (int i = 0; i + 1 < T; i++) next[i] = ids[i + 1];
        next[T - 1] = (int32_t)json_integer_value(json_array_get(greedy, 0));
        float *ref_mtp = load_f32(r, p, "mtp_logits", (size_t)T * V);
        CHECK(ref_mtp != NULL, "%s p%d: reference mtp_logits", r->dir, p);
        CHECK(frugal_eval_mtp(ctx, next, 1, mtp) == 0, "%s p%d: mtp: %s", r->dir, p, frugal_last_error());
        if (ref_mtp) {
            double e;
            CHECK(rows_ok(mtp, ref_mtp, (size_t)T, (size_t)V, &e), "%s p%d: mtp logits rel err %.3g", r->dir, p, e);
            printf("%-14s p%d T=%-3d mtp logits      rel err %.3g\n", r->dir, p, T, e);
        }
        float *ref_nm = load_f32(r, p, "mtp_logits_nomask", (size_t)T * V);
        if (ref_nm) { /* the MTP cache is rewritten at the same positions */
            CHECK(frugal_eval_mtp(ctx, next, 0, mtp) == 0, "%s p%d: mtp nomask: %s", r->dir, p, frugal_last_error());
            double e;
            CHECK(rows_ok(mtp, ref_nm, (size_t)T, (size_t)V, &e), "%s p%d: mtp nomask logits rel err %.3g", r->dir, p,
                  e);
        }
        free(ref_mtp);
        free(ref_nm);
        free(next);
        free(mtp);
    }

    /* greedy decode with the cache: 16 rows of decode_logits */
    float *ref_dec = load_f32(r, p, "decode_logits", (size_t)16 * V);
    CHECK(ref_dec != NULL, "%s p%d: reference decode_logits", r->dir, p);
    int bad_tok = 0;
    double dec_err = 0;
    const float *lg = frugal_get_logits(ctx, T - 1);
    for (int j = 0; j < 16 && lg; j++) {
        if (ref_dec) {
            double e = t_row_rel_err(lg, ref_dec + (size_t)j * V, 1, (size_t)V);
            dec_err = e > dec_err ? e : dec_err;
        }
        int32_t tok = argmax(lg, V);
        bad_tok += tok != (int32_t)json_integer_value(json_array_get(greedy, (size_t)j));
        if (j == 15) break;
        if (frugal_eval(ctx, &tok, 1, T + j, 0) != 0) {
            CHECK(0, "%s p%d: decode step %d: %s", r->dir, p, j, frugal_last_error());
            break;
        }
        lg = frugal_get_logits(ctx, 0);
    }
    CHECK(dec_err <= g_tol, "%s p%d: decode logits rel err %.3g", r->dir, p, dec_err);
    CHECK(bad_tok == 0, "%s p%d: %d greedy tokens differ", r->dir, p, bad_tok);
    printf("%-14s p%d T=%-3d decode logits   rel err %.3g, greedy %s%s\n", r->dir, p, T, dec_err,
           bad_tok ? "DIFFER" : "16/16", g_exact ? "" : " (not exact)");

    /* the incremental path over the prompt: one token per eval, rewinding to 0 */
    if (T <= 64 && ref_logits) {
        double e = 0;
        for (int i = 0; i < T; i++) {
            if (frugal_eval(ctx, ids + i, 1, i, 0) != 0) {
                CHECK(0, "%s p%d: step %d: %s", r->dir, p, i, frugal_last_error());
                break;
            }
            double ei = t_row_rel_err(frugal_get_logits(ctx, 0), ref_logits + (size_t)i * V, 1, (size_t)V);
            e = ei > e ? ei : e;
        }
        CHECK(e <= g_tol, "%s p%d: token-by-token logits rel err %.3g", r->dir, p, e);
    }
    /* rewind: re-evaluating the second half of the prompt gives the same rows */
    if (T >= 4 && ref_logits) {
        int h = T / 2;
        CHECK(frugal_eval(ctx, ids, T, 0, 1) == 0, "re-eval");
        CHECK(frugal_eval(ctx, ids + h, T - h, h, 1) == 0, "%s p%d: rewind: %s", r->dir, p, frugal_last_error());
        double e = t_row_rel_err(frugal_get_logits(ctx, 0), ref_logits + (size_t)h * V, (size_t)(T - h), (size_t)V);
        CHECK(e <= g_tol, "%s p%d: rewound logits rel err %.3g", r->dir, p, e);
    }

    free(ref_logits);
    free(ref_h);
    free(ref_fh);
    free(ref_idx);
    free(ref_w);
    free(ref_dec);
    free(route);
    free(rw);
    free(hid);
    free(ids);
    frugal_context_free(ctx);
}

/* fr_mla_wk_b: the transposed W_UK of every head (k_b, made from a fused
 * kv_b at load) holds kv_b's values exactly, FP8 with its block scales, BF16;
 * FP8 of heads not made of whole 128 x 128 blocks, and Q8_0, are refused */
static void test_wk_b(void) {
    const int H = 2, dn = 128, dv = 128, r = 256, rows = H * (dn + dv);
    unsigned char *q = malloc((size_t)rows * r * 2);
    float sc[4 * 2], a[256], b[256];
    for (size_t i = 0; i < (size_t)rows * r * 2; i++) q[i] = (unsigned char)((i * 37 + i / 7) % 255) & 0xf7;
    for (int i = 0; i < 8; i++) sc[i] = 0.01f * (float)(i + 1);
    for (int bf = 0; bf < 2; bf++) {
        const fr_dtype dt = bf ? FR_DT_BF16 : FR_DT_F8_E4M3;
        const fr_tensor kvb = {.name = "kv_b", .dtype = dt, .ndim = 2, .ne = {rows, r}, .data = q,
                               .nbytes = fr_dtype_bytes(dt, (int64_t)rows * r), .scale = bf ? NULL : sc};
        fr_tensor kb;
        void *d = NULL;
        float *s = NULL;
        CHECK(fr_mla_wk_b(&kvb, H, dn, dv, r, &kb, &d, &s) == 1, "wk_b %s: not made", bf ? "BF16" : "FP8");
        fr_tensor k2 = kb;
        k2.ndim = 2, k2.ne[0] = (int64_t)H * r, k2.ne[1] = dn;
        int bad = 0;
        for (int h = 0; h < H; h++)
            for (int i = 0; i < dn; i++) {
                fr_tensor_row_f32(&kvb, h * (dn + dv) + i, a); /* row i of head h: W_UK_h[i][.] */
                for (int j = 0; j < r; j++) {
                    fr_tensor_row_f32(&k2, (int64_t)h * r + j, b);
                    if (memcmp(&a[j], &b[i], sizeof(float))) bad++;
                }
            }
        CHECK(!bad, "wk_b %s: %d values differ from kv_b's", bf ? "BF16" : "FP8", bad);
        free(d), free(s);
    }
    fr_tensor odd = {.name = "kv_b", .dtype = FR_DT_F8_E4M3, .ndim = 2, .ne = {H * (32 + 32), 64}, .data = q,
                     .nbytes = (size_t)H * 64 * 64, .scale = sc};
    fr_tensor kb;
    void *d = NULL;
    float *s = NULL;
    CHECK(fr_mla_wk_b(&odd, H, 32, 32, 64, &kb, &d, &s) == 0, "wk_b: FP8 heads of 32 rows not refused");
    odd.dtype = FR_DT_Q8_0;
    CHECK(fr_mla_wk_b(&odd, H, 32, 32, 64, &kb, &d, &s) == 0, "wk_b: Q8_0 not refused");
    free(q);
}

int main(int argc, char **argv) {
    if (argc <= 1) test_wk_b();
    const char *dirs[] = {"v2lite_tiny", "v3_tiny", "v3_fp8_tiny", "v3_yarn_tiny"};
    for (size_t f = 0; f < sizeof dirs / sizeof *dirs; f++) {
        if (argc > 1 && strcmp(argv[1], dirs[f]) != 0) continue;
        ref r = {.dir = dirs[f]};
        char rel[256];
        snprintf(rel, sizeof rel, "deepseek/%s/reference/meta.json", dirs[f]);
        r.meta = load_json(t_fixture(rel));
        snprintf(rel, sizeof rel, "deepseek/%s/tokens.json", dirs[f]);
        r.tokens = load_json(t_fixture(rel));
        CHECK(r.meta && r.tokens, "%s: meta.json / tokens.json", dirs[f]);
        snprintf(rel, sizeof rel, "deepseek/%s", dirs[f]);
        frugal_model *m = NULL;
        /* every other fixture read into memory (--no-mmap) instead of mapped: both load paths meet the reference */
        frugal_model_params mp = frugal_model_default_params();
        mp.use_mmap = f % 2 == 0;
        int rc = frugal_model_load_params(t_fixture(rel), &mp, &m);
        CHECK(rc == 0, "%s (use_mmap %d): load: %s", dirs[f], mp.use_mmap, frugal_last_error());
        if (rc == 0 && r.meta && r.tokens) {
            size_t np = json_array_size(json_object_get(r.tokens, "prompts"));
            /* exact; then FP8 weights again on the default (not exact) path, whose
             * single-token kernel rounds activations to bfloat16 */
            for (int pass = 0; pass < 2; pass++) {
                g_exact = pass == 0;
                g_tol = pass == 0 ? TOL : TOL_FAST;
                for (size_t p = 0; p < np; p++) run_prompt(&r, m, (int)p);
            }
        }
        frugal_model_free(m);
        json_decref(r.meta);
        json_decref(r.tokens);
    }
    return t_done();
}
