/* test_sampler.c - the epoch permutation and the per-rank slices
 * (DESIGN.md decision 8): disjoint and covering, independent of world size,
 * W ranks' batch j == one rank's global batch j, evaluation sees every sample
 * exactly once. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "data/sampler.h"
#include "test_util.h"

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

static void test_permutation(void) {
  enum { N = 5000 };
  static int64_t a[N], b[N], c[N];
  static int seen[N];
  sampler_permutation(7, 3, N, a);
  sampler_permutation(7, 3, N, b);
  sampler_permutation(7, 4, N, c);
  int same_ab = 1, same_ac = 1;
  memset(seen, 0, sizeof seen);
  for (int i = 0; i < N; i++) {
    same_ab &= a[i] == b[i];
    same_ac &= a[i] == c[i];
    if (a[i] >= 0 && a[i] < N) seen[a[i]]++;
  }
  int all_once = 1;
  for (int i = 0; i < N; i++) all_once &= seen[i] == 1;
  T_CHECK(all_once, "not a permutation");
  T_CHECK(same_ab, "same (seed, epoch) gave different orders");
  T_CHECK(!same_ac, "epochs 3 and 4 gave the same order");
  int fixed = 0;
  for (int i = 0; i < N; i++) fixed += a[i] == i;
  T_CHECK(fixed < 20, "%d fixed points: not shuffled", fixed);
}

/* Training: ranks' slices are disjoint, cover the first steps*B*W positions,
 * and the union of the ranks' batch j is one rank's batch j with B*W. */
static void test_train_slices(void) {
  enum { N = 1003, B = 7 };
  static int64_t pos[4 * B], all[N], one[4 * B];
  for (int W = 1; W <= 4; W++) {
    Sampler s0 = {N, B, 0, W, 1, 1};
    int64_t steps = sampler_steps(&s0);
    T_CHECK(steps == N / (B * W), "W=%d steps %lld", W, (long long)steps);
    Sampler global = {N, B * W, 0, 1, 1, 1};
    T_CHECK(sampler_steps(&global) == steps, "W=%d: global steps differ", W);
    int64_t n_all = 0;
    for (int64_t j = 0; j < steps; j++) {
      int64_t n_j = 0;
      for (int r = 0; r < W; r++) {
        Sampler s = {N, B, r, W, 1, 1};
        int n = sampler_batch_positions(&s, j, pos + n_j);
        T_CHECK(n == B, "W=%d r=%d j=%lld: %d samples", W, r, (long long)j, n);
        n_j += n;
      }
      memcpy(all + n_all, pos, (size_t)n_j * sizeof(int64_t));
      n_all += n_j;
      int n1 = sampler_batch_positions(&global, j, one);
      qsort(pos, (size_t)n_j, sizeof(int64_t), cmp_i64);
      T_CHECK(n1 == n_j && !memcmp(pos, one, (size_t)n_j * sizeof(int64_t)),
              "W=%d batch %lld differs from the global batch", W, (long long)j);
    }
    qsort(all, (size_t)n_all, sizeof(int64_t), cmp_i64);
    int ok = n_all == steps * B * W;
    for (int64_t i = 0; ok && i < n_all; i++) ok = all[i] == i;
    T_CHECK(ok, "W=%d: positions are not exactly [0, %lld)", W, (long long)(steps * B * W));
  }
}

/* Evaluation: every sample exactly once over all ranks, rank r gets r, r+W, ... */
static void test_eval_slices(void) {
  enum { N = 103, B = 8 };
  static int64_t pos[B];
  static int seen[N];
  for (int W = 1; W <= 5; W++) {
    memset(seen, 0, sizeof seen);
    for (int r = 0; r < W; r++) {
      Sampler s = {N, B, r, W, 0, 1};
      int64_t steps = sampler_steps(&s), expect_n = (N - r + W - 1) / W, got = 0, next = r;
      T_CHECK(steps == (expect_n + B - 1) / B, "W=%d r=%d steps %lld", W, r, (long long)steps);
      for (int64_t j = 0; j < steps; j++) {
        int n = sampler_batch_positions(&s, j, pos);
        T_CHECK(n == B || j == steps - 1, "partial batch before the last");
        for (int i = 0; i < n; i++) {
          T_CHECK(pos[i] == next, "W=%d r=%d: %lld, expected %lld", W, r, (long long)pos[i],
                  (long long)next);
          next += W;
          if (pos[i] >= 0 && pos[i] < N) seen[pos[i]]++;
        }
        got += n;
      }
      T_CHECK(got == expect_n, "W=%d r=%d: %lld samples", W, r, (long long)got);
    }
    int once = 1;
    for (int i = 0; i < N; i++) once &= seen[i] == 1;
    T_CHECK(once, "W=%d: some sample not seen exactly once", W);
  }
  Sampler tiny = {3, 4, 4, 5, 0, 1};  /* more ranks than samples */
  T_CHECK(sampler_steps(&tiny) == 0, "rank without samples has steps");
}

int main(void) {
  TEST_RUN(test_permutation);
  TEST_RUN(test_train_slices);
  TEST_RUN(test_eval_slices);
  return test_summary();
}
