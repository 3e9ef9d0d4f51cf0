/* Pre-tokenizer regexes: translation to PCRE2 syntax and matching (see regex.h). */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "text/regex.h"

#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"

/* ---- a growable string ---- */

typedef struct sbuf {
    char *b;
    size_t n, cap;
    int oom;
} sbuf;

static void sb_put(sbuf *s, const char *p, size_t n) {
    if (s->oom) return;
    if (s->n + n + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 64;
        while (cap < s->n + n + 1) cap *= 2;
        char *nb = realloc(s->b, cap);
        if (!nb) { s->oom = 1; return; }
        s->b = nb;
        s->cap = cap;
    }
    memcpy(s->b + s->n, p, n);
    s->n += n;
    s->b[s->n] = 0;
}
static void sb_puts(sbuf *s, const char *p) { sb_put(s, p, strlen(p)); }

/* Unicode White_Space, the \s of Oniguruma and of Rust's regex crate. */
static const char k_ws[] =
    "\\t\\n\\x0B\\f\\r\\x20\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}";

/* The 30 general categories: they partition the code points (Cn = unassigned). */
static const char *const k_gc[30] = {"Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc", "Me", "Nd", "Nl",
                                     "No", "Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po", "Sm", "Sc",
                                     "Sk", "So", "Zs", "Zl", "Zp", "Cc", "Cf", "Cs", "Co", "Cn"};

/* bit mask of the general categories a property name covers; 0 if it is not a
 * general category */
static uint32_t gc_mask(const char *name, size_t n) {
    if (n == 1) {
        switch (name[0]) {
        case 'L': return 0x1Fu;
        case 'M': return 0x7u << 5;
        case 'N': return 0x7u << 8;
        case 'P': return 0x7Fu << 11;
        case 'S': return 0xFu << 18;
        case 'Z': return 0x7u << 22;
        case 'C': return 0x1Fu << 25;
        default: return 0;
        }
    }
    if (n == 2) {
        if ((name[0] == 'L' && name[1] == 'C') || (name[0] == 'L' && name[1] == '&')) return 0x7u;
        for (int k = 0; k < 30; k++)
            if (name[0] == k_gc[k][0] && name[1] == k_gc[k][1]) return 1u << k;
    }
    return 0;
}

static int pcre_compiles(const char *pat) {
    int e;
    PCRE2_SIZE eo;
    pcre2_code *c = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &e, &eo, NULL);
    if (!c) return 0;
    pcre2_code_free(c);
    return 1;
}

/* length of the UTF-8 sequence starting with byte b (1 for stray bytes) */
static size_t u8len(unsigned char b) { return b < 0xC0 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4; }

typedef struct tr {
    const char *p;
    size_t len, i;
    const char *what;
} tr;

/* At "\p" or "\P" (i at the backslash): the property name; advances i. */
static int tr_prop(tr *t, int *neg, char *name, size_t cap) {
    *neg = t->p[t->i + 1] == 'P';
    t->i += 2;
    if (t->i >= t->len) return fr_err("%s: regex ends inside \\p", t->what);
    size_t n;
    if (t->p[t->i] == '{') {
        size_t j = t->i + 1;
        while (j < t->len && t->p[j] != '}') j++;
        if (j >= t->len) return fr_err("%s: regex: unterminated \\p{ at offset %zu", t->what, t->i);
        n = j - t->i - 1;
        if (n == 0 || n >= cap) return fr_err("%s: regex: bad property name at offset %zu", t->what, t->i);
        memcpy(name, t->p + t->i + 1, n);
        t->i = j + 1;
    } else {
        n = 1;
        name[0] = t->p[t->i++];
    }
    name[n] = 0;
    if (name[0] == '^') { /* Oniguruma \p{^X} */
        *neg = !*neg;
        memmove(name, name + 1, n);
    }
    return 0;
}

/* A property in PCRE2 syntax: general categories as they are; a bare script
 * name as Script (sc:), which is what Oniguruma and Rust mean by it. */
static void put_prop(sbuf *o, int neg, const char *name) {
    char buf[160];
    if (!gc_mask(name, strlen(name)) && !strchr(name, ':') && !strchr(name, '=')) {
        snprintf(buf, sizeof buf, "\\p{sc:%s}", name);
        if (pcre_compiles(buf)) {
            snprintf(buf, sizeof buf, "\\%c{sc:%s}", neg ? 'P' : 'p', name);
            sb_puts(o, buf);
            return;
        }
    }
    snprintf(buf, sizeof buf, "\\%c{%s}", neg ? 'P' : 'p', name);
    sb_puts(o, buf);
}

/* At "\u": \uXXXX -> \x{XXXX}; advances i. */
static int tr_bsu(tr *t, sbuf *o) {
    if (t->i + 6 > t->len) return fr_err("%s: regex: bad \\u escape at offset %zu", t->what, t->i);
    sb_puts(o, "\\x{");
    sb_put(o, t->p + t->i + 2, 4);
    sb_puts(o, "}");
    t->i += 6;
    return 0;
}

/* One operand of a class: items in PCRE2 class syntax. */
typedef struct operand {
    sbuf items;
    int neg;      /* the operand is a lone negated nested class */
    int sealed;   /* the operand is a lone nested class: no more items */
    uint32_t gc;  /* union of general categories of its \p items */
    int only_gc;  /* every item is a positive general-category property */
    int nitems;
} operand;

#define MAX_OPS 4

static void ops_free(operand *ops, int n) {
    for (int k = 0; k < n; k++) free(ops[k].items.b);
}

static int tr_class_ops(tr *t, operand *ops, int *nops, int *neg);

static int op_add_check(tr *t, operand *op) {
    if (op->sealed) return fr_err("%s: regex: unsupported class syntax at offset %zu", t->what, t->i);
    op->nitems++;
    return 0;
}

/* Parse "[...]" at t->i into operands separated by "&&". */
static int tr_class_ops(tr *t, operand *ops, int *nops, int *neg) {
    t->i++; /* '[' */
    *neg = 0;
    if (t->i < t->len && t->p[t->i] == '^') { *neg = 1; t->i++; }
    *nops = 1;
    memset(&ops[0], 0, sizeof ops[0]);
    ops[0].only_gc = 1;
    int first = 1;
    while (t->i < t->len) {
        char c = t->p[t->i];
        operand *op = &ops[*nops - 1];
        if (c == ']' && !first) { t->i++; return 0; }
        first = 0;
        if (c == ']') { /* literal ] first in the class */
            if (op_add_check(t, op)) return -1;
            op->only_gc = 0;
            sb_puts(&op->items, "\\]");
            t->i++;
            continue;
        }
        if (c == '&' && t->i + 1 < t->len && t->p[t->i + 1] == '&') {
            if (*nops == MAX_OPS) return fr_err("%s: regex: too many && in a class", t->what);
            memset(&ops[*nops], 0, sizeof ops[0]);
            ops[*nops].only_gc = 1;
            (*nops)++;
            t->i += 2;
            continue;
        }
        if (c == '[' && t->i + 1 < t->len && t->p[t->i + 1] == ':') { /* POSIX [:name:] */
            const char *e = NULL;
            for (size_t j = t->i + 2; j + 1 < t->len; j++)
                if (t->p[j] == ':' && t->p[j + 1] == ']') { e = t->p + j + 2; break; }
            if (!e) return fr_err("%s: regex: unterminated [: at offset %zu", t->what, t->i);
            if (op_add_check(t, op)) return -1;
            op->only_gc = 0;
            sb_put(&op->items, t->p + t->i, (size_t)(e - (t->p + t->i)));
            t->i = (size_t)(e - t->p);
            continue;
        }
        if (c == '[') { /* nested class */
            operand sub[MAX_OPS];
            int nsub, sneg;
            if (tr_class_ops(t, sub, &nsub, &sneg)) return -1;
            if (nsub != 1 || sub[0].neg) {
                ops_free(sub, nsub);
                return fr_err("%s: regex: unsupported nested class before offset %zu", t->what, t->i);
            }
            if (!sneg) { /* union: inline the items */
                if (op_add_check(t, op)) { ops_free(sub, 1); return -1; }
                sb_put(&op->items, sub[0].items.b ? sub[0].items.b : "", sub[0].items.n);
                op->gc |= sub[0].gc;
                if (!sub[0].only_gc) op->only_gc = 0;
                op->nitems += sub[0].nitems;
            } else { /* a negated nested class must be a whole operand */
                if (op->nitems) { ops_free(sub, 1); return fr_err("%s: regex: unsupported class at offset %zu", t->what, t->i); }
                sb_put(&op->items, sub[0].items.b ? sub[0].items.b : "", sub[0].items.n);
                op->neg = 1;
                op->sealed = 1;
                op->only_gc = 0;
                op->gc = sub[0].gc;
                op->nitems = 1;
            }
            ops_free(sub, 1);
            continue;
        }
        if (op_add_check(t, op)) return -1;
        if (c == '\\') {
            if (t->i + 1 >= t->len) return fr_err("%s: regex ends with a backslash", t->what);
            char e = t->p[t->i + 1];
            if (e == 's') {
                sb_puts(&op->items, k_ws);
                op->only_gc = 0;
                t->i += 2;
            } else if (e == 'S') {
                return fr_err("%s: regex: \\S inside a class is not supported (offset %zu)", t->what, t->i);
            } else if (e == 'p' || e == 'P') {
                char name[128];
                int pneg;
                if (tr_prop(t, &pneg, name, sizeof name)) return -1;
                uint32_t m = gc_mask(name, strlen(name));
                if (m && !pneg) op->gc |= m;
                else op->only_gc = 0;
                put_prop(&op->items, pneg, name);
            } else if (e == 'u') {
                op->only_gc = 0;
                if (tr_bsu(t, &op->items)) return -1;
            } else {
                op->only_gc = 0;
                size_t n = 1 + u8len((unsigned char)e);
                if (t->i + n > t->len) n = t->len - t->i;
                sb_put(&op->items, t->p + t->i, n);
                t->i += n;
            }
            continue;
        }
        op->only_gc = 0;
        size_t n = u8len((unsigned char)c);
        if (t->i + n > t->len) n = t->len - t->i;
        sb_put(&op->items, t->p + t->i, n);
        t->i += n;
    }
    return fr_err("%s: regex: unterminated character class", t->what);
}

static int tr_class(tr *t, sbuf *o) {
    operand ops[MAX_OPS];
    int nops = 0, neg;
    size_t at = t->i;
    if (tr_class_ops(t, ops, &nops, &neg)) { ops_free(ops, nops); return -1; }
    int rc = 0;
    for (int k = 0; k < nops; k++)
        if (ops[k].items.oom) rc = fr_err("out of memory");
    for (int k = 0; k < nops && !rc; k++)
        if (!ops[k].items.n) rc = fr_err("%s: regex: empty class operand at offset %zu", t->what, at);
    if (rc) { ops_free(ops, nops); return rc; }
    if (nops == 1) {
        sb_puts(o, (neg ^ ops[0].neg) ? "[^" : "[");
        sb_put(o, ops[0].items.b, ops[0].items.n);
        sb_puts(o, "]");
    } else if (neg) {
        rc = fr_err("%s: regex: negated class with && at offset %zu is not supported", t->what, at);
    } else {
        int all_neg = 1;
        for (int k = 1; k < nops; k++) all_neg &= ops[k].neg;
        if (!ops[0].neg && ops[0].only_gc && all_neg) {
            /* A && [^B] && [^C] = not (complement(A) or B or C), with the
             * complement of a union of categories over the category partition */
            sb_puts(o, "[^");
            for (int k = 0; k < 30; k++)
                if (!(ops[0].gc & (1u << k))) {
                    sb_puts(o, "\\p{");
                    sb_puts(o, k_gc[k]);
                    sb_puts(o, "}");
                }
            for (int k = 1; k < nops; k++) sb_put(o, ops[k].items.b, ops[k].items.n);
            sb_puts(o, "]");
        } else {
            sb_puts(o, "(?:");
            for (int k = 1; k < nops; k++) {
                sb_puts(o, ops[k].neg ? "(?![" : "(?=[");
                sb_put(o, ops[k].items.b, ops[k].items.n);
                sb_puts(o, "])");
            }
            sb_puts(o, ops[0].neg ? "[^" : "[");
            sb_put(o, ops[0].items.b, ops[0].items.n);
            sb_puts(o, "])");
        }
    }
    ops_free(ops, nops);
    return rc;
}

int fr_re_translate(const char *pat, size_t len, const char *what, char **out) {
    tr t = {pat, len, 0, what};
    sbuf o = {0};
    sb_put(&o, "", 0);
    while (t.i < len) {
        char c = pat[t.i];
        if (c == '[') {
            if (tr_class(&t, &o)) { free(o.b); return -1; }
            continue;
        }
        if (c == '\\') {
            if (t.i + 1 >= len) { free(o.b); return fr_err("%s: regex ends with a backslash", what); }
            char e = pat[t.i + 1];
            if (e == 's' || e == 'S') {
                sb_puts(&o, e == 's' ? "[" : "[^");
                sb_puts(&o, k_ws);
                sb_puts(&o, "]");
                t.i += 2;
            } else if (e == 'p' || e == 'P') {
                char name[128];
                int neg;
                if (tr_prop(&t, &neg, name, sizeof name)) { free(o.b); return -1; }
                put_prop(&o, neg, name);
            } else if (e == 'u') {
                if (tr_bsu(&t, &o)) { free(o.b); return -1; }
            } else {
                size_t n = 1 + u8len((unsigned char)e);
                if (t.i + n > len) n = len - t.i;
                sb_put(&o, pat + t.i, n);
                t.i += n;
            }
            continue;
        }
        sb_put(&o, &pat[t.i], 1);
        t.i++;
    }
    if (o.oom) { free(o.b); return fr_err("out of memory"); }
    *out = o.b;
    return 0;
}

int fr_re_compile(fr_re *re, const char *pat, size_t len, const char *what) {
    re->code = NULL;
    char *tp;
    if (fr_re_translate(pat, len, what, &tp)) return -1;
    int e;
    PCRE2_SIZE eo;
    pcre2_code *c = pcre2_compile((PCRE2_SPTR)tp, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &e, &eo, NULL);
    if (!c) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(e, msg, sizeof msg);
        fr_err("%s: regex does not compile (%s at offset %zu of the translation \"%s\")", what, (char *)msg,
               (size_t)eo, tp);
        free(tp);
        return -1;
    }
    free(tp);
    (void)pcre2_jit_compile(c, PCRE2_JIT_COMPLETE); /* no JIT: the interpreter, same results */
    re->code = c;
    return 0;
}

void fr_re_free(fr_re *re) {
    if (re->code) pcre2_code_free(re->code);
    re->code = NULL;
}

int fr_re_scratch_init(fr_re_scratch *s) {
    s->md = pcre2_match_data_create(4, NULL);
    s->mc = pcre2_match_context_create(NULL);
    s->js = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, NULL);
    if (!s->md || !s->mc || !s->js) {
        fr_re_scratch_free(s);
        return fr_err("out of memory");
    }
    pcre2_jit_stack_assign(s->mc, NULL, s->js);
    return 0;
}

void fr_re_scratch_free(fr_re_scratch *s) {
    if (s->md) pcre2_match_data_free(s->md);
    if (s->mc) pcre2_match_context_free(s->mc);
    if (s->js) pcre2_jit_stack_free(s->js);
    s->md = s->mc = s->js = NULL;
}

int fr_re_find(const fr_re *re, fr_re_scratch *s, const uint8_t *subj, size_t len, size_t start, size_t *ms,
               size_t *me) {
    int rc = pcre2_match(re->code, subj, len, start, PCRE2_NO_UTF_CHECK, s->md, s->mc);
    if (rc == PCRE2_ERROR_NOMATCH) return 0;
    if (rc < 0) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(rc, msg, sizeof msg);
        return fr_err("regex match failed at offset %zu: %s", start, (char *)msg);
    }
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(s->md);
    *ms = ov[0];
    *me = ov[1];
    return 1;
}
