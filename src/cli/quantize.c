/* frugal quantize: re-encode the weights of a GGUF file. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/err.h"
#include "cli/cli.h"
#include "runtime/gguf_quantize.h"

static void help(FILE *f) {
    fprintf(f, "usage: frugal quantize IN.gguf OUT.gguf TYPE\n\n"
               "Writes OUT with the weights of IN re-encoded. TYPE: %s.\n"
               "Mixes choose a type per tensor the way llama-quantize does; 1-D tensors and\n"
               "router weights are kept; rows that are not whole blocks fall back to a\n"
               "32-element type (Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0, others -> IQ4_NL, then F16).\n\n"
               "  -h, --help   this help\n",
            fr_quant_type_names);
}

static void progress(void *ud, uint64_t done, uint64_t total, const char *name) {
    (void)ud;
    if (!isatty(2)) return;
    int w = 40, k = total ? (int)(done * (uint64_t)w / total) : w;
    char bar[64];
    for (int i = 0; i < w; i++) bar[i] = i < k ? '=' : i == k ? '>' : ' ';
    bar[w] = 0;
    fprintf(stderr, "\r[%s] %3d%% %-40.40s", bar, total ? (int)(done * 100 / total) : 100, name);
    if (done == total) fprintf(stderr, "\n");
}

int cmd_quantize(int argc, char **argv) {
    const char *pos[3];
    int np = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            help(stdout);
            return 0;
        }
        if (argv[i][0] == '-' || np == 3) {
            fprintf(stderr, "error: quantize: unexpected argument '%s'\n", argv[i]);
            return 2;
        }
        pos[np++] = argv[i];
    }
    if (np != 3) {
        help(stderr);
        return 2;
    }
    if (fr_gguf_quantize(pos[0], pos[1], pos[2], progress, NULL)) {
        fprintf(stderr, "error: %s\n", fr_err_msg());
        return 1;
    }
    return 0;
}
