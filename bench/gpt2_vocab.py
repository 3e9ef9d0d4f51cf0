#!/usr/bin/python3
"""Write a synthetic byte-level BPE tokenizer.json of a given vocabulary size into a model folder.

usage: gpt2_vocab.py OUT_DIR VOCAB

The random-weight fixtures and generated models have no tokenizer, and llama.cpp refuses a GGUF
file without tokenizer.ggml.* keys. This gives `frugal convert` one to write: id 0 BOS, id 1 EOS
(special added tokens), ids 2..257 the 256 bytes in GPT-2's byte-to-unicode alphabet, then merges
of two byte symbols up to VOCAB (at most 65536 of them; frugal convert pads the ids left over). Token ids and logits do not depend on it; only loading does.
"""
import json
import os
import sys


def byte_alphabet():
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) + list(range(0xAE, 0xFF + 1))
    out, extra = {}, 0
    for b in range(256):
        if b in keep:
            out[b] = chr(b)
        else:
            out[b] = chr(256 + extra)
            extra += 1
    return [out[b] for b in range(256)]


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    out_dir, n_vocab = sys.argv[1], int(sys.argv[2])
    if n_vocab < 258:
        sys.exit("error: VOCAB must be at least 258")
    syms = byte_alphabet()
    vocab = {s: 2 + i for i, s in enumerate(syms)}
    merges = []
    a = b = 0
    while len(vocab) + 2 < n_vocab and a < 256:
        pair = syms[a] + syms[b]
        if pair not in vocab:
            vocab[pair] = len(vocab) + 2
            merges.append(f"{syms[a]} {syms[b]}")
        b += 1
        if b == 256:
            a, b = a + 1, 0
    added = [
        {"id": 0, "content": "<｜begin▁of▁sentence｜>", "special": True},
        {"id": 1, "content": "<｜end▁of▁sentence｜>", "special": True},
    ]
    tok = {"version": "1.0", "added_tokens": added, "normalizer": None,
           "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
                             "use_regex": True},
           "model": {"type": "BPE", "vocab": vocab, "merges": merges}}
    with open(os.path.join(out_dir, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tok, f, ensure_ascii=False)


if __name__ == "__main__":
    main()
