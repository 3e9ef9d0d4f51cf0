#include "formats/safetensors.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"

void fr_st_header_free(fr_st_header *h) {
    for (int i = 0; i < h->n; i++) free(h->e[i].name);
    free(h->e);
    memset(h, 0, sizeof *h);
}

static int cmp_begin(const void *a, const void *b) {
    const fr_st_entry *x = *(const fr_st_entry *const *)a, *y = *(const fr_st_entry *const *)b;
    return x->begin < y->begin ? -1 : x->begin > y->begin ? 1 : 0;
}

/* A JSON integer in [0, max], else -1. */
static int64_t json_u64(const json_t *v, int64_t max) {
    if (!json_is_integer(v)) return -1;
    json_int_t x = json_integer_value(v);
    return (x < 0 || x > max) ? -1 : (int64_t)x;
}

static int parse_entry(const char *fname, const char *key, json_t *v, uint64_t header_len, uint64_t data_size,
                       fr_st_entry *e) {
    if (!json_is_object(v)) return fr_err("%s: tensor '%s': header entry is not an object", fname, key);
    json_t *dt = json_object_get(v, "dtype"), *shape = json_object_get(v, "shape"),
           *offs = json_object_get(v, "data_offsets");
    if (!json_is_string(dt)) return fr_err("%s: tensor '%s': missing or non-string 'dtype'", fname, key);
    int d = fr_dtype_from_name(json_string_value(dt));
    if (d < 0) return fr_err("%s: tensor '%s': unknown dtype '%s'", fname, key, json_string_value(dt));
    e->dtype = (fr_dtype)d;
    if (!json_is_array(shape)) return fr_err("%s: tensor '%s': missing 'shape' array", fname, key);
    size_t nd = json_array_size(shape);
    if (nd > FR_MAX_DIMS)
        return fr_err("%s: tensor '%s': %zu dimensions (at most %d supported)", fname, key, nd, FR_MAX_DIMS);
    e->ndim = (int)nd;
    uint64_t nelem = 1;
    for (size_t i = 0; i < nd; i++) {
        int64_t x = json_u64(json_array_get(shape, i), INT64_C(1) << 40);
        if (x < 0) return fr_err("%s: tensor '%s': shape[%zu] is not an integer in [0, 2^40]", fname, key, i);
        e->ne[i] = x;
        if (x != 0 && nelem > (UINT64_MAX >> 4) / (uint64_t)x)
            return fr_err("%s: tensor '%s': shape overflows", fname, key);
        nelem *= (uint64_t)x;
    }
    if (!json_is_array(offs) || json_array_size(offs) != 2)
        return fr_err("%s: tensor '%s': 'data_offsets' must be [begin, end]", fname, key);
    int64_t b = json_u64(json_array_get(offs, 0), INT64_MAX), en = json_u64(json_array_get(offs, 1), INT64_MAX);
    if (b < 0 || en < 0) return fr_err("%s: tensor '%s': data_offsets are not non-negative integers", fname, key);
    if (b > en) return fr_err("%s: tensor '%s': data_offsets begin %lld > end %lld", fname, key, (long long)b, (long long)en);
    if ((uint64_t)en > data_size)
        return fr_err("%s: tensor '%s': data_offsets end %lld past the end of the data (%llu bytes)", fname, key,
                      (long long)en, (unsigned long long)data_size);
    uint64_t want = nelem * (uint64_t)fr_dtype_get(e->dtype)->block_bytes;
    if ((uint64_t)(en - b) != want)
        return fr_err("%s: tensor '%s': %lld bytes in data_offsets, but shape and dtype %s need %llu", fname, key,
                      (long long)(en - b), fr_dtype_get(e->dtype)->name, (unsigned long long)want);
    int al = fr_dtype_get(e->dtype)->block_bytes;
    if ((8 + header_len + (uint64_t)b) % (uint64_t)al != 0)
        return fr_err("%s: tensor '%s': data at file offset %llu is not aligned to its %d-byte elements", fname, key,
                      (unsigned long long)(8 + header_len + (uint64_t)b), al);
    e->begin = (uint64_t)b;
    e->end = (uint64_t)en;
    e->name = strdup(key);
    return e->name ? 0 : fr_err("out of memory");
}

int fr_st_parse(const uint8_t *buf, size_t len, const char *fname, fr_st_header *out) {
    memset(out, 0, sizeof *out);
    if (len < 8) return fr_err("%s: truncated: %zu bytes, a safetensors file starts with an 8-byte header length", fname, len);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = (n << 8) | buf[i];
    if (n > FR_ST_MAX_HEADER)
        return fr_err("%s: header length %llu exceeds the limit of %u bytes", fname, (unsigned long long)n, FR_ST_MAX_HEADER);
    if (n > len - 8)
        return fr_err("%s: header length %llu runs past the end of the file (%zu bytes)", fname, (unsigned long long)n, len);
    json_error_t jerr;
    json_t *root = json_loadb((const char *)buf + 8, (size_t)n, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) return fr_err("%s: header JSON: %s (at byte %d)", fname, jerr.text, jerr.position + 8);
    if (!json_is_object(root)) {
        json_decref(root);
        return fr_err("%s: header JSON is not an object", fname);
    }
    uint64_t data_size = len - 8 - n;
    size_t cap = json_object_size(root);
    out->e = calloc(cap ? cap : 1, sizeof *out->e);
    out->data_off = 8 + (size_t)n;
    if (!out->e) { json_decref(root); return fr_err("out of memory"); }
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
        if (strcmp(key, "__metadata__") == 0) continue;
        if (parse_entry(fname, key, v, n, data_size, &out->e[out->n]) != 0) {
            free(out->e[out->n].name);
            json_decref(root);
            fr_st_header_free(out);
            return -1;
        }
        out->n++;
    }
    json_decref(root);
    /* no two tensors may share bytes */
    fr_st_entry **byb = malloc((size_t)(out->n ? out->n : 1) * sizeof *byb);
    if (!byb) { fr_st_header_free(out); return fr_err("out of memory"); }
    for (int i = 0; i < out->n; i++) byb[i] = &out->e[i];
    qsort(byb, (size_t)out->n, sizeof *byb, cmp_begin);
    const fr_st_entry *prev = NULL;
    for (int i = 0; i < out->n; i++) {
        if (byb[i]->begin == byb[i]->end) continue;
        if (prev && byb[i]->begin < prev->end) {
            int rc = fr_err("%s: tensors '%s' and '%s' overlap (bytes %llu..%llu and %llu..%llu)", fname, prev->name,
                            byb[i]->name, (unsigned long long)prev->begin, (unsigned long long)prev->end,
                            (unsigned long long)byb[i]->begin, (unsigned long long)byb[i]->end);
            free(byb);
            fr_st_header_free(out);
            return rc;
        }
        prev = byb[i];
    }
    free(byb);
    return 0;
}

int fr_st_open(fr_st_file *f, const char *path) { return fr_st_open_mode(f, path, 0); }

/* The data section's offset, 8 + the header's length (its first 8 bytes,
 * little-endian), for the read into memory; 0 where they cannot be read (the
 * parser then says what is wrong). */
static uint64_t data_offset(const char *path) {
    unsigned char b[8];
    FILE *fp = fopen(path, "rb");
    if (!fp) return 0;
    const size_t got = fread(b, 1, 8, fp);
    fclose(fp);
    uint64_t n = 0;
    for (int i = 7; got == 8 && i >= 0; i--) n = n << 8 | b[i];
    return got == 8 ? 8 + n : 0;
}

int fr_st_open_mode(fr_st_file *f, const char *path, int in_memory) {
    memset(f, 0, sizeof *f);
    /* read into memory, the data section starts on a 64-byte boundary, so a
     * tensor a multiple of 64 bytes into it is aligned (all of them in a file
     * whose tensor sizes are multiples of 64, as FP8 and BF16 matrices and most
     * scale grids are), and its decode rows need no join of their lines */
    if (fr_mmap_open_at(&f->map, path, in_memory, in_memory ? data_offset(path) : 0) != 0) return -1;
    if (fr_st_parse(f->map.data, f->map.size, path, &f->h) != 0) {
        fr_mmap_close(&f->map);
        return -1;
    }
    return 0;
}

void fr_st_close(fr_st_file *f) {
    fr_st_header_free(&f->h);
    fr_mmap_close(&f->map);
}

void fr_st_view(const fr_st_file *f, int i, fr_tensor *t) {
    const fr_st_entry *e = &f->h.e[i];
    memset(t, 0, sizeof *t);
    t->name = e->name;
    t->dtype = e->dtype;
    t->ndim = e->ndim;
    for (int d = 0; d < e->ndim; d++) t->ne[d] = e->ne[d];
    if (t->ndim == 0) { /* a scalar is a one-element vector */
        t->ndim = 1;
        t->ne[0] = 1;
    }
    t->data = f->map.data + f->h.data_off + e->begin;
    t->nbytes = (size_t)(e->end - e->begin);
}
