/* UTF-8: validation, lossy decoding (one U+FFFD per maximal subpart, the
 * Unicode / WHATWG practice that Rust's from_utf8_lossy and Python's
 * errors="replace" follow), a streaming decoder that never emits half a
 * character, and Python's str.isspace. */
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "text/tokenizer.h"

static const char k_fffd[3] = {(char)0xEF, (char)0xBF, (char)0xBD};

void fr_utf8_stream_init(fr_utf8_stream *s) { memset(s, 0, sizeof *s); }

/* First byte of a sequence: how many continuation bytes follow and the range
 * of the first one; need = -1 for a byte that cannot start a sequence. */
static int lead(uint8_t b, uint8_t *lo, uint8_t *hi) {
    *lo = 0x80;
    *hi = 0xBF;
    if (b < 0x80) return 0;
    if (b >= 0xC2 && b <= 0xDF) return 1;
    if (b == 0xE0) { *lo = 0xA0; return 2; }
    if (b == 0xED) { *hi = 0x9F; return 2; }
    if (b >= 0xE1 && b <= 0xEF) return 2;
    if (b == 0xF0) { *lo = 0x90; return 3; }
    if (b == 0xF4) { *hi = 0x8F; return 3; }
    if (b >= 0xF1 && b <= 0xF3) return 3;
    return -1;
}

size_t fr_utf8_stream_push(fr_utf8_stream *s, const void *in, size_t n, char *out) {
    const uint8_t *p = in;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        uint8_t b = p[i];
        if (s->need == 0) {
            uint8_t lo, hi;
            int need = lead(b, &lo, &hi);
            if (need == 0) out[o++] = (char)b;
            else if (need < 0) { memcpy(out + o, k_fffd, 3); o += 3; }
            else { s->pend[0] = b; s->npend = 1; s->need = need; s->lo = lo; s->hi = hi; }
            i++;
            continue;
        }
        if (b < s->lo || b > s->hi) {
            /* the maximal subpart so far is one replacement; b starts afresh */
            memcpy(out + o, k_fffd, 3);
            o += 3;
            s->need = 0;
            s->npend = 0;
            continue; /* reprocess b */
        }
        s->pend[s->npend++] = b;
        s->lo = 0x80;
        s->hi = 0xBF;
        if (--s->need == 0) {
            memcpy(out + o, s->pend, (size_t)s->npend);
            o += (size_t)s->npend;
            s->npend = 0;
        }
        i++;
    }
    return o;
}

size_t fr_utf8_stream_finish(fr_utf8_stream *s, char *out) {
    size_t o = 0;
    if (s->need) { memcpy(out, k_fffd, 3); o = 3; }
    fr_utf8_stream_init(s);
    return o;
}

int fr_utf8_lossy(const void *in, size_t n, char **out, size_t *len) {
    /* each input byte yields at most 3 output bytes */
    char *buf = malloc(3 * n + 4);
    if (!buf) return fr_err("out of memory");
    fr_utf8_stream s;
    fr_utf8_stream_init(&s);
    size_t o = fr_utf8_stream_push(&s, in, n, buf);
    o += fr_utf8_stream_finish(&s, buf + o);
    buf[o] = 0;
    *out = buf;
    *len = o;
    return 0;
}

int fr_utf8_valid(const void *in, size_t n) {
    const uint8_t *p = in;
    for (size_t i = 0; i < n;) {
        uint8_t lo, hi;
        int need = lead(p[i], &lo, &hi);
        if (need < 0) return 0;
        if (need == 0) { i++; continue; }
        if (n - i - 1 < (size_t)need) return 0;
        if (p[i + 1] < lo || p[i + 1] > hi) return 0;
        for (int k = 2; k <= need; k++)
            if (p[i + k] < 0x80 || p[i + k] > 0xBF) return 0;
        i += (size_t)need + 1;
    }
    return 1;
}

int fr_utf8_next(const uint8_t *s, uint32_t *cp) {
    uint8_t b = s[0];
    if (b < 0x80) { *cp = b; return 1; }
    if (b < 0xE0) { *cp = ((uint32_t)(b & 0x1F) << 6) | (s[1] & 0x3F); return 2; }
    if (b < 0xF0) {
        *cp = ((uint32_t)(b & 0x0F) << 12) | ((uint32_t)(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
        return 3;
    }
    *cp = ((uint32_t)(b & 0x07) << 18) | ((uint32_t)(s[1] & 0x3F) << 12) | ((uint32_t)(s[2] & 0x3F) << 6) |
          (s[3] & 0x3F);
    return 4;
}

/* Python's str.isspace: general category Zs or bidirectional class WS, B or S. */
int fr_py_isspace(uint32_t c) {
    if (c <= 0x20) return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20);
    if (c < 0x85) return 0;
    return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
           c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}
