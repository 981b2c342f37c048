/* bench_cpu_ops.c - throughput of the fp32 CPU backend's convolutions and
 * batch norms on the layer shapes of ResNet-50 (batch 16, 224x224) and CIFAR
 * ResNet-20 (batch 128, 32x32), next to PyTorch's CPU kernels (oneDNN
 * convolutions, ATen batch norm) on the same shapes and thread count.  A
 * benchmark prints figures; it never fails on time.
 *
 *   bench_cpu_ops [--net r50|r20|all] [--threads T] [--reps R] [--torch PYTHON]
 *
 * Per conv shape: forward, backward-data and backward-filter times and
 * GFLOP/s (2 N K P Q C R R flops per op), then the batch norm + ReLU that
 * follows the conv in the network (forward: stats, finalize, apply; backward:
 * reduce, apply).  Times are the best of R runs after a warm-up: the machine
 * may be shared, and interference only ever adds time.  With --torch, a
 * PyTorch process (bench_torch_convs.py) times the same shape just before
 * ours, and "x" columns give torch_time / our_time (> 1: we are faster).  The
 * last lines weight each shape by how often it occurs in one training step.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend/backend.h"
#include "core/check.h"
#include "core/mem.h"
#include "core/rng.h"
#include "core/timer.h"

typedef struct {
  const char *net;
  const char *name;
  int count;  /* occurrences in one forward pass of the network */
  int n, c, h, w, k, r, stride, pad;
} BenchShape;

static const BenchShape SHAPES[] = {
    {"r50", "stem7x7", 1, 16, 3, 224, 224, 64, 7, 2, 3},
    {"r50", "l1.1x1a", 1, 16, 64, 56, 56, 64, 1, 1, 0},
    {"r50", "l1.3x3", 3, 16, 64, 56, 56, 64, 3, 1, 1},
    {"r50", "l1.1x1b", 3, 16, 64, 56, 56, 256, 1, 1, 0},
    {"r50", "l1.down", 1, 16, 64, 56, 56, 256, 1, 1, 0},
    {"r50", "l1.1x1a'", 2, 16, 256, 56, 56, 64, 1, 1, 0},
    {"r50", "l2.1x1a0", 1, 16, 256, 56, 56, 128, 1, 1, 0},
    {"r50", "l2.3x3s2", 1, 16, 128, 56, 56, 128, 3, 2, 1},
    {"r50", "l2.1x1b", 4, 16, 128, 28, 28, 512, 1, 1, 0},
    {"r50", "l2.down", 1, 16, 256, 56, 56, 512, 1, 2, 0},
    {"r50", "l2.1x1a", 3, 16, 512, 28, 28, 128, 1, 1, 0},
    {"r50", "l2.3x3", 3, 16, 128, 28, 28, 128, 3, 1, 1},
    {"r50", "l3.1x1a0", 1, 16, 512, 28, 28, 256, 1, 1, 0},
    {"r50", "l3.3x3s2", 1, 16, 256, 28, 28, 256, 3, 2, 1},
    {"r50", "l3.1x1b", 6, 16, 256, 14, 14, 1024, 1, 1, 0},
    {"r50", "l3.down", 1, 16, 512, 28, 28, 1024, 1, 2, 0},
    {"r50", "l3.1x1a", 5, 16, 1024, 14, 14, 256, 1, 1, 0},
    {"r50", "l3.3x3", 5, 16, 256, 14, 14, 256, 3, 1, 1},
    {"r50", "l4.1x1a0", 1, 16, 1024, 14, 14, 512, 1, 1, 0},
    {"r50", "l4.3x3s2", 1, 16, 512, 14, 14, 512, 3, 2, 1},
    {"r50", "l4.1x1b", 3, 16, 512, 7, 7, 2048, 1, 1, 0},
    {"r50", "l4.down", 1, 16, 1024, 14, 14, 2048, 1, 2, 0},
    {"r50", "l4.1x1a", 2, 16, 2048, 7, 7, 512, 1, 1, 0},
    {"r50", "l4.3x3", 2, 16, 512, 7, 7, 512, 3, 1, 1},
    {"r20", "stem3x3", 1, 128, 3, 32, 32, 16, 3, 1, 1},
    {"r20", "s1.3x3", 6, 128, 16, 32, 32, 16, 3, 1, 1},
    {"r20", "s2.3x3s2", 1, 128, 16, 32, 32, 32, 3, 2, 1},
    {"r20", "s2.3x3", 5, 128, 32, 16, 16, 32, 3, 1, 1},
    {"r20", "s3.3x3s2", 1, 128, 32, 16, 16, 64, 3, 2, 1},
    {"r20", "s3.3x3", 5, 128, 64, 8, 8, 64, 3, 1, 1},
};
enum { N_SHAPES = sizeof SHAPES / sizeof SHAPES[0] };

typedef enum { OP_FWD, OP_BWD_DATA, OP_BWD_FILTER, OP_BN_FWD, OP_BN_BWD, N_OPS } Op;

/* Milliseconds per op; torch: conv fwd, conv bwd (both grads), bn fwd, bn bwd. */
typedef struct {
  double ours[N_OPS];
  double torch[4]; /* < 0: not measured */
} Timing;

typedef struct {
  Backend *be;
  ConvShape s;
  void *plan;
  float *x, *w, *y, *dy, *bn_y, *dx_bn, *mean_invstd, *gamma, *beta, *dgamma, *dbeta;
  double *stats, *sums;
} Bench;

static ConvShape conv_shape(const BenchShape *b) {
  ConvShape s = {b->n, b->c, b->h, b->w, b->k, b->r, b->stride, b->pad, 0, 0};
  s.p = (b->h + 2 * b->pad - b->r) / b->stride + 1;
  s.q = (b->w + 2 * b->pad - b->r) / b->stride + 1;
  return s;
}

static double gflop(const ConvShape *s) {
  return 2.0 * s->n * s->k * s->p * s->q * (double)s->c * s->r * s->r * 1e-9;
}

static float *random_buffer(Backend *be, size_t n, uint32_t id) {
  float *p = be->alloc(be, n * sizeof *p, "bench tensor");
  RngStream s;
  rng_stream_init(&s, 1, rng_id_hi(RNG_DOMAIN_TEST, 400), id);
  for (size_t i = 0; i < n; i++) p[i] = rng_uniform_f32(&s) - 0.5f;
  return p;
}

static void run_op(Bench *b, Op op) {
  Backend *be = b->be;
  const ConvShape *s = &b->s;
  switch (op) {
    case OP_FWD: be->conv_fwd(be, b->plan, b->y, b->x, b->w); break;
    case OP_BWD_DATA: be->conv_bwd_data(be, b->plan, b->x, b->dy, b->w, 0); break;
    case OP_BWD_FILTER: be->conv_bwd_filter(be, b->plan, b->w, b->dy, b->x); break;
    case OP_BN_FWD:
      be->bn_stats(be, s->n, s->k, s->p, s->q, b->y, b->stats);
      be->bn_finalize(be, s->k, b->stats, b->mean_invstd, NULL, NULL, 0.1, 1e-5, 0);
      be->bn_apply(be, s->n, s->k, s->p, s->q, b->bn_y, b->y, b->mean_invstd, b->gamma, b->beta,
                   NULL, 1);
      break;
    case OP_BN_BWD:
      be->bn_bwd_reduce(be, s->n, s->k, s->p, s->q, b->dy, b->bn_y, b->y, b->mean_invstd, 1, NULL,
                        0, b->dgamma, b->dbeta, b->sums);
      be->bn_bwd_apply(be, s->n, s->k, s->p, s->q, b->dx_bn, b->dy, b->bn_y, b->y, b->mean_invstd,
                       b->gamma, 1, b->stats, b->sums, 0);
      break;
    default: break;
  }
  be->sync(be);
}

static double best_ms(Bench *b, Op op, int reps) {
  double best = 1e30;
  for (int i = -1; i < reps; i++) {
    const uint64_t t0 = timer_now_ns();
    run_op(b, op);
    const double ms = timer_since_ms(t0);
    if (i >= 0 && ms < best) best = ms;
  }
  return best;
}

static void time_ours(Backend *be, const BenchShape *shape, int reps, Timing *t) {
  Bench b = {.be = be, .s = conv_shape(shape)};
  const ConvShape *s = &b.s;
  const size_t n_y = (size_t)s->n * s->k * s->p * s->q;
  b.plan = be->conv_plan(be, s);
  b.x = random_buffer(be, (size_t)s->n * s->c * s->h * s->w, 1);
  b.w = random_buffer(be, (size_t)s->k * s->c * s->r * s->r, 2);
  b.y = random_buffer(be, n_y, 3);
  b.dy = random_buffer(be, n_y, 4);
  b.bn_y = random_buffer(be, n_y, 5);
  b.dx_bn = random_buffer(be, n_y, 6);
  b.mean_invstd = random_buffer(be, 2 * s->k, 7);
  b.gamma = random_buffer(be, s->k, 8);
  b.beta = random_buffer(be, s->k, 9);
  b.dgamma = random_buffer(be, s->k, 10);
  b.dbeta = random_buffer(be, s->k, 11);
  b.stats = be->alloc(be, (2 * s->k + 1) * sizeof(double), "stats");
  b.sums = be->alloc(be, 2 * s->k * sizeof(double), "sums");
  for (int op = 0; op < N_OPS; op++) t->ours[op] = best_ms(&b, (Op)op, reps);
  void *bufs[] = {b.x, b.w, b.y, b.dy, b.bn_y, b.dx_bn, b.mean_invstd, b.gamma, b.beta,
                  b.dgamma, b.dbeta, b.stats, b.sums};
  for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) be->free(be, bufs[i]);
  be->conv_plan_free(be, b.plan);
}

static int selected(const BenchShape *b, const char *net) {
  return !strcmp(net, "all") || !strcmp(net, b->net);
}

/* A PyTorch timing process fed one shape at a time, so its figures and ours
 * are taken seconds apart under the same machine load. */
typedef struct {
  FILE *to, *from;
  pid_t pid;
} Torch;

static int torch_start(Torch *t, const char *python, int threads, int reps) {
  int in[2], out[2];
  if (pipe(in) != 0 || pipe(out) != 0) return 0;
  fflush(stdout);
  t->pid = fork();
  if (t->pid < 0) return 0;
  if (t->pid == 0) {
    dup2(in[0], 0);
    dup2(out[1], 1);
    close(in[1]);
    close(out[0]);
    char th[16], rp[16];
    snprintf(th, sizeof th, "%d", threads);
    snprintf(rp, sizeof rp, "%d", reps);
    execl(python, python, RD_BENCH_TORCH_SCRIPT, th, rp, (char *)NULL);
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  t->to = fdopen(in[1], "w");
  t->from = fdopen(out[0], "r");
  return t->to && t->from;
}

/* Times one shape in torch; returns 0 (leaving t->torch < 0) on failure. */
static int torch_time(Torch *tc, const BenchShape *b, Timing *t) {
  fprintf(tc->to, "%s %d %d %d %d %d %d %d %d\n", b->name, b->n, b->c, b->h, b->w, b->k, b->r,
          b->stride, b->pad);
  fflush(tc->to);
  char name[128];
  double v[4];
  if (fscanf(tc->from, "%127s %lf %lf %lf %lf", name, &v[0], &v[1], &v[2], &v[3]) != 5) return 0;
  memcpy(t->torch, v, sizeof v);
  return 1;
}

static void torch_stop(Torch *t) {
  if (t->to) fclose(t->to);
  if (t->from) fclose(t->from);
  if (t->pid > 0) waitpid(t->pid, NULL, 0);
}

static void print_row(const BenchShape *b, const Timing *t) {
  const ConvShape s = conv_shape(b);
  const double gf = gflop(&s);
  const double *o = t->ours;
  printf("%-9s %7.2f %7.2f %7.2f %6.1f %6.1f %6.1f %6.2f %6.2f", b->name, o[OP_FWD],
         o[OP_BWD_DATA], o[OP_BWD_FILTER], gf / o[OP_FWD] * 1e3, gf / o[OP_BWD_DATA] * 1e3,
         gf / o[OP_BWD_FILTER] * 1e3, o[OP_BN_FWD], o[OP_BN_BWD]);
  if (t->torch[0] >= 0) {
    const double conv = o[OP_FWD] + o[OP_BWD_DATA] + o[OP_BWD_FILTER];
    printf("  %7.2f %7.2f %6.2f %6.2f %5.2f %5.2f", t->torch[0], t->torch[1], t->torch[2],
           t->torch[3], (t->torch[0] + t->torch[1]) / conv,
           (t->torch[2] + t->torch[3]) / (o[OP_BN_FWD] + o[OP_BN_BWD]));
  }
  printf("\n");
  fflush(stdout);
}

static void print_totals(const char *net, const Timing *t) {
  double conv = 0, bn = 0, torch_conv = 0, torch_bn = 0;
  int have_torch = 1, any = 0;
  for (int i = 0; i < N_SHAPES; i++) {
    if (strcmp(SHAPES[i].net, net) != 0 || t[i].ours[OP_FWD] < 0) continue;
    const int c = SHAPES[i].count;
    any = 1;
    conv += c * (t[i].ours[OP_FWD] + t[i].ours[OP_BWD_DATA] + t[i].ours[OP_BWD_FILTER]);
    bn += c * (t[i].ours[OP_BN_FWD] + t[i].ours[OP_BN_BWD]);
    torch_conv += c * (t[i].torch[0] + t[i].torch[1]);
    torch_bn += c * (t[i].torch[2] + t[i].torch[3]);
    have_torch &= t[i].torch[0] >= 0;
  }
  if (!any) return;
  printf("%s per training step: conv %.0f ms, bn+relu %.0f ms, total %.0f ms", net, conv, bn,
         conv + bn);
  if (have_torch)
    printf("; torch conv %.0f ms, bn+relu %.0f ms, total %.0f ms; speed ours/torch: conv %.2f, "
           "bn %.2f, total %.2f",
           torch_conv, torch_bn, torch_conv + torch_bn, torch_conv / conv, torch_bn / bn,
           (torch_conv + torch_bn) / (conv + bn));
  printf("\n");
}

int main(int argc, char **argv) {
  const char *net = "all", *python = NULL;
  int threads = 2, reps = 5;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--net") && i + 1 < argc) net = argv[++i];
    else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--torch") && i + 1 < argc) python = argv[++i];
    else {
      fprintf(stderr, "usage: %s [--net r50|r20|all] [--threads T] [--reps R] [--torch PYTHON]\n",
              argv[0]);
      return 2;
    }
  }
  if (reps < 1) reps = 1;
  Backend *be = backend_cpu_create(threads);
  static Timing t[N_SHAPES];
  for (int i = 0; i < N_SHAPES; i++)
    for (int j = 0; j < N_OPS; j++) t[i].ours[j] = -1, t[i].torch[j % 4] = -1;
  Torch torch = {NULL, NULL, -1};
  int have_torch = python && torch_start(&torch, python, threads, reps);
  printf("%-9s %7s %7s %7s %6s %6s %6s %6s %6s  %7s %7s %6s %6s %5s %5s\n", "shape", "fwd_ms",
         "bwdD_ms", "bwdF_ms", "fwdGF", "bwdDGF", "bwdFGF", "bnF_ms", "bnB_ms", "t_fwd",
         "t_bwd", "t_bnF", "t_bnB", "xconv", "xbn");
  for (int i = 0; i < N_SHAPES; i++) {
    if (!selected(&SHAPES[i], net)) continue;
    if (have_torch) have_torch = torch_time(&torch, &SHAPES[i], &t[i]);
    time_ours(be, &SHAPES[i], reps, &t[i]);
    print_row(&SHAPES[i], &t[i]);
  }
  if (python) torch_stop(&torch);
  print_totals("r50", t);
  print_totals("r20", t);
  be->destroy(be);
  return 0;
}
