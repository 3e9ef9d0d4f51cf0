/* MLA attention over an I8 latent cache on AVX2 (included by
 * avx2/kernels.c): fr_i8_dots and fr_i8_wsum (layout and operations in
 * kernels.h), bit for bit the generic kernels (generic/attn_i8.c): the integer
 * sums are exact, the float steps the same multiplies and adds in the same
 * order.
 *
 * AVX2 has no vpdpbusd, and vpmaddubsw's int16 pair sums overflow here (a
 * stored byte up to 255 times an int8 up to 127, twice), so both kernels
 * multiply int16 pairs on vpmaddwd (16 products an instruction) and add the
 * int32 results: the bytes zero-extended as stored (value + 128; the +128's
 * share comes off the integer sums, as in the generic kernels).
 *   - scores: a 16-byte piece of a group (4 columns x 4 positions) is
 *     transposed by one vpshufb to [4 positions][4 columns] and widened: a
 *     head's 4 query values broadcast meet it, one vpmaddwd gives each
 *     position's two pair sums; 4 heads x 2 groups in registers (ai8_dots8).
 *   - values: a widened piece is [4 columns][4 positions] as stored; a head's
 *     4 weights of the group broadcast, one vpmaddwd gives each column's two
 *     pair sums; 4 heads x 8 columns (two pieces) in registers (ai8_vtile).
 * Per 16 products, one vpmaddwd and one vpaddd; the transposes and widenings
 * are shared by the 4 heads of a tile. */

#include <stdint.h>
#include <string.h>

#define AI8_PFD 4    /* groups ahead the scores prefetch */
#define AI8_MAXW 640 /* values a position may have here (queries laid out on the stack) */

/* 16 int16 at p */
static inline __m256i ai8_ld(const int16_t *p) { return _mm256_loadu_si256((const __m256i *)(const void *)p); }

/* the 4 x 4 byte transpose of a group's 16-byte piece: byte 4e + k <- byte 4k + e */
static inline __m128i ai8_tix(void) { return _mm_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15); }

/* Integer scores of 4 heads x G <= 2 groups over the steps [s0, s1) of 4
 * columns: qp [step][4 heads][16] int16 (a head's 4 values of the step,
 * repeated), kg the first group (gs bytes apart). acc[2h + g] lane 2e + k:
 * head h x position e of group g, the pair sum of columns 0-1 (k = 0) or 2-3
 * (k = 1) of each step. */
static inline __attribute__((always_inline)) void ai8_dots8(const int G, const int16_t *qp, const uint8_t *kg,
                                                            size_t gs, int s0, int s1, __m256i acc[8]) {
    const __m128i tix = ai8_tix();
    __m256i a[8]; /* in registers (acc is the caller's memory) */
    for (int i = 0; i < 8; i++) a[i] = _mm256_setzero_si256();
    for (int s = s0; s < s1; s++) {
        __m256i k[2];
        for (int g = 0; g < G; g++) {
            k[g] = _mm256_cvtepu8_epi16(_mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)(kg + g * gs + (size_t)s * 16)), tix));
            if (s % 4 == 0) _mm_prefetch((const char *)(kg + (AI8_PFD + g) * gs + (size_t)s * 16), _MM_HINT_T0);
        }
        for (int h = 0; h < 4; h++) {
            const __m256i q = ai8_ld(qp + ((size_t)s * 4 + h) * 16);
            for (int g = 0; g < G; g++) {
                a[2 * h + g] = _mm256_add_epi32(a[2 * h + g], _mm256_madd_epi16(k[g], q));
                Q0_CHAIN(a[2 * h + g]); /* no copy of each sum per step */
            }
        }
    }
    for (int i = 0; i < 8; i++) acc[i] = a[i];
}

/* a group's 4 positions' sums from lat and rope (lanes as ai8_dots8 leaves
 * them): il in the low 4 lanes, ir in the high 4 */
static inline __m256i ai8_pos4(__m256i lat, __m256i rope) {
    /* hadd: [l0 l1 r0 r1 | l2 l3 r2 r3] -> [l0 l1 l2 l3 | r0 r1 r2 r3] */
    return _mm256_permute4x64_epi64(_mm256_hadd_epi32(lat, rope), 0xd8);
}

static void PFX(i8_dots)(const int8_t *Q, const float *qd, const int32_t *qs, int m, const uint8_t *K, const float *kd,
                         int r, int dr, int n, float *S, int64_t lds) {
    const int w = r + dr, nsl = r / 4, ns = w / 4, ng = (n + 3) / 4;
    const size_t gs = (size_t)4 * w;
    int h0 = 0;
    if (r % 16 == 0 && dr % 16 == 0 && w <= AI8_MAXW) {
        int16_t qp[AI8_MAXW / 4 * 4 * 16]; /* [step][4 heads][16] */
        for (; h0 + 4 <= m; h0 += 4) {
            for (int s = 0; s < ns; s++)
                for (int h = 0; h < 4; h++) { /* 4 int8 -> int16, the qword to all 4 */
                    int32_t q4;
                    memcpy(&q4, Q + (size_t)(h0 + h) * w + 4 * s, 4);
                    const __m128i v = _mm_cvtepi8_epi16(_mm_cvtsi32_si128(q4));
                    _mm256_storeu_si256((__m256i *)(void *)(qp + ((size_t)s * 4 + h) * 16), _mm256_broadcastq_epi64(v));
                }
            __m128 qdl[4], qdr[4];
            __m128i qsl[4], qsr[4];
            for (int h = 0; h < 4; h++) {
                qdl[h] = _mm_set1_ps(qd[2 * (h0 + h)]), qdr[h] = _mm_set1_ps(qd[2 * (h0 + h) + 1]);
                qsl[h] = _mm_set1_epi32(128 * qs[2 * (h0 + h)]), qsr[h] = _mm_set1_epi32(128 * qs[2 * (h0 + h) + 1]);
            }
            for (int g = 0; g < ng; g += 2) {
                const int G = ng - g < 2 ? 1 : 2;
                __m256i lat[8], rope[8];
                if (G == 2) ai8_dots8(2, qp, K + g * gs, gs, 0, nsl, lat);
                else ai8_dots8(1, qp, K + g * gs, gs, 0, nsl, lat);
                if (dr == 0)
                    for (int i = 0; i < 8; i++) rope[i] = _mm256_setzero_si256();
                else if (G == 2) ai8_dots8(2, qp, K + g * gs, gs, nsl, ns, rope);
                else ai8_dots8(1, qp, K + g * gs, gs, nsl, ns, rope);
                for (int e = 0; e < G; e++) {
                    const float *k = kd + (size_t)(g + e) * 8; /* [2][4]: latent, rope scales */
                    const __m128 kl = _mm_loadu_ps(k), kr = _mm_loadu_ps(k + 4);
                    const int nv = n - 4 * (g + e) < 4 ? n - 4 * (g + e) : 4;
                    for (int h = 0; h < 4; h++) {
                        const __m256i t = ai8_pos4(lat[2 * h + e], rope[2 * h + e]);
                        const __m128 fl = _mm_cvtepi32_ps(_mm_sub_epi32(_mm256_castsi256_si128(t), qsl[h]));
                        const __m128 fr = _mm_cvtepi32_ps(_mm_sub_epi32(_mm256_extracti128_si256(t, 1), qsr[h]));
                        const __m128 a = _mm_mul_ps(qdl[h], kl), b = _mm_mul_ps(qdr[h], kr);
                        const __m128 v = _mm_add_ps(_mm_mul_ps(a, fl), _mm_mul_ps(b, fr));
                        float *o = S + (size_t)(h0 + h) * lds + 4 * (g + e);
                        if (nv == 4) _mm_storeu_ps(o, v);
                        else {
                            float f[4];
                            _mm_storeu_ps(f, v);
                            memcpy(o, f, (size_t)nv * sizeof *o);
                        }
                    }
                }
            }
        }
    }
    if (h0 < m) /* heads past the last 4, or a shape this kernel does not take */
        fr_i8_dots_generic(Q + (size_t)h0 * w, qd + 2 * h0, qs + 2 * h0, m - h0, K, kd, r, dr, n, S + (size_t)h0 * lds,
                           lds);
}

/* P kd of one head quantized to 8 bits (max -> 255) as the generic kernel
 * does, into the 4 ng weights wq (zero past n); returns the step (max / 255),
 * *sum the sum of the weights */
static inline float ai8_pquant(const float *p, const float *kl, int n, int ng, int16_t *wq, int32_t *sum) {
    __m256 mx = _mm256_setzero_ps();
    int i = 0;
    for (; i + 8 <= n; i += 8) mx = _mm256_max_ps(mx, _mm256_mul_ps(_mm256_loadu_ps(p + i), _mm256_loadu_ps(kl + i)));
    float m8[8];
    _mm256_storeu_ps(m8, mx);
    float m1 = 0;
    for (int k = 0; k < 8; k++) m1 = m8[k] > m1 ? m8[k] : m1;
    for (; i < n; i++) {
        const float v = p[i] * kl[i];
        m1 = v > m1 ? v : m1;
    }
    const float inv = m1 > 0 ? 255.0f / m1 : 0;
    const __m256 vi = _mm256_set1_ps(inv), half = _mm256_set1_ps(0.5f), lim = _mm256_set1_ps(256.0f);
    __m256i sv = _mm256_setzero_si256();
    for (i = 0; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_add_ps(_mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(p + i), _mm256_loadu_ps(kl + i)), vi), half);
        const __m256 ok = _mm256_and_ps(_mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_GE_OQ), _mm256_cmp_ps(v, lim, _CMP_LT_OQ));
        const __m256i q = _mm256_and_si256(_mm256_cvttps_epi32(v), _mm256_castps_si256(ok)); /* 0 .. 255; NaN: 0 */
        sv = _mm256_add_epi32(sv, q);
        const __m128i q16 = _mm_packs_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
        _mm_storeu_si128((__m128i *)(void *)(wq + i), q16);
    }
    int32_t s8[8], s = 0;
    _mm256_storeu_si256((__m256i *)(void *)s8, sv);
    for (int k = 0; k < 8; k++) s += s8[k];
    for (; i < 4 * ng; i++) {
        const float v = i < n ? p[i] * kl[i] * inv + 0.5f : 0;
        const int q = v >= 0 && v < 256.0f ? (int)v : 0;
        wq[i] = (int16_t)q, s += q;
    }
    *sum = s;
    return m1 / 255.0f;
}

/* Values of 4 heads x 8 columns from c (two 16-byte pieces a group):
 * wp [group][4 heads][16] int16 (a head's 4 weights of the group, repeated);
 * acc[2h + k] lane 2j + e: column 4k + j's pair sum e (positions 2e, 2e + 1)
 * in the low 128 bits for j < 2, the high for j >= 2. Then U += step * (sum
 * - 128 * sum of the weights), the generic kernel's float steps. */
static inline __attribute__((always_inline)) void ai8_vtile(const int16_t *wp, const float *dp, const int32_t *wsum,
                                                            const uint8_t *K, size_t gs, int ng, int c, float *U,
                                                            int64_t ldu) {
    __m256i acc[8];
    for (int i = 0; i < 8; i++) acc[i] = _mm256_setzero_si256();
    for (int g = 0; g < ng; g++) {
        __m256i t[2];
        for (int k = 0; k < 2; k++)
            t[k] = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(K + g * gs + (size_t)(c + 4 * k) * 4)));
        for (int h = 0; h < 4; h++) {
            const __m256i p = ai8_ld(wp + ((size_t)g * 4 + h) * 16);
            for (int k = 0; k < 2; k++) {
                acc[2 * h + k] = _mm256_add_epi32(acc[2 * h + k], _mm256_madd_epi16(t[k], p));
                Q0_CHAIN(acc[2 * h + k]);
            }
        }
    }
    for (int h = 0; h < 4; h++) {
        /* hadd: [c0 c1 c4 c5 | c2 c3 c6 c7] -> columns 0..7 */
        __m256i s = _mm256_permute4x64_epi64(_mm256_hadd_epi32(acc[2 * h], acc[2 * h + 1]), 0xd8);
        s = _mm256_sub_epi32(s, _mm256_set1_epi32(128 * wsum[h]));
        float *u = U + (size_t)h * ldu + c;
        _mm256_storeu_ps(u, _mm256_add_ps(_mm256_loadu_ps(u), _mm256_mul_ps(_mm256_set1_ps(dp[h]), _mm256_cvtepi32_ps(s))));
    }
}

static void PFX(i8_wsum)(const float *P, int64_t ldp, int m, const uint8_t *K, const float *kd, int r, int dr, int n,
                         float *U, int64_t ldu) {
    const int w = r + dr, ng = (n + 3) / 4;
    const size_t gs = (size_t)4 * w;
    int h0 = 0;
    if (n <= 256 && r % 16 == 0) {
        float kl[256], dp[4];
        int16_t wq[4][256], wp[64 * 4 * 16]; /* [head][position]; [group][4 heads][16] */
        int32_t wsum[4];
        for (int i = 0; i < n; i++) kl[i] = kd[fr_i8_kd_off(i)];
        for (; h0 + 4 <= m; h0 += 4) {
            for (int h = 0; h < 4; h++) dp[h] = ai8_pquant(P + (size_t)(h0 + h) * ldp, kl, n, ng, wq[h], &wsum[h]);
            for (int g = 0; g < ng; g++)
                for (int h = 0; h < 4; h++) { /* the group's 4 weights (a qword) to all 4 */
                    int64_t w4;
                    memcpy(&w4, &wq[h][4 * g], 8);
                    _mm256_storeu_si256((__m256i *)(void *)(wp + ((size_t)g * 4 + h) * 16), _mm256_set1_epi64x(w4));
                }
            for (int c = 0; c < r; c += 8) ai8_vtile(wp, dp, wsum, K, gs, ng, c, U + (size_t)h0 * ldu, ldu);
        }
    }
    if (h0 < m) /* heads past the last 4, or a shape this kernel does not take */
        fr_i8_wsum_generic(P + (size_t)h0 * ldp, ldp, m - h0, K, kd, r, dr, n, U + (size_t)h0 * ldu, ldu);
}

#define ATTN_I8_ENTRIES .i8_dots = PFX(i8_dots), .i8_wsum = PFX(i8_wsum),
