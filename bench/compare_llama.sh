#!/bin/sh
# frugal vs llama.cpp on the same GGUF files (issue 4, item 4).
#
# Usage: bench/compare_llama.sh [OUT_DIR]          (default bench/out/compare, gitignored)
#   FRUGAL=path/to/frugal (default build/frugal), THREADS (default 2), TYPES (converted-file types)
#
# Part A, tests/fixtures/gguf/*.gguf (files written by an independent llama.cpp-layout writer):
#   both engines evaluate tokens.txt as one prompt from position 0; each is compared with
#   <name>.exact_logits.f32, an exact float64 forward pass over the stored weights.
# Part B, files written by frugal: the F32 GGUF fixtures quantized with `frugal quantize TYPE`, and
#   every DeepSeek fixture in tests/fixtures/deepseek converted with `frugal convert --type TYPE`
#   (a synthetic byte-level tokenizer.json is added to a staging copy
#   first, bench/gpt2_vocab.py: llama.cpp will not load a file without tokenizer keys). Reference:
#   the same file dequantized to F32 by `frugal quantize OUT.gguf DQ.gguf F32`, run in llama.cpp
#   (F32 weights: no activation rounding, within ~1e-6 of exact math); F32 conversions are also
#   compared with the safetensors reference logits of the fixture (official DeepSeek code).
# Errors are row-relative, max_j |x - ref| / max_j |ref|, worst row (median row in brackets);
# "argmax" counts rows whose top token equals the reference's.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
frugal=${FRUGAL:-$root/build/frugal}
out=${1:-$here/out/compare}
threads=${THREADS:-2}
types=${TYPES:-"F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q2_K Q3_K Q4_K Q5_K Q6_K IQ4_NL IQ4_XS MXFP4 Q4_K_M"}
py=/usr/bin/python3
. "$here/llama_setup.sh"
if [ ! -x "$frugal" ]; then
    cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$root/build" -j2 >/dev/null
fi
mkdir -p "$out"
cmp() { "$py" "$here/compare_logits.py" "$@"; }
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }      # value of key=value in a compare line
cell() { # "rel (median) argmax" cell of one compare line
    printf '%s (%s), %s' "$(echo "$1" | field rel_max)" "$(echo "$1" | field rel_median)" "$(echo "$1" | field argmax)"
}

echo "frugal: $frugal ($("$frugal" --version 2>/dev/null || echo '?'))"
echo "llama.cpp: node-llama-cpp@3.21.1 prebuilt ($llama_libdir)"
echo "threads: $threads; machine: $(nproc) cores, $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1)"
echo

# ---- part A: the GGUF fixtures ------------------------------------------------------------
fx=$root/tests/fixtures/gguf
ids=$(cat "$fx/tokens.txt")
echo "### GGUF fixtures (tests/fixtures/gguf, 48 tokens, vs exact float64 logits)"
echo
echo "| file | frugal vs exact: rel (median), argmax | llama.cpp vs exact: rel (median), argmax | frugal vs llama.cpp |"
echo "|---|---|---|---|"
for g in "$fx"/*.gguf; do
    n=$(basename "$g" .gguf)
    vocab=$(($(stat -c %s "$fx/$n.exact_logits.f32") / 4 / $(echo "$ids" | tr ',' '\n' | grep -c .)))
    "$frugal" eval -m "$g" --ids "$ids" --logits "$out/$n.frugal.f32" -t "$threads" >/dev/null
    "$driver" logits -m "$g" --ids "$ids" -o "$out/$n.llama.f32" -t "$threads" 2>"$out/$n.llama.log"
    a=$(cmp --vocab "$vocab" "$fx/$n.exact_logits.f32" "f=$out/$n.frugal.f32")
    b=$(cmp --vocab "$vocab" "$fx/$n.exact_logits.f32" "l=$out/$n.llama.f32")
    c=$(cmp --vocab "$vocab" "$out/$n.llama.f32" "x=$out/$n.frugal.f32")
    echo "| $n | $(cell "$a") | $(cell "$b") | $(cell "$c") |"
done
sed -n 's/^llama.cpp: //p' "$out/$n.llama.log" | head -1
echo

# ---- part B: files written by frugal (convert from safetensors, quantize from GGUF) ---------
# row LABEL TYPE GGUF IDS VOCAB [SAFETENSORS_REF]: one table row for one file frugal wrote
row() {
    label=$1 t=$2 g=$3 rids=$4 rvocab=$5 sref=${6:-}
    b=${g%.gguf}
    "$frugal" quantize "$g" "$b.dq.gguf" F32 >/dev/null 2>&1
    "$frugal" eval -m "$g" --ids "$rids" --logits "$b.frugal.f32" -t "$threads" >/dev/null
    if ! "$driver" logits -m "$g" --ids "$rids" -o "$b.llama.f32" -t "$threads" 2>"$b.llama.log"; then
        echo "| $label | $t | llama.cpp failed: $(grep -i error "$b.llama.log" | head -1) | | | | | |"
        rm -f "$b.dq.gguf"
        return 0
    fi
    "$driver" logits -m "$b.dq.gguf" --ids "$rids" -o "$b.dq.f32" -t "$threads" 2>/dev/null
    a=$(cmp --vocab "$rvocab" "$b.dq.f32" "f=$b.frugal.f32")
    l=$(cmp --vocab "$rvocab" "$b.dq.f32" "l=$b.llama.f32")
    x=$(cmp --vocab "$rvocab" "$b.llama.f32" "x=$b.frugal.f32")
    e="-" f="-"
    if [ -n "$sref" ]; then
        e=$(cell "$(cmp --vocab "$rvocab" "$sref" "l=$b.llama.f32")")
        f=$(cell "$(cmp --vocab "$rvocab" "$sref" "f=$b.frugal.f32")")
    fi
    echo "| $label | $t | $(($(stat -c %s "$g") / 1024)) KiB | $(cell "$a") | $(cell "$l") | $(cell "$x") | $e | $f |"
    rm -f "$b.dq.gguf"
}
echo "### Files written by frugal"
echo
echo "Reference: the same file dequantized to F32 by frugal quantize, run in llama.cpp."
echo
echo "| source | type | size | frugal vs F32 of stored: rel (median), argmax | llama.cpp vs F32 of stored | frugal vs llama.cpp | llama.cpp vs safetensors ref | frugal vs safetensors ref |"
echo "|---|---|---|---|---|---|---|---|"
# frugal quantize on the F32 GGUF fixtures
ids=$(cat "$fx/tokens.txt")
for n in v2_softmax_f32 v3_sigmoid_f32; do
    vocab=$(($(stat -c %s "$fx/$n.exact_logits.f32") / 4 / $(echo "$ids" | tr ',' '\n' | grep -c .)))
    for t in $types; do
        [ "$t" = F32 ] && continue
        g=$out/q.$n.$t.gguf
        if ! "$frugal" quantize "$fx/$n.gguf" "$g" "$t" >"$out/q.$n.$t.log" 2>&1; then
            echo "| quantize $n | $t | frugal quantize failed: $(tail -1 "$out/q.$n.$t.log") | | | | | |"
            continue
        fi
        row "quantize $n" "$t" "$g" "$ids" "$vocab"
    done
done
# frugal convert on the DeepSeek safetensors fixtures
if ! "$frugal" convert --help >/dev/null 2>&1; then
    echo
    echo "(frugal convert part skipped: this frugal has no 'convert' command)"
    exit 0
fi
for d in "$root"/tests/fixtures/deepseek/*/; do
    fxn=$(basename "$d")
    [ -f "$d/config.json" ] && [ -f "$d/tokens.json" ] || continue
    grep -q '"deepseek_v3"\|"deepseek_v2"' "$d/config.json" || continue
    stage=$out/stage/$fxn
    rm -rf "$stage"
    mkdir -p "$stage"
    for f in "$d"*; do ln -s "$f" "$stage/"; done
    vocab=$("$py" -c "import json,sys; print(json.load(open(sys.argv[1]))['vocab_size'])" "$d/config.json")
    [ -f "$d/tokenizer.json" ] || "$py" "$here/gpt2_vocab.py" "$stage" "$vocab"
    # the longest prompt and its reference logits
    p=$("$py" -c "import json,sys; t=json.load(open(sys.argv[1]))['prompts']; print(max(range(len(t)), key=lambda k: len(t[k])))" "$d/tokens.json")
    ids=$("$py" -c "import json,sys; print(' '.join(map(str, json.load(open(sys.argv[1]))['prompts'][int(sys.argv[2])])))" "$d/tokens.json" "$p")
    for t in $types; do
        g=$out/c.$fxn.$t.gguf
        if ! "$frugal" convert "$stage" "$g" --type "$t" >"$out/c.$fxn.$t.log" 2>&1; then
            echo "| convert $fxn | $t | frugal convert failed: $(tail -1 "$out/c.$fxn.$t.log") | | | | | |"
            continue
        fi
        row "convert $fxn" "$t" "$g" "$ids" "$vocab" "$d/reference/p$p.logits.f32"
    done
done
