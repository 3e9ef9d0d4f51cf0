#include "layers/mlp.h"

#include <stdio.h>
#include <string.h>

#include "base/pool.h"

#include "kernels/kernels.h"

int fr_mlp_bind(fr_mlp *m, const fr_weights *w, const char *prefix, const char *gate, const char *up,
                const char *down, int d, int ff) {
    char name[512];
    int64_t gu[2] = {ff, d}, dn[2] = {d, ff};
    m->d = d;
    m->ff = ff;
    snprintf(name, sizeof name, "%s%s", prefix, gate);
    if (fr_weights_bind(w, name, 2, gu, &m->gate)) return -1;
    snprintf(name, sizeof name, "%s%s", prefix, up);
    if (fr_weights_bind(w, name, 2, gu, &m->up)) return -1;
    snprintf(name, sizeof name, "%s%s", prefix, down);
    return fr_weights_bind(w, name, 2, dn, &m->down);
}

/* rows per work item, in decode and prefill: in decode (a token or two per
 * MLP) each thread streams long contiguous runs of weight rows (interleaved
 * short runs cost memory bandwidth, see kernels/dispatch.c); in prefill each
 * call meets the expert's activations with more rows (kernels/dispatch.c
 * fr_matmul_grain), and an expert of 1408 to 2048 rows still makes 6 to 8 items.
 * Decode hands the items out guided (fr_parallel_for_guided: a thread takes a
 * quarter of the items left, down to one) and a take's items of one MLP are one
 * kernel call per weight, as fr_matmul does for its rows: runs of several
 * experts' rows first, single items at the end, so the threads finish
 * together. On the Zen 5 class VM, the complete 27-layer V2-Lite Q4_K_M in one
 * process, the two ways alternating every 16 tokens: +4.3 to +6.6 % (4 of 4
 * runs); 512-row items -1 %; 64-row items (where the down projection's blocks
 * allow them) -2 % (bench/RESULTS.md Run 31). Items stay multiples of 256 rows:
 * the down projection's int8 activations are made per item, in whole blocks of
 * up to 256 (Q4_K, Q6_K). */
#define CHUNK 256

typedef struct mlp_job {
    const fr_mlp *const *m;
    const float *const *x;
    float *const *y;
    const int *cnt;
    int ne;
    int64_t *off1, *off2; /* [ne + 1] first work item of each MLP, per pass */
    float **g, **u;       /* [ne] -> [cnt][ff] */
    /* integer path (kernels.h): x and g quantized, per MLP; .q == NULL: float32 */
    fr_qx *xq, *gq;
    int exact;     /* the caller's fr_kernels_exact() */
    void **gbuf; /* [ne] scratch for gq */
} mlp_job;

/* the MLP of work item i, the end of its items in [i, i1), and their rows [r0, r1) (r1 not clamped to
 * the MLP's rows) */
static int item(const int64_t *off, int ne, int64_t i, int64_t i1, int64_t *iend, int64_t *r0, int64_t *r1) {
    int e = 0;
    while (e + 1 < ne && off[e + 1] <= i) e++;
    *iend = off[e + 1] < i1 ? off[e + 1] : i1;
    *r0 = (i - off[e]) * CHUNK;
    *r1 = (*iend - off[e]) * CHUNK;
    return e;
}

/* items [i0, i1): each MLP's run of them one call per weight, rows [r0, r1) */
static void pass_gate_up(void *arg, int64_t i0, int64_t i1, int ith) {
    const mlp_job *j = arg;
    for (int64_t i = i0, ie; i < i1; i = ie) {
        int64_t r0, r1;
        int e = item(j->off1, j->ne, i, i1, &ie, &r0, &r1);
        const fr_mlp *m = j->m[e];
        if (r1 > m->ff) r1 = m->ff;
        int n = j->cnt[e];
        if (j->xq[e].q) {
            fr_matmul_q_kernel(m->gate.dtype)(&m->gate, &j->xq[e], j->g[e], r0, r1);
            fr_matmul_q_kernel(m->up.dtype)(&m->up, &j->xq[e], j->u[e], r0, r1);
        } else {
            fr_matmul_kernel(m->gate.dtype, j->exact)(&m->gate, j->x[e], j->g[e], n, r0, r1);
            fr_matmul_kernel(m->up.dtype, j->exact)(&m->up, j->x[e], j->u[e], n, r0, r1);
        }
        for (int t = 0; t < n; t++)
            fr_silu_mul(j->g[e] + (size_t)t * m->ff + r0, j->u[e] + (size_t)t * m->ff + r0, r1 - r0, j->exact);
        /* g to int8 for the down projection here, block by block (r0 and r1 are
         * multiples of its block: CHUNK is, and ff is), so no pass of its own */
        if (j->gbuf[e]) {
            const int blk = j->gq[e].blk;
            const size_t nb = (size_t)(m->ff / blk);
            for (int t = 0; t < n; t++)
                fr_qx_quantize_blocks(j->g[e], n, m->ff, blk, j->gbuf[e], (size_t)t * nb + (size_t)(r0 / blk),
                                      (size_t)t * nb + (size_t)(r1 / blk));
        }
    }
}

static void pass_down(void *arg, int64_t i0, int64_t i1, int ith) {
    const mlp_job *j = arg;
    for (int64_t i = i0, ie; i < i1; i = ie) {
        int64_t r0, r1;
        int e = item(j->off2, j->ne, i, i1, &ie, &r0, &r1);
        const fr_mlp *m = j->m[e];
        if (r1 > m->d) r1 = m->d;
        if (j->gq[e].q) fr_matmul_q_kernel(m->down.dtype)(&m->down, &j->gq[e], j->y[e], r0, r1);
        else fr_matmul_kernel(m->down.dtype, j->exact)(&m->down, j->g[e], j->y[e], j->cnt[e], r0, r1);
    }
}

/* gate and up of MLP e take the integer path with one quantized x */
static int q_gate_up(const fr_mlp *m) {
    return fr_matmul_uses_q(&m->gate) && fr_matmul_uses_q(&m->up) &&
           fr_qx_blk(m->gate.dtype) == fr_qx_blk(m->up.dtype);
}

void fr_mlp_forward_multi(const fr_mlp *const *m, int ne, const float *const *x, const int *cnt, float *const *y,
                          fr_arena *a) {
    if (ne <= 0) return;
    fr_arena_mark mk = fr_arena_save(a);
    mlp_job j = {.m = m, .x = x, .y = y, .cnt = cnt, .ne = ne, .exact = fr_kernels_exact()};
    j.off1 = fr_arena_alloc(a, sizeof(int64_t) * (size_t)(ne + 1));
    j.off2 = fr_arena_alloc(a, sizeof(int64_t) * (size_t)(ne + 1));
    j.g = fr_arena_alloc(a, sizeof(float *) * (size_t)ne);
    j.u = fr_arena_alloc(a, sizeof(float *) * (size_t)ne);
    j.xq = fr_arena_alloc(a, sizeof(fr_qx) * (size_t)ne);
    j.gq = fr_arena_alloc(a, sizeof(fr_qx) * (size_t)ne);
    j.gbuf = fr_arena_alloc(a, sizeof(void *) * (size_t)ne);
    j.off1[0] = j.off2[0] = 0;
    for (int e = 0; e < ne; e++) {
        memset(&j.xq[e], 0, sizeof j.xq[e]);
        memset(&j.gq[e], 0, sizeof j.gq[e]);
        j.gbuf[e] = NULL;
        int shared = -1; /* an earlier MLP with the same input rows and block: reuse its int8 x */
        for (int f = 0; f < e && shared < 0; f++)
            if (x[f] == x[e] && cnt[f] == cnt[e] && j.xq[f].q && j.xq[f].cols == m[e]->d &&
                j.xq[f].blk == fr_qx_blk(m[e]->gate.dtype))
                shared = f;
        if (cnt[e] && q_gate_up(m[e]) && shared >= 0) {
            j.xq[e] = j.xq[shared];
        } else if (cnt[e] && q_gate_up(m[e])) {
            int blk = fr_qx_blk(m[e]->gate.dtype);
            void *b = fr_arena_alloc(a, fr_qx_bytes(cnt[e], m[e]->d, blk));
            if (b) fr_qx_quantize(x[e], cnt[e], m[e]->d, blk, b, &j.xq[e]);
        }
        if (cnt[e] && fr_matmul_uses_q(&m[e]->down)) {
            const int blk = fr_qx_blk(m[e]->down.dtype);
            if (CHUNK % blk == 0 && m[e]->ff % blk == 0) {
                j.gbuf[e] = fr_arena_alloc(a, fr_qx_bytes(cnt[e], m[e]->ff, blk));
                if (j.gbuf[e]) j.gq[e] = fr_qx_view(cnt[e], m[e]->ff, blk, j.gbuf[e]);
            }
        }
        j.g[e] = fr_arena_f32(a, (size_t)cnt[e] * m[e]->ff);
        j.u[e] = fr_arena_f32(a, (size_t)cnt[e] * m[e]->ff);
        j.off1[e + 1] = j.off1[e] + (cnt[e] ? (m[e]->ff + CHUNK - 1) / CHUNK : 0);
        j.off2[e + 1] = j.off2[e] + (cnt[e] ? (m[e]->d + CHUNK - 1) / CHUNK : 0);
    }
    int decode = 1; /* a token or two per MLP */
    for (int e = 0; e < ne; e++) decode &= cnt[e] <= 2;
    void (*const par)(int64_t, int64_t, fr_range_fn, void *) = decode ? fr_parallel_for_guided : fr_parallel_for;
    par(j.off1[ne], 1, pass_gate_up, &j);
    par(j.off2[ne], 1, pass_down, &j);
    fr_arena_restore(a, mk);
}

void fr_mlp_stats(const fr_mlp *m, fr_wstats *s) {
    fr_wstats_dense(s, &m->gate);
    fr_wstats_dense(s, &m->up);
    fr_wstats_dense(s, &m->down);
}

void fr_mlp_forward(const fr_mlp *m, const float *x, float *y, int n, fr_arena *a) {
    fr_mlp_forward_multi(&m, 1, &x, &n, &y, a);
}
