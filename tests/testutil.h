/* Minimal test harness: CHECK macros, counters, file helpers. Each test program
 * ends with "N passed, N failed" and exits non-zero on any failure. */
#ifndef FR_TESTUTIL_H
#define FR_TESTUTIL_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int t_pass, t_fail;

#define CHECK(cond, ...)                                              \
    do {                                                              \
        if (cond) t_pass++;                                           \
        else {                                                        \
            t_fail++;                                                 \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);      \
            fprintf(stderr, __VA_ARGS__);                             \
            fprintf(stderr, "\n");                                    \
        }                                                             \
    } while (0)

static inline int t_done(void) {
    printf("%d passed, %d failed\n", t_pass, t_fail);
    return t_fail ? 1 : 0;
}

/* FRUGAL_FIXTURES/<rel> */
static inline const char *t_fixture(const char *rel) {
    static char buf[8][4096];
    static int k;
    const char *root = getenv("FRUGAL_FIXTURES");
    char *b = buf[k++ % 8];
    snprintf(b, sizeof buf[0], "%s/%s", root ? root : "tests/fixtures", rel);
    return b;
}

/* Read a whole binary file; *n = bytes. NULL when missing. */
static inline void *t_read(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *p = malloc(sz > 0 ? (size_t)sz : 1);
    if (p && fread(p, 1, (size_t)sz, f) != (size_t)sz) { free(p); p = NULL; }
    fclose(f);
    if (n) *n = (size_t)sz;
    return p;
}

/* max over rows of max|a - ref| / max|ref| (rows of length w) */
static inline double t_row_rel_err(const float *a, const float *ref, size_t rows, size_t w) {
    double worst = 0;
    for (size_t r = 0; r < rows; r++) {
        double md = 0, mr = 0;
        for (size_t j = 0; j < w; j++) {
            double d = fabs((double)a[r * w + j] - ref[r * w + j]);
            if (!(d <= md)) md = d; /* NaN propagates as a failure */
            if (fabs(ref[r * w + j]) > mr) mr = fabs(ref[r * w + j]);
        }
        double e = mr > 0 ? md / mr : md;
        if (!(e <= worst)) worst = e;
    }
    return worst;
}

/* rows of a whose row-relative error to ref exceeds tol; *worst gets the largest */
static inline int t_rows_over(const float *a, const float *ref, size_t rows, size_t w, double tol, double *worst) {
    int over = 0;
    *worst = 0;
    for (size_t r = 0; r < rows; r++) {
        double e = t_row_rel_err(a + r * w, ref + r * w, 1, w);
        over += !(e <= tol);
        *worst = e > *worst ? e : *worst;
    }
    return over;
}

#endif
