/* libFuzzer target: any bytes as a template must parse-or-error and
 * render-or-error without crashing, leaking or reading out of bounds.
 * Built with -DFRUGAL_FUZZ=ON (clang); run e.g.
 *   ./build-fuzz/tests/fuzz_jinja -max_len=4096 -timeout=10 -dict=tests/fuzz/jinja.dict CORPUS_DIR tests/fuzz/corpus_jinja
 * (CORPUS_DIR: an empty, writable directory for new inputs). The seed corpus
 * holds the DeepSeek-V3 and Kimi-K2 chat templates (source and licenses in
 * tests/fixtures/chat/NOTE.md) and templates of tests/test_chat.c. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <jansson.h>

#include "text/jinja.h"

static json_t *g_vars;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!g_vars)
        g_vars = json_loads("{\"messages\": [{\"role\": \"system\", \"content\": \"S\"}, {\"role\": \"user\", \"content\": \"hi\"},"
                            " {\"role\": \"assistant\", \"content\": null, \"tool_calls\": [{\"type\": \"function\", \"function\":"
                            " {\"name\": \"f\", \"arguments\": \"{}\"}}]}, {\"role\": \"tool\", \"content\": [{\"type\": \"text\","
                            " \"text\": \"t\"}]}], \"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"f\"}}],"
                            " \"add_generation_prompt\": true, \"bos_token\": \"<s>\", \"x\": 3, \"y\": 2.5, \"n\": null}",
                            0, NULL);
    fr_jinja *t = fr_jinja_parse((const char *)data, size, "fuzz");
    if (t) {
        char *out = NULL;
        size_t n = 0;
        if (fr_jinja_render(t, g_vars, &out, &n) == 0) free(out);
        fr_jinja_free(t);
    }
    return 0;
}
