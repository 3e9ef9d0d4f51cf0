/* Public kernel selection (include/frugal.h) over kernels/dispatch.c. */
#include <pthread.h>

#include "base/cpu.h"
#include "base/err.h"
#include "frugal.h"
#include "kernels/kernels.h"

const char *frugal_kernels(void) { return fr_kernels()->name; }

int frugal_set_kernels(const char *name) {
    const fr_kernel_table *t = fr_kernels_isa(name);
    if (!t) return fr_err("kernels '%s': not available on this CPU or build (generic, avx2, avx512)", name);
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
