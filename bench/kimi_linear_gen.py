#!/usr/bin/env python3
"""Write a random-weight Kimi-Linear-shaped model for benchmarks (standard library only).

  kimi_linear_gen.py OUT_DIR --pattern hybrid|mla [size options]

hybrid: KDA and MLA layers 3:1 (every 4th layer, and the last, is MLA), as Kimi-Linear-48B-A3B.
mla:    every layer MLA (NoPE), all other sizes equal: the baseline of the same model without KDA.

The weights are random BF16 values of magnitude in [2^-7, 2^-3) with random signs (not a trained
model: only speed and memory are meaningful). KDA decays are kept slow (dt_bias = -4, A_log = 0)
like a trained model's, so no value drifts into float32 subnormals.
"""
import argparse
import json
import os
import struct


def bf16_random(n):
    b = bytearray(os.urandom(2 * n))
    # high byte: keep the sign bit, exponent bits 0111100x -> |value| in [2^-7, 2^-3)
    table = bytes(((x & 0x80) | (0x3C + (x & 1))) for x in range(256))
    b[1::2] = bytes(b[1::2]).translate(table)
    return bytes(b)


def bf16_fill(n, value):
    u = struct.unpack("<I", struct.pack("<f", value))[0] >> 16
    return struct.pack("<H", u) * n


def f32_fill(n, value):
    return struct.pack("<f", value) * n


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--pattern", choices=["hybrid", "mla"], required=True)
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--hidden", type=int, default=1024)
    ap.add_argument("--vocab", type=int, default=4096)
    ap.add_argument("--kda-heads", type=int, default=8)
    ap.add_argument("--kda-dim", type=int, default=128)
    ap.add_argument("--mla-heads", type=int, default=8)
    ap.add_argument("--kv-lora", type=int, default=512)
    ap.add_argument("--nope", type=int, default=128)
    ap.add_argument("--rope", type=int, default=64)
    ap.add_argument("--v-dim", type=int, default=128)
    ap.add_argument("--experts", type=int, default=8)
    ap.add_argument("--top-k", type=int, default=2)
    ap.add_argument("--moe-ff", type=int, default=256)
    ap.add_argument("--shared", type=int, default=1)
    ap.add_argument("--dense-ff", type=int, default=2048)
    ap.add_argument("--size", action="store_true", help="print the bytes of its BF16 weights, write nothing")
    a = ap.parse_args()

    L, D = a.layers, a.hidden
    if a.pattern == "hybrid":
        mla = [i for i in range(1, L + 1) if i % 4 == 0 or i == L]
    else:
        mla = list(range(1, L + 1))
    kda = [i for i in range(1, L + 1) if i not in mla]
    H, K = a.kda_heads, a.kda_dim
    HK = H * K
    cfg = {
        "architectures": ["KimiLinearForCausalLM"], "model_type": "kimi_linear",
        "vocab_size": a.vocab, "hidden_size": D, "num_hidden_layers": L, "intermediate_size": a.dense_ff,
        "rms_norm_eps": 1e-5, "tie_word_embeddings": False, "bos_token_id": 0, "eos_token_id": 1,
        "model_max_length": 1 << 20, "hidden_act": "silu",
        "num_attention_heads": a.mla_heads, "num_key_value_heads": a.mla_heads, "q_lora_rank": None,
        "kv_lora_rank": a.kv_lora, "qk_nope_head_dim": a.nope, "qk_rope_head_dim": a.rope,
        "v_head_dim": a.v_dim, "mla_use_nope": True,
        "num_experts": a.experts, "num_experts_per_token": a.top_k, "num_shared_experts": a.shared,
        "moe_intermediate_size": a.moe_ff, "first_k_dense_replace": 1, "moe_layer_freq": 1,
        "moe_renormalize": True, "moe_router_activation_func": "sigmoid", "routed_scaling_factor": 2.446,
        "num_expert_group": 1, "topk_group": 1, "use_grouped_topk": True,
        "linear_attn_config": {"num_heads": H, "head_dim": K, "short_conv_kernel_size": 4,
                               "kda_layers": kda, "full_attn_layers": mla},
    }

    tensors = []  # (name, dtype, shape, bytes)
    size = [0]  # --size: the bytes only

    def w(name, *shape):
        n = 1
        for s in shape:
            n *= s
        size[0] += 2 * n
        if not a.size:
            tensors.append((name, "BF16", list(shape), bf16_random(n)))

    def ones(name, n):
        size[0] += 2 * n
        if not a.size:
            tensors.append((name, "BF16", [n], bf16_fill(n, 1.0)))

    w("model.embed_tokens.weight", a.vocab, D)
    w("lm_head.weight", a.vocab, D)
    ones("model.norm.weight", D)
    for i in range(L):
        p = "model.layers.%d." % i
        ones(p + "input_layernorm.weight", D)
        ones(p + "post_attention_layernorm.weight", D)
        s = p + "self_attn."
        if i + 1 in kda:
            for x in "qkv":
                w(s + x + "_proj.weight", HK, D)
                w(s + x + "_conv1d.weight", HK, 1, 4)
            w(s + "f_a_proj.weight", K, D)
            w(s + "f_b_proj.weight", HK, K)
            w(s + "g_a_proj.weight", K, D)
            w(s + "g_b_proj.weight", HK, K)
            w(s + "b_proj.weight", H, D)
            tensors.append((s + "A_log", "F32", [1, 1, H, 1], f32_fill(H, 0.0)))
            tensors.append((s + "dt_bias", "F32", [HK], f32_fill(HK, -4.0)))
            ones(s + "o_norm.weight", K)
            w(s + "o_proj.weight", D, HK)
        else:
            w(s + "q_proj.weight", a.mla_heads * (a.nope + a.rope), D)
            w(s + "kv_a_proj_with_mqa.weight", a.kv_lora + a.rope, D)
            ones(s + "kv_a_layernorm.weight", a.kv_lora)
            w(s + "kv_b_proj.weight", a.mla_heads * (a.nope + a.v_dim), a.kv_lora)
            w(s + "o_proj.weight", D, a.mla_heads * a.v_dim)
        if i < 1:
            w(p + "mlp.gate_proj.weight", a.dense_ff, D)
            w(p + "mlp.up_proj.weight", a.dense_ff, D)
            w(p + "mlp.down_proj.weight", D, a.dense_ff)
        else:
            m = p + "block_sparse_moe."
            w(m + "gate.weight", a.experts, D)
            tensors.append((m + "gate.e_score_correction_bias", "F32", [a.experts], f32_fill(a.experts, 0.0)))
            for e in range(a.experts):
                w(m + "experts.%d.w1.weight" % e, a.moe_ff, D)
                w(m + "experts.%d.w3.weight" % e, a.moe_ff, D)
                w(m + "experts.%d.w2.weight" % e, D, a.moe_ff)
            sf = a.moe_ff * a.shared
            w(m + "shared_experts.gate_proj.weight", sf, D)
            w(m + "shared_experts.up_proj.weight", sf, D)
            w(m + "shared_experts.down_proj.weight", D, sf)

    if a.size:
        print(size[0])
        return
    # largest element size first keeps every tensor aligned to its element size
    tensors.sort(key=lambda t: 0 if t[1] == "F32" else 1)
    header, off = {"__metadata__": {"format": "pt"}}, 0
    for name, dt, shape, data in tensors:
        header[name] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + len(data)]}
        off += len(data)
    hb = json.dumps(header).encode()
    hb += b" " * ((8 - len(hb) % 8) % 8)
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    with open(os.path.join(a.out, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for t in tensors:
            f.write(t[3])
    print("%s: %s, %d layers (%d KDA, %d MLA), %.1f MB" % (a.out, a.pattern, L, len(kda), len(mla), off / 1e6))


if __name__ == "__main__":
    main()
