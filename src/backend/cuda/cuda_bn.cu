/* cuda_bn.cu - batch-norm kernels; see cuda_bn.h for the contract.
 *
 * Thread layout shared by every kernel here: a block is (bx, by) threads,
 * threadIdx.x picks a vector of V channels (cv = channel / V), threadIdx.y a
 * row lane; grid.x covers the channel vectors, grid.y strides over the M
 * rows.  Consecutive threads touch consecutive channels of one row, so loads
 * are coalesced in NHWC.
 */
#include <initializer_list>

#include "backend/cuda/cuda_bn.h"
#include "backend/cuda/cuda_device.cuh"

namespace {

constexpr int kThreads = 256;
constexpr unsigned kMaxRowBlocks = 8192;
constexpr unsigned kMaxPartBlocks = 1024;

struct Geom {
  dim3 block, grid;
};

/* bx threads over the C/V channel vectors (at most 256), by = 256 / bx row
 * lanes, grid.y row blocks capped at max_gy. */
Geom geom(int c, int v, long long m, unsigned max_gy) {
  int cvec = c / v;
  int bx = cvec < kThreads ? cvec : kThreads;
  if (bx < 1) bx = 1;
  int by = kThreads / bx;
  unsigned gx = (unsigned)((cvec + bx - 1) / bx);
  long long gy = (m + by - 1) / by;
  if (gy < 1) gy = 1;
  if (gy > (long long)max_gy) gy = max_gy;
  Geom g;
  g.block = dim3((unsigned)bx, (unsigned)by);
  g.grid = dim3(gx, (unsigned)gy);
  return g;
}

/* Row blocks of a reduction: partials (gy, 2C) must fit the scratch. */
unsigned part_rows_cap(int c, unsigned gx) {
  unsigned cap = kMaxPartBlocks / (gx ? gx : 1);
  unsigned fit = (unsigned)(CUDA_BN_PART_DOUBLES / (2 * (long long)c));
  if (fit < cap) cap = fit;
  return cap < 1 ? 1 : cap;
}

bool aligned16(std::initializer_list<const void *> ptrs) {
  for (const void *p : ptrs)
    if (p && ((uintptr_t)p & 15u) != 0) return false;
  return true;
}

/* Adds the block's per-thread double sums a, b over threadIdx.y and writes
 * row[ch] = sum a, row[C + ch] = sum b for the thread's V channels.
 * sh: 2 * blockDim.x * blockDim.y * V doubles. */
template <int V>
__device__ void block_partials(const double (&a)[V], const double (&b)[V], bool active, int cv,
                               int c, double *row, double *sh) {
  const int nt = blockDim.x * blockDim.y;
  const int t = threadIdx.y * blockDim.x + threadIdx.x;
#pragma unroll
  for (int i = 0; i < V; i++) {
    sh[t * V + i] = a[i];
    sh[(nt + t) * V + i] = b[i];
  }
  __syncthreads();
  if (threadIdx.y != 0 || !active) return;
#pragma unroll
  for (int i = 0; i < V; i++) {
    double sa = 0.0, sb = 0.0;
    for (int ty = 0; ty < (int)blockDim.y; ty++) {
      int u = ty * blockDim.x + threadIdx.x;
      sa += sh[u * V + i];
      sb += sh[(nt + u) * V + i];
    }
    row[cv * V + i] = sa;
    row[c + cv * V + i] = sb;
  }
}

/* part (gridDim.y, 2C): per row block [sum x | sum x^2]. */
template <typename T, int V>
__global__ void __launch_bounds__(kThreads)
    bn_stats_kernel(const T *__restrict__ x /* (M,C) */, long long m, int c,
                    double *__restrict__ part /* (gridDim.y, 2C) */) {
  extern __shared__ double sh[];
  const int cv = blockIdx.x * blockDim.x + threadIdx.x;
  const bool active = cv * V < c;
  double da[V], db[V];
#pragma unroll
  for (int i = 0; i < V; i++) da[i] = db[i] = 0.0;
  if (active) {
    const long long step = (long long)gridDim.y * blockDim.y;
    for (long long r = (long long)blockIdx.y * blockDim.y + threadIdx.y; r < m; r += step) {
      float v[V];
      load_vec<T, V>(x + r * c + (long long)cv * V, v);
#pragma unroll
      for (int i = 0; i < V; i++) {
        const double a = v[i]; /* a * a is exact in double, as on the CPU */
        da[i] += a;
        db[i] = fma(a, a, db[i]);
      }
    }
  }
  block_partials<V>(da, db, active, cv, c, part + (size_t)blockIdx.y * 2 * c, sh);
}

/* out[ch] = sum over row blocks of part[.][ch], out[C + ch] likewise;
 * count >= 0 is stored at out[2C]; f_first / f_second get fp32 copies. */
__global__ void part_final_kernel(const double *__restrict__ part /* (gy, 2C) */, int gy, int c,
                                  double *__restrict__ out /* (2C [+1]) */, double count,
                                  float *f_first /* (C) or NULL */,
                                  float *f_second /* (C) or NULL */) {
  const int ch = blockIdx.x * blockDim.x + threadIdx.x;
  if (ch == 0 && count >= 0.0) out[2 * c] = count;
  if (ch >= c) return;
  double a = 0.0, b = 0.0;
  for (int g = 0; g < gy; g++) {
    a += part[(size_t)g * 2 * c + ch];
    b += part[(size_t)g * 2 * c + c + ch];
  }
  out[ch] = a;
  out[c + ch] = b;
  if (f_first) f_first[ch] = (float)a;
  if (f_second) f_second[ch] = (float)b;
}

__global__ void finalize_kernel(int c, const double *__restrict__ stats /* (2C+1) */,
                                float *mean_invstd /* (2C) */, float *running_mean /* (C) */,
                                float *running_var /* (C) */, double momentum, double eps,
                                int update) {
  const int ch = blockIdx.x * blockDim.x + threadIdx.x;
  if (ch >= c) return;
  const double n = stats[2 * c];
  const double mean = stats[ch] / n;
  double var = stats[c + ch] / n - mean * mean;
  if (var < 0.0) var = 0.0;
  mean_invstd[ch] = (float)mean;
  mean_invstd[c + ch] = (float)(1.0 / sqrt(var + eps));
  if (!update) return;
  const double unbias = n > 1.0 ? n / (n - 1.0) : 1.0;
  running_mean[ch] = (float)((1.0 - momentum) * (double)running_mean[ch] + momentum * mean);
  running_var[ch] = (float)((1.0 - momentum) * (double)running_var[ch] + momentum * var * unbias);
}

__global__ void finalize_eval_kernel(int c, const float *__restrict__ running_mean /* (C) */,
                                     const float *__restrict__ running_var /* (C) */, double eps,
                                     float *mean_invstd /* (2C) */) {
  const int ch = blockIdx.x * blockDim.x + threadIdx.x;
  if (ch >= c) return;
  mean_invstd[ch] = running_mean[ch];
  mean_invstd[c + ch] = (float)(1.0 / sqrt((double)running_var[ch] + eps));
}

template <int V>
__device__ __forceinline__ void load_param(const float *p, int off, float (&out)[V]) {
#pragma unroll
  for (int i = 0; i < V; i++) out[i] = p[off + i];
}

template <typename T, int V>
__global__ void __launch_bounds__(kThreads)
    bn_apply_kernel(T *__restrict__ y /* (M,C) */, const T *__restrict__ x /* (M,C) */,
                    const float *__restrict__ mi /* (2C) */,
                    const float *__restrict__ gamma /* (C) */,
                    const float *__restrict__ beta /* (C) */,
                    const T *__restrict__ residual /* (M,C) or NULL */, int relu, long long m,
                    int c) {
  const int cv = blockIdx.x * blockDim.x + threadIdx.x;
  if (cv * V >= c) return;
  const int c0 = cv * V;
  float mean[V], scale[V], b[V];
  load_param<V>(mi, c0, mean);
  load_param<V>(beta, c0, b);
#pragma unroll
  for (int i = 0; i < V; i++) scale[i] = gamma[c0 + i] * mi[c + c0 + i];
  const long long step = (long long)gridDim.y * blockDim.y;
  for (long long r = (long long)blockIdx.y * blockDim.y + threadIdx.y; r < m; r += step) {
    const long long off = r * c + c0;
    float v[V], res[V];
    load_vec<T, V>(x + off, v);
    if (residual) load_vec<T, V>(residual + off, res);
#pragma unroll
    for (int i = 0; i < V; i++) {
      float o = (v[i] - mean[i]) * scale[i] + b[i];
      if (residual) o += res[i];
      if (relu) o = o < 0.f ? 0.f : o; /* NaN passes, as on the CPU and in torch */
      v[i] = o;
    }
    store_vec<T, V>(y + off, v);
  }
}

/* g = relu ? dy [y > 0] : dy for one vector. */
template <typename T, int V>
__device__ __forceinline__ void masked_grad(const T *dy /* (M,C) */, const T *y /* (M,C) */,
                                            int relu, long long off, float (&g)[V]) {
  load_vec<T, V>(dy + off, g);
  if (!relu) return;
  float yv[V];
  load_vec<T, V>(y + off, yv);
#pragma unroll
  for (int i = 0; i < V; i++)
    if (!(yv[i] > 0.f)) g[i] = 0.f;
}

template <typename T, int V>
__global__ void __launch_bounds__(kThreads)
    bn_bwd_reduce_kernel(const T *__restrict__ dy /* (M,C) */, const T *__restrict__ y /* (M,C) */,
                         const T *__restrict__ x /* (M,C) */,
                         const float *__restrict__ mi /* (2C) */, int relu,
                         T *__restrict__ dres /* (M,C) or NULL */, int dres_acc, long long m,
                         int c, double *__restrict__ part /* (gridDim.y, 2C) */) {
  extern __shared__ double sh[];
  const int cv = blockIdx.x * blockDim.x + threadIdx.x;
  const bool active = cv * V < c;
  const int c0 = cv * V;
  double da[V], db[V];
#pragma unroll
  for (int i = 0; i < V; i++) da[i] = db[i] = 0.0;
  if (active) {
    float mean[V], inv[V];
    load_param<V>(mi, c0, mean);
    load_param<V>(mi, c + c0, inv);
    const long long step = (long long)gridDim.y * blockDim.y;
    for (long long r = (long long)blockIdx.y * blockDim.y + threadIdx.y; r < m; r += step) {
      const long long off = r * c + c0;
      float g[V], xv[V];
      masked_grad<T, V>(dy, y, relu, off, g);
      if (dres) {
        float o[V];
        if (dres_acc) {
          load_vec<T, V>(dres + off, o);
#pragma unroll
          for (int i = 0; i < V; i++) o[i] += g[i];
        } else {
#pragma unroll
          for (int i = 0; i < V; i++) o[i] = g[i];
        }
        store_vec<T, V>(dres + off, o);
      }
      load_vec<T, V>(x + off, xv);
#pragma unroll
      for (int i = 0; i < V; i++) {
        /* the CPU's expression: xhat in fp32, the product and sums in double */
        const float xh = (xv[i] - mean[i]) * inv[i];
        da[i] += (double)g[i];
        db[i] = fma((double)g[i], (double)xh, db[i]);
      }
    }
  }
  block_partials<V>(da, db, active, cv, c, part + (size_t)blockIdx.y * 2 * c, sh);
}

template <typename T, int V>
__global__ void __launch_bounds__(kThreads)
    bn_bwd_apply_kernel(T *__restrict__ dx /* (M,C) */, const T *__restrict__ dy /* (M,C) */,
                        const T *__restrict__ y /* (M,C) */, const T *__restrict__ x /* (M,C) */,
                        const float *__restrict__ mi /* (2C) */,
                        const float *__restrict__ gamma /* (C) */, int relu,
                        const double *__restrict__ stats /* (2C+1) */,
                        const double *__restrict__ sums /* (2C) */, int acc, long long m, int c) {
  const int cv = blockIdx.x * blockDim.x + threadIdx.x;
  if (cv * V >= c) return;
  const int c0 = cv * V;
  const double count = stats[2 * c];
  /* The CPU oracle's expressions: scale = gamma invstd, mean_g = sum_g / M,
   * xhat_gx = (sum_gxhat / M) invstd, dx = scale (g - mean_g - (x - mean) xhat_gx). */
  float mean[V], scale[V], mg[V], mgx[V];
#pragma unroll
  for (int i = 0; i < V; i++) {
    const float inv = mi[c + c0 + i];
    mean[i] = mi[c0 + i];
    scale[i] = gamma[c0 + i] * inv;
    mg[i] = (float)(sums[c0 + i] / count);
    mgx[i] = (float)(sums[c + c0 + i] / count) * inv;
  }
  const long long step = (long long)gridDim.y * blockDim.y;
  for (long long r = (long long)blockIdx.y * blockDim.y + threadIdx.y; r < m; r += step) {
    const long long off = r * c + c0;
    float g[V], xv[V], o[V];
    masked_grad<T, V>(dy, y, relu, off, g);
    load_vec<T, V>(x + off, xv);
    if (acc) load_vec<T, V>(dx + off, o);
#pragma unroll
    for (int i = 0; i < V; i++) {
      const float d = scale[i] * (g[i] - mg[i] - (xv[i] - mean[i]) * mgx[i]);
      o[i] = acc ? o[i] + d : d;
    }
    store_vec<T, V>(dx + off, o);
  }
}

template <typename T, int V>
cudaError_t stats_launch(cudaStream_t s, long long m, int c, const T *x, double *part,
                         double *stats) {
  Geom g = geom(c, V, m, kMaxRowBlocks);
  g.grid.y = part_rows_cap(c, g.grid.x) < g.grid.y ? part_rows_cap(c, g.grid.x) : g.grid.y;
  size_t sh = 2 * sizeof(double) * g.block.x * g.block.y * V;
  bn_stats_kernel<T, V><<<g.grid, g.block, sh, s>>>(x, m, c, part);
  part_final_kernel<<<cuda_blocks_for(c, kThreads, 1 << 20), kThreads, 0, s>>>(
      part, (int)g.grid.y, c, stats, (double)m, nullptr, nullptr);
  return cudaGetLastError();
}

template <typename T, int V>
cudaError_t apply_launch(cudaStream_t s, long long m, int c, T *y, const T *x, const float *mi,
                         const float *gamma, const float *beta, const T *res, int relu) {
  Geom g = geom(c, V, m, kMaxRowBlocks);
  bn_apply_kernel<T, V><<<g.grid, g.block, 0, s>>>(y, x, mi, gamma, beta, res, relu, m, c);
  return cudaGetLastError();
}

template <typename T, int V>
cudaError_t bwd_reduce_launch(cudaStream_t s, long long m, int c, const T *dy, const T *y,
                              const T *x, const float *mi, int relu, T *dres, int dres_acc,
                              float *dgamma, float *dbeta, double *part, double *sums) {
  Geom g = geom(c, V, m, kMaxRowBlocks);
  g.grid.y = part_rows_cap(c, g.grid.x) < g.grid.y ? part_rows_cap(c, g.grid.x) : g.grid.y;
  size_t sh = 2 * sizeof(double) * g.block.x * g.block.y * V;
  bn_bwd_reduce_kernel<T, V><<<g.grid, g.block, sh, s>>>(dy, y, x, mi, relu, dres, dres_acc, m,
                                                         c, part);
  part_final_kernel<<<cuda_blocks_for(c, kThreads, 1 << 20), kThreads, 0, s>>>(
      part, (int)g.grid.y, c, sums, -1.0, dbeta, dgamma);
  return cudaGetLastError();
}

template <typename T, int V>
cudaError_t bwd_apply_launch(cudaStream_t s, long long m, int c, T *dx, const T *dy,
                             const T *y, const T *x, const float *mi, const float *gamma,
                             int relu, const double *stats, const double *sums, int acc) {
  Geom g = geom(c, V, m, kMaxRowBlocks);
  bn_bwd_apply_kernel<T, V><<<g.grid, g.block, 0, s>>>(dx, dy, y, x, mi, gamma, relu, stats,
                                                       sums, acc, m, c);
  return cudaGetLastError();
}

template <typename T> bool use_vec(int c, std::initializer_list<const void *> ptrs) {
  return c % vec16<T>() == 0 && aligned16(ptrs);
}

}  // namespace

extern "C" cudaError_t cuda_bn_stats(cudaStream_t s, CudaDtype dt, long long m, int c,
                                     const void *x, double *part, double *stats) {
  if (c < 1 || 2LL * c > CUDA_BN_PART_DOUBLES) return cudaErrorInvalidValue;
  CUDA_DISPATCH(dt, T, {
    const T *xt = (const T *)x;
    if (use_vec<T>(c, {x})) return stats_launch<T, vec16<T>()>(s, m, c, xt, part, stats);
    return stats_launch<T, 1>(s, m, c, xt, part, stats);
  });
  return cudaErrorInvalidValue;
}

extern "C" cudaError_t cuda_bn_finalize(cudaStream_t s, int c, const double *stats,
                                        float *mean_invstd, float *running_mean,
                                        float *running_var, double momentum, double eps,
                                        int update_running) {
  finalize_kernel<<<cuda_blocks_for(c, kThreads, 1 << 20), kThreads, 0, s>>>(
      c, stats, mean_invstd, running_mean, running_var, momentum, eps, update_running);
  return cudaGetLastError();
}

extern "C" cudaError_t cuda_bn_finalize_eval(cudaStream_t s, int c, const float *running_mean,
                                             const float *running_var, double eps,
                                             float *mean_invstd) {
  finalize_eval_kernel<<<cuda_blocks_for(c, kThreads, 1 << 20), kThreads, 0, s>>>(
      c, running_mean, running_var, eps, mean_invstd);
  return cudaGetLastError();
}

extern "C" cudaError_t cuda_bn_apply(cudaStream_t s, CudaDtype dt, long long m, int c, void *y,
                                     const void *x, const float *mean_invstd,
                                     const float *gamma, const float *beta,
                                     const void *residual, int relu) {
  if (c < 1) return cudaErrorInvalidValue;
  CUDA_DISPATCH(dt, T, {
    T *yt = (T *)y;
    const T *xt = (const T *)x, *rt = (const T *)residual;
    if (use_vec<T>(c, {y, x, residual}))
      return apply_launch<T, vec16<T>()>(s, m, c, yt, xt, mean_invstd, gamma, beta, rt, relu);
    return apply_launch<T, 1>(s, m, c, yt, xt, mean_invstd, gamma, beta, rt, relu);
  });
  return cudaErrorInvalidValue;
}

extern "C" cudaError_t cuda_bn_bwd_reduce(cudaStream_t s, CudaDtype dt, long long m, int c,
                                          const void *dy, const void *y, const void *x,
                                          const float *mean_invstd, int relu, void *dres,
                                          int dres_accumulate, float *dgamma, float *dbeta,
                                          double *part, double *sums) {
  if (c < 1 || 2LL * c > CUDA_BN_PART_DOUBLES || (relu && !y)) return cudaErrorInvalidValue;
  CUDA_DISPATCH(dt, T, {
    const T *dyt = (const T *)dy, *yt = (const T *)y, *xt = (const T *)x;
    T *dr = (T *)dres;
    if (use_vec<T>(c, {dy, y, x, dres}))
      return bwd_reduce_launch<T, vec16<T>()>(s, m, c, dyt, yt, xt, mean_invstd, relu, dr,
                                              dres_accumulate, dgamma, dbeta, part, sums);
    return bwd_reduce_launch<T, 1>(s, m, c, dyt, yt, xt, mean_invstd, relu, dr,
                                   dres_accumulate, dgamma, dbeta, part, sums);
  });
  return cudaErrorInvalidValue;
}

extern "C" cudaError_t cuda_bn_bwd_apply(cudaStream_t s, CudaDtype dt, long long m, int c,
                                         void *dx, const void *dy, const void *y, const void *x,
                                         const float *mean_invstd, const float *gamma, int relu,
                                         const double *fwd_stats, const double *sums,
                                         int accumulate) {
  if (c < 1 || (relu && !y)) return cudaErrorInvalidValue;
  CUDA_DISPATCH(dt, T, {
    T *dxt = (T *)dx;
    const T *dyt = (const T *)dy, *yt = (const T *)y, *xt = (const T *)x;
    if (use_vec<T>(c, {dx, dy, y, x}))
      return bwd_apply_launch<T, vec16<T>()>(s, m, c, dxt, dyt, yt, xt, mean_invstd, gamma,
                                             relu, fwd_stats, sums, accumulate);
    return bwd_apply_launch<T, 1>(s, m, c, dxt, dyt, yt, xt, mean_invstd, gamma, relu,
                                  fwd_stats, sums, accumulate);
  });
  return cudaErrorInvalidValue;
}
