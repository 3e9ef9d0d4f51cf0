/* A tiny GGUF byte writer for tests: builds files field by field, so a test can
 * write valid files and then break exactly one thing. */
#ifndef FR_TEST_GGUF_WRITER_H
#define FR_TEST_GGUF_WRITER_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct gw {
    uint8_t *b;
    size_t n, cap;
} gw;

static inline void gw_bytes(gw *w, const void *p, size_t k) {
    if (w->n + k > w->cap) {
        w->cap = (w->n + k) * 2 + 64;
        w->b = realloc(w->b, w->cap);
    }
    memcpy(w->b + w->n, p, k);
    w->n += k;
}
static inline void gw_u(gw *w, uint64_t v, int k) {
    for (int i = 0; i < k; i++) {
        uint8_t c = (uint8_t)(v >> (8 * i));
        gw_bytes(w, &c, 1);
    }
}
static inline void gw_u8(gw *w, uint8_t v) { gw_u(w, v, 1); }
static inline void gw_u32(gw *w, uint32_t v) { gw_u(w, v, 4); }
static inline void gw_u64(gw *w, uint64_t v) { gw_u(w, v, 8); }
static inline void gw_f32(gw *w, float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    gw_u32(w, u);
}
static inline void gw_str(gw *w, const char *s) {
    gw_u64(w, strlen(s));
    gw_bytes(w, s, strlen(s));
}
static inline void gw_pad(gw *w, size_t align) {
    while (w->n % align) gw_u8(w, 0);
}
/* header */
static inline void gw_header(gw *w, uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    gw_bytes(w, "GGUF", 4);
    gw_u32(w, version);
    gw_u64(w, n_tensors);
    gw_u64(w, n_kv);
}
/* tensor info */
static inline void gw_tinfo(gw *w, const char *name, int nd, const uint64_t *ne, uint32_t type, uint64_t off) {
    gw_str(w, name);
    gw_u32(w, (uint32_t)nd);
    for (int i = 0; i < nd; i++) gw_u64(w, ne[i]);
    gw_u32(w, type);
    gw_u64(w, off);
}

#endif
