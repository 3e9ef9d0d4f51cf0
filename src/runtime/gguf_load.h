/* A GGUF model file as the families see a Hugging Face directory: a config
 * (jansson object with HF field names, synthesized from the GGUF metadata) and
 * a weight table with HF tensor names (views into the mapped file, no copies).
 *
 * Architecture deepseek2 (DeepSeek-V2/V3/R1, Moonlight, Kimi K2):
 *   token_embd -> model.embed_tokens, output_norm -> model.norm, output -> lm_head
 *   blk.N.attn_norm -> model.layers.N.input_layernorm, ffn_norm -> post_attention_layernorm
 *   blk.N.attn_{q,q_a,q_a_norm,q_b,kv_a_mqa,kv_a_norm,kv_b,output} -> self_attn.{q_proj,q_a_proj,...}
 *   blk.N.attn_k_b [H, kv_lora, d_nope], attn_v_b [H, d_v, kv_lora] -> self_attn.{k,v}_b_proj (3-D)
 *   blk.N.ffn_{gate,up,down} -> mlp.*_proj, ffn_*_shexp -> mlp.shared_experts.*_proj
 *   blk.N.ffn_gate_inp -> mlp.gate, exp_probs_b.bias -> mlp.gate.e_score_correction_bias
 *   blk.N.ffn_{gate,up,down}_exps [E, rows, cols] and fused ffn_gate_up_exps [E, 2*ff, d]
 *     -> mlp.experts.E.*_proj (per-expert views)
 * Architecture kimi-linear (Kimi Linear): the HF names of the kimi_linear family
 *   (ssm_conv1d_{q,k,v} -> {q,k,v}_conv1d, ssm_f_a/f_b/beta/g_a/g_b -> f_a/f_b/b/g_a/g_b_proj,
 *   ssm_a = -exp(A_log) -> A_log = log(-ssm_a), ssm_dt.bias -> dt_bias, ssm_norm -> o_norm,
 *   block_sparse_moe.* for the MoE); KDA layers are those with head_count_kv 0.
 * Shapes are reversed from ggml order (ne[0] innermost) to PyTorch order. */
#ifndef FR_GGUF_LOAD_H
#define FR_GGUF_LOAD_H

#include "formats/gguf.h"
#include "formats/hf_config.h"
#include "tensor/weights.h"

/* 1 when path names a GGUF file (a regular file ending in .gguf or starting with the magic). */
int fr_is_gguf_path(const char *path);
/* Map the file (in_memory = 1: read it into memory, fr_mmap_open_mode), synthesize cfg and
 * fill w (w owns the mapping). */
int fr_gguf_load(const char *path, fr_cfg *cfg, fr_weights *w, int in_memory);
/* The parsed file behind a table filled by fr_gguf_load (tokenizer.ggml.*, chat
 * template, ...), or NULL for other tables. */
const fr_gguf *fr_gguf_of_weights(const fr_weights *w);

#endif
