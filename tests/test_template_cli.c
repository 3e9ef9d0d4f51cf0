/* `frugal template -m DIR` end to end, as the acceptance check runs it: the
 * lines of tests/fixtures/chat/<model>/chat.jsonl on stdin (whole lines, extra
 * fields included), one JSON string per line on stdout, compared exactly with
 * the fixture's "prompt". argv[1] is the frugal executable. */
#include <jansson.h>
#include <stdlib.h>
#include <unistd.h>

#include "testutil.h"

static void run_model(const char *exe, const char *model) {
    char rel[256], cmd[8192], outp[] = "/tmp/frugal_tcli_XXXXXX";
    snprintf(rel, sizeof rel, "chat/%s/chat.jsonl", model);
    const char *in = t_fixture(rel);
    snprintf(rel, sizeof rel, "chat/%s", model);
    int fd = mkstemp(outp);
    CHECK(fd >= 0, "mkstemp");
    if (fd < 0) return;
    close(fd);
    snprintf(cmd, sizeof cmd, "'%s' template -m '%s' < '%s' > '%s'", exe, t_fixture(rel), in, outp);
    int rc = system(cmd);
    CHECK(rc == 0, "%s: exit status %d", cmd, rc);
    size_t ni, no;
    char *itext = t_read(in, &ni), *otext = t_read(outp, &no);
    unlink(outp);
    CHECK(itext && otext, "%s: cannot read input or output", model);
    int ok = 0, total = 0;
    char *ip = itext, *op = otext;
    while (itext && otext && ip < itext + ni) {
        char *inl = memchr(ip, '\n', (size_t)(itext + ni - ip)), *onl;
        if (!inl) inl = itext + ni;
        json_t *cs = json_loadb(ip, (size_t)(inl - ip), 0, NULL);
        ip = inl + 1;
        if (!cs) continue;
        total++;
        onl = op < otext + no ? memchr(op, '\n', (size_t)(otext + no - op)) : NULL;
        json_t *got = onl ? json_loadb(op, (size_t)(onl - op), JSON_DECODE_ANY, NULL) : NULL;
        if (onl) op = onl + 1;
        json_t *want = json_object_get(cs, "prompt");
        int same = got && json_is_string(got) && json_equal(got, want);
        CHECK(same, "%s %s: output line differs", model, json_string_value(json_object_get(cs, "id")));
        ok += same;
        json_decref(got);
        json_decref(cs);
    }
    CHECK(!otext || op == otext + no, "%s: extra output lines", model);
    printf("frugal template %s: %d/%d\n", model, ok, total);
    CHECK(total == 10, "%s: %d cases", model, total);
    free(itext);
    free(otext);
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: test_template_cli FRUGAL_EXE\n"); return 2; }
    run_model(argv[1], "deepseek_v3");
    run_model(argv[1], "kimi_k2");
    return t_done();
}
