/* test_sync_bn.c - sync BN on N ranks equals BN on the concatenated batch.
 *
 * Every rank holds a slice of one global batch (uneven slices, including a
 * rank with a single sample), runs the backend's split batch norm with
 * sync_bn_allreduce in the middle, and compares with one process running the
 * same ops on the whole batch (no reduction): outputs, running mean and
 * (unbiased) running variance, input gradients, residual gradients and the
 * gamma / beta gradients (summed over ranks, as the gradient all-reduce does
 * for a loss over the global batch).  Runs on the double-precision CPU
 * backend (tolerance 1e-10 relative, i.e. rounding of sums in another order)
 * and on the fp32 one (2e-5), with and without residual + ReLU, over all
 * ranks and over groups of 2 ranks (dist.bn_group = 2).
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "core/mem.h"
#include "core/rng.h"
#include "dist/sync_bn.h"
#include "dist_test_util.h"

enum { C = 5, H = 3, W = 4, MAX_RANKS = 8 };
static const double MOMENTUM = 0.1, EPS = 1e-5;

static Dist *g_d;
static Comm *g_world;

/* Uneven per-rank batch sizes (rank r of a group of g). */
static int batch_of(int r, int g) {
  static const int sizes[MAX_RANKS] = {3, 1, 4, 2, 5, 1, 2, 3};
  return g == 1 ? 4 : sizes[r % MAX_RANKS];
}

/* Host-side double copies of backend buffers (act or param dtype). */
static void to_host(Backend *be, double *dst, const void *src, size_t n, int is_act) {
  size_t bytes = (size_t)(is_act ? be->act_bytes : be->param_bytes);
  if (bytes == 8) {
    memcpy(dst, src, n * sizeof(double));
    return;
  }
  for (size_t i = 0; i < n; i++) dst[i] = ((const float *)src)[i];
}

static void *from_host(Backend *be, const double *src, size_t n) {
  size_t bytes = (size_t)be->act_bytes;
  void *p = be->alloc(be, n * bytes, "sync BN test tensor");
  for (size_t i = 0; i < n; i++) {
    if (bytes == 8) ((double *)p)[i] = src[i];
    else ((float *)p)[i] = (float)src[i];
  }
  return p;
}

typedef struct {
  double *y, *dx, *dres;    /* (n,C,H,W) */
  double rm[C], rv[C];      /* running statistics after the step */
  double dgamma[C], dbeta[C];
} BnResult;

/* One training step of one BN layer on n samples starting at sample `first`
 * of the global tensors; reduce(ctx, ...) is the sync-BN hook or NULL. */
static void bn_step(Backend *be, const double *gx, const double *gdy, const double *gres,
                    int first, int n, int relu, void (*reduce)(void *, double *, int), void *ctx,
                    BnResult *out) {
  size_t plane = (size_t)C * H * W, m = (size_t)n * plane;
  void *x = from_host(be, gx + first * plane, m);
  void *dy = from_host(be, gdy + first * plane, m);
  void *res = gres ? from_host(be, gres + first * plane, m) : NULL;
  double gamma_h[C], beta_h[C], rm_h[C], rv_h[C];
  for (int c = 0; c < C; c++) {
    gamma_h[c] = 0.5 + 0.25 * c;
    beta_h[c] = 0.1 * c - 0.2;
    rm_h[c] = 0.05 * c;
    rv_h[c] = 1.0 + 0.1 * c;
  }
  void *gamma = from_host(be, gamma_h, C), *beta = from_host(be, beta_h, C);
  void *rm = from_host(be, rm_h, C), *rv = from_host(be, rv_h, C);
  void *mean_invstd = be->alloc(be, 2 * C * (size_t)be->param_bytes, "mean_invstd");
  void *dgamma = be->alloc(be, C * (size_t)be->param_bytes, "dgamma");
  void *dbeta = be->alloc(be, C * (size_t)be->param_bytes, "dbeta");
  void *y = be->alloc(be, m * (size_t)be->act_bytes, "y");
  void *dx = be->alloc(be, m * (size_t)be->act_bytes, "dx");
  void *dres = be->alloc(be, m * (size_t)be->act_bytes, "dres");
  double stats[2 * C + 1], sums[2 * C];

  be->bn_stats(be, n, C, H, W, x, stats);
  if (reduce) reduce(ctx, stats, 2 * C + 1);
  be->bn_finalize(be, C, stats, mean_invstd, rm, rv, MOMENTUM, EPS, 1);
  be->bn_apply(be, n, C, H, W, y, x, mean_invstd, gamma, beta, res, relu);
  be->bn_bwd_reduce(be, n, C, H, W, dy, y, x, mean_invstd, relu, dres, 0, dgamma, dbeta, sums);
  if (reduce) reduce(ctx, sums, 2 * C);
  be->bn_bwd_apply(be, n, C, H, W, dx, dy, y, x, mean_invstd, gamma, relu, stats, sums, 0);
  be->sync(be);

  out->y = mem_alloc_or_die(m * sizeof(double), "y");
  out->dx = mem_alloc_or_die(m * sizeof(double), "dx");
  out->dres = mem_alloc_or_die(m * sizeof(double), "dres");
  to_host(be, out->y, y, m, 1);
  to_host(be, out->dx, dx, m, 1);
  to_host(be, out->dres, dres, m, 1);
  to_host(be, out->rm, rm, C, 0);
  to_host(be, out->rv, rv, C, 0);
  to_host(be, out->dgamma, dgamma, C, 0);
  to_host(be, out->dbeta, dbeta, C, 0);
  void *bufs[] = {x, dy, res, gamma, beta, rm, rv, mean_invstd, dgamma, dbeta, y, dx, dres};
  for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
    if (bufs[i]) be->free(be, bufs[i]);
}

static void free_result(BnResult *r) {
  mem_free(r->y);
  mem_free(r->dx);
  mem_free(r->dres);
}

static size_t count_far(const double *a, const double *b, size_t n, double rtol, double *worst) {
  size_t bad = 0;
  for (size_t i = 0; i < n; i++) {
    double scale = fmax(fmax(fabs(a[i]), fabs(b[i])), 1.0);
    double rel = fabs(a[i] - b[i]) / scale;
    if (rel > *worst) *worst = rel;
    bad += rel > rtol;
  }
  return bad;
}

/* group_size 0: all ranks share statistics; else groups of group_size. */
static void check_sync_bn(Backend *be, int group_size, int relu_residual, double rtol) {
  Comm *grp = comm_mpi_create(g_d, group_size);
  int g = grp->size;
  int total = 0, first = 0;
  for (int r = 0; r < g; r++) {
    if (r == grp->rank) first = total;
    total += batch_of(r, g);
  }
  int n = batch_of(grp->rank, g);
  size_t plane = (size_t)C * H * W, m_total = (size_t)total * plane;
  double *gx = mem_alloc_or_die(m_total * sizeof(double), "global x");
  double *gdy = mem_alloc_or_die(m_total * sizeof(double), "global dy");
  double *gres = mem_alloc_or_die(m_total * sizeof(double), "global residual");
  /* The same global batch on every rank of the group; shifted per channel so
   * the mean matters; values are floats so both backends see the same input. */
  int group_id = g_d->rank / g;
  RngStream s;
  rng_stream_init(&s, 2024, rng_id_hi(RNG_DOMAIN_TEST, 77), (uint32_t)group_id);
  for (size_t i = 0; i < m_total; i++) {
    int c = (int)(i / (H * W) % C);
    gx[i] = (float)(rng_normal(&s) * (1.0 + c) + 0.3 * c);
    gdy[i] = (float)rng_normal(&s);
    gres[i] = (float)rng_normal(&s);
  }
  SyncBn *sbn = sync_bn_create(grp, be);
  BnResult mine, ref;
  const double *res = relu_residual ? gres : NULL;
  bn_step(be, gx, gdy, res, first, n, relu_residual, sync_bn_allreduce, sbn, &mine);
  bn_step(be, gx, gdy, res, 0, total, relu_residual, NULL, NULL, &ref);
  T_CHECK(sync_bn_calls(sbn) == (g > 1 ? 2 : 0), "%lld sync-BN reductions for one layer",
          (long long)sync_bn_calls(sbn));

  /* gamma / beta gradients: summed over the group like the gradient all-reduce. */
  grp->allreduce(grp, mine.dgamma, C, COMM_F64, COMM_SUM, "sum of dgamma");
  grp->allreduce(grp, mine.dbeta, C, COMM_F64, COMM_SUM, "sum of dbeta");

  size_t m = (size_t)n * plane, off = (size_t)first * plane;
  double worst = 0;
  size_t bad_y = count_far(mine.y, ref.y + off, m, rtol, &worst);
  size_t bad_dx = count_far(mine.dx, ref.dx + off, m, rtol, &worst);
  size_t bad_dres = count_far(mine.dres, ref.dres + off, m, rtol, &worst);
  size_t bad_rs = count_far(mine.rm, ref.rm, C, rtol, &worst) +
                  count_far(mine.rv, ref.rv, C, rtol, &worst);
  size_t bad_p = count_far(mine.dgamma, ref.dgamma, C, rtol, &worst) +
                 count_far(mine.dbeta, ref.dbeta, C, rtol, &worst);
  const char *what = be->name;
  T_CHECK(bad_y == 0, "%s group %d rank %d: %zu outputs differ", what, g, grp->rank, bad_y);
  T_CHECK(bad_dx == 0, "%s group %d rank %d: %zu input gradients differ", what, g, grp->rank,
          bad_dx);
  T_CHECK(bad_dres == 0, "%s group %d: %zu residual gradients differ", what, g, bad_dres);
  T_CHECK(bad_rs == 0, "%s group %d: %zu running statistics differ", what, g, bad_rs);
  T_CHECK(bad_p == 0, "%s group %d: %zu gamma/beta gradients differ", what, g, bad_p);
  T_CHECK(worst <= rtol, "%s: worst relative difference %.3g > %.3g", what, worst, rtol);
  /* A local BN (no reduction) differs when the slice is not the whole batch. */
  if (g > 1) {
    BnResult local;
    bn_step(be, gx, gdy, res, first, n, relu_residual, NULL, NULL, &local);
    double w2 = 0;
    T_CHECK(count_far(local.rm, ref.rm, C, rtol, &w2) > 0,
            "local BN gives the global running mean: the test cannot tell them apart");
    free_result(&local);
  }
  free_result(&mine);
  free_result(&ref);
  sync_bn_destroy(sbn);
  mem_free(gx);
  mem_free(gdy);
  mem_free(gres);
  grp->destroy(grp);
}

static void test_cpu64_all_ranks(void) {
  Backend *be = backend_cpu64_create(1);
  check_sync_bn(be, 0, 0, 1e-10);
  check_sync_bn(be, 0, 1, 1e-10);
  be->destroy(be);
}

static void test_cpu32_all_ranks(void) {
  Backend *be = backend_cpu_create(1);
  check_sync_bn(be, 0, 1, 2e-5);
  be->destroy(be);
}

static void test_bn_group_of_two(void) {
  if (g_d->world % 2) return;
  Backend *be = backend_cpu64_create(1);
  check_sync_bn(be, 2, 1, 1e-10);
  be->destroy(be);
}

int main(int argc, char **argv) {
  g_d = dist_test_init(&argc, &argv);
  g_world = comm_mpi_create(g_d, 0);
  TEST_RUN(test_cpu64_all_ranks);
  TEST_RUN(test_cpu32_all_ranks);
  TEST_RUN(test_bn_group_of_two);
  return dist_test_finish(g_d, g_world);
}
