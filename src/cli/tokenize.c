/* frugal tokenize: text <-> token ids with a model's tokenizer (also the
 * protocol the tokenizer checks use). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/timer.h"
#include "cli/cli.h"
#include "formats/gguf.h"
#include "text/tokenizer.h"

static void help(FILE *f) {
    fprintf(f,
            "usage: frugal tokenize -m DIR [--hex] [--bos] [--split-special]\n"
            "       frugal tokenize -m DIR --decode [--hex] [--skip-special]\n\n"
            "Encodes stdin to token ids (one line, space-separated) with the tokenizer in\n"
            "DIR (a model directory or one holding only tokenizer.json [+ tokenizer_config.json]\n"
            "or tiktoken.model [+ tokenizer_config.json]) or in a GGUF file's tokenizer.ggml.* keys.\n\n"
            "  -m, --model DIR    tokenizer / model directory, or FILE.gguf\n"
            "  --hex              line mode: each stdin line is one text, its UTF-8 bytes in hex\n"
            "                     (an empty line is the empty text); one line of ids per line\n"
            "  --bos              add BOS the way the model's config says (DeepSeek: yes; Kimi: never)\n"
            "  --split-special    special-token strings are ordinary text (HF: tokens flagged\n"
            "                     special only; tiktoken: every special token)\n"
            "  --decode           read ids instead and print the text (invalid UTF-8 as U+FFFD);\n"
            "                     with --hex each line is one id sequence and the output its bytes in hex\n"
            "  --skip-special     with --decode: drop special tokens\n"
            "  --bench N          encode stdin N times (one thread); print MB/s to stderr\n"
            "  --info             describe the tokenizer and exit\n"
            "  -h, --help         this help\n");
}

static int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static void put_ids(const int32_t *ids, size_t n) {
    char buf[16];
    for (size_t i = 0; i < n; i++) {
        int v = ids[i], k = 0;
        char *e = buf + sizeof buf;
        do { *--e = (char)('0' + v % 10); v /= 10; k++; } while (v);
        if (i) putchar(' ');
        fwrite(e, 1, (size_t)k, stdout);
    }
    putchar('\n');
}

static void put_hex(const char *s, size_t n) {
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        putchar(d[(unsigned char)s[i] >> 4]);
        putchar(d[(unsigned char)s[i] & 15]);
    }
    putchar('\n');
}

/* ids separated by spaces/commas/newlines; appends to a growable array */
static int parse_ids(const char *s, size_t n, int32_t **ids, size_t *nids, size_t *cap, const char *where) {
    size_t i = 0;
    while (i < n) {
        while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == ',' || s[i] == '\n' || s[i] == '\r')) i++;
        if (i >= n) break;
        long v = 0;
        size_t st = i;
        while (i < n && s[i] >= '0' && s[i] <= '9' && i - st < 10) v = v * 10 + (s[i++] - '0');
        if (i == st || (i < n && !(s[i] == ' ' || s[i] == '\t' || s[i] == ',' || s[i] == '\n' || s[i] == '\r')) ||
            v > INT32_MAX) {
            fprintf(stderr, "error: %s: not a token id at byte %zu\n", where, st);
            return -1;
        }
        if (*nids == *cap) {
            *cap = *cap ? 2 * *cap : 256;
            int32_t *nv = realloc(*ids, *cap * sizeof *nv);
            if (!nv) { fprintf(stderr, "error: out of memory\n"); return -1; }
            *ids = nv;
        }
        (*ids)[(*nids)++] = (int32_t)v;
    }
    return 0;
}

static char *read_all(FILE *f, size_t *n) {
    size_t cap = 1 << 16, len = 0;
    char *b = malloc(cap);
    if (!b) return NULL;
    for (;;) {
        if (len == cap) {
            cap *= 2;
            char *nb = realloc(b, cap);
            if (!nb) { free(b); return NULL; }
            b = nb;
        }
        size_t r = fread(b + len, 1, cap - len, f);
        len += r;
        if (r == 0) break;
    }
    if (ferror(f)) { free(b); return NULL; }
    *n = len;
    return b;
}

int cmd_tokenize(int argc, char **argv) {
    const char *dir = NULL;
    int hex = 0, bos = 0, split = 0, decode = 0, skip = 0;
    long bench = 0;
    int info = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { help(stdout); return 0; }
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            if (!(dir = cli_value(argc, argv, &i))) return 2;
        } else if (!strcmp(a, "--hex")) hex = 1;
        else if (!strcmp(a, "--bos")) bos = 1;
        else if (!strcmp(a, "--split-special")) split = 1;
        else if (!strcmp(a, "--decode")) decode = 1;
        else if (!strcmp(a, "--skip-special")) skip = 1;
        else if (!strcmp(a, "--info")) info = 1;
        else if (!strcmp(a, "--bench")) {
            const char *v = cli_value(argc, argv, &i);
            if (!v || cli_int("--bench", v, 1, 1000000, &bench)) return 2;
        }
        else {
            fprintf(stderr, "error: tokenize: unknown option '%s'\n", a);
            return 2;
        }
    }
    if (!dir) { fprintf(stderr, "error: tokenize needs -m DIR\n"); return 2; }
    fr_tokenizer *t;
    if (fr_tokenizer_load(dir, &t)) {
        fprintf(stderr, "error: %s\n", fr_err_msg());
        return 1;
    }
    if (info) {
        int b = fr_tok_bos(t), e = fr_tok_eos(t);
        size_t bl = 0, el = 0;
        const uint8_t *bb = fr_tok_bytes(t, b, &bl), *eb = fr_tok_bytes(t, e, &el);
        int gguf = fr_gguf_sniff(dir);
        printf("tokenizer: %s\nids: %d\nbos: %d %.*s\neos: %d %.*s\nadds bos: %s\n",
               fr_tok_kind(t) == FR_TOK_TIKTOKEN ? (gguf ? "tiktoken (GGUF kimi-k2)" : "tiktoken (tiktoken.model)")
                                                 : (gguf ? "byte-level BPE (GGUF gpt2)" : "byte-level BPE (tokenizer.json)"),
               fr_tok_n_vocab(t), b, (int)bl, bb ? (const char *)bb : "", e, (int)el, eb ? (const char *)eb : "",
               fr_tok_add_bos_default(t) ? "yes" : "no");
        fr_tokenizer_free(t);
        return 0;
    }
    static char obuf[1 << 16];
    setvbuf(stdout, obuf, _IOFBF, sizeof obuf);
    int add_bos = bos && fr_tok_add_bos_default(t);
    int rc = 0;
    int32_t *ids = NULL;
    size_t nids = 0, cap = 0;
    if (hex) {
        char *line = NULL, *bytes = NULL;
        size_t lcap = 0, bcap = 0, lineno = 0;
        ssize_t ll;
        while (!rc && (ll = getline(&line, &lcap, stdin)) >= 0) {
            lineno++;
            size_t n = (size_t)ll;
            while (n && (line[n - 1] == '\n' || line[n - 1] == '\r')) n--;
            char where[64];
            snprintf(where, sizeof where, "stdin line %zu", lineno);
            if (decode) {
                nids = 0;
                char *out;
                size_t on;
                if (parse_ids(line, n, &ids, &nids, &cap, where)) { rc = 1; break; }
                if (fr_detokenize(t, ids, nids, skip, &out, &on)) { fprintf(stderr, "error: %s\n", fr_err_msg()); rc = 1; break; }
                put_hex(out, on);
                free(out);
                continue;
            }
            if (n % 2) { fprintf(stderr, "error: %s: odd number of hex digits\n", where); rc = 1; break; }
            if (n / 2 + 1 > bcap) {
                bcap = n / 2 + 1;
                char *nb = realloc(bytes, bcap);
                if (!nb) { fprintf(stderr, "error: out of memory\n"); rc = 1; break; }
                bytes = nb;
            }
            for (size_t k = 0; k < n / 2; k++) {
                int h = hexval(line[2 * k]), l = hexval(line[2 * k + 1]);
                if (h < 0 || l < 0) { fprintf(stderr, "error: %s: not hex at column %zu\n", where, 2 * k + 1); rc = 1; break; }
                bytes[k] = (char)(h << 4 | l);
            }
            if (rc) break;
            int32_t *out;
            size_t on;
            if (fr_tokenize(t, bytes ? bytes : "", n / 2, add_bos, split, &out, &on)) {
                fprintf(stderr, "error: %s: %s\n", where, fr_err_msg());
                rc = 1;
                break;
            }
            put_ids(out, on);
            free(out);
        }
        free(line);
        free(bytes);
    } else {
        size_t n;
        char *in = read_all(stdin, &n);
        if (!in) { fprintf(stderr, "error: cannot read stdin\n"); rc = 1; }
        else if (decode) {
            char *out;
            size_t on;
            if (parse_ids(in, n, &ids, &nids, &cap, "stdin")) rc = 1;
            else if (fr_detokenize(t, ids, nids, skip, &out, &on)) { fprintf(stderr, "error: %s\n", fr_err_msg()); rc = 1; }
            else {
                fwrite(out, 1, on, stdout);
                free(out);
            }
        } else {
            int32_t *out;
            size_t on;
            if (bench) {
                double t0 = fr_now();
                for (long r = 0; r < bench && !rc; r++) {
                    if (fr_tokenize(t, in, n, add_bos, split, &out, &on)) rc = 1;
                    else free(out);
                }
                double dt = fr_now() - t0;
                if (!rc)
                    fprintf(stderr, "encode: %zu bytes x %ld in %.3f s: %.2f MB/s, %zu tokens\n", n, bench, dt,
                            (double)n * (double)bench / dt / 1e6, on);
            }
            if (rc) fprintf(stderr, "error: %s\n", fr_err_msg());
            else if (fr_tokenize(t, in, n, add_bos, split, &out, &on)) { fprintf(stderr, "error: %s\n", fr_err_msg()); rc = 1; }
            else {
                put_ids(out, on);
                free(out);
            }
        }
        free(in);
    }
    free(ids);
    if (fflush(stdout) != 0) { fprintf(stderr, "error: write to stdout failed\n"); rc = 1; }
    fr_tokenizer_free(t);
    return rc;
}
