#!/bin/sh
# Speed, frugal vs llama.cpp on the same GGUF files, in one run (issue 5, items 4-5).
#
# Usage: bench/speed_vs_llama.sh [MODEL.gguf ...]
#   env: THREADS (2), PP (512), TG (128), DEPTHS ("0"; e.g. "0,4096"), REPS (3), BUILD (build),
#        FRUGAL_CTK (frugal's latent cache type: bf16 default (f16 is llama.cpp's default cache type), f32, f16, q8_0, i8),
#        FRUGAL_ONLY ("": models only frugal runs, in the same run, e.g. the FP8 safetensors directory
#        of the same shape: compare its decode with the Q8_0 GGUF's),
#        POLLS ("50 0": llama.cpp is run with ggml's default poll level 50, idle threads spinning
#        as in llama-bench, and with 0, idle threads sleeping, which a shared machine needs),
#        MMAP ("0": frugal reads the weights into memory, --no-mmap, with transparent huge pages;
#        "1": memory-mapped, its default), LLAMA_MMAP ("1": llama.cpp maps them, its default and
#        its faster mode here, bench/RESULTS.md Run 16; "0": load_mode none, --no-mmap),
#        LLAMA_CPU_VARIANT ("": the CPU backend ggml picks for this CPU; e.g. "icelake": that
#        libggml-cpu-<name>.so), LLAMA_FALLBACK ("cooperlake"; "": none): when llama.cpp stops
#        with an error, its runs are repeated on this backend (AVX-512 with VNNI and BF16, no AMX:
#        on a Xeon with AMX ggml's sapphirerapids backend asserts on these files, Run 19).
#        Each is a list: "0 1" runs both; the table keeps each engine's best.
#        ROUNDS (2): each model's runs of both engines this many times, the engines' order reversed
#        every other round (frugal first, then llama.cpp first, ...); the table keeps each engine's
#        best round. This VM's read bandwidth swings between about 30 and 65 GB/s within minutes
#        (bench/RESULTS.md Runs 28-32), so one round can time one engine in a slow minute and the
#        other in a fast one; alternating gives both the same chances. ROUNDS=1: one round, as before.
#   Without arguments: writes a random-weight model of SHAPE (v2-lite; moonlight, v3, v2,
#   kimi-k2: see tools/gen_random_model.py; GEN_ARGS: more of its arguments, e.g.
#   "--set n_routed_experts=96" or "--config config.json", NAME: the files' name then; or
#   kimi-linear: Kimi-Linear-48B-A3B's shape from bench/kimi_linear_gen.py, GEN_ARGS e.g. "--experts 64")
#   cut to LAYERS (4) layers (tools/gen_random_model.py, or
#   GEN=path/to/it) into bench/out/models (gitignored), converts it with frugal's own tools to
#   Q8_0 and Q4_K_M GGUF (TYPES), benchmarks those and deletes the files it wrote (KEEP=1 keeps
#   them; files already there are used and kept). Checks the free disk space first. (As of main
#   7aea9e5, frugal convert omits deepseek2.attention.q_lora_rank for models without q LoRA and
#   this llama.cpp then refuses a V2-Lite cut to other than 26/27 layers: see bench/RESULTS.md.)
#
# Both engines are timed the same way (bench/frugal_speed.c over frugal's public API,
# bench/llama_driver.c over llama.cpp's): ppN = one batch of N random tokens, tgN = N
# single-token decodes, both after DEPTH tokens already in the cache (evaluated once, untimed;
# each run rewinds to them), one warm-up run, then REPS timed runs (mean ± stddev).
# The roofline of a decode step is the read bandwidth measured here (1 GiB buffer, THREADS
# threads, 64-byte vector loads since Run 15 (8-byte loads before: about 25 % lower on the
# development VM), huge pages since Run 16, best of 5; bytes over wall time, so it is low when the
# machine is busy: the load average is printed; measured at the start and after each model, and
# the highest of those is used) over the bytes one token reads (frugal_model_info: the weights of one
# token + the latent cache at that depth). Everything is measured in one run of this script:
# the machine may be shared, so compare the ratios, not the absolute numbers across runs.
# "CPU got" is the process CPU time over wall time x threads in the timed runs (below 100 %: the
# machine was shared, or threads slept); "per CPU-second" divides each engine's t/s by it
# (spinning threads count as busy, so it flatters neither engine's waiting).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
build=${BUILD:-$root/build}
threads=${THREADS:-2}
pp=${PP:-512}
tg=${TG:-128}
depths=${DEPTHS:-0}
reps=${REPS:-3}
rounds=${ROUNDS:-2}
case $rounds in ''|0|*[!0-9]*) echo "speed_vs_llama.sh: ROUNDS must be a positive integer, not '$rounds'" >&2; exit 1 ;; esac
polls=${POLLS:-"50 0"}
mmaps=${MMAP:-0}
llama_mmaps=${LLAMA_MMAP:-1}
layers=${LAYERS:-4}
llama_fallback=${LLAMA_FALLBACK-cooperlake}
types=${TYPES:-"Q8_0 Q4_K_M"}
py=/usr/bin/python3
. "$here/llama_setup.sh"
# configure a Release build if there is none, and always bring it up to date with the sources
# (Run 23 measured a build older than its tree); refuse a build of another type
[ -f "$build/CMakeCache.txt" ] || cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
btype=$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$build/CMakeCache.txt")
if [ "$btype" != Release ]; then
    echo "speed_vs_llama.sh: $build is a '$btype' build; measure a Release one (BUILD=DIR)" >&2
    exit 1
fi
cmake --build "$build" -j2 >/dev/null
fs=$here/out/frugal_speed
${CC:-cc} -O2 -std=c17 -Wall -Wextra -Werror -I"$root/include" "$here/frugal_speed.c" "$build/libfrugal.a" \
    $(pkg-config --libs jansson libpcre2-8) -lpthread -lm -o "$fs"

models="$*"
generated=
if [ -z "$models" ]; then
    shape=${SHAPE:-v2-lite}
    if [ "$shape" = kimi-linear ]; then
        # Kimi-Linear-48B-A3B's shape (KDA and MLA layers 3:1, 256 experts; bench/kimi_linear_gen.py);
        # GEN_ARGS after it change it, e.g. "--experts 64"
        gen=${GEN:-$here/kimi_linear_gen.py}
        gen_args="--pattern hybrid --layers $layers --hidden 2304 --vocab 163840 --kda-heads 32 --mla-heads 32
                  --experts 256 --top-k 8 --moe-ff 1024 --shared 1 --dense-ff 9216 ${GEN_ARGS:-}"
    else
        gen=${GEN:-$root/tools/gen_random_model.py}
        gen_args="--shape $shape --layers $layers --dtype bf16 ${GEN_ARGS:-}"
    fi
    [ -f "$gen" ] || { echo "error: no model given and no generator at $gen" >&2; exit 1; }
    dir=$here/out/models
    mkdir -p "$dir"
    name=${NAME:-$(echo "$shape" | tr -d -)-L$layers}
    hf=$dir/$name
    if [ ! -f "$hf/config.json" ]; then
        # the BF16 model's bytes as the generator counts them (GEN_ARGS included), and the GGUF
        # files after it: about 0.53 of it for Q8_0, 0.35 for the K mixes, the whole for others;
        # plus the generator's 8 GB spare
        # shellcheck disable=SC2086 # gen_args is a list of arguments
        bytes=$("$py" "$gen" $gen_args --size "$hf") || exit 1
        need_gb=$("$py" -c 'import sys
r = {"Q8_0": 0.53, "Q6_K": 0.42, "Q5_K_M": 0.36, "Q5_K_S": 0.36, "Q4_K_M": 0.35, "Q4_K_S": 0.33, "Q4_0": 0.29}
print(int(int(sys.argv[1]) * (1 + sum(r.get(t, 1.0) for t in sys.argv[2:])) / 1e9) + 9)' "$bytes" $types)
        free_gb=$(df -BG --output=avail "$dir" | tail -1 | tr -dc 0-9)
        if [ "$free_gb" -lt "$need_gb" ]; then
            echo "error: $free_gb GB free in $dir, need about $need_gb GB (the model and its $types files)" >&2
            exit 1
        fi
        # shellcheck disable=SC2086 # gen_args is a list of arguments
        "$py" "$gen" $gen_args "$hf" || exit 1
        generated="$generated $hf"
    fi
    vocab=$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["vocab_size"])' "$hf/config.json")
    [ -f "$hf/tokenizer.json" ] || "$py" "$here/gpt2_vocab.py" "$hf" "$vocab"
    for t in $types; do
        g=$dir/$name.$t.gguf
        if [ ! -f "$g" ]; then
            "$build/frugal" convert "$hf" "$g" --type "$t" >/dev/null
            generated="$generated $g"
        fi
        models="$models $g"
    done
fi

echo "machine: $(nproc) cores, $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1); load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "frugal: $build (libfrugal.a, $("$build/frugal" --version 2>/dev/null || echo '?')); llama.cpp: node-llama-cpp@3.21.1 prebuilt"
# the read bandwidth, measured now and again after each model: it swings by half over minutes on
# a shared machine, and the roofline uses the highest of the measurements (the lowest shares)
bw=0
measure_bw() {
    bwl=$("$fs" bandwidth -t "$threads")
    bww=$(echo "$bwl" | sed -n 's/.* bandwidth_gbps=\([0-9.]*\).*/\1/p')
    bwc=$(echo "$bwl" | sed -n 's/.* bandwidth_cpu_gbps=\([0-9.]*\).*/\1/p')
    bw=$("$py" -c "import sys; print(max(float(sys.argv[1]), float(sys.argv[2])))" "$bw" "$bww")
    echo "read bandwidth $1: $bww GB/s ($threads threads, 1 GiB buffer, best of 5); $bwc GB/s summed over the threads' own CPU time (an upper bound on a shared machine)"
}
measure_bw "at the start"
log=$here/out/speed_results.txt
: >"$log"
# a model's files into the page cache (a GGUF file, or a directory's safetensors): a warm-up run
# touches only the experts its tokens pick, so the first engine would otherwise time reads from disk
cache() { if [ -d "$1" ]; then cat "$1"/*.safetensors >/dev/null; else cat "$1" >/dev/null; fi; }
# and out of it again once both engines ran it (posix_fadvise DONTNEED, no root needed): the kernel
# keeps pages read more than once before pages read once, so with two models over half the memory
# the second one's pages, read once by cache(), were the ones dropped (23 GB here; the 27-layer
# V2-Lite's FP8 files ran twice, then cat of its Q8_0 GGUF: `fincore` showed 5.7 of its 15.6 GiB
# cached, 8.7 GiB of the FP8 kept) and it decoded partly from disk (11.3 t/s against 15.3-16.8)
uncache() {
    "$py" -c 'import os, sys
for f in sys.argv[1:]:
    fd = os.open(f, os.O_RDONLY); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED); os.close(fd)' \
        $(if [ -d "$1" ]; then echo "$1"/*.safetensors; else echo "$1"; fi)
}
# none of them in the page cache at the start, so each model's turn begins alike
for m in $models ${FRUGAL_ONLY:-}; do uncache "$m"; done
run_frugal() {
    for mm in $mmaps; do
        "$fs" bench -m "$1" -p "$pp" -n "$tg" -d "$depths" -r "$reps" -t "$threads" --mmap "$mm" | tee -a "$log" >&2
    done
}
run_llama() {
    for mm in $llama_mmaps; do
        for poll in $polls; do
            for variant in "${LLAMA_CPU_VARIANT:-}" "$llama_fallback"; do
                { rc=0; LLAMA_CPU_VARIANT=$variant "$driver" bench -m "$1" -p "$pp" -n "$tg" -d "$depths" \
                    -r "$reps" -t "$threads" --poll "$poll" --mmap "$mm" 2>"$here/out/llama_bench.log" || rc=$?
                  echo "$rc" >"$here/out/llama_bench.rc"; } | grep '^RESULT' | tee -a "$log" >&2
                sed -n 's/^llama.cpp: //p' "$here/out/llama_bench.log" >&2
                [ "$(cat "$here/out/llama_bench.rc")" != 0 ] || break
                echo "llama.cpp stopped (exit $(cat "$here/out/llama_bench.rc")):" \
                    "$(grep -m1 -E 'GGML_ASSERT|error' "$here/out/llama_bench.log" || true)" >&2
                [ -n "$llama_fallback" ] && [ "$variant" != "$llama_fallback" ] || break
                echo "running llama.cpp again on its $llama_fallback CPU backend (LLAMA_FALLBACK)" >&2
            done
        done
    done
}
for m in $models; do
    cache "$m"
    r=1
    while [ "$r" -le "$rounds" ]; do
        [ "$rounds" = 1 ] || echo "round $r of $rounds" >&2
        if [ $((r % 2)) = 1 ]; then run_frugal "$m"; run_llama "$m"; else run_llama "$m"; run_frugal "$m"; fi
        r=$((r + 1))
    done
    uncache "$m"
    measure_bw "after $(basename "$m")"
done
for m in ${FRUGAL_ONLY:-}; do
    cache "$m"
    r=1
    while [ "$r" -le "$rounds" ]; do run_frugal "$m"; r=$((r + 1)); done
    uncache "$m"
    measure_bw "after $(basename "$m")"
done
echo "the roofline uses the highest read bandwidth measured: $bw GB/s"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
[ "$rounds" = 1 ] || echo "each engine's cells: its best of $rounds rounds (mean ± stddev of that round's $reps runs)"
echo
"$py" - "$log" "$bw" <<'EOF'
import os, sys
rows = {}
for line in open(sys.argv[1]):
    if not line.startswith("RESULT"):
        continue
    kv = dict(p.split("=", 1) for p in line.split()[1:] if "=" in p)
    key = (os.path.basename(kv["file"]), kv["test"], int(kv["depth"]))
    mm = " mmap" if kv.get("mmap", "1") == "1" else " no-mmap"
    eng = kv["engine"] + mm + (" poll=" + kv["poll"] if "poll" in kv else "")
    e = rows.setdefault(key, {})
    if eng not in e or float(kv["tps"]) > float(e[eng]["tps"]):  # the best round
        e[eng] = kv
bw = float(sys.argv[2])
polls = sorted({k for e in rows.values() for k in e if k.startswith("llama.cpp")},
               key=lambda k: (k.split()[1], -int(k.split("=")[1])))
frs = sorted({k for e in rows.values() for k in e if k.startswith("frugal")})
print("| model | test | " + " | ".join("%s t/s (CPU got)" % k for k in frs + polls) +
      " | frugal (best) / llama.cpp (best) | same, per CPU-second | bytes/token | roofline t/s"
      " | frugal (best) / roofline | llama.cpp (best) / roofline |")
print("|---" * (8 + len(frs) + len(polls)) + "|")
def cell(kv):
    return "%.2f ± %.2f (%.0f%%)" % (float(kv["tps"]), float(kv["sd"]), 100 * float(kv.get("cpu_share", "nan")))
for (f, test, depth), e in sorted(rows.items(), key=lambda x: (x[0][0], x[0][2], x[0][1])):
    fbest = max((k for k in frs if k in e), key=lambda k: float(e[k]["tps"]), default=None)
    fr = e[fbest] if fbest else None
    name = test + (" @ d%d" % depth if depth else "")
    ft = float(fr["tps"]) if fr else None
    best = max((k for k in polls if k in e), key=lambda k: float(e[k]["tps"]), default=None)
    lt = float(e[best]["tps"]) if best else None
    cells = [f, name] + [cell(e[k]) if k in e else "-" for k in frs + polls]
    cells += ["%.2f" % (ft / lt) if ft and lt else "-"]
    try:
        cells += ["%.2f" % ((ft / float(fr["cpu_share"])) / (lt / float(e[best]["cpu_share"])))]
    except (TypeError, KeyError, ValueError, ZeroDivisionError):
        cells += ["-"]
    b = float(fr["bytes_per_token"]) if fr else 0
    if b > 0:
        roof = bw * 1e9 / b
        cells += ["%.1f MB" % (b / 1e6), "%.2f" % roof, "%.0f%%" % (100 * ft / roof),
                  "%.0f%%" % (100 * lt / roof) if lt else "-"]
    else:
        cells += ["", "", "", ""]
    print("| " + " | ".join(cells) + " |")
EOF
if [ -n "$generated" ] && [ "${KEEP:-0}" != 1 ]; then
    rm -rf $generated
fi
