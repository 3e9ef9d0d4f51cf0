/* Sampling against its definitions: greedy, top-k, top-p, min-p, temperature
 * (frequencies vs the softmax they should follow), repetition penalty, seeds. */
#include "frugal.h"
#include "testutil.h"

static frugal_sampler *mk(float temp, int k, float p, float minp, float rep) {
    frugal_sampler_params sp = frugal_sampler_default_params();
    sp.temp = temp;
    sp.top_k = k;
    sp.top_p = p;
    sp.min_p = minp;
    sp.repeat_penalty = rep;
    sp.seed = 1234;
    frugal_sampler *s = NULL;
    CHECK(frugal_sampler_create(&sp, &s) == 0, "create: %s", frugal_last_error());
    return s;
}

/* frequencies of n draws */
static void freq(frugal_sampler *s, const float *l, int V, int n, double *f) {
    for (int i = 0; i < V; i++) f[i] = 0;
    for (int i = 0; i < n; i++) f[frugal_sample(s, l, V)] += 1.0 / n;
}

int main(void) {
    const float l3[3] = {0.0f, logf(2.0f), logf(3.0f)}; /* softmax 1/6, 2/6, 3/6 */
    double f[8];
    frugal_sampler *s;

    s = mk(0, 0, 1, 0, 1);
    float tie[4] = {1, 5, 5, 2};
    CHECK(frugal_sample(s, tie, 4) == 1, "greedy picks the lowest id among ties");
    CHECK(frugal_sample(s, l3, 3) == 2, "greedy");
    frugal_sampler_free(s);

    s = mk(1, 1, 1, 0, 1);
    int ok = 1;
    for (int i = 0; i < 100; i++) ok &= frugal_sample(s, l3, 3) == 2;
    CHECK(ok, "top_k 1 is greedy");
    frugal_sampler_free(s);

    s = mk(1, 0, 1, 0, 1);
    freq(s, l3, 3, 60000, f);
    CHECK(fabs(f[0] - 1 / 6.) < 0.01 && fabs(f[1] - 2 / 6.) < 0.01 && fabs(f[2] - 3 / 6.) < 0.01,
          "temp 1 frequencies %.3f %.3f %.3f", f[0], f[1], f[2]);
    frugal_sampler_free(s);

    s = mk(2, 0, 1, 0, 1); /* p ~ sqrt(1, 2, 3) */
    freq(s, l3, 3, 60000, f);
    double z = 1 + sqrt(2) + sqrt(3);
    CHECK(fabs(f[0] - 1 / z) < 0.01 && fabs(f[1] - sqrt(2) / z) < 0.01 && fabs(f[2] - sqrt(3) / z) < 0.01,
          "temp 2 frequencies %.3f %.3f %.3f", f[0], f[1], f[2]);
    frugal_sampler_free(s);

    s = mk(1, 2, 1, 0, 1); /* top-k 2: renormalised 2/5, 3/5 */
    freq(s, l3, 3, 60000, f);
    CHECK(f[0] == 0 && fabs(f[1] - 0.4) < 0.01 && fabs(f[2] - 0.6) < 0.01, "top_k 2: %.3f %.3f %.3f", f[0], f[1], f[2]);
    frugal_sampler_free(s);

    s = mk(1, 0, 0.5f, 0, 1); /* cumulative 0.5 reached by the first token */
    freq(s, l3, 3, 2000, f);
    CHECK(f[0] == 0 && f[1] == 0, "top_p 0.5 keeps one token: %.3f %.3f %.3f", f[0], f[1], f[2]);
    frugal_sampler_free(s);

    s = mk(1, 0, 0.6f, 0, 1); /* 0.5 < 0.6 <= 0.833: two tokens */
    freq(s, l3, 3, 60000, f);
    CHECK(f[0] == 0 && fabs(f[1] - 0.4) < 0.01, "top_p 0.6: %.3f %.3f %.3f", f[0], f[1], f[2]);
    frugal_sampler_free(s);

    s = mk(1, 0, 1, 0.5f, 1); /* keep p >= 0.25: tokens 1 and 2 */
    freq(s, l3, 3, 60000, f);
    CHECK(f[0] == 0 && fabs(f[1] - 0.4) < 0.01, "min_p 0.5: %.3f %.3f %.3f", f[0], f[1], f[2]);
    frugal_sampler_free(s);

    s = mk(0, 0, 1, 0, 2.0f); /* penalty: positive logits divided, negative multiplied */
    float lp[3] = {2.0f, 1.9f, -1.0f};
    frugal_sampler_accept(s, 0);
    CHECK(frugal_sample(s, lp, 3) == 1, "penalised token 0 (2 -> 1) loses to 1.9");
    frugal_sampler_free(s);
    s = mk(0, 0, 1, 0, 2.0f);
    float ln[3] = {-1.0f, -1.5f, -3.0f};
    frugal_sampler_accept(s, 0);
    CHECK(frugal_sample(s, ln, 3) == 1, "penalised token 0 (-1 -> -2) loses to -1.5");
    frugal_sampler_free(s);

    /* same seed, same draws; reset replays */
    frugal_sampler *a = mk(1, 0, 1, 0, 1), *b = mk(1, 0, 1, 0, 1);
    int seq[50], same = 1;
    for (int i = 0; i < 50; i++) {
        seq[i] = frugal_sample(a, l3, 3);
        same &= seq[i] == frugal_sample(b, l3, 3);
    }
    CHECK(same, "same seed, same draws");
    frugal_sampler_reset(a);
    same = 1;
    for (int i = 0; i < 50; i++) same &= seq[i] == frugal_sample(a, l3, 3);
    CHECK(same, "reset replays the draws");
    frugal_sampler_free(a);
    frugal_sampler_free(b);

    frugal_sampler_params bad = frugal_sampler_default_params();
    bad.top_p = 0;
    CHECK(frugal_sampler_create(&bad, &s) != 0 && strstr(frugal_last_error(), "top_p"), "bad params rejected");
    return t_done();
}
