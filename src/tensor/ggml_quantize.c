/* float32 -> ggml blocks (the inverse of ggml_quants.c), round to nearest.
 * Each encoder picks the block scales from the block's range, then rounds every
 * element to the nearest representable value under those scales. */
#include <math.h>
#include <string.h>

#include "tensor/ggml_quants.h"

static void put16(uint8_t *p, float v) {
    uint16_t h = fr_f32_to_f16(v);
    p[0] = (uint8_t)h, p[1] = (uint8_t)(h >> 8);
}
static float rt16(float v) { return fr_f16_to_f32(fr_f32_to_f16(v)); } /* as stored */
static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }
static int nearest(float v) { return (int)lrintf(v); }

/* the element of largest magnitude, with its sign */
static float signed_max(const float *x, int n) {
    float m = 0, a = 0;
    for (int i = 0; i < n; i++)
        if (fabsf(x[i]) > a) a = fabsf(x[i]), m = x[i];
    return m;
}
static void minmax(const float *x, int n, float *mn, float *mx) {
    *mn = *mx = x[0];
    for (int i = 1; i < n; i++) *mn = x[i] < *mn ? x[i] : *mn, *mx = x[i] > *mx ? x[i] : *mx;
}

/* Least squares for a symmetric scale: with the codes q = round(x / a) fixed,
 * a = sum q x / sum q q; a few rounds, keeping the best. */
static float refit_sym(const float *x, int len, int qneg, int qpos, float a) {
    float best_a = a;
    double best = -1;
    for (int it = 0; it < 4 && a != 0; it++) {
        double sqq = 0, sqx = 0, err = 0;
        for (int i = 0; i < len; i++) {
            int q = clampi(nearest(x[i] / a), -qneg, qpos);
            double r = (double)a * q - x[i];
            err += r * r, sqq += (double)q * q, sqx += (double)q * x[i];
        }
        if (best < 0 || err < best) best = err, best_a = a;
        if (sqq <= 0) break;
        a = (float)(sqx / sqq);
    }
    return best_a;
}

/* ---- 32-element blocks --------------------------------------------------- */

static void q8_0(const float *x, uint8_t *b) {
    float amax = fabsf(signed_max(x, 32)), d = rt16(amax / 127.0f), id = d ? 1.0f / d : 0.0f;
    put16(b, amax / 127.0f);
    for (int j = 0; j < 32; j++) b[2 + j] = (uint8_t)(int8_t)clampi(nearest(x[j] * id), -127, 127);
}

/* symmetric 4/5-bit: the signed maximum maps to -8 / -16, so the range is used in full */
static void q4_0(const float *x, uint8_t *b) {
    float d = rt16(refit_sym(x, 32, 8, 7, signed_max(x, 32) / -8.0f)), id = d ? 1.0f / d : 0.0f;
    put16(b, d);
    for (int j = 0; j < 16; j++) {
        int lo = clampi(nearest(x[j] * id) + 8, 0, 15), hi = clampi(nearest(x[j + 16] * id) + 8, 0, 15);
        b[2 + j] = (uint8_t)(lo | hi << 4);
    }
}

static void q5_0(const float *x, uint8_t *b) {
    float d = rt16(refit_sym(x, 32, 16, 15, signed_max(x, 32) / -16.0f)), id = d ? 1.0f / d : 0.0f;
    put16(b, d);
    uint32_t qh = 0;
    for (int j = 0; j < 16; j++) {
        int lo = clampi(nearest(x[j] * id) + 16, 0, 31), hi = clampi(nearest(x[j + 16] * id) + 16, 0, 31);
        b[6 + j] = (uint8_t)((lo & 15) | (hi & 15) << 4);
        qh |= (uint32_t)(lo >> 4) << j | (uint32_t)(hi >> 4) << (j + 16);
    }
    for (int i = 0; i < 4; i++) b[2 + i] = (uint8_t)(qh >> (8 * i));
}

/* affine 4/5-bit: x = q*d + m */
static void q4_1(const float *x, uint8_t *b) {
    float mn, mx;
    minmax(x, 32, &mn, &mx);
    float d = rt16((mx - mn) / 15.0f), m = rt16(mn), id = d ? 1.0f / d : 0.0f;
    put16(b, d);
    put16(b + 2, mn);
    for (int j = 0; j < 16; j++) {
        int lo = clampi(nearest((x[j] - m) * id), 0, 15), hi = clampi(nearest((x[j + 16] - m) * id), 0, 15);
        b[4 + j] = (uint8_t)(lo | hi << 4);
    }
}

static void q5_1(const float *x, uint8_t *b) {
    float mn, mx;
    minmax(x, 32, &mn, &mx);
    float d = rt16((mx - mn) / 31.0f), m = rt16(mn), id = d ? 1.0f / d : 0.0f;
    put16(b, d);
    put16(b + 2, mn);
    uint32_t qh = 0;
    for (int j = 0; j < 16; j++) {
        int lo = clampi(nearest((x[j] - m) * id), 0, 31), hi = clampi(nearest((x[j + 16] - m) * id), 0, 31);
        b[8 + j] = (uint8_t)((lo & 15) | (hi & 15) << 4);
        qh |= (uint32_t)(lo >> 4) << j | (uint32_t)(hi >> 4) << (j + 16);
    }
    for (int i = 0; i < 4; i++) b[4 + i] = (uint8_t)(qh >> (8 * i));
}

static int nearest_nl(float v) {
    int best = 0;
    for (int k = 1; k < 16; k++)
        if (fabsf(v - fr_kvalues_iq4nl[k]) < fabsf(v - fr_kvalues_iq4nl[best])) best = k;
    return best;
}

/* IQ4_NL: the signed maximum maps to -127 (the table's largest magnitude) */
static void iq4_nl32(const float *x, float d, uint8_t *qs) {
    float id = d ? 1.0f / d : 0.0f;
    for (int j = 0; j < 16; j++) qs[j] = (uint8_t)(nearest_nl(x[j] * id) | nearest_nl(x[j + 16] * id) << 4);
}
static void iq4_nl(const float *x, uint8_t *b) {
    float d = rt16(signed_max(x, 32) / -127.0f);
    put16(b, d);
    iq4_nl32(x, d, b + 2);
}

static void mxfp4(const float *x, uint8_t *b) {
    float amax = fabsf(signed_max(x, 32));
    /* the scale 2^(e-128) times the largest code (12) should reach amax: e = ceil(log2(amax/12)) + 128 */
    int e = 0;
    if (amax > 0) e = clampi((int)ceilf(log2f(amax / 12.0f)) + 128, 0, 254);
    float d = fr_e8m0_half((uint8_t)e), id = 1.0f / d;
    b[0] = (uint8_t)e;
    for (int j = 0; j < 32; j++) {
        float v = x[j] * id;
        int best = 0;
        for (int k = 1; k < 16; k++)
            if (fabsf(v - fr_kvalues_mxfp4[k]) < fabsf(v - fr_kvalues_mxfp4[best])) best = k;
        if (j < 16) b[1 + j] = (uint8_t)best;
        else b[1 + j - 16] |= (uint8_t)(best << 4);
    }
}

/* ---- 256-element super-blocks -------------------------------------------- */

/* pack 8 six-bit scales and mins (inverse of the Q4_K/Q5_K decoder's layout) */
static void pack_k4(const int *sc, const int *m, uint8_t *q) {
    for (int j = 0; j < 4; j++) {
        q[j] = (uint8_t)((sc[j] & 63) | (sc[j + 4] >> 4) << 6);
        q[j + 4] = (uint8_t)((m[j] & 63) | (m[j + 4] >> 4) << 6);
        q[j + 8] = (uint8_t)((sc[j + 4] & 15) | (m[j + 4] & 15) << 4);
    }
}

/* affine sub-blocks (Q2_K: 16 x 16, levels 3, 4-bit scales; Q4_K/Q5_K: 8 x 32, levels
 * 15/31, 6-bit scales): x = d*sc*q - dmin*m. Fills sc, m, the super scales, q. */
/* A few rounds of least squares on one sub-block: with the codes q fixed, the
 * scale a and offset -b minimising sum (a q + b - x)^2 (b <= 0); then requantize.
 * Keeps the starting (min/max) fit when it is better. */
static void refit_affine(const float *x, int len, int levels, float *scale, float *minv) {
    float a = *scale, b = -*minv, best_a = a, best_b = b;
    double best = -1;
    for (int it = 0; it < 4; it++) {
        double sq = 0, sx = 0, sqq = 0, sqx = 0, err = 0;
        for (int i = 0; i < len; i++) {
            int q = a > 0 ? clampi(nearest((x[i] - b) / a), 0, levels) : 0;
            double r = (double)a * q + b - x[i];
            err += r * r;
            sq += q, sx += x[i], sqq += (double)q * q, sqx += (double)q * x[i];
        }
        if (best < 0 || err < best) best = err, best_a = a, best_b = b;
        double det = len * sqq - sq * sq;
        if (det <= 0) break;
        double na = (len * sqx - sq * sx) / det, nb = (sx - na * sq) / len;
        if (nb > 0) { /* the offset must stay <= 0: fit the scale alone */
            nb = 0;
            na = sqq > 0 ? sqx / sqq : 0;
        }
        if (na <= 0) break;
        a = (float)na, b = (float)nb;
    }
    *scale = best_a;
    *minv = -best_b;
}

static void affine_k(const float *x, int nsub, int len, int levels, int smax, int *sc, int *m, float *d_out,
                     float *dmin_out, int *q) {
    float scale[16], mins[16], maxs = 0, maxm = 0;
    for (int s = 0; s < nsub; s++) {
        float mn, mx;
        minmax(x + s * len, len, &mn, &mx);
        if (mn > 0) mn = 0; /* the offset is a non-negative multiple of dmin */
        scale[s] = (mx - mn) / (float)levels;
        mins[s] = -mn;
        refit_affine(x + s * len, len, levels, &scale[s], &mins[s]);
        maxs = scale[s] > maxs ? scale[s] : maxs;
        maxm = mins[s] > maxm ? mins[s] : maxm;
    }
    float d = rt16(maxs / (float)smax), dmin = rt16(maxm / (float)smax);
    for (int s = 0; s < nsub; s++) {
        sc[s] = d ? clampi(nearest(scale[s] / d), 0, smax) : 0;
        m[s] = dmin ? clampi(nearest(mins[s] / dmin), 0, smax) : 0;
        float ds = d * (float)sc[s], dm = dmin * (float)m[s];
        for (int i = 0; i < len; i++)
            q[s * len + i] = ds ? clampi(nearest((x[s * len + i] + dm) / ds), 0, levels) : 0;
    }
    *d_out = d;
    *dmin_out = dmin;
}

static void q2_k(const float *x, uint8_t *b) {
    int sc[16], m[16], q[256];
    float d, dmin;
    affine_k(x, 16, 16, 3, 15, sc, m, &d, &dmin, q);
    for (int s = 0; s < 16; s++) b[s] = (uint8_t)(sc[s] | m[s] << 4);
    memset(b + 16, 0, 64);
    /* element 128h + 32j + l -> bits 2j of qs[32h + l] */
    for (int e = 0; e < 256; e++) b[16 + 32 * (e / 128) + e % 32] |= (uint8_t)(q[e] << (2 * ((e % 128) / 32)));
    put16(b + 80, d);
    put16(b + 82, dmin);
}

static void q4_k(const float *x, uint8_t *b) {
    int sc[8], m[8], q[256];
    float d, dmin;
    affine_k(x, 8, 32, 15, 63, sc, m, &d, &dmin, q);
    put16(b, d);
    put16(b + 2, dmin);
    pack_k4(sc, m, b + 4);
    for (int c = 0; c < 4; c++)
        for (int l = 0; l < 32; l++) b[16 + 32 * c + l] = (uint8_t)(q[64 * c + l] | q[64 * c + 32 + l] << 4);
}

static void q5_k(const float *x, uint8_t *b) {
    int sc[8], m[8], q[256];
    float d, dmin;
    affine_k(x, 8, 32, 31, 63, sc, m, &d, &dmin, q);
    put16(b, d);
    put16(b + 2, dmin);
    pack_k4(sc, m, b + 4);
    memset(b + 16, 0, 32);
    for (int c = 0; c < 4; c++)
        for (int l = 0; l < 32; l++) {
            int lo = q[64 * c + l], hi = q[64 * c + 32 + l];
            b[48 + 32 * c + l] = (uint8_t)((lo & 15) | (hi & 15) << 4);
            b[16 + l] |= (uint8_t)((lo >> 4) << (2 * c) | (hi >> 4) << (2 * c + 1));
        }
}

/* symmetric sub-blocks of 16 with signed integer scales under one super scale:
 * q in [-qneg, qpos], scales in [-smax-1, smax] */
static float symmetric_k(const float *x, int qneg, int smax, int *sc, int *q, int qpos) {
    float scale[16], amax = 0;
    for (int s = 0; s < 16; s++) {
        scale[s] = refit_sym(x + 16 * s, 16, qneg, qpos, signed_max(x + 16 * s, 16) / (float)-qneg);
        amax = fabsf(scale[s]) > amax ? fabsf(scale[s]) : amax;
    }
    float d = rt16(amax / (float)smax);
    for (int s = 0; s < 16; s++) {
        sc[s] = d ? clampi(nearest(scale[s] / d), -smax - 1, smax) : 0;
        float ds = d * (float)sc[s];
        for (int i = 0; i < 16; i++) q[16 * s + i] = ds ? clampi(nearest(x[16 * s + i] / ds), -qneg, qpos) : 0;
    }
    return d;
}

static void q3_k(const float *x, uint8_t *b) {
    int sc[16], q[256];
    float d = symmetric_k(x, 4, 31, sc, q, 3);
    memset(b, 0, 110);
    for (int e = 0; e < 256; e++) {
        int h = e / 128, j = (e % 128) / 32, l = e % 32, u = q[e] + 4; /* 0..7 */
        b[32 + 32 * h + l] |= (uint8_t)((u & 3) << (2 * j));
        if (u >= 4) b[l] |= (uint8_t)(1 << (4 * h + j));
    }
    /* 6-bit scales + 32: low nibbles in bytes 0..7 (s < 8 low, s >= 8 high), 2 high bits in bytes 8..11 */
    for (int s = 0; s < 16; s++) {
        int v = sc[s] + 32;
        if (s < 8) b[96 + s] |= (uint8_t)(v & 15);
        else b[96 + s - 8] |= (uint8_t)((v & 15) << 4);
        b[96 + 8 + s % 4] |= (uint8_t)((v >> 4) << (2 * (s / 4)));
    }
    put16(b + 108, d);
}

static void q6_k(const float *x, uint8_t *b) {
    int sc[16], q[256];
    float d = symmetric_k(x, 32, 127, sc, q, 31);
    memset(b, 0, 210);
    for (int e = 0; e < 256; e++) {
        int h = e / 128, k = (e % 128) / 32, l = e % 32, u = q[e] + 32; /* 0..63 */
        int li = 64 * h + l + 32 * (k & 1);
        b[li] |= (uint8_t)(k < 2 ? (u & 15) : (u & 15) << 4);
        b[128 + 32 * h + l] |= (uint8_t)((u >> 4) << (2 * k));
    }
    for (int s = 0; s < 16; s++) b[192 + s] = (uint8_t)(int8_t)sc[s];
    put16(b + 208, d);
}

static void iq4_xs(const float *x, uint8_t *b) {
    float scale[8], amax = 0;
    for (int s = 0; s < 8; s++) {
        scale[s] = signed_max(x + 32 * s, 32) / -127.0f;
        amax = fabsf(scale[s]) > amax ? fabsf(scale[s]) : amax;
    }
    float d = rt16(amax / 31.0f);
    memset(b, 0, 136);
    put16(b, d);
    unsigned sh = 0;
    for (int s = 0; s < 8; s++) {
        int ls = d ? clampi(nearest(scale[s] / d), -32, 31) : 0;
        int v = ls + 32;
        b[4 + s / 2] |= (uint8_t)((v & 15) << (4 * (s % 2)));
        sh |= (unsigned)(v >> 4) << (2 * s);
        iq4_nl32(x + 32 * s, d * (float)ls, b + 8 + 16 * s);
    }
    b[2] = (uint8_t)sh, b[3] = (uint8_t)(sh >> 8);
}

typedef void (*q_fn)(const float *, uint8_t *);

int fr_ggml_quantize(fr_dtype t, const float *x, void *dst, int64_t n) {
    uint8_t *o = dst;
    switch (t) {
    case FR_DT_F32: memcpy(dst, x, (size_t)n * 4); return 0;
    case FR_DT_F16:
        for (int64_t i = 0; i < n; i++) {
            uint16_t h = fr_f32_to_f16(x[i]);
            o[2 * i] = (uint8_t)h, o[2 * i + 1] = (uint8_t)(h >> 8);
        }
        return 0;
    case FR_DT_BF16:
        for (int64_t i = 0; i < n; i++) {
            uint16_t h = fr_f32_to_bf16(x[i]);
            o[2 * i] = (uint8_t)h, o[2 * i + 1] = (uint8_t)(h >> 8);
        }
        return 0;
    default: break;
    }
    q_fn f;
    switch (t) {
    case FR_DT_Q4_0: f = q4_0; break;
    case FR_DT_Q4_1: f = q4_1; break;
    case FR_DT_Q5_0: f = q5_0; break;
    case FR_DT_Q5_1: f = q5_1; break;
    case FR_DT_Q8_0: f = q8_0; break;
    case FR_DT_Q2_K: f = q2_k; break;
    case FR_DT_Q3_K: f = q3_k; break;
    case FR_DT_Q4_K: f = q4_k; break;
    case FR_DT_Q5_K: f = q5_k; break;
    case FR_DT_Q6_K: f = q6_k; break;
    case FR_DT_IQ4_NL: f = iq4_nl; break;
    case FR_DT_IQ4_XS: f = iq4_xs; break;
    case FR_DT_MXFP4: f = mxfp4; break;
    default: return -1;
    }
    const fr_dtype_info *di = fr_dtype_get(t);
    for (int64_t i = 0; i < n / di->block; i++) f(x + i * di->block, o + i * di->block_bytes);
    return 0;
}
