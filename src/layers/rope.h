/* Rotary position embedding tables, with DeepSeek's YaRN frequency ramp. */
#ifndef FR_ROPE_H
#define FR_ROPE_H

typedef struct fr_rope_cfg {
    int dim;            /* rotated dims (qk_rope_head_dim) */
    double theta;       /* rope_theta */
    int yarn;           /* rope_scaling type yarn present */
    double factor;      /* yarn factor */
    double orig_ctx;    /* original_max_position_embeddings */
    double beta_fast, beta_slow;
    double mscale, mscale_all_dim;
    double amplitude;   /* cos/sin scale (llama.cpp's YaRN attn_factor); 0 = 1 = none */
} fr_rope_cfg;

/* inv_freq[dim/2] as the official precompute_freqs_cis, in float32. */
void fr_rope_inv_freq(const fr_rope_cfg *c, float *inv_freq);
/* cos/sin tables [n_pos][dim/2]: angle = float32(pos * inv_freq[i]). */
void fr_rope_tables(const fr_rope_cfg *c, int n_pos, float *cos_t, float *sin_t);
/* YaRN attention temperature g(factor, m) = 0.1 m ln(factor) + 1 (1 when factor <= 1). */
double fr_yarn_mscale(double factor, double m);

#endif
