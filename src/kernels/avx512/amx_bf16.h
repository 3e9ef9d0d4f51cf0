/* BF16 and FP8 weights in prefill on AMX-BF16 tiles: the products of
 * dpbf_gemm (avx512/dpbf16.h), on tdpbf16ps (avx512/amx.h) instead of
 * vdpbf16ps. Included by dpbf16.h for the "amx" table (FR_AMX) and, with the
 * tile instructions in C, the "amxemu" one.
 *
 *   Y[t][r] = sum_c w[r][c] x'[t][c]   (x' = x rounded to bfloat16; FP8: the
 *   block scales folded in and the columns in fp8f_cvt64's order, as in
 *   dpbf_gemm)
 *
 * tdpbf16ps c, a, b: c (M x N float32) += a (M x 2K bfloat16) b (K pairs x N).
 * Here the weights are a, the tokens b, so c is rows x tokens:
 *   a = 16 weight rows x 32 columns: BF16 straight from W (row stride cols),
 *       FP8 from wb, converted once per 32 rows x DPBA_KC columns for all the
 *       chunk's tokens;
 *   b = 16 column pairs x up to 16 tokens: xv, the chunk's x' with the pairs
 *       of each token in a column (xv[g][p][G] = pair p of token G g + j, as
 *       uint32), made once per chunk (and FP8 128-row block);
 *   c = 16 rows x up to 16 tokens, summed over a span of DPBA_KC columns in
 *       the tile, then stored to acc (32 rows x the chunk's tokens) and loaded
 *       again for the next span.
 * Tiles: 0, 1 = A (rows r..r+15, r+16..r+31), 2, 3 = B (two token groups),
 * 4..7 = C (A0 B0, A0 B1, A1 B0, A1 B1): per 32 columns 4 tile loads and 4
 * tdpbf16ps. At the end of a 32-row block acc goes to Y, transposed.
 * The error bound is dpbf_gemm's (the same bfloat16 products, exact in
 * float32, summed in another order). Correctness is tested through "amxemu"
 * and, on a CPU with AMX, the real table; dispatch.c checks the real tiles
 * against the avx512bf16 table at start-up. */
#ifndef FR_AVX512_AMX_BF16_H
#define FR_AVX512_AMX_BF16_H

#define DPBA_MIN_N 4          /* fewer tokens: dpbf_gemm (a tile of 1-3 tokens multiplies mostly nothing) */
#define DPBA_XB (256 * 1024) /* xv: bytes of the chunk's x' */
#define DPBA_TC 128           /* tokens per chunk at most (acc: 32 rows x 128 tokens, 16 KiB) */
#define DPBA_KC 1024          /* columns per span: FP8's wb 32 rows x (1024 + 32) bf16, 66 KiB */

typedef struct {
    int m0, m1, n0, n1; /* rows of A0, A1, tokens of B0, B1 (0: tile unused); m0 == 0: not configured */
} dpba_state;

static inline void dpba_cfg(dpba_state *s, int m0, int m1, int n0, int n1) {
    if (s->m0 == m0 && s->m1 == m1 && s->n0 == n0 && s->n1 == n1) return;
    _Alignas(64) amx_cfg_t c;
    memset(&c, 0, sizeof c);
    c.palette = 1;
    const int m[2] = {m0, m1}, n[2] = {n0, n1};
    for (int i = 0; i < 2; i++) {
        if (m[i]) c.rows[i] = (uint8_t)m[i], c.colsb[i] = 64;         /* A: m rows of 32 bf16 */
        if (n[i]) c.rows[2 + i] = 16, c.colsb[2 + i] = (uint16_t)(4 * n[i]); /* B: 16 pairs x n tokens */
    }
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++)
            if (m[i] && n[j]) c.rows[4 + 2 * i + j] = (uint8_t)m[i], c.colsb[4 + 2 * i + j] = (uint16_t)(4 * n[j]);
    AMX_LDTILECFG(&c);
    s->m0 = m0, s->m1 = m1, s->n0 = n0, s->n1 = n1;
}

/* The C tiles of one 32-row block and two token groups over kn columns: a
 * (A rows, stride as bytes), b0, b1 (B at the span's first pair, stride bs
 * bytes), c (acc at row 0 of the block and the first token of group 0, stride
 * cs bytes; c1: group 1's first token); from zero when first, else from acc */
static void dpba_span(dpba_state *s, int m0, int m1, int n0, int n1, const uint16_t *a, int64_t as,
                      const uint32_t *b0, const uint32_t *b1, int64_t bs, float *c, float *c1, int64_t cs,
                      int64_t kn, int first) {
    dpba_cfg(s, m0, m1, n0, n1);
    const char *a1 = (const char *)a + 16 * as;
    float *r16 = (float *)((char *)c + 16 * cs), *r16g1 = (float *)((char *)c1 + 16 * cs);
    if (first) {
        AMX_ZERO(4);
        if (n1) AMX_ZERO(5);
        if (m1) AMX_ZERO(6);
        if (m1 && n1) AMX_ZERO(7);
    } else {
        AMX_LOAD(4, c, cs);
        if (n1) AMX_LOAD(5, c1, cs);
        if (m1) AMX_LOAD(6, r16, cs);
        if (m1 && n1) AMX_LOAD(7, r16g1, cs);
    }
    for (int64_t k = 0; k < kn; k += 32) { /* 32 columns: 16 pairs, a B tile's 16 rows */
        AMX_LOAD(0, a + k, as);
        AMX_LOAD(2, b0 + k / 2 * (bs / 4), bs);
        AMX_DPBF16PS(4, 0, 2);
        if (n1) {
            AMX_LOAD(3, b1 + k / 2 * (bs / 4), bs);
            AMX_DPBF16PS(5, 0, 3);
        }
        if (m1) {
            AMX_LOAD(1, a1 + 2 * k, as);
            AMX_DPBF16PS(6, 1, 2);
            if (n1) AMX_DPBF16PS(7, 1, 3);
        }
    }
    AMX_STORE(4, c, cs);
    if (n1) AMX_STORE(5, c1, cs);
    if (m1) AMX_STORE(6, r16, cs);
    if (m1 && n1) AMX_STORE(7, r16g1, cs);
}

/* Y[t][r] for t < n, r in [r0, r1): W BF16 (cols % 32 == 0) or FP8 (cols % 64 == 0), cols <= FP8F_MAXC */
static void dpba_gemm(const fr_tensor *W, const float *X, float *Y, int n, int64_t r0, int64_t r1) {
    if (n < DPBA_MIN_N) {
        dpbf_gemm(W, X, Y, n, r0, r1);
        return;
    }
    const int fp8 = W->dtype == FR_DT_F8_E4M3;
    const int64_t rows = fr_rows(W), cols = fr_cols(W), nb = (cols + FR_FP8_BLOCK - 1) / FR_FP8_BLOCK;
    const int64_t np = cols / 2; /* column pairs */
    _Alignas(64) uint32_t xv[DPBA_XB / 4];
    _Alignas(64) uint16_t xt[FP8F_MAXC];                           /* one token's x' */
    _Alignas(64) uint16_t wb[32 * (DPBA_KC + DPBF_PAD)];           /* FP8: 32 rows of a span as bf16 */
    _Alignas(64) float acc[32 * DPBA_TC];                          /* [row][token] of a 32-row block */
    int tc = (int)(DPBA_XB / 2 / cols);                            /* >= 4: cols <= FP8F_MAXC */
    if (tc > DPBA_TC) tc = DPBA_TC;
    const int G = tc >= 16 ? 16 : tc; /* tokens per group (a B tile) */
    tc -= tc % G;
    fp8f_tab tb;
    if (fp8) fp8f_tab_init(&tb);
    dpba_state st = {0, 0, 0, 0};
    for (int64_t rb0 = r0; rb0 < r1;) { /* FP8: rows of one 128-row block share the scales */
        const int64_t rb1 = fp8 ? fp8f_rows_end(rb0, r1) : r1;
        for (int t0 = 0; t0 < n; t0 += tc) {
            const int nt = t0 + tc < n ? tc : n - t0, ng = (nt + G - 1) / G;
            for (int t = 0; t < nt; t++) { /* x' of token t, its pairs down column t % G of group t / G */
                const float *x = X + (int64_t)(t0 + t) * cols;
                if (fp8) fp8f_x(x, W->scale + (rb0 / FR_FP8_BLOCK) * nb, cols, xt);
                else PFX(f32_bf16)(x, xt, cols);
                uint32_t *d = xv + (int64_t)(t / G) * np * G + t % G;
                for (int64_t p = 0; p < np; p++) {
                    uint32_t v;
                    memcpy(&v, xt + 2 * p, 4);
                    d[p * G] = v;
                }
            }
            for (int64_t r = rb0; r < rb1; r += 32) {
                const int m0 = rb1 - r < 16 ? (int)(rb1 - r) : 16;
                const int m1 = rb1 - r - 16 <= 0 ? 0 : rb1 - r - 16 < 16 ? (int)(rb1 - r - 16) : 16;
                for (int64_t c0 = 0; c0 < cols; c0 += DPBA_KC) {
                    const int64_t kn = cols - c0 < DPBA_KC ? cols - c0 : DPBA_KC;
                    const uint16_t *a = (const uint16_t *)W->data + r * cols + c0;
                    int64_t as = cols * 2;
                    if (fp8) { /* m0 + m1 rows of the span to bf16, once for the chunk */
                        fp8f_span(W, r, m0 + m1, c0, kn, &tb, wb, DPBA_KC + DPBF_PAD);
                        a = wb, as = (DPBA_KC + DPBF_PAD) * 2;
                    }
                    for (int g = 0; g < ng; g += 2) {
                        const int n0 = g * G + G <= nt ? G : nt - g * G;
                        const int n1 = g + 1 >= ng ? 0 : (g + 1) * G + G <= nt ? G : nt - (g + 1) * G;
                        const uint32_t *b0 = xv + (int64_t)g * np * G + c0 / 2 * G;
                        dpba_span(&st, m0, m1, n0, n1, a, as, b0, n1 ? b0 + np * G : b0, 4 * G, acc + g * G,
                                  acc + (n1 ? g + 1 : g) * G, 4 * DPBA_TC, kn, c0 == 0);
                    }
                }
                for (int i = 0; i < m0 + m1; i++)
                    for (int t = 0; t < nt; t++) Y[(int64_t)(t0 + t) * rows + r + i] = acc[i * DPBA_TC + t];
            }
        }
        rb0 = rb1;
    }
    if (st.m0) AMX_RELEASE();
}

#endif
