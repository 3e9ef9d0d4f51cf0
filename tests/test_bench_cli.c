/* frugal bench on the tiny DeepSeek fixture: -o json is an array of objects
 * with llama-bench's fields, one per (depth, test); bytes per generated token
 * = weights per token + the cache read at that depth; -mmp 0 (weights read into
 * memory) shows as "use_mmap": false; with two kernel tables and no pp test
 * one tg row each; bad flags exit 2. */
#include <jansson.h>

#include "frugal.h"
#include "testutil.h"

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    const char *model = t_fixture("deepseek/v2lite_tiny");
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "'%s' bench -m '%s' -p 4 -n 2 -d 0,3 -r 2 -t 2 -mmp 0 --bandwidth 10 -o json 2>/dev/null",
             argv[1], model);
    FILE *p = popen(cmd, "r");
    CHECK(p != NULL, "popen");
    if (!p) return t_done();
    json_error_t je;
    json_t *a = json_loadf(p, 0, &je);
    int rc = pclose(p);
    CHECK(rc == 0, "bench exit status %d", rc);
    CHECK(a && json_is_array(a) && json_array_size(a) == 4, "a JSON array of 4 rows (%s)", a ? "" : je.text);
    frugal_model *m = NULL;
    CHECK(frugal_model_load(model, &m) == 0, "load: %s", frugal_last_error());
    if (a && m && json_array_size(a) == 4) {
        frugal_model_info in;
        frugal_model_get_info(m, &in);
        const int depth[4] = {0, 0, 3, 3}, np[4] = {4, 0, 4, 0}, ng[4] = {0, 2, 0, 2};
        for (size_t i = 0; i < 4; i++) {
            json_t *r = json_array_get(a, i);
            CHECK(json_integer_value(json_object_get(r, "n_prompt")) == np[i] &&
                      json_integer_value(json_object_get(r, "n_gen")) == ng[i] &&
                      json_integer_value(json_object_get(r, "n_depth")) == depth[i] &&
                      json_integer_value(json_object_get(r, "n_threads")) == 2 &&
                      json_is_false(json_object_get(r, "use_mmap")),
                  "row %zu: n_prompt/n_gen/n_depth/n_threads/use_mmap", i);
            double avg = json_number_value(json_object_get(r, "avg_ts"));
            json_t *sd = json_object_get(r, "stddev_ts"), *smp = json_object_get(r, "samples_ts");
            CHECK(avg > 0 && json_is_number(sd) && json_array_size(smp) == 2, "row %zu: avg_ts, stddev_ts, 2 samples", i);
            if (ng[i]) {
                double b = json_number_value(json_object_get(r, "bytes_per_token"));
                /* the default cache: bf16 (not --exact) */
                double want = (double)in.bytes_per_token +
                              (double)frugal_cache_bytes_per_token(&in, FRUGAL_CACHE_BF16) * (depth[i] + 1.5);
                CHECK(fabs(b - want) < 1, "row %zu: bytes_per_token %.0f, want %.0f", i, b, want);
                double share = json_number_value(json_object_get(r, "roofline_share"));
                CHECK(fabs(share - avg * b / 10e9) < 1e-5 + 1e-4 * share, "row %zu: roofline_share %g", i, share); /* printed to 6 decimals */
            }
        }
    }
    frugal_model_free(m);
    json_decref(a);
    /* two kernel tables, no pp: one tg row each (the second table's rows once were followed by a
     * stale copy of the first's in the skipped pp slot) */
    snprintf(cmd, sizeof cmd, "'%s' bench -m '%s' -p 0 -n 2 -r 1 -k generic,generic --bandwidth 10 -o json 2>/dev/null",
             argv[1], model);
    p = popen(cmd, "r");
    a = p ? json_loadf(p, 0, &je) : NULL;
    rc = p ? pclose(p) : -1;
    CHECK(rc == 0 && a && json_array_size(a) == 2, "-p 0 -k generic,generic: %zu rows, want 2",
          a ? json_array_size(a) : 0);
    for (size_t i = 0; a && i < json_array_size(a); i++)
        CHECK(json_integer_value(json_object_get(json_array_get(a, i), "n_gen")) == 2, "row %zu: a tg row", i);
    json_decref(a);
    /* bad flags */
    snprintf(cmd, sizeof cmd, "'%s' bench -m '%s' -o xml >/dev/null 2>&1", argv[1], model);
    rc = system(cmd);
    CHECK(WIFEXITED(rc) && WEXITSTATUS(rc) == 2, "-o xml: exit %d", rc);
    snprintf(cmd, sizeof cmd, "'%s' bench -m '%s' -k nosuch >/dev/null 2>&1", argv[1], model);
    rc = system(cmd);
    CHECK(WIFEXITED(rc) && WEXITSTATUS(rc) == 2, "-k nosuch: exit %d", rc);
    snprintf(cmd, sizeof cmd, "'%s' bench -m '%s' -mmp 2 >/dev/null 2>&1", argv[1], model);
    rc = system(cmd);
    CHECK(WIFEXITED(rc) && WEXITSTATUS(rc) == 2, "-mmp 2: exit %d", rc);
    return t_done();
}
