#!/usr/bin/python3
"""Compare float32 logits files [n, vocab] against a reference (standard library only).

usage: compare_logits.py --vocab V REF.f32 NAME=FILE.f32 [NAME=FILE.f32 ...]

Per file, against REF: the worst row-relative error max_j |x - ref| / max_j |ref| over the rows,
its median over the rows, and how many rows have the same argmax as REF. Prints one line per file
in a fixed key=value form that bench/compare_llama.sh turns into a table.
"""
import array
import sys


def load(path, vocab):
    a = array.array("f")
    with open(path, "rb") as f:
        a.frombytes(f.read())
    if sys.byteorder != "little":
        a.byteswap()
    if len(a) == 0 or len(a) % vocab:
        sys.exit(f"error: {path}: {len(a)} floats is not a multiple of vocab {vocab}")
    return [a[i:i + vocab] for i in range(0, len(a), vocab)]


def argmax(row):
    return max(range(len(row)), key=row.__getitem__)


def main():
    args = sys.argv[1:]
    if len(args) < 4 or args[0] != "--vocab":
        sys.exit(__doc__)
    vocab = int(args[1])
    ref = load(args[2], vocab)
    for spec in args[3:]:
        name, _, path = spec.partition("=")
        rows = load(path, vocab)
        if len(rows) != len(ref):
            sys.exit(f"error: {path}: {len(rows)} rows, reference has {len(ref)}")
        rels, agree = [], 0
        for x, r in zip(rows, ref):
            scale = max(abs(v) for v in r) or 1.0
            rels.append(max(abs(a - b) for a, b in zip(x, r)) / scale)
            agree += argmax(x) == argmax(r)
        rels_sorted = sorted(rels)
        print(f"{name} rel_max={max(rels):.2e} rel_median={rels_sorted[len(rels) // 2]:.2e} "
              f"argmax={agree}/{len(ref)}")


if __name__ == "__main__":
    main()
