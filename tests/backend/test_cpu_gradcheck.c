/* test_cpu_gradcheck.c - finite-difference gradient checks of every CPU op
 * with inputs or parameters, in double precision on the cpu64 backend (which
 * runs exactly the kernels of the fp32 backend, instantiated for double).
 *
 * Loss L = sum(out * R) with a fixed random R (the cross-entropy uses its own
 * loss).  Central differences with step 1e-5; a coordinate passes when
 * |analytic - numeric| <= 1e-8 * max(|analytic|, |numeric|, 1).  That is 100x
 * tighter than the 1e-6 the issue asks for and still ~100x above what the
 * checks reach (truncation ~step^2, rounding ~1e-16 |L| / step), so a wrong
 * formula fails it while rounding never does.  Gradient buffers are filled
 * with NaN before each backward, so an op that accumulates where it should
 * write (or leaves elements unwritten) fails too.  Large tensors are checked
 * at a random subset of coordinates.
 *
 * Conv shapes cover kernels 1/3/7, strides 1/2, paddings 0/1/3, non-square and
 * odd sizes, and every task kind of cpu_conv.inc: image chunks (with a short
 * last chunk), single images, row blocks of one image, the image as its own
 * im2col (1x1 stride 1), backward data as a transposed convolution (stride
 * 1) and through col2im with channel groups (strided).  The accumulate flags are checked separately: op(acc=1) on a
 * prefilled buffer must equal prefill + op(acc=0).
 */
#include <math.h>
#include <string.h>

#include "backend/backend.h"
#include "core/mem.h"
#include "gradcheck.h"
#include "test_util.h"

#define GC_STEP 1e-5
#define GC_TOL 1e-8
enum { GC_COORDS = 48 };

static Backend *g_be;

static void gc_nan_grads(GcProblem *p) {
  for (int t = 0; t < p->n_in; t++)
    for (size_t i = 0; i < p->in[t].n; i++) p->in[t].grad[i] = NAN;
}

static void gc_run(GcProblem *p, const char *what) {
  gc_nan_grads(p);
  double worst = gc_check(p, what, GC_STEP, GC_TOL, GC_COORDS);
  printf("  %-44s worst error %.2e\n", what, worst);
}

static ConvShape conv_shape(int n, int c, int h, int w, int k, int r, int stride, int pad) {
  ConvShape s = {n, c, h, w, k, r, stride, pad, 0, 0};
  s.p = (h + 2 * pad - r) / stride + 1;
  s.q = (w + 2 * pad - r) / stride + 1;
  return s;
}

static size_t shape_in(const ConvShape *s) { return (size_t)s->n * s->c * s->h * s->w; }
static size_t shape_out(const ConvShape *s) { return (size_t)s->n * s->k * s->p * s->q; }
static size_t shape_w(const ConvShape *s) { return (size_t)s->k * s->c * s->r * s->r; }

/* ---- convolution ------------------------------------------------------- */

typedef struct {
  ConvShape s;
  void *plan;
} ConvCtx;

static double conv_forward(GcProblem *p) {
  ConvCtx *c = p->ctx;
  p->be->conv_fwd(p->be, c->plan, p->out, p->in[0].v, p->in[1].v);
  return 0;
}

static void conv_backward(GcProblem *p) {
  ConvCtx *c = p->ctx;
  p->be->conv_bwd_data(p->be, c->plan, p->in[0].grad, p->r, p->in[1].v, 0);
  p->be->conv_bwd_filter(p->be, c->plan, p->in[1].grad, p->r, p->in[0].v);
}

static void check_conv(int n, int c, int h, int w, int k, int r, int stride, int pad) {
  ConvCtx ctx = {conv_shape(n, c, h, w, k, r, stride, pad), NULL};
  ctx.plan = g_be->conv_plan(g_be, &ctx.s);
  GcProblem p = {.be = g_be, .forward = conv_forward, .backward = conv_backward, .ctx = &ctx};
  gc_input(&p, "x", shape_in(&ctx.s), 1, 1.0);
  gc_input(&p, "w", shape_w(&ctx.s), 2, 0.5);
  gc_output(&p, shape_out(&ctx.s), 3);
  char what[96];
  snprintf(what, sizeof what, "conv n%d c%d %dx%d k%d r%d s%d p%d", n, c, h, w, k, r, stride, pad);
  gc_run(&p, what);
  gc_free(&p);
  g_be->conv_plan_free(g_be, ctx.plan);
}

/* With 2 threads and CONV_TASK_COLS = 512 (cpu_conv.inc), the comments name
 * the task kind each shape exercises. */
static void test_conv_gradients(void) {
  check_conv(2, 3, 7, 5, 4, 3, 1, 1);     /* 3x3 non-square; one image per task */
  check_conv(2, 2, 9, 8, 3, 7, 2, 3);     /* stem-like 7x7/2 pad 3 */
  check_conv(2, 2, 5, 5, 2, 7, 1, 3);     /* kernel larger than the image */
  check_conv(2, 3, 6, 7, 2, 3, 2, 1);     /* 3x3/2, odd width */
  check_conv(1, 2, 4, 4, 3, 3, 1, 0);     /* pad 0 */
  check_conv(4, 3, 6, 5, 4, 3, 2, 1);     /* image chunks of 2 (gather / scatter) */
  check_conv(5, 2, 9, 9, 3, 3, 1, 0);     /* chunks of 3 and 2, pad 0 */
  check_conv(3, 4, 5, 6, 5, 1, 1, 0);     /* 1x1 direct in chunks of 2 and 1 */
  check_conv(2, 3, 8, 7, 4, 1, 2, 0);     /* 1x1/2 projection */
  check_conv(2, 3, 33, 32, 4, 1, 1, 0);   /* 1x1 direct row blocks: x is col */
  check_conv(1, 4, 36, 36, 3, 1, 1, 0);   /* same, one image: 2 channel groups */
  check_conv(3, 2, 25, 25, 3, 3, 1, 1);   /* row blocks of 20 and 5 rows */
  check_conv(1, 2, 36, 35, 2, 3, 2, 1);   /* one whole image per task, stride 2 */
  check_conv(1, 3, 40, 36, 4, 3, 1, 1);   /* row blocks, 2 channel groups */
  check_conv(2, 16, 40, 40, 8, 3, 1, 1);  /* row blocks; threaded loops */
}

/* ---- batch norm (train mode: stats -> finalize -> apply, and back) --------- */

typedef struct {
  int n, c, h, w;
  double *stats;       /* (2C+1) */
  double *mean_invstd; /* (2C) */
  double *sums;        /* (2C) */
} BnState;

static BnState bn_state(int n, int c, int h, int w) {
  BnState b = {n, c, h, w, gc_alloc(g_be, 2 * c + 1), gc_alloc(g_be, 2 * c), gc_alloc(g_be, 2 * c)};
  return b;
}

static void bn_state_free(BnState *b) {
  g_be->free(g_be, b->stats);
  g_be->free(g_be, b->mean_invstd);
  g_be->free(g_be, b->sums);
}

static void bn_forward(BnState *b, double *y, const double *x, const double *gamma,
                       const double *beta, const double *res, int relu) {
  g_be->bn_stats(g_be, b->n, b->c, b->h, b->w, x, b->stats);
  g_be->bn_finalize(g_be, b->c, b->stats, b->mean_invstd, NULL, NULL, 0.1, 1e-5, 0);
  g_be->bn_apply(g_be, b->n, b->c, b->h, b->w, y, x, b->mean_invstd, gamma, beta, res, relu);
}

static void bn_backward(BnState *b, double *dx, int dx_acc, double *dgamma, double *dbeta,
                        double *dres, int dres_acc, const double *dy, const double *y,
                        const double *x, const double *gamma, int relu) {
  g_be->bn_bwd_reduce(g_be, b->n, b->c, b->h, b->w, dy, y, x, b->mean_invstd, relu, dres,
                      dres_acc, dgamma, dbeta, b->sums);
  g_be->bn_bwd_apply(g_be, b->n, b->c, b->h, b->w, dx, dy, y, x, b->mean_invstd, gamma, relu,
                     b->stats, b->sums, dx_acc);
}

typedef struct {
  BnState bn;
  int relu, residual;
} BnCtx;

static double bn_problem_forward(GcProblem *p) {
  BnCtx *c = p->ctx;
  bn_forward(&c->bn, p->out, p->in[0].v, p->in[1].v, p->in[2].v,
             c->residual ? p->in[3].v : NULL, c->relu);
  return 0;
}

static void bn_problem_backward(GcProblem *p) {
  BnCtx *c = p->ctx;
  bn_backward(&c->bn, p->in[0].grad, 0, p->in[1].grad, p->in[2].grad,
              c->residual ? p->in[3].grad : NULL, 0, p->r, p->out, p->in[0].v, p->in[1].v,
              c->relu);
}

static void check_bn(int n, int c, int h, int w, int relu, int residual) {
  BnCtx ctx = {bn_state(n, c, h, w), relu, residual};
  GcProblem p = {.be = g_be, .forward = bn_problem_forward, .backward = bn_problem_backward,
                 .ctx = &ctx};
  const size_t n_elems = (size_t)n * c * h * w;
  GcTensor *x = gc_input(&p, "x", n_elems, 11, 2.0);
  for (size_t i = 0; i < n_elems; i++) x->v[i] += 0.5;  /* a non-zero mean */
  GcTensor *gamma = gc_input(&p, "gamma", c, 12, 1.0);
  for (int i = 0; i < c; i++) gamma->v[i] += 1.0;
  gc_input(&p, "beta", c, 13, 0.5);
  if (residual) gc_input(&p, "residual", n_elems, 14, 1.0);
  gc_output(&p, n_elems, 15);
  char what[96];
  snprintf(what, sizeof what, "bn n%d c%d %dx%d relu%d residual%d", n, c, h, w, relu, residual);
  gc_run(&p, what);
  gc_free(&p);
  bn_state_free(&ctx.bn);
}

static void test_bn_gradients(void) {
  check_bn(3, 4, 5, 3, 0, 0);
  check_bn(3, 4, 5, 3, 1, 0);
  check_bn(3, 4, 5, 3, 0, 1);
  check_bn(3, 4, 5, 3, 1, 1);
  check_bn(2, 8, 1, 1, 1, 0);        /* BN over a batch of vectors */
  check_bn(4, 16, 24, 24, 1, 1);     /* threaded loops */
}

/* ---- pooling, shortcut, fc ----------------------------------------------- */

typedef struct {
  int n, c, h, w, r, stride, pad;
} PoolCtx;

static double maxpool_forward(GcProblem *p) {
  PoolCtx *c = p->ctx;
  p->be->maxpool_fwd(p->be, c->n, c->c, c->h, c->w, c->r, c->stride, c->pad, p->out, p->in[0].v);
  return 0;
}

static void maxpool_backward(GcProblem *p) {
  PoolCtx *c = p->ctx;
  p->be->maxpool_bwd(p->be, c->n, c->c, c->h, c->w, c->r, c->stride, c->pad, p->in[0].grad, p->r,
                     p->in[0].v, p->out);
}

static void check_maxpool(int n, int c, int h, int w, int r, int stride, int pad) {
  PoolCtx ctx = {n, c, h, w, r, stride, pad};
  GcProblem p = {.be = g_be, .forward = maxpool_forward, .backward = maxpool_backward,
                 .ctx = &ctx};
  gc_input(&p, "x", (size_t)n * c * h * w, 21, 1.0);
  const int ph = (h + 2 * pad - r) / stride + 1, pw = (w + 2 * pad - r) / stride + 1;
  gc_output(&p, (size_t)n * c * ph * pw, 22);
  char what[96];
  snprintf(what, sizeof what, "maxpool %dx%d r%d s%d p%d", h, w, r, stride, pad);
  gc_run(&p, what);
  gc_free(&p);
}

static double avgpool_forward(GcProblem *p) {
  PoolCtx *c = p->ctx;
  p->be->avgpool_fwd(p->be, c->n, c->c, c->h, c->w, p->out, p->in[0].v);
  return 0;
}

static void avgpool_backward(GcProblem *p) {
  PoolCtx *c = p->ctx;
  p->be->avgpool_bwd(p->be, c->n, c->c, c->h, c->w, p->in[0].grad, p->r);
}

static void test_pool_gradients(void) {
  check_maxpool(2, 3, 9, 8, 3, 2, 1);
  check_maxpool(2, 2, 7, 7, 3, 2, 1);
  check_maxpool(1, 2, 6, 5, 2, 2, 0);
  PoolCtx ctx = {3, 5, 4, 3, 0, 0, 0};
  GcProblem p = {.be = g_be, .forward = avgpool_forward, .backward = avgpool_backward,
                 .ctx = &ctx};
  gc_input(&p, "x", 3 * 5 * 4 * 3, 23, 1.0);
  gc_output(&p, 3 * 5, 24);
  gc_run(&p, "avgpool 4x3");
  gc_free(&p);
}

typedef struct {
  int n, c_in, h, w, c_out, stride;
} PadCtx;

static double pad_forward(GcProblem *p) {
  PadCtx *c = p->ctx;
  p->be->shortcut_pad_fwd(p->be, c->n, c->c_in, c->h, c->w, c->c_out, c->stride, p->out,
                          p->in[0].v);
  return 0;
}

static void pad_backward(GcProblem *p) {
  PadCtx *c = p->ctx;
  p->be->shortcut_pad_bwd(p->be, c->n, c->c_in, c->h, c->w, c->c_out, c->stride, p->in[0].grad,
                          p->r, 0);
}

static void check_pad(int n, int c_in, int h, int w, int c_out, int stride) {
  PadCtx ctx = {n, c_in, h, w, c_out, stride};
  GcProblem p = {.be = g_be, .forward = pad_forward, .backward = pad_backward, .ctx = &ctx};
  gc_input(&p, "x", (size_t)n * c_in * h * w, 25, 1.0);
  const int ho = (h + stride - 1) / stride, wo = (w + stride - 1) / stride;
  gc_output(&p, (size_t)n * c_out * ho * wo, 26);
  char what[96];
  snprintf(what, sizeof what, "shortcut_pad %d->%d %dx%d s%d", c_in, c_out, h, w, stride);
  gc_run(&p, what);
  gc_free(&p);
}

static void test_shortcut_gradients(void) {
  check_pad(2, 3, 6, 6, 6, 2);
  check_pad(2, 4, 5, 7, 8, 2); /* odd sizes: ceil(h / 2) rows */
  check_pad(2, 4, 4, 4, 4, 1); /* identity */
}

typedef struct {
  int n, in, out;
} FcCtx;

static double fc_forward(GcProblem *p) {
  FcCtx *c = p->ctx;
  p->be->fc_fwd(p->be, c->n, c->in, c->out, p->out, p->in[0].v, p->in[1].v, p->in[2].v);
  return 0;
}

static void fc_backward(GcProblem *p) {
  FcCtx *c = p->ctx;
  p->be->fc_bwd(p->be, c->n, c->in, c->out, p->in[0].grad, p->in[1].grad, p->in[2].grad, p->r,
                p->in[0].v, p->in[1].v);
}

static void test_fc_gradients(void) {
  FcCtx ctx = {5, 7, 3};
  GcProblem p = {.be = g_be, .forward = fc_forward, .backward = fc_backward, .ctx = &ctx};
  gc_input(&p, "x", 5 * 7, 31, 1.0);
  gc_input(&p, "w", 3 * 7, 32, 0.5);
  gc_input(&p, "b", 3, 33, 0.5);
  gc_output(&p, 5 * 3, 34);
  gc_run(&p, "fc 7->3, batch 5");
  gc_free(&p);
}

/* ---- cross-entropy ---------------------------------------------------- */

typedef struct {
  int n, k;
  const int32_t *labels;
  double eps;
} XentCtx;

static double xent_forward(GcProblem *p) {
  XentCtx *c = p->ctx;
  double loss;
  int64_t correct[2];
  p->be->xent(p->be, c->n, c->k, p->in[0].v, c->labels, c->eps, 1.0, NULL, &loss, correct);
  return loss;
}

static void xent_backward(GcProblem *p) {
  XentCtx *c = p->ctx;
  double loss;
  int64_t correct[2];
  p->be->xent(p->be, c->n, c->k, p->in[0].v, c->labels, c->eps, 1.0, p->in[0].grad, &loss,
              correct);
}

static void check_xent(double eps) {
  static const int32_t labels[4] = {3, 0, 6, 2};
  XentCtx ctx = {4, 7, labels, eps};
  GcProblem p = {.be = g_be, .forward = xent_forward, .backward = xent_backward, .ctx = &ctx,
                 .scalar_loss = 1};
  gc_input(&p, "logits", 4 * 7, 41, 3.0);
  gc_output(&p, 1, 42);
  char what[96];
  snprintf(what, sizeof what, "xent label smoothing %.1f", eps);
  gc_run(&p, what);
  gc_free(&p);
}

static void test_xent_gradients(void) {
  check_xent(0.0);
  check_xent(0.1);
}

/* ---- a whole basic residual block --------------------------------------- */

typedef enum { SC_IDENTITY, SC_PROJECTION, SC_PAD } ShortcutKind;

typedef struct {
  ShortcutKind kind;
  ConvShape s1, s2, ss;  /* conv1 3x3/stride, conv2 3x3/1, projection 1x1/stride */
  void *plan1, *plan2, *plans;
  BnState bn1, bn2, bns;
  double *h1, *a1, *h2, *hs, *sc;   /* forward activations */
  double *da1, *dh1, *dh2, *ds, *dhs; /* backward scratch */
} BlockCtx;

/* inputs: 0 x, 1 w1, 2 g1, 3 b1, 4 w2, 5 g2, 6 b2, [7 ws, 8 gs, 9 bs] */
static double block_forward(GcProblem *p) {
  BlockCtx *c = p->ctx;
  Backend *be = p->be;
  const double *x = p->in[0].v;
  be->conv_fwd(be, c->plan1, c->h1, x, p->in[1].v);
  bn_forward(&c->bn1, c->a1, c->h1, p->in[2].v, p->in[3].v, NULL, 1);
  be->conv_fwd(be, c->plan2, c->h2, c->a1, p->in[4].v);
  const double *res = x;
  if (c->kind == SC_PROJECTION) {
    be->conv_fwd(be, c->plans, c->hs, x, p->in[7].v);
    bn_forward(&c->bns, c->sc, c->hs, p->in[8].v, p->in[9].v, NULL, 0);
    res = c->sc;
  } else if (c->kind == SC_PAD) {
    be->shortcut_pad_fwd(be, c->s1.n, c->s1.c, c->s1.h, c->s1.w, c->s1.k, c->s1.stride, c->sc, x);
    res = c->sc;
  }
  bn_forward(&c->bn2, p->out, c->h2, p->in[5].v, p->in[6].v, res, 1);
  return 0;
}

static void block_backward(GcProblem *p) {
  BlockCtx *c = p->ctx;
  Backend *be = p->be;
  const double *x = p->in[0].v;
  double *dx = p->in[0].grad;
  double *dres = c->kind == SC_IDENTITY ? dx : c->ds;
  bn_backward(&c->bn2, c->dh2, 0, p->in[5].grad, p->in[6].grad, dres, 0, p->r, p->out, c->h2,
              p->in[5].v, 1);
  be->conv_bwd_filter(be, c->plan2, p->in[4].grad, c->dh2, c->a1);
  be->conv_bwd_data(be, c->plan2, c->da1, c->dh2, p->in[4].v, 0);
  bn_backward(&c->bn1, c->dh1, 0, p->in[2].grad, p->in[3].grad, NULL, 0, c->da1, c->a1, c->h1,
              p->in[2].v, 1);
  if (c->kind == SC_PROJECTION) {
    bn_backward(&c->bns, c->dhs, 0, p->in[8].grad, p->in[9].grad, NULL, 0, c->ds, NULL, c->hs,
                p->in[8].v, 0);
    be->conv_bwd_filter(be, c->plans, p->in[7].grad, c->dhs, x);
    be->conv_bwd_data(be, c->plans, dx, c->dhs, p->in[7].v, 0);
  } else if (c->kind == SC_PAD) {
    be->shortcut_pad_bwd(be, c->s1.n, c->s1.c, c->s1.h, c->s1.w, c->s1.k, c->s1.stride, dx, c->ds,
                         0);
  }
  be->conv_bwd_filter(be, c->plan1, p->in[1].grad, c->dh1, x);
  be->conv_bwd_data(be, c->plan1, dx, c->dh1, p->in[1].v, 1);
}

static void check_block(ShortcutKind kind, int n, int c_in, int c_out, int h, int w, int stride) {
  BlockCtx c = {.kind = kind};
  c.s1 = conv_shape(n, c_in, h, w, c_out, 3, stride, 1);
  c.s2 = conv_shape(n, c_out, c.s1.p, c.s1.q, c_out, 3, 1, 1);
  c.ss = conv_shape(n, c_in, h, w, c_out, 1, stride, 0);
  c.plan1 = g_be->conv_plan(g_be, &c.s1);
  c.plan2 = g_be->conv_plan(g_be, &c.s2);
  c.plans = g_be->conv_plan(g_be, &c.ss);
  const size_t n_out = shape_out(&c.s1);
  c.bn1 = bn_state(n, c_out, c.s1.p, c.s1.q);
  c.bn2 = bn_state(n, c_out, c.s1.p, c.s1.q);
  c.bns = bn_state(n, c_out, c.s1.p, c.s1.q);
  double **bufs[] = {&c.h1, &c.a1, &c.h2, &c.hs, &c.sc, &c.da1, &c.dh1, &c.dh2, &c.ds, &c.dhs};
  for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) *bufs[i] = gc_alloc(g_be, n_out);

  GcProblem p = {.be = g_be, .forward = block_forward, .backward = block_backward, .ctx = &c};
  gc_input(&p, "x", shape_in(&c.s1), 51, 1.0);
  gc_input(&p, "conv1.w", shape_w(&c.s1), 52, 0.4);
  GcTensor *g1 = gc_input(&p, "bn1.gamma", c_out, 53, 0.2);
  gc_input(&p, "bn1.beta", c_out, 54, 0.2);
  gc_input(&p, "conv2.w", shape_w(&c.s2), 55, 0.4);
  GcTensor *g2 = gc_input(&p, "bn2.gamma", c_out, 56, 0.2);
  gc_input(&p, "bn2.beta", c_out, 57, 0.2);
  for (int i = 0; i < c_out; i++) g1->v[i] += 1, g2->v[i] += 1;
  if (kind == SC_PROJECTION) {
    gc_input(&p, "down.w", shape_w(&c.ss), 58, 0.5);
    GcTensor *gs = gc_input(&p, "down.gamma", c_out, 59, 0.2);
    for (int i = 0; i < c_out; i++) gs->v[i] += 1;
    gc_input(&p, "down.beta", c_out, 60, 0.2);
  }
  gc_output(&p, n_out, 61);
  static const char *kinds[] = {"identity", "projection", "option A"};
  char what[96];
  snprintf(what, sizeof what, "basic block %s %d->%d %dx%d s%d", kinds[kind], c_in, c_out, h, w,
           stride);
  gc_run(&p, what);
  gc_free(&p);
  for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) g_be->free(g_be, *bufs[i]);
  bn_state_free(&c.bn1);
  bn_state_free(&c.bn2);
  bn_state_free(&c.bns);
  g_be->conv_plan_free(g_be, c.plan1);
  g_be->conv_plan_free(g_be, c.plan2);
  g_be->conv_plan_free(g_be, c.plans);
}

static void test_block_gradients(void) {
  check_block(SC_IDENTITY, 2, 4, 4, 6, 5, 1);
  check_block(SC_PROJECTION, 2, 3, 6, 7, 6, 2);
  check_block(SC_PAD, 2, 3, 6, 6, 6, 2);
}

/* ---- accumulate flags: op(acc=1) on P == P + op(acc=0) ------------------- */

static void check_accumulated(const char *what, const double *plain, const double *acc,
                              const double *prefill, size_t n) {
  for (size_t i = 0; i < n; i++)
    T_NEAR(acc[i], prefill[i] + plain[i], 1e-12, 1e-12, what);
}

static double *filled(size_t n, uint32_t stream) {
  double *p = gc_alloc(g_be, n);
  gc_fill_normal(p, n, stream, 1.0);
  return p;
}

static double *copy_of(const double *src, size_t n) {
  double *p = gc_alloc(g_be, n);
  memcpy(p, src, n * sizeof *p);
  return p;
}

static void check_conv_accumulate(int n, int c, int h, int w, int k, int r, int stride, int pad) {
  ConvShape s = conv_shape(n, c, h, w, k, r, stride, pad);
  void *plan = g_be->conv_plan(g_be, &s);
  double *dy = filled(shape_out(&s), 71), *wt = filled(shape_w(&s), 72);
  double *prefill = filled(shape_in(&s), 73), *plain = gc_alloc(g_be, shape_in(&s));
  double *acc = copy_of(prefill, shape_in(&s));
  g_be->conv_bwd_data(g_be, plan, plain, dy, wt, 0);
  g_be->conv_bwd_data(g_be, plan, acc, dy, wt, 1);
  check_accumulated("conv_bwd_data accumulate", plain, acc, prefill, shape_in(&s));
  double *bufs[] = {dy, wt, prefill, plain, acc};
  for (int i = 0; i < 5; i++) g_be->free(g_be, bufs[i]);
  g_be->conv_plan_free(g_be, plan);
}

static void test_accumulate_flags(void) {
  check_conv_accumulate(3, 4, 5, 6, 5, 1, 1, 0);   /* direct, image chunks */
  check_conv_accumulate(1, 3, 33, 32, 4, 1, 1, 0); /* direct row blocks, channel groups */
  check_conv_accumulate(4, 2, 7, 5, 3, 3, 2, 1);   /* strided: col2im, image chunks */
  check_conv_accumulate(1, 3, 40, 36, 4, 3, 2, 1); /* strided: col2im, channel groups */
  check_conv_accumulate(4, 3, 6, 5, 4, 3, 1, 1);   /* stride 1: transposed conv, chunks */
  check_conv_accumulate(1, 3, 40, 36, 4, 3, 1, 1); /* stride 1: transposed, row blocks */

  const int n = 2, c = 3, h = 4, w = 5;
  const size_t ne = (size_t)n * c * h * w;
  BnState bn = bn_state(n, c, h, w);
  double *x = filled(ne, 81), *gamma = filled(c, 82), *beta = filled(c, 83), *y = gc_alloc(g_be, ne);
  double *dy = filled(ne, 84), *prefill = filled(ne, 85), *dg = gc_alloc(g_be, c), *db = gc_alloc(g_be, c);
  double *plain = gc_alloc(g_be, ne), *acc = copy_of(prefill, ne);
  bn_forward(&bn, y, x, gamma, beta, NULL, 1);
  bn_backward(&bn, plain, 0, dg, db, NULL, 0, dy, y, x, gamma, 1);
  bn_backward(&bn, acc, 1, dg, db, NULL, 0, dy, y, x, gamma, 1);
  check_accumulated("bn_bwd_apply accumulate", plain, acc, prefill, ne);
  memcpy(acc, prefill, ne * sizeof *acc);
  g_be->bn_bwd_reduce(g_be, n, c, h, w, dy, y, x, bn.mean_invstd, 1, plain, 0, dg, db, bn.sums);
  g_be->bn_bwd_reduce(g_be, n, c, h, w, dy, y, x, bn.mean_invstd, 1, acc, 1, dg, db, bn.sums);
  check_accumulated("bn_bwd_reduce dresidual accumulate", plain, acc, prefill, ne);

  const int c_out = 6, hs = 2, ws = 3;
  double *dys = filled((size_t)n * c_out * hs * ws, 86);
  memcpy(acc, prefill, ne * sizeof *acc);
  g_be->shortcut_pad_bwd(g_be, n, c, h, w, c_out, 2, plain, dys, 0);
  g_be->shortcut_pad_bwd(g_be, n, c, h, w, c_out, 2, acc, dys, 1);
  check_accumulated("shortcut_pad_bwd accumulate", plain, acc, prefill, ne);

  double *bufs[] = {x, gamma, beta, y, dy, prefill, dg, db, plain, acc, dys};
  for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) g_be->free(g_be, bufs[i]);
  bn_state_free(&bn);
}

int main(void) {
  g_be = backend_cpu64_create(2);
  CHECK(g_be->act_bytes == 8 && g_be->param_bytes == 8, "cpu64 is not double");
  TEST_RUN(test_conv_gradients);
  TEST_RUN(test_bn_gradients);
  TEST_RUN(test_pool_gradients);
  TEST_RUN(test_shortcut_gradients);
  TEST_RUN(test_fc_gradients);
  TEST_RUN(test_xent_gradients);
  TEST_RUN(test_block_gradients);
  TEST_RUN(test_accumulate_flags);
  g_be->destroy(g_be);
  return test_summary();
}
