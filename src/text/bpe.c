/* Byte-pair encoding of one pre-tokenized piece, and the hash maps behind it.
 *
 * The piece starts as one symbol per byte (the byte's token). Repeatedly the
 * adjacent pair with the lowest rank is merged, leftmost first among equal
 * ranks, until no adjacent pair has a rank. Ranks:
 *   HF tokenizer.json: the index of the pair in the "merges" list;
 *   tiktoken:          the rank of the pair's concatenated bytes (= its id).
 * A min-heap of (rank, position) with lazy invalidation keeps long pieces
 * (25,000-character words) O(n log n); symbols form a linked list. */
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "text/tok_internal.h"

uint64_t fr_hash_bytes(const uint8_t *p, size_t n) {
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (uint64_t)n;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0xBF58476D1CE4E5B9ull;
        h ^= h >> 31;
        p += 8;
        n -= 8;
    }
    uint64_t w = 0;
    if (n) memcpy(&w, p, n);
    h = (h ^ w) * 0x94D049BB133111EBull;
    h ^= h >> 29;
    h *= 0xBF58476D1CE4E5B9ull;
    h ^= h >> 32;
    return h;
}

static uint32_t pow2_slots(size_t n) {
    uint32_t s = 16;
    while (s < 2 * n) s *= 2;
    return s;
}

int fr_bmap_init(fr_bmap *m, size_t n) {
    uint32_t s = pow2_slots(n);
    m->slot = malloc((size_t)s * sizeof *m->slot);
    if (!m->slot) return fr_err("out of memory");
    for (uint32_t i = 0; i < s; i++) m->slot[i] = (fr_bmap_slot){-1, 0};
    m->mask = s - 1;
    return 0;
}

void fr_bmap_free(fr_bmap *m) {
    free(m->slot);
    m->slot = NULL;
}

int32_t fr_bmap_put(fr_bmap *m, fr_bmap_key key, const void *ctx, int32_t v) {
    size_t n;
    const uint8_t *p = key(ctx, v, &n);
    uint64_t h = fr_hash_bytes(p, n);
    uint32_t i = (uint32_t)h & m->mask, tag = (uint32_t)(h >> 32);
    while (m->slot[i].v >= 0) {
        if (m->slot[i].tag == tag) {
            size_t n2;
            const uint8_t *p2 = key(ctx, m->slot[i].v, &n2);
            if (n2 == n && (n == 0 || !memcmp(p, p2, n))) return m->slot[i].v;
        }
        i = (i + 1) & m->mask;
    }
    m->slot[i] = (fr_bmap_slot){v, tag};
    return -1;
}

int32_t fr_bmap_get(const fr_bmap *m, fr_bmap_key key, const void *ctx, const uint8_t *p, size_t n) {
    uint64_t h = fr_hash_bytes(p, n);
    uint32_t i = (uint32_t)h & m->mask, tag = (uint32_t)(h >> 32);
    while (m->slot[i].v >= 0) {
        if (m->slot[i].tag == tag) {
            size_t n2;
            const uint8_t *p2 = key(ctx, m->slot[i].v, &n2);
            if (n2 == n && (n == 0 || !memcmp(p, p2, n))) return m->slot[i].v;
        }
        i = (i + 1) & m->mask;
    }
    return -1;
}

const uint8_t *fr_tok_key(const void *tok, int32_t id, size_t *n) {
    const fr_tokenizer *t = tok;
    *n = t->len[id];
    return t->bytes + t->off[id];
}

const uint8_t *fr_added_key(const void *tok, int32_t idx, size_t *n) {
    const fr_tokenizer *t = tok;
    *n = t->added[idx].len;
    return t->added_bytes + t->added[idx].off;
}

static inline uint32_t pmix(uint64_t k) {
    k ^= k >> 33;
    k *= 0xFF51AFD7ED558CCDull;
    k ^= k >> 33;
    return (uint32_t)k;
}

int fr_pmap_init(fr_pmap *m, size_t n) {
    uint32_t s = pow2_slots(n);
    m->slot = calloc(s, sizeof *m->slot);
    if (!m->slot) return fr_err("out of memory");
    m->mask = s - 1;
    return 0;
}

void fr_pmap_free(fr_pmap *m) {
    free(m->slot);
    m->slot = NULL;
}

void fr_pmap_put(fr_pmap *m, int32_t a, int32_t b, uint32_t rank, int32_t merged) {
    uint64_t k = ((uint64_t)(uint32_t)a << 32 | (uint32_t)b) + 1;
    uint32_t i = pmix(k) & m->mask;
    while (m->slot[i].key && m->slot[i].key != k) i = (i + 1) & m->mask;
    m->slot[i].key = k;
    m->slot[i].val = (uint64_t)rank << 32 | (uint32_t)merged;
}

int fr_pmap_get(const fr_pmap *m, int32_t a, int32_t b, uint32_t *rank, int32_t *merged) {
    uint64_t k = ((uint64_t)(uint32_t)a << 32 | (uint32_t)b) + 1;
    uint32_t i = pmix(k) & m->mask;
    for (;;) {
        const fr_pmap_slot *sl = &m->slot[i];
        if (sl->key == k) {
            *rank = (uint32_t)(sl->val >> 32);
            *merged = (int32_t)(uint32_t)sl->val;
            return 1;
        }
        if (!sl->key) return 0;
        i = (i + 1) & m->mask;
    }
}

int fr_ids_push(fr_ids *x, int32_t id) {
    if (x->n == x->cap) {
        size_t cap = x->cap ? 2 * x->cap : 256;
        int32_t *nv = realloc(x->v, cap * sizeof *nv);
        if (!nv) return fr_err("out of memory");
        x->v = nv;
        x->cap = cap;
    }
    x->v[x->n++] = id;
    return 0;
}

/* ---- the merge loop ---- */

typedef struct bsym {
    int32_t id, prev, next; /* next = -1 at the end; id = -1 once merged into the left */
    uint32_t start, end;    /* bytes of the piece */
} bsym;

typedef struct bent {
    uint32_t rank;
    int32_t pos, merged;
} bent;

void fr_bpe_scratch_free(fr_bpe_scratch *s) {
    free(s->sym);
    free(s->heap);
    memset(s, 0, sizeof *s);
}

static inline int pair_rank(const fr_tokenizer *t, const uint8_t *p, const bsym *sym, int32_t i, uint32_t *rank,
                            int32_t *merged) {
    int32_t j = sym[i].next;
    if (t->kind == FR_TOK_TIKTOKEN) {
        int32_t id = fr_bmap_get(&t->vocab, fr_tok_key, t, p + sym[i].start, sym[j].end - sym[i].start);
        if (id < 0) return 0;
        *rank = (uint32_t)id;
        *merged = id;
        return 1;
    }
    return fr_pmap_get(&t->merges, sym[i].id, sym[j].id, rank, merged);
}

static inline int bent_less(const bent *a, const bent *b) {
    return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

static void heap_push(bent *h, size_t *n, bent e) {
    size_t i = (*n)++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!bent_less(&e, &h[parent])) break;
        h[i] = h[parent];
        i = parent;
    }
    h[i] = e;
}

static bent heap_pop(bent *h, size_t *n) {
    bent top = h[0], last = h[--*n];
    size_t i = 0, m = *n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= m) break;
        if (c + 1 < m && bent_less(&h[c + 1], &h[c])) c++;
        if (!bent_less(&h[c], &last)) break;
        h[i] = h[c];
        i = c;
    }
    if (m) h[i] = last;
    return top;
}

static int grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (*cap >= need) return 0;
    size_t c = *cap ? *cap : 64;
    while (c < need) c *= 2;
    void *np = realloc(*p, c * elem);
    if (!np) return fr_err("out of memory");
    *p = np;
    *cap = c;
    return 0;
}

int fr_bpe_piece(const fr_tokenizer *t, fr_bpe_scratch *s, const uint8_t *p, size_t n, fr_ids *out) {
    if (n == 0) return 0;
    if (n == 1) return t->byte_id[p[0]] >= 0 ? fr_ids_push(out, t->byte_id[p[0]]) : 0;
    if (t->kind == FR_TOK_TIKTOKEN || t->ignore_merges) { /* a piece that is a token is that token */
        int32_t id = fr_bmap_get(&t->vocab, fr_tok_key, t, p, n);
        if (id >= 0) return fr_ids_push(out, id);
    }
    if (n > INT32_MAX / 2) return fr_err("piece of %zu bytes is too long", n);
    if (grow(&s->sym, &s->cap_sym, n, sizeof(bsym)) || grow(&s->heap, &s->cap_heap, 3 * n + 1, sizeof(bent))) return -1;
    bsym *sym = s->sym;
    bent *heap = s->heap;
    /* one symbol per byte; bytes without a token are dropped (HF without unk) */
    int32_t ns = 0;
    for (size_t k = 0; k < n; k++) {
        int32_t id = t->byte_id[p[k]];
        if (id < 0) continue;
        sym[ns] = (bsym){id, ns - 1, ns + 1, (uint32_t)k, (uint32_t)k + 1};
        ns++;
    }
    if (ns == 0) return 0;
    sym[ns - 1].next = -1;
    if (ns <= 64) { /* short pieces: scan for the minimum, no heap */
        uint32_t rk[64];
        int32_t mg[64];
        for (int32_t i = 0; i < ns; i++)
            if (i + 1 >= ns || !pair_rank(t, p, sym, i, &rk[i], &mg[i])) rk[i] = UINT32_MAX;
        for (;;) {
            int32_t best = -1;
            uint32_t br = UINT32_MAX;
            for (int32_t i = 0; i >= 0; i = sym[i].next)
                if (rk[i] < br) { br = rk[i]; best = i; } /* strict: leftmost among equal ranks */
            if (best < 0) break;
            int32_t j = sym[best].next;
            sym[best].id = mg[best];
            sym[best].end = sym[j].end;
            sym[best].next = sym[j].next;
            if (sym[j].next >= 0) sym[sym[j].next].prev = best;
            if (sym[best].next < 0 || !pair_rank(t, p, sym, best, &rk[best], &mg[best])) rk[best] = UINT32_MAX;
            int32_t pv = sym[best].prev;
            if (pv >= 0 && !pair_rank(t, p, sym, pv, &rk[pv], &mg[pv])) rk[pv] = UINT32_MAX;
        }
        for (int32_t i = 0; i >= 0; i = sym[i].next)
            if (fr_ids_push(out, sym[i].id)) return -1;
        return 0;
    }
    size_t nh = 0;
    for (int32_t i = 0; i + 1 < ns; i++) {
        bent e = {0, i, 0};
        if (pair_rank(t, p, sym, i, &e.rank, &e.merged)) heap_push(heap, &nh, e);
    }
    while (nh) {
        bent e = heap_pop(heap, &nh);
        int32_t i = e.pos;
        if (sym[i].id < 0 || sym[i].next < 0) continue; /* stale */
        uint32_t r;
        int32_t m;
        if (!pair_rank(t, p, sym, i, &r, &m) || r != e.rank || m != e.merged) continue; /* stale */
        int32_t j = sym[i].next;
        sym[i].id = m;
        sym[i].end = sym[j].end;
        sym[i].next = sym[j].next;
        if (sym[j].next >= 0) sym[sym[j].next].prev = i;
        sym[j].id = -1;
        int32_t pv = sym[i].prev;
        bent f = {0, 0, 0};
        if (pv >= 0 && pair_rank(t, p, sym, pv, &f.rank, &f.merged)) {
            f.pos = pv;
            heap_push(heap, &nh, f);
        }
        if (sym[i].next >= 0 && pair_rank(t, p, sym, i, &f.rank, &f.merged)) {
            f.pos = i;
            heap_push(heap, &nh, f);
        }
    }
    for (int32_t i = 0; i >= 0; i = sym[i].next)
        if (fr_ids_push(out, sym[i].id)) return -1;
    return 0;
}
