#!/bin/sh
# Decode and prefill of random-weight safetensors models (DeepSeek-V2-Lite
# shape, cut to LAYERS layers), BF16 and FP8, side by side in one run:
#   1. memory read bandwidth (frugal bench's own STREAM-like read, 1 GiB, 2 threads)
#   2. AVX-512 vs generic kernels (small sizes: the generic ones are slow)
#   3. pp512 / tg128 at 2 threads, BF16 then FP8, with bytes/token and roofline share
#   4. tg at depth DEPTH (BF16)
#   5. optional: OLD=path/to/older/frugal for before/after ratios
# usage: bench/run_safetensors.sh            (env: FRUGAL, MODELS, LAYERS, DEPTH, REPS, OLD)
# Writes JSON lines and a summary under bench/out/ (not committed).
set -eu
FRUGAL=${FRUGAL:-build/frugal}
MODELS=${MODELS:-/tmp/frugal-bench-models}  # ~7 GB for 4 layers; delete when done
LAYERS=${LAYERS:-4}
DEPTH=${DEPTH:-2048}
REPS=${REPS:-3}
OUT=${OUT:-bench/out}
PY=/usr/bin/python3
mkdir -p "$OUT" "$MODELS"
df -h "$MODELS" | tail -1
for dt in bf16 fp8; do
  m="$MODELS/v2lite-l$LAYERS-$dt"
  [ -f "$m/model.safetensors" ] || $PY tools/gen_random_model.py --shape v2-lite --layers "$LAYERS" --dtype $dt "$m"
done
BF="$MODELS/v2lite-l$LAYERS-bf16"; F8="$MODELS/v2lite-l$LAYERS-fp8"
$FRUGAL info -m "$BF" | grep -E "parameters|bytes"
$FRUGAL info -m "$F8" | grep -E "parameters|bytes"

run() { # name, args...
  name=$1; shift
  echo "+ frugal bench $*" | tee -a "$OUT/commands.txt"
  $FRUGAL bench "$@" -o json > "$OUT/$name.json"
}
# 1. bandwidth (measured once; every later run uses the same number)
run bw -m "$BF" -p 0 -n 1 -r 1
BW=$($PY -c "import json;print(round(json.load(open('$OUT/bw.json'))[0]['bandwidth_gbps'],2))")
echo "bandwidth: $BW GB/s"
# 2. kernels: avx512 vs generic, same process (SKIP_KERN=1 skips 2 and 4)
if [ -z "${SKIP_KERN:-}" ]; then
run kern_bf16 -m "$BF" -p 16 -n 4 -r 2 -t 2 -k avx512,generic --bandwidth "$BW"
run kern_fp8 -m "$F8" -p 16 -n 4 -r 2 -t 2 -k avx512,generic --bandwidth "$BW"
fi
# 3. pp512 / tg128, BF16 and FP8 alternating (the machine's load drifts)
for i in 1 2; do
  run main${i}_bf16 -m "$BF" -p 512 -n 128 -r "$REPS" -t 2 --bandwidth "$BW"
  run main${i}_fp8 -m "$F8" -p 512 -n 128 -r "$REPS" -t 2 --bandwidth "$BW"
done
# 4. depth
[ -n "${SKIP_KERN:-}" ] || run depth_bf16 -m "$BF" -p 0 -n 64 -d 0,"$DEPTH" -r 3 -t 2 --bandwidth "$BW"
# 5. before/after
if [ -n "${OLD:-}" ]; then
  for i in 1 2; do
    FRUGAL=$OLD run old$i -m "$BF" -p 128 -n 32 -r 3 -t 2 --bandwidth "$BW"
    run new$i -m "$BF" -p 128 -n 32 -r 3 -t 2 --bandwidth "$BW"
  done
fi
$PY - "$OUT" <<'PYEOF'
import json, os, sys
out = sys.argv[1]
def load(n):
    p = os.path.join(out, n + ".json")
    return json.load(open(p)) if os.path.exists(p) else []
def name(r):
    t = "pp%d" % r["n_prompt"] if r["n_prompt"] else "tg%d" % r["n_gen"]
    return t + (" @ d%d" % r["n_depth"] if r["n_depth"] else "")
print("| run | kernels | test | t/s | CPU got | bytes/token | roofline t/s | of roofline |")
print("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |")
rows = {}
for n in ["kern_bf16", "kern_fp8", "main1_bf16", "main1_fp8", "main2_bf16", "main2_fp8", "depth_bf16", "old1", "new1", "old2", "new2"]:
    for r in load(n):
        rows[(n, r["kernels"], name(r))] = r
        extra = " | |"
        if r["n_gen"]:
            extra = " %.1f MB | %.2f | %.1f%% |" % (r["bytes_per_token"] / 1e6, r["roofline_ts"], 100 * r["roofline_share"])
        cpu = "%.0f%%" % (100 * r["cpu_share"]) if "cpu_share" in r else "-"
        print("| %s | %s | %s | %.2f ± %.2f | %s |%s" % (n, r["kernels"], name(r), r["avg_ts"], r["stddev_ts"], cpu, extra))
def ratio(a, b, label):
    if a in rows and b in rows:
        print("- %s: %.2fx" % (label, rows[a]["avg_ts"] / rows[b]["avg_ts"]))
print()
for m in ["bf16", "fp8"]:
    for t in ["pp16", "tg4"]:
        ratio(("kern_" + m, "avx512", t), ("kern_" + m, "generic", t), "%s %s avx512 / generic" % (m, t))
for i in ["1", "2"]:
    ratio(("main%s_fp8" % i, "avx512", "pp512"), ("main%s_bf16" % i, "avx512", "pp512"), "round %s pp512 FP8 / BF16" % i)
    ratio(("main%s_fp8" % i, "avx512", "tg128"), ("main%s_bf16" % i, "avx512", "tg128"), "round %s tg128 FP8 / BF16" % i)
for k in rows:
    if k[0] == "depth_bf16" and "@" in k[2]:
        ratio(k, ("depth_bf16", k[1], "tg64"), "tg64 at depth / at depth 0")
for i in ["1", "2"]:
    for t in ["pp128", "tg32"]:
        ratio(("new" + i, "avx512", t), ("old" + i, "avx512", t), "run %s %s after / before the model-level changes" % (i, t))
PYEOF
