/* The integer path (kernels.h, fr_qx): the activation quantizer, the generic
 * integer kernel against a double sum over the dequantized weights times the
 * dequantized activations (q * d), and every ISA's integer kernels against the
 * generic one, on random weights quantized with fr_ggml_quantize, odd row
 * counts, several blocks per row, n = 1, 3, 13, 17 tokens and split row ranges. */
#include <math.h>
#include <signal.h>

#include "base/pool.h"
#include "kernels/generic/generic.h"
#include "kernels/kernels.h"
#include "layers/mlp.h"
#define QT_SEED 0x9e3779b97f4a7c15ull
#include "quanttest.h"

/* the weight types of the integer path: g_qts and the other GGUF types */
static const fr_dtype g_iqts[] = {FR_DT_Q8_0, FR_DT_Q4_0, FR_DT_Q5_0,   FR_DT_Q4_K,   FR_DT_Q5_K,
                                  FR_DT_Q6_K, FR_DT_Q4_1, FR_DT_Q5_1,   FR_DT_Q2_K,   FR_DT_Q3_K,
                                  FR_DT_IQ4_NL, FR_DT_IQ4_XS, FR_DT_MXFP4};

/* activations with per-32 magnitudes (some blocks all zero) */
static void make_x(float *x, int64_t nv) {
    float mag = 1;
    for (int64_t i = 0; i < nv; i++) {
        if (i % 32 == 0) mag = urand() < 0.05 ? 0.0f : (float)(0.001 + 10 * urand() * urand());
        x[i] = mag * (float)(urand() * 2 - 1);
    }
}

static fr_qx quantize(const float *x, int n, int64_t cols, int blk, void **buf) {
    *buf = aligned_alloc(64, (fr_qx_bytes(n, cols, blk) + 63) & ~(size_t)63);
    fr_qx q;
    fr_qx_quantize(x, n, cols, blk, *buf, &q);
    return q;
}

static void test_quantizer(void) {
    const int64_t cols = 512;
    const int n = 3;
    float x[3 * 512];
    make_x(x, n * cols);
    x[5] = 1e30f; /* a huge value: its block scales to it */
    for (int ib = 0; ib < 2; ib++) {
        const int blk = ib ? 256 : 32;
        void *buf;
        fr_qx q = quantize(x, n, cols, blk, &buf);
        int bad = 0, badsum = 0;
        for (int64_t b = 0; b < n * cols / blk; b++) {
            float amax = 0;
            for (int j = 0; j < blk; j++) amax = fmaxf(amax, fabsf(x[b * blk + j]));
            if (q.d[b] != amax / 127.0f) bad++;
            for (int j = 0; j < blk; j++) {
                int64_t i = b * blk + j;
                if (q.q[i] == -128 || fabs((double)q.q[i] * q.d[b] - x[i]) > 0.5001 * q.d[b]) bad++;
            }
        }
        for (int64_t g = 0; g < n * cols / 16; g++) {
            int s = 0;
            for (int j = 0; j < 16; j++) s += q.q[g * 16 + j];
            badsum += s != q.s[g];
        }
        CHECK(bad == 0 && badsum == 0, "quantizer blk %d: %d values, %d sums wrong", blk, bad, badsum);
        free(buf);
    }
}

/* an ISA's vector quantizer (qx_rows) against the generic loop, bit for bit,
 * on rows with NaN, infinities, subnormal-only and all-zero blocks, -0, and
 * values on the rounding ties */
static void test_quantizer_isa(const fr_kernel_table *k) {
    if (!k->qx_rows) return;
    const int64_t cols = 1024;
    const int n = 3;
    float *x = malloc(sizeof(float) * (size_t)(n * cols));
    make_x(x, n * (int)cols);
    x[3] = __builtin_nanf("");
    x[40] = __builtin_inff();
    x[300] = -__builtin_inff();
    x[301] = __builtin_nanf("");
    x[31] = x[511] = __builtin_nanf(""); /* last vector of a block: a NaN max would survive */
    for (int j = 64; j < 96; j++) x[j] = 1e-41f * (float)(j - 80); /* subnormals: 127 / amax overflows */
    for (int j = 96; j < 128; j++) x[j] = j % 2 ? -0.0f : 0.0f;
    for (int j = 128; j < 160; j++) x[j] = (float)(j - 144) + 0.5f; /* amax 15.5: ties after scaling? */
    for (int j = 512; j < 544; j++) x[j] = (float)(j - 527) * (127.0f / 16.0f) / 127.0f * 2.0f;
    for (int ib = 0; ib < 2; ib++) {
        const int blk = ib ? 256 : 32;
        const size_t nb = (size_t)(n * cols / blk);
        void *b1 = aligned_alloc(64, (fr_qx_bytes(n, cols, blk) + 63) & ~(size_t)63);
        void *b2 = aligned_alloc(64, (fr_qx_bytes(n, cols, blk) + 63) & ~(size_t)63);
        fr_qx q1, q2;
        fr_kernels_use_generic(1);
        fr_qx_quantize(x, n, cols, blk, b1, &q1);
        fr_kernels_use_generic(0);
        fr_qx_quantize(x, n, cols, blk, b2, &q2);
        /* and the table's own entry on a middle range of blocks */
        int8_t *q3 = malloc((size_t)(n * cols));
        float *d3 = malloc(sizeof(float) * nb);
        int16_t *s3 = malloc(sizeof(int16_t) * (size_t)(n * cols / 16));
        k->qx_rows(x, blk, q3, d3, s3, 1, nb);
        int same = !memcmp(q1.q, q2.q, (size_t)(n * cols)) && !memcmp(q1.d, q2.d, sizeof(float) * nb) &&
                   !memcmp(q1.s, q2.s, sizeof(int16_t) * (size_t)(n * cols / 16)) &&
                   !memcmp(q1.q + blk, q3 + blk, (size_t)(n * cols - blk)) &&
                   !memcmp(q1.d + 1, d3 + 1, sizeof(float) * (nb - 1)) &&
                   !memcmp(q1.s + blk / 16, s3 + blk / 16, sizeof(int16_t) * (size_t)((n * cols - blk) / 16));
        CHECK(same, "%s quantizer blk %d differs from the generic loop", k->name, blk);
        free(b1), free(b2), free(q3), free(d3), free(s3);
    }
    free(x);
}

/* the generic integer kernel vs sum_c W[r][c] * (q[t][c] * d) in double */
static void test_generic_oracle(void) {
    for (size_t d = 0; d < sizeof g_iqts / sizeof *g_iqts; d++) {
        const fr_dtype dt = g_iqts[d];
        const char *dn = fr_dtype_get(dt)->name;
        const int64_t rows = 9, cols = 512;
        const int n = 3, blk = fr_qx_blk(dt);
        fr_tensor w;
        CHECK(make_q(&w, dt, rows, cols) == 0, "quantize %s", dn);
        CHECK(blk == 32 || blk == 256, "%s: integer path block %d", dn, blk);
        float x[3 * 512], y[27], row[512];
        make_x(x, n * cols);
        void *buf;
        fr_qx q = quantize(x, n, cols, blk, &buf);
        fr_matmul_q_generic(&w, &q, y, 0, rows);
        double worst = 0;
        for (int64_t r = 0; r < rows; r++) {
            fr_tensor_row_f32(&w, r, row);
            for (int t = 0; t < n; t++) {
                double s = 0, mag = 0;
                for (int64_t c = 0; c < cols; c++) {
                    double xv = (double)q.q[t * cols + c] * q.d[(t * cols + c) / blk];
                    s += (double)row[c] * xv;
                    mag += fabs((double)row[c] * xv);
                }
                double e = fabs(y[t * rows + r] - s) / (mag > 0 ? mag : 1);
                if (!(e <= worst)) worst = e;
            }
        }
        printf("generic %-5s integer kernel vs double sum: %.3g\n", dn, worst);
        CHECK(worst < 2e-6, "generic %s integer kernel vs double sum: %.3g", dn, worst);
        free(buf), free((void *)w.data);
    }
}

/* worst |y - ref| / sum_c |W[r][c] x[t][c]| (x = q * d): float reordering is
 * bounded by the size of the products, not of their (possibly cancelling) sum */
static double mag_err(const fr_tensor *w, const fr_qx *q, const float *y, const float *ref) {
    const int64_t rows = fr_rows(w), cols = fr_cols(w);
    float *row = malloc(sizeof(float) * (size_t)cols);
    double worst = 0;
    for (int64_t r = 0; r < rows; r++) {
        fr_tensor_row_f32(w, r, row);
        for (int t = 0; t < q->n; t++) {
            double mag = 0;
            for (int64_t c = 0; c < cols; c++)
                mag += fabs((double)row[c] * q->q[t * cols + c] * q->d[(t * cols + c) / q->blk]);
            double e = fabs((double)y[t * rows + r] - ref[t * rows + r]) / (mag > 0 ? mag : 1);
            if (!(e <= worst)) worst = e; /* NaN fails */
        }
    }
    free(row);
    return worst;
}

/* y (ny floats, prefilled with a marker) = f over all rows of w, in two calls,
 * the first range odd */
static void run_split(fr_matmul_q_fn f, const fr_tensor *w, const fr_qx *q, float *y, size_t ny) {
    const int64_t rows = fr_rows(w), mid = rows > 2 ? rows / 2 + 1 : rows;
    for (size_t i = 0; i < ny; i++) y[i] = -12345.0f;
    f(w, q, y, 0, mid);
    if (mid < rows) f(w, q, y, mid, rows);
}

/* one token: W [rows][cols] of dt (make_q), x quantized, ref = the generic kernel's y; 0 or make_q's error */
typedef struct tok1 {
    fr_tensor w;
    float *x;
    void *buf;
    fr_qx q;
} tok1;
static int tok1_make(tok1 *t, fr_dtype dt, int64_t rows, int64_t cols, float *ref) {
    const int rc = make_q(&t->w, dt, rows, cols);
    t->x = malloc(sizeof(float) * (size_t)cols);
    make_x(t->x, cols);
    t->q = quantize(t->x, 1, cols, fr_qx_blk(dt), &t->buf);
    fr_matmul_q_generic(&t->w, &t->q, ref, 0, rows);
    return rc;
}
static void tok1_free(tok1 *t) { free(t->buf), free(t->x), free((void *)t->w.data); }

static void test_isa(const fr_kernel_table *k) {
    if (k->row_f32) { /* Q8_0 rows (the q8_0 latent cache) decode bitwise as the generic decoder */
        fr_tensor w;
        CHECK(make_q(&w, FR_DT_Q8_0, 5, 9 * 32) == 0, "quantize Q8_0");
        float a[9 * 32], b[9 * 32];
        int same = 1;
        for (int64_t r = 0; r < 5; r++) {
            fr_tensor_row_f32(&w, r, a);
            k->row_f32(&w, r, b);
            same &= !memcmp(a, b, sizeof a);
        }
        CHECK(same, "%s row_f32 Q8_0 differs from fr_tensor_row_f32", k->name);
        free((void *)w.data);
    }
    static const int64_t rowss[] = {1, 5, 13, 37};
    static const int64_t nblk[] = {1, 3, 9};
    static const int ns[] = {1, 3, 6, 13, 17}; /* 13: 8 + 4 + 1 token tiles; 6: Q4_K/Q5_K transposed */
    for (size_t d = 0; d < sizeof g_iqts / sizeof *g_iqts; d++) {
        const fr_dtype dt = g_iqts[d];
        fr_matmul_q_fn f = k->matmul_q[dt];
        const char *dn = fr_dtype_get(dt)->name;
        if (!f || f == fr_matmul_q_generic) {
            printf("%s %s: no integer kernel (generic fallback)\n", k->name, dn);
            continue;
        }
        double worst = 0;
        for (size_t ir = 0; ir < sizeof rowss / sizeof *rowss; ir++)
            for (size_t ib = 0; ib < sizeof nblk / sizeof *nblk; ib++) {
                const int64_t rows = rowss[ir], cols = nblk[ib] * fr_dtype_get(dt)->block;
                fr_tensor w;
                CHECK(make_q(&w, dt, rows, cols) == 0, "quantize %s", dn);
                for (size_t in = 0; in < sizeof ns / sizeof *ns; in++) {
                    const int n = ns[in];
                    const size_t ny = (size_t)(rows * n);
                    float *x = malloc(sizeof(float) * (size_t)(cols * n)), *y = malloc(sizeof(float) * ny),
                          *ref = malloc(sizeof(float) * ny);
                    make_x(x, cols * n);
                    void *buf;
                    fr_qx q = quantize(x, n, cols, fr_qx_blk(dt), &buf);
                    fr_matmul_q_generic(&w, &q, ref, 0, rows);
                    run_split(f, &w, &q, y, ny);
                    double e = mag_err(&w, &q, y, ref);
                    if (!(e <= worst)) worst = e;
                    CHECK(e < 1e-6, "%s %s rows %lld cols %lld n %d: error / sum|w x| %.3g", k->name, dn,
                          (long long)rows, (long long)cols, n, e);
                    if (rows >= 7) { /* a partial range writes only its rows */
                        for (size_t i = 0; i < ny; i++) y[i] = -12345.0f;
                        f(&w, &q, y, 3, rows - 2);
                        int ok = 1;
                        for (int t = 0; t < n; t++)
                            for (int64_t r = 0; r < rows; r++) {
                                float v = y[t * rows + r];
                                int inside = r >= 3 && r < rows - 2;
                                if (inside ? v == -12345.0f : v != -12345.0f) ok = 0;
                            }
                        CHECK(ok, "%s %s rows [3, %lld) wrote outside its range", k->name, dn, (long long)rows - 2);
                    }
                    free(buf), free(x), free(y), free(ref);
                }
                free((void *)w.data);
            }
        { /* a long pass: 523 tokens (two passes of the transposed path, 512 + 11 in 8, 2, 1
           * token tiles) over more blocks than one transposed chunk (Q0: 16, K: 4) */
            const int64_t rows = 37, cols = (fr_dtype_get(dt)->block == 32 ? 17 : 5) * fr_dtype_get(dt)->block;
            const int n = 523;
            fr_tensor w;
            CHECK(make_q(&w, dt, rows, cols) == 0, "quantize %s", dn);
            float *x = malloc(sizeof(float) * (size_t)(cols * n)), *y = malloc(sizeof(float) * (size_t)(rows * n)),
                  *ref = malloc(sizeof(float) * (size_t)(rows * n));
            make_x(x, (int)cols * n);
            void *buf;
            fr_qx q = quantize(x, n, cols, fr_qx_blk(dt), &buf);
            fr_matmul_q_generic(&w, &q, ref, 0, rows);
            f(&w, &q, y, 0, 21), f(&w, &q, y, 21, rows);
            double e = mag_err(&w, &q, y, ref);
            if (!(e <= worst)) worst = e;
            CHECK(e < 1e-6, "%s %s rows %lld cols %lld n %d: error / sum|w x| %.3g", k->name, dn, (long long)rows,
                  (long long)cols, n, e);
            free(buf), free(x), free(y), free(ref);
            free((void *)w.data);
        }
        { /* one token over a long row: more blocks than the decode kernels' chunks of reordered
           * activations (avx512/q0_row_vbmi.h 768 blocks of 32, avx512/int8_k.h 128 of 256) */
            const int64_t rows = 5, cols = (fr_dtype_get(dt)->block == 32 ? 771 : 259) * fr_dtype_get(dt)->block;
            tok1 t;
            float y[5], ref[5];
            CHECK(tok1_make(&t, dt, rows, cols, ref) == 0, "quantize %s", dn);
            f(&t.w, &t.q, y, 0, rows);
            double e = mag_err(&t.w, &t.q, y, ref);
            if (!(e <= worst)) worst = e;
            CHECK(e < 1e-6, "%s %s rows %lld cols %lld n 1: error / sum|w x| %.3g", k->name, dn, (long long)rows,
                  (long long)cols, e);
            tok1_free(&t);
        }
        { /* one token: a row's output does not depend on the rows called with it (the AVX2 decode
           * reads two rows at once, r0 + i and r0 + h + i): all rows in one call, each row alone, and
           * three other splits, bit for bit */
            const int64_t rows = 37, cols = 9 * fr_dtype_get(dt)->block;
            tok1 t;
            float all[37], y[37], ref[37];
            CHECK(tok1_make(&t, dt, rows, cols, ref) == 0, "quantize %s", dn);
            f(&t.w, &t.q, all, 0, rows);
            int same = 1;
            for (int64_t r = 0; r < rows; r++) f(&t.w, &t.q, y, r, r + 1);
            same &= !memcmp(all, y, sizeof y);
            static const int64_t cut[][2] = {{1, 2}, {18, 19}, {7, 30}};
            for (int c = 0; c < 3; c++) {
                f(&t.w, &t.q, y, 0, cut[c][0]);
                f(&t.w, &t.q, y, cut[c][0], cut[c][1]);
                f(&t.w, &t.q, y, cut[c][1], rows);
                same &= !memcmp(all, y, sizeof y);
            }
            CHECK(same, "%s %s n 1: a row's output depends on the rows called with it", k->name, dn);
            tok1_free(&t);
        }
        { /* one token, the weights starting at every byte offset of a cache line: the decode kernels
           * that read whole aligned lines and realign them (avx512/q0_row_vbmi.h) take every offset,
           * and keep their loads inside the tensor's bytes (ASan) */
            const int64_t rows = 6, cols = 11 * fr_dtype_get(dt)->block;
            tok1 t;
            float y[6], ref[6];
            CHECK(tok1_make(&t, dt, rows, cols, ref) == 0, "quantize %s", dn);
            const size_t nb = t.w.nbytes;
            unsigned char *al = aligned_alloc(64, (nb + 127) & ~(size_t)63);
            const void *orig = t.w.data;
            int bad = -1;
            for (int o = 0; o <= 64 && al; o++) { /* o = 64: make_q's own buffer, ASan sees its ends */
                if (o < 64) memcpy(al + o, orig, nb);
                t.w.data = o < 64 ? (const void *)(al + o) : orig;
                f(&t.w, &t.q, y, 0, rows);
                if (!(mag_err(&t.w, &t.q, y, ref) < 1e-6) && bad < 0) bad = (int)((uintptr_t)t.w.data & 63);
            }
            t.w.data = orig;
            CHECK(al && bad < 0, "%s %s n 1 with the weights at line offset %d: wrong", k->name, dn, bad);
            free(al), tok1_free(&t);
        }
        printf("%s %-5s integer kernel, worst error / sum|w x| vs generic: %.3g\n", k->name, dn, worst);
    }
}

/* The AMX tables (k: "amx" on a CPU with AMX, "amxemu" anywhere with
 * AVX512-BF16: the same code with the tile instructions emulated) against the
 * avx512bf16 table, bit for bit: their prefill panels take the sums from
 * tdpbsud instead of vpdpbusd and keep the float steps (avx512/amx.h); but
 * Q4_K and Q5_K, whose tiles sum the sub-blocks in the integers (the generic
 * kernel's sums, avx512/int8_k.h i8k_ptile_amx_split), within 1e-6 of
 * sum|w x|. And "amx" against "amxemu" bit for bit on every type: the real
 * tiles do what the emulation says. Row counts around the two 16-row halves,
 * token counts around the tiles of 16. */
static void test_amx_bitwise(const fr_kernel_table *k, const fr_kernel_table *ref) {
    static const int64_t rowss[] = {1, 16, 17, 40};
    static const int64_t nblk[] = {1, 5, 17};
    static const int ns[] = {3, 4, 8, 15, 16, 17, 35, 300};
    for (size_t d = 0; d < sizeof g_iqts / sizeof *g_iqts; d++) {
        const fr_dtype dt = g_iqts[d];
        const char *dn = fr_dtype_get(dt)->name;
        if (!k->matmul_q[dt] || !ref->matmul_q[dt]) continue;
        /* within 1e-6: Q4_K, Q5_K against a table without tiles */
        const int close = (dt == FR_DT_Q4_K || dt == FR_DT_Q5_K) && strncmp(ref->name, "amx", 3) != 0;
        int same = 1, calls = 0;
        for (size_t ir = 0; ir < sizeof rowss / sizeof *rowss; ir++)
            for (size_t ib = 0; ib < sizeof nblk / sizeof *nblk; ib++) {
                const int64_t rows = rowss[ir], cols = nblk[ib] * fr_dtype_get(dt)->block;
                if (cols > 5 * 256) continue; /* K types: 1 and 5 blocks (one chunk of 4 and a part) */
                fr_tensor w;
                CHECK(make_q(&w, dt, rows, cols) == 0, "quantize %s", dn);
                for (size_t in = 0; in < sizeof ns / sizeof *ns; in++) {
                    const int n = ns[in];
                    const size_t ny = (size_t)(rows * n);
                    float *x = malloc(sizeof(float) * (size_t)(cols * n)), *y = malloc(sizeof(float) * ny),
                          *y0 = malloc(sizeof(float) * ny);
                    make_x(x, cols * n);
                    void *buf;
                    fr_qx q = quantize(x, n, cols, fr_qx_blk(dt), &buf);
                    ref->matmul_q[dt](&w, &q, y0, 0, rows);
                    run_split(k->matmul_q[dt], &w, &q, y, ny);
                    const double e = close ? mag_err(&w, &q, y, y0) : 0;
                    const int eq = close ? e < 1e-6 : !memcmp(y, y0, sizeof(float) * ny);
                    CHECK(eq, "%s %s rows %lld cols %lld n %d: differs from %s (%.3g of sum|w x|)", k->name, dn,
                          (long long)rows, (long long)cols, n, ref->name, e);
                    same &= eq, calls++;
                    free(buf), free(x), free(y), free(y0);
                }
                free((void *)w.data);
            }
        printf("%s %-5s integer kernel vs %s: %s in %d shapes\n", k->name, dn, ref->name,
               !same ? "DIFFERENT" : close ? "within 1e-6" : "bitwise equal", calls);
    }
}

/* The avx2 table's prefill (4 tokens or more: the transposed panels of
 * avx2/int8_q0.h and avx2/int8_k.h) against the generic kernel, bit for bit:
 * the same integer sums and the generic kernel's float steps in its order.
 * Rows around the 8-row panels, tokens around the 4-token tiles and the
 * passes, blocks around the transposed chunks (Q0 16, K 8). */
static void test_avx2_prefill_bitwise(const fr_kernel_table *k) {
    static const fr_dtype dts[] = {FR_DT_Q8_0, FR_DT_Q4_0, FR_DT_Q5_0, FR_DT_Q4_K, FR_DT_Q5_K, FR_DT_Q6_K};
    static const int64_t rowss[] = {5, 8, 21};
    static const int ns[] = {4, 7, 37, 300};
    for (size_t d = 0; d < sizeof dts / sizeof *dts; d++) {
        const fr_dtype dt = dts[d];
        const int64_t block = fr_dtype_get(dt)->block, cols = (block == 32 ? 17 : 9) * block;
        int same = 1;
        for (size_t ir = 0; ir < sizeof rowss / sizeof *rowss; ir++) {
            fr_tensor w;
            CHECK(make_q(&w, dt, rowss[ir], cols) == 0, "quantize %s", fr_dtype_get(dt)->name);
            for (size_t in = 0; in < sizeof ns / sizeof *ns; in++) {
                const int n = ns[in];
                const size_t ny = (size_t)(rowss[ir] * n);
                float *x = malloc(sizeof(float) * (size_t)(cols * n)), *y = malloc(sizeof(float) * ny),
                      *y0 = malloc(sizeof(float) * ny);
                make_x(x, cols * n);
                void *buf;
                fr_qx q = quantize(x, n, cols, fr_qx_blk(dt), &buf);
                fr_matmul_q_generic(&w, &q, y0, 0, rowss[ir]);
                k->matmul_q[dt](&w, &q, y, 0, rowss[ir]);
                same &= !memcmp(y, y0, sizeof(float) * ny);
                free(buf), free(x), free(y), free(y0);
            }
            free((void *)w.data);
        }
        CHECK(same, "%s %s prefill differs from the generic kernel", k->name, fr_dtype_get(dt)->name);
        printf("%s %-5s prefill vs generic: %s\n", k->name, fr_dtype_get(dt)->name,
               same ? "bitwise equal" : "DIFFERENT");
    }
}

/* a BF16 prefill kernel that puts two outputs in each other's place, as a
 * wrong tile layout would: the real one, then tokens 0 and 1 of row r0 swapped */
static fr_matmul_fn g_bf16_real;
static void swaps(const fr_tensor *W, const float *X, float *Y, int n, int64_t r0, int64_t r1) {
    g_bf16_real(W, X, Y, n, r0, r1);
    const int64_t rows = fr_rows(W);
    if (n > 1 && r1 > r0) {
        const float t = Y[r0];
        Y[r0] = Y[rows + r0], Y[rows + r0] = t;
    }
}

/* an integer kernel that puts two outputs in each other's place: the real one,
 * then tokens 0 and 1 of row r0 swapped */
static fr_matmul_q_fn g_q_real[FR_DT_COUNT];
static void swaps_q(const fr_tensor *W, const fr_qx *X, float *Y, int64_t r0, int64_t r1) {
    g_q_real[W->dtype](W, X, Y, r0, r1);
    const int64_t rows = fr_rows(W);
    if (X->n > 1 && r1 > r0) {
        const float t = Y[r0];
        Y[r0] = Y[rows + r0], Y[rows + r0] = t;
    }
}

/* a kernel that kills its process, as an instruction the machine refuses would */
static void dies(const fr_tensor *W, const fr_qx *X, float *Y, int64_t r0, int64_t r1) {
    (void)W, (void)X, (void)Y, (void)r0, (void)r1;
    raise(SIGKILL);
}

/* The experts' decode through the pool (layers/mlp.c fr_mlp_forward_multi): items of 256 rows handed out
 * guided, a take's items of one MLP one kernel call per weight, runs that cross the MLPs' boundaries. Each
 * row's output does not depend on the rows called with it, so the result is, bit for bit, that of separate
 * fr_matmul calls and silu: on no pool, 2 and 3 threads. Three MLPs of d = 512: ff 1408 (Q4_K gate and up,
 * Q8_0 down: items of 256 and a last one of 128), 768 (Q4_K, Q6_K down: its int8 activations in blocks of
 * 256, made per item), 544 (Q8_0, Q5_0 down), 1, 1 and 2 tokens. */
static void test_mlp_decode(void) {
    enum { D = 512, NE = 3 };
    const int ff[NE] = {1408, 768, 544}, cnt[NE] = {1, 1, 2};
    const fr_dtype gu[NE] = {FR_DT_Q4_K, FR_DT_Q4_K, FR_DT_Q8_0}, dn[NE] = {FR_DT_Q8_0, FR_DT_Q6_K, FR_DT_Q5_0};
    fr_mlp m[NE];
    const fr_mlp *mp[NE];
    float *x[NE], *y[NE], *ref[NE];
    int bad = 0;
    for (int e = 0; e < NE; e++) {
        m[e].d = D, m[e].ff = ff[e];
        bad |= make_q(&m[e].gate, gu[e], ff[e], D) | make_q(&m[e].up, gu[e], ff[e], D) |
               make_q(&m[e].down, dn[e], D, ff[e]);
        mp[e] = &m[e];
        x[e] = malloc(sizeof(float) * D * (size_t)cnt[e]);
        make_x(x[e], (int64_t)D * cnt[e]);
        y[e] = malloc(sizeof(float) * D * (size_t)cnt[e]);
        ref[e] = malloc(sizeof(float) * D * (size_t)cnt[e]);
        const size_t nf = (size_t)ff[e] * (size_t)cnt[e];
        float *g = malloc(sizeof(float) * nf), *u = malloc(sizeof(float) * nf);
        fr_matmul(&m[e].gate, x[e], g, cnt[e]);
        fr_matmul(&m[e].up, x[e], u, cnt[e]);
        fr_silu_mul(g, u, (int64_t)nf, 0);
        fr_matmul(&m[e].down, g, ref[e], cnt[e]);
        free(g), free(u);
    }
    CHECK(!bad, "mlp decode: quantize");
    for (int th = 1; th <= 3; th++) {
        fr_pool *p = th > 1 ? fr_pool_create(th) : NULL;
        fr_pool_set_current(p);
        fr_arena a = {0};
        for (int e = 0; e < NE; e++)
            for (int i = 0; i < D * cnt[e]; i++) y[e][i] = -12345.0f;
        fr_mlp_forward_multi(mp, NE, (const float *const *)x, cnt, y, &a);
        for (int e = 0; e < NE; e++) {
            int64_t diff = 0;
            for (int i = 0; i < D * cnt[e]; i++) diff += memcmp(&y[e][i], &ref[e][i], sizeof(float)) != 0;
            CHECK(!diff, "mlp decode, %s, %d threads, MLP %d (ff %d, %d tokens): %lld of %d outputs differ from "
                  "fr_matmul", fr_kernels()->name, th, e, ff[e], cnt[e], (long long)diff, D * cnt[e]);
        }
        fr_arena_free(&a);
        fr_pool_set_current(NULL);
        fr_pool_free(p);
    }
    for (int e = 0; e < NE; e++) {
        free((void *)m[e].gate.data), free((void *)m[e].up.data), free((void *)m[e].down.data);
        free(x[e]), free(y[e]), free(ref[e]);
    }
}

int main(void) {
    test_quantizer();
    test_mlp_decode();
    test_generic_oracle();
    const fr_kernel_table *bf16 = fr_kernels_isa("avx512bf16");
    const char *amx[] = {"amxemu", "amx"};
    for (int i = 0; i < 2; i++) {
        const fr_kernel_table *k = fr_kernels_isa(amx[i]);
        if (!k || !bf16) {
            printf("%s: not available on this CPU, skipped\n", amx[i]);
            continue;
        }
        test_amx_bitwise(k, bf16);
        if (i == 1 && fr_kernels_isa("amxemu")) test_amx_bitwise(k, fr_kernels_isa("amxemu"));
        /* the start-up check that guards the real table (dispatch.c): passes here, fails for a
         * table whose Q8_0 or Q4_K prefill puts two outputs in each other's place */
        CHECK(fr_kernels_agree(k, bf16), "%s: fr_kernels_agree says it differs from avx512bf16", k->name);
        fr_kernel_table broken = *k;
        g_q_real[FR_DT_Q8_0] = k->matmul_q[FR_DT_Q8_0], g_q_real[FR_DT_Q4_K] = k->matmul_q[FR_DT_Q4_K];
        broken.matmul_q[FR_DT_Q8_0] = swaps_q;
        CHECK(!fr_kernels_agree(&broken, bf16), "fr_kernels_agree missed a different Q8_0 kernel");
        broken = *k;
        broken.matmul_q[FR_DT_Q4_K] = swaps_q;
        CHECK(!fr_kernels_agree(&broken, bf16), "fr_kernels_agree missed a different Q4_K kernel");
        /* in a child process, as the automatic choice runs it: the same answers, and a kernel that
         * dies (as a faulting instruction would) is a "no", not the end of this process */
        CHECK(fr_kernels_agree_isolated(k, bf16), "%s: fr_kernels_agree_isolated says it differs", k->name);
        CHECK(!fr_kernels_agree_isolated(&broken, bf16), "fr_kernels_agree_isolated missed a different kernel");
        broken.matmul_q[FR_DT_Q4_K] = dies;
        CHECK(!fr_kernels_agree_isolated(&broken, bf16), "fr_kernels_agree_isolated: a dying kernel agreed");
        /* and its BF16 prefill, which is not bitwise: two outputs swapped are a "no" */
        broken = *k;
        g_bf16_real = k->matmul_fast[FR_DT_BF16];
        broken.matmul_fast[FR_DT_BF16] = swaps;
        CHECK(g_bf16_real && !fr_kernels_agree(&broken, bf16), "fr_kernels_agree missed a different BF16 kernel");
    }
    const char *isas[] = {"avx2", "avx512", "avx512vnni", "avx512bf16"};
    for (int i = 0; i < 4; i++) {
        const fr_kernel_table *k = fr_kernels_isa(isas[i]);
        if (!k) printf("%s: not available on this CPU, skipped\n", isas[i]);
        else {
            test_quantizer_isa(k);
            test_isa(k);
            if (i == 0) test_avx2_prefill_bitwise(k);
        }
    }
    return t_done();
}
