/* backend_cuda.h - the CUDA backend's entry points (see backend.h for the ops).
 * Declared unconditionally; defined only when the build has CUDA
 * (RD_HAVE_CUDA).  backend_cuda_device_count never fails: 0 means "no usable
 * GPU here" (no driver, no device), so callers can fall back or skip. */
#ifndef RD_BACKEND_CUDA_BACKEND_CUDA_H
#define RD_BACKEND_CUDA_BACKEND_CUDA_H

#include <stddef.h>

#include "backend/backend.h"

typedef struct {
  int device;                /* CUDA device index (local rank -> GPU) */
  int precision;             /* PrecisionId from config.h */
  size_t workspace_bytes;    /* cuDNN workspace cap (0 = default) */
  int conv_algo_heuristic;   /* 1: choose conv algorithms by cuDNN's heuristics
                                without measuring (ranks that will import rank 0's
                                choices); 0: measure each shape once (cudnnFind) */
} CudaBackendOptions;

int backend_cuda_device_count(void);
Backend *backend_cuda_create(const CudaBackendOptions *opt);

/* The compute stream (a cudaStream_t) every op of `be` runs on, e.g. for
 * grad_sync to record events on.  be must be a CUDA backend. */
void *backend_cuda_stream(Backend *be);

/* Free device memory now (cudaMemGetInfo), and the cuDNN/cuBLASLt workspace
 * the backend holds; for the memory plan of --mode summary. */
size_t backend_cuda_free_bytes(Backend *be);
size_t backend_cuda_workspace_bytes(Backend *be);

/* Convolution algorithm choices as a small host blob, so every rank can use
 * rank 0's (train.conv_algo_from_rank0): export writes at most cap bytes into
 * host_blob and returns the blob's full size (cap 0: size only); import
 * replaces this backend's choices, including those of plans already made.
 * Import returns 0, or -1 when the blob is not an export of this version. */
size_t backend_cuda_conv_algos_export(Backend *be, void *host_blob, size_t cap);
int backend_cuda_conv_algos_import(Backend *be, const void *host_blob, size_t n_bytes);
/* From now on, choose the algorithms of new conv shapes by heuristics (1) or
 * by measuring (0); shapes already chosen keep their algorithms. */
void backend_cuda_set_conv_algo_heuristic(Backend *be, int heuristic);

#endif
