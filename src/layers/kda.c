#include "layers/kda.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/pool.h"
#include "kernels/kernels.h"

/* A float tensor read whole into owned float32 memory: n elements, and (when
 * last > 0) innermost dimension last. Accepts [n], [1,1,n,1], [c,1,w], [c,w]. */
static int load_f32(const fr_weights *w, const char *name, int64_t n, int64_t last, float **out) {
    const fr_tensor *t = fr_weights_find(w, name);
    if (!t) return fr_err("%s: missing tensor '%s'", w->source, name);
    if (t->dtype != FR_DT_F32 && t->dtype != FR_DT_F16 && t->dtype != FR_DT_BF16)
        return fr_err("%s: tensor '%s' has dtype %s, expected F32, F16 or BF16", w->source, name,
                      fr_dtype_get(t->dtype)->name);
    if (fr_tensor_nelem(t) != n || (last > 0 && t->ne[t->ndim - 1] != last))
        return fr_err("%s: tensor '%s' has %lld elements (innermost %lld), the config implies %lld (innermost %lld)",
                      w->source, name, (long long)fr_tensor_nelem(t), (long long)t->ne[t->ndim - 1], (long long)n,
                      (long long)last);
    *out = malloc((size_t)n * sizeof(float));
    if (!*out) return fr_err("out of memory");
    fr_tensor_to_f32(t, *out);
    return 0;
}

int fr_kda_bind_hf(fr_kda *m, const fr_weights *w, const char *p, const fr_kda_cfg *c) {
    char name[512];
    memset(m, 0, sizeof *m);
    m->c = *c;
    const int64_t H = c->n_head, K = c->head_dim, HK = H * K;
    int64_t proj[2] = {HK, c->d}, lo_a[2] = {K, c->d}, lo_b[2] = {HK, K}, bsh[2] = {H, c->d}, osh[2] = {c->d, HK};
    static const char *const qkv[3] = {"q", "k", "v"};
    fr_tensor *wt[3] = {&m->wq, &m->wk, &m->wv};
    for (int s = 0; s < 3; s++) {
        snprintf(name, sizeof name, "%s%s_proj.weight", p, qkv[s]);
        if (fr_weights_bind(w, name, 2, proj, wt[s])) return -1;
        snprintf(name, sizeof name, "%s%s_conv1d.weight", p, qkv[s]);
        float *cw;
        if (load_f32(w, name, HK * c->conv, c->conv, &cw)) return -1;
        /* [H*K][W] -> [W][H*K]: tap j of every channel in a row, so the conv runs along the channels */
        m->conv[s] = malloc((size_t)HK * c->conv * sizeof(float));
        if (!m->conv[s]) {
            free(cw);
            return fr_err("out of memory");
        }
        for (int64_t ch = 0; ch < HK; ch++)
            for (int j = 0; j < c->conv; j++) m->conv[s][(size_t)j * HK + ch] = cw[(size_t)ch * c->conv + j];
        free(cw);
    }
#define BIND(field, nm, shape) \
    do { snprintf(name, sizeof name, "%s" nm, p); if (fr_weights_bind(w, name, 2, shape, &m->field)) return -1; } while (0)
    BIND(f_a, "f_a_proj.weight", lo_a);
    BIND(f_b, "f_b_proj.weight", lo_b);
    BIND(b, "b_proj.weight", bsh);
    BIND(g_a, "g_a_proj.weight", lo_a);
    BIND(g_b, "g_b_proj.weight", lo_b);
    BIND(wo, "o_proj.weight", osh);
#undef BIND
    snprintf(name, sizeof name, "%sA_log", p);
    if (load_f32(w, name, H, 0, &m->a_log)) return -1;
    snprintf(name, sizeof name, "%sdt_bias", p);
    if (load_f32(w, name, HK, 0, &m->dt_bias)) return -1;
    snprintf(name, sizeof name, "%so_norm.weight", p);
    return load_f32(w, name, K, K, &m->o_norm);
}

void fr_kda_stats(const fr_kda *m, fr_wstats *s) {
    const fr_kda_cfg *c = &m->c;
    int64_t HK = (int64_t)c->n_head * c->head_dim;
    const fr_tensor *ts[] = {&m->wq, &m->wk, &m->wv, &m->f_a, &m->f_b, &m->b, &m->g_a, &m->g_b, &m->wo};
    for (size_t i = 0; i < sizeof ts / sizeof *ts; i++) fr_wstats_dense(s, ts[i]);
    /* conv weights, A_log, dt_bias, o_norm: float32 copies */
    fr_wstats_vec(s, 3 * HK * c->conv + c->n_head + HK + c->head_dim);
}

void fr_kda_free(fr_kda *m) {
    for (int s = 0; s < 3; s++) free(m->conv[s]);
    free(m->a_log);
    free(m->dt_bias);
    free(m->o_norm);
    memset(m, 0, sizeof *m);
}

size_t fr_kda_state_floats(const fr_kda_cfg *c) {
    size_t HK = (size_t)c->n_head * c->head_dim;
    return 3 * (size_t)(c->conv - 1) * HK + HK * (size_t)c->head_dim;
}

void fr_kda_state_init(fr_kda_state *st, const fr_kda_cfg *c, float *mem) {
    st->conv = mem;
    st->S = mem + 3 * (size_t)(c->conv - 1) * c->n_head * c->head_dim;
}

void fr_kda_state_reset(fr_kda_state *st, const fr_kda_cfg *c) {
    memset(st->conv, 0, fr_kda_state_floats(c) * sizeof(float));
}

/* ---- the delta rule ------------------------------------------------------ */

void fr_kda_recurrent(int n, int K, int V, const float *q, const float *k, const float *g, int ldk, const float *v,
                      int ldv, const float *beta, int ldb, float *S, float *o) {
    for (int t = 0; t < n; t++) {
        const float *qt = q + (size_t)t * ldk, *kt = k + (size_t)t * ldk, *gt = g + (size_t)t * ldk;
        const float *vt = v + (size_t)t * ldv;
        float *ot = o + (size_t)t * ldv, b = beta[(size_t)t * ldb];
        /* S <- Diag(exp(g)) S: decay each key channel (row) first */
        for (int c = 0; c < K; c++) {
            float dc = expf(gt[c]);
            float *row = S + (size_t)c * V;
            for (int j = 0; j < V; j++) row[j] *= dc;
        }
        /* u = beta (v - S^T k)   (kept in ot for now) */
        memset(ot, 0, (size_t)V * sizeof *ot);
        for (int c = 0; c < K; c++) fr_axpy(ot, kt[c], S + (size_t)c * V, V);
        for (int j = 0; j < V; j++) ot[j] = b * (vt[j] - ot[j]);
        /* S += k u^T */
        for (int c = 0; c < K; c++) fr_axpy(S + (size_t)c * V, kt[c], ot, V);
        /* o = S^T q */
        memset(ot, 0, (size_t)V * sizeof *ot);
        for (int c = 0; c < K; c++) fr_axpy(ot, qt[c], S + (size_t)c * V, V);
    }
}

/* x[i] = exp(x[i]) for i < n: expf when exact, else the table's vector exp */
static void kda_exps(float *x, int n, int exact) {
    if (exact)
        for (int i = 0; i < n; i++) x[i] = expf(x[i]);
    else
        fr_exp_shift(x, n, 0.0f);
}

size_t fr_kda_chunk_scratch(int C, int K, int V) {
    size_t n = 2 * (size_t)C * K /* G, as doubles */ + 2 * (size_t)C * C + (size_t)C * V + 2 * (size_t)C * K;
    return (n + 15) & ~(size_t)15; /* whole 64-byte lines, so per-thread slices stay aligned */
}

/* Chunk form. Within a chunk of L tokens starting from state S0, with
 * G_i = sum_{j<=i} g_j (cumulative log-decay) and
 * S_i = Diag(exp g_i) S_{i-1} + k_i w_i^T, w_i = beta_i (v_i - (Diag(exp g_i) S_{i-1})^T k_i):
 *   S_i = Diag(exp G_i) S0 + sum_{j<=i} Diag(exp(G_i - G_j)) k_j w_j^T
 * so the w_i solve the unit lower-triangular system (UT transform)
 *   w_i + sum_{j<i} A_ij w_j = beta_i (v_i - S0^T (exp(G_i) * k_i)),
 *   A_ij = beta_i sum_c k_i[c] k_j[c] exp(G_i[c] - G_j[c])
 * and
 *   o_i   = S0^T (exp(G_i) * q_i) + sum_{j<=i} Qk_ij w_j,  Qk_ij = sum_c q_i[c] k_j[c] exp(G_i[c] - G_j[c])
 *   S_L-1 = Diag(exp G_L-1) S0 + sum_j (k_j * exp(G_L-1 - G_j)) w_j^T.
 * Only differences G_i - G_j (j <= i, so <= 0) are exponentiated: no overflow
 * however strong the decay. G is summed in double so that the differences keep
 * float32 accuracy when strong decays make G large. */
void fr_kda_chunked(int n, int K, int V, const float *q, const float *k, const float *g, int ldk, const float *v,
                    int ldv, const float *beta, int ldb, float *S, float *o, int C, float *scratch, int exact) {
    double *G = (double *)(void *)scratch; /* [C][K] */
    float *A = scratch + 2 * (size_t)C * K; /* [C][C] */
    float *Qk = A + (size_t)C * C;         /* [C][C] */
    float *W = Qk + (size_t)C * C;         /* [C][V] */
    float *Pk = W + (size_t)C * V;         /* [C][K], then [K][C] */
    float *Pq = Pk + (size_t)C * K;        /* [C][K] */
    for (int t0 = 0; t0 < n; t0 += C) {
        int L = n - t0 < C ? n - t0 : C;
#define KROW(p, i) ((p) + (size_t)(t0 + (i)) * ldk)
        for (int i = 0; i < L; i++) {
            const float *gi = KROW(g, i);
            double *Gi = G + (size_t)i * K;
            for (int c = 0; c < K; c++) Gi[c] = (i ? Gi[c - K] : 0.0) + gi[c];
        }
        /* A (strictly lower, beta folded in) and Qk (lower, diagonal included):
         * L (L + 1) / 2 pairs of K decays each: most of the chunk's exps (fr_kda_decay_dots) */
        for (int i = 0; i < L; i++) {
            float *Ai = A + (size_t)i * C, bi = beta[(size_t)(t0 + i) * ldb];
            fr_kda_decay_dots(KROW(k, i), KROW(q, i), G + (size_t)i * K, KROW(k, 0), ldk, G, i + 1, K, Ai,
                              Qk + (size_t)i * C, exact);
            for (int j = 0; j <= i; j++) Ai[j] = -(bi * Ai[j]); /* -A_ij, as the substitution subtracts */
            for (int j = i + 1; j < L; j++) Qk[(size_t)i * C + j] = 0;
        }
        /* the decays of the chunk's keys and queries from S0: Pk = -exp(G) k
         * and Pq = exp(G) q   [L][K] */
        for (int i = 0; i < L; i++) {
            const float *ki = KROW(k, i), *qi = KROW(q, i);
            const double *Gi = G + (size_t)i * K;
            float *e = Pq + (size_t)i * K;
            for (int c = 0; c < K; c++) e[c] = (float)Gi[c];
            kda_exps(e, K, exact);
            for (int c = 0; c < K; c++) {
                Pk[(size_t)i * K + c] = -(e[c] * ki[c]);
                e[c] *= qi[c];
            }
        }
        /* w_i = beta_i (v_i - S0^T (exp(G_i) k_i)) - sum_{j<i} A_ij w_j: forward substitution */
        for (int i = 0; i < L; i++) memcpy(W + (size_t)i * V, v + (size_t)(t0 + i) * ldv, (size_t)V * sizeof *W);
        fr_wsum(Pk, K, S, V, W, V, L, K, V); /* W += Pk S0 */
        for (int i = 0; i < L; i++) {
            float bi = beta[(size_t)(t0 + i) * ldb], *wi = W + (size_t)i * V;
            for (int j = 0; j < V; j++) wi[j] *= bi;
            fr_wsum(A + (size_t)i * C, C, W, V, wi, V, 1, i, V); /* A holds -A_ij */
        }
        /* outputs: o_i = S0^T (exp(G_i) q_i) + sum_{j<=i} Qk_ij w_j (Qk zero above the diagonal) */
        for (int i = 0; i < L; i++) memset(o + (size_t)(t0 + i) * ldv, 0, (size_t)V * sizeof *o);
        fr_wsum(Pq, K, S, V, o + (size_t)t0 * ldv, ldv, L, K, V);
        fr_wsum(Qk, C, W, V, o + (size_t)t0 * ldv, ldv, L, L, V);
        /* state at the end of the chunk: Diag(exp G_L-1) S0 + sum_j (k_j * exp(G_L-1 - G_j)) w_j^T,
         * the factors in Pk's place as [K][L] */
        const double *Gl = G + (size_t)(L - 1) * K;
        float *Ps = Pk;
        for (int c = 0; c < K; c++) Ps[c] = (float)Gl[c];
        kda_exps(Ps, K, exact);
        for (int c = 0; c < K; c++) {
            float dc = Ps[c], *row = S + (size_t)c * V;
            for (int j = 0; j < V; j++) row[j] *= dc;
        }
        for (int j = 0; j < L; j++) {
            const double *Gj = G + (size_t)j * K;
            float *e = Pq + (size_t)j * K; /* Pq is done with: exp(G_L-1 - G_j) per channel */
            for (int c = 0; c < K; c++) e[c] = (float)(Gl[c] - Gj[c]);
            kda_exps(e, K, exact);
        }
        for (int c = 0; c < K; c++)
            for (int j = 0; j < L; j++) Ps[(size_t)c * L + j] = KROW(k, j)[c] * Pq[(size_t)j * K + c];
        fr_wsum(Ps, L, W, V, S, V, K, L, V);
#undef KROW
    }
}

/* ---- the layer ----------------------------------------------------------- */

/* the recurrence over heads [h0, h1), one head per task */
typedef struct kda_job {
    int n, H, K, C, exact;
    const float *q, *k, *g, *v, *beta;
    float *S, *o, *scratch;
    size_t scr;
} kda_job;

static void kda_heads(void *arg, int64_t h0, int64_t h1, int ith) {
    const kda_job *j = arg;
    const int K = j->K, HK = j->H * K;
    for (int64_t h = h0; h < h1; h++) {
        size_t off = (size_t)h * K;
        float *S = j->S + (size_t)h * K * K;
        if (j->n == 1)
            fr_kda_recurrent(1, K, K, j->q + off, j->k + off, j->g + off, HK, j->v + off, HK, j->beta + h, j->H, S,
                             j->o + off);
        else
            fr_kda_chunked(j->n, K, K, j->q + off, j->k + off, j->g + off, HK, j->v + off, HK, j->beta + h, j->H, S,
                           j->o + off, j->C, j->scratch + j->scr * (size_t)ith, j->exact);
    }
}

static float sigmoidf(float x) { return 1.0f / (1.0f + expf(-x)); }

void fr_kda_forward(const fr_kda *m, fr_kda_state *st, const float *x, float *y, int n, fr_arena *a) {
    const fr_kda_cfg *c = &m->c;
    const int H = c->n_head, K = c->head_dim, HK = H * K, W = c->conv, P = W - 1;
    const int nth = fr_parallel_threads(), exact = fr_kernels_exact();
    fr_arena_mark mk = fr_arena_save(a);
    float *ones = fr_arena_f32(a, (size_t)HK);
    for (int i = 0; i < HK; i++) ones[i] = 1.0f;

    /* q, k, v: projections, causal depthwise conv over [state ; new], SiLU */
    float *qkv[3];
    for (int s = 0; s < 3; s++) {
        const fr_tensor *wt = s == 0 ? &m->wq : s == 1 ? &m->wk : &m->wv;
        float *ext = fr_arena_f32(a, (size_t)(P + n) * HK); /* [P + n][HK] pre-conv inputs */
        float *cs = st->conv + (size_t)s * P * HK;          /* [P][HK] */
        memcpy(ext, cs, (size_t)P * HK * sizeof *ext);
        fr_matmul(wt, x, ext + (size_t)P * HK, n);
        float *out = qkv[s] = fr_arena_f32(a, (size_t)n * HK);
        const float *cw = m->conv[s]; /* [W][HK] */
        for (int t = 0; t < n; t++) {
            float *ot = out + (size_t)t * HK;
            for (int ch = 0; ch < HK; ch++) ot[ch] = 0;
            for (int j = 0; j < W; j++) { /* acc += w_j x_t+j, taps in order per channel */
                const float *wj = cw + (size_t)j * HK, *xj = ext + (size_t)(t + j) * HK;
                for (int ch = 0; ch < HK; ch++) ot[ch] += wj[ch] * xj[ch];
            }
            fr_silu_mul(ot, ones, HK, exact); /* silu(acc) * 1 */
        }
        memcpy(cs, ext + (size_t)n * HK, (size_t)P * HK * sizeof *ext); /* the last P inputs */
    }
    float *q = qkv[0], *k = qkv[1], *v = qkv[2];

    /* per-head L2 norm of q and k; q also scaled by K^-0.5 */
    const float qs = 1.0f / sqrtf((float)K);
    for (size_t r = 0; r < (size_t)n * H; r++) {
        float *qh = q + r * K, *kh = k + r * K;
        float sq = 0, sk = 0;
        for (int i = 0; i < K; i++) {
            sq += qh[i] * qh[i];
            sk += kh[i] * kh[i];
        }
        float fq = 1.0f / sqrtf(sq + 1e-6f) * qs, fk = 1.0f / sqrtf(sk + 1e-6f);
        for (int i = 0; i < K; i++) {
            qh[i] *= fq;
            kh[i] *= fk;
        }
    }

    /* log-decay g [n][HK] and write strength beta [n][H] */
    float *lo = fr_arena_f32(a, (size_t)n * K), *g = fr_arena_f32(a, (size_t)n * HK);
    fr_matmul(&m->f_a, x, lo, n);
    fr_matmul(&m->f_b, lo, g, n);
    for (int t = 0; t < n; t++)
        for (int h = 0; h < H; h++) {
            float ea = expf(m->a_log[h]);
            float *gh = g + (size_t)t * HK + (size_t)h * K;
            const float *db = m->dt_bias + (size_t)h * K;
            fr_kda_decay_gate(gh, db, ea, K, exact);
        }
    float *beta = fr_arena_f32(a, (size_t)n * H);
    fr_matmul(&m->b, x, beta, n);
    for (size_t i = 0; i < (size_t)n * H; i++) beta[i] = sigmoidf(beta[i]);

    /* the recurrence, one head per task: o [n][HK] */
    float *o = fr_arena_f32(a, (size_t)n * HK);
    int C = n < FR_KDA_CHUNK ? n : FR_KDA_CHUNK;
    size_t scr = fr_kda_chunk_scratch(C, K, K);
    float *scratch = n > 1 ? fr_arena_f32(a, scr * (size_t)nth) : NULL;
    kda_job job = {n, H, K, C, exact, q, k, g, v, beta, st->S, o, scratch, scr};
    fr_parallel_for(H, 1, kda_heads, &job);

    /* gated RMSNorm per head (weight shared by the heads), sigmoid gate */
    float *gb = g; /* g is no longer needed: reuse for the gate [n][HK] */
    fr_matmul(&m->g_a, x, lo, n);
    fr_matmul(&m->g_b, lo, gb, n);
    for (size_t r = 0; r < (size_t)n * H; r++) {
        float *oh = o + r * K;
        const float *gh = gb + r * K;
        fr_rmsnorm(oh, oh, m->o_norm, c->eps, K);
        fr_sigmoid_mul(oh, gh, K, exact);
    }
    fr_matmul(&m->wo, o, y, n); /* [n][d] */
    fr_arena_restore(a, mk);
}
