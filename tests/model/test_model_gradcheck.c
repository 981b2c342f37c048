/* test_model_gradcheck.c - finite differences through the WHOLE network, in
 * double precision (cpu64 backend), through the model's own forward/backward
 * (op order, accumulation into shared gradients, shortcut A/B, bottlenecks,
 * BN in training mode, label smoothing).
 *
 * For sampled coordinates of every parameter tensor: central difference with
 * step h of the mean loss vs the analytic gradient.  Tolerance:
 * |analytic - numeric| <= 1e-6 * max(|analytic|, |numeric|, 1e-3) + 2e-8.
 * h = 1e-5 for the CIFAR nets; 1e-7 for ResNet-18, whose many ReLUs are
 * crossed by larger steps (round-off of the difference quotient is
 * ~ 2.2e-16 |L| / h = 4e-9 there, inside the absolute term).
 * Bottleneck nets (ResNet-50 and deeper) have so many ReLUs that almost every
 * step crosses one; their gradients are checked instead against PyTorch's
 * autograd in float64 (test_oracle_torch: every tensor within 1e-9).
 * ReLU (and max-pool) make the loss piecewise smooth: a step that crosses a
 * kink makes the central difference meaningless, which shows as a second
 * difference (f(+h) - 2 f(0) + f(-h)) far above smooth curvature.  Such a
 * coordinate is skipped and another one drawn (Caffe's checker does the
 * same); at most 1 in 5 may be skipped. */
#include <string.h>

#include "backend/backend.h"
#include "core/mem.h"
#include "core/rng.h"
#include "model/resnet.h"
#include "test_util.h"

static double loss_of(Model *m, const double *x, int n, int h, int w, double smoothing) {
  m->be->upload(m->be, model_input(m), x, (size_t)n * 3 * h * w * sizeof(double));
  model_forward(m, 1, NULL);
  double loss_sum;
  int64_t correct[2];
  model_loss(m, n, smoothing, 1.0 / n, 1, &loss_sum, correct);
  return loss_sum / n;
}

static void check_net(int arch, int shortcut, int n, int side, int coords_per_tensor,
                      int tensor_stride, double eps) {
  Backend *be = backend_cpu64_create(0);
  Config cfg;
  config_defaults(&cfg);
  cfg.model.arch = arch;
  cfg.model.num_classes = 5;
  cfg.model.shortcut = shortcut;
  ModelSpec s;
  model_spec_from_config(&s, &cfg);
  char err[256];
  Model *m = model_create(be, &s, err, sizeof err);
  model_init_params(m, 3);
  /* perturb BN gamma/beta away from 1/0 so their gradients are generic */
  double *p = m->params;
  RngStream rs;
  rng_stream_init(&rs, 11, RNG_DOMAIN_TEST, 0);
  for (size_t i = 0; i < m->n_param_elems; i++) p[i] += 0.05 * rng_normal(&rs);
  model_plan(m, n, side, side);
  double *x = mem_alloc_or_die((size_t)n * 3 * side * side * sizeof(double), "x");
  for (int i = 0; i < n * 3 * side * side; i++) x[i] = rng_normal(&rs);
  int32_t labels[8];
  for (int i = 0; i < n; i++) labels[i] = (int32_t)rng_below(&rs, 5);
  be->upload_labels(be, m->labels, labels, n);
  const double smoothing = 0.1;
  const double l0 = loss_of(m, x, n, side, side, smoothing);
  model_backward(m, NULL);
  double *g = mem_alloc_or_die(m->n_param_elems * sizeof(double), "grads");
  memcpy(g, m->grads, m->n_param_elems * sizeof(double));
  int checked = 0, bad = 0, kinks = 0;
  for (int t = 0; t < m->n_params; t += tensor_stride) {
    const ParamEntry *e = &m->param_table[t];
    for (int k = 0, tries = 0; k < coords_per_tensor && tries < 4 * coords_per_tensor; tries++) {
      size_t idx = e->offset + rng_below(&rs, (uint32_t)e->n_elems);
      double keep = p[idx];
      p[idx] = keep + eps;
      double lp = loss_of(m, x, n, side, side, smoothing);
      p[idx] = keep - eps;
      double lm = loss_of(m, x, n, side, side, smoothing);
      p[idx] = keep;
      double d2 = fabs(lp - 2 * l0 + lm), d1 = fabs(lp - lm);
      if (d2 > 1e-3 * (d1 > 1e-9 ? d1 : 1e-9)) { /* crossed a kink: draw again */
        kinks++;
        continue;
      }
      k++;
      double num = (lp - lm) / (2 * eps), ana = g[idx];
      double scale = fabs(ana) > fabs(num) ? fabs(ana) : fabs(num);
      if (scale < 1e-3) scale = 1e-3;
      checked++;
      if (fabs(ana - num) > 1e-6 * scale + 2e-8) {
        bad++;
        if (bad <= 5)
          fprintf(stderr, "  %s[%zu]: analytic %.10g numeric %.10g\n", e->name, idx - e->offset,
                  ana, num);
      }
    }
  }
  T_CHECK(bad == 0, "%s (shortcut %c): %d of %d coordinates disagree",
          config_arch_name(arch), shortcut == SHORTCUT_A ? 'A' : 'B', bad, checked);
  T_CHECK(kinks * 4 <= checked, "%s: %d kinks for %d coordinates checked", config_arch_name(arch),
          kinks, checked);
  printf("  %s: %d coordinates checked, %d skipped at ReLU kinks\n", config_arch_name(arch),
         checked, kinks);
  mem_free(g);
  mem_free(x);
  model_destroy(m);
  be->destroy(be);
}

static void test_resnet20_shortcut_a(void) { check_net(ARCH_RESNET20, SHORTCUT_A, 3, 8, 2, 1, 1e-5); }
static void test_resnet20_shortcut_b(void) { check_net(ARCH_RESNET20, SHORTCUT_B, 3, 8, 2, 1, 1e-5); }
static void test_resnet18(void) { check_net(ARCH_RESNET18, SHORTCUT_A, 2, 64, 1, 3, 1e-7); }

int main(void) {
  TEST_RUN(test_resnet20_shortcut_a);
  TEST_RUN(test_resnet20_shortcut_b);
  TEST_RUN(test_resnet18);
  return test_summary();
}
