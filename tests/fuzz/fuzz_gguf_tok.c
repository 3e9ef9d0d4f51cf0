/* libFuzzer target for the GGUF tokenizer and chat-template loaders
 * (text/gguf_vocab.c): any bytes must load or fail cleanly, and a loaded
 * tokenizer must encode and decode a fixed text, a loaded template render a
 * fixed conversation, without errors of memory or undefined behavior.
 * Build: cmake -DFRUGAL_FUZZ=ON -DCMAKE_C_COMPILER=clang; run: ./fuzz_gguf_tok corpus/gguf_tok */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "formats/gguf.h"
#include "text/chat.h"
#include "text/tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fr_gguf g;
    if (fr_gguf_parse(&g, data, size, "fuzz.gguf")) return 0;
    fr_tokenizer *t = NULL;
    if (fr_tokenizer_load_gguf(&g, &t) == 0) {
        static const char text[] = "Hello, world! 你好 <|x|>ab\n\n  123456 \xff\xfe";
        for (int split = 0; split < 2; split++) {
            int32_t *ids = NULL;
            size_t n = 0;
            if (fr_tokenize(t, text, sizeof text - 1, split, split, &ids, &n) == 0) {
                char *s = NULL;
                size_t sl = 0;
                if (fr_detokenize(t, ids, n, split, &s, &sl) == 0) free(s);
                free(ids);
            }
        }
        fr_tokenizer_free(t);
    }
    fr_chat *c = fr_chat_load_gguf(&g);
    if (c) {
        json_t *m = json_pack("[{s:s,s:s}]", "role", "user", "content", "hi");
        char *out = NULL;
        size_t n = 0;
        if (fr_chat_render(c, m, NULL, 1, NULL, &out, &n) == 0) free(out);
        json_decref(m);
        fr_chat_free(c);
    }
    fr_gguf_close(&g);
    return 0;
}
