/* cuda_fc.c - fully connected layer with cuBLASLt; see cuda_fc.h. */
#include "backend/cuda/cuda_fc.h"

#include <stdint.h>

#include "backend/cuda/cuda_tensor.h"
#include "config/config.h"
#include "core/check_cuda.h"
#include "core/mem.h"

enum { GEMM_FWD = 0, GEMM_BWD_DATA = 1, GEMM_BWD_WEIGHT = 2 };
enum { MAX_GEMM_WORKSPACE = 32 << 20 };

typedef struct {
  int kind, n, in, out;          /* key ... */
  uint32_t align[3];             /* ... with the alignment of A, B, D in bytes */
  cublasLtMatmulDesc_t op;
  cublasLtMatrixLayout_t a, b, d; /* C uses d's layout (beta = 0) */
  cublasLtMatmulAlgo_t algo;
} FcGemm;

struct CudaFcCache {
  FcGemm *g;
  int n, cap;
};

static cudaDataType_t blas_type(CudaDtype dt) {
  switch (dt) {
  case CUDA_DT_BF16: return CUDA_R_16BF;
  case CUDA_DT_F16: return CUDA_R_16F;
  default: return CUDA_R_32F;
  }
}

static cublasComputeType_t compute_type(int precision) {
  return precision == PREC_FP32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
}

static size_t gemm_workspace(const CudaCtx *ctx) {
  return ctx->workspace_bytes < MAX_GEMM_WORKSPACE ? ctx->workspace_bytes : MAX_GEMM_WORKSPACE;
}

static void set_op(cublasLtMatmulDesc_t op, cublasLtMatmulDescAttributes_t attr,
                   cublasOperation_t t) {
  CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(op, attr, &t, sizeof t));
}

static void layout(cublasLtMatrixLayout_t *l, cudaDataType_t t, int rows, int cols) {
  CUBLAS_CHECK(cublasLtMatrixLayoutCreate(l, t, (uint64_t)rows, (uint64_t)cols, rows));
}

/* Descriptors of one GEMM kind (column-major views, see cuda_fc.h). */
static void describe(const CudaCtx *ctx, FcGemm *g) {
  cudaDataType_t act = blas_type(ctx->act);
  CUBLAS_CHECK(cublasLtMatmulDescCreate(&g->op, compute_type(ctx->precision), CUDA_R_32F));
  switch (g->kind) {
  case GEMM_FWD: /* D (out x n) f32 = op(A)=A^T, A (in x out); B (in x n) */
    set_op(g->op, CUBLASLT_MATMUL_DESC_TRANSA, CUBLAS_OP_T);
    set_op(g->op, CUBLASLT_MATMUL_DESC_TRANSB, CUBLAS_OP_N);
    layout(&g->a, act, g->in, g->out);
    layout(&g->b, act, g->in, g->n);
    layout(&g->d, CUDA_R_32F, g->out, g->n);
    break;
  case GEMM_BWD_DATA: /* D (in x n) act = A (in x out) B (out x n) */
    set_op(g->op, CUBLASLT_MATMUL_DESC_TRANSA, CUBLAS_OP_N);
    set_op(g->op, CUBLASLT_MATMUL_DESC_TRANSB, CUBLAS_OP_N);
    layout(&g->a, act, g->in, g->out);
    layout(&g->b, act, g->out, g->n);
    layout(&g->d, act, g->in, g->n);
    break;
  default: /* GEMM_BWD_WEIGHT: D (in x out) f32 = A (in x n) op(B)=B^T, B (out x n) */
    set_op(g->op, CUBLASLT_MATMUL_DESC_TRANSA, CUBLAS_OP_N);
    set_op(g->op, CUBLASLT_MATMUL_DESC_TRANSB, CUBLAS_OP_T);
    layout(&g->a, act, g->in, g->n);
    layout(&g->b, act, g->out, g->n);
    layout(&g->d, CUDA_R_32F, g->in, g->out);
    break;
  }
}

/* Alignment of a pointer in bytes (its lowest set bit), at most 256, as the
 * algorithm preferences want it (cuBLASLt assumes 256 otherwise). */
static uint32_t alignment(const void *p) {
  uintptr_t a = (uintptr_t)p;
  uint32_t al = 1;
  while (al < 256 && (a & al) == 0) al <<= 1;
  return al;
}

static void pref_set(cublasLtMatmulPreference_t pref, cublasLtMatmulPreferenceAttributes_t attr,
                     uint32_t v) {
  CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, attr, &v, sizeof v));
}

static void choose_algo(const CudaCtx *ctx, FcGemm *g) {
  cublasLtMatmulPreference_t pref;
  CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
  uint64_t ws = gemm_workspace(ctx);
  CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                    &ws, sizeof ws));
  pref_set(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, g->align[0]);
  pref_set(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, g->align[1]);
  pref_set(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, g->align[2]);
  pref_set(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, g->align[2]);
  cublasLtMatmulHeuristicResult_t res;
  int got = 0;
  /* NOT_SUPPORTED here means "no algorithm": reported below with the shape. */
  cublasStatus_t rc = cublasLtMatmulAlgoGetHeuristic(ctx->lt, g->op, g->a, g->b, g->d, g->d, pref,
                                                     1, &res, &got);
  CUBLAS_CHECK(cublasLtMatmulPreferenceDestroy(pref));
  if (rc != CUBLAS_STATUS_NOT_SUPPORTED) CUBLAS_CHECK(rc);
  CHECK(rc == CUBLAS_STATUS_SUCCESS && got > 0 && res.state == CUBLAS_STATUS_SUCCESS,
        "cuBLASLt has no algorithm for FC GEMM kind %d (n %d, in %d, out %d, alignment %u/%u/%u "
        "bytes, precision %s)",
        g->kind, g->n, g->in, g->out, g->align[0], g->align[1], g->align[2],
        config_precision_name(ctx->precision));
  g->algo = res.algo;
}

static FcGemm *gemm_get(CudaCtx *ctx, int kind, int n, int in, int out, const void *a,
                       const void *b, const void *d) {
  if (!ctx->fc_cache) ctx->fc_cache = mem_calloc_or_die(1, sizeof *ctx->fc_cache, "FC cache");
  CudaFcCache *fc = ctx->fc_cache;
  const uint32_t al[3] = {alignment(a), alignment(b), alignment(d)};
  for (int i = 0; i < fc->n; i++) {
    FcGemm *g = &fc->g[i];
    if (g->kind == kind && g->n == n && g->in == in && g->out == out && g->align[0] == al[0] &&
        g->align[1] == al[1] && g->align[2] == al[2])
      return g;
  }
  if (fc->n == fc->cap) {
    fc->cap = fc->cap ? 2 * fc->cap : 8;
    fc->g = mem_realloc_or_die(fc->g, (size_t)fc->cap * sizeof *fc->g, "FC cache");
  }
  FcGemm *g = &fc->g[fc->n++];
  *g = (FcGemm){.kind = kind, .n = n, .in = in, .out = out, .align = {al[0], al[1], al[2]}};
  describe(ctx, g);
  choose_algo(ctx, g);
  return g;
}

/* D = op(A) op(B) for GEMM `kind`, with the cached plan of this shape and alignment. */
static void gemm_run(CudaCtx *ctx, int kind, int n, int in, int out, const void *a, const void *b,
                     void *d) {
  const FcGemm *g = gemm_get(ctx, kind, n, in, out, a, b, d);
  const float one = 1.f, zero = 0.f;
  CUBLAS_CHECK(cublasLtMatmul(ctx->lt, g->op, &one, a, g->a, b, g->b, &zero, d, g->d, d, g->d,
                              &g->algo, ctx->workspace, gemm_workspace(ctx), ctx->compute));
}

void cuda_fc_fwd(CudaCtx *ctx, int n, int in, int out, void *y, const void *x, const void *w,
                 const float *b) {
  float *acc = ctx->act == CUDA_DT_F32
                   ? (float *)y
                   : cuda_ctx_tmp_alloc(ctx, sizeof(float) * (size_t)n * out, "FC output (fp32)");
  gemm_run(ctx, GEMM_FWD, n, in, out, w, x, acc);
  CUDA_CHECK(cuda_bias_add(ctx->compute, ctx->act, n, out, y, acc, b));
  if ((void *)acc != y) cuda_ctx_tmp_free(ctx, acc);
}

void cuda_fc_bwd(CudaCtx *ctx, int n, int in, int out, void *dx, float *dw, float *db,
                 const void *dy, const void *x, const void *w) {
  gemm_run(ctx, GEMM_BWD_DATA, n, in, out, w, dy, dx);
  gemm_run(ctx, GEMM_BWD_WEIGHT, n, in, out, x, dy, dw);
  CUDA_CHECK(cuda_col_sum(ctx->compute, ctx->act, n, out, db, dy));
}

void cuda_fc_cache_destroy(CudaCtx *ctx) {
  CudaFcCache *fc = ctx->fc_cache;
  if (!fc) return;
  for (int i = 0; i < fc->n; i++) {
    CUBLAS_CHECK(cublasLtMatrixLayoutDestroy(fc->g[i].a));
    CUBLAS_CHECK(cublasLtMatrixLayoutDestroy(fc->g[i].b));
    CUBLAS_CHECK(cublasLtMatrixLayoutDestroy(fc->g[i].d));
    CUBLAS_CHECK(cublasLtMatmulDescDestroy(fc->g[i].op));
  }
  mem_free(fc->g);
  mem_free(fc);
  ctx->fc_cache = NULL;
}
