/* Errors: a thread-local message, set where a failure is found. */
#ifndef FR_ERR_H
#define FR_ERR_H

#include <stdarg.h>

#if defined(__GNUC__)
#define FR_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define FR_PRINTF(a, b)
#endif

/* Set the message and return -1, so callers can `return fr_err(...)`. */
int fr_err(const char *fmt, ...) FR_PRINTF(1, 2);
/* Prefix the current message with more context: "<prefix>: <old message>". */
int fr_err_prefix(const char *fmt, ...) FR_PRINTF(1, 2);
const char *fr_err_msg(void);
void fr_err_clear(void);

#endif
