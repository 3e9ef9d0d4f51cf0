#include "formats/gguf_write.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "formats/gguf.h"

void fr_gguf_out_init(fr_gguf_out *o) {
    memset(o, 0, sizeof *o);
    o->alignment = FR_GGUF_DEFAULT_ALIGNMENT;
}

void fr_gguf_out_free(fr_gguf_out *o) {
    for (int i = 0; i < o->nt; i++) free(o->t[i].name);
    free(o->t);
    free(o->kv);
    if (o->f) {
        fclose(o->f);
        if (o->path) remove(o->path);
    }
    free(o->path);
    memset(o, 0, sizeof *o);
}

static void put(fr_gguf_out *o, const void *p, size_t n) {
    if (o->kv_n + n > o->kv_cap) {
        size_t cap = o->kv_cap ? o->kv_cap : 4096;
        while (o->kv_n + n > cap) cap *= 2;
        uint8_t *nb = realloc(o->kv, cap);
        if (!nb) {
            o->failed = 1;
            return;
        }
        o->kv = nb;
        o->kv_cap = cap;
    }
    memcpy(o->kv + o->kv_n, p, n);
    o->kv_n += n;
}
static void put_u(fr_gguf_out *o, uint64_t v, int n) {
    uint8_t b[8];
    for (int i = 0; i < n; i++) b[i] = (uint8_t)(v >> (8 * i));
    put(o, b, (size_t)n);
}
static void put_str(fr_gguf_out *o, const char *s) {
    size_t n = strlen(s);
    put_u(o, n, 8);
    put(o, s, n);
}
static void key(fr_gguf_out *o, const char *k, uint32_t type) {
    put_str(o, k);
    put_u(o, type, 4);
    o->n_kv++;
}
static uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

void fr_gguf_out_kv_raw(fr_gguf_out *o, const uint8_t *rec, size_t len) {
    put(o, rec, len);
    o->n_kv++;
}
void fr_gguf_out_kv_str(fr_gguf_out *o, const char *k, const char *v) { key(o, k, FR_GGUF_STRING), put_str(o, v); }
void fr_gguf_out_kv_u32(fr_gguf_out *o, const char *k, uint32_t v) { key(o, k, FR_GGUF_U32), put_u(o, v, 4); }
void fr_gguf_out_kv_i32(fr_gguf_out *o, const char *k, int32_t v) { key(o, k, FR_GGUF_I32), put_u(o, (uint32_t)v, 4); }
void fr_gguf_out_kv_f32(fr_gguf_out *o, const char *k, float v) { key(o, k, FR_GGUF_F32), put_u(o, f32_bits(v), 4); }
void fr_gguf_out_kv_bool(fr_gguf_out *o, const char *k, int v) { key(o, k, FR_GGUF_BOOL), put_u(o, v ? 1 : 0, 1); }
void fr_gguf_out_kv_arr_str(fr_gguf_out *o, const char *k, const char *const *v, uint64_t n) {
    key(o, k, FR_GGUF_ARRAY);
    put_u(o, FR_GGUF_STRING, 4);
    put_u(o, n, 8);
    for (uint64_t i = 0; i < n; i++) put_str(o, v[i]);
}
void fr_gguf_out_kv_arr_i32(fr_gguf_out *o, const char *k, const int32_t *v, uint64_t n) {
    key(o, k, FR_GGUF_ARRAY);
    put_u(o, FR_GGUF_I32, 4);
    put_u(o, n, 8);
    for (uint64_t i = 0; i < n; i++) put_u(o, (uint32_t)v[i], 4);
}
void fr_gguf_out_kv_arr_f32(fr_gguf_out *o, const char *k, const float *v, uint64_t n) {
    key(o, k, FR_GGUF_ARRAY);
    put_u(o, FR_GGUF_F32, 4);
    put_u(o, n, 8);
    for (uint64_t i = 0; i < n; i++) put_u(o, f32_bits(v[i]), 4);
}

int fr_gguf_out_tensor_add(fr_gguf_out *o, const char *name, uint32_t type, int n_dims, const uint64_t *ne) {
    const fr_ggml_type_info *ti = fr_ggml_type(type);
    if (!ti) return fr_err("tensor '%s': unknown ggml type %u", name, type);
    if (n_dims < 1 || n_dims > 4) return fr_err("tensor '%s': %d dimensions", name, n_dims);
    if (ne[0] % (uint64_t)ti->block)
        return fr_err("tensor '%s': rows of %llu are not a multiple of the %s block (%d)", name,
                      (unsigned long long)ne[0], ti->name, ti->block);
    if (o->nt == o->tcap) {
        int cap = o->tcap ? 2 * o->tcap : 256;
        fr_gguf_out_tensor *nt = realloc(o->t, (size_t)cap * sizeof *nt);
        if (!nt) return fr_err("out of memory");
        o->t = nt;
        o->tcap = cap;
    }
    fr_gguf_out_tensor *t = &o->t[o->nt];
    memset(t, 0, sizeof *t);
    t->name = strdup(name);
    if (!t->name) return fr_err("out of memory");
    t->type = type;
    t->n_dims = n_dims;
    uint64_t nel = 1;
    for (int i = 0; i < 4; i++) t->ne[i] = i < n_dims ? ne[i] : 1, nel *= t->ne[i];
    t->nbytes = nel / (uint64_t)ti->block * (uint64_t)ti->block_bytes;
    uint64_t off = 0;
    if (o->nt > 0) {
        const fr_gguf_out_tensor *p = &o->t[o->nt - 1];
        off = p->offset + p->nbytes;
        off = (off + o->alignment - 1) / o->alignment * o->alignment;
    }
    t->offset = off;
    o->nt++;
    return 0;
}

static int wr(fr_gguf_out *o, const void *p, size_t n) {
    if (n && fwrite(p, 1, n, o->f) != n) return fr_err("%s: write failed: %s", o->path, strerror(errno));
    return 0;
}
static int wr_u(fr_gguf_out *o, uint64_t v, int n) {
    uint8_t b[8];
    for (int i = 0; i < n; i++) b[i] = (uint8_t)(v >> (8 * i));
    return wr(o, b, (size_t)n);
}
static int pad(fr_gguf_out *o, uint64_t pos) {
    static const uint8_t z[64];
    uint64_t k = (o->alignment - pos % o->alignment) % o->alignment;
    while (k > 0) {
        size_t c = k > sizeof z ? sizeof z : (size_t)k;
        if (wr(o, z, c)) return -1;
        k -= c;
    }
    return 0;
}

int fr_gguf_out_open(fr_gguf_out *o, const char *path) {
    if (o->failed) return fr_err("out of memory");
    o->path = strdup(path);
    o->f = fopen(path, "wb");
    if (!o->f) return fr_err("%s: cannot create: %s", path, strerror(errno));
    uint64_t pos = 24 + o->kv_n;
    if (wr(o, "GGUF", 4) || wr_u(o, 3, 4) || wr_u(o, (uint64_t)o->nt, 8) || wr_u(o, o->n_kv, 8) || wr(o, o->kv, o->kv_n))
        return -1;
    for (int i = 0; i < o->nt; i++) {
        const fr_gguf_out_tensor *t = &o->t[i];
        size_t nl = strlen(t->name);
        if (wr_u(o, nl, 8) || wr(o, t->name, nl) || wr_u(o, (uint64_t)t->n_dims, 4)) return -1;
        for (int d = 0; d < t->n_dims; d++)
            if (wr_u(o, t->ne[d], 8)) return -1;
        if (wr_u(o, t->type, 4) || wr_u(o, t->offset, 8)) return -1;
        pos += 8 + nl + 4 + 8 * (uint64_t)t->n_dims + 4 + 8;
    }
    o->cur = 0;
    o->cur_done = 0;
    return pad(o, pos);
}

static void skip_empty(fr_gguf_out *o) {
    while (o->cur < o->nt && o->t[o->cur].nbytes == 0) o->cur++;
}

int fr_gguf_out_write(fr_gguf_out *o, const void *data, size_t n) {
    skip_empty(o);
    if (o->cur >= o->nt) return fr_err("%s: more tensor data than tensors", o->path);
    fr_gguf_out_tensor *t = &o->t[o->cur];
    if (o->cur_done + n > t->nbytes)
        return fr_err("%s: tensor '%s': %llu bytes written, it has %llu", o->path, t->name,
                      (unsigned long long)(o->cur_done + n), (unsigned long long)t->nbytes);
    if (wr(o, data, n)) return -1;
    o->cur_done += n;
    if (o->cur_done == t->nbytes) {
        if (o->cur + 1 < o->nt && pad(o, t->offset + t->nbytes)) return -1;
        o->cur++;
        o->cur_done = 0;
    }
    return 0;
}

int fr_gguf_out_close(fr_gguf_out *o) {
    skip_empty(o);
    if (o->cur != o->nt) return fr_err("%s: tensor '%s' was not written", o->path, o->t[o->cur].name);
    int rc = fclose(o->f);
    o->f = NULL;
    if (rc) return fr_err("%s: write failed: %s", o->path, strerror(errno));
    return 0;
}
