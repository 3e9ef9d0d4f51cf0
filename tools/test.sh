#!/usr/bin/env bash
# Build with warnings as errors and run the whole test suite.
# usage: tools/test.sh [BUILD_DIR]   (extra cmake args in FRUGAL_CMAKE_ARGS)
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}
cmake -S . -B "$dir" -DFRUGAL_WERROR=ON ${FRUGAL_CMAKE_ARGS:-} >/dev/null
cmake --build "$dir" -j"$(nproc)"
ctest --test-dir "$dir" --output-on-failure -j1
