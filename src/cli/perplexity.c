/* frugal perplexity: exp(mean negative log-likelihood) of a text file.
 *
 * Protocol (the demo model's training script evaluates the same way):
 *   the file is tokenized as one stream (no BOS added), cut into consecutive
 *   non-overlapping chunks of CTX tokens (the last partial chunk is dropped);
 *   in each chunk every token after the first is scored from the tokens before
 *   it in the chunk; perplexity = exp(mean NLL over all scored tokens). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/mmap.h"
#include "base/timer.h"
#include "cli/cli.h"
#include "cli/session.h"

static void help(FILE *f) {
    fprintf(f, "usage: frugal perplexity [-m MODEL] -f FILE [-c CTX] [-t N]\n\n"
               "Tokenizes FILE as one stream (no BOS), cuts it into non-overlapping chunks of CTX\n"
               "tokens (default 256; the last partial chunk is dropped) and scores every token\n"
               "after the first of each chunk. Prints the running and final perplexity.\n\n"
               "  -m, --model DIR   model directory (default: the demo model)\n"
               "  -f, --file FILE   text to score\n"
               "  -c, --ctx-size N  chunk length in tokens (default 256)\n"
               "  -t, --threads N   threads\n"
               "      --bos         add BOS at the start of every chunk (it is not scored)\n"
               "  -h, --help        this help\n");
}

int cmd_perplexity(int argc, char **argv) {
    cli_opts o;
    cli_opts_init(&o);
    const char *file = NULL;
    int bos = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) { help(stdout); return 0; }
        if (!strcmp(argv[i], "--bos")) { bos = 1; continue; }
        if (!strcmp(argv[i], "-f") || !strcmp(argv[i], "--file")) {
            if (!(file = cli_value(argc, argv, &i))) return 2;
            continue;
        }
        int r = cli_common_flag(&o, argc, argv, &i);
        if (r < 0) return 2;
        if (!r) {
            fprintf(stderr, "error: perplexity: unknown option '%s'\n", argv[i]);
            return 2;
        }
    }
    if (!file) { fprintf(stderr, "error: perplexity needs -f FILE\n"); return 2; }
    int ctx_len = o.n_ctx ? o.n_ctx : 256;
    if (ctx_len < 2) { fprintf(stderr, "error: -c must be at least 2\n"); return 2; }
    o.n_ctx = ctx_len + bos;

    char *text = NULL;
    size_t tlen;
    cli_session s;
    int32_t *ids = NULL, *chunk = NULL;
    size_t n = 0;
    int rc = 1;
    memset(&s, 0, sizeof s);
    if (fr_read_file(file, (size_t)1 << 30, &text, &tlen)) goto done;
    if (cli_session_open(&s, &o)) goto done;
    if (fr_tokenize(s.tok, text, tlen, 0, 0, &ids, &n)) goto done;
    size_t n_chunks = n / (size_t)ctx_len;
    if (!n_chunks) {
        fprintf(stderr, "error: %s: %zu tokens, fewer than one chunk of %d\n", file, n, ctx_len);
        goto done;
    }
    if (bos && fr_tok_bos(s.tok) < 0) {
        fprintf(stderr, "error: --bos: the tokenizer has no BOS token\n");
        goto done;
    }
    chunk = malloc((size_t)(ctx_len + 1) * sizeof *chunk);
    fprintf(stderr, "perplexity: %zu tokens, %zu chunks of %d\n", n, n_chunks, ctx_len);
    double nll = 0, t0 = fr_now();
    size_t scored = 0;
    int V = s.info.n_vocab;
    for (size_t c = 0; c < n_chunks; c++) {
        int off = 0;
        if (bos) chunk[off++] = fr_tok_bos(s.tok);
        memcpy(chunk + off, ids + c * (size_t)ctx_len, (size_t)ctx_len * sizeof *chunk);
        if (frugal_eval(s.ctx, chunk, ctx_len + off, 0, 1)) goto done;
        for (int i = off; i + 1 < ctx_len + off; i++) {
            const float *l = frugal_get_logits(s.ctx, i);
            double mx = l[0], z = 0;
            for (int v = 1; v < V; v++) mx = l[v] > mx ? l[v] : mx;
            for (int v = 0; v < V; v++) z += exp((double)l[v] - mx);
            nll += mx + log(z) - l[chunk[i + 1]];
            scored++;
        }
        fprintf(stderr, "[%zu]%.4f ", c + 1, exp(nll / (double)scored));
    }
    fprintf(stderr, "\n");
    printf("perplexity: %.4f over %zu tokens (%zu chunks of %d, %.2f s)\n", exp(nll / (double)scored), scored,
           n_chunks, ctx_len, fr_now() - t0);
    rc = 0;
done:
    if (rc && *frugal_last_error()) fprintf(stderr, "error: %s\n", frugal_last_error());
    free(text);
    free(ids);
    free(chunk);
    cli_session_close(&s);
    return rc;
}
