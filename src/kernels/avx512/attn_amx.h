/* MLA attention over a bfloat16 latent cache on AMX-BF16 tiles: the scores and
 * the values of attn_bf16.h (the same bfloat16 operands, each product exact,
 * sums in float32 in another order) on tdpbf16ps (avx512/amx.h) instead of
 * vdpbf16ps. Included after attn_bf16.h for the "amx" table (FR_AMX) and,
 * with the tile instructions in C, the "amxemu" one; it replaces that file's
 * pack_bf16, dots_bf16 and wsum_bf16 entries.
 *
 * At depth the absorbed attention is arithmetic on vdpbf16ps (16 heads x (576
 * + 512) products per cached row and layer for V2-Lite: 32 a vdpbf16ps); one
 * tdpbf16ps does 16 x 16 x 32 of them.
 *
 * Scores, C^T = K Q^T per block of 16 cache rows:
 *   a = 16 cache rows x 32 values, straight from the cache (row stride ldb);
 *   b = the queries, 16 pairs of values x 16 heads (pack_bf16 below: made
 *       once per token);
 *   c = 16 rows x 16 heads, the heads in the columns as in attn_bf16.h, then
 *       stored and transposed so each head's 16 scores are one store.
 *   Tiles 0..3 = c of 4 blocks (64 rows), 4 = a, 5 = b: per 32 values one b
 *   load and 4 a loads and 4 tdpbf16ps.
 * Values, C_i += sum_j P_i[j] B_j per 16 heads and 32 columns:
 *   a = 16 heads x 32 rows' weights P, rounded to bfloat16 once per call;
 *   b = 16 pairs of rows x 16 columns: rows j, j + 1 interleaved per column
 *       (one vpermt2w for 16 columns, as attn_bf16.h's pairs), written to
 *       the stack;
 *   Tiles 0, 1 = c (columns c..c+15, c+16..c+31, from C and back: straight
 *   when 16 heads and 32 columns are whole, else through a zero-padded copy),
 *   4 = a, 5, 6 = b.
 * Partial blocks (rows past n, values past k) go through zeroed copies, so
 * nothing past k in a row and no row past n is read (the prefetches of the
 * rows after the block, aax_prefetch, are hints: they neither fault nor
 * change a result). */
#ifndef FR_AVX512_ATTN_AMX_H
#define FR_AVX512_ATTN_AMX_H

/* Step i of steps over the bytes [p, p + bytes): its share of whole lines asked into L2 (prefetcht1).
 * Both kernels below ask for the n rows after their block over their loops, the scores for the first
 * half of those bytes and the values for the second: mla.c's next block of cache rows. The values run
 * from L2 and leave the memory idle otherwise; the scores' tile loads wait on it. In one process,
 * alternating (bench/RESULTS.md Run 26), 16 heads from memory, 2 threads: 66-74 ns a cache row
 * without, 56 with (the read alone 36-39); in the model at depth 8192 within the noise (+0.3 %).
 * A prefetch past the cache does not fault; the address is an integer, as no pointer may be formed
 * past the end of the cache. */
static inline void aax_prefetch(uintptr_t p, int64_t bytes, int64_t i, int64_t steps) {
    const int64_t per = (bytes + steps * 64 - 1) / (steps * 64) * 64;
    for (int64_t o = i * per; o < (i + 1) * per && o < bytes; o += 64)
        _mm_prefetch((const char *)(p + (uintptr_t)o), _MM_HINT_T1);
}

/* every tile 16 rows x 64 bytes */
static inline void aax_cfg(void) {
    _Alignas(64) amx_cfg_t c;
    memset(&c, 0, sizeof c);
    c.palette = 1;
    for (int t = 0; t < 8; t++) c.rows[t] = 16, c.colsb[t] = 64;
    AMX_LDTILECFG(&c);
}

/* Queries for dots_bf16_amx: per group G of 16 heads and step s of 32 values,
 * 16 rows of 32 bfloat16: dst[((G*S + s)*16 + kk)*32 + 2h + e] = A[16G + h][32s + 2kk + e]
 * (S = ceil(k / 32); zero past m heads and past k values: fr_bf16_pack_len). */
static void PFX(pack_bf16_amx)(const uint16_t *A, int64_t lda, int m, int k, uint16_t *dst) {
    const int S = (k + 31) / 32;
    for (int G = 0; G < (m + 15) / 16; G++)
        for (int s = 0; s < S; s++)
            for (int kk = 0; kk < 16; kk++) {
                uint16_t *o = dst + (((int64_t)G * S + s) * 16 + kk) * 32;
                for (int h = 0; h < 16; h++)
                    for (int e = 0; e < 2; e++) {
                        const int hh = 16 * G + h, c = 32 * s + 2 * kk + e;
                        o[2 * h + e] = hh < m && c < k ? A[hh * lda + c] : 0;
                    }
            }
}

/* c tile b (a literal's value) += a (tile 4) b (tile 5) */
static inline __attribute__((always_inline)) void aax_dp45(int b) {
    switch (b) {
    case 0: AMX_DPBF16PS(0, 4, 5); break;
    case 1: AMX_DPBF16PS(1, 4, 5); break;
    case 2: AMX_DPBF16PS(2, 4, 5); break;
    default: AMX_DPBF16PS(3, 4, 5); break;
    }
}
static inline __attribute__((always_inline)) void aax_store(int b, float *p) {
    switch (b) {
    case 0: AMX_STORE(0, p, 64); break;
    case 1: AMX_STORE(1, p, 64); break;
    case 2: AMX_STORE(2, p, 64); break;
    default: AMX_STORE(3, p, 64); break;
    }
}

/* Scores: C[i*ldc + j] = sum_c A_i[c] B_j[c] for i < m, j < n, c < k; Ap the
 * queries packed by pack_bf16_amx, B [n][ldb] bfloat16 */
static void PFX(dots_bf16_amx)(const uint16_t *Ap, const uint16_t *B, int64_t ldb, float *C, int64_t ldc, int m, int n,
                               int k) {
    const int S = (k + 31) / 32;
    const int64_t half = (int64_t)n * ldb, steps = (int64_t)(n + 63) / 64 * S; /* bytes: half the next n rows */
    _Alignas(64) uint16_t tb[16][32]; /* a partial block of rows or values, zero-padded */
    _Alignas(64) float ct[16][16];
    aax_cfg();
    for (int G = 0; G < (m + 15) / 16; G++) {
        const uint16_t *Q = Ap + (int64_t)G * S * 512;
        const int mh = m - 16 * G < 16 ? m - 16 * G : 16;
        for (int j0 = 0; j0 < n; j0 += 64) {
            const int nb = (n - j0 + 15) / 16 < 4 ? (n - j0 + 15) / 16 : 4;
            AMX_ZERO(0);
            AMX_ZERO(1);
            AMX_ZERO(2);
            AMX_ZERO(3);
            for (int s = 0; s < S; s++) {
                if (G == 0) aax_prefetch((uintptr_t)B + 2 * (uintptr_t)half, half, j0 / 64 * S + s, steps);
                AMX_LOAD(5, Q + (int64_t)s * 512, 64);
                const int kc = k - 32 * s < 32 ? k - 32 * s : 32;
                for (int b = 0; b < nb; b++) {
                    const int jb = j0 + 16 * b, nr = n - jb < 16 ? n - jb : 16;
                    if (nr == 16 && kc == 32) {
                        AMX_LOAD(4, B + (int64_t)jb * ldb + 32 * s, 2 * ldb);
                    } else {
                        memset(tb, 0, sizeof tb);
                        for (int i = 0; i < nr; i++) memcpy(tb[i], B + (int64_t)(jb + i) * ldb + 32 * s, 2 * (size_t)kc);
                        AMX_LOAD(4, tb, 64);
                    }
                    aax_dp45(b);
                }
            }
            for (int b = 0; b < nb; b++) {
                const int jb = j0 + 16 * b, nr = n - jb < 16 ? n - jb : 16;
                aax_store(b, &ct[0][0]);
                __m512 t[16];
                for (int i = 0; i < 16; i++) t[i] = _mm512_load_ps(ct[i]); /* row i: key jb + i, the 16 heads */
                abf_transpose16(t);
                const __mmask16 mn = (__mmask16)((1u << nr) - 1);
                for (int i = 0; i < mh; i++) _mm512_mask_storeu_ps(C + (16 * G + i) * ldc + jb, mn, t[i]);
            }
        }
    }
    AMX_RELEASE();
}

/* Values: C_i[c] += sum_j P_i[j] B_j[c] for i < m, j < n, c < k; P [m][ldp]
 * float32 (rounded to bfloat16 here), B [n][ldb] bfloat16, n <= ABF_MAXN */
static void PFX(wsum_bf16_amx)(const float *P, int64_t ldp, const uint16_t *B, int64_t ldb, float *C, int64_t ldc,
                               int m, int n, int k) {
    _Alignas(64) uint16_t pa[16][ABF_MAXN]; /* 16 heads' weights, zero past n (to a multiple of 32) */
    _Alignas(64) uint16_t bt[2][16][32];    /* b of columns c..c+15 and c+16..c+31 */
    _Alignas(64) float ct[16][32];          /* c of 16 heads x 32 columns */
    const __m512i i0 = _mm512_set_epi16(47, 15, 46, 14, 45, 13, 44, 12, 43, 11, 42, 10, 41, 9, 40, 8, 39, 7, 38, 6, 37,
                                        5, 36, 4, 35, 3, 34, 2, 33, 1, 32, 0); /* columns 0-15; bit 5: row j+1 */
    const __m512i i1 = _mm512_add_epi16(i0, _mm512_set1_epi16(16));             /* columns 16-31 */
    const int np = (n + 31) / 32 * 32;
    /* the second half of the next n rows' bytes (dots_bf16_amx asks for the first) */
    const int64_t half = (int64_t)n * ldb, steps = (int64_t)(k + 31) / 32 * (np / 32);
    const uintptr_t pf = (uintptr_t)B + 3 * (uintptr_t)half;
    aax_cfg();
    for (int h0 = 0; h0 < m; h0 += 16) {
        const int ma = m - h0 < 16 ? m - h0 : 16;
        for (int h = 0; h < 16; h++)
            for (int j = 0; j < np; j += 32) {
                const __mmask32 mj = h < ma ? abf_mask32(n - j) : 0;
                const float *p = P + (h0 + h) * ldp + j;
                _mm512_store_si512(pa[h] + j, (__m512i)_mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps((__mmask16)(mj >> 16), p + 16),
                                                                           _mm512_maskz_loadu_ps((__mmask16)mj, p)));
            }
        for (int c = 0; c < k; c += 32) {
            const __mmask32 mk = abf_mask32(k - c);
            const __mmask16 m0 = (__mmask16)mk, m1 = (__mmask16)(mk >> 16);
            /* 16 heads x 32 columns whole: c straight from C and back (rows ldc apart); else through ct,
             * zero past m heads and k columns. The copy cost a fifth of the values in L2 (bench/RESULTS.md
             * Run 26), presumably as a tile load waits for the vector stores before it to reach L1, and the
             * loads after a tile store wait for it. */
            const int whole = ma == 16 && k - c >= 32;
            float *cw = C + h0 * ldc + c;
            if (whole) {
                AMX_LOAD(0, cw, 4 * ldc);
                AMX_LOAD(1, cw + 16, 4 * ldc);
            } else {
                for (int h = 0; h < 16; h++) {
                    const float *q = C + (h0 + h) * ldc + c;
                    _mm512_store_ps(ct[h], h < ma ? _mm512_maskz_loadu_ps(m0, q) : _mm512_setzero_ps());
                    _mm512_store_ps(ct[h] + 16, h < ma ? _mm512_maskz_loadu_ps(m1, q + 16) : _mm512_setzero_ps());
                }
                AMX_LOAD(0, &ct[0][0], 128);
                AMX_LOAD(1, &ct[0][16], 128);
            }
            for (int j0 = 0; j0 < n; j0 += 32) {
                if (h0 == 0) aax_prefetch(pf, half, c / 32 * (np / 32) + j0 / 32, steps);
                for (int kk = 0; kk < 16; kk++) { /* rows j0 + 2kk and j0 + 2kk + 1 (zero past n) */
                    const int ja = j0 + 2 * kk;
                    const __m512i a = ja < n ? abf_load32(k - c >= 32, mk, B + (int64_t)ja * ldb + c) : _mm512_setzero_si512();
                    const __m512i b = ja + 1 < n ? abf_load32(k - c >= 32, mk, B + (int64_t)(ja + 1) * ldb + c)
                                                 : _mm512_setzero_si512();
                    _mm512_store_si512(bt[0][kk], _mm512_permutex2var_epi16(a, i0, b));
                    _mm512_store_si512(bt[1][kk], _mm512_permutex2var_epi16(a, i1, b));
                }
                AMX_LOAD(4, pa[0] + j0, 2 * ABF_MAXN);
                AMX_LOAD(5, bt[0], 64);
                AMX_DPBF16PS(0, 4, 5);
                AMX_LOAD(6, bt[1], 64);
                AMX_DPBF16PS(1, 4, 6);
            }
            if (whole) {
                AMX_STORE(0, cw, 4 * ldc);
                AMX_STORE(1, cw + 16, 4 * ldc);
                continue;
            }
            AMX_STORE(0, &ct[0][0], 128);
            AMX_STORE(1, &ct[0][16], 128);
            for (int h = 0; h < ma; h++) {
                float *q = C + (h0 + h) * ldc + c;
                _mm512_mask_storeu_ps(q, m0, _mm512_load_ps(ct[h]));
                _mm512_mask_storeu_ps(q + 16, m1, _mm512_load_ps(ct[h] + 16));
            }
        }
    }
    AMX_RELEASE();
}

#undef ATTN_BF16_ENTRIES
#define ATTN_BF16_ENTRIES                                                                                          \
    .pack_bf16 = PFX(pack_bf16_amx), .dots_bf16 = PFX(dots_bf16_amx), .wsum_bf16 = PFX(wsum_bf16_amx),             \
    .q8_0_bf16 = PFX(q8_0_bf16), .f32_bf16 = PFX(f32_bf16),

#endif
