/* frugal quantize: a GGUF file in, a GGUF file out with its weights re-encoded.
 *
 * TYPE is a single ggml type (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1,
 * Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS, MXFP4) or one of llama.cpp's
 * mixes (Q2_K_M... see fr_quant_mix_names), which pick a type per tensor the way
 * llama-quantize does (more bits for output.weight and some ffn_down / attn_v
 * layers). As in llama.cpp: 1-D tensors and ffn_gate_inp stay as they are, and a
 * tensor whose rows are not whole blocks of the chosen type falls back
 * (Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0, Q2_K/Q3_K/IQ4_XS -> IQ4_NL, then F16). */
#ifndef FR_GGUF_QUANTIZE_H
#define FR_GGUF_QUANTIZE_H

#include <stdint.h>

/* progress: bytes of tensor data done out of total, the tensor being written */
typedef void (*fr_progress_fn)(void *ud, uint64_t done, uint64_t total, const char *tensor);

int fr_gguf_quantize(const char *in, const char *out, const char *type, fr_progress_fn cb, void *ud);

extern const char *const fr_quant_type_names; /* for help texts */

#endif
