/* Loader for tiktoken.model as Kimi ships it (Moonlight, K2, Kimi Linear):
 * "<base64 token bytes> <rank>" per line, the rank being the token id; then
 * 256 special tokens with the ids after the ranks, named by
 * tokenizer_config.json's added_tokens_decoder (the others
 * "<|reserved_token_ID|>"), as tokenization_kimi.py builds them. The
 * pre-tokenizer regex is pattern.txt when the directory has one, else Kimi's
 * pat_str below. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/mmap.h"
#include "text/tok_internal.h"

/* pat_str of tokenization_kimi.py (Kimi K2, Kimi Linear, Moonlight) */
const char fr_kimi_pat[] =
    "[\\p{Han}]+"
    "|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}&&[^\\p{Han}]]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}&&[^\\p{Han}]]+"
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
    "|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}&&[^\\p{Han}]]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}&&[^\\p{Han}]]*"
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
    "|\\p{N}{1,3}"
    "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*"
    "|\\s*[\\r\\n]+"
    "|\\s+(?!\\S)"
    "|\\s+";

#define N_RESERVED_SPECIAL 256

static int b64val(uint8_t c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* decode n base64 chars (with optional '=' padding) into out; -1 if invalid */
static long b64dec(const uint8_t *s, size_t n, uint8_t *out) {
    while (n && s[n - 1] == '=') n--;
    if (n % 4 == 1) return -1;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64val(s[i]);
        if (v < 0) return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    return (long)o;
}

typedef struct line {
    size_t b64, b64n;
    long rank;
} line;

static int parse_model(fr_tokenizer *t, const char *file, const fr_mmap *m) {
    const uint8_t *d = m->data;
    size_t n = m->size, nl = 0;
    for (size_t i = 0; i < n; i++) nl += d[i] == '\n';
    line *ls = malloc((nl + 1) * sizeof *ls);
    if (!ls) return fr_err("out of memory");
    size_t nls = 0, lineno = 0;
    long maxrank = -1;
    for (size_t i = 0; i < n;) {
        size_t e = i;
        while (e < n && d[e] != '\n') e++;
        lineno++;
        size_t le = e;
        if (le > i && d[le - 1] == '\r') le--;
        if (le > i) {
            size_t sp = i;
            while (sp < le && d[sp] != ' ') sp++;
            char num[24];
            size_t nn = le - sp - (sp < le);
            if (sp == le || nn == 0 || nn >= sizeof num) {
                free(ls);
                return fr_err("%s: line %zu: expected \"<base64> <rank>\"", file, lineno);
            }
            memcpy(num, d + sp + 1, nn);
            num[nn] = 0;
            char *end;
            long r = strtol(num, &end, 10);
            if (*end || r < 0 || r > 16777215) {
                free(ls);
                return fr_err("%s: line %zu: bad rank '%s'", file, lineno, num);
            }
            ls[nls++] = (line){i, sp - i, r};
            if (r > maxrank) maxrank = r;
        }
        i = e + 1;
    }
    if (nls == 0) { free(ls); return fr_err("%s: no tokens", file); }
    /* the specials follow the ranks: ids n_base .. n_base + 255 */
    long n_base = (long)nls;
    if (maxrank + 1 > n_base) n_base = maxrank + 1;
    int rc = fr_tok_alloc_ids(t, (int)(n_base + N_RESERVED_SPECIAL));
    if (!rc) rc = fr_bmap_init(&t->vocab, nls);
    uint8_t buf[1024];
    for (size_t k = 0; k < nls && !rc; k++) {
        if (ls[k].b64n > 4 * (sizeof buf / 3)) { rc = fr_err("%s: token of rank %ld is too long", file, ls[k].rank); break; }
        long bn = b64dec(d + ls[k].b64, ls[k].b64n, buf);
        if (bn < 0) { rc = fr_err("%s: rank %ld: invalid base64", file, ls[k].rank); break; }
        if (t->flags[ls[k].rank] & FR_TOKF_EXISTS) { rc = fr_err("%s: rank %ld appears twice", file, ls[k].rank); break; }
        if (fr_tok_set(t, (int32_t)ls[k].rank, buf, (size_t)bn, 0)) { rc = -1; break; }
        if (fr_bmap_put(&t->vocab, fr_tok_key, t, (int32_t)ls[k].rank) >= 0) {
            rc = fr_err("%s: rank %ld: the same bytes as another rank", file, ls[k].rank);
            break;
        }
    }
    free(ls);
    if (rc) return -1;
    for (int b = 0; b < 256; b++) {
        uint8_t c = (uint8_t)b;
        t->byte_id[b] = fr_bmap_get(&t->vocab, fr_tok_key, t, &c, 1);
    }
    return 0;
}

static const char *token_content(json_t *v) {
    if (json_is_string(v)) return json_string_value(v);
    return json_string_value(json_object_get(v, "content"));
}

int fr_tiktoken_load(fr_tokenizer *t, const char *dir) {
    char file[4096], cfgpath[4096], patpath[4096];
    snprintf(file, sizeof file, "%s/tiktoken.model", dir);
    snprintf(cfgpath, sizeof cfgpath, "%s/tokenizer_config.json", dir);
    snprintf(patpath, sizeof patpath, "%s/pattern.txt", dir);
    fr_mmap m;
    if (fr_mmap_open(&m, file)) return -1;
    int rc = parse_model(t, file, &m);
    fr_mmap_close(&m);
    if (rc) return -1;
    int n_base = t->n_vocab - N_RESERVED_SPECIAL;

    json_t *cfg = NULL, *dec = NULL;
    FILE *f = fopen(cfgpath, "rb");
    if (f) {
        fclose(f);
        json_error_t je;
        cfg = json_load_file(cfgpath, JSON_DECODE_INT_AS_REAL, &je); /* model_max_length can be 1e30 */
        if (!cfg) return fr_err("%s: line %d: %s", cfgpath, je.line, je.text);
        dec = json_object_get(cfg, "added_tokens_decoder");
    }
    /* special tokens: the reserved range, plus any named id beyond it */
    int n_vocab = t->n_vocab;
    const char *key;
    json_t *v;
    json_object_foreach(dec, key, v) {
        char *end;
        long id = strtol(key, &end, 10);
        if (*end || id < n_base || id > 16777215 || !token_content(v)) {
            json_decref(cfg);
            return fr_err("%s: added_tokens_decoder[\"%s\"]: not a special token id after the %d ranks", cfgpath, key,
                          n_base);
        }
        if (id + 1 > n_vocab) n_vocab = (int)id + 1;
    }
    if (n_vocab > t->n_vocab) { /* grow the per-id tables */
        uint8_t *fl = realloc(t->flags, (size_t)n_vocab);
        uint32_t *of = realloc(t->off, (size_t)n_vocab * sizeof *of);
        if (fl) t->flags = fl;
        if (of) t->off = of;
        uint32_t *ln = realloc(t->len, (size_t)n_vocab * sizeof *ln);
        if (ln) t->len = ln;
        if (!fl || !of || !ln) { json_decref(cfg); return fr_err("out of memory"); }
        memset(t->flags + t->n_vocab, 0, (size_t)(n_vocab - t->n_vocab));
        memset(t->off + t->n_vocab, 0, (size_t)(n_vocab - t->n_vocab) * sizeof *t->off);
        memset(t->len + t->n_vocab, 0, (size_t)(n_vocab - t->n_vocab) * sizeof *t->len);
        t->n_vocab = n_vocab;
    }
    int n_special = n_vocab - n_base;
    t->added = calloc((size_t)n_special, sizeof *t->added);
    size_t cap = 4096, used = 0;
    t->added_bytes = malloc(cap);
    if (!t->added || !t->added_bytes) { json_decref(cfg); return fr_err("out of memory"); }
    for (int id = n_base; id < n_vocab; id++) {
        char k[32], name[64];
        snprintf(k, sizeof k, "%d", id);
        const char *c = token_content(json_object_get(dec, k));
        if (!c) {
            if (id >= n_base + N_RESERVED_SPECIAL) continue;
            snprintf(name, sizeof name, "<|reserved_token_%d|>", id);
            c = name;
        }
        size_t cn = strlen(c);
        if (used + cn > cap) {
            while (used + cn > cap) cap *= 2;
            uint8_t *nb = realloc(t->added_bytes, cap);
            if (!nb) { json_decref(cfg); return fr_err("out of memory"); }
            t->added_bytes = nb;
        }
        memcpy(t->added_bytes + used, c, cn);
        t->added[t->n_added++] = (fr_added){(uint32_t)used, (uint32_t)cn, id, 1, 0};
        used += cn;
    }
    if (fr_tok_finish_added(t, cfgpath)) { json_decref(cfg); return -1; }
    const char *bs = token_content(json_object_get(cfg, "bos_token"));
    const char *es = token_content(json_object_get(cfg, "eos_token"));
    t->bos = fr_tok_special_id(t, bs ? bs : "[BOS]");
    t->eos = fr_tok_special_id(t, es ? es : "[EOS]");
    t->add_bos = 0; /* Kimi adds neither BOS nor EOS */
    json_decref(cfg);

    /* the pre-tokenizer regex */
    char *pat = NULL;
    size_t plen = 0;
    f = fopen(patpath, "rb");
    if (f) {
        fclose(f);
        if (fr_read_file(patpath, 1 << 20, &pat, &plen)) return -1;
        while (plen && (pat[plen - 1] == '\n' || pat[plen - 1] == '\r')) pat[--plen] = 0;
    }
    t->n_stages = 1;
    memset(&t->stages[0], 0, sizeof t->stages[0]);
    rc = fr_re_compile(&t->stages[0].re, pat ? pat : fr_kimi_pat, pat ? plen : strlen(fr_kimi_pat),
                       pat ? patpath : file);
    free(pat);
    return rc;
}
