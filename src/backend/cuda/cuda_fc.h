/* cuda_fc.h - the fully connected layer with cuBLASLt.
 *
 * Row-major (N,I) activations and (O,I) weights are column-major (I,N) and
 * (I,O) matrices to cuBLAS, so the three products are plain GEMMs:
 *   forward       Y (O,N)  = W^T X,   written in fp32, then y = acc + b in act
 *   backward data dX (I,N) = W dY
 *   backward wgt  dW (I,O) = X dY^T,  fp32 output straight into the gradient arena
 * Inputs in the act dtype, fp32 accumulation (CUBLAS_COMPUTE_32F; fp32 mode
 * allows TF32, fp32-strict does not); db is a column sum of dY.  Each GEMM
 * shape gets its descriptors and cuBLASLt's heuristic algorithm once, cached
 * in the context.
 */
#ifndef RD_BACKEND_CUDA_CUDA_FC_H
#define RD_BACKEND_CUDA_CUDA_FC_H

#include "backend/cuda/cuda_ctx.h"

/* y (N,O) act = x (N,I) act . w^T (O,I) act + b (O) fp32 */
void cuda_fc_fwd(CudaCtx *ctx, int n, int in, int out, void *y, const void *x, const void *w,
                 const float *b);
/* dx (N,I) act, dw (O,I) fp32, db (O) fp32, all written */
void cuda_fc_bwd(CudaCtx *ctx, int n, int in, int out, void *dx, float *dw, float *db,
                 const void *dy, const void *x, const void *w);

void cuda_fc_cache_destroy(CudaCtx *ctx);

#endif
