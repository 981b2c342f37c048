/* check_cuda.h - CUDA_CHECK, CUDNN_CHECK, CUBLAS_CHECK, NCCL_CHECK.
 * Include only from CUDA-enabled translation units (.cu or C files that are
 * compiled when RD_HAVE_CUDA).  Each prints the library's own error text. */
#ifndef RD_CORE_CHECK_CUDA_H
#define RD_CORE_CHECK_CUDA_H

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>
#include <nccl.h>

#include "core/check.h"

#define CUDA_CHECK(call)                                                       \
  do {                                                                         \
    cudaError_t rd_cu_rc_ = (call);                                            \
    if (rd_cu_rc_ != cudaSuccess)                                              \
      core_fatal(__FILE__, __LINE__, "CUDA error %d (%s) in %s: %s",           \
                 (int)rd_cu_rc_, cudaGetErrorName(rd_cu_rc_), #call,           \
                 cudaGetErrorString(rd_cu_rc_));                               \
  } while (0)

#define CUDNN_CHECK(call)                                                      \
  do {                                                                         \
    cudnnStatus_t rd_dnn_rc_ = (call);                                         \
    if (rd_dnn_rc_ != CUDNN_STATUS_SUCCESS)                                    \
      core_fatal(__FILE__, __LINE__, "cuDNN error %d in %s: %s",               \
                 (int)rd_dnn_rc_, #call, cudnnGetErrorString(rd_dnn_rc_));     \
  } while (0)

#define CUBLAS_CHECK(call)                                                     \
  do {                                                                         \
    cublasStatus_t rd_blas_rc_ = (call);                                       \
    if (rd_blas_rc_ != CUBLAS_STATUS_SUCCESS)                                  \
      core_fatal(__FILE__, __LINE__, "cuBLAS error %d in %s: %s",              \
                 (int)rd_blas_rc_, #call, cublasGetStatusString(rd_blas_rc_)); \
  } while (0)

#define NCCL_CHECK(call)                                                       \
  do {                                                                         \
    ncclResult_t rd_nccl_rc_ = (call);                                         \
    if (rd_nccl_rc_ != ncclSuccess)                                            \
      core_fatal(__FILE__, __LINE__, "NCCL error %d in %s: %s",                \
                 (int)rd_nccl_rc_, #call, ncclGetErrorString(rd_nccl_rc_));    \
  } while (0)

#endif
