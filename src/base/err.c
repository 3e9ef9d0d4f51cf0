#include "base/err.h"

#include <stdio.h>

#include "frugal.h"

static _Thread_local char g_msg[2048];

int fr_err(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_msg, sizeof g_msg, fmt, ap);
    va_end(ap);
    return -1;
}

const char *fr_err_msg(void) { return g_msg; }
void fr_err_clear(void) { g_msg[0] = 0; }
const char *frugal_last_error(void) { return g_msg; }
