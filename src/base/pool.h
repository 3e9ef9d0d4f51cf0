/* A fixed pool of worker threads, joined when freed (no thread outlives its
 * owner, so leak checkers stay quiet). The calling thread is worker 0. */
#ifndef FR_POOL_H
#define FR_POOL_H

#include <stddef.h>
#include <stdint.h>

typedef struct fr_pool fr_pool;

/* n threads in all (n - 1 created); n <= 0: one per core. */
fr_pool *fr_pool_create(int n);
void fr_pool_free(fr_pool *p);
int fr_pool_size(const fr_pool *p);

/* The pool the kernels use on this thread (NULL = run serially). */
void fr_pool_set_current(fr_pool *p);
fr_pool *fr_pool_current(void);

/* A scratch buffer of at least `bytes` (64-byte aligned) owned by the current
 * pool, valid until the next call on this thread or the pool's end; grown, never
 * shrunk. NULL without a current pool or on allocation failure. */
void *fr_pool_scratch(size_t bytes);

/* fn(arg, i0, i1, ith) over [0, n) in chunks of `grain` items, handed out in
 * order to whichever thread is free; returns when all are done. */
typedef void (*fr_range_fn)(void *arg, int64_t i0, int64_t i1, int ith);
void fr_parallel_for(int64_t n, int64_t grain, fr_range_fn fn, void *arg);
/* the same, but each take is max(grain, items left / (2 x threads)): long
 * runs first, short ones at the end, so the threads finish together */
void fr_parallel_for_guided(int64_t n, int64_t grain, fr_range_fn fn, void *arg);
/* threads fr_parallel_for may use now (>= 1) */
int fr_parallel_threads(void);

#endif
