/* cuda_loss.cu - softmax cross-entropy kernels; see cuda_loss.h. */
#include "backend/cuda/cuda_device.cuh"
#include "backend/cuda/cuda_loss.h"

namespace {

constexpr int kThreads = 256;

/* work layout: loss (N) double | hit1 (N) int | hit5 (N) int. */
struct XentWork {
  double *loss; /* (N) */
  int *hit1;    /* (N) */
  int *hit5;    /* (N) */
};

XentWork split_work(void *work, int n) {
  XentWork w;
  w.loss = (double *)work;
  w.hit1 = (int *)(w.loss + n);
  w.hit5 = w.hit1 + n;
  return w;
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    xent_row_kernel(const T *__restrict__ logits /* (N,K) */,
                    const int32_t *__restrict__ labels /* (N) */, int k, double eps,
                    float grad_scale, T *__restrict__ dlogits /* (N,K) or NULL */,
                    XentWork work) {
  __shared__ float shf[32];
  __shared__ int shi[32];
  const long long row = blockIdx.x;
  const T *z = logits + row * k;
  const int label = labels[row];
  const bool valid = label >= 0 && label < k;

  float m = -INFINITY;
  for (int j = threadIdx.x; j < k; j += blockDim.x) m = fmaxf(m, to_f(z[j]));
  m = block_max(m, shf);
  float se = 0.f, sz = 0.f;
  for (int j = threadIdx.x; j < k; j += blockDim.x) {
    const float v = to_f(z[j]);
    se += expf(v - m);
    sz += v;
  }
  se = block_sum(se, shf);
  sz = block_sum(sz, shf);
  const float lse = m + logf(se);
  const float zl = valid ? to_f(z[label]) : NAN;
  int higher = 0;
  for (int j = threadIdx.x; j < k; j += blockDim.x) higher += to_f(z[j]) > zl;
  higher = block_sum(higher, shi);

  if (threadIdx.x == 0) {
    const double logp_label = (double)zl - (double)lse;
    const double sum_logp = (double)sz - (double)k * (double)lse;
    work.loss[row] = -(1.0 - eps) * logp_label - eps / k * sum_logp;
    work.hit1[row] = valid && higher < 1;
    work.hit5[row] = valid && higher < 5;
  }
  if (!dlogits) return;
  const float off = (float)(eps / k), on = (float)(1.0 - eps);
  for (int j = threadIdx.x; j < k; j += blockDim.x) {
    const float p = expf(to_f(z[j]) - lse);
    const float target = (j == label ? on : 0.f) + off;
    dlogits[row * k + j] = from_f<T>(grad_scale * (p - target));
  }
}

__global__ void __launch_bounds__(kThreads)
    xent_sum_kernel(XentWork work, int n, CudaXentSums *__restrict__ sums) {
  __shared__ double shd[32];
  __shared__ long long shl[32];
  double loss = 0.0;
  long long t1 = 0, t5 = 0;
  for (int i = threadIdx.x; i < n; i += blockDim.x) {
    loss += work.loss[i];
    t1 += work.hit1[i];
    t5 += work.hit5[i];
  }
  loss = block_sum(loss, shd);
  t1 = block_sum(t1, shl);
  t5 = block_sum(t5, shl);
  if (threadIdx.x == 0) {
    sums->loss_sum = loss;
    sums->top1 = t1;
    sums->top5 = t5;
  }
}

}  // namespace

extern "C" size_t cuda_xent_work_bytes(int n) {
  return (size_t)n * (sizeof(double) + 2 * sizeof(int));
}

extern "C" cudaError_t cuda_xent(cudaStream_t s, CudaDtype dt, int n, int k, const void *logits,
                                 const int32_t *labels, double eps, double grad_scale,
                                 void *dlogits, void *work, CudaXentSums *sums) {
  if (n < 1 || k < 1) return cudaErrorInvalidValue;
  const XentWork w = split_work(work, n);
  CUDA_DISPATCH(dt, T, {
    xent_row_kernel<T><<<n, kThreads, 0, s>>>((const T *)logits, labels, k, eps,
                                             (float)grad_scale, (T *)dlogits, w);
  });
  xent_sum_kernel<<<1, kThreads, 0, s>>>(w, n, sums);
  return cudaGetLastError();
}
