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
} CudaBackendOptions;

int backend_cuda_device_count(void);
Backend *backend_cuda_create(const CudaBackendOptions *opt);

#endif
