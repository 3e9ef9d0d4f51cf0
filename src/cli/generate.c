/* frugal generate: text in, streamed text out. */
#include <stdlib.h>
#include <string.h>

#include "base/mmap.h"
#include "cli/cli.h"
#include "cli/session.h"

static void help(FILE *f) {
    fprintf(f, "usage: frugal generate [-m MODEL] -p \"text\" [-n N] [sampling flags]\n\n"
               "Continues the prompt with sampled tokens, streaming the text to stdout; timings\n"
               "go to stderr. Stops after N tokens, at the end-of-sequence token or a --stop string.\n\n"
               "  -p, --prompt TEXT      the prompt (BOS is added when the model's tokenizer says so)\n"
               "  -f, --file FILE        read the prompt from FILE\n"
               "      --no-display-prompt  do not echo the prompt\n");
    cli_common_help(f);
    fprintf(f, "  -h, --help             this help\n");
}

int cmd_generate(int argc, char **argv) {
    cli_opts o;
    cli_opts_init(&o);
    const char *prompt = NULL, *file = NULL;
    int echo = 1;
    for (int i = 1; i < argc; i++) {
        int r = cli_common_flag(&o, argc, argv, &i);
        if (r < 0) return 2;
        if (r) continue;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) { help(stdout); return 0; }
        if (!strcmp(argv[i], "--no-display-prompt")) { echo = 0; continue; }
        if (!strcmp(argv[i], "-p") || !strcmp(argv[i], "--prompt")) {
            if (!(prompt = cli_value(argc, argv, &i))) return 2;
        } else if (!strcmp(argv[i], "-f") || !strcmp(argv[i], "--file")) {
            if (!(file = cli_value(argc, argv, &i))) return 2;
        } else {
            fprintf(stderr, "error: generate: unknown option '%s' (see frugal generate --help)\n", argv[i]);
            return 2;
        }
    }
    char *text = NULL;
    size_t tlen = 0;
    if (file) {
        if (fr_read_file(file, (size_t)1 << 30, &text, &tlen)) {
            fprintf(stderr, "error: %s\n", frugal_last_error());
            return 1;
        }
    } else {
        text = strdup(prompt ? prompt : "");
        tlen = strlen(text);
    }

    cli_session s;
    int rc = 1;
    int32_t *ids = NULL;
    size_t n = 0;
    cli_stream st;
    cli_stream_init(&st, stdout, o.stop, o.n_stop, 0);
    if (cli_session_open(&s, &o)) goto done;
    if (fr_tokenize(s.tok, text, tlen, fr_tok_add_bos_default(s.tok), 0, &ids, &n)) goto done;
    if (n == 0) {
        fprintf(stderr, "error: empty prompt (the tokenizer adds no BOS); give -p TEXT\n");
        goto done;
    }
    if ((int)n >= frugal_context_n_ctx(s.ctx)) {
        fprintf(stderr, "error: the prompt has %zu tokens, the context only %d (use -c)\n", n,
                frugal_context_n_ctx(s.ctx));
        goto done;
    }
    if (echo) {
        fwrite(text, 1, tlen, stdout);
        fflush(stdout);
    }
    int32_t tok = cli_session_feed(&s, ids, (int)n, 1);
    int eos = fr_tok_eos(s.tok);
    for (int g = 0; tok >= 0 && (o.n_predict < 0 || g < o.n_predict); g++) {
        if (tok == eos && !o.ignore_eos) break;
        size_t bl;
        const uint8_t *b = fr_tok_bytes(s.tok, tok, &bl);
        if (!(fr_tok_flags(s.tok, tok) & FR_TOKF_SPECIAL) && b && cli_stream_push(&st, b, bl)) break;
        if (s.n_past + 1 > frugal_context_n_ctx(s.ctx)) break; /* context full */
        tok = cli_session_feed(&s, &tok, 1, 0);
    }
    if (tok < 0) goto done;
    cli_stream_finish(&st);
    printf("\n");
    cli_print_timings(&s);
    rc = 0;
done:
    if (rc) fprintf(stderr, "error: %s\n", frugal_last_error());
    cli_stream_free(&st);
    free(ids);
    free(text);
    cli_session_close(&s);
    return rc;
}
