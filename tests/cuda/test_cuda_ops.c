/* test_cuda_ops.c - every op of the CUDA backend against the CPU oracle.
 *
 * For each precision (fp32-strict, fp32 with TF32, bf16, fp16) a CUDA backend
 * runs every op of backend.h on random inputs next to backend_cpu_create's
 * fp32 oracle; inputs are first rounded to the GPU's activation dtype so both
 * sides start from identical values (cuda_test_util.h).  Shapes are
 * ResNet-50's (7x7/2 stem, 1x1 and 3x3 at stride 1 and 2, 2048-channel
 * tail, max pool 3/2, FC 2048 -> 1000) plus CIFAR shapes, and odd sizes that
 * take our kernels' scalar (non-vector) paths.
 *
 * Tolerances (relative L2 norm of gpu - cpu over the output tensor):
 *   precision     conv / FC   act outputs   fp32 outputs from equal inputs
 *   fp32-strict   1e-4        1e-5          1e-5
 *   fp32 (TF32)   5e-3        1e-5          1e-5
 *   bf16          1e-2        1e-2          1e-5
 *   fp16          5e-3        5e-3          1e-5
 * conv / FC: fp32-strict allows cuDNN's FMA algorithms incl. Winograd / FFT
 * (error ~1e-5); TF32 rounds inputs to 10 mantissa bits (expected ~6e-4);
 * bf16 / fp16 round the output once (expected ~1e-3 / ~3e-4).  "act outputs"
 * are elementwise results rounded to the act dtype.  "fp32 outputs" (BN
 * statistics and sums, dgamma, dbeta, db, running statistics, SGD's master
 * weights and momentum) come from identical inputs and differ only in
 * summation order.  Exact (0): max-pool forward, the shortcut forward,
 * copies, the non-finite count, top-1/top-5 counts, scale, input_u8 in fp32.
 *
 * Usage: test_cuda_ops [--quick]   (--quick: bf16 and fp32-strict, small
 * shapes, cuDNN's heuristic algorithms instead of measured ones; used under
 * compute-sanitizer).
 */
#include <stdio.h>
#include <string.h>

#include "backend/cuda/backend_cuda.h"
#include "config/config.h"
#include "cuda_test_util.h"

typedef struct {
  int precision;
  double tol_gemm, tol_act, tol_f32;
} PrecTol;

static const PrecTol PRECS[] = {
    {PREC_FP32_STRICT, 1e-4, 1e-5, 1e-5},
    {PREC_FP32, 5e-3, 1e-5, 1e-5},
    {PREC_BF16, 1e-2, 1e-2, 1e-5},
    {PREC_FP16, 5e-3, 5e-3, 1e-5},
};

static struct {
  Backend *cpu, *gpu;
  const PrecTol *tol;
  const char *pname;
  int quick;
} X;

/* ---- paired buffers ------------------------------------------------------------ */

/* An activation-like tensor (N,C,H,W) on both backends with its host values
 * (rounded to the GPU act dtype).  Weights use (1, count, 1, 1). */
typedef struct {
  int n, c, h, w;
  size_t count;
  float *host;
  void *g, *c_;
} Act;

static void act_push(Act *a) {
  X.gpu->act_from_host_f32(X.gpu, a->g, a->host, a->n, a->c, a->h, a->w);
  X.gpu->act_to_host_f32(X.gpu, a->host, a->g, a->n, a->c, a->h, a->w);
  X.cpu->act_from_host_f32(X.cpu, a->c_, a->host, a->n, a->c, a->h, a->w);
}

static Act act_new(int n, int c, int h, int w, uint32_t seed, double lo, double hi) {
  Act a = {n, c, h, w, (size_t)n * c * h * w, NULL, NULL, NULL};
  a.host = mem_alloc_or_die(a.count * sizeof(float), "host tensor");
  if (lo == hi)
    for (size_t i = 0; i < a.count; i++) a.host[i] = (float)lo;
  else
    cu_rand(a.host, a.count, seed, lo, hi);
  a.g = X.gpu->alloc(X.gpu, a.count * (size_t)X.gpu->act_bytes, "gpu tensor");
  a.c_ = X.cpu->alloc(X.cpu, a.count * sizeof(float), "cpu tensor");
  act_push(&a);
  return a;
}

static Act act_zeros(int n, int c, int h, int w) { return act_new(n, c, h, w, 0, 0, 0); }

/* The CPU copy takes the GPU's values (e.g. y for the ReLU mask). */
static void act_sync_from_gpu(Act *a) {
  X.gpu->act_to_host_f32(X.gpu, a->host, a->g, a->n, a->c, a->h, a->w);
  X.cpu->act_from_host_f32(X.cpu, a->c_, a->host, a->n, a->c, a->h, a->w);
}

static void act_both(const Act *a, float **gpu, float **cpu) {
  *gpu = mem_alloc_or_die(a->count * sizeof(float), "gpu result");
  *cpu = mem_alloc_or_die(a->count * sizeof(float), "cpu result");
  X.gpu->act_to_host_f32(X.gpu, *gpu, a->g, a->n, a->c, a->h, a->w);
  X.cpu->act_to_host_f32(X.cpu, *cpu, a->c_, a->n, a->c, a->h, a->w);
}

typedef double (*Metric)(const float *gpu, const float *cpu, size_t n);

/* metric(GPU copy, CPU copy) of an activation tensor. */
static double act_cmp(const Act *a, Metric metric) {
  float *g, *c;
  act_both(a, &g, &c);
  double e = metric(g, c, a->count);
  mem_free(g);
  mem_free(c);
  return e;
}

static double act_err(const Act *a) { return act_cmp(a, cu_rel_err); }
static double act_max_diff(const Act *a) { return act_cmp(a, cu_max_abs_diff); }

static void act_free(Act *a) {
  if (!a->host) return;
  X.gpu->free(X.gpu, a->g);
  X.cpu->free(X.cpu, a->c_);
  mem_free(a->host);
  memset(a, 0, sizeof *a);
}

/* fp32 parameter-dtype vector on both backends. */
typedef struct {
  size_t n;
  void *g, *c;
} Par;

static Par par_from(const float *host, size_t n) {
  Par p = {n, X.gpu->alloc(X.gpu, n * sizeof(float), "gpu param"),
           X.cpu->alloc(X.cpu, n * sizeof(float), "cpu param")};
  X.gpu->params_from_host_f32(X.gpu, p.g, host, n);
  X.cpu->params_from_host_f32(X.cpu, p.c, host, n);
  return p;
}

static Par par_new(size_t n, uint32_t seed, double lo, double hi) {
  float *h = mem_calloc_or_die(n ? n : 1, sizeof(float), "host param");
  if (lo != hi) cu_rand(h, n, seed, lo, hi);
  Par p = par_from(h, n);
  mem_free(h);
  return p;
}

static Par par_zeros(size_t n) { return par_new(n, 0, 0, 0); }

static void par_both(const Par *p, float **g, float **c) {
  *g = mem_alloc_or_die(p->n * sizeof(float) + 1, "gpu param result");
  *c = mem_alloc_or_die(p->n * sizeof(float) + 1, "cpu param result");
  X.gpu->params_to_host_f32(X.gpu, *g, p->g, p->n);
  X.cpu->params_to_host_f32(X.cpu, *c, p->c, p->n);
}

/* metric(GPU copy, CPU copy) of a parameter-dtype array. */
static double par_cmp(const Par *p, Metric metric) {
  float *g, *c;
  par_both(p, &g, &c);
  double e = metric(g, c, p->n);
  mem_free(g);
  mem_free(c);
  return e;
}

static double par_err(const Par *p) { return par_cmp(p, cu_rel_err); }
static double par_max_diff(const Par *p) { return par_cmp(p, cu_max_abs_diff); }

static void par_free(Par *p) {
  X.gpu->free(X.gpu, p->g);
  X.cpu->free(X.cpu, p->c);
}

/* double vector (BN statistics / sums) on both backends. */
typedef struct {
  size_t n;
  double *g, *c;
} Dbl;

static Dbl dbl_new(size_t n) {
  Dbl d = {n, X.gpu->alloc(X.gpu, n * sizeof(double), "gpu doubles"),
           X.cpu->alloc(X.cpu, n * sizeof(double), "cpu doubles")};
  X.gpu->zero(X.gpu, d.g, n * sizeof(double));
  X.cpu->zero(X.cpu, d.c, n * sizeof(double));
  return d;
}

static void dbl_both(const Dbl *d, double *g, double *c) {
  X.gpu->download(X.gpu, g, d->g, d->n * sizeof(double));
  X.cpu->download(X.cpu, c, d->c, d->n * sizeof(double));
}

static double dbl_err(const Dbl *d) {
  double *g = mem_alloc_or_die(d->n * sizeof(double), "doubles");
  double *c = mem_alloc_or_die(d->n * sizeof(double), "doubles");
  dbl_both(d, g, c);
  double e = cu_rel_err_f64(g, c, d->n);
  mem_free(g);
  mem_free(c);
  return e;
}

static void dbl_free(Dbl *d) {
  X.gpu->free(X.gpu, d->g);
  X.cpu->free(X.cpu, d->c);
}

/* ---- convolution ------------------------------------------------------------------ */

static void conv_case(int n, int c, int h, int w, int k, int r, int stride, int pad,
                      uint32_t seed) {
  ConvShape s = {n, c, h, w, k, r, stride, pad, (h + 2 * pad - r) / stride + 1,
                 (w + 2 * pad - r) / stride + 1};
  char name[96];
  snprintf(name, sizeof name, "%s conv %dx%dx%dx%d->%d %dx%d/%d", X.pname, n, c, h, w, k, r, r,
           stride);
  void *pg = X.gpu->conv_plan(X.gpu, &s), *pc = X.cpu->conv_plan(X.cpu, &s);
  const double wb = sqrt(3.0 / ((double)c * r * r));
  Act x = act_new(n, c, h, w, seed, -1, 1);
  Act wt = act_new(1, k * c * r * r, 1, 1, seed + 1, -wb, wb);
  Act y = act_zeros(n, k, s.p, s.q);
  X.gpu->conv_fwd(X.gpu, pg, y.g, x.g, wt.g);
  X.cpu->conv_fwd(X.cpu, pc, y.c_, x.c_, wt.c_);
  CU_EXPECT(act_err(&y), X.tol->tol_gemm, "%s fwd", name);

  Act dy = act_new(n, k, s.p, s.q, seed + 2, -1, 1);
  Act dx = act_new(n, c, h, w, seed + 3, -1, 1);
  X.gpu->conv_bwd_data(X.gpu, pg, dx.g, dy.g, wt.g, 1);
  X.cpu->conv_bwd_data(X.cpu, pc, dx.c_, dy.c_, wt.c_, 1);
  CU_EXPECT(act_err(&dx), X.tol->tol_gemm, "%s bwd-data +=", name);
  X.gpu->conv_bwd_data(X.gpu, pg, dx.g, dy.g, wt.g, 0);
  X.cpu->conv_bwd_data(X.cpu, pc, dx.c_, dy.c_, wt.c_, 0);
  CU_EXPECT(act_err(&dx), X.tol->tol_gemm, "%s bwd-data", name);

  Par dw = par_new((size_t)k * c * r * r, seed + 4, -1, 1); /* written, not accumulated */
  X.gpu->conv_bwd_filter(X.gpu, pg, dw.g, dy.g, x.g);
  X.cpu->conv_bwd_filter(X.cpu, pc, dw.c, dy.c_, x.c_);
  CU_EXPECT(par_err(&dw), X.tol->tol_gemm, "%s bwd-filter", name);

  par_free(&dw);
  act_free(&dx);
  act_free(&dy);
  act_free(&y);
  act_free(&wt);
  act_free(&x);
  X.gpu->conv_plan_free(X.gpu, pg);
  X.cpu->conv_plan_free(X.cpu, pc);
}

static void test_conv(void) {
  conv_case(8, 3, 32, 32, 16, 3, 1, 1, 100);    /* CIFAR stem */
  conv_case(8, 16, 32, 32, 32, 3, 2, 1, 110);   /* CIFAR stage change */
  conv_case(4, 64, 14, 14, 64, 3, 1, 1, 120);
  if (X.quick) return;
  conv_case(2, 3, 224, 224, 64, 7, 2, 3, 130);  /* ResNet stem 7x7/2 */
  conv_case(2, 64, 56, 56, 256, 1, 1, 0, 140);  /* bottleneck expand */
  conv_case(2, 256, 56, 56, 64, 1, 1, 0, 150);  /* bottleneck reduce */
  conv_case(2, 64, 56, 56, 64, 3, 1, 1, 160);
  conv_case(2, 128, 56, 56, 128, 3, 2, 1, 170); /* v1.5 strided 3x3 */
  conv_case(2, 256, 56, 56, 512, 1, 2, 0, 180); /* downsample 1x1/2 */
  conv_case(4, 2048, 7, 7, 512, 1, 1, 0, 190);
  conv_case(4, 512, 7, 7, 512, 3, 1, 1, 200);
}

/* ---- batch norm ---------------------------------------------------------------------- */

static void bn_case(int n, int c, int h, int w, int relu, int with_res, uint32_t seed) {
  char name[96];
  snprintf(name, sizeof name, "%s bn %dx%dx%dx%d relu %d res %d", X.pname, n, c, h, w, relu,
           with_res);
  const double momentum = 0.1, eps = 1e-5;
  Act x = act_new(n, c, h, w, seed, -1.5, 2.5);
  Par gamma = par_new(c, seed + 1, 0.5, 1.5), beta = par_new(c, seed + 2, -0.5, 0.5);
  Par rmean = par_new(c, seed + 3, -0.1, 0.1), rvar = par_new(c, seed + 4, 0.5, 1.5);
  Dbl stats = dbl_new(2 * (size_t)c + 1);
  X.gpu->bn_stats(X.gpu, n, c, h, w, x.g, stats.g);
  X.cpu->bn_stats(X.cpu, n, c, h, w, x.c_, stats.c);
  CU_EXPECT(dbl_err(&stats), X.tol->tol_f32, "%s stats", name);
  double count = 0;
  X.gpu->download(X.gpu, &count, stats.g + 2 * c, sizeof count);
  CU_EXPECT(fabs(count - (double)n * h * w), 0.0, "%s stats count", name);

  Par mi = par_zeros(2 * (size_t)c);
  X.gpu->bn_finalize(X.gpu, c, stats.g, mi.g, rmean.g, rvar.g, momentum, eps, 1);
  X.cpu->bn_finalize(X.cpu, c, stats.c, mi.c, rmean.c, rvar.c, momentum, eps, 1);
  CU_EXPECT(par_err(&mi), X.tol->tol_f32, "%s mean/invstd", name);
  CU_EXPECT(par_err(&rmean), X.tol->tol_f32, "%s running mean", name);
  CU_EXPECT(par_err(&rvar), X.tol->tol_f32, "%s running var", name);

  Act res = with_res ? act_new(n, c, h, w, seed + 5, -1, 1) : (Act){0};
  Act y = act_zeros(n, c, h, w);
  X.gpu->bn_apply(X.gpu, n, c, h, w, y.g, x.g, mi.g, gamma.g, beta.g, with_res ? res.g : NULL,
                  relu);
  X.cpu->bn_apply(X.cpu, n, c, h, w, y.c_, x.c_, mi.c, gamma.c, beta.c,
                  with_res ? res.c_ : NULL, relu);
  CU_EXPECT(act_err(&y), X.tol->tol_act, "%s apply", name);
  act_sync_from_gpu(&y); /* same ReLU mask on both sides */

  Act dy = act_new(n, c, h, w, seed + 6, -1, 1);
  Act dres = with_res ? act_new(n, c, h, w, seed + 7, -1, 1) : (Act){0};
  Par dgamma = par_zeros(c), dbeta = par_zeros(c);
  Dbl sums = dbl_new(2 * (size_t)c);
  X.gpu->bn_bwd_reduce(X.gpu, n, c, h, w, dy.g, y.g, x.g, mi.g, relu, with_res ? dres.g : NULL,
                       1, dgamma.g, dbeta.g, sums.g);
  X.cpu->bn_bwd_reduce(X.cpu, n, c, h, w, dy.c_, y.c_, x.c_, mi.c, relu,
                       with_res ? dres.c_ : NULL, 1, dgamma.c, dbeta.c, sums.c);
  if (with_res) CU_EXPECT(act_err(&dres), X.tol->tol_act, "%s dresidual +=", name);
  CU_EXPECT(par_err(&dgamma), X.tol->tol_f32, "%s dgamma", name);
  CU_EXPECT(par_err(&dbeta), X.tol->tol_f32, "%s dbeta", name);
  CU_EXPECT(dbl_err(&sums), X.tol->tol_f32, "%s sums", name);

  Act dx = act_new(n, c, h, w, seed + 8, -1, 1);
  X.gpu->bn_bwd_apply(X.gpu, n, c, h, w, dx.g, dy.g, y.g, x.g, mi.g, gamma.g, relu, stats.g,
                      sums.g, 1);
  X.cpu->bn_bwd_apply(X.cpu, n, c, h, w, dx.c_, dy.c_, y.c_, x.c_, mi.c, gamma.c, relu, stats.c,
                      sums.c, 1);
  CU_EXPECT(act_err(&dx), X.tol->tol_act, "%s dx +=", name);
  X.gpu->bn_bwd_apply(X.gpu, n, c, h, w, dx.g, dy.g, y.g, x.g, mi.g, gamma.g, relu, stats.g,
                      sums.g, 0);
  X.cpu->bn_bwd_apply(X.cpu, n, c, h, w, dx.c_, dy.c_, y.c_, x.c_, mi.c, gamma.c, relu, stats.c,
                      sums.c, 0);
  CU_EXPECT(act_err(&dx), X.tol->tol_act, "%s dx", name);

  X.gpu->bn_finalize_eval(X.gpu, c, rmean.g, rvar.g, eps, mi.g);
  X.cpu->bn_finalize_eval(X.cpu, c, rmean.c, rvar.c, eps, mi.c);
  CU_EXPECT(par_err(&mi), X.tol->tol_f32, "%s eval mean/invstd", name);

  act_free(&dx);
  dbl_free(&sums);
  par_free(&dgamma);
  par_free(&dbeta);
  act_free(&dres);
  act_free(&dy);
  act_free(&y);
  act_free(&res);
  par_free(&mi);
  dbl_free(&stats);
  par_free(&rvar);
  par_free(&rmean);
  par_free(&beta);
  par_free(&gamma);
  act_free(&x);
}

static void test_bn(void) {
  bn_case(4, 64, 28, 28, 1, 1, 300);  /* vector path, residual + ReLU */
  bn_case(4, 64, 28, 28, 0, 0, 310);  /* plain */
  bn_case(3, 5, 7, 7, 1, 0, 320);     /* odd channels: scalar path */
  bn_case(8, 16, 32, 32, 1, 1, 325);  /* CIFAR */
  if (X.quick) return;
  bn_case(8, 2048, 7, 7, 1, 1, 330);  /* wide: several channel blocks */
  bn_case(32, 64, 56, 56, 1, 0, 340); /* long: many row blocks */
}

/* ---- pooling, shortcut -------------------------------------------------------------- */

/* Coarse non-negative values (multiples of 0.25, a third of them 0): many ties. */
static void make_ties(Act *a) {
  for (size_t i = 0; i < a->count; i++) {
    float v = floorf(a->host[i] * 4.0f) / 4.0f;
    a->host[i] = v < 0 ? 0 : v;
  }
  act_push(a);
}

static void maxpool_case(int n, int c, int h, int w, int r, int stride, int pad, uint32_t seed) {
  char name[96];
  snprintf(name, sizeof name, "%s maxpool %dx%dx%dx%d %d/%d pad %d", X.pname, n, c, h, w, r,
           stride, pad);
  const int p = (h + 2 * pad - r) / stride + 1, q = (w + 2 * pad - r) / stride + 1;
  Act x = act_new(n, c, h, w, seed, -0.5, 1.5);
  make_ties(&x);
  Act y = act_zeros(n, c, p, q);
  X.gpu->maxpool_fwd(X.gpu, n, c, h, w, r, stride, pad, y.g, x.g);
  X.cpu->maxpool_fwd(X.cpu, n, c, h, w, r, stride, pad, y.c_, x.c_);
  CU_EXPECT(act_max_diff(&y), 0.0, "%s fwd (exact)", name);
  Act dy = act_new(n, c, p, q, seed + 1, -1, 1);
  Act dx = act_new(n, c, h, w, seed + 2, -1, 1); /* written, not accumulated */
  X.gpu->maxpool_bwd(X.gpu, n, c, h, w, r, stride, pad, dx.g, dy.g, x.g, y.g);
  X.cpu->maxpool_bwd(X.cpu, n, c, h, w, r, stride, pad, dx.c_, dy.c_, x.c_, y.c_);
  CU_EXPECT(act_err(&dx), X.tol->tol_act, "%s bwd (first maximum)", name);
  act_free(&dx);
  act_free(&dy);
  act_free(&y);
  act_free(&x);
}

static void avgpool_case(int n, int c, int h, int w, uint32_t seed) {
  char name[96];
  snprintf(name, sizeof name, "%s avgpool %dx%dx%dx%d", X.pname, n, c, h, w);
  Act x = act_new(n, c, h, w, seed, -1, 2);
  Act y = act_zeros(n, c, 1, 1);
  X.gpu->avgpool_fwd(X.gpu, n, c, h, w, y.g, x.g);
  X.cpu->avgpool_fwd(X.cpu, n, c, h, w, y.c_, x.c_);
  CU_EXPECT(act_err(&y), X.tol->tol_act, "%s fwd", name);
  Act dy = act_new(n, c, 1, 1, seed + 1, -1, 1);
  Act dx = act_new(n, c, h, w, seed + 2, -1, 1);
  X.gpu->avgpool_bwd(X.gpu, n, c, h, w, dx.g, dy.g);
  X.cpu->avgpool_bwd(X.cpu, n, c, h, w, dx.c_, dy.c_);
  CU_EXPECT(act_err(&dx), X.tol->tol_act, "%s bwd", name);
  act_free(&dx);
  act_free(&dy);
  act_free(&y);
  act_free(&x);
}

static void shortcut_case(int n, int c_in, int h, int w, int c_out, int stride, uint32_t seed) {
  char name[96];
  snprintf(name, sizeof name, "%s shortcut_pad %dx%dx%dx%d->%d /%d", X.pname, n, c_in, h, w,
           c_out, stride);
  const int ho = (h + stride - 1) / stride, wo = (w + stride - 1) / stride;
  Act x = act_new(n, c_in, h, w, seed, -1, 1);
  Act y = act_new(n, c_out, ho, wo, seed + 1, -1, 1); /* overwritten everywhere */
  X.gpu->shortcut_pad_fwd(X.gpu, n, c_in, h, w, c_out, stride, y.g, x.g);
  X.cpu->shortcut_pad_fwd(X.cpu, n, c_in, h, w, c_out, stride, y.c_, x.c_);
  CU_EXPECT(act_max_diff(&y), 0.0, "%s fwd (exact)", name);
  Act dy = act_new(n, c_out, ho, wo, seed + 2, -1, 1);
  Act dx = act_new(n, c_in, h, w, seed + 3, -1, 1);
  X.gpu->shortcut_pad_bwd(X.gpu, n, c_in, h, w, c_out, stride, dx.g, dy.g, 1);
  X.cpu->shortcut_pad_bwd(X.cpu, n, c_in, h, w, c_out, stride, dx.c_, dy.c_, 1);
  CU_EXPECT(act_err(&dx), X.tol->tol_act, "%s bwd +=", name);
  X.gpu->shortcut_pad_bwd(X.gpu, n, c_in, h, w, c_out, stride, dx.g, dy.g, 0);
  X.cpu->shortcut_pad_bwd(X.cpu, n, c_in, h, w, c_out, stride, dx.c_, dy.c_, 0);
  CU_EXPECT(act_max_diff(&dx), 0.0, "%s bwd (exact)", name);
  act_free(&dx);
  act_free(&dy);
  act_free(&y);
  act_free(&x);
}

static void test_pool_shortcut(void) {
  maxpool_case(3, 5, 9, 9, 3, 2, 1, 400);
  maxpool_case(2, 8, 10, 11, 2, 2, 0, 405);
  if (!X.quick) maxpool_case(2, 64, 112, 112, 3, 2, 1, 410); /* ResNet stem pool */
  avgpool_case(8, 64, 8, 8, 420);
  avgpool_case(3, 5, 3, 3, 425);
  if (!X.quick) avgpool_case(4, 2048, 7, 7, 430);
  shortcut_case(8, 16, 32, 32, 32, 2, 440);
  shortcut_case(2, 5, 7, 7, 9, 2, 445); /* odd sizes: ceil(7 / 2) rows */
  shortcut_case(2, 16, 8, 8, 16, 1, 450);
}

/* ---- fully connected, loss -------------------------------------------------------------- */

static void fc_case(int n, int in, int out, uint32_t seed) {
  char name[96];
  snprintf(name, sizeof name, "%s fc %dx%d->%d", X.pname, n, in, out);
  const double wb = sqrt(3.0 / in);
  Act x = act_new(n, in, 1, 1, seed, -1, 1);
  Act wt = act_new(1, out * in, 1, 1, seed + 1, -wb, wb);
  Par b = par_new(out, seed + 2, -0.5, 0.5);
  Act y = act_zeros(n, out, 1, 1);
  X.gpu->fc_fwd(X.gpu, n, in, out, y.g, x.g, wt.g, b.g);
  X.cpu->fc_fwd(X.cpu, n, in, out, y.c_, x.c_, wt.c_, b.c);
  CU_EXPECT(act_err(&y), X.tol->tol_gemm, "%s fwd", name);
  Act dy = act_new(n, out, 1, 1, seed + 3, -1, 1);
  Act dx = act_new(n, in, 1, 1, seed + 4, -1, 1);
  Par dw = par_new((size_t)out * in, seed + 5, -1, 1), db = par_new(out, seed + 6, -1, 1);
  X.gpu->fc_bwd(X.gpu, n, in, out, dx.g, dw.g, db.g, dy.g, x.g, wt.g);
  X.cpu->fc_bwd(X.cpu, n, in, out, dx.c_, dw.c, db.c, dy.c_, x.c_, wt.c_);
  CU_EXPECT(act_err(&dx), X.tol->tol_gemm, "%s dx", name);
  CU_EXPECT(par_err(&dw), X.tol->tol_gemm, "%s dw", name);
  CU_EXPECT(par_err(&db), X.tol->tol_f32, "%s db", name);
  par_free(&db);
  par_free(&dw);
  act_free(&dx);
  act_free(&dy);
  act_free(&y);
  par_free(&b);
  act_free(&wt);
  act_free(&x);
}

static void xent_case(int n, int k, double eps, int ties, uint32_t seed) {
  char name[96];
  snprintf(name, sizeof name, "%s xent %dx%d eps %.2f%s", X.pname, n, k, eps, ties ? " ties" : "");
  Act z = act_new(n, k, 1, 1, seed, -3, 3);
  if (ties) {
    for (size_t i = 0; i < z.count; i++) z.host[i] = roundf(z.host[i] * 2.0f) / 2.0f;
    act_push(&z);
  }
  int32_t *labels = mem_alloc_or_die((size_t)n * sizeof(int32_t), "labels");
  RngStream rs;
  rng_stream_init(&rs, 7, rng_id_hi(RNG_DOMAIN_TEST, seed), 1);
  for (int i = 0; i < n; i++) labels[i] = (int32_t)rng_below(&rs, (uint32_t)k);
  int32_t *lab_g = X.gpu->alloc(X.gpu, (size_t)n * sizeof(int32_t), "labels");
  X.gpu->upload_labels(X.gpu, lab_g, labels, n);
  int32_t *back = mem_alloc_or_die((size_t)n * sizeof(int32_t), "labels");
  X.gpu->download(X.gpu, back, lab_g, (size_t)n * sizeof(int32_t));
  CU_EXPECT(memcmp(back, labels, (size_t)n * sizeof(int32_t)) != 0, 0.0, "%s labels", name);

  Act dz = act_zeros(n, k, 1, 1);
  double loss_g = 0, loss_c = 0;
  int64_t hit_g[2] = {-1, -1}, hit_c[2] = {-2, -2};
  X.gpu->xent(X.gpu, n, k, z.g, lab_g, eps, 1.0 / n, dz.g, &loss_g, hit_g);
  X.cpu->xent(X.cpu, n, k, z.c_, labels, eps, 1.0 / n, dz.c_, &loss_c, hit_c);
  CU_EXPECT(fabs(loss_g - loss_c) / fabs(loss_c), 1e-5, "%s loss", name);
  CU_EXPECT((double)llabs(hit_g[0] - hit_c[0]), 0.0, "%s top-1 hits", name);
  CU_EXPECT((double)llabs(hit_g[1] - hit_c[1]), 0.0, "%s top-5 hits", name);
  CU_EXPECT(act_err(&dz), X.tol->tol_act, "%s dlogits", name);
  /* the CUDA extension: no host outputs, no gradient, no wait */
  X.gpu->xent(X.gpu, n, k, z.g, lab_g, eps, 1.0, NULL, NULL, NULL);
  X.gpu->sync(X.gpu);
  act_free(&dz);
  mem_free(back);
  X.gpu->free(X.gpu, lab_g);
  mem_free(labels);
  act_free(&z);
}

static void test_fc_xent(void) {
  fc_case(5, 64, 10, 500); /* CIFAR head: odd leading dimensions */
  fc_case(8, 2048, 1000, 510);
  xent_case(7, 10, 0.0, 1, 520);
  xent_case(64, 1000, 0.1, 0, 530);
  xent_case(33, 1000, 0.1, 1, 540);
}

/* ---- optimizer -------------------------------------------------------------------------- */

enum { N_SEGS = 60 }; /* more than one launch batch (CUDA_SEG_BATCH = 48) */

/* Segments with gaps between them (elements no segment covers must not move),
 * an empty one, varied weight decay and lr scale.  Returns the arena size. */
static size_t make_segments(OptSegment *segs) {
  RngStream rs;
  rng_stream_init(&rs, 11, rng_id_hi(RNG_DOMAIN_TEST, 600), 0);
  size_t off = 0;
  for (int i = 0; i < N_SEGS; i++) {
    off += i % 5 == 0 ? 7 : 0;
    size_t len = i == 13 ? 0 : rng_below(&rs, 3000);
    segs[i] = (OptSegment){off, len, (i % 3) * 5e-4, 0.5 + 0.5 * (i % 4)};
    off += len;
  }
  return off + 5;
}

static void sgd_case(int nesterov, int with_momentum) {
  char name[96];
  snprintf(name, sizeof name, "%s sgd nesterov %d momentum %d", X.pname, nesterov, with_momentum);
  OptSegment segs[N_SEGS];
  size_t n = make_segments(segs);
  Par p = par_new(n, 610, -1, 1), mom = par_zeros(n);
  void *work = X.gpu->act_bytes == X.gpu->param_bytes
                   ? p.g
                   : X.gpu->alloc(X.gpu, n * (size_t)X.gpu->act_bytes, "working copy");
  X.gpu->cast_params(X.gpu, work, p.g, n);
  OptHyper hyper = {0.1, with_momentum ? 0.9 : 0.0, nesterov, 1.0 / 128};
  for (int step = 0; step < 3; step++) {
    Par g = par_new(n, 620 + step, -100, 100);
    X.gpu->sgd_step(X.gpu, p.g, work, g.g, with_momentum ? mom.g : NULL, segs, N_SEGS, &hyper);
    X.cpu->sgd_step(X.cpu, p.c, p.c, g.c, with_momentum ? mom.c : NULL, segs, N_SEGS, &hyper);
    par_free(&g);
  }
  CU_EXPECT(par_err(&p), X.tol->tol_f32, "%s params", name);
  if (with_momentum) CU_EXPECT(par_err(&mom), X.tol->tol_f32, "%s momentum", name);
  float *wg = mem_alloc_or_die(n * sizeof(float), "work"), *pc = mem_alloc_or_die(n * 4, "p");
  X.gpu->act_to_host_f32(X.gpu, wg, work, 1, (int)n, 1, 1);
  X.cpu->params_to_host_f32(X.cpu, pc, p.c, n);
  CU_EXPECT(cu_rel_err(wg, pc, n), X.tol->tol_act, "%s working copy", name);
  mem_free(pc);
  mem_free(wg);
  if (work != p.g) X.gpu->free(X.gpu, work);
  par_free(&mom);
  par_free(&p);
}

static void test_optim(void) {
  sgd_case(0, 1);
  sgd_case(1, 1);
  sgd_case(0, 0);

  OptSegment segs[N_SEGS];
  size_t n = make_segments(segs);
  Par p = par_new(n, 630, -1, 1), g = par_new(n, 631, -3, 3);
  double out_g[2 * N_SEGS], out_c[2 * N_SEGS];
  X.gpu->segment_norms(X.gpu, p.g, g.g, segs, N_SEGS, out_g);
  X.cpu->segment_norms(X.cpu, p.c, g.c, segs, N_SEGS, out_c);
  CU_EXPECT(cu_rel_err_f64(out_g, out_c, 2 * N_SEGS), 1e-9, "%s segment_norms", X.pname);

  X.gpu->scale(X.gpu, g.g, n, 0.37);
  X.cpu->scale(X.cpu, g.c, n, 0.37);
  CU_EXPECT(par_max_diff(&g), 0.0, "%s scale (exact)", X.pname);

  float *h = mem_alloc_or_die(n * sizeof(float), "host");
  cu_rand(h, n, 640, -1, 1);
  const size_t bad[6] = {0, 17, 4096, n / 2, n - 2, n - 1};
  for (int i = 0; i < 6; i++) h[bad[i]] = i < 3 ? NAN : (i == 3 ? -INFINITY : INFINITY);
  Par nf = par_from(h, n);
  int64_t cg = X.gpu->count_nonfinite(X.gpu, nf.g, n), cc = X.cpu->count_nonfinite(X.cpu, nf.c, n);
  CU_EXPECT((double)llabs(cg - 6) + (double)llabs(cc - 6), 0.0, "%s count_nonfinite = 6",
            X.pname);
  CU_EXPECT((double)X.gpu->count_nonfinite(X.gpu, p.g, n), 0.0, "%s count_nonfinite = 0",
            X.pname);
  par_free(&nf);
  mem_free(h);
  par_free(&g);
  par_free(&p);
}

/* ---- input, memory, conversions ------------------------------------------------------------- */

static void input_case(int n, int h, int w, uint32_t seed) {
  const float mean[3] = {0.485f, 0.456f, 0.406f}, std[3] = {0.229f, 0.224f, 0.225f};
  size_t n_bytes = (size_t)n * h * w * 3;
  uint8_t *img = X.gpu->alloc_host(X.gpu, n_bytes, "test batch");
  RngStream rs;
  rng_stream_init(&rs, 5, rng_id_hi(RNG_DOMAIN_TEST, seed), 0);
  for (size_t i = 0; i < n_bytes; i++) img[i] = (uint8_t)rng_below(&rs, 256);
  Act x = act_zeros(n, 3, h, w);
  X.gpu->input_u8(X.gpu, x.g, img, n, h, w, mean, std);
  memset(img, 0, n_bytes); /* the host buffer is free again once input_u8 returns */
  rng_stream_init(&rs, 5, rng_id_hi(RNG_DOMAIN_TEST, seed), 0);
  for (size_t i = 0; i < n_bytes; i++) img[i] = (uint8_t)rng_below(&rs, 256);
  X.cpu->input_u8(X.cpu, x.c_, img, n, h, w, mean, std);
  double tol = X.gpu->act_bytes == 4 ? 0.0 : X.tol->tol_act;
  CU_EXPECT(X.gpu->act_bytes == 4 ? act_max_diff(&x) : act_err(&x), tol, "%s input_u8 %dx%dx%d",
            X.pname, n, h, w);
  act_free(&x);
  X.gpu->free_host(X.gpu, img);
}

static void test_input_memory(void) {
  input_case(3, 17, 23, 700);
  input_case(4, 32, 32, 701); /* a second batch through the same staging buffer */

  enum { N = 100003 };
  float *h = mem_alloc_or_die(N * sizeof(float), "host"), *back = mem_alloc_or_die(N * 4, "back");
  cu_rand(h, N, 710, -5, 5);
  void *a = X.gpu->alloc(X.gpu, N * sizeof(float), "a"), *b = X.gpu->alloc(X.gpu, N * 4, "b");
  X.gpu->params_from_host_f32(X.gpu, a, h, N);
  X.gpu->copy(X.gpu, b, a, N * sizeof(float));
  X.gpu->params_to_host_f32(X.gpu, back, b, N);
  CU_EXPECT(cu_max_abs_diff(back, h, N), 0.0, "%s upload/copy/download (exact)", X.pname);
  X.gpu->zero(X.gpu, b, N * sizeof(float));
  X.gpu->download(X.gpu, back, b, N * sizeof(float));
  double nonzero = 0;
  for (int i = 0; i < N; i++) nonzero += back[i] != 0.0f;
  CU_EXPECT(nonzero, 0.0, "%s zero", X.pname);
  X.gpu->free(X.gpu, b);
  X.gpu->free(X.gpu, a);
  mem_free(back);
  mem_free(h);

  Act t = act_new(2, 6, 5, 7, 720, -1, 1); /* NCHW -> NHWC -> NCHW */
  float *round = mem_alloc_or_die(t.count * sizeof(float), "round");
  X.gpu->act_to_host_f32(X.gpu, round, t.g, 2, 6, 5, 7);
  CU_EXPECT(cu_max_abs_diff(round, t.host, t.count), 0.0, "%s act round trip (exact)", X.pname);
  mem_free(round);
  act_free(&t);
}

static void test_algo_blob(void) {
  ConvShape s = {2, 16, 8, 8, 16, 3, 1, 1, 8, 8};
  void *plan = X.gpu->conv_plan(X.gpu, &s);
  size_t n = backend_cuda_conv_algos_export(X.gpu, NULL, 0);
  char *blob = mem_alloc_or_die(n, "blob");
  CU_EXPECT(backend_cuda_conv_algos_export(X.gpu, blob, n) != n, 0.0, "%s algo export", X.pname);
  CU_EXPECT(backend_cuda_conv_algos_import(X.gpu, blob, n) != 0, 0.0, "%s algo import", X.pname);
  CU_EXPECT(backend_cuda_conv_algos_import(X.gpu, blob, n - 1) != -1, 0.0,
            "%s truncated blob refused", X.pname);
  blob[0] ^= 1;
  CU_EXPECT(backend_cuda_conv_algos_import(X.gpu, blob, n) != -1, 0.0, "%s foreign blob refused",
            X.pname);
  mem_free(blob);
  X.gpu->conv_plan_free(X.gpu, plan);
  T_CHECK(backend_cuda_workspace_bytes(X.gpu) > 0, "workspace");
  T_CHECK(backend_cuda_free_bytes(X.gpu) > 0, "free bytes");
  T_CHECK(backend_cuda_stream(X.gpu) != NULL, "compute stream");
}

static void run_precision(const PrecTol *t) {
  CudaBackendOptions opt = {.device = 0, .precision = t->precision,
                            .conv_algo_heuristic = X.quick};
  X.gpu = backend_cuda_create(&opt);
  X.tol = t;
  X.pname = config_precision_name(t->precision);
  printf("== %s (act %d bytes)\n", X.pname, X.gpu->act_bytes);
  T_CHECK(X.gpu->kind == BACKEND_CUDA && X.gpu->param_bytes == 4, "backend kind / param bytes");
  TEST_RUN(test_input_memory);
  TEST_RUN(test_bn);
  TEST_RUN(test_pool_shortcut);
  TEST_RUN(test_fc_xent);
  TEST_RUN(test_optim);
  TEST_RUN(test_conv); /* last: a shape cuDNN cannot run is fatal */
  TEST_RUN(test_algo_blob);
  X.gpu->destroy(X.gpu);
  X.gpu = NULL;
}

int main(int argc, char **argv) {
  if (backend_cuda_device_count() == 0) test_skip("no GPU (backend_cuda_device_count() = 0)");
  X.quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
  X.cpu = backend_cpu_create(0);
  for (size_t i = 0; i < sizeof PRECS / sizeof PRECS[0]; i++) {
    int p = PRECS[i].precision;
    if (X.quick && p != PREC_BF16 && p != PREC_FP32_STRICT) continue;
    run_precision(&PRECS[i]);
  }
  X.cpu->destroy(X.cpu);
  return test_summary();
}
