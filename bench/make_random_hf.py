#!/usr/bin/env python3
"""Write a random-weight DeepSeek-V3-style Hugging Face directory (config.json +
model.safetensors, float32) whose widths are multiples of 256, so every ggml
type, K-quants included, applies without fallbacks. Pure Python (no numpy).
usage: make_random_hf.py OUT_DIR [seed]"""
import array, json, os, random, struct, sys

out = sys.argv[1]
rng = random.Random(int(sys.argv[2]) if len(sys.argv) > 2 else 1)
cfg = dict(architectures=["DeepseekV3ForCausalLM"], model_type="deepseek_v3", vocab_size=512, hidden_size=256,
           intermediate_size=512, moe_intermediate_size=256, num_hidden_layers=2, num_attention_heads=2,
           num_key_value_heads=2, q_lora_rank=256, kv_lora_rank=256, qk_nope_head_dim=256, qk_rope_head_dim=64,
           v_head_dim=256, n_routed_experts=4, num_experts_per_tok=2, n_shared_experts=1, n_group=1, topk_group=1,
           first_k_dense_replace=1, moe_layer_freq=1, norm_topk_prob=True, routed_scaling_factor=1.5,
           scoring_func="sigmoid", topk_method="noaux_tc", rms_norm_eps=1e-6, rope_theta=10000.0,
           max_position_embeddings=4096, rope_scaling=None, bos_token_id=0, eos_token_id=1,
           num_nextn_predict_layers=0, tie_word_embeddings=False, torch_dtype="float32")
d, H, ql, r, dn, dr, dv = 256, 2, 256, 256, 256, 64, 256
T = {}
def mat(name, rows, cols, s=None):
    s = s if s is not None else 1.0 / cols ** 0.5
    T[name] = ([rows, cols], array.array('f', (rng.gauss(0, s) for _ in range(rows * cols))))
def vec(name, n, around=1.0, s=0.1):
    T[name] = ([n], array.array('f', (around + rng.gauss(0, s) for _ in range(n))))
mat("model.embed_tokens.weight", 512, d, 1.0)
for l in range(2):
    p = f"model.layers.{l}."
    vec(p + "input_layernorm.weight", d); vec(p + "post_attention_layernorm.weight", d)
    mat(p + "self_attn.q_a_proj.weight", ql, d); vec(p + "self_attn.q_a_layernorm.weight", ql)
    mat(p + "self_attn.q_b_proj.weight", H * (dn + dr), ql)
    mat(p + "self_attn.kv_a_proj_with_mqa.weight", r + dr, d); vec(p + "self_attn.kv_a_layernorm.weight", r)
    mat(p + "self_attn.kv_b_proj.weight", H * (dn + dv), r)
    mat(p + "self_attn.o_proj.weight", d, H * dv)
    if l == 0:
        mat(p + "mlp.gate_proj.weight", 512, d); mat(p + "mlp.up_proj.weight", 512, d); mat(p + "mlp.down_proj.weight", d, 512)
    else:
        # a decisive router (large logit margins), so small weight changes rarely flip expert choices
        mat(p + "mlp.gate.weight", 4, d, 8.0 / d ** 0.5); vec(p + "mlp.gate.e_score_correction_bias", 4, 0.0, 0.01)
        for e in range(4):
            q = p + f"mlp.experts.{e}."
            mat(q + "gate_proj.weight", 256, d); mat(q + "up_proj.weight", 256, d); mat(q + "down_proj.weight", d, 256)
        q = p + "mlp.shared_experts."
        mat(q + "gate_proj.weight", 256, d); mat(q + "up_proj.weight", 256, d); mat(q + "down_proj.weight", d, 256)
vec("model.norm.weight", d)
mat("lm_head.weight", 512, d)
os.makedirs(out, exist_ok=True)
hdr, off = {}, 0
for k, (shape, a) in T.items():
    hdr[k] = dict(dtype="F32", shape=shape, data_offsets=[off, off + 4 * len(a)]); off += 4 * len(a)
h = json.dumps(hdr).encode(); h += b" " * ((8 - len(h) % 8) % 8)
with open(os.path.join(out, "model.safetensors"), "wb") as f:
    f.write(struct.pack("<Q", len(h))); f.write(h)
    for k, (shape, a) in T.items(): f.write(a.tobytes())
with open(os.path.join(out, "config.json"), "w") as f: json.dump(cfg, f, indent=1)
