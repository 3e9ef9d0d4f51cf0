#!/bin/sh
# Kimi Linear through llama.cpp's `kimi-linear` GGUF: frugal convert writes the
# file, the llama.cpp of node-llama-cpp@3.21.1 (dlopen driver bench/llama_logits.c)
# loads it, and its logits are compared with the reference logits of the fixture
# (tests/fixtures/kimi_linear, computed by the upstream modeling code).
# The fixtures carry no tokenizer and llama.cpp refuses a file without one: a
# byte-level vocabulary (ids 0..255 = bytes) is written beside a copy of the
# fixture; ids and logits do not depend on it.
# kimi_linear_tiny_dense has 4 KDA heads and 3 MLA heads: llama.cpp's kimi-linear
# has one head count, so it cannot load that file (frugal writes and reads a
# per-layer attention.head_count there); it is reported, not counted as a failure.
# usage: bench/kimi_gguf_llama.sh [BUILD_DIR]   (run from the repo root)
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
FRUGAL=$BUILD/frugal
[ -x "$FRUGAL" ] || { echo "build frugal first (cmake --build $BUILD)"; exit 2; }
NM=$ROOT/bench/node_modules
LIB=$NM/@node-llama-cpp/linux-x64/bins/linux-x64
if [ ! -f "$LIB/libllama.v0.4.0.so" ]; then
    (cd "$ROOT/bench" && npm install --no-save --ignore-scripts --prefix "$ROOT/bench" @node-llama-cpp/linux-x64@3.21.1 >/dev/null)
fi
W=$(mktemp -d /tmp/frugal_kgguf_XXXXXX)
trap 'rm -rf "$W"' EXIT
CC=${CC:-cc}
$CC -O2 -std=c17 -D_POSIX_C_SOURCE=200809L "$ROOT/bench/llama_logits.c" -o "$W/llama_logits" -ldl
$CC -O2 -std=c17 "$ROOT/bench/cmp_logits.c" -o "$W/cmp" -lm
fail=0
for fix in kimi_linear_tiny kimi_linear_tiny_dense; do
    SRC=$ROOT/tests/fixtures/kimi_linear/$fix
    mkdir -p "$W/$fix"
    ln -s "$SRC/config.json" "$SRC/model.safetensors" "$W/$fix/"
    python3 - "$W/$fix" <<'PY'
import json, sys
keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
m, extra = {}, 0
for b in range(256):
    if b in keep:
        m[b] = chr(b)
    else:
        m[b] = chr(256 + extra)
        extra += 1
tok = {"model": {"type": "BPE", "vocab": {m[b]: b for b in range(256)}, "merges": []}, "added_tokens": []}
json.dump(tok, open(sys.argv[1] + "/tokenizer.json", "w"))
PY
    V=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['vocab_size'])" "$SRC/config.json")
    for type in F32 BF16 Q8_0; do
        "$FRUGAL" convert "$W/$fix" "$W/$fix.$type.gguf" --type "$type" >/dev/null
        for p in len1 len7 len64 len200; do
            IDS=$(python3 -c "import json,sys; print(','.join(map(str, json.load(open(sys.argv[1]))['prompts'][sys.argv[2]])))" "$SRC/tokens.json" "$p")
            if ! "$W/llama_logits" "$LIB" "$W/$fix.$type.gguf" "$IDS" "$W/ll.f32" >/dev/null 2>"$W/err"; then
                echo "$fix $type: llama.cpp cannot load it: $(grep -o 'check_tensor_dims.*' "$W/err" | head -1)"
                [ "$fix" = kimi_linear_tiny_dense ] || fail=1
                break
            fi
            printf '%s %-4s %-6s llama.cpp vs reference: ' "$fix" "$type" "$p"
            "$W/cmp" "$W/ll.f32" "$SRC/logits_$p.f32" "$V"
        done
    done
done
exit $fail
