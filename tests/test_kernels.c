/* Every per-ISA kernel against the generic one (the oracle) on random matrices
 * of awkward sizes, each weight dtype; the generic matmul against a direct
 * double-precision sum; the small ops against their formulas. */
#include <math.h>
#include <stdatomic.h>

#include "base/cpu.h"
#include "base/pool.h"
#include "frugal.h"
#include "kernels/generic/generic.h"
#include "kernels/kernels.h"
#include "tensor/ggml_quants.h"
#include "testutil.h"

static uint64_t g_rng = 0x9e3779b97f4a7c15ull;
static double urand(void) { /* [0, 1) */
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (double)(g_rng >> 11) * 0x1p-53;
}
static float nrand(void) { return (float)(urand() * 2 - 1); }

typedef struct wmat {
    fr_tensor t;
    void *data;
    float *scale;
} wmat;

/* FP8 codes of make_w: 0 any but NaN (1 in 16 subnormal or zero), 1 normal
 * ones only (exponent field >= 1), as nearly all of a block-scaled checkpoint's */
static int g_fp8_normal;

/* random weights [rows, cols] of dtype dt (FP8: random non-NaN codes and scales) */
static void make_w(wmat *m, fr_dtype dt, int64_t rows, int64_t cols) {
    memset(m, 0, sizeof *m);
    size_t n = (size_t)(rows * cols);
    m->t.dtype = dt;
    m->t.ndim = 2;
    m->t.ne[0] = rows;
    m->t.ne[1] = cols;
    m->t.nbytes = fr_dtype_bytes(dt, rows * cols);
    m->data = malloc(m->t.nbytes + 64);
    for (size_t i = 0; i < n; i++) {
        float v = nrand();
        switch (dt) {
        case FR_DT_F32: ((float *)m->data)[i] = v; break;
        case FR_DT_F16: ((uint16_t *)m->data)[i] = fr_f32_to_f16(v); break;
        case FR_DT_BF16: ((uint16_t *)m->data)[i] = fr_f32_to_bf16(v); break;
        default: {
            uint8_t c = (uint8_t)(urand() * 256);
            if (g_fp8_normal && !(c & 0x78)) c |= 0x08;
            if ((c & 0x7f) == 0x7f) c ^= 1; /* not NaN */
            ((uint8_t *)m->data)[i] = c;
        }
        }
    }
    m->t.data = m->data;
    if (dt == FR_DT_F8_E4M3) {
        int64_t sb = ((rows + 127) / 128) * ((cols + 127) / 128);
        m->scale = malloc((size_t)sb * sizeof(float));
        for (int64_t i = 0; i < sb; i++) m->scale[i] = (float)(0.001 + urand() * 0.01);
        m->t.scale = m->scale;
    }
}
static void free_w(wmat *m) {
    free(m->data);
    free(m->scale);
}

static const fr_dtype g_dts[] = {FR_DT_F32, FR_DT_F16, FR_DT_BF16, FR_DT_F8_E4M3};

/* generic vs a direct double sum over fr_tensor_row_f32 */
static void test_generic_oracle(void) {
    wmat m;
    for (size_t d = 0; d < 4; d++) {
        make_w(&m, g_dts[d], 37, 300);
        int n = 5;
        float *x = malloc(sizeof(float) * 300 * (size_t)n), *y = malloc(sizeof(float) * 37 * (size_t)n),
              *ref = malloc(sizeof(float) * 37 * (size_t)n), row[300];
        for (int i = 0; i < 300 * n; i++) x[i] = nrand();
        fr_matmul_generic(&m.t, x, y, n, 0, 37);
        for (int r = 0; r < 37; r++) {
            fr_tensor_row_f32(&m.t, r, row);
            for (int t = 0; t < n; t++) {
                double s = 0;
                for (int c = 0; c < 300; c++) s += (double)row[c] * x[t * 300 + c];
                ref[t * 37 + r] = (float)s;
            }
        }
        double e = t_row_rel_err(y, ref, (size_t)n, 37);
        CHECK(e < 1e-6, "generic %s vs direct sum: row-relative error %.3g", fr_dtype_get(g_dts[d])->name, e);
        free(x), free(y), free(ref);
        free_w(&m);
    }
}

/* the ISA table's matmul vs generic on rows [r0, r1); rows outside untouched */
static void test_matmul(const fr_kernel_table *k) {
    static const int64_t shapes[][2] = {{1, 1}, {7, 13}, {33, 130}, {5, 127}, {129, 257}, {4, 2048}, {19, 1000}, {130, 129}};
    static const int ns[] = {1, 2, 3, 5, 17};
    double worst[4] = {0};
    for (size_t d = 0; d < 4; d++) {
        for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
            int64_t rows = shapes[s][0], cols = shapes[s][1];
            wmat m;
            make_w(&m, g_dts[d], rows, cols);
            for (size_t in = 0; in < sizeof ns / sizeof *ns; in++) {
                int n = ns[in];
                size_t ny = (size_t)(n * rows);
                float *x = malloc(sizeof(float) * (size_t)(cols * n)), *y = malloc(sizeof(float) * ny),
                      *ref = malloc(sizeof(float) * ny);
                for (int64_t i = 0; i < cols * n; i++) x[i] = nrand();
                fr_matmul_generic(&m.t, x, ref, n, 0, rows);
                fr_matmul_fn f = k->matmul[g_dts[d]];
                for (size_t i = 0; i < ny; i++) y[i] = -12345.0f;
                /* two calls over split ranges, the first odd */
                int64_t mid = rows > 2 ? rows / 2 + 1 : rows;
                f(&m.t, x, y, n, 0, mid);
                if (mid < rows) f(&m.t, x, y, n, mid, rows);
                double e = t_row_rel_err(y, ref, (size_t)n, (size_t)rows);
                if (!(e <= worst[d])) worst[d] = e;
                /* float32 partial sums across the row (the generic sums 256-column
                 * chunks in float, then in double): a few 1e-6 at 2048 columns */
                CHECK(e < 4e-6, "%s %s rows %lld cols %lld n %d: row-relative error %.3g", k->name,
                      fr_dtype_get(g_dts[d])->name, (long long)rows, (long long)cols, n, e);
                /* a partial range writes only its rows */
                if (rows >= 7) {
                    for (size_t i = 0; i < ny; i++) y[i] = -12345.0f;
                    f(&m.t, x, y, n, 3, rows - 2);
                    int ok = 1;
                    for (int t = 0; t < n; t++)
                        for (int64_t r = 0; r < rows; r++) {
                            float v = y[t * rows + r];
                            int inside = r >= 3 && r < rows - 2;
                            if (inside ? v == -12345.0f : v != -12345.0f) ok = 0;
                        }
                    CHECK(ok, "%s %s rows [3, %lld) wrote outside its range", k->name, fr_dtype_get(g_dts[d])->name,
                          (long long)rows - 2);
                }
                free(x), free(y), free(ref);
            }
            free_w(&m);
        }
        printf("%s %-8s worst row-relative error vs generic: %.3g\n", k->name, fr_dtype_get(g_dts[d])->name, worst[d]);
    }
    /* row dequantization: the same values as fr_tensor_row_f32 */
    for (size_t d = 0; d < 4; d++) {
        wmat w;
        make_w(&w, g_dts[d], 130, 301);
        float a[301], b[301];
        int same = 1;
        for (int64_t r = 0; r < 130; r += 43) {
            fr_tensor_row_f32(&w.t, r, a);
            k->row_f32(&w.t, r, b);
            if (memcmp(a, b, sizeof a)) same = 0;
        }
        CHECK(same, "%s row_f32 %s differs from fr_tensor_row_f32", k->name, fr_dtype_get(g_dts[d])->name);
        free_w(&w);
    }
    /* FP8 NaN code (0x7f, 0xff) gives NaN like the generic dequantizer */
    wmat m;
    make_w(&m, FR_DT_F8_E4M3, 2, 40);
    ((uint8_t *)m.data)[17] = 0xff;
    float x[40], y[2];
    for (int i = 0; i < 40; i++) x[i] = 1;
    k->matmul[FR_DT_F8_E4M3](&m.t, x, y, 1, 0, 2);
    CHECK(isnan(y[0]) && !isnan(y[1]), "%s: FP8 NaN code not propagated (%g %g)", k->name, y[0], y[1]);
    free_w(&m);
}

/* every e4m3 code filling its row (256 x 192), x = 1 and scales that are
 * powers of 2 per 128 rows (so every partial sum is exact): y must be exactly
 * 192 e4m3(code) scale, NaN for NaN. One token through f, with row notes
 * (fr_tensor.f8rows, first pass) or without. The first wrong code, or -1. */
static int fp8_code_rows(fr_matmul_fn f, int notes) {
    wmat e;
    make_w(&e, FR_DT_F8_E4M3, 256, 192);
    for (int r = 0; r < 256; r++) memset((uint8_t *)e.data + r * 192, r, 192);
    for (int i = 0; i < 4; i++) e.scale[i] = ldexpf(1.0f, -3 - 2 * (i / 2)); /* per 128 rows */
    float x[192], y[256];
    for (int i = 0; i < 192; i++) x[i] = 1;
    unsigned char seen[256] = {0};
    fr_tensor t = e.t;
    t.f8rows = notes ? seen : NULL;
    f(&t, x, y, 1, 0, 256);
    int bad = -1;
    for (int r = 0; r < 256 && bad < 0; r++) {
        const float want = 192 * fr_e4m3_to_f32((uint8_t)r) * e.scale[(r / 128) * 2];
        if ((r & 0x7f) == 0x7f ? !isnan(y[r]) : y[r] != want) bad = r;
    }
    free_w(&e);
    return bad;
}

/* The not-exact kernels (matmul_fast: FP8, and BF16 in prefill, on vdpbf16ps,
 * x rounded to bfloat16) against a double sum over the dequantized weights:
 * error <= 2^-8 sum|w x| (bfloat16's unit roundoff) plus float32 summation,
 * asserted as 4.5e-3 of sum|w x| per output (and the mean over outputs 5e-4:
 * rounding errors do not all align; measured worst 2.5e-3, mean 2.9e-4).
 * Shapes with cols not a multiple of 64 (FP8) or 32 (BF16), and BF16 with one
 * token, take the exact kernel inside. The AMX tables run 4 tokens or more on
 * tdpbf16ps (avx512/amx_bf16.h): row tails (130, 257 rows), spans of 1024
 * columns and a part (2112), token groups of 16 (7168 columns) and of 10
 * (12288). */
static void test_matmul_fast(const fr_kernel_table *k) {
    static const int64_t shapes[][2] = {{1, 64},   {3, 192}, {130, 256}, {257, 1024},
                                        {5, 2112}, {4, 100}, {9, 7168},  {3, 12288}};
    for (size_t d = 0; d < 4; d++) {
        fr_matmul_fn f = k->matmul_fast[g_dts[d]];
        if (!f) continue;
        double worst = 0, sum = 0;
        long cnt = 0;
        /* FP8 three times: any codes (nearly every 128 weights of a decode row
         * hold a subnormal or zero: the table), normal codes only (none do), and
         * those with x 2^14 larger (|x s| >= 2^7: the decode's rows take the
         * exact kernel, as x' 2^120 could overflow) */
        const int vars = g_dts[d] == FR_DT_F8_E4M3 ? 3 : 1;
        for (int var = 0; var < vars; var++) {
            for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
                const int64_t rows = shapes[s][0], cols = shapes[s][1];
                wmat m;
                g_fp8_normal = var > 0;
                make_w(&m, g_dts[d], rows, cols);
                g_fp8_normal = 0;
                static const int ns[] = {1, 3, 6, 17}; /* 17: tiles of 4 + 1, and two chunks at 7168 columns */
                for (size_t in = 0; in < sizeof ns / sizeof *ns; in++) {
                    const int n = ns[in];
                    float *x = malloc(sizeof(float) * (size_t)(cols * n)),
                          *y = malloc(sizeof(float) * (size_t)(rows * n)), *row = malloc(sizeof(float) * (size_t)cols);
                    /* activations over several binades, as a hidden state has */
                    const double e0 = var == 2 ? 9 : -5;
                    for (int64_t i = 0; i < cols * n; i++) x[i] = nrand() * (float)pow(2.0, (double)(i % 11) + e0);
                    int64_t mid = rows / 2 + 1 < rows ? rows / 2 + 1 : rows;
                    f(&m.t, x, y, n, 0, mid);
                    if (mid < rows) f(&m.t, x, y, n, mid, rows);
                    for (int64_t r = 0; r < rows; r++) {
                        fr_tensor_row_f32(&m.t, r, row);
                        for (int t = 0; t < n; t++) {
                            double ref = 0, mag = 0;
                            for (int64_t c = 0; c < cols; c++) {
                                ref += (double)row[c] * x[t * cols + c];
                                mag += fabs((double)row[c] * x[t * cols + c]);
                            }
                            double e = fabs(y[t * rows + r] - ref) / (mag + 1e-30);
                            if (!(e <= worst)) worst = e;
                            sum += e, cnt++;
                        }
                    }
                    free(x), free(y), free(row);
                }
                free_w(&m);
            }
        }
        printf("%s fast %-8s error / sum|w x|: worst %.3g, mean %.3g\n", k->name, fr_dtype_get(g_dts[d])->name, worst,
               sum / (double)cnt);
        CHECK(worst < 4.5e-3 && sum / (double)cnt < 5e-4, "%s fast %s: error / sum|w x| worst %.3g, mean %.3g", k->name,
              fr_dtype_get(g_dts[d])->name, worst, sum / (double)cnt);
        /* every code, each alone in its row at a different column, times an x that
         * is a bfloat16 (so the product is exact): y is exactly e4m3(code) x scale */
        if (g_dts[d] == FR_DT_F8_E4M3) {
            wmat e;
            make_w(&e, FR_DT_F8_E4M3, 256, 192);
            memset(e.data, 0, 256 * 192);
            for (int i = 0; i < 4; i++) e.scale[i] = ldexpf(1.0f, -7 - i); /* powers of 2: x * scale stays a bfloat16 */
            for (int c = 0; c < 256; c++) ((uint8_t *)e.data)[c * 192 + (c * 37) % 192] = (uint8_t)((c & 0x7f) == 0x7f ? 0 : c);
            /* one token (the decode kernel) and three (the tiles): the third token's x negated */
            float x[3 * 192], y[3 * 256];
            for (int i = 0; i < 192; i++) x[i] = (float)(1 + (i % 128) / 128.0) * (i % 2 ? -0.5f : 2.0f);
            for (int i = 0; i < 192; i++) x[192 + i] = x[i], x[384 + i] = -x[i];
            for (int n = 1; n <= 3; n += 2) {
                f(&e.t, x, y, n, 0, 256);
                int bad = -1;
                for (int t = 0; t < n; t++)
                    for (int c = 0; c < 256 && bad < 0; c++) {
                        uint8_t code = (uint8_t)((c & 0x7f) == 0x7f ? 0 : c);
                        float want = fr_e4m3_to_f32(code) * x[t * 192 + (c * 37) % 192] *
                                     e.scale[(c / 128) * 2 + ((c * 37) % 192) / 128];
                        if (y[t * 256 + c] != want) bad = c;
                    }
                CHECK(bad < 0, "%s fast n %d: FP8 code 0x%02x wrong", k->name, n, bad);
            }
            free_w(&e);
        }
        /* every code filling its row, times x = 1 and scales that are powers of
         * 2 (so every partial sum is exact): y is exactly 192 e4m3(code) scale,
         * NaN for NaN. The rows of a normal code (exponent field >= 1) take the
         * decode's conversion by shifts, the others its table (dpbf16.h; fp8_code_rows). */
        if (g_dts[d] == FR_DT_F8_E4M3) {
            const int bad = fp8_code_rows(f, 0);
            CHECK(bad < 0, "%s fast: FP8 rows of code 0x%02x wrong", k->name, bad);
        }
        /* NaN codes (0x7f, 0xff) give NaN, in any 64-column position */
        wmat m;
        make_w(&m, g_dts[d], 2, 128);
        if (g_dts[d] == FR_DT_F8_E4M3) {
            ((uint8_t *)m.data)[77] = 0x7f;
            float x[128], y[2];
            for (int i = 0; i < 128; i++) x[i] = 1;
            f(&m.t, x, y, 1, 0, 2);
            CHECK(isnan(y[0]) && !isnan(y[1]), "%s fast: FP8 NaN code not propagated (%g %g)", k->name, y[0], y[1]);
        }
        free_w(&m);
    }
}

/* Decode (one token) of BF16 and FP8 weights whose data start anywhere in a
 * cache line (safetensors places tensors at any offset, GGUF at multiples of
 * 32): the AVX-512 kernels then load whole lines and join them
 * (avx512/decode_lines.h, dpbf16.h fp8f_decode), with the same products in the
 * same order, so the outputs equal those of the 64-byte aligned copy bit for
 * bit, at every offset; rows of one line and of many, and a row count that
 * leaves a last row ending the buffer (no read past it: ASan). */
static void test_decode_offsets(const fr_kernel_table *k) {
    static const int64_t colss[] = {64, 128, 2112};
    int bad = 0, runs = 0;
    for (size_t d = 2; d < 4; d++) /* BF16, F8_E4M3 */
        for (int fast = 0; fast < 2; fast++) {
            fr_matmul_fn f = fast ? k->matmul_fast[g_dts[d]] : k->matmul[g_dts[d]];
            if (!f) continue;
            const size_t nc = sizeof colss / sizeof *colss;
            for (size_t ic = 0; ic < 2 * nc; ic++) { /* FP8 twice: any codes (the table), normal ones only */
                const int64_t rows = 5, cols = colss[ic % nc];
                if (ic >= nc && g_dts[d] != FR_DT_F8_E4M3) break;
                wmat m;
                g_fp8_normal = ic >= nc;
                make_w(&m, g_dts[d], rows, cols);
                g_fp8_normal = 0;
                float x[2112], y0[5], y1[5];
                for (int64_t c = 0; c < cols; c++) x[c] = nrand();
                unsigned char *buf = aligned_alloc(64, m.t.nbytes + 128);
                for (int off = 0; off < 64; off++) {
                    if (g_dts[d] == FR_DT_BF16 && off % 2) continue; /* a bf16 tensor's data are 2-byte aligned */
                    unsigned char *p = buf + 64 + off;
                    memcpy(p, m.data, m.t.nbytes);
                    fr_tensor t = m.t;
                    t.data = p;
                    f(&t, x, off ? y1 : y0, 1, 0, rows);
                    if (off && memcmp(y0, y1, sizeof y0)) bad++;
                    runs++;
                }
                /* the copy flush with the end of an exact-size buffer: the last row ends the allocation */
                unsigned char *e = malloc(m.t.nbytes);
                memcpy(e, m.data, m.t.nbytes);
                fr_tensor t = m.t;
                t.data = e;
                f(&t, x, y1, 1, 0, rows);
                bad += memcmp(y0, y1, sizeof y0) != 0;
                free(e), free(buf), free_w(&m);
            }
        }
    CHECK(!bad, "%s: decode at another offset in its cache line differs from the aligned copy (%d of %d)", k->name,
          bad, runs);
}

/* One token: a row's output does not depend on the rows called with it (the
 * AVX2 decode reads two rows at once, r0 + i and r0 + h + i). All rows in one
 * call, then each row alone and three other splits, bit for bit; FP8 with
 * codes of every kind and with the row notes (the first call writes them, the
 * others read them: a pair with one row needing the test and one not). */
static void test_decode_split(const fr_kernel_table *k) {
    int bad = 0, runs = 0;
    for (size_t d = 0; d < 4; d++)
        for (int fast = 0; fast < 2; fast++) {
            fr_matmul_fn f = fast ? k->matmul_fast[g_dts[d]] : k->matmul[g_dts[d]];
            if (!f) continue;
            enum { ROWS = 37, COLS = 2112 };
            wmat m;
            make_w(&m, g_dts[d], ROWS, COLS);
            if (g_dts[d] == FR_DT_F8_E4M3) { /* rows of normal codes but for a few */
                uint8_t *w = m.data;
                for (int64_t i = 0; i < (int64_t)ROWS * COLS; i++)
                    if ((w[i] & 0x78) == 0 || (w[i] & 0x7f) == 0x7f) w[i] = 0x38;
                w[3 * COLS + 100] = 0x02, w[20 * COLS + 7] = 0x7f, w[36 * COLS + COLS - 1] = 0x81;
            }
            unsigned char seen[ROWS] = {0};
            fr_tensor t = m.t;
            if (g_dts[d] == FR_DT_F8_E4M3) t.f8rows = seen;
            static float x[COLS], all[ROWS], y[ROWS];
            for (int c = 0; c < COLS; c++) x[c] = nrand();
            f(&t, x, all, 1, 0, ROWS);
            for (int r = 0; r < ROWS; r++) f(&t, x, y, 1, r, r + 1);
            bad += memcmp(all, y, sizeof y) != 0, runs++;
            static const int cut[][2] = {{1, 2}, {18, 19}, {7, 30}};
            for (int c = 0; c < 3; c++) {
                f(&t, x, y, 1, 0, cut[c][0]);
                f(&t, x, y, 1, cut[c][0], cut[c][1]);
                f(&t, x, y, 1, cut[c][1], ROWS);
                bad += memcmp(all, y, sizeof y) != 0, runs++;
            }
            free_w(&m);
        }
    CHECK(!bad, "%s: a decoded row's output depends on the rows called with it (%d of %d)", k->name, bad, runs);
}

/* The one-token FP8 kernel notes per row (W->f8rows) whether the row holds a
 * code the shifts get wrong (subnormal, NaN) and afterwards reads a row of
 * normal codes without the test (dpbf16.h fp8f_decode). Rows of normal codes,
 * with a subnormal at the start, in the last 64 columns (2112 = 33 x 64) or in
 * the middle, a NaN: the notes are right, later calls give the outputs of a
 * call without notes bit for bit, and a row noted "normal" does skip the test
 * (a subnormal then reads as zero: a changed output). */
static void test_fp8_rows_seen(const fr_kernel_table *k) {
    fr_matmul_fn f = k->matmul_fast[FR_DT_F8_E4M3];
    if (!f) return;
    static const int64_t colss[] = {256, 2112};
    for (size_t ic = 0; ic < sizeof colss / sizeof *colss; ic++) {
        const int64_t rows = 6, cols = colss[ic];
        wmat m;
        g_fp8_normal = 1;
        make_w(&m, FR_DT_F8_E4M3, rows, cols);
        g_fp8_normal = 0;
        uint8_t *w = m.data;
        w[1 * cols + 5] = 0x03;        /* subnormal, first chunk */
        w[2 * cols + cols - 3] = 0x81; /* negative subnormal, last 64 */
        w[3 * cols + cols / 2] = 0x7f; /* NaN */
        w[4 * cols + 77] = 0x85;
        static const unsigned char want[6] = {FR_F8ROW_NORMAL, FR_F8ROW_OTHER, FR_F8ROW_OTHER,
                                              FR_F8ROW_OTHER,  FR_F8ROW_OTHER, FR_F8ROW_NORMAL};
        float x[2112], y0[6], y1[6];
        for (int64_t c = 0; c < cols; c++) x[c] = nrand();
        f(&m.t, x, y0, 1, 0, rows); /* no notes: every row tested */
        unsigned char seen[6] = {0};
        fr_tensor t = m.t;
        t.f8rows = seen;
        int bad = 0;
        for (int pass = 0; pass < 3; pass++) {
            f(&t, x, y1, 1, 0, 3), f(&t, x, y1, 1, 3, rows);
            bad += memcmp(y0, y1, sizeof y0) != 0;
        }
        int wrong = -1;
        for (int r = 0; r < rows; r++)
            if (seen[r] != want[r]) wrong = r;
        CHECK(wrong < 0, "%s: FP8 row %d noted %d, expected %d (cols %lld)", k->name, wrong, wrong < 0 ? 0 : seen[wrong],
              wrong < 0 ? 0 : want[wrong], (long long)cols);
        CHECK(!bad, "%s: FP8 decode with row notes differs from without (%d of 3 passes, cols %lld)", k->name, bad,
              (long long)cols);
        seen[1] = FR_F8ROW_NORMAL; /* a false note: the test is skipped, the subnormal reads as zero */
        f(&t, x, y1, 1, 0, rows);
        CHECK(y1[1] != y0[1] && !memcmp(y1 + 2, y0 + 2, 4 * sizeof *y0) && y1[0] == y0[0],
              "%s: FP8 row noted normal did not skip the test (%g %g)", k->name, y0[1], y1[1]);
        free_w(&m);
    }
}

/* The exact one-token FP8 kernel (matmul, n = 1): the AVX2 table's widens
 * by shifts over x 2^112 (avx2/decode_e4m3.h) and takes the template's
 * decode_e4m3 where some |x| >= 2^16. The two give the same floats: x with a
 * huge value at a column whose weights are all zero takes decode_e4m3, with
 * the same sums. Codes of every kind (subnormals, and NaN in some rows: NaN
 * out exactly there), two calls noting the rows (W->f8rows: a row with a NaN
 * or subnormal code "other", where the kernel notes at all) and a third
 * reading them; then every code filling a row, x = 1 and power-of-2 scales:
 * exactly 192 e4m3(code) scale. */
static void test_fp8_decode_exact(const fr_kernel_table *k) {
    static const int64_t colss[] = {32, 96, 256, 2112, 7168};
    fr_matmul_fn f = k->matmul[FR_DT_F8_E4M3];
    int bad = 0, notes = 0, nanbad = 0;
    for (size_t ic = 0; ic < sizeof colss / sizeof *colss; ic++) {
        const int64_t rows = 131, cols = colss[ic], z = cols / 3;
        wmat m;
        make_w(&m, FR_DT_F8_E4M3, rows, cols);
        uint8_t *w = m.data;
        for (int64_t r = 0; r < rows; r++) w[r * cols + z] = 0;
        for (int64_t r = 5; r < rows; r += 17) w[r * cols + (r * 7) % cols] = r % 2 ? 0x7f : 0xff; /* NaN rows */
        float *x = malloc(sizeof(float) * (size_t)cols), *xh = malloc(sizeof(float) * (size_t)cols);
        float *y0 = malloc(sizeof(float) * rows), *y1 = malloc(sizeof(float) * rows);
        for (int64_t c = 0; c < cols; c++) xh[c] = x[c] = nrand() * (float)pow(2.0, (double)(c % 23) - 8);
        xh[z] = 1e6f; /* > 2^16: the template's decode_e4m3 */
        f(&m.t, xh, y0, 1, 0, rows);
        unsigned char *seen = calloc((size_t)rows, 1);
        fr_tensor t = m.t;
        t.f8rows = seen;
        for (int pass = 0; pass < 3; pass++) {
            f(&t, x, y1, 1, 0, 64), f(&t, x, y1, 1, 64, rows);
            for (int64_t r = 0; r < rows; r++) {
                const int isnan_row = r >= 5 && (r - 5) % 17 == 0;
                bad += isnan(y1[r]) != isnan(y0[r]) || (!isnan(y0[r]) && y1[r] != y0[r]);
                nanbad += isnan(y1[r]) != isnan_row;
            }
        }
        for (int64_t r = 0; r < rows; r++) {
            int other = 0;
            for (int64_t c = 0; c < cols; c++) other |= (w[r * cols + c] & 0x7f) == 0x7f || ((w[r * cols + c] & 0x78) == 0 && (w[r * cols + c] & 7));
            notes += seen[r] != FR_F8ROW_UNSEEN && seen[r] != (other ? FR_F8ROW_OTHER : FR_F8ROW_NORMAL);
        }
        free(x), free(xh), free(y0), free(y1), free(seen), free_w(&m);
    }
    CHECK(!bad, "%s: FP8 decode differs from the template's decode_e4m3 (%d outputs)", k->name, bad);
    CHECK(!nanbad, "%s: FP8 decode NaN where no NaN code, or none where one (%d)", k->name, nanbad);
    CHECK(!notes, "%s: FP8 decode noted %d rows wrong", k->name, notes);
    int wrong = fp8_code_rows(f, 0);
    if (wrong < 0) wrong = fp8_code_rows(f, 1);
    CHECK(wrong < 0, "%s: FP8 decode, rows of code 0x%02x wrong", k->name, wrong);
}

static void test_vec(const fr_kernel_table *k) {
    float a[200], b[200], y1[200], y2[200];
    for (int i = 0; i < 200; i++) a[i] = nrand(), b[i] = nrand();
    for (int n = 0; n <= 200; n += (n < 40 ? 1 : 37)) {
        double ref = 0, mag = 0;
        for (int i = 0; i < n; i++) ref += (double)a[i] * b[i], mag += fabs((double)a[i] * b[i]);
        float d = k->dot(a, b, n);
        CHECK(fabs(d - ref) <= 1e-6 * (mag + 1e-30), "%s dot n=%d: %g vs %g", k->name, n, d, ref);
        for (int i = 0; i < n; i++) y1[i] = y2[i] = nrand();
        k->axpy(y1, 0.37f, a, n);
        int ok = 1;
        for (int i = 0; i < n; i++) {
            double r = (double)y2[i] + 0.37 * (double)a[i];
            if (fabs(y1[i] - r) > 1e-6 * (fabs(y2[i]) + fabs(a[i]))) ok = 0;
        }
        CHECK(ok, "%s axpy n=%d", k->name, n);
    }
}

/* fr_dots / fr_wsum blocks (attention) vs double sums, with strides larger
 * than the rows and every tail: m, n not multiples of the tiles, k not of VW */
static void test_attn_blocks(const fr_kernel_table *k) {
    enum { LD = 530 };
    static const int ms[] = {1, 3, 4, 9, 16}, ns[] = {1, 2, 5, 64}, ks[] = {7, 64, 512};
    float *A = malloc(sizeof(float) * 16 * LD), *B = malloc(sizeof(float) * 64 * LD),
          *C = malloc(sizeof(float) * 16 * LD), *C0 = malloc(sizeof(float) * 16 * LD);
    for (int i = 0; i < 16 * LD; i++) A[i] = nrand();
    for (int i = 0; i < 64 * LD; i++) B[i] = nrand();
    int bad = 0;
    for (size_t im = 0; im < sizeof ms / sizeof *ms; im++)
        for (size_t in = 0; in < sizeof ns / sizeof *ns; in++)
            for (size_t ik = 0; ik < sizeof ks / sizeof *ks; ik++) {
                const int m = ms[im], n = ns[in], kk = ks[ik];
                for (int i = 0; i < 16 * LD; i++) C[i] = -7.0f;
                k->dots(A, LD, B, LD, C, LD, m, n, kk);
                for (int i = 0; i < m; i++)
                    for (int j = 0; j < LD; j++) {
                        if (j >= n) { bad += C[i * LD + j] != -7.0f; continue; }
                        double ref = 0, mag = 0;
                        for (int c = 0; c < kk; c++)
                            ref += (double)A[i * LD + c] * B[j * LD + c], mag += fabs((double)A[i * LD + c] * B[j * LD + c]);
                        bad += !(fabs(C[i * LD + j] - ref) <= 1e-6 * mag);
                    }
                for (int i = 0; i < 16 * LD; i++) C[i] = C0[i] = nrand();
                k->wsum(A, LD, B, LD, C, LD, m, n, kk); /* P = A: m x n weights */
                for (int i = 0; i < m; i++)
                    for (int c = 0; c < LD; c++) {
                        if (c >= kk) { bad += C[i * LD + c] != C0[i * LD + c]; continue; }
                        double ref = C0[i * LD + c], mag = fabs(ref);
                        for (int j = 0; j < n; j++)
                            ref += (double)A[i * LD + j] * B[j * LD + c], mag += fabs((double)A[i * LD + j] * B[j * LD + c]);
                        bad += !(fabs(C[i * LD + c] - ref) <= 1e-6 * mag);
                    }
            }
    CHECK(bad == 0, "%s dots/wsum: %d values wrong", k->name, bad);
    free(A), free(B), free(C), free(C0);
}

/* q8_0_bf16 (the values over a Q8_0 cache): bitwise fr_f32_to_bf16 of the
 * generic decoder's q * d, for rows of several blocks at strides wider than
 * the rows, scales from tiny to large, zero blocks; nothing past k written */
static void test_q8_0_bf16(const fr_kernel_table *k) {
    if (!k->q8_0_bf16) return;
    enum { N = 7, K = 160, LDS = 5 * 34 + 6, LDD = K + 8 };
    uint8_t *src = calloc(N, LDS);
    uint16_t *dst = malloc(sizeof(uint16_t) * N * LDD);
    float x[K], row[K];
    for (int i = 0; i < N; i++) {
        const float sc = i == 0 ? 0.0f : i == 1 ? 1e-6f : i == 2 ? 3e4f : 1.0f; /* row 0 all zero */
        for (int c = 0; c < K; c++) x[c] = nrand() * sc;
        fr_ggml_quantize(FR_DT_Q8_0, x, src + (size_t)i * LDS, K);
    }
    for (int i = 0; i < N * LDD; i++) dst[i] = 0x7777;
    k->q8_0_bf16(src, LDS, dst, LDD, N, K);
    int bad = 0;
    const fr_tensor w = {.name = "rows", .dtype = FR_DT_Q8_0, .ndim = 2, .ne = {1, K}};
    for (int i = 0; i < N; i++) {
        fr_tensor r = w;
        r.data = src + (size_t)i * LDS;
        r.nbytes = LDS;
        fr_tensor_row_f32(&r, 0, row);
        for (int c = 0; c < K; c++) bad += dst[i * LDD + c] != fr_f32_to_bf16(row[c]);
        for (int c = K; c < LDD; c++) bad += dst[i * LDD + c] != 0x7777;
    }
    CHECK(bad == 0, "%s q8_0_bf16: %d values differ from fr_f32_to_bf16(q * d)", k->name, bad);
    free(src), free(dst);
}

/* f32_bf16: bitwise fr_f32_to_bf16 on normal values, halfway cases, zero
 * and infinities, for lengths with and without a tail; subnormals to (signed)
 * zero; nothing written past n */
static void test_f32_bf16(const fr_kernel_table *k) {
    if (!k->f32_bf16) return;
    static const int ns[] = {1, 17, 32, 45, 64, 100};
    enum { M = 100 };
    float x[M];
    uint16_t d[M + 8];
    int bad = 0;
    for (size_t in = 0; in < sizeof ns / sizeof *ns; in++) {
        const int n = ns[in];
        for (int i = 0; i < M; i++) x[i] = nrand() * (i % 3 ? 1.0f : 1e30f);
        x[0] = 1.0f + 0x1p-8f; /* halfway: to even (1.0) */
        if (n > 5) x[3] = INFINITY, x[4] = -0.0f, x[5] = 1.0f + 3 * 0x1p-8f; /* halfway: to even (1 + 2^-6) */
        for (int i = 0; i < M + 8; i++) d[i] = 0x7777;
        k->f32_bf16(x, d, n);
        for (int i = 0; i < n; i++) bad += d[i] != fr_f32_to_bf16(x[i]);
        for (int i = n; i < M + 8; i++) bad += d[i] != 0x7777;
    }
    const float sub[2] = {1e-40f, -1e-40f};
    k->f32_bf16(sub, d, 2);
    bad += d[0] != 0 || d[1] != 0x8000;
    CHECK(bad == 0, "%s f32_bf16: %d values wrong", k->name, bad);
}

/* dots_bf16 / wsum_bf16 (attention over a bfloat16 cache) vs double sums of
 * the bfloat16 values: the queries come rounded, the weights P are rounded
 * inside (error <= 2^-8 sum|p c|), products exact, float32 sums; the queries
 * packed by pack_bf16 first. Edges: m past 16 heads and not a multiple of 4,
 * n odd or past 16, k below 8 and not a multiple of 8, 16 or 32 (masked:
 * nothing past k is read or written), strides larger than the rows. */
static void test_attn_bf16(const fr_kernel_table *k) {
    if (!k->dots_bf16 || !k->wsum_bf16 || !k->pack_bf16) return;
    enum { LD = 544 };
    static const int ms[] = {1, 3, 4, 16, 21}, ns[] = {1, 2, 5, 64, 255}, ks[] = {5, 24, 32, 80, 512, 530};
    uint16_t *A = malloc(sizeof(uint16_t) * 21 * LD), *B = malloc(sizeof(uint16_t) * 256 * LD);
    float *P = malloc(sizeof(float) * 21 * 256), *C = malloc(sizeof(float) * 21 * LD), *C0 = malloc(sizeof(float) * 21 * LD);
    uint16_t *Ap = malloc(sizeof(uint16_t) * (size_t)fr_bf16_pack_len(21, LD));
    for (int i = 0; i < 21 * LD; i++) A[i] = fr_f32_to_bf16(nrand());
    for (int i = 0; i < 256 * LD; i++) B[i] = fr_f32_to_bf16(nrand());
    for (int i = 0; i < 21 * 256; i++) P[i] = (float)urand() * (i % 7 == 0 ? 1e-3f : 1.0f);
    int bad = 0;
    double worst = 0;
    for (size_t im = 0; im < sizeof ms / sizeof *ms; im++)
        for (size_t in = 0; in < sizeof ns / sizeof *ns; in++)
            for (size_t ik = 0; ik < sizeof ks / sizeof *ks; ik++) {
                const int m = ms[im], n = ns[in], kk = ks[ik];
                for (int i = 0; i < 21 * LD; i++) C[i] = -7.0f;
                k->pack_bf16(A, LD, m, kk, Ap);
                k->dots_bf16(Ap, B, LD, C, LD, m, n, kk);
                for (int i = 0; i < m; i++)
                    for (int j = 0; j < LD; j++) {
                        if (j >= n) { bad += C[i * LD + j] != -7.0f; continue; }
                        double ref = 0, mag = 0;
                        for (int c = 0; c < kk; c++) {
                            double pr = (double)fr_bf16_to_f32(A[i * LD + c]) * fr_bf16_to_f32(B[j * LD + c]);
                            ref += pr, mag += fabs(pr);
                        }
                        bad += !(fabs(C[i * LD + j] - ref) <= 1e-6 * mag);
                    }
                for (int i = 0; i < 21 * LD; i++) C[i] = C0[i] = nrand();
                k->wsum_bf16(P, 256, B, LD, C, LD, m, n, kk);
                for (int i = 0; i < m; i++)
                    for (int c = 0; c < LD; c++) {
                        if (c >= kk) { bad += C[i * LD + c] != C0[i * LD + c]; continue; }
                        double ref = C0[i * LD + c], mag = fabs(ref);
                        for (int j = 0; j < n; j++) {
                            double pr = (double)P[i * 256 + j] * fr_bf16_to_f32(B[j * LD + c]);
                            ref += pr, mag += fabs(pr);
                        }
                        double e = fabs(C[i * LD + c] - ref) / mag;
                        worst = e > worst ? e : worst;
                        bad += !(e <= 0x1p-8);
                    }
            }
    CHECK(bad == 0, "%s dots_bf16/wsum_bf16: %d values wrong", k->name, bad);
    CHECK(worst > 1e-6, "%s wsum_bf16 rounds the weights (worst %.3g)", k->name, worst);
    { /* rows exactly k apart in an allocation of exactly n rows: any read past k of the last row
       * leaves it (AddressSanitizer; the emulated tiles' loads are memcpy); the same sums */
        enum { TN = 48, TK = 530 };
        uint16_t *Bt = malloc(sizeof(uint16_t) * TN * TK);
        float *Ct = malloc(sizeof(float) * 21 * TN);
        for (int j = 0; j < TN; j++) memcpy(Bt + j * TK, B + j * LD, sizeof(uint16_t) * TK);
        k->pack_bf16(A, LD, 21, TK, Ap);
        k->dots_bf16(Ap, B, LD, C, LD, 21, TN, TK);
        k->dots_bf16(Ap, Bt, TK, Ct, TN, 21, TN, TK);
        int diff = 0;
        for (int i = 0; i < 21; i++)
            for (int j = 0; j < TN; j++) diff += Ct[i * TN + j] != C[i * LD + j];
        float *Cw = malloc(sizeof(float) * 21 * TK);
        for (int i = 0; i < 21; i++)
            for (int c = 0; c < TK; c++) C[i * LD + c] = Cw[i * TK + c] = 0.5f;
        k->wsum_bf16(P, 256, B, LD, C, LD, 21, TN, TK);
        k->wsum_bf16(P, 256, Bt, TK, Cw, TK, 21, TN, TK);
        for (int i = 0; i < 21; i++)
            for (int c = 0; c < TK; c++) diff += Cw[i * TK + c] != C[i * LD + c];
        CHECK(diff == 0, "%s dots_bf16/wsum_bf16 on rows k apart: %d values differ", k->name, diff);
        free(Bt), free(Ct), free(Cw);
    }
    printf("%s dots_bf16/wsum_bf16: worst wsum error %.3g of sum|p c|\n", k->name, worst);
    free(A), free(B), free(P), free(C), free(C0), free(Ap);
}

/* i8_dots / i8_wsum (attention over an I8 cache, kernels.h): the generic
 * scores against double sums of the int8 values times their scales; the
 * generic weighted sums against double sums of the unquantized weights within
 * the 8-bit rounding of P kd (half a step per position); the vector kernels
 * against the generic ones bit for bit. Edges: heads past 16 and not a
 * multiple of 4, positions not a multiple of 4 (nothing written past n),
 * no rope part, a shape the vector kernels leave to the generic ones. */
static void test_attn_i8(const fr_kernel_table *k) {
    enum { MAXM = 37, MAXN = 255, MAXW = 576 };
    static const int ms[] = {1, 16, 21, 37}, ns[] = {1, 3, 4, 5, 64, 255};
    static const int rs[][2] = {{64, 16}, {512, 64}, {128, 0}, {24, 8}};
    const fr_kernel_table *g = fr_kernels_generic();
    const int ngm = (MAXN + 3) / 4;
    int8_t *Q = malloc((size_t)MAXM * MAXW);
    float *qd = malloc(sizeof(float) * MAXM * 2), *kd = malloc(sizeof(float) * ngm * 8);
    int32_t *qs = malloc(sizeof(int32_t) * MAXM * 2);
    uint8_t *K = malloc((size_t)ngm * 4 * MAXW);
    float *P = malloc(sizeof(float) * MAXM * 256), *S = malloc(sizeof(float) * MAXM * 256),
          *S0 = malloc(sizeof(float) * MAXM * 256), *U = malloc(sizeof(float) * MAXM * MAXW),
          *U0 = malloc(sizeof(float) * MAXM * MAXW), *Ui = malloc(sizeof(float) * MAXM * MAXW);
    for (int i = 0; i < ngm * 4 * MAXW; i++) K[i] = (uint8_t)(1 + (int)(urand() * 255)); /* values -127..127 */
    for (int i = 0; i < ngm * 8; i++) kd[i] = (float)(0.001 + urand() * 0.05);
    for (int i = 0; i < MAXM * 2; i++) qd[i] = (float)(0.001 + urand() * 0.01);
    for (int i = 0; i < MAXM * 256; i++) P[i] = (float)urand() * (i % 5 == 0 ? 1e-3f : 1.0f);
    int bad = 0, same = 0, cases = 0;
    double worst = 0;
    for (size_t ir = 0; ir < sizeof rs / sizeof *rs; ir++) {
        const int r = rs[ir][0], dr = rs[ir][1], w = r + dr;
        for (int h = 0; h < MAXM; h++) {
            qs[2 * h] = qs[2 * h + 1] = 0;
            for (int c = 0; c < w; c++) {
                Q[h * w + c] = (int8_t)((int)(urand() * 255) - 127);
                qs[2 * h + (c >= r)] += Q[h * w + c];
            }
        }
        for (size_t im = 0; im < sizeof ms / sizeof *ms; im++)
            for (size_t in = 0; in < sizeof ns / sizeof *ns; in++) {
                const int m = ms[im], n = ns[in], lds = 256;
                cases++;
                for (int i = 0; i < MAXM * 256; i++) S[i] = S0[i] = -7.0f;
                g->i8_dots(Q, qd, qs, m, K, kd, r, dr, n, S0, lds);
                if (k->i8_dots) k->i8_dots(Q, qd, qs, m, K, kd, r, dr, n, S, lds);
                for (int h = 0; h < m; h++)
                    for (int i = 0; i < lds; i++) {
                        if (k->i8_dots) bad += !(S[h * lds + i] == S0[h * lds + i]);
                        if (i >= n) { bad += S0[h * lds + i] != -7.0f; continue; }
                        double ref = 0, mag = 0;
                        for (int c = 0; c < w; c++) {
                            const int v = K[(i / 4) * 4 * w + c * 4 + i % 4] - 128;
                            double pr = (double)qd[2 * h + (c >= r)] * kd[(i / 4) * 8 + (c >= r) * 4 + i % 4] * Q[h * w + c] * v;
                            ref += pr, mag += fabs(pr);
                        }
                        bad += !(fabs(S0[h * lds + i] - ref) <= 1e-6 * mag);
                    }
                for (int i = 0; i < MAXM * MAXW; i++) U[i] = U0[i] = Ui[i] = nrand();
                g->i8_wsum(P, 256, m, K, kd, r, dr, n, U0, MAXW);
                if (k->i8_wsum) k->i8_wsum(P, 256, m, K, kd, r, dr, n, U, MAXW);
                for (int h = 0; h < m; h++) {
                    double mx = 0;
                    for (int i = 0; i < n; i++) {
                        const double v = (double)P[h * 256 + i] * kd[(i / 4) * 8 + i % 4];
                        mx = v > mx ? v : mx;
                    }
                    for (int c = 0; c < MAXW; c++) {
                        if (k->i8_wsum) bad += !(U[h * MAXW + c] == U0[h * MAXW + c]);
                        if (c >= r) { bad += U0[h * MAXW + c] != Ui[h * MAXW + c]; continue; }
                        double ref = Ui[h * MAXW + c], sk = 0;
                        for (int i = 0; i < n; i++) {
                            const int v = K[(i / 4) * 4 * w + c * 4 + i % 4] - 128;
                            ref += (double)P[h * 256 + i] * kd[(i / 4) * 8 + i % 4] * v;
                            sk += abs(v);
                        }
                        const double bound = mx / 255 * 0.5 * sk * 1.0001 + 1e-6 * (fabs(ref) + mx * sk);
                        const double e = fabs(U0[h * MAXW + c] - ref);
                        worst = e / bound > worst ? e / bound : worst;
                        bad += !(e <= bound);
                    }
                }
                same += k->i8_dots != NULL && k != g;
            }
    }
    CHECK(bad == 0, "%s i8_dots/i8_wsum: %d values wrong (%d cases)", k->name, bad, cases);
    CHECK(worst > 0.05, "i8_wsum quantizes the weights (worst %.3g of the bound)", worst);
    printf("%s i8_dots/i8_wsum: %s, worst wsum error %.3g of its bound\n", k->name,
           same ? "bitwise the generic ones" : "the oracle", worst);
    free(Q), free(qd), free(kd), free(qs), free(K), free(P), free(S), free(S0), free(U), free(U0), free(Ui);
}

/* ulps between two floats of the same sign (the distance in their bit patterns) */
static double ulps(float a, float b) {
    int32_t ia, ib;
    memcpy(&ia, &a, 4);
    memcpy(&ib, &b, 4);
    return fabs((double)ia - (double)ib);
}

/* exp_shift (softmax's exp) vs expf: within 2 ulp over [-110, 89] (subnormal
 * results included, counted in their own ulps), the sum, every tail length,
 * -inf -> 0, NaN stays NaN, overflow -> inf */
static void test_exp(const fr_kernel_table *k) {
    if (!k->exp_shift) return;
    enum { N = 4099 };
    float *x = malloc(sizeof(float) * N), *y = malloc(sizeof(float) * N);
    double worst = 0;
    int bad = 0;
    for (int rep = 0; rep < 50; rep++) {
        const float m = rep % 2 ? 0.0f : 3.5f;
        for (int i = 0; i < N; i++) x[i] = y[i] = (float)(-110.0 + urand() * (rep % 5 ? 199.0 : 10.0));
        const int n = N - rep;
        double s = 0;
        for (int i = 0; i < n; i++) s += (double)expf(x[i] - m);
        float got = k->exp_shift(y, n, m);
        for (int i = 0; i < n; i++) {
            const double u = ulps(y[i], expf(x[i] - m));
            worst = u > worst ? u : worst;
            bad += !(u <= 2);
        }
        for (int i = n; i < N; i++) bad += y[i] != x[i]; /* past n untouched */
        if (s < 1e37) bad += !(fabs(got - s) <= 1e-5 * s); /* float sums: 16 lanes of ~256 terms */
    }
    float sp[5] = {-INFINITY, NAN, 100.0f, 0.0f, -87.0f};
    float sum = k->exp_shift(sp, 5, 0.0f);
    bad += !(sp[0] == 0.0f && isnan(sp[1]) && isinf(sp[2]) && sp[3] == 1.0f && ulps(sp[4], expf(-87.0f)) <= 2);
    bad += !isnan(sum);
    CHECK(bad == 0, "%s exp_shift: %d values wrong (worst %.0f ulp)", k->name, bad, worst);
    printf("%s exp_shift: worst %.0f ulp of expf\n", k->name, worst);
    free(x), free(y);
}

/* silu_mul (SwiGLU's gate) vs the plain fr_silu: within 4 ulp over [-100, 100]
 * (products with u of both signs), every tail length; specials as fr_silu:
 * silu(+-0) * u, large negative -> -0, +inf -> inf, -inf and NaN -> NaN */
static void test_silu(const fr_kernel_table *k) {
    if (!k->silu_mul) return;
    enum { N = 1043 };
    float *g = malloc(sizeof(float) * N), *u = malloc(sizeof(float) * N), *r = malloc(sizeof(float) * N);
    double worst = 0;
    int bad = 0;
    for (int rep = 0; rep < 40; rep++) {
        const int n = N - rep;
        for (int i = 0; i < N; i++) {
            g[i] = r[i] = (float)((urand() * 2 - 1) * (rep % 3 ? 100.0 : 6.0));
            u[i] = (float)(urand() * 4 - 2);
        }
        fr_silu_mul_generic(r, u, n);
        k->silu_mul(g, u, n);
        for (int i = 0; i < N; i++) {
            const double e = ulps(g[i], r[i]);
            if (i < n) worst = e > worst ? e : worst;
            bad += i < n ? !(e <= 4) : g[i] != r[i]; /* past n untouched (r holds the input there) */
        }
    }
    float sg[8] = {0.0f, -0.0f, -200.0f, INFINITY, -INFINITY, NAN, 20.0f, -20.0f};
    float su[8] = {1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f, -1.0f, 1.0f}, sr[8];
    memcpy(sr, sg, sizeof sr);
    fr_silu_mul_generic(sr, su, 8);
    k->silu_mul(sg, su, 8);
    for (int i = 0; i < 8; i++)
        bad += isnan(sr[i]) ? !isnan(sg[i]) : !(ulps(sg[i], sr[i]) <= 4 && signbit(sg[i]) == signbit(sr[i]));
    CHECK(bad == 0, "%s silu_mul: %d values wrong (worst %.0f ulp)", k->name, bad, worst);
    printf("%s silu_mul: worst %.0f ulp of the plain silu\n", k->name, worst);
    free(g), free(u), free(r);
}

/* kda_decay_dots (Kimi Delta Attention's chunk products) vs the plain loop:
 * K from 1 to 130 (masked tails), log-decay differences from 0 to past
 * expf's underflow; each sum within 1e-6 of its sum of |terms| (the float
 * sums go per lane instead of in channel order, exp within 2 ulp) */
static void test_kda_decay(const fr_kernel_table *k) {
    if (!k->kda_decay_dots) return;
    enum { NJ = 9, KM = 130 };
    float ki[KM], qi[KM], kk[NJ * KM], a0[NJ], q0[NJ], a1[NJ], q1[NJ];
    double Gi[KM], G[NJ * KM];
    int bad = 0;
    double worst = 0;
    const int Ks[] = {1, 7, 16, 24, 64, 127, 128, 130};
    for (size_t ik = 0; ik < sizeof Ks / sizeof *Ks; ik++)
        for (int rep = 0; rep < 20; rep++) {
            const int K = Ks[ik];
            const double scale = rep % 4 == 0 ? 0.01 : rep % 4 == 1 ? 1.0 : rep % 4 == 2 ? 30.0 : 200.0;
            for (int c = 0; c < K; c++) {
                ki[c] = (float)nrand(), qi[c] = (float)nrand();
                Gi[c] = -scale * urand() * 3; /* cumulative: G_j >= Gi for the earlier tokens j */
            }
            for (int j = 0; j < NJ; j++)
                for (int c = 0; c < K; c++) {
                    kk[j * KM + c] = (float)nrand();
                    G[j * K + c] = Gi[c] + scale * urand() * (double)(NJ - j);
                }
            fr_kda_decay_dots_generic(ki, qi, Gi, kk, KM, G, NJ, K, a0, q0);
            k->kda_decay_dots(ki, qi, Gi, kk, KM, G, NJ, K, a1, q1);
            for (int j = 0; j < NJ; j++) {
                double sa = 0, sq = 0; /* sums of |terms| */
                for (int c = 0; c < K; c++) {
                    const double e = fabs(kk[j * KM + c]) * exp(Gi[c] - G[j * K + c]);
                    sa += fabs(ki[c]) * e, sq += fabs(qi[c]) * e;
                }
                const double ea = fabs(a1[j] - a0[j]) / (sa > 1e-30 ? sa : 1e-30),
                             eq = fabs(q1[j] - q0[j]) / (sq > 1e-30 ? sq : 1e-30);
                worst = fmax(worst, fmax(ea, eq));
                bad += !(ea <= 1e-6 && eq <= 1e-6);
            }
        }
    CHECK(bad == 0, "%s kda_decay_dots: %d sums off the plain loop (worst %.3g of sum|terms|)", k->name, bad, worst);
    printf("%s kda_decay_dots: worst %.3g of sum|terms| off the plain loop\n", k->name, worst);
}

/* kda_decay_gate (-ea softplus(g + bias)) and sigmoid_mul vs the plain loops:
 * within 6 ulp over [-110, 40] (softplus from e^-110 to past its cut at 20),
 * every tail length; +-inf and NaN as the plain loops give them */
static void test_kda_gates(const fr_kernel_table *k) {
    if (!k->kda_decay_gate || !k->sigmoid_mul) return;
    enum { N = 1043 };
    float *g = malloc(sizeof(float) * N), *r = malloc(sizeof(float) * N), *b = malloc(sizeof(float) * N);
    float *o = malloc(sizeof(float) * N), *o2 = malloc(sizeof(float) * N);
    double worst = 0;
    int bad = 0;
    for (int rep = 0; rep < 40; rep++) {
        const int n = N - rep;
        const float ea = (float)(0.01 + urand() * 5);
        for (int i = 0; i < N; i++) {
            g[i] = r[i] = (float)(-110.0 + urand() * (rep % 3 ? 150.0 : 30.0));
            b[i] = (float)(urand() * 2 - 1);
            o[i] = o2[i] = (float)(urand() * 4 - 2);
        }
        fr_kda_decay_gate_generic(r, b, ea, n);
        k->kda_decay_gate(g, b, ea, n);
        fr_sigmoid_mul_generic(o2, b, n);
        k->sigmoid_mul(o, b, n);
        for (int i = 0; i < N; i++) {
            const double e = ulps(g[i], r[i]), e2 = ulps(o[i], o2[i]);
            if (i < n) worst = fmax(worst, fmax(e, e2));
            bad += i < n ? !(e <= 6 && e2 <= 6) : (g[i] != r[i] || o[i] != o2[i]); /* past n untouched */
        }
    }
    float sg[6] = {-INFINITY, INFINITY, NAN, 0.0f, 20.0f, 20.5f}, sb[6] = {0}, sr[6], so[6] = {1, 1, 1, 1, 1, 1}, sq[6];
    memcpy(sr, sg, sizeof sr);
    memcpy(sq, so, sizeof sq);
    fr_kda_decay_gate_generic(sr, sb, 2.0f, 6);
    k->kda_decay_gate(sg, sb, 2.0f, 6);
    fr_sigmoid_mul_generic(sq, (const float[6]){-INFINITY, INFINITY, NAN, 0.0f, -100.0f, 100.0f}, 6);
    k->sigmoid_mul(so, (const float[6]){-INFINITY, INFINITY, NAN, 0.0f, -100.0f, 100.0f}, 6);
    for (int i = 0; i < 6; i++) {
        bad += isnan(sr[i]) ? !isnan(sg[i]) : !(ulps(sg[i], sr[i]) <= 6);
        bad += isnan(sq[i]) ? !isnan(so[i]) : !(ulps(so[i], sq[i]) <= 6);
    }
    CHECK(bad == 0, "%s kda_decay_gate / sigmoid_mul: %d values wrong (worst %.0f ulp)", k->name, bad, worst);
    printf("%s kda_decay_gate, sigmoid_mul: worst %.0f ulp of the plain loops\n", k->name, worst);
    free(g), free(r), free(b), free(o), free(o2);
}

/* rmsnorm, softmax, RoPE vs their formulas in double */
static void test_ops(void) {
    enum { D = 77 };
    float x[D], w[D], y[D];
    for (int i = 0; i < D; i++) x[i] = nrand() * 3, w[i] = nrand();
    fr_rmsnorm(y, x, w, 1e-6f, D);
    double ss = 0;
    for (int i = 0; i < D; i++) ss += (double)x[i] * x[i];
    double r = 1 / sqrt(ss / D + 1e-6), e = 0;
    for (int i = 0; i < D; i++) e = fmax(e, fabs(y[i] - x[i] * r * w[i]));
    CHECK(e < 1e-5, "rmsnorm error %g", e);
    float s[D];
    double m = -1e30, z = 0;
    for (int i = 0; i < D; i++) s[i] = x[i] * 10, m = fmax(m, s[i]);
    for (int i = 0; i < D; i++) z += exp(s[i] - m);
    float s2[D];
    memcpy(s2, s, sizeof s);
    fr_softmax(s2, D);
    e = 0;
    for (int i = 0; i < D; i++) e = fmax(e, fabs(s2[i] - exp(s[i] - m) / z));
    CHECK(e < 1e-6, "softmax error %g", e);
    enum { R = 64 };
    float q[R], q2[R], cs[R / 2], sn[R / 2];
    for (int i = 0; i < R; i++) q[i] = nrand();
    for (int i = 0; i < R / 2; i++) cs[i] = cosf(0.3f * (float)i), sn[i] = sinf(0.3f * (float)i);
    memcpy(q2, q, sizeof q);
    fr_rope_interleaved(q2, cs, sn, R);
    e = 0;
    for (int i = 0; i < R / 2; i++) {
        double a = q[2 * i], b = q[2 * i + 1], th = 0.3 * i;
        e = fmax(e, fabs(q2[2 * i] - (a * cos(th) - b * sin(th))));
        e = fmax(e, fabs(q2[2 * i + 1] - (a * sin(th) + b * cos(th))));
    }
    CHECK(e < 1e-5, "rope interleaved error %g", e);
    memcpy(q2, q, sizeof q);
    fr_rope_neox(q2, cs, sn, R);
    e = 0;
    for (int i = 0; i < R / 2; i++) {
        double a = q[i], b = q[i + R / 2], th = 0.3 * i;
        e = fmax(e, fabs(q2[i] - (a * cos(th) - b * sin(th))));
        e = fmax(e, fabs(q2[i + R / 2] - (a * sin(th) + b * cos(th))));
    }
    CHECK(e < 1e-5, "rope neox error %g", e);
}

/* fr_parallel_for and fr_parallel_for_guided: every item exactly once, in takes
 * of at least grain items (but the last), whichever thread runs them */
typedef struct cover_job {
    int64_t n, grain;
    _Atomic int *seen;
    atomic_int bad;
} cover_job;
static void cover_range(void *arg, int64_t i0, int64_t i1, int ith) {
    cover_job *j = arg;
    if (i0 < 0 || i1 > j->n || i0 >= i1 || (i1 - i0 < j->grain && i1 != j->n) || ith < 0) atomic_fetch_add(&j->bad, 1);
    for (int64_t i = i0; i < i1 && i0 >= 0 && i1 <= j->n; i++) atomic_fetch_add(&j->seen[i], 1);
}
static void test_pool_cover(void) {
    const int64_t cases[][2] = {{1, 1}, {7, 3}, {100, 1}, {1000, 16}, {12345, 7}, {64, 64}, {65, 64}};
    for (int th = 1; th <= 3; th++) {
        fr_pool *p = fr_pool_create(th);
        fr_pool_set_current(p);
        for (int guided = 0; guided < 2; guided++)
            for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
                cover_job j = {.n = cases[c][0], .grain = cases[c][1]};
                j.seen = calloc((size_t)j.n, sizeof *j.seen);
                atomic_init(&j.bad, 0);
                if (guided) fr_parallel_for_guided(j.n, j.grain, cover_range, &j);
                else fr_parallel_for(j.n, j.grain, cover_range, &j);
                int64_t wrong = 0;
                for (int64_t i = 0; i < j.n; i++) wrong += atomic_load(&j.seen[i]) != 1;
                CHECK(!wrong && !atomic_load(&j.bad), "pool %d threads, guided %d, n %lld grain %lld: %lld items not "
                      "run once, %d bad takes", th, guided, (long long)j.n, (long long)j.grain, (long long)wrong,
                      atomic_load(&j.bad));
                free(j.seen);
            }
        fr_pool_set_current(NULL);
        fr_pool_free(p);
    }
}

/* fr_matmul through a 2-thread pool, current table, vs generic */
static void test_threaded(void) {
    fr_pool *p = fr_pool_create(2);
    fr_pool_set_current(p);
    for (size_t d = 0; d < 4; d++) {
        wmat m;
        make_w(&m, g_dts[d], 301, 515);
        for (int n = 1; n <= 40; n += 39) {
            float *x = malloc(sizeof(float) * 515 * (size_t)n), *y = malloc(sizeof(float) * 301 * (size_t)n),
                  *ref = malloc(sizeof(float) * 301 * (size_t)n);
            for (int i = 0; i < 515 * n; i++) x[i] = nrand();
            fr_matmul(&m.t, x, y, n);
            fr_matmul_generic(&m.t, x, ref, n, 0, 301);
            double e = t_row_rel_err(y, ref, (size_t)n, 301);
            CHECK(e < 4e-6, "threaded %s %s n %d: %.3g", fr_kernels()->name, fr_dtype_get(g_dts[d])->name, n, e);
            free(x), free(y), free(ref);
        }
        free_w(&m);
    }
    /* several weights in one pass (decode: guided takes that run across the weights' boundaries) */
    for (int n = 1; n <= 2; n++) {
        wmat m[3];
        const int64_t rows[3] = {301, 17, 650};
        const fr_tensor *W[3];
        float *y[3], *ref = malloc(sizeof(float) * 650 * (size_t)n), *x = malloc(sizeof(float) * 515 * (size_t)n);
        for (int i = 0; i < 515 * n; i++) x[i] = nrand();
        for (int w = 0; w < 3; w++) {
            make_w(&m[w], g_dts[w], rows[w], 515);
            W[w] = &m[w].t;
            y[w] = malloc(sizeof(float) * (size_t)(rows[w] * n));
        }
        fr_matmul_multi(W, 3, x, y, n);
        for (int w = 0; w < 3; w++) {
            fr_matmul_generic(W[w], x, ref, n, 0, rows[w]);
            double e = t_row_rel_err(y[w], ref, (size_t)n, (size_t)rows[w]);
            CHECK(e < 4e-6, "threaded multi %s weight %d of 3, n %d: %.3g", fr_kernels()->name, w, n, e);
            free(y[w]);
            free_w(&m[w]);
        }
        free(x), free(ref);
    }
    fr_pool_set_current(NULL);
    fr_pool_free(p);
}

/* frugal_read_bandwidth, the roofline's measure: bad arguments are an error
 * naming them; a real pass reads its 1 GiB at a rate memory can give (a
 * compiler that dropped the loads, as it did once when the sums went unused,
 * measured 8500-9800 GB/s) */
static void test_read_bandwidth(void) {
    double g = -1, gc = -1;
    CHECK(frugal_read_bandwidth(0, 1, &g, &gc) != 0 && strstr(frugal_last_error(), "threads"),
          "read bandwidth: 0 threads accepted");
    CHECK(frugal_read_bandwidth(2, 0, &g, &gc) != 0, "read bandwidth: 0 passes accepted");
    CHECK(frugal_read_bandwidth(2, 1, &g, &gc) == 0, "read bandwidth: %s", frugal_last_error());
    printf("read bandwidth, 2 threads, one pass: %.1f GB/s (%.1f per CPU time)\n", g, gc);
    CHECK(g > 0.05 && g < 2000 && gc >= g * 0.5 && gc < 4000, "read bandwidth %.3g GB/s (cpu %.3g): not a memory rate",
          g, gc);
}

/* cpu.c's vendor against the kernel's /proc/cpuinfo (where there is one), and the L2 prefetch distance the
 * tables were set up with (kernels.h fr_pf_l2): 0 on AMD, 8192 elsewhere, FRUGAL_PF_L2 when set */
static void test_vendor(void) {
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[256];
    int amd = -1;
    while (f && amd < 0 && fgets(line, sizeof line, f))
        if (!strncmp(line, "vendor_id", 9)) amd = strstr(line, "AuthenticAMD") != NULL;
    if (f) fclose(f);
    printf("vendor: %s (cpuid), /proc/cpuinfo: %s; L2 prefetch %d bytes ahead\n", fr_cpu_get()->amd ? "AMD" : "other",
           amd < 0 ? "no vendor_id" : amd ? "AMD" : "other", fr_pf_l2);
    CHECK(amd < 0 || amd == fr_cpu_get()->amd, "cpu vendor: cpuid says %d, /proc/cpuinfo %d", fr_cpu_get()->amd, amd);
    const char *e = getenv("FRUGAL_PF_L2");
    if (!e || !*e) CHECK(fr_pf_l2 == (fr_cpu_get()->amd ? 0 : 8192), "fr_pf_l2 %d on this vendor", fr_pf_l2);
    else if (!strcmp(e, "4096")) CHECK(fr_pf_l2 == 4096, "FRUGAL_PF_L2=4096 gave %d", fr_pf_l2);
}

int main(void) {
    char feat[256];
    fr_cpu_describe(feat, sizeof feat);
    printf("cpu: %s\nkernels in use: %s\n", feat, fr_kernels()->name);
    const fr_cpu *c = fr_cpu_get();
    CHECK(!fr_kernels_isa("avx512") || (c->avx512f && c->avx512bw && c->avx512vl), "avx512 table without the CPU");
    CHECK(fr_kernels_isa("generic") == fr_kernels_generic(), "generic table");
    test_vendor();
    test_generic_oracle();
    test_ops();
    test_attn_blocks(fr_kernels_generic());
    test_attn_i8(fr_kernels_generic());
    const char *isas[] = {"avx2", "avx512", "avx512vnni", "avx512bf16"};
    int tested = 0;
    for (int i = 0; i < 4; i++) {
        const fr_kernel_table *k = fr_kernels_isa(isas[i]);
        if (!k) {
            printf("%s: not available on this CPU, skipped\n", isas[i]);
            continue;
        }
        tested++;
        test_matmul(k);
        test_matmul_fast(k);
        test_decode_offsets(k);
        test_decode_split(k);
        test_fp8_rows_seen(k);
        test_fp8_decode_exact(k);
        test_vec(k);
        test_attn_blocks(k);
        test_attn_bf16(k);
        if (k->i8_dots) test_attn_i8(k);
        test_q8_0_bf16(k);
        test_f32_bf16(k);
        test_exp(k);
        test_silu(k);
        test_kda_decay(k);
        test_kda_gates(k);
    }
    /* the AMX tables' BF16 and FP8 prefill (tdpbf16ps, avx512/amx_bf16.h) and attention over a
     * bfloat16 cache (avx512/attn_amx.h): "amxemu" anywhere with AVX512-BF16, "amx" on a CPU with AMX */
    const char *amx[] = {"amxemu", "amx"};
    for (int i = 0; i < 2; i++) {
        const fr_kernel_table *k = fr_kernels_isa(amx[i]);
        if (!k) {
            printf("%s: not available on this CPU, skipped\n", amx[i]);
            continue;
        }
        tested++;
        test_matmul_fast(k);
        test_fp8_rows_seen(k);
        test_attn_bf16(k);
    }
    test_pool_cover();
    test_threaded();
    test_read_bandwidth();
    printf("ISA tables tested: %d\n", tested);
    return t_done();
}
