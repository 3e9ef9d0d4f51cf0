/* A model's named tensors, whatever files they came from.
 *
 * Readers (safetensors directories, GGUF) fill it; model families bind what they
 * need by name and expected shape. Views point into mapped files. */
#ifndef FR_WEIGHTS_H
#define FR_WEIGHTS_H

#include <stdint.h>

#include "tensor/tensor.h"

typedef struct fr_weights {
    int n, cap;
    fr_tensor *t;
    int *slot;      /* open-addressing hash: index into t, -1 = empty; size = nslot */
    int nslot;
    /* resources released with the table */
    void (*release)(void *owner);
    void *owner;
    const char *source; /* path shown in messages */
} fr_weights;

void fr_weights_init(fr_weights *w, const char *source);
void fr_weights_free(fr_weights *w);
/* The name is not copied: it must live as long as the table. */
int fr_weights_add(fr_weights *w, const fr_tensor *t);
const fr_tensor *fr_weights_find(const fr_weights *w, const char *name);

/* Bind a weight the kernels can use: present, of a weight dtype, of shape ne[0..ndim).
 * An FP8 tensor gets its "<name>_scale_inv" block scales attached and checked. */
int fr_weights_bind(const fr_weights *w, const char *name, int ndim, const int64_t *ne, fr_tensor *out);
/* Same, for a tensor that is read as float32 values (norm weights, biases): any
 * float dtype, no FP8. */
int fr_weights_bind_vec(const fr_weights *w, const char *name, int64_t n, fr_tensor *out);

/* fr_weights_bind_vec, then the values copied into a malloc'd float32 array. */
int fr_weights_load_vec(const fr_weights *w, const char *name, int64_t n, float **out);

/* Weight accounting for `frugal info`: parameters (all, and used per token) and
 * bytes (stored, and read to decode one token). */
typedef struct fr_wstats {
    int64_t params, active, bytes, read;
} fr_wstats;
/* a weight every token reads (absent tensors count nothing) */
void fr_wstats_dense(fr_wstats *s, const fr_tensor *t);
/* n float32 values copied at load (norm weights, biases): parameters only */
void fr_wstats_vec(fr_wstats *s, int64_t n);
void fr_wstats_add(fr_wstats *s, const fr_wstats *x);
/* the token embedding (one row read per token) and the output head (all of it
 * read; stored once when it is the embedding itself) */
void fr_wstats_embed_head(fr_wstats *s, const fr_tensor *embed, const fr_tensor *head);

#endif
