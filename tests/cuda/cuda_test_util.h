/* cuda_test_util.h - helpers shared by the GPU tests: random data, paired
 * buffers on the CUDA backend and the CPU oracle, and error measures.
 *
 * Inputs are drawn in fp32 on the host, then rounded to the GPU's activation
 * dtype by a round trip through the GPU (act_from_host_f32 / act_to_host_f32)
 * before the CPU sees them, so both backends start from identical values and
 * every difference is the computation's.
 *
 * Error measure: relative norm ||gpu - cpu||_2 / ||cpu||_2 (infinite when the
 * GPU result holds a NaN or Inf the CPU result does not).
 */
#ifndef RD_TESTS_CUDA_TEST_UTIL_H
#define RD_TESTS_CUDA_TEST_UTIL_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "backend/backend.h"
#include "core/mem.h"
#include "core/rng.h"
#include "test_util.h"

static inline void cu_rand(float *v, size_t n, uint32_t seed, double lo, double hi) {
  RngStream s;
  rng_stream_init(&s, 0x5eed, rng_id_hi(RNG_DOMAIN_TEST, seed), 0);
  for (size_t i = 0; i < n; i++) v[i] = (float)rng_uniform_range(&s, lo, hi);
}

static inline double cu_rel_err(const float *gpu, const float *cpu, size_t n) {
  double num = 0, den = 0;
  for (size_t i = 0; i < n; i++) {
    if (!isfinite(gpu[i]) && isfinite(cpu[i])) return INFINITY;
    double d = (double)gpu[i] - (double)cpu[i];
    num += d * d;
    den += (double)cpu[i] * (double)cpu[i];
  }
  if (den == 0) return sqrt(num);
  return sqrt(num / den);
}

static inline double cu_rel_err_f64(const double *gpu, const double *cpu, size_t n) {
  double num = 0, den = 0;
  for (size_t i = 0; i < n; i++) {
    if (!isfinite(gpu[i]) && isfinite(cpu[i])) return INFINITY;
    double d = gpu[i] - cpu[i];
    num += d * d;
    den += cpu[i] * cpu[i];
  }
  if (den == 0) return sqrt(num);
  return sqrt(num / den);
}

static inline double cu_max_abs_diff(const float *a, const float *b, size_t n) {
  double m = 0;
  for (size_t i = 0; i < n; i++) {
    double d = fabs((double)a[i] - (double)b[i]);
    if (!(d <= m)) m = d; /* NaN propagates */
  }
  return m;
}

/* Records one comparison: prints the measured error next to its tolerance
 * (so a log from the GPU machine shows the margins) and checks it. */
#define CU_EXPECT(err, tol, ...)                                                  \
  do {                                                                            \
    char cu_what_[256];                                                           \
    snprintf(cu_what_, sizeof cu_what_, __VA_ARGS__);                             \
    double cu_e_ = (err), cu_t_ = (tol);                                          \
    printf("  %-60s err %.3e  tol %.1e%s\n", cu_what_, cu_e_, cu_t_,             \
           cu_e_ <= cu_t_ ? "" : "  <-- FAIL");                                   \
    T_CHECK(cu_e_ <= cu_t_, "%s: error %.3e above %.1e", cu_what_, cu_e_, cu_t_); \
  } while (0)

#endif
