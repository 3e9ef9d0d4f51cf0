/* A Jinja2 interpreter for chat templates (the subset Hugging Face chat
 * templates use), with the environment transformers renders them in:
 * trim_blocks, lstrip_blocks, loop controls (break/continue), tojson with
 * ensure_ascii=False and ", " / ": " separators, raise_exception, strftime_now.
 *
 * Values are jansson json_t (string, integer, real, true/false, null, array,
 * object); Jinja's Undefined is a NULL json_t pointer inside the evaluator.
 *
 *   fr_jinja *t = fr_jinja_parse(src, len, "chat_template");
 *   char *out; size_t n;
 *   if (t && fr_jinja_render(t, vars, &out, &n) == 0) { ...; free(out); }
 *   fr_jinja_free(t);
 *
 * Errors (syntax, unknown filter/test/tag, runtime type errors, undefined
 * access, raise_exception) return NULL / -1 with fr_err set to
 * "<name>:<line>:<col>: <message>".
 */
#ifndef FR_JINJA_H
#define FR_JINJA_H

#include <jansson.h>
#include <stddef.h>

typedef struct fr_jinja fr_jinja;

/* Compile a template (src need not be NUL-terminated). name labels errors. */
fr_jinja *fr_jinja_parse(const char *src, size_t n, const char *name);
/* Render with vars (a JSON object of top-level variables; may be NULL).
 * *out is a malloc'd NUL-terminated string of *out_len bytes. */
int fr_jinja_render(const fr_jinja *t, json_t *vars, char **out, size_t *out_len);
void fr_jinja_free(fr_jinja *t);

/* Python json.dumps(x, ensure_ascii, indent, separators, sort_keys) of a value,
 * appended into a malloc'd string. indent < 0 means None. item_sep / key_sep
 * NULL mean Python's defaults for the indent. Returns NULL on error (fr_err). */
char *fr_jinja_tojson(const json_t *v, int ensure_ascii, int indent, const char *item_sep,
                      const char *key_sep, int sort_keys);

#endif
