/* Decode (n = 1) of Q4_0, Q5_0 and Q8_0 weights with VBMI, GFNI and BITALG
 * (the avx512bf16 table and up; included by avx512/int8_q0.h, which calls
 * q0_decode_vbmi and q8_decode_vbmi): four blocks per step in whole zmm, where
 * q0_row takes one block per ymm. Q8_0 below, at q8v_step.
 *
 * Per step the 4 blocks (72 or 88 bytes) come in as two 64-byte vectors A, B,
 * starting at the first byte of the 4 blocks and ending at their last (so never a
 * byte past them; masked loads instead ran at a quarter of the speed from DRAM
 * here). Each is gathered by vpermt2b from the two aligned 64-byte lines holding
 * it: on the Zen 5 class VM, 64-byte loads that cross a line, streamed from
 * DRAM, kept this kernel at about half a plain read's speed, the same kernel
 * on aligned lines read 1.5x faster (bench/RESULTS.md Run 30). Then vpermt2b
 * gathers from A, B
 *     qs   lane i (16 bytes) = block i's 16 bytes of nibbles
 *     dv   words 4i .. 4i + 3 = d_i
 *     hq   (Q5_0) qwords 2i and 2i + 1 = block i's 32-bit qh (and 4 bytes unused)
 * so lo = qs & 15 (elements 0..15 of the 4 blocks), hi = qs >> 4 (16..31, one
 * vgf2p8affineqb), | 16 where the element's qh bit is set: vpmultishiftqb moves
 * bit e (lo) or 16 + e (hi) of block i's qh to bit 4 of byte 16i + e, and one
 * vpternlogd ors it in under the mask 16 (vpshufbitqmb into mask registers and
 * masked adds, before, read 6-10 % slower from L2 with the aligned lines). They
 * meet the activations reordered once per call
 * (xr: per 4 blocks the 4 x 16 first values, then the 4 x 16 last):
 *     p = -C S + dpbusd(lo, xlo) + dpbusd(hi, xhi)   lanes 4i..4i+3: block i
 *     acc += float(p) * (d_w d_x)                     (d_x per lane: xd)
 * with C S (q0_c, the activations' block sums) in lane 4i of a vector made
 * once per call. The 16 lanes are summed at the end of the row: a different
 * float order from the generic kernel, as q0_row's (within 1e-6 of sum|w x|,
 * tests/test_int8_kernels.c). The last 1..3 blocks of a row take the same
 * step from a copy with the missing blocks' bytes, activations and factors
 * zero. */
#ifndef FR_AVX512_Q0_ROW_VBMI_H
#define FR_AVX512_Q0_ROW_VBMI_H

#include "kernels/avx512/gfni.h"

#define Q0V_XCH 768 /* blocks of reordered activations per chunk (48 KiB on the stack; rows up to 24576 values
                     * in one). Longer rows are read chunk by chunk for all rows, a strided stream: V2-Lite's
                     * dense down (2048 x 10944, 342 blocks a row) in chunks of 256 blocks read 22-24 GB/s with 2
                     * threads, in one 39-44 (bench/matmul_threads.c, bench/RESULTS.md Run 30). */
#ifndef Q0V_PD
#define Q0V_PD 4096 /* prefetch the row's weights this many bytes ahead (two lines per 4 blocks). One
                     * thread, 96 Q5_0 matrices of 2048 x 1408 from DRAM in random order, 256 rows a call
                     * (throwaway harness): none 15.5-17.8 GB/s, 256 22.0-23.9, 1024 21.4-23.4, 2048
                     * 21.7-25.5, 4096 24.5, 8192 22.2-24.5; two such processes at once: none 30.6-34.9
                     * in all, 4096 43.1-44.5. (The hardware prefetcher alone fell behind this kernel.) */
#endif

/* the vpermt2b indices over A (0..63) | B (64..127): iq the 4 blocks' qs, idv their d (words
 * 4i .. 4i + 3), ihq their qh (qwords 2i, 2i + 1); the vpmultishiftqb bit offsets ml (e - 4 mod
 * 64, e = byte % 16: bit e lands on bit 4) and mh (16 + e - 4); iota 0..63 */
typedef struct q0v_ix {
    __m512i iq, idv, ihq, ml, mh, iota;
} q0v_ix;
static Q0AI q0v_ix q0v_index(const int dt) {
    const int bb = (int)q0_bb(dt), qo = dt == FR_DT_Q5_0 ? 6 : 2;
    _Alignas(64) uint8_t q[64], d[64], h[64], l[64], u[64];
    memset(d, 0, sizeof d); /* words 16..31 unused */
    memset(h, 0, sizeof h);
    for (int i = 0; i < 4; i++) {
        const int o = i < 2 ? i * bb : 64 + i * bb - (4 * bb - 64); /* block i's first byte in A | B */
        for (int j = 0; j < 16; j++) q[16 * i + j] = (uint8_t)(o + qo + j);
        for (int k = 0; k < 4; k++) d[8 * i + 2 * k] = (uint8_t)o, d[8 * i + 2 * k + 1] = (uint8_t)(o + 1);
        for (int k = 0; k < 4; k++) h[16 * i + k] = h[16 * i + 8 + k] = (uint8_t)(o + 2 + k);
    }
    for (int j = 0; j < 64; j++) l[j] = (uint8_t)((j % 16 + 60) % 64), u[j] = (uint8_t)(12 + j % 16);
    q0v_ix x;
    x.iq = _mm512_load_si512(q), x.idv = _mm512_load_si512(d), x.ihq = _mm512_load_si512(h);
    x.ml = _mm512_load_si512(l), x.mh = _mm512_load_si512(u);
    for (int j = 0; j < 64; j++) q[j] = (uint8_t)j;
    x.iota = _mm512_load_si512(q);
    return x;
}

/* the 64 bytes at p, from the aligned lines holding its first and its last byte (one line when
 * p is aligned): never a byte outside [p, p + 64)'s lines */
static Q0AI __m512i q0v_lines(const uint8_t *p, const __m512i iota) {
    const uintptr_t a = (uintptr_t)p & ~(uintptr_t)63, e = ((uintptr_t)p + 63) & ~(uintptr_t)63;
    const __m512i i = _mm512_add_epi8(iota, _mm512_set1_epi8((char)((uintptr_t)p - a)));
    return _mm512_permutex2var_epi8(_mm512_load_si512((const void *)a), i, _mm512_load_si512((const void *)e));
}

/* whether the aligned lines holding [w, w + n) lie inside W's bytes: the rows that may read whole
 * lines (all but maybe the tensor's first and last), so that no byte outside it is read */
static Q0AI int q0v_inside(const fr_tensor *W, const uint8_t *w, size_t n) {
    const uintptr_t lo = (uintptr_t)W->data, hi = lo + W->nbytes;
    return ((uintptr_t)w & ~(uintptr_t)63) >= lo && (((uintptr_t)w + n - 1) | 63) < hi;
}

/* the 4 blocks at w (4 bb bytes) into acc; pf: prefetch the row Q0V_PD bytes ahead; lines: A and B
 * from whole aligned lines (q0v_lines), else two unaligned loads */
static Q0AI __m512 q0v_step(const int dt, const uint8_t *w, const int pf, const int lines, const q0v_ix *ix,
                            const int8_t *xr, const int32_t *cs, const float *xd, __m512 acc) {
    const int bb = (int)q0_bb(dt);
    if (pf) { /* past the tensor: no fault */
        _mm_prefetch((const char *)w + Q0V_PD, _MM_HINT_T0);
        _mm_prefetch((const char *)w + Q0V_PD + 64, _MM_HINT_T0);
    }
    const __m512i a = lines ? q0v_lines(w, ix->iota) : _mm512_loadu_si512(w);
    const __m512i b = lines ? q0v_lines(w + 4 * bb - 64, ix->iota) : _mm512_loadu_si512(w + 4 * bb - 64);
    const __m512i qs = _mm512_permutex2var_epi8(a, ix->iq, b);
    __m512i lo = _mm512_and_si512(qs, _mm512_set1_epi8(15));
    __m512i hi = _mm512_gf2p8affine_epi64_epi8(qs, gf_hi(), 0);
    if (dt == FR_DT_Q5_0) {
        const __m512i hq = _mm512_permutex2var_epi8(a, ix->ihq, b), s16 = _mm512_set1_epi8(16);
        lo = _mm512_ternarylogic_epi32(lo, _mm512_multishift_epi64_epi8(ix->ml, hq), s16, 0xF8); /* a | b & c */
        hi = _mm512_ternarylogic_epi32(hi, _mm512_multishift_epi64_epi8(ix->mh, hq), s16, 0xF8);
    }
    __m512i p = _mm512_dpbusd_epi32(_mm512_load_si512(cs), lo, _mm512_load_si512(xr));
    p = _mm512_dpbusd_epi32(p, hi, _mm512_load_si512(xr + 64));
    const __m256i dv = _mm512_castsi512_si256(_mm512_permutex2var_epi8(a, ix->idv, b));
    const __m512 f = _mm512_mul_ps(_mm512_cvtph_ps(dv), _mm512_load_ps(xd));
    return _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), f, acc);
}

/* ---- Q8_0 (34-byte blocks: f16 d | i8 qs[32]) ----
 * Four blocks (136 bytes) per step, as three 64-byte vectors v0, v1, v2 = bytes [64k, 64k + 64)
 * of the step, each realigned by one vpermt2b from two aligned lines (or, for rows whose lines
 * would leave the tensor's bytes, and the last cnt % 4 blocks from a copy, v0 and v1 by unaligned
 * loads and v2 = bytes [72, 136)). Then vpermt2b gathers
 *     z0 = qs0 | qs1 (bytes 2..33, 36..67 of v0 | v1)   z1 = qs2 | qs3 (70..101, 104..135)
 * and vpermb the scales: words 8i .. 8i + 7 = d_i (bytes 0, 34 of v0 for blocks 0, 1, into the
 * low half of d01; 4, 38 of v1 for blocks 2, 3, into the high half of d23)
 * and with u = q8 xor 0x80 (= q8 + 128, unsigned)
 *     p = -128 S + dpbusd(u, x)        dwords 8j .. 8j + 7: block 2z + j (the activations as they
 *     acc += float(p) * (d_w d_x)      are: 4 blocks of x are 128 contiguous bytes)
 * with -128 S (cs: lanes 0 and 8 of each zmm) and d_x (xd: per lane) made once per call. The
 * lanes are summed at the end of the row (within 1e-6 of sum|w x| of the generic kernel, as
 * q0_row). q0_row read about 0.8 of a plain read from DRAM on the Zen 5 class VM with its
 * 32-byte loads crossing lines (bench/RESULTS.md Run 30). */
typedef struct q8v_ix {
    __m512i z0, z1a, z1u, dv, iota;
} q8v_ix;
static Q0AI q8v_ix q8v_index(void) {
    _Alignas(64) uint8_t a[64], b[64], c[64], d[64];
    for (int j = 0; j < 32; j++) {
        a[j] = (uint8_t)(2 + j), a[32 + j] = (uint8_t)(36 + j);              /* v0 | v1 */
        b[j] = (uint8_t)(70 - 64 + j), b[32 + j] = (uint8_t)(104 - 64 + j);   /* v1 | v2 = [128, 192) */
        c[j] = (uint8_t)(70 - 64 + j), c[32 + j] = (uint8_t)(104 - 72 + 64 + j); /* v1 | v2 = [72, 136) */
    }
    for (int i = 0; i < 4; i++) /* block i's d: bytes 34i, 34i + 1 of v0 (i < 2) or v1 (in either path) */
        for (int k = 0; k < 8; k++)
            d[16 * i + 2 * k] = (uint8_t)(34 * i % 64), d[16 * i + 2 * k + 1] = (uint8_t)(34 * i % 64 + 1);
    q8v_ix x;
    x.z0 = _mm512_load_si512(a), x.z1a = _mm512_load_si512(b), x.z1u = _mm512_load_si512(c);
    x.dv = _mm512_load_si512(d);
    for (int j = 0; j < 64; j++) a[j] = (uint8_t)j;
    x.iota = _mm512_load_si512(a);
    return x;
}

/* the 4 blocks at w into acc0 (blocks 0, 1) and acc1 (2, 3); lines: from aligned lines, else
 * unaligned loads (w readable to w + 136); x: the 4 blocks' 128 activations; cs, xd: 2 zmm each */
static Q0AI void q8v_step(const uint8_t *w, const int pf, const int lines, const q8v_ix *ix, const int8_t *x,
                          const int32_t *cs, const float *xd, __m512 *acc0, __m512 *acc1) {
    if (pf) { /* past the tensor: no fault */
        _mm_prefetch((const char *)w + Q0V_PD, _MM_HINT_T0);
        _mm_prefetch((const char *)w + Q0V_PD + 64, _MM_HINT_T0);
        _mm_prefetch((const char *)w + Q0V_PD + 128, _MM_HINT_T0);
    }
    __m512i v0, v1, v2;
    if (lines) { /* lines l, l + 64, l + 128 and the one holding byte 135 (l + 128 or l + 192) */
        const uintptr_t l = (uintptr_t)w & ~(uintptr_t)63, e = ((uintptr_t)w + 135) & ~(uintptr_t)63;
        const __m512i io = _mm512_add_epi8(ix->iota, _mm512_set1_epi8((char)((uintptr_t)w - l)));
        const __m512i l1 = _mm512_load_si512((const void *)(l + 64)), l2 = _mm512_load_si512((const void *)(l + 128));
        v0 = _mm512_permutex2var_epi8(_mm512_load_si512((const void *)l), io, l1);
        v1 = _mm512_permutex2var_epi8(l1, io, l2);
        v2 = _mm512_permutex2var_epi8(l2, io, _mm512_load_si512((const void *)e));
    } else {
        v0 = _mm512_loadu_si512(w), v1 = _mm512_loadu_si512(w + 64), v2 = _mm512_loadu_si512(w + 72);
    }
    const __m512i s = _mm512_set1_epi8((char)0x80);
    const __m512i z0 = _mm512_xor_si512(_mm512_permutex2var_epi8(v0, ix->z0, v1), s);
    const __m512i z1 = _mm512_xor_si512(_mm512_permutex2var_epi8(v1, lines ? ix->z1a : ix->z1u, v2), s);
    const __m512i d01 = _mm512_permutexvar_epi8(ix->dv, v0), d23 = _mm512_permutexvar_epi8(ix->dv, v1);
    const __m512i p0 = _mm512_dpbusd_epi32(_mm512_load_si512(cs), z0, _mm512_loadu_si512(x));
    const __m512i p1 = _mm512_dpbusd_epi32(_mm512_load_si512(cs + 16), z1, _mm512_loadu_si512(x + 64));
    const __m512 f0 = _mm512_mul_ps(_mm512_cvtph_ps(_mm512_castsi512_si256(d01)), _mm512_load_ps(xd));
    const __m512 f1 = _mm512_mul_ps(_mm512_cvtph_ps(_mm512_extracti64x4_epi64(d23, 1)), _mm512_load_ps(xd + 16));
    *acc0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p0), f0, *acc0);
    *acc1 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p1), f1, *acc1);
}

/* the dot product of cnt blocks from w with the reordered activations (xr, cs, xd) */
static Q0AI float q0v_row(const int dt, const int lines, const uint8_t *w, const q0v_ix *ix, const int8_t *xr,
                          const int32_t *cs, const float *xd, const int64_t cnt) {
    const int bb = (int)q0_bb(dt);
    const int64_t ng = (cnt + 3) / 4, nf = cnt / 4;
    __m512 a0 = _mm512_setzero_ps(), a1 = a0;
    int64_t g = 0;
    for (; g + 2 <= nf; g += 2) {
        a0 = q0v_step(dt, w + 4 * bb * g, 1, lines, ix, xr + 128 * g, cs + 16 * g, xd + 16 * g, a0);
        a1 = q0v_step(dt, w + 4 * bb * (g + 1), 1, lines, ix, xr + 128 * (g + 1), cs + 16 * (g + 1), xd + 16 * (g + 1),
                      a1);
    }
    if (g < nf) a0 = q0v_step(dt, w + 4 * bb * g, 1, lines, ix, xr + 128 * g, cs + 16 * g, xd + 16 * g, a0), g++;
    if (g < ng) { /* the last cnt % 4 blocks, from a copy */
        _Alignas(64) uint8_t t[4 * 22] = {0};
        memcpy(t, w + 4 * bb * g, (size_t)(cnt - 4 * g) * (size_t)bb);
        a0 = q0v_step(dt, t, 0, 0, ix, xr + 128 * g, cs + 16 * g, xd + 16 * g, a0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
}

static Q0AI void q0_decode_vbmi(const int dt, const fr_tensor *W, const fr_qx *X, float *Y, int64_t r0, int64_t r1) {
    const int bb = (int)q0_bb(dt), C = q0_c(dt);
    const int64_t nb = X->cols / 32;
    const size_t rb = fr_row_bytes(W);
    _Alignas(64) int8_t xr[Q0V_XCH * 32];
    _Alignas(64) int32_t cs[Q0V_XCH * 4];
    _Alignas(64) float xd[Q0V_XCH * 4];
    const q0v_ix ix = q0v_index(dt);
    for (int64_t c0 = 0; c0 < nb; c0 += Q0V_XCH) {
        const int64_t cnt = nb - c0 < Q0V_XCH ? nb - c0 : Q0V_XCH, ng = (cnt + 3) / 4, nf = cnt / 4;
        /* step g, block i = c0 + 4g + i: xr [g][half][i][16], cs [g][4i] = -C S, xd [g][4i + k] = d_x */
        memset(xr, 0, (size_t)ng * 128);
        memset(cs, 0, sizeof(int32_t) * (size_t)ng * 16);
        memset(xd, 0, sizeof(float) * (size_t)ng * 16);
        for (int64_t k = 0; k < cnt; k++) {
            const int64_t g = k / 4, i = k % 4, b = c0 + k;
            memcpy(xr + 128 * g + 16 * i, X->q + 32 * b, 16);
            memcpy(xr + 128 * g + 64 + 16 * i, X->q + 32 * b + 16, 16);
            cs[16 * g + 4 * i] = -C * q0_s(X, 0, b);
            for (int j = 0; j < 4; j++) xd[16 * g + 4 * i + j] = X->d[b];
        }
        for (int64_t r = r0; r < r1; r++) {
            const uint8_t *w = (const uint8_t *)W->data + (size_t)r * rb + (size_t)c0 * (size_t)bb;
            const float v = q0v_inside(W, w, (size_t)(4 * bb * nf)) ? q0v_row(dt, 1, w, &ix, xr, cs, xd, cnt)
                                                                    : q0v_row(dt, 0, w, &ix, xr, cs, xd, cnt);
            Y[r] = c0 ? Y[r] + v : v;
        }
    }
}

static Q0AI void q8_decode_vbmi(const fr_tensor *W, const fr_qx *X, float *Y, int64_t r0, int64_t r1) {
    const int64_t nb = X->cols / 32;
    const size_t rb = fr_row_bytes(W);
    _Alignas(64) int32_t cs[Q0V_XCH * 8];
    _Alignas(64) float xd[Q0V_XCH * 8];
    const q8v_ix ix = q8v_index();
    for (int64_t c0 = 0; c0 < nb; c0 += Q0V_XCH) {
        const int64_t cnt = nb - c0 < Q0V_XCH ? nb - c0 : Q0V_XCH, ng = (cnt + 3) / 4, nf = cnt / 4;
        /* step g, block i = c0 + 4g + i: cs [g][8i] = -128 S, xd [g][8i + k] = d_x (zero past cnt) */
        memset(cs, 0, sizeof(int32_t) * (size_t)ng * 32);
        memset(xd, 0, sizeof(float) * (size_t)ng * 32);
        for (int64_t k = 0; k < cnt; k++) {
            cs[8 * k] = -128 * q0_s(X, 0, c0 + k);
            for (int j = 0; j < 8; j++) xd[8 * k + j] = X->d[c0 + k];
        }
        const int8_t *x = X->q + 32 * c0;
        for (int64_t r = r0; r < r1; r++) {
            const uint8_t *w = (const uint8_t *)W->data + (size_t)r * rb + (size_t)c0 * 34;
            __m512 a0 = _mm512_setzero_ps(), a1 = a0;
            int64_t g = 0;
            if (q0v_inside(W, w, (size_t)(136 * nf)))
                for (; g < nf; g++) q8v_step(w + 136 * g, 1, 1, &ix, x + 128 * g, cs + 32 * g, xd + 32 * g, &a0, &a1);
            else
                for (; g < nf; g++) q8v_step(w + 136 * g, 1, 0, &ix, x + 128 * g, cs + 32 * g, xd + 32 * g, &a0, &a1);
            if (g < ng) { /* the last cnt % 4 blocks, from a copy (their activations past cnt: any, d_x 0) */
                _Alignas(64) uint8_t t[136] = {0};
                _Alignas(64) int8_t xt[128] = {0};
                memcpy(t, w + 136 * g, (size_t)(cnt - 4 * g) * 34);
                memcpy(xt, x + 128 * g, (size_t)(cnt - 4 * g) * 32);
                q8v_step(t, 0, 0, &ix, xt, cs + 32 * g, xd + 32 * g, &a0, &a1);
            }
            const float v = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
            Y[r] = c0 ? Y[r] + v : v;
        }
    }
}

#endif
