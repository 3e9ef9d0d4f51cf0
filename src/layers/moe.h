/* DeepSeekMoE: shared experts plus routed fine-grained experts.
 *
 * Routing (DeepSeek-V3 inference/model.py `Gate`):
 *   s = softmax(W_g x) or sigmoid(W_g x)
 *   selection scores s' = s + bias (bias only with noaux_tc)
 *   groups (n_group > 1): group score = max s' (no bias) or sum of the two best s';
 *     keep topk_group groups, mask the rest with -inf
 *   idx = top-k(s');  w = s[idx] (unbiased), / sum when norm_topk_prob, * routed_scaling_factor
 *   y = sum_j w_j Expert_idx_j(x) + Shared(x)                                  */
#ifndef FR_MOE_H
#define FR_MOE_H

#include "base/arena.h"
#include "layers/mlp.h"

enum { FR_SCORE_SOFTMAX, FR_SCORE_SIGMOID };
enum { FR_GROUP_NONE, FR_GROUP_MAX, FR_GROUP_TOP2SUM };

typedef struct fr_moe_cfg {
    int d, n_expert, k, ff, n_shared; /* shared intermediate = n_shared * ff */
    int scoring, group_mode, n_group, topk_group, norm_topk;
    float route_scale;
} fr_moe_cfg;

typedef struct fr_moe {
    fr_moe_cfg c;
    fr_tensor gate;  /* [n_expert, d] */
    float *bias;     /* [n_expert] or NULL (owned) */
    fr_mlp *experts; /* [n_expert] (owned array) */
    fr_mlp shared;   /* when n_shared > 0 */
} fr_moe;

/* prefix "model.layers.N.mlp." with HF names (gate, e_score_correction_bias,
 * experts.E.{gate,up,down}_proj, shared_experts.*) */
int fr_moe_bind_hf(fr_moe *m, const fr_weights *w, const char *prefix, const fr_moe_cfg *c, int has_bias);
/* The same with other names for the routed experts' matrices (after
 * "experts.E."): Kimi Linear stores w1 (gate), w3 (up), w2 (down). */
typedef struct fr_moe_names {
    const char *gate, *up, *down;
} fr_moe_names;
int fr_moe_bind_names(fr_moe *m, const fr_weights *w, const char *prefix, const fr_moe_cfg *c, int has_bias,
                      const fr_moe_names *nm);
void fr_moe_free(fr_moe *m);
/* all experts stored; the router, shared experts and k routed experts per token */
void fr_moe_stats(const fr_moe *m, fr_wstats *s);

/* Routing of n tokens: idx[n][k] in selection order (best first), wts[n][k]. */
void fr_moe_route(const fr_moe *m, const float *x, int n, int32_t *idx, float *wts, fr_arena *a);
/* y[n][d] = MoE(x[n][d]); idx/wts as from fr_moe_route (computed here when NULL
 * is passed for trace buffers, returned through them otherwise). */
void fr_moe_forward(const fr_moe *m, const float *x, float *y, int n, int32_t *idx_out, float *w_out, fr_arena *a);

#endif
