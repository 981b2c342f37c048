/* cuda_loss.h - softmax cross-entropy with label smoothing and top-k hits.
 *
 * Semantics of backend.h's xent (PyTorch's CrossEntropyLoss with
 * label_smoothing): per sample loss = -(1-eps) log p[label] - eps/K sum_k
 * log p[k]; a sample is a top-k hit when fewer than k classes score strictly
 * higher than its label; dlogits = grad_scale (p - ((1-eps) onehot + eps/K)).
 * One block per sample computes the log-sum-exp in double (the CPU oracle's
 * arithmetic); the per-sample results are then added in a fixed order
 * (deterministic) into one CudaXentSums.
 * A label outside [0, K) gives a NaN loss and no hit.
 */
#ifndef RD_BACKEND_CUDA_CUDA_LOSS_H
#define RD_BACKEND_CUDA_CUDA_LOSS_H

#include <stddef.h>
#include <stdint.h>

#include <cuda_runtime.h>

#include "backend/cuda/cuda_dtype.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  double loss_sum;
  long long top1, top5;
} CudaXentSums;

/* Bytes of device scratch cuda_xent needs for n samples. */
size_t cuda_xent_work_bytes(int n);

/* logits (N,K) dt, labels (N) int32, dlogits (N,K) dt or NULL, all device;
 * sums: one CudaXentSums in device memory. */
cudaError_t cuda_xent(cudaStream_t s, CudaDtype dt, int n, int k, const void *logits,
                      const int32_t *labels, double eps, double grad_scale, void *dlogits,
                      void *work, CudaXentSums *sums);

#ifdef __cplusplus
}
#endif

#endif
