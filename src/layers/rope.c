#include "layers/rope.h"

#include <math.h>

double fr_yarn_mscale(double factor, double m) {
    return factor <= 1.0 ? 1.0 : 0.1 * m * log(factor) + 1.0;
}

/* dim * ln(L / (r * 2 pi)) / (2 ln base) */
static double correction_dim(double r, int dim, double base, double L) {
    return dim * log(L / (r * 2 * 3.14159265358979323846)) / (2 * log(base));
}

void fr_rope_inv_freq(const fr_rope_cfg *c, float *f) {
    int h = c->dim / 2;
    for (int i = 0; i < h; i++) {
        float e = (float)(2 * i) / (float)c->dim;
        f[i] = 1.0f / powf((float)c->theta, e);
    }
    if (!c->yarn) return;
    double low = floor(correction_dim(c->beta_fast, c->dim, c->theta, c->orig_ctx));
    double high = ceil(correction_dim(c->beta_slow, c->dim, c->theta, c->orig_ctx));
    if (low < 0) low = 0;
    if (high > c->dim - 1) high = c->dim - 1;
    if (low == high) high += 0.001;
    for (int i = 0; i < h; i++) {
        float ramp = ((float)i - (float)low) / ((float)high - (float)low);
        ramp = ramp < 0 ? 0 : ramp > 1 ? 1 : ramp;
        float smooth = 1.0f - ramp;
        f[i] = f[i] / (float)c->factor * (1.0f - smooth) + f[i] * smooth;
    }
}

void fr_rope_tables(const fr_rope_cfg *c, int n_pos, float *cos_t, float *sin_t) {
    int h = c->dim / 2;
    float inv[512];
    fr_rope_inv_freq(c, inv);
    float amp = c->amplitude > 0 ? (float)c->amplitude : 1.0f;
    for (int p = 0; p < n_pos; p++)
        for (int i = 0; i < h; i++) {
            float a = (float)p * inv[i];
            cos_t[(long)p * h + i] = (float)cos((double)a) * amp;
            sin_t[(long)p * h + i] = (float)sin((double)a) * amp;
        }
}
