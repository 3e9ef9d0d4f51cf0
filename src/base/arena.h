/* Scratch memory for one forward pass: bump allocation, reset per pass.
 * Blocks are kept until fr_arena_free: a reset or a roll back only rewinds,
 * so once a pass of some size has run, passes up to that size allocate
 * nothing and touch no fresh pages (a merge of blocks into a new one would
 * page-fault all of it again on the next pass: 10 % of a pp512 there). */
#ifndef FR_ARENA_H
#define FR_ARENA_H

#include <stddef.h>

typedef struct fr_arena_block {
    struct fr_arena_block *next;
    size_t cap, used;
    _Alignas(64) unsigned char data[];
} fr_arena_block;

typedef struct fr_arena {
    fr_arena_block *head; /* the first block */
    fr_arena_block *cur;  /* allocations come from here; the blocks after it are empty */
    size_t cap;           /* bytes in all blocks */
} fr_arena;

/* 64-byte aligned, uninitialised; NULL when out of memory. */
void *fr_arena_alloc(fr_arena *a, size_t bytes);
float *fr_arena_f32(fr_arena *a, size_t n);
void fr_arena_reset(fr_arena *a);

/* Mark and roll back: everything allocated after the mark is released (for
 * reuse; the memory stays with the arena). */
typedef struct fr_arena_mark {
    fr_arena_block *cur;
    size_t used;
} fr_arena_mark;
fr_arena_mark fr_arena_save(const fr_arena *a);
void fr_arena_restore(fr_arena *a, fr_arena_mark m);
void fr_arena_free(fr_arena *a);

#endif
