/* test_cpu_torch.c - the fp32 CPU backend against PyTorch (Debian's torch,
 * CPU) on the same inputs: conv (several shapes, forward and both
 * backwards), batch norm in train mode (output, running statistics with
 * momentum 0.1 and unbiased variance, backward) and eval mode, max pool with
 * many ties (first-max rule in the backward), global average pool, fc,
 * cross-entropy with label smoothing 0 and 0.1 (loss, gradient, top-1/5),
 * three SGD steps with momentum / nesterov / two weight decays vs
 * torch.optim.SGD, and input_u8 vs ToTensor + Normalize.
 *
 * Usage: test_cpu_torch PYTHON SCRIPT.  The test writes every case's inputs
 * as raw float32 files plus a manifest into a fresh temporary directory, runs
 * SCRIPT (cpu_torch_oracle.py) once, then recomputes each case with the
 * backend (inputs are regenerated from the same counter-based streams) and
 * compares with torch's files.  Without torch it prints "skipped" (77).
 *
 * Tolerance (both are float32 with different summation orders):
 * |ours - torch| <= 1e-5 |torch| + 1e-5 max|torch over the tensor|, except
 * where stated at the comparison: max-pool forward and residual gradients are
 * exact; the max-pool backward (one winner per window), SGD and input_u8 are
 * within a few ulp.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend/backend.h"
#include "core/check.h"
#include "core/mem.h"
#include "core/rng.h"
#include "test_util.h"

typedef enum { PHASE_PREPARE, PHASE_COMPARE } Phase;

static Backend *g_be;
static char g_dir[256];
static FILE *g_manifest;
static Phase g_phase;
static uint32_t g_case;  /* stream id of the current case */

/* ---- files ----------------------------------------------------------- */

static void path_of(char *buf, size_t n_bytes, const char *name, const char *tensor,
                    const char *ext) {
  snprintf(buf, n_bytes, "%s/%s.%s.%s", g_dir, name, tensor, ext);
}

static void write_bytes(const char *name, const char *tensor, const char *ext, const void *v,
                        size_t n_bytes) {
  char path[512];
  path_of(path, sizeof path, name, tensor, ext);
  FILE *f = fopen(path, "wb");
  CHECK(f && fwrite(v, 1, n_bytes, f) == n_bytes && fclose(f) == 0, "cannot write %s", path);
}

/* torch's output, or NULL (and a failed check) when missing or mis-sized. */
static float *read_torch(const char *name, const char *tensor, size_t n) {
  char path[512];
  path_of(path, sizeof path, name, tensor, "f32");
  FILE *f = fopen(path, "rb");
  T_CHECK(f != NULL, "torch wrote no %s", path);
  if (!f) return NULL;
  float *v = mem_alloc_or_die((n + 1) * sizeof *v, "torch output");
  const size_t got = fread(v, sizeof *v, n + 1, f);
  fclose(f);
  T_CHECK(got == n, "%s: %zu values, want %zu", path, got, n);
  if (got == n) return v;
  mem_free(v);
  return NULL;
}

/* ---- inputs: the same values in both phases ----------------------------- */

static float *input_tensor(const char *name, const char *tensor, size_t n, uint32_t id,
                           double lo, double hi, int integers) {
  RngStream s;
  rng_stream_init(&s, 2024, rng_id_hi(RNG_DOMAIN_TEST, g_case), id);
  float *v = mem_alloc_or_die(n * sizeof *v, "test input");
  for (size_t i = 0; i < n; i++) {
    double u = rng_uniform_range(&s, lo, hi);
    v[i] = (float)(integers ? floor(u) : u);
  }
  if (g_phase == PHASE_PREPARE) write_bytes(name, tensor, "f32", v, n * sizeof *v);
  return v;
}

static float *uniform(const char *name, const char *tensor, size_t n, uint32_t id, double lo,
                      double hi) {
  return input_tensor(name, tensor, n, id, lo, hi, 0);
}

static void manifest(const char *line) {
  if (g_phase == PHASE_PREPARE) fprintf(g_manifest, "%s\n", line);
}

/* Backend copy of a host tensor (fp32 backend: act and param alike). */
static void *dev(const float *host, size_t n) {
  void *d = g_be->alloc(g_be, (n ? n : 1) * sizeof(float), "test tensor");
  g_be->params_from_host_f32(g_be, d, host, n);
  return d;
}

static void *dev_zero(size_t n) {
  void *d = g_be->alloc(g_be, (n ? n : 1) * sizeof(float), "test tensor");
  g_be->zero(g_be, d, n * sizeof(float));
  return d;
}

/* Compares the backend tensor d (n) with torch's <name>.<tensor>. */
static void compare(const char *name, const char *tensor, const void *d, size_t n, double rtol,
                    double atol_rel) {
  float *ref = read_torch(name, tensor, n);
  if (!ref) return;
  float *ours = mem_alloc_or_die(n * sizeof *ours, "test output");
  g_be->params_to_host_f32(g_be, ours, d, n);
  double max_ref = 0;
  for (size_t i = 0; i < n; i++) max_ref = fmax(max_ref, fabs(ref[i]));
  const double atol = atol_rel * max_ref;
  size_t bad = 0, worst_i = 0;
  double worst = -1;
  for (size_t i = 0; i < n; i++) {
    const double err = fabs((double)ours[i] - ref[i]) - rtol * fabs(ref[i]);
    if (err > worst) worst = err, worst_i = i;
    bad += err > atol || isnan(ours[i]) != isnan(ref[i]);
  }
  T_CHECK(bad == 0, "%s.%s: %zu of %zu values differ; worst [%zu] ours %.9g torch %.9g", name,
          tensor, bad, n, worst_i, ours[worst_i], ref[worst_i]);
  mem_free(ours);
  mem_free(ref);
}

#define TOL 1e-5

/* ---- cases --------------------------------------------------------------- */

static void case_conv(const char *name, int n, int c, int h, int w, int k, int r, int stride,
                      int pad) {
  ConvShape s = {n, c, h, w, k, r, stride, pad, (h + 2 * pad - r) / stride + 1,
                 (w + 2 * pad - r) / stride + 1};
  const size_t nx = (size_t)n * c * h * w, nw = (size_t)k * c * r * r, ny = (size_t)n * k * s.p * s.q;
  float *x = uniform(name, "x", nx, 1, -1, 1), *wt = uniform(name, "w", nw, 2, -0.5, 0.5);
  float *dy = uniform(name, "dy", ny, 3, -1, 1);
  char line[256];
  snprintf(line, sizeof line, "conv %s %d %d %d %d %d %d %d %d", name, n, c, h, w, k, r, stride,
           pad);
  manifest(line);
  if (g_phase == PHASE_COMPARE) {
    void *plan = g_be->conv_plan(g_be, &s);
    void *dx_ = dev(x, nx), *dw_ = dev(wt, nw), *ddy = dev(dy, ny);
    void *y = dev_zero(ny), *dx = dev_zero(nx), *dw = dev_zero(nw);
    g_be->conv_fwd(g_be, plan, y, dx_, dw_);
    g_be->conv_bwd_data(g_be, plan, dx, ddy, dw_, 0);
    g_be->conv_bwd_filter(g_be, plan, dw, ddy, dx_);
    compare(name, "y", y, ny, TOL, TOL);
    compare(name, "dx", dx, nx, TOL, TOL);
    compare(name, "dw", dw, nw, TOL, TOL);
    void *bufs[] = {dx_, dw_, ddy, y, dx, dw};
    for (int i = 0; i < 6; i++) g_be->free(g_be, bufs[i]);
    g_be->conv_plan_free(g_be, plan);
  }
  mem_free(x), mem_free(wt), mem_free(dy);
}

static void case_bn(const char *name, int n, int c, int h, int w, int relu, int residual) {
  const size_t nx = (size_t)n * c * h * w;
  float *x = uniform(name, "x", nx, 1, -1, 3), *gamma = uniform(name, "gamma", c, 2, 0.5, 1.5);
  float *beta = uniform(name, "beta", c, 3, -0.5, 0.5), *rm = uniform(name, "rm", c, 4, -0.2, 0.2);
  float *rv = uniform(name, "rv", c, 5, 0.5, 2);
  float *res = residual ? uniform(name, "res", nx, 6, -1, 1) : NULL;
  float *dy = uniform(name, "dy", nx, 7, -1, 1);
  char line[256];
  snprintf(line, sizeof line, "bn %s %d %d %d %d %d %d", name, n, c, h, w, relu, residual);
  manifest(line);
  if (g_phase == PHASE_COMPARE) {
    void *dxin = dev(x, nx), *dg = dev(gamma, c), *db = dev(beta, c), *drm = dev(rm, c);
    void *drv = dev(rv, c), *dres_in = residual ? dev(res, nx) : NULL, *ddy = dev(dy, nx);
    void *y = dev_zero(nx), *dx = dev_zero(nx), *dres = residual ? dev_zero(nx) : NULL;
    void *dgamma = dev_zero(c), *dbeta = dev_zero(c), *mi = dev_zero(2 * c), *y_eval = dev_zero(nx);
    double *stats = g_be->alloc(g_be, (2 * c + 1) * sizeof *stats, "stats");
    double *sums = g_be->alloc(g_be, 2 * c * sizeof *sums, "sums");
    g_be->bn_stats(g_be, n, c, h, w, dxin, stats);
    g_be->bn_finalize(g_be, c, stats, mi, drm, drv, 0.1, 1e-5, 1);
    g_be->bn_apply(g_be, n, c, h, w, y, dxin, mi, dg, db, dres_in, relu);
    g_be->bn_bwd_reduce(g_be, n, c, h, w, ddy, y, dxin, mi, relu, dres, 0, dgamma, dbeta, sums);
    g_be->bn_bwd_apply(g_be, n, c, h, w, dx, ddy, y, dxin, mi, dg, relu, stats, sums, 0);
    compare(name, "y", y, nx, TOL, TOL);
    compare(name, "rm_new", drm, c, TOL, TOL);
    compare(name, "rv_new", drv, c, TOL, TOL);
    compare(name, "dx", dx, nx, TOL, TOL);
    compare(name, "dgamma", dgamma, c, TOL, TOL);
    compare(name, "dbeta", dbeta, c, TOL, TOL);
    if (residual) compare(name, "dres", dres, nx, 0, 0);
    g_be->bn_finalize_eval(g_be, c, drm, drv, 1e-5, mi);
    g_be->bn_apply(g_be, n, c, h, w, y_eval, dxin, mi, dg, db, NULL, 0);
    compare(name, "y_eval", y_eval, nx, TOL, TOL);
    void *bufs[] = {dxin, dg, db, drm, drv, dres_in, ddy, y, dx, dres, dgamma, dbeta, mi, y_eval,
                    stats, sums};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
      if (bufs[i]) g_be->free(g_be, bufs[i]);
  }
  mem_free(x), mem_free(gamma), mem_free(beta), mem_free(rm), mem_free(rv), mem_free(res);
  mem_free(dy);
}

/* Inputs are small integers, so windows are full of ties. */
static void case_maxpool(const char *name, int n, int c, int h, int w, int r, int stride, int pad) {
  const int p = (h + 2 * pad - r) / stride + 1, q = (w + 2 * pad - r) / stride + 1;
  const size_t nx = (size_t)n * c * h * w, ny = (size_t)n * c * p * q;
  float *x = input_tensor(name, "x", nx, 1, -2, 2, 1), *dy = uniform(name, "dy", ny, 2, -1, 1);
  char line[256];
  snprintf(line, sizeof line, "maxpool %s %d %d %d %d %d %d %d", name, n, c, h, w, r, stride, pad);
  manifest(line);
  if (g_phase == PHASE_COMPARE) {
    void *dxin = dev(x, nx), *ddy = dev(dy, ny), *y = dev_zero(ny), *dx = dev_zero(nx);
    g_be->maxpool_fwd(g_be, n, c, h, w, r, stride, pad, y, dxin);
    g_be->maxpool_bwd(g_be, n, c, h, w, r, stride, pad, dx, ddy, dxin, y);
    compare(name, "y", y, ny, 0, 0);
    compare(name, "dx", dx, nx, 1e-6, 0);
    void *bufs[] = {dxin, ddy, y, dx};
    for (int i = 0; i < 4; i++) g_be->free(g_be, bufs[i]);
  }
  mem_free(x), mem_free(dy);
}

static void case_avgpool(const char *name, int n, int c, int h, int w) {
  const size_t nx = (size_t)n * c * h * w, ny = (size_t)n * c;
  float *x = uniform(name, "x", nx, 1, -1, 1), *dy = uniform(name, "dy", ny, 2, -1, 1);
  char line[256];
  snprintf(line, sizeof line, "avgpool %s %d %d %d %d", name, n, c, h, w);
  manifest(line);
  if (g_phase == PHASE_COMPARE) {
    void *dxin = dev(x, nx), *ddy = dev(dy, ny), *y = dev_zero(ny), *dx = dev_zero(nx);
    g_be->avgpool_fwd(g_be, n, c, h, w, y, dxin);
    g_be->avgpool_bwd(g_be, n, c, h, w, dx, ddy);
    compare(name, "y", y, ny, TOL, TOL);
    compare(name, "dx", dx, nx, 1e-6, 0);
    void *bufs[] = {dxin, ddy, y, dx};
    for (int i = 0; i < 4; i++) g_be->free(g_be, bufs[i]);
  }
  mem_free(x), mem_free(dy);
}

static void case_fc(const char *name, int n, int in, int out) {
  const size_t nx = (size_t)n * in, nw = (size_t)out * in, ny = (size_t)n * out;
  float *x = uniform(name, "x", nx, 1, -1, 1), *wt = uniform(name, "w", nw, 2, -0.3, 0.3);
  float *b = uniform(name, "b", out, 3, -0.3, 0.3), *dy = uniform(name, "dy", ny, 4, -1, 1);
  char line[256];
  snprintf(line, sizeof line, "fc %s %d %d %d", name, n, in, out);
  manifest(line);
  if (g_phase == PHASE_COMPARE) {
    void *dxin = dev(x, nx), *dwt = dev(wt, nw), *db_in = dev(b, out), *ddy = dev(dy, ny);
    void *y = dev_zero(ny), *dx = dev_zero(nx), *dw = dev_zero(nw), *db = dev_zero(out);
    g_be->fc_fwd(g_be, n, in, out, y, dxin, dwt, db_in);
    g_be->fc_bwd(g_be, n, in, out, dx, dw, db, ddy, dxin, dwt);
    compare(name, "y", y, ny, TOL, TOL);
    compare(name, "dx", dx, nx, TOL, TOL);
    compare(name, "dw", dw, nw, TOL, TOL);
    compare(name, "db", db, out, TOL, TOL);
    void *bufs[] = {dxin, dwt, db_in, ddy, y, dx, dw, db};
    for (int i = 0; i < 8; i++) g_be->free(g_be, bufs[i]);
  }
  mem_free(x), mem_free(wt), mem_free(b), mem_free(dy);
}

static void case_xent(const char *name, int n, int k, double eps) {
  float *logits = uniform(name, "logits", (size_t)n * k, 1, -4, 4);
  float *labels_f = input_tensor(name, "labels", n, 2, 0, k, 1);
  char line[256];
  snprintf(line, sizeof line, "xent %s %d %d %.17g", name, n, k, eps);
  manifest(line);
  if (g_phase == PHASE_COMPARE) {
    int32_t *labels = g_be->alloc(g_be, n * sizeof *labels, "labels");
    int32_t host_labels[256];
    CHECK(n <= 256, "xent case too large");
    for (int i = 0; i < n; i++) host_labels[i] = (int32_t)labels_f[i];
    g_be->upload_labels(g_be, labels, host_labels, n);
    void *dl = dev(logits, (size_t)n * k), *dlogits = dev_zero((size_t)n * k);
    double loss;
    int64_t correct[2];
    g_be->xent(g_be, n, k, dl, labels, eps, 1.0, dlogits, &loss, correct);
    float *ref = read_torch(name, "loss", 1), *ref_correct = read_torch(name, "correct", 2);
    if (ref) T_NEAR(loss, ref[0], 1e-5, 0, "xent loss sum");
    if (ref_correct) {
      T_CHECK(correct[0] == (int64_t)ref_correct[0], "top-1 %lld vs torch %g",
              (long long)correct[0], ref_correct[0]);
      T_CHECK(correct[1] == (int64_t)ref_correct[1], "top-5 %lld vs torch %g",
              (long long)correct[1], ref_correct[1]);
    }
    compare(name, "dlogits", dlogits, (size_t)n * k, TOL, 1e-6);
    mem_free(ref), mem_free(ref_correct);
    g_be->free(g_be, labels), g_be->free(g_be, dl), g_be->free(g_be, dlogits);
  }
  mem_free(logits), mem_free(labels_f);
}

/* Three steps over two segments (two param groups in torch).  Our grads are
 * torch's times 4 with grad_scale 1/4 (exact in binary), and segment 1 runs
 * at trust 1/2 (torch: that group's grads and weight decay are halved). */
static void case_sgd(const char *name, int n, int split, int nesterov, double momentum,
                     double lr, double wd0, double wd1) {
  float *p = uniform(name, "p", n, 1, -1, 1);
  float *g[3];
  for (int s = 0; s < 3; s++) {
    char t[8];
    snprintf(t, sizeof t, "g%d", s);
    g[s] = uniform(name, t, n, 2 + s, -1, 1);
  }
  char line[256];
  snprintf(line, sizeof line, "sgd %s %d %d %d %.17g %.17g %.17g %.17g", name, n, split, nesterov,
           momentum, lr, wd0, wd1);
  manifest(line);
  if (g_phase == PHASE_COMPARE) {
    void *dp = dev(p, n), *buf = dev_zero(n), *grad = dev_zero(n);
    OptSegment segs[2] = {{0, (size_t)split, wd0, 1.0}, {(size_t)split, (size_t)(n - split), wd1, 0.5}};
    OptHyper hyper = {lr, momentum, nesterov, 0.25};
    float *g4 = mem_alloc_or_die(n * sizeof *g4, "grads");
    for (int s = 0; s < 3; s++) {
      for (int i = 0; i < n; i++) g4[i] = 4 * g[s][i];
      g_be->params_from_host_f32(g_be, grad, g4, n);
      g_be->sgd_step(g_be, dp, dp, grad, buf, segs, 2, &hyper);
    }
    compare(name, "p_new", dp, n, 1e-6, 1e-7);
    compare(name, "buf_new", buf, n, 1e-6, 1e-7);
    mem_free(g4);
    g_be->free(g_be, dp), g_be->free(g_be, buf), g_be->free(g_be, grad);
  }
  mem_free(p);
  for (int s = 0; s < 3; s++) mem_free(g[s]);
}

static void case_input(const char *name, int n, int h, int w) {
  const size_t n_px = (size_t)n * h * w * 3;
  float *src_f = input_tensor(name, "src_f", n_px, 1, 0, 256, 1);
  uint8_t *src = mem_alloc_or_die(n_px, "pixels");
  for (size_t i = 0; i < n_px; i++) src[i] = (uint8_t)src_f[i];
  const float mean[3] = {0.485f, 0.456f, 0.406f}, std[3] = {0.229f, 0.224f, 0.225f};
  if (g_phase == PHASE_PREPARE) {
    write_bytes(name, "src", "u8", src, n_px);
    write_bytes(name, "mean", "f32", mean, sizeof mean);
    write_bytes(name, "std", "f32", std, sizeof std);
  }
  char line[256];
  snprintf(line, sizeof line, "input %s %d %d %d", name, n, h, w);
  manifest(line);
  if (g_phase == PHASE_COMPARE) {
    void *x = dev_zero(n_px);
    g_be->input_u8(g_be, x, src, n, h, w, mean, std);
    /* torch rounds v / 255 before subtracting the mean; near zero that is
     * a large relative error, so the bound is absolute. */
    compare(name, "x", x, n_px, 2e-6, 1e-6);
    g_be->free(g_be, x);
  }
  mem_free(src_f), mem_free(src);
}

/* Every case, in a fixed order; g_case gives each its own random streams. */
static void run_cases(Phase phase) {
  g_phase = phase;
  g_case = 0;
#define CASE(call) (g_case++, call)
  CASE(case_conv("conv_a", 2, 3, 9, 7, 4, 3, 1, 1));
  CASE(case_conv("conv_stem", 2, 3, 32, 30, 8, 7, 2, 3));
  CASE(case_conv("conv_1x1", 4, 16, 7, 7, 32, 1, 1, 0));
  CASE(case_conv("conv_1x1_big", 1, 8, 40, 36, 12, 1, 1, 0));
  CASE(case_conv("conv_down", 2, 16, 14, 14, 32, 1, 2, 0));
  CASE(case_conv("conv_3x3s2", 3, 8, 15, 13, 16, 3, 2, 1));
  CASE(case_conv("conv_wide", 2, 64, 16, 16, 64, 3, 1, 1));
  CASE(case_bn("bn_plain", 4, 6, 5, 7, 0, 0));
  CASE(case_bn("bn_relu", 4, 6, 5, 7, 1, 0));
  CASE(case_bn("bn_res_relu", 3, 8, 6, 6, 1, 1));
  CASE(case_bn("bn_big", 8, 32, 20, 20, 1, 1));
  CASE(case_maxpool("maxpool_3s2", 2, 3, 11, 10, 3, 2, 1));
  CASE(case_maxpool("maxpool_big", 4, 16, 32, 32, 3, 2, 1));
  CASE(case_maxpool("maxpool_2s2", 2, 2, 6, 8, 2, 2, 0));
  CASE(case_avgpool("avgpool", 3, 16, 7, 7));
  CASE(case_fc("fc", 6, 64, 10));
  CASE(case_xent("xent_plain", 32, 10, 0.0));
  CASE(case_xent("xent_smooth", 32, 10, 0.1));
  CASE(case_xent("xent_1000", 8, 1000, 0.1));
  CASE(case_sgd("sgd_momentum", 1000, 600, 0, 0.9, 0.1, 1e-4, 0.0));
  CASE(case_sgd("sgd_nesterov", 1000, 300, 1, 0.9, 0.05, 5e-4, 1e-5));
  CASE(case_input("input", 2, 5, 7));
#undef CASE
}

/* ---- driver ---------------------------------------------------------------- */

static void remove_dir(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return;
  struct dirent *e;
  char path[512];
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.') continue;
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    unlink(path);
  }
  closedir(d);
  rmdir(dir);
}

/* Runs the oracle; returns its exit status. */
static int run_oracle(const char *python, const char *script) {
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "'%s' '%s' '%s'", python, script, g_dir);
  const int status = system(cmd);
  if (status == -1 || !WIFEXITED(status)) return -1;
  return WEXITSTATUS(status);
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s PYTHON cpu_torch_oracle.py\n", argv[0]);
    return 2;
  }
  const char *tmp = getenv("TMPDIR");
  snprintf(g_dir, sizeof g_dir, "%s/rd_cpu_torch_XXXXXX", tmp && *tmp ? tmp : "/tmp");
  CHECK(mkdtemp(g_dir) != NULL, "mkdtemp %s", g_dir);
  char manifest_path[512];
  snprintf(manifest_path, sizeof manifest_path, "%s/manifest.txt", g_dir);
  g_manifest = fopen(manifest_path, "w");
  CHECK(g_manifest, "cannot write %s", manifest_path);
  g_be = backend_cpu_create(2);
  run_cases(PHASE_PREPARE);
  fclose(g_manifest);

  const int status = run_oracle(argv[1], argv[2]);
  if (status == 77 || status == 127) {
    remove_dir(g_dir);
    test_skip("PyTorch not available to the oracle python (need /usr/bin/python3 with torch)");
  }
  T_CHECK(status == 0, "oracle %s exited with %d", argv[2], status);
  if (status == 0) {
    run_cases(PHASE_COMPARE);
    printf("%-48s %s\n", "torch oracle cases", t_failures ? "FAILED" : "ok");
  }
  g_be->destroy(g_be);
  remove_dir(g_dir);
  return test_summary();
}
