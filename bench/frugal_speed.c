/* frugal_speed: pp/tg timings over frugal's public API with the same method as
 * bench/llama_driver.c's bench mode (so the two engines are timed alike), and a
 * STREAM-like read-bandwidth measurement for the roofline.
 *
 *   frugal_speed bandwidth [-t 2]
 *       frugal_read_bandwidth: a 1 GiB buffer (>> caches) read in 64-byte vectors by T threads, best of 5;
 *       prints "RESULT bandwidth_gbps=... bandwidth_cpu_gbps=...": bytes over wall time, and the
 *       sum over the threads of their bytes over their own CPU time (what the threads would read
 *       with the cores to themselves, on a shared machine)
 *   frugal_speed bench -m MODEL [-p 512] [-n 128] [-d 0,4096] [-r 3] [-t 2] [--mmap 0|1]
 *       (--mmap 0: the weights read into memory, frugal_model_params.use_mmap = 0.)
 *       ppN: one frugal_eval of N random tokens at position DEPTH; tgN: N evals of one token.
 *       The DEPTH tokens are evaluated once (untimed, 512 at a time) in a context per depth; each run
 *       rewinds to them, and the depths take turns run by run (one drift of the machine for all).
 *       One untimed warm-up run per test. Prints "RESULT ..." lines with t/s mean and stddev,
 *       and the bytes one decoded token reads (weights + latent cache at that depth).
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "frugal.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* CPU time of the whole process (all threads): cpu / (wall x threads) over the timed runs says
 * how much of its threads' time a shared machine gave it */
static double cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- bandwidth: frugal_read_bandwidth (the same measure as `frugal bench`) ---- */

static int run_bandwidth(int threads) {
    double g, gc;
    if (frugal_read_bandwidth(threads, 5, &g, &gc)) {
        fprintf(stderr, "error: %s\n", frugal_last_error());
        return -1;
    }
    printf("RESULT bandwidth_gbps=%.2f bandwidth_cpu_gbps=%.2f threads=%d buffer_gib=1\n", g, gc, threads);
    return 0;
}

/* ---- bench ---- */

static void stats(const double *ts, int r, double *mean, double *sd) {
    double s = 0, q = 0;
    for (int i = 0; i < r; i++) s += ts[i];
    *mean = s / r;
    for (int i = 0; i < r; i++) q += (ts[i] - *mean) * (ts[i] - *mean);
    *sd = r > 1 ? sqrt(q / (r - 1)) : 0;
}

static int fill(frugal_context *c, const int32_t *tok, int n) {
    for (int p = 0; p < n; p += 512)
        if (frugal_eval(c, tok + p, n - p < 512 ? n - p : 512, p, 0)) return -1;
    return 0;
}

static int run_bench(const char *path, int pp, int tg, const char *depths, int reps, int threads, int use_mmap) {
    frugal_model *m;
    frugal_model_params mp = frugal_model_default_params();
    mp.use_mmap = use_mmap;
    if (frugal_model_load_params(path, &mp, &m)) {
        fprintf(stderr, "error: %s\n", frugal_last_error());
        return -1;
    }
    frugal_model_info in;
    frugal_model_get_info(m, &in);
    enum { MAXD = 16 };
    long dep[MAXD];
    int nd = 0, rc = 0;
    for (const char *d = depths; *d;) {
        char *end;
        long depth = strtol(d, &end, 10);
        if (end == d || depth < 0 || depth > 1 << 20 || nd == MAXD) {
            fprintf(stderr, "error: -d: bad depth list '%s' (at most %d)\n", depths, MAXD);
            frugal_model_free(m);
            return -1;
        }
        dep[nd++] = depth;
        d = *end == ',' ? end + 1 : end;
    }
    /* a context per depth, all filled first; then each test at every depth, the depths taking turns
     * run by run, so the ratio of a depth's speed to depth 0's does not carry the machine's drift
     * between two phases minutes apart */
    uint64_t state = 0x9E3779B97F4A7C15ull;
    frugal_context *ctx[MAXD] = {0};
    int32_t *toks[MAXD] = {0};
    for (int di = 0; di < nd && rc == 0; di++) {
        const long depth = dep[di];
        int ntok = (int)depth + (pp > tg ? pp : tg);
        int32_t *tok = toks[di] = malloc((size_t)ntok * sizeof *tok);
        for (int i = 0; tok && i < ntok; i++) {
            state = state * 6364136223846793005ull + 1442695040888963407ull;
            tok[i] = (int32_t)((state >> 33) % (uint64_t)in.n_vocab);
        }
        frugal_context_params cp = frugal_context_default_params();
        cp.n_ctx = ntok + 1;
        cp.n_threads = threads;
        const char *ctk = getenv("FRUGAL_CTK"); /* latent cache type: f32, f16, bf16, q8_0, i8 (default: bf16) */
        const int cti = ctk && *ctk ? frugal_cache_type_from_name(ctk) : -1;
        if (cti >= 0) cp.cache_type = (frugal_cache_type)cti;
        if (!tok || frugal_context_create(m, &cp, &ctx[di]) || (depth > 0 && fill(ctx[di], tok, (int)depth))) {
            fprintf(stderr, "error: %s\n", frugal_last_error());
            rc = -1;
        }
    }
    for (int test = 0; rc == 0 && test < 2; test++) {
        int n = test == 0 ? pp : tg;
        if (n <= 0) continue;
        double *ts = calloc((size_t)nd * (size_t)reps, sizeof *ts), wall[MAXD] = {0}, cpu[MAXD] = {0};
        for (int r = 0; ts && rc == 0 && r <= reps; r++) /* r == 0: warm-up */
            for (int di = 0; di < nd && rc == 0; di++) {
                frugal_context *c = ctx[di];
                const int32_t *tok = toks[di];
                const long depth = dep[di];
                double t0 = now_s(), c0 = cpu_s();
                if (test == 0) rc = frugal_eval(c, tok + depth, n, (int)depth, 0);
                else
                    for (int i = 0; i < (r ? n : 1) && rc == 0; i++) rc = frugal_eval(c, tok + depth + i, 1, (int)depth + i, 0);
                if (r) {
                    ts[(size_t)di * reps + r - 1] = n / (now_s() - t0);
                    wall[di] += now_s() - t0;
                    cpu[di] += cpu_s() - c0;
                }
            }
        if (!ts || rc) {
            fprintf(stderr, "error: %s\n", frugal_last_error());
            rc = -1;
        }
        for (int di = 0; di < nd && rc == 0; di++) {
            const long depth = dep[di];
            double mean, sd;
            stats(ts + (size_t)di * reps, reps, &mean, &sd);
            /* a decoded token at depth+i reads depth+i+1 cache rows: on average depth+(n+1)/2 */
            double bytes = test == 1 ? (double)in.bytes_per_token +
                                           (double)frugal_cache_bytes_per_token(&in, frugal_context_cache_type(ctx[di])) *
                                               ((double)depth + (n + 1) / 2.0)
                                     : 0;
            printf("RESULT engine=frugal file=%s test=%s%d depth=%ld threads=%d reps=%d tps=%.4f sd=%.4f "
                   "bytes_per_token=%.0f cpu_share=%.3f mmap=%d\n",
                   path, test == 0 ? "pp" : "tg", n, depth, threads, reps, mean, sd, bytes,
                   cpu[di] / (wall[di] * threads), use_mmap);
            fflush(stdout);
        }
        free(ts);
    }
    for (int di = 0; di < nd; di++) {
        frugal_context_free(ctx[di]);
        free(toks[di]);
    }
    frugal_model_free(m);
    return rc;
}

int main(int argc, char **argv) {
    if (argc < 2 || (strcmp(argv[1], "bench") && strcmp(argv[1], "bandwidth"))) {
        fprintf(stderr, "usage: frugal_speed bandwidth [-t 2]\n"
                        "       frugal_speed bench -m MODEL [-p 512] [-n 128] [-d 0,4096] [-r 3] [-t 2]"
                        " [--mmap 0|1]\n");
        return 2;
    }
    const char *path = NULL, *depths = "0";
    int threads = 2, pp = 512, tg = 128, reps = 3, use_mmap = 1;
    for (int i = 2; i + 1 < argc; i += 2) {
        const char *a = argv[i], *v = argv[i + 1];
        if (!strcmp(a, "-m")) path = v;
        else if (!strcmp(a, "-d")) depths = v;
        else if (!strcmp(a, "-t")) threads = atoi(v);
        else if (!strcmp(a, "-p")) pp = atoi(v);
        else if (!strcmp(a, "-n")) tg = atoi(v);
        else if (!strcmp(a, "-r")) reps = atoi(v);
        else if (!strcmp(a, "--mmap")) use_mmap = atoi(v) != 0;
        else {
            fprintf(stderr, "error: unknown option %s\n", a);
            return 2;
        }
    }
    if (threads < 1 || threads > 64 || reps < 1 || pp < 0 || tg < 0 || pp > 65536 || tg > 65536) {
        fprintf(stderr, "error: bad option value\n");
        return 2;
    }
    if (!strcmp(argv[1], "bandwidth")) return run_bandwidth(threads) ? 1 : 0;
    if (!path) {
        fprintf(stderr, "error: bench needs -m MODEL\n");
        return 2;
    }
    return run_bench(path, pp, tg, depths, reps, threads, use_mmap) ? 1 : 0;
}
