/* bench.c - see bench.h.
 *
 * Conventions of the figures (docs/METRICS.md, "bench"):
 *   - step time: from asking for the batch (or, on the device batch, from the
 *     forward) to the end of the optimizer, device work included;
 *   - forward / backward: without the sync-BN all-reduces they contain, which
 *     are their own column (host time spent in sync_bn_allreduce);
 *   - comm_exposed: the wait in grad_sync_finish after backward, i.e. the part
 *     of the gradient all-reduce that backward did not hide;
 *   - other: step time minus the named phases (loss bookkeeping, hooks);
 *   - percentiles are nearest-rank: sorted[ceil(p * n) - 1];
 *   - aggregated step time is, per step, the slowest rank's time (a
 *     synchronous step takes as long as its slowest rank); aggregated images/s
 *     is the global batch x steps over the slowest rank's wall time;
 *     aggregated phases are the mean over ranks (and the max, in JSON).
 * The synthetic batch comes from the Philox stream (RNG_DOMAIN_SYNTH, sub-id
 * 2 = "bench batch", id_lo = rank), so every run benchmarks the same data.
 * The loss scale is 1 in every precision (timing, not convergence).
 */
#include "train/bench.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/check.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/rng.h"
#include "core/timer.h"
#include "train/jsonw.h"
#include "train/runinfo.h"
#ifdef RD_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

typedef enum {
  PH_DATA, PH_H2D, PH_FORWARD, PH_BACKWARD, PH_COMM, PH_SYNC_BN, PH_OPTIM, PH_OTHER, N_PHASES
} Phase;

static const char *const PHASE_KEYS[N_PHASES] = {"data_wait", "h2d",     "forward",
                                                 "backward",  "comm_exposed", "sync_bn",
                                                 "optimizer", "other"};
static const char *const PHASE_HEADS[N_PHASES] = {"data", "h2d",     "forward", "backward",
                                                  "comm", "sync_bn", "optim",   "other"};

/* One rank's figures as gathered to rank 0. */
enum { F_IPS, F_MEAN, F_P50, F_P95, F_P99, F_PHASE, N_FIGS = F_PHASE + N_PHASES };

enum { BENCH_RNG_SUB = 2 };

typedef struct {
  double *step_ms;        /* (steps) this rank */
  double phase_sum_ms[N_PHASES];
  double wall_ms;         /* all timed steps */
  int64_t epoch;          /* pipeline epoch in use */
} Timings;

static void upload_batch(Run *r, const uint8_t *images, const int32_t *labels, int n) {
  Model *m = r->model;
  r->be->input_u8(r->be, model_input(m), images, n, r->train_h, r->train_w, r->mean, r->std);
  r->be->upload_labels(r->be, m->labels, labels, n);
}

/* One random batch, uploaded once; it stays in the model's input buffer. */
static void upload_synthetic_batch(Run *r) {
  int n = r->cfg.train.batch_size;
  size_t n_bytes = (size_t)n * (size_t)r->train_h * (size_t)r->train_w * 3;
  uint8_t *images = mem_alloc_or_die(n_bytes, "bench batch"); /* (N,H,W,3) */
  int32_t *labels = mem_alloc_or_die((size_t)n * sizeof *labels, "bench labels"); /* (N) */
  RngStream rs;
  rng_stream_init(&rs, (uint64_t)r->cfg.train.seed, rng_id_hi(RNG_DOMAIN_SYNTH, BENCH_RNG_SUB),
                  (uint32_t)r->dist->rank);
  for (size_t i = 0; i < n_bytes; i++) images[i] = (uint8_t)rng_below(&rs, 256);
  uint32_t n_classes = (uint32_t)r->cfg.model.num_classes;
  for (int i = 0; i < n; i++) labels[i] = (int32_t)rng_below(&rs, n_classes);
  upload_batch(r, images, labels, n);
  r->be->sync(r->be);
  mem_free(images);
  mem_free(labels);
}

static const Batch *next_batch(Run *r, int64_t *epoch) {
  const Batch *b = pipeline_next(r->train_data);
  if (b) return b;
  pipeline_start_epoch(r->train_data, ++*epoch, 0);
  b = pipeline_next(r->train_data);
  CHECK(b != NULL, "the input pipeline delivered no batch in epoch %lld", (long long)*epoch);
  return b;
}

/* Waits for the device, adds the time since t0_ns to *ms; returns now. */
static uint64_t lap(Backend *be, double *ms, uint64_t t0_ns) {
  be->sync(be);
  uint64_t t = timer_now_ns();
  *ms += (double)(t - t0_ns) * 1e-6;
  return t;
}

/* One training step with the device synchronised at every phase boundary;
 * ph (N_PHASES) receives the phases in ms.  Returns the step time in ms. */
static double timed_step(Run *r, int64_t *epoch, double ph[N_PHASES]) {
  Backend *be = r->be;
  Model *m = r->model;
  memset(ph, 0, N_PHASES * sizeof *ph);
  uint64_t t0 = timer_now_ns(), t = t0;
  const Batch *b = NULL;
  if (r->cfg.bench.pipeline) {
    b = next_batch(r, epoch);
    t = lap(be, &ph[PH_DATA], t);
    upload_batch(r, b->images, b->labels, b->n);
    t = lap(be, &ph[PH_H2D], t);
  }
  int n = b ? b->n : m->batch;
  if (r->sync_bn) sync_bn_reset(r->sync_bn);
  if (r->grad_sync) grad_sync_begin(r->grad_sync);
  model_forward(m, 1, &r->hooks);
  double loss_sum = 0;
  int64_t correct[2] = {0, 0};
  model_loss(m, n, r->cfg.train.label_smoothing, 1.0 / n, 1, &loss_sum, correct);
  t = lap(be, &ph[PH_FORWARD], t);
  double bn_fwd_ms = r->sync_bn ? sync_bn_ms(r->sync_bn) : 0;
  model_backward(m, &r->hooks);
  t = lap(be, &ph[PH_BACKWARD], t);
  double bn_ms = r->sync_bn ? sync_bn_ms(r->sync_bn) : 0;
  if (r->grad_sync) grad_sync_finish(r->grad_sync);
  t = lap(be, &ph[PH_COMM], t);
  optim_step(r->opt, r->cfg.optim.lr, 1.0);
  t = lap(be, &ph[PH_OPTIM], t);
  if (b) pipeline_release(r->train_data, b);
  double step_ms = (double)(timer_now_ns() - t0) * 1e-6;
  ph[PH_FORWARD] -= bn_fwd_ms;
  ph[PH_BACKWARD] -= bn_ms - bn_fwd_ms;
  ph[PH_SYNC_BN] = bn_ms;
  double named = 0;
  for (int p = 0; p < PH_OTHER; p++) named += ph[p];
  ph[PH_OTHER] = step_ms > named ? step_ms - named : 0;
  return step_ms;
}

static void run_steps(Run *r, Timings *tm) {
  const Config *c = &r->cfg;
  double ph[N_PHASES];
  for (int i = 0; i < c->bench.warmup_steps; i++) timed_step(r, &tm->epoch, ph);
  if (r->comm) r->comm->barrier(r->comm, "barrier before the timed bench steps");
  uint64_t t0 = timer_now_ns();
  for (int i = 0; i < c->bench.steps; i++) {
    tm->step_ms[i] = timed_step(r, &tm->epoch, ph);
    for (int p = 0; p < N_PHASES; p++) tm->phase_sum_ms[p] += ph[p];
  }
  tm->wall_ms = timer_since_ms(t0);
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Nearest-rank percentile p in (0, 1] of v (n values; v is sorted in place). */
static double percentile(double *v, int n, double p) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  int k = (int)ceil(p * n) - 1;
  return v[k < 0 ? 0 : (k >= n ? n - 1 : k)];
}

static double mean_of(const double *v, int n) {
  double s = 0;
  for (int i = 0; i < n; i++) s += v[i];
  return n > 0 ? s / n : 0;
}

/* figs (N_FIGS) from this rank's timings. */
static void rank_figures(const Run *r, const Timings *tm, double *figs) {
  int n = r->cfg.bench.steps;
  double *sorted = mem_alloc_or_die((size_t)n * sizeof *sorted, "step times");
  memcpy(sorted, tm->step_ms, (size_t)n * sizeof *sorted);
  figs[F_IPS] = tm->wall_ms > 0 ? r->cfg.train.batch_size * (double)n / (tm->wall_ms * 1e-3) : 0;
  figs[F_MEAN] = mean_of(sorted, n);
  figs[F_P50] = percentile(sorted, n, 0.50);
  figs[F_P95] = percentile(sorted, n, 0.95);
  figs[F_P99] = percentile(sorted, n, 0.99);
  for (int p = 0; p < N_PHASES; p++) figs[F_PHASE + p] = tm->phase_sum_ms[p] / n;
  mem_free(sorted);
}

typedef struct {
  double *ranks;          /* (world, N_FIGS) every rank's figures */
  double *slowest_ms;     /* (steps) per step, the slowest rank's time */
  double wall_max_ms;
  double images_per_s;    /* all ranks */
  double mean, p50, p95, p99, min, max; /* of slowest_ms */
  double phase_mean[N_PHASES], phase_max[N_PHASES]; /* over ranks */
} Summary;

static void summarize(Run *r, Timings *tm, Summary *s) {
  int world = r->dist->world, n = r->cfg.bench.steps;
  double mine[N_FIGS];
  rank_figures(r, tm, mine);
  s->ranks = mem_calloc_or_die((size_t)world * N_FIGS, sizeof(double), "bench figures");
  s->slowest_ms = mem_alloc_or_die((size_t)n * sizeof(double), "bench step times");
  memcpy(s->slowest_ms, tm->step_ms, (size_t)n * sizeof(double));
  s->wall_max_ms = tm->wall_ms;
  if (r->comm) {
    r->comm->allgather(r->comm, mine, s->ranks, N_FIGS, COMM_F64, "all-gather of bench figures");
    r->comm->allreduce(r->comm, s->slowest_ms, (size_t)n, COMM_F64, COMM_MAX,
                       "all-reduce of bench step times");
    r->comm->allreduce(r->comm, &s->wall_max_ms, 1, COMM_F64, COMM_MAX,
                       "all-reduce of bench wall time");
  } else {
    memcpy(s->ranks, mine, sizeof mine);
  }
  s->images_per_s = s->wall_max_ms > 0 ? (double)r->cfg.train.batch_size * world * n /
                                             (s->wall_max_ms * 1e-3)
                                       : 0;
  s->mean = mean_of(s->slowest_ms, n);
  s->p50 = percentile(s->slowest_ms, n, 0.50);
  s->p95 = percentile(s->slowest_ms, n, 0.95);
  s->p99 = percentile(s->slowest_ms, n, 0.99);
  s->min = s->slowest_ms[0];
  s->max = s->slowest_ms[n - 1];
  for (int p = 0; p < N_PHASES; p++) {
    double sum = 0, max = 0;
    for (int q = 0; q < world; q++) {
      double v = s->ranks[(size_t)q * N_FIGS + F_PHASE + p];
      sum += v;
      max = v > max ? v : max;
    }
    s->phase_mean[p] = sum / world;
    s->phase_max[p] = max;
  }
}

static const char *input_name(const Run *r) {
  return r->cfg.bench.pipeline ? "pipeline" : "device_batch";
}

/* Device memory in use after the timed steps (CUDA backend; everything is
 * allocated up front, so this is the peak), or -1. */
static double device_used_bytes(const Run *r) {
#ifdef RD_HAVE_CUDA
  if (r->be->kind == BACKEND_CUDA) {
    size_t free_b = 0, total_b = 0;
    if (cudaMemGetInfo(&free_b, &total_b) == cudaSuccess) return (double)(total_b - free_b);
  }
#else
  (void)r;
#endif
  return -1;
}

static void print_table_row(const char *label, const double *phases, double step_ms,
                            double ips) {
  char line[512];
  int n = snprintf(line, sizeof line, "  %-6s", label);
  for (int p = 0; p < N_PHASES; p++)
    n += snprintf(line + n, sizeof line - (size_t)n, " %9.2f", phases[p]);
  snprintf(line + n, sizeof line - (size_t)n, " %9.2f %9.1f", step_ms, ips);
  log_info("%s", line);
}

static void print_human(const Run *r, const Summary *s) {
  const Config *c = &r->cfg;
  int world = r->dist->world;
  log_info("bench: %s, %s backend (%s), %d rank%s x batch %d (global %d), %dx%d images, %s; "
           "%d warm-up + %d timed steps",
           config_arch_name(c->model.arch), r->be->name, config_precision_name(c->train.precision),
           world, world > 1 ? "s" : "", c->train.batch_size, c->train.batch_size * world,
           r->train_h, r->train_w,
           c->bench.pipeline ? "batches from the input pipeline"
                             : "one synthetic batch kept on the device",
           c->bench.warmup_steps, c->bench.steps);
  log_info("throughput: %.1f images/s (all ranks), %.1f images/s per rank", s->images_per_s,
           s->images_per_s / world);
  log_info("step time (slowest rank per step): mean %.2f ms, p50 %.2f, p95 %.2f, p99 %.2f, "
           "min %.2f, max %.2f",
           s->mean, s->p50, s->p95, s->p99, s->min, s->max);
  char head[512];
  int n = snprintf(head, sizeof head, "  %-6s", "rank");
  for (int p = 0; p < N_PHASES; p++)
    n += snprintf(head + n, sizeof head - (size_t)n, " %9s", PHASE_HEADS[p]);
  snprintf(head + n, sizeof head - (size_t)n, " %9s %9s", "step", "img/s");
  log_info("breakdown, ms per step:");
  log_info("%s", head);
  for (int q = 0; q < world; q++) {
    const double *f = s->ranks + (size_t)q * N_FIGS;
    char label[16];
    snprintf(label, sizeof label, "%d", q);
    print_table_row(label, f + F_PHASE, f[F_MEAN], f[F_IPS]);
  }
  if (world > 1) {
    print_table_row("mean", s->phase_mean, s->mean, s->images_per_s / world);
    print_table_row("max", s->phase_max, s->max, s->images_per_s / world);
  }
  log_info("(forward/backward exclude the sync-BN all-reduces; comm = gradient all-reduce time "
           "not hidden behind backward; every phase ends with a device sync)");
}

static void json_phases(JsonW *w, const char *key, const double *phases) {
  jsonw_key(w, key);
  jsonw_obj_begin(w);
  for (int p = 0; p < N_PHASES; p++) jsonw_knum(w, PHASE_KEYS[p], phases[p]);
  jsonw_obj_end(w);
}

static void json_step_ms(JsonW *w, double mean, double p50, double p95, double p99) {
  jsonw_key(w, "step_ms");
  jsonw_obj_begin(w);
  jsonw_knum(w, "mean", mean);
  jsonw_knum(w, "p50", p50);
  jsonw_knum(w, "p95", p95);
  jsonw_knum(w, "p99", p99);
  jsonw_obj_end(w);
}

static void print_json(const Run *r, const Summary *s, const char *header) {
  const Config *c = &r->cfg;
  int world = r->dist->world;
  JsonW w;
  jsonw_init(&w);
  jsonw_obj_begin(&w);
  jsonw_kstr(&w, "type", "bench");
  jsonw_knum(&w, "images_per_s", s->images_per_s);
  jsonw_knum(&w, "images_per_s_per_rank", s->images_per_s / world);
  jsonw_kstr(&w, "arch", config_arch_name(c->model.arch));
  jsonw_kstr(&w, "backend", r->be->name);
  jsonw_kstr(&w, "precision", config_precision_name(c->train.precision));
  jsonw_kint(&w, "world_size", world);
  jsonw_kint(&w, "batch_size_per_rank", c->train.batch_size);
  jsonw_kint(&w, "global_batch", (int64_t)c->train.batch_size * world);
  jsonw_kint(&w, "image_h", r->train_h);
  jsonw_kint(&w, "image_w", r->train_w);
  jsonw_kstr(&w, "input", input_name(r));
  jsonw_kint(&w, "warmup_steps", c->bench.warmup_steps);
  jsonw_kint(&w, "steps", c->bench.steps);
  jsonw_knum(&w, "wall_s", s->wall_max_ms * 1e-3);
  json_step_ms(&w, s->mean, s->p50, s->p95, s->p99);
  jsonw_knum(&w, "step_ms_min", s->min);
  jsonw_knum(&w, "step_ms_max", s->max);
  json_phases(&w, "breakdown_ms", s->phase_mean);
  json_phases(&w, "breakdown_ms_max", s->phase_max);
  double dev = device_used_bytes(r);
  if (dev >= 0) jsonw_knum(&w, "peak_device_bytes", dev);
  jsonw_key(&w, "ranks");
  jsonw_arr_begin(&w);
  for (int q = 0; q < world; q++) {
    const double *f = s->ranks + (size_t)q * N_FIGS;
    jsonw_obj_begin(&w);
    jsonw_kint(&w, "rank", q);
    jsonw_knum(&w, "images_per_s", f[F_IPS]);
    json_step_ms(&w, f[F_MEAN], f[F_P50], f[F_P95], f[F_P99]);
    json_phases(&w, "breakdown_ms", f + F_PHASE);
    jsonw_obj_end(&w);
  }
  jsonw_arr_end(&w);
  jsonw_key(&w, "run");
  jsonw_raw(&w, header);
  jsonw_obj_end(&w);
  printf("%s\n", w.s);
  fflush(stdout);
  jsonw_free(&w);
}

int bench_main(Run *r) {
  const Config *c = &r->cfg;
  model_plan(r->model, c->train.batch_size, r->train_h, r->train_w);
  Timings tm = {0};
  tm.step_ms = mem_calloc_or_die((size_t)c->bench.steps, sizeof(double), "bench step times");
  if (c->bench.pipeline)
    pipeline_start_epoch(r->train_data, 0, 0);
  else
    upload_synthetic_batch(r);
  log_info("bench: %d warm-up and %d timed steps ...", c->bench.warmup_steps, c->bench.steps);
  run_steps(r, &tm);
  Summary s;
  memset(&s, 0, sizeof s);
  summarize(r, &tm, &s);
  char *header = runinfo_header_json(r, "bench");
  if (r->dist->rank == 0) {
    if (r->cli.json)
      print_json(r, &s, header);
    else
      print_human(r, &s);
  }
  mem_free(header);
  mem_free(s.ranks);
  mem_free(s.slowest_ms);
  mem_free(tm.step_ms);
  return RD_EXIT_OK;
}
