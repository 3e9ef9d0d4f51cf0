/* Kernel selection and the threaded matmul entry point. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/cpu.h"
#include "base/pool.h"

#include "kernels/generic/generic.h"
#include "kernels/kernels.h"

static const fr_kernel_table g_generic = {
    .name = "generic",
    .matmul = {
        [FR_DT_F32] = fr_matmul_generic,
        [FR_DT_F16] = fr_matmul_generic,
        [FR_DT_BF16] = fr_matmul_generic,
        [FR_DT_F8_E4M3] = fr_matmul_generic,
        [FR_DT_Q4_0] = fr_matmul_generic,
        [FR_DT_Q4_1] = fr_matmul_generic,
        [FR_DT_Q5_0] = fr_matmul_generic,
        [FR_DT_Q5_1] = fr_matmul_generic,
        [FR_DT_Q8_0] = fr_matmul_generic,
        [FR_DT_Q2_K] = fr_matmul_generic,
        [FR_DT_Q3_K] = fr_matmul_generic,
        [FR_DT_Q4_K] = fr_matmul_generic,
        [FR_DT_Q5_K] = fr_matmul_generic,
        [FR_DT_Q6_K] = fr_matmul_generic,
        [FR_DT_IQ4_NL] = fr_matmul_generic,
        [FR_DT_IQ4_XS] = fr_matmul_generic,
        [FR_DT_MXFP4] = fr_matmul_generic,
    },
    .matmul_q = {
        [FR_DT_Q8_0] = fr_matmul_q_generic,
        [FR_DT_Q4_0] = fr_matmul_q_generic,
        [FR_DT_Q5_0] = fr_matmul_q_generic,
        [FR_DT_Q4_K] = fr_matmul_q_generic,
        [FR_DT_Q5_K] = fr_matmul_q_generic,
        [FR_DT_Q6_K] = fr_matmul_q_generic,
        [FR_DT_Q4_1] = fr_matmul_q_generic,
        [FR_DT_Q5_1] = fr_matmul_q_generic,
        [FR_DT_Q2_K] = fr_matmul_q_generic,
        [FR_DT_Q3_K] = fr_matmul_q_generic,
        [FR_DT_IQ4_NL] = fr_matmul_q_generic,
        [FR_DT_IQ4_XS] = fr_matmul_q_generic,
        [FR_DT_MXFP4] = fr_matmul_q_generic,
    },
    .dot = fr_dot_generic,
    .axpy = fr_axpy_generic,
    .dots = fr_dots_generic,
    .wsum = fr_wsum_generic,
    .i8_dots = fr_i8_dots_generic,
    .i8_wsum = fr_i8_wsum_generic,
};

#if defined(__x86_64__)
extern const fr_kernel_table fr_avx2_table, fr_avx512_table, fr_avx512vnni_table, fr_avx512bf16_table,
    fr_amx_table, fr_amxemu_table;
#endif

const fr_kernel_table *fr_kernels_generic(void) { return &g_generic; }

/* kernels.h FR_PF_L2: 0 on AMD, 8192 elsewhere, or FRUGAL_PF_L2 (bytes, 0 to 1 MiB; other values ignored) */
int fr_pf_l2 = 8192;
static pthread_once_t g_pf_once = PTHREAD_ONCE_INIT;
static void pf_init(void) {
    const char *e = getenv("FRUGAL_PF_L2");
    char *end = NULL;
    const long v = e && *e ? strtol(e, &end, 10) : -1;
    fr_pf_l2 = v >= 0 && v <= (1 << 20) && end && !*end ? (int)v : fr_cpu_get()->amd ? 0 : 8192;
}

const fr_kernel_table *fr_kernels_isa(const char *name) {
    pthread_once(&g_pf_once, pf_init);
    if (!strcmp(name, "generic")) return &g_generic;
#if defined(__x86_64__)
    const fr_cpu *c = fr_cpu_get();
    if (!strcmp(name, "avx2") && c->avx2 && c->fma && c->f16c) return &fr_avx2_table;
    if (!strcmp(name, "avx512") && c->avx512f && c->avx512bw && c->avx512vl && c->fma && c->f16c)
        return &fr_avx512_table;
    if (!strcmp(name, "avx512vnni") && c->avx512f && c->avx512bw && c->avx512vl && c->avx512vnni && c->fma && c->f16c)
        return &fr_avx512vnni_table;
    const int bf16 = c->avx512f && c->avx512bw && c->avx512vl && c->avx512vnni && c->avx512bf16 && c->avx512vbmi &&
                     c->avx512bitalg && c->gfni && c->fma && c->f16c;
    if (!strcmp(name, "avx512bf16") && bf16) return &fr_avx512bf16_table;
    if (!strcmp(name, "amx") && bf16 && c->amx_tile && c->amx_int8 && c->amx_bf16 && c->amx_ok) return &fr_amx_table;
    if (!strcmp(name, "amxemu") && bf16) return &fr_amxemu_table;
#endif
    return NULL;
}

static uint32_t lcg(uint32_t *s) { return *s = *s * 1664525u + 1013904223u; }

/* BF16 and FP8 prefill (matmul_fast, n > 1): a's outputs within 1e-4 of
 * sum|w x| of b's. Both tables multiply the same bfloat16 pairs exactly
 * (vdpbf16ps, tdpbf16ps) and sum them in float32 in another order (amxemu:
 * within 6e-8 of sum|w x|); two outputs swapped, as a wrong tile layout
 * would, are 7e-3 off (test_int8_kernels).
 * 40 rows (two 16-row tiles and 8), 1088 columns (a span of 1024 and 64),
 * 21 tokens (groups of 16 and 5). */
static int fast_agree(const fr_kernel_table *a, const fr_kernel_table *b) {
    enum { ROWS = 40, COLS = 1088, N = 21 };
    static const fr_dtype dts[] = {FR_DT_BF16, FR_DT_F8_E4M3};
    uint32_t seed = 4321;
    float *x = malloc(sizeof(float) * N * COLS), *y0 = malloc(sizeof(float) * N * ROWS),
          *y1 = malloc(sizeof(float) * N * ROWS), *row = malloc(sizeof(float) * COLS);
    uint16_t *w = malloc(sizeof(uint16_t) * ROWS * COLS);
    float scale[(COLS + FR_FP8_BLOCK - 1) / FR_FP8_BLOCK];
    int ok = x && y0 && y1 && row && w;
    for (int i = 0; ok && i < N * COLS; i++) x[i] = (float)(lcg(&seed) >> 8) / (1 << 23) - 1.0f;
    for (size_t j = 0; j < sizeof scale / sizeof *scale; j++) scale[j] = 0.01f * (float)(j + 1);
    for (size_t i = 0; ok && i < sizeof dts / sizeof *dts; i++) {
        const fr_dtype dt = dts[i];
        if (!a->matmul_fast[dt] || !b->matmul_fast[dt]) continue;
        for (int j = 0; j < ROWS * COLS; j++) {
            const uint32_t r = lcg(&seed) >> 16;
            if (dt == FR_DT_BF16) w[j] = (uint16_t)(0x3c00 | (r & 0x80ff)); /* +-[2^-7, 2^-5) */
            else ((uint8_t *)w)[j] = (r & 0x7f) == 0x7f ? 0 : (uint8_t)r;     /* no NaN codes */
        }
        fr_tensor W = {.dtype = dt, .ndim = 2, .ne = {ROWS, COLS}, .data = w, .scale = scale};
        W.nbytes = fr_dtype_bytes(dt, ROWS * COLS);
        b->matmul_fast[dt](&W, x, y0, N, 0, ROWS);
        a->matmul_fast[dt](&W, x, y1, N, 0, ROWS);
        for (int r = 0; ok && r < ROWS; r++) {
            fr_tensor_row_f32(&W, r, row);
            for (int t = 0; ok && t < N; t++) {
                double mag = 0;
                for (int c = 0; c < COLS; c++) mag += fabs((double)row[c] * x[t * COLS + c]);
                ok = fabs((double)y0[t * ROWS + r] - y1[t * ROWS + r]) <= 1e-4 * mag;
            }
        }
    }
    free(x), free(y0), free(y1), free(row), free(w);
    return ok;
}

/* y1 within 1e-6 of sum|w x| of y0 for every output (W [rows, cols], X's n tokens) */
static int q_close(const fr_tensor *W, const fr_qx *X, const float *y0, const float *y1) {
    const int64_t rows = fr_rows(W), cols = X->cols;
    float *row = malloc(sizeof(float) * (size_t)cols);
    int ok = row != NULL;
    for (int64_t r = 0; ok && r < rows; r++) {
        fr_tensor_row_f32(W, r, row);
        for (int t = 0; ok && t < X->n; t++) {
            double mag = 0;
            for (int64_t c = 0; c < cols; c++)
                mag += fabs((double)row[c] * X->q[t * cols + c] * X->d[t * (cols / X->blk) + c / X->blk]);
            ok = fabs((double)y0[t * rows + r] - y1[t * rows + r]) <= 1e-6 * mag;
        }
    }
    free(row);
    return ok;
}

/* The AMX table is chosen automatically only when its integer kernels give
 * the avx512bf16 table's outputs on a small problem of each panel layout
 * (sub-blocks of 32, of 16, blocks of 32): Q6_K and Q8_0 bit for bit (they
 * should: avx512/amx.h), Q4_K within 1e-6 of sum|w x| (its tiles sum the
 * sub-blocks in the integers, the vpdpbusd panels in float: avx512/int8_k.h;
 * two outputs swapped are far off), and its BF16 and FP8 prefill agree with
 * it (fast_agree). On machines without AMX the tests run the same code with
 * the tiles emulated ("amxemu"); this guards the one thing they cannot
 * reach, the real instructions. */
int fr_kernels_agree(const fr_kernel_table *a, const fr_kernel_table *b) {
    static const fr_dtype dts[] = {FR_DT_Q4_K, FR_DT_Q6_K, FR_DT_Q8_0};
    enum { ROWS = 40, COLS = 512, N = 21 }; /* two 16-row halves and a tail of 8; tiles of 16 and 5 tokens */
    uint32_t seed = 12345;
    /* activations as fr_qx_quantize leaves them (not called here: it asks for the table being chosen) */
    int8_t *q = malloc(N * COLS);
    float *d = malloc(sizeof(float) * N * (COLS / 32));
    int16_t *sm = malloc(sizeof(int16_t) * N * (COLS / 16));
    float *y0 = malloc(sizeof(float) * N * ROWS), *y1 = malloc(sizeof(float) * N * ROWS);
    uint8_t *w = malloc(2 * ROWS * COLS); /* more than any of the three types needs */
    int ok = q && d && sm && y0 && y1 && w;
    for (int i = 0; ok && i < N * COLS; i++) q[i] = (int8_t)((int)(lcg(&seed) >> 24) % 255 - 127);
    for (int g = 0; ok && g < N * (COLS / 16); g++) {
        int sum = 0;
        for (int j = 0; j < 16; j++) sum += q[16 * g + j];
        sm[g] = (int16_t)sum;
    }
    for (int e = 0; ok && e < N * (COLS / 32); e++) d[e] = (float)(lcg(&seed) >> 8) / (1 << 24) + 0.01f;
    for (size_t i = 0; ok && i < sizeof dts / sizeof *dts; i++) {
        const fr_dtype dt = dts[i];
        const fr_dtype_info *di = fr_dtype_get(dt);
        const int nblk = ROWS * COLS / di->block;
        for (int j = 0; j < nblk * di->block_bytes; j++) w[j] = (uint8_t)(lcg(&seed) >> 24);
        for (int e = 0; e < nblk; e++) { /* finite block scales: f16 0.01 (and 0.005 for dmin) */
            uint8_t *p = w + e * di->block_bytes + (dt == FR_DT_Q6_K ? 208 : 0);
            p[0] = 0x1f, p[1] = 0x21;
            if (dt == FR_DT_Q4_K) p[2] = 0x1f, p[3] = 0x1d;
        }
        fr_tensor W = {.dtype = dt, .ndim = 2, .ne = {ROWS, COLS}, .data = w};
        W.nbytes = fr_dtype_bytes(dt, ROWS * COLS);
        const fr_qx X = {.n = N, .blk = fr_qx_blk(dt), .cols = COLS, .q = q, .d = d, .s = sm};
        (b->matmul_q[dt] ? b->matmul_q[dt] : fr_matmul_q_generic)(&W, &X, y0, 0, ROWS);
        (a->matmul_q[dt] ? a->matmul_q[dt] : fr_matmul_q_generic)(&W, &X, y1, 0, ROWS);
        ok = !memcmp(y0, y1, sizeof(float) * N * ROWS);
        if (!ok && dt == FR_DT_Q4_K) ok = q_close(&W, &X, y0, y1);
    }
    free(q), free(d), free(sm), free(y0), free(y1), free(w);
    return ok && fast_agree(a, b);
}

/* fr_kernels_agree in a child process (fork), so that a table whose
 * instructions fault on this machine (a tile instruction the OS or the
 * hypervisor does not allow after all) costs the check, not the process: 1
 * only when the child ran it to the end and the outputs agreed */
int fr_kernels_agree_isolated(const fr_kernel_table *a, const fr_kernel_table *b) {
    const pid_t pid = fork();
    if (pid < 0) return 0;
    if (pid == 0) _exit(fr_kernels_agree(a, b) ? 0 : 1);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) return 0;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static const fr_kernel_table *g_auto;
static int g_env_exact; /* FRUGAL_EXACT=1 */
static _Thread_local int g_exact;
static _Atomic(const fr_kernel_table *) g_cur;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void choose(void) {
    const char *x = getenv("FRUGAL_EXACT");
    g_env_exact = x && *x && strcmp(x, "0") != 0;
    const char *e = getenv("FRUGAL_KERNELS");
    const fr_kernel_table *t = e && *e ? fr_kernels_isa(e) : NULL;
#if defined(__x86_64__)
    if (!t && fr_kernels_isa("amx")) {
        if (fr_kernels_agree_isolated(&fr_amx_table, &fr_avx512bf16_table)) t = &fr_amx_table;
        else fprintf(stderr, "frugal: the AMX kernels disagree with the AVX-512 ones on this CPU; not using AMX\n");
    }
#endif
    if (!t) t = fr_kernels_isa("avx512bf16");
    if (!t) t = fr_kernels_isa("avx512vnni");
    if (!t) t = fr_kernels_isa("avx512");
    if (!t) t = fr_kernels_isa("avx2");
    g_auto = t ? t : &g_generic;
    atomic_store(&g_cur, g_auto);
}

const fr_kernel_table *fr_kernels(void) {
    const fr_kernel_table *t = atomic_load_explicit(&g_cur, memory_order_acquire);
    if (t) return t;
    pthread_once(&g_once, choose);
    return atomic_load(&g_cur);
}

void fr_kernels_set(const fr_kernel_table *t) {
    pthread_once(&g_once, choose);
    atomic_store(&g_cur, t ? t : g_auto);
}

void fr_kernels_use_generic(int on) { fr_kernels_set(on ? &g_generic : NULL); }

void fr_kernels_set_exact(int on) { g_exact = on; }
int fr_kernels_exact(void) {
    pthread_once(&g_once, choose);
    return g_exact || g_env_exact;
}

fr_matmul_q_fn fr_matmul_q_kernel(fr_dtype dt) {
    if (dt < 0 || dt >= FR_DT_COUNT || !g_generic.matmul_q[dt]) return NULL;
    fr_matmul_q_fn f = fr_kernels()->matmul_q[dt];
    return f ? f : g_generic.matmul_q[dt];
}

int fr_matmul_uses_q(const fr_tensor *W) { return !fr_kernels_exact() && fr_matmul_q_kernel(W->dtype) != NULL; }

/* Rows per work item. Decode (n <= 2): units of 16 rows (a cache line of Y),
 * handed out guided (fr_parallel_for_guided): a thread takes half its share
 * of the rows left (with 2 threads a quarter of them), so the runs are long
 * and contiguous at first and down to 16 rows at the end. A thread that
 * streams one run of rows reads memory faster than one hopping between short
 * runs (8 interleaved streams: 32-36 GB/s vs 35-56 GB/s sequential with 2
 * threads on the development machine; decode t/s +10-15 %), and the short runs
 * at the end let the threads finish together (fixed runs of a quarter of a
 * thread's share left one thread waiting for the other's last run, up to
 * 0.7 ms for a V2-Lite lm_head: bench/RESULTS.md Run 29). Prefill (32 tokens
 * or more): a sixteenth of the rows per thread, 64 to 256, in multiples of 64
 * (whole cache lines of Y); each call then meets the pass's activations, which
 * it reads from L2 per panel, with more rows (256-row calls vs 64: with
 * 256-token passes, kernels.h, the Kimi K2 cut's pp512 +2-4 %, together with
 * the MoE experts' items, layers/mlp.c). Fewer tokens: 16 rows. */
int64_t fr_matmul_grain(int64_t rows, int n, int threads) {
    if (n >= 32 && rows >= 256) {
        int64_t g = rows / (8 * (int64_t)threads) / 64 * 64;
        return g < 64 ? 64 : g > 256 ? 256 : g;
    }
    return 16;
}

fr_matmul_fn fr_matmul_kernel(fr_dtype dt, int exact) {
    const fr_kernel_table *t = fr_kernels();
    if (t->matmul_fast[dt] && !exact) return t->matmul_fast[dt];
    fr_matmul_fn f = t->matmul[dt];
    return f ? f : g_generic.matmul[dt] ? g_generic.matmul[dt] : fr_matmul_generic;
}

typedef struct mmm_job {
    int nw, n;
    const fr_tensor *const *W;
    float *const *Y;
    const float *X;
    fr_matmul_q_fn fq[FR_MATMUL_MULTI]; /* NULL: the float kernel ff */
    fr_matmul_fn ff[FR_MATMUL_MULTI];
    fr_qx qx[FR_MATMUL_MULTI];
    int64_t grain[FR_MATMUL_MULTI], off[FR_MATMUL_MULTI + 1]; /* rows per item; first item of each weight */
} mmm_job;

static void mmm_range(void *arg, int64_t i0, int64_t i1, int ith) {
    const mmm_job *j = arg;
    (void)ith;
    for (int64_t i = i0; i < i1;) { /* the items of one weight at a time: one call for a run of rows */
        int w = 0;
        while (j->off[w + 1] <= i) w++;
        const int64_t e = i1 < j->off[w + 1] ? i1 : j->off[w + 1], rows = fr_rows(j->W[w]);
        const int64_t r0 = (i - j->off[w]) * j->grain[w], r1 = (e - j->off[w]) * j->grain[w];
        if (j->fq[w]) j->fq[w](j->W[w], &j->qx[w], j->Y[w], r0, r1 < rows ? r1 : rows);
        else j->ff[w](j->W[w], j->X, j->Y[w], j->n, r0, r1 < rows ? r1 : rows);
        i = e;
    }
}

/* Every weight's rows as work items of fr_matmul_grain rows, all in one pass over the pool; the
 * integer path where the weight has it (X quantized once per activation block, on this thread),
 * the float kernel otherwise or when there is no scratch memory. A small product (under 32768
 * multiply-adds in all) runs on the calling thread, one call per weight. */
void fr_matmul_multi(const fr_tensor *const *W, int nw, const float *X, float *const *Y, int n) {
    mmm_job j = {.nw = nw, .n = n, .W = W, .Y = Y, .X = X};
    int same = nw >= 1 && nw <= FR_MATMUL_MULTI;
    for (int w = 1; same && w < nw; w++) same = fr_cols(W[w]) == fr_cols(W[0]);
    if (!same) {
        for (int w = 0; w < nw; w++) fr_matmul(W[w], X, Y[w], n);
        return;
    }
    /* the activation blocks the weights ask for (32 and/or 256), one buffer each */
    const int64_t cols = fr_cols(W[0]);
    int blks[FR_MATMUL_MULTI], nb = 0;
    size_t at[FR_MATMUL_MULTI], bytes = 0;
    for (int w = 0; w < nw; w++) {
        const int blk = fr_matmul_uses_q(W[w]) ? fr_qx_blk(W[w]->dtype) : 0;
        j.fq[w] = blk && cols % blk == 0 ? fr_matmul_q_kernel(W[w]->dtype) : NULL;
        j.ff[w] = fr_matmul_kernel(W[w]->dtype, fr_kernels_exact());
        int b = 0;
        while (b < nb && blks[b] != blk) b++;
        if (j.fq[w] && b == nb) {
            blks[nb] = blk;
            at[nb++] = bytes;
            bytes += (fr_qx_bytes(n, cols, blk) + 63) & ~(size_t)63;
        }
    }
    void *buf = NULL, *own = NULL;
    if (bytes) {
        buf = fr_pool_scratch(bytes);
        if (!buf) buf = own = aligned_alloc(64, bytes);
        if (!buf) /* no scratch: the float kernels */
            for (int w = 0; w < nw; w++) j.fq[w] = NULL;
    }
    if (buf) {
        fr_qx q[FR_MATMUL_MULTI];
        for (int b = 0; b < nb; b++) fr_qx_quantize_mt(X, n, cols, blks[b], (char *)buf + at[b], &q[b]);
        for (int w = 0; w < nw; w++)
            for (int b = 0; j.fq[w] && b < nb; b++)
                if (blks[b] == fr_qx_blk(W[w]->dtype)) j.qx[w] = q[b];
    }
    const int th = fr_parallel_threads();
    int64_t work = 0;
    for (int w = 0; w < nw; w++) work += fr_rows(W[w]) * cols * (int64_t)n;
    j.off[0] = 0;
    for (int w = 0; w < nw; w++) {
        const int64_t rows = fr_rows(W[w]);
        j.grain[w] = work < 32768 ? (rows > 0 ? rows : 1) : fr_matmul_grain(rows, n, th);
        j.off[w + 1] = j.off[w] + (rows + j.grain[w] - 1) / j.grain[w];
    }
    if (work < 32768) mmm_range(&j, 0, j.off[nw], 0);
    else if (n <= 2) fr_parallel_for_guided(j.off[nw], 1, mmm_range, &j);
    else fr_parallel_for(j.off[nw], 1, mmm_range, &j);
    free(own);
}

void fr_matmul(const fr_tensor *W, const float *X, float *Y, int n) { fr_matmul_multi(&W, 1, X, &Y, n); }

typedef struct {
    float *y, *x;
    const float *add, *w;
    float eps;
    int d;
} addnorm_job;

static void addnorm_range(void *arg, int64_t t0, int64_t t1, int ith) {
    const addnorm_job *j = arg;
    (void)ith;
    for (int64_t t = t0; t < t1; t++) {
        float *x = j->x + t * j->d;
        if (j->add)
            for (int i = 0; i < j->d; i++) x[i] += j->add[t * j->d + i];
        if (j->y) fr_rmsnorm(j->y + t * j->d, x, j->w, j->eps, j->d);
    }
}

/* a prefill's residual adds and norms were serial on the calling thread (the
 * other thread waiting): 16 rows an item; one row runs here */
void fr_add_rmsnorm_rows(float *y, float *x, const float *add, const float *w, float eps, int d, int n) {
    addnorm_job j = {.y = y, .x = x, .add = add, .w = w, .eps = eps, .d = d};
    fr_parallel_for(n, 16, addnorm_range, &j);
}

float fr_exp_shift(float *x, int n, float m) {
    const fr_kernel_table *t = fr_kernels();
    return (t->exp_shift ? t->exp_shift : fr_exp_shift_generic)(x, n, m);
}

void fr_silu_mul(float *g, const float *u, int64_t n, int exact) {
    const fr_kernel_table *t = fr_kernels();
    (!exact && t->silu_mul ? t->silu_mul : fr_silu_mul_generic)(g, u, n);
}

void fr_kda_decay_gate(float *g, const float *bias, float ea, int n, int exact) {
    const fr_kernel_table *t = fr_kernels();
    (!exact && t->kda_decay_gate ? t->kda_decay_gate : fr_kda_decay_gate_generic)(g, bias, ea, n);
}

void fr_sigmoid_mul(float *o, const float *g, int n, int exact) {
    const fr_kernel_table *t = fr_kernels();
    (!exact && t->sigmoid_mul ? t->sigmoid_mul : fr_sigmoid_mul_generic)(o, g, n);
}

void fr_kda_decay_dots(const float *ki, const float *qi, const double *Gi, const float *k, int64_t ldk,
                       const double *G, int nj, int K, float *sa, float *sq, int exact) {
    const fr_kernel_table *t = fr_kernels();
    (!exact && t->kda_decay_dots ? t->kda_decay_dots : fr_kda_decay_dots_generic)(ki, qi, Gi, k, ldk, G, nj, K, sa, sq);
}

void fr_dots(const float *A, int64_t lda, const float *B, int64_t ldb, float *C, int64_t ldc, int m, int n, int k) {
    const fr_kernel_table *t = fr_kernels();
    (t->dots ? t->dots : fr_dots_generic)(A, lda, B, ldb, C, ldc, m, n, k);
}

void fr_wsum(const float *P, int64_t ldp, const float *B, int64_t ldb, float *C, int64_t ldc, int m, int n, int k) {
    const fr_kernel_table *t = fr_kernels();
    (t->wsum ? t->wsum : fr_wsum_generic)(P, ldp, B, ldb, C, ldc, m, n, k);
}

void fr_i8_dots(const int8_t *Q, const float *qd, const int32_t *qs, int m, const uint8_t *K, const float *kd, int r,
                int dr, int n, float *S, int64_t lds) {
    const fr_kernel_table *t = fr_kernels();
    (t->i8_dots ? t->i8_dots : fr_i8_dots_generic)(Q, qd, qs, m, K, kd, r, dr, n, S, lds);
}

void fr_i8_wsum(const float *P, int64_t ldp, int m, const uint8_t *K, const float *kd, int r, int dr, int n, float *U,
                int64_t ldu) {
    const fr_kernel_table *t = fr_kernels();
    (t->i8_wsum ? t->i8_wsum : fr_i8_wsum_generic)(P, ldp, m, K, kd, r, dr, n, U, ldu);
}
