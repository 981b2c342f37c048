/* backend_cuda.c - the CUDA backend's ops table (backend.h) over a CudaCtx.
 *
 * Every op is asynchronous on the context's compute stream except those that
 * must hand values to the host (download, xent, segment_norms,
 * count_nonfinite), which wait for it.  Activations are NHWC in the act
 * dtype of train.precision; parameters, gradients, buffers and optimizer
 * state are fp32.  Kernels live in cuda_*.cu behind C launchers that return
 * the launch status; cuDNN and cuBLASLt calls live in cuda_conv.c and
 * cuda_fc.c.
 *
 * Input batches: input_u8 copies the uint8 batch on the copy stream into a
 * device staging buffer (waiting until the previous batch's normalize kernel
 * has read it), and the compute stream waits for that copy before the
 * normalize kernel; the call returns once the copy is done, so the caller
 * may reuse its host buffer at once, while the previous step's kernels may
 * still be running.  Labels go through a pinned bounce buffer and a copy
 * ordered on the compute stream.
 *
 * Extension of backend.h: xent accepts host_loss_sum and host_correct both
 * NULL, and then does not wait for the device.
 */
#include "backend/cuda/backend_cuda.h"

#include <string.h>

#include "backend/cuda/cuda_bn.h"
#include "backend/cuda/cuda_conv.h"
#include "backend/cuda/cuda_ctx.h"
#include "backend/cuda/cuda_fc.h"
#include "backend/cuda/cuda_loss.h"
#include "backend/cuda/cuda_optim.h"
#include "backend/cuda/cuda_tensor.h"
#include "core/check_cuda.h"
#include "core/mem.h"

static CudaCtx *ctx_of(Backend *be) { return (CudaCtx *)be->impl; }

static long long rows(int n, int h, int w) { return (long long)n * h * w; }

/* ---- memory ----------------------------------------------------------------- */

static void op_destroy(Backend *be) {
  CudaCtx *ctx = ctx_of(be);
  cuda_conv_cache_destroy(ctx);
  cuda_fc_cache_destroy(ctx);
  cuda_ctx_destroy(ctx);
  mem_free(be);
}

static void *op_alloc(Backend *be, size_t n_bytes, const char *what) {
  cuda_ctx_bind(ctx_of(be));
  return cuda_ctx_device_alloc(n_bytes, what);
}

static void op_free(Backend *be, void *ptr) {
  if (!ptr) return;
  cuda_ctx_bind(ctx_of(be));
  CUDA_CHECK(cudaFree(ptr));
}

static void op_zero(Backend *be, void *ptr, size_t n_bytes) {
  CUDA_CHECK(cudaMemsetAsync(ptr, 0, n_bytes, ctx_of(be)->compute));
}

static void op_copy(Backend *be, void *dst, const void *src, size_t n_bytes) {
  CUDA_CHECK(cudaMemcpyAsync(dst, src, n_bytes, cudaMemcpyDeviceToDevice, ctx_of(be)->compute));
}

static void op_upload(Backend *be, void *dst, const void *host_src, size_t n_bytes) {
  CudaCtx *ctx = ctx_of(be);
  CUDA_CHECK(cudaMemcpyAsync(dst, host_src, n_bytes, cudaMemcpyHostToDevice, ctx->compute));
  CUDA_CHECK(cudaStreamSynchronize(ctx->compute));
}

static void op_download(Backend *be, void *host_dst, const void *src, size_t n_bytes) {
  CudaCtx *ctx = ctx_of(be);
  CUDA_CHECK(cudaMemcpyAsync(host_dst, src, n_bytes, cudaMemcpyDeviceToHost, ctx->compute));
  CUDA_CHECK(cudaStreamSynchronize(ctx->compute));
}

static void op_sync(Backend *be) { CUDA_CHECK(cudaStreamSynchronize(ctx_of(be)->compute)); }

/* Pinned and portable: the pipeline's threads may allocate it. */
static void *op_alloc_host(Backend *be, size_t n_bytes, const char *what) {
  cuda_ctx_bind(ctx_of(be));
  void *p = NULL;
  cudaError_t rc = cudaHostAlloc(&p, n_bytes ? n_bytes : 1, cudaHostAllocPortable);
  if (rc != cudaSuccess) {
    (void)cudaGetLastError();
    FATAL("cannot allocate %zu bytes of pinned host memory for %s: %s", n_bytes, what,
          cudaGetErrorString(rc));
  }
  return p;
}

static void op_free_host(Backend *be, void *host_ptr) {
  if (!host_ptr) return;
  cuda_ctx_bind(ctx_of(be));
  CUDA_CHECK(cudaFreeHost(host_ptr));
}

/* ---- conversions -------------------------------------------------------------- */

static void op_params_to_host_f32(Backend *be, float *host_dst, const void *src, size_t n_elems) {
  op_download(be, host_dst, src, n_elems * sizeof(float));
}

static void op_params_from_host_f32(Backend *be, void *dst, const float *host_src,
                                    size_t n_elems) {
  op_upload(be, dst, host_src, n_elems * sizeof(float));
}

static void op_act_to_host_f32(Backend *be, float *host_nchw, const void *x, int n, int c, int h,
                               int w) {
  CudaCtx *ctx = ctx_of(be);
  size_t n_bytes = sizeof(float) * (size_t)n * c * h * w;
  float *tmp = cuda_ctx_tmp_alloc(ctx, n_bytes, "activation read-back (N,C,H,W) fp32");
  CUDA_CHECK(cuda_nhwc_to_nchw(ctx->compute, ctx->act, CUDA_DT_F32, tmp, x, n, c, h, w));
  op_download(be, host_nchw, tmp, n_bytes);
  cuda_ctx_tmp_free(ctx, tmp);
}

static void op_act_from_host_f32(Backend *be, void *x, const float *host_nchw, int n, int c, int h,
                                 int w) {
  CudaCtx *ctx = ctx_of(be);
  size_t n_bytes = sizeof(float) * (size_t)n * c * h * w;
  float *tmp = cuda_ctx_tmp_alloc(ctx, n_bytes, "activation upload (N,C,H,W) fp32");
  CUDA_CHECK(cudaMemcpyAsync(tmp, host_nchw, n_bytes, cudaMemcpyHostToDevice, ctx->compute));
  CUDA_CHECK(cuda_nchw_to_nhwc(ctx->compute, CUDA_DT_F32, ctx->act, x, tmp, n, c, h, w));
  cuda_ctx_tmp_free(ctx, tmp);
  CUDA_CHECK(cudaStreamSynchronize(ctx->compute));
}

static void op_cast_params(Backend *be, void *work, const void *params, size_t n_elems) {
  if (work == params) return;
  CudaCtx *ctx = ctx_of(be);
  CUDA_CHECK(cuda_cast_from_f32(ctx->compute, ctx->act, work, params, n_elems));
}

/* ---- input ---------------------------------------------------------------------- */

static void ensure_stage(CudaCtx *ctx, size_t n_bytes) {
  if (n_bytes <= ctx->stage_bytes) return;
  CUDA_CHECK(cudaStreamSynchronize(ctx->compute));
  CUDA_CHECK(cudaStreamSynchronize(ctx->copy));
  CUDA_CHECK(cudaFree(ctx->stage_u8));
  ctx->stage_u8 = cuda_ctx_device_alloc(n_bytes, "input batch staging (N,H,W,3) uint8");
  ctx->stage_bytes = n_bytes;
}

static void op_input_u8(Backend *be, void *x, const uint8_t *host_src, int n, int h, int w,
                        const float mean[3], const float std[3]) {
  CudaCtx *ctx = ctx_of(be);
  CudaNormalize norm;
  for (int c = 0; c < 3; c++) {
    CHECK(std[c] != 0.0f, "input_u8: std[%d] is 0", c);
    for (int v = 0; v < 256; v++)
      norm.value[c][v] = (float)(((double)v / 255.0 - (double)mean[c]) / (double)std[c]);
  }
  size_t n_bytes = (size_t)n * h * w * 3;
  ensure_stage(ctx, n_bytes);
  CUDA_CHECK(cudaStreamWaitEvent(ctx->copy, ctx->stage_free, 0));
  CUDA_CHECK(cudaMemcpyAsync(ctx->stage_u8, host_src, n_bytes, cudaMemcpyHostToDevice, ctx->copy));
  CUDA_CHECK(cudaEventRecord(ctx->stage_loaded, ctx->copy));
  CUDA_CHECK(cudaStreamWaitEvent(ctx->compute, ctx->stage_loaded, 0));
  CUDA_CHECK(cuda_input_u8(ctx->compute, ctx->act, x, ctx->stage_u8, n, h, w, norm));
  CUDA_CHECK(cudaEventRecord(ctx->stage_free, ctx->compute));
  CUDA_CHECK(cudaEventSynchronize(ctx->stage_loaded));
}

static void op_upload_labels(Backend *be, int32_t *dst, const int32_t *host_src, int n) {
  CudaCtx *ctx = ctx_of(be);
  size_t n_bytes = sizeof(int32_t) * (size_t)n;
  CUDA_CHECK(cudaEventSynchronize(ctx->labels_copied)); /* the bounce buffer is free */
  if ((size_t)n > ctx->labels_cap) {
    if (ctx->labels_host) CUDA_CHECK(cudaFreeHost(ctx->labels_host));
    CUDA_CHECK(cudaMallocHost((void **)&ctx->labels_host, n_bytes));
    ctx->labels_cap = (size_t)n;
  }
  memcpy(ctx->labels_host, host_src, n_bytes);
  CUDA_CHECK(cudaMemcpyAsync(dst, ctx->labels_host, n_bytes, cudaMemcpyHostToDevice, ctx->compute));
  CUDA_CHECK(cudaEventRecord(ctx->labels_copied, ctx->compute));
}

/* ---- convolution ---------------------------------------------------------------- */

static void *op_conv_plan(Backend *be, const ConvShape *shape) {
  return cuda_conv_plan_create(ctx_of(be), shape);
}

static void op_conv_plan_free(Backend *be, void *plan) { cuda_conv_plan_free(ctx_of(be), plan); }

static void op_conv_fwd(Backend *be, void *plan, void *y, const void *x, const void *w) {
  cuda_conv_fwd(ctx_of(be), plan, y, x, w);
}

static void op_conv_bwd_data(Backend *be, void *plan, void *dx, const void *dy, const void *w,
                             int accumulate) {
  cuda_conv_bwd_data(ctx_of(be), plan, dx, dy, w, accumulate);
}

static void op_conv_bwd_filter(Backend *be, void *plan, void *dw, const void *dy, const void *x) {
  cuda_conv_bwd_filter(ctx_of(be), plan, dw, dy, x);
}

/* ---- batch norm ------------------------------------------------------------------- */

static void op_bn_stats(Backend *be, int n, int c, int h, int w, const void *x, double *stats) {
  CudaCtx *ctx = ctx_of(be);
  CUDA_CHECK(cuda_bn_stats(ctx->compute, ctx->act, rows(n, h, w), c, x, ctx->bn_part, stats));
}

static void op_bn_finalize(Backend *be, int c, const double *stats, void *mean_invstd,
                           void *running_mean, void *running_var, double momentum, double eps,
                           int update_running) {
  CUDA_CHECK(cuda_bn_finalize(ctx_of(be)->compute, c, stats, mean_invstd, running_mean,
                              running_var, momentum, eps, update_running));
}

static void op_bn_finalize_eval(Backend *be, int c, const void *running_mean,
                                const void *running_var, double eps, void *mean_invstd) {
  CUDA_CHECK(cuda_bn_finalize_eval(ctx_of(be)->compute, c, running_mean, running_var, eps,
                                   mean_invstd));
}

static void op_bn_apply(Backend *be, int n, int c, int h, int w, void *y, const void *x,
                        const void *mean_invstd, const void *gamma, const void *beta,
                        const void *residual, int relu) {
  CudaCtx *ctx = ctx_of(be);
  CUDA_CHECK(cuda_bn_apply(ctx->compute, ctx->act, rows(n, h, w), c, y, x, mean_invstd, gamma,
                           beta, residual, relu));
}

static void op_bn_bwd_reduce(Backend *be, int n, int c, int h, int w, const void *dy,
                             const void *y, const void *x, const void *mean_invstd, int relu,
                             void *dresidual, int dres_accumulate, void *dgamma, void *dbeta,
                             double *sums) {
  CudaCtx *ctx = ctx_of(be);
  CUDA_CHECK(cuda_bn_bwd_reduce(ctx->compute, ctx->act, rows(n, h, w), c, dy, y, x, mean_invstd,
                                relu, dresidual, dres_accumulate, dgamma, dbeta, ctx->bn_part,
                                sums));
}

static void op_bn_bwd_apply(Backend *be, int n, int c, int h, int w, void *dx, const void *dy,
                            const void *y, const void *x, const void *mean_invstd,
                            const void *gamma, int relu, const double *fwd_stats,
                            const double *sums, int accumulate) {
  CudaCtx *ctx = ctx_of(be);
  CUDA_CHECK(cuda_bn_bwd_apply(ctx->compute, ctx->act, rows(n, h, w), c, dx, dy, y, x,
                               mean_invstd, gamma, relu, fwd_stats, sums, accumulate));
}

/* ---- pooling, shortcut ------------------------------------------------------------- */

static void op_maxpool_fwd(Backend *be, int n, int c, int h, int w, int r, int stride, int pad,
                           void *y, const void *x) {
  CudaCtx *ctx = ctx_of(be);
  CUDA_CHECK(cuda_maxpool_fwd(ctx->compute, ctx->act, n, c, h, w, r, stride, pad, y, x));
}

static void op_maxpool_bwd(Backend *be, int n, int c, int h, int w, int r, int stride, int pad,
                           void *dx, const void *dy, const void *x, const void *y) {
  CudaCtx *ctx = ctx_of(be);
  CUDA_CHECK(cuda_maxpool_bwd(ctx->compute, ctx->act, n, c, h, w, r, stride, pad, dx, dy, x, y));
}

static void op_avgpool_fwd(Backend *be, int n, int c, int h, int w, void *y, const void *x) {
  CudaCtx *ctx = ctx_of(be);
  CUDA_CHECK(cuda_avgpool_fwd(ctx->compute, ctx->act, n, c, h, w, y, x));
}

static void op_avgpool_bwd(Backend *be, int n, int c, int h, int w, void *dx, const void *dy) {
  CudaCtx *ctx = ctx_of(be);
  CUDA_CHECK(cuda_avgpool_bwd(ctx->compute, ctx->act, n, c, h, w, dx, dy));
}

static void op_shortcut_pad_fwd(Backend *be, int n, int c_in, int h, int w, int c_out, int stride,
                                void *y, const void *x) {
  CudaCtx *ctx = ctx_of(be);
  CUDA_CHECK(cuda_shortcut_pad_fwd(ctx->compute, ctx->act, n, c_in, h, w, c_out, stride, y, x));
}

static void op_shortcut_pad_bwd(Backend *be, int n, int c_in, int h, int w, int c_out, int stride,
                                void *dx, const void *dy, int accumulate) {
  CudaCtx *ctx = ctx_of(be);
  CUDA_CHECK(cuda_shortcut_pad_bwd(ctx->compute, ctx->act, n, c_in, h, w, c_out, stride, dx, dy,
                                   accumulate));
}

/* ---- fully connected, loss ------------------------------------------------------------ */

static void op_fc_fwd(Backend *be, int n, int in, int out, void *y, const void *x, const void *w,
                      const void *b) {
  cuda_fc_fwd(ctx_of(be), n, in, out, y, x, w, b);
}

static void op_fc_bwd(Backend *be, int n, int in, int out, void *dx, void *dw, void *db,
                      const void *dy, const void *x, const void *w) {
  cuda_fc_bwd(ctx_of(be), n, in, out, dx, dw, db, dy, x, w);
}

static size_t round_up16(size_t n) { return (n + 15) & ~(size_t)15; }

static void op_xent(Backend *be, int n, int k, const void *logits, const int32_t *labels,
                    double eps, double grad_scale, void *dlogits, double *host_loss_sum,
                    int64_t host_correct[2]) {
  CudaCtx *ctx = ctx_of(be);
  size_t work_bytes = round_up16(cuda_xent_work_bytes(n));
  char *work = cuda_ctx_tmp_alloc(ctx, work_bytes + sizeof(CudaXentSums), "cross-entropy scratch");
  CudaXentSums *sums = (CudaXentSums *)(work + work_bytes);
  CUDA_CHECK(cuda_xent(ctx->compute, ctx->act, n, k, logits, labels, eps, grad_scale, dlogits,
                       work, sums));
  if (host_loss_sum || host_correct) {
    CudaXentSums h;
    memcpy(&h, cuda_ctx_read_back(ctx, sums, sizeof h), sizeof h);
    if (host_loss_sum) *host_loss_sum = h.loss_sum;
    if (host_correct) host_correct[0] = h.top1, host_correct[1] = h.top5;
  }
  cuda_ctx_tmp_free(ctx, work);
}

/* ---- optimizer ----------------------------------------------------------------------- */

/* Segments [first, first + count) as one launch's batch. */
static void seg_batch(CudaSegBatch *b, const OptSegment *segs, int first, int count) {
  memset(b, 0, sizeof *b);
  b->n = count;
  for (int j = 0; j < count; j++) {
    const OptSegment *s = &segs[first + j];
    b->offset[j] = (long long)s->offset;
    b->start[j + 1] = b->start[j] + (long long)s->n_elems;
    b->weight_decay[j] = (float)s->weight_decay;
    b->trust[j] = (float)s->trust;
  }
}

static int batch_len(int first, int n_segs) {
  return n_segs - first < CUDA_SEG_BATCH ? n_segs - first : CUDA_SEG_BATCH;
}

static void op_sgd_step(Backend *be, void *params, void *work, const void *grads,
                        void *momentum_buf, const OptSegment *segs, int n_segs,
                        const OptHyper *hyper) {
  CudaCtx *ctx = ctx_of(be);
  CudaSgdHyper h = {(float)hyper->lr, (float)hyper->momentum, (float)hyper->grad_scale,
                    hyper->nesterov};
  void *wk = work == params ? NULL : work;
  for (int first = 0; first < n_segs; first += CUDA_SEG_BATCH) {
    CudaSegBatch b;
    seg_batch(&b, segs, first, batch_len(first, n_segs));
    CUDA_CHECK(cuda_sgd(ctx->compute, ctx->act, params, wk, grads, momentum_buf, &b, h));
  }
}

static void op_segment_norms(Backend *be, const void *params, const void *grads,
                             const OptSegment *segs, int n_segs, double *host_out) {
  if (n_segs < 1) return;
  CudaCtx *ctx = ctx_of(be);
  size_t out_bytes = 2 * sizeof(double) * (size_t)n_segs;
  double *out = cuda_ctx_tmp_alloc(ctx, out_bytes, "segment norms");
  void *work = cuda_ctx_tmp_alloc(ctx, cuda_segment_norms_work_bytes(), "segment norms scratch");
  for (int first = 0; first < n_segs; first += CUDA_SEG_BATCH) {
    CudaSegBatch b;
    seg_batch(&b, segs, first, batch_len(first, n_segs));
    CUDA_CHECK(cuda_segment_norms(ctx->compute, params, grads, &b, work, out + 2 * first));
  }
  memcpy(host_out, cuda_ctx_read_back(ctx, out, out_bytes), out_bytes);
  cuda_ctx_tmp_free(ctx, work);
  cuda_ctx_tmp_free(ctx, out);
}

static int64_t op_count_nonfinite(Backend *be, const void *x, size_t n_elems) {
  CudaCtx *ctx = ctx_of(be);
  unsigned long long *count = cuda_ctx_tmp_alloc(ctx, sizeof *count, "non-finite count");
  CUDA_CHECK(cuda_count_nonfinite(ctx->compute, x, n_elems, count));
  unsigned long long h;
  memcpy(&h, cuda_ctx_read_back(ctx, count, sizeof h), sizeof h);
  cuda_ctx_tmp_free(ctx, count);
  return (int64_t)h;
}

static void op_scale(Backend *be, void *x, size_t n_elems, double s) {
  CUDA_CHECK(cuda_scale(ctx_of(be)->compute, x, n_elems, (float)s));
}

/* ---- entry points ------------------------------------------------------------------- */

int backend_cuda_device_count(void) {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    (void)cudaGetLastError();
    return 0;
  }
  return n;
}

static void set_ops(Backend *be) {
  be->destroy = op_destroy;
  be->alloc = op_alloc;
  be->free = op_free;
  be->zero = op_zero;
  be->copy = op_copy;
  be->upload = op_upload;
  be->download = op_download;
  be->sync = op_sync;
  be->alloc_host = op_alloc_host;
  be->free_host = op_free_host;
  be->params_to_host_f32 = op_params_to_host_f32;
  be->params_from_host_f32 = op_params_from_host_f32;
  be->act_to_host_f32 = op_act_to_host_f32;
  be->act_from_host_f32 = op_act_from_host_f32;
  be->cast_params = op_cast_params;
  be->input_u8 = op_input_u8;
  be->upload_labels = op_upload_labels;
  be->conv_plan = op_conv_plan;
  be->conv_plan_free = op_conv_plan_free;
  be->conv_fwd = op_conv_fwd;
  be->conv_bwd_data = op_conv_bwd_data;
  be->conv_bwd_filter = op_conv_bwd_filter;
  be->bn_stats = op_bn_stats;
  be->bn_finalize = op_bn_finalize;
  be->bn_finalize_eval = op_bn_finalize_eval;
  be->bn_apply = op_bn_apply;
  be->bn_bwd_reduce = op_bn_bwd_reduce;
  be->bn_bwd_apply = op_bn_bwd_apply;
  be->maxpool_fwd = op_maxpool_fwd;
  be->maxpool_bwd = op_maxpool_bwd;
  be->avgpool_fwd = op_avgpool_fwd;
  be->avgpool_bwd = op_avgpool_bwd;
  be->shortcut_pad_fwd = op_shortcut_pad_fwd;
  be->shortcut_pad_bwd = op_shortcut_pad_bwd;
  be->fc_fwd = op_fc_fwd;
  be->fc_bwd = op_fc_bwd;
  be->xent = op_xent;
  be->sgd_step = op_sgd_step;
  be->segment_norms = op_segment_norms;
  be->count_nonfinite = op_count_nonfinite;
  be->scale = op_scale;
}

Backend *backend_cuda_create(const CudaBackendOptions *opt) {
  CudaCtx *ctx = cuda_ctx_create(opt);
  Backend *be = mem_calloc_or_die(1, sizeof *be, "CUDA backend");
  be->kind = BACKEND_CUDA;
  be->name = "cuda";
  be->act_bytes = cuda_dtype_bytes(ctx->act);
  be->param_bytes = (int)sizeof(float);
  be->impl = ctx;
  set_ops(be);
  return be;
}

static CudaCtx *cuda_ctx_checked(Backend *be) {
  CHECK(be && be->kind == BACKEND_CUDA, "not a CUDA backend");
  return ctx_of(be);
}

void *backend_cuda_stream(Backend *be) { return (void *)cuda_ctx_checked(be)->compute; }

size_t backend_cuda_free_bytes(Backend *be) {
  cuda_ctx_bind(cuda_ctx_checked(be));
  size_t free_b = 0, total_b = 0;
  CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
  return free_b;
}

size_t backend_cuda_workspace_bytes(Backend *be) {
  return cuda_ctx_checked(be)->workspace_bytes;
}

size_t backend_cuda_conv_algos_export(Backend *be, void *host_blob, size_t cap) {
  return cuda_conv_algos_export(cuda_ctx_checked(be), host_blob, cap);
}

int backend_cuda_conv_algos_import(Backend *be, const void *host_blob, size_t n_bytes) {
  return cuda_conv_algos_import(cuda_ctx_checked(be), host_blob, n_bytes);
}

void backend_cuda_set_conv_algo_heuristic(Backend *be, int heuristic) {
  cuda_ctx_checked(be)->conv_algo_heuristic = heuristic != 0;
}
