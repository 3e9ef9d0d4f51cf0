#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "frugal.h"

static const struct {
    const char *name, *help;
    int (*fn)(int, char **);
} g_cmds[] = {
    {"bench", "prompt and generation speed (tokens/s), bytes per token, roofline", cmd_bench},
    {"eval", "evaluate token ids; write logits, greedy tokens, MTP logits", cmd_eval},
    {"generate", "generate text from a prompt (sampling, stop strings, timings)", cmd_generate},
    {"chat", "interactive multi-turn chat with the model's chat template", cmd_chat},
    {"perplexity", "perplexity of a text file", cmd_perplexity},
    {"info", "describe a model: architecture, sizes, dtypes, bytes per token", cmd_info},
    {"tokenize", "text to token ids and back with a model's tokenizer", cmd_tokenize},
    {"template", "render conversations (JSON lines) with the model's chat template", cmd_template},
    {"quantize", "re-encode a GGUF file's weights (Q8_0, Q4_K_M, ...)", cmd_quantize},
    {"convert", "convert a Hugging Face DeepSeek / Kimi Linear directory to GGUF", cmd_convert},
};

static void usage(FILE *f) {
    fprintf(f, "frugal %s: exact, fast inference for DeepSeek and Kimi models\n\n"
               "usage: frugal <command> [options]   (frugal <command> --help for its options)\n\ncommands:\n",
            FRUGAL_VERSION);
    for (size_t i = 0; i < sizeof g_cmds / sizeof *g_cmds; i++) fprintf(f, "  %-10s %s\n", g_cmds[i].name, g_cmds[i].help);
}

const char *cli_value(int argc, char **argv, int *i) {
    if (*i + 1 >= argc) {
        fprintf(stderr, "error: %s needs a value\n", argv[*i]);
        return NULL;
    }
    return argv[++*i];
}

int cli_int(const char *flag, const char *s, long lo, long hi, long *out) {
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < lo || v > hi) {
        fprintf(stderr, "error: %s: '%s' is not an integer in [%ld, %ld]\n", flag, s, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_cache_type(const char *flag, const char *v) {
    int t = frugal_cache_type_from_name(v);
    if (t < 0) fprintf(stderr, "error: %s: '%s' is not a cache type (auto, f32, f16, bf16, q8_0, i8)\n", flag, v);
    return t;
}

int cli_write_f32(const char *path, const float *x, size_t n) {
    return cli_write_bytes(path, x, n * sizeof *x); /* x86-64 and arm64 are little-endian */
}

int cli_write_bytes(const char *path, const void *x, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) {
        fprintf(stderr, "error: %s: cannot open for writing\n", path);
        return -1;
    }
    size_t w = n ? fwrite(x, 1, n, f) : 0;
    if (fclose(f) != 0 || w != n) {
        fprintf(stderr, "error: %s: write failed\n", path);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("frugal %s\n", FRUGAL_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof g_cmds / sizeof *g_cmds; i++)
        if (!strcmp(argv[1], g_cmds[i].name)) return g_cmds[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "error: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
