/* Jinja evaluator: walks the AST of jinja_parse.c over jansson values with
 * Python/Jinja2 semantics (truthiness, str(), repr(), int/float arithmetic,
 * Undefined), as transformers' sandboxed environment renders chat templates.
 *
 * Values: a json_t* new reference, or NULL for Jinja's Undefined. Every eval
 * returns 0 / -1 (fr_err set, naming template:line:col). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/err.h"
#include "text/jinja_int.h"

int fr_jinja_known_filter(const char *s);
int fr_jinja_known_test(const char *s);

#ifndef FR_JINJA_MAX_OUT
#define FR_JINJA_MAX_OUT ((size_t)1 << 26) /* 64 MiB: any string or the output (the fuzz build lowers it) */
#endif
#define MAX_OUT ((size_t)(FR_JINJA_MAX_OUT))
#ifndef FR_JINJA_MAX_STEPS
#define FR_JINJA_MAX_STEPS 20000000LL /* evaluation steps per render (the fuzz build lowers it) */
#endif
#define MAX_STEPS FR_JINJA_MAX_STEPS
#define MAX_CALL_DEPTH 64           /* nested macro calls */
#define MAX_RDEPTH 2000             /* evaluator recursion (keeps the C stack small) */
#define MAX_RANGE 100000            /* Jinja's sandbox limit on range() */

/* ---- growable byte buffer ---- */

typedef struct {
    char *p;
    size_t n, cap;
} sbuf;

static int sb_put(sbuf *b, const char *s, size_t n) {
    if (n > MAX_OUT || b->n + n > MAX_OUT) return fr_err("jinja: result larger than %zu bytes", MAX_OUT);
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->n + n + 1) cap *= 2;
        char *q = realloc(b->p, cap);
        if (!q) return fr_err("jinja: out of memory");
        b->p = q;
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
    return 0;
}
static int sb_puts(sbuf *b, const char *s) { return sb_put(b, s, strlen(s)); }
static int sb_putc(sbuf *b, char c) { return sb_put(b, &c, 1); }

/* ---- context ---- */

typedef struct {
    const fr_jinja *t;
    json_t **frames;
    int nframes, cap, base; /* lookup: frames[nframes-1 .. base], then frames[0] */
    struct macro {        /* a {% macro %} executed: a closure over the scopes around it */
        const jnode *node;
        json_t *marker;   /* the value bound to its name (an empty object, owned) */
        json_t **frames;  /* scopes visible where it was defined, besides frames[0] (owned) */
        int nframes;
    } *mac;
    int nmac, capmac;
    json_t *mac_index; /* "%p" of a marker -> index into mac */
    json_t *undef; /* stored for a variable set to Undefined (it hides outer ones) */
    int ctrl; /* 1 break, 2 continue */
    int depth;  /* macro calls */
    int rdepth; /* eval/exec recursion */
    long long steps;
} ctx;

enum { CTRL_BREAK = 1, CTRL_CONTINUE = 2 };

static int rerr(const ctx *c, const jnode *n, const char *fmt, ...) FR_PRINTF(3, 4);
static int rerr(const ctx *c, const jnode *n, const char *fmt, ...) {
    char m[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m, sizeof m, fmt, ap);
    va_end(ap);
    return fr_err("%s:%d:%d: %s", c->t->name, n ? n->line : 0, n ? n->col : 0, m);
}

static int push_frame(ctx *c) {
    if (c->nframes == c->cap) {
        int cap = c->cap ? c->cap * 2 : 16;
        json_t **f = realloc(c->frames, (size_t)cap * sizeof *f);
        if (!f) return fr_err("jinja: out of memory");
        c->frames = f;
        c->cap = cap;
    }
    if (!(c->frames[c->nframes] = json_object())) return fr_err("jinja: out of memory");
    c->nframes++;
    return 0;
}

static void pop_frame(ctx *c) { json_decref(c->frames[--c->nframes]); }

/* borrowed reference or NULL */
static json_t *lookup(const ctx *c, const char *name) {
    for (int i = c->nframes - 1; i >= c->base; i--) {
        json_t *v = json_object_get(c->frames[i], name);
        if (v) return v == c->undef ? NULL : v;
    }
    json_t *v = c->base > 0 ? json_object_get(c->frames[0], name) : NULL;
    return v == c->undef ? NULL : v;
}

/* the macro a value stands for, or NULL */
static const struct macro *find_macro(const ctx *c, const json_t *v) {
    char key[32];
    if (!v || !json_is_object(v)) return NULL;
    snprintf(key, sizeof key, "%p", (const void *)v);
    json_t *i = json_object_get(c->mac_index, key);
    return i ? &c->mac[json_integer_value(i)] : NULL;
}

static int define_macro(ctx *c, const jnode *n) {
    if (c->nmac == c->capmac) {
        int cap = c->capmac ? c->capmac * 2 : 8;
        struct macro *m = realloc(c->mac, (size_t)cap * sizeof *m);
        if (!m) return fr_err("jinja: out of memory");
        c->mac = m;
        c->capmac = cap;
    }
    struct macro *m = &c->mac[c->nmac];
    int lo = c->base > 1 ? c->base : 1;
    m->node = n;
    m->nframes = c->nframes - lo;
    m->frames = malloc(((size_t)m->nframes + 1) * sizeof *m->frames);
    m->marker = json_object();
    char key[32];
    snprintf(key, sizeof key, "%p", (void *)m->marker);
    if (!m->frames || !m->marker || json_object_set_new(c->mac_index, key, json_integer(c->nmac))) {
        free(m->frames);
        json_decref(m->marker);
        return fr_err("jinja: out of memory");
    }
    for (int i = 0; i < m->nframes; i++) m->frames[i] = json_incref(c->frames[lo + i]);
    c->nmac++;
    return json_object_set(c->frames[c->nframes - 1], n->s, m->marker) ? fr_err("jinja: out of memory") : 0;
}

/* ---- value helpers ---- */

/* Undefined inside a list (e.g. from map(attribute=...)) or bound to a name:
 * this render's marker object, read back as Undefined (prints as "") */
static _Thread_local json_t *g_undef;

static const char *type_name(const json_t *v) {
    if (!v || v == g_undef) return "Undefined";
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "dict";
    case JSON_ARRAY: return "list";
    case JSON_STRING: return "str";
    case JSON_INTEGER: return "int";
    case JSON_REAL: return "float";
    case JSON_TRUE: case JSON_FALSE: return "bool";
    default: return "NoneType";
    }
}

static int is_int(const json_t *v) { return v && (json_is_integer(v) || json_is_boolean(v)); }
static int is_num(const json_t *v) { return v && (json_is_number(v) || json_is_boolean(v)); }
static long long as_ll(const json_t *v) { return json_is_integer(v) ? json_integer_value(v) : json_is_true(v) ? 1 : 0; }
static double as_dbl(const json_t *v) { return json_is_real(v) ? json_real_value(v) : (double)as_ll(v); }

static int truthy(const json_t *v) {
    if (!v || v == g_undef) return 0;
    switch (json_typeof(v)) {
    case JSON_OBJECT: return json_object_size(v) > 0;
    case JSON_ARRAY: return json_array_size(v) > 0;
    case JSON_STRING: return json_string_length(v) > 0;
    case JSON_INTEGER: return json_integer_value(v) != 0;
    case JSON_REAL: return json_real_value(v) != 0;
    case JSON_TRUE: return 1;
    default: return 0;
    }
}

static json_t *jstr(const char *s, size_t n) { return json_stringn_nocheck(s, n); }

/* Python ==, with 1 == 1.0 == True */
static int jeq(const json_t *a, const json_t *b) {
    if (a == g_undef) a = NULL;
    if (b == g_undef) b = NULL;
    if (!a || !b) return !a && !b;
    if (is_num(a) && is_num(b)) {
        if (is_int(a) && is_int(b)) return as_ll(a) == as_ll(b);
        return as_dbl(a) == as_dbl(b);
    }
    if (json_typeof(a) != json_typeof(b)) return 0;
    switch (json_typeof(a)) {
    case JSON_STRING:
        return json_string_length(a) == json_string_length(b) &&
               !memcmp(json_string_value(a), json_string_value(b), json_string_length(a));
    case JSON_ARRAY:
        if (json_array_size(a) != json_array_size(b)) return 0;
        for (size_t i = 0; i < json_array_size(a); i++)
            if (!jeq(json_array_get(a, i), json_array_get(b, i))) return 0;
        return 1;
    case JSON_OBJECT: {
        if (json_object_size(a) != json_object_size(b)) return 0;
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)a, k, v) {
            if (!jeq(v, json_object_get(b, k))) return 0;
        }
        return 1;
    }
    default: return 1; /* null, true, false handled by type */
    }
}

static int bytes_cmp(const char *a, size_t na, const char *b, size_t nb) {
    int r = memcmp(a, b, na < nb ? na : nb);
    return r ? r : (na > nb) - (na < nb);
}

/* Python <, >, ... : *r = sign; -1 when the types do not order */
static int jcmp(const json_t *a, const json_t *b, int *r) {
    if (is_num(a) && is_num(b)) {
        if (is_int(a) && is_int(b)) *r = (as_ll(a) > as_ll(b)) - (as_ll(a) < as_ll(b));
        else *r = (as_dbl(a) > as_dbl(b)) - (as_dbl(a) < as_dbl(b));
        return 0;
    }
    if (json_is_string(a) && json_is_string(b)) {
        int x = bytes_cmp(json_string_value(a), json_string_length(a), json_string_value(b), json_string_length(b));
        *r = (x > 0) - (x < 0);
        return 0;
    }
    if (json_is_array(a) && json_is_array(b)) {
        size_t na = json_array_size(a), nb = json_array_size(b);
        for (size_t i = 0; i < na && i < nb; i++) {
            if (jeq(json_array_get(a, i), json_array_get(b, i))) continue;
            return jcmp(json_array_get(a, i), json_array_get(b, i), r);
        }
        *r = (na > nb) - (na < nb);
        return 0;
    }
    return -1;
}

/* ---- UTF-8 ---- */

static size_t u8len(const char *s, size_t n, size_t i) {
    unsigned char c = (unsigned char)s[i];
    size_t l = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
    if (i + l > n) return 1;
    for (size_t k = 1; k < l; k++)
        if (((unsigned char)s[i + k] & 0xc0) != 0x80) return 1;
    return l;
}

static uint32_t u8cp(const char *s, size_t n, size_t i, size_t *len) {
    size_t l = u8len(s, n, i);
    unsigned char c = (unsigned char)s[i];
    *len = l;
    if (l == 1) return c;
    uint32_t cp = c & (0x7f >> l);
    for (size_t k = 1; k < l; k++) cp = cp << 6 | ((unsigned char)s[i + k] & 0x3f);
    return cp;
}

static size_t u8count(const char *s, size_t n) {
    size_t k = 0;
    for (size_t i = 0; i < n; i += u8len(s, n, i)) k++;
    return k;
}

/* Python str.isspace */
static int py_space(uint32_t c) {
    return (c >= 9 && c <= 13) || (c >= 0x1c && c <= 0x20) || c == 0x85 || c == 0xa0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f || c == 0x205f || c == 0x3000;
}

/* Python str.isprintable (approximation: the common non-printable ranges) */
static int py_printable(uint32_t c) {
    if (c < 0x20 || (c >= 0x7f && c <= 0xa0) || c == 0xad) return 0;
    if (c == 0x1680 || (c >= 0x2000 && c <= 0x200f) || (c >= 0x2028 && c <= 0x202f) || (c >= 0x205f && c <= 0x206f)) return 0;
    if (c == 0x3000 || c == 0xfeff || (c >= 0xd800 && c <= 0xf8ff) || (c >= 0xfff9 && c <= 0xfffb)) return 0;
    if (c >= 0xe0000) return 0;
    return 1;
}

/* ---- Python str() / repr() ---- */

/* float.__repr__: shortest round-trip digits; exponent form outside 1e-4 <= |x| < 1e16 */
static void py_float(double x, char *out, size_t cap) {
    if (isnan(x)) { snprintf(out, cap, "nan"); return; }
    if (isinf(x)) { snprintf(out, cap, x < 0 ? "-inf" : "inf"); return; }
    if (x == 0) { snprintf(out, cap, signbit(x) ? "-0.0" : "0.0"); return; }
    char buf[64];
    int prec = 1;
    for (; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*e", prec - 1, x);
        if (strtod(buf, NULL) == x) break;
    }
    /* buf: [-]d.ddde[+-]XX */
    char digits[32];
    int nd = 0, neg = buf[0] == '-';
    const char *q = buf + neg;
    for (; *q && *q != 'e'; q++)
        if (*q != '.') digits[nd++] = *q;
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    digits[nd] = 0;
    int e = atoi(q + 1);
    size_t o = 0;
    char r[64];
    if (neg) r[o++] = '-';
    if (e >= -4 && e < 16) {
        if (e < 0) {
            r[o++] = '0';
            r[o++] = '.';
            for (int k = 0; k < -e - 1; k++) r[o++] = '0';
            for (int k = 0; k < nd; k++) r[o++] = digits[k];
        } else {
            for (int k = 0; k <= e; k++) r[o++] = k < nd ? digits[k] : '0';
            r[o++] = '.';
            if (nd > e + 1) for (int k = e + 1; k < nd; k++) r[o++] = digits[k];
            else r[o++] = '0';
        }
        r[o] = 0;
    } else {
        r[o++] = digits[0];
        if (nd > 1) {
            r[o++] = '.';
            for (int k = 1; k < nd; k++) r[o++] = digits[k];
        }
        snprintf(r + o, sizeof r - o, "e%c%02d", e < 0 ? '-' : '+', e < 0 ? -e : e);
    }
    snprintf(out, cap, "%s", r);
}

static int py_repr(sbuf *b, const json_t *v);

/* Tuples are arrays that print as (a, b): the render keeps a reference to each
 * one it makes (items() pairs, tuple literals), so pointers stay unique. */
static _Thread_local json_t *g_tuples; /* "%p" -> tuple */

static json_t *as_tuple(json_t *v) {
    char key[32];
    snprintf(key, sizeof key, "%p", (void *)v);
    if (v && g_tuples) json_object_set(g_tuples, key, v);
    return v;
}

static int is_tuple(const json_t *v) {
    char key[32];
    snprintf(key, sizeof key, "%p", (const void *)v);
    return g_tuples && json_object_get(g_tuples, key) == v;
}

static int py_repr_str(sbuf *b, const char *s, size_t n) {
    int has_sq = memchr(s, '\'', n) != NULL, has_dq = memchr(s, '"', n) != NULL;
    char q = has_sq && !has_dq ? '"' : '\'';
    if (sb_putc(b, q)) return -1;
    for (size_t i = 0; i < n;) {
        size_t l;
        uint32_t cp = u8cp(s, n, i, &l);
        char e[16];
        if (cp == '\\' || cp == (uint32_t)q) { e[0] = '\\'; e[1] = (char)cp; e[2] = 0; }
        else if (cp == '\n') strcpy(e, "\\n");
        else if (cp == '\r') strcpy(e, "\\r");
        else if (cp == '\t') strcpy(e, "\\t");
        else if (py_printable(cp)) { if (sb_put(b, s + i, l)) return -1; i += l; continue; }
        else if (cp < 0x100) snprintf(e, sizeof e, "\\x%02x", cp);
        else if (cp < 0x10000) snprintf(e, sizeof e, "\\u%04x", cp);
        else snprintf(e, sizeof e, "\\U%08x", cp);
        if (sb_puts(b, e)) return -1;
        i += l;
    }
    return sb_putc(b, q);
}

/* Python str(v); Undefined prints as "" */
static int py_str(sbuf *b, const json_t *v) {
    if (!v || v == g_undef) return 0;
    if (json_is_string(v)) return sb_put(b, json_string_value(v), json_string_length(v));
    return py_repr(b, v);
}

static int py_repr(sbuf *b, const json_t *v) {
    char num[64];
    if (!v) return 0;
    if (v == g_undef) return sb_puts(b, "Undefined");
    switch (json_typeof(v)) {
    case JSON_STRING: return py_repr_str(b, json_string_value(v), json_string_length(v));
    case JSON_INTEGER: snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v)); return sb_puts(b, num);
    case JSON_REAL: py_float(json_real_value(v), num, sizeof num); return sb_puts(b, num);
    case JSON_TRUE: return sb_puts(b, "True");
    case JSON_FALSE: return sb_puts(b, "False");
    case JSON_NULL: return sb_puts(b, "None");
    case JSON_ARRAY: {
        int tup = is_tuple(v);
        if (sb_putc(b, tup ? '(' : '[')) return -1;
        for (size_t i = 0; i < json_array_size(v); i++)
            if ((i && sb_puts(b, ", ")) || py_repr(b, json_array_get(v, i))) return -1;
        if (tup && json_array_size(v) == 1 && sb_putc(b, ',')) return -1;
        return sb_putc(b, tup ? ')' : ']');
    }
    case JSON_OBJECT: {
        if (sb_putc(b, '{')) return -1;
        const char *k;
        json_t *x;
        int first = 1;
        json_object_foreach((json_t *)v, k, x) {
            if ((!first && sb_puts(b, ", ")) || py_repr_str(b, k, strlen(k)) || sb_puts(b, ": ") || py_repr(b, x)) return -1;
            first = 0;
        }
        return sb_putc(b, '}');
    }
    }
    return 0;
}

/* new string value of str(v) */
static json_t *to_jstr(const json_t *v) {
    if (v && json_is_string(v)) return json_incref((json_t *)v);
    sbuf b = {0};
    if (py_str(&b, v)) { free(b.p); return NULL; }
    json_t *s = jstr(b.p ? b.p : "", b.n);
    free(b.p);
    if (!s) fr_err("jinja: out of memory");
    return s;
}

/* ---- tojson (Python json.dumps) ---- */

typedef struct {
    int ascii, indent, sort;
    const char *isep, *ksep;
} jopts;

static int json_str_out(sbuf *b, const char *s, size_t n, int ascii) {
    if (sb_putc(b, '"')) return -1;
    for (size_t i = 0; i < n;) {
        size_t run = i; /* bytes copied as they are: printable ASCII (and any non-ASCII unless ascii) */
        while (run < n && (unsigned char)s[run] >= 0x20 && s[run] != '"' && s[run] != '\\' &&
               (!ascii || (unsigned char)s[run] < 0x7f))
            run++;
        if (run > i) {
            if (sb_put(b, s + i, run - i)) return -1;
            i = run;
            continue;
        }
        size_t l;
        uint32_t cp = u8cp(s, n, i, &l);
        char e[16];
        e[0] = 0;
        switch (cp) {
        case '"': strcpy(e, "\\\""); break;
        case '\\': strcpy(e, "\\\\"); break;
        case '\n': strcpy(e, "\\n"); break;
        case '\r': strcpy(e, "\\r"); break;
        case '\t': strcpy(e, "\\t"); break;
        case '\b': strcpy(e, "\\b"); break;
        case '\f': strcpy(e, "\\f"); break;
        default:
            if (cp < 0x20 || (ascii && cp >= 0x7f)) {
                if (cp >= 0x10000) {
                    uint32_t v = cp - 0x10000;
                    snprintf(e, sizeof e, "\\u%04x\\u%04x", 0xd800 + (v >> 10), 0xdc00 + (v & 0x3ff));
                } else {
                    snprintf(e, sizeof e, "\\u%04x", cp);
                }
            }
        }
        if (e[0] ? sb_puts(b, e) : sb_put(b, s + i, l)) return -1;
        i += l;
    }
    return sb_putc(b, '"');
}

static int newline_indent(sbuf *b, const jopts *o, int level) {
    if (o->indent < 0) return 0;
    if (sb_putc(b, '\n')) return -1;
    for (int i = 0; i < o->indent * level; i++)
        if (sb_putc(b, ' ')) return -1;
    return 0;
}

static int cmp_keys(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

static int json_out(sbuf *b, const json_t *v, const jopts *o, int level) {
    char num[64];
    if (level > 1000) return fr_err("tojson: nesting too deep");
    if (v == g_undef) return fr_err("Object of type Undefined is not JSON serializable");
    switch (json_typeof(v)) {
    case JSON_STRING: return json_str_out(b, json_string_value(v), json_string_length(v), o->ascii);
    case JSON_INTEGER: snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v)); return sb_puts(b, num);
    case JSON_REAL: {
        double x = json_real_value(v);
        if (isnan(x)) return sb_puts(b, "NaN");
        if (isinf(x)) return sb_puts(b, x < 0 ? "-Infinity" : "Infinity");
        py_float(x, num, sizeof num);
        return sb_puts(b, num);
    }
    case JSON_TRUE: return sb_puts(b, "true");
    case JSON_FALSE: return sb_puts(b, "false");
    case JSON_NULL: return sb_puts(b, "null");
    case JSON_ARRAY: {
        size_t n = json_array_size(v);
        if (!n) return sb_puts(b, "[]");
        if (sb_putc(b, '[')) return -1;
        for (size_t i = 0; i < n; i++) {
            if (i && sb_puts(b, o->isep)) return -1;
            if (newline_indent(b, o, level + 1) || json_out(b, json_array_get(v, i), o, level + 1)) return -1;
        }
        if (newline_indent(b, o, level)) return -1;
        return sb_putc(b, ']');
    }
    case JSON_OBJECT: {
        size_t n = json_object_size(v), k = 0;
        if (!n) return sb_puts(b, "{}");
        const char **keys = malloc(n * sizeof *keys);
        if (!keys) return fr_err("jinja: out of memory");
        const char *key;
        json_t *x;
        json_object_foreach((json_t *)v, key, x) keys[k++] = key;
        if (o->sort) qsort(keys, n, sizeof *keys, cmp_keys);
        int rc = sb_putc(b, '{');
        for (size_t i = 0; i < n && !rc; i++) {
            rc = (i && sb_puts(b, o->isep)) || newline_indent(b, o, level + 1) ||
                 json_str_out(b, keys[i], strlen(keys[i]), o->ascii) || sb_puts(b, o->ksep) ||
                 json_out(b, json_object_get(v, keys[i]), o, level + 1);
        }
        free(keys);
        if (rc || newline_indent(b, o, level)) return -1;
        return sb_putc(b, '}');
    }
    }
    return 0;
}

char *fr_jinja_tojson(const json_t *v, int ensure_ascii, int indent, const char *item_sep, const char *key_sep,
                      int sort_keys) {
    jopts o = {ensure_ascii, indent, sort_keys, item_sep ? item_sep : indent >= 0 ? "," : ", ", key_sep ? key_sep : ": "};
    sbuf b = {0};
    if (!v) { fr_err("tojson: value is undefined"); return NULL; }
    if (json_out(&b, v, &o, 0) || sb_put(&b, "", 0)) { free(b.p); return NULL; }
    return b.p;
}

/* ---- evaluation ---- */

static int eval(ctx *c, const jnode *n, json_t **out);
static int exec(ctx *c, const jnode *n, sbuf *out);

static int step(ctx *c, const jnode *n) {
    if (++c->steps > MAX_STEPS) return rerr(c, n, "template takes too many steps (over %lld)", MAX_STEPS);
    return 0;
}

/* evaluated call arguments */
typedef struct {
    json_t *v[16];
    const char *kw[16];
    int n;
} args_t;

static void args_free(args_t *a) {
    for (int i = 0; i < a->n; i++) json_decref(a->v[i]);
    a->n = 0;
}

static int eval_args(ctx *c, const jnode *n, args_t *a) {
    a->n = 0;
    if (n->nkids > 16) return rerr(c, n, "too many arguments (%d)", n->nkids);
    for (int i = 0; i < n->nkids; i++) {
        json_t *v;
        if (eval(c, n->kids[i], &v)) { args_free(a); return -1; }
        a->v[a->n] = v;
        a->kw[a->n] = n->names ? n->names[i] : NULL;
        a->n++;
    }
    return 0;
}

/* argument pos (positional index) or keyword kw; *found tells whether given (borrowed) */
static json_t *arg(const args_t *a, int pos, const char *kw, int *found) {
    int np = 0;
    for (int i = 0; i < a->n; i++) {
        if (!a->kw[i]) {
            if (np++ == pos) { if (found) *found = 1; return a->v[i]; }
        } else if (kw && !strcmp(a->kw[i], kw)) {
            if (found) *found = 1;
            return a->v[i];
        }
    }
    if (found) *found = 0;
    return NULL;
}

static int npos(const args_t *a) {
    int k = 0;
    for (int i = 0; i < a->n; i++) k += !a->kw[i];
    return k;
}

/* keyword names must be in the NULL-terminated list; at most maxpos positional */
static int check_args(ctx *c, const jnode *n, const args_t *a, const char *what, int maxpos, const char *const *kws) {
    if (npos(a) > maxpos) return rerr(c, n, "%s takes at most %d positional argument(s), %d given", what, maxpos, npos(a));
    for (int i = 0; i < a->n; i++) {
        if (!a->kw[i]) continue;
        int ok = 0;
        for (int k = 0; kws && kws[k]; k++) ok |= !strcmp(kws[k], a->kw[i]);
        if (!ok) return rerr(c, n, "%s got an unexpected keyword argument '%s'", what, a->kw[i]);
    }
    return 0;
}

static int need_str(ctx *c, const jnode *n, const json_t *v, const char *what) {
    if (v && json_is_string(v)) return 0;
    return rerr(c, n, "%s expects a string, got %s", what, type_name(v));
}

/* index into a sequence of length len with Python negative indices; -1 when out of range */
static long long py_index(long long i, size_t len) {
    if (i < 0) i += (long long)len;
    return i < 0 || (size_t)i >= len ? -1 : i;
}

/* obj[key] with Jinja's getitem/getattr fallbacks; *out new ref or NULL */
static int get_item(ctx *c, const jnode *n, const json_t *obj, const json_t *key, json_t **out) {
    *out = NULL;
    if (!obj) return rerr(c, n, "cannot index an undefined value");
    if (json_is_object(obj)) {
        if (key && json_is_string(key)) *out = json_incref(json_object_get(obj, json_string_value(key)));
        return 0;
    }
    if (json_is_array(obj) && is_int(key)) {
        long long i = py_index(as_ll(key), json_array_size(obj));
        if (i >= 0) *out = json_incref(json_array_get(obj, (size_t)i));
        return 0;
    }
    if (json_is_string(obj) && is_int(key)) {
        const char *s = json_string_value(obj);
        size_t len = json_string_length(obj), cnt = u8count(s, len);
        long long i = py_index(as_ll(key), cnt);
        if (i < 0) return 0;
        size_t pos = 0;
        for (long long k = 0; k < i; k++) pos += u8len(s, len, pos);
        if (!(*out = jstr(s + pos, u8len(s, len, pos)))) return fr_err("jinja: out of memory");
        return 0;
    }
    return 0;
}

/* Python slice indices (start, stop, step) for length len -> list of indices via callback */
static int slice_bounds(ctx *c, const jnode *n, json_t *const *sv, size_t len, long long *start, long long *stop, long long *stp) {
    long long L = (long long)len;
    for (int k = 0; k < 3; k++)
        if (sv[k] && !json_is_null(sv[k]) && !is_int(sv[k])) return rerr(c, n, "slice indices must be integers, got %s", type_name(sv[k]));
    *stp = sv[2] && !json_is_null(sv[2]) ? as_ll(sv[2]) : 1;
    if (*stp == 0) return rerr(c, n, "slice step cannot be zero");
    if (*stp < -L - 1) *stp = -L - 1;
    int hasa = sv[0] && !json_is_null(sv[0]), hasb = sv[1] && !json_is_null(sv[1]);
    long long a = hasa ? as_ll(sv[0]) : 0, b = hasb ? as_ll(sv[1]) : 0;
    if (*stp > 0) {
        if (!hasa) a = 0;
        else if (a < 0) { a += L; if (a < 0) a = 0; }
        else if (a > L) a = L;
        if (!hasb) b = L;
        else if (b < 0) { b += L; if (b < 0) b = 0; }
        else if (b > L) b = L;
    } else {
        if (!hasa) a = L - 1;
        else if (a < 0) { a += L; if (a < 0) a = -1; }
        else if (a >= L) a = L - 1;
        if (!hasb) b = -1;
        else if (b < 0) { b += L; if (b < 0) b = -1; }
        else if (b >= L) b = L - 1;
    }
    *start = a;
    *stop = b;
    return 0;
}

static int do_slice(ctx *c, const jnode *n, const json_t *obj, json_t *const *sv, json_t **out) {
    *out = NULL;
    if (!obj) return rerr(c, n, "cannot slice an undefined value");
    long long a, b, st;
    if (json_is_array(obj)) {
        if (slice_bounds(c, n, sv, json_array_size(obj), &a, &b, &st)) return -1;
        json_t *r = json_array();
        if (!r) return fr_err("jinja: out of memory");
        for (long long i = a; st > 0 ? i < b : i > b; i += st) json_array_append(r, json_array_get(obj, (size_t)i));
        *out = r;
        return 0;
    }
    if (json_is_string(obj)) {
        const char *s = json_string_value(obj);
        size_t len = json_string_length(obj), cnt = u8count(s, len);
        size_t *off = malloc((cnt + 1) * sizeof *off);
        if (!off) return fr_err("jinja: out of memory");
        size_t k = 0;
        for (size_t i = 0; i < len; i += u8len(s, len, i)) off[k++] = i;
        off[cnt] = len;
        if (slice_bounds(c, n, sv, cnt, &a, &b, &st)) { free(off); return -1; }
        sbuf sb = {0};
        int rc = 0;
        for (long long i = a; !rc && (st > 0 ? i < b : i > b); i += st)
            rc = sb_put(&sb, s + off[i], off[i + 1] - off[i]);
        free(off);
        if (!rc && !(*out = jstr(sb.p ? sb.p : "", sb.n))) rc = fr_err("jinja: out of memory");
        free(sb.p);
        return rc;
    }
    return rerr(c, n, "cannot slice a %s", type_name(obj));
}

/* iteration: a new array of the items (dict: keys; string: characters) */
static int iter_items(ctx *c, const jnode *n, const json_t *v, json_t **out) {
    *out = NULL;
    if (!v) { *out = json_array(); return *out ? 0 : fr_err("jinja: out of memory"); }
    if (json_is_array(v)) { *out = json_incref((json_t *)v); return 0; }
    json_t *r = json_array();
    if (!r) return fr_err("jinja: out of memory");
    if (json_is_object(v)) {
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x) json_array_append_new(r, json_string_nocheck(k));
    } else if (json_is_string(v)) {
        const char *s = json_string_value(v);
        size_t len = json_string_length(v);
        for (size_t i = 0; i < len; i += u8len(s, len, i)) json_array_append_new(r, jstr(s + i, u8len(s, len, i)));
    } else {
        json_decref(r);
        return rerr(c, n, "'%s' object is not iterable", type_name(v));
    }
    *out = r;
    return 0;
}

static int contains(ctx *c, const jnode *n, const json_t *hay, const json_t *needle, int *r) {
    *r = 0;
    if (!hay) return 0;
    if (json_is_string(hay)) {
        if (!needle || !json_is_string(needle))
            return rerr(c, n, "'in <string>' requires string as left operand, not %s", type_name(needle));
        const char *h = json_string_value(hay), *s = json_string_value(needle);
        size_t hn = json_string_length(hay), sn = json_string_length(needle);
        if (!sn) { *r = 1; return 0; }
        for (size_t i = 0; i + sn <= hn; i++)
            if (!memcmp(h + i, s, sn)) { *r = 1; break; }
        return 0;
    }
    if (json_is_array(hay)) {
        for (size_t i = 0; i < json_array_size(hay); i++)
            if (jeq(json_array_get(hay, i), needle)) { *r = 1; break; }
        return 0;
    }
    if (json_is_object(hay)) {
        *r = needle && json_is_string(needle) && json_object_get(hay, json_string_value(needle)) != NULL;
        return 0;
    }
    return rerr(c, n, "argument of type '%s' is not iterable", type_name(hay));
}

static int arith_err(ctx *c, const jnode *n, const char *op, const json_t *a, const json_t *b) {
    if (!a || !b) return rerr(c, n, "undefined value in '%s'", op);
    return rerr(c, n, "unsupported operand type(s) for %s: '%s' and '%s'", op, type_name(a), type_name(b));
}

static json_t *repeat(const char *s, size_t n, long long k) {
    if (k < 0) k = 0;
    if (n && (size_t)k > MAX_OUT / n) { fr_err("jinja: string repetition larger than %zu bytes", MAX_OUT); return NULL; }
    char *buf = malloc(n * (size_t)k + 1);
    if (!buf) { fr_err("jinja: out of memory"); return NULL; }
    for (long long i = 0; i < k; i++) memcpy(buf + (size_t)i * n, s, n);
    json_t *r = jstr(buf, n * (size_t)k);
    free(buf);
    return r;
}

/* Python's "fmt" % args for %s %r %d %i %f %F %e %E %g %G %x %X %o %c %% with
 * flags, width and precision (no %(name)s mappings) */
static int py_percent(ctx *c, const jnode *n, const json_t *fmtv, const json_t *const *args, size_t nargs, json_t **out) {
    const char *f = json_string_value(fmtv);
    size_t len = json_string_length(fmtv), k = 0;
    sbuf b = {0};
    int rc = 0;
    for (size_t i = 0; i < len && !rc; i++) {
        if (f[i] != '%') { rc = sb_putc(&b, f[i]); continue; }
        char spec[32];
        size_t sl = 0;
        spec[sl++] = '%';
        i++;
        while (i < len && strchr("-+ #0", f[i]) && sl < 8) spec[sl++] = f[i++];
        int width = 0, prec = -1;
        while (i < len && f[i] >= '0' && f[i] <= '9' && width < 1000) width = width * 10 + (f[i++] - '0');
        if (i < len && f[i] == '.') {
            prec = 0;
            i++;
            while (i < len && f[i] >= '0' && f[i] <= '9' && prec < 1000) prec = prec * 10 + (f[i++] - '0');
        }
        if (i >= len) { rc = rerr(c, n, "incomplete format"); break; }
        char conv = f[i];
        if (conv == '%') { rc = sb_putc(&b, '%'); continue; }
        if (conv == '(') { rc = rerr(c, n, "%%(name) formats are not supported"); break; }
        if (k >= nargs) { rc = rerr(c, n, "not enough arguments for format string"); break; }
        const json_t *v = args[k++];
        char num[512];
        sbuf tmp = {0};
        int left = memchr(spec, '-', sl) != NULL;
        switch (conv) {
        case 's': case 'r': {
            rc = conv == 's' ? py_str(&tmp, v) : py_repr(&tmp, v);
            size_t cnt = tmp.p ? u8count(tmp.p, tmp.n) : 0, keep = tmp.n;
            if (prec >= 0 && cnt > (size_t)prec) { /* precision truncates characters */
                keep = 0;
                for (int q = 0; q < prec; q++) keep += u8len(tmp.p, tmp.n, keep);
                cnt = (size_t)prec;
            }
            for (size_t q = cnt; !rc && !left && q < (size_t)width; q++) rc = sb_putc(&b, ' ');
            if (!rc && keep) rc = sb_put(&b, tmp.p, keep);
            for (size_t q = cnt; !rc && left && q < (size_t)width; q++) rc = sb_putc(&b, ' ');
            free(tmp.p);
            continue;
        }
        case 'd': case 'i': case 'x': case 'X': case 'o': case 'c':
            if (!is_num(v)) { rc = rerr(c, n, "%%%c format: a number is required, not %s", conv, type_name(v)); break; }
            spec[sl++] = '*';
            if (prec >= 0) { spec[sl++] = '.'; spec[sl++] = '*'; }
            spec[sl++] = 'l';
            spec[sl++] = 'l';
            spec[sl++] = conv == 'i' || conv == 'c' ? 'd' : conv;
            spec[sl] = 0;
            {
                long long iv = is_int(v) ? as_ll(v) : (long long)as_dbl(v);
                if (conv == 'c') { rc = sb_putc(&b, (char)iv); continue; }
                if (prec >= 0) snprintf(num, sizeof num, spec, width, prec, iv);
                else snprintf(num, sizeof num, spec, width, iv);
            }
            rc = sb_puts(&b, num);
            continue;
        case 'f': case 'F': case 'e': case 'E': case 'g': case 'G':
            if (!is_num(v)) { rc = rerr(c, n, "%%%c format: a number is required, not %s", conv, type_name(v)); break; }
            spec[sl++] = '*';
            spec[sl++] = '.';
            spec[sl++] = '*';
            spec[sl++] = conv;
            spec[sl] = 0;
            snprintf(num, sizeof num, spec, width, prec >= 0 ? (prec > 100 ? 100 : prec) : 6, as_dbl(v));
            rc = sb_puts(&b, num);
            continue;
        default:
            rc = rerr(c, n, "unsupported format character '%c'", conv);
        }
    }
    if (!rc && k < nargs) rc = rerr(c, n, "not all arguments converted during string formatting");
    if (!rc && !(*out = jstr(b.p ? b.p : "", b.n))) rc = fr_err("jinja: out of memory");
    free(b.p);
    return rc;
}

static int binop(ctx *c, const jnode *n, const json_t *a, const json_t *b, json_t **out) {
    static const char *const names[] = {"+", "-", "*", "/", "//", "%", "**", "~"};
    const char *opn = n->op <= OP_CONCAT ? names[n->op] : "compare";
    int r;
    *out = NULL;
    switch (n->op) {
    case OP_CONCAT: {
        sbuf sb = {0};
        if (py_str(&sb, a) || py_str(&sb, b)) { free(sb.p); return -1; }
        c->steps += (long long)(sb.n >> 6); /* copying counts as work */
        if (step(c, n)) { free(sb.p); return -1; }
        *out = jstr(sb.p ? sb.p : "", sb.n);
        free(sb.p);
        return *out ? 0 : fr_err("jinja: out of memory");
    }
    case OP_EQ: *out = json_boolean(jeq(a, b)); return 0;
    case OP_NE: *out = json_boolean(!jeq(a, b)); return 0;
    case OP_LT: case OP_LE: case OP_GT: case OP_GE:
        if (!a || !b || jcmp(a, b, &r))
            return rerr(c, n, "'%s' not supported between instances of '%s' and '%s'",
                        n->op == OP_LT ? "<" : n->op == OP_LE ? "<=" : n->op == OP_GT ? ">" : ">=", type_name(a), type_name(b));
        *out = json_boolean(n->op == OP_LT ? r < 0 : n->op == OP_LE ? r <= 0 : n->op == OP_GT ? r > 0 : r >= 0);
        return 0;
    case OP_IN: case OP_NOTIN:
        if (contains(c, n, b, a, &r)) return -1;
        *out = json_boolean(n->op == OP_IN ? r : !r);
        return 0;
    default: break;
    }
    if (!a || !b) return arith_err(c, n, opn, a, b);
    if (is_num(a) && is_num(b)) {
        int ints = is_int(a) && is_int(b);
        long long x = as_ll(a), y = as_ll(b), z;
        double p = as_dbl(a), q = as_dbl(b);
        switch (n->op) {
        case OP_ADD:
            if (ints) { if (__builtin_add_overflow(x, y, &z)) return rerr(c, n, "integer overflow"); *out = json_integer(z); }
            else *out = json_real(p + q);
            return 0;
        case OP_SUB:
            if (ints) { if (__builtin_sub_overflow(x, y, &z)) return rerr(c, n, "integer overflow"); *out = json_integer(z); }
            else *out = json_real(p - q);
            return 0;
        case OP_MUL:
            if (ints) { if (__builtin_mul_overflow(x, y, &z)) return rerr(c, n, "integer overflow"); *out = json_integer(z); }
            else *out = json_real(p * q);
            return 0;
        case OP_DIV:
            if (q == 0) return rerr(c, n, "division by zero");
            *out = json_real(p / q);
            return 0;
        case OP_FLOORDIV: case OP_MOD:
            if (ints) {
                if (y == 0) return rerr(c, n, "integer division or modulo by zero");
                if (x == INT64_MIN && y == -1) return rerr(c, n, "integer overflow");
                long long d = x / y, m = x % y;
                if (m != 0 && ((m < 0) != (y < 0))) { d--; m += y; }
                *out = json_integer(n->op == OP_FLOORDIV ? d : m);
            } else {
                if (q == 0) return rerr(c, n, "float division by zero");
                double m = fmod(p, q);
                if (m != 0 && ((m < 0) != (q < 0))) m += q;
                *out = json_real(n->op == OP_FLOORDIV ? floor(p / q) : m);
            }
            return 0;
        case OP_POW:
            if (ints && y >= 0) {
                long long acc = 1;
                for (long long i = 0; i < y; i++) {
                    if (__builtin_mul_overflow(acc, x, &acc)) return rerr(c, n, "integer overflow");
                    if (acc == 0 || acc == 1) break;
                    if (acc == -1) { acc = (y - i - 1) % 2 ? -acc : acc; break; }
                }
                *out = json_integer(acc);
            } else {
                *out = json_real(pow(p, q));
            }
            return 0;
        default: break;
        }
    }
    if (n->op == OP_MOD && json_is_string(a)) { /* "fmt" % value or % (tuple) */
        if (json_is_object(b)) return rerr(c, n, "%%(name) formats are not supported");
        if (json_is_array(b) && is_tuple(b)) {
            size_t cnt = json_array_size(b);
            const json_t **av = malloc((cnt + 1) * sizeof *av);
            if (!av) return fr_err("jinja: out of memory");
            for (size_t i = 0; i < cnt; i++) av[i] = json_array_get(b, i);
            int rc2 = py_percent(c, n, a, av, cnt, out);
            free(av);
            return rc2;
        }
        return py_percent(c, n, a, &b, 1, out);
    }
    if (n->op == OP_ADD && json_is_string(a) && json_is_string(b)) {
        size_t na = json_string_length(a), nb = json_string_length(b);
        c->steps += (long long)((na + nb) >> 6); /* copying counts as work */
        if (step(c, n)) return -1;
        if (na + nb > MAX_OUT) return rerr(c, n, "string larger than %zu bytes", MAX_OUT);
        char *buf = malloc(na + nb + 1);
        if (!buf) return fr_err("jinja: out of memory");
        memcpy(buf, json_string_value(a), na);
        memcpy(buf + na, json_string_value(b), nb);
        *out = jstr(buf, na + nb);
        free(buf);
        return *out ? 0 : fr_err("jinja: out of memory");
    }
    if (n->op == OP_ADD && json_is_array(a) && json_is_array(b)) {
        *out = json_array();
        if (!*out || json_array_extend(*out, (json_t *)a) || json_array_extend(*out, (json_t *)b)) return fr_err("jinja: out of memory");
        return 0;
    }
    if (n->op == OP_MUL && ((json_is_string(a) && is_int(b)) || (is_int(a) && json_is_string(b)))) {
        const json_t *s = json_is_string(a) ? a : b;
        *out = repeat(json_string_value(s), json_string_length(s), as_ll(json_is_string(a) ? b : a));
        return *out ? 0 : -1;
    }
    if (n->op == OP_MUL && ((json_is_array(a) && is_int(b)) || (is_int(a) && json_is_array(b)))) {
        const json_t *l = json_is_array(a) ? a : b;
        long long k = as_ll(json_is_array(a) ? b : a);
        if (k > 0 && json_array_size(l) * (size_t)k > MAX_RANGE) return rerr(c, n, "list repetition too large");
        *out = json_array();
        for (long long i = 0; i < k; i++) json_array_extend(*out, (json_t *)l);
        return 0;
    }
    return arith_err(c, n, opn, a, b);
}

/* ---- tests ---- */

static int run_test(ctx *c, const jnode *n, const json_t *v, const args_t *a, int *r) {
    const char *t = n->s;
    json_t *x = arg(a, 0, NULL, NULL);
    int cmp;
    static const char *const unary[] = {"defined", "undefined", "none", "string", "mapping", "iterable", "sequence", "number",
                                        "integer", "float", "boolean", "true", "false", "even", "odd", "callable", "escaped",
                                        "lower", "upper", NULL};
    for (int k = 0; unary[k]; k++)
        if (!strcmp(t, unary[k]) && a->n) return rerr(c, n, "test '%s' takes no arguments, %d given", t, a->n);
    if (a->n > 1) return rerr(c, n, "test '%s' takes at most one argument", t);
    if (!strcmp(t, "defined")) *r = v != NULL;
    else if (!strcmp(t, "undefined")) *r = v == NULL;
    else if (!strcmp(t, "none")) *r = v && json_is_null(v);
    else if (!strcmp(t, "string")) *r = v && json_is_string(v);
    else if (!strcmp(t, "mapping")) *r = v && json_is_object(v);
    else if (!strcmp(t, "iterable")) *r = !v || json_is_array(v) || json_is_object(v) || json_is_string(v);
    else if (!strcmp(t, "sequence")) *r = v && (json_is_array(v) || json_is_object(v) || json_is_string(v));
    else if (!strcmp(t, "number")) *r = is_num(v);
    else if (!strcmp(t, "integer")) *r = v && json_is_integer(v);
    else if (!strcmp(t, "float")) *r = v && json_is_real(v);
    else if (!strcmp(t, "boolean")) *r = v && json_is_boolean(v);
    else if (!strcmp(t, "true")) *r = v && json_is_true(v);
    else if (!strcmp(t, "false")) *r = v && json_is_false(v);
    else if (!strcmp(t, "callable")) *r = find_macro(c, v) != NULL;
    else if (!strcmp(t, "escaped")) *r = 0;
    else if (!strcmp(t, "even") || !strcmp(t, "odd") || !strcmp(t, "divisibleby")) {
        if (!is_int(v)) return rerr(c, n, "test '%s' expects an integer, got %s", t, type_name(v));
        long long m = 2;
        if (t[0] == 'd') {
            if (!is_int(x) || as_ll(x) == 0) return rerr(c, n, "divisibleby expects a non-zero integer argument");
            m = as_ll(x);
        }
        long long rem = m == -1 ? 0 : as_ll(v) % m;
        *r = t[0] == 'o' ? rem != 0 : rem == 0;
    } else if (!strcmp(t, "eq") || !strcmp(t, "equalto") || !strcmp(t, "==")) *r = jeq(v, x);
    else if (!strcmp(t, "ne") || !strcmp(t, "!=")) *r = !jeq(v, x);
    else if (!strcmp(t, "lt") || !strcmp(t, "lessthan") || !strcmp(t, "le") || !strcmp(t, "gt") ||
             !strcmp(t, "greaterthan") || !strcmp(t, "ge")) {
        if (!v || !x || jcmp(v, x, &cmp)) return rerr(c, n, "test '%s': cannot compare %s and %s", t, type_name(v), type_name(x));
        *r = t[0] == 'l' ? (t[1] == 'e' && t[2] != 's' ? cmp <= 0 : cmp < 0) : (t[1] == 'e' ? cmp >= 0 : cmp > 0);
        if (!strcmp(t, "lt") || !strcmp(t, "lessthan")) *r = cmp < 0;
        else if (!strcmp(t, "le")) *r = cmp <= 0;
        else if (!strcmp(t, "gt") || !strcmp(t, "greaterthan")) *r = cmp > 0;
        else *r = cmp >= 0;
    } else if (!strcmp(t, "in")) {
        if (contains(c, n, x, v, r)) return -1;
    } else if (!strcmp(t, "sameas")) {
        /* identity; Python's small ints and equal scalars count as the same object */
        *r = (!v && !x) || (v && x && (v == x || (json_typeof(v) == json_typeof(x) && !json_is_array(v) && !json_is_object(v) && jeq(v, x))));
    } else if (!strcmp(t, "lower") || !strcmp(t, "upper")) {
        *r = 0;
        if (v && json_is_string(v)) {
            const char *s = json_string_value(v);
            int cased = 0, bad = 0;
            for (size_t i = 0; i < json_string_length(v); i++) {
                if (s[i] >= 'a' && s[i] <= 'z') { cased = 1; bad |= t[0] == 'u'; }
                if (s[i] >= 'A' && s[i] <= 'Z') { cased = 1; bad |= t[0] == 'l'; }
            }
            *r = cased && !bad;
        }
    } else if (!strcmp(t, "filter") || !strcmp(t, "test")) {
        *r = x && json_is_string(x) && (t[0] == 'f' ? fr_jinja_known_filter(json_string_value(x)) : fr_jinja_known_test(json_string_value(x)));
    } else {
        return rerr(c, n, "unknown test '%s'", t);
    }
    return 0;
}

/* ---- string methods and filters ---- */

/* simple case mapping for ASCII, Latin-1, Latin Extended-A, Greek, Cyrillic, fullwidth */
static uint32_t cp_upper(uint32_t c) {
    if (c >= 'a' && c <= 'z') return c - 32;
    if (c < 0x80) return c;
    if (c == 0xb5) return 0x39c;
    if (c >= 0xe0 && c <= 0xfe && c != 0xf7) return c - 32;
    if (c == 0xff) return 0x178;
    if ((c >= 0x100 && c <= 0x137) || (c >= 0x14a && c <= 0x177)) return c & ~1u;
    if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17e)) return (c & 1) ? c : c - 1;
    if (c == 0x131) return 'I';
    if (c == 0x17f) return 'S';
    if (c == 0x3c2) return 0x3a3;
    if (c >= 0x3b1 && c <= 0x3cb) return c - 32;
    if (c >= 0x430 && c <= 0x44f) return c - 32;
    if (c >= 0x450 && c <= 0x45f) return c - 80;
    if (c >= 0xff41 && c <= 0xff5a) return c - 32;
    return c;
}

static uint32_t cp_lower(uint32_t c) {
    if (c >= 'A' && c <= 'Z') return c + 32;
    if (c < 0x80) return c;
    if (c >= 0xc0 && c <= 0xde && c != 0xd7) return c + 32;
    if (c == 0x178) return 0xff;
    if ((c >= 0x100 && c <= 0x137 && c != 0x130) || (c >= 0x14a && c <= 0x177)) return c | 1u;
    if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17e)) return (c & 1) ? c + 1 : c;
    if (c >= 0x391 && c <= 0x3ab && c != 0x3a2) return c + 32;
    if (c >= 0x410 && c <= 0x42f) return c + 32;
    if (c >= 0x400 && c <= 0x40f) return c + 80;
    if (c >= 0xff21 && c <= 0xff3a) return c + 32;
    return c;
}

static int cp_cased(uint32_t c) {
    return cp_upper(c) != c || cp_lower(c) != c || c == 0xdf || (c >= 0x370 && c <= 0x3ff) || (c >= 0x400 && c <= 0x4ff) ||
           (c >= 0xc0 && c <= 0x24f && c != 0xd7 && c != 0xf7);
}

static int put_cp(char *o, uint32_t cp) {
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) { o[0] = (char)(0xc0 | cp >> 6); o[1] = (char)(0x80 | (cp & 63)); return 2; }
    if (cp < 0x10000) { o[0] = (char)(0xe0 | cp >> 12); o[1] = (char)(0x80 | (cp >> 6 & 63)); o[2] = (char)(0x80 | (cp & 63)); return 3; }
    o[0] = (char)(0xf0 | cp >> 18); o[1] = (char)(0x80 | (cp >> 12 & 63)); o[2] = (char)(0x80 | (cp >> 6 & 63)); o[3] = (char)(0x80 | (cp & 63));
    return 4;
}

/* mode 0 lower, 1 upper, 2 capitalize, 3 str.title(), 4 Jinja's title filter */
static json_t *str_case(const char *s, size_t n, int mode) {
    char *b = malloc(2 * n + 1); /* "ß" -> "SS" at most doubles */
    if (!b) return NULL;
    size_t o = 0;
    int prev_cased = 0, first = 1;
    for (size_t i = 0; i < n;) {
        size_t l;
        uint32_t c = u8cp(s, n, i, &l);
        int up = mode == 1 || (mode == 2 && first) || (mode == 3 && !prev_cased) || (mode == 4 && first);
        if (l == 1 && (unsigned char)s[i] >= 0x80) { b[o++] = s[i]; } /* invalid byte: copy */
        else if (up && c == 0xdf) { b[o++] = 'S'; b[o++] = 'S'; }
        else o += (size_t)put_cp(b + o, up ? cp_upper(c) : cp_lower(c));
        prev_cased = cp_cased(c);
        first = mode == 4 ? (py_space(c) || c == '-' || c == '(' || c == '{' || c == '[' || c == '<') : 0;
        i += l;
    }
    json_t *r = jstr(b, o);
    free(b);
    return r;
}

/* strip: which 1 left, 2 right, 3 both; chars NULL = whitespace */
static json_t *str_strip(const char *s, size_t n, int which, const json_t *chars) {
    size_t a = 0, b = n;
    const char *cs = chars ? json_string_value(chars) : NULL;
    size_t cn = chars ? json_string_length(chars) : 0;
    if (which & 1) {
        while (a < b) {
            size_t l;
            uint32_t cp = u8cp(s, n, a, &l);
            int in = 0;
            if (cs) {
                for (size_t i = 0; i < cn;) {
                    size_t l2 = u8len(cs, cn, i);
                    if (l2 == l && !memcmp(cs + i, s + a, l)) { in = 1; break; }
                    i += l2;
                }
            } else {
                in = py_space(cp);
            }
            if (!in) break;
            a += l;
        }
    }
    if (which & 2) {
        while (b > a) {
            size_t st = b - 1;
            while (st > a && ((unsigned char)s[st] & 0xc0) == 0x80 && b - st < 4) st--;
            size_t l;
            uint32_t cp = u8cp(s, n, st, &l);
            if (st + l != b) { st = b - 1; cp = (unsigned char)s[st]; l = 1; }
            int in = 0;
            if (cs) {
                for (size_t i = 0; i < cn;) {
                    size_t l2 = u8len(cs, cn, i);
                    if (l2 == l && !memcmp(cs + i, s + st, l)) { in = 1; break; }
                    i += l2;
                }
            } else {
                in = py_space(cp);
            }
            if (!in) break;
            b = st;
        }
    }
    return jstr(s + a, b - a);
}

static const char *find_bytes(const char *h, size_t hn, const char *s, size_t sn) {
    if (sn > hn) return NULL;
    for (size_t i = 0; i + sn <= hn; i++)
        if (!memcmp(h + i, s, sn)) return h + i;
    return NULL;
}

static const char *rfind_bytes(const char *h, size_t hn, const char *s, size_t sn) {
    if (sn > hn) return NULL;
    for (size_t i = hn - sn + 1; i-- > 0;)
        if (!memcmp(h + i, s, sn)) return h + i;
    return NULL;
}

/* str.split / rsplit (sep NULL = runs of whitespace) */
static int str_split(ctx *c, const jnode *n, const char *s, size_t len, const json_t *sep, long long maxsplit, int right, json_t **out) {
    json_t *r = json_array();
    if (!r) return fr_err("jinja: out of memory");
    if (sep && json_is_string(sep)) {
        const char *d = json_string_value(sep);
        size_t dn = json_string_length(sep);
        if (!dn) { json_decref(r); return rerr(c, n, "empty separator"); }
        if (!right) {
            size_t pos = 0;
            long long k = 0;
            for (;;) {
                const char *f = (maxsplit < 0 || k < maxsplit) ? find_bytes(s + pos, len - pos, d, dn) : NULL;
                if (!f) { json_array_append_new(r, jstr(s + pos, len - pos)); break; }
                json_array_append_new(r, jstr(s + pos, (size_t)(f - (s + pos))));
                pos = (size_t)(f - s) + dn;
                k++;
            }
        } else {
            size_t end = len;
            long long k = 0;
            json_t *rev = json_array();
            for (;;) {
                const char *f = (maxsplit < 0 || k < maxsplit) ? rfind_bytes(s, end, d, dn) : NULL;
                if (!f) { json_array_append_new(rev, jstr(s, end)); break; }
                json_array_append_new(rev, jstr(f + dn, end - (size_t)(f - s) - dn));
                end = (size_t)(f - s);
                k++;
            }
            for (size_t i = json_array_size(rev); i-- > 0;) json_array_append(r, json_array_get(rev, i));
            json_decref(rev);
        }
    } else {
        /* whitespace split; rsplit with maxsplit handled by the same scan from the left when maxsplit < 0 */
        size_t i = 0;
        long long k = 0;
        if (right && maxsplit >= 0) {
            /* scan from the right */
            json_t *rev = json_array();
            size_t end = len;
            for (;;) {
                while (end > 0) { /* skip trailing whitespace */
                    size_t st = end - 1;
                    while (st > 0 && ((unsigned char)s[st] & 0xc0) == 0x80 && end - st < 4) st--;
                    size_t l;
                    uint32_t cp = u8cp(s, len, st, &l);
                    if (st + l != end || !py_space(cp)) break;
                    end = st;
                }
                if (!end) break;
                if (k >= maxsplit) { json_array_append_new(rev, jstr(s, end)); break; }
                size_t st = end;
                while (st > 0) {
                    size_t q = st - 1;
                    while (q > 0 && ((unsigned char)s[q] & 0xc0) == 0x80 && st - q < 4) q--;
                    size_t l;
                    uint32_t cp = u8cp(s, len, q, &l);
                    if (q + l == st && py_space(cp)) break;
                    st = q;
                }
                json_array_append_new(rev, jstr(s + st, end - st));
                end = st;
                k++;
            }
            for (size_t j = json_array_size(rev); j-- > 0;) json_array_append(r, json_array_get(rev, j));
            json_decref(rev);
        } else {
            for (;;) {
                size_t l;
                while (i < len && py_space(u8cp(s, len, i, &l))) i += l;
                if (i >= len) break;
                if (maxsplit >= 0 && k >= maxsplit) {
                    size_t e = len;
                    while (e > i) { /* the rest, right-stripped */
                        size_t st = e - 1;
                        while (st > i && ((unsigned char)s[st] & 0xc0) == 0x80 && e - st < 4) st--;
                        uint32_t cp = u8cp(s, len, st, &l);
                        if (st + l != e || !py_space(cp)) break;
                        e = st;
                    }
                    json_array_append_new(r, jstr(s + i, e - i));
                    break;
                }
                size_t st = i;
                while (i < len && !py_space(u8cp(s, len, i, &l))) i += l;
                json_array_append_new(r, jstr(s + st, i - st));
                k++;
            }
        }
    }
    *out = r;
    return 0;
}

static json_t *str_replace(const char *s, size_t n, const json_t *o, const json_t *w, long long count) {
    const char *os = json_string_value(o), *ws = json_string_value(w);
    size_t on = json_string_length(o), wn = json_string_length(w);
    sbuf b = {0};
    size_t i = 0;
    long long k = 0;
    int rc = 0;
    if (!on) { /* Python inserts the replacement between characters */
        while (!rc && (count < 0 || k < count)) {
            rc = sb_put(&b, ws, wn);
            k++;
            if (i >= n) break;
            size_t l = u8len(s, n, i);
            rc = rc || sb_put(&b, s + i, l);
            i += l;
        }
        if (!rc && i < n) rc = sb_put(&b, s + i, n - i);
    } else {
        while (!rc) {
            const char *f = (count < 0 || k < count) ? find_bytes(s + i, n - i, os, on) : NULL;
            if (!f) { rc = sb_put(&b, s + i, n - i); break; }
            rc = sb_put(&b, s + i, (size_t)(f - (s + i))) || sb_put(&b, ws, wn);
            i = (size_t)(f - s) + on;
            k++;
        }
    }
    json_t *r = rc ? NULL : jstr(b.p ? b.p : "", b.n);
    free(b.p);
    return r;
}

static int join_values(ctx *c, const jnode *n, const json_t *seq, const json_t *sep, const char *attr, json_t **out) {
    json_t *items;
    if (iter_items(c, n, seq, &items)) return -1;
    sbuf b = {0};
    int rc = 0;
    for (size_t i = 0; i < json_array_size(items) && !rc; i++) {
        json_t *x = json_array_get(items, i);
        if (attr) x = json_is_object(x) ? json_object_get(x, attr) : NULL;
        if (i && sep) rc = py_str(&b, sep);
        if (!rc) rc = py_str(&b, x);
    }
    json_decref(items);
    if (!rc && !(*out = jstr(b.p ? b.p : "", b.n))) rc = fr_err("jinja: out of memory");
    free(b.p);
    return rc;
}

static int call_method(ctx *c, const jnode *n, json_t *obj, const char *m, const args_t *a, json_t **out) {
    *out = NULL;
    if (!obj) return rerr(c, n, "cannot call method '%s' of an undefined value", m);
    if (json_is_string(obj)) {
        const char *s = json_string_value(obj);
        size_t len = json_string_length(obj);
        json_t *x = arg(a, 0, NULL, NULL), *y = arg(a, 1, NULL, NULL);
        if (!strcmp(m, "startswith") || !strcmp(m, "endswith")) {
            if (!x) return rerr(c, n, "%s() needs an argument", m);
            json_t *list = json_is_array(x) ? x : NULL;
            size_t cnt = list ? json_array_size(list) : 1;
            int r = 0;
            for (size_t i = 0; i < cnt && !r; i++) {
                json_t *p = list ? json_array_get(list, i) : x;
                if (need_str(c, n, p, m)) return -1;
                size_t pn = json_string_length(p);
                r = pn <= len && !memcmp(m[0] == 's' ? s : s + len - pn, json_string_value(p), pn);
            }
            *out = json_boolean(r);
            return 0;
        }
        if (!strcmp(m, "strip") || !strcmp(m, "lstrip") || !strcmp(m, "rstrip")) {
            if (x && !json_is_null(x) && need_str(c, n, x, m)) return -1;
            *out = str_strip(s, len, m[0] == 'l' ? 1 : m[0] == 'r' ? 2 : 3, x && !json_is_null(x) ? x : NULL);
            return *out ? 0 : fr_err("jinja: out of memory");
        }
        if (!strcmp(m, "split") || !strcmp(m, "rsplit")) {
            json_t *sep = arg(a, 0, "sep", NULL), *mx = arg(a, 1, "maxsplit", NULL);
            if (sep && !json_is_null(sep) && need_str(c, n, sep, m)) return -1;
            if (mx && !is_int(mx)) return rerr(c, n, "maxsplit must be an integer");
            return str_split(c, n, s, len, sep && !json_is_null(sep) ? sep : NULL, mx ? as_ll(mx) : -1, m[0] == 'r', out);
        }
        if (!strcmp(m, "upper") || !strcmp(m, "lower") || !strcmp(m, "capitalize") || !strcmp(m, "title")) {
            *out = str_case(s, len, m[0] == 'l' ? 0 : m[0] == 'u' ? 1 : m[0] == 'c' ? 2 : 3);
            return *out ? 0 : fr_err("jinja: out of memory");
        }
        if (!strcmp(m, "replace")) {
            if (need_str(c, n, x, m) || need_str(c, n, y, m)) return -1;
            json_t *k = arg(a, 2, "count", NULL);
            *out = str_replace(s, len, x, y, k && is_int(k) ? as_ll(k) : -1);
            return *out ? 0 : -1;
        }
        if (!strcmp(m, "find") || !strcmp(m, "rfind") || !strcmp(m, "index") || !strcmp(m, "rindex") || !strcmp(m, "count")) {
            if (need_str(c, n, x, m)) return -1;
            const char *p = json_string_value(x);
            size_t pn = json_string_length(x);
            if (!strcmp(m, "count")) {
                long long k = 0;
                if (!pn) k = (long long)u8count(s, len) + 1;
                else for (const char *f = s; (f = find_bytes(f, len - (size_t)(f - s), p, pn)); f += pn) k++;
                *out = json_integer(k);
                return 0;
            }
            const char *f = m[0] == 'r' ? rfind_bytes(s, len, p, pn) : find_bytes(s, len, p, pn);
            if (!f && (m[0] == 'i' || m[1] == 'i')) return rerr(c, n, "substring not found");
            *out = json_integer(f ? (long long)u8count(s, (size_t)(f - s)) : -1);
            return 0;
        }
        if (!strcmp(m, "join")) {
            if (!x) return rerr(c, n, "join() needs an argument");
            return join_values(c, n, x, obj, NULL, out);
        }
        if (!strcmp(m, "isdigit") || !strcmp(m, "isspace") || !strcmp(m, "isalpha") || !strcmp(m, "isalnum") ||
            !strcmp(m, "islower") || !strcmp(m, "isupper")) {
            int r = len > 0;
            for (size_t i = 0; i < len && r; i++) {
                unsigned char ch = (unsigned char)s[i];
                if (m[2] == 'd') r = ch >= '0' && ch <= '9';
                else if (m[2] == 's') r = py_space(ch);
                else if (!strcmp(m, "isalpha")) r = (ch | 32) >= 'a' && (ch | 32) <= 'z';
                else if (!strcmp(m, "isalnum")) r = ((ch | 32) >= 'a' && (ch | 32) <= 'z') || (ch >= '0' && ch <= '9');
                else if (m[2] == 'l') r = !(ch >= 'A' && ch <= 'Z');
                else r = !(ch >= 'a' && ch <= 'z');
            }
            *out = json_boolean(r);
            return 0;
        }
        if (!strcmp(m, "splitlines")) {
            json_t *r = json_array();
            size_t st = 0;
            for (size_t i = 0; i < len; i++)
                if (s[i] == '\n' || s[i] == '\r') {
                    json_array_append_new(r, jstr(s + st, i - st));
                    if (s[i] == '\r' && i + 1 < len && s[i + 1] == '\n') i++;
                    st = i + 1;
                }
            if (st < len) json_array_append_new(r, jstr(s + st, len - st));
            *out = r;
            return 0;
        }
        return rerr(c, n, "unsupported string method '%s'", m);
    }
    if (json_is_object(obj)) {
        json_t *i0 = json_object_get(obj, "index0");
        if (!strcmp(m, "cycle") && is_int(i0) && json_object_get(obj, "revindex0")) { /* loop.cycle(a, b, ...) */
            if (!a->n) return rerr(c, n, "loop.cycle() needs at least one argument");
            *out = json_incref(a->v[as_ll(i0) % a->n]);
            return 0;
        }
        if (!strcmp(m, "get")) {
            json_t *k = arg(a, 0, NULL, NULL), *d = arg(a, 1, NULL, NULL);
            json_t *v = k && json_is_string(k) ? json_object_get(obj, json_string_value(k)) : NULL;
            *out = json_incref(v ? v : d ? d : json_null());
            return 0;
        }
        if (!strcmp(m, "items") || !strcmp(m, "keys") || !strcmp(m, "values")) {
            json_t *r = json_array();
            const char *k;
            json_t *v;
            json_object_foreach(obj, k, v) {
                if (m[0] == 'k') json_array_append_new(r, json_string_nocheck(k));
                else if (m[0] == 'v') json_array_append(r, v);
                else json_array_append_new(r, as_tuple(json_pack("[sO]", k, v)));
            }
            *out = r;
            return 0;
        }
        return rerr(c, n, "unsupported dict method '%s'", m);
    }
    return rerr(c, n, "'%s' object has no method '%s'", type_name(obj), m);
}

/* sorting: keys computed once (the attribute, lowercased unless case
 * sensitive), then a stable merge sort */
typedef struct {
    json_t *v;   /* the item (borrowed) */
    json_t *key; /* owned reference, NULL for undefined */
} sitem;

static int sitem_cmp(const sitem *a, const sitem *b, int *err) {
    int r = 0;
    if (!a->key || !b->key || jcmp(a->key, b->key, &r)) *err = 1;
    return r;
}

static void merge_sort(sitem *v, sitem *tmp, size_t n, int rev, int *err) {
    if (n < 2) return;
    size_t h = n / 2;
    merge_sort(v, tmp, h, rev, err);
    merge_sort(v + h, tmp, n - h, rev, err);
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n) {
        int c = sitem_cmp(&v[j], &v[i], err); /* take from the right only when strictly before: stable */
        if (rev ? c > 0 : c < 0) tmp[k++] = v[j++];
        else tmp[k++] = v[i++];
    }
    while (i < h) tmp[k++] = v[i++];
    while (j < n) tmp[k++] = v[j++];
    memcpy(v, tmp, n * sizeof *v);
}

/* a new array: a copy of items sorted stably */
static int sorted_copy(ctx *c, const jnode *n, json_t *items, int rev, int cs, const char *attr, json_t **out) {
    size_t cnt = json_array_size(items);
    sitem *v = calloc(cnt + 1, sizeof *v), *tmp = calloc(cnt + 1, sizeof *tmp);
    int err = 0, rc = 0;
    if (!v || !tmp) { free(v); free(tmp); return fr_err("jinja: out of memory"); }
    c->steps += (long long)cnt * 8;
    if (step(c, n)) { free(v); free(tmp); return -1; }
    for (size_t i = 0; i < cnt; i++) {
        json_t *x = json_array_get(items, i), *k = x;
        if (attr) k = json_is_object(x) ? json_object_get(x, attr) : NULL;
        v[i].v = x;
        if (k && json_is_string(k) && !cs) v[i].key = str_case(json_string_value(k), json_string_length(k), 0);
        else v[i].key = json_incref(k);
    }
    merge_sort(v, tmp, cnt, rev, &err);
    if (err) rc = rerr(c, n, "sort: values cannot be compared");
    json_t *r = rc ? NULL : json_array();
    for (size_t i = 0; i < cnt; i++) {
        if (r) json_array_append(r, v[i].v);
        json_decref(v[i].key);
    }
    free(v);
    free(tmp);
    *out = r;
    return rc;
}

static int apply_filter(ctx *c, const jnode *n, const char *f, json_t *v, const args_t *a, json_t **out);
static int do_unique(ctx *c, const jnode *n, json_t *v, const args_t *a, json_t **out);

/* select/reject/selectattr/rejectattr/map */
static int filter_seq(ctx *c, const jnode *n, const char *f, json_t *v, const args_t *a, json_t **out) {
    json_t *items;
    if (iter_items(c, n, v, &items)) return -1;
    json_t *r = json_array();
    int rc = 0;
    int isattr = !strcmp(f, "selectattr") || !strcmp(f, "rejectattr");
    int ismap = !strcmp(f, "map");
    json_t *attr = ismap ? arg(a, -1, "attribute", NULL) : isattr ? arg(a, 0, NULL, NULL) : NULL;
    json_t *tname = arg(a, isattr ? 1 : 0, NULL, NULL);
    for (size_t i = 0; i < json_array_size(items) && !rc; i++) {
        json_t *x = json_array_get(items, i);
        if (ismap) {
            json_t *y = NULL;
            if (attr) {
                if (need_str(c, n, attr, "map attribute")) { rc = -1; break; }
                if (json_is_object(x)) y = json_incref(json_object_get(x, json_string_value(attr)));
                if (!y) { json_t *d = arg(a, -1, "default", NULL); y = json_incref(d ? d : g_undef); }
            } else {
                json_t *fn = arg(a, 0, NULL, NULL);
                if (need_str(c, n, fn, "map")) { rc = -1; break; }
                if (!fr_jinja_known_filter(json_string_value(fn))) { rc = rerr(c, n, "unknown filter '%s'", json_string_value(fn)); break; }
                args_t sub = {{0}, {0}, 0};
                for (int k = 1; k < a->n; k++) { sub.v[sub.n] = a->v[k]; sub.kw[sub.n] = a->kw[k]; sub.n++; }
                rc = apply_filter(c, n, json_string_value(fn), json_incref(x), &sub, &y);
            }
            if (!rc) { if (y) json_array_append_new(r, y); else json_array_append_new(r, json_null()); }
            continue;
        }
        json_t *subject = x;
        if (isattr) {
            if (need_str(c, n, attr, f)) { rc = -1; break; }
            subject = json_is_object(x) ? json_object_get(x, json_string_value(attr)) : NULL;
        }
        int keep;
        if (!tname) keep = truthy(subject);
        else {
            if (need_str(c, n, tname, f)) { rc = -1; break; }
            if (!fr_jinja_known_test(json_string_value(tname))) { rc = rerr(c, n, "unknown test '%s'", json_string_value(tname)); break; }
            jnode tn = *n;
            tn.s = (char *)json_string_value(tname);
            args_t sub = {{0}, {0}, 0};
            for (int k = (isattr ? 2 : 1); k < a->n; k++) { sub.v[sub.n] = a->v[k]; sub.kw[sub.n] = a->kw[k]; sub.n++; }
            if (run_test(c, &tn, subject, &sub, &keep)) { rc = -1; break; }
        }
        if (f[0] == 'r') keep = !keep;
        if (keep) json_array_append(r, x);
    }
    json_decref(items);
    if (rc) { json_decref(r); return -1; }
    *out = r;
    return 0;
}

/* consumes v */
static int apply_filter(ctx *c, const jnode *n, const char *f, json_t *v, const args_t *a, json_t **out) {
    int rc = 0;
    *out = NULL;
    json_t *x = arg(a, 0, NULL, NULL);
    if (!strcmp(f, "safe")) { *out = v; return 0; }
    if (!strcmp(f, "default") || !strcmp(f, "d")) {
        json_t *dv = arg(a, 0, "default_value", NULL), *bo = arg(a, 1, "boolean", NULL);
        if (!v || (truthy(bo) && !truthy(v))) {
            json_decref(v);
            *out = dv ? json_incref(dv) : jstr("", 0);
        } else {
            *out = v;
        }
        return 0;
    }
    if (!strcmp(f, "tojson")) {
        static const char *const kws[] = {"indent", "ensure_ascii", "separators", "sort_keys", NULL};
        /* transformers' tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False) */
        if (check_args(c, n, a, "tojson", 4, kws)) goto fail;
        json_t *ea = arg(a, 0, "ensure_ascii", NULL), *ind = arg(a, 1, "indent", NULL), *sp = arg(a, 2, "separators", NULL),
               *sk = arg(a, 3, "sort_keys", NULL);
        if (ind && !json_is_null(ind) && !is_int(ind)) { rc = rerr(c, n, "tojson: indent must be an integer"); goto fail; }
        const char *is = NULL, *ks = NULL;
        if (sp && !json_is_null(sp)) {
            if (!json_is_array(sp) || json_array_size(sp) != 2 || !json_is_string(json_array_get(sp, 0)) || !json_is_string(json_array_get(sp, 1))) {
                rc = rerr(c, n, "tojson: separators must be a pair of strings");
                goto fail;
            }
            is = json_string_value(json_array_get(sp, 0));
            ks = json_string_value(json_array_get(sp, 1));
        }
        if (!v) { rc = rerr(c, n, "tojson: value is undefined"); goto fail; }
        long long iv = ind && !json_is_null(ind) ? as_ll(ind) : -1;
        if (iv > 64) iv = 64;
        if (ind && !json_is_null(ind) && iv < 0) iv = 0; /* Python: ' ' * -1 == '' */
        char *s = fr_jinja_tojson(v, truthy(ea), (int)iv, is, ks, truthy(sk));
        if (!s) { rc = rerr(c, n, "tojson: %s", fr_err_msg()); goto fail; }
        *out = jstr(s, strlen(s));
        free(s);
        json_decref(v);
        return 0;
    }
    if (!strcmp(f, "format")) {
        json_t *s0 = to_jstr(v);
        json_decref(v);
        if (!s0) return -1;
        for (int i = 0; i < a->n; i++)
            if (a->kw[i]) { json_decref(s0); return rerr(c, n, "format: keyword arguments are not supported"); }
        rc = py_percent(c, n, s0, (const json_t *const *)a->v, (size_t)a->n, out);
        json_decref(s0);
        return rc;
    }
    if (!strcmp(f, "string")) { *out = to_jstr(v); json_decref(v); return *out ? 0 : -1; }
    if (!strcmp(f, "trim") || !strcmp(f, "upper") || !strcmp(f, "lower") || !strcmp(f, "capitalize") || !strcmp(f, "title") ||
        !strcmp(f, "center") || !strcmp(f, "replace") || !strcmp(f, "indent") || !strcmp(f, "escape") || !strcmp(f, "e") || !strcmp(f, "wordcount")) {
        json_t *s = to_jstr(v);
        json_decref(v);
        if (!s) return -1;
        const char *p = json_string_value(s);
        size_t len = json_string_length(s);
        if (!strcmp(f, "trim")) {
            json_t *chars = arg(a, 0, "chars", NULL);
            if (chars && !json_is_null(chars) && need_str(c, n, chars, "trim")) { json_decref(s); return -1; }
            *out = str_strip(p, len, 3, chars && !json_is_null(chars) ? chars : NULL);
        } else if (!strcmp(f, "upper")) *out = str_case(p, len, 1);
        else if (!strcmp(f, "lower")) *out = str_case(p, len, 0);
        else if (!strcmp(f, "capitalize")) *out = str_case(p, len, 2);
        else if (!strcmp(f, "title")) *out = str_case(p, len, 4);
        else if (!strcmp(f, "center")) {
            json_t *w = arg(a, 0, "width", NULL);
            long long width = w && is_int(w) ? as_ll(w) : 80, cnt = (long long)u8count(p, len);
            if (width > 4096) width = 4096;
            sbuf b = {0};
            long long pad = width - cnt, left = pad > 0 ? pad / 2 + (pad & width & 1) : 0;
            for (long long i = 0; i < left && !rc; i++) rc = sb_putc(&b, ' ');
            if (!rc) rc = sb_put(&b, p, len);
            for (long long i = 0; i < pad - left && !rc; i++) rc = sb_putc(&b, ' ');
            if (!rc) *out = jstr(b.p ? b.p : "", b.n);
            free(b.p);
        }
        else if (!strcmp(f, "replace")) {
            json_t *o = arg(a, 0, "old", NULL), *w = arg(a, 1, "new", NULL), *k = arg(a, 2, "count", NULL);
            json_t *os = o ? to_jstr(o) : NULL, *ws = w ? to_jstr(w) : NULL;
            if (!os || !ws) rc = rerr(c, n, "replace needs two arguments");
            else *out = str_replace(p, len, os, ws, k && is_int(k) ? as_ll(k) : -1);
            json_decref(os);
            json_decref(ws);
        } else if (!strcmp(f, "indent")) {
            json_t *w = arg(a, 0, "width", NULL), *first = arg(a, 1, "first", NULL), *blank = arg(a, 2, "blank", NULL);
            sbuf ind = {0}, b = {0};
            if (w && json_is_string(w)) rc = sb_put(&ind, json_string_value(w), json_string_length(w));
            else for (long long i = 0; i < (w && is_int(w) ? as_ll(w) : 4) && i < 256 && !rc; i++) rc = sb_putc(&ind, ' ');
            size_t st = 0;
            int line = 0;
            for (size_t i = 0; i <= len && !rc; i++) {
                if (i < len && p[i] != '\n') continue;
                int empty = i == st;
                if ((line > 0 || truthy(first)) && (!empty || truthy(blank)) && ind.n) rc = sb_put(&b, ind.p, ind.n);
                if (!rc) rc = sb_put(&b, p + st, i - st);
                if (!rc && i < len) rc = sb_putc(&b, '\n');
                st = i + 1;
                line++;
            }
            if (!rc) *out = jstr(b.p ? b.p : "", b.n);
            free(ind.p);
            free(b.p);
        } else if (!strcmp(f, "wordcount")) {
            long long k = 0;
            int in = 0;
            for (size_t i = 0; i < len; i++) {
                int w = (p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z') || (p[i] >= '0' && p[i] <= '9') || p[i] == '_' || (unsigned char)p[i] >= 0x80;
                if (w && !in) k++;
                in = w;
            }
            *out = json_integer(k);
        } else { /* escape */
            sbuf b = {0};
            for (size_t i = 0; i < len && !rc; i++) {
                switch (p[i]) {
                case '&': rc = sb_puts(&b, "&amp;"); break;
                case '<': rc = sb_puts(&b, "&lt;"); break;
                case '>': rc = sb_puts(&b, "&gt;"); break;
                case '"': rc = sb_puts(&b, "&#34;"); break;
                case '\'': rc = sb_puts(&b, "&#39;"); break;
                default: rc = sb_putc(&b, p[i]);
                }
            }
            if (!rc) *out = jstr(b.p ? b.p : "", b.n);
            free(b.p);
        }
        json_decref(s);
        if (!rc && !*out) rc = fr_err("jinja: out of memory");
        return rc;
    }
    if (!strcmp(f, "length") || !strcmp(f, "count")) {
        if (!v) *out = json_integer(0);
        else if (json_is_string(v)) *out = json_integer((json_int_t)u8count(json_string_value(v), json_string_length(v)));
        else if (json_is_array(v)) *out = json_integer((json_int_t)json_array_size(v));
        else if (json_is_object(v)) *out = json_integer((json_int_t)json_object_size(v));
        else { rc = rerr(c, n, "object of type '%s' has no len()", type_name(v)); goto fail; }
        json_decref(v);
        return 0;
    }
    if (!strcmp(f, "items") || !strcmp(f, "dictsort")) {
        if (!v) { *out = json_array(); return 0; }
        if (!json_is_object(v)) { rc = rerr(c, n, "%s expects a mapping, got %s", f, type_name(v)); goto fail; }
        args_t none = {{0}, {0}, 0};
        rc = call_method(c, n, v, "items", &none, out);
        if (!rc && f[0] == 'd') {
            json_t *items = *out, *cs = arg(a, 0, "case_sensitive", NULL), *by = arg(a, 1, "by", NULL), *rv = arg(a, 2, "reverse", NULL);
            size_t cnt = json_array_size(items);
            json_t *keyed = json_array();
            /* sort pairs by key (or value): sort index 0 or 1 via a temporary wrapper */
            int byv = by && json_is_string(by) && !strcmp(json_string_value(by), "value");
            for (size_t i = 0; i < cnt; i++) {
                json_t *pr = json_array_get(items, i);
                json_array_append_new(keyed, json_pack("{sOsO}", "k", json_array_get(pr, byv ? 1 : 0), "p", pr));
            }
            json_t *srt = NULL;
            rc = sorted_copy(c, n, keyed, truthy(rv), truthy(cs), "k", &srt);
            json_decref(items);
            *out = NULL;
            if (!rc) {
                *out = json_array();
                for (size_t i = 0; i < cnt; i++) json_array_append(*out, json_object_get(json_array_get(srt, i), "p"));
            }
            json_decref(srt);
            json_decref(keyed);
        }
        json_decref(v);
        return rc;
    }
    if (!strcmp(f, "join")) {
        json_t *sep = arg(a, 0, "d", NULL), *at = arg(a, 1, "attribute", NULL);
        if (at && need_str(c, n, at, "join attribute")) goto fail;
        rc = join_values(c, n, v, sep, at ? json_string_value(at) : NULL, out);
        json_decref(v);
        return rc;
    }
    if (!strcmp(f, "first") || !strcmp(f, "last")) {
        json_t *items;
        if (iter_items(c, n, v, &items)) goto fail;
        size_t cnt = json_array_size(items);
        if (cnt) *out = json_incref(json_array_get(items, f[0] == 'f' ? 0 : cnt - 1));
        if (*out == g_undef) { json_decref(*out); *out = NULL; }
        json_decref(items);
        json_decref(v);
        return 0;
    }
    if (!strcmp(f, "list")) {
        json_t *items;
        if (iter_items(c, n, v, &items)) goto fail;
        *out = json_copy(items); /* a new list */
        json_decref(items);
        json_decref(v);
        return *out ? 0 : fr_err("jinja: out of memory");
    }
    if (!strcmp(f, "reverse")) {
        if (v && json_is_string(v)) {
            const char *s = json_string_value(v);
            size_t len = json_string_length(v);
            char *b = malloc(len + 1);
            if (!b) { rc = fr_err("jinja: out of memory"); goto fail; }
            size_t o = len;
            for (size_t i = 0; i < len;) { size_t l = u8len(s, len, i); o -= l; memcpy(b + o, s + i, l); i += l; }
            *out = jstr(b, len);
            free(b);
        } else {
            json_t *items;
            if (iter_items(c, n, v, &items)) goto fail;
            *out = json_array();
            for (size_t i = json_array_size(items); i-- > 0;) json_array_append(*out, json_array_get(items, i));
            json_decref(items);
        }
        json_decref(v);
        return 0;
    }
    if (!strcmp(f, "unique")) {
        rc = do_unique(c, n, v, a, out);
        json_decref(v);
        return rc;
    }
    if (!strcmp(f, "sort") || !strcmp(f, "min") || !strcmp(f, "max") || !strcmp(f, "sum")) {
        json_t *items;
        if (iter_items(c, n, v, &items)) goto fail;
        json_decref(v);
        v = NULL;
        json_t *at = arg(a, -1, "attribute", NULL);
        if (at && need_str(c, n, at, f)) { json_decref(items); return -1; }
        const char *atn = at ? json_string_value(at) : NULL;
        if (!strcmp(f, "sum")) {
            json_t *acc = json_incref(arg(a, -1, "start", NULL));
            if (!acc) acc = json_integer(0);
            jnode add = *n;
            add.op = OP_ADD;
            for (size_t i = 0; i < json_array_size(items) && !rc; i++) {
                json_t *x2 = json_array_get(items, i), *r2;
                if (atn) x2 = json_is_object(x2) ? json_object_get(x2, atn) : NULL;
                rc = binop(c, &add, acc, x2, &r2);
                json_decref(acc);
                acc = rc ? NULL : r2;
            }
            json_decref(items);
            *out = acc;
            return rc;
        }
        json_t *rv = arg(a, 0, "reverse", NULL), *cs = arg(a, !strcmp(f, "sort") ? 1 : 0, "case_sensitive", NULL);
        if (strcmp(f, "sort")) rv = NULL;
        json_t *srt;
        rc = sorted_copy(c, n, items, truthy(rv) || !strcmp(f, "max"), truthy(cs), atn, &srt); /* max: the first largest */
        json_decref(items);
        if (rc) return -1;
        size_t cnt = json_array_size(srt);
        if (!strcmp(f, "sort")) *out = srt;
        else if (!strcmp(f, "min")) { *out = cnt ? json_incref(json_array_get(srt, 0)) : NULL; json_decref(srt); }
        else if (!strcmp(f, "max")) { *out = cnt ? json_incref(json_array_get(srt, 0)) : NULL; json_decref(srt); }
        return 0;
    }
    if (!strcmp(f, "int") || !strcmp(f, "float") || !strcmp(f, "abs") || !strcmp(f, "round")) {
        json_t *dflt = arg(a, 0, "default", NULL);
        if (!v) { rc = rerr(c, n, "%s: value is undefined", f); goto fail; }
        if (!strcmp(f, "int")) {
            if (is_int(v)) *out = json_integer(as_ll(v));
            else if (v && json_is_real(v) && fabs(json_real_value(v)) < 9.2e18) *out = json_integer((json_int_t)json_real_value(v));
            else if (v && json_is_string(v)) {
                char *e;
                const char *s = json_string_value(v);
                long long k = strtoll(s, &e, 10);
                if (e != s && !*e) *out = json_integer(k);
                else {
                    double d = strtod(s, &e);
                    if (e != s && !*e && fabs(d) < 9.2e18) *out = json_integer((json_int_t)d);
                }
            }
            if (!*out) *out = dflt ? json_incref(dflt) : json_integer(0);
        } else if (!strcmp(f, "float")) {
            if (is_num(v)) *out = json_real(as_dbl(v));
            else if (v && json_is_string(v)) {
                char *e;
                double d = strtod(json_string_value(v), &e);
                if (e != json_string_value(v) && !*e) *out = json_real(d);
            }
            if (!*out) *out = dflt ? json_incref(dflt) : json_real(0);
        } else if (!strcmp(f, "abs")) {
            if (!is_num(v)) { rc = rerr(c, n, "bad operand type for abs(): '%s'", type_name(v)); goto fail; }
            if (is_int(v)) {
                if (as_ll(v) == INT64_MIN) { rc = rerr(c, n, "integer overflow"); goto fail; }
                *out = json_integer(llabs(as_ll(v)));
            } else *out = json_real(fabs(as_dbl(v)));
        } else {
            if (!is_num(v)) { rc = rerr(c, n, "round expects a number, got %s", type_name(v)); goto fail; }
            json_t *pr = arg(a, 0, "precision", NULL), *me = arg(a, 1, "method", NULL);
            long long prec = pr && is_int(pr) ? as_ll(pr) : 0;
            if (prec > 15) prec = 15;
            if (prec < -15) prec = -15;
            double sc = pow(10, (double)prec), x2 = as_dbl(v) * sc;
            const char *mm = me && json_is_string(me) ? json_string_value(me) : "common";
            double r2 = !strcmp(mm, "ceil") ? ceil(x2) : !strcmp(mm, "floor") ? floor(x2) : nearbyint(x2); /* Python round(): half to even */
            *out = json_real(r2 / sc);
        }
        json_decref(v);
        return 0;
    }
    if (!strcmp(f, "attr")) {
        if (need_str(c, n, x, "attr")) goto fail;
        if (v && json_is_object(v)) *out = json_incref(json_object_get(v, json_string_value(x)));
        json_decref(v);
        return 0;
    }
    if (!strcmp(f, "select") || !strcmp(f, "reject") || !strcmp(f, "selectattr") || !strcmp(f, "rejectattr") || !strcmp(f, "map")) {
        rc = filter_seq(c, n, f, v, a, out);
        json_decref(v);
        return rc;
    }
    rc = rerr(c, n, "unsupported filter '%s'", f);
fail:
    json_decref(v);
    return -1;
}

/* unique: first occurrence of each value, in order */
static int do_unique(ctx *c, const jnode *n, json_t *v, const args_t *a, json_t **out) {
    json_t *items;
    if (iter_items(c, n, v, &items)) return -1;
    json_t *r = json_array(), *at = arg(a, -1, "attribute", NULL), *cs = arg(a, 0, "case_sensitive", NULL);
    for (size_t i = 0; i < json_array_size(items); i++) {
        json_t *x = json_array_get(items, i), *kx = at && json_is_string(at) && json_is_object(x) ? json_object_get(x, json_string_value(at)) : x;
        int seen = 0;
        for (size_t j = 0; j < json_array_size(r) && !seen; j++) {
            json_t *y = json_array_get(r, j), *ky = at && json_is_string(at) && json_is_object(y) ? json_object_get(y, json_string_value(at)) : y;
            if (kx && ky && json_is_string(kx) && json_is_string(ky) && !truthy(cs)) {
                json_t *la = str_case(json_string_value(kx), json_string_length(kx), 0);
                json_t *lb = str_case(json_string_value(ky), json_string_length(ky), 0);
                seen = la && lb && jeq(la, lb);
                json_decref(la);
                json_decref(lb);
            } else {
                seen = jeq(kx, ky);
            }
        }
        if (!seen) json_array_append(r, x);
    }
    json_decref(items);
    *out = r;
    return 0;
}

/* ---- calls ---- */

static int call_macro(ctx *c, const jnode *call, const struct macro *mc, const args_t *a, json_t **out) {
    const jnode *m = mc->node;
    if (c->depth >= MAX_CALL_DEPTH) return rerr(c, call, "macro calls nested too deeply (over %d)", MAX_CALL_DEPTH);
    int np = npos(a);
    if (np > m->nkids) return rerr(c, call, "macro '%s' takes not more than %d argument(s)", m->s, m->nkids);
    for (int i = 0; i < a->n; i++) {
        if (!a->kw[i]) continue;
        int ok = 0;
        for (int k = 0; k < m->nkids; k++) ok |= !strcmp(m->names[k], a->kw[i]);
        if (!ok) return rerr(c, call, "macro '%s' has no argument named '%s'", m->s, a->kw[i]);
    }
    int save_base = c->base, save_n = c->nframes;
    /* the scopes of the definition, then one for the arguments and the body's sets */
    for (int i = 0; i < mc->nframes; i++) {
        if (push_frame(c)) { while (c->nframes > save_n) pop_frame(c); return -1; }
        json_decref(c->frames[c->nframes - 1]);
        c->frames[c->nframes - 1] = json_incref(mc->frames[i]);
    }
    if (push_frame(c)) { while (c->nframes > save_n) pop_frame(c); return -1; }
    c->base = save_n;
    c->depth++;
    json_t *fr = c->frames[c->nframes - 1];
    int rc = 0;
    for (int k = 0; k < m->nkids && !rc; k++) {
        int found;
        json_t *v = arg(a, k, m->names[k], &found);
        json_t *d = NULL;
        if (found) d = json_incref(v);
        else if (m->kids[k]) rc = eval(c, m->kids[k], &d);
        if (!rc) json_object_set_new(fr, m->names[k], d ? d : json_incref(c->undef));
    }
    sbuf b = {0};
    if (!rc) rc = exec(c, m->b, &b);
    c->ctrl = 0;
    c->depth--;
    while (c->nframes > save_n) pop_frame(c);
    c->base = save_base;
    if (!rc && !(*out = jstr(b.p ? b.p : "", b.n))) rc = fr_err("jinja: out of memory");
    free(b.p);
    return rc;
}

static int call_global(ctx *c, const jnode *n, const char *name, const args_t *a, json_t **out) {
    *out = NULL;
    if (!strcmp(name, "range")) {
        if (a->n < 1 || a->n > 3 || npos(a) != a->n) return rerr(c, n, "range expects 1 to 3 integer arguments");
        for (int i = 0; i < a->n; i++)
            if (!is_int(a->v[i])) return rerr(c, n, "range expects integers, got %s", type_name(a->v[i]));
        long long st = a->n > 1 ? as_ll(a->v[0]) : 0, en = a->n > 1 ? as_ll(a->v[1]) : as_ll(a->v[0]), sp = a->n > 2 ? as_ll(a->v[2]) : 1;
        if (sp == 0) return rerr(c, n, "range() arg 3 must not be zero");
        double cnt = sp > 0 ? ceil(((double)en - (double)st) / (double)sp) : ceil(((double)st - (double)en) / (double)-sp);
        if (cnt > MAX_RANGE) return rerr(c, n, "range too big (over %d items)", MAX_RANGE);
        json_t *r = json_array();
        for (long long i = st; sp > 0 ? i < en : i > en; i += sp) json_array_append_new(r, json_integer(i));
        *out = r;
        return 0;
    }
    if (!strcmp(name, "namespace") || !strcmp(name, "dict")) {
        json_t *r = json_object();
        for (int i = 0; i < a->n; i++) {
            if (!a->kw[i]) {
                if (json_is_object(a->v[i])) { json_object_update(r, a->v[i]); continue; }
                json_decref(r);
                return rerr(c, n, "%s() takes keyword arguments", name);
            }
            if (a->v[i]) json_object_set(r, a->kw[i], a->v[i]); /* an Undefined attribute reads as undefined */
        }
        *out = r;
        return 0;
    }
    if (!strcmp(name, "raise_exception")) {
        json_t *m = arg(a, 0, NULL, NULL);
        sbuf b = {0};
        py_str(&b, m);
        rerr(c, n, "raise_exception: %s", b.p ? b.p : "");
        free(b.p);
        return -1;
    }
    if (!strcmp(name, "strftime_now")) {
        json_t *fmt = arg(a, 0, NULL, NULL);
        if (need_str(c, n, fmt, "strftime_now")) return -1;
        time_t now = time(NULL);
        struct tm tmv;
        char buf[256];
        size_t k = 0;
        if (localtime_r(&now, &tmv)) k = strftime(buf, sizeof buf, json_string_value(fmt), &tmv);
        *out = jstr(buf, k);
        return 0;
    }
    if (lookup(c, name)) return rerr(c, n, "'%s' is not callable", name);
    return rerr(c, n, "'%s' is undefined", name);
}

static int eval_call(ctx *c, const jnode *n, json_t **out) {
    args_t a;
    const jnode *f = n->a;
    *out = NULL;
    if (f->kind == J_ATTR) {
        json_t *obj;
        if (eval(c, f->a, &obj)) return -1;
        if (eval_args(c, n, &a)) { json_decref(obj); return -1; }
        int rc = call_method(c, n, obj, f->s, &a, out);
        json_decref(obj);
        args_free(&a);
        return rc;
    }
    if (f->kind != J_NAME) return rerr(c, n, "expression is not callable");
    if (eval_args(c, n, &a)) return -1;
    const struct macro *m = find_macro(c, lookup(c, f->s));
    int rc = m ? call_macro(c, n, m, &a, out) : call_global(c, n, f->s, &a, out);
    args_free(&a);
    return rc;
}

static int eval_node(ctx *c, const jnode *n, json_t **out);

/* evaluate; strings made by filters, calls and slices count as work by size */
static int eval(ctx *c, const jnode *n, json_t **out) {
    *out = NULL;
    if (c->rdepth >= MAX_RDEPTH) return rerr(c, n, "template nests too deeply when rendered (over %d levels)", MAX_RDEPTH);
    c->rdepth++;
    int rc = eval_node(c, n, out);
    c->rdepth--;
    if (rc) return -1;
    if ((n->kind == J_FILTER || n->kind == J_CALL || n->kind == J_SLICE) && *out && json_is_string(*out)) {
        c->steps += (long long)(json_string_length(*out) >> 6);
        if (step(c, n)) { json_decref(*out); *out = NULL; return -1; }
    }
    return 0;
}

static int eval_node(ctx *c, const jnode *n, json_t **out) {
    *out = NULL;
    if (step(c, n)) return -1;
    json_t *a = NULL, *b = NULL;
    int rc = 0;
    switch (n->kind) {
    case J_LIT: *out = json_incref(n->lit); return 0;
    case J_NAME:
        *out = json_incref(lookup(c, n->s));
        return 0;
    case J_LIST: {
        json_t *r = json_array();
        if (!r) return fr_err("jinja: out of memory");
        for (int i = 0; i < n->nkids; i++) {
            if (eval(c, n->kids[i], &a)) { json_decref(r); return -1; }
            json_array_append_new(r, a ? a : json_incref(g_undef));
        }
        *out = n->op ? as_tuple(r) : r;
        return 0;
    }
    case J_DICT: {
        json_t *r = json_object();
        if (!r) return fr_err("jinja: out of memory");
        for (int i = 0; i + 1 < n->nkids; i += 2) {
            if (eval(c, n->kids[i], &a)) { json_decref(r); return -1; }
            if (!a || !json_is_string(a)) { json_decref(a); json_decref(r); return rerr(c, n->kids[i], "dict keys must be strings"); }
            if (eval(c, n->kids[i + 1], &b)) { json_decref(a); json_decref(r); return -1; }
            json_object_setn_new_nocheck(r, json_string_value(a), json_string_length(a), b ? b : json_incref(g_undef));
            json_decref(a);
        }
        *out = r;
        return 0;
    }
    case J_ATTR:
        if (eval(c, n->a, &a)) return -1;
        if (!a) return rerr(c, n, "cannot read attribute '%s' of an undefined value", n->s);
        if (json_is_object(a)) *out = json_incref(json_object_get(a, n->s));
        json_decref(a);
        if (*out == g_undef) { json_decref(*out); *out = NULL; }
        return 0;
    case J_ITEM:
        if (eval(c, n->a, &a) || eval(c, n->b, &b)) { json_decref(a); return -1; }
        rc = get_item(c, n, a, b, out);
        json_decref(a);
        json_decref(b);
        if (*out == g_undef) { json_decref(*out); *out = NULL; }
        return rc;
    case J_SLICE: {
        json_t *sv[3] = {NULL, NULL, NULL};
        if (eval(c, n->a, &a)) return -1;
        for (int k = 0; k < 3 && !rc; k++)
            if (n->kids[k]) rc = eval(c, n->kids[k], &sv[k]);
        if (!rc) rc = do_slice(c, n, a, sv, out);
        json_decref(a);
        for (int k = 0; k < 3; k++) json_decref(sv[k]);
        return rc;
    }
    case J_CALL: return eval_call(c, n, out);
    case J_FILTER: {
        args_t ar;
        if (eval(c, n->a, &a)) return -1;
        if (eval_args(c, n, &ar)) { json_decref(a); return -1; }
        rc = apply_filter(c, n, n->s, a, &ar, out);
        args_free(&ar);
        return rc;
    }
    case J_TEST: {
        args_t ar;
        int r;
        if (eval(c, n->a, &a)) return -1;
        if (eval_args(c, n, &ar)) { json_decref(a); return -1; }
        rc = run_test(c, n, a, &ar, &r);
        json_decref(a);
        args_free(&ar);
        if (!rc) *out = json_boolean(n->op ? !r : r);
        return rc;
    }
    case J_NOT:
        if (eval(c, n->a, &a)) return -1;
        *out = json_boolean(!truthy(a));
        json_decref(a);
        return 0;
    case J_NEG: case J_POS:
        if (eval(c, n->a, &a)) return -1;
        if (!is_num(a)) { rc = rerr(c, n, "bad operand type for unary %c: '%s'", n->kind == J_NEG ? '-' : '+', type_name(a)); json_decref(a); return rc; }
        if (n->kind == J_POS) *out = is_int(a) ? json_integer(as_ll(a)) : json_incref(a);
        else if (is_int(a)) {
            if (as_ll(a) == INT64_MIN) rc = rerr(c, n, "integer overflow");
            else *out = json_integer(-as_ll(a));
        } else *out = json_real(-json_real_value(a));
        json_decref(a);
        return rc;
    case J_BIN:
        if (eval(c, n->a, &a) || eval(c, n->b, &b)) { json_decref(a); return -1; }
        rc = binop(c, n, a, b, out);
        json_decref(a);
        json_decref(b);
        return rc;
    case J_AND: case J_OR:
        if (eval(c, n->a, &a)) return -1;
        if (n->kind == J_AND ? !truthy(a) : truthy(a)) { *out = a; return 0; }
        json_decref(a);
        return eval(c, n->b, out);
    case J_COND:
        if (eval(c, n->b, &a)) return -1;
        rc = truthy(a);
        json_decref(a);
        if (rc) return eval(c, n->a, out);
        return n->c ? eval(c, n->c, out) : 0;
    default:
        return rerr(c, n, "not an expression");
    }
}

/* bind for-loop / set targets */
static int assign(ctx *c, const jnode *n, json_t *frame, json_t *v) {
    if (n->nnames == 1) {
        return json_object_set(frame, n->names[0], v ? v : c->undef) ? fr_err("jinja: out of memory") : 0;
    }
    if (!v || !json_is_array(v) || json_array_size(v) != (size_t)n->nnames)
        return rerr(c, n, "cannot unpack %s into %d names", type_name(v), n->nnames);
    for (int k = 0; k < n->nnames; k++) json_object_set(frame, n->names[k], json_array_get(v, (size_t)k));
    return 0;
}

/* Namespace attributes are the only values a template mutates, and they
 * outlive loop iterations: storing v in ns must not make a reference cycle
 * (1) or nest values without bound (2), which recursive printing and freeing
 * could not survive. *nodes counts the containers visited. */
#define MAX_NEST 256
static int store_check(const json_t *v, const json_t *ns, int depth, long long *nodes) {
    if (v == ns) return 1;
    if (!json_is_array(v) && !json_is_object(v)) return 0;
    if (depth >= MAX_NEST) return 2;
    ++*nodes;
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++) {
            int r = store_check(json_array_get(v, i), ns, depth + 1, nodes);
            if (r) return r;
        }
        return 0;
    }
    const char *k;
    json_t *x;
    json_object_foreach((json_t *)v, k, x) {
        int r = store_check(x, ns, depth + 1, nodes);
        if (r) return r;
    }
    return 0;
}

static int exec_for(ctx *c, const jnode *n, sbuf *out) {
    json_t *seq, *items;
    if (eval(c, n->a, &seq)) return -1;
    int rc = iter_items(c, n, seq, &items);
    json_decref(seq);
    if (rc) return -1;
    if (n->d) { /* {% for x in xs if cond %}: filter first, loop.* counts the kept items */
        json_t *kept = json_array();
        for (size_t i = 0; i < json_array_size(items) && !rc; i++) {
            if ((rc = push_frame(c))) break;
            json_t *cv = NULL;
            rc = assign(c, n, c->frames[c->nframes - 1], json_array_get(items, i));
            if (!rc) rc = eval(c, n->d, &cv);
            pop_frame(c);
            if (!rc && truthy(cv)) json_array_append(kept, json_array_get(items, i));
            json_decref(cv);
        }
        json_decref(items);
        items = kept;
        if (rc) { json_decref(items); return -1; }
    }
    size_t len = json_array_size(items);
    for (size_t i = 0; i < len && !rc; i++) {
        if ((rc = push_frame(c))) break;
        json_t *fr = c->frames[c->nframes - 1];
        json_t *loop = json_pack("{sIsIsIsIsbsbsIsIsI}", "index", (json_int_t)i + 1, "index0", (json_int_t)i, "revindex",
                                 (json_int_t)(len - i), "revindex0", (json_int_t)(len - i - 1), "first", i == 0, "last", i + 1 == len,
                                 "length", (json_int_t)len, "depth", (json_int_t)1, "depth0", (json_int_t)0);
        if (!loop) rc = fr_err("jinja: out of memory");
        else {
            if (i > 0) json_object_set(loop, "previtem", json_array_get(items, i - 1));
            if (i + 1 < len) json_object_set(loop, "nextitem", json_array_get(items, i + 1));
            json_object_set_new(fr, "loop", loop);
            rc = assign(c, n, fr, json_array_get(items, i));
        }
        if (!rc) rc = exec(c, n->b, out);
        pop_frame(c);
        if (c->ctrl == CTRL_BREAK) { c->ctrl = 0; break; }
        c->ctrl = 0;
    }
    json_decref(items);
    if (!rc && len == 0 && n->c) rc = exec(c, n->c, out);
    return rc;
}

static int exec_node(ctx *c, const jnode *n, sbuf *out);

static int exec(ctx *c, const jnode *n, sbuf *out) {
    if (c->rdepth >= MAX_RDEPTH) return rerr(c, n, "template nests too deeply when rendered (over %d levels)", MAX_RDEPTH);
    c->rdepth++;
    int rc = exec_node(c, n, out);
    c->rdepth--;
    return rc;
}

static int exec_node(ctx *c, const jnode *n, sbuf *out) {
    if (step(c, n)) return -1;
    json_t *v = NULL;
    int rc = 0;
    switch (n->kind) {
    case J_BODY:
        for (int i = 0; i < n->nkids && !rc && !c->ctrl; i++) rc = exec(c, n->kids[i], out);
        return rc;
    case J_TEXT: return sb_put(out, n->s, n->slen);
    case J_OUT:
        if (eval(c, n->a, &v)) return -1;
        rc = py_str(out, v);
        json_decref(v);
        return rc;
    case J_IF:
        if (eval(c, n->a, &v)) return -1;
        rc = truthy(v);
        json_decref(v);
        if (rc) return exec(c, n->b, out);
        return n->c ? exec(c, n->c, out) : 0;
    case J_FOR: return exec_for(c, n, out);
    case J_SET: {
        json_t *fr = c->frames[c->nframes - 1];
        if (n->b) { /* block set */
            sbuf b = {0};
            rc = exec(c, n->b, &b);
            if (!rc && !(v = jstr(b.p ? b.p : "", b.n))) rc = fr_err("jinja: out of memory");
            free(b.p);
        } else {
            rc = eval(c, n->a, &v);
        }
        if (rc) return -1;
        if (n->s) { /* ns.attr = v */
            json_t *ns = lookup(c, n->s);
            if (!ns || !json_is_object(ns)) {
                json_decref(v);
                return rerr(c, n, "cannot assign attribute '%s' of '%s' (%s, not a namespace)", n->s2, n->s, type_name(ns));
            }
            long long nodes = 0;
            int bad = v ? store_check(v, ns, 0, &nodes) : 0;
            c->steps += nodes >> 4;
            if (bad || step(c, n)) {
                json_decref(v);
                if (!bad) return -1;
                return rerr(c, n, bad == 1 ? "storing this value in '%s' would make it contain itself (unsupported)"
                                           : "value stored in '%s' is nested too deeply", n->s);
            }
            if (v) json_object_set(ns, n->s2, v);
            else json_object_del(ns, n->s2);
        } else {
            rc = assign(c, n, fr, v);
        }
        json_decref(v);
        return rc;
    }
    case J_MACRO:
        return define_macro(c, n);
    case J_WITH: { /* names live in a new scope for the body */
        json_t **vals = calloc((size_t)n->nkids + 1, sizeof *vals);
        if (!vals) return fr_err("jinja: out of memory");
        for (int i = 0; i < n->nkids && !rc; i++) rc = eval(c, n->kids[i], &vals[i]);
        if (!rc && !(rc = push_frame(c))) {
            for (int i = 0; i < n->nkids; i++)
                json_object_set(c->frames[c->nframes - 1], n->names[i], vals[i] ? vals[i] : c->undef);
            rc = exec(c, n->b, out);
            pop_frame(c);
        }
        for (int i = 0; i < n->nkids; i++) json_decref(vals[i]);
        free(vals);
        return rc;
    }
    case J_BREAK: c->ctrl = CTRL_BREAK; return 0;
    case J_CONTINUE: c->ctrl = CTRL_CONTINUE; return 0;
    default:
        return rerr(c, n, "not a statement");
    }
}

int fr_jinja_render(const fr_jinja *t, json_t *vars, char **out, size_t *out_len) {
    ctx c;
    memset(&c, 0, sizeof c);
    c.t = t;
    *out = NULL;
    if (out_len) *out_len = 0;
    if (vars && !json_is_object(vars)) return fr_err("%s: render variables must be a JSON object", t->name);
    if (!(g_tuples = json_object())) return fr_err("jinja: out of memory");
    if (!(g_undef = c.undef = json_object()) || !(c.mac_index = json_object())) {
        g_undef = NULL;
        json_decref(c.undef);
        json_decref(g_tuples);
        g_tuples = NULL;
        return fr_err("jinja: out of memory");
    }
    if (push_frame(&c)) {
        json_decref(c.undef);
        json_decref(c.mac_index);
        json_decref(g_tuples);
        g_tuples = g_undef = NULL;
        return -1;
    }
    if (vars && json_object_update(c.frames[0], vars)) {
        pop_frame(&c);
        free(c.frames);
        json_decref(c.undef);
        json_decref(c.mac_index);
        json_decref(g_tuples);
        g_tuples = g_undef = NULL;
        return fr_err("jinja: out of memory");
    }
    sbuf b = {0};
    int rc = exec(&c, t->root, &b);
    if (!rc && sb_put(&b, "", 0)) rc = -1;
    while (c.nframes > 0) pop_frame(&c);
    free(c.frames);
    for (int i = 0; i < c.nmac; i++) {
        for (int k = 0; k < c.mac[i].nframes; k++) json_decref(c.mac[i].frames[k]);
        free(c.mac[i].frames);
        json_decref(c.mac[i].marker);
    }
    free(c.mac);
    json_decref(c.mac_index);
    json_decref(g_tuples);
    g_tuples = NULL;
    json_decref(c.undef);
    g_undef = NULL;
    if (rc) { free(b.p); return -1; }
    *out = b.p;
    if (out_len) *out_len = b.n;
    return 0;
}
