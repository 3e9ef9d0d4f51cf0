/* safetensors: u64 little-endian header length N, N bytes of JSON, then data.
 * Knows bytes, not models. */
#ifndef FR_SAFETENSORS_H
#define FR_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "base/mmap.h"
#include "tensor/tensor.h"

#define FR_ST_MAX_HEADER (100u << 20) /* 100 MiB, as the reference library */

typedef struct fr_st_entry {
    char *name;
    fr_dtype dtype;
    int ndim;
    int64_t ne[FR_MAX_DIMS];
    uint64_t begin, end; /* relative to the data section */
} fr_st_entry;

typedef struct fr_st_header {
    size_t data_off; /* 8 + N */
    int n;
    fr_st_entry *e;
} fr_st_header;

/* Parse and validate the header of a whole file held in buf[0..len): dtypes,
 * shapes against byte sizes, offsets inside the file, no overlaps. fname is used
 * in messages. */
int fr_st_parse(const uint8_t *buf, size_t len, const char *fname, fr_st_header *out);
void fr_st_header_free(fr_st_header *h);

typedef struct fr_st_file {
    fr_mmap map;
    fr_st_header h;
} fr_st_file;

int fr_st_open(fr_st_file *f, const char *path);
/* in_memory = 1: the file read into memory instead of mapped (fr_mmap_open_mode) */
int fr_st_open_mode(fr_st_file *f, const char *path, int in_memory);
void fr_st_close(fr_st_file *f);
/* The tensor view of entry i (data points into the mapping). */
void fr_st_view(const fr_st_file *f, int i, fr_tensor *t);

#endif
