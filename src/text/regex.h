/* Pre-tokenizer regexes on PCRE2 (JIT, UTF + UCP), with the semantics of the
 * references' engines (Oniguruma for Hugging Face tokenizers, Rust regex /
 * fancy-regex for tiktoken). The pattern is translated first:
 *   \s, \S          -> Unicode White_Space (U+0085 yes; U+FEFF and U+180E no),
 *                      written out as a class (PCRE2's own \s differs)
 *   \p{Script}      -> \p{sc:Script} (PCRE2's bare name means Script_Extensions)
 *   [A&&[^B]]       -> class intersection (PCRE2 10.42 has none): the
 *                      complement over general categories when A is a union of
 *                      categories, else a lookahead (?:(?![B])[A])
 *   \uXXXX          -> \x{XXXX}
 */
#ifndef FR_TEXT_REGEX_H
#define FR_TEXT_REGEX_H

#include <stddef.h>
#include <stdint.h>

typedef struct fr_re {
    void *code; /* pcre2_code_8 */
} fr_re;

/* Per-call matching state (not shareable between threads). */
typedef struct fr_re_scratch {
    void *md; /* pcre2_match_data_8 */
    void *mc; /* pcre2_match_context_8 */
    void *js; /* pcre2_jit_stack_8 */
} fr_re_scratch;

/* Translate a reference pattern to PCRE2 syntax; *out is malloc'd. `what`
 * names the pattern's origin in error messages. */
int fr_re_translate(const char *pat, size_t len, const char *what, char **out);
/* Translate and compile. */
int fr_re_compile(fr_re *re, const char *pat, size_t len, const char *what);
void fr_re_free(fr_re *re);

int fr_re_scratch_init(fr_re_scratch *s);
void fr_re_scratch_free(fr_re_scratch *s);

/* Find the first match in subj[start..len) (subj is valid UTF-8; the subject
 * is exactly subj[0..len), so lookarounds see its ends). Returns 1 with
 * [*ms, *me), 0 when none, -1 on a matching error (message set). */
int fr_re_find(const fr_re *re, fr_re_scratch *s, const uint8_t *subj, size_t len, size_t start, size_t *ms,
               size_t *me);

#endif
