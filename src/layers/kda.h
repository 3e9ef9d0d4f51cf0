/* Kimi Delta Attention (Kimi Linear): gated delta-rule linear attention with a
 * per-channel decay and a fixed-size state.
 *
 * Per token x (H heads, head width K; value width V = K):
 *   q~, k~, v~ = W_q x, W_k x, W_v x                          [H*K] each
 *   q, k, v    = silu(causal depthwise conv_W(.)) of each      (state: last W-1 inputs)
 *   q_h <- q_h / sqrt(|q_h|^2 + 1e-6) * K^-0.5;  k_h <- k_h / sqrt(|k_h|^2 + 1e-6)
 *   g[h,c]     = -exp(A_log[h]) * softplus(W_fb W_fa x + dt_bias)[h,c]   (log-decay <= 0)
 *   beta[h]    = sigmoid(W_b x)[h]
 *   S_h [K][V] (f32):  S <- Diag(exp(g)) S;  S <- S + beta k (v - S^T k)^T;  o_h = S^T q
 *   y = W_o concat_h( RMSNorm(o_h; o_norm) * sigmoid(W_gb W_ga x)_h )
 * Reference: fla/ops/kda/naive.py, the official modeling_kimi.py. */
#ifndef FR_KDA_H
#define FR_KDA_H

#include <stddef.h>

#include "base/arena.h"
#include "tensor/weights.h"

typedef struct fr_kda_cfg {
    int d, n_head, head_dim, conv; /* conv: short-conv kernel width W */
    float eps;                     /* o_norm eps (rms_norm_eps) */
} fr_kda_cfg;

typedef struct fr_kda {
    fr_kda_cfg c;
    fr_tensor wq, wk, wv;           /* [H*K, d] */
    float *conv[3];                 /* q, k, v: [W][H*K], tap-major (owned; the files' [H*K][W] transposed) */
    fr_tensor f_a, f_b;             /* [K, d], [H*K, K] */
    float *a_log;                   /* [H] (owned) */
    float *dt_bias;                 /* [H*K] (owned) */
    fr_tensor b;                    /* [H, d] */
    fr_tensor g_a, g_b;             /* [K, d], [H*K, K] */
    float *o_norm;                  /* [K] (owned) */
    fr_tensor wo;                   /* [d, H*K] */
} fr_kda;

/* The per-sequence state of one layer (fixed size). */
typedef struct fr_kda_state {
    float *conv; /* [3][W-1][H*K]: last W-1 pre-conv inputs of q, k, v, oldest first */
    float *S;    /* [H][K][K] recurrent state */
} fr_kda_state;

/* prefix "model.layers.N.self_attn." with the official HF names */
int fr_kda_bind_hf(fr_kda *m, const fr_weights *w, const char *prefix, const fr_kda_cfg *c);
void fr_kda_free(fr_kda *m);
void fr_kda_stats(const fr_kda *m, fr_wstats *s);
/* floats in one layer's state */
size_t fr_kda_state_floats(const fr_kda_cfg *c);
/* st->conv and st->S point into mem (fr_kda_state_floats(c) floats) */
void fr_kda_state_init(fr_kda_state *st, const fr_kda_cfg *c, float *mem);
void fr_kda_state_reset(fr_kda_state *st, const fr_kda_cfg *c);

/* y[n][d] = KDA(x[n][d]) continuing from st, which is advanced by n tokens.
 * n > 1 uses the chunked form (chunk 64), n == 1 the recurrent step. */
void fr_kda_forward(const fr_kda *m, fr_kda_state *st, const float *x, float *y, int n, fr_arena *a);

/* The delta rule of one head over n tokens. Row t of q, k, g lives at
 * q + t*ldk (K floats), of v and o at v + t*ldv (V floats), beta at beta[t*ldb].
 * q and k are already normalised and scaled, g is the log-decay (<= 0).
 * S [K][V] holds the state before the first token and after the last. */
void fr_kda_recurrent(int n, int K, int V, const float *q, const float *k, const float *g, int ldk, const float *v,
                      int ldv, const float *beta, int ldb, float *S, float *o);
/* The same result, chunk by chunk (chunk C): within a chunk the tokens are
 * combined with the UT transform (a unit lower-triangular solve) instead of
 * one at a time. scratch: fr_kda_chunk_scratch(C, K, V) floats. exact: the
 * decayed products on the plain loop (kernels.h fr_kda_decay_dots), else on
 * the table's vector exp. */
size_t fr_kda_chunk_scratch(int C, int K, int V);
void fr_kda_chunked(int n, int K, int V, const float *q, const float *k, const float *g, int ldk, const float *v,
                    int ldv, const float *beta, int ldb, float *S, float *o, int C, float *scratch, int exact);

#define FR_KDA_CHUNK 64

#endif
