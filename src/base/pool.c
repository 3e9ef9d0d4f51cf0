#include "base/pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

typedef struct job {
    fr_range_fn fn;
    void *arg;
    int64_t n, grain;
    atomic_int_fast64_t next; /* next item to hand out */
} job;

/* Barriers are cheap: workers spin on `gen` for a few microseconds after a
 * job before sleeping on the condition variable, and the caller spins on
 * `pending` before sleeping; a decode step runs hundreds of short jobs. The
 * mutex orders the sleeps against the wake-ups (no lost wake-up). */
#define SPIN_DEFAULT 1000 /* polls of a pause instruction: a few microseconds */

struct fr_pool {
    int n;
    int spin; /* polls before sleeping (FRUGAL_SPIN, default SPIN_DEFAULT) */
    pthread_t *th;
    pthread_mutex_t mu;
    pthread_cond_t start, done;
    atomic_uint_fast64_t gen; /* incremented per job */
    atomic_int pending;       /* workers still running the current job */
    atomic_int quit;
    _Atomic(job *) cur;
    void *scratch; /* fr_pool_scratch */
    size_t scratch_cap;
};

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}

static _Thread_local fr_pool *g_current;

static void run_job(job *j, int ith) {
    for (;;) {
        int64_t i0 = atomic_fetch_add(&j->next, j->grain);
        if (i0 >= j->n) break;
        int64_t i1 = i0 + j->grain < j->n ? i0 + j->grain : j->n;
        j->fn(j->arg, i0, i1, ith);
    }
}

typedef struct worker_arg {
    fr_pool *p;
    int ith;
} worker_arg;

static void *worker(void *a) {
    worker_arg *wa = a;
    fr_pool *p = wa->p;
    int ith = wa->ith;
    free(wa);
    uint64_t seen = 0;
    for (;;) {
        for (int i = 0; i < p->spin && atomic_load(&p->gen) == seen && !atomic_load(&p->quit); i++) cpu_relax();
        if (atomic_load(&p->gen) == seen && !atomic_load(&p->quit)) {
            pthread_mutex_lock(&p->mu);
            while (atomic_load(&p->gen) == seen && !atomic_load(&p->quit)) pthread_cond_wait(&p->start, &p->mu);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->quit)) break;
        seen = atomic_load(&p->gen);
        run_job(atomic_load(&p->cur), ith);
        if (atomic_fetch_sub(&p->pending, 1) == 1) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->mu);
        }
    }
    return NULL;
}

fr_pool *fr_pool_create(int n) {
    if (n <= 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        n = c > 0 ? (int)c : 1;
    }
    fr_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->n = n;
    const char *e = getenv("FRUGAL_SPIN");
    p->spin = e && *e ? atoi(e) : SPIN_DEFAULT;
    if (p->spin < 0) p->spin = 0;
    atomic_init(&p->gen, 0);
    atomic_init(&p->pending, 0);
    atomic_init(&p->quit, 0);
    atomic_init(&p->cur, NULL);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->start, NULL);
    pthread_cond_init(&p->done, NULL);
    p->th = calloc((size_t)n, sizeof *p->th);
    if (!p->th) {
        fr_pool_free(p);
        return NULL;
    }
    for (int i = 1; i < n; i++) {
        worker_arg *wa = malloc(sizeof *wa);
        if (!wa) { p->n = i; break; }
        wa->p = p;
        wa->ith = i;
        if (pthread_create(&p->th[i], NULL, worker, wa) != 0) {
            free(wa);
            p->n = i; /* run with the threads we got */
            break;
        }
    }
    return p;
}

void fr_pool_free(fr_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->quit, 1);
    pthread_cond_broadcast(&p->start);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->n; i++) pthread_join(p->th[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->start);
    pthread_cond_destroy(&p->done);
    if (g_current == p) g_current = NULL;
    free(p->th);
    free(p->scratch);
    free(p);
}

void *fr_pool_scratch(size_t bytes) {
    fr_pool *p = g_current;
    if (!p) return NULL;
    if (bytes > p->scratch_cap) {
        size_t cap = (bytes + bytes / 4 + 63) & ~(size_t)63;
        void *b = aligned_alloc(64, cap);
        if (!b) return NULL;
        free(p->scratch);
        p->scratch = b;
        p->scratch_cap = cap;
    }
    return p->scratch;
}

int fr_pool_size(const fr_pool *p) { return p ? p->n : 1; }
void fr_pool_set_current(fr_pool *p) { g_current = p; }
fr_pool *fr_pool_current(void) { return g_current; }
int fr_parallel_threads(void) { return g_current ? g_current->n : 1; }

void fr_parallel_for(int64_t n, int64_t grain, fr_range_fn fn, void *arg) {
    if (n <= 0) return;
    if (grain < 1) grain = 1;
    fr_pool *p = g_current;
    if (!p || p->n == 1 || n <= grain) {
        fn(arg, 0, n, 0);
        return;
    }
    job j = {.fn = fn, .arg = arg, .n = n, .grain = grain};
    atomic_init(&j.next, 0);
    atomic_store(&p->cur, &j);
    atomic_store(&p->pending, p->n - 1);
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add(&p->gen, 1);
    pthread_cond_broadcast(&p->start);
    pthread_mutex_unlock(&p->mu);
    run_job(&j, 0);
    for (int i = 0; i < p->spin && atomic_load(&p->pending) > 0; i++) cpu_relax();
    if (atomic_load(&p->pending) > 0) {
        pthread_mutex_lock(&p->mu);
        while (atomic_load(&p->pending) > 0) pthread_cond_wait(&p->done, &p->mu);
        pthread_mutex_unlock(&p->mu);
    }
}
