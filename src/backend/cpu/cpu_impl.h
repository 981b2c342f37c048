/* cpu_impl.h - private to src/backend/cpu: state shared by the two CPU
 * backends ("cpu" fp32 and "cpu64" fp64) and the entry points of their typed
 * op sets.
 *
 * The kernels are written once, generic over the element type, in the
 * cpu_*.inc files; cpu_ops_f32.c and cpu_ops_f64.c compile them with
 * real_t = float / double, so the fp64 backend used by the gradient checks
 * runs exactly the code of the fp32 backend.
 *
 * Invariants: ops of one backend are called from one thread at a time (the
 * CPU analogue of a CUDA stream), which is what lets the convolutions share
 * one scratch workspace.
 *
 * Threads: there is one thread pool, OpenMP's.  OpenBLAS is set to a single
 * thread and called from inside our parallel regions on independent blocks
 * (a convolution task, a GEMM column block), each thread with its own
 * scratch.  Letting OpenBLAS run its own pool between our OpenMP loops was
 * measured to make the two fight even though they never run at the same
 * moment: OpenBLAS's idle workers keep spinning (sched_yield) for a long
 * while after each GEMM and libgomp's after each region, and on 2 cores the
 * following loop or GEMM ran 3-10x slower (tests/bench/cpu_ops).
 */
#ifndef RD_BACKEND_CPU_CPU_IMPL_H
#define RD_BACKEND_CPU_CPU_IMPL_H

#include <stddef.h>

#include "backend/backend.h"

typedef struct {
  int threads;        /* OpenMP and OpenBLAS threads (>= 1) */
  void *work;         /* convolution scratch: im2col columns + gathered rows */
  size_t work_bytes;  /* capacity of work */
} CpuImpl;

/* Compute threads of a CPU backend. */
static inline int cpu_threads(const Backend *be) { return ((const CpuImpl *)be->impl)->threads; }

/* Scratch of at least n_bytes (64-byte aligned), grown on demand; contents
 * are not preserved across calls. */
void *cpu_workspace(Backend *be, size_t n_bytes);

/* Fill the typed entries of the ops table (everything but memory). */
void cpu_install_ops_f32(Backend *be);
void cpu_install_ops_f64(Backend *be);

#endif
