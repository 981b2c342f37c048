/* test_eval_sum.c - distributed evaluation counts every validation sample
 * exactly once.  A validation set whose size is not a multiple of the rank
 * count is split as the pipeline splits it (rank r takes r, r+W, r+2W, ...,
 * in batches, the last one partial); a stand-in model "predicts" each sample
 * by a fixed rule; the summed totals must equal one process going through
 * the whole set, and a per-sample visit count summed over ranks must be all
 * ones (no sample dropped, none counted twice, no padding).
 */
#include <string.h>

#include "core/mem.h"
#include "core/rng.h"
#include "dist/eval_sum.h"
#include "dist_test_util.h"

enum { N_VAL = 1001, BATCH = 64 };

/* Whether sample i is a top-1 / top-5 hit, and its loss (fixed per sample). */
static int hit1(int64_t i) { return rng_mix64((uint64_t)i) % 10 < 7; }
static int hit5(int64_t i) { return hit1(i) || rng_mix64((uint64_t)i) % 10 < 9; }
static double loss_of(int64_t i) { return (double)(rng_mix64((uint64_t)i ^ 0xabc) % 1000) / 256.0; }

static EvalTotals count_samples(int64_t first, int64_t stride, int32_t *visits) {
  EvalTotals t;
  memset(&t, 0, sizeof t);
  int64_t idx = first;
  while (idx < N_VAL) {
    int in_batch = 0;
    for (; in_batch < BATCH && idx < N_VAL; in_batch++, idx += stride) {
      visits[idx]++;
      t.top1 += hit1(idx);
      t.top5 += hit5(idx);
      t.loss_sum += loss_of(idx);
      t.n_corrupt += idx % 97 == 0;
    }
    t.n_samples += in_batch;
  }
  return t;
}

static Dist *g_d;
static Comm *g_c;

static void test_every_sample_once(void) {
  int32_t *visits = mem_calloc_or_die(N_VAL, sizeof *visits, "visit counts");
  EvalTotals mine = count_samples(g_c->rank, g_c->size, visits);
  T_CHECK(mine.n_samples == (N_VAL - g_c->rank + g_c->size - 1) / g_c->size,
          "rank %d saw %lld samples", g_c->rank, (long long)mine.n_samples);
  eval_totals_allreduce(g_c, &mine);
  g_c->allreduce(g_c, visits, N_VAL, COMM_I32, COMM_SUM, "all-reduce of visit counts");
  int wrong = 0;
  for (int i = 0; i < N_VAL; i++) wrong += visits[i] != 1;
  T_CHECK(wrong == 0, "%d samples were not counted exactly once", wrong);

  int32_t *solo_visits = mem_calloc_or_die(N_VAL, sizeof *solo_visits, "visit counts");
  EvalTotals solo = count_samples(0, 1, solo_visits);
  T_CHECK(mine.n_samples == N_VAL && solo.n_samples == N_VAL, "samples %lld / %lld",
          (long long)mine.n_samples, (long long)solo.n_samples);
  T_CHECK(mine.top1 == solo.top1 && mine.top5 == solo.top5 && mine.n_corrupt == solo.n_corrupt,
          "hits %lld/%lld top-5 %lld/%lld", (long long)mine.top1, (long long)solo.top1,
          (long long)mine.top5, (long long)solo.top5);
  T_NEAR(mine.loss_sum, solo.loss_sum, 1e-12, 0, "loss sum");
  T_CHECK(eval_top1(&mine) == (double)solo.top1 / N_VAL, "top-1 %.6f", eval_top1(&mine));
  T_CHECK(eval_top5(&mine) == (double)solo.top5 / N_VAL, "top-5 %.6f", eval_top5(&mine));
  T_NEAR(eval_mean_loss(&mine), solo.loss_sum / N_VAL, 1e-12, 0, "mean loss");
  mem_free(visits);
  mem_free(solo_visits);
}

int main(int argc, char **argv) {
  g_d = dist_test_init(&argc, &argv);
  g_c = comm_mpi_create(g_d, 0);
  TEST_RUN(test_every_sample_once);
  return dist_test_finish(g_d, g_c);
}
