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

/* One block per sample.  The arithmetic is the CPU oracle's: the maximum in
 * fp32 (exact), exp / log and every sum in double, so the loss and the
 * gradient differ from it only by the order of the sums. */
template <typename T>
__global__ void __launch_bounds__(kThreads)
    xent_row_kernel(const T *__restrict__ logits /* (N,K) */,
                    const int32_t *__restrict__ labels /* (N) */, int k, double eps,
                    double grad_scale, T *__restrict__ dlogits /* (N,K) or NULL */,
                    XentWork work) {
  __shared__ float shf[32];
  __shared__ double shd[32];
  __shared__ int shi[32];
  const long long row = blockIdx.x;
  const T *z = logits + row * k;
  const int label = labels[row];
  const bool valid = label >= 0 && label < k;

  float m = -INFINITY;
  for (int j = threadIdx.x; j < k; j += blockDim.x) m = fmaxf(m, to_f(z[j]));
  m = block_max(m, shf);
  double se = 0.0;
  for (int j = threadIdx.x; j < k; j += blockDim.x) se += exp((double)to_f(z[j]) - (double)m);
  se = block_sum(se, shd);
  const double lse = (double)m + log(se);
  const float zl = valid ? to_f(z[label]) : NAN;
  double sum_logp = 0.0;
  int higher = 0;
  for (int j = threadIdx.x; j < k; j += blockDim.x) {
    const float v = to_f(z[j]);
    sum_logp += (double)v - lse;
    higher += v > zl;
  }
  sum_logp = block_sum(sum_logp, shd);
  higher = block_sum(higher, shi);

  if (threadIdx.x == 0) {
    work.loss[row] = -(1.0 - eps) * ((double)zl - lse) - eps / k * sum_logp;
    work.hit1[row] = valid && higher < 1;
    work.hit5[row] = valid && higher < 5;
  }
  if (!dlogits) return;
  const double off = eps / k;
  for (int j = threadIdx.x; j < k; j += blockDim.x) {
    const double target = (j == label ? 1.0 - eps : 0.0) + off;
    const double d = grad_scale * (exp((double)to_f(z[j]) - lse) - target);
    dlogits[row * k + j] = from_f<T>((float)d);
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
    xent_row_kernel<T><<<n, kThreads, 0, s>>>((const T *)logits, labels, k, eps, grad_scale,
                                             (T *)dlogits, w);
  });
  xent_sum_kernel<<<1, kThreads, 0, s>>>(w, n, sums);
  return cudaGetLastError();
}
