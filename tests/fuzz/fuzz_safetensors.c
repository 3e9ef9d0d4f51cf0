/* libFuzzer target: the safetensors header parser on arbitrary bytes. */
#include <stddef.h>
#include <stdint.h>

#include "formats/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fr_st_header h;
    if (fr_st_parse(data, size, "fuzz.safetensors", &h) == 0) {
        /* every accepted entry lies inside the data section */
        for (int i = 0; i < h.n; i++)
            if (h.e[i].end > size - h.data_off || h.e[i].begin > h.e[i].end) __builtin_trap();
        fr_st_header_free(&h);
    }
    return 0;
}
