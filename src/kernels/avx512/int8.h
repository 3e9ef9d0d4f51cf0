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

#endif
