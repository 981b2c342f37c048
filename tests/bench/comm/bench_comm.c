/* bench_comm.c - communication benchmarks (a program that prints figures,
 * never a test).
 *
 *   mpirun -np 2 bench_comm allreduce
 *       fp32 all-reduce (sum) of 4 KiB .. 64 MiB: comm_mpi (its own
 *       non-blocking schedules completed under the watchdog) next to a bare
 *       MPI_Allreduce and a bare MPI_Iallreduce (libnbc), repetitions
 *       alternating between the three.  Per size: median over repetitions
 *       of each rank's time, then the slowest rank; bus bandwidth as
 *       nccl-tests defines it,
 *       busbw = bytes / time * 2 (n - 1) / n.
 *   mpirun -np 2 bench_comm resnet [arch] [batch] [image] [steps] [bucket_mb]
 *       one training step (forward, loss, backward) of a ResNet on the CPU
 *       backend with sync BN and bucketed gradient averaging: step time,
 *       time inside sync-BN reductions, exposed gradient communication
 *       (waiting in grad_sync_finish), medians over steps after one warm-up.
 */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mpi.h>

#include "backend/backend.h"
#include "config/config.h"
#include "core/check_mpi.h"
#include "core/mem.h"
#include "core/rng.h"
#include "core/timer.h"
#include "dist/comm.h"
#include "dist/dist.h"
#include "dist/grad_sync.h"
#include "dist/sync_bn.h"
#include "model/resnet.h"

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Slowest rank's value. */
static double max_over_ranks(Comm *c, double x) {
  c->allreduce(c, &x, 1, COMM_F64, COMM_MAX, "max of a benchmark figure");
  return x;
}

/* ---------------------------------------------------------- all-reduce */

/* The three all-reduces compared, in place, fp32 sum. */
typedef enum { AR_COMM, AR_IALLREDUCE, AR_ALLREDUCE, N_AR } ArKind;

/* MPI_Iallreduce completed the way the watchdog completes a request (test,
 * then sched_yield): what comm_mpi did before it had its own schedules. */
static void iallreduce_polled(float *buf, size_t n) {
  MPI_Request req;
  MPI_CHECK(MPI_Iallreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &req));
  for (;;) {
    int flag = 0;
    MPI_CHECK(MPI_Test(&req, &flag, MPI_STATUS_IGNORE));
    if (flag) break;
    sched_yield();
  }
}

static void run_allreduce(ArKind kind, Comm *c, float *buf, size_t n) {
  switch (kind) {
    case AR_COMM: c->allreduce(c, buf, n, COMM_F32, COMM_SUM, "timed all-reduce"); break;
    case AR_IALLREDUCE: iallreduce_polled(buf, n); break;
    case AR_ALLREDUCE:
      MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD));
      break;
    case N_AR: break;
  }
}

/* Repetitions alternate between the kinds (so a load that comes and goes on
 * a shared machine hits all of them alike); ms[kind] = median over
 * repetitions, then the slowest rank. */
static void time_allreduces(Comm *c, float *buf, size_t n, int reps, double ms[N_AR]) {
  enum { MAX_REPS = 200 };
  static double t[N_AR][MAX_REPS];
  reps = reps > MAX_REPS ? MAX_REPS : reps;
  for (int k = -2; k < reps; k++)
    for (int kind = 0; kind < N_AR; kind++) {
      MPI_CHECK(MPI_Barrier(MPI_COMM_WORLD));
      uint64_t t0 = timer_now_ns();
      run_allreduce((ArKind)kind, c, buf, n);
      if (k >= 0) t[kind][k] = timer_since_ms(t0);
    }
  for (int kind = 0; kind < N_AR; kind++) ms[kind] = max_over_ranks(c, median(t[kind], reps));
}

static void bench_allreduce(Dist *d, Comm *c) {
  if (!d->mpi) {
    fprintf(stderr, "bench_comm allreduce needs mpirun (-np 2 or more)\n");
    return;
  }
  if (d->rank == 0)
    printf("fp32 all-reduce, %d ranks: median ms (slowest rank), bus bandwidth GB/s;\n"
           "ratio = comm_mpi / MPI_Allreduce; libnbc = MPI_Iallreduce polled with sched_yield\n"
           "%10s %10s %7s %10s %7s %10s %7s %7s\n",
           d->world, "bytes", "comm_mpi", "busbw", "MPI_Allred", "busbw", "libnbc", "busbw",
           "ratio");
  for (size_t bytes = 4096; bytes <= ((size_t)64 << 20); bytes *= 4) {
    size_t n = bytes / sizeof(float);
    int reps = (int)(((size_t)512 << 20) / bytes);
    reps = reps < 11 ? 11 : reps;
    float *buf = mem_alloc_or_die(bytes, "benchmark buffer");
    for (size_t i = 0; i < n; i++) buf[i] = 0.0f;
    double ms[N_AR];
    time_allreduces(c, buf, n, reps, ms);
    double factor = 2.0 * (d->world - 1) / d->world;
    if (d->rank == 0)
      printf("%10zu %10.4f %7.3f %10.4f %7.3f %10.4f %7.3f %7.2f\n", bytes, ms[AR_COMM],
             bytes / (ms[AR_COMM] * 1e6) * factor, ms[AR_ALLREDUCE],
             bytes / (ms[AR_ALLREDUCE] * 1e6) * factor, ms[AR_IALLREDUCE],
             bytes / (ms[AR_IALLREDUCE] * 1e6) * factor, ms[AR_COMM] / ms[AR_ALLREDUCE]);
    mem_free(buf);
  }
}

/* ------------------------------------------------------- ResNet step */

typedef struct {
  const char *arch;
  int batch, image, steps;
  double bucket_mb;
} StepArgs;

static int arch_id(const char *name) {
  static Config cfg;
  char assign[96], err[CFG_ERR_MAX];
  config_defaults(&cfg);
  snprintf(assign, sizeof assign, "model.arch=%s", name);
  if (config_set(&cfg, assign, err, sizeof err) != 0) {
    fprintf(stderr, "%s\n", err);
    exit(2);
  }
  return cfg.model.arch;
}

static Model *make_model(Backend *be, const StepArgs *a) {
  static Config cfg;
  config_defaults(&cfg);
  cfg.model.arch = arch_id(a->arch);
  cfg.model.num_classes = model_arch_is_cifar(cfg.model.arch) ? 10 : 1000;
  ModelSpec spec;
  model_spec_from_config(&spec, &cfg);
  char err[512];
  Model *m = model_create(be, &spec, err, sizeof err);
  if (!m) {
    fprintf(stderr, "%s\n", err);
    exit(2);
  }
  model_init_params(m, 1);
  model_plan(m, a->batch, a->image, a->image);
  return m;
}

static void fill_batch(Backend *be, Model *m, int rank, int step) {
  size_t n_px = (size_t)m->batch * m->image_h * m->image_w * 3;
  uint8_t *px = mem_alloc_or_die(n_px, "pixels");
  int32_t *labels = mem_alloc_or_die((size_t)m->batch * sizeof *labels, "labels");
  RngStream s;
  rng_stream_init(&s, 7, rng_id_hi(RNG_DOMAIN_TEST, (uint32_t)step), (uint32_t)rank);
  for (size_t i = 0; i < n_px; i++) px[i] = (uint8_t)rng_below(&s, 256);
  for (int i = 0; i < m->batch; i++) labels[i] = (int32_t)rng_below(&s, (uint32_t)m->spec.num_classes);
  const float mean[3] = {0.485f, 0.456f, 0.406f}, std[3] = {0.229f, 0.224f, 0.225f};
  be->input_u8(be, model_input(m), px, m->batch, m->image_h, m->image_w, mean, std);
  be->upload_labels(be, m->labels, labels, m->batch);
  mem_free(px);
  mem_free(labels);
}

static void bench_resnet(Dist *d, Comm *c, const StepArgs *a) {
  Backend *be = backend_cpu_create(1);
  Model *m = make_model(be, a);
  size_t *offsets = mem_alloc_or_die((size_t)m->n_params * sizeof *offsets, "offsets");
  for (int p = 0; p < m->n_params; p++) offsets[p] = m->param_table[p].offset;
  GradSync *gs = grad_sync_create(c, be, m->grads, m->n_param_elems, offsets, m->n_params,
                                  a->bucket_mb);
  SyncBn *sbn = sync_bn_create(c, be);
  ModelHooks hooks = {sync_bn_allreduce, sbn, grad_sync_ready_hook, gs};
  enum { MAX_STEPS = 64 };
  double step_ms[MAX_STEPS], bn_ms[MAX_STEPS], exposed_ms[MAX_STEPS];
  int steps = a->steps > MAX_STEPS ? MAX_STEPS : a->steps;
  for (int k = -1; k < steps; k++) {
    fill_batch(be, m, d->rank, k + 1);
    c->barrier(c, "barrier before a timed step");
    sync_bn_reset(sbn);
    uint64_t t0 = timer_now_ns();
    double loss = 0;
    int64_t correct[2];
    model_forward(m, 1, &hooks);
    model_loss(m, m->batch, 0.0, 1.0 / m->batch, 1, &loss, correct);
    grad_sync_begin(gs);
    model_backward(m, &hooks);
    grad_sync_finish(gs);
    be->sync(be);
    if (k < 0) continue;
    step_ms[k] = timer_since_ms(t0);
    bn_ms[k] = sync_bn_ms(sbn);
    exposed_ms[k] = grad_sync_exposed_ms(gs);
  }
  double st = max_over_ranks(c, median(step_ms, steps));
  double bn = max_over_ranks(c, median(bn_ms, steps));
  double ex = max_over_ranks(c, median(exposed_ms, steps));
  if (d->rank == 0)
    printf("%s, %d ranks x batch %d, %dx%d, %d steps, %d gradient buckets of %g MiB "
           "(%zu parameters)\n"
           "  step %.1f ms | sync-BN reductions %.1f ms (%.1f%%) | exposed gradient "
           "all-reduce %.1f ms (%.1f%%)\n",
           a->arch, d->world, a->batch, a->image, a->image, steps, grad_sync_num_buckets(gs),
           a->bucket_mb, m->n_param_elems, st, bn, 100 * bn / st, ex, 100 * ex / st);
  sync_bn_destroy(sbn);
  grad_sync_destroy(gs);
  mem_free(offsets);
  model_destroy(m);
  be->destroy(be);
}

int main(int argc, char **argv) {
  Dist *d = dist_init(&argc, &argv);
  Comm *c = comm_mpi_create(d, 0);
  const char *what = argc > 1 ? argv[1] : "allreduce";
  if (!strcmp(what, "allreduce")) {
    bench_allreduce(d, c);
  } else if (!strcmp(what, "resnet")) {
    StepArgs a = {argc > 2 ? argv[2] : "resnet50", argc > 3 ? atoi(argv[3]) : 8,
                  argc > 4 ? atoi(argv[4]) : 224, argc > 5 ? atoi(argv[5]) : 3,
                  argc > 6 ? atof(argv[6]) : 25.0};
    bench_resnet(d, c, &a);
  } else {
    fprintf(stderr, "usage: %s allreduce | resnet [arch] [batch] [image] [steps] [bucket_mb]\n",
            argv[0]);
  }
  c->destroy(c);
  dist_finalize(d);
  return 0;
}
