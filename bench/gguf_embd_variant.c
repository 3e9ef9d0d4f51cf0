/* Copy of a GGUF file with token_embd.weight re-encoded, for checking frugal's
 * block decoders against ggml's: llama.cpp looks embeddings up with an exact
 * dequantization (get_rows), so a file whose token_embd is in TYPE and a file
 * whose token_embd is frugal's F32 decoding of those blocks must give
 * bit-identical llama.cpp logits when (and only when) the decoders agree.
 *
 * usage: gguf_embd_variant IN.gguf OUT.gguf TYPE quant|decoded */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "formats/gguf.h"
#include "formats/gguf_write.h"
#include "runtime/gguf_quantize.h"
#include "tensor/ggml_quants.h"

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: gguf_embd_variant IN.gguf OUT.gguf TYPE quant|decoded\n");
        return 2;
    }
    int decoded = !strcmp(argv[4], "decoded");
    fr_dtype ty = (fr_dtype)-1;
    for (int t = 0; t < FR_DT_COUNT; t++)
        if (!strcmp(fr_dtype_get((fr_dtype)t)->name, argv[3]) && fr_dtype_get((fr_dtype)t)->is_weight) ty = (fr_dtype)t;
    fr_gguf g;
    if ((int)ty < 0 || fr_gguf_open(&g, argv[1])) {
        fprintf(stderr, "error: %s\n", (int)ty < 0 ? "unknown type" : fr_err_msg());
        return 1;
    }
    fr_gguf_out o;
    fr_gguf_out_init(&o);
    for (uint64_t i = 0; i < g.n_kv; i++)
        if (strcmp(g.kv[i].key, "general.alignment")) fr_gguf_out_kv_raw(&o, g.buf + g.kv[i].rec_off, (size_t)g.kv[i].rec_len);
    const fr_gguf_tensor *e = fr_gguf_tensor_find(&g, "token_embd.weight");
    if (!e || e->type != 0 || e->ne[0] % (uint64_t)fr_dtype_get(ty)->block) {
        fprintf(stderr, "error: token_embd must be F32 with rows of whole %s blocks\n", argv[3]);
        return 1;
    }
    for (uint64_t i = 0; i < g.n_tensors; i++) {
        const fr_gguf_tensor *t = &g.t[i];
        uint32_t type = t == e && !decoded ? fr_ggml_id(ty) : t->type;
        if (fr_gguf_out_tensor_add(&o, t->name, type, t->n_dims, t->ne)) return 1;
    }
    if (fr_gguf_out_open(&o, argv[2])) return 1;
    size_t cols = (size_t)e->ne[0], qb = fr_dtype_bytes(ty, (int64_t)cols);
    float *x = malloc(cols * 4);
    uint8_t *q = malloc(qb);
    for (uint64_t i = 0; i < g.n_tensors; i++) {
        const fr_gguf_tensor *t = &g.t[i];
        if (t != e) {
            if (fr_gguf_out_write(&o, t->data, (size_t)t->nbytes)) return 1;
            continue;
        }
        for (uint64_t r = 0; r < t->ne[1]; r++) {
            memcpy(x, t->data + r * cols * 4, cols * 4);
            fr_ggml_quantize(ty, x, q, (int64_t)cols);
            if (decoded) {
                fr_tensor v = {.name = "row", .dtype = ty, .ndim = 1, .ne = {(int64_t)cols}, .data = q};
                fr_tensor_row_f32(&v, 0, x);
                if (fr_gguf_out_write(&o, x, cols * 4)) return 1;
            } else if (fr_gguf_out_write(&o, q, qb)) {
                return 1;
            }
        }
    }
    if (fr_gguf_out_close(&o)) {
        fprintf(stderr, "error: %s\n", fr_err_msg());
        return 1;
    }
    fr_gguf_out_free(&o);
    fr_gguf_close(&g);
    free(x);
    free(q);
    return 0;
}
