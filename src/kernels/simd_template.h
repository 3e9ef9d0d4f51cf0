/* Matrix kernels written once for a vector ISA, included by
 * kernels/avx2/kernels.c and kernels/avx512/kernels.c. The includer defines:
 *   VW                  floats per vector;  V  the vector type
 *   VZERO() VSET1(f) VLOADU(p) VSTOREU(p, v) VADD(a, b) VMUL(a, b) VFMA(a, b, c) (a*b + c) VHSUM(v)
 *   VHSUM16(r, out)     optional: out[e] = VHSUM(r[e]) for 16 vectors at once
 *   LD_F16(p) LD_BF16(p)   VW weights at p as exact float32 values
 *   LD_I8(p)            VW int8 at p as float32 (Q8_0 rows)
 *   LD2_BF16_EO(p, ev, od) 2*VW BF16 weights at p: the even and the odd ones
 *   LD2_E4M3(p, lo, hi)    2*VW FP8 weights at p as float32 values times 2^-8
 *                          (exact; through float16: the same bits shifted)
 *   PFX(name)           the ISA's prefix for exported names
 *
 * Y[t][r] = sum_c W[r][c] X[t][c] over a register tile of RB weight rows x TB
 * tokens: each weight vector is converted once and used for TB tokens, each x
 * vector for RB rows. Accumulation is float32 across the row (VW partial sums
 * per output, summed at the end). For prefill, tokens go in blocks whose
 * activations stay in L2 while the weight rows stream once per block. */
#include <string.h>

#include "kernels/generic/generic.h"
#include "kernels/kernels.h"

#define RB 4     /* weight rows per tile */
#ifndef TBMAX
#define TBMAX 6  /* tokens per tile, at most: RB x TBMAX sums + TBMAX x vectors + a weight vector */
#endif
#define AI __attribute__((always_inline)) inline

static AI int esize(const int dt) { return dt == FR_DT_F32 ? 4 : dt == FR_DT_F8_E4M3 ? 1 : 2; }

static AI V ldw(const int dt, const unsigned char *p) {
    switch (dt) {
    case FR_DT_F32: return VLOADU((const float *)(const void *)p);
    case FR_DT_F16: return LD_F16(p);
    default: return LD_BF16(p);
    }
}

/* 2*VW weights at p; FP8 values come times 2^-8 (the scale carries 2^8) */
static AI void ldw2(const int dt, const unsigned char *p, V *lo, V *hi) {
    if (dt == FR_DT_F8_E4M3) {
        LD2_E4M3(p, *lo, *hi);
    } else {
        *lo = ldw(dt, p);
        *hi = ldw(dt, p + VW * esize(dt));
    }
}

/* out[i*TB + j] = W row wr[i] . x row xr[j]; sr[i]: the row's FP8 block scales */
static AI void tile(const int dt, const int TB, const unsigned char *const *wr, const float *const *sr,
                    const float *const *xr, int64_t cols, float *out) {
    const int es = esize(dt);
    V acc[RB][TBMAX];
    for (int i = 0; i < RB; i++)
        for (int j = 0; j < TB; j++) acc[i][j] = VZERO();
    const int64_t blk = dt == FR_DT_F8_E4M3 ? FR_FP8_BLOCK : cols;
    for (int64_t b0 = 0; b0 < cols; b0 += blk) {
        const int64_t b1 = b0 + blk < cols ? b0 + blk : cols;
        V sv[RB];
        if (dt == FR_DT_F8_E4M3)
            for (int i = 0; i < RB; i++) sv[i] = VSET1(sr[i][b0 / FR_FP8_BLOCK] * 256.0f);
        int64_t c = b0;
        if (dt != FR_DT_F8_E4M3) {
            /* one vector per step: TB x vectors + RB*TB sums fit the registers */
            for (; c + VW <= b1; c += VW) {
                V xv[TBMAX];
                for (int j = 0; j < TB; j++) xv[j] = VLOADU(xr[j] + c);
                for (int i = 0; i < RB; i++) {
                    V w = ldw(dt, wr[i] + c * es);
                    for (int j = 0; j < TB; j++) acc[i][j] = VFMA(w, xv[j], acc[i][j]);
                }
            }
        } else {
            /* FP8 converts two vectors at a time */
            for (; c + 2 * VW <= b1; c += 2 * VW) {
                V xv[TBMAX], xw[TBMAX];
                for (int j = 0; j < TB; j++) xv[j] = VLOADU(xr[j] + c), xw[j] = VLOADU(xr[j] + c + VW);
                for (int i = 0; i < RB; i++) {
                    V w0, w1;
                    ldw2(dt, wr[i] + c * es, &w0, &w1);
                    w0 = VMUL(w0, sv[i]), w1 = VMUL(w1, sv[i]);
                    for (int j = 0; j < TB; j++) acc[i][j] = VFMA(w0, xv[j], acc[i][j]);
                    for (int j = 0; j < TB; j++) acc[i][j] = VFMA(w1, xw[j], acc[i][j]);
                }
            }
        }
        if (c < b1) { /* the rest of the row (< 2 vectors), zero-padded */
            const int m = (int)(b1 - c);
            unsigned char wt[RB][2 * VW * 4];
            float xt[TBMAX][2 * VW];
            memset(wt, 0, sizeof wt);
            memset(xt, 0, sizeof xt);
            for (int j = 0; j < TB; j++) memcpy(xt[j], xr[j] + c, (size_t)m * sizeof(float));
            for (int i = 0; i < RB; i++) {
                memcpy(wt[i], wr[i] + c * es, (size_t)m * (size_t)es);
                V w0, w1;
                ldw2(dt, wt[i], &w0, &w1);
                if (dt == FR_DT_F8_E4M3) w0 = VMUL(w0, sv[i]), w1 = VMUL(w1, sv[i]);
                for (int j = 0; j < TB; j++) acc[i][j] = VFMA(w0, VLOADU(xt[j]), acc[i][j]);
                for (int j = 0; j < TB; j++) acc[i][j] = VFMA(w1, VLOADU(xt[j] + VW), acc[i][j]);
            }
        }
    }
    for (int i = 0; i < RB; i++)
        for (int j = 0; j < TB; j++) out[i * TB + j] = VHSUM(acc[i][j]);
}

/* one tile of RB rows from r (rows past r1 repeat the last) and TB tokens from t */
static AI void run_tile(const int dt, const int TB, const fr_tensor *W, const float *X, float *Y, int64_t r,
                        int64_t r1, int t) {
    const int64_t rows = fr_rows(W), cols = fr_cols(W), nb = (cols + FR_FP8_BLOCK - 1) / FR_FP8_BLOCK;
    const int es = esize(dt);
    const unsigned char *wr[RB];
    const float *sr[RB] = {0};
    const float *xr[TBMAX];
    for (int i = 0; i < RB; i++) {
        int64_t ri = r + i < r1 ? r + i : r1 - 1;
        wr[i] = (const unsigned char *)W->data + ri * cols * es;
        if (dt == FR_DT_F8_E4M3) sr[i] = W->scale + (ri / FR_FP8_BLOCK) * nb;
    }
    for (int j = 0; j < TB; j++) xr[j] = X + (int64_t)(t + j) * cols;
    float out[RB * TBMAX];
    tile(dt, TB, wr, sr, xr, cols, out);
    for (int i = 0; i < RB && r + i < r1; i++)
        for (int j = 0; j < TB; j++) Y[(int64_t)(t + j) * rows + r + i] = out[i * TB + j];
}

/* weights [r0 .. r0+RB) x columns [c0, c1) as float32 rows of length c1 - c0
 * (rows past r1 repeat the last); c0 a multiple of 2*VW and of the FP8 block */
#define PANEL 1024
static AI void panel_f32(const int dt, const fr_tensor *W, int64_t r, int64_t r1, int64_t c0, int64_t c1,
                         float *dst) {
    const int64_t cols = fr_cols(W), nb = (cols + FR_FP8_BLOCK - 1) / FR_FP8_BLOCK;
    const int es = esize(dt);
    for (int i = 0; i < RB; i++) {
        int64_t ri = r + i < r1 ? r + i : r1 - 1;
        const unsigned char *p = (const unsigned char *)W->data + ri * cols * es;
        const float *s = dt == FR_DT_F8_E4M3 ? W->scale + (ri / FR_FP8_BLOCK) * nb : NULL;
        float *d = dst + (size_t)i * PANEL;
        int64_t c = c0;
        for (; c + 2 * VW <= c1; c += 2 * VW) {
            V w0, w1;
            ldw2(dt, p + c * es, &w0, &w1);
            if (dt == FR_DT_F8_E4M3) {
                V sc = VSET1(s[c / FR_FP8_BLOCK] * 256.0f);
                w0 = VMUL(w0, sc), w1 = VMUL(w1, sc);
            }
            VSTOREU(d + (c - c0), w0);
            VSTOREU(d + (c - c0) + VW, w1);
        }
        if (c < c1) fr_dequant_segment(W, ri, c, c1, d + (c - c0));
    }
}

/* a tile of float32 panel rows (stride PANEL) x TB tokens; Y += or = */
static AI void panel_tile(const int TB, const float *wp, const float *X, float *Y, int64_t rows, int64_t cols,
                          int64_t r, int64_t r1, int t, int64_t c0, int64_t c1) {
    const unsigned char *wr[RB];
    const float *sr[RB] = {0};
    const float *xr[TBMAX];
    for (int i = 0; i < RB; i++) wr[i] = (const unsigned char *)(wp + (size_t)i * PANEL);
    for (int j = 0; j < TB; j++) xr[j] = X + (int64_t)(t + j) * cols + c0;
    float out[RB * TBMAX];
    tile(FR_DT_F32, TB, wr, sr, xr, c1 - c0, out);
    for (int i = 0; i < RB && r + i < r1; i++)
        for (int j = 0; j < TB; j++) {
            float *y = &Y[(int64_t)(t + j) * rows + r + i];
            *y = c0 ? *y + out[i * TB + j] : out[i * TB + j];
        }
}

/* Decode (one token) of BF16 weights. Each thread reads its rows as two
 * sequential streams, rows r0 + i and r0 + h + i together (h half the rows):
 * on the Zen 3 VM one stream a thread read 12-13 GB/s from DRAM, two 20-23
 * (2 threads: 23-24 -> 29-31 GB/s; bench/RESULTS.md Run 35); more interleaved
 * streams are served slower (kernels/dispatch.c). A pair's rows get the sums a
 * row alone gets, bit for bit, so the split of rows among threads changes no
 * output. A 32-bit load holds two weights, the even one in its low half:
 * shifting and masking give both as floats with no widening shuffle; x is split
 * into even and odd lanes once per call. Four accumulators a row keep the FMAs
 * independent. */
#define DEC_MAXC 16384
#ifndef DEC_PD
#define DEC_PD 4096 /* bytes of the row stream prefetched ahead by decode_bf16 (0: none) */
#endif
/* rows w[0 .. N) (N = 1 or 2) into y[0 .. N) */
static AI void decode_bf16_rows(const int N, const uint16_t *const *w, const float *xp, const float *x, int64_t cols,
                                float *y) {
    const int64_t cf = cols / (2 * VW) * (2 * VW);
    V a[2][4];
    for (int k = 0; k < N; k++) a[k][0] = a[k][1] = a[k][2] = a[k][3] = VZERO();
    int64_t c = 0;
    for (; c + 4 * VW <= cf; c += 4 * VW)
        for (int k = 0; k < N; k++) {
            V we, wo, we2, wo2;
            if (DEC_PD) { /* the row stream ahead (past the rows: no fault) */
                _mm_prefetch((const char *)(w[k] + c) + DEC_PD, _MM_HINT_T0);
                if (4 * VW * 2 > 64) _mm_prefetch((const char *)(w[k] + c) + DEC_PD + 64, _MM_HINT_T0);
            }
            LD2_BF16_EO(w[k] + c, we, wo);
            LD2_BF16_EO(w[k] + c + 2 * VW, we2, wo2);
            a[k][0] = VFMA(we, VLOADU(xp + c), a[k][0]);
            a[k][1] = VFMA(wo, VLOADU(xp + c + VW), a[k][1]);
            a[k][2] = VFMA(we2, VLOADU(xp + c + 2 * VW), a[k][2]);
            a[k][3] = VFMA(wo2, VLOADU(xp + c + 3 * VW), a[k][3]);
        }
    for (; c < cf; c += 2 * VW)
        for (int k = 0; k < N; k++) {
            V we, wo;
            LD2_BF16_EO(w[k] + c, we, wo);
            a[k][0] = VFMA(we, VLOADU(xp + c), a[k][0]);
            a[k][1] = VFMA(wo, VLOADU(xp + c + VW), a[k][1]);
        }
    for (int k = 0; k < N; k++) {
        float t = 0;
        for (c = cf; c < cols; c++) t += fr_bf16_to_f32(w[k][c]) * x[c];
        y[k] = VHSUM(VADD(VADD(a[k][0], a[k][1]), VADD(a[k][2], a[k][3]))) + t;
    }
}

static void decode_bf16(const fr_tensor *W, const float *x, float *Y, int64_t r0, int64_t r1) {
    const int64_t cols = fr_cols(W), cf = cols / (2 * VW) * (2 * VW), h = (r1 - r0) / 2;
    float xp[DEC_MAXC];
    for (int64_t c = 0; c < cf; c += 2 * VW)
        for (int i = 0; i < VW; i++) xp[c + i] = x[c + 2 * i], xp[c + VW + i] = x[c + 2 * i + 1];
    const uint16_t *w0 = W->data;
    for (int64_t i = 0; i < h; i++) {
        const uint16_t *w[2] = {w0 + (r0 + i) * cols, w0 + (r0 + h + i) * cols};
        float y[2];
        decode_bf16_rows(2, w, xp, x, cols, y);
        Y[r0 + i] = y[0], Y[r0 + h + i] = y[1];
    }
    if ((r1 - r0) % 2) { /* the odd row, alone */
        const uint16_t *w[1] = {w0 + (r1 - 1) * cols};
        decode_bf16_rows(1, w, xp, x, cols, &Y[r1 - 1]);
    }
}

#ifdef DECODE_LINES_H /* the ISA's BF16 decode on whole cache lines (avx512/decode_lines.h) */
#include DECODE_LINES_H
#else
#define DECODE_BF16 decode_bf16
#endif

/* Decode (one token) of FP8 weights, one row at a time (a sequential stream):
 * products summed per 128-column block in four accumulators, then scaled once
 * per block (not per weight). */
static void decode_e4m3(const fr_tensor *W, const float *x, float *Y, int64_t r0, int64_t r1) {
    const int64_t cols = fr_cols(W), nb = (cols + FR_FP8_BLOCK - 1) / FR_FP8_BLOCK;
    for (int64_t r = r0; r < r1; r++) {
        const unsigned char *w = (const unsigned char *)W->data + r * cols;
        const float *sr = W->scale + (r / FR_FP8_BLOCK) * nb;
        V acc = VZERO();
        for (int64_t b0 = 0; b0 < cols; b0 += FR_FP8_BLOCK) {
            const int64_t b1 = b0 + FR_FP8_BLOCK < cols ? b0 + FR_FP8_BLOCK : cols;
            V s0 = VZERO(), s1 = VZERO(), s2 = VZERO(), s3 = VZERO();
            int64_t c = b0;
            for (; c + 4 * VW <= b1; c += 4 * VW) {
                V w0, w1, w2, w3;
                LD2_E4M3(w + c, w0, w1);
                LD2_E4M3(w + c + 2 * VW, w2, w3);
                s0 = VFMA(w0, VLOADU(x + c), s0);
                s1 = VFMA(w1, VLOADU(x + c + VW), s1);
                s2 = VFMA(w2, VLOADU(x + c + 2 * VW), s2);
                s3 = VFMA(w3, VLOADU(x + c + 3 * VW), s3);
            }
            for (; c + 2 * VW <= b1; c += 2 * VW) {
                V w0, w1;
                LD2_E4M3(w + c, w0, w1);
                s0 = VFMA(w0, VLOADU(x + c), s0);
                s1 = VFMA(w1, VLOADU(x + c + VW), s1);
            }
            if (c < b1) { /* the row's last partial step, zero-padded */
                const int m = (int)(b1 - c);
                unsigned char wt[2 * VW];
                float xt[2 * VW];
                memset(xt, 0, sizeof xt);
                memset(wt, 0, sizeof wt);
                memcpy(xt, x + c, (size_t)m * sizeof(float));
                memcpy(wt, w + c, (size_t)m);
                V w0, w1;
                LD2_E4M3(wt, w0, w1);
                s0 = VFMA(w0, VLOADU(xt), s0);
                s1 = VFMA(w1, VLOADU(xt + VW), s1);
            }
            acc = VFMA(VADD(VADD(s0, s1), VADD(s2, s3)), VSET1(sr[b0 / FR_FP8_BLOCK] * 256.0f), acc);
        }
        Y[r] = VHSUM(acc);
    }
}

#ifdef DECODE_E4M3_H /* the ISA's FP8 decode, the same floats (avx2/decode_e4m3.h) */
#include DECODE_E4M3_H
#else
#define DECODE_E4M3 decode_e4m3
#endif

static AI void matmul_body(const int dt, const fr_tensor *W, const float *X, float *Y, int n, int64_t r0,
                           int64_t r1) {
    const int64_t rows = fr_rows(W), cols = fr_cols(W);
    /* tokens per block: their activations (cols floats each) fill about 384 KiB */
    int64_t tb = (384 * 1024) / (cols * (int64_t)sizeof(float));
    int tblk = tb < TBMAX ? TBMAX : tb > 240 ? 240 : (int)(tb / TBMAX * TBMAX);
    for (int t0 = 0; t0 < n; t0 += tblk) {
        const int t1 = t0 + tblk < n ? t0 + tblk : n;
        for (int64_t r = r0; r < r1; r += RB) {
            if (dt == FR_DT_F8_E4M3 && t1 - t0 >= 2 * TBMAX) {
                /* FP8 and many tokens: convert the weights once per panel of columns
                 * and run float32 tiles on it (the sum is split per panel; measured
                 * 74 vs 57 GFLOP/s per thread; BF16 is faster converted in the tile) */
                float wp[RB * PANEL];
                for (int64_t c0 = 0; c0 < cols; c0 += PANEL) {
                    const int64_t c1 = c0 + PANEL < cols ? c0 + PANEL : cols;
                    panel_f32(dt, W, r, r1, c0, c1, wp);
                    int t = t0;
                    for (; t + TBMAX <= t1; t += TBMAX) panel_tile(TBMAX, wp, X, Y, rows, cols, r, r1, t, c0, c1);
                    for (; t + 3 <= t1; t += 3) panel_tile(3, wp, X, Y, rows, cols, r, r1, t, c0, c1);
                    for (; t < t1; t++) panel_tile(1, wp, X, Y, rows, cols, r, r1, t, c0, c1);
                }
                continue;
            }
            int t = t0;
            for (; t + TBMAX <= t1; t += TBMAX) run_tile(dt, TBMAX, W, X, Y, r, r1, t);
            for (; t + 3 <= t1; t += 3) run_tile(dt, 3, W, X, Y, r, r1, t);
            for (; t < t1; t++) run_tile(dt, 1, W, X, Y, r, r1, t);
        }
    }
}

static void PFX(matmul_f32)(const fr_tensor *W, const float *X, float *Y, int n, int64_t r0, int64_t r1) {
    matmul_body(FR_DT_F32, W, X, Y, n, r0, r1);
}
static void PFX(matmul_f16)(const fr_tensor *W, const float *X, float *Y, int n, int64_t r0, int64_t r1) {
    matmul_body(FR_DT_F16, W, X, Y, n, r0, r1);
}
static void PFX(matmul_bf16)(const fr_tensor *W, const float *X, float *Y, int n, int64_t r0, int64_t r1) {
    if (n == 1 && fr_cols(W) <= DEC_MAXC) DECODE_BF16(W, X, Y, r0, r1);
    else matmul_body(FR_DT_BF16, W, X, Y, n, r0, r1);
}
static void PFX(matmul_e4m3)(const fr_tensor *W, const float *X, float *Y, int n, int64_t r0, int64_t r1) {
    if (n == 1) DECODE_E4M3(W, X, Y, r0, r1);
    else matmul_body(FR_DT_F8_E4M3, W, X, Y, n, r0, r1);
}

static float PFX(dot)(const float *a, const float *b, int n) {
    V s0 = VZERO(), s1 = VZERO(), s2 = VZERO(), s3 = VZERO();
    int i = 0;
    for (; i + 4 * VW <= n; i += 4 * VW) {
        s0 = VFMA(VLOADU(a + i), VLOADU(b + i), s0);
        s1 = VFMA(VLOADU(a + i + VW), VLOADU(b + i + VW), s1);
        s2 = VFMA(VLOADU(a + i + 2 * VW), VLOADU(b + i + 2 * VW), s2);
        s3 = VFMA(VLOADU(a + i + 3 * VW), VLOADU(b + i + 3 * VW), s3);
    }
    for (; i + VW <= n; i += VW) s0 = VFMA(VLOADU(a + i), VLOADU(b + i), s0);
    float s = VHSUM(VADD(VADD(s0, s1), VADD(s2, s3)));
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

static void PFX(axpy)(float *y, float a, const float *x, int n) {
    V av = VSET1(a);
    int i = 0;
    for (; i + VW <= n; i += VW) VSTOREU(y + i, VFMA(av, VLOADU(x + i), VLOADU(y + i)));
    for (; i < n; i++) y[i] += a * x[i];
}

#ifdef VHSUM16
#define VHSUM16_ON 1
#else
#define VHSUM16_ON 0
#endif
/* fr_dots: a register tile of 4 rows of A x DOTS_NB rows of B (16 sums with
 * 4, AVX-512; AVX2's 16 registers take 3: 12 sums), k in steps of VW; tails
 * (m % 4, n % DOTS_NB) by narrower tiles; k % VW elements scalar. */
#ifndef DOTS_NB
#define DOTS_NB 4
#endif
static AI void dots_tile(const int MA, const int NB, const float *A, int64_t lda, const float *B, int64_t ldb,
                         float *C, int64_t ldc, int k) {
    V acc[16]; /* [i * 4 + j] */
    for (int i = 0; i < MA; i++)
        for (int j = 0; j < NB; j++) acc[i * 4 + j] = VZERO();
    int c = 0;
    for (; c + VW <= k; c += VW) {
        V b[4];
        for (int j = 0; j < NB; j++) b[j] = VLOADU(B + j * ldb + c);
        for (int i = 0; i < MA; i++) {
            V a = VLOADU(A + i * lda + c);
            for (int j = 0; j < NB; j++) acc[i * 4 + j] = VFMA(a, b[j], acc[i * 4 + j]);
        }
    }
    float s16[16];
#ifdef VHSUM16
    if (MA == 4 && NB == 4) VHSUM16(acc, s16); /* the 16 sums together */
#endif
    for (int i = 0; i < MA; i++)
        for (int j = 0; j < NB; j++) {
            float s = MA == 4 && NB == 4 && VHSUM16_ON ? s16[i * 4 + j] : VHSUM(acc[i * 4 + j]);
            for (int cc = c; cc < k; cc++) s += A[i * lda + cc] * B[j * ldb + cc];
            C[i * ldc + j] = s;
        }
}

static void PFX(dots)(const float *A, int64_t lda, const float *B, int64_t ldb, float *C, int64_t ldc, int m, int n,
                      int k) {
    for (int j = 0; j < n; j += DOTS_NB) {
        const int nb = n - j < DOTS_NB ? n - j : DOTS_NB;
        const float *b = B + j * ldb;
        int i = 0;
        for (; i + 4 <= m; i += 4) {
            const float *a = A + i * lda;
            float *cc = C + i * ldc + j;
            if (nb == 4) dots_tile(4, 4, a, lda, b, ldb, cc, ldc, k);
            else if (nb == 3) dots_tile(4, 3, a, lda, b, ldb, cc, ldc, k);
            else if (nb == 2) dots_tile(4, 2, a, lda, b, ldb, cc, ldc, k);
            else dots_tile(4, 1, a, lda, b, ldb, cc, ldc, k);
        }
        for (; i < m; i++) /* m % 4 rows of A, one at a time */
            for (int jj = 0; jj < nb; jj++) dots_tile(1, 1, A + i * lda, lda, b + jj * ldb, ldb, C + i * ldc + j + jj, ldc, k);
    }
}

/* fr_wsum: 8 rows of C x one vector of k in registers, all n rows of B
 * streamed through them (n is a block of cache rows that stays in L2). Each
 * product takes a broadcast of its weight; with WSUM_CV (AVX2: 4 rows x 2
 * vectors of k, 8 sums, one broadcast per 2 products) the m rows go WSUM_MA
 * at a time over WSUM_CV vectors instead. */
static AI void wsum_tile(const int MA, const float *P, int64_t ldp, const float *B, int64_t ldb, float *C, int64_t ldc,
                         int n, int c) {
    V acc[8];
    for (int i = 0; i < MA; i++) acc[i] = VLOADU(C + i * ldc + c);
    for (int j = 0; j < n; j++) {
        V b = VLOADU(B + j * ldb + c);
        for (int i = 0; i < MA; i++) acc[i] = VFMA(VSET1(P[i * ldp + j]), b, acc[i]);
    }
    for (int i = 0; i < MA; i++) VSTOREU(C + i * ldc + c, acc[i]);
}

#ifdef WSUM_CV
/* MA rows of C x WSUM_CV vectors of k from c */
static AI void wsum_tile_cv(const int MA, const float *P, int64_t ldp, const float *B, int64_t ldb, float *C,
                            int64_t ldc, int n, int c) {
    V acc[WSUM_MA][WSUM_CV];
    for (int i = 0; i < MA; i++)
        for (int v = 0; v < WSUM_CV; v++) acc[i][v] = VLOADU(C + i * ldc + c + v * VW);
    for (int j = 0; j < n; j++) {
        V b[WSUM_CV];
        for (int v = 0; v < WSUM_CV; v++) b[v] = VLOADU(B + j * ldb + c + v * VW);
        for (int i = 0; i < MA; i++) {
            const V p = VSET1(P[i * ldp + j]);
            for (int v = 0; v < WSUM_CV; v++) acc[i][v] = VFMA(p, b[v], acc[i][v]);
        }
    }
    for (int i = 0; i < MA; i++)
        for (int v = 0; v < WSUM_CV; v++) VSTOREU(C + i * ldc + c + v * VW, acc[i][v]);
}
#endif

static void PFX(wsum)(const float *P, int64_t ldp, const float *B, int64_t ldb, float *C, int64_t ldc, int m, int n,
                      int k) {
    int c = 0;
#ifdef WSUM_CV
    for (; c + WSUM_CV * VW <= k; c += WSUM_CV * VW) {
        int i = 0;
        for (; i + WSUM_MA <= m; i += WSUM_MA) wsum_tile_cv(WSUM_MA, P + i * ldp, ldp, B, ldb, C + i * ldc, ldc, n, c);
        for (; i < m; i++) wsum_tile_cv(1, P + i * ldp, ldp, B, ldb, C + i * ldc, ldc, n, c);
    }
#endif
    for (; c + VW <= k; c += VW)
        for (int i = 0; i < m; i += 8) {
            const int ma = m - i < 8 ? m - i : 8;
            if (ma == 8) wsum_tile(8, P + i * ldp, ldp, B, ldb, C + i * ldc, ldc, n, c);
            else if (ma >= 4) {
                wsum_tile(4, P + i * ldp, ldp, B, ldb, C + i * ldc, ldc, n, c);
                for (int ii = 4; ii < ma; ii++) wsum_tile(1, P + (i + ii) * ldp, ldp, B, ldb, C + (i + ii) * ldc, ldc, n, c);
            } else
                for (int ii = 0; ii < ma; ii++) wsum_tile(1, P + (i + ii) * ldp, ldp, B, ldb, C + (i + ii) * ldc, ldc, n, c);
        }
    for (; c < k; c++) /* k % VW columns */
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) C[i * ldc + c] += P[i * ldp + j] * B[j * ldb + c];
}

static AI void row_body(const int dt, const fr_tensor *W, int64_t r, float *dst) {
    const int64_t cols = fr_cols(W), nb = (cols + FR_FP8_BLOCK - 1) / FR_FP8_BLOCK;
    const int es = esize(dt);
    const unsigned char *p = (const unsigned char *)W->data + r * cols * es;
    const float *s = dt == FR_DT_F8_E4M3 ? W->scale + (r / FR_FP8_BLOCK) * nb : NULL;
    int64_t c = 0;
    for (; c + 2 * VW <= cols; c += 2 * VW) {
        V w0, w1;
        ldw2(dt, p + c * es, &w0, &w1);
        if (dt == FR_DT_F8_E4M3) {
            V sc = VSET1(s[c / FR_FP8_BLOCK] * 256.0f);
            w0 = VMUL(w0, sc), w1 = VMUL(w1, sc);
        }
        VSTOREU(dst + c, w0);
        VSTOREU(dst + c + VW, w1);
    }
    if (c < cols) fr_dequant_segment(W, r, c, cols, dst + c);
}

static void PFX(row_f32)(const fr_tensor *W, int64_t r, float *dst) {
    switch (W->dtype) {
    case FR_DT_F32: row_body(FR_DT_F32, W, r, dst); break;
    case FR_DT_F16: row_body(FR_DT_F16, W, r, dst); break;
    case FR_DT_BF16: row_body(FR_DT_BF16, W, r, dst); break;
    case FR_DT_F8_E4M3: row_body(FR_DT_F8_E4M3, W, r, dst); break;
    case FR_DT_Q8_0: { /* f16 d | i8 q[32] per block: q * d, the generic decoder's product */
        const unsigned char *p = (const unsigned char *)W->data + (size_t)r * fr_row_bytes(W);
        for (int64_t b = 0; b < fr_cols(W) / 32; b++, p += 34, dst += 32) {
            const V d = VSET1(fr_f16_to_f32((uint16_t)(p[0] | p[1] << 8)));
            for (int k = 0; k < 32; k += VW) VSTOREU(dst + k, VMUL(LD_I8(p + 2 + k), d));
        }
        break;
    }
    default: fr_tensor_row_f32(W, r, dst); break;
    }
}

const fr_kernel_table PFX(table) = {
    .name = ISA_NAME,
    .matmul = {
        [FR_DT_F32] = PFX(matmul_f32),
        [FR_DT_F16] = PFX(matmul_f16),
        [FR_DT_BF16] = PFX(matmul_bf16),
        [FR_DT_F8_E4M3] = PFX(matmul_e4m3),
#ifdef QUANT_MATMUL_ENTRIES
        QUANT_MATMUL_ENTRIES /* block-quantized weights (avx512/quant.h) */
#endif
    },
#ifdef FAST_MATMUL_ENTRIES
    .matmul_fast = {FAST_MATMUL_ENTRIES}, /* not exact (avx512/dpbf16.h) */
#endif
#ifdef INT8_MATMUL_ENTRIES
    .matmul_q = {INT8_MATMUL_ENTRIES}, /* integer path (avx512/int8_*.h) */
#endif
    .dot = PFX(dot),
    .axpy = PFX(axpy),
    .dots = PFX(dots),
    .wsum = PFX(wsum),
#ifdef EXP_SHIFT_ENTRY
    .exp_shift = EXP_SHIFT_ENTRY, /* avx512/exp.h */
#endif
#ifdef SILU_MUL_ENTRY
    .silu_mul = SILU_MUL_ENTRY, /* avx512/exp.h */
#endif
#ifdef KDA_DECAY_DOTS_ENTRY
    .kda_decay_dots = KDA_DECAY_DOTS_ENTRY, /* avx512/exp.h */
    .kda_decay_gate = KDA_DECAY_GATE_ENTRY,
    .sigmoid_mul = SIGMOID_MUL_ENTRY,
#endif
#ifdef ATTN_I8_ENTRIES
    ATTN_I8_ENTRIES /* avx512/attn_i8.h, avx2/attn_i8.h */
#endif
#ifdef ATTN_BF16_ENTRIES
    ATTN_BF16_ENTRIES /* avx512/attn_bf16.h */
#endif
    .row_f32 = PFX(row_f32),
#ifdef QX_ROWS_ENTRY
    .qx_rows = QX_ROWS_ENTRY, /* avx512/quant_act.h */
#endif
};
