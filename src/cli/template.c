/* frugal template: render conversations with the model's chat template. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "cli/cli.h"
#include "text/chat.h"
#include "text/jinja.h"

static void help(FILE *f) {
    fprintf(f, "usage: frugal template -m DIR [--template FILE]\n\n"
               "Renders conversations with the model's Jinja chat template, exactly as\n"
               "transformers' apply_chat_template(..., tokenize=False) does.\n\n"
               "Each stdin line is one JSON object:\n"
               "  {\"messages\": [...], \"tools\": [...], \"add_generation_prompt\": true,\n"
               "   \"chat_template_kwargs\": {...}}\n"
               "(tools, add_generation_prompt (default false) and chat_template_kwargs are\n"
               "optional; Kimi's tools are key-sorted recursively as its tokenizer does).\n"
               "For each line it prints one line: the rendered prompt as a JSON string.\n"
               "Blank lines are skipped.\n\n"
               "The template is DIR/chat_template.jinja if present, else \"chat_template\" of\n"
               "DIR/tokenizer_config.json (bos_token, eos_token, ... come from there too);\n"
               "for a GGUF file, tokenizer.chat_template (bos/eos from its vocabulary).\n\n"
               "  -m, --model DIR     model or tokenizer directory, or FILE.gguf\n"
               "  --template FILE     use this Jinja file as the template instead\n"
               "  -h, --help          this help\n");
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    size_t len = 0, cap = 0, r;
    do {
        if (len + 4097 > cap) {
            cap = (len + 4097) * 2;
            char *q = realloc(buf, cap);
            if (!q) { free(buf); fclose(f); return NULL; }
            buf = q;
        }
        r = fread(buf + len, 1, 4096, f);
        len += r;
    } while (r == 4096);
    fclose(f);
    buf[len] = 0;
    return buf;
}

/* the output as one JSON string line: UTF-8 kept as is (ensure_ascii=False),
 * but U+0085, U+2028 and U+2029 escaped so that no line splitter (Python's
 * str.splitlines included) can break the line */
static int put_json_string(const char *s, size_t n) {
    json_t *v = json_stringn_nocheck(s, n);
    char *enc = v ? fr_jinja_tojson(v, 0, -1, NULL, NULL, 0) : NULL;
    json_decref(v);
    if (!enc) return -1;
    const char *run = enc;
    for (const char *p = enc; *p; p++) {
        const unsigned char *u = (const unsigned char *)p;
        const char *esc = NULL;
        if (u[0] == 0xc2 && u[1] == 0x85) esc = "\\u0085";
        else if (u[0] == 0xe2 && u[1] == 0x80 && (u[2] == 0xa8 || u[2] == 0xa9)) esc = u[2] == 0xa8 ? "\\u2028" : "\\u2029";
        if (!esc) continue;
        fwrite(run, 1, (size_t)(p - run), stdout);
        fputs(esc, stdout);
        p += u[0] == 0xc2 ? 1 : 2;
        run = p + 1;
    }
    fputs(run, stdout);
    putchar('\n');
    free(enc);
    return 0;
}

int cmd_template(int argc, char **argv) {
    const char *dir = NULL, *tfile = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) { help(stdout); return 0; }
        if (!strcmp(argv[i], "-m") || !strcmp(argv[i], "--model")) {
            if (!(dir = cli_value(argc, argv, &i))) return 2;
        } else if (!strcmp(argv[i], "--template")) {
            if (!(tfile = cli_value(argc, argv, &i))) return 2;
        } else {
            fprintf(stderr, "error: template: unknown option '%s'\n", argv[i]);
            return 2;
        }
    }
    if (!dir && !tfile) { fprintf(stderr, "error: template needs -m DIR\n"); return 2; }
    fr_chat *chat;
    if (tfile) {
        char *src = slurp(tfile);
        if (!src) { fprintf(stderr, "error: %s: cannot read\n", tfile); return 1; }
        json_t *cfg = NULL;
        if (dir) {
            char path[4096];
            snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
            cfg = json_load_file(path, JSON_DECODE_INT_AS_REAL, NULL);
        }
        chat = fr_chat_new(src, cfg, tfile);
        json_decref(cfg);
        free(src);
    } else {
        chat = fr_chat_load(dir);
    }
    if (!chat) { fprintf(stderr, "error: %s\n", fr_err_msg()); return 1; }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    long lineno = 0;
    int failed = 0;
    while ((len = getline(&line, &cap, stdin)) >= 0) {
        lineno++;
        size_t k = 0;
        while (k < (size_t)len && (line[k] == ' ' || line[k] == '\t' || line[k] == '\n' || line[k] == '\r')) k++;
        if (k == (size_t)len) continue;
        json_error_t je;
        json_t *req = json_loadb(line, (size_t)len, 0, &je);
        if (!req) req = json_loadb(line, (size_t)len, JSON_DECODE_INT_AS_REAL, &je); /* integers beyond int64 */
        char *out = NULL;
        size_t n = 0;
        int rc = -1;
        if (!req || !json_is_object(req)) {
            if (req) fr_err("stdin line %ld: expected a JSON object", lineno);
            else fr_err("stdin line %ld: column %d: %s", lineno, je.column, je.text);
        } else {
            json_t *gen = json_object_get(req, "add_generation_prompt");
            int g = gen && !json_is_null(gen) ? json_is_true(gen) || (json_is_integer(gen) && json_integer_value(gen)) : -1;
            rc = fr_chat_render(chat, json_object_get(req, "messages"), json_object_get(req, "tools"), g,
                                json_object_get(req, "chat_template_kwargs"), &out, &n);
            if (rc) fr_err_prefix("stdin line %ld", lineno);
        }
        json_decref(req);
        if (rc) {
            fprintf(stderr, "error: %s\n", fr_err_msg());
            failed = 1;
            puts("\"\"");
        } else {
            if (put_json_string(out, n)) {
                fprintf(stderr, "error: stdin line %ld: %s\n", lineno, fr_err_msg());
                failed = 1;
                puts("\"\"");
            }
        }
        free(out);
        fflush(stdout);
    }
    free(line);
    fr_chat_free(chat);
    return failed;
}
