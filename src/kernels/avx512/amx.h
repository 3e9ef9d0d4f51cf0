/* AMX-INT8 tile operations for the transposed prefill panels (avx512/int8_k.h,
 * int8_q0.h), and AMX-BF16 ones for BF16 and FP8 prefill (avx512/amx_bf16.h),
 * included by avx512/kernels.c when FR_AMX: the "amx" table, or
 * with FR_AMX_EMU the "amxemu" table, where every tile instruction below is a
 * plain C function that does what the Intel SDM says the instruction does.
 * The emulated table runs the same kernel code on machines without AMX, so
 * the tests check its data flow (tile shapes, strides, which bytes meet
 * which) against the AVX-512 kernels (the integer ones bit for bit, the
 * bfloat16 ones within float32 summation); the real table differs from
 * it only in the eight macros at the bottom.
 *
 * The instructions (8 tiles tmm0..7, each up to 16 rows of 64 bytes, shapes
 * set by ldtilecfg from a 64-byte config):
 *   tileloadd  t, [p + stride]  row i (< rows[t]) = colsb[t] bytes at p + i stride
 *   tilestored t, [p + stride]  the same, the other way
 *   tilezero   t                all bytes 0
 *   tdpbsud    c, a, b          c: M x N int32, a: M x 4K signed bytes, b: K x 4N
 *                               unsigned bytes ("VNNI" layout: row k holds
 *                               bytes 4k..4k+3 of each of the N columns):
 *                               c[m][n] += sum_k sum_i a[m][4k + i] * b[k][4n + i]
 *                               (M = rows[c], N = colsb[c] / 4, K = colsb[a] / 4,
 *                               int32 sums wrap, as vpdpbusd's)
 *   tdpbssd    c, a, b          the same with b signed bytes too
 *   tdpbf16ps  c, a, b          c: M x N float32, a: M x 2K bfloat16, b: K x 2N
 *                               bfloat16 (row k: the pair 2k, 2k+1 of each
 *                               column): per row m the products go into 2N
 *                               float32 sums from 0 (pair element i of column n
 *                               into sum 2n + i, k in order, each a fused
 *                               multiply-add), then c[m][n] += sum 2n + sum 2n+1;
 *                               bfloat16 inputs and float32 results below
 *                               2^-126 count as 0 (DAZ, FTZ), round to nearest
 *                               even (avx512/amx_bf16.h uses it)
 * Which tiles are which in the panels: 0 = A (the tokens' activations, M
 * tokens x 16 or 32 bytes, straight from X->q with stride cols), 1 and 2 = B
 * (the transposed weights of the two 16-row halves, 4 or 8 rows of 64 bytes:
 * exactly the ut[..][c] vectors of the vpdpbusd path, lane i = row i), 3 and
 * 4 = C (M x 16 int32). tdpbsud multiplies signed activations by the
 * unsigned weight bytes of ut, so the offsets and the float steps after it
 * are those of the vpdpbusd path, and so are the outputs, bit for bit. Q8_0,
 * Q4_0, Q5_0, IQ4_NL and MXFP4 keep their values signed in ut and take
 * tdpbssd: the same exact sums with no offset to take off. Q4_K and Q5_K fold
 * their sub-block scales into two weight tiles and sum whole blocks in C tiles
 * 3 to 6 (avx512/int8_k.h, i8k_ptile_amx_split): the generic kernel's integer
 * sums, within 1e-6 of sum|w x| of the vpdpbusd path, not bit for bit.
 *
 * The tile state is per thread: each prefill call loads its config
 * (amx_cfg, again only when the token count of a tile changes) and ends
 * with tilerelease, so the pool's threads carry no tile state between calls.
 * The gcc intrinsics are not used: their tileloadd has no memory operand or
 * clobber, so the compiler could drop or move the stores of ut before it. */
#ifndef FR_AVX512_AMX_H
#define FR_AVX512_AMX_H

#include <stdint.h>
#include <string.h>

typedef struct amx_cfg_t {
    uint8_t palette, start_row, rsv[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} amx_cfg_t;
_Static_assert(sizeof(amx_cfg_t) == 64, "ldtilecfg reads 64 bytes");

#ifdef FR_AMX_EMU
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* the tiles of this thread */
static _Thread_local struct {
    amx_cfg_t cfg; /* palette 0: not configured */
    uint8_t t[8][16][64];
} amx_emu;

static void amx_emu_fault(const char *what, int t) {
    fprintf(stderr, "amxemu: %s on tile %d, which the config does not allow (palette %d)\n", what, t,
            amx_emu.cfg.palette);
    abort();
}
static inline void amx_emu_check(const char *what, int t) {
    if (amx_emu.cfg.palette != 1 || t < 0 || t > 7 || !amx_emu.cfg.rows[t] || !amx_emu.cfg.colsb[t] ||
        amx_emu.cfg.rows[t] > 16 || amx_emu.cfg.colsb[t] > 64)
        amx_emu_fault(what, t);
}
static inline void amx_emu_ldtilecfg(const amx_cfg_t *c) {
    amx_emu.cfg = *c;
    memset(amx_emu.t, 0, sizeof amx_emu.t);
}
static inline void amx_emu_release(void) { memset(&amx_emu, 0, sizeof amx_emu); }
static inline void amx_emu_load(int t, const void *p, int64_t stride) {
    amx_emu_check("tileloadd", t);
    memset(amx_emu.t[t], 0, sizeof amx_emu.t[t]);
    for (int i = 0; i < amx_emu.cfg.rows[t]; i++)
        memcpy(amx_emu.t[t][i], (const uint8_t *)p + i * stride, amx_emu.cfg.colsb[t]);
}
static inline void amx_emu_store(int t, void *p, int64_t stride) {
    amx_emu_check("tilestored", t);
    for (int i = 0; i < amx_emu.cfg.rows[t]; i++)
        memcpy((uint8_t *)p + i * stride, amx_emu.t[t][i], amx_emu.cfg.colsb[t]);
}
static inline void amx_emu_zero(int t) {
    amx_emu_check("tilezero", t);
    memset(amx_emu.t[t], 0, sizeof amx_emu.t[t]);
}
/* the tiles of a dot-product instruction c += a b: configured, and their
 * shapes M x 4K bytes (a), K x 4N (b), M x 4N (c) */
static inline void amx_emu_shapes(const char *what, int c, int a, int b, int *M, int *N, int *K) {
    amx_emu_check(what, c), amx_emu_check(what, a), amx_emu_check(what, b);
    *M = amx_emu.cfg.rows[c], *N = amx_emu.cfg.colsb[c] / 4, *K = amx_emu.cfg.colsb[a] / 4;
    if (amx_emu.cfg.rows[a] != *M || amx_emu.cfg.rows[b] != *K || amx_emu.cfg.colsb[b] != amx_emu.cfg.colsb[c]) {
        char msg[64];
        snprintf(msg, sizeof msg, "%s: shapes do not match", what);
        amx_emu_fault(msg, c);
    }
}
/* tdpbsud (bs = 0: b unsigned) or tdpbssd (bs = 1: b signed) */
static inline void amx_emu_dpbs(int c, int a, int b, int bs) {
    int M, N, K;
    amx_emu_shapes(bs ? "tdpbssd" : "tdpbsud", c, a, b, &M, &N, &K);
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            int32_t v;
            memcpy(&v, amx_emu.t[c][m] + 4 * n, 4);
            uint32_t s = (uint32_t)v; /* wraps */
            for (int k = 0; k < K; k++)
                for (int i = 0; i < 4; i++)
                    s += (uint32_t)((int32_t)(int8_t)amx_emu.t[a][m][4 * k + i] *
                                    (bs ? (int32_t)(int8_t)amx_emu.t[b][k][4 * n + i] : (int32_t)amx_emu.t[b][k][4 * n + i]));
            memcpy(amx_emu.t[c][m] + 4 * n, &s, 4);
        }
}
/* a bfloat16 as float32, denormals as zero (DAZ) */
static inline float amx_emu_bf16(const uint8_t *p) {
    uint32_t u = (uint32_t)(p[0] | p[1] << 8) << 16;
    if (!(u & 0x7f800000u)) u &= 0x80000000u;
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static inline float amx_emu_ftz(float f) { return fabsf(f) < 0x1p-126f ? copysignf(0.0f, f) : f; }
static inline void amx_emu_dpbf16ps(int c, int a, int b) {
    int M, N, K;
    amx_emu_shapes("tdpbf16ps", c, a, b, &M, &N, &K);
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            float s[2] = {0.0f, 0.0f}, v;
            for (int k = 0; k < K; k++)
                for (int i = 0; i < 2; i++)
                    s[i] = amx_emu_ftz(fmaf(amx_emu_bf16(amx_emu.t[a][m] + 4 * k + 2 * i),
                                            amx_emu_bf16(amx_emu.t[b][k] + 4 * n + 2 * i), s[i]));
            memcpy(&v, amx_emu.t[c][m] + 4 * n, 4);
            v = amx_emu_ftz(v + amx_emu_ftz(s[0] + s[1]));
            memcpy(amx_emu.t[c][m] + 4 * n, &v, 4);
        }
}
#define AMX_LDTILECFG(c) amx_emu_ldtilecfg(c)
#define AMX_RELEASE() amx_emu_release()
#define AMX_LOAD(t, p, stride) amx_emu_load(t, p, stride)
#define AMX_STORE(t, p, stride) amx_emu_store(t, p, stride)
#define AMX_ZERO(t) amx_emu_zero(t)
#define AMX_DPBSUD(c, a, b) amx_emu_dpbs(c, a, b, 0)
#define AMX_DPBSSD(c, a, b) amx_emu_dpbs(c, a, b, 1)
#define AMX_DPBF16PS(c, a, b) amx_emu_dpbf16ps(c, a, b)
#else
/* AT&T operand order: tdpbsud B, A, C */
#define AMX_LDTILECFG(c) __asm__ volatile("ldtilecfg %0" ::"m"(*(const amx_cfg_t *)(c)))
#define AMX_RELEASE() __asm__ volatile("tilerelease" ::: "memory")
#define AMX_LOAD(t, p, stride) \
    __asm__ volatile("tileloadd (%0,%1,1), %%tmm" #t ::"r"((const void *)(p)), "r"((int64_t)(stride)) : "memory")
#define AMX_STORE(t, p, stride) \
    __asm__ volatile("tilestored %%tmm" #t ", (%0,%1,1)" ::"r"((void *)(p)), "r"((int64_t)(stride)) : "memory")
#define AMX_ZERO(t) __asm__ volatile("tilezero %%tmm" #t ::)
#define AMX_DPBSUD(c, a, b) __asm__ volatile("tdpbsud %%tmm" #b ", %%tmm" #a ", %%tmm" #c ::)
#define AMX_DPBSSD(c, a, b) __asm__ volatile("tdpbssd %%tmm" #b ", %%tmm" #a ", %%tmm" #c ::)
#define AMX_DPBF16PS(c, a, b) __asm__ volatile("tdpbf16ps %%tmm" #b ", %%tmm" #a ", %%tmm" #c ::)
#endif

/* The tiles of a panel: A (tile 0) m rows of kb bytes, B (1, 2) kb / 4 rows of
 * 64 bytes, C (3 to 6) m rows of 64 bytes. s->m = 0: none loaded yet. */
typedef struct amx_state {
    int m, kb;
} amx_state;

static inline void amx_cfg(amx_state *s, int m, int kb) {
    if (s->m == m && s->kb == kb) return;
    _Alignas(64) amx_cfg_t c;
    memset(&c, 0, sizeof c);
    c.palette = 1;
    c.rows[0] = (uint8_t)m, c.colsb[0] = (uint16_t)kb;
    for (int t = 1; t <= 2; t++) c.rows[t] = (uint8_t)(kb / 4), c.colsb[t] = 64;
    for (int t = 3; t <= 6; t++) c.rows[t] = (uint8_t)m, c.colsb[t] = 64;
    AMX_LDTILECFG(&c);
    s->m = m, s->kb = kb;
}

static inline void amx_done(amx_state *s) {
    if (s->m) AMX_RELEASE();
    s->m = 0;
}

/* amx_mul in two steps: the products into C tiles 3 and 4 (amx_prod), and
 * their store (amx_store), so that other work can go between the two: a
 * tilestored holds back the loads after it until it is done. */
static inline __attribute__((always_inline)) void amx_prod(const int NH, const int ws, const int8_t *a,
                                                            int64_t stride, const void *b0, const void *b1) {
    AMX_LOAD(0, a, stride);
    AMX_LOAD(1, b0, 64);
    AMX_ZERO(3);
    if (ws) AMX_DPBSSD(3, 0, 1);
    else AMX_DPBSUD(3, 0, 1);
    if (NH == 2) {
        AMX_LOAD(2, b1, 64);
        AMX_ZERO(4);
        if (ws) AMX_DPBSSD(4, 0, 2);
        else AMX_DPBSUD(4, 0, 2);
    }
}
static inline __attribute__((always_inline)) void amx_store(const int NH, int32_t *c0, int32_t *c1) {
    AMX_STORE(3, c0, 64);
    if (NH == 2) AMX_STORE(4, c1, 64);
}

/* C tiles of NH halves: c[h] (M x 16 int32, rows 64 bytes apart) = the
 * activations at a (M rows, stride bytes apart) times the weights b[h] (rows
 * 64 bytes apart, unsigned bytes, or signed ones where ws), from zero */
static inline __attribute__((always_inline)) void amx_mul(const int NH, const int ws, const int8_t *a,
                                                           int64_t stride, const void *b0, const void *b1, int32_t *c0,
                                                           int32_t *c1) {
    amx_prod(NH, ws, a, stride, b0, b1);
    amx_store(NH, c0, c1);
}

#endif
