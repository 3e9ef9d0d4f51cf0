#include "base/pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/timer.h"

typedef struct job {
    fr_range_fn fn;
    void *arg;
    int64_t n, grain;
    int64_t div;              /* guided (> 0): each take is max(grain, items left / div) */
    atomic_int_fast64_t next; /* next item to hand out */
} job;

/* Barriers are cheap: workers spin on `gen` after a job before sleeping on
 * the condition variable, and the caller spins on `pending` before sleeping;
 * a decode step runs hundreds of short jobs. The spins are bounded in time,
 * not in polls (a pause takes 19 ns on the Zen 5 class VM and several times
 * that on recent Xeons): a thread that sleeps is woken through the kernel, and
 * in a VM an idle vCPU's wake-up is slow. A worker's item near the end of a job
 * can run 20-50 us past the caller's; with 1000 polls (19 us there) the
 * caller slept and the next job waited for its wake-up: in one process, the
 * 4-layer V2-Lite decoded 0.6-3 % faster with spins of 2 ms (Q4_K_M, Q8_0;
 * bench/RESULTS.md Run 28). The mutex orders the sleeps against the wake-ups
 * (no lost wake-up). */
#define SPIN_US_DEFAULT 2000 /* microseconds; FRUGAL_SPIN overrides (0: sleep at once) */

struct fr_pool {
    int n;
    double spin; /* seconds of polling before sleeping (FRUGAL_SPIN microseconds, default SPIN_US_DEFAULT) */
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

/* poll until done(p) or spin seconds have passed (the clock read every 64 polls); 1 when done */
static int spin_until(const fr_pool *p, int (*done)(const fr_pool *, uint64_t), uint64_t arg) {
    if (p->spin <= 0) return done(p, arg);
    const double end = fr_now() + p->spin;
    for (int i = 1;; i++) {
        if (done(p, arg)) return 1;
        cpu_relax();
        if (!(i & 63) && fr_now() > end) return done(p, arg);
    }
}
static int next_job(const fr_pool *p, uint64_t seen) { return atomic_load(&p->gen) != seen || atomic_load(&p->quit); }
static int all_done(const fr_pool *p, uint64_t unused) {
    (void)unused;
    return atomic_load(&p->pending) <= 0;
}

static _Thread_local fr_pool *g_current;

static void run_job(job *j, int ith) {
    for (;;) {
        int64_t i0, c = j->grain;
        if (j->div > 0) {
            i0 = atomic_load(&j->next);
            do {
                if (i0 >= j->n) return;
                c = (j->n - i0) / j->div;
                if (c < j->grain) c = j->grain;
            } while (!atomic_compare_exchange_weak(&j->next, &i0, i0 + c));
        } else {
            i0 = atomic_fetch_add(&j->next, c);
            if (i0 >= j->n) return;
        }
        j->fn(j->arg, i0, i0 + c < j->n ? i0 + c : j->n, ith);
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
        if (!spin_until(p, next_job, seen)) {
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
    p->spin = 1e-6 * (e && *e ? atof(e) : SPIN_US_DEFAULT);
    if (!(p->spin > 0)) p->spin = 0;
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

static void parallel_for(int64_t n, int64_t grain, int guided, fr_range_fn fn, void *arg) {
    if (n <= 0) return;
    if (grain < 1) grain = 1;
    fr_pool *p = g_current;
    if (!p || p->n == 1 || n <= grain) {
        fn(arg, 0, n, 0);
        return;
    }
    job j = {.fn = fn, .arg = arg, .n = n, .grain = grain, .div = guided ? 2 * (int64_t)p->n : 0};
    atomic_init(&j.next, 0);
    atomic_store(&p->cur, &j);
    atomic_store(&p->pending, p->n - 1);
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add(&p->gen, 1);
    pthread_cond_broadcast(&p->start);
    pthread_mutex_unlock(&p->mu);
    run_job(&j, 0);
    if (!spin_until(p, all_done, 0)) {
        pthread_mutex_lock(&p->mu);
        while (atomic_load(&p->pending) > 0) pthread_cond_wait(&p->done, &p->mu);
        pthread_mutex_unlock(&p->mu);
    }
}

void fr_parallel_for(int64_t n, int64_t grain, fr_range_fn fn, void *arg) { parallel_for(n, grain, 0, fn, arg); }

/* Guided: a thread takes half its share of what is left, so the takes shrink
 * towards the end and the threads finish together. The decode's matmuls in 8
 * equal runs (the lm_head's 0.7 ms each) had the caller wait for the other
 * thread 0.72 ms a token in all on the 4-layer V2-Lite Q4_K_M; with their
 * matmuls taken guided in units of 16 rows, 0.18 ms, and the decode ran 0.9 to
 * 3.5 % faster (Q4_K_M and Q8_0, in one process: bench/RESULTS.md Run 29). */
void fr_parallel_for_guided(int64_t n, int64_t grain, fr_range_fn fn, void *arg) {
    parallel_for(n, grain, 1, fn, arg);
}
