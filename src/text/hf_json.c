/* Loader for Hugging Face tokenizer.json with a byte-level BPE model (plus
 * tokenizer_config.json for add_bos_token and the bos/eos tokens).
 *
 * Supported: normalizer null or an empty Sequence; pre_tokenizer Sequence of
 * Split (Regex or String pattern, any behavior, invert), ByteLevel
 * (add_prefix_space, use_regex), Digits; model BPE without byte_fallback,
 * continuing_subword_prefix or end_of_word_suffix. Anything else is refused
 * with an error naming it. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/mmap.h"
#include "text/tok_internal.h"

/* The pattern ByteLevel(use_regex=true) splits with (GPT-2's). */
static const char k_gpt2_pat[] = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

static int add_stage(fr_tokenizer *t, const char *file, const char *pat, size_t plen, int behavior, int invert,
                     int prefix) {
    if (t->n_stages == FR_MAX_STAGES) return fr_err("%s: pre_tokenizer: more than %d stages", file, FR_MAX_STAGES);
    fr_stage *st = &t->stages[t->n_stages];
    memset(st, 0, sizeof *st);
    st->behavior = behavior;
    st->invert = invert;
    st->add_prefix_space = prefix;
    if (pat) {
        char what[4200];
        snprintf(what, sizeof what, "%s: pre_tokenizer %d", file, t->n_stages);
        if (fr_re_compile(&st->re, pat, plen, what)) return -1;
    }
    t->n_stages++;
    return 0;
}

/* a regex matching the literal string s */
static char *regex_quote(const char *s, size_t n, size_t *outn) {
    char *o = malloc(2 * n + 1);
    if (!o) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (strchr("\\^$.|?*+()[]{}-&~#", s[i]) && s[i]) o[k++] = '\\';
        o[k++] = s[i];
    }
    o[k] = 0;
    *outn = k;
    return o;
}

static int parse_pretok(fr_tokenizer *t, const char *file, json_t *pt, int *has_bytelevel) {
    if (!pt || json_is_null(pt)) return 0;
    const char *type = json_string_value(json_object_get(pt, "type"));
    if (!type) return fr_err("%s: pre_tokenizer without a type", file);
    if (!strcmp(type, "Sequence")) {
        json_t *arr = json_object_get(pt, "pretokenizers");
        if (!json_is_array(arr)) return fr_err("%s: pre_tokenizer Sequence without pretokenizers", file);
        size_t i;
        json_t *v;
        json_array_foreach(arr, i, v) if (parse_pretok(t, file, v, has_bytelevel)) return -1;
        return 0;
    }
    if (!strcmp(type, "Split")) {
        json_t *pat = json_object_get(pt, "pattern");
        const char *beh = json_string_value(json_object_get(pt, "behavior"));
        int invert = json_is_true(json_object_get(pt, "invert"));
        int b;
        if (!beh) return fr_err("%s: Split without behavior", file);
        if (!strcmp(beh, "Isolated")) b = FR_SPLIT_ISOLATED;
        else if (!strcmp(beh, "Removed")) b = FR_SPLIT_REMOVED;
        else if (!strcmp(beh, "MergedWithPrevious")) b = FR_SPLIT_MERGED_PREV;
        else if (!strcmp(beh, "MergedWithNext")) b = FR_SPLIT_MERGED_NEXT;
        else if (!strcmp(beh, "Contiguous")) b = FR_SPLIT_CONTIGUOUS;
        else return fr_err("%s: Split behavior '%s' is not supported", file, beh);
        json_t *re = json_object_get(pat, "Regex"), *str = json_object_get(pat, "String");
        if (json_is_string(re)) return add_stage(t, file, json_string_value(re), json_string_length(re), b, invert, 0);
        if (json_is_string(str)) {
            size_t qn;
            char *q = regex_quote(json_string_value(str), json_string_length(str), &qn);
            if (!q) return fr_err("out of memory");
            int rc = add_stage(t, file, q, qn, b, invert, 0);
            free(q);
            return rc;
        }
        return fr_err("%s: Split pattern is neither Regex nor String", file);
    }
    if (!strcmp(type, "ByteLevel")) {
        *has_bytelevel = 1;
        json_t *ur = json_object_get(pt, "use_regex");
        int use_regex = ur ? json_is_true(ur) : 1;
        int prefix = json_is_true(json_object_get(pt, "add_prefix_space"));
        if (!use_regex && !prefix) return 0; /* the byte map only: BPE works on bytes */
        return add_stage(t, file, use_regex ? k_gpt2_pat : NULL, use_regex ? strlen(k_gpt2_pat) : 0,
                         FR_SPLIT_ISOLATED, 0, prefix);
    }
    if (!strcmp(type, "Digits")) {
        const char *pat = json_is_true(json_object_get(pt, "individual_digits")) ? "\\p{N}" : "\\p{N}+";
        return add_stage(t, file, pat, strlen(pat), FR_SPLIT_ISOLATED, 0, 0);
    }
    return fr_err("%s: pre_tokenizer type '%s' is not supported", file, type);
}

/* "content" of a token that is a string or an AddedToken object */
static const char *token_content(json_t *v) {
    if (json_is_string(v)) return json_string_value(v);
    return json_string_value(json_object_get(v, "content"));
}

/* bytes of a token string through the ByteLevel decoder into buf (cap >= strlen) */
static int merge_side(const fr_tokenizer *t, const char *s, size_t n, uint8_t *buf) {
    size_t bn = fr_bytelevel_decode(s, n, buf);
    return fr_bmap_get(&t->vocab, fr_tok_key, t, buf, bn);
}

static int load_json(const char *path, json_t **out, size_t flags) {
    json_error_t je;
    fr_mmap m; /* json_loadb on the mapped bytes: json_load_file reads with getc */
    *out = NULL;
    if (fr_mmap_open(&m, path)) return -1;
    *out = json_loadb((const char *)(m.data ? m.data : (const uint8_t *)""), m.size, JSON_ALLOW_NUL | flags, &je);
    fr_mmap_close(&m);
    if (!*out) return fr_err("%s: line %d: %s", path, je.line, je.text);
    return 0;
}


/* ---- tokenizer.json: model.vocab and model.merges straight from the bytes ----
 * They are most of the file (128k + 128k strings for DeepSeek-V3); jansson
 * takes several times longer to build and free a tree of them than the rest
 * of loading. So a small scanner reads these two members into flat arrays
 * and hands every other member, as its own JSON text, to jansson (which
 * also validates it). */

typedef struct hf_voc {
    uint32_t off, len; /* token string (UTF-8, still byte-level encoded) in the pool */
    int32_t id;
} hf_voc;

typedef struct hf_mer {
    uint32_t a, an, b, bn; /* the two sides in the pool */
} hf_mer;

typedef struct hf_raw {
    json_t *root;  /* the root object without "model" */
    json_t *model; /* "model" without "vocab" and "merges" */
    hf_voc *voc;
    size_t nvoc, capvoc;
    hf_mer *mer;
    size_t nmer, capmer;
    char *pool;
    size_t npool, cappool;
    int has_vocab, has_merges;
} hf_raw;

typedef struct js {
    const char *p, *b, *e, *file;
    hf_raw *r;
} js;

static int js_fail(js *s, const char *what) {
    return fr_err("%s: invalid JSON at byte %zu: %s", s->file, (size_t)(s->p - s->b), what);
}

static void js_ws(js *s) {
    while (s->p < s->e && (*s->p == ' ' || *s->p == '\n' || *s->p == '\r' || *s->p == '\t')) s->p++;
}

/* the next non-space character is c: consume it */
static int js_is(js *s, char c) {
    js_ws(s);
    if (s->p < s->e && *s->p == c) { s->p++; return 1; }
    return 0;
}

static int pool_put(hf_raw *r, const char *p, size_t n) {
    if (r->npool + n + 1 > r->cappool) {
        size_t cap = r->cappool ? r->cappool : 1 << 20;
        while (cap < r->npool + n + 1) cap *= 2;
        if (cap > UINT32_MAX) return fr_err("tokenizer.json: strings exceed 4 GiB");
        char *np = realloc(r->pool, cap);
        if (!np) return fr_err("out of memory");
        r->pool = np;
        r->cappool = cap;
    }
    memcpy(r->pool + r->npool, p, n);
    r->npool += n;
    return 0;
}

static int hexv(char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static int js_u4(js *s, uint32_t *u) {
    if (s->e - s->p < 4) return js_fail(s, "short \\u escape");
    *u = 0;
    for (int k = 0; k < 4; k++) {
        int h = hexv(s->p[k]);
        if (h < 0) return js_fail(s, "bad \\u escape");
        *u = *u << 4 | (uint32_t)h;
    }
    s->p += 4;
    return 0;
}

/* a string at s->p, unescaped into the pool: *off, *len */
static int js_str(js *s, uint32_t *off, uint32_t *len) {
    if (!js_is(s, '"')) return js_fail(s, "expected a string");
    hf_raw *r = s->r;
    *off = (uint32_t)r->npool;
    for (;;) {
        const char *q = s->p;
        while (q < s->e && *q != '"' && *q != '\\' && (unsigned char)*q >= 0x20) q++;
        if (pool_put(r, s->p, (size_t)(q - s->p))) return -1;
        s->p = q;
        if (q >= s->e) return js_fail(s, "unterminated string");
        if (*q == '"') { s->p++; break; }
        if ((unsigned char)*q < 0x20) return js_fail(s, "control character in a string");
        if (s->e - q < 2) return js_fail(s, "unterminated string");
        char c = q[1], o;
        s->p = q + 2;
        switch (c) {
        case '"': case '\\': case '/': o = c; break;
        case 'b': o = '\b'; break;
        case 'f': o = '\f'; break;
        case 'n': o = '\n'; break;
        case 'r': o = '\r'; break;
        case 't': o = '\t'; break;
        case 'u': {
            uint32_t u;
            if (js_u4(s, &u)) return -1;
            if (u >= 0xD800 && u < 0xDC00) { /* a surrogate pair */
                uint32_t lo;
                if (s->e - s->p < 2 || s->p[0] != '\\' || s->p[1] != 'u') return js_fail(s, "lone surrogate");
                s->p += 2;
                if (js_u4(s, &lo)) return -1;
                if (lo < 0xDC00 || lo > 0xDFFF) return js_fail(s, "lone surrogate");
                u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
            } else if (u >= 0xDC00 && u < 0xE000) return js_fail(s, "lone surrogate");
            char b[4];
            size_t n;
            if (u < 0x80) { b[0] = (char)u; n = 1; }
            else if (u < 0x800) { b[0] = (char)(0xC0 | u >> 6); b[1] = (char)(0x80 | (u & 0x3F)); n = 2; }
            else if (u < 0x10000) {
                b[0] = (char)(0xE0 | u >> 12); b[1] = (char)(0x80 | ((u >> 6) & 0x3F)); b[2] = (char)(0x80 | (u & 0x3F)); n = 3;
            } else {
                b[0] = (char)(0xF0 | u >> 18); b[1] = (char)(0x80 | ((u >> 12) & 0x3F));
                b[2] = (char)(0x80 | ((u >> 6) & 0x3F)); b[3] = (char)(0x80 | (u & 0x3F)); n = 4;
            }
            if (pool_put(r, b, n)) return -1;
            continue;
        }
        default: return js_fail(s, "bad escape");
        }
        if (pool_put(r, &o, 1)) return -1;
    }
    *len = (uint32_t)(r->npool - *off);
    return 0;
}

/* skip one value; its text is [*b, s->p) */
static int js_skip(js *s, const char **b) {
    js_ws(s);
    *b = s->p;
    if (s->p >= s->e) return js_fail(s, "expected a value");
    if (*s->p != '{' && *s->p != '[' && *s->p != '"') {
        while (s->p < s->e && !strchr(",}] \t\r\n", *s->p)) s->p++;
        return 0;
    }
    int depth = 0;
    do {
        if (s->p >= s->e) return js_fail(s, "unterminated value");
        char c = *s->p++;
        if (c == '"') {
            while (s->p < s->e && *s->p != '"') s->p += *s->p == '\\' ? 2 : 1;
            if (s->p >= s->e) return js_fail(s, "unterminated string");
            s->p++;
        } else if (c == '{' || c == '[') depth++;
        else if (c == '}' || c == ']') depth--;
    } while (depth > 0);
    return 0;
}

/* skip a value and give jansson its text: obj[key] = value */
static int js_to_jansson(js *s, json_t *obj, const char *key) {
    const char *b;
    if (js_skip(s, &b)) return -1;
    json_error_t je;
    json_t *v = json_loadb(b, (size_t)(s->p - b), JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    if (!v) return fr_err("%s: \"%s\" at byte %zu: %s", s->file, key, (size_t)(b - s->b) + (size_t)je.position, je.text);
    json_object_set_new(obj, key, v);
    return 0;
}

static int key_is(js *s, uint32_t off, uint32_t len, const char *k) {
    return len == strlen(k) && !memcmp(s->r->pool + off, k, len);
}

/* "key": at s->p; the key is left in a small buffer (not the pool) */
static int js_key(js *s, char *kb, size_t cap, uint32_t *off, uint32_t *len) {
    size_t mark = s->r->npool;
    if (js_str(s, off, len)) return -1;
    size_t n = *len < cap - 1 ? *len : cap - 1;
    memcpy(kb, s->r->pool + *off, n);
    kb[n] = 0;
    if (!js_is(s, ':')) return js_fail(s, "expected ':'");
    s->r->npool = mark; /* *off stays valid for key_is until the next put */
    return 0;
}

static int js_vocab(js *s) {
    hf_raw *r = s->r;
    if (!js_is(s, '{')) return js_fail(s, "model.vocab is not an object");
    if (js_is(s, '}')) return 0;
    do {
        hf_voc v;
        if (js_str(s, &v.off, &v.len)) return -1;
        if (!js_is(s, ':')) return js_fail(s, "expected ':'");
        js_ws(s);
        long long id = 0;
        const char *st = s->p;
        while (s->p < s->e && *s->p >= '0' && *s->p <= '9' && s->p - st < 10) id = id * 10 + (*s->p++ - '0');
        if (s->p == st || id > 16777215 || (s->p < s->e && (*s->p == '.' || *s->p == 'e' || *s->p == 'E')))
            return js_fail(s, "model.vocab value is not a token id");
        v.id = (int32_t)id;
        if (r->nvoc == r->capvoc) {
            r->capvoc = r->capvoc ? 2 * r->capvoc : 1024;
            hf_voc *nv = realloc(r->voc, r->capvoc * sizeof *nv);
            if (!nv) return fr_err("out of memory");
            r->voc = nv;
        }
        r->voc[r->nvoc++] = v;
    } while (js_is(s, ','));
    if (!js_is(s, '}')) return js_fail(s, "expected ',' or '}' in model.vocab");
    return 0;
}

static int js_merges(js *s) {
    hf_raw *r = s->r;
    if (!js_is(s, '[')) return js_fail(s, "model.merges is not an array");
    if (js_is(s, ']')) return 0;
    do {
        hf_mer m;
        js_ws(s);
        if (s->p < s->e && *s->p == '"') { /* "a b" */
            uint32_t off, len;
            if (js_str(s, &off, &len)) return -1;
            const char *sp = memchr(r->pool + off, ' ', len);
            if (!sp || memchr(sp + 1, ' ', len - (size_t)(sp + 1 - (r->pool + off))))
                return fr_err("%s: model.merges[%zu] is not \"a b\"", s->file, r->nmer);
            m = (hf_mer){off, (uint32_t)(sp - (r->pool + off)), (uint32_t)(sp + 1 - r->pool), 0};
            m.bn = off + len - m.b;
        } else { /* ["a", "b"] */
            if (!js_is(s, '[') || js_str(s, &m.a, &m.an) || !js_is(s, ',') || js_str(s, &m.b, &m.bn) || !js_is(s, ']'))
                return fr_err("%s: model.merges[%zu] is neither \"a b\" nor [a, b]", s->file, r->nmer);
        }
        if (r->nmer == r->capmer) {
            r->capmer = r->capmer ? 2 * r->capmer : 1024;
            hf_mer *nm = realloc(r->mer, r->capmer * sizeof *nm);
            if (!nm) return fr_err("out of memory");
            r->mer = nm;
        }
        r->mer[r->nmer++] = m;
    } while (js_is(s, ','));
    if (!js_is(s, ']')) return js_fail(s, "expected ',' or ']' in model.merges");
    return 0;
}

static int js_model(js *s) {
    hf_raw *r = s->r;
    r->model = json_object();
    if (!r->model) return fr_err("out of memory");
    if (!js_is(s, '{')) return js_fail(s, "model is not an object");
    if (js_is(s, '}')) return 0;
    do {
        char kb[256];
        uint32_t off, len;
        if (js_key(s, kb, sizeof kb, &off, &len)) return -1;
        if (key_is(s, off, len, "vocab")) {
            r->has_vocab = 1;
            if (js_vocab(s)) return -1;
        } else if (key_is(s, off, len, "merges")) {
            r->has_merges = 1;
            if (js_merges(s)) return -1;
        } else if (js_to_jansson(s, r->model, kb)) return -1;
    } while (js_is(s, ','));
    if (!js_is(s, '}')) return js_fail(s, "expected ',' or '}' in model");
    return 0;
}

static void hf_raw_free(hf_raw *r) {
    json_decref(r->root);
    json_decref(r->model);
    free(r->voc);
    free(r->mer);
    free(r->pool);
}

static int hf_raw_load(const char *file, hf_raw *r) {
    memset(r, 0, sizeof *r);
    fr_mmap m;
    if (fr_mmap_open(&m, file)) return -1;
    const char *b = (const char *)m.data;
    js s = {b, b, b + m.size, file, r};
    int rc = -1;
    r->root = json_object();
    if (!r->root) { fr_err("out of memory"); goto out; }
    if (!b || !fr_utf8_valid(b, m.size)) { fr_err("%s: empty or not UTF-8", file); goto out; }
    if (!js_is(&s, '{')) { js_fail(&s, "not a JSON object"); goto out; }
    if (!js_is(&s, '}')) {
        do {
            char kb[256];
            uint32_t off, len;
            if (js_key(&s, kb, sizeof kb, &off, &len)) goto out;
            if (key_is(&s, off, len, "model")) {
                if (js_model(&s)) goto out;
            } else if (js_to_jansson(&s, r->root, kb)) goto out;
        } while (js_is(&s, ','));
        if (!js_is(&s, '}')) { js_fail(&s, "expected ',' or '}'"); goto out; }
    }
    js_ws(&s);
    if (s.p != s.e) { js_fail(&s, "text after the object"); goto out; }
    rc = 0;
out:
    fr_mmap_close(&m);
    return rc;
}

static int load_merges(fr_tokenizer *t, const char *file, const hf_raw *r) {
    if (fr_pmap_init(&t->merges, r->nmer ? r->nmer : 1)) return -1;
    uint8_t *ba = NULL, *bb = NULL, *bc = NULL;
    size_t cap = 0;
    int rc = 0;
    for (size_t k = 0; k < r->nmer && !rc; k++) {
        const hf_mer *m = &r->mer[k];
        if ((size_t)m->an + m->bn + 1 > cap) {
            cap = 2 * ((size_t)m->an + m->bn + 1);
            free(ba); free(bb); free(bc);
            ba = malloc(cap); bb = malloc(cap); bc = malloc(cap);
            if (!ba || !bb || !bc) { rc = fr_err("out of memory"); break; }
        }
        int32_t ia = merge_side(t, r->pool + m->a, m->an, ba), ib = merge_side(t, r->pool + m->b, m->bn, bb);
        if (ia < 0 || ib < 0) { rc = fr_err("%s: model.merges[%zu]: a side is not in the vocabulary", file, k); break; }
        size_t la = t->len[ia], lb = t->len[ib];
        memcpy(bc, t->bytes + t->off[ia], la);
        memcpy(bc + la, t->bytes + t->off[ib], lb);
        int32_t ic = fr_bmap_get(&t->vocab, fr_tok_key, t, bc, la + lb);
        if (ic < 0) { rc = fr_err("%s: model.merges[%zu]: the merged token is not in the vocabulary", file, k); break; }
        fr_pmap_put(&t->merges, ia, ib, (uint32_t)k, ic); /* a repeated pair: the later rank, as HF's map */
    }
    free(ba);
    free(bb);
    free(bc);
    return rc;
}

int fr_hf_load(fr_tokenizer *t, const char *dir) {
    char file[4096], cfgpath[4096];
    snprintf(file, sizeof file, "%s/tokenizer.json", dir);
    json_t *cfg = NULL;
    uint8_t *buf = NULL;
    int rc = -1;
    hf_raw raw;
    if (hf_raw_load(file, &raw)) { hf_raw_free(&raw); return -1; }
    json_t *root = raw.root, *model = raw.model;
    const char *mtype = json_string_value(json_object_get(model, "type"));
    if (!raw.has_vocab || !raw.has_merges || (mtype && strcmp(mtype, "BPE"))) {
        fr_err("%s: model is not BPE with vocab and merges (type %s)", file, mtype ? mtype : "?");
        goto done;
    }
    if (json_is_true(json_object_get(model, "byte_fallback"))) { fr_err("%s: model.byte_fallback is not supported", file); goto done; }
    const char *cs = json_string_value(json_object_get(model, "continuing_subword_prefix"));
    const char *ew = json_string_value(json_object_get(model, "end_of_word_suffix"));
    if ((cs && *cs) || (ew && *ew)) { fr_err("%s: subword prefix/suffix is not supported", file); goto done; }
    t->ignore_merges = json_is_true(json_object_get(model, "ignore_merges"));
    json_t *norm = json_object_get(root, "normalizer");
    if (norm && !json_is_null(norm)) {
        const char *nt = json_string_value(json_object_get(norm, "type"));
        if (!nt || strcmp(nt, "Sequence") || json_array_size(json_object_get(norm, "normalizers")) != 0) {
            fr_err("%s: normalizer '%s' is not supported", file, nt ? nt : "?");
            goto done;
        }
    }

    /* ids */
    json_t *added = json_object_get(root, "added_tokens");
    long long maxid = -1;
    json_t *v;
    for (size_t k = 0; k < raw.nvoc; k++)
        if (raw.voc[k].id > maxid) maxid = raw.voc[k].id;
    size_t i;
    json_array_foreach(added, i, v) {
        json_t *id = json_object_get(v, "id");
        if (!json_is_integer(id) || json_integer_value(id) < 0 || json_integer_value(id) > 16777215 ||
            !json_is_string(json_object_get(v, "content"))) {
            fr_err("%s: added_tokens[%zu] has no valid id and content", file, i);
            goto done;
        }
        if (json_integer_value(id) > maxid) maxid = json_integer_value(id);
    }
    if (maxid < 0) { fr_err("%s: empty vocabulary", file); goto done; }
    if (fr_tok_alloc_ids(t, (int)maxid + 1)) goto done;
    if (fr_bmap_init(&t->vocab, raw.nvoc)) goto done;

    /* base vocabulary: token strings through the byte-level map */
    size_t bufcap = 0;
    for (size_t k = 0; k < raw.nvoc; k++) {
        size_t kn = raw.voc[k].len;
        if (kn + 1 > bufcap) {
            bufcap = 2 * kn + 64;
            free(buf);
            if (!(buf = malloc(bufcap))) { fr_err("out of memory"); goto done; }
        }
        int32_t id = raw.voc[k].id;
        if (t->flags[id] & FR_TOKF_EXISTS) { fr_err("%s: id %d appears twice in model.vocab", file, id); goto done; }
        size_t bn = fr_bytelevel_decode(raw.pool + raw.voc[k].off, kn, buf);
        if (fr_tok_set(t, id, buf, bn, 0)) goto done;
        fr_bmap_put(&t->vocab, fr_tok_key, t, id); /* equal bytes twice: the first wins */
    }
    for (int b = 0; b < 256; b++) {
        uint8_t c = (uint8_t)b;
        t->byte_id[b] = fr_bmap_get(&t->vocab, fr_tok_key, t, &c, 1);
    }
    if (load_merges(t, file, &raw)) goto done;

    /* added tokens */
    size_t na = json_array_size(added), total = 0;
    json_array_foreach(added, i, v) total += json_string_length(json_object_get(v, "content"));
    t->added = calloc(na + 1, sizeof *t->added);
    t->added_bytes = malloc(total + 1);
    if (!t->added || !t->added_bytes) { fr_err("out of memory"); goto done; }
    size_t off = 0;
    json_array_foreach(added, i, v) {
        json_t *c = json_object_get(v, "content");
        fr_added *a = &t->added[t->n_added++];
        a->off = (uint32_t)off;
        a->len = (uint32_t)json_string_length(c);
        a->id = (int32_t)json_integer_value(json_object_get(v, "id"));
        a->special = json_is_true(json_object_get(v, "special"));
        a->normalized = json_is_true(json_object_get(v, "normalized"));
        memcpy(t->added_bytes + off, json_string_value(c), a->len);
        off += a->len;
    }
    if (fr_tok_finish_added(t, file)) goto done;

    /* pre-tokenizer */
    int has_bl = 0;
    if (parse_pretok(t, file, json_object_get(root, "pre_tokenizer"), &has_bl)) goto done;
    json_t *dec = json_object_get(root, "decoder");
    const char *dt = json_string_value(json_object_get(dec, "type"));
    if (!has_bl && !(dt && !strcmp(dt, "ByteLevel"))) {
        fr_err("%s: not a byte-level BPE tokenizer (no ByteLevel pre_tokenizer or decoder)", file);
        goto done;
    }

    /* BOS from the post-processor: a TemplateProcessing (maybe inside a
     * Sequence) whose "single" template starts with a special token */
    json_t *pp = json_object_get(root, "post_processor");
    const char *ppt = json_string_value(json_object_get(pp, "type"));
    if (ppt && !strcmp(ppt, "Sequence")) {
        size_t k;
        json_t *q;
        json_t *procs = json_object_get(pp, "processors");
        pp = NULL;
        json_array_foreach(procs, k, q) {
            const char *qt = json_string_value(json_object_get(q, "type"));
            if (qt && !strcmp(qt, "TemplateProcessing")) pp = q;
        }
        ppt = pp ? "TemplateProcessing" : NULL;
    }
    if (ppt && !strcmp(ppt, "TemplateProcessing")) {
        json_t *first = json_object_get(json_array_get(json_object_get(pp, "single"), 0), "SpecialToken");
        const char *name = json_string_value(json_object_get(first, "id"));
        json_t *ids = json_object_get(json_object_get(json_object_get(pp, "special_tokens"), name ? name : ""), "ids");
        if (name && json_array_size(ids) == 1 && json_is_integer(json_array_get(ids, 0))) {
            t->add_bos = 1;
            t->bos = (int)json_integer_value(json_array_get(ids, 0));
            if (t->bos < 0 || t->bos >= t->n_vocab) { fr_err("%s: post_processor BOS id %d out of range", file, t->bos); goto done; }
        }
    }

    /* tokenizer_config.json: add_bos_token (transformers' Llama-style
     * tokenizers rebuild the post-processor from it), bos_token, eos_token */
    snprintf(cfgpath, sizeof cfgpath, "%s/tokenizer_config.json", dir);
    FILE *f = fopen(cfgpath, "rb");
    if (f) {
        fclose(f);
        if (load_json(cfgpath, &cfg, JSON_DECODE_INT_AS_REAL)) goto done; /* model_max_length can be 1e30 */
        json_t *ab = json_object_get(cfg, "add_bos_token");
        if (ab) t->add_bos = json_is_true(ab);
        const char *bs = token_content(json_object_get(cfg, "bos_token"));
        const char *es = token_content(json_object_get(cfg, "eos_token"));
        if (bs) {
            t->bos = fr_tok_special_id(t, bs);
            if (t->bos < 0) t->bos = fr_bmap_get(&t->vocab, fr_tok_key, t, (const uint8_t *)bs, strlen(bs));
        }
        if (es) {
            t->eos = fr_tok_special_id(t, es);
            if (t->eos < 0) t->eos = fr_bmap_get(&t->vocab, fr_tok_key, t, (const uint8_t *)es, strlen(es));
        }
        if (t->add_bos && t->bos < 0) { fr_err("%s: add_bos_token without a known bos_token", cfgpath); goto done; }
    }
    rc = 0;
done:
    free(buf);
    hf_raw_free(&raw);
    json_decref(cfg);
    return rc;
}
