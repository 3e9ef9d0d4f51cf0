#!/bin/sh
# frugal and llama.cpp side by side on GGUF files (issue 4).
#
# Installs the prebuilt llama.cpp that node-llama-cpp@3.21.1 ships for linux-x64
# (@node-llama-cpp/linux-x64@3.21.1: shared libraries, no headers) into
# bench/node_modules, builds small C drivers over its C API (dlopen), and checks:
#   1. the fixture GGUFs: llama.cpp and frugal against the exact float64 pass
#   2. every ggml type frugal decodes: llama.cpp's own dequantization (embedding
#      lookup) of frugal-encoded blocks equals frugal's decoding, bit for bit
#   3. frugal quantize's per-tensor type choices equal llama_model_quantize's
#   4. metadata variants (routing, YaRN, eps, tied output, ...): both engines on
#      the same F32 file agree to ~1e-6
#   5. files written by frugal convert / quantize load in llama.cpp; logits of
#      both engines on them (llama.cpp rounds activations to the weight's dot type)
# usage: bench/llama_compat.sh [BUILD_DIR]   (default: build; run from the repo root)
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
FRUGAL=$BUILD/frugal
[ -x "$FRUGAL" ] && [ -f "$BUILD/libfrugal.a" ] || { echo "build frugal first (cmake --build $BUILD)"; exit 2; }
NM=$ROOT/bench/node_modules
LIB=$NM/@node-llama-cpp/linux-x64/bins/linux-x64
if [ ! -f "$LIB/libllama.v0.4.0.so" ]; then
    (cd "$ROOT/bench" && npm install --no-save --ignore-scripts --prefix "$ROOT/bench" @node-llama-cpp/linux-x64@3.21.1 >/dev/null)
fi
W=$(mktemp -d /tmp/frugal_compat_XXXXXX)
trap 'rm -rf "$W"' EXIT
CC=${CC:-cc}
LIBS="$BUILD/libfrugal.a -fopenmp $(pkg-config --libs jansson libpcre2-8) -lm"
$CC -O2 -std=c17 -D_POSIX_C_SOURCE=200809L "$ROOT/bench/llama_logits.c" -o "$W/llama_logits" -ldl
$CC -O2 -std=c17 -D_POSIX_C_SOURCE=200809L "$ROOT/bench/llama_quantize.c" -o "$W/llama_quantize" -ldl
$CC -O2 -std=c17 "$ROOT/bench/cmp_logits.c" -o "$W/cmp" -lm
for t in gguf_embd_variant gguf_types_diff; do
    $CC -O2 -std=c17 -D_POSIX_C_SOURCE=200809L -I"$ROOT/src" -I"$ROOT/include" "$ROOT/bench/$t.c" $LIBS -o "$W/$t"
done
FIX=$ROOT/tests/fixtures/gguf
TOK=$(cat "$FIX/tokens.txt")
fail=0
llama() { "$W/llama_logits" "$LIB" "$1" "$TOK" "$2" >/dev/null 2>"$W/llama.err" || { cat "$W/llama.err" >&2; return 1; }; }
frugal() { "$FRUGAL" eval -m "$1" --ids "$TOK" --logits "$2" -t "${THREADS:-2}"; }

echo "== 1. fixture GGUFs against the exact float64 pass (row-relative error, argmax agreement)"
for f in "$FIX"/*.gguf; do
    n=$(basename "$f" .gguf)
    llama "$f" "$W/l.f32" && frugal "$f" "$W/f.f32"
    printf '%-20s llama.cpp %-28s frugal %s\n' "$n" "$("$W/cmp" "$W/l.f32" "$FIX/$n.exact_logits.f32" 512)" \
        "$("$W/cmp" "$W/f.f32" "$FIX/$n.exact_logits.f32" 512)"
done

echo "== 2. block decoders: llama.cpp's lookup of frugal-encoded token_embd rows vs frugal's decoding"
/usr/bin/env python3 "$ROOT/bench/make_random_hf.py" "$W/hf" 1
cp "$ROOT/tests/fixtures/tokenizer/deepseek_v3/tokenizer.json" "$ROOT/tests/fixtures/tokenizer/deepseek_v3/tokenizer_config.json" "$W/hf/"
"$FRUGAL" convert "$W/hf" "$W/m.gguf" --type F32
for t in F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q2_K Q3_K Q4_K Q5_K Q6_K IQ4_NL IQ4_XS MXFP4; do
    "$W/gguf_embd_variant" "$W/m.gguf" "$W/a.gguf" $t quant
    "$W/gguf_embd_variant" "$W/m.gguf" "$W/b.gguf" $t decoded
    llama "$W/a.gguf" "$W/la.f32" && llama "$W/b.gguf" "$W/lb.f32"
    if cmp -s "$W/la.f32" "$W/lb.f32"; then r=bit-identical; else r="DIFFERENT $("$W/cmp" "$W/la.f32" "$W/lb.f32" 512)"; fail=1; fi
    printf '%-7s %s\n' $t "$r"
done

echo "== 3. per-tensor types: frugal quantize vs llama_model_quantize"
for src in "$W/m.gguf" "$FIX/v3_sigmoid_f32.gguf" "$FIX/v3_legacy_kvb_f32.gguf" "$FIX/v2_softmax_f32.gguf"; do
    bad=""
    for ft in 0:F32 1:F16 32:BF16 7:Q8_0 2:Q4_0 3:Q4_1 8:Q5_0 9:Q5_1 10:Q2_K 11:Q3_K_S 12:Q3_K_M 13:Q3_K_L \
              14:Q4_K_S 15:Q4_K_M 16:Q5_K_S 17:Q5_K_M 18:Q6_K 25:IQ4_NL 30:IQ4_XS 38:MXFP4_MOE; do
        "$W/llama_quantize" "$LIB" "$src" "$W/lq.gguf" ${ft%%:*} >/dev/null 2>&1
        "$FRUGAL" quantize "$src" "$W/fq.gguf" ${ft##*:} 2>/dev/null
        "$W/gguf_types_diff" "$W/lq.gguf" "$W/fq.gguf" >"$W/d.txt" || { bad="$bad ${ft##*:}"; cat "$W/d.txt"; fail=1; }
    done
    printf '%-24s %s\n' "$(basename "$src")" "${bad:-all 20 types choose the same tensor types}"
done

echo "== 4. metadata variants of the fixtures, frugal vs llama.cpp on the same file (expect ~1e-6)"
P="/usr/bin/env python3 $ROOT/bench/gguf_patch.py"
variant() {
    name=$1; shift
    $P "$@"
    llama "$W/p.gguf" "$W/l.f32" && frugal "$W/p.gguf" "$W/f.f32"
    r=$("$W/cmp" "$W/f.f32" "$W/l.f32" 512)
    printf '%-40s %s\n' "$name" "$r"
    case $r in "rel "[0-9].[0-9]*e-0[5-9]*|"rel "[0-9]e-0[5-9]*|"rel 0 "*) ;; *) fail=1 ;; esac
}
D=deepseek2
variant "v2 softmax + expert groups 4 keep 2" "$FIX/v2_softmax_f32.gguf" "$W/p.gguf" set $D.expert_group_count u32 4 set $D.expert_group_used_count u32 2
variant "v2 softmax + weights norm + scale 1.7" "$FIX/v2_softmax_f32.gguf" "$W/p.gguf" set $D.expert_weights_norm bool 1 set $D.expert_weights_scale f32 1.7
variant "no output.weight (tied)" "$FIX/v3_sigmoid_f32.gguf" "$W/p.gguf" drop output.weight
variant "no vocab_size" "$FIX/v3_sigmoid_f32.gguf" "$W/p.gguf" del $D.vocab_size
variant "no expert_gating_func (softmax)" "$FIX/v3_sigmoid_f32.gguf" "$W/p.gguf" del $D.expert_gating_func
variant "no expert_weights_scale" "$FIX/v3_sigmoid_f32.gguf" "$W/p.gguf" del $D.expert_weights_scale
variant "expert_used_count 3" "$FIX/v3_sigmoid_f32.gguf" "$W/p.gguf" set $D.expert_used_count u32 3
variant "rms eps 0.5 (MLA latent norms too)" "$FIX/v3_sigmoid_f32.gguf" "$W/p.gguf" set $D.attention.layer_norm_rms_epsilon f32 0.5
variant "rope freq_base 5e5" "$FIX/v3_sigmoid_f32.gguf" "$W/p.gguf" set $D.rope.freq_base f32 500000
variant "YaRN without log-multiplier" "$FIX/v3_yarn_f32.gguf" "$W/p.gguf" del $D.rope.scaling.yarn_log_multiplier
variant "YaRN factor 16, orig 8, log-mult 0.0707" "$FIX/v3_yarn_f32.gguf" "$W/p.gguf" set $D.rope.scaling.factor f32 16 set $D.rope.scaling.original_context_length u32 8 set $D.rope.scaling.yarn_log_multiplier f32 0.0707
variant "YaRN beta keys (ignored by llama.cpp)" "$FIX/v3_yarn_f32.gguf" "$W/p.gguf" set $D.rope.scaling.yarn_beta_fast f32 16 set $D.rope.scaling.yarn_beta_slow f32 2
variant "YaRN attn_factor 0.7, log-mult 0" "$FIX/v3_yarn_f32.gguf" "$W/p.gguf" set $D.rope.scaling.attn_factor f32 0.7 set $D.rope.scaling.yarn_log_multiplier f32 0
variant "no YaRN, attn_factor 0.8" "$FIX/v3_sigmoid_f32.gguf" "$W/p.gguf" set $D.rope.scaling.attn_factor f32 0.8

echo "== 5. frugal-written files in llama.cpp (256-wide random model, K types without fallbacks)"
frugal "$W/m.gguf" "$W/f32.f32"
for t in F32 F16 BF16 Q8_0 Q6_K Q5_K_M Q4_K_M Q4_K_S Q3_K_M Q2_K IQ4_XS IQ4_NL Q4_0 Q5_1 MXFP4_MOE; do
    "$FRUGAL" quantize "$W/m.gguf" "$W/q.gguf" $t 2>/dev/null
    if llama "$W/q.gguf" "$W/l.f32"; then
        frugal "$W/q.gguf" "$W/f.f32"
        printf '%-10s llama.cpp vs frugal: %-28s frugal vs frugal(F32): %s\n' $t "$("$W/cmp" "$W/l.f32" "$W/f.f32" 512)" \
            "$("$W/cmp" "$W/f.f32" "$W/f32.f32" 512)"
    else
        echo "$t: llama.cpp could not load the file"; fail=1
    fi
done
exit $fail
