/* Compare the tensor types (and general.file_type) of two GGUF files with the
 * same tensors. Prints the differences; exit status 1 when there are any.
 * usage: gguf_types_diff A.gguf B.gguf */
#include <stdio.h>

#include "base/err.h"
#include "formats/gguf.h"

int main(int argc, char **argv) {
    fr_gguf a, b;
    if (argc != 3 || fr_gguf_open(&a, argv[1]) || fr_gguf_open(&b, argv[2])) {
        fprintf(stderr, "error: %s\n", argc == 3 ? fr_err_msg() : "usage: gguf_types_diff A.gguf B.gguf");
        return 2;
    }
    int diff = 0;
    int64_t fa = -1, fb = -1;
    fr_gguf_get_int(&a, "general.file_type", 0, 1000, &fa);
    fr_gguf_get_int(&b, "general.file_type", 0, 1000, &fb);
    if (fa != fb) printf("general.file_type: %lld vs %lld\n", (long long)fa, (long long)fb), diff++;
    for (uint64_t i = 0; i < a.n_tensors; i++) {
        const fr_gguf_tensor *x = &a.t[i], *y = fr_gguf_tensor_find(&b, x->name);
        if (!y) printf("%s: missing in %s\n", x->name, argv[2]), diff++;
        else if (x->type != y->type)
            printf("%s: %s vs %s\n", x->name, fr_ggml_type(x->type)->name, fr_ggml_type(y->type)->name), diff++;
    }
    if (a.n_tensors != b.n_tensors) printf("tensor counts %llu vs %llu\n", (unsigned long long)a.n_tensors, (unsigned long long)b.n_tensors), diff++;
    fr_gguf_close(&a);
    fr_gguf_close(&b);
    return diff ? 1 : 0;
}
