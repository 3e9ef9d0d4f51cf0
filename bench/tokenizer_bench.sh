#!/bin/sh
# Tokenizer encode throughput: frugal vs the reference JavaScript tokenizer
# (@lenml/tokenizers from npm, installed into bench/node_modules, gitignored),
# on the long_doc cases of tests/fixtures/tokenizer, one thread, same run.
# Usage: bench/tokenizer_bench.sh [BUILD_DIR] [SECONDS_PER_MEASUREMENT]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
build=${1:-$root/build}
secs=${2:-3}
if [ ! -d "$here/node_modules/@lenml/tokenizers" ]; then
    npm install --prefix "$here" --no-save --no-package-lock --silent @lenml/tokenizers@3.7.2
fi
if [ ! -x "$build/frugal" ]; then
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$build" -j2 >/dev/null
fi
exec node "$here/tokenizer_bench.mjs" "$build/frugal" "$root/tests/fixtures/tokenizer" "$secs"
