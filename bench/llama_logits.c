/* Logits from llama.cpp for a GGUF file, for side-by-side checks with frugal.
 *
 * Uses the prebuilt llama.cpp shipped in npm's node-llama-cpp (libraries, no
 * headers: see bench/llama_compat.sh), loaded with dlopen; the few structs
 * passed by value are treated as opaque blobs and the fields set here are
 * located by their default values (checked before use).
 *
 * usage: llama_logits LIBDIR MODEL.gguf "id,id,..." OUT.f32
 * writes float32 [n_tokens, n_vocab]: one batch from position 0, f32 KV cache,
 * flash attention off (the conditions of tests/fixtures/gguf/README.md). */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct blob { uint32_t u[128]; } blob; /* larger than llama_{model,context}_params */
typedef struct batch {
    int32_t n_tokens;
    int32_t *token;
    float *embd;
    int32_t *pos;
    int32_t *n_seq_id;
    int32_t **seq_id;
    int8_t *logits;
} batch;

static void *sym(void *h, const char *n) {
    void *p = dlsym(h, n);
    if (!p) {
        fprintf(stderr, "error: %s not found\n", n);
        exit(1);
    }
    return p;
}

static void quiet(int level, const char *text, void *ud) {
    (void)ud;
    if (level >= 4 /* error */ && getenv("LLAMA_VERBOSE") == NULL) fputs(text, stderr);
    if (getenv("LLAMA_VERBOSE")) fputs(text, stderr);
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: llama_logits LIBDIR MODEL.gguf \"id,id,...\" OUT.f32\n");
        return 2;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/libggml.v0.4.0.so", argv[1]);
    void *gg = dlopen(path, RTLD_NOW | RTLD_GLOBAL);
    snprintf(path, sizeof path, "%s/libllama.v0.4.0.so", argv[1]);
    void *ll = gg ? dlopen(path, RTLD_NOW | RTLD_GLOBAL) : NULL;
    if (!ll) {
        fprintf(stderr, "error: %s\n", dlerror());
        return 1;
    }
    ((void (*)(const char *))sym(gg, "ggml_backend_load_all_from_path"))(argv[1]);
    ((void (*)(void (*)(int, const char *, void *), void *))sym(ll, "llama_log_set"))(quiet, NULL);
    ((void (*)(void))sym(ll, "llama_backend_init"))();

    int32_t tok[4096];
    int n = 0;
    for (char *p = argv[3]; *p && n < 4096;) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p) { p++; continue; }
        tok[n++] = (int32_t)v;
        p = end;
    }

    blob mp = ((blob(*)(void))sym(ll, "llama_model_default_params"))();
    void *model = ((void *(*)(const char *, blob))sym(ll, "llama_model_load_from_file"))(argv[2], mp);
    if (!model) {
        fprintf(stderr, "error: llama.cpp could not load %s\n", argv[2]);
        return 1;
    }
    blob cp = ((blob(*)(void))sym(ll, "llama_context_default_params"))();
    /* n_ctx [0], n_batch [1], n_ubatch [2], flash_attn_type [13] (-1 auto), type_k [26], type_v [27] (1 = F16) */
    if (cp.u[0] != 512 || cp.u[1] != 2048 || cp.u[2] != 512 || cp.u[13] != UINT32_MAX || cp.u[26] != 1 || cp.u[27] != 1) {
        fprintf(stderr, "error: llama_context_params layout is not the one this driver knows\n");
        return 1;
    }
    cp.u[0] = (uint32_t)(n + 16);
    cp.u[1] = cp.u[2] = (uint32_t)(n > 512 ? n : 512);
    cp.u[13] = 0;         /* flash attention off */
    cp.u[26] = cp.u[27] = 0; /* F32 cache */
    void *ctx = ((void *(*)(void *, blob))sym(ll, "llama_init_from_model"))(model, cp);
    if (!ctx) {
        fprintf(stderr, "error: llama_init_from_model failed\n");
        return 1;
    }
    int n_vocab = ((int (*)(const void *))sym(ll, "llama_vocab_n_tokens"))(
        ((const void *(*)(const void *))sym(ll, "llama_model_get_vocab"))(model));
    batch b = ((batch(*)(int32_t, int32_t, int32_t))sym(ll, "llama_batch_init"))(n, 0, 1);
    for (int i = 0; i < n; i++) {
        b.token[i] = tok[i];
        b.pos[i] = i;
        b.n_seq_id[i] = 1;
        b.seq_id[i][0] = 0;
        b.logits[i] = 1;
    }
    b.n_tokens = n;
    if (((int32_t(*)(void *, batch))sym(ll, "llama_decode"))(ctx, b) != 0) {
        fprintf(stderr, "error: llama_decode failed\n");
        return 1;
    }
    FILE *f = fopen(argv[4], "wb");
    if (!f) return 1;
    float *(*get)(void *, int32_t) = (float *(*)(void *, int32_t))sym(ll, "llama_get_logits_ith");
    for (int i = 0; i < n; i++) fwrite(get(ctx, i), sizeof(float), (size_t)n_vocab, f);
    fclose(f);
    ((void (*)(batch))sym(ll, "llama_batch_free"))(b);
    ((void (*)(void *))sym(ll, "llama_free"))(ctx);
    ((void (*)(void *))sym(ll, "llama_model_free"))(model);
    printf("%d x %d logits -> %s\n", n, n_vocab, argv[4]);
    return 0;
}
