#include "formats/hf_dir.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/err.h"
#include "formats/safetensors.h"

typedef struct hf_files {
    int n;
    fr_st_file *f;
    char *source;
} hf_files;

static void release_files(void *p) {
    hf_files *h = p;
    for (int i = 0; i < h->n; i++) fr_st_close(&h->f[i]);
    free(h->f);
    free(h->source);
    free(h);
}

static int file_exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

static int add_file(hf_files *h, fr_weights *w, const char *path, int in_memory) {
    fr_st_file *f = &h->f[h->n];
    if (fr_st_open_mode(f, path, in_memory) != 0) return -1;
    h->n++;
    for (int i = 0; i < f->h.n; i++) {
        fr_tensor t;
        fr_st_view(f, i, &t);
        if (fr_weights_add(w, &t) != 0) return -1;
    }
    return 0;
}

int fr_hf_open_weights(const char *dir, fr_weights *w, int in_memory) {
    char path[4096];
    hf_files *h = calloc(1, sizeof *h);
    if (!h) return fr_err("out of memory");
    h->source = strdup(dir);
    fr_weights_init(w, h->source);
    w->release = release_files;
    w->owner = h;

    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    if (!file_exists(path)) {
        snprintf(path, sizeof path, "%s/model.safetensors", dir);
        if (!file_exists(path))
            return fr_err("%s: no model.safetensors or model.safetensors.index.json", dir);
        h->f = calloc(1, sizeof *h->f);
        if (!h->f) return fr_err("out of memory");
        return add_file(h, w, path, in_memory);
    }

    json_error_t je;
    json_t *idx = json_load_file(path, 0, &je);
    if (!idx) return fr_err("%s: invalid JSON at line %d, column %d: %s", path, je.line, je.column, je.text);
    json_t *map = json_object_get(idx, "weight_map");
    if (!json_is_object(map)) {
        json_decref(idx);
        return fr_err("%s: missing object 'weight_map'", path);
    }
    /* distinct shard names, in order of first appearance */
    size_t nmap = json_object_size(map);
    const char **names = calloc(nmap ? nmap : 1, sizeof *names);
    int nnames = 0, rc = 0;
    const char *key;
    json_t *v;
    json_object_foreach(map, key, v) {
        if (!json_is_string(v) || strchr(json_string_value(v), '/')) {
            rc = fr_err("%s: weight_map['%s'] is not a plain file name", path, key);
            break;
        }
        int seen = 0;
        for (int i = 0; i < nnames && !seen; i++) seen = strcmp(names[i], json_string_value(v)) == 0;
        if (!seen) names[nnames++] = json_string_value(v);
    }
    if (rc == 0) {
        h->f = calloc((size_t)(nnames ? nnames : 1), sizeof *h->f);
        for (int i = 0; i < nnames && rc == 0; i++) {
            char sp[4096];
            snprintf(sp, sizeof sp, "%s/%s", dir, names[i]);
            if (!file_exists(sp)) rc = fr_err("%s: missing shard '%s' (listed in %s)", dir, names[i], path);
            else rc = add_file(h, w, sp, in_memory);
        }
    }
    /* every indexed tensor must be where the index says */
    if (rc == 0) {
        json_object_foreach(map, key, v) {
            if (!fr_weights_find(w, key)) {
                rc = fr_err("%s: tensor '%s' is listed in the index (shard '%s') but not found in it", dir, key,
                            json_string_value(v));
                break;
            }
        }
    }
    free(names);
    json_decref(idx);
    return rc;
}
