/* sampler.h - which samples a rank sees, in which order (DESIGN.md decision 8).
 *
 * Training: one global permutation of [0, N) per epoch, a pure function of
 * (seed, epoch) through the Philox stream (RNG_DOMAIN_SHUFFLE, sub-id epoch).
 * Rank r of W with per-rank batch B takes, for its batch j, the positions
 * j*B*W + r + W*i (i in [0, B)) of that permutation: the strided slice of
 * torch's DistributedSampler.  Steps per epoch = floor(N / (B*W)), so every
 * rank runs the same number of steps and the W ranks' batches j together are
 * exactly the global batch j of one rank with batch B*W.
 *
 * Evaluation: no shuffle; rank r takes r, r+W, r+2W, ... in batches of B, the
 * last one partial.  Every sample is seen once, by exactly one rank.
 *
 * Invariants: the permutation does not depend on W, B, r or thread count.
 */
#ifndef RD_DATA_SAMPLER_H
#define RD_DATA_SAMPLER_H

#include <stdint.h>

typedef struct {
  int64_t n_samples;  /* N */
  int batch;          /* B, per rank */
  int rank, world;    /* r, W */
  int shuffle;        /* 1: training order and drop-last; 0: evaluation order */
  uint64_t seed;
} Sampler;

/* Batches this rank runs in one epoch. */
int64_t sampler_steps(const Sampler *s);

/* perm (n) = the epoch's permutation of [0, n) (Fisher-Yates over Philox). */
void sampler_permutation(uint64_t seed, int64_t epoch, int64_t n, int64_t *perm);

/* The epoch-order positions of this rank's batch `step` into pos (batch);
 * returns how many are valid (B, or fewer for the last evaluation batch).
 * The sample at position k is perm[k] when shuffling, k itself otherwise. */
int sampler_batch_positions(const Sampler *s, int64_t step, int64_t *pos);

#endif
