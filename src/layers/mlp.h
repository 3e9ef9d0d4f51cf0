/* SwiGLU feed-forward: down( silu(gate x) * up x ). */
#ifndef FR_MLP_H
#define FR_MLP_H

#include "base/arena.h"
#include "tensor/weights.h"

typedef struct fr_mlp {
    int d, ff;
    fr_tensor gate, up, down; /* [ff, d], [ff, d], [d, ff] */
} fr_mlp;

/* prefix: e.g. "model.layers.0.mlp." + {gate,up,down}_proj.weight */
int fr_mlp_bind(fr_mlp *m, const fr_weights *w, const char *prefix, const char *gate, const char *up,
                const char *down, int d, int ff);
void fr_mlp_stats(const fr_mlp *m, fr_wstats *s);
/* y[n][d] = MLP(x[n][d]) */
void fr_mlp_forward(const fr_mlp *m, const float *x, float *y, int n, fr_arena *a);
/* y[e][cnt[e]][d] = MLP_e(x[e][cnt[e]][d]) for e < ne (MoE experts): the rows of
 * all ne MLPs are split over the threads together, in two passes: gate and up
 * rows with silu(g) * u (one pass over x for both), then down rows. */
void fr_mlp_forward_multi(const fr_mlp *const *m, int ne, const float *const *x, const int *cnt, float *const *y,
                          fr_arena *a);

#endif
