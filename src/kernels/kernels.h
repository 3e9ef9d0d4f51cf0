/* The math. One entry point per operation; the implementation is chosen at
 * start-up from the CPU's features (generic C is the reference). */
#ifndef FR_KERNELS_H
#define FR_KERNELS_H

#include <stdint.h>

#include "tensor/tensor.h"

/* The integer decode rows (n = 1: int8_q0_row.h, avx512/int8_k.h) stream their
 * weights: besides the prefetch into L1 a few KiB ahead (Q0_PD, I8K_PD, I8K_PD6),
 * the lines FR_PF_L2 bytes ahead are asked into L2 (prefetcht1), so that more
 * misses are in flight per core than the L1 fill buffers hold. On the Xeon with
 * AMX, frugal bench tg32, builds alternating (bench/RESULTS.md Run 20): 27-layer
 * V2-Lite Q8_0 +6 to +13 % (3 of 3 pairs), 4-layer Q8_0 +3 to +39 % (9 of 9
 * pairs), 4-layer Q4_K_M within the noise. The BF16 rows take it too
 * (avx512/decode_lines.h; Run 23): the 4-layer V2-Lite BF16 directory +19 to
 * +23 % (3 of 3 pairs), its FP8 directory, whose lm_head is BF16, +8 to +16 %.
 * The FP8 rows (avx512/dpbf16.h) since their conversion by shifts (Run 24):
 * bench/matmul_threads.c from DRAM +16 to +19 % (6 of 6 rounds); before, while
 * they were bound by their instructions, it showed no gain beyond the noise
 * (Runs 20, 23). On the AMD Zen 5 class VM it costs instead (Run 31, in one
 * process, with and without alternating every 16 tokens): the complete 27-layer
 * V2-Lite Q4_K_M +2.1 to +4.3 % without it (3 of 3), its FP8 directory +1.6 and
 * +4.8 % (2 of 2). So it is a run-time distance, fr_pf_l2 (bytes; 0: off): 0 on
 * AMD CPUs, 8192 on the others; FRUGAL_PF_L2=BYTES sets it (read once, with the
 * kernel tables: fr_kernels, fr_kernels_isa). A build with -DFR_PF_L2=N fixes it. */
extern int fr_pf_l2;
#ifndef FR_PF_L2
#define FR_PF_L2 fr_pf_l2
#endif

/* Y[n][rows] = X[n][cols] . W^T  (W: [rows, cols], any weight dtype).
 * Threads split the rows. */
void fr_matmul(const fr_tensor *W, const float *X, float *Y, int n);
/* Y[i] = X . W[i]^T for nw (at most FR_MATMUL_MULTI) weights of the same
 * columns, as fr_matmul gives each of them: X quantized once per activation
 * block, every weight's rows in one pass over the threads (one barrier, not nw). */
#define FR_MATMUL_MULTI 4
void fr_matmul_multi(const fr_tensor *const *W, int nw, const float *X, float *const *Y, int n);

/* The same for rows [r0, r1) of W only, single-threaded; Y keeps the full row
 * stride (rows of W). */
typedef void (*fr_matmul_fn)(const fr_tensor *W, const float *X, float *Y, int n, int64_t r0, int64_t r1);

/* ---- integer path: activations quantized to int8 --------------------------
 * For ggml block weights, as llama.cpp does: each input row is quantized to
 * int8 with one float scale per `blk` values (32 for Q8_0/Q4_0/Q5_0 weights, 256
 * for the K types), the products are summed in int32 per block, and scaled in
 * float once per block. Not bitwise the float32 path; the error is the int8
 * rounding of the activations (docs/kernels.md). The float32 kernels stay the
 * exact path (fr_kernels_set_exact). */
typedef struct fr_qx {
    int n;           /* rows (tokens) */
    int blk;         /* values per scale: 32 or 256 */
    int64_t cols;    /* a multiple of blk */
    const int8_t *q; /* [n][cols]   round(x / d), in [-127, 127] */
    const float *d;  /* [n][cols / blk]  d = max|x| / 127 over the block */
    const int16_t *s;/* [n][cols / 16]   sum of q over each 16 values */
} fr_qx;

/* Y[t][r] for rows [r0, r1) of W and all n rows of X; Y has the full row
 * stride (rows of W). Single-threaded. */
typedef void (*fr_matmul_q_fn)(const fr_tensor *W, const fr_qx *X, float *Y, int64_t r0, int64_t r1);

/* Tokens per pass of the transposed integer prefill over rows [r0, r1)
 * (avx2/int8_q0.h, avx512/int8_q0.h, avx512/int8_k.h): each chunk of blocks
 * reads and writes the pass's outputs ([tokens][r1 - r0] floats) once, so
 * they are kept within about 256 KiB; 64 to 256 tokens (the chunk's
 * activations, up to 1 KiB a token, stay in L2), a multiple of `tile`.
 * Passes of 512 tokens measured 646-660 GFLOP/s a thread on Q4_K, 7168
 * columns, 32 to 192 rows a call, against 695-705 with 256 (int8_bench). */
#define FR_PREFILL_PASS_MAX 256
static inline int fr_prefill_pass_tokens(int64_t r0, int64_t r1, int tile) {
    const int64_t tp = (256 * 1024) / (4 * (r1 - r0 > 0 ? r1 - r0 : 1));
    return tp < 64 ? 64 : tp > FR_PREFILL_PASS_MAX ? FR_PREFILL_PASS_MAX : (int)(tp / tile * tile);
}

/* Values per activation scale for weight type dt on the integer path; 0: the
 * type has no integer kernel (it runs the float32 one). */
int fr_qx_blk(fr_dtype dt);
/* Bytes fr_qx_quantize needs for n rows of cols values. */
size_t fr_qx_bytes(int n, int64_t cols, int blk);
/* Quantize X[n][cols] into buf (fr_qx_bytes of it, 64-byte aligned); fills *out. */
void fr_qx_quantize(const float *X, int n, int64_t cols, int blk, void *buf, fr_qx *out);
/* The same, rows split over the current pool (use outside a parallel section). */
void fr_qx_quantize_mt(const float *X, int n, int64_t cols, int blk, void *buf, fr_qx *out);
/* Rows [t0, t1) only, into buf laid out for n rows. */
void fr_qx_quantize_rows(const float *X, int n, int64_t cols, int blk, void *buf, int t0, int t1);
/* Blocks [b0, b1) only, counted over the n rows in turn (row t holds blocks
 * t * cols / blk onwards), into buf laid out for n rows; every block is
 * quantized on its own, so disjoint ranges may run on different threads. */
void fr_qx_quantize_blocks(const float *X, int n, int64_t cols, int blk, void *buf, size_t b0, size_t b1);
/* The view fr_qx_quantize fills, of buf laid out for n rows, quantizing nothing. */
fr_qx fr_qx_view(int n, int64_t cols, int blk, void *buf);

/* bfloat16 values of m query rows of k values packed by pack_bf16: whole
 * groups of 16 rows, whole steps of 32 values (the vdpbf16ps layout uses
 * steps of 8, the AMX one of 32: avx512/attn_bf16.h, attn_amx.h) */
static inline int64_t fr_bf16_pack_len(int m, int k) { return (int64_t)(m + 15) / 16 * 16 * ((k + 31) / 32 * 32); }

/* One instruction set's kernels. A NULL matmul entry (a weight type the ISA
 * has no kernel for yet) falls back to the generic one. */
typedef struct fr_kernel_table {
    const char *name;
    fr_matmul_fn matmul[FR_DT_COUNT];
    fr_matmul_q_fn matmul_q[FR_DT_COUNT]; /* integer path; NULL: generic */
    /* float-input kernels used when not exact, which narrow the activations
     * inside (FP8 on vdpbf16ps); NULL: matmul[] */
    fr_matmul_fn matmul_fast[FR_DT_COUNT];
    float (*dot)(const float *a, const float *b, int n);
    void (*axpy)(float *y, float a, const float *x, int n);
    /* attention blocks (NULL: generic): fr_dots, fr_wsum below */
    void (*dots)(const float *A, int64_t lda, const float *B, int64_t ldb, float *C, int64_t ldc, int m, int n, int k);
    void (*wsum)(const float *P, int64_t ldp, const float *B, int64_t ldb, float *C, int64_t ldc, int m, int n, int k);
    /* x[i] = exp(x[i] - m) for i < n, returning the sum (NULL: expf) */
    float (*exp_shift)(float *x, int n, float m);
    /* g[i] = silu(g[i]) * u[i] for i < n, SwiGLU's gate (NULL: fr_silu) */
    void (*silu_mul)(float *g, const float *u, int64_t n);
    /* KDA's gates, fr_kda_decay_gate and fr_sigmoid_mul below (NULL: the generic loops) */
    void (*kda_decay_gate)(float *g, const float *bias, float ea, int n);
    void (*sigmoid_mul)(float *o, const float *g, int n);
    /* KDA's decayed dot products, fr_kda_decay_dots below (NULL: the generic loop) */
    void (*kda_decay_dots)(const float *ki, const float *qi, const double *Gi, const float *k, int64_t ldk,
                           const double *G, int nj, int K, float *sa, float *sq);
    /* attention over a bfloat16 cache, not exact (NULL: the caller decodes the
     * rows to float32 for dots/wsum): A queries and B cache rows bfloat16;
     * dots_bf16 takes A as pack_bf16 wrote it (fr_bf16_pack_len(m, k) values);
     * wsum_bf16 rounds P to bfloat16, n <= 256 (avx512/attn_bf16.h) */
    void (*pack_bf16)(const uint16_t *A, int64_t lda, int m, int k, uint16_t *dst); /* A for dots_bf16 */
    void (*dots_bf16)(const uint16_t *Ap, const uint16_t *B, int64_t ldb, float *C, int64_t ldc, int m, int n, int k);
    void (*wsum_bf16)(const float *P, int64_t ldp, const uint16_t *B, int64_t ldb, float *C, int64_t ldc, int m, int n,
                      int k);
    /* n rows of a Q8_0 cache (k values, src rows lds bytes apart) as bfloat16
     * rows for wsum_bf16 (dst rows ldd apart): bf16(q * d) (NULL: none) */
    void (*q8_0_bf16)(const uint8_t *src, int64_t lds, uint16_t *dst, int64_t ldd, int n, int k);
    /* attention over an I8 cache, not exact (NULL: the generic ones): fr_i8_dots, fr_i8_wsum below */
    void (*i8_dots)(const int8_t *Q, const float *qd, const int32_t *qs, int m, const uint8_t *K, const float *kd,
                    int r, int dr, int n, float *S, int64_t lds);
    void (*i8_wsum)(const float *P, int64_t ldp, int m, const uint8_t *K, const float *kd, int r, int dr, int n,
                    float *U, int64_t ldu);
    /* n floats to bfloat16, rounded to nearest even (subnormals to zero); NULL: none */
    void (*f32_bf16)(const float *x, uint16_t *dst, int64_t n);
    /* row r of a 2-D weight as float32 (NULL: generic) */
    void (*row_f32)(const fr_tensor *W, int64_t r, float *dst);
    /* activation blocks [b0, b1) of blk values of X to int8: q, d, s as fr_qx
     * (NULL: the generic loop in quant_act.c; must equal it bit for bit) */
    void (*qx_rows)(const float *X, int blk, int8_t *q, float *d, int16_t *s, size_t b0, size_t b1);
} fr_kernel_table;

/* The table in use, chosen once from the CPU's features (base/cpu.h):
 * amx (avx512bf16 + AMX-TILE/INT8/BF16: integer, BF16 and FP8 prefill on tiles; only if it passes
 * fr_kernels_agree_isolated against avx512bf16), else avx512bf16 (avx512vnni + BF16 +
 * VBMI: FP8 decode on vdpbf16ps), else avx512vnni (avx512 + VNNI: integer
 * kernels on vpdpbusd), else avx512 (F+BW+VL, FMA, F16C), else avx2
 * (AVX2+FMA+F16C), else generic.
 * FRUGAL_KERNELS=generic|avx2|avx512|avx512vnni|avx512bf16|amx|amxemu picks one (if the CPU has it).
 * The generic table always exists (the test oracle). */
const fr_kernel_table *fr_kernels(void);
const fr_kernel_table *fr_kernels_generic(void);
/* The table of an instruction set ("generic", "avx2", "avx512", "avx512vnni", "avx512bf16", "amx",
 * "amxemu": the amx table with its tile instructions emulated in C, for tests); NULL when this CPU or
 * build lacks it. */
const fr_kernel_table *fr_kernels_isa(const char *name);
/* 1 when a's integer kernels give b's outputs bit for bit on a small problem
 * of each weight layout (Q4_K, Q6_K, Q8_0; 40 rows, 21 tokens), and its BF16
 * and FP8 prefill kernels (matmul_fast) b's within 1e-4 of sum|w x| (the same
 * bfloat16 products, summed in another order): the check the "amx" table
 * passes before it is chosen automatically. */
int fr_kernels_agree(const fr_kernel_table *a, const fr_kernel_table *b);
/* The same in a child process: 0 also when the child dies (a faulting
 * instruction), so the caller survives; what the automatic choice runs. */
int fr_kernels_agree_isolated(const fr_kernel_table *a, const fr_kernel_table *b);
/* Force the generic kernels (tests); 0 returns to the automatic choice. */
void fr_kernels_use_generic(int on);
/* Use the table t from now on (tests, bench); NULL: the automatic choice. */
void fr_kernels_set(const fr_kernel_table *t);

/* The single-threaded matmul of the current table for a weight type: its
 * matmul_fast kernel when one exists and exact is 0. Exact mode is per thread:
 * pass fr_kernels_exact() read on the thread that owns the evaluation (a pool
 * worker does not carry the caller's flag). */
fr_matmul_fn fr_matmul_kernel(fr_dtype dt, int exact);
/* Rows per work item of an n-token product over `rows` rows split among
 * `threads` threads (dispatch.c; bench/int8_bench.c calls it as fr_matmul does). */
int64_t fr_matmul_grain(int64_t rows, int n, int threads);
/* The integer-path kernel for dt (NULL when dt has none). */
fr_matmul_q_fn fr_matmul_q_kernel(fr_dtype dt);

/* Exact mode, per calling thread (a context sets it around its evaluation):
 * 1 = float32 activations everywhere (every weight type bitwise as the
 * reference decoder); 0 = the integer path for types that have one. The
 * default is 0; FRUGAL_EXACT=1 in the environment forces 1 everywhere. */
void fr_kernels_set_exact(int on);
int fr_kernels_exact(void);
/* The integer path applies to W now (not exact and W's type has a kernel). */
int fr_matmul_uses_q(const fr_tensor *W);

/* Threads: kernels split work over the calling thread's pool (base/pool.h). */

/* y = x / sqrt(mean(x^2) + eps) * w, over d elements; y may alias x. */
void fr_rmsnorm(float *y, const float *x, const float *w, float eps, int d);
/* n rows of d on the pool: x[t] += add[t] when add is set, then
 * y[t] = fr_rmsnorm(x[t]) when y is set (y may alias x) */
void fr_add_rmsnorm_rows(float *y, float *x, const float *add, const float *w, float eps, int d, int n);
/* In-place softmax over n elements. */
void fr_softmax(float *x, int n);
/* x[i] = exp(x[i] - m) for i < n; returns their sum (vector exp within 2 ulp
 * of expf where the table has one) */
float fr_exp_shift(float *x, int n, float m);
static inline float fr_silu(float x);
/* g[i] = silu(g[i]) * u[i] for i < n: fr_silu when exact, else the table's
 * vector exp (within 4 ulp of the plain one, test_kernels) */
void fr_silu_mul(float *g, const float *u, int64_t n, int exact);
/* Kimi Delta Attention's chunk products (layers/kda.c), for j < nj with
 * k_j = k + j*ldk, G_j = G + j*K (cumulative log-decays, doubles) and
 * E_j[c] = exp(float(Gi[c] - G_j[c])):
 *   sa[j] = sum_c ki[c] (k_j[c] E_j[c]),  sq[j] = sum_c qi[c] (k_j[c] E_j[c]).
 * Exact: the plain loop (expf, sums in c order); else the table's (a vector
 * exp within 2 ulp of expf, sums per lane: test_kernels). */
void fr_kda_decay_dots(const float *ki, const float *qi, const double *Gi, const float *k, int64_t ldk,
                       const double *G, int nj, int K, float *sa, float *sq, int exact);
/* KDA's log-decay g[i] = -ea * softplus(g[i] + bias[i]) (softplus(x) = x above
 * 20, else log1p(exp(x))), and its output gate o[i] *= 1 / (1 + exp(-g[i])).
 * Exact: the plain loops (expf, log1pf); else the table's (vector exp and log
 * within a few ulp: test_kernels). */
void fr_kda_decay_gate(float *g, const float *bias, float ea, int n, int exact);
void fr_sigmoid_mul(float *o, const float *g, int n, int exact);
/* Interleaved RoPE on pairs (2i, 2i+1) of x[0..d): cs[i] = cos, sn[i] = sin. */
void fr_rope_interleaved(float *x, const float *cs, const float *sn, int d);
/* Half-split (NeoX) RoPE on pairs (i, i + d/2). */
void fr_rope_neox(float *x, const float *cs, const float *sn, int d);
float fr_dot(const float *a, const float *b, int n);
/* row r of a 2-D weight as float32 with the current kernels (same values as
 * fr_tensor_row_f32) */
void fr_row_f32(const fr_tensor *W, int64_t r, float *dst);
/* y += a * x */
void fr_axpy(float *y, float a, const float *x, int n);
/* Attention score block: C[i*ldc + j] = A_i . B_j (rows of k floats) for i < m,
 * j < n: queries (heads) times cache rows, each row read once per register tile. */
void fr_dots(const float *A, int64_t lda, const float *B, int64_t ldb, float *C, int64_t ldc, int m, int n, int k);
/* Attention value block: C_i += sum_{j<n} P[i*ldp + j] B_j (rows of k floats) for
 * i < m: probabilities times cache rows, accumulated per head in registers. */
void fr_wsum(const float *P, int64_t ldp, const float *B, int64_t ldb, float *C, int64_t ldc, int m, int n, int k);

/* Attention over an I8 latent cache (layers/mla.h), not exact. Positions come
 * in groups of 4, from a multiple of 4, each with w = r + dr values (latent,
 * then rope key) stored as int8 + 128 in bytes, column-interleaved:
 *   K [g][w][4]:  byte c*4 + j of group g is position 4g + j's value c + 128
 *   kd [g][2][4]: the scales of position 4g + j's latent (kd[g][0][j]) and
 *                 rope key (kd[g][1][j]): value = scale * (byte - 128)
 * Scores, for heads h < m and positions i < n (K_i[c] the value's int8):
 *   S[h*lds + i] = qd[2h] kd_lat(i) sum_{c<r} Q[h][c] K_i[c]
 *                + qd[2h+1] kd_rope(i) sum_{r<=c<w} Q[h][c] K_i[c]
 * Q [m][w] int8 queries, qd [m][2] their two scales (the softmax scale may be
 * folded in), qs [m][2] the sums of Q over each part (the +128's share).
 * Values, c < r:
 *   U[h*ldu + c] += sum_{i<n} P[h*ldp + i] kd_lat(i) K_i[c]
 * with P kd_lat quantized per head to 8 bits (its maximum to 255); n <= 256
 * for the vector kernel. r and dr multiples of 16 for the vector kernels
 * (others take the generic ones). */
/* where position p's value 0 is in K (value c: 4 c bytes further), and its
 * latent scale in kd (the rope key's: 4 further) */
static inline size_t fr_i8_off(int w, int p) { return (size_t)(p / 4) * 4 * (size_t)w + (size_t)(p % 4); }
static inline size_t fr_i8_kd_off(int p) { return (size_t)(p / 4) * 8 + (size_t)(p % 4); }
void fr_i8_dots(const int8_t *Q, const float *qd, const int32_t *qs, int m, const uint8_t *K, const float *kd, int r,
                int dr, int n, float *S, int64_t lds);
void fr_i8_wsum(const float *P, int64_t ldp, int m, const uint8_t *K, const float *kd, int r, int dr, int n, float *U,
                int64_t ldu);

#include <math.h>
static inline float fr_silu(float x) { return x / (1.0f + expf(-x)); }

#endif
