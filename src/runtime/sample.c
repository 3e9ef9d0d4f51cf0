/* Token sampling: penalties, top-k, top-p, min-p, temperature, seeded draw. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "frugal.h"

typedef struct cand {
    float logit;
    int32_t id;
} cand;

struct frugal_sampler {
    frugal_sampler_params p;
    uint64_t s[4];       /* xoshiro256** state */
    int32_t *hist;       /* ring of the last repeat_last_n tokens */
    int n_hist, head;
    float *buf;          /* [cap] working logits */
    struct cand *c;      /* [cap] candidates */
    int cap;
};

frugal_sampler_params frugal_sampler_default_params(void) {
    frugal_sampler_params p = {
        .temp = 0.8f, .top_k = 40, .top_p = 0.95f, .min_p = 0.05f,
        .repeat_penalty = 1.0f, .repeat_last_n = 64, .seed = 0xF2064,
    };
    return p;
}

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t next_u64(uint64_t *s) {
    uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return r;
}

/* uniform in [0, 1) with 53 random bits */
static double next_unit(uint64_t *s) { return (double)(next_u64(s) >> 11) * 0x1p-53; }

void frugal_sampler_reset(frugal_sampler *sm) {
    uint64_t x = sm->p.seed;
    for (int i = 0; i < 4; i++) sm->s[i] = splitmix64(&x);
    sm->n_hist = sm->head = 0;
}

int frugal_sampler_create(const frugal_sampler_params *params, frugal_sampler **out) {
    *out = NULL;
    frugal_sampler_params p = params ? *params : frugal_sampler_default_params();
    if (!(p.temp >= 0) || p.top_k < 0 || !(p.top_p > 0 && p.top_p <= 1) || !(p.min_p >= 0 && p.min_p <= 1) ||
        !(p.repeat_penalty > 0) || p.repeat_last_n < 0)
        return fr_err("sampler: parameter out of range (temp >= 0, top_k >= 0, 0 < top_p <= 1, 0 <= min_p <= 1, "
                      "repeat_penalty > 0, repeat_last_n >= 0)");
    frugal_sampler *sm = calloc(1, sizeof *sm);
    if (!sm) return fr_err("out of memory");
    sm->p = p;
    if (p.repeat_last_n > 0 && !(sm->hist = malloc((size_t)p.repeat_last_n * sizeof *sm->hist))) {
        free(sm);
        return fr_err("out of memory");
    }
    frugal_sampler_reset(sm);
    *out = sm;
    return 0;
}

void frugal_sampler_free(frugal_sampler *sm) {
    if (!sm) return;
    free(sm->hist);
    free(sm->buf);
    free(sm->c);
    free(sm);
}

void frugal_sampler_accept(frugal_sampler *sm, int32_t token) {
    int n = sm->p.repeat_last_n;
    if (n <= 0) return;
    sm->hist[sm->head] = token;
    sm->head = (sm->head + 1) % n;
    if (sm->n_hist < n) sm->n_hist++;
}

/* order: logit descending, ties lower id first */
static int better(const cand *a, const cand *b) { return a->logit > b->logit || (a->logit == b->logit && a->id < b->id); }
static int cmp_cand(const void *a, const void *b) { return better(a, b) ? -1 : better(b, a) ? 1 : 0; }

/* min-heap on `better` (root = worst kept) */
static void sift_down(cand *h, int n, int i) {
    for (;;) {
        int w = i, l = 2 * i + 1, r = l + 1;
        if (l < n && better(&h[w], &h[l])) w = l;
        if (r < n && better(&h[w], &h[r])) w = r;
        if (w == i) return;
        cand t = h[i];
        h[i] = h[w];
        h[w] = t;
        i = w;
    }
}

/* the k best of c[0..n) moved to c[0..k), sorted best first */
static void top_k(cand *c, int n, int k) {
    if (k < n) {
        for (int i = k / 2 - 1; i >= 0; i--) sift_down(c, k, i);
        for (int i = k; i < n; i++)
            if (better(&c[i], &c[0])) {
                c[0] = c[i];
                sift_down(c, k, 0);
            }
    }
    qsort(c, (size_t)k, sizeof *c, cmp_cand);
}

int32_t frugal_sample(frugal_sampler *sm, const float *logits, int n_vocab) {
    if (n_vocab > sm->cap) {
        float *b = realloc(sm->buf, (size_t)n_vocab * sizeof *b);
        if (b) sm->buf = b;
        cand *cc = realloc(sm->c, (size_t)n_vocab * sizeof *cc);
        if (cc) sm->c = cc;
        if (!b || !cc) return -1;
        sm->cap = n_vocab;
    }
    float *l = sm->buf;
    memcpy(l, logits, (size_t)n_vocab * sizeof *l);

    /* repetition penalty (llama.cpp / CTRL): each distinct recent token once */
    if (sm->p.repeat_penalty != 1.0f)
        for (int i = 0; i < sm->n_hist; i++) {
            int32_t t = sm->hist[i];
            int seen = 0;
            for (int j = 0; j < i && !seen; j++) seen = sm->hist[j] == t;
            if (seen || t < 0 || t >= n_vocab) continue;
            l[t] = l[t] > 0 ? l[t] / sm->p.repeat_penalty : l[t] * sm->p.repeat_penalty;
        }

    if (sm->p.temp <= 0) { /* greedy */
        int32_t b = 0;
        for (int i = 1; i < n_vocab; i++)
            if (l[i] > l[b]) b = i;
        return b;
    }

    /* candidates sorted by logit (only the top-k when set) */
    cand *c = sm->c;
    for (int i = 0; i < n_vocab; i++) c[i] = (cand){l[i], i};
    int n = sm->p.top_k > 0 && sm->p.top_k < n_vocab ? sm->p.top_k : n_vocab;
    top_k(c, n_vocab, n);

    /* probabilities at temperature 1 for top-p and min-p */
    double mx = c[0].logit, z = 0;
    for (int i = 0; i < n; i++) z += exp((double)c[i].logit - mx);
    if (sm->p.top_p < 1.0f) {
        double cum = 0;
        for (int i = 0; i < n; i++) {
            cum += exp((double)c[i].logit - mx) / z;
            if (cum >= sm->p.top_p) {
                n = i + 1;
                break;
            }
        }
    }
    if (sm->p.min_p > 0) { /* keep p >= min_p * p_max, i.e. logit >= max + ln(min_p) */
        double thr = mx + log((double)sm->p.min_p);
        int k = 1;
        while (k < n && c[k].logit >= thr) k++;
        n = k;
    }

    /* temperature and draw */
    double sum = 0;
    for (int i = 0; i < n; i++) sum += exp(((double)c[i].logit - mx) / sm->p.temp);
    double r = next_unit(sm->s) * sum, acc = 0;
    for (int i = 0; i < n; i++) {
        acc += exp(((double)c[i].logit - mx) / sm->p.temp);
        if (r < acc) return c[i].id;
    }
    return c[n - 1].id;
}
