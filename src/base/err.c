#include "base/err.h"

#include <stdio.h>
#include <string.h>

#include "frugal.h"

static _Thread_local char g_msg[2048];

int fr_err(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_msg, sizeof g_msg, fmt, ap);
    va_end(ap);
    return -1;
}

int fr_err_prefix(const char *fmt, ...) {
    char old[sizeof g_msg];
    memcpy(old, g_msg, sizeof old);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(g_msg, sizeof g_msg, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n + 3 < sizeof g_msg) {
        size_t room = sizeof g_msg - (size_t)n;
        g_msg[n] = ':';
        g_msg[n + 1] = ' ';
        size_t l = strnlen(old, room - 3);
        memcpy(g_msg + n + 2, old, l);
        g_msg[(size_t)n + 2 + l] = 0;
    }
    return -1;
}

const char *fr_err_msg(void) { return g_msg; }
void fr_err_clear(void) { g_msg[0] = 0; }
const char *frugal_last_error(void) { return g_msg; }
