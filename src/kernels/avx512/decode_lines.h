/* BF16 decode (one token) reading each weight row by whole cache lines
 * (included by simd_template.h after its decode_bf16 for the AVX-512 tables:
 * DECODE_LINES_H in avx512/kernels.c; it replaces decode_bf16 where it
 * applies: DECODE_BF16).
 *
 * Weights need not start on a 64-byte line: safetensors places tensors at any
 * offset, GGUF at multiples of 32. A 64-byte load across two lines slowed the
 * row stream of 2 threads from 55-58 to 41-43 GB/s (bench/RESULTS.md Run 15).
 * Here every load is of a whole line, one line ahead of its use: the chunk of
 * 32 weights at column c is bytes mis..mis + 63 of the lines at
 * w - mis + 2c and + 64, joined by one vpermt2w (mis = the row start's offset
 * in its line, the same for every row when a row is whole lines). The first and
 * last chunk of a row load unaligned, so no byte outside the row is read. The
 * products and their order are decode_bf16's: the outputs are the same bit for
 * bit (test_kernels). Rows of other lengths, or at odd addresses, take
 * decode_bf16. The lines DEC_PD ahead are asked into L1, those FR_PF_L2 ahead
 * into L2 (kernels.h: +19 to +23 % on a BF16 V2-Lite cut). */
#ifndef FR_AVX512_DECODE_LINES_H
#define FR_AVX512_DECODE_LINES_H

static const uint16_t dl_iota[32] = {0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15,
                                     16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31};

/* the 32 weights of the chunk at column c (of n = cols / 32 chunks) */
static inline __attribute__((always_inline)) __m512i dl_chunk(const uint16_t *w, const char *wa, int mis,
                                                               __m512i join, __m512i *line, int64_t c,
                                                               int64_t cols) {
    if (c == 0) return _mm512_loadu_si512(w);
    if (c + 32 == cols) return mis ? _mm512_loadu_si512(w + c) : *line;
    const __m512i next = _mm512_load_si512(wa + 2 * c + 64);
    const __m512i v = mis ? _mm512_permutex2var_epi16(*line, join, next) : *line;
    *line = next;
    return v;
}

static void decode_bf16_lines(const fr_tensor *W, const float *x, float *Y, int64_t r0, int64_t r1) {
    const int64_t cols = fr_cols(W);
    const int mis = (int)((uintptr_t)W->data & 63);
    if ((mis & 1) || cols % 64 || cols > DEC_MAXC) {
        decode_bf16(W, x, Y, r0, r1);
        return;
    }
    /* x in decode_bf16's order: per 32 columns the 16 even ones, then the 16 odd ones */
    _Alignas(64) float xp[DEC_MAXC];
    for (int64_t c = 0; c < cols; c += 32)
        for (int i = 0; i < 16; i++) xp[c + i] = x[c + 2 * i], xp[c + 16 + i] = x[c + 2 * i + 1];
    const __m512i join = _mm512_add_epi16(_mm512_loadu_si512(dl_iota), _mm512_set1_epi16((short)(mis / 2)));
    const __m512i hi16 = _mm512_set1_epi32((int)0xffff0000u);
    for (int64_t r = r0; r < r1; r++) {
        const uint16_t *w = (const uint16_t *)W->data + r * cols;
        const char *wa = (const char *)w - mis;
        __m512i line = _mm512_load_si512(wa + 64); /* the line at wa + 2c; cols >= 64: inside the row */
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int64_t c = 0; c < cols; c += 64) { /* decode_bf16's step: 4 x 16 products in 4 sums */
            _mm_prefetch((const char *)(w + c) + DEC_PD, _MM_HINT_T0); /* past r1: no fault */
            _mm_prefetch((const char *)(w + c) + DEC_PD + 64, _MM_HINT_T0);
            if (FR_PF_L2) { /* and FR_PF_L2 ahead into L2 (kernels.h) */
                _mm_prefetch((const char *)(w + c) + FR_PF_L2, _MM_HINT_T1);
                _mm_prefetch((const char *)(w + c) + FR_PF_L2 + 64, _MM_HINT_T1);
            }
            const __m512i v0 = dl_chunk(w, wa, mis, join, &line, c, cols);
            const __m512i v1 = dl_chunk(w, wa, mis, join, &line, c + 32, cols);
            a0 = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_slli_epi32(v0, 16)), _mm512_load_ps(xp + c), a0);
            a1 = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_and_si512(v0, hi16)), _mm512_load_ps(xp + c + 16), a1);
            a2 = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_slli_epi32(v1, 16)), _mm512_load_ps(xp + c + 32), a2);
            a3 = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_and_si512(v1, hi16)), _mm512_load_ps(xp + c + 48), a3);
        }
        Y[r] = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
    }
}
#define DECODE_BF16 decode_bf16_lines

#endif
