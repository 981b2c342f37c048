/* test_util.h - the project's one way of writing a C test.
 *
 * A test is a program: main() calls TEST_RUN(fn) for each case and returns
 * test_summary().  T_CHECK / T_NEAR record a failure (with file:line and the
 * values) and continue, so one run reports every broken assertion.  A test
 * that cannot run here calls test_skip("why"), which prints "skipped: why"
 * and exits 77 (CTest's SKIP_RETURN_CODE) -- never a pass.
 */
#ifndef RD_TESTS_TEST_UTIL_H
#define RD_TESTS_TEST_UTIL_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int t_failures;
static int t_checks;

#define T_CHECK(cond, ...)                                          \
  do {                                                              \
    t_checks++;                                                     \
    if (!(cond)) {                                                  \
      t_failures++;                                                 \
      fprintf(stderr, "%s:%d: FAILED: %s: ", __FILE__, __LINE__, #cond); \
      fprintf(stderr, __VA_ARGS__);                                 \
      fputc('\n', stderr);                                          \
    }                                                               \
  } while (0)

/* |a - b| <= atol + rtol * max(|a|, |b|) */
#define T_NEAR(a, b, rtol, atol, what)                                              \
  do {                                                                              \
    double t_a_ = (double)(a), t_b_ = (double)(b);                                  \
    double t_m_ = fabs(t_a_) > fabs(t_b_) ? fabs(t_a_) : fabs(t_b_);                \
    T_CHECK(fabs(t_a_ - t_b_) <= (atol) + (rtol) * t_m_, "%s: %.9g vs %.9g", what, \
            t_a_, t_b_);                                                            \
  } while (0)

#define TEST_RUN(fn)                                  \
  do {                                                \
    int t_before_ = t_failures;                       \
    fn();                                             \
    printf("%-48s %s\n", #fn, t_failures == t_before_ ? "ok" : "FAILED"); \
    fflush(stdout);                                   \
  } while (0)

static inline int test_summary(void) {
  printf("%d checks, %d failed\n", t_checks, t_failures);
  return t_failures ? 1 : 0;
}

static inline void test_skip(const char *why) {
  printf("skipped: %s\n", why);
  fflush(stdout);
  exit(77);
}

#endif
