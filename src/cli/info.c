/* frugal info: what a model is and what it costs per token. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "frugal.h"

static void help(FILE *f) {
    fprintf(f, "usage: frugal info -m MODEL\n\n"
               "Prints architecture, sizes, dtypes, parameter counts (total and active per\n"
               "token), weight bytes read per decoded token and cache bytes per token.\n\n"
               "  -m, --model PATH  model directory or .gguf file\n  -h, --help        this help\n");
}

static void human(char *buf, size_t n, double b) {
    const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int i = 0;
    while (b >= 1024 && i < 4) { b /= 1024; i++; }
    snprintf(buf, n, "%.2f %s", b, u[i]);
}

int cmd_info(int argc, char **argv) {
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) { help(stdout); return 0; }
        if (!strcmp(argv[i], "-m") || !strcmp(argv[i], "--model")) {
            if (!(path = cli_value(argc, argv, &i))) return 2;
        } else {
            fprintf(stderr, "error: info: unknown option '%s'\n", argv[i]);
            return 2;
        }
    }
    if (!path) { fprintf(stderr, "error: info needs -m MODEL\n"); return 2; }
    frugal_model *m;
    if (frugal_model_load(path, &m)) {
        fprintf(stderr, "error: %s\n", frugal_last_error());
        return 1;
    }
    frugal_model_info in;
    frugal_model_get_info(m, &in);
    char desc[4096], a[32], b[32], c[32], d[32];
    frugal_model_describe(m, desc, sizeof desc);
    human(a, sizeof a, (double)in.bytes_weights);
    human(b, sizeof b, (double)in.bytes_per_token);
    human(c, sizeof c, (double)in.cache_bytes_per_token);
    const int64_t cb16 = frugal_cache_bytes_per_token(&in, FRUGAL_CACHE_BF16);
    human(d, sizeof d, (double)cb16);
    printf("model: %s\narchitecture: %s\n%s", path, in.arch, desc);
    printf("parameters: %lld total, %lld active per token\n", (long long)in.n_params, (long long)in.n_params_active);
    printf("weights: %lld bytes (%s)\n", (long long)in.bytes_weights, a);
    printf("weight bytes read per token: %lld (%s)\n", (long long)in.bytes_per_token, b);
    printf("cache bytes per token: %lld (%s) with the default bf16 latent cache, %lld (%s) with f32\n",
           (long long)cb16, d, (long long)in.cache_bytes_per_token, c);
    printf("cache bytes fixed: %lld\n", (long long)in.cache_bytes_fixed);
    frugal_model_free(m);
    return 0;
}
