/* Writing GGUF models: `frugal quantize` (GGUF in) and `frugal convert` (HF
 * directory in) share a plan: the output tensors with their ggml type, shape
 * and where their rows come from, streamed through the encoders.
 *
 * TYPE is a single ggml type (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1,
 * Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS, MXFP4) or one of llama.cpp's
 * mixes (fr_quant_type_names), which pick a type per tensor the way
 * llama-quantize does (more bits for output.weight and some ffn_down / attn_v
 * layers). As in llama.cpp: 1-D tensors and ffn_gate_inp stay F32 (or as they
 * are), and a tensor whose rows are not whole blocks of the chosen type falls
 * back (Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0, Q2_K/Q3_K -> Q4_0, IQ4_XS -> IQ4_NL,
 * then F16). */
#ifndef FR_GGUF_QUANTIZE_H
#define FR_GGUF_QUANTIZE_H

#include <stdint.h>

#include "formats/gguf_write.h"
#include "tensor/tensor.h"

/* progress: bytes of source data done out of total, the tensor being written */
typedef void (*fr_progress_fn)(void *ud, uint64_t done, uint64_t total, const char *tensor);

extern const char *const fr_quant_type_names; /* for help texts and messages */

/* ---- type choice ---- */
typedef struct fr_mix fr_mix;
const fr_mix *fr_mix_find(const char *name);
uint32_t fr_mix_ftype(const fr_mix *m); /* llama_ftype for general.file_type */
/* dtype for a tensor (GGUF name, dims, row length; the model's layers and routed
 * experts), or -1: not a weight to encode. Follows llama-quantize's rules for
 * output.weight, attn_v (attn_kv_b), ffn_down* and attn_output. */
int fr_mix_choose(const fr_mix *m, const char *gguf_name, int n_dims, uint64_t ne0, int n_layer, int n_expert);
/* fr dtype -> ggml type id */
uint32_t fr_ggml_id(fr_dtype t);

/* ---- plans ---- */
enum { FR_SRC_RAW, FR_SRC_ROWS, FR_SRC_EXPERTS, FR_SRC_KB, FR_SRC_VB };

typedef struct fr_plan_src {
    int kind;
    const uint8_t *raw;   /* RAW: bytes copied as they are */
    fr_tensor t;          /* ROWS: any 2-D weight view (FP8 with its scales); KB/VB: kv_b_proj */
    fr_tensor *ex;        /* EXPERTS: per-expert [rows, cols] views, stacked (owned) */
    int n_ex;
    int H, dn, dv, r;     /* KB/VB: kv_b [H*(dn+dv), r] -> k_b [H, r, dn] (transposed) / v_b [H, dv, r] */
} fr_plan_src;

typedef struct fr_plan_tensor {
    char *name;
    uint32_t type;        /* output ggml type */
    int n_dims;
    uint64_t ne[4];       /* ggml order */
    uint64_t src_bytes;   /* for progress */
    fr_plan_src src;
} fr_plan_tensor;

typedef struct fr_plan {
    fr_plan_tensor *t;
    int n, cap;
} fr_plan;

int fr_plan_add(fr_plan *p, const char *name, uint32_t type, int n_dims, const uint64_t *ne, const fr_plan_src *src,
                uint64_t src_bytes);
void fr_plan_free(fr_plan *p);
/* Register the plan's tensors in o (before fr_gguf_out_open). */
int fr_plan_declare(const fr_plan *p, fr_gguf_out *o);
/* Stream the data (after fr_gguf_out_open). */
int fr_plan_write(const fr_plan *p, fr_gguf_out *o, fr_progress_fn cb, void *ud);

/* frugal quantize: GGUF in, GGUF out */
int fr_gguf_quantize(const char *in, const char *out, const char *type, fr_progress_fn cb, void *ud);
/* frugal convert: Hugging Face DeepSeek-V2/V3 directory in, deepseek2 GGUF out (absorbed MLA layout) */
int fr_hf_to_gguf(const char *dir, const char *out, const char *type, fr_progress_fn cb, void *ud);

#endif
