/* comm_nccl.c - comm.h over NCCL on device buffers; see comm_nccl.h.
 * The bootstrap follows NCCL's "one device per process" example (unique id
 * broadcast over MPI); error handling follows the NCCL user guide's
 * non-blocking communicator and ncclCommGetAsyncError / ncclCommAbort pattern.
 */
#include "dist/comm_nccl.h"

#include <stdio.h>

#include <cuda_runtime.h>
#include <mpi.h>
#include <nccl.h>

#include "core/check.h"
#include "core/check_cuda.h"
#include "core/check_mpi.h"
#include "core/mem.h"
#include "dist/watchdog.h"

enum { WHAT_MAX = 160 };

typedef struct {
  ncclComm_t nccl;
  cudaStream_t stream;   /* the communicator's own stream */
  cudaStream_t compute;  /* collectives wait for this stream's prior work */
  cudaEvent_t ready;     /* recorded on compute before each collective */
  int32_t *d_one;        /* (1) device scratch for the barrier */
  int aborted;
} NcclImpl;

/* A request of this transport (returned as the opaque CommRequest). */
typedef struct {
  Comm *comm;
  cudaEvent_t done;
  char what[WHAT_MAX];
} NcclRequest;

static NcclImpl *impl_of(const Comm *c) { return c->impl; }

static ncclDataType_t nccl_type(CommDtype dt) {
  switch (dt) {
    case COMM_F32: return ncclFloat32;
    case COMM_F64: return ncclFloat64;
    case COMM_BF16: return ncclBfloat16;
    case COMM_F16: return ncclFloat16;
    case COMM_I32: return ncclInt32;
    case COMM_I64: return ncclInt64;
    case COMM_U8: return ncclUint8;
  }
  FATAL("unknown CommDtype %d", (int)dt);
}

static ncclRedOp_t nccl_op(CommOp op, CommDtype dt, const char *what) {
  switch (op) {
    case COMM_SUM: return ncclSum;
    case COMM_AVG:
      CHECK(dt == COMM_F32 || dt == COMM_F64 || dt == COMM_BF16 || dt == COMM_F16,
            "average of %s values in %s", comm_dtype_name(dt), what);
      return ncclAvg;
    case COMM_MAX: return ncclMax;
    case COMM_MIN: return ncclMin;
  }
  FATAL("unknown CommOp %d", (int)op);
}

/* ------------------------------------------------------- error handling */

static void nccl_abort_cb(void *ctx) {
  NcclImpl *impl = ctx;
  if (impl->aborted) return;
  impl->aborted = 1;
  ncclCommAbort(impl->nccl);
}

/* Fatal unless the communicator is fine (ncclSuccess) or still working. */
static ncclResult_t async_state(NcclImpl *impl, const char *what) {
  ncclResult_t state = ncclSuccess;
  NCCL_CHECK(ncclCommGetAsyncError(impl->nccl, &state));
  if (state != ncclSuccess && state != ncclInProgress)
    FATAL("NCCL error %d in %s: %s (%s)", (int)state, what, ncclGetErrorString(state),
          ncclGetLastError(impl->nccl));
  return state;
}

static int settled(void *ctx) {
  Comm *c = ctx;
  return async_state(impl_of(c), "NCCL call") != ncclInProgress;
}

/* A call on the non-blocking communicator may return ncclInProgress: poll
 * until it has been carried out. */
static void settle(Comm *c, ncclResult_t rc, const char *call, const char *what) {
  if (rc != ncclSuccess && rc != ncclInProgress)
    FATAL("NCCL error %d in %s (%s): %s", (int)rc, call, what, ncclGetErrorString(rc));
  if (rc == ncclInProgress) watchdog_wait(c->dist, settled, c, what);
}

/* ------------------------------------------------------------- requests */

static void order_after_compute(Comm *c) {
  NcclImpl *impl = impl_of(c);
  CUDA_CHECK(cudaEventRecord(impl->ready, impl->compute));
  CUDA_CHECK(cudaStreamWaitEvent(impl->stream, impl->ready, 0));
}

static CommRequest *request_after_enqueue(Comm *c, const char *what) {
  NcclRequest *r = mem_calloc_or_die(1, sizeof *r, "NCCL request");
  r->comm = c;
  snprintf(r->what, sizeof r->what, "%s", what);
  CUDA_CHECK(cudaEventCreateWithFlags(&r->done, cudaEventDisableTiming));
  CUDA_CHECK(cudaEventRecord(r->done, impl_of(c)->stream));
  return (CommRequest *)r;
}

static int request_done(void *ctx) {
  NcclRequest *r = ctx;
  cudaError_t e = cudaEventQuery(r->done);
  if (e == cudaSuccess) return 1;
  if (e != cudaErrorNotReady) CUDA_CHECK(e);
  async_state(impl_of(r->comm), r->what);
  return 0;
}

static void request_free(NcclRequest *r) {
  CUDA_CHECK(cudaEventDestroy(r->done));
  mem_free(r);
}

static int nccl_test(Comm *c, CommRequest *req) {
  NcclRequest *r = (NcclRequest *)req;
  if (!request_done(r)) return 0;
  request_free(r);
  return 1;
}

static void nccl_wait(Comm *c, CommRequest *req) {
  NcclRequest *r = (NcclRequest *)req;
  watchdog_wait(c->dist, request_done, r, r->what);
  request_free(r);
}

/* ----------------------------------------------------------- operations */

static CommRequest *nccl_iallreduce(Comm *c, void *buf, size_t count, CommDtype dt, CommOp op,
                                    const char *what) {
  const char *w = what ? what : "all-reduce";
  ncclRedOp_t nop = nccl_op(op, dt, w);
  order_after_compute(c);
  NcclImpl *impl = impl_of(c);
  settle(c, ncclAllReduce(buf, buf, count, nccl_type(dt), nop, impl->nccl, impl->stream),
         "ncclAllReduce", w);
  return request_after_enqueue(c, w);
}

static void nccl_allreduce(Comm *c, void *buf, size_t count, CommDtype dt, CommOp op,
                           const char *what) {
  nccl_wait(c, nccl_iallreduce(c, buf, count, dt, op, what));
}

static void nccl_broadcast(Comm *c, void *buf, size_t count, CommDtype dt, int root,
                           const char *what) {
  const char *w = what ? what : "broadcast";
  CHECK(root >= 0 && root < c->size, "broadcast root %d of %d ranks (%s)", root, c->size, w);
  order_after_compute(c);
  NcclImpl *impl = impl_of(c);
  settle(c, ncclBroadcast(buf, buf, count, nccl_type(dt), root, impl->nccl, impl->stream),
         "ncclBroadcast", w);
  nccl_wait(c, request_after_enqueue(c, w));
}

static void nccl_allgather(Comm *c, const void *send, void *recv, size_t count, CommDtype dt,
                           const char *what) {
  const char *w = what ? what : "all-gather";
  order_after_compute(c);
  NcclImpl *impl = impl_of(c);
  settle(c, ncclAllGather(send, recv, count, nccl_type(dt), impl->nccl, impl->stream),
         "ncclAllGather", w);
  nccl_wait(c, request_after_enqueue(c, w));
}

static void nccl_barrier(Comm *c, const char *what) {
  nccl_allreduce(c, impl_of(c)->d_one, 1, COMM_I32, COMM_SUM, what ? what : "barrier");
}

static void nccl_destroy(Comm *c) {
  if (!c) return;
  NcclImpl *impl = impl_of(c);
  dist_remove_on_abort(nccl_abort_cb, impl);
  if (!impl->aborted) {
    settle(c, ncclCommFinalize(impl->nccl), "ncclCommFinalize", "NCCL communicator shutdown");
    NCCL_CHECK(ncclCommDestroy(impl->nccl));
  }
  CUDA_CHECK(cudaEventDestroy(impl->ready));
  CUDA_CHECK(cudaStreamDestroy(impl->stream));
  CUDA_CHECK(cudaFree(impl->d_one));
  mem_free(impl);
  mem_free(c);
}

/* -------------------------------------------------------------- bootstrap */

typedef struct {
  MPI_Request req;
} BcastWait;

static int bcast_done(void *ctx) {
  BcastWait *b = ctx;
  int flag = 0;
  MPI_CHECK(MPI_Test(&b->req, &flag, MPI_STATUS_IGNORE));
  return flag;
}

/* The group's rank and size, and its unique id (made by group rank 0). */
static void bootstrap(Dist *d, int group_size, int *rank, int *size, ncclUniqueId *id) {
  *rank = 0;
  *size = 1;
  if (!d->mpi) {
    NCCL_CHECK(ncclGetUniqueId(id));
    return;
  }
  MPI_Comm group;
  if (group_size == 0 || group_size == d->world)
    MPI_CHECK(MPI_Comm_dup(MPI_COMM_WORLD, &group));
  else
    MPI_CHECK(MPI_Comm_split(MPI_COMM_WORLD, d->rank / group_size, d->rank, &group));
  MPI_CHECK(MPI_Comm_set_errhandler(group, MPI_ERRORS_RETURN));
  MPI_CHECK(MPI_Comm_rank(group, rank));
  MPI_CHECK(MPI_Comm_size(group, size));
  if (*rank == 0) NCCL_CHECK(ncclGetUniqueId(id));
  BcastWait b;
  MPI_CHECK(MPI_Ibcast(id, (int)sizeof *id, MPI_BYTE, 0, group, &b.req));
  watchdog_wait(d, bcast_done, &b, "broadcast of the NCCL unique id");
  MPI_CHECK(MPI_Comm_free(&group));
}

Comm *comm_nccl_create(Dist *d, int device, int group_size) {
  CHECK(group_size >= 0, "group size %d", group_size);
  if (group_size > 0 && d->world % group_size != 0)
    core_user_error("dist.bn_group=%d does not divide the %d ranks of the job; use a divisor "
                    "of %d, or 0 for all ranks",
                    group_size, d->world, d->world);
  CUDA_CHECK(cudaSetDevice(device));
  Comm *c = mem_calloc_or_die(1, sizeof *c, "Comm");
  NcclImpl *impl = mem_calloc_or_die(1, sizeof *impl, "NcclImpl");
  c->name = "nccl";
  c->dist = d;
  c->impl = impl;
  c->device_buffers = 1;
  ncclUniqueId id;
  bootstrap(d, group_size, &c->rank, &c->size, &id);

  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  config.blocking = 0;
  settle(c, ncclCommInitRankConfig(&impl->nccl, c->size, id, c->rank, &config),
         "ncclCommInitRankConfig", "NCCL communicator initialisation");
  dist_on_abort(nccl_abort_cb, impl);

  CUDA_CHECK(cudaStreamCreateWithFlags(&impl->stream, cudaStreamNonBlocking));
  CUDA_CHECK(cudaEventCreateWithFlags(&impl->ready, cudaEventDisableTiming));
  CUDA_CHECK(cudaMalloc((void **)&impl->d_one, sizeof(int32_t)));
  CUDA_CHECK(cudaMemsetAsync(impl->d_one, 0, sizeof(int32_t), impl->stream));
  impl->compute = 0; /* the legacy default stream until told otherwise */

  c->allreduce = nccl_allreduce;
  c->iallreduce = nccl_iallreduce;
  c->test = nccl_test;
  c->wait = nccl_wait;
  c->broadcast = nccl_broadcast;
  c->allgather = nccl_allgather;
  c->barrier = nccl_barrier;
  c->destroy = nccl_destroy;
  return c;
}

void comm_nccl_set_compute_stream(Comm *c, void *cuda_stream) {
  CHECK(c->device_buffers, "comm_nccl_set_compute_stream on a %s communicator", c->name);
  impl_of(c)->compute = (cudaStream_t)cuda_stream;
}
