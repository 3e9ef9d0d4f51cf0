#include "base/arena.h"

#include <stdlib.h>

static fr_arena_block *block_new(size_t cap) {
    fr_arena_block *b = aligned_alloc(64, (sizeof *b + cap + 63) & ~(size_t)63);
    if (!b) return NULL;
    b->next = NULL;
    b->cap = cap;
    b->used = 0;
    return b;
}

/* bytes in use across all blocks */
static size_t in_use(const fr_arena *a) {
    size_t s = 0;
    for (const fr_arena_block *b = a->head; b; b = b->next) s += b->used;
    return s;
}

void *fr_arena_alloc(fr_arena *a, size_t bytes) {
    bytes = (bytes + 63) & ~(size_t)63;
    if (!a->head || a->head->cap - a->head->used < bytes) {
        size_t cap = a->head ? a->head->cap : (1u << 20);
        if (cap < bytes) cap = bytes;
        fr_arena_block *b = block_new(cap);
        if (!b) return NULL;
        b->next = a->head;
        a->head = b;
    }
    void *p = a->head->data + a->head->used;
    a->head->used += bytes;
    size_t u = in_use(a);
    if (u > a->total) a->total = u; /* high-water mark */
    return p;
}

float *fr_arena_f32(fr_arena *a, size_t n) { return fr_arena_alloc(a, n * sizeof(float)); }

void fr_arena_reset(fr_arena *a) {
    if (a->head && (a->head->next || a->head->cap < a->total)) {
        /* one block as large as the high-water mark and half again: a steady
         * state allocates nothing, and a slowly growing one (decode: the scores
         * grow with the context) only now and then */
        size_t total = a->total + a->total / 2;
        fr_arena_free(a);
        a->head = block_new(total);
        a->total = a->head ? total : 0;
    }
    if (a->head) a->head->used = 0;
}

void fr_arena_free(fr_arena *a) {
    for (fr_arena_block *b = a->head, *n; b; b = n) {
        n = b->next;
        free(b);
    }
    a->head = NULL;
    a->total = 0;
}

fr_arena_mark fr_arena_save(const fr_arena *a) {
    fr_arena_mark m = {a->head, a->head ? a->head->used : 0};
    return m;
}

void fr_arena_restore(fr_arena *a, fr_arena_mark m) {
    while (a->head && a->head != m.head) {
        fr_arena_block *n = a->head->next;
        free(a->head);
        a->head = n;
    }
    if (a->head) a->head->used = m.used;
}
