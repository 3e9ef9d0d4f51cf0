/* Tokenizers: text bytes <-> token ids, exactly as the models' reference
 * tokenizers do it.
 *
 * Two kinds, found automatically in a directory:
 *   - Hugging Face tokenizer.json with a byte-level BPE model (DeepSeek-V3/R1/V3.x,
 *     and byte-level BPE tokenizers in general): added tokens matched first
 *     (leftmost-longest), then the pre-tokenizer (Split regexes, Digits,
 *     ByteLevel), then BPE by merge rank. tokenizer_config.json gives
 *     add_bos_token and the bos/eos token strings.
 *   - tiktoken.model (Kimi: Moonlight, K2, Kimi Linear): "<base64 bytes> <rank>"
 *     per line, Kimi's pre-tokenizer regex (pattern.txt when present, else the
 *     built-in pattern of tokenization_kimi.py), 256 special tokens after the
 *     ranks named by tokenizer_config.json's added_tokens_decoder.
 *
 * Regexes run through PCRE2 (JIT, UTF + UCP) after a translation that gives the
 * references' semantics (\s = Unicode White_Space, \p{Han} = Script=Han, class
 * intersection). Encoding is thread-safe (no shared mutable state); a loaded
 * tokenizer is read-only.
 *
 * Invalid UTF-8 input is first replaced U+FFFD per maximal subpart (the texts
 * the references accept are always valid Unicode strings).
 */
#ifndef FR_TOKENIZER_H
#define FR_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

typedef struct fr_tokenizer fr_tokenizer;

enum fr_tok_kind { FR_TOK_HF_BPE = 1, FR_TOK_TIKTOKEN = 2 };

/* token flags */
enum {
    FR_TOKF_EXISTS = 1,  /* the id names a token */
    FR_TOKF_ADDED = 2,   /* added token (matched in raw text before the pre-tokenizer) */
    FR_TOKF_SPECIAL = 4, /* "special": dropped by skip_special, text under split_special */
};

/* Load from dir: tokenizer.json (HF) or tiktoken.model (Kimi); or, when the
 * path is a GGUF file, from its tokenizer.ggml.* keys (text/gguf_vocab.c). */
int fr_tokenizer_load(const char *dir, fr_tokenizer **out);
/* From an already parsed GGUF file (e.g. fr_gguf_of_weights()); the tokenizer
 * copies what it needs. */
struct fr_gguf;
int fr_tokenizer_load_gguf(const struct fr_gguf *g, fr_tokenizer **out);
void fr_tokenizer_free(fr_tokenizer *t);

int fr_tok_kind(const fr_tokenizer *t);
/* ids are in [0, n_vocab) (not every id need name a token) */
int fr_tok_n_vocab(const fr_tokenizer *t);
/* -1 when the tokenizer has none */
int fr_tok_bos(const fr_tokenizer *t);
int fr_tok_eos(const fr_tokenizer *t);
/* Whether the model's config asks for BOS by default (DeepSeek: true; Kimi: false). */
int fr_tok_add_bos_default(const fr_tokenizer *t);
/* id of an added/special token given its exact text, or -1 */
int fr_tok_special_id(const fr_tokenizer *t, const char *text);
/* FR_TOKF_* of an id (0 for an id outside the vocabulary) */
int fr_tok_flags(const fr_tokenizer *t, int id);
/* The bytes of one token (added tokens: their content). NULL, *len = 0 for an
 * id that names no token. Not NUL-terminated. */
const uint8_t *fr_tok_bytes(const fr_tokenizer *t, int id, size_t *len);

/* Encode len bytes of text. add_bos: prepend BOS (when the tokenizer has one).
 * split_special: treat special tokens as text the way the references do
 * (HF: split_special_tokens=True, only tokens flagged special; tiktoken:
 * allow_special_tokens=False, every special string). *ids is malloc'd. */
int fr_tokenize(const fr_tokenizer *t, const char *text, size_t len, int add_bos, int split_special,
                int32_t **ids, size_t *n);

/* Concatenated bytes of the tokens (not yet UTF-8-checked); ids that name no
 * token are skipped; skip_special drops tokens flagged special. *out is
 * malloc'd (NUL-terminated for convenience, *len excludes it). */
int fr_detokenize_bytes(const fr_tokenizer *t, const int32_t *ids, size_t n, int skip_special, char **out,
                        size_t *len);
/* fr_detokenize_bytes then lossy UTF-8 (one U+FFFD per maximal invalid subpart). */
int fr_detokenize(const fr_tokenizer *t, const int32_t *ids, size_t n, int skip_special, char **out,
                  size_t *len);

/* ---- UTF-8 (src/text/utf8.c) ---- */

/* Streaming lossy decoder: feed bytes (e.g. one token's bytes at a time); it
 * writes only complete characters (or U+FFFD for invalid sequences), holding
 * back a partial character until the bytes that complete it arrive. */
typedef struct fr_utf8_stream {
    uint8_t pend[4];
    int npend, need;
    uint8_t lo, hi; /* allowed range of the next continuation byte */
} fr_utf8_stream;

void fr_utf8_stream_init(fr_utf8_stream *s);
/* Decode n bytes into out (capacity >= 3 * (n + 4) always suffices); returns
 * the number of bytes written. */
size_t fr_utf8_stream_push(fr_utf8_stream *s, const void *in, size_t n, char *out);
/* End of input: a held-back partial character becomes U+FFFD. Returns bytes
 * written (0 or 3). */
size_t fr_utf8_stream_finish(fr_utf8_stream *s, char *out);

/* Lossy UTF-8 of n bytes into a malloc'd NUL-terminated buffer. */
int fr_utf8_lossy(const void *in, size_t n, char **out, size_t *len);
/* 1 when the n bytes are valid UTF-8 */
int fr_utf8_valid(const void *in, size_t n);
/* Decode one code point of valid UTF-8 at s; returns its byte length. */
int fr_utf8_next(const uint8_t *s, uint32_t *cp);
/* Python str.isspace() (Unicode 14) */
int fr_py_isspace(uint32_t cp);

#endif
