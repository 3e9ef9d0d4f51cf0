/* Internals shared by the tokenizer files (tokenizer.c, bpe.c, hf_json.c,
 * tiktoken.c). Not part of any API. */
#ifndef FR_TOK_INTERNAL_H
#define FR_TOK_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "text/regex.h"
#include "text/tokenizer.h"

/* bytes -> token id, open addressing over the tokenizer's token bytes */
typedef struct fr_bmap_slot {
    int32_t v;    /* value (id) or -1 when empty */
    uint32_t tag; /* high bits of the key's hash: most misses need no key */
} fr_bmap_slot;

typedef struct fr_bmap {
    fr_bmap_slot *slot;
    uint32_t mask;
} fr_bmap;

/* (left id, right id) -> (merge rank, merged id) */
typedef struct fr_pmap_slot {
    uint64_t key; /* (left << 32 | right) + 1; 0 = empty */
    uint64_t val; /* rank << 32 | merged id */
} fr_pmap_slot;

typedef struct fr_pmap {
    fr_pmap_slot *slot;
    uint32_t mask;
} fr_pmap;

typedef struct fr_added {
    uint32_t off, len; /* content in t->added_bytes */
    int32_t id;
    uint8_t special, normalized;
} fr_added;

enum { FR_SPLIT_ISOLATED, FR_SPLIT_REMOVED, FR_SPLIT_MERGED_PREV, FR_SPLIT_MERGED_NEXT, FR_SPLIT_CONTIGUOUS };

typedef struct fr_stage {
    fr_re re;
    int behavior;         /* FR_SPLIT_* */
    int invert;           /* the matches are the gaps */
    int add_prefix_space; /* ByteLevel(add_prefix_space): prepend ' ' to pieces not starting with one */
} fr_stage;

#define FR_MAX_STAGES 8

struct fr_tokenizer {
    int kind;
    int n_vocab;
    uint8_t *flags;   /* [n_vocab] FR_TOKF_* */
    uint32_t *off;    /* [n_vocab] token i's bytes are bytes[off[i] .. off[i] + len[i]) */
    uint32_t *len;    /* [n_vocab] */
    uint8_t *bytes;
    size_t nbytes, capbytes;
    fr_bmap vocab;    /* base vocabulary (tiktoken: the ranks) bytes -> id */
    int32_t byte_id[256]; /* initial symbol of each byte; -1 = not in the vocabulary */
    /* HF BPE */
    fr_pmap merges;
    int ignore_merges;
    /* added tokens: contents with a filter on the first byte and the lengths */
    fr_added *added;
    int n_added;
    uint8_t *added_bytes;
    uint8_t first_byte[256];
    uint32_t *lens; /* distinct content lengths, descending */
    int n_lens;
    fr_bmap added_map; /* content -> index into added[] (not an id) */
    /* pre-tokenizer */
    fr_stage stages[FR_MAX_STAGES];
    int n_stages;
    int bos, eos, add_bos;
};

/* ---- bpe.c ---- */
uint64_t fr_hash_bytes(const uint8_t *p, size_t n);
/* key bytes of entry v in a bytes map */
typedef const uint8_t *(*fr_bmap_key)(const void *ctx, int32_t v, size_t *n);
int fr_bmap_init(fr_bmap *m, size_t n_entries);
void fr_bmap_free(fr_bmap *m);
/* Insert v under its key; returns the existing value instead when the key is
 * present (keeps the first), else -1. */
int32_t fr_bmap_put(fr_bmap *m, fr_bmap_key key, const void *ctx, int32_t v);
int32_t fr_bmap_get(const fr_bmap *m, fr_bmap_key key, const void *ctx, const uint8_t *p, size_t n);
/* key accessor for a tokenizer's token bytes */
const uint8_t *fr_tok_key(const void *tok, int32_t id, size_t *n);
/* key accessor for added-token contents (value = index into added[]) */
const uint8_t *fr_added_key(const void *tok, int32_t idx, size_t *n);

int fr_pmap_init(fr_pmap *m, size_t n_entries);
void fr_pmap_free(fr_pmap *m);
void fr_pmap_put(fr_pmap *m, int32_t a, int32_t b, uint32_t rank, int32_t merged); /* later puts replace */
/* 1 with *rank, *merged when (a, b) is a merge */
int fr_pmap_get(const fr_pmap *m, int32_t a, int32_t b, uint32_t *rank, int32_t *merged);

/* growable id vector */
typedef struct fr_ids {
    int32_t *v;
    size_t n, cap;
} fr_ids;
int fr_ids_push(fr_ids *x, int32_t id);

/* BPE scratch, reused across pieces of one encode call */
typedef struct fr_bpe_scratch {
    void *sym, *heap;
    size_t cap_sym, cap_heap;
} fr_bpe_scratch;
void fr_bpe_scratch_free(fr_bpe_scratch *s);

/* BPE-encode one pre-tokenized piece (raw bytes) and append the ids. HF: merges
 * by merge rank (t->merges); tiktoken: by the rank of the concatenated bytes. */
int fr_bpe_piece(const fr_tokenizer *t, fr_bpe_scratch *s, const uint8_t *p, size_t n, fr_ids *out);

/* ---- loaders ---- */
int fr_hf_load(fr_tokenizer *t, const char *dir);
int fr_tiktoken_load(fr_tokenizer *t, const char *dir);
/* tokenizer.ggml.* of a parsed GGUF file (gguf_vocab.c) */
struct fr_gguf;
int fr_gguf_tok_load(fr_tokenizer *t, const struct fr_gguf *g);
/* 1 when path is a regular file starting with the GGUF magic */
int fr_tok_path_is_gguf(const char *path);
/* Kimi's pre-tokenizer pattern (tiktoken.c) */
extern const char fr_kimi_pat[];

/* GPT-2 byte-level map: byte -> code point, and code point -> byte (-1 if none) */
uint32_t fr_byte_to_cp(uint8_t b);
int fr_cp_to_byte(uint32_t cp);
/* Bytes of an HF token string as the ByteLevel decoder gives them: each char
 * through the inverse byte map when all are in it, else the raw UTF-8. Writes
 * at most n bytes to out; returns the byte count. */
size_t fr_bytelevel_decode(const char *s, size_t n, uint8_t *out);

/* Allocate the per-id tables for n_vocab ids (all empty). */
int fr_tok_alloc_ids(fr_tokenizer *t, int n_vocab);
/* Set the bytes of token id (appended to t->bytes) and its flags. */
int fr_tok_set(fr_tokenizer *t, int32_t id, const uint8_t *p, size_t n, int flags);
/* Install the added tokens (contents already in t->added / added_bytes):
 * flags, bytes for ids without base bytes, the matching filter. */
int fr_tok_finish_added(fr_tokenizer *t, const char *what);

#endif
