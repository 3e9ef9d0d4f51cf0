/* AVX-512 VNNI integer kernels for Q2_K, Q3_K and IQ4_XS (kernels.h fr_qx,
 * activations in blocks of 256) in decode and small batches; from 8 tokens (4
 * for IQ4_XS) they take the transposed prefill of avx512/int8_k.h. Included by
 * avx512/kernels.c when FR_VNNI. The sums are generic/matmul_q.c's. (Q4_1,
 * Q5_1, IQ4_NL and MXFP4 are Q8_0-like blocks: avx512/int8_q0.h.)
 *
 * A block of 256 weights is unpacked to unsigned bytes u (ix_blk) with, per
 * group g of 16 consecutive weights, two floats such that w = a_g u + b_g:
 *   Q2_K         u = the 2 bits                    a = d sc_g     b = -dmin m_g
 *   Q3_K         u = the 3 bits (w = u - 4)        a = d sc_g     b = -4 a
 *   IQ4_XS       u = kv[nibble] + 128              a = d sc_j     b = -128 a  (j = g / 2)
 * With T_g = sum u q over the group (vpdpbusd: exact int32) and S_g the
 * group's activation sum (X->s), y = d_x sum_g (a_g T_g + b_g S_g): per 64
 * weights one vpdpbusd, one convert and one multiply-add with the group
 * factors (16 lanes = 4 groups of 4; ap, made once per block and row), and
 * the b S term in one multiply-add: not the generic kernel's float order (it
 * sums the sub-blocks in integers), within 1e-6 of sum|w x|
 * (tests/test_int8_kernels.c; IQ4_XS's b S cancels part of a T: 2.2e-7).
 *
 * Decode (n = 1) goes a row at a time, one sequential stream per thread (as
 * avx512/int8_k.h); a few tokens: each row's block unpacked once for up to
 * IX_TB tokens, in passes whose activations fit in L2 while a work item's
 * rows stream once per pass. */
#include <string.h>

#include "kernels/kernels.h"

#define IX_AI __attribute__((always_inline)) inline
#define IX_TB 8 /* tokens per tile */

typedef struct ix_blk {
    __m512i u[4]; /* elements 64c .. 64c + 63 as unsigned bytes */
    __m512 ap[4]; /* lane l of ap[c]: the factor a of element 64c + 4l's group */
    __m512 a, b;  /* lane g: the factors of elements 16g .. 16g + 15 */
} ix_blk;

static IX_AI float ix_f16(const uint8_t *p) { return _cvtsh_ss((unsigned short)(p[0] | p[1] << 8)); }

/* 128-bit lanes [lo nibbles of A, hi nibbles of A, lo of B, hi of B] from a
 * zmm whose lanes are [A, A, B, B] */
static IX_AI __m512i ix_nibbles(__m512i z) {
    /* word shifts: 0 in lanes 0 and 2, 4 in lanes 1 and 3 */
    const __m512i sh = _mm512_set_epi64(0x0004000400040004, 0x0004000400040004, 0, 0, 0x0004000400040004,
                                        0x0004000400040004, 0, 0);
    return _mm512_and_si512(_mm512_srlv_epi16(z, sh), _mm512_set1_epi8(15));
}

/* The block at p, unpacked */
static IX_AI void ix_unpack(const int dt, const uint8_t *p, ix_blk *e) {
    const __m512i m3 = _mm512_set1_epi8(3);
    if (dt == FR_DT_Q2_K) { /* scales[16] | qs[64] | f16 d | f16 dmin */
        const __m512i sc = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(const void *)p));
        e->a = _mm512_mul_ps(_mm512_set1_ps(ix_f16(p + 80)),
                             _mm512_cvtepi32_ps(_mm512_and_si512(sc, _mm512_set1_epi32(15))));
        e->b = _mm512_mul_ps(_mm512_set1_ps(-ix_f16(p + 82)), _mm512_cvtepi32_ps(_mm512_srli_epi32(sc, 4)));
    } else if (dt == FR_DT_Q3_K) { /* hmask[32] | qs[64] | scales[12] | f16 d */
        const __m512i v = _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(0x0fff, p + 96));
        __m512i lo = _mm512_permutexvar_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7), v);
        lo = _mm512_and_si512(_mm512_srlv_epi32(lo, _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 4, 4, 4, 4, 4, 4, 4, 4)),
                              _mm512_set1_epi32(15));
        __m512i hi = _mm512_permutexvar_epi32(_mm512_setr4_epi32(8, 9, 10, 11), v);
        hi = _mm512_and_si512(_mm512_srlv_epi32(hi, _mm512_setr_epi32(0, 0, 0, 0, 2, 2, 2, 2, 4, 4, 4, 4, 6, 6, 6, 6)),
                              _mm512_set1_epi32(3));
        const __m512i sc = _mm512_sub_epi32(_mm512_or_si512(lo, _mm512_slli_epi32(hi, 4)), _mm512_set1_epi32(32));
        e->a = _mm512_mul_ps(_mm512_set1_ps(ix_f16(p + 108)), _mm512_cvtepi32_ps(sc));
        e->b = _mm512_mul_ps(e->a, _mm512_set1_ps(-4.0f));
    } else { /* IQ4_XS: f16 d | u16 scales_h | scales_l[4] | qs[128]; lane g: sub-block j = g / 2 */
        const int sh = p[2] | p[3] << 8;
        const __m512i j = _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
        const __m512i sl = _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(0x000f, p + 4));
        __m512i lo = _mm512_permutexvar_epi32(_mm512_srli_epi32(j, 1), sl); /* scales_l[j / 2] */
        lo = _mm512_and_si512(_mm512_srlv_epi32(lo, _mm512_slli_epi32(_mm512_and_si512(j, _mm512_set1_epi32(1)), 2)),
                              _mm512_set1_epi32(15));
        const __m512i hi = _mm512_and_si512(_mm512_srlv_epi32(_mm512_set1_epi32(sh), _mm512_slli_epi32(j, 1)),
                                            _mm512_set1_epi32(3));
        const __m512i sc = _mm512_sub_epi32(_mm512_or_si512(lo, _mm512_slli_epi32(hi, 4)), _mm512_set1_epi32(32));
        e->a = _mm512_mul_ps(_mm512_set1_ps(ix_f16(p)), _mm512_cvtepi32_ps(sc));
        e->b = _mm512_mul_ps(e->a, _mm512_set1_ps(-128.0f));
        const __m512i tab = _mm512_broadcast_i32x4(fr_levels16(dt, 1)); /* levels + 128 */
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++) { /* sub-blocks 2c, 2c + 1: qs[32c .. 32c + 31] as lanes [A, A, B, B] */
            const __m512i q =
                _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(const void *)(p + 8 + 32 * c)));
            e->u[c] = _mm512_shuffle_epi8(tab, ix_nibbles(_mm512_shuffle_i32x4(q, q, 0x50)));
        }
        return;
    }
    /* Q2_K, Q3_K: element 128h + 32j + l has bits 2j of qs[32h + l]; u[c]: h = c / 2, j = 2 (c % 2) in
     * the lower half, j + 1 in the upper; Q3_K adds bit 4h + j of hmask[l] as bit 2 */
    const uint8_t *qs = p + (dt == FR_DT_Q2_K ? 16 : 32);
#pragma GCC unroll 4
    for (int c = 0; c < 4; c++) {
        const int h = c / 2, j = 2 * (c % 2);
        const __m512i q = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(const void *)(qs + 32 * h)));
        const __m512i shq =
            _mm512_inserti64x4(_mm512_set1_epi16((short)(2 * j)), _mm256_set1_epi16((short)(2 * j + 2)), 1);
        __m512i u = _mm512_and_si512(_mm512_srlv_epi16(q, shq), m3);
        if (dt == FR_DT_Q3_K) { /* + 4 where the bit is set: one test, one masked or */
            const __m512i hm = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(const void *)p));
            const __m512i bit = _mm512_inserti64x4(_mm512_set1_epi8((char)(1 << (4 * h + j))),
                                                   _mm256_set1_epi8((char)(1 << (4 * h + j + 1))), 1);
            u = _mm512_mask_add_epi8(u, _mm512_test_epi8_mask(hm, bit), u, _mm512_set1_epi8(4));
        }
        e->u[c] = u;
    }
}

/* lane l of the result: lane 4c + l / 4 of v (the group of element 64c + 4l) */
static IX_AI __m512 ix_lanes(__m512 v, int c) {
    return _mm512_permutexvar_ps(_mm512_add_epi32(_mm512_set1_epi32(4 * c),
                                                  _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3)),
                                 v);
}

/* block b of row w, unpacked, with its factors per lane (once per block and
 * row, for all the tokens) */
static IX_AI void ix_block(const int dt, const uint8_t *w, int64_t b, ix_blk *e) {
    ix_unpack(dt, w + (size_t)b * (dt == FR_DT_Q2_K ? 84 : dt == FR_DT_Q3_K ? 110 : 136), e);
#pragma GCC unroll 4
    for (int c = 0; c < 4; c++) e->ap[c] = ix_lanes(e->a, c);
}

/* acc + the block e times one token's 256 activations x, sums s (16) and
 * scale dx */
static IX_AI __m512 ix_dot(const ix_blk *e, const int8_t *x, const int16_t *s, float dx, __m512 acc) {
    __m512 t = _mm512_setzero_ps();
#pragma GCC unroll 4
    for (int c = 0; c < 4; c++) {
        const __m512i p =
            _mm512_dpbusd_epi32(_mm512_setzero_si512(), e->u[c], _mm512_loadu_si512((const void *)(x + 64 * c)));
        t = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), e->ap[c], t);
    }
    /* b_g times the group's sum: the mins (Q2_K), the offsets (Q3_K, IQ4_XS) */
    const __m512 S = _mm512_cvtepi32_ps(_mm512_cvtepi16_epi32(_mm256_loadu_si256((const __m256i *)(const void *)s)));
    return _mm512_fmadd_ps(_mm512_fmadd_ps(S, e->b, t), _mm512_set1_ps(dx), acc);
}

static IX_AI void ix_tiles(const int dt, const fr_tensor *W, const fr_qx *X, float *Y, int64_t r0, int64_t r1, int ta,
                           int tb);

static IX_AI void ix_body(const int dt, const fr_tensor *W, const fr_qx *X, float *Y, int64_t r0, int64_t r1) {
    const int64_t nb = X->cols / 256;
    const size_t rb = fr_row_bytes(W);
    const uint8_t *w0 = W->data;
    const int n = X->n;
    if (n == 1) {
        for (int64_t r = r0; r < r1; r++) {
            const uint8_t *w = w0 + (size_t)r * rb;
            __m512 acc = _mm512_setzero_ps();
            for (int64_t b = 0; b < nb; b++) {
                ix_blk e;
                ix_block(dt, w, b, &e);
                acc = ix_dot(&e, X->q + 256 * b, X->s + 16 * b, X->d[b], acc);
            }
            Y[r] = _mm512_reduce_add_ps(acc);
        }
        return;
    }
    if (n >= I8K_PMIN(dt)) { /* the transposed K-type prefill (avx512/int8_k.h) */
        const int tchunk = fr_prefill_pass_tokens(r0, r1, I8K_PTB);
        for (int t0 = 0; t0 < n; t0 += tchunk) {
            const int t1 = t0 + tchunk < n ? t0 + tchunk : n;
            if (t1 - t0 >= I8K_PMIN(dt)) i8k_prefill(dt, W, X, Y, r0, r1, t0, t1);
            else ix_tiles(dt, W, X, Y, r0, r1, t0, t1);
        }
        return;
    }
    ix_tiles(dt, W, X, Y, r0, r1, 0, n);
}

/* tokens [ta, tb) (2 or more), rows [r0, r1): each row's block unpacked once
 * for IX_TB tokens */
static IX_AI void ix_tiles(const int dt, const fr_tensor *W, const fr_qx *X, float *Y, int64_t r0, int64_t r1, int ta,
                           int tb) {
    const int64_t rows = fr_rows(W), cols = X->cols, nb = cols / 256;
    const size_t rb = fr_row_bytes(W);
    const uint8_t *w0 = W->data;
    /* passes of tokens whose activations (about 1.1 bytes a value) fill about 256 KiB */
    const int64_t tp = (256 * 1024) / cols;
    const int pass = tp < IX_TB ? IX_TB : (int)(tp / IX_TB * IX_TB);
    for (int t0 = ta; t0 < tb; t0 += pass) {
        const int t1 = t0 + pass < tb ? t0 + pass : tb;
        for (int64_t r = r0; r < r1; r++) {
            const uint8_t *w = w0 + (size_t)r * rb;
            for (int t = t0; t < t1; t += IX_TB) {
                const int nt = t1 - t < IX_TB ? t1 - t : IX_TB;
                __m512 acc[IX_TB];
                for (int j = 0; j < IX_TB; j++) acc[j] = _mm512_setzero_ps();
                for (int64_t b = 0; b < nb; b++) {
                    ix_blk e;
                    ix_block(dt, w, b, &e);
#pragma GCC unroll 8
                    for (int j = 0; j < IX_TB; j++)
                        if (j < nt)
                            acc[j] = ix_dot(&e, X->q + (int64_t)(t + j) * cols + 256 * b,
                                            X->s + (int64_t)(t + j) * (cols / 16) + 16 * b,
                                            X->d[(int64_t)(t + j) * nb + b], acc[j]);
                }
                for (int j = 0; j < nt; j++) Y[(int64_t)(t + j) * rows + r] = _mm512_reduce_add_ps(acc[j]);
            }
        }
    }
}

#define IX_FN(name, DT)                                                                                        \
    static void PFX(matmul_q_##name)(const fr_tensor *W, const fr_qx *X, float *Y, int64_t r0, int64_t r1) { \
        ix_body(DT, W, X, Y, r0, r1);                                                                          \
    }
IX_FN(q2_k, FR_DT_Q2_K)
IX_FN(q3_k, FR_DT_Q3_K)
IX_FN(iq4_xs, FR_DT_IQ4_XS)
#undef IX_FN

#define INT8_X_ENTRIES                                                                                         \
    [FR_DT_Q2_K] = PFX(matmul_q_q2_k), [FR_DT_Q3_K] = PFX(matmul_q_q3_k), [FR_DT_IQ4_XS] = PFX(matmul_q_iq4_xs),
