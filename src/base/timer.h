#ifndef FR_TIMER_H
#define FR_TIMER_H
#include <time.h>
/* seconds on clock id: CLOCK_MONOTONIC (wall), CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID */
static inline double fr_clock_s(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
static inline double fr_now(void) { return fr_clock_s(CLOCK_MONOTONIC); }
#endif
