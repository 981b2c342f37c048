/* comm.h - one collective interface, two transports.
 *
 * comm_mpi: host buffers (CPU backend, CI, machines without NCCL).
 * comm_nccl: device buffers, on its own CUDA stream (the GPU product path).
 * Every operation names what it is doing (`what`, e.g. "all-reduce of
 * gradient bucket 3"); a rank that waits longer than the Dist's timeout in
 * any operation ends the job with a message naming the operation.
 * Operations on one Comm are issued in the same order on every member.
 */
#ifndef RD_DIST_COMM_H
#define RD_DIST_COMM_H

#include <stddef.h>
#include <stdint.h>

#include "dist/dist.h"

typedef enum { COMM_F32, COMM_F64, COMM_BF16, COMM_F16, COMM_I32, COMM_I64, COMM_U8 } CommDtype;
typedef enum { COMM_SUM, COMM_AVG, COMM_MAX, COMM_MIN } CommOp;

typedef struct Comm Comm;
typedef struct CommRequest CommRequest;

struct Comm {
  const char *name;  /* "mpi", "nccl" */
  int rank, size;    /* within this communicator */
  int device_buffers; /* 1: buffers are device memory (nccl) */
  Dist *dist;
  void *impl;

  /* In place; blocking (returns when buf holds the result). */
  void (*allreduce)(Comm *c, void *buf, size_t count, CommDtype dt, CommOp op, const char *what);
  /* In place, asynchronous: complete with wait (or poll with test). */
  CommRequest *(*iallreduce)(Comm *c, void *buf, size_t count, CommDtype dt, CommOp op,
                             const char *what);
  int (*test)(Comm *c, CommRequest *req);  /* 1 when complete (then req is freed) */
  void (*wait)(Comm *c, CommRequest *req); /* frees req */
  void (*broadcast)(Comm *c, void *buf, size_t count, CommDtype dt, int root, const char *what);
  /* recv (size x count) = concatenation of every member's send (count). */
  void (*allgather)(Comm *c, const void *send, void *recv, size_t count, CommDtype dt,
                    const char *what);
  void (*barrier)(Comm *c, const char *what);
  void (*destroy)(Comm *c);
};

/* Communicator over all ranks (group_size 0) or over consecutive groups of
 * group_size ranks (rank / group_size), e.g. for dist.bn_group. */
Comm *comm_mpi_create(Dist *d, int group_size);

size_t comm_dtype_bytes(CommDtype dt);
const char *comm_dtype_name(CommDtype dt);

/* 1 when local_flag is non-zero on any member (all-reduce MAX of an int).
 * Host communicators only (comm_mpi). */
int comm_any(Comm *c, int local_flag, const char *what);

/* Step-boundary agreement for preemption: 1 on every rank when any rank caught
 * a stop signal (dist_catch_stop_signals) or passes local_flag != 0, so all
 * ranks stop after the same step.  Host communicator over all ranks. */
int dist_agree_stop(Comm *c, int local_flag);

/* bf16 / fp16 <-> fp32 (round to nearest even; NaN stays NaN), host memory. */
void comm_half_to_f32(CommDtype dt, const uint16_t *src, float *dst, size_t n_elems);
void comm_f32_to_half(CommDtype dt, const float *src, uint16_t *dst, size_t n_elems);

#endif
