/* Loader for Hugging Face tokenizer.json with a byte-level BPE model (plus
 * tokenizer_config.json for add_bos_token and the bos/eos tokens).
 *
 * Supported: normalizer null or an empty Sequence; pre_tokenizer Sequence of
 * Split (Regex or String pattern, any behavior, invert), ByteLevel
 * (add_prefix_space, use_regex), Digits; model BPE without byte_fallback,
 * continuing_subword_prefix or end_of_word_suffix. Anything else is refused
 * with an error naming it. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/mmap.h"
#include "text/tok_internal.h"

/* The pattern ByteLevel(use_regex=true) splits with (GPT-2's). */
static const char k_gpt2_pat[] = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

static int add_stage(fr_tokenizer *t, const char *file, const char *pat, size_t plen, int behavior, int invert,
                     int prefix) {
    if (t->n_stages == FR_MAX_STAGES) return fr_err("%s: pre_tokenizer: more than %d stages", file, FR_MAX_STAGES);
    fr_stage *st = &t->stages[t->n_stages];
    memset(st, 0, sizeof *st);
    st->behavior = behavior;
    st->invert = invert;
    st->add_prefix_space = prefix;
    if (pat) {
        char what[4200];
        snprintf(what, sizeof what, "%s: pre_tokenizer %d", file, t->n_stages);
        if (fr_re_compile(&st->re, pat, plen, what)) return -1;
    }
    t->n_stages++;
    return 0;
}

/* a regex matching the literal string s */
static char *regex_quote(const char *s, size_t n, size_t *outn) {
    char *o = malloc(2 * n + 1);
    if (!o) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (strchr("\\^$.|?*+()[]{}-&~#", s[i]) && s[i]) o[k++] = '\\';
        o[k++] = s[i];
    }
    o[k] = 0;
    *outn = k;
    return o;
}

static int parse_pretok(fr_tokenizer *t, const char *file, json_t *pt, int *has_bytelevel) {
    if (!pt || json_is_null(pt)) return 0;
    const char *type = json_string_value(json_object_get(pt, "type"));
    if (!type) return fr_err("%s: pre_tokenizer without a type", file);
    if (!strcmp(type, "Sequence")) {
        json_t *arr = json_object_get(pt, "pretokenizers");
        if (!json_is_array(arr)) return fr_err("%s: pre_tokenizer Sequence without pretokenizers", file);
        size_t i;
        json_t *v;
        json_array_foreach(arr, i, v) if (parse_pretok(t, file, v, has_bytelevel)) return -1;
        return 0;
    }
    if (!strcmp(type, "Split")) {
        json_t *pat = json_object_get(pt, "pattern");
        const char *beh = json_string_value(json_object_get(pt, "behavior"));
        int invert = json_is_true(json_object_get(pt, "invert"));
        int b;
        if (!beh) return fr_err("%s: Split without behavior", file);
        if (!strcmp(beh, "Isolated")) b = FR_SPLIT_ISOLATED;
        else if (!strcmp(beh, "Removed")) b = FR_SPLIT_REMOVED;
        else if (!strcmp(beh, "MergedWithPrevious")) b = FR_SPLIT_MERGED_PREV;
        else if (!strcmp(beh, "MergedWithNext")) b = FR_SPLIT_MERGED_NEXT;
        else if (!strcmp(beh, "Contiguous")) b = FR_SPLIT_CONTIGUOUS;
        else return fr_err("%s: Split behavior '%s' is not supported", file, beh);
        json_t *re = json_object_get(pat, "Regex"), *str = json_object_get(pat, "String");
        if (json_is_string(re)) return add_stage(t, file, json_string_value(re), json_string_length(re), b, invert, 0);
        if (json_is_string(str)) {
            size_t qn;
            char *q = regex_quote(json_string_value(str), json_string_length(str), &qn);
            if (!q) return fr_err("out of memory");
            int rc = add_stage(t, file, q, qn, b, invert, 0);
            free(q);
            return rc;
        }
        return fr_err("%s: Split pattern is neither Regex nor String", file);
    }
    if (!strcmp(type, "ByteLevel")) {
        *has_bytelevel = 1;
        json_t *ur = json_object_get(pt, "use_regex");
        int use_regex = ur ? json_is_true(ur) : 1;
        int prefix = json_is_true(json_object_get(pt, "add_prefix_space"));
        if (!use_regex && !prefix) return 0; /* the byte map only: BPE works on bytes */
        return add_stage(t, file, use_regex ? k_gpt2_pat : NULL, use_regex ? strlen(k_gpt2_pat) : 0,
                         FR_SPLIT_ISOLATED, 0, prefix);
    }
    if (!strcmp(type, "Digits")) {
        const char *pat = json_is_true(json_object_get(pt, "individual_digits")) ? "\\p{N}" : "\\p{N}+";
        return add_stage(t, file, pat, strlen(pat), FR_SPLIT_ISOLATED, 0, 0);
    }
    return fr_err("%s: pre_tokenizer type '%s' is not supported", file, type);
}

/* "content" of a token that is a string or an AddedToken object */
static const char *token_content(json_t *v) {
    if (json_is_string(v)) return json_string_value(v);
    return json_string_value(json_object_get(v, "content"));
}

/* bytes of a token string through the ByteLevel decoder into buf (cap >= strlen) */
static int merge_side(const fr_tokenizer *t, const char *s, size_t n, uint8_t *buf) {
    size_t bn = fr_bytelevel_decode(s, n, buf);
    return fr_bmap_get(&t->vocab, fr_tok_key, t, buf, bn);
}

static int load_merges(fr_tokenizer *t, const char *file, json_t *merges) {
    size_t nm = json_array_size(merges);
    if (fr_pmap_init(&t->merges, nm ? nm : 1)) return -1;
    uint8_t *ba = NULL, *bb = NULL, *bc = NULL;
    size_t cap = 0;
    int rc = 0;
    for (size_t r = 0; r < nm && !rc; r++) {
        json_t *m = json_array_get(merges, r);
        const char *a, *b;
        size_t an, bn;
        if (json_is_string(m)) {
            const char *s = json_string_value(m);
            const char *sp = strchr(s, ' ');
            if (!sp || strchr(sp + 1, ' ')) { rc = fr_err("%s: model.merges[%zu] is not \"a b\"", file, r); break; }
            a = s;
            an = (size_t)(sp - s);
            b = sp + 1;
            bn = strlen(b);
        } else if (json_is_array(m) && json_array_size(m) == 2 && json_is_string(json_array_get(m, 0)) &&
                   json_is_string(json_array_get(m, 1))) {
            a = json_string_value(json_array_get(m, 0));
            an = json_string_length(json_array_get(m, 0));
            b = json_string_value(json_array_get(m, 1));
            bn = json_string_length(json_array_get(m, 1));
        } else {
            rc = fr_err("%s: model.merges[%zu] is neither \"a b\" nor [a, b]", file, r);
            break;
        }
        if (an + bn + 1 > cap) {
            cap = 2 * (an + bn + 1);
            free(ba); free(bb); free(bc);
            ba = malloc(cap); bb = malloc(cap); bc = malloc(cap);
            if (!ba || !bb || !bc) { rc = fr_err("out of memory"); break; }
        }
        int32_t ia = merge_side(t, a, an, ba), ib = merge_side(t, b, bn, bb);
        if (ia < 0 || ib < 0) { rc = fr_err("%s: model.merges[%zu]: a side is not in the vocabulary", file, r); break; }
        size_t la = t->len[ia], lb = t->len[ib];
        memcpy(bc, t->bytes + t->off[ia], la);
        memcpy(bc + la, t->bytes + t->off[ib], lb);
        int32_t ic = fr_bmap_get(&t->vocab, fr_tok_key, t, bc, la + lb);
        if (ic < 0) { rc = fr_err("%s: model.merges[%zu]: the merged token is not in the vocabulary", file, r); break; }
        fr_pmap_put(&t->merges, ia, ib, (uint32_t)r, ic);
    }
    free(ba);
    free(bb);
    free(bc);
    return rc;
}

static int load_json(const char *path, json_t **out, size_t flags) {
    json_error_t je;
    fr_mmap m; /* json_loadb on the mapped bytes: json_load_file reads with getc */
    *out = NULL;
    if (fr_mmap_open(&m, path)) return -1;
    *out = json_loadb((const char *)(m.data ? m.data : (const uint8_t *)""), m.size, JSON_ALLOW_NUL | flags, &je);
    fr_mmap_close(&m);
    if (!*out) return fr_err("%s: line %d: %s", path, je.line, je.text);
    return 0;
}

int fr_hf_load(fr_tokenizer *t, const char *dir) {
    char file[4096], cfgpath[4096];
    snprintf(file, sizeof file, "%s/tokenizer.json", dir);
    json_t *root = NULL, *cfg = NULL;
    uint8_t *buf = NULL;
    int rc = -1;
    if (load_json(file, &root, 0)) return -1;
    json_t *model = json_object_get(root, "model");
    json_t *vocab = json_object_get(model, "vocab"), *merges = json_object_get(model, "merges");
    const char *mtype = json_string_value(json_object_get(model, "type"));
    if (!json_is_object(vocab) || !json_is_array(merges) || (mtype && strcmp(mtype, "BPE"))) {
        fr_err("%s: model is not BPE with vocab and merges (type %s)", file, mtype ? mtype : "?");
        goto done;
    }
    if (json_is_true(json_object_get(model, "byte_fallback"))) { fr_err("%s: model.byte_fallback is not supported", file); goto done; }
    const char *cs = json_string_value(json_object_get(model, "continuing_subword_prefix"));
    const char *ew = json_string_value(json_object_get(model, "end_of_word_suffix"));
    if ((cs && *cs) || (ew && *ew)) { fr_err("%s: subword prefix/suffix is not supported", file); goto done; }
    t->ignore_merges = json_is_true(json_object_get(model, "ignore_merges"));
    json_t *norm = json_object_get(root, "normalizer");
    if (norm && !json_is_null(norm)) {
        const char *nt = json_string_value(json_object_get(norm, "type"));
        if (!nt || strcmp(nt, "Sequence") || json_array_size(json_object_get(norm, "normalizers")) != 0) {
            fr_err("%s: normalizer '%s' is not supported", file, nt ? nt : "?");
            goto done;
        }
    }

    /* ids */
    json_t *added = json_object_get(root, "added_tokens");
    long long maxid = -1;
    const char *key;
    json_t *v;
    json_object_foreach(vocab, key, v) {
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 16777215) {
            fr_err("%s: model.vocab[\"%s\"] is not an id", file, key);
            goto done;
        }
        if (json_integer_value(v) > maxid) maxid = json_integer_value(v);
    }
    size_t i;
    json_array_foreach(added, i, v) {
        json_t *id = json_object_get(v, "id");
        if (!json_is_integer(id) || json_integer_value(id) < 0 || json_integer_value(id) > 16777215 ||
            !json_is_string(json_object_get(v, "content"))) {
            fr_err("%s: added_tokens[%zu] has no valid id and content", file, i);
            goto done;
        }
        if (json_integer_value(id) > maxid) maxid = json_integer_value(id);
    }
    if (maxid < 0) { fr_err("%s: empty vocabulary", file); goto done; }
    if (fr_tok_alloc_ids(t, (int)maxid + 1)) goto done;
    if (fr_bmap_init(&t->vocab, json_object_size(vocab))) goto done;

    /* base vocabulary: token strings through the byte-level map */
    size_t bufcap = 0;
    json_object_foreach(vocab, key, v) {
        size_t kn = strlen(key);
        if (kn + 1 > bufcap) {
            bufcap = 2 * kn + 64;
            free(buf);
            if (!(buf = malloc(bufcap))) { fr_err("out of memory"); goto done; }
        }
        int32_t id = (int32_t)json_integer_value(v);
        if (t->flags[id] & FR_TOKF_EXISTS) { fr_err("%s: id %d appears twice in model.vocab", file, id); goto done; }
        size_t bn = fr_bytelevel_decode(key, kn, buf);
        if (fr_tok_set(t, id, buf, bn, 0)) goto done;
        fr_bmap_put(&t->vocab, fr_tok_key, t, id); /* equal bytes twice: the first wins */
    }
    for (int b = 0; b < 256; b++) {
        uint8_t c = (uint8_t)b;
        t->byte_id[b] = fr_bmap_get(&t->vocab, fr_tok_key, t, &c, 1);
    }
    if (load_merges(t, file, merges)) goto done;

    /* added tokens */
    size_t na = json_array_size(added), total = 0;
    json_array_foreach(added, i, v) total += json_string_length(json_object_get(v, "content"));
    t->added = calloc(na + 1, sizeof *t->added);
    t->added_bytes = malloc(total + 1);
    if (!t->added || !t->added_bytes) { fr_err("out of memory"); goto done; }
    size_t off = 0;
    json_array_foreach(added, i, v) {
        json_t *c = json_object_get(v, "content");
        fr_added *a = &t->added[t->n_added++];
        a->off = (uint32_t)off;
        a->len = (uint32_t)json_string_length(c);
        a->id = (int32_t)json_integer_value(json_object_get(v, "id"));
        a->special = json_is_true(json_object_get(v, "special"));
        a->normalized = json_is_true(json_object_get(v, "normalized"));
        memcpy(t->added_bytes + off, json_string_value(c), a->len);
        off += a->len;
    }
    if (fr_tok_finish_added(t, file)) goto done;

    /* pre-tokenizer */
    int has_bl = 0;
    if (parse_pretok(t, file, json_object_get(root, "pre_tokenizer"), &has_bl)) goto done;
    json_t *dec = json_object_get(root, "decoder");
    const char *dt = json_string_value(json_object_get(dec, "type"));
    if (!has_bl && !(dt && !strcmp(dt, "ByteLevel"))) {
        fr_err("%s: not a byte-level BPE tokenizer (no ByteLevel pre_tokenizer or decoder)", file);
        goto done;
    }

    /* tokenizer_config.json: add_bos_token, bos_token, eos_token */
    snprintf(cfgpath, sizeof cfgpath, "%s/tokenizer_config.json", dir);
    FILE *f = fopen(cfgpath, "rb");
    if (f) {
        fclose(f);
        if (load_json(cfgpath, &cfg, JSON_DECODE_INT_AS_REAL)) goto done; /* model_max_length can be 1e30 */
        t->add_bos = json_is_true(json_object_get(cfg, "add_bos_token"));
        const char *bs = token_content(json_object_get(cfg, "bos_token"));
        const char *es = token_content(json_object_get(cfg, "eos_token"));
        if (bs) {
            t->bos = fr_tok_special_id(t, bs);
            if (t->bos < 0) t->bos = fr_bmap_get(&t->vocab, fr_tok_key, t, (const uint8_t *)bs, strlen(bs));
        }
        if (es) {
            t->eos = fr_tok_special_id(t, es);
            if (t->eos < 0) t->eos = fr_bmap_get(&t->vocab, fr_tok_key, t, (const uint8_t *)es, strlen(es));
        }
        if (t->add_bos && t->bos < 0) { fr_err("%s: add_bos_token without a known bos_token", cfgpath); goto done; }
    }
    rc = 0;
done:
    free(buf);
    json_decref(root);
    json_decref(cfg);
    return rc;
}
