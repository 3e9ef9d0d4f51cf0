/* GGUF parser: a hand-built valid file reads back field by field; each kind of
 * malformed file gives an error naming what is wrong; every truncation of a
 * valid file fails cleanly (run under ASan in the sanitizer build). */
#include "formats/gguf.h"
#include "base/err.h"
#include "gguf_writer.h"
#include "testutil.h"

/* A valid v3 file: KVs of every type, two F32 tensors and one Q8_0 tensor.
 * what: which field to break (0 = none). */
enum {
    OK, BAD_MAGIC, V1, V4, BIG_ENDIAN_V, HUGE_KV, HUGE_T, KEYLEN_PAST_EOF, STRLEN_PAST_EOF, ARRLEN_PAST_EOF,
    MISALIGNED, OVERLAP, UNKNOWN_TYPE, DIMS_OVERFLOW, DATA_PAST_EOF, DUP_TENSOR, DUP_KEY, BAD_ALIGN, BAD_KV_TYPE,
    NDIMS_5, ROW_NOT_BLOCKS, NESTED_ARRAY, N_CASES
};

static gw build(int what, size_t *data_at) {
    gw w = {0};
    gw_bytes(&w, what == BAD_MAGIC ? "GGUD" : "GGUF", 4);
    gw_u32(&w, what == V1 ? 1 : what == V4 ? 4 : what == BIG_ENDIAN_V ? 0x03000000u : 3);
    gw_u64(&w, what == HUGE_T ? (1ull << 40) : 3);
    gw_u64(&w, what == HUGE_KV ? UINT64_MAX / 2 : 16);
    /* 16 KVs */
    gw_str(&w, "general.architecture"); gw_u32(&w, FR_GGUF_STRING);
    if (what == STRLEN_PAST_EOF) gw_u64(&w, 1u << 30), gw_bytes(&w, "deepseek2", 9);
    else gw_str(&w, "deepseek2");
    gw_str(&w, "general.alignment"); gw_u32(&w, FR_GGUF_U32); gw_u32(&w, what == BAD_ALIGN ? 48 : 64);
    gw_str(&w, "k.u8"); gw_u32(&w, FR_GGUF_U8); gw_u8(&w, 200);
    gw_str(&w, "k.i8"); gw_u32(&w, FR_GGUF_I8); gw_u8(&w, 0xfe);
    gw_str(&w, "k.u16"); gw_u32(&w, FR_GGUF_U16); gw_u(&w, 60000, 2);
    gw_str(&w, "k.i16"); gw_u32(&w, FR_GGUF_I16); gw_u(&w, 0xfffd, 2);
    gw_str(&w, what == DUP_KEY ? "k.u8" : "k.i32"); gw_u32(&w, FR_GGUF_I32); gw_u32(&w, (uint32_t)-7);
    gw_str(&w, "k.f32"); gw_u32(&w, what == BAD_KV_TYPE ? 13 : FR_GGUF_F32); gw_f32(&w, 2.5f);
    gw_str(&w, "k.bool"); gw_u32(&w, FR_GGUF_BOOL); gw_u8(&w, 1);
    gw_str(&w, "k.u64"); gw_u32(&w, FR_GGUF_U64); gw_u64(&w, 1ull << 40);
    gw_str(&w, "k.i64"); gw_u32(&w, FR_GGUF_I64); gw_u64(&w, (uint64_t)-5);
    gw_str(&w, "k.f64"); gw_u32(&w, FR_GGUF_F64);
    double dd = 0.125; uint64_t du; memcpy(&du, &dd, 8); gw_u64(&w, du);
    gw_str(&w, "k.arr_i32"); gw_u32(&w, FR_GGUF_ARRAY); gw_u32(&w, FR_GGUF_I32);
    gw_u64(&w, what == ARRLEN_PAST_EOF ? (1ull << 61) : 3);
    gw_u32(&w, 1); gw_u32(&w, (uint32_t)-2); gw_u32(&w, 3);
    gw_str(&w, "k.arr_str"); gw_u32(&w, FR_GGUF_ARRAY); gw_u32(&w, what == NESTED_ARRAY ? FR_GGUF_ARRAY : FR_GGUF_STRING);
    gw_u64(&w, 2); gw_str(&w, "ab"); gw_str(&w, "");
    gw_str(&w, "k.arr_f32"); gw_u32(&w, FR_GGUF_ARRAY); gw_u32(&w, FR_GGUF_F32); gw_u64(&w, 2);
    gw_f32(&w, 0.5f); gw_f32(&w, -1.0f);
    if (what == KEYLEN_PAST_EOF) gw_u64(&w, 1ull << 40), gw_bytes(&w, "k.str", 5);
    else gw_str(&w, "k.str");
    gw_u32(&w, FR_GGUF_STRING); gw_str(&w, "hello");
    /* tensors: a [2,3] f32 (24 bytes), a [64] Q8_0 (68 bytes), a [4] f32 */
    uint64_t ne_a[2] = {3, 2}, ne_b[1] = {64}, ne_c[1] = {4};
    if (what == DIMS_OVERFLOW) ne_a[0] = ne_a[1] = 1ull << 33;
    if (what == ROW_NOT_BLOCKS) ne_b[0] = 48;
    if (what == NDIMS_5) {
        uint64_t ne5[5] = {1, 1, 1, 1, 6};
        gw_tinfo(&w, "a", 5, ne5, 0, 0);
    } else {
        gw_tinfo(&w, "a", 2, ne_a, what == UNKNOWN_TYPE ? 5 : 0, 0);
    }
    gw_tinfo(&w, what == DUP_TENSOR ? "a" : "b", 1, ne_b, 8, what == MISALIGNED ? 72 : what == OVERLAP ? 0 : 64);
    gw_tinfo(&w, "c", 1, ne_c, 0, what == DATA_PAST_EOF ? 1024 : 192);
    gw_pad(&w, 64);
    *data_at = w.n;
    for (int i = 0; i < 6; i++) gw_f32(&w, (float)i);
    gw_pad(&w, 64);
    for (int i = 0; i < 68; i++) gw_u8(&w, (uint8_t)i);
    gw_pad(&w, 64);
    for (int i = 0; i < 4; i++) gw_f32(&w, 10.0f + (float)i);
    return w;
}

static void expect_fail(int what, const char *needle) {
    size_t at;
    gw w = build(what, &at);
    fr_gguf g;
    fr_err_clear();
    int rc = fr_gguf_parse(&g, w.b, w.n, "t.gguf");
    CHECK(rc == -1, "case %d: parse should fail", what);
    CHECK(strstr(fr_err_msg(), needle) != NULL, "case %d: message '%s' should mention '%s'", what, fr_err_msg(), needle);
    CHECK(strstr(fr_err_msg(), "t.gguf") != NULL, "case %d: message '%s' should name the file", what, fr_err_msg());
    free(w.b);
}

int main(void) {
    size_t at;
    gw w = build(OK, &at);
    fr_gguf g;
    int rc = fr_gguf_parse(&g, w.b, w.n, "t.gguf");
    CHECK(rc == 0, "valid file: %s", fr_err_msg());
    if (rc == 0) {
        CHECK(g.version == 3 && g.n_kv == 16 && g.n_tensors == 3, "counts");
        CHECK(g.alignment == 64 && g.data_offset == at, "alignment %llu data %llu (want %zu)",
              (unsigned long long)g.alignment, (unsigned long long)g.data_offset, at);
        int64_t i;
        double x;
        int b;
        char *s = NULL;
        CHECK(fr_gguf_get_str(&g, "general.architecture", &s) == 0 && !strcmp(s, "deepseek2"), "arch");
        free(s);
        CHECK(fr_gguf_get_int(&g, "k.u8", 0, 1000, &i) == 0 && i == 200, "u8");
        CHECK(fr_gguf_get_int(&g, "k.i8", -10, 10, &i) == 0 && i == -2, "i8");
        CHECK(fr_gguf_get_int(&g, "k.u16", 0, 70000, &i) == 0 && i == 60000, "u16");
        CHECK(fr_gguf_get_int(&g, "k.i16", -10, 10, &i) == 0 && i == -3, "i16");
        CHECK(fr_gguf_get_int(&g, "k.i32", -10, 10, &i) == 0 && i == -7, "i32");
        CHECK(fr_gguf_get_int(&g, "k.u64", 0, INT64_MAX, &i) == 0 && i == (1ll << 40), "u64");
        CHECK(fr_gguf_get_int(&g, "k.i64", -10, 10, &i) == 0 && i == -5, "i64");
        CHECK(fr_gguf_get_int(&g, "k.u64", 0, 100, &i) == -1 && strstr(fr_err_msg(), "k.u64"), "range error names key");
        CHECK(fr_gguf_get_int(&g, "k.f32", 0, 100, &i) == -1, "f32 is not an int");
        CHECK(fr_gguf_get_int(&g, "k.missing", 0, 100, &i) == 1, "missing");
        CHECK(fr_gguf_get_num(&g, "k.f32", &x) == 0 && x == 2.5, "f32");
        CHECK(fr_gguf_get_num(&g, "k.f64", &x) == 0 && x == 0.125, "f64");
        CHECK(fr_gguf_get_bool(&g, "k.bool", &b) == 0 && b == 1, "bool");
        CHECK(fr_gguf_get_str(&g, "k.str", &s) == 0 && !strcmp(s, "hello"), "str");
        free(s);
        const fr_gguf_kv *kv = fr_gguf_kv_find(&g, "k.arr_i32");
        CHECK(kv && kv->type == FR_GGUF_ARRAY && kv->arr_type == FR_GGUF_I32 && kv->arr_n == 3, "arr_i32");
        if (kv) CHECK(fr_gguf_arr_num(kv, 1) == -2 && fr_gguf_arr_num(kv, 2) == 3, "arr_i32 values");
        kv = fr_gguf_kv_find(&g, "k.arr_f32");
        if (kv) CHECK(fr_gguf_arr_num(kv, 0) == 0.5 && fr_gguf_arr_num(kv, 1) == -1.0, "arr_f32 values");
        kv = fr_gguf_kv_find(&g, "k.arr_str");
        CHECK(kv && kv->arr_type == FR_GGUF_STRING && kv->arr_n == 2, "arr_str");
        if (kv) {
            const char *p;
            uint64_t len;
            fr_gguf_arr_str(kv, 0, &p, &len);
            CHECK(len == 2 && !memcmp(p, "ab", 2), "arr_str[0]");
            fr_gguf_arr_str(kv, 1, &p, &len);
            CHECK(len == 0, "arr_str[1]");
        }
        const fr_gguf_tensor *t = fr_gguf_tensor_find(&g, "a");
        CHECK(t && t->n_dims == 2 && t->ne[0] == 3 && t->ne[1] == 2 && t->nbytes == 24 && t->data == w.b + at, "tensor a");
        t = fr_gguf_tensor_find(&g, "b");
        CHECK(t && t->type == 8 && t->nbytes == 68 && t->data == w.b + at + 64 && t->data[5] == 5, "tensor b");
        t = fr_gguf_tensor_find(&g, "c");
        float c2;
        if (t) memcpy(&c2, t->data + 8, 4);
        CHECK(t && t->nbytes == 16 && c2 == 12.0f, "tensor c");
        fr_gguf_close(&g);
    }
    /* every truncation fails cleanly */
    int trunc_ok = 1;
    for (size_t n = 0; n < w.n; n++) {
        uint8_t *copy = malloc(n ? n : 1); /* exact-size buffer so ASan sees any overread */
        memcpy(copy, w.b, n);
        if (fr_gguf_parse(&g, copy, n, "t.gguf") == 0) {
            trunc_ok = 0;
            fprintf(stderr, "truncation to %zu bytes parsed\n", n);
            fr_gguf_close(&g);
        }
        free(copy);
    }
    CHECK(trunc_ok, "every truncated file is rejected");
    free(w.b);

    expect_fail(BAD_MAGIC, "bad magic");
    expect_fail(V1, "version 1");
    expect_fail(V4, "version 4");
    expect_fail(BIG_ENDIAN_V, "big-endian");
    expect_fail(HUGE_KV, "metadata count");
    expect_fail(HUGE_T, "tensor count");
    expect_fail(KEYLEN_PAST_EOF, "past the end");
    expect_fail(STRLEN_PAST_EOF, "general.architecture");
    expect_fail(ARRLEN_PAST_EOF, "k.arr_i32");
    expect_fail(MISALIGNED, "not a multiple of the alignment");
    expect_fail(OVERLAP, "overlaps");
    expect_fail(UNKNOWN_TYPE, "unknown ggml type 5");
    expect_fail(DIMS_OVERFLOW, "overflow");
    expect_fail(DATA_PAST_EOF, "'c' data");
    expect_fail(DUP_TENSOR, "'a' appears twice");
    expect_fail(DUP_KEY, "'k.u8' appears twice");
    expect_fail(BAD_ALIGN, "power of two");
    expect_fail(BAD_KV_TYPE, "unknown value type 13");
    expect_fail(NDIMS_5, "5 dimensions");
    expect_fail(ROW_NOT_BLOCKS, "block size");
    expect_fail(NESTED_ARRAY, "nested");
    return t_done();
}
