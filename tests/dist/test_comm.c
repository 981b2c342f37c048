/* test_comm.c - comm_mpi on np = 1..4: every operation with rank-dependent
 * inputs whose results are known exactly (small integers, exact in every
 * dtype including bf16), several sizes (1 element to a few MB; --big adds
 * one 64 MB all-reduce), sub-communicators for dist.bn_group, non-blocking
 * all-reduce with test/wait, and the stop-flag agreement.
 *
 *   mpirun -np N test_comm [--big]
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/mem.h"
#include "dist_test_util.h"

static Dist *g_d;
static Comm *g_c;

static const size_t SIZES[] = {1, 7, 1000, 65537, (1u << 20) + 3};
enum { N_SIZES = (int)(sizeof SIZES / sizeof SIZES[0]) };
static const CommDtype FLOAT_TYPES[] = {COMM_F32, COMM_F64, COMM_BF16, COMM_F16};
static const CommOp OPS[] = {COMM_SUM, COMM_AVG, COMM_MAX, COMM_MIN};

/* Rank r's value at i: 1..9, so sums over 4 ranks stay exact everywhere. */
static int small_value(int r, size_t i) { return (r + 1) + (int)(i % 5); }

static double expected_float(CommOp op, int size, size_t i) {
  double s = 0, mx = -1e300, mn = 1e300;
  for (int r = 0; r < size; r++) {
    double v = small_value(r, i);
    s += v;
    mx = v > mx ? v : mx;
    mn = v < mn ? v : mn;
  }
  if (op == COMM_SUM) return s;
  if (op == COMM_MAX) return mx;
  if (op == COMM_MIN) return mn;
  return s / size;
}

/* Writes v into element i of a buffer of dtype dt. */
static void put(void *buf, CommDtype dt, size_t i, double v) {
  switch (dt) {
    case COMM_F32: ((float *)buf)[i] = (float)v; break;
    case COMM_F64: ((double *)buf)[i] = v; break;
    case COMM_BF16:
    case COMM_F16: {
      float f = (float)v;
      comm_f32_to_half(dt, &f, (uint16_t *)buf + i, 1);
      break;
    }
    case COMM_I32: ((int32_t *)buf)[i] = (int32_t)v; break;
    case COMM_I64: ((int64_t *)buf)[i] = (int64_t)v; break;
    case COMM_U8: ((uint8_t *)buf)[i] = (uint8_t)v; break;
  }
}

static double get(const void *buf, CommDtype dt, size_t i) {
  switch (dt) {
    case COMM_F32: return ((const float *)buf)[i];
    case COMM_F64: return ((const double *)buf)[i];
    case COMM_BF16:
    case COMM_F16: {
      float f;
      comm_half_to_f32(dt, (const uint16_t *)buf + i, &f, 1);
      return f;
    }
    case COMM_I32: return ((const int32_t *)buf)[i];
    case COMM_I64: return (double)((const int64_t *)buf)[i];
    case COMM_U8: return ((const uint8_t *)buf)[i];
  }
  return NAN;
}

/* The average as the transport computes it: sum in the reduction type, then
 * one division in that type, then (half types) one rounding. */
static double expected_avg(CommDtype dt, int size, size_t i) {
  double s = expected_float(COMM_SUM, size, i);
  if (dt == COMM_F64) return s / size;
  float q = (float)s / (float)size;
  if (dt == COMM_F32) return q;
  uint16_t h;
  comm_f32_to_half(dt, &q, &h, 1);
  float back;
  comm_half_to_f32(dt, &h, &back, 1);
  return back;
}

static void check_float_allreduce(CommDtype dt, CommOp op, size_t n) {
  void *buf = mem_alloc_or_die(n * comm_dtype_bytes(dt), "test buffer");
  for (size_t i = 0; i < n; i++) put(buf, dt, i, small_value(g_c->rank, i));
  g_c->allreduce(g_c, buf, n, dt, op, "all-reduce under test");
  size_t bad = 0, first_bad = 0;
  for (size_t i = 0; i < n; i++) {
    double want = op == COMM_AVG ? expected_avg(dt, g_c->size, i)
                                 : expected_float(op, g_c->size, i);
    if (get(buf, dt, i) != want && !bad++) first_bad = i;
  }
  T_CHECK(bad == 0, "%s op %d n=%zu: %zu wrong, first at %zu: %g vs %g", comm_dtype_name(dt),
          (int)op, n, bad, first_bad, get(buf, dt, first_bad),
          op == COMM_AVG ? expected_avg(dt, g_c->size, first_bad)
                         : expected_float(op, g_c->size, first_bad));
  mem_free(buf);
}

static void test_allreduce_float_types(void) {
  for (int t = 0; t < 4; t++)
    for (int o = 0; o < 4; o++)
      for (int s = 0; s < N_SIZES; s++) check_float_allreduce(FLOAT_TYPES[t], OPS[o], SIZES[s]);
}

/* Integers: i64 values beyond 2^53 (not exact in a double), i32, u8. */
static void test_allreduce_integer_types(void) {
  for (int s = 0; s < N_SIZES; s++) {
    size_t n = SIZES[s];
    int64_t *a = mem_alloc_or_die(n * sizeof *a, "i64");
    int32_t *b = mem_alloc_or_die(n * sizeof *b, "i32");
    uint8_t *u = mem_alloc_or_die(n, "u8");
    for (size_t i = 0; i < n; i++) {
      a[i] = ((int64_t)(g_c->rank + 1) << 54) + (int64_t)i;
      b[i] = (g_c->rank + 1) * 1000003 - (int32_t)i;
      u[i] = (uint8_t)((g_c->rank + i) % 50);
    }
    g_c->allreduce(g_c, a, n, COMM_I64, COMM_SUM, "i64 sum");
    g_c->allreduce(g_c, b, n, COMM_I32, COMM_MAX, "i32 max");
    g_c->allreduce(g_c, u, n, COMM_U8, COMM_SUM, "u8 sum");
    int64_t tri = (int64_t)g_c->size * (g_c->size + 1) / 2;
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
      int64_t want_a = (tri << 54) + (int64_t)g_c->size * (int64_t)i;
      int32_t want_b = g_c->size * 1000003 - (int32_t)i;
      int want_u = 0;
      for (int r = 0; r < g_c->size; r++) want_u += (int)((r + i) % 50);
      bad += a[i] != want_a || b[i] != want_b || u[i] != want_u;
    }
    T_CHECK(bad == 0, "integer all-reduce n=%zu: %zu elements wrong", n, bad);
    mem_free(a);
    mem_free(b);
    mem_free(u);
  }
}

/* Three outstanding requests, completed by test polling and by wait. */
static void test_iallreduce(void) {
  enum { N = 5000 };
  float *x[3];
  CommRequest *req[3];
  for (int k = 0; k < 3; k++) {
    x[k] = mem_alloc_or_die(N * sizeof(float), "iallreduce buffer");
    for (size_t i = 0; i < N; i++) x[k][i] = (float)(small_value(g_c->rank, i) * (k + 1));
    req[k] = g_c->iallreduce(g_c, x[k], N, COMM_F32, COMM_SUM, "non-blocking all-reduce");
  }
  int done0 = 0;
  while (!done0) done0 = g_c->test(g_c, req[0]);
  g_c->wait(g_c, req[2]);
  g_c->wait(g_c, req[1]);
  size_t bad = 0;
  for (int k = 0; k < 3; k++)
    for (size_t i = 0; i < N; i++)
      bad += x[k][i] != (float)(expected_float(COMM_SUM, g_c->size, i) * (k + 1));
  T_CHECK(bad == 0, "iallreduce: %zu elements wrong", bad);
  for (int k = 0; k < 3; k++) mem_free(x[k]);
}

static void test_broadcast(void) {
  const size_t sizes[] = {1, 1000, (1u << 20) + 1};
  int roots[2] = {0, g_c->size - 1};
  for (int s = 0; s < 3; s++)
    for (int k = 0; k < 2; k++) {
      size_t n = sizes[s];
      int root = roots[k];
      float *f = mem_alloc_or_die(n * sizeof *f, "broadcast f32");
      uint8_t *u = mem_alloc_or_die(n, "broadcast u8");
      for (size_t i = 0; i < n; i++) {
        f[i] = (float)(g_c->rank * 1000 + (int)(i % 977));
        u[i] = (uint8_t)(g_c->rank * 31 + i);
      }
      g_c->broadcast(g_c, f, n, COMM_F32, root, "broadcast under test");
      g_c->broadcast(g_c, u, n, COMM_U8, root, "broadcast under test");
      size_t bad = 0;
      for (size_t i = 0; i < n; i++)
        bad += f[i] != (float)(root * 1000 + (int)(i % 977)) || u[i] != (uint8_t)(root * 31 + i);
      T_CHECK(bad == 0, "broadcast n=%zu root %d: %zu wrong", n, root, bad);
      mem_free(f);
      mem_free(u);
    }
}

static void test_allgather(void) {
  int64_t mine[3] = {g_c->rank, 10 * g_c->rank, -(int64_t)g_c->rank - 7};
  int64_t *all = mem_alloc_or_die((size_t)g_c->size * 3 * sizeof *all, "allgather");
  g_c->allgather(g_c, mine, all, 3, COMM_I64, "all-gather under test");
  for (int r = 0; r < g_c->size; r++)
    T_CHECK(all[3 * r] == r && all[3 * r + 1] == 10 * r && all[3 * r + 2] == -r - 7,
            "allgather slot of rank %d: %lld %lld %lld", r, (long long)all[3 * r],
            (long long)all[3 * r + 1], (long long)all[3 * r + 2]);
  /* In place: each rank's contribution already sits in its own slot. */
  for (int r = 0; r < g_c->size; r++) all[3 * r] = all[3 * r + 1] = all[3 * r + 2] = -1;
  all[3 * g_c->rank] = 5 * g_c->rank;
  all[3 * g_c->rank + 1] = 1;
  all[3 * g_c->rank + 2] = 2;
  g_c->allgather(g_c, all + 3 * g_c->rank, all, 3, COMM_I64, "in-place all-gather");
  for (int r = 0; r < g_c->size; r++)
    T_CHECK(all[3 * r] == 5 * r && all[3 * r + 1] == 1 && all[3 * r + 2] == 2,
            "in-place allgather slot of rank %d: %lld", r, (long long)all[3 * r]);
  mem_free(all);
}

/* After the barrier every rank's file, written before it, exists. */
static void test_barrier(void) {
  int64_t id = (int64_t)getpid();
  g_c->broadcast(g_c, &id, 1, COMM_I64, 0, "broadcast of the test folder id");
  char dir[128], path[192];
  snprintf(dir, sizeof dir, "/tmp/rd_test_barrier_%lld", (long long)id);
  mkdir(dir, 0777);
  snprintf(path, sizeof path, "%s/rank%d", dir, g_c->rank);
  FILE *f = fopen(path, "w");
  T_CHECK(f != NULL, "cannot create %s", path);
  if (f) fclose(f);
  g_c->barrier(g_c, "barrier under test");
  for (int r = 0; r < g_c->size; r++) {
    snprintf(path, sizeof path, "%s/rank%d", dir, r);
    T_CHECK(access(path, F_OK) == 0, "rank %d's file missing after the barrier", r);
  }
  g_c->barrier(g_c, "barrier before cleanup");
  snprintf(path, sizeof path, "%s/rank%d", dir, g_c->rank);
  unlink(path);
  g_c->barrier(g_c, "barrier after cleanup");
  if (g_c->rank == 0) rmdir(dir);
}

/* dist.bn_group: consecutive groups of g ranks reduce separately. */
static void test_groups(void) {
  for (int g = 1; g <= g_d->world; g++) {
    if (g_d->world % g) continue;
    Comm *grp = comm_mpi_create(g_d, g);
    T_CHECK(grp->size == g && grp->rank == g_d->rank % g, "group %d: rank %d size %d", g,
            grp->rank, grp->size);
    int64_t x = g_d->rank + 1;
    grp->allreduce(grp, &x, 1, COMM_I64, COMM_SUM, "group all-reduce");
    int first = g_d->rank / g * g;
    int64_t want = 0;
    for (int r = first; r < first + g; r++) want += r + 1;
    T_CHECK(x == want, "group size %d on rank %d: sum %lld, want %lld", g, g_d->rank,
            (long long)x, (long long)want);
    grp->destroy(grp);
  }
}

static void test_agree_stop(void) {
  T_CHECK(dist_agree_stop(g_c, 0) == 0, "no rank asked to stop, yet the agreement says stop");
  T_CHECK(dist_agree_stop(g_c, g_c->rank == g_c->size - 1) == 1,
          "the last rank asked to stop, the agreement on rank %d says go on", g_c->rank);
  T_CHECK(comm_any(g_c, g_c->rank == 0, "any") == 1, "comm_any of rank 0's flag");
}

/* 64 MB of fp32 in one all-reduce (16 Mi elements). */
static void test_big(void) { check_float_allreduce(COMM_F32, COMM_SUM, (size_t)16 << 20); }

int main(int argc, char **argv) {
  g_d = dist_test_init(&argc, &argv);
  g_c = comm_mpi_create(g_d, 0);
  T_CHECK(g_c->size == g_d->world && g_c->rank == g_d->rank, "world communicator %d/%d",
          g_c->rank, g_c->size);
  if (argc > 1 && !strcmp(argv[1], "--big")) {
    TEST_RUN(test_big);
  } else {
    TEST_RUN(test_allreduce_float_types);
    TEST_RUN(test_allreduce_integer_types);
    TEST_RUN(test_iallreduce);
    TEST_RUN(test_broadcast);
    TEST_RUN(test_allgather);
    TEST_RUN(test_barrier);
    TEST_RUN(test_groups);
    TEST_RUN(test_agree_stop);
  }
  return dist_test_finish(g_d, g_c);
}
