#!/usr/bin/python3
"""Train frugal's default demo model: a small DeepSeek-V3 on the King James Bible.

Everything the model needs is made here, from the text of Debian's bible-kjv package
(public domain), with PyTorch from Debian's python3-torch (CPU, float32):

  1. text      `bible -f "Gen1:1-Rev22:21"`, one verse per line; the reference ("Ge1:1 ")
               is stripped. Jude and Revelation (the last two books) are held out.
  2. tokenizer byte-level BPE (GPT-2 byte-to-unicode mapping) trained on the training text,
               written as a Hugging Face tokenizer.json in DeepSeek-V3's format (BPE vocab +
               merges, pre_tokenizer Sequence[Split, Split, ByteLevel(use_regex false)],
               ByteLevel decoder, <｜begin▁of▁sentence｜> = 0 and <｜end▁of▁sentence｜> = 1 special)
               and tokenizer_config.json (add_bos_token true, DeepSeek-V3's chat_template).
               The Split regexes use explicit ASCII classes only (no \\s, \\p{..}), so Python's
               `re` and PCRE2 split any text the same way.
  3. model     DeepSeek-V3 layout: MLA with q-LoRA (interleaved RoPE on the rope slice,
               RMSNorm eps 1e-6 on q_a / kv_a), layer 0 dense SwiGLU, the other layers
               DeepSeekMoE (sigmoid scores, e_score_correction_bias for selection only,
               noaux_tc group routing, norm_topk_prob, routed_scaling_factor, 1 shared expert),
               one MTP module. Training: random windows of the training stream (each chapter
               starts with BOS), AdamW, warmup + cosine LR over a wall-clock budget, MTP loss
               weight 0.3, auxiliary-loss-free balancing (the bias moves by +-gamma per step
               toward equal expert load, as in DeepSeek-V3).
  4. export    bf16 safetensors in the Hugging Face DeepSeek-V3 names (the MTP module under
               model.layers.<num_hidden_layers>.* with its own copies of embed_tokens and
               shared_head.head; e_score_correction_bias as F32), config.json.
  5. eval      held-out perplexity WITH THE BF16-ROUNDED WEIGHTS (upcast to float32), written
               to eval.json. Protocol (the C `frugal perplexity` implements the same):
                 - the text is the exact bytes of heldout.txt: the held-out verses joined by
                   "\\n", plus a final "\\n";
                 - it is tokenized as ONE stream, plain (no BOS, no EOS anywhere);
                 - the ids are cut into consecutive non-overlapping chunks of CTX ids
                   (CTX = 256 by default), the last partial chunk is dropped;
                 - each chunk is evaluated on its own from position 0 (nothing prepended);
                   every token after the first is scored: NLL of id[i+1] given ids[0..i];
                 - perplexity = exp(mean NLL over all scored tokens of all chunks).

Usage (from the repository root; at most --minutes on --threads cores of process CPU time, i.e.
26 minutes on 2 cores by default, plus about a minute for the tokenizer and the evaluation):
  nice -n 10 /usr/bin/python3 tools/train_demo.py --out models/kjv-demo --minutes 26 [--max-wall-minutes 44]
Debian's python3-torch uses the system BLAS; with the netlib reference libblas3 its matrix
products are ~15x slower than with libopenblas0-pthread, so install that (or point
LD_LIBRARY_PATH at its openblas-pthread directory) before training.
"""
import argparse
import json
import math
import os
import re
import struct
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HELDOUT_BOOKS = ("Jude", "Rev")
BOS, EOS = "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"
ADDED = [  # (id, content, special) as DeepSeek-V3 flags them
    (0, BOS, True),
    (1, EOS, True),
    (2, "<｜User｜>", False),
    (3, "<｜Assistant｜>", False),
]
N_ADDED = len(ADDED)
# Pre-tokenizer: digits in groups of at most 3, then the main pattern (ASCII classes only).
# Main pattern: an optional space + letters; an optional space + a punctuation run + newlines;
# blanks ending in newlines; a blank run not followed by a non-blank; any remaining blanks.
# Everything the patterns leave between matches is a piece of its own ("Isolated").
SPLIT_DIGITS = r"[0-9]{1,3}"
SPLIT_MAIN = (r" ?[A-Za-z]+| ?[^ \t\r\nA-Za-z0-9]+[\r\n]*|[ \t]*[\r\n]+"
              r"|[ \t\r\n]+(?![^ \t\r\n])|[ \t\r\n]+")

CONFIG = dict(
    vocab_size=2048,
    hidden_size=192,
    num_hidden_layers=4,
    first_k_dense_replace=1,
    num_attention_heads=4,
    q_lora_rank=96,
    kv_lora_rank=64,
    qk_nope_head_dim=32,
    qk_rope_head_dim=16,
    v_head_dim=32,
    intermediate_size=512,
    moe_intermediate_size=64,
    n_routed_experts=8,
    n_shared_experts=1,
    num_experts_per_tok=2,
    n_group=4,
    topk_group=2,
    routed_scaling_factor=2.5,
    norm_topk_prob=True,
    rms_norm_eps=1e-6,
    rope_theta=10000,
    max_position_embeddings=2048,
    num_nextn_predict_layers=1,
)


# ---- 1. text ---------------------------------------------------------------------------

def load_verses():
    """[(book, chapter, text)] in canonical order, from the bible-kjv package."""
    out = subprocess.run(["bible", "-f", "Gen1:1-Rev22:21"], check=True, capture_output=True).stdout
    verses = []
    ref = re.compile(r"^([1-3]?[A-Za-z]+)([0-9]+):([0-9]+) (.*)$")
    for line in out.decode("ascii").split("\n"):
        if not line:
            continue
        m = ref.match(line)
        if not m:
            raise SystemExit("unexpected line from bible: %r" % line[:80])
        verses.append((m.group(1), int(m.group(2)), m.group(4)))
    return verses


def split_text(verses):
    """train chapters (list of strings 'v1\\nv2\\n...vN\\n') and the held-out text."""
    chapters, cur, key = [], [], None
    held = []
    for book, ch, text in verses:
        if book in HELDOUT_BOOKS:
            held.append(text)
            continue
        if (book, ch) != key and cur:
            chapters.append("".join(cur))
            cur = []
        key = (book, ch)
        cur.append(text + "\n")
    if cur:
        chapters.append("".join(cur))
    return chapters, "\n".join(held) + "\n"


# ---- 2. tokenizer ----------------------------------------------------------------------

def bytes_to_unicode():
    """GPT-2's reversible byte -> printable unicode character map."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


B2U = bytes_to_unicode()
U2B = {v: k for k, v in B2U.items()}
RX_DIGITS = re.compile(SPLIT_DIGITS)
RX_MAIN = re.compile(SPLIT_MAIN)


def split_isolated(s, rx):
    """HF Split(behavior Isolated): matches and the gaps between them, in order."""
    out, last = [], 0
    for m in rx.finditer(s):
        if m.start() > last:
            out.append(s[last:m.start()])
        if m.end() > m.start():
            out.append(m.group(0))
        last = m.end()
    if last < len(s):
        out.append(s[last:])
    return out


def pretokenize(text):
    """text -> pieces, each as its byte-level unicode string."""
    pieces = []
    for p in split_isolated(text, RX_DIGITS):
        for q in split_isolated(p, RX_MAIN):
            pieces.append("".join(B2U[b] for b in q.encode("utf-8")))
    return pieces


def train_bpe(texts, vocab_size):
    """Byte-level BPE: returns merges [(a, b)] in rank order (symbols as unicode strings)."""
    import heapq
    from collections import Counter
    counts = Counter()
    for t in texts:
        counts.update(pretokenize(t))
    syms = [B2U[b] for b in range(256)]
    sym_id = {s: i for i, s in enumerate(syms)}
    words = [[sym_id[c] for c in w] for w in counts]
    freq = list(counts.values())
    pair_count, where = Counter(), {}
    for wi, w in enumerate(words):
        for a, b in zip(w, w[1:]):
            pair_count[(a, b)] += freq[wi]
            where.setdefault((a, b), set()).add(wi)
    heap = [(-c, p) for p, c in pair_count.items()]
    heapq.heapify(heap)
    merges = []
    n_merges = vocab_size - N_ADDED - 256
    while len(merges) < n_merges and heap:
        c, p = heapq.heappop(heap)
        if pair_count.get(p, 0) != -c or -c <= 0:
            continue  # stale entry
        a, b = p
        new = len(syms)
        syms.append(syms[a] + syms[b])
        merges.append((syms[a], syms[b]))
        changed = set()
        for wi in list(where.get(p, ())):
            w, f = words[wi], freq[wi]
            for x, y in zip(w, w[1:]):
                pair_count[(x, y)] -= f
                changed.add((x, y))
            nw, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and w[i] == a and w[i + 1] == b:
                    nw.append(new)
                    i += 2
                else:
                    nw.append(w[i])
                    i += 1
            words[wi] = nw
            for x, y in zip(nw, nw[1:]):
                pair_count[(x, y)] += f
                where.setdefault((x, y), set()).add(wi)
                changed.add((x, y))
        for q in changed:
            if pair_count[q] > 0:
                heapq.heappush(heap, (-pair_count[q], q))
        del pair_count[p]
    return merges


class Tokenizer:
    """Encoder for the tokenizer.json this script writes (plain text, no added tokens)."""

    def __init__(self, vocab, merges):
        self.vocab = vocab                      # unicode string -> id
        self.inv = {i: s for s, i in vocab.items()}
        self.rank = {m: r for r, m in enumerate(merges)}
        self.cache = {}

    @classmethod
    def load(cls, path):
        t = json.load(open(path, encoding="utf-8"))
        merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in t["model"]["merges"]]
        return cls(t["model"]["vocab"], merges)

    def bpe(self, piece):
        if piece in self.cache:
            return self.cache[piece]
        w = list(piece)
        while len(w) > 1:
            best, br = None, None
            for p in zip(w, w[1:]):
                r = self.rank.get(p)
                if r is not None and (br is None or r < br):
                    best, br = p, r
            if best is None:
                break
            nw, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and (w[i], w[i + 1]) == best:
                    nw.append(w[i] + w[i + 1])
                    i += 2
                else:
                    nw.append(w[i])
                    i += 1
            w = nw
        ids = [self.vocab[s] for s in w]
        self.cache[piece] = ids
        return ids

    def encode(self, text):
        ids = []
        for p in pretokenize(text):
            ids.extend(self.bpe(p))
        return ids

    def decode(self, ids):
        out = bytearray()
        for i in ids:
            s = self.inv[int(i)]
            if int(i) < N_ADDED:
                out += s.encode("utf-8")
            else:
                out += bytes(U2B[c] for c in s)
        return out.decode("utf-8", errors="replace")


def build_vocab(merges):
    vocab = {c: i for i, c, _ in ADDED}
    for b in range(256):
        vocab[B2U[b]] = N_ADDED + b
    for a, b in merges:
        vocab[a + b] = len(vocab)
    return vocab


def write_tokenizer(out_dir, vocab, merges):
    def added(i, c, special):
        return {"id": i, "content": c, "single_word": False, "lstrip": False, "rstrip": False,
                "normalized": not special, "special": special}
    tj = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [added(i, c, s) for i, c, s in ADDED],
        "normalizer": {"type": "Sequence", "normalizers": []},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": SPLIT_DIGITS}, "behavior": "Isolated", "invert": False},
            {"type": "Split", "pattern": {"Regex": SPLIT_MAIN}, "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False},
        ]},
        "post_processor": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
                  "vocab": vocab, "merges": ["%s %s" % m for m in merges]},
    }
    with open(os.path.join(out_dir, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tj, f, ensure_ascii=False, indent=1)
        f.write("\n")

    def tok(c):
        return {"__type": "AddedToken", "content": c, "lstrip": False, "normalized": True, "rstrip": False,
                "single_word": False}
    cfg = {
        "add_bos_token": True,
        "add_eos_token": False,
        "bos_token": tok(BOS),
        "clean_up_tokenization_spaces": False,
        "eos_token": tok(EOS),
        "legacy": True,
        "model_max_length": CONFIG["max_position_embeddings"],
        "pad_token": tok(EOS),
        "sp_model_kwargs": {},
        "unk_token": None,
        "tokenizer_class": "LlamaTokenizerFast",
        "chat_template": CHAT_TEMPLATE,
    }
    with open(os.path.join(out_dir, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(cfg, f, ensure_ascii=False, indent=1)
        f.write("\n")


# DeepSeek-V3's chat_template (its tokenizer_config.json), verbatim
CHAT_TEMPLATE = (
    '{% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% end'
    'if %}{% set ns = namespace(is_first=false, is_tool=false, is_output_first=true, system_pro'
    "mpt='', is_first_sp=true) %}{%- for message in messages %}{%- if message['role'] == 'syste"
    "m' %}{%- if ns.is_first_sp %}{% set ns.system_prompt = ns.system_prompt + message['content"
    "'] %}{% set ns.is_first_sp = false %}{%- else %}{% set ns.system_prompt = ns.system_prompt"
    " + '\n\n' + message['content'] %}{%- endif %}{%- endif %}{%- endfor %}{{bos_token}}{{ns.syst"
    "em_prompt}}{%- for message in messages %}{%- if message['role'] == 'user' %}{%- set ns.is_"
    "tool = false -%}{{'<｜User｜>' + message['content']}}{%- endif %}{%- if message['role'] == '"
    "assistant' and message['content'] is none %}{%- set ns.is_tool = false -%}{%- for tool in "
    "message['tool_calls']%}{%- if not ns.is_first %}{{'<｜Assistant｜><｜tool▁calls▁begin｜><｜tool"
    "▁call▁begin｜>' + tool['type'] + '<｜tool▁sep｜>' + tool['function']['name'] + '\n' + '```json"
    "' + '\n' + tool['function']['arguments'] + '\n' + '```' + '<｜tool▁call▁end｜>'}}{%- set ns.is"
    "_first = true -%}{%- else %}{{'\n' + '<｜tool▁call▁begin｜>' + tool['type'] + '<｜tool▁sep｜>' "
    "+ tool['function']['name'] + '\n' + '```json' + '\n' + tool['function']['arguments'] + '\n' +"
    " '```' + '<｜tool▁call▁end｜>'}}{{'<｜tool▁calls▁end｜><｜end▁of▁sentence｜>'}}{%- endif %}{%- e"
    "ndfor %}{%- endif %}{%- if message['role'] == 'assistant' and message['content'] is not no"
    "ne %}{%- if ns.is_tool %}{{'<｜tool▁outputs▁end｜>' + message['content'] + '<｜end▁of▁sentenc"
    "e｜>'}}{%- set ns.is_tool = false -%}{%- else %}{{'<｜Assistant｜>' + message['content'] + '<"
    "｜end▁of▁sentence｜>'}}{%- endif %}{%- endif %}{%- if message['role'] == 'tool' %}{%- set ns"
    ".is_tool = true -%}{%- if ns.is_output_first %}{{'<｜tool▁outputs▁begin｜><｜tool▁output▁begi"
    "n｜>' + message['content'] + '<｜tool▁output▁end｜>'}}{%- set ns.is_output_first = false %}{%"
    "- else %}{{'\n<｜tool▁output▁begin｜>' + message['content'] + '<｜tool▁output▁end｜>'}}{%- endi"
    "f %}{%- endif %}{%- endfor -%}{% if ns.is_tool %}{{'<｜tool▁outputs▁end｜>'}}{% endif %}{% i"
    "f add_generation_prompt and not ns.is_tool %}{{'<｜Assistant｜>'}}{% endif %}"
)


# ---- 3. model --------------------------------------------------------------------------

def rmsnorm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


class RMSNorm(nn.Module):
    def __init__(self, n, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n))
        self.eps = eps

    def forward(self, x):
        return rmsnorm(x, self.weight, self.eps)


def rope_tables(c, n):
    d = c["qk_rope_head_dim"]
    inv = 1.0 / (torch.tensor(float(c["rope_theta"]), dtype=torch.float32) **
                 (torch.arange(0, d, 2, dtype=torch.float32) / d))
    ang = torch.arange(n, dtype=torch.float32)[:, None] * inv[None, :]       # [n, d/2] float32
    return torch.cos(ang.double()).float(), torch.sin(ang.double()).float()


def rope_interleaved(x, cos, sin):
    """x [..., T, d]: pairs (2i, 2i+1) rotated by angle[t, i]."""
    xr, xi = x[..., 0::2], x[..., 1::2]
    yr = xr * cos - xi * sin
    yi = xr * sin + xi * cos
    return torch.stack((yr, yi), -1).flatten(-2)


class MLA(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, H = c["hidden_size"], c["num_attention_heads"]
        self.H, self.dn, self.dr, self.dv, self.r = H, c["qk_nope_head_dim"], c["qk_rope_head_dim"], c["v_head_dim"], c["kv_lora_rank"]
        self.q_a_proj = nn.Linear(d, c["q_lora_rank"], bias=False)
        self.q_a_layernorm = RMSNorm(c["q_lora_rank"], 1e-6)
        self.q_b_proj = nn.Linear(c["q_lora_rank"], H * (self.dn + self.dr), bias=False)
        self.kv_a_proj_with_mqa = nn.Linear(d, self.r + self.dr, bias=False)
        self.kv_a_layernorm = RMSNorm(self.r, 1e-6)
        self.kv_b_proj = nn.Linear(self.r, H * (self.dn + self.dv), bias=False)
        self.o_proj = nn.Linear(H * self.dv, d, bias=False)
        self.scale = (self.dn + self.dr) ** -0.5

    def forward(self, x, cos, sin, mask):
        B, T, _ = x.shape
        H, dn, dr, dv = self.H, self.dn, self.dr, self.dv
        q = self.q_b_proj(self.q_a_layernorm(self.q_a_proj(x))).view(B, T, H, dn + dr).transpose(1, 2)
        q_nope, q_pe = q[..., :dn], rope_interleaved(q[..., dn:], cos, sin)      # [B, H, T, .]
        kv = self.kv_a_proj_with_mqa(x)                                          # [B, T, r + dr]
        lat = self.kv_a_layernorm(kv[..., :self.r])
        k_pe = rope_interleaved(kv[..., self.r:], cos, sin)[:, None]            # [B, 1, T, dr]
        kvb = self.kv_b_proj(lat).view(B, T, H, dn + dv).transpose(1, 2)
        k_nope, v = kvb[..., :dn], kvb[..., dn:]
        s = (q_nope @ k_nope.transpose(-1, -2) + q_pe @ k_pe.transpose(-1, -2)) * self.scale
        s = s.masked_fill(mask, float("-inf"))
        o = torch.softmax(s, -1) @ v                                             # [B, H, T, dv]
        return self.o_proj(o.transpose(1, 2).reshape(B, T, H * dv))


class MLP(nn.Module):
    def __init__(self, d, ff):
        super().__init__()
        self.gate_proj = nn.Linear(d, ff, bias=False)
        self.up_proj = nn.Linear(d, ff, bias=False)
        self.down_proj = nn.Linear(ff, d, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Gate(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(c["n_routed_experts"], c["hidden_size"]))
        self.register_buffer("e_score_correction_bias", torch.zeros(c["n_routed_experts"]))
        self.E, self.k, self.G, self.kg = c["n_routed_experts"], c["num_experts_per_tok"], c["n_group"], c["topk_group"]
        self.scale = c["routed_scaling_factor"]

    def forward(self, x):
        """x [N, d] -> expert ids [N, k], weights [N, k]"""
        s = torch.sigmoid(x @ self.weight.t())                                  # [N, E]
        sel = (s + self.e_score_correction_bias).detach()
        if self.G > 1:
            g = sel.view(-1, self.G, self.E // self.G).topk(2, -1)[0].sum(-1)   # [N, G]
            keep = torch.zeros_like(g, dtype=torch.bool).scatter_(1, g.topk(self.kg, -1)[1], True)
            sel = sel.masked_fill(~keep.repeat_interleave(self.E // self.G, 1), float("-inf"))
        idx = sel.topk(self.k, -1)[1]
        w = s.gather(1, idx)
        w = w / w.sum(-1, keepdim=True) * self.scale
        return idx, w


class MoE(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, ff = c["hidden_size"], c["moe_intermediate_size"]
        self.gate = Gate(c)
        self.experts = nn.ModuleList([MLP(d, ff) for _ in range(c["n_routed_experts"])])
        self.shared_experts = MLP(d, ff * c["n_shared_experts"])
        self.load = None

    def forward(self, x):
        shape = x.shape
        x = x.reshape(-1, shape[-1])
        idx, w = self.gate(x)
        y = self.shared_experts(x)
        flat = idx.reshape(-1)
        self.load = torch.bincount(flat, minlength=len(self.experts)).detach()
        tok = torch.arange(x.shape[0]).repeat_interleave(idx.shape[1])
        wf = w.reshape(-1)
        order = torch.argsort(flat)
        counts = self.load.tolist()
        start = 0
        for e, n in enumerate(counts):
            if n == 0:
                continue
            sel = order[start:start + n]
            start += n
            t = tok[sel]
            y = y.index_add(0, t, self.experts[e](x[t]) * wf[sel, None])
        return y.view(shape)


class Block(nn.Module):
    def __init__(self, c, moe):
        super().__init__()
        d = c["hidden_size"]
        self.input_layernorm = RMSNorm(d, c["rms_norm_eps"])
        self.self_attn = MLA(c)
        self.post_attention_layernorm = RMSNorm(d, c["rms_norm_eps"])
        self.mlp = MoE(c) if moe else MLP(d, c["intermediate_size"])

    def forward(self, x, cos, sin, mask):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, mask)
        return x + self.mlp(self.post_attention_layernorm(x))


class MTP(nn.Module):
    """model.layers.<N>: embedding and head are shared with the main model while training
    (DeepSeek-V3 does the same) and stored as copies."""

    def __init__(self, c):
        super().__init__()
        d = c["hidden_size"]
        self.enorm = RMSNorm(d, c["rms_norm_eps"])
        self.hnorm = RMSNorm(d, c["rms_norm_eps"])
        self.eh_proj = nn.Linear(2 * d, d, bias=False)
        self.block = Block(c, moe=True)
        self.shared_head_norm = RMSNorm(d, c["rms_norm_eps"])


class DeepSeekV3(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        d, V = c["hidden_size"], c["vocab_size"]
        self.embed_tokens = nn.Embedding(V, d)
        self.layers = nn.ModuleList([Block(c, l >= c["first_k_dense_replace"]) for l in range(c["num_hidden_layers"])])
        self.norm = RMSNorm(d, c["rms_norm_eps"])
        self.lm_head = nn.Linear(d, V, bias=False)
        self.mtp = MTP(c) if c["num_nextn_predict_layers"] else None
        cos, sin = rope_tables(c, c["max_position_embeddings"])
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)

    def init_weights(self, std=0.02):
        n_res = 2 * (len(self.layers) + 1)
        for name, p in self.named_parameters():
            if p.dim() == 2:
                s = std / math.sqrt(n_res) if name.endswith(("o_proj.weight", "down_proj.weight")) else std
                nn.init.normal_(p, 0.0, s)

    def forward(self, ids, mtp_next=None, zero_pos0=False):
        """ids [B, T] -> logits [B, T, V], final hidden [B, T, d], MTP logits (if mtp_next
        [B, T] holds the token after each position) [B, T, V]."""
        T = ids.shape[1]
        cos, sin = self.cos[:T], self.sin[:T]
        mask = torch.ones(T, T, dtype=torch.bool).triu(1)
        x = self.embed_tokens(ids)
        for blk in self.layers:
            x = blk(x, cos, sin, mask)
        h = self.norm(x)
        logits = self.lm_head(h)
        mtp_logits = None
        if mtp_next is not None and self.mtp is not None:
            m = self.mtp
            e = self.embed_tokens(mtp_next)
            if zero_pos0:
                e = e.clone()
                e[:, 0] = 0
            z = m.eh_proj(torch.cat((m.enorm(e), m.hnorm(h)), -1))
            z = m.block(z, cos, sin, mask)
            mtp_logits = self.lm_head(m.shared_head_norm(z))
        return logits, h, mtp_logits

    def moe_layers(self):
        out = [b.mlp for b in self.layers if isinstance(b.mlp, MoE)]
        if self.mtp is not None:
            out.append(self.mtp.block.mlp)
        return out


# ---- 4. export / import ----------------------------------------------------------------

def hf_state(model):
    """HF DeepSeek-V3 tensor names -> float32 tensors."""
    c = model.c
    out = {"model.embed_tokens.weight": model.embed_tokens.weight, "model.norm.weight": model.norm.weight,
           "lm_head.weight": model.lm_head.weight}

    def block(p, b):
        for k, v in b.state_dict(keep_vars=True).items():
            out[p + k] = v
    for l, b in enumerate(model.layers):
        block("model.layers.%d." % l, b)
    if model.mtp is not None:
        p = "model.layers.%d." % c["num_hidden_layers"]
        m = model.mtp
        block(p, m.block)
        out[p + "embed_tokens.weight"] = model.embed_tokens.weight
        out[p + "enorm.weight"] = m.enorm.weight
        out[p + "hnorm.weight"] = m.hnorm.weight
        out[p + "eh_proj.weight"] = m.eh_proj.weight
        out[p + "shared_head.norm.weight"] = m.shared_head_norm.weight
        out[p + "shared_head.head.weight"] = model.lm_head.weight
    return {k: v.detach().float().contiguous() for k, v in out.items()}


def to_bf16_bits(t):
    """float32 tensor -> uint16 numpy array of bf16 bits (round to nearest even)."""
    return t.to(torch.bfloat16).view(torch.int16).numpy().view(np.uint16)


def write_safetensors(path, state):
    """bf16 everything but e_score_correction_bias (F32); largest element size first."""
    items = []
    for k, v in state.items():
        if k.endswith("e_score_correction_bias"):
            items.append((4, k, "F32", v.numpy().astype("<f4").tobytes(), list(v.shape)))
        else:
            items.append((2, k, "BF16", to_bf16_bits(v).astype("<u2").tobytes(), list(v.shape)))
    items.sort(key=lambda it: (-it[0], it[1]))
    header, off = {"__metadata__": {"format": "pt"}}, 0
    for _, k, dt, data, shape in items:
        header[k] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + len(data)]}
        off += len(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for it in items:
            f.write(it[3])


def read_safetensors(path):
    """name -> float32 tensor (bf16 upcast exactly)."""
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    base, out = 8 + n, {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        a, b = v["data_offsets"]
        buf = raw[base + a:base + b]
        if v["dtype"] == "BF16":
            u = np.frombuffer(buf, dtype="<u2").astype(np.uint32) << 16
            arr = u.view(np.float32)
        elif v["dtype"] == "F32":
            arr = np.frombuffer(buf, dtype="<f4")
        else:
            raise SystemExit("%s: %s: unsupported dtype %s" % (path, k, v["dtype"]))
        out[k] = torch.from_numpy(arr.copy()).view(v["shape"])
    return out


def hf_config(c):
    cfg = {
        "architectures": ["DeepseekV3ForCausalLM"],
        "attention_bias": False,
        "attention_dropout": 0.0,
        "bos_token_id": 0,
        "eos_token_id": 1,
        "hidden_act": "silu",
        "initializer_range": 0.02,
        "model_type": "deepseek_v3",
        "moe_layer_freq": 1,
        "num_key_value_heads": c["num_attention_heads"],
        "rope_scaling": None,
        "scoring_func": "sigmoid",
        "tie_word_embeddings": False,
        "topk_method": "noaux_tc",
        "torch_dtype": "bfloat16",
        "use_cache": True,
    }
    cfg.update(c)
    return dict(sorted(cfg.items()))


def load_model(model_dir):
    """The exported model, weights as stored (bf16 upcast to float32)."""
    c = json.load(open(os.path.join(model_dir, "config.json")))
    c = {k: c[k] for k in CONFIG}
    model = DeepSeekV3(c)
    st = read_safetensors(os.path.join(model_dir, "model.safetensors"))
    load_hf_state(model, st)
    return model


def load_hf_state(model, st):
    targets = hf_state(model)                  # same names, detached copies
    params = dict(model.named_parameters())
    params.update(dict(model.named_buffers()))
    # map HF names back to module tensors
    c = model.c
    L = c["num_hidden_layers"]
    missing = set(targets) - set(st)
    if missing:
        raise SystemExit("missing tensors: %s" % sorted(missing)[:5])
    with torch.no_grad():
        for k, v in st.items():
            if k == "model.embed_tokens.weight":
                dst = model.embed_tokens.weight
            elif k == "lm_head.weight":
                dst = model.lm_head.weight
            elif k == "model.norm.weight":
                dst = model.norm.weight
            elif k.startswith("model.layers.%d." % L):
                rest = k[len("model.layers.%d." % L):]
                if rest in ("embed_tokens.weight", "shared_head.head.weight"):
                    ref = st["model.embed_tokens.weight" if rest.startswith("embed") else "lm_head.weight"]
                    if not torch.equal(ref, v):
                        raise SystemExit("%s differs from the main copy (training ties them)" % k)
                    continue
                m = model.mtp
                name = {"enorm.weight": "enorm.weight", "hnorm.weight": "hnorm.weight",
                        "eh_proj.weight": "eh_proj.weight",
                        "shared_head.norm.weight": "shared_head_norm.weight"}.get(rest, "block." + rest)
                dst = params["mtp." + name]
            else:
                dst = params["layers." + k[len("model.layers."):]]
            dst.copy_(v)


# ---- 5. evaluation ---------------------------------------------------------------------

@torch.no_grad()
def perplexity(model, ids, ctx):
    """The protocol in the header: non-overlapping chunks, no BOS, score tokens 1..ctx-1."""
    n_chunks = len(ids) // ctx
    x = torch.tensor(ids[:n_chunks * ctx], dtype=torch.long).view(n_chunks, ctx)
    nll, n = 0.0, 0
    for i in range(0, n_chunks, 8):
        xb = x[i:i + 8]
        logits = model(xb)[0]
        lp = torch.log_softmax(logits[:, :-1].double(), -1)
        nll -= lp.gather(-1, xb[:, 1:, None]).sum().item()
        n += xb[:, 1:].numel()
    return math.exp(nll / n), n_chunks, n


@torch.no_grad()
def greedy(model, ids, n):
    ids = list(ids)
    out = []
    for _ in range(n):
        logits = model(torch.tensor([ids]))[0][0, -1]
        t = int(logits.argmax())
        out.append(t)
        ids.append(t)
    return out


# ---- main ------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="models/kjv-demo")
    ap.add_argument("--minutes", type=float, default=26.0,
                    help="training budget in minutes on --threads cores: process CPU time <= minutes * threads")
    ap.add_argument("--max-wall-minutes", type=float, default=0,
                    help="also stop after this much wall-clock time (a busy machine); 0 = no limit")
    ap.add_argument("--steps", type=int, default=0, help="fixed number of steps instead of --minutes")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--mtp-weight", type=float, default=0.3)
    ap.add_argument("--bias-gamma", type=float, default=1e-3)
    ap.add_argument("--ctx", type=int, default=256, help="perplexity chunk length")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    os.makedirs(args.out, exist_ok=True)
    t0 = time.time()

    verses = load_verses()
    chapters, held = split_text(verses)
    with open(os.path.join(args.out, "heldout.txt"), "w", encoding="ascii", newline="\n") as f:
        f.write(held)
    merges = train_bpe(chapters, CONFIG["vocab_size"])
    vocab = build_vocab(merges)
    assert len(vocab) == CONFIG["vocab_size"], len(vocab)
    write_tokenizer(args.out, vocab, merges)
    tok = Tokenizer.load(os.path.join(args.out, "tokenizer.json"))
    stream = []
    for ch in chapters:
        stream.append(0)
        stream.extend(tok.encode(ch))
    stream = np.array(stream, dtype=np.int64)
    held_ids = tok.encode(held)
    assert tok.decode(held_ids) == held
    print("text: %d verses, %d train chapters, %d train tokens, %d held-out tokens (%.1f bytes/token); "
          "tokenizer %.1fs" % (len(verses), len(chapters), len(stream), len(held_ids),
                               len(held) / len(held_ids), time.time() - t0), flush=True)

    c = dict(CONFIG)
    model = DeepSeekV3(c)
    model.init_weights()
    n_params = sum(p.numel() for p in model.parameters())
    print("model: %d trainable parameters" % n_params, flush=True)
    decay = [p for p in model.parameters() if p.dim() == 2]
    other = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": other, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95), eps=1e-8)
    B, T = args.batch, args.seq
    cpu_budget, wall_budget = args.minutes * 60 * args.threads, args.max_wall_minutes * 60
    t_train, c_train, step, warm = time.time(), time.process_time(), 0, 50
    log = []
    while True:
        if args.steps:
            frac = step / args.steps
        else:
            frac = (time.process_time() - c_train) / cpu_budget
            if wall_budget:
                frac = max(frac, (time.time() - t_train) / wall_budget)
        if frac >= 1:
            break
        lr = args.lr * min(1.0, (step + 1) / warm) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))
        for g in opt.param_groups:
            g["lr"] = lr
        starts = rng.integers(0, len(stream) - T - 2, B)
        w = torch.from_numpy(np.stack([stream[s:s + T + 2] for s in starts]))
        x, y, y2 = w[:, :T], w[:, 1:T + 1], w[:, 2:T + 2]
        logits, _, mlog = model(x, mtp_next=y)
        loss_main = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        loss_mtp = F.cross_entropy(mlog.reshape(-1, mlog.shape[-1]), y2.reshape(-1))
        loss = loss_main + args.mtp_weight * loss_mtp
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        # auxiliary-loss-free balancing: bias += gamma * sign(mean load - load)
        with torch.no_grad():
            for moe in model.moe_layers():
                load = moe.load.float()
                moe.gate.e_score_correction_bias += args.bias_gamma * torch.sign(load.mean() - load)
        step += 1
        if step % 25 == 0 or step <= 3:
            el = time.time() - t_train
            loads = [int(moe.load.max()) * len(moe.experts) / max(1, int(moe.load.sum())) for moe in model.moe_layers()]
            print("step %5d  %6.0fs  cpu %6.0fs  lr %.2e  loss %.3f  mtp %.3f  max/mean load %s" %
                  (step, el, time.process_time() - c_train, lr, loss_main.item(), loss_mtp.item(), " ".join("%.2f" % v for v in loads)), flush=True)
            log.append((step, round(el), round(loss_main.item(), 4), round(loss_mtp.item(), 4)))
    train_s, train_cpu = time.time() - t_train, time.process_time() - c_train
    print("trained %d steps in %.0fs wall, %.0fs CPU (%d tokens)" % (step, train_s, train_cpu, step * B * T), flush=True)

    # export, then evaluate the stored (bf16) weights
    model.eval()
    state = hf_state(model)
    write_safetensors(os.path.join(args.out, "model.safetensors"), state)
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(hf_config(c), f, indent=2)
        f.write("\n")
    qm = load_model(args.out)
    qm.eval()
    ppl, n_chunks, n_scored = perplexity(qm, held_ids, args.ctx)
    prompt = [0] + tok.encode("And the LORD said unto Moses,")
    gen = greedy(qm, prompt, 40)
    res = {
        "heldout_books": list(HELDOUT_BOOKS),
        "heldout_file": "heldout.txt",
        "protocol": "heldout.txt tokenized as one stream without BOS; consecutive non-overlapping chunks of ctx "
                    "ids, last partial chunk dropped; each chunk from position 0 with nothing prepended; "
                    "every token after the first scored; perplexity = exp(mean NLL)",
        "weights": "bf16 as stored in model.safetensors, upcast to float32",
        "ctx": args.ctx,
        "heldout_tokens": len(held_ids),
        "chunks": n_chunks,
        "scored_tokens": n_scored,
        "perplexity": ppl,
        "train_tokens_per_epoch": int(len(stream)),
        "train_steps": step,
        "batch": B,
        "seq": T,
        "train_seconds": round(train_s),
        "train_cpu_seconds": round(train_cpu),
        "total_seconds": round(time.time() - t0),
        "threads": args.threads,
        "seed": args.seed,
        "torch": torch.__version__,
        "sample_prompt_ids": prompt,
        "sample_greedy_ids": gen,
        "sample_text": tok.decode(prompt[1:] + gen),
        "loss_log": log,
    }
    with open(os.path.join(args.out, "eval.json"), "w") as f:
        json.dump(res, f, indent=1)
        f.write("\n")
    print("held-out perplexity (ctx %d, %d chunks, bf16 weights): %.3f" % (args.ctx, n_chunks, ppl))
    print("sample: %s" % res["sample_text"])


if __name__ == "__main__":
    main()
