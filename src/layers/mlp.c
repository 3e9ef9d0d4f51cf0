#include "layers/mlp.h"

#include <stdio.h>

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

void fr_mlp_forward(const fr_mlp *m, const float *x, float *y, int n, fr_arena *a) {
    fr_arena_mark mk = fr_arena_save(a);
    float *g = fr_arena_f32(a, (size_t)n * m->ff), *u = fr_arena_f32(a, (size_t)n * m->ff);
    fr_matmul(&m->gate, x, g, n);   /* [n, ff] */
    fr_matmul(&m->up, x, u, n);     /* [n, ff] */
    for (long i = 0; i < (long)n * m->ff; i++) g[i] = fr_silu(g[i]) * u[i];
    fr_matmul(&m->down, g, y, n);   /* [n, d] */
    fr_arena_restore(a, mk);
}
