/* Reference integer kernels: ggml block weights times int8 activations
 * (kernels.h, fr_qx), in plain loops. Per weight block the products are summed
 * exactly in int32 and scaled in float once:
 *   Q8_0, Q4_0, Q5_0 (X in blocks of 32):
 *       y += (d_w * d_x) * sum_i w_i q_i         w = q8 | nibble - 8 | q5 - 16
 *   Q4_K, Q5_K (X in blocks of 256; 8 sub-blocks j of 32, 6-bit scale sc_j, min m_j):
 *       y += d_x * (d * sum_j sc_j sum_i w_i q_i  -  dmin * sum_j m_j sum_i q_i)
 *   Q6_K (16 sub-blocks of 16, int8 scales sc_j, w = q6 - 32):
 *       y += (d_x * d) * sum_j sc_j sum_i w_i q_i
 * and the other GGUF types (T = sum_i u_i q_i over a block or sub-block, S =
 * sum_i q_i over the same, both exact):
 *   Q4_1, Q5_1 (blocks of 32, u = nibble | 5-bit value, w = d u + m):
 *       y += (d * d_x) * T + (m * d_x) * S
 *   IQ4_NL (blocks of 32, w = d kv[nibble], kv the 16 int8 levels of iq4nl),
 *   MXFP4  (blocks of 32, w = 2^(e - 128) kv[nibble], kv the E2M1 levels x 2):
 *       y += (d * d_x) * sum_i kv_i q_i
 *   Q2_K (16 sub-blocks of 16, 4-bit scale sc_j and min m_j, u 2 bits):
 *       y += d_x * (d * sum_j sc_j T_j  -  dmin * sum_j m_j S_j)
 *   Q3_K (16 sub-blocks of 16, 6-bit scales sc_j - 32, w = u - 4, u 3 bits):
 *       y += (d_x * d) * sum_j sc_j (T_j - 4 S_j)
 *   IQ4_XS (8 sub-blocks of 32, 6-bit scales sc_j - 32, w = kv[nibble]):
 *       y += (d_x * d) * sum_j sc_j sum_i kv_i q_i
 * the same sums llama.cpp's vec_dot kernels form. The SIMD kernels add the same
 * integers (exactly) and differ only in the order of the float additions. */
#include <string.h>

#include "kernels/generic/generic.h"
#include "tensor/ggml_quants.h"

static float f16(const uint8_t *p) { return fr_f16_to_f32((uint16_t)(p[0] | p[1] << 8)); }

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

/* The 32 signed weights of a Q8_0/Q4_0/Q5_0 block; returns d. */
static float unpack32(fr_dtype dt, const uint8_t *b, int *w) {
    switch (dt) {
    case FR_DT_Q8_0:
        for (int i = 0; i < 32; i++) w[i] = (int8_t)b[2 + i];
        break;
    case FR_DT_Q4_0:
        for (int i = 0; i < 16; i++) w[i] = (b[2 + i] & 15) - 8, w[i + 16] = (b[2 + i] >> 4) - 8;
        break;
    default: { /* Q5_0: qh bit i is element i's 5th bit */
        uint32_t qh = (uint32_t)b[2] | (uint32_t)b[3] << 8 | (uint32_t)b[4] << 16 | (uint32_t)b[5] << 24;
        for (int i = 0; i < 16; i++) {
            w[i] = ((b[6 + i] & 15) | (int)((qh >> i) & 1) << 4) - 16;
            w[i + 16] = ((b[6 + i] >> 4) | (int)((qh >> (i + 16)) & 1) << 4) - 16;
        }
        break;
    }
    }
    return f16(b);
}


/* The 32-element blocks of the other types: y += ... as above */
static float dot32_other(fr_dtype dt, const uint8_t *b, const int8_t *x, float dx) {
    int T = 0, S = 0;
    for (int i = 0; i < 32; i++) S += x[i];
    switch (dt) {
    case FR_DT_Q4_1:
        for (int i = 0; i < 16; i++) T += (b[4 + i] & 15) * x[i] + (b[4 + i] >> 4) * x[i + 16];
        return (f16(b) * dx) * (float)T + (f16(b + 2) * dx) * (float)S;
    case FR_DT_Q5_1: {
        uint32_t qh = (uint32_t)b[4] | (uint32_t)b[5] << 8 | (uint32_t)b[6] << 16 | (uint32_t)b[7] << 24;
        for (int i = 0; i < 16; i++)
            T += ((b[8 + i] & 15) | (int)((qh >> i) & 1) << 4) * x[i] +
                 ((b[8 + i] >> 4) | (int)((qh >> (i + 16)) & 1) << 4) * x[i + 16];
        return (f16(b) * dx) * (float)T + (f16(b + 2) * dx) * (float)S;
    }
    case FR_DT_IQ4_NL:
        for (int i = 0; i < 16; i++) T += fr_kvalues_iq4nl[b[2 + i] & 15] * x[i] + fr_kvalues_iq4nl[b[2 + i] >> 4] * x[i + 16];
        return (f16(b) * dx) * (float)T;
    default: /* MXFP4: u8 e | qs[16]; 2^(e - 128) exactly (subnormal for e < 2) */
        for (int i = 0; i < 16; i++) T += fr_kvalues_mxfp4[b[1 + i] & 15] * x[i] + fr_kvalues_mxfp4[b[1 + i] >> 4] * x[i + 16];
        return (fr_e8m0_half(b[0]) * dx) * (float)T;
    }
}

/* The 256-element blocks of the other types (s: the 16 sums of 16 activations) */
static float dot256_other(fr_dtype dt, const uint8_t *b, const int8_t *x, const int16_t *s, float dx) {
    if (dt == FR_DT_Q2_K) { /* scales[16] | qs[64] | f16 d | f16 dmin; element 128h + 32j + l: bits 2j of
                             * qs[32h + l], sub-block e / 16 */
        int sum = 0, msum = 0;
        for (int e = 0; e < 256; e += 16) {
            const int h = e / 128, j = e % 128 / 32, sb = e / 16;
            int T = 0;
            for (int l = e % 32; l < e % 32 + 16; l++)
                T += ((b[16 + 32 * h + l] >> (2 * j)) & 3) * x[128 * h + 32 * j + l];
            sum += (b[sb] & 15) * T;
            msum += (b[sb] >> 4) * s[sb];
        }
        return dx * (f16(b + 80) * (float)sum - f16(b + 82) * (float)msum);
    }
    if (dt == FR_DT_Q3_K) { /* hmask[32] | qs[64] | scales[12] | f16 d; u = 2 bits | bit 4h + j of hmask[l] << 2 */
        const uint8_t *sc = b + 96;
        int sum = 0;
        for (int e = 0; e < 256; e += 16) {
            const int h = e / 128, j = e % 128 / 32, sb = e / 16;
            int T = 0;
            for (int l = e % 32; l < e % 32 + 16; l++)
                T += (((b[32 + 32 * h + l] >> (2 * j)) & 3) | ((b[l] >> (4 * h + j)) & 1) << 2) *
                     x[128 * h + 32 * j + l];
            const int lo = sb < 8 ? sc[sb] & 15 : sc[sb - 8] >> 4, hi = (sc[8 + sb % 4] >> (2 * (sb / 4))) & 3;
            sum += ((lo | hi << 4) - 32) * (T - 4 * s[sb]);
        }
        return (dx * f16(b + 108)) * (float)sum;
    }
    /* IQ4_XS: f16 d | u16 scales_h | scales_l[4] | qs[128] */
    const unsigned sh = (unsigned)b[2] | (unsigned)b[3] << 8;
    int sum = 0;
    for (int j = 0; j < 8; j++) {
        const int ls = ((b[4 + j / 2] >> (4 * (j % 2))) & 15) | (int)((sh >> (2 * j)) & 3) << 4;
        const uint8_t *q = b + 8 + 16 * j;
        int T = 0;
        for (int i = 0; i < 16; i++)
            T += fr_kvalues_iq4nl[q[i] & 15] * x[32 * j + i] + fr_kvalues_iq4nl[q[i] >> 4] * x[32 * j + 16 + i];
        sum += (ls - 32) * T;
    }
    return (dx * f16(b)) * (float)sum;
}

/* One weight row (nb blocks at w) times one quantized activation row. */
static float dot_row(fr_dtype dt, const uint8_t *w, size_t bb, int64_t nb, const int8_t *q, const float *dx,
                     const int16_t *s) {
    float acc = 0;
    int v[256];
    for (int64_t b = 0; b < nb; b++, w += bb) {
        if (dt == FR_DT_Q4_1 || dt == FR_DT_Q5_1 || dt == FR_DT_IQ4_NL || dt == FR_DT_MXFP4) {
            acc += dot32_other(dt, w, q + 32 * b, dx[b]);
            continue;
        }
        if (dt == FR_DT_Q2_K || dt == FR_DT_Q3_K || dt == FR_DT_IQ4_XS) {
            acc += dot256_other(dt, w, q + 256 * b, s + 16 * b, dx[b]);
            continue;
        }
        if (dt == FR_DT_Q8_0 || dt == FR_DT_Q4_0 || dt == FR_DT_Q5_0) {
            float d = unpack32(dt, w, v);
            const int8_t *x = q + 32 * b;
            int sum = 0;
            for (int i = 0; i < 32; i++) sum += v[i] * x[i];
            acc += (d * dx[b]) * (float)sum;
            continue;
        }
        const int8_t *x = q + 256 * b;
        const int16_t *bs = s + 16 * b;
        if (dt == FR_DT_Q6_K) { /* ql[128] | qh[64] | i8 scales[16] | f16 d; layout as in ggml_quants.c */
            const uint8_t *ql = w, *qh = w + 128;
            const int8_t *sc = (const int8_t *)(w + 192);
            for (int h = 0; h < 2; h++)
                for (int l = 0; l < 32; l++)
                    for (int k = 0; k < 4; k++) {
                        int lo = ql[64 * h + l + 32 * (k & 1)];
                        lo = k < 2 ? lo & 15 : lo >> 4;
                        v[128 * h + 32 * k + l] = (lo | ((qh[32 * h + l] >> (2 * k)) & 3) << 4) - 32;
                    }
            int sum = 0;
            for (int j = 0; j < 16; j++) {
                int sj = 0;
                for (int i = 0; i < 16; i++) sj += v[16 * j + i] * x[16 * j + i];
                sum += sc[j] * sj;
            }
            acc += (dx[b] * f16(w + 208)) * (float)sum;
            continue;
        }
        /* Q4_K: f16 d | f16 dmin | scales[12] | qs[128]; Q5_K: qh[32] before qs */
        const uint8_t *qs = w + (dt == FR_DT_Q5_K ? 48 : 16), *qh = w + 16;
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++) {
                int lo = qs[32 * c + l] & 15, hi = qs[32 * c + l] >> 4;
                if (dt == FR_DT_Q5_K) lo |= ((qh[l] >> (2 * c)) & 1) << 4, hi |= ((qh[l] >> (2 * c + 1)) & 1) << 4;
                v[64 * c + l] = lo;
                v[64 * c + 32 + l] = hi;
            }
        int sum = 0, msum = 0;
        for (int j = 0; j < 8; j++) {
            int sc, m, sj = 0;
            scale_min_k4(j, w + 4, &sc, &m);
            for (int i = 0; i < 32; i++) sj += v[32 * j + i] * x[32 * j + i];
            sum += sc * sj;
            msum += m * (bs[2 * j] + bs[2 * j + 1]);
        }
        acc += dx[b] * (f16(w) * (float)sum - f16(w + 2) * (float)msum);
    }
    return acc;
}

void fr_matmul_q_generic(const fr_tensor *W, const fr_qx *X, float *Y, int64_t r0, int64_t r1) {
    const int64_t rows = fr_rows(W), cols = X->cols, nb = cols / fr_dtype_get(W->dtype)->block;
    const size_t rb = fr_row_bytes(W), bb = fr_dtype_get(W->dtype)->block_bytes;
    for (int64_t r = r0; r < r1; r++)
        for (int t = 0; t < X->n; t++)
            Y[(int64_t)t * rows + r] = dot_row(W->dtype, (const uint8_t *)W->data + (size_t)r * rb, bb, nb,
                                               X->q + t * cols, X->d + t * (cols / X->blk), X->s + t * (cols / 16));
}
