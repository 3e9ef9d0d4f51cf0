/* Chat templates: the model's Jinja chat_template rendered like transformers. */
#include "text/chat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "formats/gguf.h"
#include "text/jinja.h"
#include "text/tok_internal.h"

#define MAX_TEMPLATES 8

struct fr_chat {
    char *names[MAX_TEMPLATES];
    fr_jinja *tpl[MAX_TEMPLATES];
    int ntpl;
    json_t *vars;   /* special-token variables */
    int kimi;       /* sort tools recursively (tokenization_kimi.py) */
};

static char *read_file(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 65536 + 1 > cap) {
            cap = (len + 65536 + 1) * 2;
            char *q = realloc(buf, cap);
            if (!q) { free(buf); fclose(f); return NULL; }
            buf = q;
        }
        size_t r = fread(buf + len, 1, 65536, f);
        len += r;
        if (r < 65536) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) { free(buf); return NULL; }
    buf[len] = 0;
    *n = len;
    return buf;
}

/* "<tok>" or {"content": "<tok>", ...} -> borrowed string or NULL */
static const char *token_text(const json_t *v) {
    if (json_is_string(v)) return json_string_value(v);
    if (json_is_object(v) && json_is_string(json_object_get(v, "content"))) return json_string_value(json_object_get(v, "content"));
    return NULL;
}

static int add_template(fr_chat *c, const char *name, const char *src, size_t n, const char *label) {
    if (c->ntpl == MAX_TEMPLATES) return fr_err("%s: more than %d chat templates", label, MAX_TEMPLATES);
    char where[512];
    snprintf(where, sizeof where, "%s%s%s", label, name[0] ? ":" : "", name);
    fr_jinja *t = fr_jinja_parse(src, n, where);
    if (!t) return -1;
    if (!(c->names[c->ntpl] = strdup(name))) { fr_jinja_free(t); return fr_err("%s: out of memory", label); }
    c->tpl[c->ntpl++] = t;
    return 0;
}

static int set_config(fr_chat *c, const json_t *cfg, const char *label) {
    if (!(c->vars = json_object())) return fr_err("%s: out of memory", label);
    if (!cfg) return 0;
    static const char *const toks[] = {"bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token", NULL};
    for (int i = 0; toks[i]; i++) {
        const char *s = token_text(json_object_get(cfg, toks[i]));
        if (s) json_object_set_new(c->vars, toks[i], json_string(s));
    }
    json_t *add = json_object_get(cfg, "additional_special_tokens");
    if (json_is_array(add)) {
        json_t *list = json_array();
        for (size_t i = 0; i < json_array_size(add); i++) {
            const char *s = token_text(json_array_get(add, i));
            if (s) json_array_append_new(list, json_string(s));
        }
        json_object_set_new(c->vars, "additional_special_tokens", list);
    }
    const char *cls = json_string_value(json_object_get(cfg, "tokenizer_class"));
    char *am = json_dumps(json_object_get(cfg, "auto_map"), JSON_ENCODE_ANY);
    c->kimi = (cls && !strcmp(cls, "TikTokenTokenizer")) || (am && strstr(am, "tokenization_kimi"));
    free(am);
    return 0;
}

static int templates_from_config(fr_chat *c, const json_t *ct, const char *label) {
    if (json_is_string(ct)) return add_template(c, "", json_string_value(ct), json_string_length(ct), label);
    if (json_is_array(ct)) {
        for (size_t i = 0; i < json_array_size(ct); i++) {
            json_t *e = json_array_get(ct, i);
            json_t *nm = json_object_get(e, "name"), *tp = json_object_get(e, "template");
            if (!json_is_string(nm) || !json_is_string(tp))
                return fr_err("%s: chat_template[%zu] needs string \"name\" and \"template\"", label, i);
            if (add_template(c, json_string_value(nm), json_string_value(tp), json_string_length(tp), label)) return -1;
        }
        if (!c->ntpl) return fr_err("%s: chat_template is an empty list", label);
        return 0;
    }
    return fr_err("%s: chat_template must be a string or a list of named templates", label);
}

fr_chat *fr_chat_new(const char *tmpl, const json_t *cfg, const char *label) {
    fr_chat *c = calloc(1, sizeof *c);
    if (!label) label = "chat_template";
    if (!c) { fr_err("%s: out of memory", label); return NULL; }
    if (set_config(c, cfg, label)) goto fail;
    if (tmpl) {
        if (add_template(c, "", tmpl, strlen(tmpl), label)) goto fail;
    } else {
        json_t *ct = cfg ? json_object_get(cfg, "chat_template") : NULL;
        if (!ct) { fr_err("%s: no chat_template", label); goto fail; }
        if (templates_from_config(c, ct, label)) goto fail;
    }
    return c;
fail:
    fr_chat_free(c);
    return NULL;
}

fr_chat *fr_chat_load(const char *dir) {
    if (fr_tok_path_is_gguf(dir)) {
        fr_gguf g;
        if (fr_gguf_open(&g, dir)) return NULL;
        fr_chat *c = fr_chat_load_gguf(&g);
        fr_gguf_close(&g);
        return c;
    }
    char path[4096], jpath[4096];
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    snprintf(jpath, sizeof jpath, "%s/chat_template.jinja", dir);
    json_t *cfg = NULL;
    FILE *probe = fopen(path, "rb");
    if (probe) {
        fclose(probe);
        json_error_t je;
        if (!(cfg = json_load_file(path, JSON_DECODE_INT_AS_REAL, &je))) { /* model_max_length can exceed int64 */
            fr_err("%s: line %d column %d: %s", path, je.line, je.column, je.text);
            return NULL;
        }
    }
    size_t n;
    char *src = read_file(jpath, &n);
    fr_chat *c = NULL;
    if (!src) { /* processors save {"chat_template": "..."} in chat_template.json */
        char cpath[4096];
        snprintf(cpath, sizeof cpath, "%s/chat_template.json", dir);
        json_t *cj = json_load_file(cpath, JSON_DECODE_INT_AS_REAL, NULL);
        json_t *ct = json_object_get(cj, "chat_template");
        if (json_is_string(ct)) {
            src = strdup(json_string_value(ct));
            n = json_string_length(ct);
            snprintf(jpath, sizeof jpath, "%s", cpath);
        }
        json_decref(cj);
    }
    if (src) {
        if (strlen(src) != n) fr_err("%s: NUL byte in template", jpath);
        else c = fr_chat_new(src, cfg, jpath);
        free(src);
    } else if (cfg) {
        if (!json_object_get(cfg, "chat_template")) fr_err("%s: no chat_template (and no %s)", path, jpath);
        else c = fr_chat_new(NULL, cfg, path);
    } else {
        fr_err("%s: neither tokenizer_config.json nor chat_template.jinja found", dir);
    }
    json_decref(cfg);
    return c;
}

void fr_chat_free(fr_chat *c) {
    if (!c) return;
    for (int i = 0; i < c->ntpl; i++) {
        free(c->names[i]);
        fr_jinja_free(c->tpl[i]);
    }
    json_decref(c->vars);
    free(c);
}

/* a copy with every object's keys in sorted order (Kimi's deep_sort_dict) */
static int cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

static json_t *deep_sort(const json_t *v) {
    if (json_is_array(v)) {
        json_t *r = json_array();
        for (size_t i = 0; r && i < json_array_size(v); i++) json_array_append_new(r, deep_sort(json_array_get(v, i)));
        return r;
    }
    if (json_is_object(v)) {
        size_t n = json_object_size(v), k = 0;
        const char **keys = malloc((n + 1) * sizeof *keys);
        json_t *r = json_object();
        if (!keys || !r) { free(keys); json_decref(r); return NULL; }
        const char *key;
        json_t *x;
        json_object_foreach((json_t *)v, key, x) keys[k++] = key;
        qsort(keys, n, sizeof *keys, cmp_str);
        for (size_t i = 0; i < n; i++) json_object_set_new(r, keys[i], deep_sort(json_object_get(v, keys[i])));
        free(keys);
        return r;
    }
    return json_deep_copy(v);
}

int fr_chat_render(const fr_chat *c, const json_t *messages, const json_t *tools, int add_generation_prompt,
                   const json_t *extra, char **out, size_t *n) {
    *out = NULL;
    if (!json_is_array(messages)) return fr_err("chat: \"messages\" must be an array");
    if (tools && json_is_null(tools)) tools = NULL;
    /* pick the template: a single one, or "tool_use" with tools, else "default" */
    const fr_jinja *t = NULL;
    if (c->ntpl == 1) t = c->tpl[0];
    else {
        for (int i = 0; i < c->ntpl && !t; i++)
            if (tools && !strcmp(c->names[i], "tool_use")) t = c->tpl[i];
        for (int i = 0; i < c->ntpl && !t; i++)
            if (!strcmp(c->names[i], "default")) t = c->tpl[i];
        if (!t) return fr_err("chat: the model has named chat templates but none called \"default\"");
    }
    json_t *vars = json_deep_copy(c->vars);
    if (!vars) return fr_err("chat: out of memory");
    if (extra && json_is_object(extra)) json_object_update(vars, (json_t *)extra);
    json_object_set(vars, "messages", (json_t *)messages);
    json_t *tv = tools ? (c->kimi ? deep_sort(tools) : json_incref((json_t *)tools)) : json_null();
    if (!tv) { json_decref(vars); return fr_err("chat: out of memory"); }
    json_object_set_new(vars, "tools", tv);
    json_object_set_new(vars, "documents", json_null());
    int gen = add_generation_prompt > 0; /* -1: transformers' default, false */
    json_object_set_new(vars, "add_generation_prompt", json_boolean(gen));
    int rc = fr_jinja_render(t, vars, out, n);
    json_decref(vars);
    return rc;
}
