/* frugal eval: token ids in, logits / greedy tokens / MTP logits out. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "frugal.h"
#include "runtime/model.h"

static void help(FILE *f) {
    fprintf(f,
            "usage: frugal eval -m MODEL --ids \"0 5 7 ...\" [options]\n\n"
            "Evaluates the ids as one prompt from position 0 (one batch), then optionally\n"
            "generates greedily with the cache, one token per step.\n\n"
            "  -m, --model PATH       model directory (config.json + safetensors) or .gguf file\n"
            "      --ids \"I I ...\"     token ids, separated by spaces or commas\n"
            "      --logits OUT.f32   write float32 [n_ids, vocab] logits, one row per position\n"
            "      --greedy N         generate N tokens greedily; print their ids on one line\n"
            "      --decode-logits OUT.f32  with --greedy: write [N, vocab]: row 0 the last prompt\n"
            "                         position, row j the logits after feeding greedy token j-1\n"
            "      --mtp-logits OUT.f32  write the MTP module's logits [n_ids, vocab]: row i from\n"
            "                         the hidden state at i and token i+1 (the last row uses the\n"
            "                         first greedy token); embedding at position 0 zeroed\n"
            "      --mtp-nomask       with --mtp-logits: do not zero the position-0 embedding\n"
            "      --routing OUT.i32  write routed expert ids [n_moe_layers, n_ids, k]\n"
            "  -c, --ctx-size N       context size (default: prompt + generated tokens)\n"
            "  -t, --threads N        threads (default: all cores)\n"
            "  -ctk, --cache-type-k T latent cache type: f32, f16, bf16, q8_0, i8 (default: bf16;\n"
            "                         f32 with --exact)\n"
            "      --exact            float32 activations for quantized weights too (default:\n"
            "                         int8 activations for Q8_0/Q4_0/Q5_0/K-type weights, as llama.cpp;\n"
            "                         bfloat16 ones for FP8 weights and in BF16 prefill, as the official\n"
            "                         DeepSeek-V3 code)\n"
            "      --no-mmap          read the weights into memory instead of memory-mapping them\n"
            "  -h, --help             this help\n");
}

static int parse_ids(const char *s, int32_t **out, int *n) {
    int cap = 64, cnt = 0;
    int32_t *v = malloc((size_t)cap * sizeof *v);
    if (!v) return -1;
    const char *p = s;
    for (;;) {
        while (*p == ' ' || *p == ',' || *p == '\t' || *p == '\n') p++;
        if (!*p) break;
        char *end;
        long x = strtol(p, &end, 10);
        if (end == p || x < 0 || x > INT32_MAX) {
            fprintf(stderr, "error: --ids: '%.20s' is not a token id\n", p);
            free(v);
            return -1;
        }
        if (cnt == cap) {
            int32_t *nv = realloc(v, (size_t)(cap *= 2) * sizeof *v);
            if (!nv) { free(v); return -1; }
            v = nv;
        }
        v[cnt++] = (int32_t)x;
        p = end;
    }
    if (!cnt) {
        fprintf(stderr, "error: --ids: no token ids\n");
        free(v);
        return -1;
    }
    *out = v;
    *n = cnt;
    return 0;
}

static int argmax(const float *x, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

int cmd_eval(int argc, char **argv) {
    const char *model_path = NULL, *ids_s = NULL, *logits_path = NULL, *mtp_path = NULL, *routing_path = NULL,
               *dec_path = NULL;
    long n_greedy = 0, n_threads = 0, n_ctx = 0;
    int mtp_nomask = 0, cache_type = 0, exact = 0, no_mmap = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { help(stdout); return 0; }
        else if (!strcmp(a, "--mtp-nomask")) mtp_nomask = 1;
        else if (!strcmp(a, "--exact")) exact = 1;
        else if (!strcmp(a, "--no-mmap")) no_mmap = 1;
        else if (!strcmp(a, "-m") || !strcmp(a, "--model") || !strcmp(a, "--ids") || !strcmp(a, "--logits") ||
                 !strcmp(a, "--mtp-logits") || !strcmp(a, "--routing") || !strcmp(a, "--greedy") ||
                 !strcmp(a, "-t") || !strcmp(a, "--threads") || !strcmp(a, "-c") || !strcmp(a, "--ctx-size") ||
                 !strcmp(a, "--decode-logits") || !strcmp(a, "-ctk") || !strcmp(a, "--cache-type-k")) {
            if (!(v = cli_value(argc, argv, &i))) return 2;
            if (!strcmp(a, "-m") || !strcmp(a, "--model")) model_path = v;
            else if (!strcmp(a, "--ids")) ids_s = v;
            else if (!strcmp(a, "--logits")) logits_path = v;
            else if (!strcmp(a, "--mtp-logits")) mtp_path = v;
            else if (!strcmp(a, "--routing")) routing_path = v;
            else if (!strcmp(a, "--decode-logits")) dec_path = v;
            else if (!strcmp(a, "--greedy")) { if (cli_int(a, v, 0, 1 << 20, &n_greedy)) return 2; }
            else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) { if (cli_int(a, v, 0, 1024, &n_threads)) return 2; }
            else if (!strcmp(a, "-ctk") || !strcmp(a, "--cache-type-k")) { if ((cache_type = cli_cache_type(a, v)) < 0) return 2; }
            else if (cli_int(a, v, 1, 1 << 24, &n_ctx)) return 2;
        } else {
            fprintf(stderr, "error: eval: unknown option '%s' (see frugal eval --help)\n", a);
            return 2;
        }
    }
    if (!model_path || !ids_s) {
        fprintf(stderr, "error: eval needs -m MODEL and --ids (see frugal eval --help)\n");
        return 2;
    }
    int32_t *ids;
    int n;
    if (parse_ids(ids_s, &ids, &n)) return 2;

    int rc = 1;
    frugal_model *model = NULL;
    frugal_context *ctx = NULL;
    float *mtp = NULL, *dec = NULL;
    int32_t *gen = NULL, *route = NULL;
    frugal_model_params mp = frugal_model_default_params();
    mp.use_mmap = !no_mmap;
    if (frugal_model_load_params(model_path, &mp, &model)) goto done;
    frugal_model_info in;
    frugal_model_get_info(model, &in);
    frugal_context_params cp = frugal_context_default_params();
    cp.n_ctx = n_ctx ? (int)n_ctx : n + (int)n_greedy + 1;
    cp.n_threads = (int)n_threads;
    cp.cache_type = (frugal_cache_type)cache_type;
    cp.exact = exact;
    if (frugal_context_create(model, &cp, &ctx)) goto done;

    /* routing trace: [n_moe_layers][n][k] */
    size_t nroute = (size_t)in.n_moe_layers * n * in.n_expert_used;
    if (routing_path && nroute) {
        route = malloc(nroute * sizeof *route);
        if (!route) { fprintf(stderr, "error: out of memory\n"); goto done; }
        fr_trace tr = {.moe_idx = route};
        fr_context_set_trace(ctx, &tr);
    }
    int e = frugal_eval(ctx, ids, n, 0, 1);
    fr_context_set_trace(ctx, NULL);
    if (e) goto done;
    if (routing_path && cli_write_bytes(routing_path, route, nroute * sizeof *route)) goto done;
    if (logits_path && cli_write_f32(logits_path, frugal_get_logits(ctx, 0), (size_t)n * in.n_vocab)) goto done;

    int first = argmax(frugal_get_logits(ctx, n - 1), in.n_vocab);
    if (mtp_path) {
        int32_t *next = malloc((size_t)n * sizeof *next);
        mtp = malloc((size_t)n * in.n_vocab * sizeof *mtp);
        if (!next || !mtp) { free(next); fprintf(stderr, "error: out of memory\n"); goto done; }
        for (int i = 0; i + 1 < n; i++) next[i] = ids[i + 1];
        next[n - 1] = first;
        e = frugal_eval_mtp(ctx, next, !mtp_nomask, mtp);
        free(next);
        if (e || cli_write_f32(mtp_path, mtp, (size_t)n * in.n_vocab)) goto done;
    }
    if (n_greedy > 0) {
        gen = malloc((size_t)n_greedy * sizeof *gen);
        if (dec_path) dec = malloc((size_t)n_greedy * in.n_vocab * sizeof *dec);
        if (!gen || (dec_path && !dec)) { fprintf(stderr, "error: out of memory\n"); goto done; }
        const float *lg = frugal_get_logits(ctx, n - 1);
        for (long j = 0; j < n_greedy; j++) {
            if (dec) memcpy(dec + (size_t)j * in.n_vocab, lg, (size_t)in.n_vocab * sizeof *lg);
            gen[j] = argmax(lg, in.n_vocab);
            if (j + 1 == n_greedy) break;
            if (frugal_eval(ctx, &gen[j], 1, n + (int)j, 0)) goto done;
            lg = frugal_get_logits(ctx, 0);
        }
        for (long j = 0; j < n_greedy; j++) printf("%s%d", j ? " " : "", gen[j]);
        printf("\n");
        if (dec_path && cli_write_f32(dec_path, dec, (size_t)n_greedy * in.n_vocab)) goto done;
    }
    rc = 0;
done:
    if (rc) fprintf(stderr, "error: %s\n", frugal_last_error());
    free(ids);
    free(mtp);
    free(dec);
    free(gen);
    free(route);
    frugal_context_free(ctx);
    frugal_model_free(model);
    return rc;
}
