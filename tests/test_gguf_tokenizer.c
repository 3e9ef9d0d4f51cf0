/* Tokenizer and chat template loaded from a GGUF file (text/gguf_vocab.c).
 *
 * The test writes the tokenizer.ggml.* keys itself, with its own GGUF writer
 * (tests/gguf_writer.h), the way llama.cpp's convert_hf_to_gguf.py does:
 *   DeepSeek-V3 from tests/fixtures/tokenizer/deepseek_v3/tokenizer.json
 *     (get_vocab_base: vocab_size 129280 ids, "[PADn]" UNUSED fillers, added
 *     tokens CONTROL when special or when they look special "<｜...｜>",
 *     else USER_DEFINED with U+2581 -> ' '; merges "a b"; pre "deepseek-v3")
 *     and a second file with Hugging Face's own special flags (CONTROL =
 *     special, USER_DEFINED = not), as `frugal convert` writes them;
 *   Kimi-K2 from tests/fixtures/tokenizer/kimi_k2/tiktoken.model (the
 *     kimi-k2 branch: tokens = ranks in byte-to-unicode form, merges rebuilt
 *     by re-running BPE on each token below its own rank, 256 special
 *     tokens CONTROL; pre "kimi-k2").
 * Then every case of cases.jsonl (ids, ids_bos, ids_split_special) and every
 * chat.jsonl render must equal the references' outputs, and every token's
 * bytes and flags must equal the directory-loaded tokenizer's. Malformed
 * metadata gives errors naming the key. With argv[1] = the frugal binary, the
 * same files go through `frugal tokenize -m X.gguf` and `frugal template -m X.gguf`. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/err.h"
#include "gguf_writer.h"
#include "testutil.h"
#include "text/chat.h"
#include "text/tokenizer.h"

/* ---- writing the keys ---- */

typedef struct kvs {
    gw body;
    uint64_t n;
} kvs;

static void kv_str(kvs *k, const char *key, const char *v) {
    gw_str(&k->body, key);
    gw_u32(&k->body, 8);
    gw_str(&k->body, v);
    k->n++;
}
static void kv_u32(kvs *k, const char *key, uint32_t v) {
    gw_str(&k->body, key);
    gw_u32(&k->body, 4);
    gw_u32(&k->body, v);
    k->n++;
}
static void kv_bool(kvs *k, const char *key, int v) {
    gw_str(&k->body, key);
    gw_u32(&k->body, 7);
    gw_u8(&k->body, (uint8_t)(v != 0));
    k->n++;
}
static void kv_arr_str(kvs *k, const char *key, char **v, const size_t *len, size_t n) {
    gw_str(&k->body, key);
    gw_u32(&k->body, 9);
    gw_u32(&k->body, 8);
    gw_u64(&k->body, n);
    for (size_t i = 0; i < n; i++) {
        size_t l = len ? len[i] : strlen(v[i]);
        gw_u64(&k->body, l);
        gw_bytes(&k->body, v[i], l);
    }
    k->n++;
}
static void kv_arr_i32(kvs *k, const char *key, const int32_t *v, size_t n) {
    gw_str(&k->body, key);
    gw_u32(&k->body, 9);
    gw_u32(&k->body, 5);
    gw_u64(&k->body, n);
    for (size_t i = 0; i < n; i++) gw_u32(&k->body, (uint32_t)v[i]);
    k->n++;
}

static int kv_write(kvs *k, const char *path) {
    gw w = {0};
    gw_header(&w, 3, 0, k->n);
    gw_bytes(&w, k->body.b, k->body.n);
    gw_pad(&w, 32);
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(w.b, 1, w.n, f) == w.n;
    if (f) fclose(f);
    free(w.b);
    free(k->body.b);
    memset(k, 0, sizeof *k);
    return ok ? 0 : -1;
}

/* GPT-2 bytes_to_unicode, written out here from its definition: the printable
 * bytes map to themselves, the others to 256, 257, ... in byte order */
static size_t byte_to_utf8(uint8_t b, char *o) {
    static int table[256];
    static int init;
    if (!init) {
        int n = 0;
        for (int c = 0; c < 256; c++) {
            int printable = (c >= '!' && c <= '~') || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE && c <= 0xFF);
            table[c] = printable ? c : 256 + n++;
        }
        init = 1;
    }
    int cp = table[b];
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    o[0] = (char)(0xC0 | cp >> 6);
    o[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
}

static char *bytes_to_tokstr(const uint8_t *p, size_t n) {
    char *s = malloc(2 * n + 1), *o = s;
    for (size_t i = 0; i < n; i++) o += byte_to_utf8(p[i], o);
    *o = 0;
    return s;
}

/* does_token_look_special of convert_hf_to_gguf.py */
static int looks_special(const char *t) {
    size_t n = strlen(t);
    if (!strcmp(t, "<pad>") || !strcmp(t, "<mask>") || !strcmp(t, "<2mass>") || !strcmp(t, "[@BOS@]")) return 1;
    if (n >= 4 && !strncmp(t, "<|", 2) && !strcmp(t + n - 2, "|>")) return 1;
    if (n >= 8 && !strncmp(t, "<｜", 4) && !strcmp(t + n - 4, "｜>")) return 1;
    if (n >= 8 && !strncmp(t, "<unused", 7) && t[n - 1] == '>') return 1;
    return 0;
}

static char *replace_u2581(const char *s) {
    char *o = malloc(strlen(s) + 1), *q = o;
    while (*s) {
        if (!strncmp(s, "\xe2\x96\x81", 3)) { *q++ = ' '; s += 3; }
        else *q++ = *s++;
    }
    *q = 0;
    return o;
}

/* flags: JSON_DECODE_INT_AS_REAL for configs (model_max_length can be 1e30) */
static json_t *load_json(const char *path, size_t flags) {
    json_error_t je;
    json_t *j = json_load_file(path, flags, &je);
    CHECK(j != NULL, "%s: %s", path, je.text);
    return j;
}

/* llama_style: token types as llama.cpp's get_vocab_base; else HF's special flags */
static int write_deepseek(const char *dir, const char *out, int llama_style) {
    char path[4096];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    json_t *tj = load_json(path, 0);
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    json_t *cfg = load_json(path, JSON_DECODE_INT_AS_REAL);
    if (!tj || !cfg) return -1;
    enum { N = 129280 }; /* DeepSeek-V3 config.json vocab_size */
    char **tok = calloc(N, sizeof *tok);
    int32_t *type = calloc(N, sizeof *type);
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(json_object_get(tj, "model"), "vocab"), k, v) {
        int id = (int)json_integer_value(v);
        tok[id] = strdup(k);
        type[id] = 1;
    }
    size_t i;
    json_array_foreach(json_object_get(tj, "added_tokens"), i, v) {
        int id = (int)json_integer_value(json_object_get(v, "id"));
        const char *c = json_string_value(json_object_get(v, "content"));
        int special = json_is_true(json_object_get(v, "special"));
        free(tok[id]);
        if (llama_style && !special && !looks_special(c)) {
            tok[id] = replace_u2581(c);
            type[id] = 4;
        } else {
            tok[id] = strdup(c);
            type[id] = llama_style ? 3 : special ? 3 : 4;
        }
    }
    for (int id = 0; id < N; id++)
        if (!tok[id]) {
            char pad[32];
            snprintf(pad, sizeof pad, "[PAD%d]", id);
            tok[id] = strdup(pad);
            type[id] = 5;
        }
    json_t *mj = json_object_get(json_object_get(tj, "model"), "merges");
    size_t nm = json_array_size(mj);
    char **mg = malloc(nm * sizeof *mg);
    json_array_foreach(mj, i, v) mg[i] = (char *)json_string_value(v);
    kvs kv = {0};
    kv_str(&kv, "general.architecture", "deepseek2");
    kv_str(&kv, "tokenizer.ggml.model", "gpt2");
    kv_str(&kv, "tokenizer.ggml.pre", "deepseek-v3");
    kv_arr_str(&kv, "tokenizer.ggml.tokens", tok, NULL, N);
    kv_arr_i32(&kv, "tokenizer.ggml.token_type", type, N);
    kv_arr_str(&kv, "tokenizer.ggml.merges", mg, NULL, nm);
    kv_u32(&kv, "tokenizer.ggml.bos_token_id", 0);
    kv_u32(&kv, "tokenizer.ggml.eos_token_id", 1);
    kv_u32(&kv, "tokenizer.ggml.padding_token_id", 1);
    kv_bool(&kv, "tokenizer.ggml.add_bos_token", json_is_true(json_object_get(cfg, "add_bos_token")));
    kv_bool(&kv, "tokenizer.ggml.add_eos_token", json_is_true(json_object_get(cfg, "add_eos_token")));
    kv_str(&kv, "tokenizer.chat_template", json_string_value(json_object_get(cfg, "chat_template")));
    int rc = kv_write(&kv, out);
    for (int id = 0; id < N; id++) free(tok[id]);
    free(tok);
    free(type);
    free(mg);
    json_decref(tj);
    json_decref(cfg);
    return rc;
}

/* ---- Kimi: tiktoken ranks -> gpt2 tokens and merges ---- */

typedef struct rmap {
    uint32_t *slot; /* rank + 1, 0 = empty */
    uint32_t mask;
    const uint8_t *bytes;
    const uint32_t *off, *len;
} rmap;

static uint64_t fnv(const uint8_t *p, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

static long rmap_get(const rmap *m, const uint8_t *p, size_t n) {
    for (uint32_t i = (uint32_t)fnv(p, n) & m->mask; m->slot[i]; i = (i + 1) & m->mask) {
        uint32_t r = m->slot[i] - 1;
        if (m->len[r] == n && !memcmp(m->bytes + m->off[r], p, n)) return r;
    }
    return -1;
}

static int b64(int c) {
    return c >= 'A' && c <= 'Z' ? c - 'A' : c >= 'a' && c <= 'z' ? c - 'a' + 26 : c >= '0' && c <= '9' ? c - '0' + 52
           : c == '+' ? 62 : c == '/' ? 63 : -1;
}

static int write_kimi(const char *dir, const char *out) {
    char path[4096];
    snprintf(path, sizeof path, "%s/tiktoken.model", dir);
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL, "%s", path);
    if (!f) return -1;
    enum { N = 163840, NBASE = 163584 };
    uint8_t *bytes = malloc(16u << 20);
    uint32_t *off = calloc(N, sizeof *off), *len = calloc(N, sizeof *len);
    size_t nb = 0;
    char line[4096];
    int nranks = 0;
    while (fgets(line, sizeof line, f)) {
        char *sp = strchr(line, ' ');
        if (!sp) continue;
        long r = strtol(sp + 1, NULL, 10);
        uint32_t acc = 0;
        int bits = 0;
        off[r] = (uint32_t)nb;
        for (char *c = line; c < sp && *c != '='; c++) {
            acc = acc << 6 | (uint32_t)b64((unsigned char)*c);
            bits += 6;
            if (bits >= 8) { bits -= 8; bytes[nb++] = (uint8_t)(acc >> bits); }
        }
        len[r] = (uint32_t)(nb - off[r]);
        nranks++;
    }
    fclose(f);
    CHECK(nranks == NBASE, "kimi: %d ranks", nranks);
    rmap m = {calloc(1u << 19, sizeof(uint32_t)), (1u << 19) - 1, bytes, off, len};
    for (uint32_t r = 0; r < NBASE; r++) {
        uint32_t i = (uint32_t)fnv(bytes + off[r], len[r]) & m.mask;
        while (m.slot[i]) i = (i + 1) & m.mask;
        m.slot[i] = r + 1;
    }
    /* QwenModel.bpe(mergeable_ranks, token, max_rank=rank): merge the lowest
     * ranked adjacent pair while its rank is below the token's own */
    char **mg = malloc(NBASE * sizeof *mg);
    size_t nm = 0;
    uint32_t ps[1024], pl[1024]; /* parts: start, length within the token */
    for (uint32_t r = 0; r < NBASE; r++) {
        const uint8_t *t = bytes + off[r];
        int np = (int)len[r];
        if (np < 2) continue;
        for (int j = 0; j < np; j++) ps[j] = (uint32_t)j, pl[j] = 1;
        for (;;) {
            long best = -1;
            int bi = -1;
            for (int j = 0; j + 1 < np; j++) {
                long x = rmap_get(&m, t + ps[j], pl[j] + pl[j + 1]);
                if (x >= 0 && (best < 0 || x < best)) best = x, bi = j;
            }
            if (best < 0 || best >= (long)r) break;
            pl[bi] += pl[bi + 1];
            memmove(ps + bi + 1, ps + bi + 2, (size_t)(np - bi - 2) * sizeof *ps);
            memmove(pl + bi + 1, pl + bi + 2, (size_t)(np - bi - 2) * sizeof *pl);
            np--;
        }
        if (np == 2) {
            char *a = bytes_to_tokstr(t + ps[0], pl[0]), *b = bytes_to_tokstr(t + ps[1], pl[1]);
            mg[nm] = malloc(strlen(a) + strlen(b) + 2);
            sprintf(mg[nm++], "%s %s", a, b);
            free(a);
            free(b);
        }
    }
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    json_t *cfg = load_json(path, JSON_DECODE_INT_AS_REAL);
    json_t *dec = json_object_get(cfg, "added_tokens_decoder");
    char **tok = calloc(N, sizeof *tok);
    int32_t *type = calloc(N, sizeof *type);
    for (int id = 0; id < N; id++) {
        if (id < NBASE) {
            tok[id] = bytes_to_tokstr(bytes + off[id], len[id]);
            type[id] = 1;
            continue;
        }
        char key[32], name[64];
        snprintf(key, sizeof key, "%d", id);
        const char *c = json_string_value(json_object_get(json_object_get(dec, key), "content"));
        snprintf(name, sizeof name, "<|reserved_token_%d|>", id);
        tok[id] = strdup(c ? c : name);
        type[id] = 3;
    }
    kvs kv = {0};
    kv_str(&kv, "general.architecture", "deepseek2");
    kv_str(&kv, "tokenizer.ggml.model", "gpt2");
    kv_str(&kv, "tokenizer.ggml.pre", "kimi-k2");
    kv_arr_str(&kv, "tokenizer.ggml.tokens", tok, NULL, N);
    kv_arr_i32(&kv, "tokenizer.ggml.token_type", type, N);
    kv_arr_str(&kv, "tokenizer.ggml.merges", mg, NULL, nm);
    kv_u32(&kv, "tokenizer.ggml.bos_token_id", 163584);
    kv_u32(&kv, "tokenizer.ggml.eos_token_id", 163585);
    kv_str(&kv, "tokenizer.chat_template", json_string_value(json_object_get(cfg, "chat_template")));
    int rc = kv_write(&kv, out);
    printf("  kimi-k2: %zu merges rebuilt from %d ranks\n", nm, NBASE);
    for (int id = 0; id < N; id++) free(tok[id]);
    for (size_t j = 0; j < nm; j++) free(mg[j]);
    free(tok);
    free(type);
    free(mg);
    free(m.slot);
    free(bytes);
    free(off);
    free(len);
    json_decref(cfg);
    return rc;
}

/* ---- checks ---- */

static json_t *load_jsonl(const char *path) {
    FILE *f = fopen(path, "rb");
    json_t *arr = json_array();
    CHECK(f != NULL, "%s", path);
    if (!f) return arr;
    char *line = NULL;
    size_t cap = 0;
    ssize_t ll;
    while ((ll = getline(&line, &cap, f)) > 0) {
        json_t *o = json_loadb(line, (size_t)ll, JSON_ALLOW_NUL, NULL);
        if (o) json_array_append_new(arr, o);
    }
    free(line);
    fclose(f);
    return arr;
}

static int same_ids(const int32_t *a, size_t na, json_t *ref) {
    if (!json_is_array(ref) || json_array_size(ref) != na) return 0;
    for (size_t i = 0; i < na; i++)
        if (json_integer_value(json_array_get(ref, i)) != a[i]) return 0;
    return 1;
}

static void check_cases(const fr_tokenizer *t, json_t *cases, const char *textf, const char *field, int bos, int split,
                        const char *name) {
    int pass = 0, fail = 0;
    size_t i;
    json_t *o;
    json_array_foreach(cases, i, o) {
        json_t *ref = json_object_get(o, field), *txt = json_object_get(o, textf);
        if (!ref) continue;
        int32_t *ids = NULL;
        size_t n = 0;
        int rc = fr_tokenize(t, json_string_value(txt), json_string_length(txt), bos, split, &ids, &n);
        int ok = rc == 0 && same_ids(ids, n, ref);
        ok ? pass++ : fail++;
        CHECK(ok, "%s %s %s: ids differ", name, json_string_value(json_object_get(o, "id")), field);
        free(ids);
    }
    printf("  %-44s %-17s %d passed, %d failed\n", name, field, pass, fail);
    CHECK(pass > 0, "%s %s: no cases", name, field);
}

/* every id: same bytes and flags as the directory-loaded tokenizer */
static void check_vocab(const fr_tokenizer *g, const fr_tokenizer *d, const char *name, int cmp_flags) {
    int bad = 0, n = fr_tok_n_vocab(d);
    for (int id = 0; id < n; id++) {
        size_t la, lb;
        const uint8_t *a = fr_tok_bytes(g, id, &la), *b = fr_tok_bytes(d, id, &lb);
        int ok = (a == NULL) == (b == NULL) && la == lb && (la == 0 || !memcmp(a, b, la));
        if (cmp_flags) ok = ok && fr_tok_flags(g, id) == fr_tok_flags(d, id);
        if (!ok && bad++ < 5) CHECK(0, "%s: id %d differs (flags %d vs %d)", name, id, fr_tok_flags(g, id), fr_tok_flags(d, id));
    }
    for (int id = n; id < fr_tok_n_vocab(g); id++) bad += fr_tok_flags(g, id) != 0; /* [PADn] name nothing */
    printf("  %-44s vocabulary        %d ids, %d differ\n", name, n, bad);
    CHECK(bad == 0, "%s: %d ids differ", name, bad);
}

static void check_chat(const char *gguf, const fr_tokenizer *t, json_t *chat, const char *name) {
    fr_chat *c = fr_chat_load(gguf);
    CHECK(c != NULL, "%s: fr_chat_load: %s", name, fr_err_msg());
    if (!c) return;
    int pass = 0, fail = 0;
    size_t i;
    json_t *o;
    json_array_foreach(chat, i, o) {
        char *out = NULL;
        size_t n = 0;
        json_t *p = json_object_get(o, "prompt");
        int rc = fr_chat_render(c, json_object_get(o, "messages"), json_object_get(o, "tools"),
                                json_is_true(json_object_get(o, "add_generation_prompt")),
                                json_object_get(o, "chat_template_kwargs"), &out, &n);
        int ok = rc == 0 && n == json_string_length(p) && !memcmp(out, json_string_value(p), n);
        int32_t *ids = NULL;
        size_t ni = 0;
        ok = ok && fr_tokenize(t, out, n, 0, 0, &ids, &ni) == 0 && same_ids(ids, ni, json_object_get(o, "ids"));
        ok ? pass++ : fail++;
        CHECK(ok, "%s %s: render/ids differ (%s)", name, json_string_value(json_object_get(o, "id")), rc ? fr_err_msg() : "");
        free(ids);
        free(out);
    }
    printf("  %-44s %-17s %d passed, %d failed\n", name, "chat render+ids", pass, fail);
    fr_chat_free(c);
}

/* `frugal tokenize -m X.gguf --hex [opts]` on every case */
static void check_cli_tokenize(const char *frugal, const char *gguf, json_t *cases, const char *field, const char *opts,
                               const char *name) {
    char in[] = "/tmp/fr_ggtok_inXXXXXX", outp[] = "/tmp/fr_ggtok_outXXXXXX";
    int fi = mkstemp(in), fo = mkstemp(outp);
    if (fi >= 0) close(fi);
    if (fo >= 0) close(fo);
    FILE *f = fopen(in, "wb");
    size_t i, nc = 0;
    json_t *o;
    json_array_foreach(cases, i, o) {
        if (!json_object_get(o, field)) continue;
        json_t *txt = json_object_get(o, "text");
        const uint8_t *s = (const uint8_t *)json_string_value(txt);
        for (size_t k = 0; k < json_string_length(txt); k++) fprintf(f, "%02x", s[k]);
        fputc('\n', f);
        nc++;
    }
    fclose(f);
    char cmd[16384];
    snprintf(cmd, sizeof cmd, "'%s' tokenize -m '%s' --hex %s < '%s' > '%s'", frugal, gguf, opts, in, outp);
    int rc = system(cmd);
    CHECK(rc == 0, "%s: %s -> %d", name, cmd, rc);
    f = fopen(outp, "rb");
    int pass = 0, fail = 0;
    char *line = NULL;
    size_t cap = 0;
    json_array_foreach(cases, i, o) {
        json_t *ref = json_object_get(o, field);
        if (!ref) continue;
        int ok = f && getline(&line, &cap, f) > 0;
        if (ok) {
            size_t n = json_array_size(ref), k = 0;
            char *p = line, *e;
            for (;; k++) {
                long v = strtol(p, &e, 10);
                if (e == p) break;
                if (k >= n || json_integer_value(json_array_get(ref, k)) != v) { ok = 0; break; }
                p = e;
            }
            ok = ok && k == n;
        }
        ok ? pass++ : fail++;
        CHECK(ok, "%s cli %s %s: differs", name, json_string_value(json_object_get(o, "id")), field);
    }
    free(line);
    if (f) fclose(f);
    printf("  %-44s cli %-13s %d passed, %d failed\n", name, field, pass, fail);
    CHECK(pass == (int)nc && nc > 0, "%s cli: %d of %zu", name, pass, nc);
    unlink(in);
    unlink(outp);
}

/* `frugal template -m X.gguf` on the chat cases */
static void check_cli_template(const char *frugal, const char *gguf, json_t *chat, const char *name) {
    char in[] = "/tmp/fr_ggtpl_inXXXXXX", outp[] = "/tmp/fr_ggtpl_outXXXXXX";
    int fi = mkstemp(in), fo = mkstemp(outp);
    if (fi >= 0) close(fi);
    if (fo >= 0) close(fo);
    FILE *f = fopen(in, "wb");
    size_t i;
    json_t *o;
    json_array_foreach(chat, i, o) {
        json_t *req = json_pack("{s:O,s:O}", "messages", json_object_get(o, "messages"), "add_generation_prompt",
                                json_object_get(o, "add_generation_prompt"));
        if (json_object_get(o, "tools")) json_object_set(req, "tools", json_object_get(o, "tools"));
        if (json_object_get(o, "chat_template_kwargs"))
            json_object_set(req, "chat_template_kwargs", json_object_get(o, "chat_template_kwargs"));
        char *s = json_dumps(req, JSON_COMPACT);
        fprintf(f, "%s\n", s);
        free(s);
        json_decref(req);
    }
    fclose(f);
    char cmd[16384];
    snprintf(cmd, sizeof cmd, "'%s' template -m '%s' < '%s' > '%s'", frugal, gguf, in, outp);
    CHECK(system(cmd) == 0, "%s: %s", name, cmd);
    f = fopen(outp, "rb");
    int pass = 0, fail = 0;
    char *line = NULL;
    size_t cap = 0;
    json_array_foreach(chat, i, o) {
        ssize_t ll = f ? getline(&line, &cap, f) : -1;
        json_t *got = ll > 0 ? json_loadb(line, (size_t)ll, JSON_DECODE_ANY, NULL) : NULL;
        int ok = got && json_equal(got, json_object_get(o, "prompt"));
        ok ? pass++ : fail++;
        CHECK(ok, "%s cli template %s differs", name, json_string_value(json_object_get(o, "id")));
        json_decref(got);
    }
    free(line);
    if (f) fclose(f);
    printf("  %-44s cli template      %d passed, %d failed\n", name, pass, fail);
    unlink(in);
    unlink(outp);
}

/* ---- malformed metadata ---- */

typedef struct mini {
    const char *model, *pre;
    int tokens;         /* 0 missing, 1 strings, 2 integers */
    int merges;         /* 0 missing, 1 strings, 2 integers, 3 "ab" (no space), 4 + a merge of unknown tokens */
    int types;          /* 0 absent, 1 right, 2 wrong length, 3 bad value */
    uint32_t bos;
} mini;

static int write_mini(const char *path, const mini *m) {
    char *tok[] = {"a", "b", "ab", "\xc4\xa0" /* 'Ġ' = ' ' */, "<|x|>"};
    int32_t type[] = {1, 1, 1, 1, 3, 1};
    kvs kv = {0};
    if (m->model) kv_str(&kv, "tokenizer.ggml.model", m->model);
    if (m->pre) kv_str(&kv, "tokenizer.ggml.pre", m->pre);
    if (m->tokens == 1) kv_arr_str(&kv, "tokenizer.ggml.tokens", tok, NULL, 5);
    if (m->tokens == 2) kv_arr_i32(&kv, "tokenizer.ggml.tokens", type, 5);
    if (m->types == 1) kv_arr_i32(&kv, "tokenizer.ggml.token_type", type, 5);
    if (m->types == 2) kv_arr_i32(&kv, "tokenizer.ggml.token_type", type, 6);
    if (m->types == 3) {
        int32_t bad[] = {1, 1, 9, 1, 3};
        kv_arr_i32(&kv, "tokenizer.ggml.token_type", bad, 5);
    }
    char *mg1[] = {"a b"}, *mg3[] = {"ab"}, *mg4[] = {"a c", "a b", "x y"};
    if (m->merges == 1) kv_arr_str(&kv, "tokenizer.ggml.merges", mg1, NULL, 1);
    if (m->merges == 2) kv_arr_i32(&kv, "tokenizer.ggml.merges", type, 1);
    if (m->merges == 3) kv_arr_str(&kv, "tokenizer.ggml.merges", mg3, NULL, 1);
    if (m->merges == 4) kv_arr_str(&kv, "tokenizer.ggml.merges", mg4, NULL, 3);
    kv_u32(&kv, "tokenizer.ggml.bos_token_id", m->bos);
    return kv_write(&kv, path);
}

static void check_malformed(void) {
    char path[] = "/tmp/fr_ggtok_miniXXXXXX";
    int fd = mkstemp(path);
    if (fd >= 0) close(fd);
    const mini good = {"gpt2", "deepseek-v3", 1, 1, 1, 4};
    struct {
        mini m;
        const char *want; /* text the error must contain; NULL = loads */
    } v[] = {
        {good, NULL},
        {{"gpt2", "deepseek-v3", 1, 1, 0, 0}, NULL}, /* no token_type: all normal */
        {{"gpt2", "deepseek-v3", 0, 1, 1, 0}, "tokenizer.ggml.tokens is missing"},
        {{"gpt2", "deepseek-v3", 2, 1, 1, 0}, "tokenizer.ggml.tokens is not an array of strings"},
        {{"gpt2", "deepseek-v3", 1, 0, 1, 0}, "tokenizer.ggml.merges is missing"},
        {{"gpt2", "deepseek-v3", 1, 2, 1, 0}, "tokenizer.ggml.merges is not an array of strings"},
        {{"gpt2", "deepseek-v3", 1, 3, 1, 0}, "tokenizer.ggml.merges[0] is not \"a b\""},
        {{"gpt2", "deepseek-v3", 1, 4, 1, 4}, NULL}, /* merges of unknown tokens are skipped, as llama.cpp never uses them */
        {{"gpt2", "deepseek-v3", 1, 1, 2, 0}, "tokenizer.ggml.token_type has 6 elements"},
        {{"gpt2", "deepseek-v3", 1, 1, 3, 0}, "tokenizer.ggml.token_type[2] = 9"},
        {{"gpt2", "gpt-4o", 1, 1, 1, 0}, "tokenizer.ggml.pre 'gpt-4o' is not supported"},
        {{"gpt2", NULL, 1, 1, 1, 0}, "tokenizer.ggml.pre is missing"},
        {{"llama", "deepseek-v3", 1, 1, 1, 0}, "tokenizer.ggml.model 'llama' is not supported"},
        {{NULL, "deepseek-v3", 1, 1, 1, 0}, "tokenizer.ggml.model is missing"},
        {{"gpt2", "deepseek-v3", 1, 1, 1, 5}, "tokenizer.ggml.bos_token_id' = 5 is out of range"},
    };
    int pass = 0, n = (int)(sizeof v / sizeof *v);
    for (int i = 0; i < n; i++) {
        write_mini(path, &v[i].m);
        fr_tokenizer *t = NULL;
        fr_err_clear();
        int rc = fr_tokenizer_load(path, &t);
        int ok = v[i].want ? rc != 0 && !t && strstr(fr_err_msg(), v[i].want) && strstr(fr_err_msg(), path)
                           : rc == 0 && t;
        CHECK(ok, "malformed %d: rc %d, message '%s', expected '%s'", i, rc, fr_err_msg(), v[i].want ? v[i].want : "(loads)");
        if (ok && t && v[i].m.types == 1) { /* the tiny vocabulary works: "ab" is one token by the merge, " <|x|>b" */
            int32_t *ids = NULL;
            size_t ni = 0;
            const char *s = "ab <|x|>b";
            int r2 = fr_tokenize(t, s, strlen(s), 0, 0, &ids, &ni);
            ok = r2 == 0 && ni == 4 && ids[0] == 2 && ids[1] == 3 && ids[2] == 4 && ids[3] == 1;
            CHECK(ok, "mini tokenizer %d: %zu ids", i, ni);
            CHECK(fr_tok_flags(t, 4) & FR_TOKF_SPECIAL, "mini: control token is special");
            CHECK(fr_tok_add_bos_default(t) == 1 && fr_tok_bos(t) == 4, "mini: bos");
            free(ids);
        }
        pass += ok;
        fr_tokenizer_free(t);
    }
    /* no chat template */
    write_mini(path, &good);
    fr_chat *c = fr_chat_load(path);
    CHECK(!c && strstr(fr_err_msg(), "no tokenizer.chat_template"), "chat without a template: %s", fr_err_msg());
    fr_chat_free(c);
    /* named templates (tokenizer.chat_templates); bos = control token 4
     * "<|x|>" as text, eos = normal token 3 "Ġ" decoded to " " */
    {
        char *tok[] = {"a", "b", "ab", "\xc4\xa0", "<|x|>"}, *mg[] = {"a b"}, *names[] = {"tool_use"};
        int32_t type[] = {1, 1, 1, 1, 3};
        kvs kv = {0};
        kv_str(&kv, "tokenizer.ggml.model", "gpt2");
        kv_str(&kv, "tokenizer.ggml.pre", "deepseek-v3");
        kv_arr_str(&kv, "tokenizer.ggml.tokens", tok, NULL, 5);
        kv_arr_i32(&kv, "tokenizer.ggml.token_type", type, 5);
        kv_arr_str(&kv, "tokenizer.ggml.merges", mg, NULL, 1);
        kv_u32(&kv, "tokenizer.ggml.bos_token_id", 4);
        kv_u32(&kv, "tokenizer.ggml.eos_token_id", 3);
        kv_str(&kv, "tokenizer.chat_template", "D{{ bos_token }}{{ messages[0].content }}[{{ eos_token }}]");
        kv_arr_str(&kv, "tokenizer.chat_templates", names, NULL, 1);
        kv_str(&kv, "tokenizer.chat_template.tool_use", "T{{ tools | length }}{{ eos_token }}");
        kv_write(&kv, path);
        c = fr_chat_load(path);
        CHECK(c != NULL, "named templates: %s", fr_err_msg());
        json_t *msgs = json_pack("[{s:s,s:s}]", "role", "user", "content", "hi"), *tools = json_pack("[{}]");
        char *out = NULL;
        size_t on = 0;
        CHECK(c && fr_chat_render(c, msgs, NULL, 0, NULL, &out, &on) == 0 && !strcmp(out, "D<|x|>hi[ ]"), "default template: %s",
              out ? out : fr_err_msg());
        free(out);
        out = NULL;
        CHECK(c && fr_chat_render(c, msgs, tools, 0, NULL, &out, &on) == 0 && !strcmp(out, "T1 "), "tool_use template: %s",
              out ? out : fr_err_msg());
        free(out);
        json_decref(msgs);
        json_decref(tools);
        fr_chat_free(c);
    }
    /* not a GGUF at all, truncated */
    FILE *f = fopen(path, "wb");
    fwrite("GGUF\x03\x00", 1, 6, f);
    fclose(f);
    fr_tokenizer *t = NULL;
    CHECK(fr_tokenizer_load(path, &t) != 0 && !t, "truncated GGUF refused");
    f = fopen(path, "wb");
    fwrite("x", 1, 1, f);
    fclose(f);
    CHECK(fr_tokenizer_load(path, &t) != 0 && !t && strstr(fr_err_msg(), "not GGUF"), "a plain file: %s", fr_err_msg());
    printf("  %-44s %d of %d as expected\n", "malformed metadata", pass, n);
    unlink(path);
}

/* The pre-tokenizers split where the models' regexes do: a vocabulary of the
 * 256 bytes and merges that would join across the splits ("b\n" first). */
static void check_pre_split(void) {
    char path[] = "/tmp/fr_ggtok_preXXXXXX";
    int fd = mkstemp(path);
    if (fd >= 0) close(fd);
    char *tok[259];
    for (int b = 0; b < 256; b++) {
        uint8_t c = (uint8_t)b;
        tok[b] = bytes_to_tokstr(&c, 1);
    }
    tok[256] = "b\xc4\x8a"; /* "b\n" */
    tok[257] = "ab";
    tok[258] = "a1";
    char *mg[] = {"b \xc4\x8a", "a 1", "a b"};
    const char *pres[] = {"deepseek-llm", "deepseek-v3"};
    for (int k = 0; k < 2; k++) {
        kvs kv = {0};
        kv_str(&kv, "tokenizer.ggml.model", "gpt2");
        kv_str(&kv, "tokenizer.ggml.pre", pres[k]);
        kv_arr_str(&kv, "tokenizer.ggml.tokens", tok, NULL, 259);
        kv_arr_str(&kv, "tokenizer.ggml.merges", mg, NULL, 3);
        kv_write(&kv, path);
        fr_tokenizer *t = NULL;
        CHECK(fr_tokenizer_load(path, &t) == 0, "%s: %s", pres[k], fr_err_msg());
        if (!t) continue;
        /* "ab" | "\n" | "a" | "1": the letters, the newline and the digit are pieces */
        int32_t *ids = NULL, want[] = {257, 10, 97, 49};
        size_t n = 0;
        const char *s = "ab\na1";
        CHECK(fr_tokenize(t, s, strlen(s), 0, 0, &ids, &n) == 0 && n == 4 && !memcmp(ids, want, sizeof want),
              "%s: \"ab\\na1\" -> %zu ids", pres[k], n);
        free(ids);
        CHECK(fr_tok_bos(t) == -1 && fr_tok_add_bos_default(t) == 0, "%s: no bos", pres[k]);
        fr_tokenizer_free(t);
    }
    for (int b = 0; b < 256; b++) free(tok[b]);
    unlink(path);
}

int main(int argc, char **argv) {
    const char *fx = getenv("FRUGAL_FIXTURES");
    if (!fx) fx = "tests/fixtures";
    const char *frugal = argc > 1 ? argv[1] : NULL;
    char dsdir[2048], kdir[2048], path[4096];
    snprintf(dsdir, sizeof dsdir, "%s/tokenizer/deepseek_v3", fx);
    snprintf(kdir, sizeof kdir, "%s/tokenizer/kimi_k2", fx);

    check_malformed();
    check_pre_split();

    char g_llama[] = "/tmp/fr_ggtok_dsXXXXXX", g_hf[] = "/tmp/fr_ggtok_dshfXXXXXX", g_kimi[] = "/tmp/fr_ggtok_kimiXXXXXX";
    int fd;
    if ((fd = mkstemp(g_llama)) >= 0) close(fd);
    if ((fd = mkstemp(g_hf)) >= 0) close(fd);
    if ((fd = mkstemp(g_kimi)) >= 0) close(fd);

    /* DeepSeek-V3 */
    snprintf(path, sizeof path, "%s/cases.jsonl", dsdir);
    json_t *cases = load_jsonl(path);
    snprintf(path, sizeof path, "%s/chat.jsonl", dsdir);
    json_t *chat = load_jsonl(path);
    CHECK(json_array_size(cases) >= 700 && json_array_size(chat) >= 10, "deepseek fixtures");
    fr_tokenizer *dir_t = NULL, *t = NULL;
    CHECK(fr_tokenizer_load(dsdir, &dir_t) == 0, "deepseek dir: %s", fr_err_msg());
    for (int style = 0; style < 2; style++) {
        const char *g = style ? g_hf : g_llama;
        const char *name = style ? "deepseek-v3 gguf (HF special flags)" : "deepseek-v3 gguf (llama.cpp types)";
        CHECK(write_deepseek(dsdir, g, !style) == 0, "write %s", g);
        if (fr_tokenizer_load(g, &t)) {
            CHECK(0, "%s: %s", name, fr_err_msg());
            continue;
        }
        CHECK(fr_tok_kind(t) == FR_TOK_HF_BPE && fr_tok_n_vocab(t) == 129280 && fr_tok_bos(t) == 0 && fr_tok_eos(t) == 1 &&
                  fr_tok_add_bos_default(t) == 1,
              "%s: kind %d n_vocab %d bos %d eos %d", name, fr_tok_kind(t), fr_tok_n_vocab(t), fr_tok_bos(t), fr_tok_eos(t));
        check_cases(t, cases, "text", "ids", 0, 0, name);
        check_cases(t, cases, "text", "ids_bos", fr_tok_add_bos_default(t), 0, name);
        /* llama.cpp marks <｜User｜> & co. CONTROL (they look special): HF
         * does not treat them as special, so split_special only matches with
         * HF's own flags */
        if (style) check_cases(t, cases, "text", "ids_split_special", 0, 1, name);
        if (dir_t) check_vocab(t, dir_t, name, style);
        CHECK(fr_tok_special_id(t, "<｜User｜>") == 128803, "%s: <｜User｜>", name);
        check_chat(g, t, chat, name);
        if (frugal) {
            check_cli_tokenize(frugal, g, cases, "ids_bos", "--bos", name);
            check_cli_template(frugal, g, chat, name);
        }
        fr_tokenizer_free(t);
        t = NULL;
    }
    fr_tokenizer_free(dir_t);
    json_decref(cases);
    json_decref(chat);

    /* Kimi-K2 */
    snprintf(path, sizeof path, "%s/cases.jsonl", kdir);
    cases = load_jsonl(path);
    snprintf(path, sizeof path, "%s/chat.jsonl", kdir);
    chat = load_jsonl(path);
    dir_t = NULL;
    CHECK(fr_tokenizer_load(kdir, &dir_t) == 0, "kimi dir: %s", fr_err_msg());
    CHECK(write_kimi(kdir, g_kimi) == 0, "write %s", g_kimi);
    const char *name = "kimi-k2 gguf";
    if (fr_tokenizer_load(g_kimi, &t) == 0) {
        CHECK(fr_tok_kind(t) == FR_TOK_TIKTOKEN && fr_tok_n_vocab(t) == 163840 && fr_tok_bos(t) == 163584 &&
                  fr_tok_eos(t) == 163585 && fr_tok_add_bos_default(t) == 0,
              "%s: kind %d n_vocab %d bos %d eos %d", name, fr_tok_kind(t), fr_tok_n_vocab(t), fr_tok_bos(t), fr_tok_eos(t));
        check_cases(t, cases, "text", "ids", 0, 0, name);
        check_cases(t, cases, "text", "ids_split_special", 0, 1, name);
        if (dir_t) check_vocab(t, dir_t, name, 1);
        check_chat(g_kimi, t, chat, name);
        if (frugal) {
            check_cli_tokenize(frugal, g_kimi, cases, "ids", "", name);
            check_cli_template(frugal, g_kimi, chat, name);
        }
        fr_tokenizer_free(t);
    } else {
        CHECK(0, "%s: %s", name, fr_err_msg());
    }
    fr_tokenizer_free(dir_t);
    json_decref(cases);
    json_decref(chat);
    unlink(g_llama);
    unlink(g_hf);
    unlink(g_kimi);
    return t_done();
}
