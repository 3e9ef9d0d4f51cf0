/* config.json: typed, range-checked field access with messages naming the field. */
#ifndef FR_HF_CONFIG_H
#define FR_HF_CONFIG_H

#include <stddef.h>
#include <stdint.h>

typedef struct json_t json_t;

typedef struct fr_cfg {
    json_t *root;   /* the object whose fields are read */
    json_t *owned;  /* the parsed document */
    char *path;
} fr_cfg;

int fr_cfg_load(fr_cfg *c, const char *path);
/* Parse from memory (fuzzing, tests). */
int fr_cfg_parse(fr_cfg *c, const char *text, size_t len, const char *path);
void fr_cfg_free(fr_cfg *c);

int fr_cfg_has(const fr_cfg *c, const char *key); /* present and not null */
/* Integer field in [lo, hi]; missing or null: def when !required, else an error. */
int fr_cfg_int(const fr_cfg *c, const char *key, int required, int64_t def, int64_t lo, int64_t hi, int64_t *out);
int fr_cfg_num(const fr_cfg *c, const char *key, int required, double def, double lo, double hi, double *out);
int fr_cfg_bool(const fr_cfg *c, const char *key, int required, int def, int *out);
/* String field; *out points into the document (def when missing and !required). */
int fr_cfg_str(const fr_cfg *c, const char *key, int required, const char *def, const char **out);
/* A nested object as a config view (sharing the document); not found: returns 1. */
int fr_cfg_sub(const fr_cfg *c, const char *key, fr_cfg *sub);
/* A list of integers, each in [lo, hi], at most cap of them; *n = count (0 when
 * missing and !required). */
int fr_cfg_int_list(const fr_cfg *c, const char *key, int required, int64_t lo, int64_t hi, int64_t *out, int cap,
                    int *n);

#endif
