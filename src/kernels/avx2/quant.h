/* AVX2 matmul kernels for ggml block-quantized weights (Q8_0, Q4_0, Q5_0, Q4_K,
 * Q5_K, Q6_K), included by avx2/kernels.c; the AVX-512 file avx512/quant.h
 * with 8-float vectors: each 32-weight group of a block is dequantized in
 * registers (four vectors, the same products as the generic decoder) and
 * FMAed with float32 activations (read from L1 at each use: 16 registers hold
 * the decoded weights and the QRB x TB sums). */
#include <string.h>

#include "kernels/kernels.h"
#include "tensor/ggml_quants.h"

#define QAI __attribute__((always_inline)) inline
#define QRB 4    /* weight rows per tile */
#define QTBMAX 2 /* tokens per tile, at most */

static QAI float qf16(const uint8_t *p) { return _cvtsh_ss((unsigned short)(p[0] | p[1] << 8)); } /* exact */

/* The float sub-block scales of a K-type block at b, once per block (the same
 * products as the generic decoder): Q4_K/Q5_K: sc[j] = d * scale j, mn[j] =
 * dmin * min j (j < 8); Q6_K: sc[j] = d * scales[j] (j < 16). */
static QAI void qprep(const int dt, const uint8_t *b, float *sc, float *mn) {
    if (dt == FR_DT_Q6_K) {
        __m128i s8 = _mm_loadu_si128((const __m128i *)(const void *)(b + 192));
        __m256 d = _mm256_set1_ps(qf16(b + 208));
        _mm256_storeu_ps(sc, _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(s8))));
        _mm256_storeu_ps(sc + 8, _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(s8, 8)))));
        return;
    }
    uint32_t u0, u1, u2;
    memcpy(&u0, b + 4, 4), memcpy(&u1, b + 8, 4), memcpy(&u2, b + 12, 4);
    /* scales 0..3: low 6 bits of bytes 0..3; 4..7: low nibbles of bytes 8..11 | top 2 bits of bytes 0..3 << 4;
     * mins the same from bytes 4..7 and the high nibbles of bytes 8..11 */
    uint64_t s8 = (uint64_t)(u0 & 0x3f3f3f3fu) | (uint64_t)((u2 & 0x0f0f0f0fu) | ((u0 >> 6) & 0x03030303u) << 4) << 32;
    uint64_t m8 = (uint64_t)(u1 & 0x3f3f3f3fu) | (uint64_t)(((u2 >> 4) & 0x0f0f0f0fu) | ((u1 >> 6) & 0x03030303u) << 4) << 32;
    __m256 sf = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)s8)));
    __m256 mf = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)m8)));
    _mm256_storeu_ps(sc, _mm256_mul_ps(_mm256_set1_ps(qf16(b)), sf));
    _mm256_storeu_ps(mn, _mm256_mul_ps(_mm256_set1_ps(qf16(b + 2)), mf));
}

/* 32 bytes (u: unsigned, else signed) as 4 vectors of 8 floats */
static QAI void q32f(__m256i q, int u, __m256 *f) {
    __m128i a = _mm256_castsi256_si128(q), b = _mm256_extracti128_si256(q, 1);
    __m128i p[4] = {a, _mm_srli_si128(a, 8), b, _mm_srli_si128(b, 8)};
    for (int v = 0; v < 4; v++) f[v] = _mm256_cvtepi32_ps(u ? _mm256_cvtepu8_epi32(p[v]) : _mm256_cvtepi8_epi32(p[v]));
}

/* Group g (32 consecutive weights) of the block at b as w[0..4) (8 each);
 * sc, mn: qprep's scales (K types) */
static QAI void qdeq(const int dt, const uint8_t *b, int g, const float *sc, const float *mn, __m256 *w) {
    __m256 f[4];
    switch (dt) {
    case FR_DT_Q8_0: { /* f16 d | i8 qs[32] */
        __m256 d = _mm256_set1_ps(qf16(b));
        q32f(_mm256_loadu_si256((const __m256i *)(const void *)(b + 2)), 0, f);
        for (int v = 0; v < 4; v++) w[v] = _mm256_mul_ps(f[v], d);
        break;
    }
    case FR_DT_Q4_0: { /* f16 d | qs[16]: low nibbles elements 0..15, high 16..31; (q - 8) * d */
        __m256 d = _mm256_set1_ps(qf16(b));
        __m128i q = _mm_loadu_si128((const __m128i *)(const void *)(b + 2)), m4 = _mm_set1_epi8(15);
        __m256i qq = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(q, 4), m4), _mm_and_si128(q, m4));
        q32f(_mm256_sub_epi8(qq, _mm256_set1_epi8(8)), 0, f);
        for (int v = 0; v < 4; v++) w[v] = _mm256_mul_ps(f[v], d);
        break;
    }
    case FR_DT_Q5_0: { /* f16 d | qh[4] | qs[16]: element j has bit j of the u32 qh as its 5th bit; (q - 16) * d */
        __m256 d = _mm256_set1_ps(qf16(b));
        uint32_t qh;
        memcpy(&qh, b + 2, 4);
        __m128i q = _mm_loadu_si128((const __m128i *)(const void *)(b + 6)), m4 = _mm_set1_epi8(15);
        __m256i qq = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(q, 4), m4), _mm_and_si128(q, m4));
        /* byte j of hb = byte j/8 of qh; keep bit j%8: 0x10 where set */
        __m256i hb = _mm256_shuffle_epi8(_mm256_set1_epi32((int)qh),
                                         _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2,
                                                          2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
        const __m256i bits = _mm256_set1_epi64x(0x8040201008040201LL);
        hb = _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(hb, bits), bits), _mm256_set1_epi8(16));
        q32f(_mm256_sub_epi8(_mm256_or_si256(qq, hb), _mm256_set1_epi8(16)), 0, f);
        for (int v = 0; v < 4; v++) w[v] = _mm256_mul_ps(f[v], d);
        break;
    }
    case FR_DT_Q4_K:
    case FR_DT_Q5_K: { /* f16 d | f16 dmin | scales[12] | (Q5_K: qh[32]) | qs[128] */
        const int c = g >> 1, hi = g & 1;
        __m256 dl = _mm256_set1_ps(sc[g]), ml = _mm256_set1_ps(mn[g]);
        __m256i q = _mm256_loadu_si256((const __m256i *)(const void *)(b + (dt == FR_DT_Q4_K ? 16 : 48) + 32 * c));
        q = _mm256_and_si256(_mm256_srli_epi16(q, 4 * hi), _mm256_set1_epi8(15));
        if (dt == FR_DT_Q5_K) { /* 5th bit: bit g of qh[l] */
            __m256i h = _mm256_loadu_si256((const __m256i *)(const void *)(b + 16));
            h = _mm256_and_si256(_mm256_srli_epi16(h, g), _mm256_set1_epi8(1));
            q = _mm256_or_si256(q, _mm256_slli_epi16(h, 4));
        }
        q32f(q, 1, f);
        /* d*sc * q - dmin*m, two roundings as the generic decoder */
        for (int v = 0; v < 4; v++) w[v] = _mm256_sub_ps(_mm256_mul_ps(dl, f[v]), ml);
        break;
    }
    default: { /* Q6_K: ql[128] | qh[64] | i8 scales[16] | f16 d; g = 4h + k */
        const int h = g >> 2, k = g & 3;
        const uint8_t *ql = b + 64 * h + 32 * (k & 1), *qh = b + 128 + 32 * h;
        __m256i l = _mm256_loadu_si256((const __m256i *)(const void *)ql);
        __m256i hb = _mm256_loadu_si256((const __m256i *)(const void *)qh);
        l = _mm256_and_si256(_mm256_srli_epi16(l, k < 2 ? 0 : 4), _mm256_set1_epi8(15));
        hb = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2 * k), _mm256_set1_epi8(3)), 4);
        q32f(_mm256_sub_epi8(_mm256_or_si256(l, hb), _mm256_set1_epi8(32)), 0, f);
        /* (d * scale) * q as the generic decoder */
        __m256 s0 = _mm256_set1_ps(sc[2 * g]), s1 = _mm256_set1_ps(sc[2 * g + 1]);
        w[0] = _mm256_mul_ps(s0, f[0]), w[1] = _mm256_mul_ps(s0, f[1]);
        w[2] = _mm256_mul_ps(s1, f[2]), w[3] = _mm256_mul_ps(s1, f[3]);
        break;
    }
    }
}

static QAI float qhsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* out[i*TB + j] = W row wr[i] . x row xr[j] over nb blocks */
static QAI void qtile(const int dt, const int TB, const uint8_t *const *wr, const float *const *xr, int64_t nb,
                      float *out) {
    const fr_dtype_info *di = fr_dtype_get(dt);
    const int64_t bs = di->block, bb = di->block_bytes;
    const int ng = (int)(bs / 32);
    __m256 acc[QRB][QTBMAX];
    for (int i = 0; i < QRB; i++)
        for (int j = 0; j < TB; j++) acc[i][j] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        float sc[QRB][16], mn[QRB][8];
        if (bs == 256)
            for (int i = 0; i < QRB; i++) qprep(dt, wr[i] + b * bb, sc[i], mn[i]);
        for (int g = 0; g < ng; g++) {
            const int64_t c = b * bs + 32 * g;
            for (int i = 0; i < QRB; i++) {
                __m256 w[4];
                qdeq(dt, wr[i] + b * bb, g, sc[i], mn[i], w);
                for (int j = 0; j < TB; j++)
                    for (int v = 0; v < 4; v++) acc[i][j] = _mm256_fmadd_ps(w[v], _mm256_loadu_ps(xr[j] + c + 8 * v), acc[i][j]);
            }
        }
    }
    for (int i = 0; i < QRB; i++)
        for (int j = 0; j < TB; j++) out[i * TB + j] = qhsum8(acc[i][j]);
}

/* QRB rows from r (rows past r1 repeat the last) x TB tokens from t */
static QAI void qrun_tile(const int dt, const int TB, const fr_tensor *W, const float *X, float *Y, int64_t r,
                         int64_t r1, int t) {
    const int64_t rows = fr_rows(W), cols = fr_cols(W), nb = cols / fr_dtype_get(dt)->block;
    const size_t rb = fr_row_bytes(W);
    const uint8_t *wr[QRB];
    const float *xr[QTBMAX];
    for (int i = 0; i < QRB; i++) wr[i] = (const uint8_t *)W->data + (size_t)(r + i < r1 ? r + i : r1 - 1) * rb;
    for (int j = 0; j < TB; j++) xr[j] = X + (int64_t)(t + j) * cols;
    float out[QRB * QTBMAX];
    qtile(dt, TB, wr, xr, nb, out);
    for (int i = 0; i < QRB && r + i < r1; i++)
        for (int j = 0; j < TB; j++) Y[(int64_t)(t + j) * rows + r + i] = out[i * TB + j];
}

static QAI void qmatmul_body(const int dt, const fr_tensor *W, const float *X, float *Y, int n, int64_t r0, int64_t r1) {
    const int64_t cols = fr_cols(W);
    /* tokens per block: their activations (cols floats each) fill about 384 KiB,
     * while the block's weight rows stream once */
    int64_t tb = (384 * 1024) / (cols * (int64_t)sizeof(float));
    int tblk = tb < QTBMAX ? QTBMAX : tb > 240 ? 240 : (int)(tb / QTBMAX * QTBMAX);
    for (int t0 = 0; t0 < n; t0 += tblk) {
        const int t1 = t0 + tblk < n ? t0 + tblk : n;
        for (int64_t r = r0; r < r1; r += QRB) {
            int t = t0;
            for (; t + QTBMAX <= t1; t += QTBMAX) qrun_tile(dt, QTBMAX, W, X, Y, r, r1, t);
            for (; t + 2 <= t1; t += 2) qrun_tile(dt, 2, W, X, Y, r, r1, t);
            for (; t < t1; t++) qrun_tile(dt, 1, W, X, Y, r, r1, t);
        }
    }
}

#define QMM(name, DT)                                                                                        \
    static void fr_avx2_matmul_##name(const fr_tensor *W, const float *X, float *Y, int n, int64_t r0,    \
                                        int64_t r1) {                                                        \
        qmatmul_body(DT, W, X, Y, n, r0, r1);                                                                \
    }
QMM(q8_0, FR_DT_Q8_0)
QMM(q4_0, FR_DT_Q4_0)
QMM(q5_0, FR_DT_Q5_0)
QMM(q4_k, FR_DT_Q4_K)
QMM(q5_k, FR_DT_Q5_K)
QMM(q6_k, FR_DT_Q6_K)
#undef QMM

#define QUANT_MATMUL_ENTRIES                                                                                 \
    [FR_DT_Q8_0] = fr_avx2_matmul_q8_0, [FR_DT_Q4_0] = fr_avx2_matmul_q4_0,                              \
    [FR_DT_Q5_0] = fr_avx2_matmul_q5_0,                              \
    [FR_DT_Q4_K] = fr_avx2_matmul_q4_k, [FR_DT_Q5_K] = fr_avx2_matmul_q5_k,                              \
    [FR_DT_Q6_K] = fr_avx2_matmul_q6_k,
