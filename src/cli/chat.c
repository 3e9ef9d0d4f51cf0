/* frugal chat: an interactive multi-turn conversation rendered with the
 * model's chat template. Each turn re-renders the whole conversation; only the
 * tokens after the longest prefix already in the cache are evaluated. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/session.h"
#include "text/chat.h"

static void help(FILE *f) {
    fprintf(f, "usage: frugal chat [-m MODEL] [--system TEXT] [options]\n\n"
               "Reads one user message per line from stdin (\"/exit\" or end of input quits), prints\n"
               "the assistant's streamed reply, and keeps the cache between turns.\n\n"
               "      --system TEXT      system message\n");
    cli_common_help(f);
    fprintf(f, "  -h, --help             this help\n");
}

/* a token that ends the assistant's turn */
static int end_of_turn(const fr_tokenizer *t, int32_t tok) {
    if (tok == fr_tok_eos(t)) return 1;
    static const char *ends[] = {"<|im_end|>", "<\357\275\234end\342\226\201of\342\226\201sentence\357\275\234>",
                                 "<|eot_id|>", "<|EOT|>"};
    for (size_t i = 0; i < sizeof ends / sizeof *ends; i++)
        if (tok == fr_tok_special_id(t, ends[i])) return 1;
    return 0;
}

int cmd_chat(int argc, char **argv) {
    cli_opts o;
    cli_opts_init(&o);
    o.n_predict = -1;
    const char *system = NULL;
    for (int i = 1; i < argc; i++) {
        int r = cli_common_flag(&o, argc, argv, &i);
        if (r < 0) return 2;
        if (r) continue;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) { help(stdout); return 0; }
        if (!strcmp(argv[i], "--system")) {
            if (!(system = cli_value(argc, argv, &i))) return 2;
        } else {
            fprintf(stderr, "error: chat: unknown option '%s' (see frugal chat --help)\n", argv[i]);
            return 2;
        }
    }
    cli_session s;
    fr_chat *tmpl = NULL;
    json_t *msgs = json_array();
    int32_t *cached = NULL; /* tokens in the cache, in order */
    size_t n_cached = 0, cap_cached = 0;
    int rc = 1;
    if (cli_session_open(&s, &o)) goto done;
    if (!(tmpl = fr_chat_load(o.model ? o.model : cli_default_model()))) goto done;
    if (system) json_array_append_new(msgs, json_pack("{s:s,s:s}", "role", "system", "content", system));
    int n_ctx = frugal_context_n_ctx(s.ctx);
    char line[65536];
    for (;;) {
        fprintf(stderr, "\n> ");
        if (!fgets(line, sizeof line, stdin)) break;
        line[strcspn(line, "\r\n")] = 0;
        if (!strcmp(line, "/exit")) break;
        if (!*line) continue;
        json_array_append_new(msgs, json_pack("{s:s,s:s}", "role", "user", "content", line));
        char *prompt;
        size_t plen;
        int32_t *ids = NULL;
        size_t n = 0;
        if (fr_chat_render(tmpl, msgs, NULL, 1, NULL, &prompt, &plen)) goto done;
        int e = fr_tokenize(s.tok, prompt, plen, 0, 0, &ids, &n);
        free(prompt);
        if (e) goto done;
        /* reuse the longest common prefix of the cache */
        size_t common = 0;
        while (common < n_cached && common < n && cached[common] == ids[common]) common++;
        if (common == n) common--; /* evaluate at least one token */
        if ((int)n + 1 >= n_ctx) {
            fprintf(stderr, "error: the conversation (%zu tokens) fills the context of %d (use -c)\n", n, n_ctx);
            free(ids);
            goto done;
        }
        if (n + 1 > cap_cached) {
            cap_cached = (size_t)n_ctx + 1;
            int32_t *c = realloc(cached, cap_cached * sizeof *c);
            if (!c) { free(ids); goto done; }
            cached = c;
        }
        memcpy(cached, ids, n * sizeof *ids);
        n_cached = n;
        s.n_past = (int)common;
        frugal_sampler_reset(s.smp);
        int32_t tok = cli_session_feed(&s, ids + common, (int)(n - common), 1);
        free(ids);
        cli_stream st;
        cli_stream_init(&st, stdout, o.stop, o.n_stop, 1);
        for (int g = 0; tok >= 0 && (o.n_predict < 0 || g < o.n_predict); g++) {
            cached[n_cached++] = tok;
            if (!o.ignore_eos && end_of_turn(s.tok, tok)) break;
            size_t bl;
            const uint8_t *b = fr_tok_bytes(s.tok, tok, &bl);
            if (!(fr_tok_flags(s.tok, tok) & FR_TOKF_SPECIAL) && b && cli_stream_push(&st, b, bl)) break;
            if (s.n_past + 1 >= n_ctx) break;
            tok = cli_session_feed(&s, &tok, 1, 0);
        }
        cli_stream_finish(&st);
        json_array_append_new(msgs, json_pack("{s:s,s:s}", "role", "assistant", "content", st.all ? st.all : ""));
        cli_stream_free(&st);
        if (tok < 0) goto done;
        printf("\n");
        fflush(stdout);
    }
    cli_print_timings(&s);
    rc = 0;
done:
    if (rc) fprintf(stderr, "error: %s\n", frugal_last_error());
    free(cached);
    json_decref(msgs);
    fr_chat_free(tmpl);
    cli_session_close(&s);
    return rc;
}
