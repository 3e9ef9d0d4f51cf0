/* Tokenizer and chat template from a GGUF file's metadata, as llama.cpp's
 * convert_hf_to_gguf.py writes them:
 *
 *   tokenizer.ggml.model       "gpt2" (byte-level BPE; the only one supported)
 *   tokenizer.ggml.pre         pre-tokenizer name: "deepseek-v3", "deepseek-llm", "kimi-k2"
 *   tokenizer.ggml.tokens      [n_vocab] token strings; NORMAL tokens in the GPT-2
 *                              byte-to-unicode form, added tokens as their raw text
 *   tokenizer.ggml.token_type  [n_vocab] 1 normal, 2 unknown, 3 control, 4 user-defined,
 *                              5 unused, 6 byte (optional: all normal)
 *   tokenizer.ggml.merges      ["a b", ...], rank = index
 *   tokenizer.ggml.{bos,eos}_token_id, add_bos_token
 *   tokenizer.chat_template    (named ones: tokenizer.chat_templates + tokenizer.chat_template.NAME)
 *
 * Control tokens are special added tokens, user-defined ones are added tokens
 * that are not special (matched in a second pass, as Hugging Face matches
 * normalized added tokens); both are matched in the raw text before the
 * pre-tokenizer, like the tokenizer.json path. Unused ids name no token.
 *
 * Pre-tokenizers (the Split regexes of the models' tokenizer.json, which
 * llama.cpp's src/llama-vocab.cpp also lists per name):
 *   deepseek-v3   DeepSeek-V3/R1/V3.x: three Split(Isolated) regexes
 *   deepseek-llm  DeepSeek LLM / V2: five regexes and \p{N}+
 *   kimi-k2       Kimi: llama.cpp's converter turns the tiktoken ranks into
 *                 gpt2 tokens (id = rank) plus merges rebuilt from the ranks.
 *                 Here the file is read back as the tiktoken it came from:
 *                 Kimi's pattern, pieces merged by the rank (= id) of the
 *                 concatenated bytes, so encoding is exactly tiktoken's (the
 *                 merges are checked to be strings but not used).
 * Anything else is refused with an error naming it. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/err.h"
#include "formats/gguf.h"
#include "text/chat.h"
#include "text/tok_internal.h"

enum { TT_UNDEFINED, TT_NORMAL, TT_UNKNOWN, TT_CONTROL, TT_USER_DEFINED, TT_UNUSED, TT_BYTE };

/* DeepSeek-V3's tokenizer.json pre_tokenizer Splits (then ByteLevel without regex) */
static const char *const k_deepseek_v3[] = {
    "\\p{N}{1,3}",
    "[一-龥぀-ゟ゠-ヿ]+",
    "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+",
    NULL};

/* DeepSeek LLM's (and DeepSeek-V2's) tokenizer.json pre_tokenizer */
static const char *const k_deepseek_llm[] = {
    "[\r\n]",
    /* whitespace? then cased letters (Lu, Ll, Lt) of the Unicode version the
     * tokenizer was made with, as code points (several are canonical singletons
     * that text normalization would silently change) */
    "\\s?["
    "\\x{41}-\\x{5A}\\x{61}-\\x{7A}\\x{B5}\\x{C0}-\\x{D6}\\x{D8}-\\x{F6}\\x{F8}-\\x{1BA}\\x{1BC}-\\x{1BF}"
    "\\x{1C4}-\\x{293}\\x{295}-\\x{2AF}\\x{370}-\\x{373}\\x{376}\\x{377}\\x{37B}-\\x{37D}\\x{37F}\\x{386}"
    "\\x{388}-\\x{38A}\\x{38C}\\x{38E}-\\x{3A1}\\x{3A3}-\\x{3F5}\\x{3F7}-\\x{481}\\x{48A}-\\x{52F}"
    "\\x{531}-\\x{556}\\x{10A0}-\\x{10C5}\\x{13A0}-\\x{13F5}\\x{13F8}-\\x{13FD}\\x{1C90}-\\x{1CBA}"
    "\\x{1CBD}-\\x{1CBF}\\x{1D00}-\\x{1D2B}\\x{1D6B}-\\x{1D77}\\x{1D79}-\\x{1D9A}\\x{1E00}-\\x{1F15}"
    "\\x{1F18}-\\x{1F1D}\\x{1F20}-\\x{1F45}\\x{1F48}-\\x{1F4D}\\x{1F50}-\\x{1F57}\\x{1F59}\\x{1F5B}"
    "\\x{1F5D}\\x{1F5F}-\\x{1F7D}\\x{1F80}-\\x{1FB4}\\x{1FB6}-\\x{1FBC}\\x{1FBE}\\x{1FC2}-\\x{1FC4}"
    "\\x{1FC6}-\\x{1FCC}\\x{1FD0}-\\x{1FD3}\\x{1FD6}-\\x{1FDB}\\x{1FE0}-\\x{1FEC}\\x{1FF2}-\\x{1FF4}"
    "\\x{1FF6}-\\x{1FFC}\\x{2102}\\x{2107}\\x{210A}-\\x{2113}\\x{2115}\\x{2119}-\\x{211D}\\x{2124}"
    "\\x{2126}\\x{2128}\\x{212A}-\\x{212D}\\x{212F}-\\x{2134}\\x{2139}\\x{213C}-\\x{213F}"
    "\\x{2145}-\\x{2149}\\x{214E}\\x{2183}\\x{2184}\\x{2C00}-\\x{2C7B}\\x{2C7E}-\\x{2CE4}"
    "\\x{2CEB}-\\x{2CEE}\\x{2CF2}\\x{2CF3}\\x{A640}-\\x{A66D}\\x{A680}-\\x{A69B}\\x{A722}-\\x{A76F}"
    "\\x{A771}-\\x{A787}\\x{A78B}-\\x{A78E}\\x{AB70}-\\x{ABBF}\\x{FB00}-\\x{FB06}\\x{FB13}-\\x{FB17}"
    "\\x{FF21}-\\x{FF3A}\\x{FF41}-\\x{FF5A}\\x{10400}-\\x{1044F}\\x{104B0}-\\x{104D3}"
    "\\x{104D8}-\\x{104FB}\\x{10C80}-\\x{10CB2}\\x{10CC0}-\\x{10CF2}\\x{118A0}-\\x{118DF}"
    "\\x{1E900}-\\x{1E943}"
    "]+",
    "\\s?[!-/:-~！-／：-～‘-‟　-。]+",
    "\\s+$",
    "[一-龥ࠀ-一가-퟿]+",
    "\\p{N}+",
    NULL};

static const char *const k_kimi_k2[] = {fr_kimi_pat, NULL};

static const struct {
    const char *name;
    const char *const *re;
    int tiktoken;
} k_pre[] = {
    {"deepseek-v3", k_deepseek_v3, 0},
    {"deepseek-llm", k_deepseek_llm, 0},
    {"kimi-k2", k_kimi_k2, 1},
};

/* key as a string array of n elements (n = 0: any length >= min), or NULL with
 * a message (none when it is missing and not required). */
static const fr_gguf_kv *str_array(const fr_gguf *g, const char *key, uint64_t n, uint64_t min, int required) {
    const fr_gguf_kv *kv = fr_gguf_kv_find(g, key);
    if (!kv) {
        if (required) fr_err("%s: %s is missing", g->path, key);
        return NULL;
    }
    if (kv->type != FR_GGUF_ARRAY || kv->arr_type != FR_GGUF_STRING) {
        fr_err("%s: %s is not an array of strings", g->path, key);
        return NULL;
    }
    if (n ? kv->arr_n != n : kv->arr_n < min) {
        fr_err("%s: %s has %llu elements, expected %s%llu", g->path, key, (unsigned long long)kv->arr_n,
               n ? "" : "at least ", (unsigned long long)(n ? n : min));
        return NULL;
    }
    return kv;
}

/* token types: [n] from tokenizer.ggml.token_type, all NORMAL when absent */
static int token_types(const fr_gguf *g, uint64_t n, uint8_t *tt) {
    const fr_gguf_kv *kv = fr_gguf_kv_find(g, "tokenizer.ggml.token_type");
    if (!kv) {
        memset(tt, TT_NORMAL, (size_t)n);
        return 0;
    }
    int integer = kv->arr_type <= FR_GGUF_I32 || kv->arr_type == FR_GGUF_U64 || kv->arr_type == FR_GGUF_I64;
    if (kv->type != FR_GGUF_ARRAY || !integer)
        return fr_err("%s: tokenizer.ggml.token_type is not an array of integers", g->path);
    if (kv->arr_n != n)
        return fr_err("%s: tokenizer.ggml.token_type has %llu elements, tokenizer.ggml.tokens %llu", g->path,
                      (unsigned long long)kv->arr_n, (unsigned long long)n);
    for (uint64_t i = 0; i < n; i++) {
        double v = fr_gguf_arr_num(kv, i);
        if (!(v >= TT_UNDEFINED && v <= TT_BYTE))
            return fr_err("%s: tokenizer.ggml.token_type[%llu] = %g is not a token type (0..6)", g->path,
                          (unsigned long long)i, v);
        tt[i] = v == TT_UNDEFINED ? TT_NORMAL : (uint8_t)v;
    }
    return 0;
}

static int add_stages(fr_tokenizer *t, const char *const *re, const char *file, const char *pre) {
    for (int k = 0; re[k]; k++) {
        if (t->n_stages == FR_MAX_STAGES) return fr_err("%s: pre-tokenizer '%s': too many stages", file, pre);
        fr_stage *st = &t->stages[t->n_stages];
        memset(st, 0, sizeof *st);
        st->behavior = FR_SPLIT_ISOLATED;
        char what[4200];
        snprintf(what, sizeof what, "%s: pre-tokenizer '%s' regex %d", file, pre, k);
        if (fr_re_compile(&st->re, re[k], strlen(re[k]), what)) return -1;
        t->n_stages++;
    }
    return 0;
}

/* the merges, rank = index: "a b" (split at the first space after the first
 * byte, as llama.cpp does). A merge whose sides or result are not normal
 * tokens is skipped (llama.cpp keeps it but can never use it: its BPE only
 * ends in tokens), so files llama.cpp reads load here too. */
static int load_merges(fr_tokenizer *t, const fr_gguf *g, const fr_gguf_kv *kv) {
    if (fr_pmap_init(&t->merges, (size_t)kv->arr_n)) return -1;
    uint8_t *buf = NULL;
    size_t cap = 0;
    int rc = 0;
    for (uint64_t k = 0; k < kv->arr_n && !rc; k++) {
        const char *s;
        uint64_t n;
        fr_gguf_arr_str(kv, k, &s, &n);
        const char *sp = n > 1 ? memchr(s + 1, ' ', (size_t)n - 1) : NULL;
        if (!sp || sp + 1 == s + n) {
            rc = fr_err("%s: tokenizer.ggml.merges[%llu] is not \"a b\"", g->path, (unsigned long long)k);
            break;
        }
        if (2 * (size_t)n > cap) {
            free(buf);
            cap = 4 * (size_t)n + 64;
            if (!(buf = malloc(cap))) { rc = fr_err("out of memory"); break; }
        }
        size_t na = fr_bytelevel_decode(s, (size_t)(sp - s), buf);
        int32_t ia = fr_bmap_get(&t->vocab, fr_tok_key, t, buf, na);
        size_t nb = fr_bytelevel_decode(sp + 1, (size_t)(s + n - sp - 1), buf + na);
        int32_t ib = fr_bmap_get(&t->vocab, fr_tok_key, t, buf + na, nb);
        int32_t ic = fr_bmap_get(&t->vocab, fr_tok_key, t, buf, na + nb);
        if (ia >= 0 && ib >= 0 && ic >= 0)
            fr_pmap_put(&t->merges, ia, ib, (uint32_t)k, ic); /* a repeated pair: the later rank, as the HF path */
    }
    free(buf);
    return rc;
}

int fr_gguf_tok_load(fr_tokenizer *t, const fr_gguf *g) {
    const char *file = g->path ? g->path : "gguf";
    char *model = NULL, *pre = NULL;
    uint8_t *tt = NULL, *buf = NULL;
    int rc = -1;
    int r = fr_gguf_get_str(g, "tokenizer.ggml.model", &model);
    if (r) {
        if (r > 0) fr_err("%s: no tokenizer in this file (tokenizer.ggml.model is missing)", file);
        goto out;
    }
    if (strcmp(model, "gpt2")) {
        fr_err("%s: tokenizer.ggml.model '%s' is not supported (only \"gpt2\", byte-level BPE)", file, model);
        goto out;
    }
    r = fr_gguf_get_str(g, "tokenizer.ggml.pre", &pre);
    if (r) {
        if (r > 0) fr_err("%s: tokenizer.ggml.pre is missing (the pre-tokenizer cannot be known)", file);
        goto out;
    }
    int p = -1;
    for (int i = 0; i < (int)(sizeof k_pre / sizeof *k_pre); i++)
        if (!strcmp(pre, k_pre[i].name)) p = i;
    if (p < 0) {
        fr_err("%s: tokenizer.ggml.pre '%s' is not supported (deepseek-v3, deepseek-llm, kimi-k2)", file, pre);
        goto out;
    }
    t->kind = k_pre[p].tiktoken ? FR_TOK_TIKTOKEN : FR_TOK_HF_BPE;

    const fr_gguf_kv *toks = str_array(g, "tokenizer.ggml.tokens", 0, 1, 1);
    if (!toks) goto out;
    if (toks->arr_n > 16777216) { fr_err("%s: tokenizer.ggml.tokens: %llu tokens is too many", file, (unsigned long long)toks->arr_n); goto out; }
    const fr_gguf_kv *merges = str_array(g, "tokenizer.ggml.merges", 0, 0, 0);
    if (!merges) {
        if (!fr_gguf_kv_find(g, "tokenizer.ggml.merges")) fr_err("%s: tokenizer.ggml.merges is missing", file);
        goto out;
    }
    int n = (int)toks->arr_n;
    if (!(tt = malloc((size_t)n))) { fr_err("out of memory"); goto out; }
    if (token_types(g, (uint64_t)n, tt)) goto out;
    if (fr_tok_alloc_ids(t, n) || fr_bmap_init(&t->vocab, (size_t)n)) goto out;

    /* base tokens through the byte-level map; added tokens' raw text */
    size_t cap = 0, total = 0;
    int n_added = 0;
    for (int i = 0; i < n; i++) {
        const char *s;
        uint64_t sl;
        fr_gguf_arr_str(toks, (uint64_t)i, &s, &sl);
        if (tt[i] == TT_CONTROL || tt[i] == TT_USER_DEFINED) {
            n_added++;
            total += (size_t)sl;
        }
    }
    t->added = calloc((size_t)n_added + 1, sizeof *t->added);
    t->added_bytes = malloc(total + 1);
    if (!t->added || !t->added_bytes) { fr_err("out of memory"); goto out; }
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        const char *s;
        uint64_t sl;
        fr_gguf_arr_str(toks, (uint64_t)i, &s, &sl);
        if (tt[i] == TT_UNUSED) continue;
        if (tt[i] == TT_CONTROL || tt[i] == TT_USER_DEFINED) {
            int special = tt[i] == TT_CONTROL;
            if (sl == 0) { /* nothing to match: an existing token without bytes */
                if (fr_tok_set(t, i, NULL, 0, FR_TOKF_ADDED | (special ? FR_TOKF_SPECIAL : 0))) goto out;
                continue;
            }
            /* not special = matched after the special ones, like HF's normalized added tokens */
            t->added[t->n_added++] = (fr_added){(uint32_t)off, (uint32_t)sl, i, (uint8_t)special, (uint8_t)!special};
            memcpy(t->added_bytes + off, s, (size_t)sl);
            off += (size_t)sl;
            continue;
        }
        if ((size_t)sl > cap) {
            free(buf);
            cap = 2 * (size_t)sl + 64;
            if (!(buf = malloc(cap))) { fr_err("out of memory"); goto out; }
        }
        size_t bn = fr_bytelevel_decode(s, (size_t)sl, buf);
        if (fr_tok_set(t, i, buf, bn, 0)) goto out;
        if (tt[i] == TT_NORMAL) fr_bmap_put(&t->vocab, fr_tok_key, t, i); /* equal bytes twice: the first wins */
    }
    for (int b = 0; b < 256; b++) {
        uint8_t c = (uint8_t)b;
        t->byte_id[b] = fr_bmap_get(&t->vocab, fr_tok_key, t, &c, 1);
    }
    if (fr_tok_finish_added(t, file)) goto out;
    if (!k_pre[p].tiktoken && load_merges(t, g, merges)) goto out;
    if (add_stages(t, k_pre[p].re, file, pre)) goto out;

    /* BOS / EOS */
    int64_t id;
    r = fr_gguf_get_int(g, "tokenizer.ggml.bos_token_id", 0, n - 1, &id);
    if (r < 0) goto out;
    if (r == 0) t->bos = (int)id;
    r = fr_gguf_get_int(g, "tokenizer.ggml.eos_token_id", 0, n - 1, &id);
    if (r < 0) goto out;
    if (r == 0) t->eos = (int)id;
    /* add_bos_token when written; else what the models' own configs say:
     * DeepSeek adds BOS, Kimi never does */
    int ab = !k_pre[p].tiktoken && t->bos >= 0;
    if (fr_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &ab) < 0) goto out;
    t->add_bos = ab;
    if (t->add_bos && t->bos < 0) { fr_err("%s: tokenizer.ggml.add_bos_token without tokenizer.ggml.bos_token_id", file); goto out; }
    rc = 0;
out:
    free(model);
    free(pre);
    free(tt);
    free(buf);
    return rc;
}

int fr_tokenizer_load_gguf(const fr_gguf *g, fr_tokenizer **out) {
    *out = NULL;
    fr_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return fr_err("out of memory");
    t->bos = t->eos = -1;
    memset(t->byte_id, 0xFF, sizeof t->byte_id);
    if (fr_gguf_tok_load(t, g)) {
        fr_tokenizer_free(t);
        return -1;
    }
    *out = t;
    return 0;
}

/* ---- chat template ---- */

/* the text of token id (key names a token id), as a template variable */
static int token_var(const fr_gguf *g, const char *key, json_t *cfg, const char *var) {
    int64_t id;
    const fr_gguf_kv *toks = fr_gguf_kv_find(g, "tokenizer.ggml.tokens");
    if (!toks || toks->type != FR_GGUF_ARRAY || toks->arr_type != FR_GGUF_STRING || toks->arr_n == 0) return 0;
    int r = fr_gguf_get_int(g, key, 0, (int64_t)toks->arr_n - 1, &id);
    if (r) return r < 0 ? -1 : 0;
    const char *s;
    uint64_t n;
    fr_gguf_arr_str(toks, (uint64_t)id, &s, &n);
    /* a normal token is stored byte-level encoded; control / user-defined ones as text */
    const fr_gguf_kv *tt = fr_gguf_kv_find(g, "tokenizer.ggml.token_type");
    int type = TT_NORMAL;
    if (tt && tt->type == FR_GGUF_ARRAY && tt->arr_type != FR_GGUF_STRING && tt->arr_n == toks->arr_n)
        type = (int)fr_gguf_arr_num(tt, (uint64_t)id);
    char *b = malloc((size_t)n + 1);
    if (!b) return fr_err("out of memory");
    size_t bn = n;
    if (type == TT_CONTROL || type == TT_USER_DEFINED) memcpy(b, s, (size_t)n);
    else bn = fr_bytelevel_decode(s, (size_t)n, (uint8_t *)b);
    json_t *v = json_stringn_nocheck(b, bn);
    free(b);
    if (!v) return fr_err("out of memory");
    json_object_set_new(cfg, var, v);
    return 0;
}

static json_t *gguf_string(const fr_gguf *g, const char *key, int *err) {
    const fr_gguf_kv *kv = fr_gguf_kv_find(g, key);
    *err = 0;
    if (!kv) return NULL;
    if (kv->type != FR_GGUF_STRING) {
        *err = 1;
        fr_err("%s: %s is not a string", g->path, key);
        return NULL;
    }
    if (memchr(kv->str, 0, (size_t)kv->str_len)) {
        *err = 1;
        fr_err("%s: %s has a NUL byte", g->path, key);
        return NULL;
    }
    json_t *v = json_stringn_nocheck(kv->str, (size_t)kv->str_len);
    if (!v) {
        *err = 1;
        fr_err("out of memory");
    }
    return v;
}

/* A tokenizer_config.json equivalent: chat_template (a string, or named
 * templates), the special-token strings, the Kimi marker. */
static json_t *chat_config(const fr_gguf *g) {
    json_t *cfg = json_object();
    if (!cfg) { fr_err("out of memory"); return NULL; }
    int err;
    json_t *def = gguf_string(g, "tokenizer.chat_template", &err);
    if (err) goto fail;
    const fr_gguf_kv *names = fr_gguf_kv_find(g, "tokenizer.chat_templates");
    if (names) {
        if (!(names = str_array(g, "tokenizer.chat_templates", 0, 0, 1))) { json_decref(def); goto fail; }
        json_t *list = json_array();
        if (def) json_array_append_new(list, json_pack("{s:s,s:o}", "name", "default", "template", def));
        for (uint64_t i = 0; i < names->arr_n; i++) {
            const char *s;
            uint64_t n;
            fr_gguf_arr_str(names, i, &s, &n);
            char key[512];
            snprintf(key, sizeof key, "tokenizer.chat_template.%.*s", (int)(n < 400 ? n : 400), s);
            json_t *tp = gguf_string(g, key, &err);
            if (err) { json_decref(list); goto fail; }
            if (!tp) { fr_err("%s: tokenizer.chat_templates names '%s' but %s is missing", g->path, key + 24, key); json_decref(list); goto fail; }
            json_array_append_new(list, json_pack("{s:s%,s:o}", "name", s, (size_t)n, "template", tp));
        }
        json_object_set_new(cfg, "chat_template", list);
    } else if (def) {
        json_object_set_new(cfg, "chat_template", def);
    }
    static const char *const ids[][2] = {{"tokenizer.ggml.bos_token_id", "bos_token"},
                                         {"tokenizer.ggml.eos_token_id", "eos_token"},
                                         {"tokenizer.ggml.unknown_token_id", "unk_token"},
                                         {"tokenizer.ggml.padding_token_id", "pad_token"}};
    for (size_t i = 0; i < sizeof ids / sizeof *ids; i++)
        if (token_var(g, ids[i][0], cfg, ids[i][1])) goto fail;
    char *pre = NULL;
    if (fr_gguf_get_str(g, "tokenizer.ggml.pre", &pre) < 0) goto fail;
    if (pre && !strcmp(pre, "kimi-k2")) json_object_set_new(cfg, "tokenizer_class", json_string("TikTokenTokenizer"));
    free(pre);
    return cfg;
fail:
    json_decref(cfg);
    return NULL;
}

fr_chat *fr_chat_load_gguf(const fr_gguf *g) {
    json_t *cfg = chat_config(g);
    if (!cfg) return NULL;
    fr_chat *c = NULL;
    if (!json_object_get(cfg, "chat_template")) fr_err("%s: no tokenizer.chat_template in this file", g->path);
    else c = fr_chat_new(NULL, cfg, g->path);
    json_decref(cfg);
    return c;
}

/* ---- paths ---- */

int fr_tok_path_is_gguf(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && fr_gguf_sniff(path);
}
