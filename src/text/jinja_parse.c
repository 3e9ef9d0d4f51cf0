/* Jinja lexer and parser: template text -> token list -> AST (jinja_int.h).
 *
 * Whitespace follows Jinja2 with the settings transformers uses:
 *   - \r\n and \r become \n, and one trailing \n of the template is dropped
 *     (keep_trailing_newline=False);
 *   - "{%-" / "{{-" / "{#-" strip all whitespace before the tag, "-%}" / "-}}" /
 *     "-#}" all whitespace after it;
 *   - trim_blocks: a block or comment tag eats the one "\n" right after it;
 *   - lstrip_blocks: spaces/tabs from the start of a line up to a block or
 *     comment tag are removed ("{%+" turns it off for that tag).
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "text/jinja_int.h"

enum { T_DATA, T_VBEGIN, T_VEND, T_BBEGIN, T_BEND, T_NAME, T_STR, T_INT, T_FLOAT, T_OP, T_EOF };

typedef struct {
    int type, line, col;
    char *s; /* T_DATA, T_NAME, T_STR, T_OP text (owned) */
    size_t n;
    long long iv;
    double fv;
} tok;

typedef struct {
    const char *name;
    char *src; /* normalized source */
    size_t n;
    size_t *lines; /* offsets of line starts */
    size_t nlines;
    tok *t;
    size_t nt, capt;
    size_t i;     /* parser position */
    int depth;
    fr_jinja *tpl;
} P;

#define MAX_DEPTH 200

static void linecol(const P *p, size_t pos, int *line, int *col) {
    size_t lo = 0, hi = p->nlines; /* last line start <= pos */
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (p->lines[mid] <= pos) lo = mid;
        else hi = mid;
    }
    *line = (int)lo + 1;
    *col = (int)(pos - p->lines[lo]) + 1;
}

static int perr_at(const P *p, int line, int col, const char *msg, const char *arg) {
    return fr_err("%s:%d:%d: %s%s%s%s", p->name, line, col, msg, arg ? " '" : "", arg ? arg : "", arg ? "'" : "");
}

static int perr_pos(const P *p, size_t pos, const char *msg, const char *arg) {
    int l, c;
    linecol(p, pos, &l, &c);
    return perr_at(p, l, c, msg, arg);
}

static int push_tok(P *p, int type, size_t pos, const char *s, size_t n) {
    if (p->nt == p->capt) {
        size_t cap = p->capt ? p->capt * 2 : 64;
        tok *t = realloc(p->t, cap * sizeof *t);
        if (!t) return fr_err("%s: out of memory", p->name);
        p->t = t;
        p->capt = cap;
    }
    tok *t = &p->t[p->nt];
    memset(t, 0, sizeof *t);
    t->type = type;
    linecol(p, pos, &t->line, &t->col);
    if (s) {
        t->s = malloc(n + 1);
        if (!t->s) return fr_err("%s: out of memory", p->name);
        memcpy(t->s, s, n);
        t->s[n] = 0;
        t->n = n;
    }
    p->nt++;
    return 0;
}

/* ---- source normalization: \r\n and \r become \n (Jinja's newline_re) ---- */

static int normalize(P *p, const char *s, size_t n) {
    p->src = malloc(n + 1);
    if (!p->src) return fr_err("%s: out of memory", p->name);
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\r') {
            p->src[o++] = '\n';
            i += (i + 1 < n && s[i + 1] == '\n') ? 2 : 1;
        } else {
            p->src[o++] = (char)c;
            i++;
        }
    }
    if (o > 0 && p->src[o - 1] == '\n') o--;
    p->src[o] = 0;
    p->n = o;
    size_t nl = 1;
    for (size_t i = 0; i < o; i++) nl += p->src[i] == '\n';
    p->lines = malloc(nl * sizeof *p->lines);
    if (!p->lines) return fr_err("%s: out of memory", p->name);
    p->lines[0] = 0;
    p->nlines = 1;
    for (size_t i = 0; i < o; i++)
        if (p->src[i] == '\n') p->lines[p->nlines++] = i + 1;
    return 0;
}

/* ---- lexer ---- */

/* Python's \s / str.isspace (what Jinja's regexes and rstrip() use): the byte
 * length of the whitespace character at s[pos], 0 when it is not one */
static size_t ws_at(const char *s, size_t n, size_t pos) {
    const unsigned char *u = (const unsigned char *)s + pos;
    size_t left = n - pos;
    if (!left) return 0;
    if ((u[0] >= 9 && u[0] <= 13) || (u[0] >= 0x1c && u[0] <= 0x20)) return 1;
    if (left >= 2 && u[0] == 0xc2 && (u[1] == 0x85 || u[1] == 0xa0)) return 2;
    if (left >= 3 && u[0] == 0xe1 && u[1] == 0x9a && u[2] == 0x80) return 3;                  /* U+1680 */
    if (left >= 3 && u[0] == 0xe2 && u[1] == 0x80 && ((u[2] >= 0x80 && u[2] <= 0x8a) || u[2] == 0xa8 || u[2] == 0xa9 || u[2] == 0xaf))
        return 3;                                                                                /* U+2000-200A, 2028, 2029, 202F */
    if (left >= 3 && u[0] == 0xe2 && u[1] == 0x81 && u[2] == 0x9f) return 3;                  /* U+205F */
    if (left >= 3 && u[0] == 0xe3 && u[1] == 0x80 && u[2] == 0x80) return 3;                  /* U+3000 */
    return 0;
}

/* the whitespace character ending at s[end] (not before lo): its length or 0 */
static size_t ws_before(const char *s, size_t lo, size_t end) {
    for (size_t k = 1; k <= 3 && k <= end - lo; k++)
        if (ws_at(s, end, end - k) == k) return k;
    return 0;
}

static int is_name0(char c) { return isalpha((unsigned char)c) || c == '_'; }
static int is_name1(char c) { return isalnum((unsigned char)c) || c == '_'; }

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static size_t put_utf8(char *o, uint32_t cp) {
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) { o[0] = (char)(0xc0 | cp >> 6); o[1] = (char)(0x80 | (cp & 63)); return 2; }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | cp >> 12); o[1] = (char)(0x80 | (cp >> 6 & 63)); o[2] = (char)(0x80 | (cp & 63));
        return 3;
    }
    o[0] = (char)(0xf0 | cp >> 18); o[1] = (char)(0x80 | (cp >> 12 & 63));
    o[2] = (char)(0x80 | (cp >> 6 & 63)); o[3] = (char)(0x80 | (cp & 63));
    return 4;
}

/* String literal at src[pos] (a quote); Python unicode-escape rules. */
static int lex_string(P *p, size_t *ppos) {
    size_t pos = *ppos, start = pos;
    char q = p->src[pos++];
    size_t end = pos;
    while (end < p->n && p->src[end] != q) end += p->src[end] == '\\' ? 2 : 1;
    if (end >= p->n) return perr_pos(p, start, "unterminated string literal", NULL);
    char *buf = malloc(end - pos + 1), *o = buf;
    if (!buf) return fr_err("%s: out of memory", p->name);
    for (size_t i = pos; i < end;) {
        char c = p->src[i];
        if (c != '\\') { *o++ = c; i++; continue; }
        char e = p->src[i + 1];
        i += 2;
        uint32_t cp;
        int nd = 0;
        switch (e) {
        case '\n': break;
        case '\\': *o++ = '\\'; break;
        case '\'': *o++ = '\''; break;
        case '"': *o++ = '"'; break;
        case 'a': *o++ = 7; break;
        case 'b': *o++ = 8; break;
        case 'f': *o++ = 12; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case 'v': *o++ = 11; break;
        case 'x': nd = 2; goto hex;
        case 'u': nd = 4; goto hex;
        case 'U': nd = 8;
        hex:
            cp = 0;
            for (int k = 0; k < nd; k++) {
                int h = i + (size_t)k < end ? hexval(p->src[i + (size_t)k]) : -1;
                if (h < 0) { free(buf); return perr_pos(p, i - 2, "bad \\x/\\u escape in string literal", NULL); }
                cp = cp * 16 + (uint32_t)h;
            }
            i += (size_t)nd;
            if (cp > 0x10ffff || (cp >= 0xd800 && cp < 0xe000)) {
                free(buf);
                return perr_pos(p, i - 2, "escape is not a Unicode scalar value", NULL);
            }
            o += put_utf8(o, cp); /* at most 4 bytes from >= 4 source bytes */
            break;
        default:
            if (e >= '0' && e <= '7') {
                cp = (uint32_t)(e - '0');
                for (int k = 0; k < 2 && i < end && p->src[i] >= '0' && p->src[i] <= '7'; k++) cp = cp * 8 + (uint32_t)(p->src[i++] - '0');
                o += put_utf8(o, cp); /* <= 0777: at most 2 bytes from >= 2 source bytes */
            } else if (e == 'N') {
                free(buf);
                return perr_pos(p, i - 2, "\\N{...} escapes are not supported", NULL);
            } else {
                *o++ = '\\';
                *o++ = e;
            }
        }
    }
    int rc = push_tok(p, T_STR, start, buf, (size_t)(o - buf));
    free(buf);
    *ppos = end + 1;
    return rc;
}

static int lex_number(P *p, size_t *ppos) {
    size_t pos = *ppos, i = pos;
    const char *s = p->src;
    while (i < p->n && (isdigit((unsigned char)s[i]) || (s[i] == '_' && i + 1 < p->n && isdigit((unsigned char)s[i + 1])))) i++;
    int isf = 0;
    if (i + 1 < p->n && s[i] == '.' && isdigit((unsigned char)s[i + 1])) {
        isf = 1;
        i++;
        while (i < p->n && (isdigit((unsigned char)s[i]) || (s[i] == '_' && i + 1 < p->n && isdigit((unsigned char)s[i + 1])))) i++;
    }
    if (i < p->n && (s[i] == 'e' || s[i] == 'E')) {
        size_t j = i + 1;
        if (j < p->n && (s[j] == '+' || s[j] == '-')) j++;
        if (j < p->n && isdigit((unsigned char)s[j])) {
            isf = 1;
            while (j < p->n && isdigit((unsigned char)s[j])) j++;
            i = j;
        }
    }
    char buf[128];
    size_t k = 0;
    for (size_t j = pos; j < i && k < sizeof buf - 1; j++)
        if (s[j] != '_') buf[k++] = s[j];
    buf[k] = 0;
    if (push_tok(p, isf ? T_FLOAT : T_INT, pos, buf, k)) return -1;
    tok *t = &p->t[p->nt - 1];
    if (isf) t->fv = strtod(buf, NULL);
    else {
        long long v = 0;
        for (size_t j = 0; j < k; j++) {
            if (v > (INT64_MAX - (buf[j] - '0')) / 10) return perr_pos(p, pos, "integer literal too large", NULL);
            v = v * 10 + (buf[j] - '0');
        }
        t->iv = v;
    }
    *ppos = i;
    return 0;
}

static const char *const g_ops[] = {"//", "**", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "<",
                                   ">", "=", "(", ")", "[", "]", "{", "}", ".", ",", ":", "|", ";"};

/* Tokens inside {{ }} or {% %} from *ppos up to the closing delimiter.
 * Sets *ppos after the end delimiter (and after what trim/strip removes) and
 * *line_start to whether the consumed text ended with a newline. */
static int lex_tag(P *p, size_t *ppos, size_t tag_start, int block, int *line_start) {
    size_t pos = *ppos;
    const char *s = p->src;
    const char *close = block ? "%}" : "}}";
    char stack[256]; /* open brackets: as in Jinja, "}}" / "%}" only end the tag outside them */
    int depth = 0;
    for (;;) {
        for (size_t k; pos < p->n && (k = ws_at(s, p->n, pos));) pos += k;
        if (pos >= p->n) return perr_pos(p, tag_start, block ? "unclosed block tag (missing '%}')" : "unclosed '{{' (missing '}}')", NULL);
        size_t tstart = pos;
        if (depth > 0) goto token;
        if (s[pos] == '-' && pos + 2 < p->n + 0 && !strncmp(s + pos + 1, close, 2)) {
            if (push_tok(p, block ? T_BEND : T_VEND, pos, NULL, 0)) return -1;
            pos += 3;
            for (size_t k; pos < p->n && (k = ws_at(s, p->n, pos));) pos += k;
            *line_start = pos > 0 && s[pos - 1] == '\n';
            break;
        }
        if (block && s[pos] == '+' && pos + 2 < p->n + 0 && !strncmp(s + pos + 1, close, 2)) {
            if (push_tok(p, T_BEND, pos, NULL, 0)) return -1;
            pos += 3;
            *line_start = 0;
            break;
        }
        if (pos + 1 < p->n && !strncmp(s + pos, close, 2)) {
            if (push_tok(p, block ? T_BEND : T_VEND, pos, NULL, 0)) return -1;
            pos += 2;
            *line_start = 0;
            if (block && pos < p->n && s[pos] == '\n') { pos++; *line_start = 1; }
            break;
        }
    token:;
        char c = s[pos];
        if (c == '(' || c == '[' || c == '{') {
            if (depth == (int)sizeof stack) return perr_pos(p, pos, "brackets nested too deeply", NULL);
            stack[depth++] = c == '(' ? ')' : c == '[' ? ']' : '}';
        } else if (c == ')' || c == ']' || c == '}') {
            if (depth == 0 || stack[depth - 1] != c) {
                char ch[2] = {c, 0};
                return perr_pos(p, pos, "unexpected", ch);
            }
            depth--;
        }
        if (c == '\'' || c == '"') {
            if (lex_string(p, &pos)) return -1;
        } else if (isdigit((unsigned char)c)) {
            if (lex_number(p, &pos)) return -1;
        } else if (is_name0(c)) {
            while (pos < p->n && is_name1(s[pos])) pos++;
            if (push_tok(p, T_NAME, tstart, s + tstart, pos - tstart)) return -1;
        } else {
            size_t k = 0, nops = sizeof g_ops / sizeof *g_ops;
            for (; k < nops; k++) {
                size_t l = strlen(g_ops[k]);
                if (pos + l <= p->n && !strncmp(s + pos, g_ops[k], l)) break;
            }
            if (k == nops) {
                char ch[8];
                snprintf(ch, sizeof ch, (unsigned char)c < 0x20 || (unsigned char)c >= 0x7f ? "\\x%02x" : "%c", (unsigned char)c);
                return perr_pos(p, pos, "unexpected character", ch);
            }
            size_t l = strlen(g_ops[k]);
            if (push_tok(p, T_OP, pos, g_ops[k], l)) return -1;
            pos += l;
        }
    }
    *ppos = pos;
    return 0;
}

/* Does src[pos..] (just after "{%" and its modifier) read "raw" then "%}"? */
static int is_raw_open(const P *p, size_t pos, size_t *after) {
    const char *s = p->src;
    for (size_t k; pos < p->n && (k = ws_at(s, p->n, pos));) pos += k;
    if (pos + 3 > p->n || strncmp(s + pos, "raw", 3) || (pos + 3 < p->n && is_name1(s[pos + 3]))) return 0;
    pos += 3;
    for (size_t k; pos < p->n && (k = ws_at(s, p->n, pos));) pos += k;
    if (pos < p->n && (s[pos] == '-' || s[pos] == '+')) pos++;
    if (pos + 2 > p->n || strncmp(s + pos, "%}", 2)) return 0;
    *after = pos + 2;
    return 1;
}

static int lex(P *p) {
    const char *s = p->src;
    size_t pos = 0;
    int line_start = 1;
    while (pos <= p->n) {
        /* next tag start */
        size_t t = pos;
        int kind = 0; /* 1 var, 2 block, 3 comment */
        for (; t + 1 < p->n; t++) {
            if (s[t] != '{') continue;
            if (s[t + 1] == '{') { kind = 1; break; }
            if (s[t + 1] == '%') { kind = 2; break; }
            if (s[t + 1] == '#') { kind = 3; break; }
        }
        if (!kind) t = p->n;
        size_t dend = t; /* data is s[pos:dend] */
        char mod = kind && t + 2 < p->n ? s[t + 2] : 0;
        if (kind && mod == '-') {
            for (size_t k; dend > pos && (k = ws_before(s, pos, dend));) dend -= k;
        } else if ((kind == 2 || kind == 3) && mod != '+') {
            size_t l = dend, k;
            while (l > pos && s[l - 1] != '\n' && (k = ws_before(s, pos, l))) l -= k;
            /* l: start of the trailing whitespace; strip it if it starts a line */
            if (l < dend && ((l > pos && s[l - 1] == '\n') || (l == pos && line_start))) dend = l;
        }
        if (dend > pos && push_tok(p, T_DATA, pos, s + pos, dend - pos)) return -1;
        if (!kind) break;
        size_t in = t + 2 + (mod == '-' || (mod == '+' && kind != 1));
        if (kind == 3) {
            size_t e = in;
            while (e + 1 < p->n && !(s[e] == '#' && s[e + 1] == '}')) e++;
            if (e + 1 >= p->n) return perr_pos(p, t, "unclosed comment (missing '#}')", NULL);
            char pre = e > in ? s[e - 1] : 0;
            pos = e + 2;
            line_start = 0;
            if (pre == '-') {
                for (size_t k; pos < p->n && (k = ws_at(s, p->n, pos));) pos += k;
                line_start = pos > 0 && s[pos - 1] == '\n';
            } else if (pre != '+' && pos < p->n && s[pos] == '\n') {
                pos++;
                line_start = 1;
            }
            continue;
        }
        size_t after;
        if (kind == 2 && is_raw_open(p, in, &after)) {
            /* {% raw %}...{% endraw %}: find the end tag */
            size_t e = after, ts = 0, te = 0;
            int found = 0;
            for (; e + 1 < p->n; e++) {
                if (s[e] != '{' || s[e + 1] != '%') continue;
                size_t q = e + 2;
                if (q < p->n && (s[q] == '-' || s[q] == '+')) q++;
                for (size_t k; q < p->n && (k = ws_at(s, p->n, q));) q += k;
                if (q + 6 > p->n || strncmp(s + q, "endraw", 6)) continue;
                q += 6;
                for (size_t k; q < p->n && (k = ws_at(s, p->n, q));) q += k;
                int strip_after = 0;
                if (q < p->n && s[q] == '-') { strip_after = 1; q++; }
                else if (q < p->n && s[q] == '+') q++;
                if (q + 2 > p->n || strncmp(s + q, "%}", 2)) continue;
                ts = e;
                te = q + 2;
                if (strip_after) for (size_t k; te < p->n && (k = ws_at(s, p->n, te));) te += k;
                else if (te < p->n && s[te] == '\n') te++;
                found = 1;
                break;
            }
            if (!found) return perr_pos(p, t, "unclosed 'raw' block", NULL);
            size_t ds = after, de = ts;
            if (s[after - 3] == '-') for (size_t k; ds < de && (k = ws_at(s, de, ds));) ds += k;
            if (ts + 2 < p->n && s[ts + 2] == '-') for (size_t k; de > ds && (k = ws_before(s, ds, de));) de -= k;
            if (de > ds && push_tok(p, T_DATA, ds, s + ds, de - ds)) return -1;
            pos = te;
            line_start = te > 0 && s[te - 1] == '\n';
            continue;
        }
        if (push_tok(p, kind == 1 ? T_VBEGIN : T_BBEGIN, t, NULL, 0)) return -1;
        pos = in;
        if (lex_tag(p, &pos, t, kind == 2, &line_start)) return -1;
        if (pos >= p->n) break;
    }
    return push_tok(p, T_EOF, p->n, NULL, 0);
}

/* ---- parser ---- */

static jnode *node(P *p, int kind, const tok *at) {
    fr_jinja *t = p->tpl;
    if (t->nall == t->capall) {
        size_t cap = t->capall ? t->capall * 2 : 64;
        jnode **a = realloc(t->all, cap * sizeof *a);
        if (!a) { fr_err("%s: out of memory", p->name); return NULL; }
        t->all = a;
        t->capall = cap;
    }
    jnode *n = calloc(1, sizeof *n);
    if (!n) { fr_err("%s: out of memory", p->name); return NULL; }
    t->all[t->nall++] = n;
    n->kind = kind;
    n->line = at->line;
    n->col = at->col;
    return n;
}

static int add_kid(P *p, jnode *n, jnode *kid, const char *name) {
    if ((n->nkids & (n->nkids - 1)) == 0) { /* grow at powers of two */
        size_t cap = n->nkids ? (size_t)n->nkids * 2 : 1;
        jnode **k = realloc(n->kids, cap * sizeof *k);
        if (!k) return fr_err("%s: out of memory", p->name);
        n->kids = k;
        char **nm = realloc(n->names, cap * sizeof *nm);
        if (!nm) return fr_err("%s: out of memory", p->name);
        n->names = nm;
    }
    n->names[n->nkids] = NULL;
    if (name && !(n->names[n->nkids] = strdup(name))) return fr_err("%s: out of memory", p->name);
    n->kids[n->nkids++] = kid;
    n->nnames = n->nkids;
    return 0;
}

static tok *cur(P *p) { return &p->t[p->i]; }
static tok *peek(P *p, size_t k) { return &p->t[p->i + k < p->nt ? p->i + k : p->nt - 1]; }
static int is_op(const tok *t, const char *op) { return t->type == T_OP && !strcmp(t->s, op); }
static int is_name(const tok *t, const char *nm) { return t->type == T_NAME && !strcmp(t->s, nm); }
static void adv(P *p) { if (p->i + 1 < p->nt) p->i++; }

static const char *tok_desc(const tok *t) {
    switch (t->type) {
    case T_EOF: return "end of template";
    case T_BEND: return "%}";
    case T_VEND: return "}}";
    case T_STR: return "string literal";
    case T_INT: case T_FLOAT: return "number";
    default: return t->s ? t->s : "token";
    }
}

static int expect_op(P *p, const char *op) {
    tok *t = cur(p);
    if (!is_op(t, op)) {
        char m[96];
        snprintf(m, sizeof m, "expected '%s', got", op);
        return perr_at(p, t->line, t->col, m, tok_desc(t));
    }
    adv(p);
    return 0;
}

static int expect_bend(P *p) {
    tok *t = cur(p);
    if (t->type != T_BEND) return perr_at(p, t->line, t->col, "expected '%}', got", tok_desc(t));
    adv(p);
    return 0;
}

static jnode *parse_expr(P *p, int with_cond);
static jnode *parse_or(P *p);
static jnode *parse_unary(P *p, int with_filter);

static const char *const g_filters[] = {
    "abs", "attr", "capitalize", "center", "count", "d", "default", "dictsort", "e", "escape", "first", "float", "format", "indent",
    "int", "items", "join", "last", "length", "list", "lower", "map", "max", "min", "reject", "rejectattr",
    "replace", "reverse", "round", "safe", "select", "selectattr", "sort", "string", "sum", "title", "tojson",
    "trim", "unique", "upper", "wordcount", NULL};
static const char *const g_tests[] = {
    "boolean", "callable", "defined", "divisibleby", "eq", "equalto", "escaped", "even", "false", "filter",
    "float", "ge", "greaterthan", "gt", "in", "integer", "iterable", "le", "lessthan", "lower", "lt", "mapping",
    "ne", "none", "number", "odd", "sameas", "sequence", "string", "test", "true", "undefined", "upper", "==",
    "!=", "<", "<=", ">", ">=", NULL};

int fr_jinja_known_filter(const char *s) {
    for (int i = 0; g_filters[i]; i++)
        if (!strcmp(g_filters[i], s)) return 1;
    return 0;
}

int fr_jinja_known_test(const char *s) {
    for (int i = 0; g_tests[i]; i++)
        if (!strcmp(g_tests[i], s)) return 1;
    return 0;
}

/* (args) after a callee/filter/test: positional and keyword arguments. */
static int parse_call_args(P *p, jnode *n) {
    if (expect_op(p, "(")) return -1;
    while (!is_op(cur(p), ")")) {
        if (n->nkids && expect_op(p, ",")) return -1;
        if (is_op(cur(p), ")")) break; /* trailing comma */
        tok *t = cur(p);
        if (is_op(t, "*") || is_op(t, "**")) return perr_at(p, t->line, t->col, "*args / **kwargs are not supported", NULL);
        const char *kw = NULL;
        if (t->type == T_NAME && is_op(peek(p, 1), "=")) {
            kw = t->s;
            adv(p);
            adv(p);
        } else if (n->nkids && n->names[n->nkids - 1]) {
            return perr_at(p, t->line, t->col, "positional argument after keyword argument", NULL);
        }
        jnode *v = parse_expr(p, 1);
        if (!v || add_kid(p, n, v, kw)) return -1;
    }
    adv(p);
    return 0;
}

static jnode *parse_primary(P *p) {
    tok *t = cur(p);
    jnode *n = NULL;
    switch (t->type) {
    case T_NAME:
        if (!strcmp(t->s, "true") || !strcmp(t->s, "True")) { if ((n = node(p, J_LIT, t))) n->lit = json_true(); }
        else if (!strcmp(t->s, "false") || !strcmp(t->s, "False")) { if ((n = node(p, J_LIT, t))) n->lit = json_false(); }
        else if (!strcmp(t->s, "none") || !strcmp(t->s, "None")) { if ((n = node(p, J_LIT, t))) n->lit = json_null(); }
        else if ((n = node(p, J_NAME, t))) {
            if (!(n->s = strdup(t->s))) { fr_err("%s: out of memory", p->name); return NULL; }
        }
        adv(p);
        return n;
    case T_STR: {
        /* adjacent string literals concatenate */
        size_t len = 0, k = p->i;
        for (; p->t[k].type == T_STR; k++) len += p->t[k].n;
        char *buf = malloc(len + 1);
        if (!buf) { fr_err("%s: out of memory", p->name); return NULL; }
        len = 0;
        for (; cur(p)->type == T_STR; adv(p)) {
            memcpy(buf + len, cur(p)->s, cur(p)->n);
            len += cur(p)->n;
        }
        if ((n = node(p, J_LIT, t))) n->lit = json_stringn_nocheck(buf, len);
        free(buf);
        if (n && !n->lit) { fr_err("%s: out of memory", p->name); return NULL; }
        return n;
    }
    case T_INT:
        if ((n = node(p, J_LIT, t))) n->lit = json_integer(t->iv);
        adv(p);
        return n;
    case T_FLOAT:
        if ((n = node(p, J_LIT, t))) n->lit = json_real(t->fv);
        adv(p);
        return n;
    case T_OP:
        if (is_op(t, "(")) {
            adv(p);
            if (is_op(cur(p), ")")) { /* () */
                adv(p);
                if ((n = node(p, J_LIST, t))) n->op = 1;
                return n;
            }
            jnode *e = parse_expr(p, 1);
            if (!e) return NULL;
            if (is_op(cur(p), ",")) { /* tuple */
                if (!(n = node(p, J_LIST, t)) || add_kid(p, n, e, NULL)) return NULL;
                n->op = 1; /* a tuple */
                while (is_op(cur(p), ",")) {
                    adv(p);
                    if (is_op(cur(p), ")")) break;
                    if (!(e = parse_expr(p, 1)) || add_kid(p, n, e, NULL)) return NULL;
                }
                e = n;
            }
            if (expect_op(p, ")")) return NULL;
            return e;
        }
        if (is_op(t, "[")) {
            adv(p);
            if (!(n = node(p, J_LIST, t))) return NULL;
            while (!is_op(cur(p), "]")) {
                if (n->nkids && expect_op(p, ",")) return NULL;
                if (is_op(cur(p), "]")) break;
                jnode *e = parse_expr(p, 1);
                if (!e || add_kid(p, n, e, NULL)) return NULL;
            }
            adv(p);
            return n;
        }
        if (is_op(t, "{")) {
            adv(p);
            if (!(n = node(p, J_DICT, t))) return NULL;
            while (!is_op(cur(p), "}")) {
                if (n->nkids && expect_op(p, ",")) return NULL;
                if (is_op(cur(p), "}")) break;
                jnode *k = parse_expr(p, 1);
                if (!k || expect_op(p, ":")) return NULL;
                jnode *v = parse_expr(p, 1);
                if (!v || add_kid(p, n, k, NULL) || add_kid(p, n, v, NULL)) return NULL;
            }
            adv(p);
            return n;
        }
        break;
    default: break;
    }
    perr_at(p, t->line, t->col, "unexpected", tok_desc(t));
    return NULL;
}

static jnode *parse_postfix(P *p, jnode *n) {
    for (;;) {
        tok *t = cur(p);
        if (is_op(t, ".")) {
            adv(p);
            tok *a = cur(p);
            if (a->type == T_NAME) {
                jnode *m = node(p, J_ATTR, t);
                if (!m || !(m->s = strdup(a->s))) return NULL;
                m->a = n;
                n = m;
            } else if (a->type == T_INT) {
                jnode *m = node(p, J_ITEM, t), *k = node(p, J_LIT, a);
                if (!m || !k) return NULL;
                k->lit = json_integer(a->iv);
                m->a = n;
                m->b = k;
                n = m;
            } else {
                perr_at(p, a->line, a->col, "expected attribute name after '.', got", tok_desc(a));
                return NULL;
            }
            adv(p);
        } else if (is_op(t, "[")) {
            adv(p);
            jnode *parts[3] = {NULL, NULL, NULL};
            int nparts = 0, slice = 0;
            for (;;) {
                if (!is_op(cur(p), ":") && !is_op(cur(p), "]")) {
                    if (!(parts[nparts] = parse_expr(p, 1))) return NULL;
                }
                if (is_op(cur(p), ":") && nparts < 2) {
                    slice = 1;
                    nparts++;
                    adv(p);
                    continue;
                }
                break;
            }
            jnode *m;
            if (!slice && is_op(cur(p), ",")) { /* x[a, b]: a tuple key */
                if (!parts[0]) { perr_at(p, t->line, t->col, "empty subscript", NULL); return NULL; }
                jnode *tu = node(p, J_LIST, t);
                if (!tu || add_kid(p, tu, parts[0], NULL)) return NULL;
                tu->op = 1;
                while (is_op(cur(p), ",")) {
                    adv(p);
                    if (is_op(cur(p), "]")) break;
                    jnode *e = parse_expr(p, 1);
                    if (!e || add_kid(p, tu, e, NULL)) return NULL;
                }
                parts[0] = tu;
            }
            if (expect_op(p, "]")) return NULL;
            if (slice) {
                if (!(m = node(p, J_SLICE, t))) return NULL;
                for (int k = 0; k < 3; k++)
                    if (add_kid(p, m, parts[k], NULL)) return NULL;
            } else {
                if (!parts[0]) { perr_at(p, t->line, t->col, "empty subscript", NULL); return NULL; }
                if (!(m = node(p, J_ITEM, t))) return NULL;
                m->b = parts[0];
            }
            m->a = n;
            n = m;
        } else if (is_op(t, "(")) {
            jnode *m = node(p, J_CALL, t);
            if (!m) return NULL;
            m->line = n->line; /* errors point at the callee */
            m->col = n->col;
            m->a = n;
            if (parse_call_args(p, m)) return NULL;
            n = m;
        } else {
            return n;
        }
    }
}

static jnode *parse_filter_expr(P *p, jnode *n) {
    for (;;) {
        tok *t = cur(p);
        if (is_op(t, "|")) {
            adv(p);
            tok *f = cur(p);
            if (f->type != T_NAME) { perr_at(p, f->line, f->col, "expected filter name, got", tok_desc(f)); return NULL; }
            if (!fr_jinja_known_filter(f->s)) { perr_at(p, f->line, f->col, "unknown filter", f->s); return NULL; }
            jnode *m = node(p, J_FILTER, f);
            if (!m || !(m->s = strdup(f->s))) return NULL;
            m->a = n;
            adv(p);
            if (is_op(cur(p), "(") && parse_call_args(p, m)) return NULL;
            n = m;
        } else if (is_name(t, "is")) {
            adv(p);
            int neg = 0;
            if (is_name(cur(p), "not")) { neg = 1; adv(p); }
            tok *f = cur(p);
            const char *tn = NULL;
            if (f->type == T_NAME) tn = f->s;
            else if (f->type == T_OP && fr_jinja_known_test(f->s)) tn = f->s; /* "is == 3" is not Jinja; reject below */
            if (!tn || f->type != T_NAME) { perr_at(p, f->line, f->col, "expected test name after 'is', got", tok_desc(f)); return NULL; }
            if (!fr_jinja_known_test(tn)) { perr_at(p, f->line, f->col, "unknown test", tn); return NULL; }
            jnode *m = node(p, J_TEST, f);
            if (!m || !(m->s = strdup(tn))) return NULL;
            m->a = n;
            m->op = neg;
            adv(p);
            tok *a = cur(p);
            if (is_op(a, "(")) {
                if (parse_call_args(p, m)) return NULL;
            } else if ((a->type == T_NAME || a->type == T_STR || a->type == T_INT || a->type == T_FLOAT ||
                        is_op(a, "[") || is_op(a, "{")) &&
                       !is_name(a, "else") && !is_name(a, "or") && !is_name(a, "and")) {
                if (is_name(a, "is")) { perr_at(p, a->line, a->col, "cannot chain multiple tests with 'is'", NULL); return NULL; }
                jnode *arg = parse_primary(p);
                if (!arg || !(arg = parse_postfix(p, arg)) || add_kid(p, m, arg, NULL)) return NULL;
            }
            n = m;
        } else if (is_op(t, "(")) {
            jnode *m = node(p, J_CALL, t);
            if (!m) return NULL;
            m->line = n->line; /* errors point at the callee */
            m->col = n->col;
            m->a = n;
            if (parse_call_args(p, m)) return NULL;
            n = m;
        } else {
            return n;
        }
    }
}

static jnode *parse_unary(P *p, int with_filter) {
    tok *t = cur(p);
    if (++p->depth > MAX_DEPTH) {
        perr_at(p, t->line, t->col, "expression nested too deeply", NULL);
        return NULL;
    }
    jnode *n;
    if (is_op(t, "-") || is_op(t, "+")) {
        adv(p);
        jnode *x = parse_unary(p, 0);
        if (!x || !(n = node(p, is_op(t, "-") ? J_NEG : J_POS, t))) return NULL;
        n->a = x;
    } else if (!(n = parse_primary(p))) {
        return NULL;
    }
    n = parse_postfix(p, n);
    if (n && with_filter) n = parse_filter_expr(p, n);
    p->depth--;
    return n;
}

static jnode *binop(P *p, const tok *t, int op, jnode *a, jnode *b) {
    if (!a || !b) return NULL;
    jnode *n = node(p, J_BIN, t);
    if (!n) return NULL;
    n->op = op;
    n->a = a;
    n->b = b;
    return n;
}

static jnode *parse_pow(P *p) {
    jnode *n = parse_unary(p, 1);
    while (n && is_op(cur(p), "**")) {
        tok *t = cur(p);
        adv(p);
        n = binop(p, t, OP_POW, n, parse_unary(p, 1));
    }
    return n;
}

static jnode *parse_math2(P *p) {
    jnode *n = parse_pow(p);
    for (;;) {
        tok *t = cur(p);
        int op = is_op(t, "*") ? OP_MUL : is_op(t, "/") ? OP_DIV : is_op(t, "//") ? OP_FLOORDIV : is_op(t, "%") ? OP_MOD : -1;
        if (!n || op < 0) return n;
        adv(p);
        n = binop(p, t, op, n, parse_pow(p));
    }
}

static jnode *parse_concat(P *p) {
    jnode *n = parse_math2(p);
    while (n && is_op(cur(p), "~")) {
        tok *t = cur(p);
        adv(p);
        n = binop(p, t, OP_CONCAT, n, parse_math2(p));
    }
    return n;
}

static jnode *parse_math1(P *p) {
    jnode *n = parse_concat(p);
    for (;;) {
        tok *t = cur(p);
        int op = is_op(t, "+") ? OP_ADD : is_op(t, "-") ? OP_SUB : -1;
        if (!n || op < 0) return n;
        adv(p);
        n = binop(p, t, op, n, parse_concat(p));
    }
}

static jnode *parse_compare(P *p) {
    jnode *n = parse_math1(p), *last = NULL; /* last comparison, for chains a < b < c */
    for (;;) {
        tok *t = cur(p);
        int op = -1;
        if (is_op(t, "==")) op = OP_EQ;
        else if (is_op(t, "!=")) op = OP_NE;
        else if (is_op(t, "<")) op = OP_LT;
        else if (is_op(t, "<=")) op = OP_LE;
        else if (is_op(t, ">")) op = OP_GT;
        else if (is_op(t, ">=")) op = OP_GE;
        else if (is_name(t, "in")) op = OP_IN;
        else if (is_name(t, "not") && is_name(peek(p, 1), "in")) { op = OP_NOTIN; adv(p); }
        if (!n || op < 0) return n;
        adv(p);
        jnode *rhs = parse_math1(p);
        if (!rhs) return NULL;
        if (!last) {
            n = last = binop(p, t, op, n, rhs);
        } else {
            jnode *c = binop(p, t, op, last->b, rhs), *a = node(p, J_AND, t);
            if (!c || !a) return NULL;
            a->a = n;
            a->b = c;
            n = a;
            last = c;
        }
    }
}

static jnode *parse_not(P *p) {
    tok *t = cur(p);
    if (is_name(t, "not")) {
        if (++p->depth > MAX_DEPTH) {
            perr_at(p, t->line, t->col, "expression nested too deeply", NULL);
            return NULL;
        }
        adv(p);
        jnode *x = parse_not(p), *n;
        if (!x || !(n = node(p, J_NOT, t))) return NULL;
        n->a = x;
        p->depth--;
        return n;
    }
    return parse_compare(p);
}

static jnode *parse_and(P *p) {
    jnode *n = parse_not(p);
    while (n && is_name(cur(p), "and")) {
        tok *t = cur(p);
        adv(p);
        jnode *b = parse_not(p), *m;
        if (!b || !(m = node(p, J_AND, t))) return NULL;
        m->a = n;
        m->b = b;
        n = m;
    }
    return n;
}

static jnode *parse_or(P *p) {
    jnode *n = parse_and(p);
    while (n && is_name(cur(p), "or")) {
        tok *t = cur(p);
        adv(p);
        jnode *b = parse_and(p), *m;
        if (!b || !(m = node(p, J_OR, t))) return NULL;
        m->a = n;
        m->b = b;
        n = m;
    }
    return n;
}

static jnode *parse_expr(P *p, int with_cond) {
    tok *t0 = cur(p);
    if (++p->depth > MAX_DEPTH) {
        perr_at(p, t0->line, t0->col, "expression nested too deeply", NULL);
        return NULL;
    }
    jnode *n = parse_or(p);
    while (n && with_cond && is_name(cur(p), "if")) {
        tok *t = cur(p);
        adv(p);
        jnode *c = parse_or(p), *e = NULL, *m;
        if (!c) return NULL;
        if (is_name(cur(p), "else")) {
            adv(p);
            if (!(e = parse_expr(p, 1))) return NULL;
        }
        if (!(m = node(p, J_COND, t))) return NULL;
        m->a = n;
        m->b = c;
        m->c = e;
        n = m;
    }
    p->depth--;
    return n;
}

/* expr or a, b, ... (a tuple as a list) */
static jnode *parse_tuple(P *p) {
    tok *t = cur(p);
    jnode *e = parse_expr(p, 1);
    if (!e || !is_op(cur(p), ",")) return e;
    jnode *n = node(p, J_LIST, t);
    if (!n || add_kid(p, n, e, NULL)) return NULL;
    n->op = 1; /* a tuple */
    while (is_op(cur(p), ",")) {
        adv(p);
        if (cur(p)->type == T_BEND || cur(p)->type == T_VEND) break;
        if (!(e = parse_expr(p, 1)) || add_kid(p, n, e, NULL)) return NULL;
    }
    return n;
}

/* ---- statements ---- */

static jnode *parse_body(P *p, const char *const *ends, const tok *opener, const char *what);

static int name_list(P *p, jnode *n) {
    int paren = is_op(cur(p), "(");
    if (paren) adv(p);
    for (;;) {
        tok *t = cur(p);
        if (t->type != T_NAME) return perr_at(p, t->line, t->col, "expected a variable name, got", tok_desc(t));
        char **nm = realloc(n->names, (size_t)(n->nnames + 1) * sizeof *nm);
        if (!nm) return fr_err("%s: out of memory", p->name);
        n->names = nm;
        if (!(n->names[n->nnames] = strdup(t->s))) return fr_err("%s: out of memory", p->name);
        n->nnames++;
        adv(p);
        if (!is_op(cur(p), ",")) break;
        adv(p);
    }
    if (paren && expect_op(p, ")")) return -1;
    return 0;
}

/* the tag after "{%" at p->i; cur is the tag name */
static jnode *parse_stmt(P *p, int in_if) {
    tok *bt = &p->t[p->i - 1], *t = cur(p);
    if (t->type != T_NAME) { perr_at(p, t->line, t->col, "expected a tag name, got", tok_desc(t)); return NULL; }
    const char *w = t->s;
    adv(p);
    if (!strcmp(w, "if") || (in_if && !strcmp(w, "elif"))) {
        jnode *n = node(p, J_IF, t);
        if (!n || !(n->a = parse_expr(p, 1)) || expect_bend(p)) return NULL;
        static const char *const ends[] = {"elif", "else", "endif", NULL};
        if (!(n->b = parse_body(p, ends, bt, "if"))) return NULL;
        /* at "{%" of elif/else/endif */
        tok *e = cur(p);
        if (is_name(e, "elif")) {
            /* the elif tag parses like an if whose end is shared */
            if (!(n->c = parse_stmt(p, 1))) return NULL;
            return n;
        }
        if (is_name(e, "else")) {
            adv(p);
            if (expect_bend(p)) return NULL;
            static const char *const ends2[] = {"endif", NULL};
            if (!(n->c = parse_body(p, ends2, bt, "if"))) return NULL;
        }
        adv(p); /* endif */
        if (expect_bend(p)) return NULL;
        return n;
    }
    if (!strcmp(w, "for")) {
        jnode *n = node(p, J_FOR, t);
        if (!n || name_list(p, n)) return NULL;
        if (!is_name(cur(p), "in")) { perr_at(p, cur(p)->line, cur(p)->col, "expected 'in' in for loop, got", tok_desc(cur(p))); return NULL; }
        adv(p);
        if (!(n->a = parse_expr(p, 0))) return NULL;
        if (is_name(cur(p), "if") && (adv(p), !(n->d = parse_expr(p, 1)))) return NULL;
        if (is_name(cur(p), "recursive")) { perr_at(p, cur(p)->line, cur(p)->col, "recursive for loops are not supported", NULL); return NULL; }
        if (expect_bend(p)) return NULL;
        static const char *const ends[] = {"else", "endfor", NULL};
        if (!(n->b = parse_body(p, ends, bt, "for"))) return NULL;
        if (is_name(cur(p), "else")) {
            adv(p);
            if (expect_bend(p)) return NULL;
            static const char *const ends2[] = {"endfor", NULL};
            if (!(n->c = parse_body(p, ends2, bt, "for"))) return NULL;
        }
        adv(p);
        if (expect_bend(p)) return NULL;
        return n;
    }
    if (!strcmp(w, "set")) {
        jnode *n = node(p, J_SET, t);
        if (!n) return NULL;
        tok *a = cur(p);
        if (a->type == T_NAME && is_op(peek(p, 1), ".")) {
            tok *b = peek(p, 2);
            if (b->type != T_NAME) { perr_at(p, b->line, b->col, "expected attribute name, got", tok_desc(b)); return NULL; }
            if (!(n->s = strdup(a->s)) || !(n->s2 = strdup(b->s))) return NULL;
            adv(p); adv(p); adv(p);
        } else if (name_list(p, n)) {
            return NULL;
        }
        if (is_op(cur(p), "=")) {
            adv(p);
            if (!(n->a = parse_tuple(p)) || expect_bend(p)) return NULL;
            return n;
        }
        if (n->s || n->nnames != 1) { perr_at(p, cur(p)->line, cur(p)->col, "expected '=' in set", NULL); return NULL; }
        if (cur(p)->type != T_BEND) { perr_at(p, cur(p)->line, cur(p)->col, "expected '=' or end of tag in set, got", tok_desc(cur(p))); return NULL; }
        adv(p);
        static const char *const ends[] = {"endset", NULL};
        if (!(n->b = parse_body(p, ends, bt, "set"))) return NULL;
        adv(p);
        if (expect_bend(p)) return NULL;
        return n;
    }
    if (!strcmp(w, "macro")) {
        jnode *n = node(p, J_MACRO, t);
        tok *nm = cur(p);
        if (!n || nm->type != T_NAME) { if (n) perr_at(p, nm->line, nm->col, "expected macro name, got", tok_desc(nm)); return NULL; }
        if (!(n->s = strdup(nm->s))) return NULL;
        adv(p);
        if (expect_op(p, "(")) return NULL;
        while (!is_op(cur(p), ")")) {
            if (n->nkids && expect_op(p, ",")) return NULL;
            tok *a = cur(p);
            if (a->type != T_NAME) { perr_at(p, a->line, a->col, "expected parameter name, got", tok_desc(a)); return NULL; }
            adv(p);
            jnode *def = NULL;
            if (is_op(cur(p), "=")) {
                adv(p);
                if (!(def = parse_expr(p, 1))) return NULL;
            }
            if (add_kid(p, n, def, a->s)) return NULL;
        }
        adv(p);
        if (expect_bend(p)) return NULL;
        static const char *const ends[] = {"endmacro", NULL};
        if (!(n->b = parse_body(p, ends, bt, "macro"))) return NULL;
        adv(p);
        if (cur(p)->type == T_NAME) adv(p); /* {% endmacro name %} */
        if (expect_bend(p)) return NULL;
        return n;
    }
    if (!strcmp(w, "break") || !strcmp(w, "continue")) {
        jnode *n = node(p, w[0] == 'b' ? J_BREAK : J_CONTINUE, t);
        if (!n || expect_bend(p)) return NULL;
        return n;
    }
    if (!strcmp(w, "with")) {
        jnode *n = node(p, J_WITH, t);
        if (!n) return NULL;
        while (cur(p)->type != T_BEND) {
            if (n->nkids && expect_op(p, ",")) return NULL;
            tok *a = cur(p);
            if (a->type != T_NAME) { perr_at(p, a->line, a->col, "expected a variable name, got", tok_desc(a)); return NULL; }
            adv(p);
            if (expect_op(p, "=")) return NULL;
            jnode *v = parse_expr(p, 1);
            if (!v || add_kid(p, n, v, a->s)) return NULL;
        }
        adv(p);
        static const char *const ends[] = {"endwith", NULL};
        if (!(n->b = parse_body(p, ends, bt, "with"))) return NULL;
        adv(p);
        if (expect_bend(p)) return NULL;
        return n;
    }
    if (!strcmp(w, "generation")) { /* transformers' AssistantTracker: renders its body */
        if (expect_bend(p)) return NULL;
        static const char *const ends[] = {"endgeneration", NULL};
        jnode *b = parse_body(p, ends, bt, "generation");
        if (!b) return NULL;
        adv(p);
        if (expect_bend(p)) return NULL;
        return b;
    }
    if (!strncmp(w, "end", 3) || !strcmp(w, "else") || !strcmp(w, "elif")) {
        perr_at(p, t->line, t->col, "unexpected tag", w);
        return NULL;
    }
    perr_at(p, t->line, t->col, "unsupported tag", w);
    return NULL;
}

/* statements until a "{% <end> %}" in ends (left at the end tag's name) or EOF */
static jnode *parse_body(P *p, const char *const *ends, const tok *opener, const char *what) {
    jnode *body = node(p, J_BODY, cur(p));
    if (!body) return NULL;
    if (++p->depth > MAX_DEPTH) {
        perr_at(p, cur(p)->line, cur(p)->col, "blocks nested too deeply", NULL);
        return NULL;
    }
    for (;;) {
        tok *t = cur(p);
        if (t->type == T_EOF) {
            if (ends) {
                char m[128];
                snprintf(m, sizeof m, "unclosed '%s' block (opened at line %d, column %d), expected", what, opener->line, opener->col);
                perr_at(p, t->line, t->col, m, ends[0] && strcmp(ends[0], "elif") && strcmp(ends[0], "else") ? ends[0] : what[0] == 'i' ? "endif" : "endfor");
                return NULL;
            }
            break;
        }
        jnode *s = NULL;
        if (t->type == T_DATA) {
            if (!(s = node(p, J_TEXT, t)) || !(s->s = malloc(t->n + 1))) return NULL;
            memcpy(s->s, t->s, t->n + 1);
            s->slen = t->n;
            adv(p);
        } else if (t->type == T_VBEGIN) {
            adv(p);
            if (!(s = node(p, J_OUT, t)) || !(s->a = parse_tuple(p))) return NULL;
            tok *e = cur(p);
            if (e->type != T_VEND) { perr_at(p, e->line, e->col, "expected '}}', got", tok_desc(e)); return NULL; }
            adv(p);
        } else if (t->type == T_BBEGIN) {
            tok *nm = peek(p, 1);
            if (ends && nm->type == T_NAME)
                for (int k = 0; ends[k]; k++)
                    if (!strcmp(nm->s, ends[k])) { adv(p); p->depth--; return body; }
            adv(p);
            if (!(s = parse_stmt(p, 0))) return NULL;
        } else {
            perr_at(p, t->line, t->col, "unexpected", tok_desc(t));
            return NULL;
        }
        if (add_kid(p, body, s, NULL)) return NULL;
    }
    p->depth--;
    return body;
}

void fr_jinja_free(fr_jinja *t) {
    if (!t) return;
    for (size_t i = 0; i < t->nall; i++) {
        jnode *n = t->all[i];
        if (n->names)
            for (int k = 0; k < n->nnames; k++) free(n->names[k]);
        free(n->names);
        free(n->kids);
        free(n->s);
        free(n->s2);
        json_decref(n->lit);
        free(n);
    }
    free(t->all);
    free(t->name);
    free(t);
}

fr_jinja *fr_jinja_parse(const char *src, size_t n, const char *name) {
    P p;
    memset(&p, 0, sizeof p);
    p.name = name ? name : "template";
    fr_jinja *t = calloc(1, sizeof *t);
    if (!t || !(t->name = strdup(p.name))) {
        free(t);
        fr_err("%s: out of memory", p.name);
        return NULL;
    }
    p.tpl = t;
    int ok = !normalize(&p, src ? src : "", src ? n : 0) && !lex(&p);
    if (ok) {
        p.i = 0;
        t->root = parse_body(&p, NULL, NULL, NULL);
        ok = t->root != NULL;
    }
    for (size_t i = 0; i < p.nt; i++) free(p.t[i].s);
    free(p.t);
    free(p.src);
    free(p.lines);
    if (!ok) {
        fr_jinja_free(t);
        return NULL;
    }
    return t;
}
