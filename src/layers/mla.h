/* Multi-head Latent Attention (DeepSeek-V2), absorbed ("MQA mode").
 *
 * Per token x at position p:
 *   cq  = RMSNorm(W_qa x)                 (or no q LoRA: q = W_q x)
 *   q   = W_qb cq -> [H, d_nope + d_rope]; q_rope gets RoPE (interleaved)
 *   a   = W_kva x -> [kv_lora + d_rope];   c = RMSNorm(a[:kv_lora]); k_r = RoPE(a[kv_lora:])
 *   cache <- (c, k_r)                       kv_lora + d_rope numbers per token
 *   q~_h = W_UK_h^T q_nope_h                (W_UK_h: kv_b rows of head h, first d_nope)
 *   s_h,t = (q~_h . c_t + q_rope_h . k_r,t) * scale, softmax over t <= p
 *   u_h = sum_t P c_t;  o_h = W_UV_h u_h    (W_UV_h: the next d_v rows)
 *   y = W_o [o_1 .. o_H]
 * Per-head keys and values are never materialised. */
#ifndef FR_MLA_H
#define FR_MLA_H

#include "base/arena.h"
#include "tensor/weights.h"

typedef struct fr_mla_cfg {
    int d, n_head, q_lora, kv_lora, d_nope, d_rope, d_v;
    float scale;        /* softmax scale, YaRN mscale^2 included */
    float eps_q, eps_kv;
    int use_rope;       /* 0: NoPE (Kimi Linear) */
} fr_mla_cfg;

typedef struct fr_mla {
    fr_mla_cfg c;
    fr_tensor wq_a, wq_b, wq; /* [q_lora, d], [H*(dn+dr), q_lora] | [H*(dn+dr), d] */
    float *q_norm;            /* [q_lora] (owned) */
    fr_tensor wkv_a;          /* [kv_lora + dr, d] */
    float *kv_norm;           /* [kv_lora] (owned) */
    fr_tensor wkv_b;          /* [H*(dn+dv), kv_lora]; or, split (GGUF's absorbed layout): */
    fr_tensor wk_b;           /* [H, kv_lora, dn]: W_UK_h transposed (GGUF's, or made from wkv_b: kb_own) */
    fr_tensor wv_b;           /* [H, dv, kv_lora]: W_UV_h */
    fr_tensor wo;             /* [d, H*dv] */
    void *kb_own;             /* wk_b's data when fr_mla_wk_b made it from wkv_b (owned) */
    float *kb_own_scale;      /* and its FP8 block scales (owned) */
} fr_mla;

/* The latent cache of one layer: per position kv_lora latent values and d_rope
 * rope-key values. F32: both float32. F16, BF16: both in that type, one row of
 * kv_lora + d_rope values (as the official DeepSeek inference keeps kv_cache
 * and pe_cache in bfloat16). Q8_0: the latent in blocks of 32, the rope keys
 * float32. I8: both as int8 with one float scale each per position (8 bits a
 * value), positions in groups of 4 interleaved by column so the attention
 * runs on integer dot products (kernels.h, fr_i8_dots): lat [n_ctx/4][w][4]
 * bytes (value + 128, w = kv_lora + d_rope), kd [n_ctx/4][2][4] scales;
 * kv_lora and d_rope multiples of 16. */
typedef struct fr_mla_cache {
    fr_dtype type;  /* of lat */
    int kv_lora, d_rope;
    int pe_in_row;  /* F16/BF16/I8: the rope keys follow the latent in each position */
    size_t row;     /* bytes per position in lat */
    uint8_t *lat;   /* [n_ctx][row], page-aligned anonymous memory of lat_bytes */
    size_t lat_bytes;
    float *pe;      /* [n_ctx][d_rope] when not pe_in_row, else NULL */
    float *kd;      /* I8: [n_ctx/4][2][4] the scales (else NULL) */
} fr_mla_cache;

/* Bytes one position costs in a layer's cache of that type. */
size_t fr_mla_cache_bytes(fr_dtype type, int kv_lora, int d_rope);
/* Allocate (zeroed) for n_ctx positions; type F32, F16, BF16, Q8_0 (kv_lora a
 * multiple of 32) or I8 (kv_lora and d_rope multiples of 16). */
int fr_mla_cache_alloc(fr_mla_cache *kc, fr_dtype type, int n_ctx, int kv_lora, int d_rope);
void fr_mla_cache_free(fr_mla_cache *kc);

/* prefix "model.layers.N.self_attn." with HF names; when kv_b_proj.weight is
 * absent, the split k_b_proj.weight [H, kv_lora, dn] and v_b_proj.weight
 * [H, dv, kv_lora] (GGUF attn_k_b / attn_v_b) are bound instead. */
int fr_mla_bind_hf(fr_mla *m, const fr_weights *w, const char *prefix, const fr_mla_cfg *c);
void fr_mla_free(fr_mla *m);
/* W_UK_h^T of every head, kb [H, r, dn], copied from kvb [H*(dn+dv), r] in its
 * type (F32, F16, BF16; FP8 when dn, dn + dv and r are multiples of 128, so
 * that each 128 x 128 block of the copy is one block of kvb, scale included):
 * the decode's query absorption then runs on the matmul kernels, as GGUF's
 * split k_b does, instead of decoding those rows to float32 every token.
 * Returns 1 with kb, *data and *scale (FP8; else NULL) set and owned by the
 * caller, 0 where the type or shape does not allow it, -1 out of memory. */
int fr_mla_wk_b(const fr_tensor *kvb, int H, int dn, int dv, int r, fr_tensor *kb, void **data, float **scale);
void fr_mla_stats(const fr_mla *m, fr_wstats *s);

/* y[n][d] = MLA(x[n][d]) for positions pos0..pos0+n-1; writes the cache there.
 * cos_t/sin_t: [n_pos][d_rope/2] tables (unused without RoPE). */
void fr_mla_forward(const fr_mla *m, fr_mla_cache *kv, const float *cos_t, const float *sin_t, const float *x,
                    float *y, int n, int pos0, fr_arena *a);

#endif
