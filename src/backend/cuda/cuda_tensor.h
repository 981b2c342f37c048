/* cuda_tensor.h - layout, cast, input, pooling and shortcut kernels (NHWC).
 *
 * Logical shapes are (N,C,H,W) as in backend.h; device activations are
 * stored NHWC, so "x (N,C,H,W)" below means the NHWC buffer of that logical
 * tensor.  Weights keep torchvision's (K,C,R,S) order in the arenas; cuDNN's
 * NHWC filters are (K,R,S,C), which is the same NCHW <-> NHWC transform with
 * n = K.  Pooling follows PyTorch (floor output size, padding never wins, the
 * gradient goes to the first maximum of a window).  All arithmetic is fp32.
 * Every launcher returns the launch status.
 */
#ifndef RD_BACKEND_CUDA_CUDA_TENSOR_H
#define RD_BACKEND_CUDA_CUDA_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include <cuda_runtime.h>

#include "backend/cuda/cuda_dtype.h"

#ifdef __cplusplus
extern "C" {
#endif

/* dst (n) dt = src (n) fp32. */
cudaError_t cuda_cast_from_f32(cudaStream_t s, CudaDtype dt, void *dst, const float *src,
                               size_t n_elems);

/* dst (N,H,W,C) dt_out = src (N,C,H,W) dt_in. */
cudaError_t cuda_nchw_to_nhwc(cudaStream_t s, CudaDtype dt_in, CudaDtype dt_out, void *dst,
                              const void *src, int n, int c, int h, int w);
/* dst (N,C,H,W) dt_out = src (N,H,W,C) dt_in. */
cudaError_t cuda_nhwc_to_nchw(cudaStream_t s, CudaDtype dt_in, CudaDtype dt_out, void *dst,
                              const void *src, int n, int c, int h, int w);

/* value[c][v] = (v / 255 - mean[c]) / std[c], evaluated in double on the host
 * and rounded to fp32 (the CPU backend's table, so both agree exactly). */
typedef struct {
  float value[3][256];
} CudaNormalize;

/* x (N,H,W,3) dt = norm.value[c][src]; src (N,H,W,3) uint8, device. */
cudaError_t cuda_input_u8(cudaStream_t s, CudaDtype dt, void *x, const uint8_t *src, int n,
                          int h, int w, CudaNormalize norm);

/* y (N,C,P,Q) = max over r x r windows of x (N,C,H,W). */
cudaError_t cuda_maxpool_fwd(cudaStream_t s, CudaDtype dt, int n, int c, int h, int w, int r,
                             int stride, int pad, void *y, const void *x);
/* dx (N,C,H,W) = sum of dy over the windows whose first maximum is that input. */
cudaError_t cuda_maxpool_bwd(cudaStream_t s, CudaDtype dt, int n, int c, int h, int w, int r,
                             int stride, int pad, void *dx, const void *dy, const void *x,
                             const void *y);

/* y (N,C) = mean over H,W of x (N,C,H,W);  dx (N,C,H,W) = dy (N,C) / (H W). */
cudaError_t cuda_avgpool_fwd(cudaStream_t s, CudaDtype dt, int n, int c, int h, int w, void *y,
                             const void *x);
cudaError_t cuda_avgpool_bwd(cudaStream_t s, CudaDtype dt, int n, int c, int h, int w,
                             void *dx, const void *dy);

/* CIFAR option A shortcut: y (N,Cout,ceil(H/s),ceil(W/s)) = x[:, :, ::s, ::s] at
 * channels [(Cout-Cin)/2, (Cout-Cin)/2 + Cin), zero elsewhere; bwd = / += . */
cudaError_t cuda_shortcut_pad_fwd(cudaStream_t s, CudaDtype dt, int n, int c_in, int h, int w,
                                  int c_out, int stride, void *y, const void *x);
cudaError_t cuda_shortcut_pad_bwd(cudaStream_t s, CudaDtype dt, int n, int c_in, int h, int w,
                                  int c_out, int stride, void *dx, const void *dy,
                                  int accumulate);

/* y (N,O) dt = acc (N,O) fp32 + b (O) fp32 (acc may be y when dt is fp32). */
cudaError_t cuda_bias_add(cudaStream_t s, CudaDtype dt, int n, int o, void *y, const float *acc,
                          const float *b);
/* db (O) fp32 = sum over rows of dy (N,O) dt. */
cudaError_t cuda_col_sum(cudaStream_t s, CudaDtype dt, int n, int o, float *db, const void *dy);

#ifdef __cplusplus
}
#endif

#endif
