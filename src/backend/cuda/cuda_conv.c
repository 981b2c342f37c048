/* cuda_conv.c - cuDNN convolutions; see cuda_conv.h.
 *
 * Algorithm cache: one ConvAlgoEntry per (shape, dtype, precision), owned by
 * the context; a plan refers to its entry by index, so an import of rank 0's
 * choices reaches plans made earlier.  The entry is also the record of the
 * export blob (fixed-width fields only).
 */
#include "backend/cuda/cuda_conv.h"

#include <stdint.h>
#include <string.h>

#include "backend/cuda/cuda_tensor.h"
#include "config/config.h"
#include "core/check_cuda.h"
#include "core/log.h"
#include "core/mem.h"

enum { DIR_FWD = 0, DIR_BWD_DATA = 1, DIR_BWD_FILTER = 2, N_DIRS = 3 };
enum { MAX_PERF = 8, BLOB_VERSION = 1, ALIGN_BYTES = 16 };
_Static_assert((int)CUDNN_CONVOLUTION_FWD_ALGO_COUNT <= (int)MAX_PERF &&
                   (int)CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT <= (int)MAX_PERF &&
                   (int)CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT <= (int)MAX_PERF,
               "Perf arrays hold every algorithm cuDNN can report");

static const char *const DIR_NAMES[N_DIRS] = {"forward", "backward-data", "backward-filter"};
static const char BLOB_MAGIC[8] = {'R', 'D', 'C', 'O', 'N', 'V', 'A', '1'};

typedef struct {
  int32_t n, c, h, w, k, r, stride, pad, p, q; /* ConvShape */
  int32_t dtype, precision;
  int32_t algo[N_DIRS];
  int32_t math[N_DIRS];
  uint64_t ws_bytes[N_DIRS];
} ConvAlgoEntry;
_Static_assert(sizeof(ConvAlgoEntry) == 18 * 4 + 3 * 8,
               "ConvAlgoEntry is a blob record: no padding");

typedef struct {
  char magic[8];
  uint32_t version, n_entries, entry_bytes, reserved;
} BlobHeader;

struct CudaConvCache {
  ConvAlgoEntry *e;
  int n, cap;
};

typedef struct {
  ConvShape s;
  cudnnTensorDescriptor_t x, y;     /* (N,C,H,W), (N,K,P,Q) NHWC */
  cudnnFilterDescriptor_t w;        /* (K,C,R,R) stored (K,R,R,C) */
  cudnnConvolutionDescriptor_t conv[N_DIRS];
  cudnnMathType_t math_set[N_DIRS]; /* math type now on conv[d] */
  int entry;                        /* index into ctx->conv_cache */
} ConvPlan;

/* One measured / proposed algorithm, whatever the direction. */
typedef struct {
  int algo;
  cudnnStatus_t status;
  size_t memory;
  cudnnMathType_t math;
} Perf;

/* Device buffers for cudnnFind*Ex: x (N,C,H,W), y (N,K,P,Q), w (K,R,R,C). */
typedef struct {
  void *x, *y, *w;
} FindBufs;

static cudnnDataType_t dnn_type(CudaDtype dt) {
  switch (dt) {
  case CUDA_DT_BF16: return CUDNN_DATA_BFLOAT16;
  case CUDA_DT_F16: return CUDNN_DATA_HALF;
  default: return CUDNN_DATA_FLOAT;
  }
}

static cudnnMathType_t base_math(int precision) {
  switch (precision) {
  case PREC_FP32: return CUDNN_DEFAULT_MATH; /* TF32 allowed */
  case PREC_FP32_STRICT: return CUDNN_FMA_MATH;
  default: return CUDNN_TENSOR_OP_MATH;
  }
}

/* Acceptable math type of a measured algorithm: never a down-conversion;
 * fp32-strict only FMA kernels (its descriptor is always set to FMA). */
static int math_ok(int precision, cudnnMathType_t m) {
  if (m == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION) return 0;
  if (precision == PREC_FP32_STRICT) return m != CUDNN_TENSOR_OP_MATH;
  return 1;
}

static void shape_text(const ConvShape *s, char *buf, size_t n) {
  snprintf(buf, n, "%dx%dx%dx%d -> %d, %dx%d/%d pad %d", s->n, s->c, s->h, s->w, s->k, s->r, s->r,
           s->stride, s->pad);
}

/* ---- cache ----------------------------------------------------------------- */

static void entry_key(ConvAlgoEntry *e, const ConvShape *s, const CudaCtx *ctx) {
  memset(e, 0, sizeof *e);
  e->n = s->n, e->c = s->c, e->h = s->h, e->w = s->w, e->k = s->k, e->r = s->r;
  e->stride = s->stride, e->pad = s->pad, e->p = s->p, e->q = s->q;
  e->dtype = (int32_t)ctx->act;
  e->precision = ctx->precision;
}

static int same_key(const ConvAlgoEntry *a, const ConvAlgoEntry *b) {
  return a->n == b->n && a->c == b->c && a->h == b->h && a->w == b->w && a->k == b->k &&
         a->r == b->r && a->stride == b->stride && a->pad == b->pad && a->p == b->p &&
         a->q == b->q && a->dtype == b->dtype && a->precision == b->precision;
}

static CudaConvCache *cache_of(CudaCtx *ctx) {
  if (!ctx->conv_cache)
    ctx->conv_cache = mem_calloc_or_die(1, sizeof *ctx->conv_cache, "conv cache");
  return ctx->conv_cache;
}

static int cache_find(CudaCtx *ctx, const ConvAlgoEntry *key) {
  CudaConvCache *cc = cache_of(ctx);
  for (int i = 0; i < cc->n; i++)
    if (same_key(&cc->e[i], key)) return i;
  return -1;
}

static int cache_put(CudaCtx *ctx, const ConvAlgoEntry *e) {
  CudaConvCache *cc = cache_of(ctx);
  int i = cache_find(ctx, e);
  if (i >= 0) {
    cc->e[i] = *e;
    return i;
  }
  if (cc->n == cc->cap) {
    cc->cap = cc->cap ? 2 * cc->cap : 32;
    cc->e = mem_realloc_or_die(cc->e, (size_t)cc->cap * sizeof *cc->e, "conv cache");
  }
  cc->e[cc->n] = *e;
  return cc->n++;
}

void cuda_conv_cache_destroy(CudaCtx *ctx) {
  if (!ctx->conv_cache) return;
  mem_free(ctx->conv_cache->e);
  mem_free(ctx->conv_cache);
  ctx->conv_cache = NULL;
}

/* ---- choosing algorithms ---------------------------------------------------- */

static size_t act_bytes(const CudaCtx *ctx, long long n_elems) {
  return (size_t)n_elems * (size_t)cuda_dtype_bytes(ctx->act);
}

/* Stream-ordered scratch on the compute stream (the stream cuDNN's Find runs
 * on), taken from the pool that already holds the freed temporaries; NULL
 * when it does not fit (not fatal: the caller falls back to heuristics). */
static void *try_alloc(CudaCtx *ctx, size_t n_bytes) {
  void *p = NULL;
  cudaError_t rc = cudaMallocAsync(&p, n_bytes, ctx->compute);
  if (rc == cudaErrorMemoryAllocation) {
    (void)cudaGetLastError();
    return NULL;
  }
  CUDA_CHECK(rc);
  return p;
}

/* Frees the scratch and hands it back to the driver, not just to the pool
 * (which keeps what it holds, see cuda_ctx.h): plans are made before the
 * activation arenas are cudaMalloc'd.  Waits for the compute stream. */
static void find_bufs_free(CudaCtx *ctx, FindBufs *b) {
  cuda_ctx_tmp_free(ctx, b->x);
  cuda_ctx_tmp_free(ctx, b->y);
  cuda_ctx_tmp_free(ctx, b->w);
  CUDA_CHECK(cudaStreamSynchronize(ctx->compute));
  cudaMemPool_t pool;
  CUDA_CHECK(cudaDeviceGetDefaultMemPool(&pool, ctx->device));
  CUDA_CHECK(cudaMemPoolTrimTo(pool, 0));
}

/* Zeroed scratch tensors of the plan's shape, ordered on the compute stream;
 * 0 if they do not fit. */
static int find_bufs_alloc(CudaCtx *ctx, const ConvShape *s, FindBufs *b) {
  size_t nx = act_bytes(ctx, (long long)s->n * s->c * s->h * s->w);
  size_t ny = act_bytes(ctx, (long long)s->n * s->k * s->p * s->q);
  size_t nw = act_bytes(ctx, (long long)s->k * s->c * s->r * s->r);
  b->x = try_alloc(ctx, nx);
  b->y = try_alloc(ctx, ny);
  b->w = try_alloc(ctx, nw);
  if (!b->x || !b->y || !b->w) {
    find_bufs_free(ctx, b);
    return 0;
  }
  CUDA_CHECK(cudaMemsetAsync(b->x, 0, nx, ctx->compute));
  CUDA_CHECK(cudaMemsetAsync(b->y, 0, ny, ctx->compute));
  CUDA_CHECK(cudaMemsetAsync(b->w, 0, nw, ctx->compute));
  return 1;
}

#define TO_PERF(dst, src, count)                 \
  for (int i_ = 0; i_ < (count); i_++) {         \
    (dst)[i_].algo = (int)(src)[i_].algo;        \
    (dst)[i_].status = (src)[i_].status;         \
    (dst)[i_].memory = (src)[i_].memory;         \
    (dst)[i_].math = (src)[i_].mathType;         \
  }

/* Measured algorithms of direction d, fastest first. */
static int find_measured(CudaCtx *ctx, const ConvPlan *p, int d, const FindBufs *b, Perf *out) {
  int got = 0;
  if (d == DIR_FWD) {
    cudnnConvolutionFwdAlgoPerf_t r[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithmEx(
        ctx->dnn, p->x, b->x, p->w, b->w, p->conv[d], p->y, b->y, CUDNN_CONVOLUTION_FWD_ALGO_COUNT,
        &got, r, ctx->workspace, ctx->workspace_bytes));
    TO_PERF(out, r, got);
  } else if (d == DIR_BWD_DATA) {
    cudnnConvolutionBwdDataAlgoPerf_t r[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
    CUDNN_CHECK(cudnnFindConvolutionBackwardDataAlgorithmEx(
        ctx->dnn, p->w, b->w, p->y, b->y, p->conv[d], p->x, b->x,
        CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &got, r, ctx->workspace, ctx->workspace_bytes));
    TO_PERF(out, r, got);
  } else {
    cudnnConvolutionBwdFilterAlgoPerf_t r[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
    CUDNN_CHECK(cudnnFindConvolutionBackwardFilterAlgorithmEx(
        ctx->dnn, p->x, b->x, p->y, b->y, p->conv[d], p->w, b->w,
        CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &got, r, ctx->workspace, ctx->workspace_bytes));
    TO_PERF(out, r, got);
  }
  return got;
}

/* cuDNN's heuristic proposals for direction d, best first (nothing runs). */
static int find_heuristic(CudaCtx *ctx, const ConvPlan *p, int d, Perf *out) {
  int got = 0;
  if (d == DIR_FWD) {
    cudnnConvolutionFwdAlgoPerf_t r[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(ctx->dnn, p->x, p->w, p->conv[d], p->y,
                                                       CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &got, r));
    TO_PERF(out, r, got);
  } else if (d == DIR_BWD_DATA) {
    cudnnConvolutionBwdDataAlgoPerf_t r[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
    CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(
        ctx->dnn, p->w, p->y, p->conv[d], p->x, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &got, r));
    TO_PERF(out, r, got);
  } else {
    cudnnConvolutionBwdFilterAlgoPerf_t r[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
    CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(
        ctx->dnn, p->x, p->y, p->conv[d], p->w, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &got, r));
    TO_PERF(out, r, got);
  }
  return got;
}

static void set_math(ConvPlan *p, int d, cudnnMathType_t m) {
  if (p->math_set[d] == m) return;
  CUDNN_CHECK(cudnnSetConvolutionMathType(p->conv[d], m));
  p->math_set[d] = m;
}

/* Probe: workspace of `algo` for direction d under math type m (left set on
 * conv[d]).  Its status is the answer, not an error: anything but success
 * means cuDNN cannot run that combination (the Find / heuristic entry's
 * `memory` is not always what the call needs, so this is asked again). */
static cudnnStatus_t probe_workspace(CudaCtx *ctx, ConvPlan *p, int d, int algo,
                                     cudnnMathType_t m, size_t *bytes) {
  set_math(p, d, m);
  *bytes = 0;
  switch (d) {
  case DIR_FWD:
    return cudnnGetConvolutionForwardWorkspaceSize(ctx->dnn, p->x, p->w, p->conv[d], p->y,
                                                   (cudnnConvolutionFwdAlgo_t)algo, bytes);
  case DIR_BWD_DATA:
    return cudnnGetConvolutionBackwardDataWorkspaceSize(ctx->dnn, p->w, p->y, p->conv[d], p->x,
                                                        (cudnnConvolutionBwdDataAlgo_t)algo, bytes);
  default:
    return cudnnGetConvolutionBackwardFilterWorkspaceSize(
        ctx->dnn, p->x, p->y, p->conv[d], p->w, (cudnnConvolutionBwdFilterAlgo_t)algo, bytes);
  }
}

/* Math type a chosen entry runs with: fp32-strict always FMA (no TF32). */
static cudnnMathType_t run_math(const CudaCtx *ctx, const Perf *perf) {
  return ctx->precision == PREC_FP32_STRICT ? CUDNN_FMA_MATH : perf->math;
}

/* First usable entry (succeeded, acceptable math, runnable under the math type
 * it will run with, workspace within the cap), its workspace in *ws; -1 if none. */
static int pick(CudaCtx *ctx, ConvPlan *p, int d, Perf *perf, int n, size_t *ws) {
  for (int i = 0; i < n; i++) {
    if (perf[i].status != CUDNN_STATUS_SUCCESS || !math_ok(ctx->precision, perf[i].math)) continue;
    size_t need = 0;
    cudnnStatus_t st = probe_workspace(ctx, p, d, perf[i].algo, run_math(ctx, &perf[i]), &need);
    if (st != CUDNN_STATUS_SUCCESS) {
      perf[i].status = st;
      continue;
    }
    if (need < perf[i].memory) need = perf[i].memory;
    if (need <= ctx->workspace_bytes) {
      *ws = need;
      return i;
    }
  }
  return -1;
}

/* "algo a: status, MiB, math; ..." of the candidates, for the fatal message. */
static void perf_text(const Perf *perf, int n, char *buf, size_t cap) {
  size_t len = 0;
  buf[0] = '\0';
  for (int i = 0; i < n && len + 1 < cap; i++) {
    int w = snprintf(buf + len, cap - len, "%salgo %d: %s, %zu MiB, math %d", i ? "; " : "",
                     perf[i].algo, cudnnGetErrorString(perf[i].status), perf[i].memory >> 20,
                     (int)perf[i].math);
    if (w < 0) break;
    len += (size_t)w;
  }
}

static void choose_algos(CudaCtx *ctx, ConvPlan *p, ConvAlgoEntry *e) {
  FindBufs b = {0};
  int measure = 0;
  if (!ctx->conv_algo_heuristic) {
    measure = find_bufs_alloc(ctx, &p->s, &b);
    /* Find times on the compute stream with the shared workspace: let what
     * is queued there (and the zeroing above) finish first. */
    CUDA_CHECK(cudaStreamSynchronize(ctx->compute));
    if (!measure) log_warn("cuda: no memory to measure conv algorithms; using cuDNN heuristics");
  }
  for (int d = 0; d < N_DIRS; d++) {
    Perf perf[MAX_PERF];
    set_math(p, d, base_math(ctx->precision)); /* what Find / the heuristics look at */
    int n = measure ? find_measured(ctx, p, d, &b, perf) : find_heuristic(ctx, p, d, perf);
    size_t ws = 0;
    int i = pick(ctx, p, d, perf, n, &ws);
    if (i < 0) {
      char txt[128], cand[1024];
      shape_text(&p->s, txt, sizeof txt);
      perf_text(perf, n, cand, sizeof cand);
      FATAL("no cuDNN %s algorithm for conv %s (precision %s) fits the %zu MiB workspace "
            "(%s: %s)",
            DIR_NAMES[d], txt, config_precision_name(ctx->precision), ctx->workspace_bytes >> 20,
            measure ? "measured" : "heuristics", n ? cand : "no candidates");
    }
    e->algo[d] = perf[i].algo;
    e->math[d] = run_math(ctx, &perf[i]);
    e->ws_bytes[d] = ws;
  }
  if (measure) find_bufs_free(ctx, &b);
}

/* ---- plans ----------------------------------------------------------------- */

static void check_shape(const ConvShape *s) {
  char txt[128];
  shape_text(s, txt, sizeof txt);
  CHECK(s->n > 0 && s->c > 0 && s->h > 0 && s->w > 0 && s->k > 0 && s->r > 0 && s->stride > 0 &&
            s->pad >= 0,
        "conv shape %s", txt);
  CHECK(s->p == (s->h + 2 * s->pad - s->r) / s->stride + 1 &&
            s->q == (s->w + 2 * s->pad - s->r) / s->stride + 1,
        "conv shape %s: output %dx%d", txt, s->p, s->q);
}

static void make_descriptors(const CudaCtx *ctx, ConvPlan *p) {
  const ConvShape *s = &p->s;
  cudnnDataType_t dt = dnn_type(ctx->act);
  CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->x));
  CUDNN_CHECK(cudnnSetTensor4dDescriptor(p->x, CUDNN_TENSOR_NHWC, dt, s->n, s->c, s->h, s->w));
  CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->y));
  CUDNN_CHECK(cudnnSetTensor4dDescriptor(p->y, CUDNN_TENSOR_NHWC, dt, s->n, s->k, s->p, s->q));
  CUDNN_CHECK(cudnnCreateFilterDescriptor(&p->w));
  CUDNN_CHECK(cudnnSetFilter4dDescriptor(p->w, dt, CUDNN_TENSOR_NHWC, s->k, s->c, s->r, s->r));
  for (int d = 0; d < N_DIRS; d++) {
    CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&p->conv[d]));
    CUDNN_CHECK(cudnnSetConvolution2dDescriptor(p->conv[d], s->pad, s->pad, s->stride, s->stride,
                                                1, 1, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    p->math_set[d] = base_math(ctx->precision);
    CUDNN_CHECK(cudnnSetConvolutionMathType(p->conv[d], p->math_set[d]));
  }
  int on, oc, oh, ow;
  CUDNN_CHECK(
      cudnnGetConvolution2dForwardOutputDim(p->conv[DIR_FWD], p->x, p->w, &on, &oc, &oh, &ow));
  CHECK(on == s->n && oc == s->k && oh == s->p && ow == s->q,
        "cuDNN output %dx%dx%dx%d differs from the plan's %dx%dx%dx%d", on, oc, oh, ow, s->n, s->k,
        s->p, s->q);
}

void *cuda_conv_plan_create(CudaCtx *ctx, const ConvShape *shape) {
  check_shape(shape);
  ConvPlan *p = mem_calloc_or_die(1, sizeof *p, "conv plan");
  p->s = *shape;
  make_descriptors(ctx, p);
  ConvAlgoEntry key;
  entry_key(&key, shape, ctx);
  p->entry = cache_find(ctx, &key);
  if (p->entry < 0) {
    choose_algos(ctx, p, &key);
    p->entry = cache_put(ctx, &key);
  }
  return p;
}

void cuda_conv_plan_free(CudaCtx *ctx, void *plan) {
  ConvPlan *p = plan;
  if (!p) return;
  CUDNN_CHECK(cudnnDestroyTensorDescriptor(p->x));
  CUDNN_CHECK(cudnnDestroyTensorDescriptor(p->y));
  CUDNN_CHECK(cudnnDestroyFilterDescriptor(p->w));
  for (int d = 0; d < N_DIRS; d++) CUDNN_CHECK(cudnnDestroyConvolutionDescriptor(p->conv[d]));
  mem_free(p);
}

/* The plan's algorithm for direction d, with its math type set on conv[d]. */
static const ConvAlgoEntry *use_direction(CudaCtx *ctx, ConvPlan *p, int d) {
  const ConvAlgoEntry *e = &ctx->conv_cache->e[p->entry];
  set_math(p, d, (cudnnMathType_t)e->math[d]);
  return e;
}

static int aligned(const void *ptr) { return ((uintptr_t)ptr % ALIGN_BYTES) == 0; }

/* w (K,C,R,R) -> cuDNN's (K,R,R,C): the same memory for 1x1 (when it has the
 * 16-byte alignment the measured algorithms had), else a temporary (*tmp, to
 * be freed after the call). */
static const void *filter_krsc(CudaCtx *ctx, const ConvPlan *p, const void *w, void **tmp) {
  *tmp = NULL;
  if (p->s.r == 1 && aligned(w)) return w;
  const ConvShape *s = &p->s;
  *tmp = cuda_ctx_tmp_alloc(ctx, act_bytes(ctx, (long long)s->k * s->c * s->r * s->r),
                            "conv weights (K,R,S,C)");
  CUDA_CHECK(cuda_nchw_to_nhwc(ctx->compute, ctx->act, ctx->act, *tmp, w, s->k, s->c, s->r, s->r));
  return *tmp;
}

void cuda_conv_fwd(CudaCtx *ctx, void *plan, void *y, const void *x, const void *w) {
  ConvPlan *p = plan;
  const ConvAlgoEntry *e = use_direction(ctx, p, DIR_FWD);
  void *tmp;
  const void *wk = filter_krsc(ctx, p, w, &tmp);
  const float one = 1.f, zero = 0.f;
  CUDNN_CHECK(cudnnConvolutionForward(ctx->dnn, &one, p->x, x, p->w, wk, p->conv[DIR_FWD],
                                      (cudnnConvolutionFwdAlgo_t)e->algo[DIR_FWD], ctx->workspace,
                                      ctx->workspace_bytes, &zero, p->y, y));
  cuda_ctx_tmp_free(ctx, tmp);
}

void cuda_conv_bwd_data(CudaCtx *ctx, void *plan, void *dx, const void *dy, const void *w,
                        int accumulate) {
  ConvPlan *p = plan;
  const ConvAlgoEntry *e = use_direction(ctx, p, DIR_BWD_DATA);
  void *tmp;
  const void *wk = filter_krsc(ctx, p, w, &tmp);
  const float one = 1.f, beta = accumulate ? 1.f : 0.f;
  CUDNN_CHECK(cudnnConvolutionBackwardData(
      ctx->dnn, &one, p->w, wk, p->y, dy, p->conv[DIR_BWD_DATA],
      (cudnnConvolutionBwdDataAlgo_t)e->algo[DIR_BWD_DATA], ctx->workspace, ctx->workspace_bytes,
      &beta, p->x, dx));
  cuda_ctx_tmp_free(ctx, tmp);
}

void cuda_conv_bwd_filter(CudaCtx *ctx, void *plan, float *dw, const void *dy, const void *x) {
  ConvPlan *p = plan;
  const ConvShape *s = &p->s;
  const ConvAlgoEntry *e = use_direction(ctx, p, DIR_BWD_FILTER);
  const int direct = s->r == 1 && ctx->act == CUDA_DT_F32 && aligned(dw);
  void *out = direct ? (void *)dw
                     : cuda_ctx_tmp_alloc(ctx, act_bytes(ctx, (long long)s->k * s->c * s->r * s->r),
                                          "conv filter gradient (K,R,S,C)");
  const float one = 1.f, zero = 0.f;
  CUDNN_CHECK(cudnnConvolutionBackwardFilter(
      ctx->dnn, &one, p->x, x, p->y, dy, p->conv[DIR_BWD_FILTER],
      (cudnnConvolutionBwdFilterAlgo_t)e->algo[DIR_BWD_FILTER], ctx->workspace,
      ctx->workspace_bytes, &zero, p->w, out));
  if (direct) return;
  CUDA_CHECK(
      cuda_nhwc_to_nchw(ctx->compute, ctx->act, CUDA_DT_F32, dw, out, s->k, s->c, s->r, s->r));
  cuda_ctx_tmp_free(ctx, out);
}

/* ---- export / import -------------------------------------------------------- */

size_t cuda_conv_algos_export(CudaCtx *ctx, void *host_blob, size_t cap) {
  CudaConvCache *cc = cache_of(ctx);
  size_t need = sizeof(BlobHeader) + (size_t)cc->n * sizeof(ConvAlgoEntry);
  if (!host_blob || cap < need) return need;
  BlobHeader h = {{0}, BLOB_VERSION, (uint32_t)cc->n, (uint32_t)sizeof(ConvAlgoEntry), 0};
  memcpy(h.magic, BLOB_MAGIC, sizeof h.magic);
  memcpy(host_blob, &h, sizeof h);
  if (cc->n) memcpy((char *)host_blob + sizeof h, cc->e, (size_t)cc->n * sizeof(ConvAlgoEntry));
  return need;
}

int cuda_conv_algos_import(CudaCtx *ctx, const void *host_blob, size_t n_bytes) {
  BlobHeader h;
  if (!host_blob || n_bytes < sizeof h) return -1;
  memcpy(&h, host_blob, sizeof h);
  if (memcmp(h.magic, BLOB_MAGIC, sizeof h.magic) != 0 || h.version != BLOB_VERSION ||
      h.entry_bytes != sizeof(ConvAlgoEntry) ||
      n_bytes != sizeof h + (size_t)h.n_entries * sizeof(ConvAlgoEntry))
    return -1;
  const char *rec = (const char *)host_blob + sizeof h;
  for (uint32_t i = 0; i < h.n_entries; i++) {
    ConvAlgoEntry e;
    memcpy(&e, rec + (size_t)i * sizeof e, sizeof e);
    int fits = e.ws_bytes[0] <= ctx->workspace_bytes && e.ws_bytes[1] <= ctx->workspace_bytes &&
               e.ws_bytes[2] <= ctx->workspace_bytes;
    if (e.dtype == (int32_t)ctx->act && e.precision == ctx->precision && fits) cache_put(ctx, &e);
  }
  return 0;
}
