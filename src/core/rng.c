/* rng.c - Philox-4x32-10 and SplitMix64; see rng.h. */
#include "core/rng.h"

#include <math.h>

#include "core/check.h"

enum { PHILOX_ROUNDS = 10 };
static const uint32_t PHILOX_M0 = 0xD2511F53u, PHILOX_M1 = 0xCD9E8D57u;
static const uint32_t PHILOX_W0 = 0x9E3779B9u, PHILOX_W1 = 0xBB67AE85u;

void rng_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]) {
  uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
  uint32_t k0 = key[0], k1 = key[1];
  for (int r = 0; r < PHILOX_ROUNDS; r++) {
    if (r > 0) { /* key schedule: bump before every round but the first */
      k0 += PHILOX_W0;
      k1 += PHILOX_W1;
    }
    uint64_t p0 = (uint64_t)PHILOX_M0 * c0;
    uint64_t p1 = (uint64_t)PHILOX_M1 * c2;
    uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
    uint32_t n1 = (uint32_t)p1;
    uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
    uint32_t n3 = (uint32_t)p0;
    c0 = n0;
    c1 = n1;
    c2 = n2;
    c3 = n3;
  }
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
}

uint64_t rng_mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint64_t rng_splitmix64(uint64_t *state) {
  *state += 0x9E3779B97F4A7C15ull;
  return rng_mix64(*state);
}

void rng_stream_init(RngStream *s, uint64_t seed, uint32_t id_hi, uint32_t id_lo) {
  s->key[0] = (uint32_t)seed;
  s->key[1] = (uint32_t)(seed >> 32);
  s->ctr[0] = 0;
  s->ctr[1] = 0;
  s->ctr[2] = id_lo;
  s->ctr[3] = id_hi;
  s->used = 4;
}

uint32_t rng_u32(RngStream *s) {
  if (s->used == 4) {
    rng_philox4x32_10(s->ctr, s->key, s->buf);
    if (++s->ctr[0] == 0) ++s->ctr[1];
    s->used = 0;
  }
  return s->buf[s->used++];
}

uint64_t rng_u64(RngStream *s) {
  uint64_t hi = rng_u32(s);
  return (hi << 32) | rng_u32(s);
}

double rng_uniform(RngStream *s) { return (double)(rng_u64(s) >> 11) * 0x1.0p-53; }

float rng_uniform_f32(RngStream *s) { return (float)(rng_u32(s) >> 8) * 0x1.0p-24f; }

double rng_uniform_range(RngStream *s, double lo, double hi) {
  return lo + (hi - lo) * rng_uniform(s);
}

uint32_t rng_below(RngStream *s, uint32_t n) {
  CHECK(n > 0, "rng_below(0)");
  /* Lemire's multiply-and-reject: unbiased, one division only when rejecting. */
  uint64_t m = (uint64_t)rng_u32(s) * n;
  uint32_t low = (uint32_t)m;
  if (low < n) {
    uint32_t threshold = (uint32_t)(-n) % n;
    while (low < threshold) {
      m = (uint64_t)rng_u32(s) * n;
      low = (uint32_t)m;
    }
  }
  return (uint32_t)(m >> 32);
}

double rng_normal(RngStream *s) {
  double u1 = rng_uniform(s);
  double u2 = rng_uniform(s);
  if (u1 < 1e-300) u1 = 1e-300;
  return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}
