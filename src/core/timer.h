/* timer.h - monotonic wall-clock time (CLOCK_MONOTONIC), header-only. */
#ifndef RD_CORE_TIMER_H
#define RD_CORE_TIMER_H

#include <stdint.h>
#include <time.h>

static inline uint64_t timer_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline double timer_now_s(void) { return (double)timer_now_ns() * 1e-9; }

/* Milliseconds since t0_ns (a value of timer_now_ns()). */
static inline double timer_since_ms(uint64_t t0_ns) {
  return (double)(timer_now_ns() - t0_ns) * 1e-6;
}

#endif
