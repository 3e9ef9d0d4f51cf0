/* Decode (one token) of FP8 e4m3 weights on AVX2 by shifts, bit for bit the
 * template's decode_e4m3 (included by simd_template.h through DECODE_E4M3_H,
 * after decode_e4m3, which stays the fallback and the oracle).
 *
 * decode_e4m3 widens 16 weights through float16 (LD2_E4M3: two vcvtph2ps, two
 * uops each on Zen 3, and a NaN test) and was arithmetic-bound at about 16
 * GB/s on 2 threads, half the memory stream. Here the byte s.eeee.mmm,
 * sign-extended to 32 bits, shifted left by 20 and masked with 0x87f00000, is
 * the float32 whose sign is s, exponent field e and mantissa mmm: the weight
 * times 2^-120 for every code, subnormal ones included (a float32 denormal
 * then, exact), except NaN (S.1111.111, a finite word). With x'' = x 2^112
 * (exact while |x| < 2^16; otherwise the call takes decode_e4m3) each product
 * w 2^-120 x'' is the real number decode_e4m3's w 2^-8 x is, so its rounding
 * is the same; the sums are in the same lanes and order: the same floats.
 * Three operations per 8 weights (vpmovsxbd from memory, vpslld, vpand).
 *
 * The NaN codes: a row's first pass tests each 32 bytes for them (and blends
 * NaN in) and notes in W->f8rows whether the row holds a NaN or a subnormal
 * code (FR_F8ROW_OTHER, the meaning avx512/dpbf16.h gives it, whose shifts get
 * subnormals wrong too; fr_f8row_get / fr_f8row_note); rows of normal codes
 * are then read without the test. */

#define E4D_MAXC 16384 /* x'' on the stack: 64 KiB */
#define E4D_PD 4096    /* bytes of the row stream prefetched ahead */

/* 32 weights at p as float32 times 2^-120 (NaN codes wrong: finite) */
static inline __attribute__((always_inline)) void e4d_ld32(const unsigned char *p, __m256i m, __m256 w[4]) {
    for (int k = 0; k < 4; k++) {
        const __m256i b = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(p + 8 * k)));
        w[k] = _mm256_castsi256_ps(_mm256_and_si256(_mm256_slli_epi32(b, 20), m));
    }
}

/* the same with the test: NaN codes give NaN; *other set where the 32 bytes
 * hold a NaN or a subnormal code */
static inline __attribute__((always_inline)) void e4d_ld32_chk(const unsigned char *p, __m256i m, __m256 w[4],
                                                                int *other) {
    e4d_ld32(p, m, w);
    const __m256i b = _mm256_loadu_si256((const __m256i *)(const void *)p);
    const __m256i t = _mm256_and_si256(b, _mm256_set1_epi8(0x7f));
    const __m256i nan = _mm256_cmpeq_epi8(t, _mm256_set1_epi8(0x7f));
    const __m256i t1 = _mm256_sub_epi8(t, _mm256_set1_epi8(1)); /* subnormal: t - 1 <= 6 unsigned */
    const __m256i sub = _mm256_cmpeq_epi8(_mm256_min_epu8(t1, _mm256_set1_epi8(6)), t1);
    if (__builtin_expect(!_mm256_testz_si256(_mm256_or_si256(nan, sub), _mm256_or_si256(nan, sub)), 0)) {
        *other = 1;
        if (!_mm256_testz_si256(nan, nan)) {
            const __m256 q = _mm256_set1_ps(__builtin_nanf(""));
            for (int k = 0; k < 4; k++) {
                const __m128i n8 = k < 2 ? _mm256_castsi256_si128(nan) : _mm256_extracti128_si256(nan, 1);
                const __m256i nk = _mm256_cvtepi8_epi32(k % 2 ? _mm_srli_si128(n8, 8) : n8);
                w[k] = _mm256_blendv_ps(w[k], q, _mm256_castsi256_ps(nk));
            }
        }
    }
}

/* one row: decode_e4m3's sums over x'' (cols a multiple of 32) */
static inline __attribute__((always_inline)) float e4d_row(const int CHK, const unsigned char *w, const float *sr,
                                                            const float *xs, int64_t cols, int *other) {
    const __m256i m = _mm256_set1_epi32((int)0x87f00000u);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b0 = 0; b0 < cols; b0 += FR_FP8_BLOCK) {
        const int64_t b1 = b0 + FR_FP8_BLOCK < cols ? b0 + FR_FP8_BLOCK : cols;
        __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
        for (int64_t c = b0; c < b1; c += 32) {
            __m256 v[4];
            if (c % 64 == 0) _mm_prefetch((const char *)(w + c) + E4D_PD, _MM_HINT_T0); /* past the rows: no fault */
            if (CHK) e4d_ld32_chk(w + c, m, v, other);
            else e4d_ld32(w + c, m, v);
            s0 = _mm256_fmadd_ps(v[0], _mm256_loadu_ps(xs + c), s0);
            s1 = _mm256_fmadd_ps(v[1], _mm256_loadu_ps(xs + c + 8), s1);
            s2 = _mm256_fmadd_ps(v[2], _mm256_loadu_ps(xs + c + 16), s2);
            s3 = _mm256_fmadd_ps(v[3], _mm256_loadu_ps(xs + c + 24), s3);
        }
        acc = _mm256_fmadd_ps(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)),
                              _mm256_set1_ps(sr[b0 / FR_FP8_BLOCK] * 256.0f), acc);
    }
    return hsum8(acc);
}

static void decode_e4m3_shift(const fr_tensor *W, const float *x, float *Y, int64_t r0, int64_t r1) {
    const int64_t cols = fr_cols(W), nb = (cols + FR_FP8_BLOCK - 1) / FR_FP8_BLOCK;
    if (cols % 32 || cols > E4D_MAXC) {
        decode_e4m3(W, x, Y, r0, r1);
        return;
    }
    float xs[E4D_MAXC];
    const __m256 up = _mm256_set1_ps(0x1p112f), lim = _mm256_set1_ps(65536.0f);
    const __m256 absm = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    __m256 ok = _mm256_castsi256_ps(_mm256_set1_epi32(-1));
    for (int64_t c = 0; c < cols; c += 8) {
        const __m256 v = _mm256_loadu_ps(x + c);
        ok = _mm256_and_ps(ok, _mm256_cmp_ps(_mm256_and_ps(v, absm), lim, _CMP_LT_OQ)); /* NaN: not ok */
        _mm256_storeu_ps(xs + c, _mm256_mul_ps(v, up));
    }
    if (_mm256_movemask_ps(ok) != 0xff) { /* some |x| >= 2^16 (or NaN): x'' could overflow */
        decode_e4m3(W, x, Y, r0, r1);
        return;
    }
    for (int64_t r = r0; r < r1; r++) {
        const unsigned char *w = (const unsigned char *)W->data + r * cols;
        const float *sr = W->scale + (r / FR_FP8_BLOCK) * nb;
        const int seen = fr_f8row_get(W, r);
        int other = 0;
        Y[r] = seen == FR_F8ROW_NORMAL ? e4d_row(0, w, sr, xs, cols, &other) : e4d_row(1, w, sr, xs, cols, &other);
        if (seen == FR_F8ROW_UNSEEN) fr_f8row_note(W, r, other);
    }
}
#define DECODE_E4M3 decode_e4m3_shift
