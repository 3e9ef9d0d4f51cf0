/* Decode speed and cache memory of a model at several context lengths.
 *
 *   kimi_linear_bench MODEL_DIR THREADS N_DECODE CTX [CTX ...]
 *
 * For each context length L: a fresh context holding L positions (taken as
 * held without a prefill, fr_context_bench_skip: decode cost depends on how
 * many positions the caches hold, not on their values), then N_DECODE tokens
 * decoded one at a time at positions L, L+1, ... Prints one line per L:
 *   L, decode tok/s, ms/token, cache bytes for L positions (fixed + per token * L),
 *   bytes the context actually allocated for its caches.
 * Built by bench/kimi_linear.sh against the library (internal headers). */
#include <stdio.h>
#include <stdlib.h>

#include "base/timer.h"
#include "frugal.h"
#include "runtime/model.h"

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: %s MODEL_DIR THREADS N_DECODE CTX [CTX ...]\n", argv[0]);
        return 2;
    }
    int threads = atoi(argv[2]), nd = atoi(argv[3]);
    frugal_model *m;
    if (frugal_model_load(argv[1], &m)) {
        fprintf(stderr, "error: %s\n", frugal_last_error());
        return 1;
    }
    frugal_model_info in;
    frugal_model_get_info(m, &in);
    printf("# %s: %lld params (%lld active), cache %lld B fixed + %lld B/token\n", argv[1], (long long)in.n_params,
           (long long)in.n_params_active, (long long)in.cache_bytes_fixed, (long long)in.cache_bytes_per_token);
    printf("# ctx  tok/s  ms/token  cache_bytes_at_ctx\n");
    for (int a = 4; a < argc; a++) {
        int L = atoi(argv[a]);
        frugal_context_params cp = frugal_context_default_params();
        cp.n_ctx = L + nd + 1;
        cp.n_threads = threads;
        frugal_context *ctx;
        if (frugal_context_create(m, &cp, &ctx) || fr_context_bench_skip(ctx, L)) {
            fprintf(stderr, "error: %s\n", frugal_last_error());
            return 1;
        }
        int32_t tok = 2;
        /* one untimed step warms the caches and the arena */
        if (frugal_eval(ctx, &tok, 1, L, 0)) {
            fprintf(stderr, "error: %s\n", frugal_last_error());
            return 1;
        }
        double t0 = fr_now();
        for (int j = 1; j <= nd; j++) {
            tok = (int32_t)((tok * 7 + 3) % in.n_vocab);
            if (frugal_eval(ctx, &tok, 1, L + j, 0)) {
                fprintf(stderr, "error: %s\n", frugal_last_error());
                return 1;
            }
        }
        double dt = fr_now() - t0;
        printf("%d %.2f %.2f %lld\n", L, nd / dt, 1e3 * dt / nd,
               (long long)(in.cache_bytes_fixed + in.cache_bytes_per_token * (long long)L));
        fflush(stdout);
        frugal_context_free(ctx);
    }
    frugal_model_free(m);
    return 0;
}
