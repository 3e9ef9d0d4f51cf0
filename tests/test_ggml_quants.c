/* ggml block formats: hand-built blocks with known scales and quants, checked
 * against values worked out from the format definitions (the closed forms
 * below, plus literal spot values computed by hand in the comments). Then the
 * same blocks through fr_tensor_row_f32 and the matmul kernel. */
#include "kernels/kernels.h"
#include "tensor/ggml_quants.h"
#include "testutil.h"

#define F16_ONE 0x3C00
#define F16_HALF 0x3800
#define F16_QUARTER 0x3400
#define F16_EIGHTH 0x3000
#define F16_TWO 0x4000
#define F16_MINUS_ONE 0xBC00

static const int kv_nl[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};
static const double kv_mx[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8); }

static float y[256];

static void check_block(const char *type, int n, double (*want)(int)) {
    int bad = 0;
    for (int e = 0; e < n; e++)
        if (y[e] != (float)want(e)) {
            if (bad++ < 3) fprintf(stderr, "%s: element %d = %g, want %g\n", type, e, (double)y[e], want(e));
        }
    CHECK(bad == 0, "%s: %d of %d elements differ", type, bad, n);
}
static void spot(const char *type, int e, double v) { CHECK(y[e] == (float)v, "%s[%d] = %g, want %g", type, e, (double)y[e], v); }

/* closed forms of the blocks below */
static double w_q4_0(int e) { return e < 16 ? (e - 8) * 0.5 : (7 - (e - 16)) * 0.5; }
static double w_q4_1(int e) { return (e % 16) * 0.25 - 1.0; }
static double w_q5_0(int e) { return e < 16 ? e - 16 : e - 16; }
static double w_q5_1(int e) { return e < 16 ? (e + 16) * 0.5 + 1 : (e - 16) * 0.5 + 1; }
static double w_q8_0(int e) { return (e - 16) / 8.0; }
static double w_iq4nl(int e) { return e < 16 ? 2.0 * kv_nl[e] : 2.0 * kv_nl[15 - (e - 16)]; }
static double w_mxfp4(int e) { return e < 16 ? kv_mx[e] : kv_mx[15 - (e - 16)]; }
/* Q2_K: q = (e%128)/32, sub-block s = e/16, scale s%15 + 1, min s%3, d 0.5, dmin 0.25 */
static double w_q2_k(int e) {
    int s = e / 16, q = (e % 128) / 32;
    return (float)(0.5f * (float)(s % 15 + 1)) * q - (float)(0.25f * (float)(s % 3));
}
/* Q3_K: scale[s] = -31/-30 for s % 4 == 0, else 1 (s < 8) / 2 (s >= 8); d 0.5;
 * q = (e%128)/32 - 4 unless the hmask bit is set (first half: l < 16; second: l >= 16) */
static double w_q3_k(int e) {
    int s = e / 16, h = e / 128, l = e % 32, q = (e % 128) / 32;
    int sc = s % 4 == 0 ? (s < 8 ? -31 : -30) : (s < 8 ? 1 : 2);
    int set = h == 0 ? l < 16 : l >= 16;
    return (double)(0.5f * (float)sc) * (q - (set ? 0 : 4));
}
/* Q4_K/Q5_K scale bytes: [0..3] = 0x40 | (j+1), [4..7] = 0x80 | j, [8..11] = 0x35:
 * j < 4: sc = j+1, m = j; j >= 4: sc = 5 | (0x40 >> 6) << 4 = 21, m = 3 | (0x80 >> 6) << 4 = 35 */
static const int k4_sc[8] = {1, 2, 3, 4, 21, 21, 21, 21}, k4_m[8] = {0, 1, 2, 3, 35, 35, 35, 35};
static double w_q4_k(int e) {
    int c = e / 64, hi = (e % 64) >= 32, l = e % 32;
    int s = 2 * c + hi, q = hi ? 15 - l % 16 : l % 16;
    return (double)((float)(0.5f * (float)k4_sc[s]) * (float)q - (float)k4_m[s]);
}
static double w_q5_k(int e) {
    int c = e / 64, hi = (e % 64) >= 32, l = e % 32;
    int s = 2 * c + hi, q = hi ? 15 - l % 16 : l % 16 + 16;
    return (double)((float)(0.5f * (float)k4_sc[s]) * (float)q - (float)k4_m[s]);
}
/* Q6_K: scale (s - 8), d 0.25, q = (l%16 | k << 4) - 32 with k = (e%128)/32 */
static double w_q6_k(int e) {
    int s = e / 16, k = (e % 128) / 32, l = e % 32;
    return (double)((float)(0.25f * (float)(s - 8)) * (float)((l % 16 | k << 4) - 32));
}
/* IQ4_XS: sub-block scales -31, 2, 1, 2, 1, 2, 1, 2; d 1 */
static double w_iq4xs(int e) {
    int s = e / 32, j = e % 32;
    int sc = s == 0 ? -31 : (s % 2 ? 2 : 1);
    return (double)sc * (j < 16 ? kv_nl[j] : kv_nl[15 - (j - 16)]);
}

int main(void) {
    uint8_t b[2][300];
    memset(b, 0, sizeof b);

    /* Q4_0: d = 0.5, qs[j] = j | (15 - j) << 4 */
    put16(b[0], F16_HALF);
    for (int j = 0; j < 16; j++) b[0][2 + j] = (uint8_t)(j | (15 - j) << 4);
    fr_ggml_dequant(FR_DT_Q4_0, b[0], y, 32);
    check_block("Q4_0", 32, w_q4_0);
    spot("Q4_0", 0, -4.0);  /* (0 - 8) * 0.5 */
    spot("Q4_0", 16, 3.5);  /* (15 - 8) * 0.5 */

    /* Q4_1: d = 0.25, m = -1, qs[j] = j | j << 4 */
    put16(b[0], F16_QUARTER);
    put16(b[0] + 2, F16_MINUS_ONE);
    for (int j = 0; j < 16; j++) b[0][4 + j] = (uint8_t)(j | j << 4);
    fr_ggml_dequant(FR_DT_Q4_1, b[0], y, 32);
    check_block("Q4_1", 32, w_q4_1);
    spot("Q4_1", 5, 0.25);  /* 5 * 0.25 - 1 */

    /* Q5_0: d = 1, qh = 0xFFFF0000 (5th bit on elements 16..31), qs[j] = j | j << 4 */
    put16(b[0], F16_ONE);
    b[0][2] = 0, b[0][3] = 0, b[0][4] = 0xFF, b[0][5] = 0xFF;
    for (int j = 0; j < 16; j++) b[0][6 + j] = (uint8_t)(j | j << 4);
    fr_ggml_dequant(FR_DT_Q5_0, b[0], y, 32);
    check_block("Q5_0", 32, w_q5_0);
    spot("Q5_0", 0, -16.0); /* (0 | 0) - 16 */
    spot("Q5_0", 31, 15.0); /* (15 | 16) - 16 */

    /* Q5_1: d = 0.5, m = 1, qh = 0x0000FFFF (5th bit on elements 0..15) */
    put16(b[0], F16_HALF);
    put16(b[0] + 2, F16_ONE);
    b[0][4] = 0xFF, b[0][5] = 0xFF, b[0][6] = 0, b[0][7] = 0;
    for (int j = 0; j < 16; j++) b[0][8 + j] = (uint8_t)(j | j << 4);
    fr_ggml_dequant(FR_DT_Q5_1, b[0], y, 32);
    check_block("Q5_1", 32, w_q5_1);
    spot("Q5_1", 0, 9.0);   /* 16 * 0.5 + 1 */

    /* Q8_0: d = 1/8, qs[j] = j - 16 */
    put16(b[0], F16_EIGHTH);
    for (int j = 0; j < 32; j++) b[0][2 + j] = (uint8_t)(int8_t)(j - 16);
    fr_ggml_dequant(FR_DT_Q8_0, b[0], y, 32);
    check_block("Q8_0", 32, w_q8_0);
    spot("Q8_0", 0, -2.0);

    /* IQ4_NL: d = 2, qs[j] = j | (15 - j) << 4 */
    put16(b[0], F16_TWO);
    for (int j = 0; j < 16; j++) b[0][2 + j] = (uint8_t)(j | (15 - j) << 4);
    fr_ggml_dequant(FR_DT_IQ4_NL, b[0], y, 32);
    check_block("IQ4_NL", 32, w_iq4nl);
    spot("IQ4_NL", 0, -254.0); /* 2 * -127 */
    spot("IQ4_NL", 16, 226.0); /* 2 * 113 */

    /* MXFP4: e = 128 (scale 2^0 on the doubled E2M1 values), same nibbles */
    b[0][0] = 128;
    for (int j = 0; j < 16; j++) b[0][1 + j] = (uint8_t)(j | (15 - j) << 4);
    fr_ggml_dequant(FR_DT_MXFP4, b[0], y, 32);
    check_block("MXFP4", 32, w_mxfp4);
    spot("MXFP4", 7, 12.0);  /* E2M1 0111 = 6.0, times 2^(128-127) / 2 ... = 12 * 2^0 */
    spot("MXFP4", 16, -12.0);
    b[0][0] = 0; /* smallest scale: 2^-128, subnormal */
    fr_ggml_dequant(FR_DT_MXFP4, b[0], y, 32);
    spot("MXFP4", 7, 12.0 * ldexp(1.0, -128));
    b[0][0] = 130;
    fr_ggml_dequant(FR_DT_MXFP4, b[0], y, 32);
    spot("MXFP4", 5, 24.0);  /* 6 * 2^2 */

    /* Q2_K: scales[s] = (s % 15 + 1) | (s % 3) << 4; qs all 0xE4 (2-bit fields 0,1,2,3); d 0.5, dmin 0.25 */
    memset(b[0], 0, 300);
    for (int s = 0; s < 16; s++) b[0][s] = (uint8_t)((s % 15 + 1) | (s % 3) << 4);
    memset(b[0] + 16, 0xE4, 64);
    put16(b[0] + 80, F16_HALF);
    put16(b[0] + 82, F16_QUARTER);
    fr_ggml_dequant(FR_DT_Q2_K, b[0], y, 256);
    check_block("Q2_K", 256, w_q2_k);
    spot("Q2_K", 40, 1.0);   /* sub-block 2: 0.5*3*1 - 0.25*2 */
    spot("Q2_K", 255, 1.5);  /* sub-block 15: 0.5*1*3 - 0 */
    spot("Q2_K", 239, 22.0); /* sub-block 14: 0.5*15*3 - 0.25*2 */

    /* Q3_K: hmask[l] = 0x0F (l < 16) / 0xF0; qs 0xE4; scales low nibbles 1 / 2 via 0x21,
     * high bits 2 (0xAA) except the s % 4 == 0 field of byte 8 (0xA8); d 0.5 */
    memset(b[0], 0, 300);
    for (int l = 0; l < 32; l++) b[0][l] = l < 16 ? 0x0F : 0xF0;
    memset(b[0] + 32, 0xE4, 64);
    memset(b[0] + 96, 0x21, 8);
    b[0][104] = 0x00; /* byte 8: the high bits of s = 0, 4, 8, 12 -> 0 */
    b[0][105] = b[0][106] = b[0][107] = 0xAA;
    put16(b[0] + 108, F16_HALF);
    fr_ggml_dequant(FR_DT_Q3_K, b[0], y, 256);
    check_block("Q3_K", 256, w_q3_k);
    spot("Q3_K", 33, 0.5);   /* s 2: 0.5*1*(1 - 0) */
    spot("Q3_K", 128, 60.0); /* s 8: 0.5*(-30)*(0 - 4) */

    /* Q4_K: scale/min bytes give sc {1,2,3,4,21,21,21,21}, m {0,1,2,3,35,35,35,35}; d 0.5, dmin 1;
     * qs[i] = i%16 | (15 - i%16) << 4 */
    memset(b[0], 0, 300);
    put16(b[0], F16_HALF);
    put16(b[0] + 2, F16_ONE);
    for (int j = 0; j < 4; j++) b[0][4 + j] = (uint8_t)(0x40 | (j + 1)), b[0][8 + j] = (uint8_t)(0x80 | j),
                                b[0][12 + j] = 0x35;
    for (int i = 0; i < 128; i++) b[0][16 + i] = (uint8_t)(i % 16 | (15 - i % 16) << 4);
    fr_ggml_dequant(FR_DT_Q4_K, b[0], y, 256);
    check_block("Q4_K", 256, w_q4_k);
    spot("Q4_K", 33, 13.0);  /* sub-block 1: 0.5*2*14 - 1 */
    spot("Q4_K", 200, 49.0);  /* sub-block 6: 0.5*21*8 - 35 */
    spot("Q4_K", 255, -35.0); /* sub-block 7: 0.5*21*0 - 35 */

    /* Q5_K: same scales and nibbles, qh[l] = 0x55 (5th bit on every low-nibble element) */
    memset(b[1], 0, 300);
    memcpy(b[1], b[0], 16);
    memset(b[1] + 16, 0x55, 32);
    memcpy(b[1] + 48, b[0] + 16, 128);
    fr_ggml_dequant(FR_DT_Q5_K, b[1], y, 256);
    check_block("Q5_K", 256, w_q5_k);
    spot("Q5_K", 0, 8.0);    /* 0.5*1*16 - 0 */
    spot("Q5_K", 200, 217.0); /* 0.5*21*(8 + 16) - 35 */

    /* Q6_K: ql[i] = i%16 | (i%16) << 4, qh all 0xE4, scales[s] = s - 8, d 0.25 */
    memset(b[0], 0, 300);
    for (int i = 0; i < 128; i++) b[0][i] = (uint8_t)(i % 16 | (i % 16) << 4);
    memset(b[0] + 128, 0xE4, 64);
    for (int s = 0; s < 16; s++) b[0][192 + s] = (uint8_t)(int8_t)(s - 8);
    put16(b[0] + 208, F16_QUARTER);
    fr_ggml_dequant(FR_DT_Q6_K, b[0], y, 256);
    check_block("Q6_K", 256, w_q6_k);
    spot("Q6_K", 0, 64.0);    /* 0.25*(-8)*(0 - 32) */
    spot("Q6_K", 255, 54.25); /* 0.25*7*((15 | 48) - 32) */

    /* IQ4_XS: d 1, scales_h 0xAAA8, scales_l 0x21, qs[i] = i%16 | (15 - i%16) << 4 */
    memset(b[0], 0, 300);
    put16(b[0], F16_ONE);
    put16(b[0] + 2, 0xAAA8);
    memset(b[0] + 4, 0x21, 4);
    for (int i = 0; i < 128; i++) b[0][8 + i] = (uint8_t)(i % 16 | (15 - i % 16) << 4);
    fr_ggml_dequant(FR_DT_IQ4_XS, b[0], y, 256);
    check_block("IQ4_XS", 256, w_iq4xs);
    spot("IQ4_XS", 0, 3937.0); /* -31 * -127 */
    spot("IQ4_XS", 240, 226.0); /* 2 * 113 */

    /* through the tensor views and the matmul: a [2, 256] Q4_K weight, row 1 = row 0 with d = 1 */
    uint8_t w2[2 * 144];
    memset(b[0], 0, 300);
    put16(b[0], F16_HALF);
    put16(b[0] + 2, F16_ONE);
    for (int j = 0; j < 4; j++) b[0][4 + j] = (uint8_t)(0x40 | (j + 1)), b[0][8 + j] = (uint8_t)(0x80 | j),
                                b[0][12 + j] = 0x35;
    for (int i = 0; i < 128; i++) b[0][16 + i] = (uint8_t)(i % 16 | (15 - i % 16) << 4);
    memcpy(w2, b[0], 144);
    memcpy(w2 + 144, b[0], 144);
    put16(w2 + 144, F16_ONE); /* row 1: d = 1 */
    fr_tensor T = {.name = "w", .dtype = FR_DT_Q4_K, .ndim = 2, .ne = {2, 256}, .data = w2, .nbytes = sizeof w2};
    float row[256];
    fr_tensor_row_f32(&T, 1, row);
    int bad = 0;
    for (int e = 0; e < 256; e++) {
        int c = e / 64, hi = (e % 64) >= 32, l = e % 32, s = 2 * c + hi, q = hi ? 15 - l % 16 : l % 16;
        if (row[e] != (float)k4_sc[s] * (float)q - (float)k4_m[s]) bad++;
    }
    CHECK(bad == 0, "row 1 of a Q4_K tensor: %d elements differ", bad);
    float x[256], out[2];
    double ref0 = 0, ref1 = 0;
    for (int e = 0; e < 256; e++) {
        x[e] = (float)((e % 7) - 3) * 0.125f;
        ref0 += w_q4_k(e) * x[e];
        ref1 += (double)row[e] * x[e];
    }
    fr_kernels_set_exact(1);
    fr_matmul(&T, x, out, 1);
    fr_kernels_set_exact(0);
    CHECK(fabs(out[0] - ref0) <= 1e-4 * fabs(ref0) + 1e-4 && fabs(out[1] - ref1) <= 1e-4 * fabs(ref1) + 1e-4,
          "matmul over Q4_K rows: %g %g, want %g %g", (double)out[0], (double)out[1], ref0, ref1);
    /* the integer path: x rounded to int8 with d = max|x| / 127 moves each
     * product by at most |w| d / 2 */
    double bound0 = 0, bound1 = 0;
    for (int e = 0; e < 256; e++) bound0 += fabs(w_q4_k(e)), bound1 += fabs((double)row[e]);
    bound0 *= 0.375 / 127 / 2, bound1 *= 0.375 / 127 / 2;
    fr_matmul(&T, x, out, 1);
    CHECK(fabs(out[0] - ref0) <= bound0 + 1e-4 * fabs(ref0) && fabs(out[1] - ref1) <= bound1 + 1e-4 * fabs(ref1),
          "int8 matmul over Q4_K rows: %g %g, want %g %g within %g %g", (double)out[0], (double)out[1], ref0, ref1,
          bound0, bound1);
    CHECK(fr_dtype_from_name("Q4_K") < 0, "block types are not safetensors dtypes");
    CHECK(fr_dtype_from_ggml(12) == FR_DT_Q4_K && fr_dtype_from_ggml(16) < 0, "ggml type ids");
    return t_done();
}
