/* gradcheck.h - finite-difference gradient checking over the cpu64 backend
 * (Caffe's GradientChecker idea: central differences, error scaled by
 * max(|analytic|, |numeric|, 1); our own code).
 *
 * A problem is a function out = f(in_0, ..., in_k) built from backend ops,
 * with a scalar loss L = sum(out * R) for a fixed random R (or a problem's own
 * scalar, e.g. the cross-entropy, returned by forward()).  backward() gets dL/dout = R and must write
 * dL/din_t into in[t].grad.  gc_check perturbs up to max_coords coordinates
 * of every input by +-step and compares (L+ - L-) / (2 step) with the
 * analytic value.  Tensors are host memory (the CPU backend's device memory
 * is host memory), so problems read and write them directly.
 */
#ifndef RD_TESTS_BACKEND_GRADCHECK_H
#define RD_TESTS_BACKEND_GRADCHECK_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "backend/backend.h"
#include "core/check.h"
#include "core/rng.h"
#include "test_util.h"

enum { GC_MAX_INPUTS = 12 };

typedef struct {
  const char *name;
  double *v;     /* (n) the input itself */
  double *grad;  /* (n) analytic dL/dv, written by backward */
  size_t n;
} GcTensor;

typedef struct GcProblem GcProblem;
struct GcProblem {
  Backend *be;
  GcTensor in[GC_MAX_INPUTS];
  int n_in;
  double *out;   /* (n_out) forward output */
  double *r;     /* (n_out) loss weights = dL/dout */
  size_t n_out;
  /* Runs the forward into out; returns the loss when the problem has its own
   * scalar loss (scalar_loss set), else the return value is ignored. */
  double (*forward)(GcProblem *p);
  void (*backward)(GcProblem *p);
  int scalar_loss;
  void *ctx;
};

static inline double *gc_alloc(Backend *be, size_t n) {
  double *p = be->alloc(be, (n ? n : 1) * sizeof *p, "gradcheck tensor");
  memset(p, 0, (n ? n : 1) * sizeof *p);
  return p;
}

/* v (n) ~ N(0, sd^2) from a test stream. */
static inline void gc_fill_normal(double *v, size_t n, uint32_t stream, double sd) {
  RngStream s;
  rng_stream_init(&s, 0x5eed, rng_id_hi(RNG_DOMAIN_TEST, stream), 0);
  for (size_t i = 0; i < n; i++) v[i] = sd * rng_normal(&s);
}

static inline GcTensor *gc_input(GcProblem *p, const char *name, size_t n, uint32_t stream,
                                 double sd) {
  CHECK(p->n_in < GC_MAX_INPUTS, "gradcheck: too many inputs");
  GcTensor *t = &p->in[p->n_in++];
  t->name = name;
  t->n = n;
  t->v = gc_alloc(p->be, n);
  t->grad = gc_alloc(p->be, n);
  gc_fill_normal(t->v, n, stream, sd);
  return t;
}

static inline void gc_output(GcProblem *p, size_t n_out, uint32_t stream) {
  p->n_out = n_out;
  p->out = gc_alloc(p->be, n_out);
  p->r = gc_alloc(p->be, n_out);
  gc_fill_normal(p->r, n_out, stream, 1.0);
}

/* L(v + step e_i) - L(v - step e_i) as sum((out+ - out-) * R): outputs the
 * perturbation does not reach cancel exactly instead of adding rounding noise
 * from the whole sum.  up (n_out) is scratch. */
static inline double gc_loss_diff(GcProblem *p, double *v, double step, double *up) {
  const double saved = *v;
  *v = saved + step;
  const double scalar_up = p->forward(p);
  memcpy(up, p->out, p->n_out * sizeof *up);
  *v = saved - step;
  const double scalar_down = p->forward(p);
  *v = saved;
  if (p->scalar_loss) return scalar_up - scalar_down;
  double sum = 0;
  for (size_t i = 0; i < p->n_out; i++) sum += (up[i] - p->out[i]) * p->r[i];
  return sum;
}

static inline void gc_free(GcProblem *p) {
  for (int t = 0; t < p->n_in; t++) {
    p->be->free(p->be, p->in[t].v);
    p->be->free(p->be, p->in[t].grad);
  }
  p->be->free(p->be, p->out);
  p->be->free(p->be, p->r);
  p->n_in = 0;
}

/* Checks every input; returns the worst |a - n| / max(|a|, |n|, 1) seen and
 * records a test failure for each coordinate above tol. */
static inline double gc_check(GcProblem *p, const char *what, double step, double tol,
                              int max_coords) {
  p->forward(p);
  p->backward(p);
  double *up = gc_alloc(p->be, p->n_out);
  double worst = 0;
  for (int t = 0; t < p->n_in; t++) {
    GcTensor *x = &p->in[t];
    RngStream pick;
    rng_stream_init(&pick, 7, rng_id_hi(RNG_DOMAIN_TEST, 999), (uint32_t)t);
    const size_t n_coords = x->n < (size_t)max_coords ? x->n : (size_t)max_coords;
    double grad_abs_sum = 0;
    for (size_t j = 0; j < n_coords; j++) {
      const size_t i = x->n <= (size_t)max_coords ? j : rng_below(&pick, (uint32_t)x->n);
      const double numeric = gc_loss_diff(p, &x->v[i], step, up) / (2 * step);
      const double analytic = x->grad[i];
      double scale = fabs(analytic) > fabs(numeric) ? fabs(analytic) : fabs(numeric);
      if (scale < 1) scale = 1;
      const double err = fabs(analytic - numeric) / scale;
      if (err > worst) worst = err;
      grad_abs_sum += fabs(analytic);
      T_CHECK(err <= tol, "%s: d/d%s[%zu]: analytic %.12g numeric %.12g (error %.3g > %.1g)",
              what, x->name, i, analytic, numeric, err, tol);
    }
    /* A gradient that is identically zero would make the check vacuous. */
    T_CHECK(grad_abs_sum > 0, "%s: d/d%s is zero at every checked coordinate", what, x->name);
  }
  p->be->free(p->be, up);
  return worst;
}

#endif
