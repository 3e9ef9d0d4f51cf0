/* frugal: exact, fast inference for DeepSeek and Kimi model families.
 *
 * The public C API. Everything else under src/ is internal.
 *
 * Conventions
 *   - Every function that can fail returns an int: 0 on success, non-zero on
 *     failure. The message of the last failure on this thread is
 *     frugal_last_error().
 *   - Handles are opaque. A model is read-only once loaded and may be shared by
 *     several contexts; a context owns its caches and is used by one thread at
 *     a time (it runs its own worker threads inside).
 *   - Logits and hidden states are float32.
 */
#ifndef FRUGAL_H
#define FRUGAL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FRUGAL_VERSION "0.1.0"

typedef struct frugal_model frugal_model;
typedef struct frugal_context frugal_context;

/* Message of the last error on the calling thread ("" if none). */
const char *frugal_last_error(void);

/* ---- models -------------------------------------------------------------- */

/* Load a model from a Hugging Face directory (config.json + model.safetensors
 * or model-0000k-of-0000n.safetensors + model.safetensors.index.json), or
 * from a GGUF file (llama.cpp architecture deepseek2; a path ending in .gguf or
 * a file starting with the GGUF magic). Weights are memory-mapped, never copied whole
 * (frugal_model_load_params can read them into memory instead). */
int frugal_model_load(const char *path, frugal_model **out);
void frugal_model_free(frugal_model *model);

typedef struct frugal_model_params {
    /* 1 (the default): the weight files are memory-mapped, as above. 0: they are read whole
     * into anonymous memory, as llama.cpp's --no-mmap, with transparent huge pages asked for
     * (madvise): a decode step reads weights from all over the model, and with 4 KiB pages
     * nearly every 4 KiB of them costs a TLB miss. Slower to load, and the memory is the
     * process's own (not the page cache); decode ran faster on the development VM
     * (bench/RESULTS.md). */
    int use_mmap;
} frugal_model_params;
frugal_model_params frugal_model_default_params(void);
/* frugal_model_load with params (NULL: the defaults). */
int frugal_model_load_params(const char *path, const frugal_model_params *params, frugal_model **out);

typedef struct frugal_model_info {
    const char *arch;        /* "deepseek_v2", "deepseek_v3", "kimi_k2", ... */
    int n_vocab;
    int n_embd;              /* hidden size */
    int n_layer;             /* decoder blocks, without MTP */
    int n_mtp;               /* MTP modules loaded (0 or 1) */
    int n_moe_layers;        /* blocks with routed experts (MTP not counted) */
    int n_expert, n_expert_used;
    int bos_token_id, eos_token_id; /* -1 when not configured */
    int64_t n_params;        /* every stored weight element, MTP included */
    int64_t n_params_active; /* weights used per token (routed experts: top-k only), no MTP */
    int64_t bytes_weights;   /* bytes of all stored weights */
    int64_t bytes_per_token; /* weight bytes read to decode one token (no MTP) */
    int64_t cache_bytes_per_token; /* context cache bytes one more token costs (f32 cache) */
    int64_t cache_bytes_fixed;     /* cache bytes independent of context length */
    int64_t cache_latent_per_token; /* of those per token, the latent values stored in the cache
                                     * type (frugal_context_params.cache_type) */
    int64_t cache_rope_per_token;   /* and the rope-key values: in the cache type when it is
                                     * f16/bf16/i8, else f32; the rest of the cache stays f32 */
    int n_cache_layers;             /* layers with a latent cache (the count in the sums above) */
} frugal_model_info;


void frugal_model_get_info(const frugal_model *model, frugal_model_info *info);

/* Write a human-readable description (architecture, sizes, dtypes) to buf. */
int frugal_model_describe(const frugal_model *model, char *buf, size_t size);

/* ---- contexts ------------------------------------------------------------ */

/* How the MLA latent cache stores its values (llama.cpp's -ctk): F16 and
 * BF16 store the rope keys in the type too, Q8_0 keeps them float32; Kimi
 * Linear's recurrent state is always float32.
 * AUTO (0, the default) is frugal_cache_type_default(exact): BF16, or F32 in
 * exact mode. As llama.cpp's f16 default, a 16-bit cache halves the bytes a
 * decode step reads at depth; on CPUs with AVX512-BF16 its attention runs on
 * vdpbf16ps (queries and softmax weights rounded to bfloat16, docs/kernels.md).
 * I8 (frugal's own, not a llama.cpp type) stores latent and rope keys as int8
 * with one scale each per position: about half the bytes of BF16, and the
 * attention runs on integer dot products (queries and softmax weights in 8
 * bits; vpdpbusd where the CPU has AVX512-VNNI). Not exact. */
typedef enum frugal_cache_type {
    FRUGAL_CACHE_AUTO = 0,
    FRUGAL_CACHE_F32,
    FRUGAL_CACHE_F16,
    FRUGAL_CACHE_BF16,
    FRUGAL_CACHE_Q8_0,
    FRUGAL_CACHE_I8,
} frugal_cache_type;
/* The cache type AUTO stands for: BF16, or F32 when exact. */
frugal_cache_type frugal_cache_type_default(int exact);
/* Cache bytes one more token costs with a cache type (from frugal_model_info;
 * AUTO counts as BF16). */
int64_t frugal_cache_bytes_per_token(const frugal_model_info *info, frugal_cache_type type);

/* "auto", "f32", "f16", "bf16", "q8_0", "i8" -> type; -1 when unknown. */
int frugal_cache_type_from_name(const char *name);
/* type -> its name above ("?" when unknown). */
const char *frugal_cache_type_name(frugal_cache_type type);

typedef struct frugal_context_params {
    int n_ctx;      /* maximum positions held in the cache; 0 = min(4096, model max) */
    int n_threads;  /* worker threads; 0 = all cores */
    frugal_cache_type cache_type; /* default FRUGAL_CACHE_AUTO: bf16, f32 when exact */
    /* 0 (default): ggml block weights (Q8_0, Q4_0, Q5_0, Q4_K, Q5_K, Q6_K) multiply
     * activations quantized to int8, as llama.cpp does, and FP8 weights
     * activations rounded to bfloat16 (on CPUs with AVX512-BF16), as the official
     * DeepSeek-V3 inference does, and so do BF16 weights in prefill (several
     * tokens; docs/kernels.md gives the errors); 1: float32 activations for every
     * weight type, the reference math. F32/F16 weights, and BF16 weights for a
     * single token, always take float32 activations. */
    int exact;
} frugal_context_params;

frugal_context_params frugal_context_default_params(void);
int frugal_context_create(frugal_model *model, const frugal_context_params *params,
                          frugal_context **out);
void frugal_context_free(frugal_context *ctx);
int frugal_context_n_ctx(const frugal_context *ctx);
/* The latent cache type the context uses (AUTO resolved). */
frugal_cache_type frugal_context_cache_type(const frugal_context *ctx);

/* Evaluate n tokens at positions pos0 .. pos0+n-1. Cache entries at positions
 * >= pos0 are discarded first, so pos0 may rewind (pos0 <= tokens already held).
 * With logits_all, logits of every position are kept, else only the last one. */
int frugal_eval(frugal_context *ctx, const int32_t *tokens, int n, int pos0, int logits_all);

/* Logits of row i of the last frugal_eval ([n_vocab] floats; with logits_all
 * i in [0, n), else only i = n-1). NULL when not available. */
const float *frugal_get_logits(const frugal_context *ctx, int i);

/* Final hidden state (after the last norm) of row i of the last frugal_eval. */
const float *frugal_get_hidden(const frugal_context *ctx, int i);

/* Multi-token prediction: run the model's MTP module over the rows of the last
 * frugal_eval. next_tokens[i] is the token that follows row i. The module
 * predicts the token after next; logits go to out ([n, n_vocab], n = rows of
 * the last eval). The MTP module keeps its own cache, at the same positions.
 * With zero_pos0, the embedding at position 0 is zeroed (vLLM semantics). */
int frugal_eval_mtp(frugal_context *ctx, const int32_t *next_tokens, int zero_pos0, float *out);

/* Number of positions currently held in the cache. */
int frugal_n_past(const frugal_context *ctx);

/* ---- kernels ------------------------------------------------------------- */

/* The compute kernels in use: "generic" (plain C, the reference), "avx2",
 * "avx512", "avx512vnni", "avx512bf16" or "amx", chosen at start-up from the
 * CPU (FRUGAL_KERNELS=name overrides; "amxemu", the AMX code with its tile
 * instructions emulated, only by name, for tests). */
const char *frugal_kernels(void);
/* Switch kernels for the whole process (benchmarks, comparisons); fails when
 * this CPU or build lacks them. Not while an eval is running. */
int frugal_set_kernels(const char *name);
/* CPU features detected, e.g. "avx2 fma f16c avx512f ..." */
const char *frugal_cpu_features(void);
/* Memory read bandwidth for a decode roofline, GB/s (1e9 bytes): threads
 * (1-64) read a 1 GiB buffer in 64-byte vectors, best of passes. *gbps: bytes
 * over wall time; *cpu_gbps (may be NULL): the sum over the threads of their
 * bytes over their own CPU time (an upper bound on a shared machine). 0 or -1
 * (frugal_last_error). Takes about a second per pass. */
int frugal_read_bandwidth(int threads, int passes, double *gbps, double *cpu_gbps);

/* ---- sampling ------------------------------------------------------------ */

/* Applied in llama.cpp's order: repetition penalty over the last repeat_last_n
 * accepted tokens, top-k, top-p, min-p (on temperature-1 probabilities), then
 * temperature and a draw. temp <= 0 is greedy (argmax, lowest id on ties). */
typedef struct frugal_sampler_params {
    float temp;           /* default 0.8 */
    int top_k;            /* 0 = off; default 40 */
    float top_p;          /* 1 = off; default 0.95 */
    float min_p;          /* 0 = off; default 0.05 */
    float repeat_penalty; /* 1 = off; default 1.0 */
    int repeat_last_n;    /* default 64 */
    uint64_t seed;        /* default 0xF2064 */
} frugal_sampler_params;

typedef struct frugal_sampler frugal_sampler;

frugal_sampler_params frugal_sampler_default_params(void);
int frugal_sampler_create(const frugal_sampler_params *params, frugal_sampler **out);
void frugal_sampler_free(frugal_sampler *s);
/* Choose a token from logits[n_vocab] (not modified). */
int32_t frugal_sample(frugal_sampler *s, const float *logits, int n_vocab);
/* Record a token (prompt or generated) for the repetition penalty. */
void frugal_sampler_accept(frugal_sampler *s, int32_t token);
void frugal_sampler_reset(frugal_sampler *s);

#ifdef __cplusplus
}
#endif
#endif
