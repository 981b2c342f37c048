/* comm_mpi.c - comm.h over MPI, on host buffers.
 *
 * Every operation is an MPI-3 non-blocking collective (MPI_Iallreduce,
 * MPI_Ibcast, MPI_Iallgather, MPI_Ibarrier) completed under the watchdog
 * (watchdog.h): a blocking operation is "start, then watchdog_wait", so no
 * rank can wait forever.  Errors return (MPI_ERRORS_RETURN) to MPI_CHECK.
 *
 * Semantics:
 *   COMM_AVG   sum, then divide by the communicator size in the buffer's own
 *              type (float types only).
 *   bf16/fp16  converted to an fp32 scratch copy, reduced in fp32, divided
 *              (AVG), rounded back once (nearest even): more accurate than
 *              pairwise half-precision sums and independent of the reduction
 *              order MPI picks.
 *   counts     above 2^30 elements are split into several MPI calls.
 * A communicator of size 1 (also the one made without MPI) does no MPI at all.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <mpi.h>

#include "core/check.h"
#include "core/check_mpi.h"
#include "core/mem.h"
#include "dist/comm.h"
#include "dist/watchdog.h"

enum { WHAT_MAX = 160 };
static const size_t CHUNK_ELEMS = (size_t)1 << 30; /* fits MPI's int counts */

typedef struct {
  MPI_Comm comm; /* MPI_COMM_NULL for the MPI-free size-1 communicator */
} MpiImpl;

struct CommRequest {
  Comm *comm;
  MPI_Request *reqs;
  int n_reqs;
  void *buf;      /* the caller's buffer (count elements of dt) */
  size_t count;
  CommDtype dt;
  CommOp op;
  float *scratch; /* fp32 copy of a bf16/fp16 buffer, reduced in place */
  char what[WHAT_MAX];
};

static MPI_Comm mpi_comm(const Comm *c) { return ((const MpiImpl *)c->impl)->comm; }

static int is_half(CommDtype dt) { return dt == COMM_BF16 || dt == COMM_F16; }
static int is_float(CommDtype dt) { return dt == COMM_F32 || dt == COMM_F64 || is_half(dt); }

static MPI_Datatype reduce_type(CommDtype dt) {
  switch (dt) {
    case COMM_F32: return MPI_FLOAT;
    case COMM_F64: return MPI_DOUBLE;
    case COMM_BF16: return MPI_FLOAT; /* reduced on the fp32 scratch */
    case COMM_F16: return MPI_FLOAT;
    case COMM_I32: return MPI_INT32_T;
    case COMM_I64: return MPI_INT64_T;
    case COMM_U8: return MPI_UINT8_T;
  }
  FATAL("unknown CommDtype %d", (int)dt);
}

static MPI_Op reduce_op(CommOp op) {
  switch (op) {
    case COMM_SUM: return MPI_SUM;
    case COMM_AVG: return MPI_SUM; /* divided on completion */
    case COMM_MAX: return MPI_MAX;
    case COMM_MIN: return MPI_MIN;
  }
  FATAL("unknown CommOp %d", (int)op);
}

/* ------------------------------------------------------------- requests */

static CommRequest *request_new(Comm *c, const char *what, size_t n_reqs) {
  CommRequest *r = mem_calloc_or_die(1, sizeof *r, "comm request");
  r->comm = c;
  snprintf(r->what, sizeof r->what, "%s", what ? what : "collective");
  if (n_reqs) {
    CHECK(n_reqs <= INT_MAX, "%zu MPI requests", n_reqs);
    r->reqs = mem_alloc_or_die(n_reqs * sizeof *r->reqs, "MPI requests");
    r->n_reqs = (int)n_reqs;
  }
  return r;
}

static int request_done(void *ctx) {
  CommRequest *r = ctx;
  if (!r->n_reqs) return 1;
  int flag = 0;
  MPI_CHECK(MPI_Testall(r->n_reqs, r->reqs, &flag, MPI_STATUSES_IGNORE));
  return flag;
}

static void divide_by_size(void *buf, size_t n, CommDtype dt, int size) {
  if (dt == COMM_F64) {
    double *p = buf, s = (double)size;
    for (size_t i = 0; i < n; i++) p[i] /= s;
    return;
  }
  float *p = buf, s = (float)size;
  for (size_t i = 0; i < n; i++) p[i] /= s;
}

/* Post-processing of a completed all-reduce, then the request is freed. */
static void request_finish(CommRequest *r) {
  int reduced = r->n_reqs > 0;
  void *data = r->scratch ? (void *)r->scratch : r->buf;
  if (reduced && r->op == COMM_AVG) divide_by_size(data, r->count, r->scratch ? COMM_F32 : r->dt,
                                                   r->comm->size);
  if (reduced && r->scratch) comm_f32_to_half(r->dt, r->scratch, r->buf, r->count);
  mem_free(r->scratch);
  mem_free(r->reqs);
  mem_free(r);
}

static int mpi_test(Comm *c, CommRequest *r) {
  if (!request_done(r)) return 0;
  request_finish(r);
  return 1;
}

static void mpi_wait(Comm *c, CommRequest *r) {
  watchdog_wait(c->dist, request_done, r, r->what);
  request_finish(r);
}

/* ----------------------------------------------------------- operations */

static CommRequest *mpi_iallreduce(Comm *c, void *buf, size_t count, CommDtype dt, CommOp op,
                                   const char *what) {
  CHECK(op != COMM_AVG || is_float(dt), "average of %s values in %s", comm_dtype_name(dt),
        what ? what : "all-reduce");
  int active = c->size > 1 && count > 0;
  size_t n_chunks = active ? (count + CHUNK_ELEMS - 1) / CHUNK_ELEMS : 0;
  CommRequest *r = request_new(c, what, n_chunks);
  r->buf = buf;
  r->count = count;
  r->dt = dt;
  r->op = op;
  if (!active) return r;
  char *data = buf;
  size_t elem_bytes = comm_dtype_bytes(dt);
  if (is_half(dt)) {
    r->scratch = mem_alloc_or_die(count * sizeof(float), "fp32 copy of a half-precision buffer");
    comm_half_to_f32(dt, buf, r->scratch, count);
    data = (char *)r->scratch;
    elem_bytes = sizeof(float);
  }
  for (size_t k = 0; k < n_chunks; k++) {
    size_t off = k * CHUNK_ELEMS;
    size_t n = count - off < CHUNK_ELEMS ? count - off : CHUNK_ELEMS;
    MPI_CHECK(MPI_Iallreduce(MPI_IN_PLACE, data + off * elem_bytes, (int)n, reduce_type(dt),
                             reduce_op(op), mpi_comm(c), &r->reqs[k]));
  }
  return r;
}

static void mpi_allreduce(Comm *c, void *buf, size_t count, CommDtype dt, CommOp op,
                          const char *what) {
  mpi_wait(c, mpi_iallreduce(c, buf, count, dt, op, what));
}

static void mpi_broadcast(Comm *c, void *buf, size_t count, CommDtype dt, int root,
                          const char *what) {
  CHECK(root >= 0 && root < c->size, "broadcast root %d of %d ranks", root, c->size);
  size_t n_bytes = count * comm_dtype_bytes(dt);
  int active = c->size > 1 && n_bytes > 0;
  size_t n_chunks = active ? (n_bytes + CHUNK_ELEMS - 1) / CHUNK_ELEMS : 0;
  CommRequest *r = request_new(c, what, n_chunks);
  for (size_t k = 0; k < n_chunks; k++) {
    size_t off = k * CHUNK_ELEMS;
    size_t n = n_bytes - off < CHUNK_ELEMS ? n_bytes - off : CHUNK_ELEMS;
    MPI_CHECK(MPI_Ibcast((char *)buf + off, (int)n, MPI_BYTE, root, mpi_comm(c), &r->reqs[k]));
  }
  mpi_wait(c, r);
}

static void mpi_allgather(Comm *c, const void *send, void *recv, size_t count, CommDtype dt,
                          const char *what) {
  size_t n_bytes = count * comm_dtype_bytes(dt);
  CHECK(n_bytes <= (size_t)INT_MAX, "all-gather of %zu bytes per rank (%s)", n_bytes,
        what ? what : "all-gather");
  char *mine = (char *)recv + (size_t)c->rank * n_bytes;
  if (c->size == 1 || n_bytes == 0) {
    if (n_bytes && send != mine) memmove(mine, send, n_bytes);
    return;
  }
  CommRequest *r = request_new(c, what, 1);
  const void *sendbuf = send == mine ? MPI_IN_PLACE : send;
  MPI_CHECK(MPI_Iallgather(sendbuf, (int)n_bytes, MPI_BYTE, recv, (int)n_bytes, MPI_BYTE,
                           mpi_comm(c), &r->reqs[0]));
  mpi_wait(c, r);
}

static void mpi_barrier(Comm *c, const char *what) {
  CommRequest *r = request_new(c, what, c->size > 1);
  if (c->size > 1) MPI_CHECK(MPI_Ibarrier(mpi_comm(c), &r->reqs[0]));
  mpi_wait(c, r);
}

static void mpi_destroy(Comm *c) {
  if (!c) return;
  MpiImpl *impl = c->impl;
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (impl->comm != MPI_COMM_NULL && !finalized) MPI_CHECK(MPI_Comm_free(&impl->comm));
  mem_free(impl);
  mem_free(c);
}

/* ----------------------------------------------------------------- create */

Comm *comm_mpi_create(Dist *d, int group_size) {
  CHECK(group_size >= 0, "group size %d", group_size);
  if (group_size > 0 && d->world % group_size != 0)
    core_user_error("dist.bn_group=%d does not divide the %d ranks of the job; use a divisor "
                    "of %d, or 0 for all ranks",
                    group_size, d->world, d->world);
  Comm *c = mem_calloc_or_die(1, sizeof *c, "Comm");
  MpiImpl *impl = mem_calloc_or_die(1, sizeof *impl, "MpiImpl");
  impl->comm = MPI_COMM_NULL;
  c->name = "mpi";
  c->dist = d;
  c->impl = impl;
  c->rank = 0;
  c->size = 1;
  if (d->mpi) {
    if (group_size == 0 || group_size == d->world)
      MPI_CHECK(MPI_Comm_dup(MPI_COMM_WORLD, &impl->comm));
    else
      MPI_CHECK(MPI_Comm_split(MPI_COMM_WORLD, d->rank / group_size, d->rank, &impl->comm));
    MPI_CHECK(MPI_Comm_set_errhandler(impl->comm, MPI_ERRORS_RETURN));
    MPI_CHECK(MPI_Comm_rank(impl->comm, &c->rank));
    MPI_CHECK(MPI_Comm_size(impl->comm, &c->size));
  }
  c->allreduce = mpi_allreduce;
  c->iallreduce = mpi_iallreduce;
  c->test = mpi_test;
  c->wait = mpi_wait;
  c->broadcast = mpi_broadcast;
  c->allgather = mpi_allgather;
  c->barrier = mpi_barrier;
  c->destroy = mpi_destroy;
  return c;
}
