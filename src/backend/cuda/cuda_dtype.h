/* cuda_dtype.h - element types of the CUDA backend, shared by C and CUDA code.
 *
 * Activations live on the device in one of three types chosen by
 * train.precision (bf16, fp16, fp32); parameters, gradients, BN buffers and
 * optimizer state are always fp32.  Launchers take the activation type as a
 * CudaDtype and dispatch to a template instance.
 */
#ifndef RD_BACKEND_CUDA_CUDA_DTYPE_H
#define RD_BACKEND_CUDA_CUDA_DTYPE_H

typedef enum { CUDA_DT_F32 = 0, CUDA_DT_BF16 = 1, CUDA_DT_F16 = 2 } CudaDtype;

static inline int cuda_dtype_bytes(CudaDtype dt) { return dt == CUDA_DT_F32 ? 4 : 2; }

#endif
