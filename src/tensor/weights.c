#include "tensor/weights.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"

static uint64_t hash_str(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

void fr_weights_init(fr_weights *w, const char *source) {
    memset(w, 0, sizeof *w);
    w->source = source;
}

void fr_weights_free(fr_weights *w) {
    if (w->release) w->release(w->owner);
    for (int i = 0; i < w->n; i++) free(w->t[i].f8rows);
    free(w->t);
    free(w->slot);
    memset(w, 0, sizeof *w);
}

static void rehash(fr_weights *w) {
    for (int i = 0; i < w->nslot; i++) w->slot[i] = -1;
    for (int i = 0; i < w->n; i++) {
        uint64_t h = hash_str(w->t[i].name) & (uint64_t)(w->nslot - 1);
        while (w->slot[h] >= 0) h = (h + 1) & (uint64_t)(w->nslot - 1);
        w->slot[h] = i;
    }
}

int fr_weights_add(fr_weights *w, const fr_tensor *t) {
    if (fr_weights_find(w, t->name)) return fr_err("%s: tensor '%s' appears twice", w->source, t->name);
    if (w->n == w->cap) {
        int cap = w->cap ? 2 * w->cap : 256;
        fr_tensor *nt = realloc(w->t, (size_t)cap * sizeof *nt);
        if (!nt) return fr_err("out of memory");
        w->t = nt;
        w->cap = cap;
    }
    fr_tensor c = *t;
    if (c.dtype == FR_DT_F8_E4M3 && c.ndim == 2 && c.ne[0] > 0 && !(c.f8rows = calloc((size_t)c.ne[0], 1)))
        return fr_err("out of memory");
    w->t[w->n++] = c;
    if (2 * w->n > w->nslot) {
        int ns = w->nslot ? 2 * w->nslot : 512;
        while (2 * w->n > ns) ns *= 2;
        int *s = realloc(w->slot, (size_t)ns * sizeof *s);
        if (!s) return fr_err("out of memory");
        w->slot = s;
        w->nslot = ns;
        rehash(w);
    } else {
        uint64_t h = hash_str(t->name) & (uint64_t)(w->nslot - 1);
        while (w->slot[h] >= 0) h = (h + 1) & (uint64_t)(w->nslot - 1);
        w->slot[h] = w->n - 1;
    }
    return 0;
}

const fr_tensor *fr_weights_find(const fr_weights *w, const char *name) {
    if (!w->nslot) return NULL;
    uint64_t h = hash_str(name) & (uint64_t)(w->nslot - 1);
    while (w->slot[h] >= 0) {
        const fr_tensor *t = &w->t[w->slot[h]];
        if (strcmp(t->name, name) == 0) return t;
        h = (h + 1) & (uint64_t)(w->nslot - 1);
    }
    return NULL;
}

static void shape_str(char *buf, size_t size, int ndim, const int64_t *ne) {
    size_t o = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < ndim && o < size; i++)
        o += (size_t)snprintf(buf + o, size - o, "%s%lld", i ? ", " : "", (long long)ne[i]);
    if (o < size) snprintf(buf + o, size - o, "]");
}

static int check_shape(const fr_weights *w, const fr_tensor *t, int ndim, const int64_t *ne) {
    int ok = t->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++) ok = t->ne[i] == ne[i];
    if (ok) return 0;
    char a[128], b[128];
    shape_str(a, sizeof a, t->ndim, t->ne);
    shape_str(b, sizeof b, ndim, ne);
    return fr_err("%s: tensor '%s' has shape %s, the config implies %s", w->source, t->name, a, b);
}

int fr_weights_bind(const fr_weights *w, const char *name, int ndim, const int64_t *ne, fr_tensor *out) {
    const fr_tensor *t = fr_weights_find(w, name);
    if (!t) return fr_err("%s: missing tensor '%s'", w->source, name);
    if (!fr_dtype_get(t->dtype)->is_weight)
        return fr_err("%s: tensor '%s' has dtype %s, which is not a weight type", w->source, name,
                      fr_dtype_get(t->dtype)->name);
    if (check_shape(w, t, ndim, ne)) return -1;
    *out = *t;
    if (t->dtype == FR_DT_F8_E4M3) {
        if (ndim != 2) return fr_err("%s: FP8 tensor '%s' must be 2-D", w->source, name);
        char sname[512];
        snprintf(sname, sizeof sname, "%s_scale_inv", name);
        const fr_tensor *s = fr_weights_find(w, sname);
        if (!s) return fr_err("%s: FP8 tensor '%s' has no block scales '%s'", w->source, name, sname);
        if (s->dtype != FR_DT_F32)
            return fr_err("%s: tensor '%s' has dtype %s, expected F32", w->source, sname, fr_dtype_get(s->dtype)->name);
        int64_t sne[2] = {(ne[0] + FR_FP8_BLOCK - 1) / FR_FP8_BLOCK, (ne[1] + FR_FP8_BLOCK - 1) / FR_FP8_BLOCK};
        if (check_shape(w, s, 2, sne)) return -1;
        out->scale = s->data;
    }
    return 0;
}

int fr_weights_bind_vec(const fr_weights *w, const char *name, int64_t n, fr_tensor *out) {
    const fr_tensor *t = fr_weights_find(w, name);
    if (!t) return fr_err("%s: missing tensor '%s'", w->source, name);
    if (t->dtype != FR_DT_F32 && t->dtype != FR_DT_F16 && t->dtype != FR_DT_BF16)
        return fr_err("%s: tensor '%s' has dtype %s, expected F32, F16 or BF16", w->source, name,
                      fr_dtype_get(t->dtype)->name);
    int64_t ne[1] = {n};
    if (check_shape(w, t, 1, ne)) return -1;
    *out = *t;
    return 0;
}

int fr_weights_load_vec(const fr_weights *w, const char *name, int64_t n, float **out) {
    fr_tensor t;
    *out = NULL;
    if (fr_weights_bind_vec(w, name, n, &t)) return -1;
    *out = malloc((size_t)n * sizeof(float));
    if (!*out) return fr_err("out of memory");
    fr_tensor_to_f32(&t, *out);
    return 0;
}

void fr_wstats_dense(fr_wstats *s, const fr_tensor *t) {
    if (!t->data) return;
    int64_t n = fr_tensor_nelem(t);
    s->params += n;
    s->active += n;
    s->bytes += (int64_t)t->nbytes;
    s->read += (int64_t)t->nbytes;
}

void fr_wstats_vec(fr_wstats *s, int64_t n) {
    s->params += n;
    s->active += n;
}

void fr_wstats_add(fr_wstats *s, const fr_wstats *x) {
    s->params += x->params;
    s->active += x->active;
    s->bytes += x->bytes;
    s->read += x->read;
}

void fr_wstats_embed_head(fr_wstats *s, const fr_tensor *embed, const fr_tensor *head) {
    int64_t rows = fr_rows(embed);
    s->params += fr_tensor_nelem(embed);
    s->active += fr_tensor_nelem(embed);
    s->bytes += (int64_t)embed->nbytes;
    s->read += (int64_t)embed->nbytes / (rows ? rows : 1);
    if (head->data != embed->data) fr_wstats_dense(s, head);
    else s->read += (int64_t)head->nbytes;
}
