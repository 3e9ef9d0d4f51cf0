/* FP8 (e4m3fn) weights, and BF16 weights in prefill, on vdpbf16ps: the not-exact path (included by
 * avx512/kernels.c when FR_BF16: the "avx512bf16" table, AVX512-BF16 + VBMI + GFNI).
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
 *     sign bit is or-ed into the high byte); S.1111.111 (NaN) maps to NaN.
 *     The decode (fp8f_decode) widens the normal codes by shifts instead, with
 *     2^-120 moved into x, and takes the table for the rest (see there);
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

#define FP8F_MAXC 32768 /* x as bfloat16 on the stack: 64 KiB (twice in fp8f_decode; 2 tokens of dpbf_gemm's chunk) */

/* bf16 bits of the e4m3 magnitude m (0..127), as fr_e4m3_to_f32 (test_kernels: every code) */
static inline unsigned fp8f_bf16_bits(unsigned m) {
    if (m == 0x7f) return 0x7fc0;         /* NaN */
    if (m >= 8) return (m << 4) + 0x3c00; /* 2^(e-7) (1 + f/8): exponent field e + 120 */
    const float v = (float)m * 0x1p-9f;   /* subnormal: m 2^-9 */
    uint32_t u;
    memcpy(&u, &v, 4);
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

/* the high and low bytes of bf16(e4m3 b) for 64 weights b, byte for byte */
static inline __attribute__((always_inline)) void fp8f_lut(const __m512i b, const fp8f_tab *t, __m512i *hi,
                                                            __m512i *lo) {
    *lo = _mm512_permutex2var_epi8(t->tl0, b, t->tl1);
    *hi = _mm512_ternarylogic_epi32(_mm512_permutex2var_epi8(t->th0, b, t->th1), b, t->sign, 0xF8); /* | b & 0x80 */
}

/* 64 e4m3 weights b as 2 x 32 bfloat16 in the order of fp8f_x */
static inline __attribute__((always_inline)) void fp8f_cvt(const __m512i b, const fp8f_tab *t, __m512bh *e0,
                                                            __m512bh *e1) {
    __m512i hi, lo;
    fp8f_lut(b, t, &hi, &lo);
    *e0 = (__m512bh)_mm512_unpacklo_epi8(lo, hi);
    *e1 = (__m512bh)_mm512_unpackhi_epi8(lo, hi);
}
/* the same for the 64 weights at w */
static inline __attribute__((always_inline)) void fp8f_cvt64(const unsigned char *w, const fp8f_tab *t, __m512bh *e0,
                                                              __m512bh *e1) {
    fp8f_cvt(_mm512_loadu_si512(w), t, e0, e1);
}

/* the end of row r's 128-row block, whose rows share the block scales; at most r1 */
static inline int64_t fp8f_rows_end(int64_t r, int64_t r1) {
    const int64_t e = (r / FR_FP8_BLOCK + 1) * FR_FP8_BLOCK;
    return e < r1 ? e : r1;
}

/* ---- one token: FP8 rows without the table (fp8f_decode) ----
 * The e4m3 byte s.eeee.mmm put at bits 15 (s) and 10..4 (eeee.mmm) of a
 * 16-bit word is the bfloat16 of its value times 2^-120 (exponent field e, not
 * e + 120) for every code with e >= 1, and for zero. So with
 *   x'_c = bf16(x_c s_c 2^120) = 2^120 bf16(x_c s_c)
 * (exact while |x s| < 2^7, which fp8f_xd checks; otherwise the block's rows
 * take the exact kernel) each product is w bf16(x s), the same as the table's
 * (fp8f_cvt), and the conversion is three shifts and two ands per 64 weights
 * of a 64-byte chunk v, seen as 32 words:
 *   odd bytes  O = (v >>a 4) & 0x87f0,   even bytes  E = ((v << 8) >>a 4) & 0x87f0.
 * Those run on port 0, beside vdpbf16ps, which on this core holds port 5 for
 * two cycles; the table's two vpermi2b and two unpacks are port 5 too.
 * The codes the words get wrong are the subnormals (e = 0, m > 0: a bfloat16
 * denormal, which vdpbf16ps reads as zero) and NaN (a finite word). One
 * vgf2p8affineqb per 64 weights finds them: y = A b over GF(2), with
 *   y6..y4 = e3^e2, e2^e1, e1^e0,  y3 = e0,  y2..y0 = m ^ (e0 e0 e0),  y7 = 0,
 * is <= 8 exactly for e = 0 (y = m) and for NaN (y = 8). 128 weights holding
 * one take the table instead (exact for every code) against x'' = bf16(x s):
 * the same products. In a block-scaled checkpoint (the block's largest weight
 * 448) about 1e-4 of the weights fall below 2^-6, so about 1 % of the chunks
 * take that branch; a file full of them runs at about the table's speed. */

#define FP8F_PD 4096 /* bytes of the row stream prefetched ahead */

/* x'_c = bf16(x_c s_c 2^120) (s_c = sc[c / 128]) into xh and x''_c = bf16(x_c
 * s_c) into xp, in fp8f_row's order: per 64 columns the 32 even ones, then the
 * 32 odd ones; cols a multiple of 64. Returns 0 where some |x s| >= 2^7 or is
 * NaN: x' could overflow. */
static int fp8f_xd(const float *x, const float *sc, int64_t cols, uint16_t *xh, uint16_t *xp) {
    uint16_t ie[32], io[32];
    for (int k = 0; k < 32; k++) ie[k] = (uint16_t)(2 * k), io[k] = (uint16_t)(2 * k + 1);
    const __m512i pe = _mm512_loadu_si512(ie), po = _mm512_loadu_si512(io); /* index bit 5 selects b */
    const __m512 lim = _mm512_set1_ps(128.0f), up = _mm512_set1_ps(0x1p120f);
    __mmask16 big = 0;
    for (int64_t c = 0; c < cols; c += 64) {
        const __m512 s = _mm512_set1_ps(sc[c / FR_FP8_BLOCK]);
        __m512 v[4], u[4];
        for (int k = 0; k < 4; k++) {
            v[k] = _mm512_mul_ps(_mm512_loadu_ps(x + c + 16 * k), s);
            big |= _mm512_cmp_ps_mask(_mm512_abs_ps(v[k]), lim, _CMP_NLT_UQ);
            u[k] = _mm512_mul_ps(v[k], up); /* exact */
        }
        /* natural order: a = columns 0-31, b = 32-63 (cvtne2ps: the high half from the first operand) */
        __m512i a = (__m512i)_mm512_cvtne2ps_pbh(u[1], u[0]), b = (__m512i)_mm512_cvtne2ps_pbh(u[3], u[2]);
        _mm512_storeu_si512(xh + c, _mm512_permutex2var_epi16(a, pe, b));
        _mm512_storeu_si512(xh + c + 32, _mm512_permutex2var_epi16(a, po, b));
        a = (__m512i)_mm512_cvtne2ps_pbh(v[1], v[0]), b = (__m512i)_mm512_cvtne2ps_pbh(v[3], v[2]);
        _mm512_storeu_si512(xp + c, _mm512_permutex2var_epi16(a, pe, b));
        _mm512_storeu_si512(xp + c + 32, _mm512_permutex2var_epi16(a, po, b));
    }
    return big == 0;
}

/* 64 e4m3 weights b as bfloat16 by the table (fp8f_cvt), in fp8f_row's order:
 * e the even bytes, o the odd ones */
static inline __attribute__((always_inline)) void fp8f_cvt_eo(const __m512i b, const fp8f_tab *t, __m512bh *e,
                                                               __m512bh *o) {
    __m512i hi, lo;
    fp8f_lut(b, t, &hi, &lo);
    const __m512i lw = _mm512_set1_epi16(0xff);
    *e = (__m512bh)_mm512_or_si512(_mm512_and_si512(lo, lw), _mm512_slli_epi16(hi, 8));
    *o = (__m512bh)_mm512_or_si512(_mm512_srli_epi16(lo, 8), _mm512_andnot_si512(lw, hi));
}

/* The 64 bytes at column c of row w, read in order c = 0, 64, ... by whole
 * 64-byte lines one ahead of their use (which helps aligned rows too: 55-58 ->
 * 61-70 GB/s on 2 threads with the table), also where the tensor's data is not
 * aligned: a load across two cache lines had slowed the row stream to 48-50
 * GB/s, and a mapped safetensors file places tensors at any offset (those of
 * a file the generator wrote start 56 bytes past a line; read into memory the
 * data section starts on a line, safetensors.c). wa = w - mis is the row's line,
 * *line the line at wa + c. J: 0 the row is aligned; 1 mis % 4 == 0, the
 * lines joined by vpermt2d (one cycle); 2 by vpermt2b (two). The first and
 * last chunks load unaligned, so no byte outside the row is read. */
static inline __attribute__((always_inline)) __m512i fp8f_load(const unsigned char *w, const unsigned char *wa, int J,
                                                                __m512i join, __m512i *line, int64_t c, int64_t cols) {
    _mm_prefetch((const char *)(w + c + FP8F_PD), _MM_HINT_T0); /* past the tensor: no fault */
    if (FR_PF_L2) _mm_prefetch((const char *)(w + c + FR_PF_L2), _MM_HINT_T1); /* kernels.h */
    if (c == 0) return _mm512_loadu_si512(w);
    if (c + 64 == cols) return J ? _mm512_loadu_si512(w + c) : *line;
    const __m512i next = _mm512_load_si512(wa + c + 64);
    const __m512i b = J == 0   ? *line
                      : J == 1 ? _mm512_permutex2var_epi32(*line, join, next)
                               : _mm512_permutex2var_epi8(*line, join, next);
    *line = next;
    return b;
}

#define FP8F_E(v) (__m512bh) _mm512_and_si512(_mm512_srai_epi16(_mm512_slli_epi16(v, 8), 4), m) /* even bytes */
#define FP8F_O(v) (__m512bh) _mm512_and_si512(_mm512_srai_epi16(v, 4), m)                        /* odd bytes */

/* one row w (mis bytes past a line): sum_c w_c x'_c in four accumulators.
 * CHK: look for the codes the shifts get wrong, and set *other where some
 * chunk held one; 0: the row is known to hold none (W->f8rows). The products
 * and their order are the same either way. */
static inline __attribute__((always_inline)) float fp8f_row(const int CHK, const unsigned char *w, int mis, int J,
                                                             __m512i join, const uint16_t *xh, const uint16_t *xp,
                                                             const fp8f_tab *tb, int64_t cols, int *other) {
    const __m512i m = _mm512_set1_epi16((short)0x87f0), A = _mm512_set1_epi64(0x090A0C0818306000LL),
                  e8 = _mm512_set1_epi8(8);
    const unsigned char *wa = w - mis;
    __m512i line = cols > 64 ? _mm512_load_si512(wa + 64) : _mm512_setzero_si512(); /* at wa + c */
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    __m512bh e0, o0, e1, o1;
    int64_t c = 0;
    for (; c + 128 <= cols; c += 128) {
        const __m512i v = fp8f_load(w, wa, J, join, &line, c, cols);
        const __m512i u = fp8f_load(w, wa, J, join, &line, c + 64, cols);
        const uint16_t *xc = xh + c;
        if (CHK && __builtin_expect(_mm512_cmple_epu8_mask(_mm512_min_epu8(_mm512_gf2p8affine_epi64_epi8(v, A, 0),
                                                                           _mm512_gf2p8affine_epi64_epi8(u, A, 0)),
                                                           e8) != 0,
                                    0)) { /* the table, against x'' */
            fp8f_cvt_eo(v, tb, &e0, &o0), fp8f_cvt_eo(u, tb, &e1, &o1);
            xc = xp + c, *other = 1;
        } else
            e0 = FP8F_E(v), o0 = FP8F_O(v), e1 = FP8F_E(u), o1 = FP8F_O(u);
        s0 = _mm512_dpbf16_ps(s0, e0, (__m512bh)_mm512_load_si512(xc));
        s1 = _mm512_dpbf16_ps(s1, o0, (__m512bh)_mm512_load_si512(xc + 32));
        s2 = _mm512_dpbf16_ps(s2, e1, (__m512bh)_mm512_load_si512(xc + 64));
        s3 = _mm512_dpbf16_ps(s3, o1, (__m512bh)_mm512_load_si512(xc + 96));
    }
    if (c < cols) { /* a last 64 */
        const __m512i v = fp8f_load(w, wa, J, join, &line, c, cols);
        const uint16_t *xc = xh + c;
        if (CHK && _mm512_cmple_epu8_mask(_mm512_gf2p8affine_epi64_epi8(v, A, 0), e8))
            fp8f_cvt_eo(v, tb, &e0, &o0), xc = xp + c, *other = 1;
        else
            e0 = FP8F_E(v), o0 = FP8F_O(v);
        s0 = _mm512_dpbf16_ps(s0, e0, (__m512bh)_mm512_load_si512(xc));
        s1 = _mm512_dpbf16_ps(s1, o0, (__m512bh)_mm512_load_si512(xc + 32));
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}
#undef FP8F_E
#undef FP8F_O

/* fp8f_row with the join the row's offset in its line asks for (fp8f_load's J) */
static inline __attribute__((always_inline)) float fp8f_row_at(const int CHK, const unsigned char *w, int mis,
                                                                __m512i joinb, __m512i joind, const uint16_t *xh,
                                                                const uint16_t *xp, const fp8f_tab *tb, int64_t cols,
                                                                int *other) {
    return !mis           ? fp8f_row(CHK, w, 0, 0, joinb, xh, xp, tb, cols, other)
           : mis % 4 == 0 ? fp8f_row(CHK, w, mis, 1, joind, xh, xp, tb, cols, other)
                          : fp8f_row(CHK, w, mis, 2, joinb, xh, xp, tb, cols, other);
}

/* W [rows, cols] e4m3 bytes, scale [rows/128][cols/128]; x [cols]; Y[r] for r
 * in [r0, r1). x' once per 128-row block (its rows share the scales), so a
 * row is one sum over its columns. A row's first pass looks for the codes the
 * shifts get wrong and notes in W->f8rows whether it found any; a row of
 * normal codes is then read without the test (the weights are read-only): in
 * a block-scaled checkpoint about 4 rows in 5 of 2048 columns. Skipping the
 * test sped the 27-layer V2-Lite's FP8 decode up by 4-22 % (bench/RESULTS.md
 * Run 25).
 * Each row is one thread's in a call, and calls are ordered by the pool's
 * barrier; the byte is a relaxed atomic all the same, so that two decodes on
 * one model at once (which could both test a row, and note the same) do not
 * race. */
static void fp8f_decode(const fr_tensor *W, const float *x, float *Y, int64_t r0, int64_t r1) {
    const int64_t cols = fr_cols(W), nb = (cols + FR_FP8_BLOCK - 1) / FR_FP8_BLOCK;
    uint16_t xh[FP8F_MAXC] __attribute__((aligned(64))), xp[FP8F_MAXC] __attribute__((aligned(64)));
    fp8f_tab tb;
    fp8f_tab_init(&tb);
    const int mis = (int)((uintptr_t)W->data & 63); /* the same for every row: cols % 64 == 0 */
    uint8_t jb[64];
    uint32_t jd[16];
    for (int i = 0; i < 64; i++) jb[i] = (uint8_t)(i + mis);
    for (int i = 0; i < 16; i++) jd[i] = (uint32_t)(i + mis / 4);
    const __m512i joinb = _mm512_loadu_si512(jb), joind = _mm512_loadu_si512(jd);
    for (int64_t rb0 = r0, rb1; rb0 < r1; rb0 = rb1) {
        rb1 = fp8f_rows_end(rb0, r1);
        if (!fp8f_xd(x, W->scale + (rb0 / FR_FP8_BLOCK) * nb, cols, xh, xp)) {
            PFX(matmul_e4m3)(W, x, Y, 1, rb0, rb1); /* |x s| >= 2^7: x' could overflow */
            continue;
        }
        for (int64_t r = rb0; r < rb1; r++) {
            const unsigned char *w = (const unsigned char *)W->data + r * cols;
            const int seen = fr_f8row_get(W, r);
            int other = 0;
            Y[r] = seen == FR_F8ROW_NORMAL ? fp8f_row_at(0, w, mis, joinb, joind, xh, xp, &tb, cols, &other)
                                           : fp8f_row_at(1, w, mis, joinb, joind, xh, xp, &tb, cols, &other);
            if (seen == FR_F8ROW_UNSEEN) fr_f8row_note(W, r, other);
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
