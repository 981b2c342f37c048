/* cuda_ctx.h - the one CUDA context of a backend (one per rank).
 *
 * Created once with the backend: the device, a compute stream (every op of
 * the table runs on it, in order), a copy stream (host -> device input
 * batches), the cuDNN and cuBLASLt handles bound to the compute stream, one
 * workspace shared by cuDNN and cuBLASLt (safe because both only run on the
 * compute stream), the BN reduction scratch, and the caches of convolution
 * algorithms and GEMM plans.  No op creates handles or streams.
 *
 * Temporary device memory comes from the device's stream-ordered pool
 * (cudaMallocAsync / cudaFreeAsync on the compute stream), so a buffer freed
 * after a launch is reused only once that launch is done; the pool keeps its
 * memory (release threshold = unlimited), so steady-state steps do not call
 * the driver allocator.
 */
#ifndef RD_BACKEND_CUDA_CUDA_CTX_H
#define RD_BACKEND_CUDA_CUDA_CTX_H

#include <stddef.h>
#include <stdint.h>

#include <cublasLt.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include "backend/cuda/backend_cuda.h"
#include "backend/cuda/cuda_dtype.h"

typedef struct CudaConvCache CudaConvCache;
typedef struct CudaFcCache CudaFcCache;

typedef struct CudaCtx {
  int device;
  int precision;              /* PrecisionId */
  CudaDtype act;              /* activation dtype (bf16 | fp16 | fp32) */
  int conv_algo_heuristic;    /* 1: cuDNN heuristics only, no measuring */
  cudaStream_t compute, copy;
  cudnnHandle_t dnn;
  cublasLtHandle_t lt;
  void *workspace;            /* cuDNN / cuBLASLt workspace, compute stream only */
  size_t workspace_bytes;
  double *bn_part;            /* CUDA_BN_PART_DOUBLES, BN reduction partials */

  /* input_u8: device staging of the uint8 batch, filled on the copy stream */
  uint8_t *stage_u8;
  size_t stage_bytes;
  cudaEvent_t stage_loaded, stage_free;
  /* upload_labels: pinned bounce buffer, read by a copy on the compute stream */
  int32_t *labels_host;
  size_t labels_cap;
  cudaEvent_t labels_copied;
  /* pinned host memory for small synchronous read-backs */
  void *host_buf;
  size_t host_buf_bytes;

  CudaConvCache *conv_cache;
  CudaFcCache *fc_cache;
} CudaCtx;

CudaCtx *cuda_ctx_create(const CudaBackendOptions *opt);
void cuda_ctx_destroy(CudaCtx *ctx);

/* Makes ctx's device current on the calling thread. */
void cuda_ctx_bind(const CudaCtx *ctx);

/* cudaMalloc on the current device; out of memory is fatal and says how
 * much is free. */
void *cuda_ctx_device_alloc(size_t n_bytes, const char *what);

/* Stream-ordered temporary on the compute stream; dies when out of memory. */
void *cuda_ctx_tmp_alloc(CudaCtx *ctx, size_t n_bytes, const char *what);
void cuda_ctx_tmp_free(CudaCtx *ctx, void *ptr);

/* Pinned host scratch of at least n_bytes, valid until the next call.  When
 * it must grow it waits for the compute stream before freeing the old buffer;
 * otherwise it does not wait, so a caller that queues an async copy from or
 * into it must wait for that copy before the next call (read_back does). */
void *cuda_ctx_host_buf(CudaCtx *ctx, size_t n_bytes);

/* Copies n_bytes from device src into the pinned host scratch, waits, and
 * returns the host copy (valid until the next read-back). */
const void *cuda_ctx_read_back(CudaCtx *ctx, const void *src, size_t n_bytes);

/* Default cuDNN / cuBLASLt workspace when the options say 0. */
enum { CUDA_DEFAULT_WORKSPACE_MIB = 256 };

#endif
