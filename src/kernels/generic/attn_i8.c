/* Attention over an I8 latent cache, plain C: the oracle of avx512/attn_i8.h
 * (layout and operations in kernels.h). The integer sums are exact; the float
 * steps are written in the order the vector kernel does them. */
#include "kernels/generic/generic.h"

/* byte of position i's value c, in the groups from K (w values a position) */
static inline int i8_at(const uint8_t *K, int w, int i, int c) { return K[fr_i8_off(w, i) + (size_t)c * 4]; }
/* position i's scale: part 0 the latent, 1 the rope key */
static inline float i8_scale(const float *kd, int i, int part) { return kd[fr_i8_kd_off(i) + (size_t)part * 4]; }

void fr_i8_dots_generic(const int8_t *Q, const float *qd, const int32_t *qs, int m, const uint8_t *K, const float *kd,
                        int r, int dr, int n, float *S, int64_t lds) {
    const int w = r + dr;
    for (int h = 0; h < m; h++) {
        const int8_t *q = Q + (size_t)h * w;
        for (int i = 0; i < n; i++) {
            int32_t il = 0, ir = 0; /* sums of q times the stored bytes (value + 128) */
            for (int c = 0; c < r; c++) il += q[c] * i8_at(K, w, i, c);
            for (int c = r; c < w; c++) ir += q[c] * i8_at(K, w, i, c);
            il -= 128 * qs[2 * h];
            ir -= 128 * qs[2 * h + 1];
            const float a = qd[2 * h] * i8_scale(kd, i, 0), b = qd[2 * h + 1] * i8_scale(kd, i, 1);
            const float s = a * (float)il;
            S[(size_t)h * lds + i] = s + b * (float)ir;
        }
    }
}

void fr_i8_wsum_generic(const float *P, int64_t ldp, int m, const uint8_t *K, const float *kd, int r, int dr, int n,
                        float *U, int64_t ldu) {
    const int w = r + dr;
    for (int h = 0; h < m; h++) {
        const float *p = P + (size_t)h * ldp;
        float mx = 0;
        for (int i = 0; i < n; i++) {
            const float v = p[i] * i8_scale(kd, i, 0);
            mx = v > mx ? v : mx;
        }
        const float inv = mx > 0 ? 255.0f / mx : 0, dp = mx / 255.0f;
        for (int c = 0; c < r; c++) {
            int32_t s = 0;
            for (int i = 0; i < n; i++) {
                const float v = p[i] * i8_scale(kd, i, 0) * inv + 0.5f; /* 0.5 .. 255.5 */
                const int pq = v >= 0 && v < 256.0f ? (int)v : 0;      /* (NaN: 0, no undefined cast) */
                s += pq * (i8_at(K, w, i, c) - 128);
            }
            float *u = U + (size_t)h * ldu + c;
            *u = *u + dp * (float)s;
        }
    }
}
