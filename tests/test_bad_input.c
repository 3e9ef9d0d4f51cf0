/* Bad input gets a clear error naming the file, tensor or field, never a crash:
 * malformed safetensors headers, truncated files, bad configs, missing shards. */
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/mmap.h"
#include "formats/safetensors.h"
#include "frugal.h"
#include "testutil.h"

static char g_tmp[256];

/* a safetensors image: 8-byte length, header, then data_len bytes */
static uint8_t *st_image(const char *header, size_t data_len, size_t *len) {
    size_t h = strlen(header);
    *len = 8 + h + data_len;
    uint8_t *b = calloc(1, *len);
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)((uint64_t)h >> (8 * i));
    memcpy(b + 8, header, h);
    return b;
}

/* parse must fail with a message containing want */
static void expect_parse_error(const char *header, size_t data_len, const char *want) {
    size_t len;
    uint8_t *b = st_image(header, data_len, &len);
    fr_st_header h;
    int rc = fr_st_parse(b, len, "x.safetensors", &h);
    CHECK(rc != 0, "accepted bad header %s", header);
    if (rc == 0) fr_st_header_free(&h);
    else CHECK(strstr(frugal_last_error(), want) && strstr(frugal_last_error(), "x.safetensors"),
               "message '%s' lacks '%s'", frugal_last_error(), want);
    free(b);
}

static void test_headers(void) {
    /* a good one first */
    size_t len;
    uint8_t *b = st_image("{\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]},"
                          "\"__metadata__\":{\"format\":\"pt\"}}        ", 16, &len);
    fr_st_header h;
    CHECK(fr_st_parse(b, len, "x.safetensors", &h) == 0 && h.n == 1, "good header: %s", frugal_last_error());
    if (h.n == 1) fr_st_header_free(&h);
    free(b);

    uint8_t small[5] = {1, 2, 3, 4, 5};
    CHECK(fr_st_parse(small, sizeof small, "x.safetensors", &h) != 0 && strstr(frugal_last_error(), "truncated"),
          "truncated: %s", frugal_last_error());
    uint8_t huge[16] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f};
    CHECK(fr_st_parse(huge, sizeof huge, "x.safetensors", &h) != 0 && strstr(frugal_last_error(), "exceeds"),
          "oversized: %s", frugal_last_error());
    uint8_t past[16] = {100};
    CHECK(fr_st_parse(past, sizeof past, "x.safetensors", &h) != 0 && strstr(frugal_last_error(), "past the end"),
          "header past end: %s", frugal_last_error());

    expect_parse_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]", 16, "header JSON");
    expect_parse_error("[1,2]", 0, "not an object");
    expect_parse_error("{\"a\":{\"dtype\":\"Q9\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "unknown dtype 'Q9'");
    expect_parse_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,80]}}", 8, "past the end");
    expect_parse_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, "need 12");
    expect_parse_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, "begin 8 > end 0");
    expect_parse_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, "shape[0]");
    expect_parse_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                       "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 16, "overlap");
    expect_parse_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[1099511627776,1099511627776],\"data_offsets\":[0,8]}}", 8,
                       "overflows");
    expect_parse_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, "data_offsets");
    expect_parse_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[2,10]}}", 10, "aligned");
    expect_parse_error("{\"a\":5}", 0, "not an object");
}

/* ---- model directories --------------------------------------------------- */

static void sh(const char *fmt, ...) {
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    if (system(cmd) != 0) fprintf(stderr, "command failed: %s\n", cmd);
}

/* a fresh copy of a fixture model in g_tmp/<name> */
static const char *copy_model(const char *fixture, const char *name) {
    static char dir[512];
    snprintf(dir, sizeof dir, "%s/%s", g_tmp, name);
    sh("rm -rf '%s' && mkdir -p '%s' && cp '%s'/*.json '%s'/*.safetensors '%s'/", dir, dir, t_fixture(fixture),
       t_fixture(fixture), dir);
    return dir;
}

/* the same error whether the weights are mapped or read into memory (--no-mmap) */
static void expect_load_error(const char *dir, const char *want1, const char *want2) {
    for (int use_mmap = 1; use_mmap >= 0; use_mmap--) {
        frugal_model *m = NULL;
        frugal_model_params mp = frugal_model_default_params();
        mp.use_mmap = use_mmap;
        int rc = frugal_model_load_params(dir, &mp, &m);
        CHECK(rc != 0, "%s (use_mmap %d): loaded despite bad input", dir, use_mmap);
        if (rc == 0) {
            frugal_model_free(m);
            continue;
        }
        CHECK(strstr(frugal_last_error(), want1) && (!want2 || strstr(frugal_last_error(), want2)),
              "use_mmap %d: message '%s' lacks '%s' / '%s'", use_mmap, frugal_last_error(), want1, want2 ? want2 : "");
    }
}

/* fr_mmap_open_mode: in memory, the bytes are a copy taken at open (a later write to the
 * file does not show; through a private mapping Linux shows it); a missing file is named */
static void test_read_mode(void) {
    char path[512];
    snprintf(path, sizeof path, "%s/bytes.bin", g_tmp);
    sh("printf 'AAAAAAAA' > '%s'", path);
    fr_mmap mapped, copy;
    CHECK(fr_mmap_open_mode(&mapped, path, 0) == 0 && mapped.size == 8, "map: %s", frugal_last_error());
    CHECK(fr_mmap_open_mode(&copy, path, 1) == 0 && copy.size == 8, "read: %s", frugal_last_error());
    sh("printf 'BBBB' | dd of='%s' conv=notrunc status=none", path);
    CHECK(mapped.data && mapped.data[0] == 'B', "the mapping shows the file's new bytes");
    CHECK(copy.data && !memcmp(copy.data, "AAAAAAAA", 8), "the copy in memory keeps the bytes read at open");
    fr_mmap_close(&mapped);
    fr_mmap_close(&copy);
    snprintf(path, sizeof path, "%s/nosuch.bin", g_tmp);
    CHECK(fr_mmap_open_mode(&copy, path, 1) != 0 && strstr(frugal_last_error(), "nosuch.bin"),
          "missing file: '%s'", frugal_last_error());
    /* read into memory, a safetensors file's data section starts on a 64-byte line
     * (the decode rows then need no join), whatever the header's length; mapped,
     * it keeps the file's offset in the line. Headers of 60 and 68 bytes (data at 68, 76). */
    for (int pad = 0; pad < 2; pad++) {
        const char *hdr = pad ? "{\"t\":{\"dtype\":\"F32\",\"shape\":[16],\"data_offsets\":[0,64]}}            "
                              : "{\"t\":{\"dtype\":\"F32\",\"shape\":[16],\"data_offsets\":[0,64]}}    ";
        const size_t hl = strlen(hdr);
        snprintf(path, sizeof path, "%s/aligned%d.safetensors", g_tmp, pad);
        FILE *f = fopen(path, "wb");
        unsigned char len[8] = {(unsigned char)hl}, data[64];
        for (int i = 0; i < 64; i++) data[i] = (unsigned char)(3 * i + 1);
        CHECK(f && fwrite(len, 1, 8, f) == 8 && fwrite(hdr, 1, hl, f) == hl && fwrite(data, 1, 64, f) == 64,
              "write %s", path);
        if (f) fclose(f);
        for (int in_memory = 0; in_memory < 2; in_memory++) {
            fr_st_file st;
            CHECK(fr_st_open_mode(&st, path, in_memory) == 0, "open %s: %s", path, frugal_last_error());
            fr_tensor t;
            fr_st_view(&st, 0, &t);
            const size_t line = (uintptr_t)t.data % 64;
            CHECK(line == (in_memory ? 0 : (8 + hl) % 64) && !memcmp(t.data, data, 64),
                  "%s (in memory %d, header %zu bytes): tensor data %zu bytes past a line", path, in_memory, hl, line);
            fr_st_close(&st);
        }
    }
}

static void set_config(const char *dir, const char *sed) {
    sh("sed -i -e '%s' '%s/config.json'", sed, dir);
}

static void test_models(void) {
    const char *d;
    d = copy_model("deepseek/v3_tiny", "ok");
    frugal_model *m = NULL;
    CHECK(frugal_model_load(d, &m) == 0, "copy loads: %s", frugal_last_error());
    frugal_model_free(m);

    d = copy_model("deepseek/v3_tiny", "missing_shard");
    sh("rm '%s/model-00002-of-00002.safetensors'", d);
    expect_load_error(d, "missing shard", "model-00002-of-00002.safetensors");

    d = copy_model("deepseek/v3_tiny", "truncated");
    sh("truncate -s 1000000 '%s/model-00001-of-00002.safetensors'", d);
    expect_load_error(d, "model-00001-of-00002.safetensors", "past the end");

    d = copy_model("deepseek/v3_tiny", "tiny_file");
    sh("truncate -s 3 '%s/model-00002-of-00002.safetensors'", d);
    expect_load_error(d, "model-00002-of-00002.safetensors", "truncated");

    d = copy_model("deepseek/v3_tiny", "shape");
    set_config(d, "s/\"hidden_size\": 192/\"hidden_size\": 200/");
    expect_load_error(d, "has shape [1024, 192]", "[1024, 200]");

    d = copy_model("deepseek/v3_tiny", "no_qlora");
    set_config(d, "s/\"q_lora_rank\": 96/\"q_lora_rank\": null/");
    expect_load_error(d, "missing tensor", "q_proj.weight");

    d = copy_model("deepseek/v3_tiny", "range");
    set_config(d, "s/\"num_experts_per_tok\": 4/\"num_experts_per_tok\": 40/");
    expect_load_error(d, "num_experts_per_tok", "out of range");

    d = copy_model("deepseek/v3_tiny", "badjson");
    set_config(d, "s/\"hidden_size\": 192,/\"hidden_size\": 192/");
    expect_load_error(d, "config.json", "invalid JSON");

    d = copy_model("deepseek/v3_tiny", "arch");
    set_config(d, "s/\"model_type\": \"deepseek_v3\"/\"model_type\": \"llama\"/");
    expect_load_error(d, "model_type 'llama'", NULL);

    d = copy_model("deepseek/v3_tiny", "noconfig");
    sh("rm '%s/config.json'", d);
    expect_load_error(d, "config.json", "cannot open");

    d = copy_model("deepseek/v3_tiny", "badindex");
    sh("sed -i -e 's/model.norm.weight/model.nrom.weight/' '%s/model.safetensors.index.json'", d);
    expect_load_error(d, "model.nrom.weight", "not found");

    expect_load_error("/nonexistent/model", "not a model directory", NULL);

    /* a tensor of a non-weight dtype: relabel an F32 tensor as I32 (same size) */
    d = copy_model("deepseek/v3_tiny", "dtype");
    sh("sed -i -e 's/\"model.layers.1.mlp.gate.e_score_correction_bias\":{\"dtype\":\"F32\"/"
       "\"model.layers.1.mlp.gate.e_score_correction_bias\":{\"dtype\":\"I32\"/' '%s'/model-0000*.safetensors", d);
    expect_load_error(d, "e_score_correction_bias", "dtype I32");

    /* FP8 weights without their scales */
    d = copy_model("deepseek/v3_fp8_tiny", "fp8_noscale");
    sh("sed -i -e 's/layers.0.self_attn.o_proj.weight_scale_inv/layers.0.self_attn.o_proj.weight_scale_xxx/' "
       "'%s'/model*", d);
    expect_load_error(d, "o_proj.weight", "block scales");
}

int main(void) {
    snprintf(g_tmp, sizeof g_tmp, "/tmp/frugal_bad_XXXXXX");
    if (!mkdtemp(g_tmp)) return 1;
    test_headers();
    test_read_mode();
    test_models();
    sh("rm -rf '%s'", g_tmp);
    return t_done();
}
