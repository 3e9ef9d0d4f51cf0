/* The integer kernels for Q8_0, Q4_0, Q5_0, Q4_1, Q5_1, IQ4_NL, MXFP4 on every bit pattern of the weight
 * bytes (random raw blocks, not only what ggml's quantizer emits: Q8_0 bytes
 * -128, nibbles 0 and 15, all qh bits) and activations at the ends of the int8
 * range (+-127, all one sign): the generic kernel against a double sum over
 * the blocks decoded here from the ggml layout, and every ISA table against the
 * generic kernel. Catches vpmaddubsw saturation and sign-trick errors (w =
 * -128 with negative q) that quantizer-made weights never reach. */
#include <math.h>

#include "kernels/generic/generic.h"
#include "kernels/kernels.h"
#include "testutil.h"

static uint64_t g_rng = 0x2545f4914f6cdd1dull;
static uint32_t rnd(void) {
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (uint32_t)(g_rng >> 32);
}

/* block k's 32 weights (signed) decoded from the ggml layout; its scale (and
 * *m, the min of Q4_1/Q5_1: the weight is d w + m) */
static double decode(fr_dtype dt, const uint8_t *b, int *w, double *m) {
    uint16_t h = (uint16_t)(b[0] | b[1] << 8);
    *m = 0;
    if (dt == FR_DT_Q4_1 || dt == FR_DT_Q5_1) {
        *m = fr_f16_to_f32((uint16_t)(b[2] | b[3] << 8));
        const uint8_t *qs = b + (dt == FR_DT_Q4_1 ? 4 : 8);
        for (int i = 0; i < 32; i++) {
            w[i] = i < 16 ? qs[i] & 15 : qs[i - 16] >> 4;
            if (dt == FR_DT_Q5_1) w[i] |= ((b[4 + i / 8] >> (i % 8)) & 1) << 4;
        }
    } else if (dt == FR_DT_Q8_0) {
        for (int i = 0; i < 32; i++) w[i] = (int8_t)b[2 + i];
    } else if (dt == FR_DT_Q4_0) {
        for (int i = 0; i < 32; i++) w[i] = (i < 16 ? b[2 + i] & 15 : b[2 + i - 16] >> 4) - 8;
    } else if (dt == FR_DT_MXFP4) { /* u8 e | qs[16]: levels x 2, scale 2^(e - 128) */
        static const int kv[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};
        for (int i = 0; i < 32; i++) w[i] = kv[i < 16 ? b[1 + i] & 15 : b[1 + i - 16] >> 4];
        return ldexp(1.0, (int)b[0] - 128);
    } else if (dt == FR_DT_IQ4_NL) {
        static const int kv[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};
        for (int i = 0; i < 32; i++) w[i] = kv[i < 16 ? b[2 + i] & 15 : b[2 + i - 16] >> 4];
    } else {
        for (int i = 0; i < 32; i++) {
            int nib = i < 16 ? b[6 + i] & 15 : b[6 + i - 16] >> 4;
            w[i] = (nib | ((b[2 + i / 8] >> (i % 8)) & 1) << 4) - 16;
        }
    }
    return fr_f16_to_f32(h);
}

/* raw weight bytes: random, with some blocks all-extreme; d a finite f16 */
static void fill_w(fr_dtype dt, uint8_t *p, int64_t nblocks, size_t bb) {
    for (int64_t k = 0; k < nblocks; k++, p += bb) {
        int mode = (int)(rnd() % 4);
        for (size_t i = 2; i < bb; i++)
            p[i] = mode == 0 ? 0x80 : mode == 1 ? 0xff : mode == 2 ? (uint8_t)(k & 1 ? 0x7f : 0x80) : (uint8_t)rnd();
        if (dt != FR_DT_Q8_0 && mode == 0) memset(p + 2, 0, bb - 2); /* nibbles 0 (and qh 0) */
        uint16_t d = (uint16_t)(0x2000 + rnd() % 0x2000); /* ~2^-7 .. 2^0, some sign bits */
        if (rnd() % 4 == 0) d |= 0x8000;
        p[0] = (uint8_t)d, p[1] = (uint8_t)(d >> 8);
        if (dt == FR_DT_Q4_1 || dt == FR_DT_Q5_1) { /* m: a finite f16 like d */
            uint16_t mv = (uint16_t)(0x2000 + rnd() % 0x2000);
            if (rnd() % 2) mv |= 0x8000;
            p[2] = (uint8_t)mv, p[3] = (uint8_t)(mv >> 8);
        }
        if (dt == FR_DT_MXFP4) { /* e: scales 2^-28 .. 2^22 (near 2^-128 the float products d_w d_x
                                  * underflow to subnormals in every engine, ggml's too); byte 1 is a qs byte */
            static const uint8_t es[] = {100, 120, 126, 127, 128, 129, 135, 150};
            p[0] = es[rnd() % 8];
            p[1] = mode == 0 ? 0 : mode == 1 ? 0xff : (uint8_t)rnd();
        }
    }
}

/* activations: per 32-block all +-max (q = +-127 everywhere), one sign, or random */
static void fill_x(float *x, int64_t nv) {
    for (int64_t b = 0; b < nv / 32; b++) {
        int mode = (int)(rnd() % 4);
        float mag = (float)(1 + rnd() % 100) * 0.01f;
        for (int i = 0; i < 32; i++) {
            float v = mode == 0 ? -mag : mode == 1 ? mag : mode == 2 ? (i & 1 ? mag : -mag)
                                                                    : mag * ((float)(rnd() % 2001) / 1000.0f - 1.0f);
            x[b * 32 + i] = v;
        }
    }
}

int main(void) {
    static const fr_dtype dts[] = {FR_DT_Q8_0, FR_DT_Q4_0,   FR_DT_Q5_0, FR_DT_Q4_1,
                                   FR_DT_Q5_1, FR_DT_IQ4_NL, FR_DT_MXFP4};
    static const int64_t rowss[] = {1, 8, 13};
    static const int64_t nbs[] = {1, 2, 3, 8, 9, 16, 25, 41, 43}; /* decode: steps of 4 or 8 blocks and tails */
    static const int ns[] = {1, 2, 5};
    const char *isas[] = {"avx2", "avx512", "avx512vnni", "avx512bf16", "amx", "amxemu"};
    enum { NISA = sizeof isas / sizeof *isas };
    for (size_t d = 0; d < sizeof dts / sizeof *dts; d++) {
        const fr_dtype dt = dts[d];
        const size_t bb = fr_dtype_get(dt)->block_bytes;
        const char *dn = fr_dtype_get(dt)->name;
        double worst_oracle = 0, worst_isa[NISA] = {0};
        int bitwise[NISA] = {1, 1, 1, 1, 1, 1};
        for (size_t ir = 0; ir < 3; ir++)
            for (size_t ib = 0; ib < sizeof nbs / sizeof *nbs; ib++)
                for (size_t in = 0; in < 3; in++) {
                    const int64_t rows = rowss[ir], nb = nbs[ib], cols = 32 * nb;
                    const int n = ns[in];
                    fr_tensor w = {.dtype = dt, .ndim = 2, .ne = {rows, cols}};
                    w.nbytes = fr_dtype_bytes(dt, rows * cols);
                    uint8_t *wd = malloc(w.nbytes);
                    fill_w(dt, wd, rows * nb, bb);
                    w.data = wd;
                    float *x = malloc(sizeof(float) * (size_t)(n * cols));
                    fill_x(x, n * cols);
                    void *buf = aligned_alloc(64, (fr_qx_bytes(n, cols, 32) + 63) & ~(size_t)63);
                    fr_qx q;
                    fr_qx_quantize(x, n, cols, 32, buf, &q);
                    int at_max = 0;
                    for (int64_t i = 0; i < n * cols; i++) at_max += q.q[i] == 127 || q.q[i] == -127;
                    CHECK(at_max > 0, "%s: no activation at +-127", dn);
                    float *ref = malloc(sizeof(float) * (size_t)(n * rows)), *y = malloc(sizeof(float) * (size_t)(n * rows));
                    fr_matmul_q_generic(&w, &q, ref, 0, rows);
                    /* the generic kernel vs a double sum, relative to the sum of |terms| */
                    for (int t = 0; t < n; t++)
                        for (int64_t r = 0; r < rows; r++) {
                            double s = 0, mag = 0;
                            for (int64_t k = 0; k < nb; k++) {
                                int wv[32], is = 0;
                                double mw;
                                double dw = decode(dt, wd + (size_t)(r * nb + k) * bb, wv, &mw);
                                int sx = 0;
                                for (int i = 0; i < 32; i++) {
                                    is += wv[i] * q.q[t * cols + 32 * k + i];
                                    sx += q.q[t * cols + 32 * k + i];
                                }
                                s += dw * q.d[t * nb + k] * is + mw * q.d[t * nb + k] * sx;
                                mag += fabs(dw * q.d[t * nb + k] * is) + fabs(mw * q.d[t * nb + k] * sx);
                            }
                            double e = fabs(ref[t * rows + r] - s) / (mag > 0 ? mag : 1);
                            if (!(e <= worst_oracle)) worst_oracle = e;
                        }
                    for (int k = 0; k < NISA; k++) {
                        const fr_kernel_table *tb = fr_kernels_isa(isas[k]);
                        if (!tb || !tb->matmul_q[dt] || tb->matmul_q[dt] == fr_matmul_q_generic) continue;
                        for (int64_t i = 0; i < n * rows; i++) y[i] = -12345.0f;
                        tb->matmul_q[dt](&w, &q, y, 0, rows);
                        double e = t_row_rel_err(y, ref, (size_t)n, (size_t)rows);
                        if (!(e <= worst_isa[k])) worst_isa[k] = e;
                        CHECK(e < 1e-5, "%s %s rows %lld blocks %lld n %d: row-relative error %.3g", isas[k], dn,
                              (long long)rows, (long long)nb, n, e);
                        if (memcmp(y, ref, sizeof(float) * (size_t)(n * rows))) bitwise[k] = 0;
                    }
                    free(wd), free(x), free(buf), free(ref), free(y);
                }
        printf("generic %-5s vs double sum (raw blocks, +-127 activations): %.3g\n", dn, worst_oracle);
        CHECK(worst_oracle < 1e-6, "generic %s vs double sum: %.3g", dn, worst_oracle);
        for (int k = 0; k < NISA; k++)
            if (fr_kernels_isa(isas[k]))
                printf("%-10s %-5s vs generic: %.3g%s\n", isas[k], dn, worst_isa[k], bitwise[k] ? " (bitwise equal)" : "");
    }
    return t_done();
}
