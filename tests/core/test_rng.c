/* test_rng.c - Philox-4x32-10 and SplitMix64 known answers; stream
 * properties (purity, independence, uniformity, unbiased bounded draws). */
#include <stdint.h>
#include <string.h>

#include "core/rng.h"
#include "test_util.h"

/* Random123 kat_vectors: counter[4] key[2] -> output[4]. */
static void test_philox_known_answers(void) {
  static const uint32_t kat[3][10] = {
      {0, 0, 0, 0, 0, 0, 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8},
      {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0x408f276d,
       0x41c83b0e, 0xa20bc7c6, 0x6d5451fd},
      {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0, 0xd16cfe09,
       0x94fdcceb, 0x5001e420, 0x24126ea1},
  };
  for (int i = 0; i < 3; i++) {
    uint32_t out[4];
    rng_philox4x32_10(kat[i], kat[i] + 4, out);
    for (int j = 0; j < 4; j++)
      T_CHECK(out[j] == kat[i][6 + j], "vector %d word %d: %08x != %08x", i, j, out[j],
              kat[i][6 + j]);
  }
}

/* SplitMix64 from state 0 (reference outputs of Vigna's splitmix64.c). */
static void test_splitmix_known_answers(void) {
  uint64_t s = 0;
  static const uint64_t want[3] = {0xe220a8397b1dcdafull, 0x6e789e6aa1b965f4ull,
                                   0x06c45d188009454full};
  for (int i = 0; i < 3; i++) {
    uint64_t got = rng_splitmix64(&s);
    T_CHECK(got == want[i], "output %d: %016llx", i, (unsigned long long)got);
  }
}

/* The stream's first block is exactly Philox of (pos 0, ids) keyed by seed. */
static void test_stream_is_philox(void) {
  RngStream s;
  uint64_t seed = 0x0123456789abcdefull;
  rng_stream_init(&s, seed, 7, 11);
  uint32_t ctr[4] = {0, 0, 11, 7}, key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)}, out[4];
  rng_philox4x32_10(ctr, key, out);
  for (int j = 0; j < 4; j++) T_CHECK(rng_u32(&s) == out[j], "word %d", j);
  ctr[0] = 1;
  rng_philox4x32_10(ctr, key, out);
  T_CHECK(rng_u32(&s) == out[0], "second block");
}

/* Same (seed, ids) -> same sequence, whatever happened before. */
static void test_stream_purity(void) {
  RngStream a, b, noise;
  rng_stream_init(&noise, 1, 2, 3);
  for (int i = 0; i < 1000; i++) rng_u32(&noise);
  rng_stream_init(&a, 42, rng_id_hi(RNG_DOMAIN_AUGMENT, 3), 12345);
  rng_stream_init(&b, 42, rng_id_hi(RNG_DOMAIN_AUGMENT, 3), 12345);
  for (int i = 0; i < 1000; i++) T_CHECK(rng_u64(&a) == rng_u64(&b), "draw %d", i);
}

/* Neighbouring streams (ids differing by one bit, or seeds differing by one)
 * are uncorrelated: correlation of their uniforms ~ N(0, 1/n). */
static void test_stream_independence(void) {
  enum { N = 20000 };
  struct { uint64_t seed; uint32_t hi, lo; } pairs[][2] = {
      {{5, 1, 0}, {5, 1, 1}},
      {{5, 1, 0}, {5, 2, 0}},
      {{5, 1, 0}, {6, 1, 0}},
      {{5, 1, 0x80000000u}, {5, 1, 0}},
  };
  for (size_t p = 0; p < sizeof pairs / sizeof pairs[0]; p++) {
    RngStream a, b;
    rng_stream_init(&a, pairs[p][0].seed, pairs[p][0].hi, pairs[p][0].lo);
    rng_stream_init(&b, pairs[p][1].seed, pairs[p][1].hi, pairs[p][1].lo);
    double sa = 0, sb = 0, sab = 0, saa = 0, sbb = 0;
    int equal = 0;
    for (int i = 0; i < N; i++) {
      uint32_t ua = rng_u32(&a), ub = rng_u32(&b);
      equal += ua == ub;
      double x = ua / 4294967296.0, y = ub / 4294967296.0;
      sa += x; sb += y; sab += x * y; saa += x * x; sbb += y * y;
    }
    double cov = sab / N - (sa / N) * (sb / N);
    double corr = cov / sqrt((saa / N - (sa / N) * (sa / N)) * (sbb / N - (sb / N) * (sb / N)));
    T_CHECK(fabs(corr) < 5.0 / sqrt((double)N), "pair %zu: correlation %g", p, corr);
    T_CHECK(equal < 3, "pair %zu: %d equal words", p, equal);
  }
}

/* Uniform [0,1): mean 1/2, variance 1/12; rng_below covers [0,n) evenly. */
static void test_distributions(void) {
  enum { N = 200000 };
  RngStream s;
  rng_stream_init(&s, 99, 1, 1);
  double sum = 0, sq = 0, lo = 1, hi = 0;
  for (int i = 0; i < N; i++) {
    double u = rng_uniform(&s);
    sum += u; sq += u * u;
    if (u < lo) lo = u;
    if (u > hi) hi = u;
  }
  T_NEAR(sum / N, 0.5, 0, 0.005, "uniform mean");
  T_NEAR(sq / N - (sum / N) * (sum / N), 1.0 / 12, 0, 0.002, "uniform variance");
  T_CHECK(lo >= 0 && hi < 1, "range [%g, %g]", lo, hi);
  int counts[7] = {0};
  for (int i = 0; i < 70000; i++) counts[rng_below(&s, 7)]++;
  for (int k = 0; k < 7; k++) T_CHECK(abs(counts[k] - 10000) < 500, "bucket %d: %d", k, counts[k]);
  double nm = 0, nv = 0;
  for (int i = 0; i < N; i++) {
    double z = rng_normal(&s);
    nm += z; nv += z * z;
  }
  T_NEAR(nm / N, 0.0, 0, 0.01, "normal mean");
  T_NEAR(nv / N, 1.0, 0, 0.02, "normal variance");
}

int main(void) {
  TEST_RUN(test_philox_known_answers);
  TEST_RUN(test_splitmix_known_answers);
  TEST_RUN(test_stream_is_philox);
  TEST_RUN(test_stream_purity);
  TEST_RUN(test_stream_independence);
  TEST_RUN(test_distributions);
  return test_summary();
}
