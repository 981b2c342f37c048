/* rng.h - counter-based random numbers: output = f(seed, stream ids, position).
 *
 * Philox-4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3",
 * SC'11) is a keyed bijection on 128-bit counters.  The key is the 64-bit seed;
 * the counter is (position lo, position hi, id_lo, id_hi).  A stream is
 * therefore a pure function of (seed, id_hi, id_lo): no state is shared, no
 * thread or rank order matters, and any position can be reached directly.
 * Checked against Random123's published known answers (tests/core).
 *
 * Stream ids used by the project (id_hi = domain << 24 | sub-id):
 *   RNG_DOMAIN_INIT    parameter initialisation, sub-id = parameter index
 *   RNG_DOMAIN_SHUFFLE epoch permutation,        sub-id = epoch
 *   RNG_DOMAIN_AUGMENT per-sample augmentation,  sub-id = epoch, id_lo = sample
 *   RNG_DOMAIN_SYNTH   synthetic data,           sub-id = split, id_lo = sample
 */
#ifndef RD_CORE_RNG_H
#define RD_CORE_RNG_H

#include <stdint.h>

enum {
  RNG_DOMAIN_INIT = 1,
  RNG_DOMAIN_SHUFFLE = 2,
  RNG_DOMAIN_AUGMENT = 3,
  RNG_DOMAIN_SYNTH = 4,
  RNG_DOMAIN_TEST = 5,
};

/* One Philox-4x32-10 block: out = bijection_key(ctr). */
void rng_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);

/* SplitMix64 step (Steele et al. 2014): advances *state, returns the output. */
uint64_t rng_splitmix64(uint64_t *state);

/* Stateless 64-bit mix of x (SplitMix64's finaliser). */
uint64_t rng_mix64(uint64_t x);

typedef struct {
  uint32_t key[2];
  uint32_t ctr[4];  /* ctr[0..1] = block position, ctr[2] = id_lo, ctr[3] = id_hi */
  uint32_t buf[4];  /* current block's output */
  int used;         /* words of buf already consumed (4 = empty) */
} RngStream;

/* id_hi(domain, sub): the conventional high stream id. */
static inline uint32_t rng_id_hi(uint32_t domain, uint32_t sub) {
  return (domain << 24) | (sub & 0xFFFFFFu);
}

void rng_stream_init(RngStream *s, uint64_t seed, uint32_t id_hi, uint32_t id_lo);
uint32_t rng_u32(RngStream *s);
uint64_t rng_u64(RngStream *s);
double rng_uniform(RngStream *s);          /* [0, 1), 53 random bits */
float rng_uniform_f32(RngStream *s);       /* [0, 1), 24 random bits */
double rng_uniform_range(RngStream *s, double lo, double hi); /* [lo, hi) */
uint32_t rng_below(RngStream *s, uint32_t n); /* uniform in [0, n), unbiased; n > 0 */
double rng_normal(RngStream *s);           /* N(0, 1), Box-Muller */

#endif
