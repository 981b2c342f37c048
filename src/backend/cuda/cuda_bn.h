/* cuda_bn.h - batch-norm kernels (NHWC) behind C launchers.
 *
 * Semantics are those of backend.h (torch.nn.SyncBatchNorm split in two
 * halves around a cross-rank reduction).  An NHWC tensor of logical shape
 * (N,C,H,W) is a row-major matrix of M = N*H*W rows and C channels, which is
 * how every launcher sees it.
 *
 * Reductions (bn_stats, bn_bwd_reduce) are deterministic and follow the CPU
 * oracle's arithmetic: each thread adds its rows in double (x, x^2 and
 * g xhat with xhat rounded to fp32 first, products exact in double), each
 * block writes one row of per-block partials into `part` (a scratch of
 * CUDA_BN_PART_DOUBLES doubles), and a second kernel adds the partials in a
 * fixed order.  The elementwise passes evaluate the CPU oracle's fp32
 * expressions (ReLU lets NaN through, as torch does).
 * Elementwise passes load 16-byte vectors (8 x bf16/fp16, 4 x fp32) when C
 * and the pointers allow, else one element per thread.
 * Every launcher returns the launch status (cudaGetLastError).
 */
#ifndef RD_BACKEND_CUDA_CUDA_BN_H
#define RD_BACKEND_CUDA_CUDA_BN_H

#include <cuda_runtime.h>

#include "backend/cuda/cuda_dtype.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { CUDA_BN_PART_DOUBLES = 1 << 21 }; /* 16 MiB of reduction scratch */

/* stats (2C+1) = [sum x | sum x^2 | M] of x (M,C) act. */
cudaError_t cuda_bn_stats(cudaStream_t s, CudaDtype dt, long long m, int c,
                          const void *x /* (M,C) */, double *part, double *stats);

/* mean_invstd (2C) fp32 from stats (2C+1); optional running update (fp32). */
cudaError_t cuda_bn_finalize(cudaStream_t s, int c, const double *stats, float *mean_invstd,
                             float *running_mean, float *running_var, double momentum,
                             double eps, int update_running);

cudaError_t cuda_bn_finalize_eval(cudaStream_t s, int c, const float *running_mean,
                                  const float *running_var, double eps, float *mean_invstd);

/* y = relu?(gamma (x - mean) invstd + beta [+ residual]), all (M,C) act. */
cudaError_t cuda_bn_apply(cudaStream_t s, CudaDtype dt, long long m, int c, void *y,
                          const void *x, const float *mean_invstd /* (2C) */,
                          const float *gamma /* (C) */, const float *beta /* (C) */,
                          const void *residual /* (M,C) or NULL */, int relu);

/* g = relu ? dy [y > 0] : dy;  dres (nullable) = / += g;
 * sums (2C) = [sum g | sum g xhat];  dbeta = sum g, dgamma = sum g xhat (fp32). */
cudaError_t cuda_bn_bwd_reduce(cudaStream_t s, CudaDtype dt, long long m, int c,
                               const void *dy /* (M,C) */, const void *y /* (M,C), relu */,
                               const void *x /* (M,C) */, const float *mean_invstd,
                               int relu, void *dres /* (M,C) or NULL */, int dres_accumulate,
                               float *dgamma, float *dbeta, double *part, double *sums);

/* dx = / += gamma invstd (g - sum_g / count - xhat sum_gxhat / count),
 * count = fwd_stats[2C]. */
cudaError_t cuda_bn_bwd_apply(cudaStream_t s, CudaDtype dt, long long m, int c,
                              void *dx /* (M,C) */, const void *dy, const void *y,
                              const void *x, const float *mean_invstd, const float *gamma,
                              int relu, const double *fwd_stats, const double *sums,
                              int accumulate);

#ifdef __cplusplus
}
#endif

#endif
