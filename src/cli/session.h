/* What generate, chat and perplexity share: a model with its tokenizer, a
 * context, sampling flags, streaming output with stop strings, timings. */
#ifndef FR_CLI_SESSION_H
#define FR_CLI_SESSION_H

#include <stdint.h>
#include <stdio.h>

#include "frugal.h"
#include "text/tokenizer.h"

typedef struct cli_opts {
    const char *model;
    int n_threads, n_ctx, n_predict;
    frugal_sampler_params sp;
    const char *stop[16];
    int n_stop;
    int ignore_eos;
    int cache_type;
    int exact; /* --exact */
    int no_mmap; /* --no-mmap */
} cli_opts;

/* Parse a flag common to the text commands at argv[*i]; 1 = consumed,
 * 0 = not a common flag, -1 = bad value (message printed). */
int cli_common_flag(cli_opts *o, int argc, char **argv, int *i);
void cli_common_help(FILE *f);
void cli_opts_init(cli_opts *o);
/* The model used when -m is not given. */
const char *cli_default_model(void);

typedef struct cli_session {
    frugal_model *model;
    fr_tokenizer *tok;
    frugal_context *ctx;
    frugal_sampler *smp;
    frugal_model_info info;
    int n_past;
    double t_prompt, t_gen; /* seconds */
    int n_prompt, n_gen;
} cli_session;

int cli_session_open(cli_session *s, const cli_opts *o);
void cli_session_close(cli_session *s);

/* Feed tokens (one batch at n_past) and return the next sampled token (-1 on error). */
int32_t cli_session_feed(cli_session *s, const int32_t *ids, int n, int is_prompt);

/* Streaming text out: UTF-8 safe, holds back text that may begin a stop string. */
typedef struct cli_stream {
    fr_utf8_stream u;
    char *pend;
    size_t npend, cap;
    const char *const *stop;
    int n_stop;
    FILE *out;
    char *all;  /* every byte emitted, for chat history (NULL = not kept) */
    size_t nall, capall;
    int keep;
} cli_stream;

void cli_stream_init(cli_stream *st, FILE *out, const char *const *stop, int n_stop, int keep);
/* Append a token's bytes; returns 1 when a stop string was reached (text up to it printed). */
int cli_stream_push(cli_stream *st, const void *bytes, size_t n);
void cli_stream_finish(cli_stream *st);
void cli_stream_free(cli_stream *st);

/* llama.cpp-style timing lines on stderr. */
void cli_print_timings(const cli_session *s);

#endif
