/* cuda_tensor.cu - layout, cast, input, pooling and shortcut kernels; see
 * cuda_tensor.h.  Elementwise kernels use one thread per output element in
 * a grid-stride loop (indices in 64 bits); the output index is decomposed
 * in the output's own layout so stores are coalesced.
 */
#include "backend/cuda/cuda_device.cuh"
#include "backend/cuda/cuda_tensor.h"

namespace {

constexpr int kThreads = 256;
constexpr long long kMaxBlocks = 65536;
constexpr long long kInputBlocks = 2048; /* each block first copies the 3 KiB table */

template <typename T>
__global__ void cast_from_f32_kernel(T *__restrict__ dst /* (n) */,
                                     const float *__restrict__ src /* (n) */, long long n) {
  GRID_STRIDE(i, n) dst[i] = from_f<T>(src[i]);
}

/* Coordinates of element i of an (N,H,W,C) tensor. */
struct Nhwc {
  long long n;
  int h, w, c;
};

__device__ __forceinline__ Nhwc nhwc_at(long long i, int h, int w, int c) {
  Nhwc e;
  e.c = (int)(i % c);
  i /= c;
  e.w = (int)(i % w);
  i /= w;
  e.h = (int)(i % h);
  e.n = i / h;
  return e;
}

template <typename Ti, typename To>
__global__ void nchw_to_nhwc_kernel(To *__restrict__ dst /* (N,H,W,C) */,
                                    const Ti *__restrict__ src /* (N,C,H,W) */, int c, int h,
                                    int w, long long total) {
  GRID_STRIDE(i, total) {
    const Nhwc e = nhwc_at(i, h, w, c);
    dst[i] = from_f<To>(to_f(src[((e.n * c + e.c) * h + e.h) * w + e.w]));
  }
}

template <typename Ti, typename To>
__global__ void nhwc_to_nchw_kernel(To *__restrict__ dst /* (N,C,H,W) */,
                                    const Ti *__restrict__ src /* (N,H,W,C) */, int c, int h,
                                    int w, long long total) {
  GRID_STRIDE(i, total) {
    long long t = i;
    const int wi = (int)(t % w);
    t /= w;
    const int hi = (int)(t % h);
    t /= h;
    const int ci = (int)(t % c);
    const long long ni = t / c;
    dst[i] = from_f<To>(to_f(src[((ni * h + hi) * w + wi) * c + ci]));
  }
}

/* The table goes to shared memory first: indexing the kernel parameter with
 * per-thread values would serialise the warp on the constant cache. */
template <typename T>
__global__ void input_u8_kernel(T *__restrict__ x /* (N,H,W,3) */,
                                const uint8_t *__restrict__ src /* (N,H,W,3) */,
                                CudaNormalize norm, long long total) {
  __shared__ float table[3][256];
  for (int j = threadIdx.x; j < 3 * 256; j += blockDim.x)
    table[j / 256][j % 256] = norm.value[j / 256][j % 256];
  __syncthreads();
  GRID_STRIDE(i, total) x[i] = from_f<T>(table[i % 3][src[i]]);
}

struct PoolGeom {
  int c, h, w, r, stride, pad, p, q;
};

template <typename T>
__global__ void maxpool_fwd_kernel(T *__restrict__ y /* (N,P,Q,C) */,
                                   const T *__restrict__ x /* (N,H,W,C) */, PoolGeom g,
                                   long long total) {
  GRID_STRIDE(i, total) {
    const Nhwc e = nhwc_at(i, g.p, g.q, g.c);
    const int ci = e.c, qi = e.w, pi = e.h;
    const long long ni = e.n;
    const int h0 = pi * g.stride - g.pad, w0 = qi * g.stride - g.pad;
    float best = -INFINITY;
    for (int kh = 0; kh < g.r; kh++) {
      const int hh = h0 + kh;
      if (hh < 0 || hh >= g.h) continue;
      for (int kw = 0; kw < g.r; kw++) {
        const int ww = w0 + kw;
        if (ww < 0 || ww >= g.w) continue;
        const float v = to_f(x[((ni * g.h + hh) * g.w + ww) * g.c + ci]);
        if (v > best || isnan(v)) best = v;
      }
    }
    y[i] = from_f<T>(best);
  }
}

/* hh * W + ww of the maximum of output (pi, qi)'s window, chosen exactly as
 * the CPU oracle does (row-major scan from -inf, replaced when strictly
 * greater or NaN: the first maximum, or the last NaN). */
template <typename T>
__device__ int window_argmax(const T *xn /* (H,W,C) */, const PoolGeom &g, int ci, int pi,
                             int qi) {
  int h0 = pi * g.stride - g.pad, w0 = qi * g.stride - g.pad;
  const int h1 = min(h0 + g.r, g.h), w1 = min(w0 + g.r, g.w);
  h0 = max(h0, 0);
  w0 = max(w0, 0);
  int best = h0 * g.w + w0;
  float best_v = -INFINITY;
  for (int hh = h0; hh < h1; hh++) {
    for (int ww = w0; ww < w1; ww++) {
      const float v = to_f(xn[((long long)hh * g.w + ww) * g.c + ci]);
      if (v > best_v || isnan(v)) {
        best_v = v;
        best = hh * g.w + ww;
      }
    }
  }
  return best;
}

/* First output index o with o * stride - pad + r - 1 >= i (window reaches i). */
__device__ __forceinline__ int first_window(int i, int r, int stride, int pad) {
  const int num = i + pad - r + 1;
  return num <= 0 ? 0 : (num + stride - 1) / stride;
}

template <typename T>
__global__ void maxpool_bwd_kernel(T *__restrict__ dx /* (N,H,W,C) */,
                                   const T *__restrict__ dy /* (N,P,Q,C) */,
                                   const T *__restrict__ x /* (N,H,W,C) */,
                                   const T *__restrict__ y /* (N,P,Q,C) */, PoolGeom g,
                                   long long total) {
  GRID_STRIDE(i, total) {
    const Nhwc e = nhwc_at(i, g.h, g.w, g.c);
    const int ci = e.c, wi = e.w, hi = e.h;
    const long long ni = e.n;
    const float xv = to_f(x[i]);
    const T *xn = x + ni * g.h * g.w * g.c;
    const int p_lo = first_window(hi, g.r, g.stride, g.pad);
    const int q_lo = first_window(wi, g.r, g.stride, g.pad);
    const int p_hi = min((hi + g.pad) / g.stride, g.p - 1);
    const int q_hi = min((wi + g.pad) / g.stride, g.q - 1);
    float acc = 0.f;
    for (int pi = p_lo; pi <= p_hi; pi++) {
      for (int qi = q_lo; qi <= q_hi; qi++) {
        const long long o = ((ni * g.p + pi) * g.q + qi) * g.c + ci;
        /* y[o] is the window's maximum: only an input equal to it (or a NaN)
         * can be the argmax, so the window is rescanned only then */
        if (!(xv == to_f(y[o]) || isnan(xv))) continue;
        if (window_argmax(xn, g, ci, pi, qi) == hi * g.w + wi) acc += to_f(dy[o]);
      }
    }
    dx[i] = from_f<T>(acc);
  }
}

template <typename T>
__global__ void avgpool_fwd_kernel(T *__restrict__ y /* (N,C) */,
                                   const T *__restrict__ x /* (N,H,W,C) */, int c, int hw,
                                   long long total) {
  GRID_STRIDE(i, total) {
    const long long ni = i / c;
    const int ci = (int)(i % c);
    const T *xn = x + ni * hw * c + ci;
    double sum = 0.0;
    for (int j = 0; j < hw; j++) sum += to_f(xn[(long long)j * c]);
    y[i] = from_f<T>((float)(sum / (double)hw));
  }
}

template <typename T>
__global__ void avgpool_bwd_kernel(T *__restrict__ dx /* (N,H,W,C) */,
                                   const T *__restrict__ dy /* (N,C) */, int c, int hw,
                                   long long total) {
  GRID_STRIDE(i, total) {
    const int ci = (int)(i % c);
    const long long ni = i / ((long long)hw * c);
    dx[i] = from_f<T>((float)((double)to_f(dy[ni * c + ci]) / (double)hw));
  }
}

struct PadGeom {
  int c_in, h, w, c_out, stride, ho, wo, off;
};

template <typename T>
__global__ void shortcut_fwd_kernel(T *__restrict__ y /* (N,Ho,Wo,Cout) */,
                                    const T *__restrict__ x /* (N,H,W,Cin) */, PadGeom g,
                                    long long total) {
  GRID_STRIDE(i, total) {
    const Nhwc e = nhwc_at(i, g.ho, g.wo, g.c_out);
    const int co = e.c, wo = e.w, ho = e.h;
    const long long ni = e.n;
    const int ci = co - g.off;
    float v = 0.f;
    if (ci >= 0 && ci < g.c_in)
      v = to_f(x[((ni * g.h + (long long)ho * g.stride) * g.w + (long long)wo * g.stride) * g.c_in +
                 ci]);
    y[i] = from_f<T>(v);
  }
}

template <typename T>
__global__ void shortcut_bwd_kernel(T *__restrict__ dx /* (N,H,W,Cin) */,
                                    const T *__restrict__ dy /* (N,Ho,Wo,Cout) */, PadGeom g,
                                    int acc, long long total) {
  GRID_STRIDE(i, total) {
    const Nhwc e = nhwc_at(i, g.h, g.w, g.c_in);
    const int ci = e.c, wi = e.w, hi = e.h;
    const long long ni = e.n;
    float v = 0.f;
    if (hi % g.stride == 0 && wi % g.stride == 0)
      v = to_f(dy[((ni * g.ho + hi / g.stride) * g.wo + wi / g.stride) * g.c_out + ci + g.off]);
    if (acc) v += to_f(dx[i]);
    dx[i] = from_f<T>(v);
  }
}

template <typename T>
__global__ void bias_add_kernel(T *y /* (N,O) */, const float *acc /* (N,O), may be y */,
                                const float *__restrict__ b /* (O) */, int o, long long total) {
  GRID_STRIDE(i, total) y[i] = from_f<T>(acc[i] + b[i % o]);
}

template <typename T>
__global__ void col_sum_kernel(float *__restrict__ db /* (O) */,
                               const T *__restrict__ dy /* (N,O) */, int n, int o) {
  const int col = blockIdx.x * blockDim.x + threadIdx.x;
  if (col >= o) return;
  double sum = 0.0;
  for (int r = 0; r < n; r++) sum += to_f(dy[(long long)r * o + col]);
  db[col] = (float)sum;
}

unsigned blocks(long long n) { return cuda_blocks_for(n, kThreads, kMaxBlocks); }

/* The CPU oracle's precondition: a window never lies in the padding alone. */
bool pool_ok(int h, int w, int r, int stride, int pad) {
  return r > 0 && stride > 0 && pad >= 0 && 2 * pad <= r && h + 2 * pad >= r &&
         w + 2 * pad >= r;
}

PoolGeom pool_geom(int c, int h, int w, int r, int stride, int pad) {
  PoolGeom g;
  g.c = c, g.h = h, g.w = w, g.r = r, g.stride = stride, g.pad = pad;
  g.p = (h + 2 * pad - r) / stride + 1;
  g.q = (w + 2 * pad - r) / stride + 1;
  return g;
}

PadGeom pad_geom(int c_in, int h, int w, int c_out, int stride) {
  PadGeom g;
  g.c_in = c_in, g.h = h, g.w = w, g.c_out = c_out, g.stride = stride;
  g.ho = (h + stride - 1) / stride;
  g.wo = (w + stride - 1) / stride;
  g.off = (c_out - c_in) / 2;
  return g;
}

}  // namespace

extern "C" cudaError_t cuda_cast_from_f32(cudaStream_t s, CudaDtype dt, void *dst,
                                          const float *src, size_t n_elems) {
  const long long n = (long long)n_elems;
  if (n == 0) return cudaSuccess;
  CUDA_DISPATCH(dt, T, {
    cast_from_f32_kernel<T><<<blocks(n), kThreads, 0, s>>>((T *)dst, src, n);
  });
  return cudaGetLastError();
}

extern "C" cudaError_t cuda_nchw_to_nhwc(cudaStream_t s, CudaDtype dt_in, CudaDtype dt_out,
                                         void *dst, const void *src, int n, int c, int h,
                                         int w) {
  const long long total = (long long)n * c * h * w;
  if (total == 0) return cudaSuccess;
  CUDA_DISPATCH(dt_in, Ti, {
    CUDA_DISPATCH(dt_out, To, {
      nchw_to_nhwc_kernel<Ti, To><<<blocks(total), kThreads, 0, s>>>((To *)dst, (const Ti *)src,
                                                                    c, h, w, total);
    });
  });
  return cudaGetLastError();
}

extern "C" cudaError_t cuda_nhwc_to_nchw(cudaStream_t s, CudaDtype dt_in, CudaDtype dt_out,
                                         void *dst, const void *src, int n, int c, int h,
                                         int w) {
  const long long total = (long long)n * c * h * w;
  if (total == 0) return cudaSuccess;
  CUDA_DISPATCH(dt_in, Ti, {
    CUDA_DISPATCH(dt_out, To, {
      nhwc_to_nchw_kernel<Ti, To><<<blocks(total), kThreads, 0, s>>>((To *)dst, (const Ti *)src,
                                                                    c, h, w, total);
    });
  });
  return cudaGetLastError();
}

extern "C" cudaError_t cuda_input_u8(cudaStream_t s, CudaDtype dt, void *x, const uint8_t *src,
                                     int n, int h, int w, CudaNormalize norm) {
  const long long total = (long long)n * h * w * 3;
  if (total == 0) return cudaSuccess;
  CUDA_DISPATCH(dt, T, {
    input_u8_kernel<T><<<cuda_blocks_for(total, kThreads, kInputBlocks), kThreads, 0, s>>>(
        (T *)x, src, norm, total);
  });
  return cudaGetLastError();
}

extern "C" cudaError_t cuda_maxpool_fwd(cudaStream_t s, CudaDtype dt, int n, int c, int h, int w,
                                        int r, int stride, int pad, void *y, const void *x) {
  if (!pool_ok(h, w, r, stride, pad)) return cudaErrorInvalidValue;
  const PoolGeom g = pool_geom(c, h, w, r, stride, pad);
  const long long total = (long long)n * g.p * g.q * c;
  CUDA_DISPATCH(dt, T, {
    maxpool_fwd_kernel<T><<<blocks(total), kThreads, 0, s>>>((T *)y, (const T *)x, g, total);
  });
  return cudaGetLastError();
}

extern "C" cudaError_t cuda_maxpool_bwd(cudaStream_t s, CudaDtype dt, int n, int c, int h, int w,
                                        int r, int stride, int pad, void *dx, const void *dy,
                                        const void *x, const void *y) {
  if (!pool_ok(h, w, r, stride, pad)) return cudaErrorInvalidValue;
  const PoolGeom g = pool_geom(c, h, w, r, stride, pad);
  const long long total = (long long)n * h * w * c;
  CUDA_DISPATCH(dt, T, {
    maxpool_bwd_kernel<T><<<blocks(total), kThreads, 0, s>>>((T *)dx, (const T *)dy,
                                                             (const T *)x, (const T *)y, g, total);
  });
  return cudaGetLastError();
}

extern "C" cudaError_t cuda_avgpool_fwd(cudaStream_t s, CudaDtype dt, int n, int c, int h, int w,
                                        void *y, const void *x) {
  const long long total = (long long)n * c;
  CUDA_DISPATCH(dt, T, {
    avgpool_fwd_kernel<T><<<blocks(total), kThreads, 0, s>>>((T *)y, (const T *)x, c, h * w,
                                                             total);
  });
  return cudaGetLastError();
}

extern "C" cudaError_t cuda_avgpool_bwd(cudaStream_t s, CudaDtype dt, int n, int c, int h, int w,
                                        void *dx, const void *dy) {
  const long long total = (long long)n * h * w * c;
  CUDA_DISPATCH(dt, T, {
    avgpool_bwd_kernel<T><<<blocks(total), kThreads, 0, s>>>((T *)dx, (const T *)dy, c, h * w,
                                                             total);
  });
  return cudaGetLastError();
}

extern "C" cudaError_t cuda_shortcut_pad_fwd(cudaStream_t s, CudaDtype dt, int n, int c_in,
                                             int h, int w, int c_out, int stride, void *y,
                                             const void *x) {
  if (stride < 1 || c_out < c_in) return cudaErrorInvalidValue;
  const PadGeom g = pad_geom(c_in, h, w, c_out, stride);
  const long long total = (long long)n * g.ho * g.wo * c_out;
  CUDA_DISPATCH(dt, T, {
    shortcut_fwd_kernel<T><<<blocks(total), kThreads, 0, s>>>((T *)y, (const T *)x, g, total);
  });
  return cudaGetLastError();
}

extern "C" cudaError_t cuda_shortcut_pad_bwd(cudaStream_t s, CudaDtype dt, int n, int c_in,
                                             int h, int w, int c_out, int stride, void *dx,
                                             const void *dy, int accumulate) {
  if (stride < 1 || c_out < c_in) return cudaErrorInvalidValue;
  const PadGeom g = pad_geom(c_in, h, w, c_out, stride);
  const long long total = (long long)n * h * w * c_in;
  CUDA_DISPATCH(dt, T, {
    shortcut_bwd_kernel<T><<<blocks(total), kThreads, 0, s>>>((T *)dx, (const T *)dy, g,
                                                              accumulate, total);
  });
  return cudaGetLastError();
}

extern "C" cudaError_t cuda_bias_add(cudaStream_t s, CudaDtype dt, int n, int o, void *y,
                                     const float *acc, const float *b) {
  const long long total = (long long)n * o;
  CUDA_DISPATCH(dt, T, {
    bias_add_kernel<T><<<blocks(total), kThreads, 0, s>>>((T *)y, acc, b, o, total);
  });
  return cudaGetLastError();
}

extern "C" cudaError_t cuda_col_sum(cudaStream_t s, CudaDtype dt, int n, int o, float *db,
                                    const void *dy) {
  CUDA_DISPATCH(dt, T, {
    col_sum_kernel<T><<<cuda_blocks_for(o, kThreads, 1 << 20), kThreads, 0, s>>>(db, (const T *)dy,
                                                                              n, o);
  });
  return cudaGetLastError();
}
