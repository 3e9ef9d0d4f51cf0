/* Loading: find the files, read config.json, pick the family, bind weights. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/err.h"
#include "formats/hf_dir.h"
#include "runtime/gguf_load.h"
#include "runtime/model.h"

static const fr_family *const g_families[] = {&fr_family_deepseek, &fr_family_kimi_linear};

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

frugal_model_params frugal_model_default_params(void) { return (frugal_model_params){.use_mmap = 1}; }

int frugal_model_load(const char *path, frugal_model **out) { return frugal_model_load_params(path, NULL, out); }

int frugal_model_load_params(const char *path, const frugal_model_params *params, frugal_model **out) {
    *out = NULL;
    const int in_memory = params && !params->use_mmap;
    fr_err_clear();
    int gguf = fr_is_gguf_path(path);
    if (!gguf && !is_dir(path))
        return fr_err("%s: not a model directory (expected config.json and *.safetensors) or a .gguf file", path);
    frugal_model *m = calloc(1, sizeof *m);
    if (!m) return fr_err("out of memory");
    m->path = strdup(path);
    char cp[4096];
    snprintf(cp, sizeof cp, gguf ? "%s" : "%s/config.json", path);
    const char *mt = NULL;
    /* a GGUF file: config synthesized from its metadata, weights mapped with HF names */
    if (gguf && fr_gguf_load(path, &m->cfg, &m->w, in_memory)) goto fail;
    if ((!gguf && fr_cfg_load(&m->cfg, cp)) || fr_cfg_str(&m->cfg, "model_type", 1, NULL, &mt)) goto fail;
    for (size_t i = 0; i < sizeof g_families / sizeof *g_families; i++)
        if (g_families[i]->match(mt)) m->family = g_families[i];
    if (!m->family) {
        fr_err("%s: model_type '%s' is not supported (deepseek_v2, deepseek_v3, kimi_k2, kimi_linear)", cp, mt);
        goto fail;
    }
    m->info.arch = mt;
    int64_t v;
    if (fr_cfg_int(&m->cfg, "bos_token_id", 0, -1, -1, INT32_MAX, &v)) goto fail;
    m->info.bos_token_id = (int)v;
    if (fr_cfg_int(&m->cfg, "eos_token_id", 0, -1, -1, INT32_MAX, &v)) {
        fr_err_clear(); /* a list of eos ids: keep the first */
        v = -1;
    }
    m->info.eos_token_id = (int)v;
    if (!gguf && fr_hf_open_weights(path, &m->w, in_memory)) goto fail;
    if (m->family->load(m)) goto fail;
    *out = m;
    return 0;
fail:;
    char msg[2048];
    snprintf(msg, sizeof msg, "%s", fr_err_msg());
    frugal_model_free(m);
    return fr_err("%s", msg);
}

void frugal_model_free(frugal_model *m) {
    if (!m) return;
    if (m->family && m->family->free) m->family->free(m);
    fr_weights_free(&m->w);
    fr_cfg_free(&m->cfg);
    free(m->path);
    free(m);
}

void frugal_model_get_info(const frugal_model *m, frugal_model_info *info) { *info = m->info; }

int frugal_model_describe(const frugal_model *m, char *buf, size_t size) {
    return m->family->describe(m, buf, size);
}

int64_t frugal_cache_bytes_per_token(const frugal_model_info *in, frugal_cache_type type) {
    const int64_t lat = in->cache_latent_per_token, pe = in->cache_rope_per_token;
    const int64_t rest = in->cache_bytes_per_token - lat * (int64_t)sizeof(float);
    switch (type) {
    case FRUGAL_CACHE_AUTO:
    case FRUGAL_CACHE_F16:
    case FRUGAL_CACHE_BF16: return rest - pe * (int64_t)sizeof(float) + (lat + pe) * 2; /* whole rows of 16 bits */
    case FRUGAL_CACHE_Q8_0: return rest + lat / 32 * 34; /* blocks of 32: f16 scale + 32 int8 */
    case FRUGAL_CACHE_I8: /* a byte a value, two float scales per position and layer */
        return rest - pe * (int64_t)sizeof(float) + lat + pe + (int64_t)in->n_cache_layers * 2 * (int64_t)sizeof(float);
    default: return in->cache_bytes_per_token;
    }
}
