/* cuda_optim.h - optimizer kernels over the flat fp32 arenas.
 *
 * One launch covers a batch of up to CUDA_SEG_BATCH segments of the arenas
 * (OptSegment of backend.h), passed by value as kernel parameters: the
 * launch's elements are numbered 0..start[n) and each thread finds its
 * segment by binary search over start[], so small and large segments share
 * one grid (multi-tensor apply).  SGD follows torch.optim.SGD (dampening 0):
 * g = trust (grad_scale grad + wd p);  buf = momentum buf + g;
 * step = nesterov ? g + momentum buf : buf;  p -= lr step;
 * and refreshes the act-dtype working copy in the same pass.
 */
#ifndef RD_BACKEND_CUDA_CUDA_OPTIM_H
#define RD_BACKEND_CUDA_CUDA_OPTIM_H

#include <stddef.h>

#include <cuda_runtime.h>

#include "backend/cuda/cuda_dtype.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { CUDA_SEG_BATCH = 48 };

typedef struct {
  int n;                                /* segments in this batch, 1..CUDA_SEG_BATCH */
  long long start[CUDA_SEG_BATCH + 1];  /* prefix sums of n_elems; start[0] = 0 */
  long long offset[CUDA_SEG_BATCH];     /* arena offset of each segment (elements) */
  float weight_decay[CUDA_SEG_BATCH];
  float trust[CUDA_SEG_BATCH];          /* update multiplier (LARS trust ratio; 1: SGD) */
} CudaSegBatch;

typedef struct {
  float lr, momentum, grad_scale;
  int nesterov;
} CudaSgdHyper;

/* params, grads, momentum_buf: fp32 arenas (momentum_buf NULL: momentum 0);
 * work: dt working copy or NULL. */
cudaError_t cuda_sgd(cudaStream_t s, CudaDtype work_dt, float *params, void *work,
                     const float *grads, float *momentum_buf, const CudaSegBatch *segs,
                     CudaSgdHyper hyper);

/* out (2 x segs->n) double, device: [|p|^2, |g|^2] per segment;
 * work: cuda_segment_norms_work_bytes() of device scratch. */
size_t cuda_segment_norms_work_bytes(void);
cudaError_t cuda_segment_norms(cudaStream_t s, const float *params, const float *grads,
                               const CudaSegBatch *segs, void *work, double *out);

/* *count (device) = number of non-finite values among x (n) fp32. */
cudaError_t cuda_count_nonfinite(cudaStream_t s, const float *x, size_t n_elems,
                                 unsigned long long *count);

/* x (n) fp32 *= factor. */
cudaError_t cuda_scale(cudaStream_t s, float *x, size_t n_elems, float factor);

#ifdef __cplusplus
}
#endif

#endif
