/* cuda_device.cuh - device helpers shared by the backend's .cu files.
 *
 * Type conversions (every kernel computes in fp32 and converts at load and
 * store, round-to-nearest-even), aligned vector loads of V elements (16 bytes
 * when V * sizeof(T) == 16), warp / block sums, and the dispatch from a
 * runtime CudaDtype to a template instance.  Included only by .cu files.
 *
 * Invariant of the vector helpers: a caller uses V > 1 only when the pointer
 * is 16-byte aligned and the element index is a multiple of V
 * (cuda_vec_ok() on the host decides).
 */
#ifndef RD_BACKEND_CUDA_CUDA_DEVICE_CUH
#define RD_BACKEND_CUDA_CUDA_DEVICE_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <math.h>
#include <stdint.h>

#include "backend/cuda/cuda_dtype.h"

typedef __nv_bfloat16 bf16;
typedef __half f16;

/* ---- scalar conversions ------------------------------------------------- */
__device__ __forceinline__ float to_f(float v) { return v; }
__device__ __forceinline__ float to_f(bf16 v) { return __bfloat162float(v); }
__device__ __forceinline__ float to_f(f16 v) { return __half2float(v); }

template <typename T> __device__ __forceinline__ T from_f(float v);
template <> __device__ __forceinline__ float from_f<float>(float v) { return v; }
template <> __device__ __forceinline__ bf16 from_f<bf16>(float v) { return __float2bfloat16_rn(v); }
template <> __device__ __forceinline__ f16 from_f<f16>(float v) { return __float2half_rn(v); }

/* ---- vectors of V elements ---------------------------------------------- */
template <typename T, int V> struct alignas(sizeof(T) * V) Pack { T v[V]; };

template <typename T, int V>
__device__ __forceinline__ void load_vec(const T *p, float (&out)[V]) {
  Pack<T, V> pk = *reinterpret_cast<const Pack<T, V> *>(p);
#pragma unroll
  for (int i = 0; i < V; i++) out[i] = to_f(pk.v[i]);
}

template <typename T, int V>
__device__ __forceinline__ void store_vec(T *p, const float (&in)[V]) {
  Pack<T, V> pk;
#pragma unroll
  for (int i = 0; i < V; i++) pk.v[i] = from_f<T>(in[i]);
  *reinterpret_cast<Pack<T, V> *>(p) = pk;
}

/* Elements per 16-byte vector for T. */
template <typename T> constexpr int vec16() { return (int)(16 / sizeof(T)); }

/* ---- reductions ----------------------------------------------------------- */
template <typename A> __device__ __forceinline__ A warp_sum(A v) {
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
  return v;
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, off));
  return v;
}

/* Sum over a 1-D block of blockDim.x threads (a multiple of 32, <= 1024);
 * every thread gets the result.  `sh` holds 32 values of A. */
template <typename A> __device__ A block_sum(A v, A *sh) {
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, n_warps = blockDim.x >> 5;
  v = warp_sum(v);
  __syncthreads(); /* sh may still be read by a previous call */
  if (lane == 0) sh[warp] = v;
  __syncthreads();
  A t = lane < n_warps ? sh[lane] : (A)0;
  return warp_sum(t);
}

__device__ __forceinline__ float block_max(float v, float *sh) {
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, n_warps = blockDim.x >> 5;
  v = warp_max(v);
  __syncthreads();
  if (lane == 0) sh[warp] = v;
  __syncthreads();
  float t = lane < n_warps ? sh[lane] : -INFINITY;
  return warp_max(t);
}

/* ---- launch helpers ------------------------------------------------------- */
/* for (i over [0, n)) in a grid-stride loop with 64-bit indices. */
#define GRID_STRIDE(i, n)                                                       \
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (n); \
       i += (long long)gridDim.x * blockDim.x)

static inline unsigned cuda_blocks_for(long long n, int threads, long long max_blocks) {
  long long b = (n + threads - 1) / threads;
  if (b < 1) b = 1;
  if (b > max_blocks) b = max_blocks;
  return (unsigned)b;
}

/* Runs the statements (the variadic part) with T bound to the C type of
 * `dt`; an unknown dt returns cudaErrorInvalidValue from the caller. */
#define CUDA_DISPATCH(dt, T, ...)                                \
  switch (dt) {                                                  \
  case CUDA_DT_F32: { typedef float T; __VA_ARGS__ } break;      \
  case CUDA_DT_BF16: { typedef bf16 T; __VA_ARGS__ } break;      \
  case CUDA_DT_F16: { typedef f16 T; __VA_ARGS__ } break;        \
  default: return cudaErrorInvalidValue;                         \
  }

#endif
