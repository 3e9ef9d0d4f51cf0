/* Read bandwidth by access pattern: T threads, each reading its own part of a
 * 1 GiB buffer as rows of 2176 bytes (a 2048-wide Q8_0 weight row), S rows at
 * a time interleaved 64 bytes each (S = 1: one sequential stream; S = 8: what
 * a kernel tile of 8 weight rows does).
 *   cc -O2 -mavx512f -pthread bench/stream_pattern.c -o /tmp/sp && /tmp/sp 2 1 && /tmp/sp 2 8
 * Best of 5 passes, GB/s = 1e9 bytes per second of wall time. */
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct job {
    const unsigned char *p;
    size_t n;
    int s, r;
} job;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void *run(void *a) {
    job *j = a;
    const size_t rb = 2176, rows = j->n / rb;
    __m512i acc = _mm512_setzero_si512();
    for (size_t r = 0; r + (size_t)j->s <= rows; r += (size_t)j->s)
        for (size_t c = 0; c + 64 <= rb; c += 64)
            for (int i = 0; i < j->s; i++)
                acc = _mm512_add_epi32(acc, _mm512_loadu_si512((const void *)(j->p + (r + (size_t)i) * rb + c)));
    j->r = _mm512_reduce_add_epi32(acc);
    return NULL;
}

int main(int argc, char **argv) {
    int T = argc > 1 ? atoi(argv[1]) : 2, S = argc > 2 ? atoi(argv[2]) : 1;
    if (T < 1 || T > 64 || S < 1 || S > 64) return 2;
    size_t N = (size_t)1 << 30;
    unsigned char *b = aligned_alloc(64, N);
    if (!b) return 1;
    memset(b, 1, N);
    double best = 1e9;
    int sink = 0;
    for (int rep = 0; rep < 5; rep++) {
        pthread_t th[64];
        job j[64];
        double t0 = now();
        for (int t = 0; t < T; t++) {
            j[t] = (job){b + N / (size_t)T * (size_t)t, N / (size_t)T, S, 0};
            pthread_create(&th[t], NULL, run, &j[t]);
        }
        for (int t = 0; t < T; t++) pthread_join(th[t], NULL), sink += j[t].r;
        double dt = now() - t0;
        if (dt < best) best = dt;
    }
    printf("%d threads, %d interleaved row streams each: %.1f GB/s (%d)\n", T, S, (double)N / best / 1e9, sink & 1);
    free(b);
    return 0;
}
