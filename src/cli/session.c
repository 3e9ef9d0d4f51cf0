#include "cli/session.h"

#include <stdlib.h>
#include <string.h>

#include "base/timer.h"
#include "cli/cli.h"

#ifndef FRUGAL_SOURCE_DIR
#define FRUGAL_SOURCE_DIR "."
#endif

const char *cli_default_model(void) {
    static char path[4096];
    FILE *f = fopen("models/kjv-demo/config.json", "r");
    if (f) { /* run from the repository root */
        fclose(f);
        return "models/kjv-demo";
    }
    snprintf(path, sizeof path, "%s/models/kjv-demo", FRUGAL_SOURCE_DIR);
    return path;
}

void cli_opts_init(cli_opts *o) {
    memset(o, 0, sizeof *o);
    o->n_predict = 128;
    o->sp = frugal_sampler_default_params();
}

void cli_common_help(FILE *f) {
    fprintf(f,
            "  -m, --model DIR        model directory (default: the demo model, models/kjv-demo)\n"
            "  -n, --n-predict N      tokens to generate (default 128; -1 = until EOS or context end)\n"
            "  -c, --ctx-size N       context size (default: enough for prompt + generation, max 4096)\n"
            "  -t, --threads N        threads (default: all cores)\n"
            "  -ctk, --cache-type-k T latent cache type: f32, f16, bf16, q8_0, i8 (default: bf16;\n"
            "                         f32 with --exact)\n"
            "      --temp T           temperature (default 0.8; 0 = greedy)\n"
            "      --top-k N          top-k (default 40; 0 = off)\n"
            "      --top-p P          top-p (default 0.95; 1 = off)\n"
            "      --min-p P          min-p (default 0.05; 0 = off)\n"
            "      --repeat-penalty F repetition penalty (default 1.0 = off)\n"
            "      --repeat-last-n N  tokens the penalty looks back (default 64)\n"
            "      --seed N           sampling seed\n"
            "      --stop STR         stop when STR is generated (repeatable)\n"
            "      --ignore-eos       do not stop at the end-of-sequence token\n"
            "      --exact            float32 activations for quantized weights too (default:\n"
            "                         int8 activations for Q8_0/Q4_0/Q5_0/K-type weights, as llama.cpp;\n"
            "                         bfloat16 ones for FP8 weights and in BF16 prefill, as the official\n"
            "                         DeepSeek-V3 code)\n"
            "      --no-mmap          read the weights into memory (transparent huge pages) instead of\n"
            "                         memory-mapping the files: slower to load, faster to decode\n");
}

static int fnum(const char *flag, const char *v, double lo, double hi, double *out) {
    char *e;
    double x = strtod(v, &e);
    if (!*v || *e || !(x >= lo && x <= hi)) {
        fprintf(stderr, "error: %s: '%s' is not a number in [%g, %g]\n", flag, v, lo, hi);
        return -1;
    }
    *out = x;
    return 0;
}

int cli_common_flag(cli_opts *o, int argc, char **argv, int *i) {
    const char *a = argv[*i], *v;
    long x;
    double d;
    if (!strcmp(a, "--ignore-eos")) { o->ignore_eos = 1; return 1; }
    if (!strcmp(a, "--exact")) { o->exact = 1; return 1; }
    if (!strcmp(a, "--no-mmap")) { o->no_mmap = 1; return 1; }
    static const char *valued[] = {"-m", "--model", "-n", "--n-predict", "-c", "--ctx-size", "-t", "--threads",
                                   "--temp", "--top-k", "--top-p", "--min-p", "--repeat-penalty", "--repeat-last-n",
                                   "--seed", "--stop", "-ctk", "--cache-type-k"};
    int known = 0;
    for (size_t k = 0; k < sizeof valued / sizeof *valued; k++) known |= !strcmp(a, valued[k]);
    if (!known) return 0;
    if (!(v = cli_value(argc, argv, i))) return -1;
    if (!strcmp(a, "-m") || !strcmp(a, "--model")) o->model = v;
    else if (!strcmp(a, "-n") || !strcmp(a, "--n-predict")) { if (cli_int(a, v, -1, 1 << 24, &x)) return -1; o->n_predict = (int)x; }
    else if (!strcmp(a, "-c") || !strcmp(a, "--ctx-size")) { if (cli_int(a, v, 1, 1 << 24, &x)) return -1; o->n_ctx = (int)x; }
    else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) { if (cli_int(a, v, 0, 1024, &x)) return -1; o->n_threads = (int)x; }
    else if (!strcmp(a, "--temp")) { if (fnum(a, v, 0, 100, &d)) return -1; o->sp.temp = (float)d; }
    else if (!strcmp(a, "--top-k")) { if (cli_int(a, v, 0, 1 << 24, &x)) return -1; o->sp.top_k = (int)x; }
    else if (!strcmp(a, "--top-p")) { if (fnum(a, v, 1e-9, 1, &d)) return -1; o->sp.top_p = (float)d; }
    else if (!strcmp(a, "--min-p")) { if (fnum(a, v, 0, 1, &d)) return -1; o->sp.min_p = (float)d; }
    else if (!strcmp(a, "--repeat-penalty")) { if (fnum(a, v, 1e-6, 100, &d)) return -1; o->sp.repeat_penalty = (float)d; }
    else if (!strcmp(a, "--repeat-last-n")) { if (cli_int(a, v, 0, 1 << 20, &x)) return -1; o->sp.repeat_last_n = (int)x; }
    else if (!strcmp(a, "-ctk") || !strcmp(a, "--cache-type-k")) { if ((o->cache_type = cli_cache_type(a, v)) < 0) return -1; }
    else if (!strcmp(a, "--seed")) {
        char *e;
        unsigned long long s = strtoull(v, &e, 10);
        if (!*v || *e) { fprintf(stderr, "error: --seed: '%s' is not an integer\n", v); return -1; }
        o->sp.seed = s;
    } else { /* --stop */
        if (o->n_stop == (int)(sizeof o->stop / sizeof *o->stop)) { fprintf(stderr, "error: too many --stop\n"); return -1; }
        if (!*v) { fprintf(stderr, "error: --stop: empty string\n"); return -1; }
        o->stop[o->n_stop++] = v;
    }
    return 1;
}

int cli_session_open(cli_session *s, const cli_opts *o) {
    memset(s, 0, sizeof *s);
    const char *path = o->model ? o->model : cli_default_model();
    frugal_model_params mp = frugal_model_default_params();
    mp.use_mmap = !o->no_mmap;
    if (o->no_mmap) fprintf(stderr, "frugal: %s: reading the weights into memory ...\n", path);
    if (frugal_model_load_params(path, &mp, &s->model)) return -1;
    frugal_model_get_info(s->model, &s->info);
    if (fr_tokenizer_load(path, &s->tok)) return -1;
    frugal_context_params cp = frugal_context_default_params();
    cp.n_ctx = o->n_ctx;
    cp.n_threads = o->n_threads;
    cp.cache_type = (frugal_cache_type)o->cache_type;
    cp.exact = o->exact;
    if (frugal_context_create(s->model, &cp, &s->ctx)) return -1;
    /* the memory it will take: weights mapped from the file (or read into memory), the cache allocated for n_ctx */
    const frugal_cache_type ct = frugal_context_cache_type(s->ctx);
    const int nc = frugal_context_n_ctx(s->ctx);
    const double cache = (double)frugal_cache_bytes_per_token(&s->info, ct) * nc + (double)s->info.cache_bytes_fixed;
    fprintf(stderr, "frugal: %s: %.2f GiB of weights (%s), %.0f MB read per token; cache: %d positions, %s, %.1f MiB\n",
            path, (double)s->info.bytes_weights / (1 << 30), o->no_mmap ? "read into memory" : "memory-mapped",
            (double)s->info.bytes_per_token / 1e6, nc, frugal_cache_type_name(ct),
            cache / (1 << 20));
    return frugal_sampler_create(&o->sp, &s->smp);
}

void cli_session_close(cli_session *s) {
    frugal_sampler_free(s->smp);
    frugal_context_free(s->ctx);
    fr_tokenizer_free(s->tok);
    frugal_model_free(s->model);
    memset(s, 0, sizeof *s);
}

int32_t cli_session_feed(cli_session *s, const int32_t *ids, int n, int is_prompt) {
    double t0 = fr_now();
    for (int i = 0; i < n; i++) frugal_sampler_accept(s->smp, ids[i]);
    if (frugal_eval(s->ctx, ids, n, s->n_past, 0)) return -1;
    s->n_past += n;
    int32_t tok = frugal_sample(s->smp, frugal_get_logits(s->ctx, n - 1), s->info.n_vocab);
    double dt = fr_now() - t0;
    if (is_prompt) {
        s->t_prompt += dt;
        s->n_prompt += n;
    } else {
        s->t_gen += dt;
        s->n_gen += n;
    }
    return tok;
}

void cli_print_timings(const cli_session *s) {
    fprintf(stderr, "\nfrugal: prompt eval time = %10.2f ms / %5d tokens (%8.2f ms per token, %8.2f tokens per second)\n",
            s->t_prompt * 1e3, s->n_prompt, s->n_prompt ? s->t_prompt * 1e3 / s->n_prompt : 0,
            s->t_prompt > 0 ? s->n_prompt / s->t_prompt : 0);
    fprintf(stderr, "frugal:        eval time = %10.2f ms / %5d runs   (%8.2f ms per token, %8.2f tokens per second)\n",
            s->t_gen * 1e3, s->n_gen, s->n_gen ? s->t_gen * 1e3 / s->n_gen : 0, s->t_gen > 0 ? s->n_gen / s->t_gen : 0);
}

/* ---- streaming ----------------------------------------------------------- */

void cli_stream_init(cli_stream *st, FILE *out, const char *const *stop, int n_stop, int keep) {
    memset(st, 0, sizeof *st);
    fr_utf8_stream_init(&st->u);
    st->stop = stop;
    st->n_stop = n_stop;
    st->out = out;
    st->keep = keep;
}

static void emit(cli_stream *st, const char *p, size_t n) {
    if (!n) return;
    if (st->out) {
        fwrite(p, 1, n, st->out);
        fflush(st->out);
    }
    if (st->keep) {
        if (st->nall + n + 1 > st->capall) {
            size_t cap = (st->nall + n + 1) * 2;
            char *a = realloc(st->all, cap);
            if (!a) return;
            st->all = a;
            st->capall = cap;
        }
        memcpy(st->all + st->nall, p, n);
        st->nall += n;
        st->all[st->nall] = 0;
    }
}

/* Longest suffix of the pending text that is a proper prefix of a stop string. */
static size_t held_back(const cli_stream *st) {
    size_t best = 0;
    for (int k = 0; k < st->n_stop; k++) {
        size_t ls = strlen(st->stop[k]);
        for (size_t l = ls - 1; l > best; l--)
            if (l <= st->npend && !memcmp(st->pend + st->npend - l, st->stop[k], l)) {
                best = l;
                break;
            }
    }
    return best;
}

int cli_stream_push(cli_stream *st, const void *bytes, size_t n) {
    size_t need = st->npend + 3 * (n + 4) + 1;
    if (need > st->cap) {
        char *p = realloc(st->pend, need * 2);
        if (!p) return 1;
        st->pend = p;
        st->cap = need * 2;
    }
    st->npend += fr_utf8_stream_push(&st->u, bytes, n, st->pend + st->npend);
    /* a stop string anywhere in the pending text ends the stream */
    size_t cut = st->npend;
    int hit = 0;
    for (int k = 0; k < st->n_stop; k++) {
        size_t ls = strlen(st->stop[k]);
        for (size_t i = 0; i + ls <= st->npend; i++)
            if (!memcmp(st->pend + i, st->stop[k], ls)) {
                if (i < cut) cut = i;
                hit = 1;
                break;
            }
    }
    if (hit) {
        emit(st, st->pend, cut);
        st->npend = 0;
        return 1;
    }
    size_t keep = held_back(st);
    emit(st, st->pend, st->npend - keep);
    memmove(st->pend, st->pend + st->npend - keep, keep);
    st->npend = keep;
    return 0;
}

void cli_stream_finish(cli_stream *st) {
    char tail[8];
    emit(st, st->pend, st->npend);
    st->npend = 0;
    emit(st, tail, fr_utf8_stream_finish(&st->u, tail));
}

void cli_stream_free(cli_stream *st) {
    free(st->pend);
    free(st->all);
    memset(st, 0, sizeof *st);
}
