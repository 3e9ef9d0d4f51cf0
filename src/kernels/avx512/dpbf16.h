/* FP8 (e4m3fn) weights, and BF16 weights in prefill, on vdpbf16ps: the not-exact path (included by
 * avx512/kernels.c when FR_BF16: the "avx512bf16" table, AVX512-BF16 + VBMI).
 * BF16 weights take the same prefill GEMM (dpbf_gemm, below): llama.cpp too
 * rounds the activations to bfloat16 for BF16 weights; their decode stays on
 * the exact kernel, which streams faster than memory.
 *
 * The exact kernel (decode_e4m3 in simd_template.h) widens each weight to
 * float32 and is arithmetic-bound at ~12 G weights/s per thread, below the
 * memory stream. Here:
 *   - every e4m3 value is exactly a bfloat16 (3 mantissa bits, exponents
 *     2^-9..2^8), so a weight widens by a 128-entry table lookup (vpermi2b on
 *     the low 7 bits: one lookup for the high byte, one for the low byte; the
 *     sign bit is or-ed into the high byte); S.1111.111 (NaN) maps to NaN;
 *   - x times the block scales is rounded to bfloat16 (to nearest even) once
 *     per 128-row block, the precision of the official DeepSeek-V3 inference,
 *     which runs its linear layers on bfloat16 activations (or coarser: FP8
 *     ones for its FP8 GEMM);
 *   - vdpbf16ps multiplies bfloat16 pairs exactly and sums them in float32.
 * So y = sum_c w_c bf16(x_c s_c), x times its column's block scale, summed in
 * float32 (fp8f_decode below): error <= 2^-8 sum|w x| (bfloat16's unit roundoff)
 * plus float32 summation (test_kernels: the error bound, every code exactly, NaN). Measured on the
 * 27-layer V2-Lite FP8 model, 2 threads: tg 12.8 t/s with x as two bfloat16s
 * (x = xh + xl, error 2^-18: the kernel was arithmetic-bound at ~24 G
 * weights/s per thread), 14.3-14.8 t/s with one. --exact keeps float32.
 * The interleave of the two table bytes (unpacklo/hi_epi8) puts weights in the
 * order of the permutation in fp8f_x below; x is stored permuted the same way,
 * so each pair meets its own activation.
 *
 *   W [rows, cols] e4m3 bytes, scale [rows/128][cols/128]; x [cols]; Y[r] for r in [r0, r1). */

#include <stdint.h>
#include <string.h>

#include "tensor/tensor.h"

#define FP8F_MAXC 32768 /* x as bfloat16 on the stack: 64 KiB (and 2 tokens of dpbf_gemm's chunk) */

/* bf16 bits of the e4m3 magnitude m (0..127) */
static inline unsigned fp8f_bf16_bits(unsigned m) {
    float f = fr_e4m3_to_f32((uint8_t)m);
    uint32_t u;
    memcpy(&u, &f, 4);
    return u >> 16; /* exact: 3 mantissa bits */
}

/* x[0..cols) times the scales sc[c / 128] (sc NULL: 1) -> bfloat16 in the
 * weights' order: per 64 columns, 32 values for the low-interleave register
 * (columns 0-7, 16-23, 32-39, 48-55), then 32 for the high one (8-15, 24-31,
 * 40-47, 56-63). cols a multiple of 64. */
static void fp8f_x(const float *x, const float *sc, int64_t cols, uint16_t *xh) {
    const __m512i i0 = _mm512_set_epi16(55, 54, 53, 52, 51, 50, 49, 48, 39, 38, 37, 36, 35, 34, 33, 32, 23, 22, 21,
                                        20, 19, 18, 17, 16, 7, 6, 5, 4, 3, 2, 1, 0);
    const __m512i i1 = _mm512_add_epi16(i0, _mm512_set1_epi16(8));
    for (int64_t c = 0; c < cols; c += 64) {
        const __m512 s = _mm512_set1_ps(sc ? sc[c / FR_FP8_BLOCK] : 1.0f); /* x * 1 is exact */
        /* natural order: a = columns 0-31, b = 32-63 (cvtne2ps: the high half from the first operand) */
        const __m512i a = (__m512i)_mm512_cvtne2ps_pbh(_mm512_mul_ps(_mm512_loadu_ps(x + c + 16), s),
                                                       _mm512_mul_ps(_mm512_loadu_ps(x + c), s));
        const __m512i b = (__m512i)_mm512_cvtne2ps_pbh(_mm512_mul_ps(_mm512_loadu_ps(x + c + 48), s),
                                                       _mm512_mul_ps(_mm512_loadu_ps(x + c + 32), s));
        /* index bit 5 selects b: columns 32-63 */
        _mm512_storeu_si512(xh + c, _mm512_permutex2var_epi16(a, i0, b));
        _mm512_storeu_si512(xh + c + 32, _mm512_permutex2var_epi16(a, i1, b));
    }
}

/* The 128-entry table (high and low bytes of bf16(e4m3 m), m < 128) in registers */
typedef struct {
    __m512i th0, th1, tl0, tl1, sign;
} fp8f_tab;

static void fp8f_tab_init(fp8f_tab *t) {
    uint8_t th[128], tl[128];
    for (unsigned m = 0; m < 128; m++) {
        unsigned b = fp8f_bf16_bits(m);
        th[m] = (uint8_t)(b >> 8);
        tl[m] = (uint8_t)b;
    }
    t->th0 = _mm512_loadu_si512(th), t->th1 = _mm512_loadu_si512(th + 64);
    t->tl0 = _mm512_loadu_si512(tl), t->tl1 = _mm512_loadu_si512(tl + 64);
    t->sign = _mm512_set1_epi8((char)0x80);
}

/* 64 e4m3 weights b as 2 x 32 bfloat16 in the order of fp8f_x */
static inline __attribute__((always_inline)) void fp8f_cvt(const __m512i b, const fp8f_tab *t, __m512bh *e0,
                                                            __m512bh *e1) {
    __m512i hi = _mm512_permutex2var_epi8(t->th0, b, t->th1);
    const __m512i lo = _mm512_permutex2var_epi8(t->tl0, b, t->tl1);
    hi = _mm512_ternarylogic_epi32(hi, b, t->sign, 0xF8); /* hi | (b & 0x80) */
    *e0 = (__m512bh)_mm512_unpacklo_epi8(lo, hi);
    *e1 = (__m512bh)_mm512_unpackhi_epi8(lo, hi);
}
/* the same for the 64 weights at w */
static inline __attribute__((always_inline)) void fp8f_cvt64(const unsigned char *w, const fp8f_tab *t, __m512bh *e0,
                                                              __m512bh *e1) {
    fp8f_cvt(_mm512_loadu_si512(w), t, e0, e1);
}

/* Decode reads each row by whole 64-byte lines, one line ahead of its use
 * (which helps aligned rows too: 55-58 -> 61-70 GB/s on 2 threads), also where
 * the tensor's data is not aligned (safetensors places tensors at any offset:
 * those of a file the generator wrote start 56 bytes past a line): a load
 * across two cache lines had slowed the row stream to 48-50 GB/s, so the chunk
 * at c joins the lines at w - mis + c and w - mis + c + 64 with one vpermt2b
 * (bytes mis..mis + 63 of the pair). The first and last chunks of a row load
 * unaligned, so no byte outside the row is read. */
static const uint8_t fp8f_iota[64] = {0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15,
                                      16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31,
                                      32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47,
                                      48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63};

#define FP8F_PD 4096 /* bytes of the row stream prefetched ahead */

/* the 64 weights of the chunk at column c of a row (w, its line wa = w - mis,
 * *line the line at wa + c), read in order c = 0, 64, ... */
static inline __attribute__((always_inline)) __m512i fp8f_chunk(const unsigned char *w, const unsigned char *wa,
                                                                 int mis, __m512i join, __m512i *line, int64_t c,
                                                                 int64_t cols) {
    _mm_prefetch((const char *)(w + c + FP8F_PD), _MM_HINT_T0); /* past r1: no fault */
    if (c == 0) return _mm512_loadu_si512(w);
    if (c + 64 == cols) return mis ? _mm512_loadu_si512(w + c) : *line;
    const __m512i next = _mm512_load_si512(wa + c + 64);
    const __m512i b = mis ? _mm512_permutex2var_epi8(*line, join, next) : *line;
    *line = next;
    return b;
}

/* the end of row r's 128-row block, whose rows share the block scales; at most r1 */
static inline int64_t fp8f_rows_end(int64_t r, int64_t r1) {
    const int64_t e = (r / FR_FP8_BLOCK + 1) * FR_FP8_BLOCK;
    return e < r1 ? e : r1;
}

/* The block scales go into x (x'_c = bf16(x_c s_c/128), fp8f_x once per
 * 128-row block, as dpbf_gemm does), so a row is one sum over its columns, in
 * four accumulators: no per-block multiply-add, and no chain of two
 * vdpbf16ps per block (Run 23: 7.9 against 8.4 reference cycles per 64
 * weights in L2). */
static void fp8f_decode(const fr_tensor *W, const float *x, float *Y, int64_t r0, int64_t r1) {
    const int64_t cols = fr_cols(W), nb = (cols + FR_FP8_BLOCK - 1) / FR_FP8_BLOCK;
    uint16_t xh[FP8F_MAXC] __attribute__((aligned(64)));
    fp8f_tab tb;
    fp8f_tab_init(&tb);
    const int mis = (int)((uintptr_t)W->data & 63); /* the same for every row: cols % 64 == 0 */
    const __m512i join = _mm512_add_epi8(_mm512_loadu_si512(fp8f_iota), _mm512_set1_epi8((char)mis));
    for (int64_t rb0 = r0, rb1; rb0 < r1; rb0 = rb1) { /* rows of one 128-row block share the scales */
        rb1 = fp8f_rows_end(rb0, r1);
        fp8f_x(x, W->scale + (rb0 / FR_FP8_BLOCK) * nb, cols, xh);
        for (int64_t r = rb0; r < rb1; r++) {
            const unsigned char *w = (const unsigned char *)W->data + r * cols, *wa = w - mis;
            __m512i line = cols > 64 ? _mm512_load_si512(wa + 64) : _mm512_setzero_si512(); /* at wa + c */
            __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
            __m512bh e0, e1, e2, e3;
            int64_t c = 0;
            for (; c + 128 <= cols; c += 128) {
                fp8f_cvt(fp8f_chunk(w, wa, mis, join, &line, c, cols), &tb, &e0, &e1);
                fp8f_cvt(fp8f_chunk(w, wa, mis, join, &line, c + 64, cols), &tb, &e2, &e3);
                s0 = _mm512_dpbf16_ps(s0, e0, (__m512bh)_mm512_load_si512(xh + c));
                s1 = _mm512_dpbf16_ps(s1, e1, (__m512bh)_mm512_load_si512(xh + c + 32));
                s2 = _mm512_dpbf16_ps(s2, e2, (__m512bh)_mm512_load_si512(xh + c + 64));
                s3 = _mm512_dpbf16_ps(s3, e3, (__m512bh)_mm512_load_si512(xh + c + 96));
            }
            if (c < cols) { /* a last 64 */
                fp8f_cvt(fp8f_chunk(w, wa, mis, join, &line, c, cols), &tb, &e0, &e1);
                s0 = _mm512_dpbf16_ps(s0, e0, (__m512bh)_mm512_load_si512(xh + c));
                s1 = _mm512_dpbf16_ps(s1, e1, (__m512bh)_mm512_load_si512(xh + c + 32));
            }
            Y[r] = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
        }
    }
}

/* ---- several tokens (prefill): BF16 and FP8 weights on vdpbf16ps ----
 * x is rounded to bfloat16 once per chunk of tokens (x', DPBF_XB bytes on the
 * stack). FP8: the block scales go into x': for the rows of one 128-row block
 * the scale depends on the column block only, so x'_c = bf16(x_c * s_c/128)
 * (fp8f_x, in the order of fp8f_cvt64's interleave) and y = sum_c w_c x'_c
 * with no per-block sums; x' is made once per chunk and 128-row block. BF16:
 * x' = bf16(x_c) in column order, once per chunk.
 * Then per group of DPBF_RB rows and span of DPBF_KC columns the weights as
 * bfloat16 vectors of 32: BF16 straight from W, FP8 converted once into wb (16
 * KiB: L1) for all the chunk's tokens; and tiles of RB rows x TB tokens over
 * the span: per 32 columns RB weight loads, TB x' loads and RB x TB vdpbf16ps
 * into 16-lane float accumulators, summed across the lanes at the end of the
 * span (hsum16 for the 16 of a 4 x 4 tile) and added to Y (the first span:
 * stored). Error: as the decode kernel, <= 2^-8 sum|w x| (x or x * s rounded
 * once) plus float32 summation; not bitwise: another order. */
#define DPBF_XB (192 * 1024)
#define DPBF_RB 4    /* rows per tile */
#define DPBF_TB 4    /* tokens per tile */
#define DPBF_KC 2048 /* columns per span: 4 rows' weights as bf16 fill 16 KiB */
#define DPBF_PAD 32  /* bf16 after each row of wb and each token of xb: strides off 4 KiB multiples */

/* Y[j][i] (stride ys between tokens) (+)= w_i . x_j over n columns (a multiple
 * of 32), i < RB, j < TB; w: RB rows of bf16 (stride ws), x: TB tokens' x'
 * (stride xs) */
static inline __attribute__((always_inline)) void dpbf_tile(const int RB, const int TB, const uint16_t *w, int64_t ws,
                                                             const uint16_t *x, int64_t xs, int64_t n, float *Y,
                                                             int64_t ys, int add) {
    __m512 s[DPBF_RB * DPBF_TB]; /* (i, j) at TB * i + j */
    for (int k = 0; k < RB * TB; k++) s[k] = _mm512_setzero_ps();
    for (int64_t c = 0; c < n; c += 32) {
        __m512bh wv[DPBF_RB];
        for (int i = 0; i < RB; i++) wv[i] = (__m512bh)_mm512_loadu_si512(w + i * ws + c);
        for (int j = 0; j < TB; j++) {
            const __m512bh xv = (__m512bh)_mm512_loadu_si512(x + j * xs + c);
            for (int i = 0; i < RB; i++) s[TB * i + j] = _mm512_dpbf16_ps(s[TB * i + j], wv[i], xv);
        }
    }
    float o[DPBF_RB * DPBF_TB];
    if (RB * TB == 16) _mm512_storeu_ps(o, hsum16(s));
    else
        for (int k = 0; k < RB * TB; k++) o[k] = _mm512_reduce_add_ps(s[k]);
    for (int j = 0; j < TB; j++)
        for (int i = 0; i < RB; i++) Y[j * ys + i] = add ? Y[j * ys + i] + o[TB * i + j] : o[TB * i + j];
}

/* RB rows (w, stride ws) over the tokens [0, nt) of the chunk (x' at x, stride
 * xs), columns n of the span; Y at the first row and token of the chunk */
static inline __attribute__((always_inline)) void dpbf_rows(const int RB, const uint16_t *w, int64_t ws,
                                                             const uint16_t *x, int64_t xs, int nt, int64_t n, float *Y,
                                                             int64_t ys, int add) {
    int t = 0;
    for (; t + DPBF_TB <= nt; t += DPBF_TB) dpbf_tile(RB, DPBF_TB, w, ws, x + t * xs, xs, n, Y + t * ys, ys, add);
    if (t + 2 <= nt) dpbf_tile(RB, 2, w, ws, x + t * xs, xs, n, Y + t * ys, ys, add), t += 2;
    if (t < nt) dpbf_tile(RB, 1, w, ws, x + t * xs, xs, n, Y + t * ys, ys, add);
}

/* rows [r, r + nr) of FP8 W, columns [c0, c0 + kn) (kn % 64 == 0), as
 * bfloat16 in fp8f_x's order into wb (row stride ws): the weights of a span,
 * converted once for all of a chunk's tokens (dpbf_gemm, amx_bf16.h dpba_gemm) */
static void fp8f_span(const fr_tensor *W, int64_t r, int nr, int64_t c0, int64_t kn, const fp8f_tab *tb,
                      uint16_t *wb, int64_t ws) {
    const int64_t cols = fr_cols(W);
    const unsigned char *w8 = (const unsigned char *)W->data + r * cols + c0;
    for (int i = 0; i < nr; i++)
        for (int64_t c = 0; c < kn; c += 64) {
            __m512bh e0, e1;
            fp8f_cvt64(w8 + i * cols + c, tb, &e0, &e1);
            _mm512_store_si512(wb + i * ws + c, (__m512i)e0);
            _mm512_store_si512(wb + i * ws + c + 32, (__m512i)e1);
        }
}

/* Y[t][r] for t < n, r in [r0, r1): W BF16 (cols % 32 == 0) or FP8 (cols % 64 == 0), cols <= FP8F_MAXC */
static void dpbf_gemm(const fr_tensor *W, const float *X, float *Y, int n, int64_t r0, int64_t r1) {
    const int fp8 = W->dtype == FR_DT_F8_E4M3;
    const int64_t rows = fr_rows(W), cols = fr_cols(W), nb = (cols + FR_FP8_BLOCK - 1) / FR_FP8_BLOCK;
    _Alignas(64) uint16_t xb[DPBF_XB / 2];
    _Alignas(64) uint16_t wb[DPBF_RB * (DPBF_KC + DPBF_PAD)];
    const int64_t xs = cols + DPBF_PAD;
    const int tc = (int)(DPBF_XB / 2 / xs); /* >= 2: cols <= FP8F_MAXC */
    fp8f_tab tb; /* made for BF16 too: with `if (fp8)` gcc 12's BF16 tiles ran 216-235 against 330-347
                  * GFLOP/s (bench/kernel_bench.c bf16 64 512) */
    fp8f_tab_init(&tb);
    for (int64_t rb0 = r0; rb0 < r1;) { /* FP8: rows of one 128-row block share the scales */
        const int64_t rb1 = fp8 ? fp8f_rows_end(rb0, r1) : r1;
        for (int t0 = 0; t0 < n; t0 += tc) {
            const int nt = t0 + tc < n ? tc : n - t0;
            for (int t = 0; t < nt; t++) {
                const float *x = X + (int64_t)(t0 + t) * cols;
                if (fp8) fp8f_x(x, W->scale + (rb0 / FR_FP8_BLOCK) * nb, cols, xb + (int64_t)t * xs);
                else PFX(f32_bf16)(x, xb + (int64_t)t * xs, cols); /* avx512/attn_bf16.h */
            }
            for (int64_t r = rb0; r < rb1; r += DPBF_RB) {
                const int rb = rb1 - r < DPBF_RB ? (int)(rb1 - r) : DPBF_RB;
                for (int64_t c0 = 0; c0 < cols; c0 += DPBF_KC) {
                    const int64_t kn = cols - c0 < DPBF_KC ? cols - c0 : DPBF_KC;
                    const uint16_t *w = (const uint16_t *)W->data + r * cols + c0;
                    int64_t ws = cols;
                    if (fp8) { /* rb rows of the span to bf16, once for the chunk */
                        fp8f_span(W, r, rb, c0, kn, &tb, wb, DPBF_KC + DPBF_PAD);
                        w = wb, ws = DPBF_KC + DPBF_PAD;
                    }
                    const uint16_t *x = xb + c0;
                    float *y = Y + (int64_t)t0 * rows + r;
                    if (rb == DPBF_RB) dpbf_rows(DPBF_RB, w, ws, x, xs, nt, kn, y, rows, c0 > 0);
                    else
                        for (int i = 0; i < rb; i++) dpbf_rows(1, w + i * ws, ws, x, xs, nt, kn, y + i, rows, c0 > 0);
                }
            }
        }
        rb0 = rb1;
    }
}

#ifdef FR_AMX
#include "kernels/avx512/amx_bf16.h" /* dpba_gemm: the same products on AMX-BF16 tiles */
#define DPBF_GEMM dpba_gemm
#else
#define DPBF_GEMM dpbf_gemm
#endif

/* cols a multiple of 64 and at most FP8F_MAXC: the kernels above (one token:
 * fp8f_decode, several: dpbf_gemm, or dpba_gemm on AMX); otherwise the exact one. */
static void PFX(matmul_e4m3_fast)(const fr_tensor *W, const float *X, float *Y, int n, int64_t r0, int64_t r1) {
    if (fr_cols(W) % 64 || fr_cols(W) > FP8F_MAXC) PFX(matmul_e4m3)(W, X, Y, n, r0, r1);
    else if (n == 1) fp8f_decode(W, X, Y, r0, r1);
    else DPBF_GEMM(W, X, Y, n, r0, r1);
}
/* BF16 weights: several tokens on dpbf_gemm where cols is a multiple of 32 and
 * at most FP8F_MAXC; one token (memory-bound: the exact kernel streams faster
 * than DRAM) and other shapes the exact kernel */
static void PFX(matmul_bf16_fast)(const fr_tensor *W, const float *X, float *Y, int n, int64_t r0, int64_t r1) {
    if (n == 1 || fr_cols(W) % 32 || fr_cols(W) > FP8F_MAXC) PFX(matmul_bf16)(W, X, Y, n, r0, r1);
    else DPBF_GEMM(W, X, Y, n, r0, r1);
}
#define FAST_MATMUL_ENTRIES [FR_DT_F8_E4M3] = PFX(matmul_e4m3_fast), [FR_DT_BF16] = PFX(matmul_bf16_fast),
