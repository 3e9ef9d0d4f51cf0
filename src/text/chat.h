/* Chat templates: render a conversation the way transformers'
 * apply_chat_template(messages, tools=..., add_generation_prompt=...,
 * tokenize=False) does, with the model's own Jinja template (text/jinja.h).
 *
 * The template comes from DIR/chat_template.jinja when present (transformers
 * prefers it), else DIR/chat_template.json {"chat_template": "..."}, else
 * tokenizer_config.json "chat_template": a string, or a list
 * of {"name", "template"} (the "tool_use" one when tools are given and it
 * exists, else "default"). Special tokens (bos_token, eos_token, pad_token,
 * unk_token, ... as strings, AddedToken objects reduced to their content, and
 * additional_special_tokens) become template variables.
 *
 * Kimi (tokenizer_class TikTokenTokenizer / tokenization_kimi): tools are
 * key-sorted recursively first, as tokenization_kimi.py does. */
#ifndef FR_CHAT_H
#define FR_CHAT_H

#include <jansson.h>
#include <stddef.h>

typedef struct fr_chat fr_chat;

/* Load the chat template of a model or tokenizer directory, or of a GGUF file
 * (tokenizer.chat_template, named ones tokenizer.chat_template.NAME listed in
 * tokenizer.chat_templates; bos/eos/unk/pad token strings from the vocabulary). */
fr_chat *fr_chat_load(const char *dir);
struct fr_gguf;
fr_chat *fr_chat_load_gguf(const struct fr_gguf *g);
/* From a template string and a tokenizer_config.json object (may be NULL). */
fr_chat *fr_chat_new(const char *tmpl, const json_t *tokenizer_config, const char *label);

/* add_generation_prompt: 1/0, or -1 for the default (false, as transformers).
 * tools may be NULL (the template sees tools = none); extra (may be NULL) is an
 * object of more template variables (e.g. {"thinking": true}).
 * *out is malloc'd, NUL-terminated, *n bytes. */
int fr_chat_render(const fr_chat *c, const json_t *messages, const json_t *tools, int add_generation_prompt,
                   const json_t *extra, char **out, size_t *n);
void fr_chat_free(fr_chat *c);

#endif
