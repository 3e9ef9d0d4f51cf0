/* Text in, text out with the demo model: perplexity agrees with the training
 * script's own evaluation (models/kjv-demo/eval.json, computed in PyTorch),
 * generate honours stop strings and greedy decoding, chat keeps a
 * conversation, bad flags exit non-zero. */
#include <jansson.h>
#include <sys/wait.h>

#include "testutil.h"

static int run(char *out, size_t size, const char *cmd) {
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t n = fread(out, 1, size - 1, p);
    out[n] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    const char *bin = argv[1];
    const char *dir = t_fixture("../../models/kjv-demo");
    char cmd[8192], out[65536], path[4096];

    /* perplexity: same protocol as tools/train_demo.py */
    snprintf(path, sizeof path, "%s/eval.json", dir);
    json_error_t je;
    json_t *ev = json_load_file(path, 0, &je);
    CHECK(ev != NULL, "%s: %s", path, je.text);
    double ref = ev ? json_number_value(json_object_get(ev, "perplexity")) : 0;
    int ctx = ev ? (int)json_integer_value(json_object_get(ev, "ctx")) : 256;
    snprintf(cmd, sizeof cmd, "'%s' perplexity -m '%s' -f '%s/heldout.txt' -c %d -t 2 2>/dev/null", bin, dir, dir, ctx);
    int rc = run(out, sizeof out, cmd);
    double ppl = 0;
    const char *p = strstr(out, "perplexity: ");
    if (p) ppl = strtod(p + 12, NULL);
    CHECK(rc == 0 && ppl > 0, "perplexity ran: rc %d, '%s'", rc, out);
    CHECK(ref > 1 && fabs(ppl / ref - 1) < 0.01, "perplexity %.4f vs the training script's %.4f", ppl, ref);
    printf("perplexity: frugal %.4f, PyTorch %.4f (ratio %.6f)\n", ppl, ref, ppl / ref);
    json_decref(ev);

    /* generate: greedy is deterministic, the stop string ends the text before it */
    snprintf(cmd, sizeof cmd, "'%s' generate -m '%s' -p 'And God said' -n 40 --temp 0 --stop '.' 2>/dev/null", bin, dir);
    rc = run(out, sizeof out, cmd);
    CHECK(rc == 0 && !strncmp(out, "And God said", 12) && !strchr(out, '.'), "generate with --stop: rc %d '%s'", rc, out);
    char first[65536];
    memcpy(first, out, sizeof out);
    rc = run(out, sizeof out, cmd);
    CHECK(rc == 0 && !strcmp(out, first), "greedy generation repeats exactly");
    snprintf(cmd, sizeof cmd, "'%s' generate -m '%s' -p 'And God said' -n 20 --seed 7 --temp 0.9 --top-k 20 --top-p 0.9 "
             "--min-p 0.02 --repeat-penalty 1.1 2>&1", bin, dir);
    rc = run(out, sizeof out, cmd);
    CHECK(rc == 0 && strstr(out, "tokens per second"), "sampled generation with timings: rc %d", rc);
    CHECK(strstr(out, "GiB of weights (memory-mapped)") && strstr(out, "positions, bf16,"),
          "the memory estimate at load (default bf16 cache): %s", out);

    /* chat: two turns through the chat template */
    snprintf(cmd, sizeof cmd, "printf 'Who made the heaven?\\nAnd the earth?\\n' | '%s' chat -m '%s' -n 16 --temp 0 2>/dev/null",
             bin, dir);
    rc = run(out, sizeof out, cmd);
    CHECK(rc == 0 && strlen(out) > 10, "chat: rc %d '%s'", rc, out);

    /* bad input */
    const char *bad[] = {"generate -m DIR -p x --temp -1", "generate -m DIR --top-p 0", "perplexity -m DIR",
                         "perplexity -m DIR -f /nonexistent", "generate -m /nonexistent -p x", "chat -m DIR --bogus"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char args[1024];
        const char *m = strstr(bad[i], "DIR");
        if (m) snprintf(args, sizeof args, "%.*s'%s'%s", (int)(m - bad[i]), bad[i], dir, m + 3);
        else snprintf(args, sizeof args, "%s", bad[i]);
        snprintf(cmd, sizeof cmd, "'%s' %s 2>&1 < /dev/null", bin, args);
        rc = run(out, sizeof out, cmd);
        CHECK(rc != 0 && strstr(out, "error"), "'%s': rc %d '%s'", bad[i], rc, out);
    }
    return t_done();
}
