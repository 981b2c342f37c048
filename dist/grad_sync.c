/* grad_sync.c - bucketed gradient averaging overlapped with backward; see
 * grad_sync.h.  Follows PyTorch DDP's reducer (Li et al., "PyTorch
 * Distributed: Experiences on Accelerating Data Parallel Training", VLDB
 * 2020): buckets in reverse parameter order, launched as soon as they are
 * complete, always in the same order on every rank.
 *
 * Invariants:
 *   - bucket 0 ends at the end of the arena; bucket b+1 ends where bucket b
 *     starts; every bucket is a contiguous run of whole parameters, so it is
 *     all-reduced in place without packing;
 *   - buckets are launched strictly in order 0, 1, 2, ... (a complete bucket
 *     waits for its predecessors): collectives must be issued in the same
 *     order on every rank, whatever order backward reports gradients in;
 *   - each parameter is reported at most once per step; parameters never
 *     reported are treated as final in grad_sync_finish.
 * Transport paths: host gradients (CPU backends) are reduced in place; device
 * gradients with a host transport (CUDA backend + comm_mpi) are staged through
 * a host copy (download when the bucket launches, upload when it completes);
 * device gradients with comm_nccl are reduced in place on the device (stream
 * ordering: comm_nccl_set_compute_stream).  Progress: every grad_sync_ready
 * tests the outstanding buckets, so MPI advances them while backward runs.
 */
#include "dist/grad_sync.h"

#include <stdio.h>
#include <string.h>

#include "core/check.h"
#include "core/mem.h"
#include "core/timer.h"

static const double BYTES_PER_MIB = 1024.0 * 1024.0;

typedef struct {
  size_t lo, hi;        /* element range [lo, hi) of the arena */
  int first_param;      /* parameters first_param .. last_param (ascending) */
  int last_param;
  int n_pending;        /* parameters of the bucket not yet final this step */
  int launched;
  int done;
  CommRequest *req;
  uint64_t launch_ns;   /* for the observer */
} Bucket;

struct GradSync {
  Comm *comm;
  Backend *be;
  char *grads;          /* (n_elems) param dtype, backend memory */
  size_t n_elems;
  size_t elem_bytes;
  CommDtype dtype;
  size_t *param_lo;     /* (n_params + 1): start offsets, then n_elems */
  int n_params;
  int *param_bucket;    /* (n_params) */
  unsigned char *param_ready; /* (n_params) this step */
  Bucket *buckets;      /* (n_buckets), bucket 0 at the end of the arena */
  int n_buckets;
  int next_launch;
  char *stage;          /* (n_elems) host copy when staging, else NULL */
  int active;           /* between begin and finish */
  double exposed_ms;
  GradSyncObserver observer;
  void *observer_ctx;
};

static int needs_staging(const Comm *c, const Backend *be) {
  return be->kind == BACKEND_CUDA && !c->device_buffers;
}

static void build_buckets(GradSync *gs, double bucket_mb) {
  size_t cap_bytes = (size_t)(bucket_mb * BYTES_PER_MIB);
  if (cap_bytes < gs->elem_bytes) cap_bytes = gs->elem_bytes;
  gs->buckets = mem_calloc_or_die((size_t)gs->n_params, sizeof *gs->buckets, "gradient buckets");
  int nb = 0;
  int hi_param = gs->n_params - 1;
  for (int p = gs->n_params - 1; p >= 0; p--) {
    size_t bytes = (gs->param_lo[hi_param + 1] - gs->param_lo[p]) * gs->elem_bytes;
    if (bytes < cap_bytes && p > 0) continue;
    Bucket *b = &gs->buckets[nb];
    b->first_param = p;
    b->last_param = hi_param;
    b->lo = gs->param_lo[p];
    b->hi = gs->param_lo[hi_param + 1];
    for (int q = p; q <= hi_param; q++) gs->param_bucket[q] = nb;
    nb++;
    hi_param = p - 1;
  }
  gs->n_buckets = nb;
}

GradSync *grad_sync_create(Comm *comm, Backend *be, void *grads, size_t n_elems,
                           const size_t *param_offsets, int n_params, double bucket_mb) {
  CHECK(n_params > 0, "grad_sync over %d parameters", n_params);
  CHECK(bucket_mb > 0, "bucket size %g MiB", bucket_mb);
  CHECK(be->param_bytes == 4 || be->param_bytes == 8, "param dtype of %d bytes",
        be->param_bytes);
  CHECK(!comm->device_buffers || be->kind == BACKEND_CUDA,
        "communicator %s needs device buffers but backend %s keeps gradients on the host",
        comm->name, be->name);
  GradSync *gs = mem_calloc_or_die(1, sizeof *gs, "GradSync");
  gs->comm = comm;
  gs->be = be;
  gs->grads = grads;
  gs->n_elems = n_elems;
  gs->elem_bytes = (size_t)be->param_bytes;
  gs->dtype = be->param_bytes == 8 ? COMM_F64 : COMM_F32;
  gs->n_params = n_params;
  gs->param_lo = mem_alloc_or_die(((size_t)n_params + 1) * sizeof *gs->param_lo,
                                  "parameter offsets");
  for (int p = 0; p < n_params; p++) {
    CHECK(p == 0 || param_offsets[p] > param_offsets[p - 1],
          "parameter offsets not ascending at %d (%zu after %zu)", p, param_offsets[p],
          param_offsets[p - 1]);
    gs->param_lo[p] = param_offsets[p];
  }
  CHECK(param_offsets[n_params - 1] < n_elems, "last parameter offset %zu >= arena size %zu",
        param_offsets[n_params - 1], n_elems);
  gs->param_lo[n_params] = n_elems;
  gs->param_bucket = mem_alloc_or_die((size_t)n_params * sizeof *gs->param_bucket,
                                      "parameter buckets");
  gs->param_ready = mem_calloc_or_die((size_t)n_params, 1, "parameter ready flags");
  build_buckets(gs, bucket_mb);
  if (needs_staging(comm, be) && comm->size > 1)
    gs->stage = be->alloc_host(be, n_elems * gs->elem_bytes, "gradient staging copy");
  return gs;
}

int grad_sync_num_buckets(const GradSync *gs) { return gs->n_buckets; }

double grad_sync_exposed_ms(const GradSync *gs) { return gs->exposed_ms; }

void grad_sync_set_observer(GradSync *gs, GradSyncObserver fn, void *ctx) {
  gs->observer = fn;
  gs->observer_ctx = ctx;
}

void grad_sync_begin(GradSync *gs) {
  CHECK(!gs->active, "grad_sync_begin twice without grad_sync_finish");
  gs->active = 1;
  gs->next_launch = 0;
  memset(gs->param_ready, 0, (size_t)gs->n_params);
  for (int b = 0; b < gs->n_buckets; b++) {
    Bucket *bk = &gs->buckets[b];
    bk->n_pending = bk->last_param - bk->first_param + 1;
    bk->launched = bk->done = 0;
    bk->req = NULL;
  }
}

/* Where the bucket is reduced: the arena itself, or its host staging copy. */
static char *bucket_data(GradSync *gs, const Bucket *b) {
  char *base = gs->stage ? gs->stage : gs->grads;
  return base + b->lo * gs->elem_bytes;
}

static void complete_bucket(GradSync *gs, Bucket *b) {
  if (gs->stage)
    gs->be->upload(gs->be, gs->grads + b->lo * gs->elem_bytes, bucket_data(gs, b),
                   (b->hi - b->lo) * gs->elem_bytes);
  b->req = NULL;
  b->done = 1;
  if (gs->observer) gs->observer(gs->observer_ctx, (int)(b - gs->buckets), b->launch_ns,
                                 timer_now_ns());
}

static void launch_bucket(GradSync *gs, int index) {
  Bucket *b = &gs->buckets[index];
  b->launched = 1;
  b->launch_ns = timer_now_ns();
  if (gs->comm->size == 1) {
    b->done = 1;
    return;
  }
  size_t n_bytes = (b->hi - b->lo) * gs->elem_bytes;
  if (gs->stage)
    gs->be->download(gs->be, bucket_data(gs, b), gs->grads + b->lo * gs->elem_bytes, n_bytes);
  char what[96];
  snprintf(what, sizeof what, "all-reduce of gradient bucket %d", index);
  b->req = gs->comm->iallreduce(gs->comm, bucket_data(gs, b), b->hi - b->lo, gs->dtype,
                                COMM_AVG, what);
}

static void launch_ready_buckets(GradSync *gs) {
  while (gs->next_launch < gs->n_buckets && gs->buckets[gs->next_launch].n_pending == 0)
    launch_bucket(gs, gs->next_launch++);
}

/* Lets the transport progress the outstanding buckets (MPI needs the calls). */
static void poll_buckets(GradSync *gs) {
  for (int b = 0; b < gs->next_launch; b++) {
    Bucket *bk = &gs->buckets[b];
    if (bk->done) continue;
    if (gs->comm->test(gs->comm, bk->req)) complete_bucket(gs, bk);
  }
}

static int param_index(const GradSync *gs, size_t offset) {
  int lo = 0, hi = gs->n_params - 1;
  while (lo <= hi) {
    int mid = lo + (hi - lo) / 2;
    if (gs->param_lo[mid] == offset) return mid;
    if (gs->param_lo[mid] < offset) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

void grad_sync_ready(GradSync *gs, size_t offset, size_t n_elems) {
  CHECK(gs->active, "grad_sync_ready outside grad_sync_begin / grad_sync_finish");
  int p = param_index(gs, offset);
  CHECK(p >= 0, "grad_sync_ready: offset %zu is not the start of a parameter", offset);
  CHECK(n_elems > 0, "grad_sync_ready: empty range at offset %zu", offset);
  size_t end = offset + n_elems;
  /* Every parameter that starts inside [offset, end) is final. */
  for (; p < gs->n_params && gs->param_lo[p] < end; p++) {
    CHECK(!gs->param_ready[p], "grad_sync_ready: parameter %d reported twice in one step", p);
    gs->param_ready[p] = 1;
    gs->buckets[gs->param_bucket[p]].n_pending--;
  }
  launch_ready_buckets(gs);
  poll_buckets(gs);
}

void grad_sync_ready_hook(void *ctx, size_t offset, size_t n_elems) {
  grad_sync_ready(ctx, offset, n_elems);
}

void grad_sync_finish(GradSync *gs) {
  CHECK(gs->active, "grad_sync_finish without grad_sync_begin");
  uint64_t t0 = timer_now_ns();
  for (int b = gs->next_launch; b < gs->n_buckets; b++) gs->buckets[b].n_pending = 0;
  launch_ready_buckets(gs);
  for (int b = 0; b < gs->n_buckets; b++) {
    Bucket *bk = &gs->buckets[b];
    if (bk->done) continue;
    gs->comm->wait(gs->comm, bk->req);
    complete_bucket(gs, bk);
  }
  gs->exposed_ms = timer_since_ms(t0);
  gs->active = 0;
}

void grad_sync_destroy(GradSync *gs) {
  if (!gs) return;
  CHECK(!gs->active, "grad_sync_destroy during a step (call grad_sync_finish first)");
  if (gs->stage) gs->be->free_host(gs->be, gs->stage);
  mem_free(gs->buckets);
  mem_free(gs->param_ready);
  mem_free(gs->param_bucket);
  mem_free(gs->param_lo);
  mem_free(gs);
}
