#include "layers/moe.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/pool.h"
#include "kernels/kernels.h"

int fr_moe_bind_hf(fr_moe *m, const fr_weights *w, const char *prefix, const fr_moe_cfg *c, int has_bias) {
    static const fr_moe_names ds = {"gate_proj.weight", "up_proj.weight", "down_proj.weight"};
    return fr_moe_bind_names(m, w, prefix, c, has_bias, &ds);
}

int fr_moe_bind_names(fr_moe *m, const fr_weights *w, const char *prefix, const fr_moe_cfg *c, int has_bias,
                      const fr_moe_names *nm) {
    char name[512];
    memset(m, 0, sizeof *m);
    m->c = *c;
    int64_t gne[2] = {c->n_expert, c->d};
    snprintf(name, sizeof name, "%sgate.weight", prefix);
    if (fr_weights_bind(w, name, 2, gne, &m->gate)) return -1;
    if (has_bias) {
        snprintf(name, sizeof name, "%sgate.e_score_correction_bias", prefix);
        if (fr_weights_load_vec(w, name, c->n_expert, &m->bias)) return -1;
    }
    m->experts = calloc((size_t)c->n_expert, sizeof *m->experts);
    if (!m->experts) return fr_err("out of memory");
    for (int e = 0; e < c->n_expert; e++) {
        snprintf(name, sizeof name, "%sexperts.%d.", prefix, e);
        if (fr_mlp_bind(&m->experts[e], w, name, nm->gate, nm->up, nm->down, c->d, c->ff))
            return -1;
    }
    if (c->n_shared > 0) {
        snprintf(name, sizeof name, "%sshared_experts.", prefix);
        if (fr_mlp_bind(&m->shared, w, name, "gate_proj.weight", "up_proj.weight", "down_proj.weight", c->d,
                        c->ff * c->n_shared))
            return -1;
    }
    return 0;
}

void fr_moe_stats(const fr_moe *m, fr_wstats *s) {
    fr_wstats_dense(s, &m->gate);
    if (m->bias) fr_wstats_vec(s, m->c.n_expert);
    if (m->c.n_shared > 0) fr_mlp_stats(&m->shared, s);
    fr_wstats one = {0};
    fr_mlp_stats(&m->experts[0], &one); /* experts are alike */
    s->params += one.params * m->c.n_expert;
    s->active += one.active * m->c.k;
    s->bytes += one.bytes * m->c.n_expert;
    s->read += one.read * m->c.k;
}

void fr_moe_free(fr_moe *m) {
    free(m->bias);
    free(m->experts);
    m->bias = NULL;
    m->experts = NULL;
}

/* index of the largest value in v[0..n) not yet taken; ties: lowest index */
static int argmax_free(const float *v, const unsigned char *taken, int n) {
    int best = -1;
    for (int i = 0; i < n; i++)
        if (!taken[i] && (best < 0 || v[i] > v[best])) best = i;
    return best;
}

static void route_one(const fr_moe *m, const float *logit, int32_t *idx, float *wts, float *s, float *sel,
                      unsigned char *taken) {
    const fr_moe_cfg *c = &m->c;
    int E = c->n_expert;
    if (c->scoring == FR_SCORE_SOFTMAX) {
        memcpy(s, logit, (size_t)E * sizeof *s);
        fr_softmax(s, E);
    } else {
        for (int e = 0; e < E; e++) s[e] = 1.0f / (1.0f + expf(-logit[e]));
    }
    for (int e = 0; e < E; e++) sel[e] = m->bias ? s[e] + m->bias[e] : s[e];
    if (c->group_mode != FR_GROUP_NONE && c->n_group > 1) {
        int G = c->n_group, per = E / G;
        float gs[1024];
        unsigned char gtaken[1024] = {0};
        for (int g = 0; g < G; g++) {
            const float *v = sel + g * per;
            if (c->group_mode == FR_GROUP_MAX) {
                float mx = -INFINITY;
                for (int i = 0; i < per; i++) mx = v[i] > mx ? v[i] : mx;
                gs[g] = mx;
            } else { /* sum of the two largest */
                float a = -INFINITY, b = -INFINITY;
                for (int i = 0; i < per; i++) {
                    if (v[i] > a) { b = a; a = v[i]; }
                    else if (v[i] > b) b = v[i];
                }
                gs[g] = a + b;
            }
        }
        for (int j = 0; j < c->topk_group; j++) gtaken[argmax_free(gs, gtaken, G)] = 1;
        for (int g = 0; g < G; g++)
            if (!gtaken[g])
                for (int i = 0; i < per; i++) sel[g * per + i] = -INFINITY;
    }
    memset(taken, 0, (size_t)E);
    float sum = 0;
    for (int j = 0; j < c->k; j++) {
        int e = argmax_free(sel, taken, E);
        taken[e] = 1;
        idx[j] = e;
        wts[j] = s[e];
        sum += s[e];
    }
    for (int j = 0; j < c->k; j++) {
        if (c->norm_topk) wts[j] /= sum;
        wts[j] *= c->route_scale;
    }
}

void fr_moe_route(const fr_moe *m, const float *x, int n, int32_t *idx, float *wts, fr_arena *a) {
    int E = m->c.n_expert;
    float *logit = fr_arena_f32(a, (size_t)n * E);
    float *s = fr_arena_f32(a, (size_t)E), *sel = fr_arena_f32(a, (size_t)E);
    unsigned char *taken = fr_arena_alloc(a, (size_t)E);
    fr_matmul(&m->gate, x, logit, n); /* [n, E] */
    for (int t = 0; t < n; t++)
        route_one(m, logit + (size_t)t * E, idx + (size_t)t * m->c.k, wts + (size_t)t * m->c.k, s, sel, taken);
}

/* A prefill's gather and combine, on the pool (they were serial on the calling
 * thread, the other waiting: 117 MB each way a layer for 512 tokens of a Kimi
 * K2 cut, 1.5 % of its pp512) */
typedef struct {
    const float *x;
    float *y, *xs;
    const float *ys;
    const int *tok, *slots; /* per slot its token; per token its k slots, ascending */
    const float *tw;        /* per slot the token's routing weight */
    int k, d;
} moe_job;

/* xs[slot] = x[tok[slot]] for slots [i0, i1) */
static void gather_rows(void *arg, int64_t i0, int64_t i1, int ith) {
    const moe_job *j = arg;
    (void)ith;
    for (int64_t i = i0; i < i1; i++)
        memcpy(j->xs + (size_t)i * j->d, j->x + (size_t)j->tok[i] * j->d, (size_t)j->d * sizeof *j->x);
}

/* y[t] += w * Expert(x[t]) for tokens [t0, t1), the experts in ascending order */
static void combine_rows(void *arg, int64_t t0, int64_t t1, int ith) {
    const moe_job *j = arg;
    (void)ith;
    for (int64_t t = t0; t < t1; t++)
        for (int q = 0; q < j->k; q++) {
            const int s = j->slots[t * j->k + q];
            fr_axpy(j->y + (size_t)t * j->d, j->tw[s], j->ys + (size_t)s * j->d, j->d);
        }
}

void fr_moe_forward(const fr_moe *m, const float *x, float *y, int n, int32_t *idx_out, float *w_out, fr_arena *a) {
    const fr_moe_cfg *c = &m->c;
    int k = c->k, d = c->d;
    int32_t *idx = idx_out ? idx_out : fr_arena_alloc(a, (size_t)n * k * sizeof(int32_t));
    float *wts = w_out ? w_out : fr_arena_f32(a, (size_t)n * k);
    fr_moe_route(m, x, n, idx, wts, a);

    /* tokens grouped by expert (ascending expert, then token): xs[slot] = x[tok[slot]] */
    const int E = c->n_expert;
    int *cnt = fr_arena_alloc(a, sizeof(int) * (size_t)(E + 1)), *start = fr_arena_alloc(a, sizeof(int) * (size_t)(E + 1));
    int *tok = fr_arena_alloc(a, sizeof(int) * (size_t)n * k), *slots = fr_arena_alloc(a, sizeof(int) * (size_t)n * k);
    float *tw = fr_arena_f32(a, (size_t)n * k);
    memset(cnt, 0, sizeof(int) * (size_t)(E + 1));
    for (int i = 0; i < n * k; i++) cnt[idx[i]]++;
    start[0] = 0;
    for (int e = 0; e < E; e++) start[e + 1] = start[e] + cnt[e];
    memset(cnt, 0, sizeof(int) * (size_t)E);
    for (int t = 0; t < n; t++)
        for (int j = 0; j < k; j++) {
            int e = idx[t * k + j], slot = start[e] + cnt[e]++;
            tok[slot] = t;
            tw[slot] = wts[t * k + j];
            int i = j; /* token t's slots in ascending order (ascending expert), by insertion */
            for (; i > 0 && slots[t * k + i - 1] > slot; i--) slots[t * k + i] = slots[t * k + i - 1];
            slots[t * k + i] = slot;
        }
    float *xs = fr_arena_f32(a, (size_t)n * k * d), *ys = fr_arena_f32(a, (size_t)n * k * d);
    moe_job j = {.x = x, .y = y, .xs = xs, .ys = ys, .tok = tok, .slots = slots, .tw = tw, .k = k, .d = d};
    if (n > 1) fr_parallel_for((int64_t)n * k, 16, gather_rows, &j); /* one token: the experts read x itself (below) */

    /* every MLP of the layer at once: the shared experts over all tokens
     * (straight into y), each routed expert over its tokens */
    int cap = E + 1, ne = 0;
    const fr_mlp **mm = fr_arena_alloc(a, sizeof *mm * (size_t)cap);
    const float **xin = fr_arena_alloc(a, sizeof *xin * (size_t)cap);
    float **yout = fr_arena_alloc(a, sizeof *yout * (size_t)cap);
    int *ncnt = fr_arena_alloc(a, sizeof(int) * (size_t)cap);
    if (c->n_shared > 0) {
        mm[ne] = &m->shared, xin[ne] = x, yout[ne] = y, ncnt[ne] = n;
        ne++;
    } else {
        memset(y, 0, (size_t)n * d * sizeof *y);
    }
    for (int e = 0; e < E; e++)
        if (cnt[e]) {
            /* one token (decode): every expert reads x itself, so its int8 form is shared */
            mm[ne] = &m->experts[e], xin[ne] = n == 1 ? x : xs + (size_t)start[e] * d, yout[ne] = ys + (size_t)start[e] * d;
            ncnt[ne++] = cnt[e];
        }
    fr_mlp_forward_multi(mm, ne, xin, ncnt, yout, a);

    fr_parallel_for(n, 4, combine_rows, &j);
}
