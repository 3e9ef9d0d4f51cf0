/* Tokenizers against the reference tokenizers' outputs (tests/fixtures/tokenizer:
 * DeepSeek-V3 tokenizer.json via Hugging Face tokenizers, Kimi-K2 tiktoken.model
 * via tiktoken + tokenization_kimi.py): every encode case (plain, with BOS, with
 * special tokens as text), the chat prompts, every decode vector and the
 * decode round trip of every case; hand-checked UTF-8 and regex vectors; bad
 * input. With the path of the frugal binary as argv[1], the same files also go
 * through `frugal tokenize --hex` (the check protocol). */
#include <jansson.h>
#include <unistd.h>

#include "base/err.h"
#include "testutil.h"
#include "text/regex.h"
#include "text/tokenizer.h"

static int same_ids(const int32_t *a, size_t na, json_t *ref) {
    if (!json_is_array(ref) || json_array_size(ref) != na) return 0;
    for (size_t i = 0; i < na; i++)
        if (json_integer_value(json_array_get(ref, i)) != a[i]) return 0;
    return 1;
}

static json_t *load_jsonl(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    json_t *arr = json_array();
    *n = 0;
    if (!f) return arr;
    char *line = NULL;
    size_t cap = 0;
    ssize_t ll;
    while ((ll = getline(&line, &cap, f)) > 0) {
        json_error_t je;
        json_t *o = json_loadb(line, (size_t)ll, JSON_ALLOW_NUL, &je);
        CHECK(o != NULL, "%s: bad JSON line: %s", path, je.text);
        if (o) json_array_append_new(arr, o);
    }
    free(line);
    fclose(f);
    *n = json_array_size(arr);
    return arr;
}

typedef struct counts {
    int pass, fail;
} counts;

static void tally(counts *c, int ok) {
    if (ok) c->pass++;
    else c->fail++;
}

/* encode `field` of every case with the given options */
static void check_encode(const fr_tokenizer *t, json_t *cases, const char *textfield, const char *field, int bos,
                         int split, const char *name) {
    counts c = {0, 0};
    size_t i;
    json_t *o;
    json_array_foreach(cases, i, o) {
        json_t *ref = json_object_get(o, field);
        if (!ref) continue;
        json_t *txt = json_object_get(o, textfield);
        int32_t *ids;
        size_t n;
        int rc = fr_tokenize(t, json_string_value(txt), json_string_length(txt), bos, split, &ids, &n);
        int ok = rc == 0 && same_ids(ids, n, ref);
        tally(&c, ok);
        CHECK(ok, "%s %s %s: ids differ (%zu ids, expected %zu)", name, json_string_value(json_object_get(o, "id")),
              field, rc ? 0 : n, json_array_size(ref));
        if (!rc) free(ids);
    }
    printf("  %-40s %s: %d passed, %d failed\n", name, field, c.pass, c.fail);
    CHECK(c.pass > 0, "%s %s: no cases", name, field);
}

static int32_t *ids_of(json_t *arr, size_t *n) {
    *n = json_array_size(arr);
    int32_t *v = malloc((*n + 1) * sizeof *v);
    for (size_t i = 0; i < *n; i++) v[i] = (int32_t)json_integer_value(json_array_get(arr, i));
    return v;
}

static void check_decode(const fr_tokenizer *t, json_t *vecs, const char *name) {
    counts c = {0, 0};
    size_t i;
    json_t *o;
    json_array_foreach(vecs, i, o) {
        size_t n, on;
        int32_t *ids = ids_of(json_object_get(o, "ids"), &n);
        char *out;
        json_t *txt = json_object_get(o, "text");
        int rc = fr_detokenize(t, ids, n, json_is_true(json_object_get(o, "skip_special_tokens")), &out, &on);
        int ok = rc == 0 && on == json_string_length(txt) && !memcmp(out, json_string_value(txt), on);
        tally(&c, ok);
        CHECK(ok, "%s decode %s differs", name, json_string_value(json_object_get(o, "id")));
        if (!rc) free(out);
        free(ids);
    }
    printf("  %-40s decode: %d passed, %d failed\n", name, c.pass, c.fail);
}

static void check_roundtrip(const fr_tokenizer *t, json_t *cases, const char *name) {
    counts c = {0, 0};
    size_t i;
    json_t *o;
    json_array_foreach(cases, i, o) {
        size_t n, on;
        int32_t *ids = ids_of(json_object_get(o, "ids"), &n);
        char *out;
        json_t *txt = json_object_get(o, "text");
        int rc = fr_detokenize(t, ids, n, 0, &out, &on);
        int ok = rc == 0 && on == json_string_length(txt) && !memcmp(out, json_string_value(txt), on);
        tally(&c, ok);
        CHECK(ok, "%s round trip %s differs", name, json_string_value(json_object_get(o, "id")));
        if (!rc) free(out);
        free(ids);
    }
    printf("  %-40s round trip: %d passed, %d failed\n", name, c.pass, c.fail);
}

/* ---- the CLI protocol: frugal tokenize -m DIR --hex ... ---- */

static char *slurp(const char *path, size_t *n) {
    char *b = t_read(path, n);
    if (b) {
        char *nb = realloc(b, *n + 1);
        if (nb) { b = nb; b[*n] = 0; }
    }
    return b;
}

/* write lines to a file, run the CLI on it, compare its output lines */
static void check_cli(const char *frugal, const char *dir, json_t *cases, const char *textfield, const char *field,
                      const char *opts, int decode, const char *name) {
    char in[] = "/tmp/frugal_tok_inXXXXXX", outp[] = "/tmp/frugal_tok_outXXXXXX";
    int fi = mkstemp(in), fo = mkstemp(outp);
    if (fi < 0 || fo < 0) { CHECK(0, "mkstemp"); return; }
    close(fo);
    FILE *f = fdopen(fi, "wb");
    size_t i, nsel = 0;
    json_t *o, *sel = json_array();
    json_array_foreach(cases, i, o) {
        if (!decode && !json_object_get(o, field)) continue;
        json_array_append(sel, o);
        nsel++;
        if (decode) {
            json_t *ids = json_object_get(o, "ids");
            for (size_t k = 0; k < json_array_size(ids); k++)
                fprintf(f, "%s%lld", k ? " " : "", (long long)json_integer_value(json_array_get(ids, k)));
        } else {
            json_t *txt = json_object_get(o, textfield);
            const unsigned char *s = (const unsigned char *)json_string_value(txt);
            for (size_t k = 0; k < json_string_length(txt); k++) fprintf(f, "%02x", s[k]);
        }
        fputc('\n', f);
    }
    fclose(f);
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s' tokenize -m '%s' --hex %s < %s > %s", frugal, dir, opts, in, outp);
    int rc = system(cmd);
    CHECK(rc == 0, "%s: '%s' failed", name, cmd);
    size_t n;
    char *out = slurp(outp, &n);
    counts c = {0, 0};
    char *line = out;
    json_array_foreach(sel, i, o) {
        char *nl = line ? strchr(line, '\n') : NULL;
        int ok = 0;
        if (nl) {
            *nl = 0;
            if (decode) {
                json_t *txt = json_object_get(o, textfield);
                const unsigned char *s = (const unsigned char *)json_string_value(txt);
                size_t tl = json_string_length(txt);
                ok = strlen(line) == 2 * tl;
                for (size_t k = 0; ok && k < tl; k++) {
                    char h[3];
                    snprintf(h, sizeof h, "%02x", s[k]);
                    ok = line[2 * k] == h[0] && line[2 * k + 1] == h[1];
                }
            } else {
                json_t *ref = json_object_get(o, field);
                size_t k = 0;
                ok = 1;
                char *p = line;
                while (*p && ok) {
                    char *e;
                    long v = strtol(p, &e, 10);
                    ok = e != p && k < json_array_size(ref) && json_integer_value(json_array_get(ref, k)) == v;
                    k++;
                    p = *e == ' ' ? e + 1 : e;
                }
                ok = ok && k == json_array_size(ref);
            }
            line = nl + 1;
        }
        tally(&c, ok);
        CHECK(ok, "%s: %s line %zu differs", name, json_string_value(json_object_get(o, "id")), i + 1);
    }
    printf("  %-40s cli %s %s: %d passed, %d failed\n", name, decode ? "decode" : field, opts, c.pass, c.fail);
    CHECK(c.pass == (int)nsel && nsel > 0, "%s: cli", name);
    free(out);
    json_decref(sel);
    remove(in);
    remove(outp);
}

/* Random texts from pieces that stress the pre-tokenizers (whitespace kinds,
 * CJK edges, marks, digits, contractions, specials and their fragments,
 * invalid bytes): decoding the ids must give back the text (after invalid
 * UTF-8 became U+FFFD), and every id must be a token. */
static void check_random_roundtrip(const fr_tokenizer *t, const char *name) {
    static const char *const parts[] = {
        "a", "Hello", " world", "  ", "\t", "\n", "\r\n", " \n ", "\xC2\x85", "\xEF\xBB\xBF", "\xC2\xA0",
        "\xE3\x80\x80", "\xE1\xA0\x8E", "123", "4567", "\xD9\xA3", "'s", "'LL", "'\xC5\xBF", "\xE4\xB8\xAD",
        "\xE9\xBE\xA6", "\xE3\x82\xA2", "\xEF\xBD\xB1", "\xE3\x80\x81", "e\xCC\x81", "\xCC\x81",
        "\xF0\x9F\x98\x80", "\xF0\xA0\x80\x80", ".", "...", "_id", "(x)", "{", "<\xEF\xBD\x9CUser\xEF\xBD\x9C>",
        "<\xEF\xBD\x9C", "<|im_end|>", "<|im_", "[BOS]", "<|EOT|>", "\x00", "\xFF", "\xE4\xB8", "\x80"};
    const int np = (int)(sizeof parts / sizeof *parts);
    uint64_t rng = 0x9E3779B97F4A7C15ull;
    int bad = 0;
    for (int it = 0; it < 1500; it++) {
        char text[1024];
        size_t n = 0;
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        int k = (int)(rng >> 59) + 1;
        for (int j = 0; j < k; j++) {
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            const char *p = parts[(rng >> 33) % (uint64_t)np];
            size_t l = strlen(p);
            if (!*p) l = 1; /* the NUL part */
            memcpy(text + n, p, l);
            n += l;
        }
        char *want;
        size_t wn;
        fr_utf8_lossy(text, n, &want, &wn);
        int32_t *ids;
        size_t ni;
        char *out = NULL;
        size_t on = 0;
        int ok = fr_tokenize(t, text, n, 0, it & 1, &ids, &ni) == 0;
        for (size_t i = 0; ok && i < ni; i++) ok = (fr_tok_flags(t, ids[i]) & FR_TOKF_EXISTS) != 0;
        ok = ok && fr_detokenize(t, ids, ni, 0, &out, &on) == 0 && on == wn && !memcmp(out, want, wn);
        if (!ok && bad++ < 5) CHECK(0, "%s: random text %d does not round-trip", name, it);
        free(ids);
        free(out);
        free(want);
    }
    CHECK(bad == 0, "%s: %d random texts do not round-trip", name, bad);
    printf("  %-40s random round trips: %d failed of 1500\n", name, bad);
}

static void check_model(const char *model, const char *frugal) {
    char dir[2048], path[4096], name[256];
    snprintf(dir, sizeof dir, "%s", t_fixture(model));
    fr_tokenizer *t = NULL;
    CHECK(fr_tokenizer_load(dir, &t) == 0, "%s: load: %s", dir, fr_err_msg());
    if (!t) return;
    size_t nc, nd, nh;
    snprintf(path, sizeof path, "%s/cases.jsonl", dir);
    json_t *cases = load_jsonl(path, &nc);
    snprintf(path, sizeof path, "%s/decode.jsonl", dir);
    json_t *dec = load_jsonl(path, &nd);
    snprintf(path, sizeof path, "%s/chat.jsonl", dir);
    json_t *chat = load_jsonl(path, &nh);
    CHECK(nc >= 700 && nd >= 80 && nh >= 10, "%s: fixtures missing (%zu cases, %zu decode, %zu chat)", dir, nc, nd, nh);
    int kimi = fr_tok_kind(t) == FR_TOK_TIKTOKEN;
    snprintf(name, sizeof name, "%s/cases.jsonl", model);
    check_encode(t, cases, "text", "ids", 0, 0, name);
    /* Kimi never adds BOS: --bos gives the plain ids */
    check_encode(t, cases, "text", kimi ? "ids" : "ids_bos", fr_tok_add_bos_default(t), 0, name);
    check_encode(t, cases, "text", "ids_split_special", 0, 1, name);
    check_roundtrip(t, cases, name);
    check_random_roundtrip(t, model);
    snprintf(name, sizeof name, "%s/chat.jsonl", model);
    check_encode(t, chat, "prompt", "ids", 0, 0, name);
    snprintf(name, sizeof name, "%s/decode.jsonl", model);
    check_decode(t, dec, name);

    /* ids the references name */
    CHECK(fr_tok_bos(t) == (kimi ? 163584 : 0) && fr_tok_eos(t) == (kimi ? 163585 : 1), "%s: bos %d eos %d", model,
          fr_tok_bos(t), fr_tok_eos(t));
    CHECK(fr_tok_add_bos_default(t) == !kimi, "%s: add_bos", model);
    CHECK(fr_tok_n_vocab(t) == (kimi ? 163840 : 128815), "%s: n_vocab %d", model, fr_tok_n_vocab(t));
    if (kimi) {
        CHECK(fr_tok_special_id(t, "<|im_end|>") == 163586, "kimi <|im_end|>");
        CHECK(fr_tok_special_id(t, "<|reserved_token_163589|>") == 163589, "kimi reserved name");
        CHECK(fr_tok_flags(t, 163586) & FR_TOKF_SPECIAL, "kimi special flag");
    } else {
        CHECK(fr_tok_special_id(t, "<｜User｜>") == 128803, "deepseek <｜User｜>");
        CHECK(!(fr_tok_flags(t, 128803) & FR_TOKF_SPECIAL) && (fr_tok_flags(t, 128803) & FR_TOKF_ADDED),
              "deepseek <｜User｜> is added but not special");
        CHECK(fr_tok_flags(t, 128805) & FR_TOKF_SPECIAL, "deepseek <|EOT|> special");
    }
    size_t bl;
    const uint8_t *b = fr_tok_bytes(t, kimi ? 163586 : 128803, &bl);
    CHECK(b && bl == strlen(kimi ? "<|im_end|>" : "<｜User｜>") && !memcmp(b, kimi ? "<|im_end|>" : "<｜User｜>", bl),
          "%s: special token bytes", model);
    CHECK(fr_tok_bytes(t, -1, &bl) == NULL && fr_tok_bytes(t, 1 << 30, &bl) == NULL, "%s: bad ids have no bytes", model);
    /* the published example for Kimi-K2 */
    if (kimi) {
        const char *s = "Hello, world! 你好，世界！";
        int32_t want[] = {19180, 11, 2695, 0, 220, 33845, 378, 2243, 856}, *ids;
        size_t n;
        CHECK(fr_tokenize(t, s, strlen(s), 0, 0, &ids, &n) == 0 && n == 9 && !memcmp(ids, want, sizeof want),
              "kimi published example");
        free(ids);
    }
    /* empty text; invalid UTF-8 becomes U+FFFD (same ids as the text with U+FFFD) */
    {
        int32_t *a = NULL, *bb = NULL;
        size_t na, nb;
        CHECK(fr_tokenize(t, "", 0, 0, 0, &a, &na) == 0 && na == 0, "%s: empty text", model);
        free(a);
        CHECK(fr_tokenize(t, "a\xff" "b\xe4\xbd", 5, 0, 0, &a, &na) == 0 &&
                  fr_tokenize(t, "a\xef\xbf\xbd" "b\xef\xbf\xbd", 8, 0, 0, &bb, &nb) == 0 && na == nb &&
                  !memcmp(a, bb, na * sizeof *a),
              "%s: invalid UTF-8 input", model);
        free(a);
        free(bb);
    }

    if (frugal) {
        snprintf(name, sizeof name, "%s/cases.jsonl", model);
        check_cli(frugal, dir, cases, "text", "ids", "", 0, name);
        check_cli(frugal, dir, cases, "text", kimi ? "ids" : "ids_bos", "--bos", 0, name);
        check_cli(frugal, dir, cases, "text", "ids_split_special", "--split-special", 0, name);
        check_cli(frugal, dir, cases, "text", "ids", "--decode", 1, name);
        snprintf(name, sizeof name, "%s/chat.jsonl", model);
        check_cli(frugal, dir, chat, "prompt", "ids", "", 0, name);
        /* decode vectors, split by skip_special_tokens as the check does */
        json_t *plain = json_array(), *skip = json_array();
        size_t i;
        json_t *o;
        json_array_foreach(dec, i, o) json_array_append(json_is_true(json_object_get(o, "skip_special_tokens")) ? skip : plain, o);
        snprintf(name, sizeof name, "%s/decode.jsonl", model);
        check_cli(frugal, dir, plain, "text", "ids", "--decode", 1, name);
        if (json_array_size(skip)) check_cli(frugal, dir, skip, "text", "ids", "--decode --skip-special", 1, name);
        json_decref(plain);
        json_decref(skip);
    }
    json_decref(cases);
    json_decref(dec);
    json_decref(chat);
    fr_tokenizer_free(t);
}

/* ---- hand-checked vectors ---- */

static void check_utf8(void) {
    /* Unicode 15 section 3.9, "U+FFFD Substitution of Maximal Subparts", table 3-8 */
    const char in[] = "\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64";
    const char want[] = "a\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD" "b\xEF\xBF\xBD" "c\xEF\xBF\xBD\xEF\xBF\xBD" "d";
    char *out;
    size_t n;
    CHECK(fr_utf8_lossy(in, sizeof in - 1, &out, &n) == 0 && n == sizeof want - 1 && !memcmp(out, want, n),
          "maximal subparts");
    free(out);
    /* surrogates and overlongs: each byte its own U+FFFD */
    CHECK(fr_utf8_lossy("\xED\xA0\x80\xC0\xAF", 5, &out, &n) == 0 && n == 15, "surrogate/overlong: %zu bytes", n);
    free(out);
    CHECK(fr_utf8_valid("\xE4\xBD\xA0", 3) && !fr_utf8_valid("\xE4\xBD", 2) && !fr_utf8_valid("\xED\xA0\x80", 3) &&
              !fr_utf8_valid("\xF4\x90\x80\x80", 4),
          "fr_utf8_valid");
    /* streaming: "你" (E4 BD A0) arriving one byte at a time prints nothing until whole */
    fr_utf8_stream s;
    fr_utf8_stream_init(&s);
    char buf[64];
    size_t a = fr_utf8_stream_push(&s, "x\xE4", 2, buf);
    size_t b = fr_utf8_stream_push(&s, "\xBD", 1, buf + a);
    size_t c = fr_utf8_stream_push(&s, "\xA0", 1, buf + a + b);
    CHECK(a == 1 && b == 0 && c == 3 && !memcmp(buf, "x\xE4\xBD\xA0", 4), "stream: %zu %zu %zu", a, b, c);
    /* a cut-off character at the end becomes one U+FFFD */
    a = fr_utf8_stream_push(&s, "\xF0\x9F\x98", 3, buf);
    b = fr_utf8_stream_finish(&s, buf + a);
    CHECK(a == 0 && b == 3 && !memcmp(buf, "\xEF\xBF\xBD", 3), "stream finish");
    CHECK(fr_py_isspace(0x1C) && fr_py_isspace(0x85) && fr_py_isspace(0x3000) && !fr_py_isspace(0xFEFF) &&
              !fr_py_isspace(0x180E) && !fr_py_isspace(0x200B),
          "py isspace");
}

static int re_match(const char *pat, const char *subj, size_t *ms, size_t *me) {
    fr_re re;
    fr_re_scratch s;
    if (fr_re_compile(&re, pat, strlen(pat), "test")) return -2;
    if (fr_re_scratch_init(&s)) { fr_re_free(&re); return -2; }
    int r = fr_re_find(&re, &s, (const uint8_t *)subj, strlen(subj), 0, ms, me);
    fr_re_scratch_free(&s);
    fr_re_free(&re);
    return r;
}

static void check_regex(void) {
    size_t a, b;
    /* \s = White_Space: U+0085 yes, U+FEFF and U+180E no (PCRE2's own \s has U+180E) */
    CHECK(re_match("\\s+", "x\xC2\x85 y", &a, &b) == 1 && a == 1 && b == 4, "\\s U+0085");
    CHECK(re_match("\\s", "\xEF\xBB\xBF\xE1\xA0\x8E", &a, &b) == 0, "\\s U+FEFF U+180E");
    CHECK(re_match("[^\\s]+", "\xEF\xBB\xBF ", &a, &b) == 1 && b == 3, "[^\\s] U+FEFF");
    CHECK(re_match("\\S+", "\xC2\x85" "ab", &a, &b) == 1 && a == 2 && b == 4, "\\S");
    /* \p{Han} is Script=Han: U+3001 (Script Common, extensions include Han) is not */
    CHECK(re_match("\\p{Han}", "\xE3\x80\x81", &a, &b) == 0, "\\p{Han} U+3001");
    CHECK(re_match("[\\p{Han}]+", "a\xE4\xB8\xAD\xE6\x96\x87", &a, &b) == 1 && a == 1 && b == 7, "[\\p{Han}]+");
    /* intersection: letters except Han */
    CHECK(re_match("[\\p{L}&&[^\\p{Han}]]+", "\xE4\xB8\xAD" "ab\xE4\xB8\xAD", &a, &b) == 1 && a == 3 && b == 5,
          "class intersection (category complement)");
    CHECK(re_match("[a-z&&[^aeiou]]+", "aebcd", &a, &b) == 1 && a == 2 && b == 5, "class intersection (lookahead)");
    /* scoped case-insensitivity: 'S and the long s */
    CHECK(re_match("x(?i:'s)", "x'\xC5\xBF", &a, &b) == 1 && b == 4, "(?i:'s) long s");
    /* \u escapes */
    CHECK(re_match("[\\u4e00-\\u9fa5]+", "\xE4\xB8\x80", &a, &b) == 1, "\\u escape");
    fr_re re;
    CHECK(fr_re_compile(&re, "[a", 2, "bad.json") == -1 && strstr(fr_err_msg(), "bad.json"), "bad regex: %s",
          fr_err_msg());
}

static void write_file(const char *path, const char *s) {
    FILE *f = fopen(path, "wb");
    if (f) { fputs(s, f); fclose(f); }
}

static void check_bad_input(void) {
    fr_tokenizer *t = (fr_tokenizer *)1;
    CHECK(fr_tokenizer_load("/nonexistent-dir", &t) == -1 && t == NULL && strstr(fr_err_msg(), "/nonexistent-dir"),
          "missing dir: %s", fr_err_msg());
    char dir[] = "/tmp/frugal_tok_XXXXXX";
    if (!mkdtemp(dir)) { CHECK(0, "mkdtemp"); return; }
    char p[512], p2[512];
    snprintf(p, sizeof p, "%s/tokenizer.json", dir);
    write_file(p, "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"a b\"]}}");
    CHECK(fr_tokenizer_load(dir, &t) == -1 && strstr(fr_err_msg(), "merges[0]"), "bad merge: %s", fr_err_msg());
    write_file(p, "{\"model\": {\"type\": \"Unigram\"}}");
    CHECK(fr_tokenizer_load(dir, &t) == -1 && strstr(fr_err_msg(), "tokenizer.json"), "unigram: %s", fr_err_msg());
    write_file(p, "{\"model\": ");
    CHECK(fr_tokenizer_load(dir, &t) == -1 && strstr(fr_err_msg(), "tokenizer.json"), "truncated: %s", fr_err_msg());
    /* a tiny byte-level tokenizer: GPT-2 style ByteLevel(use_regex) pre-tokenizer */
    write_file(p, "{\"normalizer\": null, \"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false,"
                  " \"use_regex\": true}, \"decoder\": {\"type\": \"ByteLevel\"}, \"added_tokens\": [{\"id\": 6,"
                  " \"content\": \"<eos>\", \"special\": true, \"normalized\": false}],"
                  " \"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, \"\\u0120\": 2, \"ab\": 3,"
                  " \"\\u0120a\": 4, \"\\u0120ab\": 5}, \"merges\": [\"\\u0120 a\", \"\\u0120a b\", \"a b\"]}}");
    /* every truncation of it is refused with a message, never a crash */
    {
        size_t n;
        char *full = slurp(p, &n);
        int refused = 0;
        for (size_t k = 0; full && k < n - 1; k++) {
            FILE *f = fopen(p, "wb");
            if (!f) break;
            fwrite(full, 1, k, f);
            fclose(f);
            fr_tokenizer *u = NULL;
            if (fr_tokenizer_load(dir, &u) == -1 && u == NULL && fr_err_msg()[0]) refused++;
            fr_tokenizer_free(u);
        }
        CHECK(full && refused == (int)n - 1, "truncated tokenizer.json: %d of %zu refused", refused, n - 1);
        if (full) write_file(p, full);
        free(full);
    }
    CHECK(fr_tokenizer_load(dir, &t) == 0, "tiny tokenizer: %s", fr_err_msg());
    if (t) {
        int32_t *ids;
        size_t n;
        /* "ab ab<eos>b" -> [ab][ ab]<eos>[b] */
        CHECK(fr_tokenize(t, "ab ab<eos>b", 11, 0, 0, &ids, &n) == 0 && n == 4 && ids[0] == 3 && ids[1] == 5 &&
                  ids[2] == 6 && ids[3] == 1,
              "tiny encode");
        free(ids);
        char *out;
        size_t on;
        int32_t d[] = {5, 6, 99, 2};
        CHECK(fr_detokenize(t, d, 4, 1, &out, &on) == 0 && on == 4 && !memcmp(out, " ab ", 4), "tiny decode");
        free(out);
        CHECK(fr_tok_bos(t) == -1 && !fr_tok_add_bos_default(t), "tiny: no BOS");
        fr_tokenizer_free(t);
    }
    /* BOS from a TemplateProcessing post-processor */
    write_file(p, "{\"post_processor\": {\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\": {\"id\":"
                  " \"<s>\", \"type_id\": 0}}, {\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}], \"special_tokens\":"
                  " {\"<s>\": {\"id\": \"<s>\", \"ids\": [2], \"tokens\": [\"<s>\"]}}}, \"decoder\": {\"type\":"
                  " \"ByteLevel\"}, \"added_tokens\": [{\"id\": 2, \"content\": \"<s>\", \"special\": true}],"
                  " \"model\": {\"vocab\": {\"a\": 0, \"b\": 1}, \"merges\": []}}");
    t = NULL;
    CHECK(fr_tokenizer_load(dir, &t) == 0, "template tokenizer: %s", fr_err_msg());
    if (t) {
        int32_t *ids;
        size_t n;
        CHECK(fr_tok_add_bos_default(t) && fr_tok_bos(t) == 2, "template BOS");
        CHECK(fr_tokenize(t, "ab", 2, 1, 0, &ids, &n) == 0 && n == 3 && ids[0] == 2 && ids[1] == 0 && ids[2] == 1,
              "template encode");
        free(ids);
        fr_tokenizer_free(t);
    }
    remove(p);
    snprintf(p2, sizeof p2, "%s/tiktoken.model", dir);
    write_file(p2, "YQ== 0\nYg== 1\n!!!! 2\n");
    CHECK(fr_tokenizer_load(dir, &t) == -1 && strstr(fr_err_msg(), "base64"), "bad base64: %s", fr_err_msg());
    write_file(p2, "YQ== 0\nYg==\n");
    CHECK(fr_tokenizer_load(dir, &t) == -1 && strstr(fr_err_msg(), "line 2"), "no rank: %s", fr_err_msg());
    remove(p2);
    rmdir(dir);
}

int main(int argc, char **argv) {
    const char *frugal = argc > 1 ? argv[1] : NULL;
    check_utf8();
    check_regex();
    check_bad_input();
    check_model("tokenizer/deepseek_v3", frugal);
    check_model("tokenizer/kimi_k2", frugal);
    return t_done();
}
