/* No allocation in the decode loop: after a few decode steps (the scratch arena
 * reaches its size), further steps call malloc/calloc/realloc/aligned_alloc
 * zero times; nor in a prefill of a size that ran before. The library's calls
 * are counted through the linker's --wrap (tests/CMakeLists.txt). Also the
 * arena itself: alignment, no overlap, roll back and reset reuse the memory. */
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "base/arena.h"
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

/* a pass of allocations of the given sizes, each filled with its index; NULL on failure */
static int pass(fr_arena *a, const size_t *sz, int n, unsigned char **p) {
    for (int i = 0; i < n; i++) {
        if (!(p[i] = fr_arena_alloc(a, sz[i]))) return -1;
        memset(p[i], i + 1, sz[i]);
    }
    return 0;
}

static int intact(unsigned char **p, const size_t *sz, int n) {
    for (int i = 0; i < n; i++)
        for (size_t j = 0; j < sz[i]; j++)
            if (p[i][j] != (unsigned char)(i + 1)) return 0;
    return 1;
}

static void test_arena(void) {
    fr_arena a = {0};
    /* small, larger than the first block, odd sizes, one of 0 */
    const size_t sz[] = {100, 3u << 20, 7, 0, 1u << 20, 65, 5u << 20, 1};
    enum { N = sizeof sz / sizeof *sz };
    unsigned char *p[N], *q[N];
    CHECK(pass(&a, sz, N, p) == 0, "arena: first pass");
    for (int i = 0; i < N; i++) CHECK((uintptr_t)p[i] % 64 == 0, "arena: allocation %d not 64-byte aligned", i);
    CHECK(intact(p, sz, N), "arena: allocations overlap");
    /* the same pass after a reset: the same memory, nothing allocated */
    long before = atomic_load(&g_allocs);
    fr_arena_reset(&a);
    CHECK(pass(&a, sz, N, q) == 0 && intact(q, sz, N), "arena: second pass");
    CHECK(atomic_load(&g_allocs) == before, "arena: a repeated pass allocated");
    CHECK(!memcmp(p, q, sizeof p), "arena: a repeated pass got other addresses");
    /* roll back: what came before the mark stays, what came after is reused */
    fr_arena_reset(&a);
    CHECK(pass(&a, sz, 2, q) == 0, "arena: before the mark");
    fr_arena_mark mk = fr_arena_save(&a);
    unsigned char *r[N];
    CHECK(pass(&a, sz + 2, N - 2, r) == 0, "arena: after the mark");
    fr_arena_restore(&a, mk);
    unsigned char *r2[N];
    before = atomic_load(&g_allocs);
    CHECK(pass(&a, sz + 2, N - 2, r2) == 0 && !memcmp(r, r2, (N - 2) * sizeof *r), "arena: roll back did not reuse");
    CHECK(atomic_load(&g_allocs) == before, "arena: allocation after a roll back");
    CHECK(intact(q, sz, 2), "arena: roll back clobbered what came before the mark");
    /* a mark on an empty arena rolls back everything */
    fr_arena_reset(&a);
    mk = fr_arena_save(&a);
    CHECK(pass(&a, sz, N, p) == 0, "arena: pass after an empty mark");
    fr_arena_restore(&a, mk);
    CHECK(fr_arena_alloc(&a, 64) == p[0], "arena: empty mark did not rewind to the start");
    /* absurd sizes fail cleanly */
    CHECK(fr_arena_alloc(&a, (size_t)-1) == NULL && fr_arena_f32(&a, (size_t)-1 / 2) == NULL, "arena: huge size");
    fr_arena_free(&a);
    CHECK(a.head == NULL && a.cur == NULL, "arena: free");
    fr_arena empty = {0};
    fr_arena_reset(&empty);
    fr_arena_restore(&empty, fr_arena_save(&empty));
    fr_arena_free(&empty);
}

int main(void) {
    test_arena();
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
    /* a prefill of a size that ran before (from the same position) allocates nothing */
    int32_t batch[240];
    for (int i = 0; i < 240; i++) batch[i] = 3 + i % 50;
    CHECK(frugal_eval(c, batch, 240, 0, 0) == 0, "prefill 240: %s", frugal_last_error());
    before = atomic_load(&g_allocs);
    CHECK(frugal_eval(c, batch, 240, 0, 0) == 0 && frugal_eval(c, batch, 100, 0, 0) == 0, "prefill again: %s",
          frugal_last_error());
    during = atomic_load(&g_allocs) - before;
    CHECK(during == 0, "%ld allocations in a repeated prefill", during);
    /* the counter works: a new context allocates */
    frugal_context *c2;
    before = atomic_load(&g_allocs);
    CHECK(frugal_context_create(m, &p, &c2) == 0 && atomic_load(&g_allocs) > before, "allocation counter broken");
    frugal_context_free(c2);
    frugal_context_free(c);
    frugal_model_free(m);
    return t_done();
}
