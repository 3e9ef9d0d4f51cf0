/* ggml block formats -> float32. Written from the format definitions (see
 * ggml_quants.h); each decoder computes the same float products, in the same
 * order, as ggml's reference dequantization, so the values are bit-identical. */
#include "tensor/ggml_quants.h"

#include <math.h>
#include <string.h>

static float f16(const uint8_t *p) { return fr_f16_to_f32((uint16_t)(p[0] | p[1] << 8)); }

/* ---- 32-element blocks --------------------------------------------------- */

static void dq_q4_0(const uint8_t *b, float *y) { /* f16 d | qs[16] */
    float d = f16(b);
    const uint8_t *qs = b + 2;
    for (int j = 0; j < 16; j++) {
        y[j] = (float)((qs[j] & 15) - 8) * d;
        y[j + 16] = (float)((qs[j] >> 4) - 8) * d;
    }
}

static void dq_q4_1(const uint8_t *b, float *y) { /* f16 d | f16 m | qs[16] */
    float d = f16(b), m = f16(b + 2);
    const uint8_t *qs = b + 4;
    for (int j = 0; j < 16; j++) {
        y[j] = (float)(qs[j] & 15) * d + m;
        y[j + 16] = (float)(qs[j] >> 4) * d + m;
    }
}

/* 5th bits: element j has bit j of the little-endian u32 qh */
static void dq_q5_0(const uint8_t *b, float *y) { /* f16 d | qh[4] | qs[16] */
    float d = f16(b);
    uint32_t qh = (uint32_t)b[2] | (uint32_t)b[3] << 8 | (uint32_t)b[4] << 16 | (uint32_t)b[5] << 24;
    const uint8_t *qs = b + 6;
    for (int j = 0; j < 16; j++) {
        int lo = (qs[j] & 15) | (int)((qh >> j) & 1) << 4;
        int hi = (qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
        y[j] = (float)(lo - 16) * d;
        y[j + 16] = (float)(hi - 16) * d;
    }
}

static void dq_q5_1(const uint8_t *b, float *y) { /* f16 d | f16 m | qh[4] | qs[16] */
    float d = f16(b), m = f16(b + 2);
    uint32_t qh = (uint32_t)b[4] | (uint32_t)b[5] << 8 | (uint32_t)b[6] << 16 | (uint32_t)b[7] << 24;
    const uint8_t *qs = b + 8;
    for (int j = 0; j < 16; j++) {
        int lo = (qs[j] & 15) | (int)((qh >> j) & 1) << 4;
        int hi = (qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
        y[j] = (float)lo * d + m;
        y[j + 16] = (float)hi * d + m;
    }
}

static void dq_q8_0(const uint8_t *b, float *y) { /* f16 d | i8 qs[32] */
    float d = f16(b);
    for (int j = 0; j < 32; j++) y[j] = (float)(int8_t)b[2 + j] * d;
}

static void dq_iq4_nl(const uint8_t *b, float *y) { /* f16 d | qs[16] */
    float d = f16(b);
    const uint8_t *qs = b + 2;
    for (int j = 0; j < 16; j++) {
        y[j] = d * (float)fr_kvalues_iq4nl[qs[j] & 15];
        y[j + 16] = d * (float)fr_kvalues_iq4nl[qs[j] >> 4];
    }
}

static void dq_mxfp4(const uint8_t *b, float *y) { /* u8 e | qs[16] */
    float d = fr_e8m0_half(b[0]);
    const uint8_t *qs = b + 1;
    for (int j = 0; j < 16; j++) {
        y[j] = (float)fr_kvalues_mxfp4[qs[j] & 15] * d;
        y[j + 16] = (float)fr_kvalues_mxfp4[qs[j] >> 4] * d;
    }
}

/* ---- 256-element super-blocks -------------------------------------------- */

/* Q2_K: scales[16] | qs[64] | f16 d | f16 dmin.
 * Element e = 128*h + 32*j + l (h < 2, j < 4, l < 32): 2 bits at shift 2j of qs[32h + l];
 * sub-block s = 8h + 2j + l/16 with scale d*(scales[s] & 15) and min dmin*(scales[s] >> 4). */
static void dq_q2_k(const uint8_t *b, float *y) {
    const uint8_t *sc = b, *qs = b + 16;
    float d = f16(b + 80), dmin = f16(b + 82);
    for (int h = 0; h < 2; h++)
        for (int j = 0; j < 4; j++)
            for (int half = 0; half < 2; half++) {
                int s = 8 * h + 2 * j + half;
                float dl = d * (float)(sc[s] & 15), ml = dmin * (float)(sc[s] >> 4);
                for (int l = 16 * half; l < 16 * half + 16; l++)
                    y[128 * h + 32 * j + l] = dl * (float)((qs[32 * h + l] >> (2 * j)) & 3) - ml;
            }
}

/* Q3_K: hmask[32] | qs[64] | scales[12] | f16 d.
 * Element e = 128*h + 32*j + l: low 2 bits as Q2_K; the value is q - 4 unless bit
 * (4h + j) of hmask[l] is set. Sixteen 6-bit scales (minus 32): the low 4 bits of
 * scale s are the low (s < 8) or high (s >= 8) nibble of scales[s % 8], the high 2
 * bits are bits 2*(s/4).. of scales[8 + s % 4]. */
static void dq_q3_k(const uint8_t *b, float *y) {
    const uint8_t *hm = b, *qs = b + 32, *sc = b + 96;
    float d = f16(b + 108);
    int scale[16];
    for (int s = 0; s < 16; s++) {
        int lo = s < 8 ? sc[s] & 15 : sc[s - 8] >> 4;
        int hi = (sc[8 + s % 4] >> (2 * (s / 4))) & 3;
        scale[s] = (lo | hi << 4) - 32;
    }
    for (int h = 0; h < 2; h++)
        for (int j = 0; j < 4; j++)
            for (int half = 0; half < 2; half++) {
                float dl = d * (float)scale[8 * h + 2 * j + half];
                for (int l = 16 * half; l < 16 * half + 16; l++) {
                    int q = (qs[32 * h + l] >> (2 * j)) & 3;
                    int high = hm[l] & (1 << (4 * h + j));
                    y[128 * h + 32 * j + l] = dl * (float)(q - (high ? 0 : 4));
                }
            }
}

/* 6-bit scale and min of sub-block j (of 8) packed in 12 bytes (Q4_K, Q5_K) */
static void scale_min_k4(int j, const uint8_t *q, int *sc, int *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 15) | (q[j - 4] >> 6) << 4;
        *m = (q[j + 4] >> 4) | (q[j] >> 6) << 4;
    }
}

/* Q4_K: f16 d | f16 dmin | scales[12] | qs[128].
 * Chunk c (of 4, 64 elements): low nibbles of qs[32c..32c+32) use sub-block 2c,
 * high nibbles sub-block 2c+1; x = d*sc * q - dmin*m. */
static void dq_q4_k(const uint8_t *b, float *y) {
    float d = f16(b), dmin = f16(b + 2);
    const uint8_t *sc = b + 4, *qs = b + 16;
    for (int c = 0; c < 4; c++) {
        int s0, m0, s1, m1;
        scale_min_k4(2 * c, sc, &s0, &m0);
        scale_min_k4(2 * c + 1, sc, &s1, &m1);
        float d0 = d * (float)s0, mm0 = dmin * (float)m0, d1 = d * (float)s1, mm1 = dmin * (float)m1;
        const uint8_t *q = qs + 32 * c;
        for (int l = 0; l < 32; l++) y[64 * c + l] = d0 * (float)(q[l] & 15) - mm0;
        for (int l = 0; l < 32; l++) y[64 * c + 32 + l] = d1 * (float)(q[l] >> 4) - mm1;
    }
}

/* Q5_K: f16 d | f16 dmin | scales[12] | qh[32] | qs[128]; as Q4_K plus a 5th bit:
 * bit 2c of qh[l] for the low-nibble element, bit 2c+1 for the high one. */
static void dq_q5_k(const uint8_t *b, float *y) {
    float d = f16(b), dmin = f16(b + 2);
    const uint8_t *sc = b + 4, *qh = b + 16, *qs = b + 48;
    for (int c = 0; c < 4; c++) {
        int s0, m0, s1, m1;
        scale_min_k4(2 * c, sc, &s0, &m0);
        scale_min_k4(2 * c + 1, sc, &s1, &m1);
        float d0 = d * (float)s0, mm0 = dmin * (float)m0, d1 = d * (float)s1, mm1 = dmin * (float)m1;
        const uint8_t *q = qs + 32 * c;
        for (int l = 0; l < 32; l++)
            y[64 * c + l] = d0 * (float)((q[l] & 15) + ((qh[l] >> (2 * c)) & 1) * 16) - mm0;
        for (int l = 0; l < 32; l++)
            y[64 * c + 32 + l] = d1 * (float)((q[l] >> 4) + ((qh[l] >> (2 * c + 1)) & 1) * 16) - mm1;
    }
}

/* Q6_K: ql[128] | qh[64] | i8 scales[16] | f16 d.
 * Half h (128 elements) uses ql[64h..], qh[32h..], scales[8h..]. For l < 32 and
 * quarter k < 4, element 128h + 32k + l is
 *   low 4 bits: ql[64h + l + 32*(k & 1)], low nibble for k < 2, high for k >= 2
 *   high 2 bits: bits 2k.. of qh[32h + l]
 * minus 32, times d * scales[8h + 2k + l/16]. */
static void dq_q6_k(const uint8_t *b, float *y) {
    const uint8_t *ql = b, *qh = b + 128;
    const int8_t *sc = (const int8_t *)(b + 192);
    float d = f16(b + 208);
    for (int h = 0; h < 2; h++)
        for (int l = 0; l < 32; l++)
            for (int k = 0; k < 4; k++) {
                int lo = ql[64 * h + l + 32 * (k & 1)];
                lo = k < 2 ? lo & 15 : lo >> 4;
                int q = (lo | ((qh[32 * h + l] >> (2 * k)) & 3) << 4) - 32;
                y[128 * h + 32 * k + l] = d * (float)sc[8 * h + 2 * k + l / 16] * (float)q;
            }
}

/* IQ4_XS: f16 d | u16 scales_h | scales_l[4] | qs[128]. Sub-block s (of 8, 32 elements):
 * 6-bit scale = nibble (s & 1) of scales_l[s/2] | bits 2s.. of scales_h << 4, minus 32;
 * qs[16s..16s+16) decode like IQ4_NL with d * scale. */
static void dq_iq4_xs(const uint8_t *b, float *y) {
    float d = f16(b);
    unsigned sh = (unsigned)b[2] | (unsigned)b[3] << 8;
    const uint8_t *sl = b + 4, *qs = b + 8;
    for (int s = 0; s < 8; s++) {
        int ls = ((sl[s / 2] >> (4 * (s % 2))) & 15) | (int)((sh >> (2 * s)) & 3) << 4;
        float dl = d * (float)(ls - 32);
        const uint8_t *q = qs + 16 * s;
        for (int j = 0; j < 16; j++) {
            y[32 * s + j] = dl * (float)fr_kvalues_iq4nl[q[j] & 15];
            y[32 * s + j + 16] = dl * (float)fr_kvalues_iq4nl[q[j] >> 4];
        }
    }
}

typedef void (*dq_fn)(const uint8_t *, float *);

void fr_ggml_dequant(fr_dtype t, const void *src, float *dst, int64_t n) {
    dq_fn f;
    switch (t) {
    case FR_DT_Q4_0: f = dq_q4_0; break;
    case FR_DT_Q4_1: f = dq_q4_1; break;
    case FR_DT_Q5_0: f = dq_q5_0; break;
    case FR_DT_Q5_1: f = dq_q5_1; break;
    case FR_DT_Q8_0: f = dq_q8_0; break;
    case FR_DT_Q2_K: f = dq_q2_k; break;
    case FR_DT_Q3_K: f = dq_q3_k; break;
    case FR_DT_Q4_K: f = dq_q4_k; break;
    case FR_DT_Q5_K: f = dq_q5_k; break;
    case FR_DT_Q6_K: f = dq_q6_k; break;
    case FR_DT_IQ4_NL: f = dq_iq4_nl; break;
    case FR_DT_IQ4_XS: f = dq_iq4_xs; break;
    case FR_DT_MXFP4: f = dq_mxfp4; break;
    default: memset(dst, 0, (size_t)n * sizeof *dst); return;
    }
    const fr_dtype_info *di = fr_dtype_get(t);
    const uint8_t *p = src;
    for (int64_t i = 0; i < n / di->block; i++) f(p + i * di->block_bytes, dst + i * di->block);
}

int fr_dtype_from_ggml(uint32_t g) {
    switch (g) {
    case 0: return FR_DT_F32;
    case 1: return FR_DT_F16;
    case 2: return FR_DT_Q4_0;
    case 3: return FR_DT_Q4_1;
    case 6: return FR_DT_Q5_0;
    case 7: return FR_DT_Q5_1;
    case 8: return FR_DT_Q8_0;
    case 10: return FR_DT_Q2_K;
    case 11: return FR_DT_Q3_K;
    case 12: return FR_DT_Q4_K;
    case 13: return FR_DT_Q5_K;
    case 14: return FR_DT_Q6_K;
    case 20: return FR_DT_IQ4_NL;
    case 23: return FR_DT_IQ4_XS;
    case 30: return FR_DT_BF16;
    case 39: return FR_DT_MXFP4;
    default: return -1;
    }
}
