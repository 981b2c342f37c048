/* sync_bn.h - the cross-rank reduction inside synchronized batch norm.
 *
 * Semantics of torch.nn.SyncBatchNorm (DESIGN.md decision 4): the model's
 * batch norm computes per-rank sums (backend.h: bn_stats gives [sum x | sum x^2
 * | count], bn_bwd_reduce gives [sum g | sum g xhat]); sync_bn_allreduce sums
 * them over the ranks of a BN group, so bn_finalize sees the count-weighted
 * global mean and (unbiased, for the running statistics) variance and
 * bn_bwd_apply the global sums, exactly as one process on the concatenated
 * batch would.  Uneven per-rank batch sizes are handled by the summed count.
 * gamma/beta gradients are NOT reduced here: they travel with the normal
 * gradient all-reduce.
 *
 * Buffers are backend memory: host memory for the CPU backends (reduced in
 * place), device memory for the CUDA backend (comm_nccl: in place on the
 * device; comm_mpi: downloaded, reduced on the host, uploaded).
 */
#ifndef RD_DIST_SYNC_BN_H
#define RD_DIST_SYNC_BN_H

#include <stdint.h>

#include "backend/backend.h"
#include "dist/comm.h"

typedef struct SyncBn SyncBn;

/* comm: the BN group (comm_mpi_create(d, dist.bn_group) or comm_nccl_create). */
SyncBn *sync_bn_create(Comm *comm, Backend *be);
void sync_bn_destroy(SyncBn *s);

/* The model's hook: ctx is a SyncBn; buf (n_doubles) backend memory, summed
 * in place over the group.  A group of one rank returns at once. */
void sync_bn_allreduce(void *ctx, double *buf, int n_doubles);

/* Milliseconds spent in sync_bn_allreduce and number of calls since the last
 * sync_bn_reset (call it at the start of every step). */
double sync_bn_ms(const SyncBn *s);
int64_t sync_bn_calls(const SyncBn *s);
void sync_bn_reset(SyncBn *s);

#endif
