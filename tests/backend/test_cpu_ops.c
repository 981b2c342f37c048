/* test_cpu_ops.c - exact-answer unit tests of the CPU backends' simpler ops
 * and of the conventions the oracle tests cannot see: memory ops, dtype
 * conversions, input normalisation, non-finite counting, norms, scaling, the
 * top-k tie rule, max-pool ties and padding, NaN propagation through ReLU,
 * SGD edge cases (no momentum buffer, separate working copy), thread-count
 * independence, and the fatal errors for impossible shapes and labels.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "backend/backend.h"
#include "core/child_capture.h"
#include "core/mem.h"
#include "core/rng.h"
#include "test_util.h"

static Backend *g_f32, *g_f64, *g_f32_1thread;

static void test_memory_ops(void) {
  Backend *be = g_f32;
  uint8_t *a = be->alloc(be, 1000, "a"), *b = be->alloc(be, 1000, "b");
  T_CHECK(((uintptr_t)a & 63) == 0 && ((uintptr_t)b & 63) == 0, "alloc not 64-byte aligned");
  uint8_t host[1000], back[1000];
  for (int i = 0; i < 1000; i++) host[i] = (uint8_t)(i * 7);
  be->upload(be, a, host, 1000);
  be->copy(be, b, a, 1000);
  be->download(be, back, b, 1000);
  be->sync(be);
  T_CHECK(memcmp(host, back, 1000) == 0, "upload / copy / download round trip");
  be->zero(be, b, 1000);
  be->download(be, back, b, 1000);
  int nonzero = 0;
  for (int i = 0; i < 1000; i++) nonzero += back[i] != 0;
  T_CHECK(nonzero == 0, "zero left %d bytes", nonzero);
  int32_t labels_host[5] = {3, 1, 4, 1, 5}, *labels = be->alloc(be, sizeof labels_host, "l");
  be->upload_labels(be, labels, labels_host, 5);
  T_CHECK(memcmp(labels, labels_host, sizeof labels_host) == 0, "upload_labels");
  void *h = be->alloc_host(be, 100, "host");
  T_CHECK(h != NULL, "alloc_host");
  be->free_host(be, h);
  be->free(be, a), be->free(be, b), be->free(be, labels);
}

static void test_conversions(void) {
  T_CHECK(g_f32->act_bytes == 4 && g_f32->param_bytes == 4 && g_f32->kind == BACKEND_CPU,
          "cpu backend dtype");
  T_CHECK(g_f64->act_bytes == 8 && g_f64->param_bytes == 8 && g_f64->kind == BACKEND_CPU64,
          "cpu64 backend dtype");
  const int n = 50000;  /* above the threading threshold */
  float *src = mem_alloc_or_die(n * sizeof *src, "src"), *back = mem_alloc_or_die(n * sizeof *back, "back");
  for (int i = 0; i < n; i++) src[i] = (float)i * 0.37f - 1000.0f;
  Backend *bes[2] = {g_f32, g_f64};
  for (int b = 0; b < 2; b++) {
    Backend *be = bes[b];
    void *d = be->alloc(be, (size_t)n * be->param_bytes, "d");
    be->params_from_host_f32(be, d, src, n);
    if (be == g_f64) T_CHECK(((double *)d)[12345] == (double)src[12345], "f32 -> f64 exact");
    be->params_to_host_f32(be, back, d, n);
    T_CHECK(memcmp(src, back, n * sizeof *src) == 0, "%s params round trip", be->name);
    be->act_from_host_f32(be, d, src, 10, 5, 25, 40);
    be->act_to_host_f32(be, back, d, 10, 5, 25, 40);
    T_CHECK(memcmp(src, back, n * sizeof *src) == 0, "%s act round trip", be->name);
    be->cast_params(be, d, d, n); /* same memory: a no-op */
    void *work = be->alloc(be, (size_t)n * be->param_bytes, "work");
    be->cast_params(be, work, d, n);
    T_CHECK(memcmp(work, d, (size_t)n * be->param_bytes) == 0, "%s cast_params copy", be->name);
    be->free(be, work);
    be->free(be, d);
  }
  mem_free(src), mem_free(back);
}

/* Every byte value of every channel, against the formula in double. */
static void test_input_u8(void) {
  const int n = 2, h = 16, w = 24;
  uint8_t *src = mem_alloc_or_die((size_t)n * h * w * 3, "pixels");
  for (int i = 0; i < n * h * w * 3; i++) src[i] = (uint8_t)(i * 31 + i / 3);
  const float mean[3] = {0.485f, 0.456f, 0.406f}, std[3] = {0.229f, 0.224f, 0.225f};
  Backend *bes[2] = {g_f32, g_f64};
  for (int b = 0; b < 2; b++) {
    Backend *be = bes[b];
    void *x = be->alloc(be, (size_t)n * 3 * h * w * be->act_bytes, "x");
    be->input_u8(be, x, src, n, h, w, mean, std);
    int bad = 0;
    for (int i = 0; i < n; i++)
      for (int c = 0; c < 3; c++)
        for (int j = 0; j < h * w; j++) {
          const double want = ((double)src[(i * h * w + j) * 3 + c] / 255.0 - mean[c]) / std[c];
          const size_t at = ((size_t)i * 3 + c) * h * w + j;
          const double got = be == g_f32 ? ((float *)x)[at] : ((double *)x)[at];
          bad += be == g_f32 ? got != (double)(float)want : got != want;
        }
    T_CHECK(bad == 0, "%s input_u8: %d values differ from the formula", be->name, bad);
    be->free(be, x);
  }
  mem_free(src);
}

static void test_nonfinite_norms_scale(void) {
  Backend *be = g_f32;
  const size_t n = 100000;
  float *x = be->alloc(be, n * sizeof *x, "x");
  for (size_t i = 0; i < n; i++) x[i] = 1.0f;
  T_CHECK(be->count_nonfinite(be, x, n) == 0, "finite array");
  x[0] = NAN, x[77777] = INFINITY, x[n - 1] = -INFINITY;
  T_CHECK(be->count_nonfinite(be, x, n) == 3, "3 non-finite, got %lld",
          (long long)be->count_nonfinite(be, x, n));
  for (size_t i = 0; i < n; i++) x[i] = (float)(i % 3);  /* squares: 0, 1, 4 */
  be->scale(be, x, n, 0.5);
  T_CHECK(x[4] == 0.5f && x[5] == 1.0f, "scale by 0.5");
  float *g = be->alloc(be, n * sizeof *g, "g");
  for (size_t i = 0; i < n; i++) g[i] = 2.0f;
  OptSegment segs[2] = {{0, 60000, 0, 1}, {60000, 40000, 0, 1}};
  double out[4];
  be->segment_norms(be, x, g, segs, 2, out);
  /* x = (i % 3) / 2: per period of 3, squares sum to (0 + 1 + 4) / 4. */
  T_NEAR(out[0], 20000 * 1.25, 0, 1e-9, "|p|^2 of segment 0");
  T_NEAR(out[1], 60000 * 4.0, 0, 1e-9, "|g|^2 of segment 0");
  double x_sq = 0;
  for (size_t i = 60000; i < n; i++) x_sq += (double)x[i] * x[i];
  T_NEAR(out[2], x_sq, 0, 1e-9, "|p|^2 of segment 1");
  T_NEAR(out[3], 40000 * 4.0, 0, 1e-9, "|g|^2 of segment 1");
  double out1[4];
  g_f32_1thread->segment_norms(g_f32_1thread, x, g, segs, 2, out1);
  T_CHECK(memcmp(out, out1, sizeof out) == 0, "segment_norms differ between 1 and 2 threads");
  be->free(be, x), be->free(be, g);
}

/* Ties count in the label's favour: a hit when fewer than k classes score
 * strictly higher. */
static void test_xent_topk_and_values(void) {
  Backend *be = g_f64;
  enum { N = 4, K = 7 };
  double logits[N * K] = {
      1, 1, 1, 1, 1, 1, 1,         /* all tied: top-1 and top-5 hit */
      0, 5, 4, 3, 2, 1, 0,         /* label 6 (0): 5 strictly higher -> miss, miss */
      0, 5, 4, 3, 2, 1, 0.5,       /* label 0: 6 higher -> miss */
      2, 9, 2, 2, 2, 2, 2,         /* label 0 (2): only 1 higher -> top-5 hit */
  };
  int32_t labels[N] = {0, 6, 0, 0};
  double *dl = be->alloc(be, sizeof logits, "dlogits");
  double loss;
  int64_t correct[2];
  be->xent(be, N, K, logits, labels, 0.1, 0.5, dl, &loss, correct);
  T_CHECK(correct[0] == 1 && correct[1] == 2, "top-1 %lld (want 1), top-5 %lld (want 2)",
          (long long)correct[0], (long long)correct[1]);
  /* Sample 0: uniform p, so the loss is log K whatever the smoothing. */
  double loss0;
  int64_t c0[2];
  be->xent(be, 1, K, logits, labels, 0.1, 1.0, NULL, &loss0, c0);
  T_NEAR(loss0, log((double)K), 1e-14, 0, "uniform logits loss = log K");
  for (int i = 0; i < N; i++) {
    double row = 0;
    for (int j = 0; j < K; j++) row += dl[i * K + j];
    T_NEAR(row, 0, 0, 1e-14, "dlogits row sums to 0");
  }
  /* dlogits = grad_scale (p - target): sample 0 label entry. */
  T_NEAR(dl[0], 0.5 * (1.0 / K - (0.9 + 0.1 / K)), 1e-14, 0, "dlogits label entry");
  be->free(be, dl);
}

static void test_maxpool_ties_and_padding(void) {
  Backend *be = g_f32;
  /* 2x2 window, all equal: the gradient goes to the first (top-left). */
  float x[4] = {3, 3, 3, 3}, y[1], dy[1] = {1.5f}, dx[4];
  be->maxpool_fwd(be, 1, 1, 2, 2, 2, 2, 0, y, x);
  be->maxpool_bwd(be, 1, 1, 2, 2, 2, 2, 0, dx, dy, x, y);
  T_CHECK(y[0] == 3 && dx[0] == 1.5f && dx[1] == 0 && dx[2] == 0 && dx[3] == 0,
          "first max wins: y %g dx %g %g %g %g", y[0], dx[0], dx[1], dx[2], dx[3]);
  /* All negative with padding 1: the padding never wins. */
  float xn[9], yn[4], dyn[4] = {1, 1, 1, 1}, dxn[9];
  for (int i = 0; i < 9; i++) xn[i] = -10.0f + (float)(i % 2);  /* -10, -9, -10, ... */
  be->maxpool_fwd(be, 1, 1, 3, 3, 3, 2, 1, yn, xn);
  int all_negative = 1;
  for (int i = 0; i < 4; i++) all_negative &= yn[i] == -9.0f;
  T_CHECK(all_negative, "padding won: %g %g %g %g", yn[0], yn[1], yn[2], yn[3]);
  be->maxpool_bwd(be, 1, 1, 3, 3, 3, 2, 1, dxn, dyn, xn, yn);
  /* Windows (rows/cols 0-1, 0-1), (0-1, 1-2), (1-2, 0-1), (1-2, 1-2): first -9
   * in each is x[1], x[1], x[3], x[5]. */
  T_CHECK(dxn[1] == 2 && dxn[3] == 1 && dxn[5] == 1 && dxn[0] == 0 && dxn[4] == 0,
          "tie routing: %g %g %g %g %g", dxn[0], dxn[1], dxn[3], dxn[4], dxn[5]);
}

static void test_relu_keeps_nan(void) {
  Backend *be = g_f32;
  float x[4] = {1, -2, 3, 0}, y[4], mi[2] = {0, 1}, gamma[1] = {1}, beta[1] = {0};
  x[2] = NAN;
  be->bn_apply(be, 1, 1, 2, 2, y, x, mi, gamma, beta, NULL, 1);
  T_CHECK(y[0] == 1 && y[1] == 0 && isnan(y[2]) && y[3] == 0, "relu: %g %g %g %g", y[0], y[1],
          y[2], y[3]);
}

static void test_sgd_edge_cases(void) {
  Backend *be = g_f64;
  double p[3] = {1, 2, 3}, g[3] = {4, 8, -4}, work[3] = {0, 0, 0};
  OptSegment seg = {0, 3, 0.5, 2.0};
  OptHyper plain = {0.1, 0.0, 0, 0.25};  /* no momentum: no buffer needed */
  be->sgd_step(be, p, work, g, NULL, &seg, 1, &plain);
  /* g' = 0.25 g + 0.5 p = (1.5, 3, 0.5); p -= 0.2 g' */
  T_NEAR(p[0], 0.7, 1e-15, 0, "p0");
  T_NEAR(p[1], 1.4, 1e-15, 0, "p1");
  T_NEAR(p[2], 2.9, 1e-15, 0, "p2");
  T_CHECK(work[0] == p[0] && work[1] == p[1] && work[2] == p[2], "working copy refreshed");
  /* Nesterov, two steps, wd 0, lr 1, m 0.5, g = 1 each step:
   * step 1: buf = 1, d = 1 + 0.5 = 1.5; step 2: buf = 1.5, d = 1 + 0.75. */
  double q[1] = {0}, gq[1] = {1}, buf[1] = {0};
  OptSegment s1 = {0, 1, 0, 1};
  OptHyper nest = {1.0, 0.5, 1, 1.0};
  be->sgd_step(be, q, q, gq, buf, &s1, 1, &nest);
  be->sgd_step(be, q, q, gq, buf, &s1, 1, &nest);
  T_NEAR(q[0], -(1.5 + 1.75), 1e-15, 0, "nesterov two steps");
  T_NEAR(buf[0], 1.5, 1e-15, 0, "nesterov buffer");
}

/* Elementwise ops are bitwise independent of the thread count; convolutions
 * (GEMM blocking, partial sums) agree to rounding. */
static void test_thread_count_independence(void) {
  const int n = 4, c = 16, h = 30, w = 30, k = 24;
  const size_t nx = (size_t)n * c * h * w, ny = (size_t)n * k * h * w, nw = (size_t)k * c * 9;
  float *x = mem_alloc_or_die(nx * sizeof *x, "x"), *wt = mem_alloc_or_die(nw * sizeof *wt, "w");
  float *dy = mem_alloc_or_die(ny * sizeof *dy, "dy");
  RngStream s;
  rng_stream_init(&s, 3, rng_id_hi(RNG_DOMAIN_TEST, 500), 0);
  for (size_t i = 0; i < nx; i++) x[i] = rng_uniform_f32(&s) - 0.5f;
  for (size_t i = 0; i < nw; i++) wt[i] = rng_uniform_f32(&s) - 0.5f;
  for (size_t i = 0; i < ny; i++) dy[i] = rng_uniform_f32(&s) - 0.5f;
  Backend *bes[2] = {g_f32_1thread, g_f32};
  float *y[2], *dx[2], *dw[2], *bn_y[2], *bn_dx[2];
  ConvShape shape = {n, c, h, w, k, 3, 1, 1, h, w};
  for (int b = 0; b < 2; b++) {
    Backend *be = bes[b];
    y[b] = be->alloc(be, ny * 4, "y"), dx[b] = be->alloc(be, nx * 4, "dx");
    dw[b] = be->alloc(be, nw * 4, "dw"), bn_y[b] = be->alloc(be, ny * 4, "bn y");
    bn_dx[b] = be->alloc(be, ny * 4, "bn dx");
    void *plan = be->conv_plan(be, &shape);
    be->conv_fwd(be, plan, y[b], x, wt);
    be->conv_bwd_data(be, plan, dx[b], dy, wt, 0);
    be->conv_bwd_filter(be, plan, dw[b], dy, x);
    be->conv_plan_free(be, plan);
    double stats[2 * 24 + 1], sums[2 * 24];
    float mi[48], gamma[24], beta[24], dg[24], db[24];
    for (int i = 0; i < k; i++) gamma[i] = 1.0f + 0.01f * i, beta[i] = 0.1f;
    be->bn_stats(be, n, k, h, w, y[0], stats);
    be->bn_finalize(be, k, stats, mi, NULL, NULL, 0.1, 1e-5, 0);
    be->bn_apply(be, n, k, h, w, bn_y[b], y[0], mi, gamma, beta, dy, 1);
    be->bn_bwd_reduce(be, n, k, h, w, dy, bn_y[b], y[0], mi, 1, NULL, 0, dg, db, sums);
    be->bn_bwd_apply(be, n, k, h, w, bn_dx[b], dy, bn_y[b], y[0], mi, gamma, 1, stats, sums, 0);
  }
  T_CHECK(memcmp(bn_y[0], bn_y[1], ny * 4) == 0, "bn_apply differs between 1 and 2 threads");
  T_CHECK(memcmp(bn_dx[0], bn_dx[1], ny * 4) == 0, "bn backward differs between 1 and 2 threads");
  struct { const char *what; float **t; size_t n; } conv[3] = {
      {"conv_fwd", y, ny}, {"conv_bwd_data", dx, nx}, {"conv_bwd_filter", dw, nw}};
  for (int i = 0; i < 3; i++) {
    double max_ref = 0, max_diff = 0;
    for (size_t j = 0; j < conv[i].n; j++) {
      max_ref = fmax(max_ref, fabs(conv[i].t[0][j]));
      max_diff = fmax(max_diff, fabs(conv[i].t[0][j] - conv[i].t[1][j]));
    }
    T_CHECK(max_diff <= 1e-5 * max_ref, "%s: 1 vs 2 threads differ by %g (scale %g)",
            conv[i].what, max_diff, max_ref);
  }
  for (int b = 0; b < 2; b++) {
    Backend *be = bes[b];
    be->free(be, y[b]), be->free(be, dx[b]), be->free(be, dw[b]), be->free(be, bn_y[b]);
    be->free(be, bn_dx[b]);
  }
  mem_free(x), mem_free(wt), mem_free(dy);
}

static void plan_bad_shape(void) {
  ConvShape s = {2, 3, 8, 8, 4, 3, 1, 1, 7, 8};  /* p should be 8 */
  g_f32->conv_plan(g_f32, &s);
}

static void xent_bad_label(void) {
  float logits[6] = {0};
  int32_t labels[2] = {1, 3};
  double loss;
  int64_t correct[2];
  g_f32->xent(g_f32, 2, 3, logits, labels, 0.0, 1.0, NULL, &loss, correct);
}

static void test_fatal_errors(void) {
  char err[1024];
  int status = run_captured(plan_bad_shape, err, sizeof err);
  T_CHECK(status == 1 && strstr(err, "conv_plan") && strstr(err, "7x8"),
          "bad conv shape: status %d, stderr: %s", status, err);
  status = run_captured(xent_bad_label, err, sizeof err);
  T_CHECK(status == 1 && strstr(err, "label 3"), "bad label: status %d, stderr: %s", status, err);
}

int main(void) {
  g_f32 = backend_cpu_create(2);
  g_f64 = backend_cpu64_create(2);
  g_f32_1thread = backend_cpu_create(1);
  TEST_RUN(test_memory_ops);
  TEST_RUN(test_conversions);
  TEST_RUN(test_input_u8);
  TEST_RUN(test_nonfinite_norms_scale);
  TEST_RUN(test_xent_topk_and_values);
  TEST_RUN(test_maxpool_ties_and_padding);
  TEST_RUN(test_relu_keeps_nan);
  TEST_RUN(test_sgd_edge_cases);
  TEST_RUN(test_thread_count_independence);
  TEST_RUN(test_fatal_errors);
  g_f32->destroy(g_f32);
  g_f64->destroy(g_f64);
  g_f32_1thread->destroy(g_f32_1thread);
  return test_summary();
}
