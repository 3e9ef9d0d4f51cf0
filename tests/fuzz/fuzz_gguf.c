/* libFuzzer target for the GGUF parser: any bytes must parse or fail cleanly.
 * Build: cmake -DFRUGAL_FUZZ=ON -DCMAKE_C_COMPILER=clang; run: ./fuzz_gguf -max_total_time=60 */
#include <stddef.h>
#include <stdint.h>

#include "formats/gguf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fr_gguf g;
    if (fr_gguf_parse(&g, data, size, "fuzz.gguf") == 0) {
        /* touch what a loader reads */
        for (uint64_t i = 0; i < g.n_kv; i++) {
            const fr_gguf_kv *kv = &g.kv[i];
            if (kv->type == FR_GGUF_ARRAY && kv->arr_n > 0) {
                if (kv->arr_type == FR_GGUF_STRING) {
                    const char *s;
                    uint64_t len;
                    fr_gguf_arr_str(kv, kv->arr_n - 1, &s, &len);
                    if (len) (void)*(volatile const char *)(s + len - 1);
                } else {
                    (void)fr_gguf_arr_num(kv, kv->arr_n - 1);
                }
            }
        }
        for (uint64_t i = 0; i < g.n_tensors; i++)
            if (g.t[i].nbytes) (void)*(volatile const uint8_t *)(g.t[i].data + g.t[i].nbytes - 1);
        fr_gguf_close(&g);
    }
    return 0;
}
