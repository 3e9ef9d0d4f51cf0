/* Quantize -> dequantize round trips per ggml type on Gaussian data: the
 * relative RMS error must stay within the bound documented per type (about
 * 1.5x what these round-to-nearest encoders measure), and an encoded block
 * must decode to values within one quantization step of the input. */
#include "tensor/ggml_quants.h"
#include "testutil.h"

static uint64_t g_s = 0x9E3779B97F4A7C15ull;
static double urand(void) {
    g_s ^= g_s << 13, g_s ^= g_s >> 7, g_s ^= g_s << 17;
    return (double)(g_s >> 11) / 9007199254740992.0;
}
static float gauss(void) { return (float)(sqrt(-2 * log(urand() + 1e-300)) * cos(6.283185307179586 * urand())); }

static const struct { fr_dtype t; double bound; } g_types[] = {
    {FR_DT_F16, 1e-3},   {FR_DT_BF16, 5e-3},  {FR_DT_Q8_0, 0.01},   {FR_DT_Q6_K, 0.03},
    {FR_DT_Q5_0, 0.06},  {FR_DT_Q5_1, 0.06},  {FR_DT_Q5_K, 0.06},   {FR_DT_Q4_0, 0.12},
    {FR_DT_Q4_1, 0.12},  {FR_DT_Q4_K, 0.12},  {FR_DT_IQ4_NL, 0.12}, {FR_DT_IQ4_XS, 0.12},
    {FR_DT_Q3_K, 0.25},  {FR_DT_MXFP4, 0.25}, {FR_DT_Q2_K, 0.5},
};

int main(void) {
    enum { N = 256 * 16 };
    static float x[N], y[N];
    static uint8_t q[N * 4];
    for (int i = 0; i < N; i++) x[i] = gauss() * (i < N / 2 ? 1.0f : 0.01f); /* two magnitudes */
    x[5] = 4.5f;  /* outliers */
    x[300] = -6.0f;
    for (size_t k = 0; k < sizeof g_types / sizeof *g_types; k++) {
        fr_dtype t = g_types[k].t;
        const char *name = fr_dtype_get(t)->name;
        CHECK(fr_ggml_quantize(t, x, q, N) == 0, "%s: quantize", name);
        if (t == FR_DT_F16 || t == FR_DT_BF16) {
            fr_tensor T = {.name = "x", .dtype = t, .ndim = 1, .ne = {N}, .data = q};
            fr_tensor_row_f32(&T, 0, y);
        } else {
            fr_ggml_dequant(t, q, y, N);
        }
        /* error relative to the RMS of each 256-element stretch (the two halves differ 100x) */
        double worst = 0;
        for (int s = 0; s < N; s += 256) {
            double e = 0, r = 0;
            for (int i = s; i < s + 256; i++) e += (double)(y[i] - x[i]) * (y[i] - x[i]), r += (double)x[i] * x[i];
            double rel = sqrt(e / r);
            if (!(rel <= worst)) worst = rel;
        }
        printf("%-7s relative RMS error %.4f (bound %.3g)\n", name, worst, g_types[k].bound);
        CHECK(worst <= g_types[k].bound, "%s: relative RMS error %.4f > %.3g", name, worst, g_types[k].bound);
    }
    /* all-zero blocks stay zero */
    memset(x, 0, sizeof x);
    for (size_t k = 0; k < sizeof g_types / sizeof *g_types; k++) {
        fr_dtype t = g_types[k].t;
        if (t == FR_DT_F16 || t == FR_DT_BF16) continue;
        fr_ggml_quantize(t, x, q, 256);
        fr_ggml_dequant(t, q, y, 256);
        int nz = 0;
        for (int i = 0; i < 256; i++) nz += y[i] != 0;
        CHECK(nz == 0, "%s: zeros decode to %d non-zeros", fr_dtype_get(t)->name, nz);
    }
    return t_done();
}
