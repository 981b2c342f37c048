/* cuda_optim.cu - optimizer kernels; see cuda_optim.h. */
#include "backend/cuda/cuda_device.cuh"
#include "backend/cuda/cuda_optim.h"

namespace {

constexpr int kThreads = 256;
constexpr long long kMaxBlocks = 65536;
constexpr int kNormBlocks = 64; /* blocks per segment in segment_norms */

/* Index of the segment holding element i of the batch: the largest s with
 * start[s] <= i (empty segments are skipped since their start repeats). */
__device__ __forceinline__ int find_segment(const CudaSegBatch &segs, long long i) {
  int lo = 0, hi = segs.n - 1;
  while (lo < hi) {
    const int mid = (lo + hi + 1) >> 1;
    if (segs.start[mid] <= i)
      lo = mid;
    else
      hi = mid - 1;
  }
  return lo;
}

template <typename T>
__global__ void sgd_kernel(float *__restrict__ p /* arena */,
                           T *__restrict__ work /* arena or NULL */,
                           const float *__restrict__ g /* arena */,
                           float *__restrict__ buf /* arena or NULL */, const CudaSegBatch segs,
                           CudaSgdHyper h) {
  const long long total = segs.start[segs.n];
  GRID_STRIDE(i, total) {
    const int sg = find_segment(segs, i);
    const long long idx = segs.offset[sg] + (i - segs.start[sg]);
    float pv = p[idx];
    const float gv = segs.trust[sg] * (h.grad_scale * g[idx] + segs.weight_decay[sg] * pv);
    float step = gv;
    if (buf) {
      const float b = h.momentum * buf[idx] + gv;
      buf[idx] = b;
      step = h.nesterov ? gv + h.momentum * b : b;
    }
    pv -= h.lr * step;
    p[idx] = pv;
    if (work) work[idx] = from_f<T>(pv);
  }
}

/* part (n, gridDim.x, 2): per block [sum p^2, sum g^2] of segment blockIdx.y. */
__global__ void seg_norms_kernel(const float *__restrict__ p /* arena */,
                                 const float *__restrict__ g /* arena */, const CudaSegBatch segs,
                                 double *__restrict__ part /* (n, gridDim.x, 2) */) {
  __shared__ double sh[32];
  const int sg = blockIdx.y;
  const long long len = segs.start[sg + 1] - segs.start[sg];
  const float *ps = p + segs.offset[sg], *gs = g + segs.offset[sg];
  double a = 0.0, b = 0.0;
  GRID_STRIDE(i, len) {
    const double pv = ps[i], gv = gs[i];
    a += pv * pv;
    b += gv * gv;
  }
  a = block_sum(a, sh);
  b = block_sum(b, sh);
  if (threadIdx.x == 0) {
    double *out = part + ((size_t)sg * gridDim.x + blockIdx.x) * 2;
    out[0] = a;
    out[1] = b;
  }
}

__global__ void seg_norms_final_kernel(const double *__restrict__ part /* (n, gx, 2) */, int n,
                                       int gx, double *__restrict__ out /* (n, 2) */) {
  const int sg = blockIdx.x * blockDim.x + threadIdx.x;
  if (sg >= n) return;
  double a = 0.0, b = 0.0;
  for (int j = 0; j < gx; j++) {
    a += part[((size_t)sg * gx + j) * 2];
    b += part[((size_t)sg * gx + j) * 2 + 1];
  }
  out[2 * sg] = a;
  out[2 * sg + 1] = b;
}

__global__ void nonfinite_kernel(const float *__restrict__ x /* (n) */, long long n,
                                 unsigned long long *count /* (1) */) {
  __shared__ unsigned long long sh[32];
  unsigned long long c = 0;
  GRID_STRIDE(i, n) c += isfinite(x[i]) ? 0ull : 1ull;
  c = block_sum(c, sh);
  if (threadIdx.x == 0 && c) atomicAdd(count, c);
}

__global__ void scale_kernel(float *__restrict__ x /* (n) */, long long n, float factor) {
  GRID_STRIDE(i, n) x[i] *= factor;
}

bool valid_batch(const CudaSegBatch *segs) {
  return segs && segs->n >= 1 && segs->n <= CUDA_SEG_BATCH && segs->start[0] == 0;
}

}  // namespace

extern "C" cudaError_t cuda_sgd(cudaStream_t s, CudaDtype work_dt, float *params, void *work,
                                const float *grads, float *momentum_buf,
                                const CudaSegBatch *segs, CudaSgdHyper hyper) {
  if (!valid_batch(segs)) return cudaErrorInvalidValue;
  const long long total = segs->start[segs->n];
  if (total == 0) return cudaSuccess;
  const unsigned blocks = cuda_blocks_for(total, kThreads, kMaxBlocks);
  CUDA_DISPATCH(work_dt, T, {
    sgd_kernel<T><<<blocks, kThreads, 0, s>>>(params, (T *)work, grads, momentum_buf, *segs,
                                              hyper);
  });
  return cudaGetLastError();
}

extern "C" size_t cuda_segment_norms_work_bytes(void) {
  return (size_t)CUDA_SEG_BATCH * kNormBlocks * 2 * sizeof(double);
}

extern "C" cudaError_t cuda_segment_norms(cudaStream_t s, const float *params,
                                          const float *grads, const CudaSegBatch *segs,
                                          void *work, double *out) {
  if (!valid_batch(segs)) return cudaErrorInvalidValue;
  double *part = (double *)work;
  seg_norms_kernel<<<dim3(kNormBlocks, (unsigned)segs->n), kThreads, 0, s>>>(params, grads,
                                                                           *segs, part);
  seg_norms_final_kernel<<<1, CUDA_SEG_BATCH, 0, s>>>(part, segs->n, kNormBlocks, out);
  return cudaGetLastError();
}

extern "C" cudaError_t cuda_count_nonfinite(cudaStream_t s, const float *x, size_t n_elems,
                                            unsigned long long *count) {
  cudaError_t rc = cudaMemsetAsync(count, 0, sizeof *count, s);
  if (rc != cudaSuccess || n_elems == 0) return rc;
  const long long n = (long long)n_elems;
  nonfinite_kernel<<<cuda_blocks_for(n, kThreads, kMaxBlocks), kThreads, 0, s>>>(x, n, count);
  return cudaGetLastError();
}

extern "C" cudaError_t cuda_scale(cudaStream_t s, float *x, size_t n_elems, float factor) {
  const long long n = (long long)n_elems;
  if (n == 0) return cudaSuccess;
  scale_kernel<<<cuda_blocks_for(n, kThreads, kMaxBlocks), kThreads, 0, s>>>(x, n, factor);
  return cudaGetLastError();
}
