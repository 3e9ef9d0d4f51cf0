/* llama_driver: a small program over llama.cpp's C API, for side-by-side checks with frugal.
 *
 * Built against the prebuilt llama.cpp that npm's node-llama-cpp@3.21.1 ships for linux-x64
 * (libllama.v0.4.0.so + libggml*.so, no headers; see bench/compare_llama.sh for the build line).
 * We declare the few functions and structs we use ourselves. The struct layouts are those of
 * that build's llama.h; they are checked at run time against the library's own default values
 * (llama_model_default_params / llama_context_default_params), and every struct has a spare
 * tail so a by-value copy can never be shorter than the library's.
 *
 *   llama_driver logits -m FILE.gguf --ids "0 5 7 ..." -o OUT.f32 [-t 2]
 *       one batch from position 0, logits for every position, f32 KV cache, flash attention off;
 *       writes float32 [n_ids, n_vocab].
 *   llama_driver bench -m FILE.gguf [-p 512] [-n 128] [-d 0,4096] [-r 3] [-t 2]
 *       like llama-bench: ppN = one prompt of N random tokens (n_batch 2048, n_ubatch 512),
 *       tgN = N single-token decodes; both after DEPTH tokens already in the cache (evaluated
 *       once, untimed; each run rewinds the cache to them).
 *       Prints a table and "RESULT ..." lines (tokens/s mean and standard deviation).
 *       --mmap 0|1: 1 (default, llama.cpp's): the weights memory-mapped; 0: read into memory
 *       (load_mode LLAMA_LOAD_MODE_NONE, llama-cli's --no-mmap).
 *       --poll P: run on a ggml thread pool with that poll level (llama-bench --poll; ggml's
 *       default is 50: idle threads spin; 0: they sleep, which a machine with fewer free cores
 *       than threads needs).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <link.h>
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- our declaration of the part of llama.cpp's C API we use ---- */

struct llama_model;
struct llama_context;
struct llama_vocab;

/* llama_model_params; we pass the library's defaults back (CPU, mmap), or with --mmap 0 load_mode
 * LLAMA_LOAD_MODE_NONE (the weights read into buffers; checked by the log line of the
 * buffers it then allocates: "CPU model buffer" instead of "CPU_Mapped model buffer"). */
#define LOAD_MODE_NONE 0
static int g_use_mmap = 1; /* --mmap */
struct lp_model_params {
    void *devices;
    const void *tensor_buft_overrides;
    int32_t n_gpu_layers;
    int32_t split_mode;
    int32_t load_mode;
    int32_t lazy_mode;
    int32_t main_gpu;
    const float *tensor_split;
    void *progress_callback;
    void *progress_callback_user_data;
    const void *kv_overrides;
    bool vocab_only, check_tensors, use_extra_bufts, no_host, no_alloc, load_mtp;
    unsigned char spare[256];
};

struct lp_context_params {
    uint32_t n_ctx, n_batch, n_ubatch, n_seq_max, n_rs_seq, n_outputs_max, n_outputs_max_per_seq;
    int32_t n_threads, n_threads_batch;
    int32_t ctx_type, rope_scaling_type, pooling_type, attention_type, flash_attn_type;
    float rope_freq_base, rope_freq_scale, yarn_ext_factor, yarn_attn_factor, yarn_beta_fast, yarn_beta_slow;
    uint32_t yarn_orig_ctx;
    float defrag_thold;
    void *cb_eval, *cb_eval_user_data;
    int32_t type_k, type_v; /* enum ggml_type: 0 = F32, 1 = F16 */
    void *abort_callback, *abort_callback_data;
    bool embeddings, offload_kqv, no_perf, op_offload, swa_full, kv_unified;
    void *samplers;
    size_t n_samplers;
    void *ctx_other;
    unsigned char spare[256];
};

_Static_assert(offsetof(struct lp_context_params, n_threads) == 28, "layout");
_Static_assert(offsetof(struct lp_context_params, flash_attn_type) == 52, "layout");
_Static_assert(offsetof(struct lp_context_params, type_k) == 104, "layout");
_Static_assert(offsetof(struct lp_context_params, embeddings) == 128, "layout");
_Static_assert(offsetof(struct lp_model_params, vocab_only) == 72, "layout");

typedef struct {
    int32_t n_tokens;
    int32_t *token;
    float *embd;
    int32_t *pos;
    int32_t *n_seq_id;
    int32_t **seq_id;
    int8_t *logits;
} lp_batch;

typedef void (*lp_log_cb)(int level, const char *text, void *ud);

void llama_backend_init(void);
void llama_backend_free(void);
void llama_log_set(lp_log_cb cb, void *ud);
struct lp_model_params llama_model_default_params(void);
struct lp_context_params llama_context_default_params(void);
struct llama_model *llama_model_load_from_file(const char *path, struct lp_model_params p);
void llama_model_free(struct llama_model *m);
struct llama_context *llama_init_from_model(struct llama_model *m, struct lp_context_params p);
void llama_free(struct llama_context *c);
const struct llama_vocab *llama_model_get_vocab(const struct llama_model *m);
int32_t llama_vocab_n_tokens(const struct llama_vocab *v);
int32_t llama_model_desc(const struct llama_model *m, char *buf, size_t n);
uint64_t llama_model_size(const struct llama_model *m);
uint64_t llama_model_n_params(const struct llama_model *m);
lp_batch llama_batch_init(int32_t n_tokens, int32_t embd, int32_t n_seq_max);
void llama_batch_free(lp_batch b);
int32_t llama_decode(struct llama_context *c, lp_batch b);
float *llama_get_logits_ith(struct llama_context *c, int32_t i);
void *llama_get_memory(const struct llama_context *c);
void llama_memory_clear(void *mem, bool data);
bool llama_memory_seq_rm(void *mem, int32_t seq_id, int32_t p0, int32_t p1);
void llama_synchronize(struct llama_context *c);
const char *llama_print_system_info(void);
void ggml_backend_load_all_from_path(const char *dir);
void *ggml_backend_load(const char *path);
void llama_attach_threadpool(struct llama_context *c, void *threadpool, void *threadpool_batch);

/* ggml_threadpool_params (ggml.h, GGML_MAX_N_THREADS 512); defaults from libggml-base, the pool
 * itself from the CPU variant library (bench --poll only) */
struct lp_threadpool_params {
    bool cpumask[512];
    int32_t n_threads;
    int32_t prio;
    uint32_t poll; /* 0: threads sleep when idle; 1..100: how long they spin first */
    bool strict_cpu;
    bool paused;
    unsigned char spare[64];
};
_Static_assert(offsetof(struct lp_threadpool_params, poll) == 520, "layout");
struct lp_threadpool_params ggml_threadpool_params_default(int n_threads);

/* ---- logging: quiet unless -v, warnings and errors always ---- */

static int g_verbose;
static char g_variant_dir[4600]; /* full path of the CPU variant library */
static int g_last_level;

static void log_cb(int level, const char *text, void *ud) {
    (void)ud;
    if (level != 5) g_last_level = level; /* 5 = GGML_LOG_LEVEL_CONT */
    if (g_verbose || g_last_level >= 3) fputs(text, stderr);
}

/* ---- backend loading ---- */

typedef void *(*lp_threadpool_new)(struct lp_threadpool_params *p);
typedef void (*lp_threadpool_free)(void *tp);
static lp_threadpool_new g_tp_new;
static lp_threadpool_free g_tp_free;

/* A ggml thread pool with the given poll level, attached to the context (llama-bench --poll). */
static void *attach_pool(struct llama_context *c, int threads, int poll) {
    if (!g_tp_new) {
        void *h = dlopen(g_variant_dir, RTLD_NOW | RTLD_NOLOAD);
        g_tp_new = h ? (lp_threadpool_new)dlsym(h, "ggml_threadpool_new") : NULL;
        g_tp_free = h ? (lp_threadpool_free)dlsym(h, "ggml_threadpool_free") : NULL;
        if (!g_tp_new || !g_tp_free) {
            fprintf(stderr, "error: ggml_threadpool_new not found in %s\n", g_variant_dir);
            return NULL;
        }
    }
    struct lp_threadpool_params p = ggml_threadpool_params_default(threads);
    if (p.n_threads != threads || p.poll != 50) {
        fprintf(stderr, "error: ggml_threadpool_params do not match the declared layout\n");
        return NULL;
    }
    p.poll = (uint32_t)poll;
    void *tp = g_tp_new(&p);
    if (tp) llama_attach_threadpool(c, tp, tp);
    else fprintf(stderr, "error: ggml_threadpool_new failed\n");
    return tp;
}

static int find_cpu_variant(struct dl_phdr_info *info, size_t size, void *out) {
    (void)size;
    const char *s = info->dlpi_name ? strstr(info->dlpi_name, "libggml-cpu-") : NULL;
    if (s) {
        snprintf((char *)out, 256, "%s", s);
        return 1;
    }
    return 0;
}

/* The CPU backend is a separate variant library per ISA level (libggml-cpu-<arch>.so) next to
 * libllama; ggml scores them against this CPU and loads the best one, or LLAMA_CPU_VARIANT=<arch>
 * (icelake, zen4, ...) names the one to load (bench/RESULTS.md Run 19: the sapphirerapids one
 * stopped on an assertion of its own). */
static int load_backends(void) {
    Dl_info di;
    if (!dladdr((void *)llama_backend_init, &di) || !di.dli_fname) {
        fprintf(stderr, "error: cannot locate libllama\n");
        return -1;
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", di.dli_fname);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0;
    else snprintf(dir, sizeof dir, ".");
    const char *want = getenv("LLAMA_CPU_VARIANT");
    if (want && *want) {
        char path[4400];
        snprintf(path, sizeof path, "%s/libggml-cpu-%s.so", dir, want);
        if (!ggml_backend_load(path)) {
            fprintf(stderr, "error: LLAMA_CPU_VARIANT=%s: cannot load %s\n", want, path);
            return -1;
        }
    } else {
        ggml_backend_load_all_from_path(dir);
    }
    char variant[256] = "";
    dl_iterate_phdr(find_cpu_variant, variant);
    snprintf(g_variant_dir, sizeof g_variant_dir, "%s/%s", dir, variant);
    if (!variant[0]) {
        fprintf(stderr, "error: no CPU backend loaded from %s\n", dir);
        return -1;
    }
    fprintf(stderr, "llama.cpp: libraries in %s, CPU backend %s\n", dir, variant);
    return 0;
}

/* The defaults this build's llama.h documents; a mismatch means the struct layout differs. */
static int check_defaults(const struct lp_model_params *mp, const struct lp_context_params *cp) {
    int ok = mp->n_gpu_layers == -1 && mp->split_mode == 1 && mp->main_gpu == 0 && !mp->vocab_only &&
             !mp->no_alloc && mp->tensor_split == NULL && mp->kv_overrides == NULL;
    ok = ok && cp->n_ctx == 512 && cp->n_batch == 2048 && cp->n_ubatch == 512 && cp->n_seq_max == 1 &&
         cp->n_threads == 4 && cp->n_threads_batch == 4 && cp->flash_attn_type == -1 &&
         cp->pooling_type == -1 && cp->yarn_ext_factor == -1.0f && cp->defrag_thold == -1.0f &&
         cp->cb_eval == NULL && cp->type_k == 1 && cp->type_v == 1 && cp->offload_kqv && !cp->embeddings &&
         cp->samplers == NULL && cp->n_samplers == 0;
    if (!ok) fprintf(stderr, "error: llama.cpp default params do not match the declared struct layout\n");
    return ok ? 0 : -1;
}

static struct llama_context *new_context(struct llama_model *m, uint32_t n_ctx, uint32_t n_batch,
                                         uint32_t n_ubatch, int threads) {
    struct lp_context_params cp = llama_context_default_params();
    cp.n_ctx = n_ctx;
    cp.n_batch = n_batch;
    cp.n_ubatch = n_ubatch;
    cp.n_threads = cp.n_threads_batch = threads;
    cp.flash_attn_type = 0; /* disabled */
    cp.type_k = cp.type_v = 0; /* F32 cache */
    struct llama_context *c = llama_init_from_model(m, cp);
    if (!c) fprintf(stderr, "error: llama_init_from_model failed (n_ctx %u)\n", n_ctx);
    return c;
}

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

/* Decodes tokens[0..n) at positions pos0.. in chunks of `chunk`; logits for the rows flagged by
 * all_logits (every position) or only the last token. */
static int decode(struct llama_context *c, lp_batch *b, const int32_t *tok, int n, int pos0, int chunk,
                  int all_logits) {
    for (int s = 0; s < n; s += chunk) {
        int k = n - s < chunk ? n - s : chunk;
        b->n_tokens = k;
        for (int i = 0; i < k; i++) {
            b->token[i] = tok[s + i];
            b->pos[i] = pos0 + s + i;
            b->n_seq_id[i] = 1;
            b->seq_id[i][0] = 0;
            b->logits[i] = (int8_t)(all_logits || s + i == n - 1);
        }
        int r = llama_decode(c, *b);
        if (r != 0) {
            fprintf(stderr, "error: llama_decode returned %d (tokens %d..%d)\n", r, pos0 + s, pos0 + s + k);
            return -1;
        }
    }
    llama_synchronize(c);
    return 0;
}

static int parse_ids(const char *s, int32_t **out) {
    int cap = 64, n = 0;
    int32_t *v = malloc((size_t)cap * sizeof *v);
    while (v && *s) {
        while (*s == ' ' || *s == ',' || *s == '\n' || *s == '\t') s++;
        if (!*s) break;
        char *end;
        long x = strtol(s, &end, 10);
        if (end == s || x < 0 || x > INT32_MAX) {
            fprintf(stderr, "error: --ids: '%.20s' is not a token id\n", s);
            free(v);
            return -1;
        }
        if (n == cap) {
            int32_t *nv = realloc(v, (size_t)(cap *= 2) * sizeof *v);
            if (!nv) break;
            v = nv;
        }
        v[n++] = (int32_t)x;
        s = end;
    }
    if (!v || n == 0) {
        fprintf(stderr, "error: --ids: no token ids\n");
        free(v);
        return -1;
    }
    *out = v;
    return n;
}

static int run_logits(struct llama_model *m, int n_vocab, const char *ids_s, const char *out, int threads) {
    int32_t *ids;
    int n = parse_ids(ids_s, &ids);
    if (n < 0) return -1;
    for (int i = 0; i < n; i++)
        if (ids[i] >= n_vocab) {
            fprintf(stderr, "error: --ids: id %d >= vocab %d\n", ids[i], n_vocab);
            free(ids);
            return -1;
        }
    int rc = -1;
    struct llama_context *c = new_context(m, (uint32_t)n, (uint32_t)n, (uint32_t)n, threads);
    lp_batch b = llama_batch_init(n, 0, 1);
    float *rows = malloc((size_t)n * (size_t)n_vocab * sizeof *rows);
    if (c && rows && decode(c, &b, ids, n, 0, n, 1) == 0) {
        rc = 0;
        for (int i = 0; i < n && rc == 0; i++) {
            const float *l = llama_get_logits_ith(c, i);
            if (!l) {
                fprintf(stderr, "error: no logits for position %d\n", i);
                rc = -1;
            } else memcpy(rows + (size_t)i * (size_t)n_vocab, l, (size_t)n_vocab * sizeof *l);
        }
        FILE *f = rc == 0 ? fopen(out, "wb") : NULL;
        if (rc == 0 && (!f || fwrite(rows, sizeof *rows, (size_t)n * (size_t)n_vocab, f) != (size_t)n * (size_t)n_vocab)) {
            fprintf(stderr, "error: %s: cannot write\n", out);
            rc = -1;
        }
        if (f && fclose(f) != 0) rc = -1;
        if (rc == 0) fprintf(stderr, "wrote %s: [%d, %d] float32\n", out, n, n_vocab);
    }
    free(rows);
    llama_batch_free(b);
    if (c) llama_free(c);
    free(ids);
    return rc;
}

static void stats(const double *ts, int r, double *mean, double *sd) {
    double s = 0, q = 0;
    for (int i = 0; i < r; i++) s += ts[i];
    *mean = s / r;
    for (int i = 0; i < r; i++) q += (ts[i] - *mean) * (ts[i] - *mean);
    *sd = r > 1 ? sqrt(q / (r - 1)) : 0;
}

static int run_bench(struct llama_model *m, int n_vocab, const char *path, int pp, int tg, const char *depths,
                     int reps, int threads, int poll) {
    char desc[256];
    llama_model_desc(m, desc, sizeof desc);
    printf("| model | size | params | threads | test | t/s |\n|---|---|---|---|---|---|\n");
    uint64_t state = 0x9E3779B97F4A7C15ull;
    const char *d = depths;
    int rc = 0;
    while (rc == 0 && *d) {
        char *end;
        long depth = strtol(d, &end, 10);
        if (end == d || depth < 0 || depth > 1 << 20) {
            fprintf(stderr, "error: -d: bad depth list '%s'\n", depths);
            return -1;
        }
        d = *end == ',' ? end + 1 : end;
        int longest = pp > tg ? pp : tg;
        int ntok = (int)depth + longest;
        int32_t *tok = malloc((size_t)ntok * sizeof *tok);
        for (int i = 0; tok && i < ntok; i++) {
            state = state * 6364136223846793005ull + 1442695040888963407ull;
            tok[i] = (int32_t)((state >> 33) % (uint64_t)n_vocab);
        }
        struct llama_context *c = tok ? new_context(m, (uint32_t)ntok, 2048, 512, threads) : NULL;
        lp_batch b = llama_batch_init(2048, 0, 1);
        void *tp = c && poll >= 0 ? attach_pool(c, threads, poll) : NULL;
        if (!c || (poll >= 0 && !tp)) rc = -1;
        for (int test = 0; rc == 0 && test < 2; test++) {
            int n = test == 0 ? pp : tg;
            if (n <= 0) continue;
            double *ts = calloc((size_t)reps, sizeof *ts), wall = 0, cpu = 0;
            /* the DEPTH tokens are evaluated once (untimed); every run then rewinds the cache to
             * them. Warm-up: pp runs once, tg decodes one token. */
            void *mem = llama_get_memory(c);
            llama_memory_clear(mem, true);
            if (!ts || (depth > 0 && decode(c, &b, tok, (int)depth, 0, 2048, 0) != 0)) rc = -1;
            if (rc == 0 && decode(c, &b, tok + depth, test == 0 ? n : 1, (int)depth, 2048, 0) != 0) rc = -1;
            for (int r = 0; rc == 0 && r < reps; r++) {
                if (!llama_memory_seq_rm(mem, 0, (int32_t)depth, -1)) {
                    fprintf(stderr, "error: cannot rewind the cache to %ld\n", depth);
                    rc = -1;
                    break;
                }
                double t0 = now_s(), c0 = cpu_s();
                if (test == 0) rc = decode(c, &b, tok + depth, n, (int)depth, 2048, 0);
                else
                    for (int i = 0; i < n && rc == 0; i++) rc = decode(c, &b, tok + depth + i, 1, (int)depth + i, 1, 1);
                ts[r] = n / (now_s() - t0);
                wall += now_s() - t0;
                cpu += cpu_s() - c0;
            }
            if (rc == 0) {
                double mean, sd;
                stats(ts, reps, &mean, &sd);
                char name[64];
                if (depth > 0) snprintf(name, sizeof name, "%s%d @ d%ld", test == 0 ? "pp" : "tg", n, depth);
                else snprintf(name, sizeof name, "%s%d", test == 0 ? "pp" : "tg", n);
                printf("| %s | %.2f MiB | %.2f M | %d | %s | %.2f ± %.2f |\n", desc,
                       (double)llama_model_size(m) / (1024.0 * 1024.0), (double)llama_model_n_params(m) / 1e6,
                       threads, name, mean, sd);
                printf("RESULT engine=llama.cpp file=%s test=%s%d depth=%ld threads=%d reps=%d tps=%.4f sd=%.4f poll=%d "
                       "cpu_share=%.3f mmap=%d\n",
                       path, test == 0 ? "pp" : "tg", n, depth, threads, reps, mean, sd, poll < 0 ? 50 : poll,
                       cpu / (wall * threads), g_use_mmap);
                fflush(stdout);
            }
            free(ts);
        }
        llama_batch_free(b);
        if (c) llama_free(c);
        if (tp) g_tp_free(tp);
        free(tok);
    }
    return rc;
}

static void usage(FILE *f) {
    fprintf(f, "usage: llama_driver logits -m FILE.gguf --ids \"0 5 7 ...\" -o OUT.f32 [-t THREADS] [-v]\n"
               "       llama_driver bench -m FILE.gguf [-p 512] [-n 128] [-d 0,4096] [-r 3] [-t 2] [--poll 0..100]"
               " [--mmap 0|1] [-v]\n");
}

int main(int argc, char **argv) {
    if (argc < 2 || (strcmp(argv[1], "logits") && strcmp(argv[1], "bench"))) {
        usage(stderr);
        return 2;
    }
    int is_bench = !strcmp(argv[1], "bench");
    const char *path = NULL, *ids = NULL, *out = NULL, *depths = "0";
    int threads = 2, pp = 512, tg = 128, reps = 3, poll = -1;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-v")) { g_verbose = 1; continue; }
        if (i + 1 >= argc) { usage(stderr); return 2; }
        const char *v = argv[++i];
        if (!strcmp(a, "-m")) path = v;
        else if (!strcmp(a, "--ids")) ids = v;
        else if (!strcmp(a, "-o")) out = v;
        else if (!strcmp(a, "-d")) depths = v;
        else if (!strcmp(a, "-t")) threads = atoi(v);
        else if (!strcmp(a, "-p")) pp = atoi(v);
        else if (!strcmp(a, "-n")) tg = atoi(v);
        else if (!strcmp(a, "-r")) reps = atoi(v);
        else if (!strcmp(a, "--poll")) poll = atoi(v);
        else if (!strcmp(a, "--mmap")) g_use_mmap = atoi(v) != 0;
        else { usage(stderr); return 2; }
    }
    if (!path || (!is_bench && (!ids || !out)) || threads < 1 || threads > 512 || poll > 100 || reps < 1 || pp < 0 || tg < 0 || pp > 65536 || tg > 65536) {
        usage(stderr);
        return 2;
    }
    llama_log_set(log_cb, NULL);
    if (load_backends() != 0) return 1;
    llama_backend_init();
    if (g_verbose) fprintf(stderr, "%s\n", llama_print_system_info());
    struct lp_model_params mp = llama_model_default_params();
    struct lp_context_params cp = llama_context_default_params();
    if (check_defaults(&mp, &cp) != 0) return 1;
    if (g_verbose) fprintf(stderr, "llama.cpp: default load_mode %d\n", mp.load_mode);
    if (!g_use_mmap) mp.load_mode = LOAD_MODE_NONE;
    struct llama_model *m = llama_model_load_from_file(path, mp);
    if (!m) {
        fprintf(stderr, "error: %s: llama.cpp cannot load this file\n", path);
        return 1;
    }
    int n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(m));
    int rc = is_bench ? run_bench(m, n_vocab, path, pp, tg, depths, reps, threads, poll)
                      : run_logits(m, n_vocab, ids, out, threads);
    llama_model_free(m);
    llama_backend_free();
    return rc == 0 ? 0 : 1;
}
