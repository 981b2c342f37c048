/* test_pipeline.c - the pipeline contract on the synthetic source:
 * bit-identical pixels for the same global sample whatever the thread count
 * or rank count; W ranks' batch j == one rank's batch j with B*W; exact
 * mid-epoch resume; evaluation covers every sample once; cancelling and
 * closing mid-epoch do not hang; restarting while a batch is still held is
 * refused (a failed CHECK naming the rule); labels are the generator's. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "core/check.h"
#include "data/pipeline.h"
#include "data/synth.h"
#include "child_util.h"
#include "test_util.h"

enum { MAX_STEPS = 64 };

typedef struct {
  int n_steps, n_per_batch[MAX_STEPS];
  size_t img_bytes;
  uint8_t *images[MAX_STEPS];   /* (batch, H, W, 3) */
  int32_t *labels[MAX_STEPS];
  int n_corrupt;
} Epoch;

static void base_config(Config *c, int image_size, int batch) {
  config_defaults(c);
  c->data.source = SOURCE_SYNTHETIC;
  c->data.image_size = image_size;
  c->data.val_resize = image_size;
  c->data.val_crop = image_size;
  c->data.synthetic_train = 100;
  c->data.synthetic_val = 37;
  c->model.num_classes = 10;
  c->train.batch_size = batch;
  c->train.seed = 5;
}

static Pipeline *open_or_fail(const Config *c, int split, int rank, int world) {
  PipelineOptions o = {c, split, rank, world, NULL, NULL, NULL};
  char err[512];
  Pipeline *p = pipeline_open(&o, err, sizeof err);
  T_CHECK(p != NULL, "pipeline_open: %s", err);
  return p;
}

/* Runs one epoch from first_step, copying every batch. */
static void run_epoch(Pipeline *p, int64_t epoch, int64_t first_step, Epoch *e) {
  memset(e, 0, sizeof *e);
  pipeline_start_epoch(p, epoch, first_step);
  const Batch *b;
  while ((b = pipeline_next(p)) != NULL) {
    if (e->n_steps == MAX_STEPS) {
      pipeline_release(p, b);
      continue;
    }
    T_CHECK(b->step == first_step + e->n_steps, "step %lld", (long long)b->step);
    T_CHECK(b->epoch == epoch, "epoch %lld", (long long)b->epoch);
    e->img_bytes = (size_t)b->h * b->w * 3;
    e->images[e->n_steps] = malloc((size_t)b->n * e->img_bytes);
    e->labels[e->n_steps] = malloc((size_t)b->n * sizeof(int32_t));
    memcpy(e->images[e->n_steps], b->images, (size_t)b->n * e->img_bytes);
    memcpy(e->labels[e->n_steps], b->labels, (size_t)b->n * sizeof(int32_t));
    e->n_per_batch[e->n_steps++] = b->n;
    e->n_corrupt += b->n_corrupt;
    pipeline_release(p, b);
  }
}

static void free_epoch(Epoch *e) {
  for (int i = 0; i < e->n_steps; i++) {
    free(e->images[i]);
    free(e->labels[i]);
  }
}

static int epochs_equal(const Epoch *a, const Epoch *b) {
  if (a->n_steps != b->n_steps) return 0;
  for (int j = 0; j < a->n_steps; j++) {
    if (a->n_per_batch[j] != b->n_per_batch[j]) return 0;
    if (memcmp(a->images[j], b->images[j], (size_t)a->n_per_batch[j] * a->img_bytes)) return 0;
    if (memcmp(a->labels[j], b->labels[j], (size_t)a->n_per_batch[j] * sizeof(int32_t)))
      return 0;
  }
  return 1;
}

/* Same pixels with 0, 1 and 3 workers and prefetch 1 or 4. */
static void check_thread_independence(int image_size) {
  Config c;
  base_config(&c, image_size, 8);
  Epoch ref, other;
  c.data.workers = 0;
  Pipeline *p = open_or_fail(&c, SPLIT_TRAIN, 0, 1);
  if (!p) return;
  T_CHECK(pipeline_steps_per_epoch(p) == 100 / 8, "steps");
  T_CHECK(pipeline_image_h(p) == image_size && pipeline_image_w(p) == image_size, "size");
  run_epoch(p, 2, 0, &ref);
  pipeline_close(p);
  T_CHECK(ref.n_steps == 12 && ref.n_corrupt == 0, "%d steps", ref.n_steps);
  int workers[2] = {1, 3}, prefetch[2] = {1, 4};
  for (int k = 0; k < 2; k++) {
    c.data.workers = workers[k];
    c.data.prefetch = prefetch[k];
    p = open_or_fail(&c, SPLIT_TRAIN, 0, 1);
    if (!p) return;
    run_epoch(p, 2, 0, &other);
    T_CHECK(epochs_equal(&ref, &other), "workers=%d differs from workers=0", workers[k]);
    free_epoch(&other);
    run_epoch(p, 3, 0, &other);
    T_CHECK(!epochs_equal(&ref, &other), "epochs 2 and 3 are identical");
    free_epoch(&other);
    pipeline_close(p);
  }
  free_epoch(&ref);
}

static void test_threads_pad_crop(void) { check_thread_independence(32); }
static void test_threads_random_resized_crop(void) { check_thread_independence(80); }

/* Rank r of W, image i of batch j == image r + W*i of one rank's batch j
 * with batch B*W. */
static void test_ranks_equal_global_batch(void) {
  enum { B = 4 };
  Config c;
  base_config(&c, 32, B * 2);
  c.data.workers = 2;
  Epoch global, part[2];
  Pipeline *p = open_or_fail(&c, SPLIT_TRAIN, 0, 1);
  if (!p) return;
  run_epoch(p, 1, 0, &global);
  pipeline_close(p);
  c.train.batch_size = B;
  for (int r = 0; r < 2; r++) {
    c.data.workers = r + 1;
    p = open_or_fail(&c, SPLIT_TRAIN, r, 2);
    if (!p) return;
    run_epoch(p, 1, 0, &part[r]);
    pipeline_close(p);
    T_CHECK(part[r].n_steps == global.n_steps, "rank %d: %d steps vs %d", r, part[r].n_steps,
            global.n_steps);
  }
  size_t img = global.img_bytes;
  int mismatches = 0;
  for (int j = 0; j < global.n_steps && j < part[0].n_steps && j < part[1].n_steps; j++)
    for (int r = 0; r < 2; r++)
      for (int i = 0; i < B; i++) {
        int k = r + 2 * i;
        mismatches += memcmp(part[r].images[j] + (size_t)i * img, global.images[j] + k * img,
                             img) != 0;
        mismatches += part[r].labels[j][i] != global.labels[j][k];
      }
  T_CHECK(mismatches == 0, "%d samples differ between 2 ranks and 1 rank", mismatches);
  free_epoch(&global);
  free_epoch(&part[0]);
  free_epoch(&part[1]);
}

/* Starting at step 5 gives exactly batches 5.. of the full epoch. */
static void test_resume_mid_epoch(void) {
  Config c;
  base_config(&c, 32, 8);
  c.data.workers = 2;
  Pipeline *p = open_or_fail(&c, SPLIT_TRAIN, 0, 1);
  if (!p) return;
  Epoch full, tail;
  run_epoch(p, 4, 0, &full);
  run_epoch(p, 4, 5, &tail);
  T_CHECK(tail.n_steps == full.n_steps - 5, "%d steps after resume", tail.n_steps);
  int same = 1;
  for (int j = 0; j < tail.n_steps; j++)
    same &= !memcmp(tail.images[j], full.images[j + 5],
                    (size_t)tail.n_per_batch[j] * full.img_bytes);
  T_CHECK(same, "resumed batches differ");
  free_epoch(&full);
  free_epoch(&tail);
  pipeline_close(p);
}

/* Evaluation: 37 samples over 3 ranks, batch 5: every label is the
 * generator's for index r + 3*k, and all 37 are seen. */
static void test_eval_covers_once(void) {
  Config c;
  base_config(&c, 32, 5);
  int total = 0;
  for (int r = 0; r < 3; r++) {
    c.data.workers = r;
    Pipeline *p = open_or_fail(&c, SPLIT_VAL, r, 3);
    if (!p) return;
    Epoch e;
    run_epoch(p, 0, 0, &e);
    int k = 0, labels_ok = 1;
    for (int j = 0; j < e.n_steps; j++)
      for (int i = 0; i < e.n_per_batch[j]; i++, k++)
        labels_ok &= e.labels[j][i] == synth_label(5, SPLIT_VAL, r + 3 * k, 10);
    T_CHECK(labels_ok, "rank %d: labels are not those of samples r, r+3, ...", r);
    T_CHECK(k == (37 - r + 2) / 3, "rank %d saw %d samples", r, k);
    total += k;
    free_epoch(&e);
    pipeline_close(p);
  }
  T_CHECK(total == 37, "%d samples seen", total);
}

/* Restarting mid-epoch (batches in flight), and closing with one held. */
static void test_cancel_and_close(void) {
  Config c;
  base_config(&c, 32, 4);
  c.data.workers = 3;
  c.data.prefetch = 2;
  Pipeline *p = open_or_fail(&c, SPLIT_TRAIN, 0, 1);
  if (!p) return;
  pipeline_start_epoch(p, 0, 0);
  const Batch *a = pipeline_next(p), *b = pipeline_next(p);
  T_CHECK(a && b && a->step == 0 && b->step == 1, "first two batches");
  pipeline_release(p, a);
  pipeline_release(p, b);
  pipeline_start_epoch(p, 1, 3); /* drops whatever of epoch 0 is in flight */
  const Batch *d = pipeline_next(p);
  T_CHECK(d && d->step == 3 && d->epoch == 1, "after restart");
  pipeline_release(p, d);
  pipeline_start_epoch(p, 2, 0);
  pipeline_next(p);
  pipeline_close(p); /* mid-epoch, one batch held */
  p = open_or_fail(&c, SPLIT_TRAIN, 0, 1);
  pipeline_close(p); /* never started */
  c.data.workers = 0;
  p = open_or_fail(&c, SPLIT_TRAIN, 0, 1);
  pipeline_start_epoch(p, 0, 0);
  pipeline_start_epoch(p, 0, 0); /* restart before the reader picked the job up */
  const Batch *e = pipeline_next(p);
  T_CHECK(e && e->step == 0, "restart before the first batch");
  pipeline_close(p);
}

static void restart_holding_a_batch(void *arg) {
  Pipeline *p = open_or_fail(arg, SPLIT_TRAIN, 0, 1);
  if (!p) return;
  pipeline_start_epoch(p, 0, 0);
  const Batch *a = pipeline_next(p);
  printf("holding batch %lld\n", (long long)a->step);
  pipeline_start_epoch(p, 1, 0); /* must stop the process */
  printf("restarted\n");
}

/* pipeline_start_epoch with a batch held would free the caller's batch
 * under it: a failed CHECK (exit 1) that says to release first. */
static void test_restart_while_held_is_refused(void) {
  Config c;
  base_config(&c, 32, 4);
  c.data.workers = 2;
  char out[4096];
  int st = run_in_child(restart_holding_a_batch, &c, out, sizeof out);
  T_CHECK(st == RD_EXIT_FAILURE, "exit status %d:\n%s", st, out);
  T_CHECK(strstr(out, "holding batch 0") && !strstr(out, "restarted"), "output:\n%s", out);
  T_CHECK(strstr(out, "batch 0 of epoch 0 is held") && strstr(out, "pipeline_release"),
          "message:\n%s", out);
}

/* The synthetic set is learnable: images of one class are closer to their
 * class mean than to other classes' means (nearest-mean classifier). */
static void test_synthetic_is_learnable(void) {
  enum { C = 10, S = 32, N = 400 };
  static double mean[C][3];
  static int count[C];
  static uint8_t img[N][S * S * 3];
  static int label[N];
  CropPlan plan = {0, 0, S, S, S, S, 0, 0, 0};
  for (int i = 0; i < N; i++) {
    label[i] = synth_label(9, SPLIT_TRAIN, i, C);
    synth_render_crop(9, SPLIT_TRAIN, i, C, S, S, &plan, S, img[i]);
  }
  double feat[N][3];
  for (int i = 0; i < N; i++) {
    for (int ch = 0; ch < 3; ch++) {
      double s = 0;
      for (int k = ch; k < S * S * 3; k += 3) s += img[i][k];
      feat[i][ch] = s / (S * S);
    }
    if (i < N / 2) {
      for (int ch = 0; ch < 3; ch++) mean[label[i]][ch] += feat[i][ch];
      count[label[i]]++;
    }
  }
  for (int k = 0; k < C; k++)
    for (int ch = 0; ch < 3; ch++) mean[k][ch] /= count[k] ? count[k] : 1;
  int right = 0;
  for (int i = N / 2; i < N; i++) {
    int best = 0;
    double best_d = 1e30;
    for (int k = 0; k < C; k++) {
      double d = 0;
      for (int ch = 0; ch < 3; ch++) d += (feat[i][ch] - mean[k][ch]) * (feat[i][ch] - mean[k][ch]);
      if (d < best_d) best_d = d, best = k;
    }
    right += best == label[i];
  }
  T_CHECK(right > N / 2 * 6 / 10, "nearest class mean: %d of %d right", right, N / 2);
}

int main(void) {
  TEST_RUN(test_threads_pad_crop);
  TEST_RUN(test_threads_random_resized_crop);
  TEST_RUN(test_ranks_equal_global_batch);
  TEST_RUN(test_resume_mid_epoch);
  TEST_RUN(test_eval_covers_once);
  TEST_RUN(test_cancel_and_close);
  TEST_RUN(test_restart_while_held_is_refused);
  TEST_RUN(test_synthetic_is_learnable);
  return test_summary();
}
