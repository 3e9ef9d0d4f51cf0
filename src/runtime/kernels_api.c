/* Public kernel selection (include/frugal.h) over kernels/dispatch.c. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "base/cpu.h"
#include "base/err.h"
#include "frugal.h"
#include "kernels/kernels.h"

const char *frugal_kernels(void) { return fr_kernels()->name; }

int frugal_set_kernels(const char *name) {
    const fr_kernel_table *t = fr_kernels_isa(name);
    if (!t) { /* name the ones this CPU has */
        static const char *const all[] = {"generic", "avx2", "avx512", "avx512vnni", "avx512bf16", "amx", "amxemu"};
        char have[128] = "";
        for (size_t i = 0; i < sizeof all / sizeof *all; i++)
            if (fr_kernels_isa(all[i]))
                snprintf(have + strlen(have), sizeof have - strlen(have), "%s%s", *have ? ", " : "", all[i]);
        return fr_err("kernels '%s': not available on this CPU or build (available: %s)", name, have);
    }
    fr_kernels_set(t);
    return 0;
}

static char g_feat[256];
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static void init(void) { fr_cpu_describe(g_feat, sizeof g_feat); }

const char *frugal_cpu_features(void) {
    pthread_once(&g_once, init);
    return g_feat;
}
