/* Scratch memory for one forward pass: bump allocation, reset per pass.
 * Grows when a pass needs more; after a reset the blocks merge into one, so a
 * steady state (same batch size) allocates nothing. */
#ifndef FR_ARENA_H
#define FR_ARENA_H

#include <stddef.h>

typedef struct fr_arena_block {
    struct fr_arena_block *next;
    size_t cap, used;
    _Alignas(64) unsigned char data[];
} fr_arena_block;

typedef struct fr_arena {
    fr_arena_block *head; /* current block first */
    size_t total;         /* high-water mark of bytes in use */
} fr_arena;

/* 64-byte aligned, uninitialised; NULL when out of memory. */
void *fr_arena_alloc(fr_arena *a, size_t bytes);
float *fr_arena_f32(fr_arena *a, size_t n);
void fr_arena_reset(fr_arena *a);

/* Mark and roll back: everything allocated after the mark is released. */
typedef struct fr_arena_mark {
    fr_arena_block *head;
    size_t used;
} fr_arena_mark;
fr_arena_mark fr_arena_save(const fr_arena *a);
void fr_arena_restore(fr_arena *a, fr_arena_mark m);
void fr_arena_free(fr_arena *a);

#endif
