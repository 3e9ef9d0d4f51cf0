#include "layers/mla.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/mmap.h"
#include "tensor/ggml_quants.h"
#include "base/pool.h"
#include "kernels/kernels.h"

int fr_mla_bind_hf(fr_mla *m, const fr_weights *w, const char *p, const fr_mla_cfg *c) {
    char name[512];
    memset(m, 0, sizeof *m);
    m->c = *c;
    int64_t H = c->n_head, dq = (int64_t)H * (c->d_nope + c->d_rope);
    if (c->q_lora > 0) {
        int64_t a[2] = {c->q_lora, c->d}, b[2] = {dq, c->q_lora};
        snprintf(name, sizeof name, "%sq_a_proj.weight", p);
        if (fr_weights_bind(w, name, 2, a, &m->wq_a)) return -1;
        snprintf(name, sizeof name, "%sq_a_layernorm.weight", p);
        if (fr_weights_load_vec(w, name, c->q_lora, &m->q_norm)) return -1;
        snprintf(name, sizeof name, "%sq_b_proj.weight", p);
        if (fr_weights_bind(w, name, 2, b, &m->wq_b)) return -1;
    } else {
        int64_t q[2] = {dq, c->d};
        snprintf(name, sizeof name, "%sq_proj.weight", p);
        if (fr_weights_bind(w, name, 2, q, &m->wq)) return -1;
    }
    int64_t kva[2] = {c->kv_lora + c->d_rope, c->d}, kvb[2] = {H * (c->d_nope + c->d_v), c->kv_lora},
            o[2] = {c->d, H * c->d_v};
    snprintf(name, sizeof name, "%skv_a_proj_with_mqa.weight", p);
    if (fr_weights_bind(w, name, 2, kva, &m->wkv_a)) return -1;
    snprintf(name, sizeof name, "%skv_a_layernorm.weight", p);
    if (fr_weights_load_vec(w, name, c->kv_lora, &m->kv_norm)) return -1;
    char kbname[512];
    snprintf(kbname, sizeof kbname, "%sk_b_proj.weight", p);
    snprintf(name, sizeof name, "%skv_b_proj.weight", p);
    if (fr_weights_find(w, name) || !fr_weights_find(w, kbname)) {
        if (fr_weights_bind(w, name, 2, kvb, &m->wkv_b)) return -1;
        if (fr_mla_wk_b(&m->wkv_b, (int)H, c->d_nope, c->d_v, c->kv_lora, &m->wk_b, &m->kb_own, &m->kb_own_scale) < 0)
            return fr_err("%s: out of memory for its transposed k_b", name);
    } else {
        int64_t kb[3] = {H, c->kv_lora, c->d_nope}, vb[3] = {H, c->d_v, c->kv_lora};
        snprintf(name, sizeof name, "%sk_b_proj.weight", p);
        if (fr_weights_bind(w, name, 3, kb, &m->wk_b)) return -1;
        snprintf(name, sizeof name, "%sv_b_proj.weight", p);
        if (fr_weights_bind(w, name, 3, vb, &m->wv_b)) return -1;
    }
    snprintf(name, sizeof name, "%so_proj.weight", p);
    return fr_weights_bind(w, name, 2, o, &m->wo);
}

void fr_mla_stats(const fr_mla *m, fr_wstats *s) {
    const fr_tensor *ts[] = {&m->wq_a, &m->wq_b, &m->wq, &m->wkv_a, &m->wkv_b, &m->wv_b, &m->wo};
    for (size_t i = 0; i < sizeof ts / sizeof *ts; i++) fr_wstats_dense(s, ts[i]);
    if (m->kb_own) s->bytes += (int64_t)m->wk_b.nbytes; /* a copy: read instead of wkv_b's W_UK rows */
    else fr_wstats_dense(s, &m->wk_b);
    fr_wstats_vec(s, (m->q_norm ? m->c.q_lora : 0) + m->c.kv_lora);
}

void fr_mla_free(fr_mla *m) {
    free(m->q_norm);
    free(m->kv_norm);
    free(m->kb_own);
    free(m->kb_own_scale);
    m->q_norm = m->kv_norm = NULL;
    m->kb_own = NULL, m->kb_own_scale = NULL;
}

int fr_mla_wk_b(const fr_tensor *kvb, int H, int dn, int dv, int r, fr_tensor *kb, void **data, float **scale) {
    const int fp8 = kvb->dtype == FR_DT_F8_E4M3, B = FR_FP8_BLOCK;
    size_t es;
    switch (kvb->dtype) {
    case FR_DT_F32: es = 4; break;
    case FR_DT_F16:
    case FR_DT_BF16: es = 2; break;
    case FR_DT_F8_E4M3: es = 1; break;
    default: return 0;
    }
    if (fp8 && (dn % B || (dn + dv) % B || r % B || !kvb->scale)) return 0;
    const size_t n = (size_t)H * (size_t)r * (size_t)dn;
    unsigned char *d = malloc(n * es);
    float *sc = fp8 ? malloc(sizeof(float) * (n / ((size_t)B * B))) : NULL;
    if (!d || (fp8 && !sc)) return free(d), free(sc), -1;
    /* kb[h][j][i] = kvb[h (dn + dv) + i][j] */
#define KB_T(T)                                                                                                    \
    for (int h = 0; h < H; h++)                                                                                    \
        for (int i = 0; i < dn; i++) {                                                                             \
            const T *s = (const T *)kvb->data + ((size_t)h * (dn + dv) + i) * r;                                   \
            for (int j = 0; j < r; j++) ((T *)(void *)d)[((size_t)h * r + j) * dn + i] = s[j];                     \
        }
    if (es == 4) {
        KB_T(uint32_t)
    } else if (es == 2) {
        KB_T(uint16_t)
    } else {
        KB_T(uint8_t)
    }
#undef KB_T
    if (fp8) /* block (h r + j) / B, i / B of kb is block (h (dn + dv) + i) / B, j / B of kvb */
        for (int h = 0; h < H; h++)
            for (int jb = 0; jb < r / B; jb++)
                for (int ib = 0; ib < dn / B; ib++)
                    sc[((size_t)h * r / B + jb) * (dn / B) + ib] =
                        kvb->scale[((size_t)h * (dn + dv) / B + ib) * (r / B) + jb];
    *kb = (fr_tensor){.name = kvb->name, .dtype = kvb->dtype, .ndim = 3, .ne = {H, r, dn}, .data = d,
                      .nbytes = n * es, .scale = sc};
    *data = d, *scale = sc;
    return 1;
}

static int pe_in_row(fr_dtype type) { return type == FR_DT_F16 || type == FR_DT_BF16 || type == FR_DT_I8; }

size_t fr_mla_cache_bytes(fr_dtype type, int kv_lora, int d_rope) {
    if (type == FR_DT_I8) return (size_t)kv_lora + (size_t)d_rope + 2 * sizeof(float);
    if (pe_in_row(type)) return fr_dtype_bytes(type, (int64_t)kv_lora + d_rope);
    return fr_dtype_bytes(type, kv_lora) + (size_t)d_rope * sizeof(float);
}

int fr_mla_cache_alloc(fr_mla_cache *kc, fr_dtype type, int n_ctx, int kv_lora, int d_rope) {
    memset(kc, 0, sizeof *kc);
    if (type != FR_DT_F32 && type != FR_DT_F16 && type != FR_DT_BF16 && type != FR_DT_Q8_0 && type != FR_DT_I8)
        return fr_err("cache type %s is not supported (f32, f16, bf16, q8_0, i8)", fr_dtype_get(type)->name);
    if (type == FR_DT_Q8_0 && kv_lora % 32)
        return fr_err("cache type q8_0 needs kv_lora_rank (%d) to be a multiple of 32", kv_lora);
    if (type == FR_DT_I8 && (kv_lora % 16 || d_rope % 16))
        return fr_err("cache type i8 needs kv_lora_rank (%d) and qk_rope_head_dim (%d) to be multiples of 16", kv_lora,
                      d_rope);
    kc->type = type;
    kc->kv_lora = kv_lora;
    kc->d_rope = d_rope;
    kc->pe_in_row = pe_in_row(type);
    if (type == FR_DT_I8) { /* whole groups of 4 positions, each chunk of 64 bytes on a cache line */
        const size_t groups = ((size_t)n_ctx + 3) / 4, bytes = (groups * 4 * (size_t)(kv_lora + d_rope) + 63) / 64 * 64;
        kc->row = (size_t)(kv_lora + d_rope);
        kc->lat_bytes = bytes ? bytes : 64;
        kc->lat = fr_anon_zalloc(kc->lat_bytes); /* zeroed: unwritten positions of a group are read (weight 0) */
        kc->kd = calloc(groups * 8, sizeof(float));
        if (!kc->lat || !kc->kd) {
            fr_mla_cache_free(kc);
            return fr_err("out of memory allocating the latent cache for %d positions", n_ctx);
        }
        return 0;
    }
    /* rows on whole cache lines from a page boundary when row is a multiple of 64 (bf16 at 576 values: the
     * attention kernels' 64-byte loads; from calloc, 16 bytes past a page, each load of a row spans two lines) */
    kc->row = fr_dtype_bytes(type, (int64_t)kv_lora + (kc->pe_in_row ? d_rope : 0));
    kc->lat_bytes = n_ctx > 0 ? (size_t)n_ctx * kc->row : 64;
    kc->lat = fr_anon_zalloc(kc->lat_bytes);
    if (!kc->pe_in_row) kc->pe = calloc((size_t)n_ctx * (size_t)(d_rope ? d_rope : 1), sizeof(float));
    if (!kc->lat || (!kc->pe_in_row && !kc->pe)) {
        fr_mla_cache_free(kc);
        return fr_err("out of memory allocating the latent cache for %d positions", n_ctx);
    }
    return 0;
}

void fr_mla_cache_free(fr_mla_cache *kc) {
    fr_anon_free(kc->lat, kc->lat_bytes);
    free(kc->pe);
    free(kc->kd);
    kc->lat = NULL;
    kc->pe = NULL;
    kc->kd = NULL;
}

/* I8: k values of x into position p's bytes (column stride 4 from dst) and
 * its scale *d: value = d * (byte - 128), d = max|x| / 127 */
static void i8_store(const float *x, int k, uint8_t *dst, float *d) {
    float mx = 0;
    for (int i = 0; i < k; i++) mx = fabsf(x[i]) > mx ? fabsf(x[i]) : mx;
    const float id = mx > 0 ? 127.0f / mx : 0;
    for (int i = 0; i < k; i++) { /* to nearest, halves away from zero; NaN (and inf * 0) to 0 */
        const float v = x[i] * id;
        const int qv = v >= -127.0f && v <= 127.0f ? (int)(v + (v < 0 ? -0.5f : 0.5f)) : v > 0 ? 127 : v < 0 ? -127 : 0;
        dst[(size_t)i * 4] = (uint8_t)(128 + qv);
    }
    *d = mx / 127.0f;
}

/* store position p: x = kv_lora latent values then d_rope rope-key values */
static void lat_store(fr_mla_cache *kc, int p, const float *x) {
    if (kc->type == FR_DT_I8) {
        const int r = kc->kv_lora, w = r + kc->d_rope;
        uint8_t *g = kc->lat + fr_i8_off(w, p);
        float *kd = kc->kd + fr_i8_kd_off(p);
        i8_store(x, r, g, kd);
        i8_store(x + r, kc->d_rope, g + (size_t)r * 4, kd + 4);
        return;
    }
    uint8_t *dst = kc->lat + (size_t)p * kc->row;
    const int r = kc->kv_lora, w = kc->pe_in_row ? r + kc->d_rope : r;
    switch (kc->type) {
    case FR_DT_F32: memcpy(dst, x, (size_t)r * sizeof *x); break;
    case FR_DT_F16: for (int i = 0; i < w; i++) ((uint16_t *)dst)[i] = fr_f32_to_f16(x[i]); break;
    case FR_DT_BF16: for (int i = 0; i < w; i++) ((uint16_t *)dst)[i] = fr_f32_to_bf16(x[i]); break;
    default: fr_ggml_quantize(kc->type, x, dst, r); break;
    }
    if (!kc->pe_in_row) memcpy(kc->pe + (size_t)p * kc->d_rope, x + r, (size_t)kc->d_rope * sizeof *x);
}

/* per-head, per-token and per-key-range work, split over the thread pool */
typedef struct mla_job {
    const fr_mla *m;
    const fr_mla_cache *kv;
    int n, pos0, n_keys;
    const float *q;  /* [n][H][dn+dr] */
    float *qabs;     /* [n][H][r] */
    float *u;        /* [n][H][r] */
    float *o;        /* [n][H*dv] */
    float *hbuf;     /* [threads][hb]: one head's inputs ([n][dn] or [n][r]) or kv_b rows ([dn][r]) */
    size_t hb;
    float *ov;       /* kv_b layout: [n][H*(dn+dv)] outputs of the value rows */
    float *scores;   /* [threads][ptb][H][n_keys] (decode: [threads][H][blk]) */
    int ptb;         /* prefill: tokens attended together (attend_tokens), 1 in decode */
    int blk;         /* cache rows per attention block: ROWBLK, BF16BLK or I8BLK on those paths */
    float *upart;    /* decode: [ranges][H][r] unnormalised values */
    float *mst, *lst; /* decode: [ranges][H] running max and sum of the online softmax */
    int64_t rgrain;  /* decode: keys per range (range q: keys [q rgrain, (q + 1) rgrain)) */
    float *latbuf;   /* [threads][ROWBLK][r]: decoded cache rows */
    float *tmp;      /* [threads][ptb][H][ROWBLK]: rope parts of the scores */
    /* attention over an I8 cache (not exact, kernels.h fr_i8_dots): (q~_h,
     * q_rope_h) as int8 [n][H][r + dr], their scales times the softmax scale
     * and their sums [n][H][2] */
    int8_t *qi8;
    float *qi8d;
    int32_t *qi8s;
    /* integer scores over a Q8_0 cache (not exact mode): qabs quantized, [n*H][r] */
    fr_qx qq;
    fr_tensor lat8; /* the cache as a Q8_0 matrix [n_keys][r] */
    /* bfloat16 attention over a BF16 cache (not exact, avx512bf16 kernels):
     * (qabs, q_rope) times the softmax scale, rounded to bfloat16 and packed
     * for dots_bf16 (which takes the rope keys in its rows), qbl values
     * a token [n][qbl], and the table with dots_bf16 / wsum_bf16 */
    uint16_t *qb16;
    int64_t qbl;
    uint16_t *qr; /* [n][H][r + dr]: the rounded rows before packing */
    float *qtmp;  /* [threads][r + dr] */
    const fr_kernel_table *kt;
    /* the values over a Q8_0 cache on wsum_bf16 (not exact): each block of
     * rows decoded to bfloat16 in [threads][ROWBLK][r] (the scores stay on the
     * int8 kernel) */
    uint16_t *lat16;
    /* and its rope scores on dots_bf16: q_rope rounded and packed [n][qrl],
     * each block's rope keys rounded in [threads][ROWBLK][dr] */
    uint16_t *qr16, *pe16;
    int64_t qrl;
    int exact;      /* the caller's fr_kernels_exact() */
    /* the per-head matmuls (absorb, expand) on the integer path: [threads] scratch of qsz bytes */
    void *qbuf;
    size_t qsz;
} mla_job;

#define ROWBLK 64 /* cache rows per attention block (128 KiB of f32 latents at r = 512) */
#define BF16BLK 128 /* the same on the bfloat16 kernels (144 KiB of rows): fewer passes of wsum_bf16 over its sums; in
                     * frugal bench, depth 8192 over depth 0 0.84 against 0.81-0.82 with 64 rows and 0.83 with 256 */
#define PTB 8                 /* prefill tokens attended together, at most (attend_tokens) */
#define PTB_BYTES (4u << 20) /* their scores a thread, at most (fewer tokens at long contexts) */
#define I8BLK 256 /* the same over an I8 cache (144 KiB at r + dr = 576): its values
                   * kernel sums a head's products in int32 over a block and scales
                   * them once, 16 columns at a time */

/* W as a 2-D matrix [rows of all leading dims, cols] (k_b [H][r][dn] -> [H*r][dn]) */
static fr_tensor as_2d(const fr_tensor *W) {
    fr_tensor v = *W;
    v.ndim = 2;
    v.ne[0] = fr_tensor_nelem(W) / fr_cols(W);
    v.ne[1] = fr_cols(W);
    return v;
}

/* Y[t][rows r0..r1) = W X[t] for the n rows of X ([n][cols], cols = W's): on
 * the integer path when W's type has one and the caller is not exact (X
 * quantized into this thread's qbuf), else the float kernel */
static void head_matmul(const mla_job *j, const fr_tensor *W, const float *X, float *Y, int n, int64_t r0, int64_t r1,
                        int ith) {
    const int blk = fr_qx_blk(W->dtype);
    if (!j->exact && blk && j->qbuf && fr_cols(W) % blk == 0) {
        fr_qx qx;
        fr_qx_quantize(X, n, fr_cols(W), blk, (char *)j->qbuf + (size_t)ith * j->qsz, &qx);
        fr_matmul_q_kernel(W->dtype)(W, &qx, Y, r0, r1);
    } else {
        fr_matmul_kernel(W->dtype, j->exact)(W, X, Y, n, r0, r1);
    }
}

/* qabs[t][h] = W_UK_h^T q_nope[t][h] for heads [h0, h1)   [n][H][r] */
static void absorb_q(void *arg, int64_t h0, int64_t h1, int ith) {
    const mla_job *j = arg;
    const fr_mla_cfg *c = &j->m->c;
    const int H = c->n_head, dn = c->d_nope, dv = c->d_v, r = c->kv_lora, dq = dn + c->d_rope, n = j->n;
    float *buf = j->hbuf + (size_t)ith * j->hb;
    for (int64_t h = h0; h < h1; h++) {
        /* split layout (GGUF's k_b; or fr_mla_wk_b's copy of a fused kv_b, in decode only: in prefill the
         * copy's matmul would round q to bfloat16 on the not-exact path, and the rows below are read once
         * for all the tokens anyway): rows [h*r, (h+1)*r) of k_b [H*r][dn] write qabs[.][h] */
        if (j->m->wk_b.data && (n == 1 || !j->m->kb_own)) {
            const fr_tensor kb = as_2d(&j->m->wk_b);
            for (int t = 0; t < n; t++) memcpy(buf + (size_t)t * dn, j->q + ((size_t)t * H + h) * dq, (size_t)dn * sizeof *buf);
            head_matmul(j, &kb, buf, j->qabs, n, h * r, (h + 1) * r, ith);
            continue;
        }
        /* kv_b [H*(dn+dv)][r]: qabs[t][h] = sum_i q_nope[t][h][i] * row i of head h (fr_wsum adds) */
        for (int t = 0; t < n; t++) memset(j->qabs + ((size_t)t * H + h) * r, 0, (size_t)r * sizeof *j->qabs);
        for (int i = 0; i < dn; i++) fr_row_f32(&j->m->wkv_b, h * (dn + dv) + i, buf + (size_t)i * r);
        fr_wsum(j->q + h * dq, (int64_t)H * dq, buf, r, j->qabs + h * r, (int64_t)H * r, n, dn, r);
    }
}

/* values per row of lat_rows' float32 rows: the latent, and the rope keys
 * after it when the cache keeps them in its rows */
static int lat_ld(const fr_mla_cache *kc) { return kc->kv_lora + (kc->pe_in_row ? kc->d_rope : 0); }

/* cache rows [s, s + nr) as float32 rows of lat_ld values: in place for F32,
 * else decoded into buf ([ROWBLK][lat_ld]) */
static const float *lat_rows(const fr_mla_cache *kc, int s, int nr, float *buf) {
    if (kc->type == FR_DT_F32) return (const float *)(const void *)(kc->lat + (size_t)s * kc->row);
    const int ld = lat_ld(kc);
    if (kc->type == FR_DT_I8) { /* [groups][w][4] bytes, [groups][2][4] scales */
        for (int i = 0; i < nr; i++) {
            const int p = s + i;
            const uint8_t *g = kc->lat + fr_i8_off(ld, p);
            const float *kd = kc->kd + fr_i8_kd_off(p);
            for (int c = 0; c < ld; c++) buf[(size_t)i * ld + c] = kd[c < kc->kv_lora ? 0 : 4] * (float)(g[(size_t)c * 4] - 128);
        }
        return buf;
    }
    /* the rows as a [nr][lat_ld] matrix view: the kernels' row decoder (SIMD for f16/bf16) */
    const fr_tensor v = {.name = "latent cache", .dtype = kc->type, .ndim = 2, .ne = {nr, ld},
                         .data = kc->lat + (size_t)s * kc->row, .nbytes = (size_t)nr * kc->row};
    for (int i = 0; i < nr; i++) fr_row_f32(&v, i, buf + (size_t)i * ld);
    return buf;
}

/* out[(k*H + h)*ldo + i] = (q~_h . c_s + q_rope_h . k_r,s) * scale for the nr
 * keys s = b + i of tokens t + k, k < nt (1 on the packed bfloat16 queries,
 * j->ptb): one block of cache rows read once for all their heads. Returns the
 * block's latents as float32 rows when it decoded them (NULL when the scores
 * came from the int8 kernel over a q8_0 cache or the bfloat16 one). */
static const float *block_scores(const mla_job *j, int t, int nt, int b, int nr, float *out, int ldo, int ith) {
    const fr_mla_cfg *c = &j->m->c;
    const int H = c->n_head, dn = c->d_nope, dr = c->d_rope, r = c->kv_lora, dq = dn + dr, nh = nt * H;
    const float *qa = j->qabs + (size_t)t * H * r, *q = j->q + (size_t)t * H * dq;
    float *tmp = j->tmp + (size_t)ith * j->ptb * H * ROWBLK;
    const float *lat = NULL;
    const int ld = lat_ld(j->kv), rope = dr;
    if (j->qi8) { /* int8 queries x the I8 cache's groups from b (a multiple of 4), scale folded into the queries */
        fr_i8_dots(j->qi8 + (size_t)t * H * ld, j->qi8d + (size_t)t * H * 2, j->qi8s + (size_t)t * H * 2, nh,
                   j->kv->lat + (size_t)b * ld, j->kv->kd + (size_t)b * 2, r, dr, nr, out, ldo);
        return NULL;
    }
    if (j->qq.q) { /* q8_0 cache x int8 queries: the cache rows from b as a Q8_0 matrix of ldo rows */
        fr_qx qt = j->qq;
        qt.n = nh;
        qt.q += (size_t)t * H * r;
        qt.d += (size_t)t * H * (r / qt.blk);
        qt.s += (size_t)t * H * (r / 16);
        fr_tensor v = j->lat8;
        v.ne[0] = ldo;
        v.data = j->kv->lat + (size_t)b * j->kv->row;
        fr_matmul_q_kernel(FR_DT_Q8_0)(&v, &qt, out, 0, nr); /* out[h*ldo + i] */
    } else if (j->qb16) { /* bfloat16 rows (latent, rope keys) x bfloat16 queries (q~, q_rope) times the scale */
        j->kt->dots_bf16(j->qb16 + t * j->qbl, (const uint16_t *)(const void *)(j->kv->lat + (size_t)b * j->kv->row), ld,
                         out, ldo, H, nr, ld);
        return NULL;
    } else {
        lat = lat_rows(j->kv, b, nr, j->latbuf + (size_t)ith * ROWBLK * ld);
        fr_dots(qa, r, lat, ld, out, ldo, nh, nr, r); /* [nt*H][nr] */
    }
    if (rope) { /* [nt*H][nr]: the rope keys after the latent in the decoded rows, or apart */
        if (j->qr16) { /* apart (q8_0), both sides rounded to bfloat16 */
            uint16_t *pb = j->pe16 + (size_t)ith * ROWBLK * dr;
            j->kt->f32_bf16(j->kv->pe + (size_t)b * dr, pb, (int64_t)nr * dr);
            j->kt->dots_bf16(j->qr16 + t * j->qrl, pb, dr, tmp, ROWBLK, H, nr, dr);
        } else if (j->kv->pe_in_row) fr_dots(q + dn, dq, lat + r, ld, tmp, ROWBLK, nh, nr, dr);
        else fr_dots(q + dn, dq, j->kv->pe + (size_t)b * dr, dr, tmp, ROWBLK, nh, nr, dr);
    }
    for (int h = 0; h < nh; h++)
        for (int i = 0; i < nr; i++)
            out[(size_t)h * ldo + i] = (out[(size_t)h * ldo + i] + (rope ? tmp[h * ROWBLK + i] : 0)) * c->scale;
    return lat;
}

/* u[h] += sum_i P[h][i] c_b+i for the nr cache rows from b and nh rows h of
 * P and u (heads of one or more tokens): lat when the caller decoded them
 * already (else NULL), on the bfloat16 kernel when set */
static void values_block(const mla_job *j, const float *P, int ldp, int b, int nr, const float *lat, float *u, int nh,
                         int ith) {
    const int r = j->m->c.kv_lora, ld = lat_ld(j->kv);
    if (j->qi8) {
        fr_i8_wsum(P, ldp, nh, j->kv->lat + (size_t)b * ld, j->kv->kd + (size_t)b * 2, r, j->m->c.d_rope, nr, u, r);
        return;
    }
    if (j->lat16) { /* q8_0 rows -> bfloat16 */
        uint16_t *lb = j->lat16 + (size_t)ith * ROWBLK * r;
        j->kt->q8_0_bf16(j->kv->lat + (size_t)b * j->kv->row, (int64_t)j->kv->row, lb, r, nr, r);
        j->kt->wsum_bf16(P, ldp, lb, r, u, r, nh, nr, r);
        return;
    }
    if (j->qb16) {
        j->kt->wsum_bf16(P, ldp, (const uint16_t *)(const void *)(j->kv->lat + (size_t)b * j->kv->row), ld, u, r, nh, nr, r);
        return;
    }
    if (!lat) lat = lat_rows(j->kv, b, nr, j->latbuf + (size_t)ith * ROWBLK * ld);
    fr_wsum(P, ldp, lat, ld, u, r, nh, nr, r);
}

/* the I8 path's queries: rows [nh][k] of x (ldx apart) quantized to int8
 * with one scale per row (the kernels' activation quantizer, fr_qx, one
 * block a row) into q (rows ldq apart), d[2i] = scale * the row's step and
 * s[2i] = the sum of its q (d, s: every second float / int, one part of
 * [nh][2]). Returns -1 without scratch memory. */
static int quant_rows(const float *x, size_t ldx, int nh, int k, float scale, int8_t *q, size_t ldq, float *d,
                      int32_t *s, fr_arena *a) {
    float *xs = NULL;
    if (ldx != (size_t)k) { /* the rope queries sit between the nope ones: gather them */
        if (!(xs = fr_arena_f32(a, (size_t)nh * k))) return -1;
        for (int i = 0; i < nh; i++) memcpy(xs + (size_t)i * k, x + i * ldx, (size_t)k * sizeof *xs);
        x = xs;
    }
    void *buf = fr_arena_alloc(a, fr_qx_bytes(nh, k, k));
    if (!buf) return -1;
    fr_qx qx;
    fr_qx_quantize(x, nh, k, k, buf, &qx);
    for (int i = 0; i < nh; i++) {
        memcpy(q + i * ldq, qx.q + (size_t)i * k, (size_t)k);
        int32_t sum = 0;
        for (int g = 0; g < k / 16; g++) sum += qx.s[(size_t)i * (k / 16) + g];
        d[2 * i] = qx.d[i] * scale;
        s[2 * i] = sum;
    }
    return 0;
}

/* rows x k floats (x rows ldx apart) times s rounded to bfloat16 rows (ldd
 * apart): the queries of the bfloat16 kernels; tmp: k floats */
static void rows_bf16(const fr_kernel_table *kt, const float *x, size_t ldx, float s, uint16_t *d, size_t ldd,
                      size_t rows, int k, float *tmp) {
    for (size_t i = 0; i < rows; i++) {
        for (int c = 0; c < k; c++) tmp[c] = x[i * ldx + c] * s;
        kt->f32_bf16(tmp, d + i * ldd, k);
    }
}

/* n tokens' H rows of bfloat16 queries (rows k apart) packed for dots_bf16,
 * len values a token: [n][len] (NULL without scratch) */
static uint16_t *pack_queries(const fr_kernel_table *kt, const uint16_t *rows, int n, int H, int k, int64_t len,
                              fr_arena *a) {
    uint16_t *p = fr_arena_alloc(a, (size_t)n * (size_t)len * sizeof *p);
    for (int t = 0; p && t < n; t++) kt->pack_bf16(rows + (size_t)t * H * k, k, H, k, p + t * len);
    return p;
}

/* the bfloat16 queries of tokens [t0, t1) (a prefill's were made on the
 * calling thread alone before, about 1 % of a Kimi K2 cut's pp512):
 * (qabs, q_rope) times the softmax scale into qr, rounded, then packed into qb16 */
static void bf16_queries(void *arg, int64_t t0, int64_t t1, int ith) {
    const mla_job *j = arg;
    const fr_mla_cfg *c = &j->m->c;
    const int H = c->n_head, r = c->kv_lora, dn = c->d_nope, dr = c->d_rope, dq = dn + dr;
    float *tmp = j->qtmp + (size_t)ith * (r + dr);
    for (int64_t t = t0; t < t1; t++) {
        uint16_t *qr = j->qr + (size_t)t * H * (r + dr);
        rows_bf16(j->kt, j->qabs + (size_t)t * H * r, r, c->scale, qr, r + dr, H, r, tmp);
        rows_bf16(j->kt, j->q + (size_t)t * H * dq + dn, dq, c->scale, qr + r, r + dr, H, dr, tmp);
        j->kt->pack_bf16(qr, r + dr, H, r + dr, j->qb16 + t * j->qbl);
    }
}

/* prefill: tokens [t0, t1), j->ptb at a time, their keys read once for all
 * of them and their heads: the scores of keys [0, the last token's position]
 * [nt][H][n_keys], each token's softmax over its own keys and zeros past them
 * (the keys of the later tokens), then the values over the same blocks */
static void attend_tokens(void *arg, int64_t t0, int64_t t1, int ith) {
    const mla_job *j = arg;
    const fr_mla_cfg *c = &j->m->c;
    const int H = c->n_head, r = c->kv_lora, ld = j->n_keys;
    float *sc = j->scores + (size_t)ith * j->ptb * H * ld;
    for (int64_t ta = t0; ta < t1; ta += j->ptb) { /* (one call takes all tokens without a pool) */
        const int nt = t1 - ta < j->ptb ? (int)(t1 - ta) : j->ptb, nh = nt * H;
        const int last = j->pos0 + (int)ta + nt - 1; /* the last token's position */
        for (int b = 0; b <= last; b += j->blk)
            block_scores(j, (int)ta, nt, b, last + 1 - b < j->blk ? last + 1 - b : j->blk, sc + b, ld, ith);
        for (int k = 0; k < nt; k++) {
            const int p = j->pos0 + (int)ta + k;
            for (int h = 0; h < H; h++) {
                float *row = sc + ((size_t)k * H + h) * ld;
                fr_softmax(row, p + 1);
                memset(row + p + 1, 0, (size_t)(last - p) * sizeof *row);
            }
        }
        float *u = j->u + (size_t)ta * H * r;
        memset(u, 0, (size_t)nh * r * sizeof *u);
        for (int b = 0; b <= last; b += j->blk)
            values_block(j, sc + b, ld, b, last + 1 - b < j->blk ? last + 1 - b : j->blk, NULL, u, nh, ith);
    }
}

/* max(m, x[0..n)): 8 running maxima, not one chain of n dependent compares
 * (a block of 256 scores per head, 27 layers: 1 % of a decode at depth 8192) */
static float row_max(const float *x, int n, float m) {
    float m8[8];
    for (int k = 0; k < 8; k++) m8[k] = m;
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) m8[k] = x[i + k] > m8[k] ? x[i + k] : m8[k];
    for (; i < n; i++) m = x[i] > m ? x[i] : m;
    for (int k = 0; k < 8; k++) m = m8[k] > m ? m8[k] : m;
    return m;
}

/* decode (one token), one pass over the cache: each range of rgrain keys
 * (a call takes one, or all of them on one thread) keeps an online softmax
 * over its key blocks (per head: running max m, sum l of exp(s - m), and
 * u = sum exp(s - m) c_s unnormalised), so each block is read once for its
 * scores and its values; the ranges' states merge at the end in their order.
 * Per range, not per thread: which thread takes which range changes from run
 * to run, and per-thread sums made greedy decoding differ between two runs of
 * the same prompt. */
static void dec_attend(void *arg, int64_t s0, int64_t s1, int ith) {
    const mla_job *j = arg;
    const fr_mla_cfg *c = &j->m->c;
    const int H = c->n_head, r = c->kv_lora;
    const int blk = j->blk;
    float *sc = j->scores + (size_t)ith * H * blk;
    for (int64_t g0 = s0; g0 < s1; g0 += j->rgrain) { /* one call may hold several ranges (one thread) */
        const int64_t g1 = s1 - g0 < j->rgrain ? s1 : g0 + j->rgrain;
        const size_t q = (size_t)(g0 / j->rgrain);
        float *m = j->mst + q * H, *l = j->lst + q * H, *u = j->upart + q * H * r;
        for (int h = 0; h < H; h++) m[h] = -INFINITY, l[h] = 0;
        memset(u, 0, (size_t)H * r * sizeof *u);
        for (int b = (int)g0; b < g1; b += blk) {
            const int nr = g1 - b < blk ? (int)g1 - b : blk;
            const float *lat = block_scores(j, 0, 1, b, nr, sc, blk, ith);
            for (int h = 0; h < H; h++) {
                float *p = sc + (size_t)h * blk, mx = row_max(p, nr, m[h]);
                if (mx > m[h]) { /* a new maximum: rescale what is summed so far */
                    float alpha = expf(m[h] - mx); /* 0 on the first block (m = -inf) */
                    l[h] *= alpha;
                    for (int k = 0; k < r; k++) u[(size_t)h * r + k] *= alpha;
                    m[h] = mx;
                }
                l[h] += fr_exp_shift(p, nr, mx);
            }
            values_block(j, sc, blk, b, nr, lat, u, H, ith);
        }
    }
}

/* o[t][h] = W_UV_h u[t][h] for heads [h0, h1)   [n][H*dv] */
static void expand_v(void *arg, int64_t h0, int64_t h1, int ith) {
    const mla_job *j = arg;
    const fr_mla_cfg *c = &j->m->c;
    const int H = c->n_head, dn = c->d_nope, dv = c->d_v, r = c->kv_lora, n = j->n;
    float *buf = j->hbuf + (size_t)ith * j->hb;
    for (int64_t h = h0; h < h1; h++) {
        for (int t = 0; t < n; t++) memcpy(buf + (size_t)t * r, j->u + ((size_t)t * H + h) * r, (size_t)r * sizeof *buf);
        if (j->m->wv_b.data) { /* rows [h*dv, (h+1)*dv) of v_b [H*dv][r] write o[.][h] */
            const fr_tensor vb = as_2d(&j->m->wv_b);
            head_matmul(j, &vb, buf, j->o, n, h * dv, (h + 1) * dv, ith);
        } else { /* rows of kv_b [H*(dn+dv)][r] into ov [n][H*(dn+dv)], then o */
            const int64_t w = (int64_t)H * (dn + dv), r0 = h * (dn + dv) + dn;
            head_matmul(j, &j->m->wkv_b, buf, j->ov, n, r0, r0 + dv, ith);
            for (int t = 0; t < n; t++)
                memcpy(j->o + ((size_t)t * H + h) * dv, j->ov + (size_t)t * w + r0, (size_t)dv * sizeof *j->o);
        }
    }
}

void fr_mla_forward(const fr_mla *m, fr_mla_cache *kv, const float *cos_t, const float *sin_t, const float *x,
                    float *y, int n, int pos0, fr_arena *a) {
    const fr_mla_cfg *c = &m->c;
    const int H = c->n_head, dn = c->d_nope, dr = c->d_rope, dv = c->d_v, r = c->kv_lora;
    const int dq = dn + dr, hr = dr / 2;
    const int nth = fr_parallel_threads();
    const int n_keys = pos0 + n;
    fr_arena_mark mk = fr_arena_save(a);

    /* queries q [n][H][dn + dr], and the latent and rope key of the new tokens
     * kva [n][r + dr]: both from x, in one pass over the threads */
    float *q = fr_arena_f32(a, (size_t)n * H * dq);
    float *kva = fr_arena_f32(a, (size_t)n * (r + dr));
    if (c->q_lora > 0) {
        float *qa = fr_arena_f32(a, (size_t)n * c->q_lora);
        const fr_tensor *w2[2] = {&m->wq_a, &m->wkv_a};
        float *y2[2] = {qa, kva};
        fr_matmul_multi(w2, 2, x, y2, n);
        fr_add_rmsnorm_rows(qa, qa, NULL, m->q_norm, c->eps_q, c->q_lora, n);
        fr_matmul(&m->wq_b, qa, q, n);
    } else {
        const fr_tensor *w2[2] = {&m->wq, &m->wkv_a};
        float *y2[2] = {q, kva};
        fr_matmul_multi(w2, 2, x, y2, n);
    }

    /* the latent and rope key go to the cache */
    float *latn = fr_arena_f32(a, (size_t)(r + dr)); /* [r] latent, [dr] rope key */
    for (int t = 0; t < n; t++) {
        int p = pos0 + t;
        const float *row = kva + (size_t)t * (r + dr);
        fr_rmsnorm(latn, row, m->kv_norm, c->eps_kv, r);
        memcpy(latn + r, row + r, (size_t)dr * sizeof *row);
        if (c->use_rope) fr_rope_interleaved(latn + r, cos_t + (size_t)p * hr, sin_t + (size_t)p * hr, dr);
        lat_store(kv, p, latn);
        if (c->use_rope) {
            for (int h = 0; h < H; h++)
                fr_rope_interleaved(q + ((size_t)t * H + h) * dq + dn, cos_t + (size_t)p * hr, sin_t + (size_t)p * hr, dr);
        }
    }

    /* absorb W_UK into the query: qabs[t][h] = W_UK_h^T q_nope[t][h]   [n][H][r] */
    mla_job j = {.m = m, .kv = kv, .n = n, .pos0 = pos0, .n_keys = n_keys, .q = q, .exact = fr_kernels_exact(), .blk = ROWBLK};
    /* prefill: up to PTB tokens attend together (each block of cache rows decoded and read once for
     * them), fewer where their scores [ptb][H][n_keys] would pass PTB_BYTES a thread */
    j.ptb = n == 1 ? 1 : (int)(PTB_BYTES / ((int64_t)H * n_keys * (int64_t)sizeof(float)));
    j.ptb = j.ptb < 1 ? 1 : j.ptb > PTB ? PTB : j.ptb;
    j.ptb = j.ptb > n ? n : j.ptb;
    j.latbuf = fr_arena_f32(a, (size_t)nth * ROWBLK * lat_ld(kv));
    j.qabs = fr_arena_f32(a, (size_t)n * H * r);
    j.hb = (size_t)(n > dn ? n : dn) * (size_t)(r > dn ? r : dn);
    j.hbuf = fr_arena_f32(a, (size_t)nth * j.hb);
    if (!j.exact) { /* absorb and expand quantize [n][dn] or [n][r] activations per head */
        j.qsz = fr_qx_bytes(n, r > dn ? r : dn, 32);
        j.qbuf = fr_arena_alloc(a, (size_t)nth * j.qsz);
    }
    fr_parallel_for(H, 1, absorb_q, &j);
    j.kt = fr_kernels();
    if (kv->type == FR_DT_BF16 && !j.exact && j.kt->dots_bf16 && j.kt->wsum_bf16 && j.kt->f32_bf16) {
        /* bfloat16 attention (avx512/attn_bf16.h): the queries (q~_h, q_rope_h) times the softmax scale rounded
         * once   [n][H][r + dr], then packed */
        j.qbl = fr_bf16_pack_len(H, r + dr);
        j.qr = fr_arena_alloc(a, (size_t)n * H * (r + dr) * sizeof *j.qr);
        j.qtmp = fr_arena_f32(a, (size_t)nth * (r + dr));
        uint16_t *qb = fr_arena_alloc(a, (size_t)n * (size_t)j.qbl * sizeof *qb);
        if (j.qr && j.qtmp && qb) {
            j.qb16 = qb;
            fr_parallel_for(n, 8, bf16_queries, &j);
            j.blk = BF16BLK;
        }
    }
    if (kv->type == FR_DT_I8 && !j.exact) {
        /* int8 attention (kernels.h fr_i8_dots): each query's two parts quantized   [n][H][r + dr] */
        j.qi8 = fr_arena_alloc(a, (size_t)n * H * (r + dr));
        j.qi8d = fr_arena_f32(a, (size_t)n * H * 2);
        j.qi8s = fr_arena_alloc(a, (size_t)n * H * 2 * sizeof *j.qi8s);
        if (!j.qi8d || !j.qi8s ||
            quant_rows(j.qabs, r, n * H, r, c->scale, j.qi8, r + dr, j.qi8d, j.qi8s, a) ||
            (dr && quant_rows(q + dn, dq, n * H, dr, c->scale, j.qi8 + r, r + dr, j.qi8d + 1, j.qi8s + 1, a)))
            j.qi8 = NULL; /* no scratch: the float path over decoded rows */
        if (!dr)
            for (int i = 0; j.qi8 && i < n * H; i++) j.qi8d[2 * i + 1] = 0, j.qi8s[2 * i + 1] = 0;
        if (j.qi8) j.blk = I8BLK;
    }
    if (kv->type == FR_DT_Q8_0 && !j.exact && fr_matmul_q_kernel(FR_DT_Q8_0)) {
        /* scores as int8 dot products (vpdpbusd): the queries quantized like the cache */
        void *qb = fr_arena_alloc(a, fr_qx_bytes(n * H, r, 32));
        if (qb) {
            fr_qx_quantize(j.qabs, n * H, r, 32, qb, &j.qq);
            j.lat8 = (fr_tensor){.name = "latent cache", .dtype = FR_DT_Q8_0, .ndim = 2, .ne = {n_keys, r},
                                 .data = kv->lat, .nbytes = (size_t)n_keys * kv->row};
        }
        if (j.kt->wsum_bf16 && j.kt->q8_0_bf16) j.lat16 = fr_arena_alloc(a, (size_t)nth * ROWBLK * r * sizeof *j.lat16);
        if (dr && j.kt->dots_bf16 && j.kt->f32_bf16) { /* the rope scores on dots_bf16 too */
            uint16_t *qr = fr_arena_alloc(a, (size_t)n * H * dr * sizeof *qr);
            float *tmp = fr_arena_f32(a, (size_t)dr);
            j.pe16 = fr_arena_alloc(a, (size_t)nth * ROWBLK * dr * sizeof *j.pe16);
            if (qr && tmp && j.pe16) {
                rows_bf16(j.kt, q + dn, dq, 1.0f, qr, dr, (size_t)n * H, dr, tmp);
                j.qrl = fr_bf16_pack_len(H, dr);
                j.qr16 = pack_queries(j.kt, qr, n, H, dr, j.qrl, a);
            }
        }
    }

    if (j.qb16 || j.qr16) j.ptb = 1; /* queries packed a token at a time (pack_queries) */
    j.tmp = fr_arena_f32(a, (size_t)nth * j.ptb * H * ROWBLK);

    /* attention over the latent cache: u[t][h] = sum_s softmax(s) c_s   [n][H][r] */
    j.u = fr_arena_f32(a, (size_t)n * H * r);
    if (n == 1) {
        /* decode: ranges of keys over the threads, about 4 per thread but at least 8
         * (so that 1 and 2 threads sum alike): whole ROWBLK multiples, or on the int8
         * path whole groups of 4 (in multiples of its blocks of 256 the threads' shares
         * could differ by a third at depth 8192); partial sums per range */
        const int64_t al = j.qi8 ? 4 : ROWBLK, nr0 = 4 * nth > 8 ? 4 * nth : 8;
        const int64_t grain = ((n_keys + nr0 - 1) / nr0 + al - 1) / al * al;
        const int nrg = (int)((n_keys + grain - 1) / grain);
        j.rgrain = grain;
        j.scores = fr_arena_f32(a, (size_t)nth * H * j.blk);
        j.upart = fr_arena_f32(a, (size_t)nrg * H * r);
        j.mst = fr_arena_f32(a, (size_t)nrg * H);
        j.lst = fr_arena_f32(a, (size_t)nrg * H);
        fr_parallel_for(n_keys, grain, dec_attend, &j);
        for (int h = 0; h < H; h++) { /* merge: u_h = sum_g e^(m_g - M) u_g / sum_g e^(m_g - M) l_g */
            float M = -INFINITY, L = 0;
            for (int g = 0; g < nrg; g++) M = j.mst[g * H + h] > M ? j.mst[g * H + h] : M;
            float *uh = j.u + (size_t)h * r;
            memset(uh, 0, (size_t)r * sizeof *uh);
            for (int g = 0; g < nrg; g++) {
                if (j.mst[g * H + h] == -INFINITY) continue; /* no finite score in the range */
                float w = expf(j.mst[g * H + h] - M);
                L += w * j.lst[g * H + h];
                fr_axpy(uh, w, j.upart + ((size_t)g * H + h) * r, r);
            }
            for (int k = 0; k < r; k++) uh[k] /= L;
        }
    } else {
        j.scores = fr_arena_f32(a, (size_t)nth * j.ptb * H * n_keys);
        fr_parallel_for(n, j.ptb, attend_tokens, &j);
    }

    /* values: o[t][h] = W_UV_h u[t][h]   [n][H*dv] */
    float *o = j.o = fr_arena_f32(a, (size_t)n * H * dv);
    if (!m->wv_b.data) j.ov = fr_arena_f32(a, (size_t)n * H * (dn + dv));
    fr_parallel_for(H, 1, expand_v, &j);

    fr_matmul(&m->wo, o, y, n); /* [n][d] */
    fr_arena_restore(a, mk);
}
