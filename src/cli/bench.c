/* frugal bench: prompt (pp) and generation (tg) speed, like llama-bench.
 *
 *   frugal bench -m MODEL [-p 512] [-n 128] [-t 2] [-r 5] [-d 0] [-k avx512,generic]
 *                [-o md|csv|json] [--bandwidth GBPS]
 *
 * pp N: one eval of N tokens at position DEPTH; tg N: N evals of one token
 * from position DEPTH. The DEPTH tokens before are evaluated once, untimed,
 * in a context of their own (all of them held at once). Token ids are random
 * (speed does not depend on them). Each test runs once untimed (warm-up),
 * then -r times, the depths taking turns run by run; t/s is the mean and
 * stddev of the runs.
 * Generation rows also show the bytes read per token (weights of one token +
 * the latent cache at that depth) and the share of the roofline: memory
 * bandwidth / bytes per token. The bandwidth is --bandwidth or measured here:
 * a read-only pass over 1 GiB with the -t threads, best of 3. "CPU got" is the
 * process CPU time over wall time x threads in the timed runs: on a shared
 * machine it says how much of the threads' time the scheduler gave. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/timer.h"
#include "cli/cli.h"
#include "frugal.h"

#define MAXL 16

static void help(FILE *f) {
    fprintf(f,
            "usage: frugal bench -m MODEL [options]\n\n"
            "Prompt processing (pp) and token generation (tg) speed in tokens/s, mean and\n"
            "stddev over the runs, with random token ids. Lists are comma-separated.\n\n"
            "  -m, --model DIR       model directory\n"
            "  -p, --n-prompt N,..   prompt tokens per pp test (default 512; 0 skips pp)\n"
            "  -n, --n-gen N,..      generated tokens per tg test (default 128; 0 skips tg)\n"
            "  -d, --n-depth N,..    context depth: tokens evaluated first, untimed (default 0)\n"
            "  -t, --threads N       threads (default 2)\n"
            "  -r, --repetitions N   timed runs per test (default 5)\n"
            "  -k, --kernels K,..    kernels to compare in this run: generic, avx2, avx512,\n"
            "                        avx512vnni, avx512bf16, amx (default: the best this CPU has)\n"
            "  -ctk, --cache-type-k T  latent cache type: f32, f16, bf16, q8_0, i8 (default: bf16;\n"
            "                        f32 with --exact)\n"
            "      --exact           float32 activations for quantized weights too (default:\n"
            "                        int8 activations for Q8_0/Q4_0/Q5_0/K-type weights,\n"
            "                        bfloat16 ones for FP8 weights and BF16 prefill)\n"
            "  -o, --output FMT      md (default), csv or json (array of objects)\n"
            "  -mmp, --mmap 0|1      1 (default): memory-map the weights; 0: read them into\n"
            "                        memory (transparent huge pages), as --no-mmap\n"
            "      --no-mmap         the same as -mmp 0\n"
            "      --bandwidth GBPS  memory read bandwidth for the roofline (GB/s);\n"
            "                        default: measured here (1 GiB read, -t threads)\n"
            "  -h, --help            this help\n");
}

static int parse_list(const char *flag, const char *s, long lo, long hi, long *out, int *n) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", s);
    *n = 0;
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        if (*n >= MAXL) {
            fprintf(stderr, "error: %s: at most %d values\n", flag, MAXL);
            return -1;
        }
        if (cli_int(flag, tok, lo, hi, &out[*n])) return -1;
        (*n)++;
    }
    if (!*n) {
        fprintf(stderr, "error: %s: no values\n", flag);
        return -1;
    }
    return 0;
}

/* ---- the runs ---------------------------------------------------------------- */

typedef struct row {
    const char *kernels;
    int n_prompt, n_gen, depth, threads;
    double avg, sd;
    double samples[64];
    int ns;
    double bytes_tok, roof_ts; /* tg only */
    double cpu;                /* process CPU time / (wall time x threads) in the timed runs */
} row;

static uint64_t g_rng = 0x2545f4914f6cdd1dull;
static int32_t rand_tok(int nv) {
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (int32_t)(g_rng % (uint64_t)nv);
}

/* evaluate [0, depth) untimed, in batches of 512 */
static int fill_depth(frugal_context *c, int depth, int nv, int32_t *toks) {
    for (int p = 0; p < depth; p += 512) {
        int k = depth - p < 512 ? depth - p : 512;
        for (int i = 0; i < k; i++) toks[i] = rand_tok(nv);
        if (frugal_eval(c, toks, k, p, 0)) return -1;
    }
    return 0;
}

/* one timed run; seconds */
static int run_once(frugal_context *c, int n_prompt, int n_gen, int depth, int nv, int32_t *toks, double *sec) {
    if (n_prompt > 0) {
        for (int i = 0; i < n_prompt; i++) toks[i] = rand_tok(nv);
        double t0 = fr_now();
        if (frugal_eval(c, toks, n_prompt, depth, 0)) return -1;
        *sec = fr_now() - t0;
        return 0;
    }
    double t0 = fr_now();
    for (int i = 0; i < n_gen; i++) {
        int32_t t = rand_tok(nv);
        if (frugal_eval(c, &t, 1, depth + i, 0)) return -1;
    }
    *sec = fr_now() - t0;
    return 0;
}

/* s as the inside of a JSON string */
static void json_str(const char *s) {
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') printf("\\%c", c);
        else if (c < 0x20) printf("\\u%04x", c);
        else putchar(c);
    }
}

static const char *test_name(const row *r, char *buf, size_t n) {
    if (r->n_prompt) snprintf(buf, n, "pp%d", r->n_prompt);
    else snprintf(buf, n, "tg%d", r->n_gen);
    if (r->depth) {
        size_t l = strlen(buf);
        snprintf(buf + l, n - l, " @ d%d", r->depth);
    }
    return buf;
}

int cmd_bench(int argc, char **argv) {
    const char *path = NULL, *fmt = "md", *kern = NULL;
    int ctk = 0, exact = 0, use_mmap = 1;
    long lp[MAXL] = {512}, ln[MAXL] = {128}, ld[MAXL] = {0}, threads = 2, reps = 5;
    int np = 1, nn = 1, nd = 1;
    double bw = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { help(stdout); return 0; }
#define VAL() if (!(v = cli_value(argc, argv, &i))) return 2
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) { VAL(); path = v; }
        else if (!strcmp(a, "--exact")) exact = 1;
        else if (!strcmp(a, "--no-mmap")) use_mmap = 0;
        else if (!strcmp(a, "-mmp") || !strcmp(a, "--mmap")) {
            VAL();
            long x;
            if (cli_int(a, v, 0, 1, &x)) return 2;
            use_mmap = (int)x;
        }
        else if (!strcmp(a, "-p") || !strcmp(a, "--n-prompt")) { VAL(); if (parse_list(a, v, 0, 1 << 20, lp, &np)) return 2; }
        else if (!strcmp(a, "-n") || !strcmp(a, "--n-gen")) { VAL(); if (parse_list(a, v, 0, 1 << 20, ln, &nn)) return 2; }
        else if (!strcmp(a, "-d") || !strcmp(a, "--n-depth")) { VAL(); if (parse_list(a, v, 0, 1 << 24, ld, &nd)) return 2; }
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) { VAL(); if (cli_int(a, v, 1, 1024, &threads)) return 2; }
        else if (!strcmp(a, "-r") || !strcmp(a, "--repetitions")) { VAL(); if (cli_int(a, v, 1, 64, &reps)) return 2; }
        else if (!strcmp(a, "-k") || !strcmp(a, "--kernels")) { VAL(); kern = v; }
        else if (!strcmp(a, "-ctk") || !strcmp(a, "--cache-type-k")) { VAL(); if ((ctk = cli_cache_type(a, v)) < 0) return 2; }
        else if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
            VAL();
            fmt = v;
            if (strcmp(fmt, "md") && strcmp(fmt, "csv") && strcmp(fmt, "json")) {
                fprintf(stderr, "error: %s: '%s' is not md, csv or json\n", a, fmt);
                return 2;
            }
        } else if (!strcmp(a, "--bandwidth")) {
            VAL();
            char *end;
            bw = strtod(v, &end);
            if (!*v || *end || !(bw > 0) || bw > 1e5) {
                fprintf(stderr, "error: --bandwidth: '%s' is not a positive number of GB/s\n", v);
                return 2;
            }
        } else {
            fprintf(stderr, "error: bench: unknown option '%s'\n", a);
            return 2;
        }
#undef VAL
    }
    if (!path) { fprintf(stderr, "error: bench needs -m MODEL\n"); return 2; }

    /* kernels to compare */
    char kbuf[256];
    const char *kl[8];
    int nk = 0;
    snprintf(kbuf, sizeof kbuf, "%s", kern ? kern : frugal_kernels());
    for (char *tok = strtok(kbuf, ","); tok && nk < 8; tok = strtok(NULL, ",")) {
        if (frugal_set_kernels(tok)) { fprintf(stderr, "error: %s\n", frugal_last_error()); return 2; }
        kl[nk++] = tok;
    }

    frugal_model *m;
    frugal_model_params mp = frugal_model_default_params();
    mp.use_mmap = use_mmap;
    if (!use_mmap) fprintf(stderr, "bench: reading the weights into memory ...\n");
    if (frugal_model_load_params(path, &mp, &m)) {
        fprintf(stderr, "error: %s\n", frugal_last_error());
        return 1;
    }
    frugal_model_info in;
    frugal_model_get_info(m, &in);
    int bw_measured = 0;
    if (bw <= 0) {
        fprintf(stderr, "bench: measuring memory read bandwidth (1 GiB, %ld threads)...\n", threads);
        if (frugal_read_bandwidth((int)threads, 3, &bw, NULL)) bw = -1;
        bw_measured = 1;
    }
    fprintf(stderr, "bench: cpu %s; bandwidth %.1f GB/s (%s); weights read per token %.1f MB (%s)\n",
            frugal_cpu_features(), bw, bw_measured ? "measured" : "given", (double)in.bytes_per_token / 1e6,
            use_mmap ? "memory-mapped" : "read into memory");

    int maxp = 0;
    for (int i = 0; i < np; i++) maxp = lp[i] > maxp ? (int)lp[i] : maxp;
    int32_t *toks = malloc(sizeof(int32_t) * (size_t)(maxp > 512 ? maxp : 512));
    row *rows = calloc((size_t)(nk * nd * (np + nn)), sizeof *rows);
    int nr = 0, rc = 0;
    if (!toks || !rows) { fprintf(stderr, "error: out of memory\n"); rc = 1; goto out; }

    frugal_context *ctx[MAXL] = {0};
    for (int ki = 0; ki < nk && !rc; ki++) {
        frugal_set_kernels(kl[ki]);
        int maxn = 0;
        for (int i = 0; i < nn; i++) maxn = ln[i] > maxn ? (int)ln[i] : maxn;
        /* one context per depth, each filled once; the tests rewind to it */
        for (int di = 0; di < nd && !rc; di++) {
            const int depth = (int)ld[di];
            frugal_context_params cp = {.n_ctx = depth + (maxp > maxn ? maxp : maxn) + 1, .n_threads = (int)threads,
                                        .cache_type = (frugal_cache_type)ctk, .exact = exact};
            if (frugal_context_create(m, &cp, &ctx[di])) {
                fprintf(stderr, "error: %s\n", frugal_last_error());
                rc = 1;
                break;
            }
            if (depth > 0) fprintf(stderr, "bench: %s filling depth %d ...\n", kl[ki], depth);
            if (fill_depth(ctx[di], depth, in.n_vocab, toks)) {
                fprintf(stderr, "error: %s\n", frugal_last_error());
                rc = 1;
            }
        }
        /* each test at every depth, the depths taking turns run by run: the machine's speed drifts over a
         * run (other tenants, memory bandwidth), and a depth's rows measured minutes apart from depth 0's
         * would carry that drift into their ratio */
        row *base = rows + nr; /* [depth][test]; a test of no tokens keeps its zeroed row and is left out below */
        memset(base, 0, sizeof *base * (size_t)(nd * (np + nn)));
        for (int ti = 0; ti < np + nn && !rc; ti++) {
            const int n_prompt = ti < np ? (int)lp[ti] : 0, n_gen = ti < np ? 0 : (int)ln[ti - np];
            if (n_prompt + n_gen == 0) continue;
            double wall[MAXL] = {0}, cpu[MAXL] = {0};
            for (int di = 0; di < nd; di++) {
                row *r = &base[di * (np + nn) + ti];
                *r = (row){.kernels = kl[ki], .n_prompt = n_prompt, .n_gen = n_gen, .depth = (int)ld[di],
                           .threads = (int)threads};
            }
            for (int k = -1; k < reps && !rc; k++) /* k = -1: the warm-up */
                for (int di = 0; di < nd && !rc; di++) {
                    row *r = &base[di * (np + nn) + ti];
                    char name[64];
                    if (k < 0) fprintf(stderr, "bench: %s %s ...\n", kl[ki], test_name(r, name, sizeof name));
                    double sec, c0 = fr_clock_s(CLOCK_PROCESS_CPUTIME_ID);
                    if (run_once(ctx[di], n_prompt, n_gen, r->depth, in.n_vocab, toks, &sec)) {
                        fprintf(stderr, "error: %s\n", frugal_last_error());
                        rc = 1;
                        break;
                    }
                    if (k < 0) continue;
                    cpu[di] += fr_clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
                    wall[di] += sec;
                    r->samples[r->ns++] = (n_prompt + n_gen) / sec;
                }
            for (int di = 0; di < nd && !rc; di++) {
                row *r = &base[di * (np + nn) + ti];
                r->cpu = wall[di] > 0 ? cpu[di] / (wall[di] * (double)threads) : 0;
                double sm = 0, ss = 0;
                for (int k = 0; k < r->ns; k++) sm += r->samples[k];
                r->avg = sm / r->ns;
                for (int k = 0; k < r->ns; k++) ss += (r->samples[k] - r->avg) * (r->samples[k] - r->avg);
                r->sd = r->ns > 1 ? sqrt(ss / (r->ns - 1)) : 0;
                if (n_gen) {
                    /* token i reads depth + i + 1 cache rows: on average depth + (n+1)/2 */
                    r->bytes_tok = (double)in.bytes_per_token + (double)in.cache_bytes_fixed +
                                   (double)frugal_cache_bytes_per_token(&in, frugal_context_cache_type(ctx[di])) *
                                       (r->depth + (n_gen + 1) / 2.0);
                    r->roof_ts = bw * 1e9 / r->bytes_tok;
                }
            }
        }
        /* the rows in llama-bench's order, depth by depth; tests of no tokens left out */
        for (int di = 0; di < nd && !rc; di++)
            for (int ti = 0; ti < np + nn; ti++)
                if (base[di * (np + nn) + ti].n_prompt + base[di * (np + nn) + ti].n_gen > 0)
                    rows[nr++] = base[di * (np + nn) + ti];
        for (int di = 0; di < nd; di++) {
            frugal_context_free(ctx[di]);
            ctx[di] = NULL;
        }
    }

    if (!rc) {
        char name[64];
        if (!strcmp(fmt, "md")) {
            printf("| model | size | params | kernels | threads | test | t/s | CPU got | bytes/token | roofline t/s | of roofline |\n"
                   "| --- | ---: | ---: | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |\n");
            for (int i = 0; i < nr; i++) {
                const row *r = &rows[i];
                printf("| %s | %.2f GiB | %.2f B | %s | %d | %s | %.2f ± %.2f |", in.arch,
                       (double)in.bytes_weights / (1 << 30), (double)in.n_params / 1e9, r->kernels, r->threads,
                       test_name(r, name, sizeof name), r->avg, r->sd);
                printf(" %.0f%% |", 100 * r->cpu);
                if (r->n_gen) printf(" %.1f MB | %.2f | %.1f%% |\n", r->bytes_tok / 1e6, r->roof_ts, 100 * r->avg / r->roof_ts);
                else printf(" | | |\n");
            }
            printf("\nbandwidth %.1f GB/s (%s), weights %s, cpu: %s\n"
                   "CPU got: process CPU time / (wall time x threads) in the timed runs; below 100%%\n"
                   "the machine was shared (or threads waited).\n",
                   bw, bw_measured ? "measured: 1 GiB read" : "given", use_mmap ? "memory-mapped" : "read into memory",
                   frugal_cpu_features());
        } else if (!strcmp(fmt, "csv")) {
            printf("model,kernels,n_threads,use_mmap,n_prompt,n_gen,n_depth,avg_ts,stddev_ts,bytes_per_token,"
                   "bandwidth_gbps,roofline_ts,roofline_share,cpu_share\n");
            for (int i = 0; i < nr; i++) {
                const row *r = &rows[i];
                printf("\"%s\",%s,%d,%d,%d,%d,%d,%.4f,%.4f,%.0f,%.2f,%.4f,%.4f,%.4f\n", path, r->kernels, r->threads,
                       use_mmap, r->n_prompt, r->n_gen, r->depth, r->avg, r->sd, r->bytes_tok, bw, r->roof_ts,
                       r->n_gen ? r->avg / r->roof_ts : 0, r->cpu);
            }
        } else {
            printf("[\n");
            for (int i = 0; i < nr; i++) {
                const row *r = &rows[i];
                printf("  {\"model\": \"");
                json_str(path);
                printf("\", \"arch\": \"%s\", \"kernels\": \"%s\", \"n_threads\": %d, \"use_mmap\": %s, "
                       "\"n_prompt\": %d, \"n_gen\": %d, \"n_depth\": %d, \"avg_ts\": %.6f, \"stddev_ts\": %.6f, "
                       "\"samples_ts\": [",
                       in.arch, r->kernels, r->threads, use_mmap ? "true" : "false", r->n_prompt, r->n_gen, r->depth,
                       r->avg, r->sd);
                for (int k = 0; k < r->ns; k++) printf("%s%.6f", k ? ", " : "", r->samples[k]);
                printf("], \"cpu_share\": %.4f, \"bandwidth_gbps\": %.3f", r->cpu, bw);
                if (r->n_gen)
                    printf(", \"bytes_per_token\": %.0f, \"roofline_ts\": %.6f, \"roofline_share\": %.6f", r->bytes_tok,
                           r->roof_ts, r->avg / r->roof_ts);
                printf("}%s\n", i + 1 < nr ? "," : "");
            }
            printf("]\n");
        }
    }
out:
    free(toks);
    free(rows);
    frugal_model_free(m);
    return rc;
}
