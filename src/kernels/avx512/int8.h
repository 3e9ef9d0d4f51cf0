/* Integer dot-product steps for the integer kernels (avx512/int8_*.h), with
 * and without VNNI. u: unsigned bytes, s: signed bytes.
 *
 * fr_dpbusd(acc, u, s): acc + per int32 lane the sum of its 4 products u*s.
 * With VNNI one vpdpbusd (no saturation). Without it vpmaddubsw + vpmaddwd:
 * vpmaddubsw saturates each PAIR sum to int16, so there u*s pairs must stay
 * within +-32767 (u <= 127 with |s| <= 127, or u <= 63 with any s): Q8_0 uses
 * the sign trick |x| * sign(w, x) for that, nibble weights are small anyway. */
#ifndef FR_AVX512_INT8_H
#define FR_AVX512_INT8_H

#include <stddef.h>
#include <stdint.h>

static inline __m512i fr_dpbusd(__m512i acc, __m512i u, __m512i s) {
#ifdef FR_VNNI
    return _mm512_dpbusd_epi32(acc, u, s);
#else
    return _mm512_add_epi32(acc, _mm512_madd_epi16(_mm512_maddubs_epi16(u, s), _mm512_set1_epi16(1)));
#endif
}

static inline __m256i fr_dpbusd256(__m256i acc, __m256i u, __m256i s) {
#ifdef FR_VNNI
    return _mm256_dpbusd_epi32(acc, u, s);
#else
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)));
#endif
}

/* The token tiles of a prefill panel over tokens [t, t1) (t advances): with
 * two 16-row halves (nh == 2) tiles of TB / 2, 2, 1 tokens, with one TB, 4, 2,
 * 1; TILE(NH, TB) multiplies one (avx512/int8_q0.h, int8_k.h). */
#define FR_PTILE_TOKENS(nh, TB, t, t1, TILE)                                                                     \
    do {                                                                                                        \
        if ((nh) == 2) {                                                                                        \
            for (; (t) + (TB) / 2 <= (t1); (t) += (TB) / 2) TILE(2, (TB) / 2);                                  \
            if ((t) + 2 <= (t1)) TILE(2, 2), (t) += 2;                                                          \
            if ((t) < (t1)) TILE(2, 1);                                                                         \
        } else {                                                                                                \
            for (; (t) + (TB) <= (t1); (t) += (TB)) TILE(1, (TB));                                              \
            if ((t) + 4 <= (t1)) TILE(1, 4), (t) += 4;                                                          \
            if ((t) + 2 <= (t1)) TILE(1, 2), (t) += 2;                                                          \
            if ((t) < (t1)) TILE(1, 1);                                                                         \
        }                                                                                                       \
    } while (0)

/* Software prefetch of the weights of the next panel of a prefill pass. Prefill
 * panels transpose nr weight rows a chunk of kc blocks at a time, panel after
 * panel down the rows [r0, r1), chunk after chunk (avx512/int8_q0.h, int8_k.h;
 * nb blocks of bb bytes a row, rows rb bytes apart from w0). While the panel at
 * (r, b0) is multiplied, the next one's bytes are brought into L2: the next nr
 * rows' blocks of this chunk, or after the last panel the first rows' blocks
 * of the next chunk. 16 rows are 16 streams, more than the hardware
 * prefetchers follow. They are asked for a few lines before each block the
 * token tiles multiply (fr_pf_some), so that they are all asked for within
 * the panel.
 * All of them at once before the panel (hundreds of lines) measured no better
 * than no prefetch at all (within 5 %) once the weights came from memory and
 * not the L3, as a model's do: with 16 tokens, Q4_K ran at 307-355 GFLOP/s a
 * thread against 530-560 from the L3; spread out, 517-560 (int8_k.h). */
typedef struct fr_pf {
    const uint8_t *w;        /* the next panel's first row at its first block */
    size_t rb;               /* bytes per row */
    int64_t lpr;             /* lines per row */
    int64_t row, line, left; /* the next line to ask for; lines left */
    int64_t per;             /* an eighth of the lines per token, rounded up: a tile of TB tokens
                              * asks for 8 per TB of them, spread over its blocks */
} fr_pf;

static inline void fr_pf_init(fr_pf *p, const uint8_t *w0, size_t rb, int64_t r, int64_t r0, int64_t r1, int nr,
                              int64_t b0, int64_t kc, int64_t nb, size_t bb, int ntok) {
    const int64_t nt = (r1 - r0 + nr - 1) / nr, pos = b0 / kc * nt + (r - r0) / nr + 1;
    const int64_t rn = r0 + pos % nt * nr, bn = pos / nt * kc;
    *p = (fr_pf){.w = w0, .rb = rb, .lpr = 1};
    if (bn >= nb) return;
    const int64_t off = bn * (int64_t)bb, end = (bn + kc < nb ? bn + kc : nb) * (int64_t)bb;
    p->w = w0 + (size_t)rn * rb + (size_t)off;
    p->lpr = (end - off + 63) / 64;
    p->left = (rn + nr < r1 ? nr : r1 - rn) * p->lpr;
    p->per = (p->left + 8 * (int64_t)ntok - 1) / (8 * (int64_t)ntok);
}

/* up to k more lines */
static inline void fr_pf_some(fr_pf *p, int64_t k) {
    for (; k > 0 && p->left > 0; k--, p->left--) {
        _mm_prefetch((const char *)(p->w + (size_t)p->row * p->rb + (size_t)(64 * p->line)), _MM_HINT_T1);
        if (++p->line == p->lpr) p->line = 0, p->row++;
    }
}

#endif
