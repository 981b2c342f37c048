/* test_grad_sync.c - bucketed gradient averaging over a fake arena of
 * parameters of uneven sizes (with gaps between them), on np = 1..4.
 *
 * A recording communicator sits between grad_sync and comm_mpi and logs every
 * all-reduce it is asked for, so the test checks the contract directly: the
 * result is the average; buckets tile the arena along parameter boundaries,
 * each reduced exactly once, launched from the end of the arena backwards in
 * the same order whatever order gradients are reported in; a bucket is
 * launched during backward (inside grad_sync_ready) as soon as it is complete.
 * Also: parameters never reported, several parameters in one report, a
 * second step, fp64 gradients, and the staging path of a device backend with
 * a host transport (a fake "device" whose memory is host memory).
 */
#include <stdint.h>
#include <string.h>

#include "core/mem.h"
#include "dist/grad_sync.h"
#include "dist_test_util.h"

enum { N_PARAMS = 41, MAX_LAUNCHES = 256 };
static const double BUCKET_MB = 0.1; /* 104857 bytes: 26214 floats */

static Dist *g_d;
static Comm *g_world;

/* ---------------------------------------------------- recording comm */

typedef struct {
  Comm *inner;
  const char *arena;
  size_t elem_bytes;
  int n_launches;
  size_t lo[MAX_LAUNCHES], n[MAX_LAUNCHES];
  int during_finish[MAX_LAUNCHES];
  int in_finish;
} Recorder;

static Recorder *rec_of(Comm *c) { return c->impl; }

static CommRequest *rec_iallreduce(Comm *c, void *buf, size_t count, CommDtype dt, CommOp op,
                                   const char *what) {
  Recorder *r = rec_of(c);
  T_CHECK(op == COMM_AVG, "bucket reduced with op %d, want average", (int)op);
  T_CHECK(dt == (r->elem_bytes == 8 ? COMM_F64 : COMM_F32), "bucket dtype %s",
          comm_dtype_name(dt));
  if (r->n_launches < MAX_LAUNCHES) {
    r->lo[r->n_launches] = (size_t)((const char *)buf - r->arena) / r->elem_bytes;
    r->n[r->n_launches] = count;
    r->during_finish[r->n_launches] = r->in_finish;
  }
  r->n_launches++;
  return r->inner->iallreduce(r->inner, buf, count, dt, op, what);
}
static int rec_test(Comm *c, CommRequest *q) { return rec_of(c)->inner->test(rec_of(c)->inner, q); }
static void rec_wait(Comm *c, CommRequest *q) { rec_of(c)->inner->wait(rec_of(c)->inner, q); }

static Comm make_recorder(Recorder *r, Comm *inner) {
  Comm c = *inner;
  c.name = "recorder";
  c.impl = r;
  c.iallreduce = rec_iallreduce;
  c.test = rec_test;
  c.wait = rec_wait;
  c.allreduce = NULL;
  r->inner = inner;
  return c;
}

/* ------------------------------------------------------- fake backends */

typedef struct {
  int n_downloads, n_uploads;
} FakeDevice;

static void *fake_alloc_host(Backend *be, size_t n_bytes, const char *what) {
  return mem_alloc_or_die(n_bytes, what);
}
static void fake_free_host(Backend *be, void *p) { mem_free(p); }
static void fake_download(Backend *be, void *host_dst, const void *src, size_t n_bytes) {
  ((FakeDevice *)be->impl)->n_downloads++;
  memcpy(host_dst, src, n_bytes);
}
static void fake_upload(Backend *be, void *dst, const void *host_src, size_t n_bytes) {
  ((FakeDevice *)be->impl)->n_uploads++;
  memcpy(dst, host_src, n_bytes);
}

static Backend fake_backend(BackendKind kind, int param_bytes, FakeDevice *dev) {
  Backend be;
  memset(&be, 0, sizeof be);
  be.kind = kind;
  be.name = kind == BACKEND_CUDA ? "fake-device" : "fake-host";
  be.param_bytes = param_bytes;
  be.act_bytes = param_bytes;
  be.impl = dev;
  be.alloc_host = fake_alloc_host;
  be.free_host = fake_free_host;
  be.download = fake_download;
  be.upload = fake_upload;
  return be;
}

/* ------------------------------------------------------------- arena */

typedef struct {
  size_t off[N_PARAMS], len[N_PARAMS];
  size_t n_elems;
} Layout;

/* Uneven sizes (1 .. 30011, one of 200000), gaps after every third parameter. */
static Layout make_layout(void) {
  Layout l;
  size_t at = 0;
  for (int p = 0; p < N_PARAMS; p++) {
    l.off[p] = at;
    l.len[p] = p == 17 ? 200000 : 1 + (size_t)p * 7919 % 30011;
    at += l.len[p] + (p % 3 == 0 ? 5 : 0);
  }
  l.n_elems = at + 3;
  return l;
}

static double grad_value(int rank, size_t i, int step) {
  return (rank + 1) * 0.5 + (double)(i % 7) + step;
}

static void fill(void *arena, int elem_bytes, size_t n, int rank, int step) {
  for (size_t i = 0; i < n; i++) {
    double v = grad_value(rank, i, step);
    if (elem_bytes == 8) ((double *)arena)[i] = v;
    else ((float *)arena)[i] = (float)v;
  }
}

/* Average as the transport computes it (sum exact, one division). */
static size_t count_wrong(const void *arena, int elem_bytes, size_t n, int size, int step) {
  size_t bad = 0;
  for (size_t i = 0; i < n; i++) {
    double s = 0;
    for (int r = 0; r < size; r++) s += grad_value(r, i, step);
    if (elem_bytes == 8) bad += ((const double *)arena)[i] != s / size;
    else bad += ((const float *)arena)[i] != (float)s / (float)size;
  }
  return bad;
}

static int is_param_start(const Layout *l, size_t off) {
  for (int p = 0; p < N_PARAMS; p++)
    if (l->off[p] == off) return 1;
  return 0;
}

/* The launches tile the arena from its end backwards, along parameters. */
static void check_tiling(Recorder *r, const Layout *l, int n_buckets, int elem_bytes,
                         int staged) {
  if (g_world->size == 1) {
    T_CHECK(r->n_launches == 0, "np=1 launched %d all-reduces", r->n_launches);
    return;
  }
  T_CHECK(r->n_launches == n_buckets, "%d launches for %d buckets", r->n_launches, n_buckets);
  if (staged) { /* offsets into the host copy: rebase so launch 0 ends at the arena end */
    size_t base = r->lo[0] + r->n[0] - l->n_elems;
    for (int k = 0; k < r->n_launches && k < MAX_LAUNCHES; k++) r->lo[k] -= base;
  }
  size_t end = l->n_elems;
  size_t cap_elems = (size_t)(BUCKET_MB * 1024 * 1024) / (size_t)elem_bytes;
  for (int k = 0; k < r->n_launches && k < MAX_LAUNCHES; k++) {
    T_CHECK(r->lo[k] + r->n[k] == end, "launch %d covers [%zu, %zu), expected to end at %zu",
            k, r->lo[k], r->lo[k] + r->n[k], end);
    T_CHECK(is_param_start(l, r->lo[k]), "launch %d starts at %zu, not a parameter", k,
            r->lo[k]);
    T_CHECK(r->lo[k] == 0 || r->n[k] >= cap_elems, "bucket %d of %zu elements < cap %zu", k,
            r->n[k], cap_elems);
    end = r->lo[k];
  }
  T_CHECK(end == 0, "launches stop at %zu, not at the arena start", end);
}

typedef enum { REPORT_REVERSE, REPORT_SHUFFLED, REPORT_SOME, REPORT_PAIRS } ReportOrder;

/* One step: begin, report gradients in the given order, finish. */
static void run_step(GradSync *gs, Recorder *rec, const Layout *l, ReportOrder order) {
  rec->n_launches = 0;
  rec->in_finish = 0;
  grad_sync_begin(gs);
  for (int k = 0; k < N_PARAMS; k++) {
    int p = N_PARAMS - 1 - k;
    if (order == REPORT_SHUFFLED) p = (k * 17 + 5) % N_PARAMS;
    if (order == REPORT_SOME && p % 4 == 1) continue;
    if (order == REPORT_PAIRS) {
      if (p % 2 == 1) continue; /* even p reports p and p + 1 in one call */
      size_t end = p + 1 < N_PARAMS ? l->off[p + 1] + l->len[p + 1] : l->off[p] + l->len[p];
      grad_sync_ready(gs, l->off[p], end - l->off[p]);
      continue;
    }
    grad_sync_ready(gs, l->off[p], l->len[p]);
  }
  rec->in_finish = 1;
  grad_sync_finish(gs);
}

static void check_case(int elem_bytes, BackendKind kind, ReportOrder order) {
  Layout l = make_layout();
  FakeDevice dev = {0, 0};
  Backend be = fake_backend(kind, elem_bytes, &dev);
  void *arena = mem_alloc_or_die(l.n_elems * (size_t)elem_bytes, "gradient arena");
  Recorder rec;
  memset(&rec, 0, sizeof rec);
  rec.arena = arena;
  rec.elem_bytes = (size_t)elem_bytes;
  Comm proxy = make_recorder(&rec, g_world);
  GradSync *gs = grad_sync_create(&proxy, &be, arena, l.n_elems, l.off, N_PARAMS, BUCKET_MB);
  int nb = grad_sync_num_buckets(gs);
  T_CHECK(nb >= 4, "only %d buckets for %zu elements", nb, l.n_elems);
  for (int step = 0; step < 2; step++) {
    fill(arena, elem_bytes, l.n_elems, g_world->rank, step);
    run_step(gs, &rec, &l, order);
    size_t bad = count_wrong(arena, elem_bytes, l.n_elems, g_world->size, step);
    T_CHECK(bad == 0, "step %d order %d: %zu of %zu gradients are not the average", step,
            (int)order, bad, l.n_elems);
    check_tiling(&rec, &l, nb, elem_bytes, kind == BACKEND_CUDA);
  }
  if (g_world->size > 1 && order == REPORT_REVERSE) {
    int late = 0;
    for (int k = 0; k < rec.n_launches && k < MAX_LAUNCHES; k++) late += rec.during_finish[k];
    T_CHECK(late == 0, "%d buckets launched only in grad_sync_finish, not during backward",
            late);
  }
  if (kind == BACKEND_CUDA && g_world->size > 1)
    T_CHECK(dev.n_downloads == 2 * nb && dev.n_uploads == 2 * nb,
            "staging: %d downloads, %d uploads for 2 x %d buckets", dev.n_downloads,
            dev.n_uploads, nb);
  grad_sync_destroy(gs);
  mem_free(arena);
}

static void test_reverse_order(void) { check_case(4, BACKEND_CPU, REPORT_REVERSE); }
static void test_shuffled_order(void) { check_case(4, BACKEND_CPU, REPORT_SHUFFLED); }
static void test_unreported_params(void) { check_case(4, BACKEND_CPU, REPORT_SOME); }
static void test_multi_param_reports(void) { check_case(4, BACKEND_CPU, REPORT_PAIRS); }
static void test_f64(void) { check_case(8, BACKEND_CPU64, REPORT_SHUFFLED); }
static void test_device_staging(void) { check_case(4, BACKEND_CUDA, REPORT_REVERSE); }

/* One bucket when the cap exceeds the arena; one per parameter when tiny. */
static void test_bucket_counts(void) {
  Layout l = make_layout();
  Backend be = fake_backend(BACKEND_CPU, 4, NULL);
  float *arena = mem_alloc_or_die(l.n_elems * sizeof *arena, "arena");
  GradSync *one = grad_sync_create(g_world, &be, arena, l.n_elems, l.off, N_PARAMS, 1000.0);
  GradSync *each = grad_sync_create(g_world, &be, arena, l.n_elems, l.off, N_PARAMS, 1e-6);
  T_CHECK(grad_sync_num_buckets(one) == 1, "%d buckets with a 1000 MiB cap",
          grad_sync_num_buckets(one));
  T_CHECK(grad_sync_num_buckets(each) == N_PARAMS, "%d buckets with a 1-byte cap",
          grad_sync_num_buckets(each));
  grad_sync_destroy(one);
  grad_sync_destroy(each);
  mem_free(arena);
}

int main(int argc, char **argv) {
  g_d = dist_test_init(&argc, &argv);
  g_world = comm_mpi_create(g_d, 0);
  TEST_RUN(test_reverse_order);
  TEST_RUN(test_shuffled_order);
  TEST_RUN(test_unreported_params);
  TEST_RUN(test_multi_param_reports);
  TEST_RUN(test_f64);
  TEST_RUN(test_device_staging);
  TEST_RUN(test_bucket_counts);
  return dist_test_finish(g_d, g_world);
}
