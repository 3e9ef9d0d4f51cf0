/* llama.cpp's own quantizer (llama_model_quantize in node-llama-cpp's prebuilt
 * libllama), to compare its per-tensor type choices with frugal quantize's.
 * usage: llama_quantize LIBDIR IN.gguf OUT.gguf FTYPE   (llama_ftype number, e.g. 15 = Q4_K_M) */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct blob { uint32_t u[64]; } blob; /* larger than llama_model_quantize_params */

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: llama_quantize LIBDIR IN.gguf OUT.gguf FTYPE\n");
        return 2;
    }
    char p[4096];
    snprintf(p, sizeof p, "%s/libggml.v0.4.0.so", argv[1]);
    void *g = dlopen(p, RTLD_NOW | RTLD_GLOBAL);
    snprintf(p, sizeof p, "%s/libllama.v0.4.0.so", argv[1]);
    void *h = g ? dlopen(p, RTLD_NOW | RTLD_GLOBAL) : NULL;
    if (!h) {
        fprintf(stderr, "error: %s\n", dlerror());
        return 1;
    }
    void (*load_all)(const char *) = (void (*)(const char *))dlsym(g, "ggml_backend_load_all_from_path");
    blob (*defaults)(void) = (blob(*)(void))dlsym(h, "llama_model_quantize_default_params");
    uint32_t (*quantize)(const char *, const char *, const blob *) =
        (uint32_t(*)(const char *, const char *, const blob *))dlsym(h, "llama_model_quantize");
    if (!load_all || !defaults || !quantize) return 1;
    load_all(argv[1]);
    blob b = defaults();
    /* nthread [0], ftype [1] (default 7 = Q8_0), output/token_embd types [2], [3] (GGML_TYPE_COUNT) */
    if (b.u[1] != 7 || b.u[2] != b.u[3]) {
        fprintf(stderr, "error: llama_model_quantize_params layout is not the one this driver knows\n");
        return 1;
    }
    b.u[1] = (uint32_t)atoi(argv[4]);
    return quantize(argv[2], argv[3], &b) ? 1 : 0;
}
