/* Compare two float32 logit files [rows, vocab]: row-relative error
 * max|a-b| / max|b| (worst row) and argmax agreement. b is the reference.
 * usage: cmp_logits A.f32 B.f32 VOCAB */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static float *load(const char *p, long *n) {
    FILE *f = fopen(p, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    *n = ftell(f) / 4;
    fseek(f, 0, SEEK_SET);
    float *x = malloc((size_t)*n * 4 + 4);
    if (fread(x, 4, (size_t)*n, f) != (size_t)*n) *n = 0;
    fclose(f);
    return x;
}

int main(int argc, char **argv) {
    if (argc != 4) return 2;
    long na, nb, V = atol(argv[3]);
    float *a = load(argv[1], &na), *b = load(argv[2], &nb);
    if (!a || !b || na != nb || V <= 0 || na % V) {
        fprintf(stderr, "error: cannot compare %s and %s\n", argv[1], argv[2]);
        return 1;
    }
    long rows = na / V, agree = 0;
    double worst = 0;
    for (long r = 0; r < rows; r++) {
        const float *x = a + r * V, *y = b + r * V;
        double md = 0, mr = 0;
        long ax = 0, ay = 0;
        for (long j = 0; j < V; j++) {
            double d = fabs((double)x[j] - y[j]);
            if (!(d <= md)) md = d;
            if (fabs(y[j]) > mr) mr = fabs(y[j]);
            if (x[j] > x[ax]) ax = j;
            if (y[j] > y[ay]) ay = j;
        }
        double e = mr > 0 ? md / mr : md;
        if (!(e <= worst)) worst = e;
        agree += ax == ay;
    }
    printf("rel %.3g  argmax %ld/%ld\n", worst, agree, rows);
    return 0;
}
