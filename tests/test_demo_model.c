/* The shipped demo model (models/kjv-demo) loads through the C API with the
 * expected DeepSeek-V3 shape, and its greedy continuation of a fixed prompt
 * equals the one recorded from the PyTorch model that trained it
 * (tools/check_demo.py --c-ref, run on the stored bf16 weights; smallest
 * top-1 margin on the path noted below, so a float32 engine must match). */
#include "frugal.h"
#include "testutil.h"

/* BOS + "And God said unto Moses," (tools/train_demo.py tokenizer) */
static const int32_t prompt[] = {0, 300, 391, 390, 325, 688, 48};
/* PyTorch greedy continuation, 32 tokens (smallest top-1 margin
 * (top1 - top2) / max|logit| on the path: 2.6e-3):
 * " How long shall be a man of the LORD, that he shall be a man that is in the sight
 * of the LORD, and shall be atonem" */
static const int32_t expect[] = {481, 351, 1256, 317, 299, 263, 406, 272, 262, 344, 48, 301, 313, 317, 299, 263,
                                406, 301, 339, 291, 262, 1080, 272, 262, 344, 48, 271, 317, 299, 263, 1653, 485};

int main(void) {
    const int np = (int)(sizeof prompt / sizeof prompt[0]), ng = (int)(sizeof expect / sizeof expect[0]);
    frugal_model *m = NULL;
    const char *dir = t_fixture("../../models/kjv-demo");
    CHECK(frugal_model_load(dir, &m) == 0, "load %s: %s", dir, frugal_last_error());
    if (!m) return t_done();
    frugal_model_info in;
    frugal_model_get_info(m, &in);
    CHECK(!strcmp(in.arch, "deepseek_v3"), "arch %s", in.arch);
    CHECK(in.n_vocab == 2048 && in.n_layer == 4 && in.n_mtp == 1 && in.n_moe_layers == 3, "shape: vocab %d layers %d mtp %d moe %d",
          in.n_vocab, in.n_layer, in.n_mtp, in.n_moe_layers);
    CHECK(in.n_expert == 8 && in.n_expert_used == 2, "experts %d used %d", in.n_expert, in.n_expert_used);
    CHECK(in.bos_token_id == 0 && in.eos_token_id == 1, "bos %d eos %d", in.bos_token_id, in.eos_token_id);

    frugal_context_params cp = frugal_context_default_params();
    cp.n_ctx = np + ng;
    cp.n_threads = 2;
    frugal_context *ctx = NULL;
    CHECK(frugal_context_create(m, &cp, &ctx) == 0, "context: %s", frugal_last_error());
    if (ctx) {
        int32_t got[64];
        int ok = frugal_eval(ctx, prompt, np, 0, 0) == 0;
        CHECK(ok, "prefill: %s", frugal_last_error());
        for (int j = 0; ok && j < ng; j++) {
            const float *lg = frugal_get_logits(ctx, j == 0 ? np - 1 : 0);
            int b = 0;
            for (int i = 1; i < in.n_vocab; i++)
                if (lg[i] > lg[b]) b = i;
            got[j] = b;
            if (j + 1 < ng) ok = frugal_eval(ctx, &got[j], 1, np + j, 0) == 0;
        }
        CHECK(ok, "decode: %s", frugal_last_error());
        int first_diff = -1;
        for (int j = 0; ok && j < ng && first_diff < 0; j++)
            if (got[j] != expect[j]) first_diff = j;
        CHECK(ok && first_diff < 0, "greedy differs from PyTorch at step %d: %d != %d", first_diff,
              first_diff >= 0 ? got[first_diff] : -1, first_diff >= 0 ? expect[first_diff] : -1);
        frugal_context_free(ctx);
    }
    frugal_model_free(m);
    return t_done();
}
