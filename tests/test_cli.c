/* The frugal command end to end: eval writes logits / MTP logits / greedy ids
 * that match the official references; bad usage exits non-zero with a message. */
#include <sys/wait.h>

#include "testutil.h"

static const char *g_bin;

/* run a shell command; returns the exit status, stdout in out (if not NULL) */
static int run(char *out, size_t size, const char *cmd) {
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t n = out ? fread(out, 1, size - 1, p) : 0;
    if (out) out[n] = 0;
    else {
        char buf[4096];
        while (fread(buf, 1, sizeof buf, p) > 0) {}
    }
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    g_bin = argv[1];
    char cmd[8192], out[65536];
    size_t n;
    float *ref = t_read(t_fixture("deepseek/v3_tiny/reference/p1.logits.f32"), &n);
    float *ref_mtp = t_read(t_fixture("deepseek/v3_tiny/reference/p1.mtp_logits.f32"), NULL);
    CHECK(ref && ref_mtp, "reference files");
    char tmpl[] = "/tmp/frugal_cli_XXXXXX";
    const char *tmp = mkdtemp(tmpl);
    CHECK(tmp != NULL, "mkdtemp");
    if (!ref || !ref_mtp || !tmp) return t_done();

    /* read the prompt from tokens.json to be independent of the literal above */
    snprintf(cmd, sizeof cmd, "tr -d '\\n ' < '%s' | sed -e 's/.*\"prompts\":\\[\\[[0-9]*\\],\\[\\([0-9,]*\\)\\].*/\\1/' | tr , ' '",
             t_fixture("deepseek/v3_tiny/tokens.json"));
    char pid[4096];
    CHECK(run(pid, sizeof pid, cmd) == 0 && strlen(pid) > 0, "prompt 1 from tokens.json");

    snprintf(cmd, sizeof cmd,
             "'%s' eval -m '%s' --ids '%s' --logits %s/l.f32 --mtp-logits %s/m.f32 --greedy 16 -t 2 --exact", g_bin,
             t_fixture("deepseek/v3_tiny"), pid, tmp, tmp);
    int rc = run(out, sizeof out, cmd);
    CHECK(rc == 0, "eval exit %d", rc);
    CHECK(strcmp(out, "687 521 780 559 771 26 548 171 806 836 27 268 441 535 350 846\n") == 0,
          "greedy ids: %s", out);
    char path[512];
    snprintf(path, sizeof path, "%s/l.f32", tmp);
    size_t ln = 0;
    float *l = t_read(path, &ln);
    CHECK(l && ln == n, "logits file size %zu, want %zu", ln, n);
    if (l && ln == n) {
        double e = t_row_rel_err(l, ref, n / 4 / 1024, 1024);
        CHECK(e <= 1e-4, "cli logits rel err %.3g", e);
    }
    snprintf(path, sizeof path, "%s/m.f32", tmp);
    float *m = t_read(path, &ln);
    CHECK(m && ln == n, "mtp file size");
    if (m && ln == n) {
        double e = t_row_rel_err(m, ref_mtp, n / 4 / 1024, 1024);
        CHECK(e <= 1e-4, "cli mtp rel err %.3g", e);
    }
    free(l);
    free(m);

    /* info */
    snprintf(cmd, sizeof cmd, "'%s' info -m '%s'", g_bin, t_fixture("deepseek/v3_fp8_tiny"));
    CHECK(run(out, sizeof out, cmd) == 0 && strstr(out, "F8_E4M3") && strstr(out, "active per token"),
          "info output: %s", out);

    /* usage errors: non-zero exit, message on stderr */
    const char *bad[] = {
        "eval", "eval -m /nonexistent --ids '0 1'", "eval -m MODEL --ids '0 x'", "eval -m MODEL --ids '0 99999'",
        "eval -m MODEL --ids '0 1' --greedy -3", "eval -m MODEL --bogus", "nosuchcommand", "info",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char args[1024];
        const char *mm = strstr(bad[i], "MODEL");
        if (mm) snprintf(args, sizeof args, "%.*s%s%s", (int)(mm - bad[i]), bad[i], t_fixture("deepseek/v3_tiny"), mm + 5);
        else snprintf(args, sizeof args, "%s", bad[i]);
        snprintf(cmd, sizeof cmd, "'%s' %s 2>&1", g_bin, args);
        rc = run(out, sizeof out, cmd);
        CHECK(rc != 0 && strstr(out, "error"), "'%s' exit %d, output '%s'", bad[i], rc, out);
    }
    snprintf(cmd, sizeof cmd, "'%s' eval --help && '%s' info --help && '%s' --help", g_bin, g_bin, g_bin);
    CHECK(run(NULL, 0, cmd) == 0, "--help");

    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    run(NULL, 0, cmd);
    free(ref);
    free(ref_mtp);
    return t_done();
}
