#!/usr/bin/python3
"""Check the engine against tools/train_demo.py's own PyTorch forward on the demo model.

Both run the stored bf16 weights (upcast to float32). A held-out snippet (BOS + the first
--tokens ids of heldout.txt, tokenized by the training script's tokenizer) goes through
  - `frugal eval -m MODEL --ids ... --logits --mtp-logits --greedy N`, and
  - the script's DeepSeekV3 forward (logits, MTP logits with the position-0 embedding zeroed
    as the engine does, greedy continuation by full recomputation);
and the row-relative error max|engine - torch| / max|torch| per row is reported (fails
above --tol). The greedy continuations are decoded with the Python tokenizer.

  /usr/bin/python3 tools/check_demo.py [--model models/kjv-demo] [--frugal build/frugal]
  --c-ref: also print a C array of a greedy reference (for tests/test_demo_model.c)
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import train_demo as td  # noqa: E402


def row_rel_err(a, ref):
    return float((np.abs(a - ref).max(1) / np.abs(ref).max(1)).max())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="models/kjv-demo")
    ap.add_argument("--frugal", default="build/frugal")
    ap.add_argument("--tokens", type=int, default=128, help="held-out ids after BOS")
    ap.add_argument("--greedy", type=int, default=40)
    ap.add_argument("--tol", type=float, default=1e-4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--c-ref", default=None, help="prompt text for a C greedy reference")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    model = td.load_model(args.model).eval()
    tok = td.Tokenizer.load(os.path.join(args.model, "tokenizer.json"))
    held = open(os.path.join(args.model, "heldout.txt"), encoding="ascii").read()
    ids = [0] + tok.encode(held)[:args.tokens]
    T = len(ids)

    with torch.no_grad():
        logits, _, _ = model(torch.tensor([ids]))
        first = int(logits[0, -1].argmax())
        _, _, mtp = model(torch.tensor([ids]), mtp_next=torch.tensor([ids[1:] + [first]]), zero_pos0=True)
    ref, ref_mtp = logits[0].numpy(), mtp[0].numpy()
    ref_gen = td.greedy(model, ids, args.greedy)

    with tempfile.TemporaryDirectory() as tmp:
        lp, mp = os.path.join(tmp, "logits.f32"), os.path.join(tmp, "mtp.f32")
        r = subprocess.run([args.frugal, "eval", "-m", args.model, "--ids", " ".join(map(str, ids)), "--logits", lp,
                            "--mtp-logits", mp, "--greedy", str(args.greedy), "-t", str(args.threads)],
                           capture_output=True, text=True)
        if r.returncode:
            sys.exit("frugal eval failed: " + r.stderr)
        eng_gen = [int(x) for x in r.stdout.split()]
        V = ref.shape[1]
        eng = np.fromfile(lp, dtype=np.float32).reshape(T, V)
        eng_mtp = np.fromfile(mp, dtype=np.float32).reshape(T, V)

    e_logits, e_mtp = row_rel_err(eng, ref), row_rel_err(eng_mtp, ref_mtp)
    top1 = float((eng.argmax(1) == ref.argmax(1)).mean())
    print("prompt: BOS + %d held-out ids (%r...)" % (T - 1, tok.decode(ids[1:])[:60]))
    print("logits      [%d, %d]: row-relative error %.3g, top-1 agreement %.3f" % (T, V, e_logits, top1))
    print("MTP logits  [%d, %d]: row-relative error %.3g" % (T, V, e_mtp))
    print("greedy %d: engine %s torch" % (args.greedy, "==" if eng_gen == ref_gen else "!="))
    print("engine greedy text: %r" % tok.decode(eng_gen))
    if eng_gen != ref_gen:
        print("torch  greedy text: %r" % tok.decode(ref_gen))
    ok = e_logits <= args.tol and e_mtp <= args.tol and eng_gen == ref_gen

    if args.c_ref:
        p = [0] + tok.encode(args.c_ref)
        g = td.greedy(model, p, 32)
        # smallest top-1 margin along the greedy path, relative to max |logit|
        with torch.no_grad():
            lg = model(torch.tensor([p + g[:-1]]))[0][0, len(p) - 1:]
        top2 = lg.topk(2, -1)[0]
        margin = float(((top2[:, 0] - top2[:, 1]) / lg.abs().max(-1)[0]).min())
        print("C reference: prompt %r, min greedy margin %.2e" % (args.c_ref, margin))
        print("static const int32_t prompt[] = {%s};" % ", ".join(map(str, p)))
        print("static const int32_t expect[] = {%s};" % ", ".join(map(str, g)))
        print("/* %r */" % tok.decode(g))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
