#include "formats/hf_config.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/mmap.h"

int fr_cfg_parse(fr_cfg *c, const char *text, size_t len, const char *path) {
    memset(c, 0, sizeof *c);
    json_error_t e;
    json_t *r = json_loadb(text, len, 0, &e);
    if (!r) return fr_err("%s: invalid JSON at line %d, column %d: %s", path, e.line, e.column, e.text);
    if (!json_is_object(r)) {
        json_decref(r);
        return fr_err("%s: not a JSON object", path);
    }
    c->root = c->owned = r;
    c->path = strdup(path);
    return 0;
}

int fr_cfg_load(fr_cfg *c, const char *path) {
    char *text;
    size_t len;
    memset(c, 0, sizeof *c);
    if (fr_read_file(path, 64u << 20, &text, &len) != 0) return -1;
    int rc = fr_cfg_parse(c, text, len, path);
    free(text);
    return rc;
}

void fr_cfg_free(fr_cfg *c) {
    if (c->owned) json_decref(c->owned);
    free(c->path);
    memset(c, 0, sizeof *c);
}

static json_t *get(const fr_cfg *c, const char *key) {
    json_t *v = json_object_get(c->root, key);
    return json_is_null(v) ? NULL : v;
}

int fr_cfg_has(const fr_cfg *c, const char *key) { return get(c, key) != NULL; }

int fr_cfg_int(const fr_cfg *c, const char *key, int required, int64_t def, int64_t lo, int64_t hi, int64_t *out) {
    json_t *v = get(c, key);
    if (!v) {
        if (required) return fr_err("%s: missing field '%s'", c->path, key);
        *out = def;
        return 0;
    }
    json_int_t x;
    if (json_is_integer(v)) x = json_integer_value(v);
    else if (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)) && fabs(json_real_value(v)) < 9e15)
        x = (json_int_t)json_real_value(v);
    else return fr_err("%s: field '%s' is not an integer", c->path, key);
    if (x < lo || x > hi)
        return fr_err("%s: field '%s' = %lld is out of range [%lld, %lld]", c->path, key, (long long)x, (long long)lo,
                      (long long)hi);
    *out = x;
    return 0;
}

int fr_cfg_num(const fr_cfg *c, const char *key, int required, double def, double lo, double hi, double *out) {
    json_t *v = get(c, key);
    if (!v) {
        if (required) return fr_err("%s: missing field '%s'", c->path, key);
        *out = def;
        return 0;
    }
    if (!json_is_number(v)) return fr_err("%s: field '%s' is not a number", c->path, key);
    double x = json_number_value(v);
    if (!(x >= lo && x <= hi)) return fr_err("%s: field '%s' = %g is out of range [%g, %g]", c->path, key, x, lo, hi);
    *out = x;
    return 0;
}

int fr_cfg_bool(const fr_cfg *c, const char *key, int required, int def, int *out) {
    json_t *v = get(c, key);
    if (!v) {
        if (required) return fr_err("%s: missing field '%s'", c->path, key);
        *out = def;
        return 0;
    }
    if (!json_is_boolean(v)) return fr_err("%s: field '%s' is not a boolean", c->path, key);
    *out = json_is_true(v);
    return 0;
}

int fr_cfg_str(const fr_cfg *c, const char *key, int required, const char *def, const char **out) {
    json_t *v = get(c, key);
    if (!v) {
        if (required) return fr_err("%s: missing field '%s'", c->path, key);
        *out = def;
        return 0;
    }
    if (!json_is_string(v)) return fr_err("%s: field '%s' is not a string", c->path, key);
    *out = json_string_value(v);
    return 0;
}

int fr_cfg_sub(const fr_cfg *c, const char *key, fr_cfg *sub) {
    json_t *v = get(c, key);
    memset(sub, 0, sizeof *sub);
    if (!v) return 1;
    if (!json_is_object(v)) return fr_err("%s: field '%s' is not an object", c->path, key);
    sub->root = v;
    sub->path = c->path; /* borrowed: never free a sub view */
    return 0;
}

int fr_cfg_int_list(const fr_cfg *c, const char *key, int required, int64_t lo, int64_t hi, int64_t *out, int cap,
                    int *n) {
    json_t *v = get(c, key);
    *n = 0;
    if (!v) return required ? fr_err("%s: missing field '%s'", c->path, key) : 0;
    if (!json_is_array(v)) return fr_err("%s: field '%s' is not a list", c->path, key);
    size_t len = json_array_size(v);
    if (len > (size_t)cap) return fr_err("%s: field '%s' has %zu entries, at most %d are allowed", c->path, key, len, cap);
    for (size_t i = 0; i < len; i++) {
        json_t *e = json_array_get(v, i);
        if (!json_is_integer(e)) return fr_err("%s: field '%s' entry %zu is not an integer", c->path, key, i);
        json_int_t x = json_integer_value(e);
        if (x < lo || x > hi)
            return fr_err("%s: field '%s' entry %zu = %lld is out of range [%lld, %lld]", c->path, key, i,
                          (long long)x, (long long)lo, (long long)hi);
        out[i] = x;
    }
    *n = (int)len;
    return 0;
}
