/* GGUF (llama.cpp / ggml model files), versions 2 and 3. Knows bytes, not models.
 *
 * Layout (little-endian):
 *   "GGUF" u32 version  u64 n_tensors  u64 n_kv
 *   n_kv x   { string key; u32 type; value }
 *   n_tensors x { string name; u32 n_dims; u64 ne[n_dims]; u32 ggml_type; u64 offset }
 *   padding to general.alignment (default 32)
 *   data section: tensor i at data_offset + offset_i (a multiple of the alignment)
 * string = u64 length + bytes (no NUL); array = u32 element type, u64 count, elements.
 * ne is in ggml order: ne[0] is the contiguous (innermost) dimension. */
#ifndef FR_GGUF_H
#define FR_GGUF_H

#include <stddef.h>
#include <stdint.h>

#include "base/mmap.h"

enum {
    FR_GGUF_U8 = 0, FR_GGUF_I8 = 1, FR_GGUF_U16 = 2, FR_GGUF_I16 = 3, FR_GGUF_U32 = 4, FR_GGUF_I32 = 5,
    FR_GGUF_F32 = 6, FR_GGUF_BOOL = 7, FR_GGUF_STRING = 8, FR_GGUF_ARRAY = 9, FR_GGUF_U64 = 10,
    FR_GGUF_I64 = 11, FR_GGUF_F64 = 12, FR_GGUF_NTYPES
};

#define FR_GGUF_DEFAULT_ALIGNMENT 32
#define FR_GGUF_MAX_DIMS 4

typedef struct fr_gguf_kv {
    const char *key;     /* NUL-terminated copy */
    uint32_t type;       /* FR_GGUF_* */
    /* scalars: the value, widened */
    union {
        uint64_t u;
        int64_t i;
        double f;
    } v;
    /* strings: bytes in the buffer (not NUL-terminated) */
    const char *str;
    uint64_t str_len;
    /* arrays */
    uint32_t arr_type;   /* element type (never ARRAY) */
    uint64_t arr_n;
    const uint8_t *arr;  /* first element in the buffer */
    uint64_t *arr_str;   /* string arrays: byte offset of each element from arr (owned) */
    uint64_t rec_off, rec_len; /* the whole encoded record (key, type, value) in the buffer */
} fr_gguf_kv;

typedef struct fr_gguf_tensor {
    const char *name;    /* NUL-terminated copy */
    uint32_t type;       /* ggml type id */
    int n_dims;
    uint64_t ne[FR_GGUF_MAX_DIMS]; /* ggml order; unused dims are 1 */
    uint64_t offset;     /* relative to the data section */
    uint64_t nbytes;
    const uint8_t *data; /* into the buffer */
} fr_gguf_tensor;

typedef struct fr_gguf {
    uint32_t version;
    uint64_t n_kv, n_tensors;
    fr_gguf_kv *kv;
    fr_gguf_tensor *t;
    uint64_t alignment;
    uint64_t data_offset;
    const uint8_t *buf;
    size_t size;
    char *pool;          /* keys and names */
    fr_mmap map;         /* when opened from a file */
    char *path;
} fr_gguf;

/* ggml type table: name, elements per block, bytes per block; NULL name when the id is unknown. */
typedef struct fr_ggml_type_info {
    const char *name;
    int block, block_bytes;
} fr_ggml_type_info;
const fr_ggml_type_info *fr_ggml_type(uint32_t type);

/* Parse and validate a whole file held in buf[0..size) (not copied: views point into it). */
int fr_gguf_parse(fr_gguf *g, const uint8_t *buf, size_t size, const char *path);
/* Map a file and parse it. */
int fr_gguf_open(fr_gguf *g, const char *path);
/* The same, or with in_memory = 1 the file read into memory (fr_mmap_open_mode). */
int fr_gguf_open_mode(fr_gguf *g, const char *path, int in_memory);
void fr_gguf_close(fr_gguf *g);
/* 1 when the file at path starts with the GGUF magic. */
int fr_gguf_sniff(const char *path);

const fr_gguf_kv *fr_gguf_kv_find(const fr_gguf *g, const char *key);
const fr_gguf_tensor *fr_gguf_tensor_find(const fr_gguf *g, const char *name);
/* String element i of a string array. */
void fr_gguf_arr_str(const fr_gguf_kv *kv, uint64_t i, const char **s, uint64_t *len);
/* Array element i as a number (integer/float/bool arrays). */
double fr_gguf_arr_num(const fr_gguf_kv *kv, uint64_t i);

/* Typed getters: 1 when the key is missing (out untouched), 0 when read, -1 on a
 * type or range error (message names the key). Integers accept any integer type. */
int fr_gguf_get_int(const fr_gguf *g, const char *key, int64_t lo, int64_t hi, int64_t *out);
int fr_gguf_get_num(const fr_gguf *g, const char *key, double *out); /* ints and floats */
int fr_gguf_get_bool(const fr_gguf *g, const char *key, int *out);
/* NUL-terminated malloc'd copy */
int fr_gguf_get_str(const fr_gguf *g, const char *key, char **out);

const char *fr_gguf_type_name(uint32_t kv_type);

#endif
