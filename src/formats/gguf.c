#include "formats/gguf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"

/* ---- ggml types ---------------------------------------------------------- */

static const fr_ggml_type_info g_ggml[] = {
    [0] = {"F32", 1, 4},        [1] = {"F16", 1, 2},        [2] = {"Q4_0", 32, 18},
    [3] = {"Q4_1", 32, 20},     [6] = {"Q5_0", 32, 22},     [7] = {"Q5_1", 32, 24},
    [8] = {"Q8_0", 32, 34},     [9] = {"Q8_1", 32, 36},     [10] = {"Q2_K", 256, 84},
    [11] = {"Q3_K", 256, 110},  [12] = {"Q4_K", 256, 144},  [13] = {"Q5_K", 256, 176},
    [14] = {"Q6_K", 256, 210},  [15] = {"Q8_K", 256, 292},  [16] = {"IQ2_XXS", 256, 66},
    [17] = {"IQ2_XS", 256, 74}, [18] = {"IQ3_XXS", 256, 98}, [19] = {"IQ1_S", 256, 50},
    [20] = {"IQ4_NL", 32, 18},  [21] = {"IQ3_S", 256, 110}, [22] = {"IQ2_S", 256, 82},
    [23] = {"IQ4_XS", 256, 136}, [24] = {"I8", 1, 1},       [25] = {"I16", 1, 2},
    [26] = {"I32", 1, 4},       [27] = {"I64", 1, 8},       [28] = {"F64", 1, 8},
    [29] = {"IQ1_M", 256, 56},  [30] = {"BF16", 1, 2},      [34] = {"TQ1_0", 256, 54},
    [35] = {"TQ2_0", 256, 66},  [39] = {"MXFP4", 32, 17},
};

const fr_ggml_type_info *fr_ggml_type(uint32_t type) {
    if (type >= sizeof g_ggml / sizeof *g_ggml || !g_ggml[type].name) return NULL;
    return &g_ggml[type];
}

static const char *const g_kv_names[FR_GGUF_NTYPES] = {
    "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64", "f64",
};
static const int g_kv_size[FR_GGUF_NTYPES] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

const char *fr_gguf_type_name(uint32_t t) { return t < FR_GGUF_NTYPES ? g_kv_names[t] : "unknown"; }

/* ---- bounded reader ------------------------------------------------------ */

typedef struct rd {
    const uint8_t *b;
    size_t n, pos;
    const char *path;
} rd;

static uint64_t le(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static int need(rd *r, uint64_t k, const char *what) {
    if (k > r->n - r->pos)
        return fr_err("%s: %s at offset %zu needs %llu bytes, but the file ends at %zu", r->path, what, r->pos,
                      (unsigned long long)k, r->n);
    return 0;
}

static int get_u(rd *r, int bytes, uint64_t *v, const char *what) {
    if (need(r, (uint64_t)bytes, what)) return -1;
    *v = le(r->b + r->pos, bytes);
    r->pos += (size_t)bytes;
    return 0;
}

/* string: u64 length + bytes; returns a view */
static int get_str(rd *r, const char **s, uint64_t *len, const char *what) {
    size_t at = r->pos;
    if (get_u(r, 8, len, what)) return -1;
    if (*len > r->n - r->pos)
        return fr_err("%s: %s at offset %zu has length %llu, past the end of the file (%zu bytes)", r->path, what, at,
                      (unsigned long long)*len, r->n);
    *s = (const char *)r->b + r->pos;
    r->pos += (size_t)*len;
    return 0;
}

/* ---- pool of NUL-terminated names ---------------------------------------- */

typedef struct pool {
    char *p;
    size_t n, cap;
} pool;

/* returns the offset of the copy, or (size_t)-1 */
static size_t pool_add(pool *pl, const char *s, uint64_t len) {
    if (pl->n + len + 1 > pl->cap) {
        size_t cap = pl->cap ? pl->cap : 4096;
        while (pl->n + len + 1 > cap) cap *= 2;
        char *np = realloc(pl->p, cap);
        if (!np) return (size_t)-1;
        pl->p = np;
        pl->cap = cap;
    }
    size_t at = pl->n;
    memcpy(pl->p + at, s, (size_t)len);
    pl->p[at + len] = 0;
    pl->n += (size_t)len + 1;
    return at;
}

/* ---- parsing ------------------------------------------------------------- */

static int read_scalar(rd *r, uint32_t t, fr_gguf_kv *kv, const char *key) {
    uint64_t u;
    if (get_u(r, g_kv_size[t], &u, key)) return -1;
    switch (t) {
    case FR_GGUF_I8: kv->v.i = (int8_t)(uint8_t)u; break;
    case FR_GGUF_I16: kv->v.i = (int16_t)(uint16_t)u; break;
    case FR_GGUF_I32: kv->v.i = (int32_t)(uint32_t)u; break;
    case FR_GGUF_I64: memcpy(&kv->v.i, &u, 8); break;
    case FR_GGUF_F32: {
        uint32_t w = (uint32_t)u;
        float f;
        memcpy(&f, &w, 4);
        kv->v.f = f;
        break;
    }
    case FR_GGUF_F64: memcpy(&kv->v.f, &u, 8); break;
    default: kv->v.u = u; break;
    }
    return 0;
}

static int read_value(rd *r, fr_gguf_kv *kv) {
    uint32_t t = kv->type;
    if (t == FR_GGUF_STRING) return get_str(r, &kv->str, &kv->str_len, kv->key);
    if (t != FR_GGUF_ARRAY) return read_scalar(r, t, kv, kv->key);
    uint64_t et, n;
    size_t at = r->pos;
    if (get_u(r, 4, &et, kv->key) || get_u(r, 8, &n, kv->key)) return -1;
    if (et >= FR_GGUF_NTYPES)
        return fr_err("%s: key '%s' at offset %zu: array of unknown type %llu", r->path, kv->key, at, (unsigned long long)et);
    if (et == FR_GGUF_ARRAY)
        return fr_err("%s: key '%s' at offset %zu: nested arrays are not supported", r->path, kv->key, at);
    kv->arr_type = (uint32_t)et;
    kv->arr_n = n;
    kv->arr = r->b + r->pos;
    if (et != FR_GGUF_STRING) {
        uint64_t es = (uint64_t)g_kv_size[et];
        if (n > (r->n - r->pos) / es)
            return fr_err("%s: key '%s' at offset %zu: array of %llu %s elements runs past the end of the file", r->path,
                          kv->key, at, (unsigned long long)n, g_kv_names[et]);
        r->pos += (size_t)(n * es);
        return 0;
    }
    /* every string takes at least its 8-byte length */
    if (n > (r->n - r->pos) / 8)
        return fr_err("%s: key '%s' at offset %zu: array of %llu strings runs past the end of the file", r->path, kv->key,
                      at, (unsigned long long)n);
    kv->arr_str = malloc((size_t)(n ? n : 1) * sizeof *kv->arr_str);
    if (!kv->arr_str) return fr_err("out of memory");
    for (uint64_t i = 0; i < n; i++) {
        const char *s;
        uint64_t len;
        kv->arr_str[i] = (uint64_t)(r->pos - (size_t)(kv->arr - r->b));
        if (get_str(r, &s, &len, kv->key)) return fr_err_prefix("element %llu", (unsigned long long)i);
    }
    return 0;
}

typedef struct span {
    const char *name;
    uint64_t off, nbytes;
} span;

static int by_name(const void *a, const void *b) { return strcmp(((const span *)a)->name, ((const span *)b)->name); }
static int by_offset(const void *a, const void *b) {
    const span *x = a, *y = b;
    return x->off < y->off ? -1 : x->off > y->off;
}

/* unique keys, unique tensor names, no overlapping tensor data */
static int check_unique(fr_gguf *g) {
    uint64_t n = g->n_kv > g->n_tensors ? g->n_kv : g->n_tensors;
    span *s = malloc((size_t)(n ? n : 1) * sizeof *s);
    if (!s) return fr_err("out of memory");
    int rc = 0;
    for (uint64_t i = 0; i < g->n_kv; i++) s[i] = (span){g->kv[i].key, 0, 0};
    qsort(s, (size_t)g->n_kv, sizeof *s, by_name);
    for (uint64_t i = 1; i < g->n_kv && !rc; i++)
        if (!strcmp(s[i].name, s[i - 1].name)) rc = fr_err("%s: metadata key '%s' appears twice", g->path, s[i].name);
    for (uint64_t i = 0; i < g->n_tensors; i++) s[i] = (span){g->t[i].name, g->t[i].offset, g->t[i].nbytes};
    if (!rc) {
        qsort(s, (size_t)g->n_tensors, sizeof *s, by_name);
        for (uint64_t i = 1; i < g->n_tensors && !rc; i++)
            if (!strcmp(s[i].name, s[i - 1].name)) rc = fr_err("%s: tensor '%s' appears twice", g->path, s[i].name);
    }
    if (!rc) {
        qsort(s, (size_t)g->n_tensors, sizeof *s, by_offset);
        const span *last = NULL; /* the non-empty tensor reaching furthest so far */
        for (uint64_t i = 0; i < g->n_tensors && !rc; i++) {
            const span *y = &s[i];
            if (!y->nbytes) continue;
            if (last && last->off + last->nbytes > y->off)
                rc = fr_err("%s: tensor '%s' (data offset %llu, %llu bytes) overlaps tensor '%s' (data offset %llu)",
                            g->path, last->name, (unsigned long long)last->off, (unsigned long long)last->nbytes,
                            y->name, (unsigned long long)y->off);
            if (!last || y->off + y->nbytes > last->off + last->nbytes) last = y;
        }
    }
    free(s);
    return rc;
}

int fr_gguf_parse(fr_gguf *g, const uint8_t *buf, size_t size, const char *path) {
    memset(g, 0, sizeof *g);
    g->buf = buf;
    g->size = size;
    g->path = strdup(path ? path : "<buffer>");
    if (!g->path) return fr_err("out of memory");
    rd r = {buf, size, 0, g->path};
    pool pl = {0};
    uint64_t v;
    int rc = -1;
    size_t *kname = NULL, *tname = NULL;

    if (size < 4 || memcmp(buf, "GGUF", 4) != 0) {
        fr_err("%s: not a GGUF file (bad magic at offset 0)", g->path);
        goto out;
    }
    r.pos = 4;
    if (get_u(&r, 4, &v, "version")) goto out;
    g->version = (uint32_t)v;
    if (v != 2 && v != 3) {
        if (v == 1) fr_err("%s: GGUF version 1 is not supported (only 2 and 3)", g->path);
        else if (v >= 0x01000000u) fr_err("%s: GGUF version %llu: a big-endian file? only little-endian v2/v3 are supported", g->path, (unsigned long long)v);
        else fr_err("%s: unsupported GGUF version %llu at offset 4 (only 2 and 3)", g->path, (unsigned long long)v);
        goto out;
    }
    if (get_u(&r, 8, &g->n_tensors, "tensor count") || get_u(&r, 8, &g->n_kv, "metadata count")) goto out;
    /* each KV takes at least 8 (key length) + 4 (type) + 1 bytes; each tensor info 8 + 4 + 4 + 8 */
    if (g->n_kv > (size - r.pos) / 13) {
        fr_err("%s: metadata count %llu at offset 16 is impossible for a file of %zu bytes", g->path,
               (unsigned long long)g->n_kv, size);
        goto out;
    }
    if (g->n_tensors > (size - r.pos) / 24) {
        fr_err("%s: tensor count %llu at offset 8 is impossible for a file of %zu bytes", g->path,
               (unsigned long long)g->n_tensors, size);
        goto out;
    }
    g->kv = calloc((size_t)(g->n_kv ? g->n_kv : 1), sizeof *g->kv);
    g->t = calloc((size_t)(g->n_tensors ? g->n_tensors : 1), sizeof *g->t);
    kname = calloc((size_t)(g->n_kv ? g->n_kv : 1), sizeof *kname);
    tname = calloc((size_t)(g->n_tensors ? g->n_tensors : 1), sizeof *tname);
    if (!g->kv || !g->t || !kname || !tname) {
        fr_err("out of memory");
        goto out;
    }

    /* metadata */
    g->alignment = FR_GGUF_DEFAULT_ALIGNMENT;
    for (uint64_t i = 0; i < g->n_kv; i++) {
        fr_gguf_kv *kv = &g->kv[i];
        const char *s;
        uint64_t len, t;
        size_t at = r.pos;
        kv->rec_off = at;
        if (get_str(&r, &s, &len, "metadata key")) goto out;
        if (len == 0 || len > 65535) {
            fr_err("%s: metadata key at offset %zu has length %llu (1..65535 allowed)", g->path, at, (unsigned long long)len);
            goto out;
        }
        if ((kname[i] = pool_add(&pl, s, len)) == (size_t)-1) {
            fr_err("out of memory");
            goto out;
        }
        kv->key = pl.p + kname[i]; /* provisional: the pool may move; fixed below */
        if (memchr(s, 0, (size_t)len)) {
            fr_err("%s: metadata key at offset %zu contains a NUL byte", g->path, at);
            goto out;
        }
        at = r.pos;
        if (get_u(&r, 4, &t, "metadata type")) goto out;
        if (t >= FR_GGUF_NTYPES) {
            fr_err("%s: key '%s' at offset %zu has unknown value type %llu", g->path, pl.p + kname[i], at,
                   (unsigned long long)t);
            goto out;
        }
        kv->type = (uint32_t)t;
        kv->key = pl.p + kname[i];
        if (read_value(&r, kv)) goto out;
        kv->rec_len = r.pos - kv->rec_off;
        if (!strcmp(pl.p + kname[i], "general.alignment")) {
            if (kv->type != FR_GGUF_U32 && kv->type != FR_GGUF_I32 && kv->type != FR_GGUF_U64) {
                fr_err("%s: key 'general.alignment' has type %s, expected u32", g->path, g_kv_names[kv->type]);
                goto out;
            }
            uint64_t a = kv->v.u;
            if (a == 0 || (a & (a - 1)) || a > (1u << 30)) {
                fr_err("%s: key 'general.alignment' = %llu is not a power of two", g->path, (unsigned long long)a);
                goto out;
            }
            g->alignment = a;
        }
    }

    /* tensor infos */
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        fr_gguf_tensor *t = &g->t[i];
        const char *s;
        uint64_t len, nd, ty;
        size_t at = r.pos;
        if (get_str(&r, &s, &len, "tensor name")) goto out;
        if (len == 0 || len > 4096 || memchr(s, 0, (size_t)len)) {
            fr_err("%s: tensor name at offset %zu is empty, too long or contains a NUL byte", g->path, at);
            goto out;
        }
        if ((tname[i] = pool_add(&pl, s, len)) == (size_t)-1) {
            fr_err("out of memory");
            goto out;
        }
        const char *nm = pl.p + tname[i];
        at = r.pos;
        if (get_u(&r, 4, &nd, nm)) goto out;
        if (nd < 1 || nd > FR_GGUF_MAX_DIMS) {
            fr_err("%s: tensor '%s' at offset %zu has %llu dimensions (1..%d allowed)", g->path, nm, at,
                   (unsigned long long)nd, FR_GGUF_MAX_DIMS);
            goto out;
        }
        t->n_dims = (int)nd;
        uint64_t nel = 1;
        for (int d = 0; d < FR_GGUF_MAX_DIMS; d++) t->ne[d] = 1;
        for (int d = 0; d < (int)nd; d++) {
            if (get_u(&r, 8, &t->ne[d], nm)) goto out;
            if (t->ne[d] > (uint64_t)INT64_MAX || (t->ne[d] && nel > (uint64_t)INT64_MAX / t->ne[d])) {
                fr_err("%s: tensor '%s': dimensions overflow (ne[%d] = %llu)", g->path, nm, d, (unsigned long long)t->ne[d]);
                goto out;
            }
            nel *= t->ne[d];
        }
        at = r.pos;
        if (get_u(&r, 4, &ty, nm) || get_u(&r, 8, &t->offset, nm)) goto out;
        const fr_ggml_type_info *ti = ty <= UINT32_MAX ? fr_ggml_type((uint32_t)ty) : NULL;
        if (!ti) {
            fr_err("%s: tensor '%s' at offset %zu has unknown ggml type %llu", g->path, nm, at, (unsigned long long)ty);
            goto out;
        }
        t->type = (uint32_t)ty;
        if (t->ne[0] % (uint64_t)ti->block) {
            fr_err("%s: tensor '%s' of type %s has rows of %llu elements, not a multiple of the block size %d", g->path,
                   nm, ti->name, (unsigned long long)t->ne[0], ti->block);
            goto out;
        }
        uint64_t blocks = nel / (uint64_t)ti->block;
        if (blocks > UINT64_MAX / (uint64_t)ti->block_bytes || blocks * (uint64_t)ti->block_bytes > (uint64_t)INT64_MAX) {
            fr_err("%s: tensor '%s': byte size overflows", g->path, nm);
            goto out;
        }
        t->nbytes = blocks * (uint64_t)ti->block_bytes;
        if (t->offset % g->alignment) {
            fr_err("%s: tensor '%s' data offset %llu is not a multiple of the alignment %llu", g->path, nm,
                   (unsigned long long)t->offset, (unsigned long long)g->alignment);
            goto out;
        }
    }

    /* data section */
    uint64_t pad = (g->alignment - r.pos % g->alignment) % g->alignment;
    g->data_offset = (uint64_t)r.pos + pad;
    if (g->n_tensors && g->data_offset > size) {
        fr_err("%s: data section at offset %llu starts past the end of the file (%zu bytes)", g->path,
               (unsigned long long)g->data_offset, size);
        goto out;
    }
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        fr_gguf_tensor *t = &g->t[i];
        uint64_t room = size - g->data_offset;
        if (t->offset > room || t->nbytes > room - t->offset) {
            fr_err("%s: tensor '%s' data (offset %llu + %llu bytes) runs past the end of the file (%zu bytes)", g->path,
                   pl.p + tname[i], (unsigned long long)(g->data_offset + t->offset), (unsigned long long)t->nbytes, size);
            goto out;
        }
        t->data = buf + g->data_offset + t->offset;
    }
    /* names now that the pool no longer moves */
    g->pool = pl.p;
    pl.p = NULL;
    for (uint64_t i = 0; i < g->n_kv; i++) g->kv[i].key = g->pool + kname[i];
    for (uint64_t i = 0; i < g->n_tensors; i++) g->t[i].name = g->pool + tname[i];
    rc = check_unique(g);
out:
    if (pl.p) {
        /* keys point into the pool: keep it owned so close() frees it */
        g->pool = pl.p;
        for (uint64_t i = 0; g->kv && i < g->n_kv; i++) g->kv[i].key = NULL;
        for (uint64_t i = 0; g->t && i < g->n_tensors; i++) g->t[i].name = NULL;
    }
    free(kname);
    free(tname);
    if (rc) fr_gguf_close(g);
    return rc;
}

int fr_gguf_open(fr_gguf *g, const char *path) { return fr_gguf_open_mode(g, path, 0); }

int fr_gguf_open_mode(fr_gguf *g, const char *path, int in_memory) {
    fr_mmap m;
    memset(g, 0, sizeof *g);
    if (fr_mmap_open_mode(&m, path, in_memory)) return -1;
    if (fr_gguf_parse(g, m.data, m.size, path)) {
        fr_mmap_close(&m);
        return -1;
    }
    g->map = m;
    return 0;
}

void fr_gguf_close(fr_gguf *g) {
    if (g->kv)
        for (uint64_t i = 0; i < g->n_kv; i++) free(g->kv[i].arr_str);
    free(g->kv);
    free(g->t);
    free(g->pool);
    free(g->path);
    if (g->map.data || g->map.path) fr_mmap_close(&g->map);
    memset(g, 0, sizeof *g);
}

int fr_gguf_sniff(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    char m[4];
    int ok = fread(m, 1, 4, f) == 4 && memcmp(m, "GGUF", 4) == 0;
    fclose(f);
    return ok;
}

/* ---- lookups ------------------------------------------------------------- */

const fr_gguf_kv *fr_gguf_kv_find(const fr_gguf *g, const char *key) {
    for (uint64_t i = 0; i < g->n_kv; i++)
        if (!strcmp(g->kv[i].key, key)) return &g->kv[i];
    return NULL;
}

const fr_gguf_tensor *fr_gguf_tensor_find(const fr_gguf *g, const char *name) {
    for (uint64_t i = 0; i < g->n_tensors; i++)
        if (!strcmp(g->t[i].name, name)) return &g->t[i];
    return NULL;
}

void fr_gguf_arr_str(const fr_gguf_kv *kv, uint64_t i, const char **s, uint64_t *len) {
    const uint8_t *p = kv->arr + kv->arr_str[i];
    *len = le(p, 8);
    *s = (const char *)p + 8;
}

double fr_gguf_arr_num(const fr_gguf_kv *kv, uint64_t i) {
    int es = g_kv_size[kv->arr_type];
    uint64_t u = le(kv->arr + i * (uint64_t)es, es);
    switch (kv->arr_type) {
    case FR_GGUF_I8: return (int8_t)(uint8_t)u;
    case FR_GGUF_I16: return (int16_t)(uint16_t)u;
    case FR_GGUF_I32: return (int32_t)(uint32_t)u;
    case FR_GGUF_I64: {
        int64_t x;
        memcpy(&x, &u, 8);
        return (double)x;
    }
    case FR_GGUF_F32: {
        uint32_t w = (uint32_t)u;
        float f;
        memcpy(&f, &w, 4);
        return f;
    }
    case FR_GGUF_F64: {
        double d;
        memcpy(&d, &u, 8);
        return d;
    }
    default: return (double)u;
    }
}

static int is_signed(uint32_t t) { return t == FR_GGUF_I8 || t == FR_GGUF_I16 || t == FR_GGUF_I32 || t == FR_GGUF_I64; }
static int is_unsigned(uint32_t t) { return t == FR_GGUF_U8 || t == FR_GGUF_U16 || t == FR_GGUF_U32 || t == FR_GGUF_U64; }

int fr_gguf_get_int(const fr_gguf *g, const char *key, int64_t lo, int64_t hi, int64_t *out) {
    const fr_gguf_kv *kv = fr_gguf_kv_find(g, key);
    if (!kv) return 1;
    int64_t x;
    if (is_signed(kv->type)) x = kv->v.i;
    else if (is_unsigned(kv->type)) {
        if (kv->v.u > (uint64_t)INT64_MAX) return fr_err("%s: key '%s' = %llu is out of range", g->path, key, (unsigned long long)kv->v.u);
        x = (int64_t)kv->v.u;
    } else
        return fr_err("%s: key '%s' has type %s, expected an integer", g->path, key, fr_gguf_type_name(kv->type));
    if (x < lo || x > hi)
        return fr_err("%s: key '%s' = %lld is out of range [%lld, %lld]", g->path, key, (long long)x, (long long)lo, (long long)hi);
    *out = x;
    return 0;
}

int fr_gguf_get_num(const fr_gguf *g, const char *key, double *out) {
    const fr_gguf_kv *kv = fr_gguf_kv_find(g, key);
    if (!kv) return 1;
    if (kv->type == FR_GGUF_F32 || kv->type == FR_GGUF_F64) *out = kv->v.f;
    else if (is_signed(kv->type)) *out = (double)kv->v.i;
    else if (is_unsigned(kv->type)) *out = (double)kv->v.u;
    else return fr_err("%s: key '%s' has type %s, expected a number", g->path, key, fr_gguf_type_name(kv->type));
    return 0;
}

int fr_gguf_get_bool(const fr_gguf *g, const char *key, int *out) {
    const fr_gguf_kv *kv = fr_gguf_kv_find(g, key);
    if (!kv) return 1;
    if (kv->type != FR_GGUF_BOOL && !is_unsigned(kv->type) && !is_signed(kv->type))
        return fr_err("%s: key '%s' has type %s, expected bool", g->path, key, fr_gguf_type_name(kv->type));
    *out = kv->v.u != 0;
    return 0;
}

int fr_gguf_get_str(const fr_gguf *g, const char *key, char **out) {
    const fr_gguf_kv *kv = fr_gguf_kv_find(g, key);
    if (!kv) return 1;
    if (kv->type != FR_GGUF_STRING)
        return fr_err("%s: key '%s' has type %s, expected string", g->path, key, fr_gguf_type_name(kv->type));
    *out = malloc((size_t)kv->str_len + 1);
    if (!*out) return fr_err("out of memory");
    memcpy(*out, kv->str, (size_t)kv->str_len);
    (*out)[kv->str_len] = 0;
    return 0;
}
