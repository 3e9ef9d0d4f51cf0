#!/usr/bin/python3
"""Write a random-weight DeepSeek model of a real shape in the Hugging Face
layout (config.json + model.safetensors), for speed measurements: speed does
not depend on the weight values, except that FP8 weights are drawn as a
block-scaled checkpoint holds them (frugal's FP8 decode takes a slower path
for the rare subnormal codes).

  /usr/bin/python3 tools/gen_random_model.py --shape v2-lite --layers 4 --dtype bf16 OUT_DIR
  /usr/bin/python3 tools/gen_random_model.py --shape v2-lite --layers 4 --dtype fp8 OUT_DIR
  /usr/bin/python3 tools/gen_random_model.py --config path/to/config.json --layers 2 OUT_DIR
  /usr/bin/python3 tools/gen_random_model.py --shape kimi-k2 --layers 3 --set n_routed_experts=96 OUT_DIR

A shape is a named one (--shape), or any DeepSeek-family Hugging Face
config.json (--config: deepseek_v2, deepseek_v3, kimi_k2; the fields a model
does not use may be absent), changed field by field with --set KEY=VALUE
(VALUE as JSON: 96, null, "greedy"; a bare word is a string). The config
written beside the weights is the shape used.

--dtype fp8 stores the linear weights (attention projections, experts, dense
MLPs) as F8_E4M3 with float32 128x128 block scales "<name>_scale_inv", like the
DeepSeek-V3 checkpoints; embeddings, norms, the router and lm_head stay BF16.
Weights are small (about N(0, 1/cols)), so activations stay finite. Needs only
numpy. Checks the free disk space first and refuses to fill it; --size prints
the bytes it would write and writes nothing.
"""
import argparse
import json
import os
import shutil
import struct
import sys

import numpy as np

SHAPES = {
    # deepseek-ai/DeepSeek-V2-Lite config.json
    "v2-lite": dict(
        model_type="deepseek_v2", architectures=["DeepseekV2ForCausalLM"], vocab_size=102400, hidden_size=2048,
        intermediate_size=10944, moe_intermediate_size=1408, num_hidden_layers=27, num_attention_heads=16,
        num_key_value_heads=16, n_shared_experts=2, n_routed_experts=64, routed_scaling_factor=1.0,
        topk_method="greedy", n_group=1, topk_group=1, num_experts_per_tok=6, first_k_dense_replace=1,
        moe_layer_freq=1, norm_topk_prob=False, scoring_func="softmax", kv_lora_rank=512, q_lora_rank=None,
        qk_rope_head_dim=64, v_head_dim=128, qk_nope_head_dim=128, rope_theta=10000,
        rope_scaling=dict(type="yarn", factor=40, original_max_position_embeddings=4096, beta_fast=32,
                          beta_slow=1, mscale=0.707, mscale_all_dim=0.707),
        max_position_embeddings=163840, rms_norm_eps=1e-6, bos_token_id=100000, eos_token_id=100001,
        tie_word_embeddings=False, torch_dtype="bfloat16"),
    # moonshotai/Moonlight-16B-A3B (DeepSeek-V3 architecture)
    "moonlight": dict(
        model_type="deepseek_v3", architectures=["DeepseekV3ForCausalLM"], vocab_size=163840, hidden_size=2048,
        intermediate_size=11264, moe_intermediate_size=1408, num_hidden_layers=27, num_attention_heads=16,
        num_key_value_heads=16, n_shared_experts=2, n_routed_experts=64, routed_scaling_factor=2.446,
        topk_method="noaux_tc", n_group=1, topk_group=1, num_experts_per_tok=6, first_k_dense_replace=1,
        moe_layer_freq=1, norm_topk_prob=True, scoring_func="sigmoid", kv_lora_rank=512, q_lora_rank=None,
        qk_rope_head_dim=64, v_head_dim=128, qk_nope_head_dim=128, rope_theta=50000, rope_scaling=None,
        max_position_embeddings=8192, rms_norm_eps=1e-5, bos_token_id=163584, eos_token_id=163585,
        tie_word_embeddings=False, torch_dtype="bfloat16"),
    # deepseek-ai/DeepSeek-V3 (use --layers: 61 layers are ~700 GB)
    "v3": dict(
        model_type="deepseek_v3", architectures=["DeepseekV3ForCausalLM"], vocab_size=129280, hidden_size=7168,
        intermediate_size=18432, moe_intermediate_size=2048, num_hidden_layers=61, num_attention_heads=128,
        num_key_value_heads=128, n_shared_experts=1, n_routed_experts=256, routed_scaling_factor=2.5,
        topk_method="noaux_tc", n_group=8, topk_group=4, num_experts_per_tok=8, first_k_dense_replace=3,
        moe_layer_freq=1, norm_topk_prob=True, scoring_func="sigmoid", kv_lora_rank=512, q_lora_rank=1536,
        qk_rope_head_dim=64, v_head_dim=128, qk_nope_head_dim=128, rope_theta=10000,
        rope_scaling=dict(type="yarn", factor=40, original_max_position_embeddings=4096, beta_fast=32,
                          beta_slow=1, mscale=1.0, mscale_all_dim=1.0),
        max_position_embeddings=163840, rms_norm_eps=1e-6, bos_token_id=0, eos_token_id=1,
        tie_word_embeddings=False, torch_dtype="bfloat16"),
    # deepseek-ai/DeepSeek-V2 (236B; use --layers)
    "v2": dict(
        model_type="deepseek_v2", architectures=["DeepseekV2ForCausalLM"], vocab_size=102400, hidden_size=5120,
        intermediate_size=12288, moe_intermediate_size=1536, num_hidden_layers=60, num_attention_heads=128,
        num_key_value_heads=128, n_shared_experts=2, n_routed_experts=160, routed_scaling_factor=16.0,
        topk_method="group_limited_greedy", n_group=8, topk_group=3, num_experts_per_tok=6,
        first_k_dense_replace=1, moe_layer_freq=1, norm_topk_prob=False, scoring_func="softmax",
        kv_lora_rank=512, q_lora_rank=1536, qk_rope_head_dim=64, v_head_dim=128, qk_nope_head_dim=128,
        rope_theta=10000,
        rope_scaling=dict(type="yarn", factor=40, original_max_position_embeddings=4096, beta_fast=32,
                          beta_slow=1, mscale=0.707, mscale_all_dim=0.707),
        max_position_embeddings=163840, rms_norm_eps=1e-6, bos_token_id=100000, eos_token_id=100001,
        tie_word_embeddings=False, torch_dtype="bfloat16"),
    # moonshotai/Kimi-K2-Instruct (DeepSeek-V3 architecture: 64 heads, 384 experts; use --layers)
    "kimi-k2": dict(
        model_type="kimi_k2", architectures=["DeepseekV3ForCausalLM"], vocab_size=163840, hidden_size=7168,
        intermediate_size=18432, moe_intermediate_size=2048, num_hidden_layers=61, num_attention_heads=64,
        num_key_value_heads=64, n_shared_experts=1, n_routed_experts=384, routed_scaling_factor=2.827,
        topk_method="noaux_tc", n_group=1, topk_group=1, num_experts_per_tok=8, first_k_dense_replace=1,
        moe_layer_freq=1, norm_topk_prob=True, scoring_func="sigmoid", kv_lora_rank=512, q_lora_rank=1536,
        qk_rope_head_dim=64, v_head_dim=128, qk_nope_head_dim=128, rope_theta=50000,
        rope_scaling=dict(type="yarn", factor=32, original_max_position_embeddings=4096, beta_fast=1,
                          beta_slow=1, mscale=1.0, mscale_all_dim=1.0),
        max_position_embeddings=131072, rms_norm_eps=1e-6, bos_token_id=163584, eos_token_id=163585,
        tie_word_embeddings=False, torch_dtype="bfloat16"),
}

# what a config may leave out (the Hugging Face classes' defaults)
DEFAULTS = dict(q_lora_rank=None, n_shared_experts=None, n_routed_experts=None, first_k_dense_replace=0,
                moe_layer_freq=1, topk_method="greedy", n_group=1, topk_group=1, tie_word_embeddings=False)
NEEDED = ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
          "kv_lora_rank", "qk_rope_head_dim", "qk_nope_head_dim", "v_head_dim")


def parse_set(kv):
    if "=" not in kv:
        raise argparse.ArgumentTypeError("--set wants KEY=VALUE, got %r" % kv)
    k, v = kv.split("=", 1)
    try:
        v = json.loads(v)
    except ValueError:
        pass  # a bare word: a string
    return k, v


def shape_config(a):
    """The config dict of the shape asked for: --shape or --config, then --set."""
    if a.config:
        try:
            with open(a.config) as f:
                c = json.load(f)
        except (OSError, ValueError) as e:
            sys.exit("error: %s: %s" % (a.config, e))
        if not isinstance(c, dict):
            sys.exit("error: %s: not a JSON object" % a.config)
        c.pop("quantization_config", None)  # --dtype decides the weights' type
        c.pop("auto_map", None)
    else:
        c = dict(SHAPES[a.shape])
    for k, v in a.set or []:
        c[k] = v
    for k, v in DEFAULTS.items():
        c.setdefault(k, v)
    if c.get("model_type") not in ("deepseek_v2", "deepseek_v3", "kimi_k2"):
        sys.exit("error: model_type %r: only the DeepSeek-V2/V3 layout (deepseek_v2, deepseek_v3, kimi_k2)"
                 % c.get("model_type"))
    for k in NEEDED:
        if not isinstance(c.get(k), int) or c[k] <= 0:
            sys.exit("error: config field %r is %r, wants a positive integer" % (k, c.get(k)))
    if c["n_routed_experts"] and not (isinstance(c.get("moe_intermediate_size"), int) and c["moe_intermediate_size"] > 0):
        sys.exit("error: config field 'moe_intermediate_size' is %r, wants a positive integer"
                 % c.get("moe_intermediate_size"))
    return c


def tensors(c):
    """(name, shape, kind) in file order; kind: 'lin' (quantizable), 'bf16' (kept), 'norm', 'f32'."""
    d, H = c["hidden_size"], c["num_attention_heads"]
    dn, dr, dv, r = c["qk_nope_head_dim"], c["qk_rope_head_dim"], c["v_head_dim"], c["kv_lora_rank"]
    out = [("model.embed_tokens.weight", (c["vocab_size"], d), "bf16")]
    for l in range(c["num_hidden_layers"]):
        p = "model.layers.%d." % l
        out += [(p + "input_layernorm.weight", (d,), "norm"), (p + "post_attention_layernorm.weight", (d,), "norm")]
        a = p + "self_attn."
        if c["q_lora_rank"]:
            q = c["q_lora_rank"]
            out += [(a + "q_a_proj.weight", (q, d), "lin"), (a + "q_a_layernorm.weight", (q,), "norm"),
                    (a + "q_b_proj.weight", (H * (dn + dr), q), "lin")]
        else:
            out += [(a + "q_proj.weight", (H * (dn + dr), d), "lin")]
        out += [(a + "kv_a_proj_with_mqa.weight", (r + dr, d), "lin"), (a + "kv_a_layernorm.weight", (r,), "norm"),
                (a + "kv_b_proj.weight", (H * (dn + dv), r), "lin"), (a + "o_proj.weight", (d, H * dv), "lin")]
        m = p + "mlp."
        moe = c["n_routed_experts"] and l >= c["first_k_dense_replace"] and l % c["moe_layer_freq"] == 0
        if moe:
            E, ff = c["n_routed_experts"], c["moe_intermediate_size"]
            out += [(m + "gate.weight", (E, d), "bf16")]
            if c["topk_method"] == "noaux_tc":
                out += [(m + "gate.e_score_correction_bias", (E,), "f32")]
            for e in range(E):
                x = m + "experts.%d." % e
                out += [(x + "gate_proj.weight", (ff, d), "lin"), (x + "up_proj.weight", (ff, d), "lin"),
                        (x + "down_proj.weight", (d, ff), "lin")]
            if c["n_shared_experts"]:
                sf = ff * c["n_shared_experts"]
                x = m + "shared_experts."
                out += [(x + "gate_proj.weight", (sf, d), "lin"), (x + "up_proj.weight", (sf, d), "lin"),
                        (x + "down_proj.weight", (d, sf), "lin")]
        else:
            ff = c["intermediate_size"]
            out += [(m + "gate_proj.weight", (ff, d), "lin"), (m + "up_proj.weight", (ff, d), "lin"),
                    (m + "down_proj.weight", (d, ff), "lin")]
    out += [("model.norm.weight", (d,), "norm")]
    if not c["tie_word_embeddings"]:
        out += [("lm_head.weight", (c["vocab_size"], d), "bf16")]
    return out


def layout(c, fp8):
    """[(name, dtype, shape, kind)] with FP8 scale tensors after their weights."""
    L = []
    for name, shape, kind in tensors(c):
        if kind == "lin" and fp8:
            L.append((name, "F8_E4M3", shape, kind))
            L.append((name + "_scale_inv", "F32", ((shape[0] + 127) // 128, (shape[1] + 127) // 128), "scale"))
        elif kind == "f32":
            L.append((name, "F32", shape, kind))
        else:
            L.append((name, "BF16", shape, kind))
    return L


SIZE = {"BF16": 2, "F32": 4, "F8_E4M3": 1}


def nbytes(dt, shape):
    n = 1
    for s in shape:
        n *= s
    return n * SIZE[dt]


def to_bf16(x):
    u = x.astype(np.float32).view(np.uint32)
    u = u + 0x7FFF + ((u >> 16) & 1)  # round to nearest even (no NaN here)
    return (u >> 16).astype(np.uint16)


FP8_SD = 448 / 4.5  # the codes' spread: a 128 x 128 block's largest value near 448


def e4m3_value(c):  # the magnitude of e4m3fn code c (0..126)
    e, m = c >> 3, c & 7
    return m * 2.0**-9 if e == 0 else 2.0**(e - 7) * (1 + m / 8)


# e4m3fn codes as a block-scaled checkpoint (DeepSeek-V3's weight_scale_inv =
# block amax / 448) holds them: N(0, FP8_SD^2) rounded to the nearest code, at
# most 448, not NaN; about 1.3e-4 of them subnormal (exponent field 0)
def fp8_codes(rng, n):
    mags = np.array([e4m3_value(c) for c in range(127)])  # increasing
    g = rng.standard_normal(n, dtype=np.float32) * FP8_SD
    a = np.minimum(np.abs(g), 448.0)
    i = np.clip(np.searchsorted(mags, a), 1, 126)  # mags[i - 1] < a <= mags[i]
    code = np.where(a - mags[i - 1] <= mags[i] - a, i - 1, i).astype(np.uint8)
    return code | ((g < 0).astype(np.uint8) << 7)


def write_tensor(f, rng, dt, shape, kind, pool):
    rows = shape[0]
    cols = shape[1] if len(shape) > 1 else 1
    if kind == "norm":
        f.write(to_bf16(np.ones(shape[0], np.float32)).tobytes())
        return
    if kind == "f32":
        f.write(np.zeros(shape, np.float32).tobytes())
        return
    if kind == "scale":
        # codes of sd FP8_SD times this give weights of about N(0, 1/cols)
        s = np.full(shape, 1.0 / (FP8_SD * np.sqrt(shape[1] * 128.0)), np.float32)
        f.write(s.tobytes())
        return
    # rows written in slabs, cut from a pool of random values (fast; speed does
    # not depend on the values)
    step = max(1, (1 << 24) // max(cols, 1))
    for r0 in range(0, rows, step):
        n = min(step, rows - r0) * cols
        off = int(rng.integers(0, len(pool) - n)) if len(pool) > n else 0
        if dt == "F8_E4M3":
            f.write(pool_fp8(pool, rng, n).tobytes())
        else:
            v = pool[off:off + n] if len(pool) >= n else np.resize(pool, n)
            f.write(to_bf16(v * (1.0 / np.sqrt(cols))).tobytes())


_FP8 = {}


def pool_fp8(pool, rng, n):
    if "codes" not in _FP8:
        _FP8["codes"] = fp8_codes(rng, 1 << 25)
    codes = _FP8["codes"]
    off = int(rng.integers(0, len(codes) - n)) if len(codes) > n else 0
    return codes[off:off + n] if len(codes) >= n else np.resize(codes, n)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--shape", choices=sorted(SHAPES), default="v2-lite")
    ap.add_argument("--config", help="a Hugging Face config.json to take the shape from (instead of --shape)")
    ap.add_argument("--set", type=parse_set, action="append", metavar="KEY=VALUE",
                    help="change one config field (repeatable)")
    ap.add_argument("--layers", type=int, default=0, help="cut to this many decoder layers (0: all)")
    ap.add_argument("--dtype", choices=["bf16", "fp8"], default="bf16")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--force", action="store_true", help="write into an existing directory")
    ap.add_argument("--size", action="store_true", help="print the bytes the model would take and write nothing")
    a = ap.parse_args()
    c = shape_config(a)
    if a.layers:
        c["num_hidden_layers"] = min(a.layers, c["num_hidden_layers"])
    fp8 = a.dtype == "fp8"
    if fp8:
        c["quantization_config"] = dict(activation_scheme="dynamic", fmt="e4m3", quant_method="fp8",
                                        weight_block_size=[128, 128])
    L = layout(c, fp8)
    header, off = {}, 0
    for name, dt, shape, kind in L:
        n = nbytes(dt, shape)
        header[name] = dict(dtype=dt, shape=list(shape), data_offsets=[off, off + n])
        off += n
    header["__metadata__"] = dict(format="pt", generator="frugal tools/gen_random_model.py")
    hb = json.dumps(header, separators=(",", ":")).encode()
    hb += b" " * (-len(hb) % 8)
    total = 8 + len(hb) + off
    if a.size:
        print(total)
        return
    os.makedirs(a.out, exist_ok=True)
    if os.path.exists(os.path.join(a.out, "model.safetensors")) and not a.force:
        sys.exit("error: %s/model.safetensors exists (use --force)" % a.out)
    free = shutil.disk_usage(a.out).free
    if total > free - (8 << 30):
        sys.exit("error: the model needs %.1f GB and %s has %.1f GB free (keeping 8 GB spare); use --layers"
                 % (total / 1e9, a.out, free / 1e9))
    print("writing %s: %s, %d layers, %s, %.2f GB" % (a.out, a.config or a.shape, c["num_hidden_layers"], a.dtype,
                                                      total / 1e9))
    rng = np.random.default_rng(a.seed)
    pool = rng.standard_normal(1 << 25, dtype=np.float32)
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(c, f, indent=2)
    with open(os.path.join(a.out, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for name, dt, shape, kind in L:
            write_tensor(f, rng, dt, shape, kind, pool)
    print("done")


if __name__ == "__main__":
    main()
