/* test_cpu_f32_f64.c - the fp32 backend agrees with the fp64 backend on a
 * small random ResNet-like stack run forward and backward through the ops
 * table: input_u8 -> conv 7x7/2 -> BN+ReLU -> max pool 3/2 -> conv 3x3 ->
 * BN+ReLU -> conv 3x3 -> BN + residual + ReLU -> conv 1x1/2 -> BN+ReLU ->
 * avg pool -> fc -> cross-entropy (smoothing 0.1), then one SGD step.
 *
 * Both backends get the same float32 weights and uint8 images.  Every
 * compared tensor (input, logits, loss, each parameter gradient, updated
 * parameters) must satisfy ||f32 - f64|| <= 1e-5 ||f64|| (L2 over the
 * tensor).  Sizes are large enough for the threaded loops and for chunked and
 * single-image convolution paths to run.
 */
#include <string.h>

#include "backend/backend.h"
#include "core/check.h"
#include "core/mem.h"
#include "core/rng.h"
#include "test_util.h"

enum { N = 8, H = 40, W = 36, CLASSES = 10, N_CONV = 4 };

typedef struct {
  Backend *be;
  ConvShape shape[N_CONV];
  void *plan[N_CONV];
  /* parameters and their gradients: conv w, bn gamma, bn beta per layer, fc */
  void *w[N_CONV], *gamma[N_CONV], *beta[N_CONV], *fc_w, *fc_b;
  void *dw[N_CONV], *dgamma[N_CONV], *dbeta[N_CONV], *dfc_w, *dfc_b;
  /* activations: conv out h, bn out a; pool; features; logits */
  void *x, *h[N_CONV], *a[N_CONV], *pool, *feat, *logits;
  void *dx_scratch, *dh[N_CONV], *da[N_CONV], *dpool, *dfeat, *dlogits;
  double *stats[N_CONV], *sums[N_CONV];
  void *mean_invstd[N_CONV];
  int32_t *labels;
  double loss;
} Net;

static void *zeros(Backend *be, size_t n) {
  void *p = be->alloc(be, (n ? n : 1) * be->param_bytes, "test tensor");
  be->zero(be, p, (n ? n : 1) * be->param_bytes);
  return p;
}

static size_t conv_w_elems(const ConvShape *s) { return (size_t)s->k * s->c * s->r * s->r; }
static size_t conv_out_elems(const ConvShape *s) { return (size_t)s->n * s->k * s->p * s->q; }

static ConvShape shape(int n, int c, int h, int w, int k, int r, int stride, int pad) {
  ConvShape s = {n, c, h, w, k, r, stride, pad, (h + 2 * pad - r) / stride + 1,
                 (w + 2 * pad - r) / stride + 1};
  return s;
}

static float *random_f32(size_t n, uint32_t id, double sd, double mean) {
  RngStream s;
  rng_stream_init(&s, 99, rng_id_hi(RNG_DOMAIN_TEST, 300), id);
  float *v = mem_alloc_or_die(n * sizeof *v, "host tensor");
  for (size_t i = 0; i < n; i++) v[i] = (float)(mean + sd * rng_normal(&s));
  return v;
}

static void *param(Backend *be, size_t n, uint32_t id, double sd, double mean) {
  float *host = random_f32(n, id, sd, mean);
  void *p = zeros(be, n);
  be->params_from_host_f32(be, p, host, n);
  mem_free(host);
  return p;
}

static void net_init(Net *net, Backend *be) {
  memset(net, 0, sizeof *net);
  net->be = be;
  net->shape[0] = shape(N, 3, H, W, 16, 7, 2, 3);
  const int ph = (net->shape[0].p + 2 - 3) / 2 + 1, pw = (net->shape[0].q + 2 - 3) / 2 + 1;
  net->shape[1] = shape(N, 16, ph, pw, 16, 3, 1, 1);
  net->shape[2] = shape(N, 16, ph, pw, 16, 3, 1, 1);
  net->shape[3] = shape(N, 16, ph, pw, 32, 1, 2, 0);
  for (int l = 0; l < N_CONV; l++) {
    const ConvShape *s = &net->shape[l];
    const double fan_in = (double)s->c * s->r * s->r;
    net->plan[l] = be->conv_plan(be, s);
    net->w[l] = param(be, conv_w_elems(s), 10 * l, sqrt(2.0 / fan_in), 0);
    net->gamma[l] = param(be, s->k, 10 * l + 1, 0.1, 1);
    net->beta[l] = param(be, s->k, 10 * l + 2, 0.1, 0);
    net->dw[l] = zeros(be, conv_w_elems(s));
    net->dgamma[l] = zeros(be, s->k);
    net->dbeta[l] = zeros(be, s->k);
    net->h[l] = zeros(be, conv_out_elems(s));
    net->a[l] = zeros(be, conv_out_elems(s));
    net->dh[l] = zeros(be, conv_out_elems(s));
    net->da[l] = zeros(be, conv_out_elems(s));
    net->stats[l] = be->alloc(be, (2 * s->k + 1) * sizeof(double), "stats");
    net->sums[l] = be->alloc(be, 2 * s->k * sizeof(double), "sums");
    net->mean_invstd[l] = zeros(be, 2 * s->k);
  }
  net->fc_w = param(be, CLASSES * 32, 50, 0.1, 0);
  net->fc_b = param(be, CLASSES, 51, 0.1, 0);
  net->dfc_w = zeros(be, CLASSES * 32);
  net->dfc_b = zeros(be, CLASSES);
  net->x = zeros(be, (size_t)N * 3 * H * W);
  net->dx_scratch = zeros(be, (size_t)N * 3 * H * W);
  net->pool = zeros(be, (size_t)N * 16 * ph * pw);
  net->dpool = zeros(be, (size_t)N * 16 * ph * pw);
  net->feat = zeros(be, N * 32);
  net->dfeat = zeros(be, N * 32);
  net->logits = zeros(be, N * CLASSES);
  net->dlogits = zeros(be, N * CLASSES);
  net->labels = be->alloc(be, N * sizeof(int32_t), "labels");
}

static void bn_fwd(Net *net, int l, const void *res, int relu) {
  Backend *be = net->be;
  const ConvShape *s = &net->shape[l];
  be->bn_stats(be, s->n, s->k, s->p, s->q, net->h[l], net->stats[l]);
  be->bn_finalize(be, s->k, net->stats[l], net->mean_invstd[l], NULL, NULL, 0.1, 1e-5, 0);
  be->bn_apply(be, s->n, s->k, s->p, s->q, net->a[l], net->h[l], net->mean_invstd[l],
               net->gamma[l], net->beta[l], res, relu);
}

static void bn_bwd(Net *net, int l, void *dres) {
  Backend *be = net->be;
  const ConvShape *s = &net->shape[l];
  be->bn_bwd_reduce(be, s->n, s->k, s->p, s->q, net->da[l], net->a[l], net->h[l],
                    net->mean_invstd[l], 1, dres, 0, net->dgamma[l], net->dbeta[l], net->sums[l]);
  be->bn_bwd_apply(be, s->n, s->k, s->p, s->q, net->dh[l], net->da[l], net->a[l], net->h[l],
                   net->mean_invstd[l], net->gamma[l], 1, net->stats[l], net->sums[l], 0);
}

static void net_step(Net *net, const uint8_t *images, const int32_t *labels) {
  Backend *be = net->be;
  const ConvShape *s0 = &net->shape[0], *s3 = &net->shape[3];
  const float mean[3] = {0.485f, 0.456f, 0.406f}, std[3] = {0.229f, 0.224f, 0.225f};
  be->input_u8(be, net->x, images, N, H, W, mean, std);
  be->upload_labels(be, net->labels, labels, N);
  be->conv_fwd(be, net->plan[0], net->h[0], net->x, net->w[0]);
  bn_fwd(net, 0, NULL, 1);
  be->maxpool_fwd(be, N, 16, s0->p, s0->q, 3, 2, 1, net->pool, net->a[0]);
  be->conv_fwd(be, net->plan[1], net->h[1], net->pool, net->w[1]);
  bn_fwd(net, 1, NULL, 1);
  be->conv_fwd(be, net->plan[2], net->h[2], net->a[1], net->w[2]);
  bn_fwd(net, 2, net->pool, 1);
  be->conv_fwd(be, net->plan[3], net->h[3], net->a[2], net->w[3]);
  bn_fwd(net, 3, NULL, 1);
  be->avgpool_fwd(be, N, 32, s3->p, s3->q, net->feat, net->a[3]);
  be->fc_fwd(be, N, 32, CLASSES, net->logits, net->feat, net->fc_w, net->fc_b);
  int64_t correct[2];
  be->xent(be, N, CLASSES, net->logits, net->labels, 0.1, 1.0 / N, net->dlogits, &net->loss,
           correct);

  be->fc_bwd(be, N, 32, CLASSES, net->dfeat, net->dfc_w, net->dfc_b, net->dlogits, net->feat,
             net->fc_w);
  be->avgpool_bwd(be, N, 32, s3->p, s3->q, net->da[3], net->dfeat);
  bn_bwd(net, 3, NULL);
  be->conv_bwd_filter(be, net->plan[3], net->dw[3], net->dh[3], net->a[2]);
  be->conv_bwd_data(be, net->plan[3], net->da[2], net->dh[3], net->w[3], 0);
  bn_bwd(net, 2, net->dpool);
  be->conv_bwd_filter(be, net->plan[2], net->dw[2], net->dh[2], net->a[1]);
  be->conv_bwd_data(be, net->plan[2], net->da[1], net->dh[2], net->w[2], 0);
  bn_bwd(net, 1, NULL);
  be->conv_bwd_filter(be, net->plan[1], net->dw[1], net->dh[1], net->pool);
  be->conv_bwd_data(be, net->plan[1], net->dpool, net->dh[1], net->w[1], 1);
  be->maxpool_bwd(be, N, 16, s0->p, s0->q, 3, 2, 1, net->da[0], net->dpool, net->a[0], net->pool);
  bn_bwd(net, 0, NULL);
  be->conv_bwd_filter(be, net->plan[0], net->dw[0], net->dh[0], net->x);
  be->conv_bwd_data(be, net->plan[0], net->dx_scratch, net->dh[0], net->w[0], 0);

  /* One SGD step on conv1's weights (one segment of a one-tensor arena). */
  OptSegment seg = {0, conv_w_elems(s0), 1e-4, 1.0};
  OptHyper hyper = {0.1, 0.9, 1, 1.0};
  void *buf = zeros(be, conv_w_elems(s0));
  be->sgd_step(be, net->w[0], net->w[0], net->dw[0], buf, &seg, 1, &hyper);
  be->free(be, buf);
}

static void net_free(Net *net) {
  Backend *be = net->be;
  for (int l = 0; l < N_CONV; l++) {
    void *bufs[] = {net->w[l], net->gamma[l], net->beta[l], net->dw[l], net->dgamma[l],
                    net->dbeta[l], net->h[l], net->a[l], net->dh[l], net->da[l], net->stats[l],
                    net->sums[l], net->mean_invstd[l]};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) be->free(be, bufs[i]);
    be->conv_plan_free(be, net->plan[l]);
  }
  void *bufs[] = {net->fc_w, net->fc_b, net->dfc_w, net->dfc_b, net->x, net->dx_scratch,
                  net->pool, net->dpool, net->feat, net->dfeat, net->logits, net->dlogits,
                  net->labels};
  for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) be->free(be, bufs[i]);
}

/* ||a - b|| / ||b|| over n elements of two backends' tensors. */
static void check_close(const char *what, const Net *f, const void *a, const Net *d,
                        const void *b, size_t n) {
  float *ha = mem_alloc_or_die(n * sizeof *ha, "host"), *hb = mem_alloc_or_die(n * sizeof *hb, "host");
  f->be->params_to_host_f32(f->be, ha, a, n);
  d->be->params_to_host_f32(d->be, hb, b, n);
  double diff = 0, ref = 0;
  for (size_t i = 0; i < n; i++) {
    diff += ((double)ha[i] - hb[i]) * ((double)ha[i] - hb[i]);
    ref += (double)hb[i] * hb[i];
  }
  const double rel = sqrt(diff) / (sqrt(ref) > 0 ? sqrt(ref) : 1);
  printf("  %-28s relative error %.2e\n", what, rel);
  T_CHECK(rel <= 1e-5 && ref > 0, "%s: ||f32 - f64|| / ||f64|| = %.3g (|f64| = %.3g)", what, rel,
          sqrt(ref));
  mem_free(ha);
  mem_free(hb);
}

static void test_stack_agrees(void) {
  Net f, d;
  net_init(&f, backend_cpu_create(2));
  net_init(&d, backend_cpu64_create(2));
  RngStream s;
  rng_stream_init(&s, 5, rng_id_hi(RNG_DOMAIN_TEST, 301), 0);
  const size_t n_px = (size_t)N * H * W * 3;
  uint8_t *images = mem_alloc_or_die(n_px, "images");
  for (size_t i = 0; i < n_px; i++) images[i] = (uint8_t)rng_below(&s, 256);
  int32_t labels[N];
  for (int i = 0; i < N; i++) labels[i] = (int32_t)rng_below(&s, CLASSES);
  net_step(&f, images, labels);
  net_step(&d, images, labels);

  check_close("input", &f, f.x, &d, d.x, (size_t)N * 3 * H * W);
  check_close("logits", &f, f.logits, &d, d.logits, N * CLASSES);
  T_NEAR(f.loss, d.loss, 1e-5, 0, "loss");
  char what[64];
  for (int l = 0; l < N_CONV; l++) {
    snprintf(what, sizeof what, "conv%d.weight.grad", l + 1);
    check_close(what, &f, f.dw[l], &d, d.dw[l], conv_w_elems(&f.shape[l]));
    snprintf(what, sizeof what, "bn%d.weight.grad", l + 1);
    check_close(what, &f, f.dgamma[l], &d, d.dgamma[l], f.shape[l].k);
    snprintf(what, sizeof what, "bn%d.bias.grad", l + 1);
    check_close(what, &f, f.dbeta[l], &d, d.dbeta[l], f.shape[l].k);
  }
  check_close("fc.weight.grad", &f, f.dfc_w, &d, d.dfc_w, CLASSES * 32);
  check_close("fc.bias.grad", &f, f.dfc_b, &d, d.dfc_b, CLASSES);
  check_close("input grad", &f, f.dx_scratch, &d, d.dx_scratch, (size_t)N * 3 * H * W);
  check_close("conv1.weight after SGD", &f, f.w[0], &d, d.w[0], conv_w_elems(&f.shape[0]));
  mem_free(images);
  Backend *bf = f.be, *bd = d.be;
  net_free(&f);
  net_free(&d);
  bf->destroy(bf);
  bd->destroy(bd);
}

int main(void) {
  TEST_RUN(test_stack_agrees);
  return test_summary();
}
