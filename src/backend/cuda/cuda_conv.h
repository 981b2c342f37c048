/* cuda_conv.h - convolutions with cuDNN (legacy cudnnConvolution* API), NHWC.
 *
 * A plan holds the tensor / filter / convolution descriptors of one layer
 * shape.  The algorithms of the three directions (forward, backward data,
 * backward filter) are chosen once per (shape, dtype, precision) and cached
 * in the context: measured with cudnnFind*Ex within the workspace cap (or,
 * with conv_algo_heuristic, taken from cuDNN's heuristics), together with
 * the math type the measurement used, which is set on that direction's
 * descriptor before every call (cuDNN's documented rule).
 *   bf16 / fp16: data in that type, fp32 accumulation, tensor-op math;
 *   fp32: TF32 allowed (CUDNN_DEFAULT_MATH); fp32-strict: CUDNN_FMA_MATH.
 * Weights: the arenas keep torchvision's (K,C,R,S); cuDNN's NHWC filters are
 * (K,R,S,C).  1x1 filters are the same memory; for R > 1 the weights are
 * transposed into a temporary before the call, and the filter gradient is
 * transposed (and cast to fp32) into the gradient arena after it.
 */
#ifndef RD_BACKEND_CUDA_CUDA_CONV_H
#define RD_BACKEND_CUDA_CUDA_CONV_H

#include <stddef.h>

#include "backend/backend.h"
#include "backend/cuda/cuda_ctx.h"

void *cuda_conv_plan_create(CudaCtx *ctx, const ConvShape *shape);
void cuda_conv_plan_free(CudaCtx *ctx, void *plan);

/* y (N,K,P,Q) act = conv(x (N,C,H,W) act, w (K,C,R,R) act) */
void cuda_conv_fwd(CudaCtx *ctx, void *plan, void *y, const void *x, const void *w);
/* dx (N,C,H,W) act = / += conv_transpose(dy (N,K,P,Q) act, w (K,C,R,R) act) */
void cuda_conv_bwd_data(CudaCtx *ctx, void *plan, void *dx, const void *dy, const void *w,
                        int accumulate);
/* dw (K,C,R,R) fp32 = correlation(x, dy), written */
void cuda_conv_bwd_filter(CudaCtx *ctx, void *plan, float *dw, const void *dy, const void *x);

size_t cuda_conv_algos_export(CudaCtx *ctx, void *host_blob, size_t cap);
int cuda_conv_algos_import(CudaCtx *ctx, const void *host_blob, size_t n_bytes);

void cuda_conv_cache_destroy(CudaCtx *ctx);

#endif
