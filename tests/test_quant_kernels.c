/* The per-ISA matmul kernels for ggml block-quantized weights (Q8_0, Q4_0,
 * Q5_0, Q4_K, Q5_K, Q6_K) against the generic kernel (dequantize, then float dot
 * products) on random weights quantized with fr_ggml_quantize, for odd row
 * counts, several blocks per row and n = 1, 3, 17 tokens; the generic kernel
 * itself against a double sum over the dequantized rows. */
#include <math.h>

#include "kernels/generic/generic.h"
#include "kernels/kernels.h"
#include "quanttest.h"

/* worst |y - ref| / sum_c |W[r][c] X[t][c]| over the outputs: the error relative
 * to the size of the products (rounding in float32 sums is bounded by it) */
static double rel_err(const fr_tensor *w, const float *x, const float *y, const float *ref, int n) {
    const int64_t rows = fr_rows(w), cols = fr_cols(w);
    float *row = malloc(sizeof(float) * (size_t)cols);
    double worst = 0;
    for (int64_t r = 0; r < rows; r++) {
        fr_tensor_row_f32(w, r, row);
        for (int t = 0; t < n; t++) {
            double mag = 0;
            for (int64_t c = 0; c < cols; c++) mag += fabs((double)row[c] * x[t * cols + c]);
            double e = fabs((double)y[t * rows + r] - ref[t * rows + r]) / (mag > 0 ? mag : 1);
            if (!(e <= worst)) worst = e; /* NaN propagates as a failure */
        }
    }
    free(row);
    return worst;
}

/* the generic kernel vs a direct double sum over the dequantized rows */
static void test_generic_oracle(void) {
    for (size_t d = 0; d < sizeof g_qts / sizeof *g_qts; d++) {
        fr_tensor w;
        const int64_t rows = 9, cols = 512;
        const int n = 3;
        CHECK(make_q(&w, g_qts[d], rows, cols) == 0, "quantize %s", fr_dtype_get(g_qts[d])->name);
        float *x = malloc(sizeof(float) * (size_t)(cols * n)), *y = malloc(sizeof(float) * (size_t)(rows * n)),
              *ref = malloc(sizeof(float) * (size_t)(rows * n)), row[512];
        for (int64_t i = 0; i < cols * n; i++) x[i] = (float)(urand() * 2 - 1);
        fr_matmul_generic(&w, x, y, n, 0, rows);
        for (int64_t r = 0; r < rows; r++) {
            fr_tensor_row_f32(&w, r, row);
            for (int t = 0; t < n; t++) {
                double s = 0;
                for (int64_t c = 0; c < cols; c++) s += (double)row[c] * x[t * cols + c];
                ref[t * rows + r] = (float)s;
            }
        }
        double e = t_row_rel_err(y, ref, (size_t)n, (size_t)rows);
        CHECK(e < 1e-6, "generic %s vs direct sum: %.3g", fr_dtype_get(g_qts[d])->name, e);
        free(x), free(y), free(ref), free((void *)w.data);
    }
}

static void test_isa(const fr_kernel_table *k) {
    static const int64_t rowss[] = {1, 5, 13, 37};
    static const int64_t nblk[] = {1, 3, 9};
    static const int ns[] = {1, 3, 17};
    for (size_t d = 0; d < sizeof g_qts / sizeof *g_qts; d++) {
        fr_matmul_fn f = k->matmul[g_qts[d]];
        const char *dn = fr_dtype_get(g_qts[d])->name;
        if (!f) {
            printf("%s %s: no kernel (generic fallback)\n", k->name, dn);
            continue;
        }
        double worst = 0;
        for (size_t ir = 0; ir < sizeof rowss / sizeof *rowss; ir++)
            for (size_t ib = 0; ib < sizeof nblk / sizeof *nblk; ib++) {
                const int64_t rows = rowss[ir], cols = nblk[ib] * fr_dtype_get(g_qts[d])->block;
                fr_tensor w;
                CHECK(make_q(&w, g_qts[d], rows, cols) == 0, "quantize %s", dn);
                for (size_t in = 0; in < sizeof ns / sizeof *ns; in++) {
                    const int n = ns[in];
                    const size_t ny = (size_t)(rows * n);
                    float *x = malloc(sizeof(float) * (size_t)(cols * n)), *y = malloc(sizeof(float) * ny),
                          *ref = malloc(sizeof(float) * ny);
                    for (int64_t i = 0; i < cols * n; i++) x[i] = (float)(urand() * 2 - 1);
                    fr_matmul_generic(&w, x, ref, n, 0, rows);
                    for (size_t i = 0; i < ny; i++) y[i] = -12345.0f;
                    /* two calls over split ranges, the first odd */
                    int64_t mid = rows > 2 ? rows / 2 + 1 : rows;
                    f(&w, x, y, n, 0, mid);
                    if (mid < rows) f(&w, x, y, n, mid, rows);
                    double e = rel_err(&w, x, y, ref, n);
                    if (!(e <= worst)) worst = e;
                    CHECK(e < 1e-6, "%s %s rows %lld cols %lld n %d: error / sum|w x| %.3g", k->name, dn,
                          (long long)rows, (long long)cols, n, e);
                    if (rows >= 7) { /* a partial range writes only its rows */
                        for (size_t i = 0; i < ny; i++) y[i] = -12345.0f;
                        f(&w, x, y, n, 3, rows - 2);
                        int ok = 1;
                        for (int t = 0; t < n; t++)
                            for (int64_t r = 0; r < rows; r++) {
                                float v = y[t * rows + r];
                                int inside = r >= 3 && r < rows - 2;
                                if (inside ? v == -12345.0f : v != -12345.0f) ok = 0;
                            }
                        CHECK(ok, "%s %s rows [3, %lld) wrote outside its range", k->name, dn, (long long)rows - 2);
                    }
                    free(x), free(y), free(ref);
                }
                free((void *)w.data);
            }
        printf("%s %-5s worst error / sum|w x| vs generic: %.3g\n", k->name, dn, worst);
    }
}

int main(void) {
    test_generic_oracle();
    const char *isas[] = {"avx2", "avx512", "avx512vnni", "avx512bf16"};
    int tested = 0;
    for (int i = 0; i < 4; i++) {
        const fr_kernel_table *k = fr_kernels_isa(isas[i]);
        if (!k) {
            printf("%s: not available on this CPU, skipped\n", isas[i]);
            continue;
        }
        tested++;
        test_isa(k);
    }
    printf("ISA tables tested: %d\n", tested);
    return t_done();
}
