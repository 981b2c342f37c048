/* cuda_ctx.c - the CUDA context; see cuda_ctx.h. */
#include "backend/cuda/cuda_ctx.h"

#include <stdint.h>
#include <string.h>

#include "backend/cuda/cuda_bn.h"
#include "config/config.h"
#include "core/check_cuda.h"
#include "core/log.h"
#include "core/mem.h"

enum { MIB = 1 << 20 };

static CudaDtype act_dtype(int precision) {
  switch (precision) {
  case PREC_BF16: return CUDA_DT_BF16;
  case PREC_FP16: return CUDA_DT_F16;
  case PREC_FP32:
  case PREC_FP32_STRICT: return CUDA_DT_F32;
  default: FATAL("unknown precision id %d", precision);
  }
}

static size_t free_device_bytes(void) {
  size_t free_b = 0, total_b = 0;
  if (cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) (void)cudaGetLastError();
  return free_b;
}

void *cuda_ctx_device_alloc(size_t n_bytes, const char *what) {
  void *p = NULL;
  cudaError_t rc = cudaMalloc(&p, n_bytes ? n_bytes : 1);
  if (rc == cudaErrorMemoryAllocation) {
    (void)cudaGetLastError();
    FATAL("out of GPU memory allocating %zu MiB for %s (%zu MiB free)", n_bytes / MIB, what,
          free_device_bytes() / MIB);
  }
  CUDA_CHECK(rc);
  return p;
}

/* Keeps freed pool memory for reuse instead of returning it at each sync. */
static void keep_pool_memory(int device) {
  int supported = 0;
  CUDA_CHECK(cudaDeviceGetAttribute(&supported, cudaDevAttrMemoryPoolsSupported, device));
  if (!supported) FATAL("CUDA device %d has no stream-ordered memory pools", device);
  cudaMemPool_t pool;
  CUDA_CHECK(cudaDeviceGetDefaultMemPool(&pool, device));
  uint64_t threshold = UINT64_MAX;
  CUDA_CHECK(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &threshold));
}

static void check_device(int device) {
  int n = backend_cuda_device_count();
  if (device < 0 || device >= n)
    core_user_error("CUDA device %d requested but %d visible (check CUDA_VISIBLE_DEVICES and "
                    "the number of ranks per node)",
                    device, n);
  int major = 0;
  CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device));
  if (major < 8)
    core_user_error("CUDA device %d has compute capability %d.x; this build needs 8.0 or newer "
                    "(bf16 kernels; CMAKE_CUDA_ARCHITECTURES 80 90)",
                    device, major);
}

static void log_device(const CudaCtx *ctx) {
  struct cudaDeviceProp prop;
  CUDA_CHECK(cudaGetDeviceProperties(&prop, ctx->device));
  log_info("cuda: device %d %s (sm_%d%d, %.1f GiB), cuDNN %zu, precision %s, workspace %zu MiB",
           ctx->device, prop.name, prop.major, prop.minor,
           (double)prop.totalGlobalMem / (1024.0 * MIB), cudnnGetVersion(),
           config_precision_name(ctx->precision), ctx->workspace_bytes / MIB);
}

CudaCtx *cuda_ctx_create(const CudaBackendOptions *opt) {
  check_device(opt->device);
  CudaCtx *ctx = mem_calloc_or_die(1, sizeof *ctx, "CUDA context");
  ctx->device = opt->device;
  ctx->precision = opt->precision;
  ctx->act = act_dtype(opt->precision);
  ctx->conv_algo_heuristic = opt->conv_algo_heuristic;
  CUDA_CHECK(cudaSetDevice(ctx->device));
  CUDA_CHECK(cudaStreamCreateWithFlags(&ctx->compute, cudaStreamNonBlocking));
  CUDA_CHECK(cudaStreamCreateWithFlags(&ctx->copy, cudaStreamNonBlocking));
  CUDNN_CHECK(cudnnCreate(&ctx->dnn));
  CUDNN_CHECK(cudnnSetStream(ctx->dnn, ctx->compute));
  CUBLAS_CHECK(cublasLtCreate(&ctx->lt));
  ctx->workspace_bytes =
      opt->workspace_bytes ? opt->workspace_bytes : (size_t)CUDA_DEFAULT_WORKSPACE_MIB * MIB;
  ctx->workspace = cuda_ctx_device_alloc(ctx->workspace_bytes, "the cuDNN workspace");
  ctx->bn_part =
      cuda_ctx_device_alloc(sizeof(double) * CUDA_BN_PART_DOUBLES, "batch-norm reduction scratch");
  CUDA_CHECK(cudaEventCreateWithFlags(&ctx->stage_loaded, cudaEventDisableTiming));
  CUDA_CHECK(cudaEventCreateWithFlags(&ctx->stage_free, cudaEventDisableTiming));
  CUDA_CHECK(cudaEventCreateWithFlags(&ctx->labels_copied, cudaEventDisableTiming));
  keep_pool_memory(ctx->device);
  log_device(ctx);
  return ctx;
}

void cuda_ctx_destroy(CudaCtx *ctx) {
  if (!ctx) return;
  cuda_ctx_bind(ctx);
  CUDA_CHECK(cudaDeviceSynchronize());
  cudaMemPool_t pool;
  CUDA_CHECK(cudaDeviceGetDefaultMemPool(&pool, ctx->device));
  CUDA_CHECK(cudaMemPoolTrimTo(pool, 0)); /* give the temporaries' memory back */
  CUDA_CHECK(cudaFree(ctx->workspace));
  CUDA_CHECK(cudaFree(ctx->bn_part));
  CUDA_CHECK(cudaFree(ctx->stage_u8));
  if (ctx->labels_host) CUDA_CHECK(cudaFreeHost(ctx->labels_host));
  if (ctx->host_buf) CUDA_CHECK(cudaFreeHost(ctx->host_buf));
  CUDA_CHECK(cudaEventDestroy(ctx->stage_loaded));
  CUDA_CHECK(cudaEventDestroy(ctx->stage_free));
  CUDA_CHECK(cudaEventDestroy(ctx->labels_copied));
  CUBLAS_CHECK(cublasLtDestroy(ctx->lt));
  CUDNN_CHECK(cudnnDestroy(ctx->dnn));
  CUDA_CHECK(cudaStreamDestroy(ctx->compute));
  CUDA_CHECK(cudaStreamDestroy(ctx->copy));
  mem_free(ctx);
}

void cuda_ctx_bind(const CudaCtx *ctx) { CUDA_CHECK(cudaSetDevice(ctx->device)); }

void *cuda_ctx_tmp_alloc(CudaCtx *ctx, size_t n_bytes, const char *what) {
  void *p = NULL;
  cudaError_t rc = cudaMallocAsync(&p, n_bytes ? n_bytes : 16, ctx->compute);
  if (rc == cudaErrorMemoryAllocation) {
    (void)cudaGetLastError();
    FATAL("out of GPU memory allocating %zu bytes for %s (%zu MiB free)", n_bytes, what,
          free_device_bytes() / MIB);
  }
  CUDA_CHECK(rc);
  return p;
}

void cuda_ctx_tmp_free(CudaCtx *ctx, void *ptr) {
  if (ptr) CUDA_CHECK(cudaFreeAsync(ptr, ctx->compute));
}

void *cuda_ctx_host_buf(CudaCtx *ctx, size_t n_bytes) {
  if (n_bytes <= ctx->host_buf_bytes) return ctx->host_buf;
  CUDA_CHECK(cudaStreamSynchronize(ctx->compute));
  if (ctx->host_buf) CUDA_CHECK(cudaFreeHost(ctx->host_buf));
  size_t cap = n_bytes < 4096 ? 4096 : n_bytes;
  CUDA_CHECK(cudaMallocHost(&ctx->host_buf, cap));
  ctx->host_buf_bytes = cap;
  return ctx->host_buf;
}

const void *cuda_ctx_read_back(CudaCtx *ctx, const void *src, size_t n_bytes) {
  void *host = cuda_ctx_host_buf(ctx, n_bytes);
  CUDA_CHECK(cudaMemcpyAsync(host, src, n_bytes, cudaMemcpyDeviceToHost, ctx->compute));
  CUDA_CHECK(cudaStreamSynchronize(ctx->compute));
  return host;
}
