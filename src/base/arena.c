#include "base/arena.h"

#include <stdlib.h>

static fr_arena_block *block_new(size_t cap) {
    if (cap > ((size_t)-1 >> 1)) return NULL;
    fr_arena_block *b = aligned_alloc(64, (sizeof *b + cap + 63) & ~(size_t)63);
    if (!b) return NULL;
    b->next = NULL;
    b->cap = cap;
    b->used = 0;
    return b;
}

void *fr_arena_alloc(fr_arena *a, size_t bytes) {
    if (bytes > ((size_t)-1 >> 2)) return NULL;
    bytes = (bytes + 63) & ~(size_t)63;
    fr_arena_block *b = a->cur;
    while (b && b->cap - b->used < bytes && b->next) b = b->next; /* the next blocks are empty */
    if (!b || b->cap - b->used < bytes) {
        /* b is the last block (or there is none): a new one at least as large as
         * all before it, so a growing pass (decode: the scores grow with the
         * context) adds blocks only now and then */
        size_t cap = a->cap > (1u << 20) ? a->cap : (1u << 20);
        if (cap < bytes) cap = bytes;
        fr_arena_block *nb = block_new(cap);
        if (!nb) return NULL;
        if (b) b->next = nb;
        else a->head = nb;
        a->cap += cap;
        b = nb;
    }
    a->cur = b;
    void *p = b->data + b->used;
    b->used += bytes;
    return p;
}

float *fr_arena_f32(fr_arena *a, size_t n) {
    if (n > ((size_t)-1 >> 2) / sizeof(float)) return NULL;
    return fr_arena_alloc(a, n * sizeof(float));
}

void fr_arena_reset(fr_arena *a) {
    if (!a->cur) return;
    for (fr_arena_block *b = a->head; b != a->cur->next; b = b->next) b->used = 0;
    a->cur = a->head;
}

void fr_arena_free(fr_arena *a) {
    for (fr_arena_block *b = a->head, *n; b; b = n) {
        n = b->next;
        free(b);
    }
    a->head = a->cur = NULL;
    a->cap = 0;
}

fr_arena_mark fr_arena_save(const fr_arena *a) {
    fr_arena_mark m = {a->cur, a->cur ? a->cur->used : 0};
    return m;
}

void fr_arena_restore(fr_arena *a, fr_arena_mark m) {
    if (!a->cur) return;
    /* empty the blocks after the mark's, up to the current one */
    fr_arena_block *b = m.cur ? m.cur->next : a->head;
    if (m.cur != a->cur)
        for (; b && b != a->cur->next; b = b->next) b->used = 0;
    if (m.cur) {
        a->cur = m.cur;
        a->cur->used = m.used;
    } else {
        a->cur = a->head;
    }
}
