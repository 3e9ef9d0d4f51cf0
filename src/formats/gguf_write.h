/* Writing GGUF v3 files: metadata and tensor infos are collected first, then
 * the file is opened, its header written, and tensor data streamed in order. */
#ifndef FR_GGUF_WRITE_H
#define FR_GGUF_WRITE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct fr_gguf_out_tensor {
    char *name;
    uint32_t type; /* ggml type id */
    int n_dims;
    uint64_t ne[4]; /* ggml order */
    uint64_t nbytes, offset;
} fr_gguf_out_tensor;

typedef struct fr_gguf_out {
    uint8_t *kv;   /* encoded metadata records */
    size_t kv_n, kv_cap;
    uint64_t n_kv;
    fr_gguf_out_tensor *t;
    int nt, tcap;
    uint64_t alignment;
    FILE *f;
    char *path;
    int cur;        /* tensor being written */
    uint64_t cur_done;
    int failed;
} fr_gguf_out;

void fr_gguf_out_init(fr_gguf_out *o);
void fr_gguf_out_free(fr_gguf_out *o);

/* metadata (call before fr_gguf_out_open) */
void fr_gguf_out_kv_raw(fr_gguf_out *o, const uint8_t *rec, size_t len); /* a record copied from a GGUF file */
void fr_gguf_out_kv_str(fr_gguf_out *o, const char *key, const char *v);
void fr_gguf_out_kv_u32(fr_gguf_out *o, const char *key, uint32_t v);
void fr_gguf_out_kv_i32(fr_gguf_out *o, const char *key, int32_t v);
void fr_gguf_out_kv_f32(fr_gguf_out *o, const char *key, float v);
void fr_gguf_out_kv_bool(fr_gguf_out *o, const char *key, int v);
void fr_gguf_out_kv_arr_str(fr_gguf_out *o, const char *key, const char *const *v, uint64_t n);
void fr_gguf_out_kv_arr_i32(fr_gguf_out *o, const char *key, const int32_t *v, uint64_t n);
void fr_gguf_out_kv_arr_f32(fr_gguf_out *o, const char *key, const float *v, uint64_t n);

/* A tensor (ne in ggml order); its data is written later, in the order added. */
int fr_gguf_out_tensor_add(fr_gguf_out *o, const char *name, uint32_t ggml_type, int n_dims, const uint64_t *ne);

/* Create the file and write everything up to the data section. */
int fr_gguf_out_open(fr_gguf_out *o, const char *path);
/* Append bytes of the current tensor (a tensor may be written in pieces). */
int fr_gguf_out_write(fr_gguf_out *o, const void *data, size_t n);
/* Check that every tensor was written in full and close; on failure the file is removed. */
int fr_gguf_out_close(fr_gguf_out *o);

#endif
