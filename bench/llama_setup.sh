# Sourced by compare_llama.sh and speed_vs_llama.sh (needs $here = bench/).
# Installs the prebuilt llama.cpp that npm's node-llama-cpp@3.21.1 ships (llama.cpp release
# "v0.4.0", commit 5b4ebc5; shared libraries for linux-x64, no headers) into bench/node_modules
# (gitignored) and builds bench/llama_driver.c against it into bench/out/ (gitignored).
llama_libdir=$here/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64
if [ ! -f "$llama_libdir/libllama.v0.4.0.so" ]; then
    echo "installing node-llama-cpp@3.21.1 from npm into $here/node_modules" >&2
    npm install --prefix "$here" --no-save --no-package-lock --no-audit --no-fund --silent node-llama-cpp@3.21.1
fi
if [ ! -f "$llama_libdir/libllama.v0.4.0.so" ]; then
    echo "error: $llama_libdir/libllama.v0.4.0.so missing after npm install" >&2
    exit 1
fi
mkdir -p "$here/out"
driver=$here/out/llama_driver
if [ ! -x "$driver" ] || [ "$here/llama_driver.c" -nt "$driver" ]; then
    ${CC:-cc} -std=c17 -O2 -Wall -Wextra -Werror "$here/llama_driver.c" -o "$driver" -ldl \
        -L"$llama_libdir" -l:libllama.v0.4.0.so -l:libggml.v0.4.0.so -l:libggml-base.so -Wl,-rpath,"$llama_libdir" -lm
fi
