/* Tokenizer: loading dispatch, added/special token matching, the encode
 * pipelines of the two kinds, decoding. */
#include "text/tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/err.h"
#include "formats/gguf.h"
#include "text/tok_internal.h"

/* ---- GPT-2 byte-level map ----
 * Printable bytes ('!'..'~', 0xA1..0xAC, 0xAE..0xFF) map to themselves; the
 * other 68 bytes, in increasing order, to U+0100.. U+0143. */
uint32_t fr_byte_to_cp(uint8_t b) {
    if (b <= 0x20) return 256u + b;
    if (b >= 0x7F && b <= 0xA0) return 256u + 33u + (b - 0x7Fu);
    if (b == 0xAD) return 256u + 33u + 34u;
    return b;
}

int fr_cp_to_byte(uint32_t cp) {
    if (cp < 256) {
        if (cp <= 0x20 || (cp >= 0x7F && cp <= 0xA0) || cp == 0xAD) return -1;
        return (int)cp;
    }
    if (cp < 256 + 33) return (int)(cp - 256);
    if (cp < 256 + 33 + 34) return (int)(cp - 256 - 33 + 0x7F);
    if (cp == 256 + 33 + 34) return 0xAD;
    return -1;
}

size_t fr_bytelevel_decode(const char *s, size_t n, uint8_t *out) {
    const uint8_t *p = (const uint8_t *)s;
    size_t o = 0;
    if (!fr_utf8_valid(s, n)) goto raw;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        i += (size_t)fr_utf8_next(p + i, &cp);
        int b = fr_cp_to_byte(cp);
        if (b < 0) goto raw;
        out[o++] = (uint8_t)b;
    }
    return o;
raw:
    memcpy(out, s, n);
    return n;
}

/* ---- per-id tables ---- */

int fr_tok_alloc_ids(fr_tokenizer *t, int n_vocab) {
    t->n_vocab = n_vocab;
    t->flags = calloc((size_t)n_vocab, 1);
    t->off = calloc((size_t)n_vocab, sizeof *t->off);
    t->len = calloc((size_t)n_vocab, sizeof *t->len);
    if (!t->flags || !t->off || !t->len) return fr_err("out of memory");
    return 0;
}

int fr_tok_set(fr_tokenizer *t, int32_t id, const uint8_t *p, size_t n, int flags) {
    if (t->nbytes + n > UINT32_MAX) return fr_err("token bytes exceed 4 GiB");
    if (t->nbytes + n > t->capbytes) {
        size_t cap = t->capbytes ? t->capbytes : 1 << 20;
        while (cap < t->nbytes + n) cap *= 2;
        uint8_t *nb = realloc(t->bytes, cap);
        if (!nb) return fr_err("out of memory");
        t->bytes = nb;
        t->capbytes = cap;
    }
    if (n) memcpy(t->bytes + t->nbytes, p, n);
    t->off[id] = (uint32_t)t->nbytes;
    t->len[id] = (uint32_t)n;
    t->nbytes += n;
    t->flags[id] |= (uint8_t)(flags | FR_TOKF_EXISTS);
    return 0;
}

static int cmp_desc_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

int fr_tok_finish_added(fr_tokenizer *t, const char *what) {
    if (fr_bmap_init(&t->added_map, (size_t)t->n_added + 1)) return -1;
    t->lens = malloc(((size_t)t->n_added + 1) * sizeof *t->lens);
    if (!t->lens) return fr_err("out of memory");
    t->n_lens = 0;
    for (int k = 0; k < t->n_added; k++) {
        const fr_added *a = &t->added[k];
        if (a->id < 0 || a->id >= t->n_vocab) return fr_err("%s: added token id %d out of range", what, a->id);
        if (a->len == 0) return fr_err("%s: added token %d is empty", what, a->id);
        int32_t prev = fr_bmap_put(&t->added_map, fr_added_key, t, k);
        if (prev >= 0) continue; /* the same content twice: the first wins */
        int fl = FR_TOKF_ADDED | (a->special ? FR_TOKF_SPECIAL : 0);
        if (!(t->flags[a->id] & FR_TOKF_EXISTS)) {
            /* decodes to its content (HF: through the ByteLevel decoder) */
            const uint8_t *c = t->added_bytes + a->off;
            uint8_t *tmp = malloc(a->len);
            if (!tmp) return fr_err("out of memory");
            size_t n = a->len;
            if (t->kind == FR_TOK_HF_BPE) n = fr_bytelevel_decode((const char *)c, a->len, tmp);
            else memcpy(tmp, c, n);
            int rc = fr_tok_set(t, a->id, tmp, n, fl);
            free(tmp);
            if (rc) return -1;
        } else {
            /* also in the base vocabulary (DeepSeek's ids 0-2): same bytes */
            t->flags[a->id] |= (uint8_t)fl;
        }
        t->first_byte[t->added_bytes[a->off]] |= (uint8_t)(1u << (a->normalized ? 1 : 0));
        int seen = 0;
        for (int j = 0; j < t->n_lens; j++) seen |= t->lens[j] == a->len;
        if (!seen) t->lens[t->n_lens++] = a->len;
    }
    qsort(t->lens, (size_t)t->n_lens, sizeof *t->lens, cmp_desc_u32);
    return 0;
}

/* ---- added / special tokens in raw text ----
 * Leftmost, then longest (Aho-Corasick LeftmostLongest in HF; tiktoken's
 * special-token regex, whose tokens are not prefixes of one another).
 * want: -1 any token; 0 / 1 only tokens with normalized == want. */
static int find_added(const fr_tokenizer *t, const uint8_t *p, size_t n, size_t from, int want, size_t *ms,
                      size_t *me, int *idx) {
    uint8_t bit = want < 0 ? 3 : (uint8_t)(1u << want);
    for (size_t i = from; i < n; i++) {
        if (!(t->first_byte[p[i]] & bit)) continue;
        for (int k = 0; k < t->n_lens; k++) {
            size_t L = t->lens[k];
            if (L > n - i) continue;
            int32_t a = fr_bmap_get(&t->added_map, fr_added_key, t, p + i, L);
            if (a < 0 || (want >= 0 && t->added[a].normalized != want)) continue;
            *ms = i;
            *me = i + L;
            *idx = a;
            return 1;
        }
    }
    return 0;
}

int fr_tok_special_id(const fr_tokenizer *t, const char *text) {
    if (!t->added_map.slot) return -1;
    int32_t a = fr_bmap_get(&t->added_map, fr_added_key, t, (const uint8_t *)text, strlen(text));
    return a < 0 ? -1 : t->added[a].id;
}

/* ---- encoding ---- */

typedef struct piece {
    size_t s, e;
    int match;
} piece;

/* A per-call cache of short pieces' ids (documents repeat their words):
 * direct-mapped, keys and ids in pools that are dropped when full. */
#define PC_SLOTS 8192
#define PC_MAXLEN 32
#define PC_POOL (1u << 16) /* bytes of keys, and ids */

typedef struct pc_slot {
    uint64_t h;
    uint32_t koff, ioff;
    uint16_t klen, nids;
} pc_slot;

typedef struct enc {
    const fr_tokenizer *t;
    fr_re_scratch rs;
    fr_bpe_scratch bs;
    fr_ids out;
    piece *pc[FR_MAX_STAGES];
    size_t cap[FR_MAX_STAGES];
    int use_cache;
    pc_slot *slots;
    uint8_t *keys; /* [PC_POOL] */
    int32_t *ids;  /* [PC_POOL] */
    uint32_t nkeys, nids;
} enc;

static int emit_piece(enc *e, const uint8_t *p, size_t n) {
    if (!e->use_cache || n > PC_MAXLEN || n < 2) return fr_bpe_piece(e->t, &e->bs, p, n, &e->out);
    if (!e->slots) {
        e->slots = calloc(PC_SLOTS, sizeof *e->slots);
        e->keys = malloc(PC_POOL);
        e->ids = malloc(PC_POOL * sizeof *e->ids);
        if (!e->slots || !e->keys || !e->ids) return fr_err("out of memory");
    }
    uint64_t h = fr_hash_bytes(p, n);
    pc_slot *sl = &e->slots[h & (PC_SLOTS - 1)];
    if (sl->h == h && sl->klen == n && !memcmp(e->keys + sl->koff, p, n)) {
        for (uint32_t k = 0; k < sl->nids; k++)
            if (fr_ids_push(&e->out, e->ids[sl->ioff + k])) return -1;
        return 0;
    }
    size_t before = e->out.n;
    if (fr_bpe_piece(e->t, &e->bs, p, n, &e->out)) return -1;
    size_t m = e->out.n - before; /* <= n <= PC_MAXLEN */
    if (e->nkeys + n > PC_POOL || e->nids + m > PC_POOL) {
        memset(e->slots, 0, PC_SLOTS * sizeof *e->slots);
        e->nkeys = e->nids = 0;
    }
    memcpy(e->keys + e->nkeys, p, n);
    memcpy(e->ids + e->nids, e->out.v + before, m * sizeof *e->ids);
    *sl = (pc_slot){h, e->nkeys, e->nids, (uint16_t)n, (uint16_t)m};
    e->nkeys += (uint32_t)n;
    e->nids += (uint32_t)m;
    return 0;
}

static int pc_push(enc *e, int k, size_t *n, size_t s, size_t end, int match) {
    if (*n == e->cap[k]) {
        size_t cap = e->cap[k] ? 2 * e->cap[k] : 64;
        piece *np = realloc(e->pc[k], cap * sizeof *np);
        if (!np) return fr_err("out of memory");
        e->pc[k] = np;
        e->cap[k] = cap;
    }
    e->pc[k][(*n)++] = (piece){s, end, match};
    return 0;
}

static int hf_stage(enc *e, const uint8_t *p, size_t n, int k);

/* Stage k's split of p[0..n) (after any prefix space), then the next stages. */
static int hf_split(enc *e, const uint8_t *p, size_t n, int k) {
    const fr_stage *st = &e->t->stages[k];
    if (!st->re.code) return hf_stage(e, p, n, k + 1);
    /* matches and gaps, covering p */
    size_t np = 0, pos = 0;
    for (size_t from = 0;;) {
        size_t ms, me;
        int f = fr_re_find(&st->re, &e->rs, p, n, from, &ms, &me);
        if (f < 0) return -1;
        if (!f) break;
        if (me == ms) { /* an empty match splits nothing; step one character */
            from = me + 1;
            while (from < n && (p[from] & 0xC0) == 0x80) from++;
            if (from >= n) break;
            continue;
        }
        if (ms > pos && pc_push(e, k, &np, pos, ms, st->invert)) return -1;
        if (pc_push(e, k, &np, ms, me, !st->invert)) return -1;
        pos = from = me;
    }
    if (pos < n && pc_push(e, k, &np, pos, n, st->invert)) return -1;
    /* the split behavior */
    piece *v = e->pc[k];
    size_t m = 0;
    int prev_match = 0;
    switch (st->behavior) {
    case FR_SPLIT_ISOLATED: m = np; break;
    case FR_SPLIT_REMOVED:
        for (size_t i = 0; i < np; i++)
            if (!v[i].match) v[m++] = v[i];
        break;
    case FR_SPLIT_MERGED_PREV:
        for (size_t i = 0; i < np; i++) {
            if (v[i].match && !prev_match && m) v[m - 1].e = v[i].e;
            else v[m++] = v[i];
            prev_match = v[i].match;
        }
        break;
    case FR_SPLIT_MERGED_NEXT: /* right to left, then the list is in reverse */
        for (size_t i = np; i-- > 0;) {
            piece c = v[i];
            if (c.match && !prev_match && m) v[np - m].s = c.s;
            else { v[np - 1 - m] = c; m++; }
            prev_match = c.match;
        }
        memmove(v, v + np - m, m * sizeof *v);
        break;
    case FR_SPLIT_CONTIGUOUS:
        for (size_t i = 0; i < np; i++) {
            if (m && v[i].match == prev_match) v[m - 1].e = v[i].e;
            else v[m++] = v[i];
            prev_match = v[i].match;
        }
        break;
    }
    for (size_t i = 0; i < m; i++) { /* deeper stages use their own lists */
        piece c = e->pc[k][i];
        if (hf_stage(e, p + c.s, c.e - c.s, k + 1)) return -1;
    }
    return 0;
}

/* HF pre-tokenizer stage k on the piece p[0..n), then BPE. */
static int hf_stage(enc *e, const uint8_t *p, size_t n, int k) {
    const fr_tokenizer *t = e->t;
    if (n == 0) return 0;
    if (k == t->n_stages) return emit_piece(e, p, n);
    if (t->stages[k].add_prefix_space && p[0] != ' ') {
        uint8_t *q = malloc(n + 1);
        if (!q) return fr_err("out of memory");
        q[0] = ' ';
        memcpy(q + 1, p, n);
        int rc = hf_split(e, q, n + 1, k);
        free(q);
        return rc;
    }
    return hf_split(e, p, n, k);
}

/* HF: non-normalized added tokens first, then the normalized ones in the
 * gaps (no normalizer is supported, so normalizing is the identity), then
 * the pre-tokenizer. Under split_special a special token's match is skipped
 * (its text stays in the gap) and the search continues after it. */
static int hf_added(enc *e, const uint8_t *p, size_t n, int pass, int split_special) {
    const fr_tokenizer *t = e->t;
    if (pass == 2) return hf_stage(e, p, n, 0);
    size_t pos = 0, from = 0, ms, me;
    int idx;
    while (find_added(t, p, n, from, pass, &ms, &me, &idx)) {
        from = me;
        if (split_special && t->added[idx].special) continue;
        if (hf_added(e, p + pos, ms - pos, pass + 1, split_special)) return -1;
        if (fr_ids_push(&e->out, t->added[idx].id)) return -1;
        pos = me;
    }
    return hf_added(e, p + pos, n - pos, pass + 1, split_special);
}

/* tiktoken on one substring: special tokens (unless split_special), the
 * regex matches between them (gaps are dropped, as tiktoken's find_iter
 * does), each match one token if it is one, else BPE. */
static int tk_substr(enc *e, const uint8_t *p, size_t n, int split_special) {
    const fr_tokenizer *t = e->t;
    size_t pos = 0;
    for (;;) {
        size_t ss = n, se = n;
        int idx = -1;
        if (!split_special && !find_added(t, p, n, pos, -1, &ss, &se, &idx)) ss = se = n;
        size_t len = ss - pos;
        const uint8_t *q = p + pos;
        for (size_t from = 0;;) {
            size_t ms, me;
            int f = fr_re_find(&t->stages[0].re, &e->rs, q, len, from, &ms, &me);
            if (f < 0) return -1;
            if (!f) break;
            if (me == ms) {
                from = me + 1;
                while (from < len && (q[from] & 0xC0) == 0x80) from++;
                if (from >= len) break;
                continue;
            }
            if (emit_piece(e, q + ms, me - ms)) return -1;
            from = me;
        }
        if (idx < 0) return 0;
        if (fr_ids_push(&e->out, t->added[idx].id)) return -1;
        pos = se;
    }
}

/* Kimi's wrapper: 400,000-character chunks, each cut so that no piece holds
 * more than 25,000 consecutive whitespace (str.isspace) or non-whitespace
 * characters; every piece is encoded on its own. */
#define TK_MAX_CHARS 400000
#define TK_MAX_RUN 25000

static int tk_encode(enc *e, const uint8_t *p, size_t n, int split_special) {
    size_t i = 0;
    while (i < n) {
        /* one chunk of at most TK_MAX_CHARS code points: [i, cend) */
        size_t slice = i, run = 0;
        int run_space = 0;
        size_t chars = 0, j = i;
        for (; j < n && chars < TK_MAX_CHARS; chars++) {
            uint32_t cp;
            int l = fr_utf8_next(p + j, &cp);
            int sp = fr_py_isspace(cp);
            if (chars == 0) { run_space = sp; run = 1; }
            else if (sp != run_space) { run_space = sp; run = 1; }
            else if (++run > TK_MAX_RUN) {
                if (tk_substr(e, p + slice, j - slice, split_special)) return -1;
                slice = j;
                run = 1;
            }
            j += (size_t)l;
        }
        if (tk_substr(e, p + slice, j - slice, split_special)) return -1;
        i = j;
    }
    return 0;
}

int fr_tokenize(const fr_tokenizer *t, const char *text, size_t len, int add_bos, int split_special,
                int32_t **ids, size_t *n) {
    *ids = NULL;
    *n = 0;
    char *fixed = NULL;
    if (!fr_utf8_valid(text, len)) {
        if (fr_utf8_lossy(text, len, &fixed, &len)) return -1;
        text = fixed;
    }
    enc e;
    memset(&e, 0, sizeof e);
    e.t = t;
    e.use_cache = len >= 4096;
    int rc = fr_re_scratch_init(&e.rs);
    if (!rc && add_bos && t->bos >= 0) rc = fr_ids_push(&e.out, t->bos);
    if (!rc) {
        if (t->kind == FR_TOK_TIKTOKEN) rc = tk_encode(&e, (const uint8_t *)text, len, split_special);
        else rc = hf_added(&e, (const uint8_t *)text, len, 0, split_special);
    }
    fr_re_scratch_free(&e.rs);
    fr_bpe_scratch_free(&e.bs);
    for (int k = 0; k < FR_MAX_STAGES; k++) free(e.pc[k]);
    free(e.slots);
    free(e.keys);
    free(e.ids);
    free(fixed);
    if (rc) {
        free(e.out.v);
        return -1;
    }
    if (!e.out.v) { /* empty result: still a valid pointer */
        e.out.v = malloc(sizeof *e.out.v);
        if (!e.out.v) return fr_err("out of memory");
    }
    *ids = e.out.v;
    *n = e.out.n;
    return 0;
}

/* ---- decoding ---- */

int fr_detokenize_bytes(const fr_tokenizer *t, const int32_t *ids, size_t n, int skip_special, char **out,
                        size_t *len) {
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        int f = fr_tok_flags(t, ids[i]);
        if ((f & FR_TOKF_EXISTS) && !(skip_special && (f & FR_TOKF_SPECIAL))) total += t->len[ids[i]];
    }
    char *b = malloc(total + 1);
    if (!b) return fr_err("out of memory");
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int f = fr_tok_flags(t, ids[i]);
        if (!(f & FR_TOKF_EXISTS) || (skip_special && (f & FR_TOKF_SPECIAL))) continue;
        memcpy(b + o, t->bytes + t->off[ids[i]], t->len[ids[i]]);
        o += t->len[ids[i]];
    }
    b[o] = 0;
    *out = b;
    *len = o;
    return 0;
}

int fr_detokenize(const fr_tokenizer *t, const int32_t *ids, size_t n, int skip_special, char **out, size_t *len) {
    char *raw;
    size_t rn;
    if (fr_detokenize_bytes(t, ids, n, skip_special, &raw, &rn)) return -1;
    int rc = fr_utf8_lossy(raw, rn, out, len);
    free(raw);
    return rc;
}

/* ---- accessors, load, free ---- */

int fr_tok_kind(const fr_tokenizer *t) { return t->kind; }
int fr_tok_n_vocab(const fr_tokenizer *t) { return t->n_vocab; }
int fr_tok_bos(const fr_tokenizer *t) { return t->bos; }
int fr_tok_eos(const fr_tokenizer *t) { return t->eos; }
int fr_tok_add_bos_default(const fr_tokenizer *t) { return t->add_bos; }

int fr_tok_flags(const fr_tokenizer *t, int id) {
    if (id < 0 || id >= t->n_vocab) return 0;
    return t->flags[id];
}

const uint8_t *fr_tok_bytes(const fr_tokenizer *t, int id, size_t *len) {
    if (!(fr_tok_flags(t, id) & FR_TOKF_EXISTS)) {
        *len = 0;
        return NULL;
    }
    *len = t->len[id];
    return t->bytes + t->off[id];
}

static int is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int fr_tokenizer_load(const char *dir, fr_tokenizer **out) {
    *out = NULL;
    if (fr_tok_path_is_gguf(dir)) {
        fr_gguf g;
        if (fr_gguf_open(&g, dir)) return -1;
        int rc = fr_tokenizer_load_gguf(&g, out);
        fr_gguf_close(&g);
        return rc;
    }
    struct stat st;
    if (stat(dir, &st) == 0 && S_ISREG(st.st_mode))
        return fr_err("%s: a file that is not GGUF (a tokenizer is a model directory or a .gguf file)", dir);
    char path[4096];
    fr_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return fr_err("out of memory");
    t->bos = t->eos = -1;
    memset(t->byte_id, 0xFF, sizeof t->byte_id);
    int rc;
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    if (is_file(path)) {
        t->kind = FR_TOK_HF_BPE;
        rc = fr_hf_load(t, dir);
    } else {
        snprintf(path, sizeof path, "%s/tiktoken.model", dir);
        if (is_file(path)) {
            t->kind = FR_TOK_TIKTOKEN;
            rc = fr_tiktoken_load(t, dir);
        } else {
            rc = fr_err("%s: no tokenizer.json or tiktoken.model in this directory", dir);
        }
    }
    if (rc) {
        fr_tokenizer_free(t);
        return -1;
    }
    *out = t;
    return 0;
}

void fr_tokenizer_free(fr_tokenizer *t) {
    if (!t) return;
    free(t->flags);
    free(t->off);
    free(t->len);
    free(t->bytes);
    fr_bmap_free(&t->vocab);
    fr_pmap_free(&t->merges);
    free(t->added);
    free(t->added_bytes);
    free(t->lens);
    fr_bmap_free(&t->added_map);
    for (int k = 0; k < t->n_stages; k++) fr_re_free(&t->stages[k].re);
    free(t);
}
