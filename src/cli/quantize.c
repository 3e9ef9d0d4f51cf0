/* frugal quantize / frugal convert: write GGUF files. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/err.h"
#include "cli/cli.h"
#include "runtime/gguf_quantize.h"

static void help(FILE *f) {
    fprintf(f, "usage: frugal quantize IN OUT.gguf TYPE\n\n"
               "Writes OUT with the weights of IN (a GGUF file, or a Hugging Face DeepSeek\n"
               "directory as for frugal convert) re-encoded. TYPE: %s.\n"
               "Mixes choose a type per tensor the way llama-quantize does; 1-D tensors and\n"
               "router weights are kept; rows that are not whole blocks fall back to a\n"
               "32-element type (Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0, Q2_K/Q3_K -> Q4_0,\n"
               "IQ4_XS -> IQ4_NL, then F16), as llama-quantize does.\n\n"
               "  -h, --help   this help\n",
            fr_quant_type_names);
}

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
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
    int rc = is_dir(pos[0]) ? fr_hf_to_gguf(pos[0], pos[1], pos[2], progress, NULL)
                            : fr_gguf_quantize(pos[0], pos[1], pos[2], progress, NULL);
    if (rc) {
        fprintf(stderr, "error: %s\n", fr_err_msg());
        return 1;
    }
    return 0;
}

static void convert_help(FILE *f) {
    fprintf(f, "usage: frugal convert HF_DIR OUT.gguf [--type TYPE]\n\n"
               "Converts a Hugging Face DeepSeek-V2/V3 (Moonlight, Kimi K2) directory to a\n"
               "llama.cpp deepseek2 GGUF in the layout of llama.cpp's convert_hf_to_gguf.py\n"
               "(absorbed MLA: attn_k_b / attn_v_b; stacked experts; no MTP layers). FP8\n"
               "weights are dequantized with their block scales. tokenizer.json and\n"
               "tokenizer_config.json, when present, give the tokenizer.ggml.* keys.\n"
               "A Kimi Linear directory (model_type kimi_linear) becomes a llama.cpp\n"
               "kimi-linear GGUF (ssm_* KDA tensors, ssm_a = -exp(A_log); docs/gguf.md).\n\n"
               "  --type TYPE  %s\n"
               "               (default: BF16 for BF16/FP8 weights, F16 for F16, else F32)\n"
               "  -h, --help   this help\n",
            fr_quant_type_names);
}

int cmd_convert(int argc, char **argv) {
    const char *pos[2], *type = NULL;
    int np = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            convert_help(stdout);
            return 0;
        }
        if (!strcmp(argv[i], "--type")) {
            if (!(type = cli_value(argc, argv, &i))) return 2;
            continue;
        }
        if (argv[i][0] == '-' || np == 2) {
            fprintf(stderr, "error: convert: unexpected argument '%s'\n", argv[i]);
            return 2;
        }
        pos[np++] = argv[i];
    }
    if (np != 2) {
        convert_help(stderr);
        return 2;
    }
    if (fr_hf_to_gguf(pos[0], pos[1], type, progress, NULL)) {
        fprintf(stderr, "error: %s\n", fr_err_msg());
        return 1;
    }
    return 0;
}
