/* No allocation in the decode loop: after a few decode steps (the scratch arena
 * reaches its size), further steps call malloc/calloc/realloc/aligned_alloc
 * zero times. The library's calls are counted through the linker's --wrap
 * (tests/CMakeLists.txt). */
#include <stdatomic.h>

#include "frugal.h"
#include "testutil.h"

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
void *__real_aligned_alloc(size_t a, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t m);
void *__wrap_realloc(void *p, size_t n);
void *__wrap_aligned_alloc(size_t a, size_t n);

static atomic_long g_allocs;
void *__wrap_malloc(size_t n) { atomic_fetch_add(&g_allocs, 1); return __real_malloc(n); }
void *__wrap_calloc(size_t n, size_t m) { atomic_fetch_add(&g_allocs, 1); return __real_calloc(n, m); }
void *__wrap_realloc(void *p, size_t n) { atomic_fetch_add(&g_allocs, 1); return __real_realloc(p, n); }
void *__wrap_aligned_alloc(size_t a, size_t n) { atomic_fetch_add(&g_allocs, 1); return __real_aligned_alloc(a, n); }

int main(void) {
    frugal_model *m;
    if (frugal_model_load(t_fixture("deepseek/v2lite_tiny"), &m)) {
        fprintf(stderr, "%s\n", frugal_last_error());
        return 1;
    }
    frugal_context_params p = {.n_ctx = 256, .n_threads = 2};
    frugal_context *c;
    CHECK(frugal_context_create(m, &p, &c) == 0, "context: %s", frugal_last_error());
    int32_t prompt[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    CHECK(frugal_eval(c, prompt, 8, 0, 0) == 0, "prefill: %s", frugal_last_error());
    int pos = 8;
    for (int i = 0; i < 4; i++, pos++) { /* warm-up: the arena settles */
        int32_t t = 10 + i;
        frugal_eval(c, &t, 1, pos, 0);
    }
    long before = atomic_load(&g_allocs);
    for (int i = 0; i < 32; i++, pos++) {
        int32_t t = 20 + i;
        CHECK(frugal_eval(c, &t, 1, pos, 0) == 0, "decode: %s", frugal_last_error());
    }
    long during = atomic_load(&g_allocs) - before;
    CHECK(during == 0, "%ld allocations in 32 decode steps", during);
    /* the counter works: a new context allocates */
    frugal_context *c2;
    before = atomic_load(&g_allocs);
    CHECK(frugal_context_create(m, &p, &c2) == 0 && atomic_load(&g_allocs) > before, "allocation counter broken");
    frugal_context_free(c2);
    frugal_context_free(c);
    frugal_model_free(m);
    return t_done();
}
