/* sampler.c - epoch permutation and per-rank batch positions; see sampler.h. */
#include "data/sampler.h"

#include "core/check.h"
#include "core/rng.h"

/* Samples rank r holds in evaluation order: r, r+W, ... below N. */
static int64_t eval_count(const Sampler *s) {
  if (s->rank >= s->n_samples) return 0;
  return (s->n_samples - s->rank + s->world - 1) / s->world;
}

int64_t sampler_steps(const Sampler *s) {
  if (s->shuffle) return s->n_samples / ((int64_t)s->batch * s->world);
  return (eval_count(s) + s->batch - 1) / s->batch;
}

void sampler_permutation(uint64_t seed, int64_t epoch, int64_t n, int64_t *perm) {
  CHECK(n < ((int64_t)1 << 32), "permutation of %lld samples", (long long)n);
  RngStream rs;
  rng_stream_init(&rs, seed, rng_id_hi(RNG_DOMAIN_SHUFFLE, (uint32_t)epoch), 0);
  for (int64_t i = 0; i < n; i++) perm[i] = i;
  for (int64_t i = n - 1; i > 0; i--) {
    int64_t j = rng_below(&rs, (uint32_t)(i + 1));
    int64_t t = perm[i];
    perm[i] = perm[j];
    perm[j] = t;
  }
}

int sampler_batch_positions(const Sampler *s, int64_t step, int64_t *pos) {
  CHECK(step >= 0 && step < sampler_steps(s), "batch %lld of %lld", (long long)step,
        (long long)sampler_steps(s));
  int64_t W = s->world, B = s->batch;
  if (s->shuffle) {
    for (int64_t i = 0; i < B; i++) pos[i] = step * B * W + s->rank + W * i;
    return (int)B;
  }
  int64_t first = step * B, n = eval_count(s) - first;
  if (n > B) n = B;
  for (int64_t i = 0; i < n; i++) pos[i] = s->rank + W * (first + i);
  return (int)n;
}
