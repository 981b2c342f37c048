/* comm_nccl.h - the NCCL transport of comm.h (device buffers, its own stream).
 *
 * Built only with CUDA (RD_HAVE_CUDA).  Bootstrap: the unique id is made by
 * the group's first rank and broadcast over MPI (no MPI: a group of one).
 * The communicator is non-blocking (ncclConfig_t.blocking = 0), so creation
 * and every enqueue are completed by polling ncclCommGetAsyncError under the
 * watchdog; waits poll a CUDA event recorded after the collective together
 * with ncclCommGetAsyncError, and a timeout or asynchronous error aborts the
 * communicator (ncclCommAbort) before MPI_Abort.
 *
 * Stream order: each collective runs on the communicator's stream after an
 * event recorded on the compute stream (comm_nccl_set_compute_stream; default
 * the legacy default stream), so it sees every kernel enqueued before it and
 * overlaps with kernels enqueued after it.  wait/test/blocking operations
 * return when the collective is complete on the device.
 */
#ifndef RD_DIST_COMM_NCCL_H
#define RD_DIST_COMM_NCCL_H

#include "dist/comm.h"

/* device: CUDA device index of this rank (dist_local_device);
 * group_size: 0 for all ranks, else consecutive groups as comm_mpi_create. */
Comm *comm_nccl_create(Dist *d, int device, int group_size);

/* cuda_stream: a cudaStream_t whose prior work every later collective waits for. */
void comm_nccl_set_compute_stream(Comm *c, void *cuda_stream);

#endif
