/* backend.h - the ops table every backend implements.
 *
 * The model (src/model) is written once against this table; a backend decides
 * layout, precision and where memory lives:
 *
 *   backend   activations            parameters / grads / buffers   layout
 *   cpu       fp32                   fp32                           NCHW
 *   cpu64     fp64 (tests only)      fp64                           NCHW
 *   cuda      bf16 | fp16 | fp32     fp32 (master)                  NHWC
 *
 * Shapes in this header are always LOGICAL (n, c, h, w); each backend maps them
 * to its own layout.  "act" pointers hold be->act_bytes per element; "param"
 * pointers (parameters, gradients, BN buffers, saved statistics, optimizer
 * state) hold be->param_bytes per element.  Convolution and FC weights are
 * read from the WORKING copy of the parameters (act dtype; the same memory as
 * the master parameters when act_bytes == param_bytes); BN gamma/beta and the
 * FC bias are read from the master parameters.  Gradients are always written
 * in param dtype into the gradient arena.
 *
 * All pointers returned by be->alloc and passed to ops are device memory of
 * the backend (host memory for the CPU backends).  Ops are asynchronous on the
 * backend's compute stream; be->sync waits for them.  Host pointers are
 * marked "host".
 *
 * Batch norm is split so a cross-rank reduction can sit in the middle (sync BN,
 * torch.nn.SyncBatchNorm semantics):
 *   forward:   bn_stats -> [all-reduce stats] -> bn_finalize -> bn_apply
 *   backward:  bn_bwd_reduce -> [all-reduce sums] -> bn_bwd_apply
 * Reduction buffers are double precision (device memory) so sums over many
 * ranks and large batches do not lose the variance to cancellation.
 */
#ifndef RD_BACKEND_BACKEND_H
#define RD_BACKEND_BACKEND_H

#include <stddef.h>
#include <stdint.h>

typedef struct Backend Backend;

typedef enum { BACKEND_CPU, BACKEND_CPU64, BACKEND_CUDA } BackendKind;

/* Convolution geometry (square kernels, symmetric padding, no groups). */
typedef struct {
  int n, c, h, w;  /* input (N,C,H,W) */
  int k, r;        /* output channels, kernel side (r x r) */
  int stride, pad;
  int p, q;        /* output height, width = (h + 2 pad - r) / stride + 1 */
} ConvShape;

/* One contiguous run of the parameter arena with one weight decay. */
typedef struct {
  size_t offset;  /* elements from the arena start */
  size_t n_elems;
  double weight_decay;
  double trust;   /* multiplier of this segment's update g (LARS trust ratio; 1 for SGD) */
} OptSegment;

typedef struct {
  double lr;
  double momentum;
  int nesterov;
  double grad_scale; /* gradients are multiplied by this first (1 / loss scale) */
} OptHyper;

struct Backend {
  BackendKind kind;
  const char *name;   /* "cpu", "cpu64", "cuda" */
  int act_bytes;      /* bytes per activation element */
  int param_bytes;    /* bytes per parameter / gradient / buffer element */
  void *impl;         /* backend-private state */

  void (*destroy)(Backend *be);

  /* ---- memory (device memory for device backends) ---------------------- */
  void *(*alloc)(Backend *be, size_t n_bytes, const char *what); /* dies on failure */
  void (*free)(Backend *be, void *ptr);
  void (*zero)(Backend *be, void *ptr, size_t n_bytes);
  void (*copy)(Backend *be, void *dst, const void *src, size_t n_bytes); /* device->device */
  void (*upload)(Backend *be, void *dst, const void *host_src, size_t n_bytes);   /* sync */
  void (*download)(Backend *be, void *host_dst, const void *src, size_t n_bytes); /* sync */
  void (*sync)(Backend *be);
  /* Host memory the backend can copy from fast (pinned on CUDA; plain on CPU),
   * for the data pipeline's batch ring. */
  void *(*alloc_host)(Backend *be, size_t n_bytes, const char *what);
  void (*free_host)(Backend *be, void *host_ptr);

  /* Converts n param-dtype values to/from host float32 (for export, import,
   * checkpoints and tests; handles fp64 and device memory). */
  void (*params_to_host_f32)(Backend *be, float *host_dst, const void *src, size_t n_elems);
  void (*params_from_host_f32)(Backend *be, void *dst, const float *host_src, size_t n_elems);
  /* Same for activations: act dtype, logical (n,c,h,w) <-> host NCHW float32. */
  void (*act_to_host_f32)(Backend *be, float *host_nchw, const void *x, int n, int c, int h,
                          int w);
  void (*act_from_host_f32)(Backend *be, void *x, const float *host_nchw, int n, int c, int h,
                            int w);

  /* Refreshes the act-dtype working copy from the master parameters (no-op when
   * they are the same memory, i.e. work == params). */
  void (*cast_params)(Backend *be, void *work, const void *params, size_t n_elems);

  /* ---- input ------------------------------------------------------------ */
  /* x (N,3,H,W) act = (src / 255 - mean[c]) / std[c]; src host (N,H,W,3) uint8. */
  void (*input_u8)(Backend *be, void *x, const uint8_t *host_src, int n, int h, int w,
                   const float mean[3], const float std[3]);
  /* labels: host int32 (N) -> device int32 (N). */
  void (*upload_labels)(Backend *be, int32_t *dst, const int32_t *host_src, int n);

  /* ---- convolution ------------------------------------------------------ */
  /* A plan is made once per layer shape (CUDA: descriptors and algorithms). */
  void *(*conv_plan)(Backend *be, const ConvShape *shape);
  void (*conv_plan_free)(Backend *be, void *plan);
  /* y (N,K,P,Q) act = conv(x (N,C,H,W) act, w (K,C,R,R) work) */
  void (*conv_fwd)(Backend *be, void *plan, void *y, const void *x, const void *w);
  /* dx (N,C,H,W) act  = / += conv_transpose(dy (N,K,P,Q), w) */
  void (*conv_bwd_data)(Backend *be, void *plan, void *dx, const void *dy, const void *w,
                        int accumulate);
  /* dw (K,C,R,R) param = correlation(x, dy)  (written, not accumulated) */
  void (*conv_bwd_filter)(Backend *be, void *plan, void *dw, const void *dy, const void *x);

  /* ---- batch norm ------------------------------------------------------- */
  /* stats (2C+1) double, device: [sum x (C) | sum x^2 (C) | count], local. */
  void (*bn_stats)(Backend *be, int n, int c, int h, int w, const void *x, double *stats);
  /* From (reduced) stats: mean_invstd (2C) param = [mean | 1/sqrt(var_biased + eps)];
   * if update_running: running_mean/var (C) param updated with momentum,
   * running_var using the unbiased variance (count / (count - 1)). */
  void (*bn_finalize)(Backend *be, int c, const double *stats, void *mean_invstd,
                      void *running_mean, void *running_var, double momentum, double eps,
                      int update_running);
  /* Eval mode: mean_invstd from the running statistics. */
  void (*bn_finalize_eval)(Backend *be, int c, const void *running_mean,
                           const void *running_var, double eps, void *mean_invstd);
  /* y = relu?( gamma (x - mean) invstd + beta [+ residual] ), all (N,C,H,W) act;
   * residual may be NULL; y may not alias x. */
  void (*bn_apply)(Backend *be, int n, int c, int h, int w, void *y, const void *x,
                   const void *mean_invstd, const void *gamma, const void *beta,
                   const void *residual, int relu);
  /* Backward, part 1 (local).  g = relu ? dy * [y > 0] : dy.
   * dresidual (nullable) = / += g (accumulate flag);  dgamma = sum g xhat,
   * dbeta = sum g (param, written);  sums (2C) double = [sum g | sum g xhat]. */
  void (*bn_bwd_reduce)(Backend *be, int n, int c, int h, int w, const void *dy, const void *y,
                        const void *x, const void *mean_invstd, int relu, void *dresidual,
                        int dres_accumulate, void *dgamma, void *dbeta, double *sums);
  /* Backward, part 2, with (reduced) sums and the forward stats' count M:
   * dx = / += gamma invstd (g - sum_g / M - xhat sum_gxhat / M). */
  void (*bn_bwd_apply)(Backend *be, int n, int c, int h, int w, void *dx, const void *dy,
                       const void *y, const void *x, const void *mean_invstd,
                       const void *gamma, int relu, const double *fwd_stats,
                       const double *sums, int accumulate);

  /* ---- pooling ---------------------------------------------------------- */
  /* Max pool, window r, stride, padding pad (padding never wins); backward
   * sends each gradient to the first maximum of the window (PyTorch). */
  void (*maxpool_fwd)(Backend *be, int n, int c, int h, int w, int r, int stride, int pad,
                      void *y, const void *x);
  void (*maxpool_bwd)(Backend *be, int n, int c, int h, int w, int r, int stride, int pad,
                      void *dx, const void *dy, const void *x, const void *y);
  /* Global average pool: y (N,C) act = mean over H,W of x (N,C,H,W). */
  void (*avgpool_fwd)(Backend *be, int n, int c, int h, int w, void *y, const void *x);
  void (*avgpool_bwd)(Backend *be, int n, int c, int h, int w, void *dx, const void *dy);

  /* CIFAR shortcut option A: y (N,Cout,H/s,W/s) = x[:, :, ::s, ::s] placed at
   * channels [(Cout-Cin)/2, (Cout-Cin)/2 + Cin), zeros elsewhere. */
  void (*shortcut_pad_fwd)(Backend *be, int n, int c_in, int h, int w, int c_out, int stride,
                           void *y, const void *x);
  void (*shortcut_pad_bwd)(Backend *be, int n, int c_in, int h, int w, int c_out, int stride,
                           void *dx, const void *dy, int accumulate);

  /* ---- fully connected -------------------------------------------------- */
  /* y (N,O) act = x (N,I) act . w^T (O,I) work + b (O) param */
  void (*fc_fwd)(Backend *be, int n, int in, int out, void *y, const void *x, const void *w,
                 const void *b);
  /* dx (N,I) act written; dw (O,I), db (O) param written. */
  void (*fc_bwd)(Backend *be, int n, int in, int out, void *dx, void *dw, void *db,
                 const void *dy, const void *x, const void *w);

  /* ---- loss ------------------------------------------------------------- */
  /* Softmax cross-entropy with label smoothing eps (PyTorch): per sample
   * loss = -(1-eps) log p[label] - eps/K sum_k log p[k].
   * host_loss_sum = sum of per-sample losses; host_correct[0], [1] = top-1 and
   * top-5 hits (a sample is a hit when fewer than k classes score strictly
   * higher than its label).  If dlogits: dlogits (N,K) act =
   * grad_scale (p - ((1-eps) onehot + eps/K)).  labels device int32 (N).
   * host_loss_sum and host_correct may both be NULL: then nothing is read
   * back and a device backend does not wait for the GPU. */
  void (*xent)(Backend *be, int n, int k, const void *logits, const int32_t *labels,
               double eps, double grad_scale, void *dlogits, double *host_loss_sum,
               int64_t host_correct[2]);

  /* ---- optimizer -------------------------------------------------------- */
  /* SGD (PyTorch semantics, dampening 0) over segments of the arenas:
   * g = trust * (grad_scale * grad + wd * p);  buf = momentum * buf + g;
   * step = nesterov ? g + momentum * buf : buf;  p -= lr * step.
   * (trust is applied before the momentum, as in You et al.'s LARS.)
   * If work != params, the working copy is refreshed from the new params. */
  void (*sgd_step)(Backend *be, void *params, void *work, const void *grads, void *momentum_buf,
                   const OptSegment *segs, int n_segs, const OptHyper *hyper);
  /* Sums of squares of params and grads per segment (host double out[2*n_segs],
   * [|p|^2, |g|^2] per segment; for LARS and gradient-norm logging). */
  void (*segment_norms)(Backend *be, const void *params, const void *grads,
                        const OptSegment *segs, int n_segs, double *host_out);
  /* Number of non-finite values among n param-dtype elements. */
  int64_t (*count_nonfinite)(Backend *be, const void *x, size_t n_elems);
  /* x (param dtype) *= s */
  void (*scale)(Backend *be, void *x, size_t n_elems, double s);
};

/* Creates the CPU backend (fp32) with `threads` compute threads (0 = all cores). */
Backend *backend_cpu_create(int threads);
/* Creates the double-precision CPU backend (gradient checks in tests). */
Backend *backend_cpu64_create(int threads);

#endif
