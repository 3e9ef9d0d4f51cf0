#!/bin/sh
# Kimi Linear efficiency benchmark (issue 6): a random-weight Kimi-Linear-shaped model (KDA:MLA 3:1)
# against the same model with every layer MLA, decode tok/s and cache memory at several contexts.
#
#   bench/kimi_linear.sh [THREADS] [N_DECODE] [CTX ...]     (defaults: 1 thread, 8 tokens, 1024 8192 32768)
#
# Env: BUILD (default build), WORK (default /tmp/frugal-kimi-bench: the two generated models, ~2 x 120 MB),
#      GEN_ARGS (extra size options for kimi_linear_gen.py, e.g. "--layers 12 --hidden 768").
set -eu
cd "$(dirname "$0")/.."
THREADS=${1:-1}; ND=${2:-8}
[ $# -gt 2 ] && shift 2 || set --
CTXS=${*:-"1024 8192 32768"}
BUILD=${BUILD:-build}; WORK=${WORK:-/tmp/frugal-kimi-bench}; GEN_ARGS=${GEN_ARGS:-}
[ -f "$BUILD/libfrugal.a" ] || { cmake -S . -B "$BUILD" -DFRUGAL_WERROR=ON >/dev/null && cmake --build "$BUILD" -j2 >/dev/null; }
cmake --build "$BUILD" -j2 --target frugal >/dev/null
mkdir -p "$WORK"
${CC:-cc} -O2 -std=c17 -D_POSIX_C_SOURCE=200809L -fopenmp -Iinclude -Isrc bench/kimi_linear_bench.c "$BUILD/libfrugal.a" \
    $(pkg-config --libs jansson libpcre2-8) -lm -lpthread -o "$WORK/kimi_linear_bench"
for p in hybrid mla; do
    [ -f "$WORK/$p/model.safetensors" ] || python3 bench/kimi_linear_gen.py "$WORK/$p" --pattern $p $GEN_ARGS
done
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), threads $THREADS, $ND decoded tokens per point"
for p in hybrid mla; do
    "$WORK/kimi_linear_bench" "$WORK/$p" "$THREADS" "$ND" $CTXS | tee "$WORK/$p.txt"
done
echo
echo "| context | Kimi Linear (3:1 KDA:MLA) tok/s | all-MLA tok/s | speed-up | Kimi Linear cache | all-MLA cache | cache saved |"
echo "|---|---|---|---|---|---|---|"
grep -v '^#' "$WORK/hybrid.txt" > "$WORK/h.dat"; grep -v '^#' "$WORK/mla.txt" > "$WORK/m.dat"
paste -d' ' "$WORK/h.dat" "$WORK/m.dat" | awk '{ printf "| %d | %.2f | %.2f | %.2fx | %.1f MiB | %.1f MiB | %.0f%% |\n", $1, $2, $6, $2/$6, $4/1048576, $8/1048576, 100*(1-$4/$8) }'
