/* optim.c - see optim.h. */
#include "optim/optim.h"

#include <math.h>

#include "core/mem.h"

Optimizer *optim_create(Model *m, const Config *cfg) {
  Optimizer *o = mem_calloc_or_die(1, sizeof *o, "optimizer");
  Backend *be = m->be;
  o->m = m;
  o->momentum_coef = cfg->optim.momentum;
  o->nesterov = cfg->optim.nesterov;
  o->lars = cfg->optim.name == OPTIM_LARS;
  o->lars_eta = cfg->optim.lars_eta;
  o->momentum = be->alloc(be, m->n_param_elems * (size_t)be->param_bytes, "momentum");
  be->zero(be, o->momentum, m->n_param_elems * (size_t)be->param_bytes);
  o->segs = mem_calloc_or_die((size_t)m->n_params, sizeof(OptSegment), "optimizer segments");
  o->adapt = mem_calloc_or_die((size_t)m->n_params, 1, "optimizer segment kinds");
  for (int i = 0; i < m->n_params; i++) {
    const ParamEntry *e = &m->param_table[i];
    double wd = cfg->optim.wd_exclude_bn_bias && e->no_decay ? 0.0 : cfg->optim.weight_decay;
    int adapt = o->lars && !e->no_decay; /* an adapted tensor is a segment of its own */
    OptSegment *last = o->n_segs ? &o->segs[o->n_segs - 1] : NULL;
    if (last && !adapt && !o->adapt[o->n_segs - 1] && last->weight_decay == wd &&
        last->offset + last->n_elems == e->offset) {
      last->n_elems += e->n_elems;
      continue;
    }
    o->adapt[o->n_segs] = (unsigned char)adapt;
    o->segs[o->n_segs++] = (OptSegment){e->offset, e->n_elems, wd, 1.0};
  }
  if (o->lars) o->norms = mem_alloc_or_die(2 * (size_t)o->n_segs * sizeof(double), "LARS norms");
  return o;
}

void optim_destroy(Optimizer *o) {
  if (!o) return;
  o->m->be->free(o->m->be, o->momentum);
  mem_free(o->norms);
  mem_free(o->adapt);
  mem_free(o->segs);
  mem_free(o);
}

double optim_lars_trust(double eta, double weight_decay, double w_sumsq, double g_sumsq) {
  double w = sqrt(w_sumsq), g = sqrt(g_sumsq);
  if (!(w > 0) || !(g > 0)) return 1.0;
  return eta * w / (g + weight_decay * w);
}

/* Trust ratios of the adapted segments for this step's (unscaled) gradients. */
static void lars_trust(Optimizer *o, double grad_scale) {
  Model *m = o->m;
  m->be->segment_norms(m->be, m->params, m->grads, o->segs, o->n_segs, o->norms);
  for (int s = 0; s < o->n_segs; s++) {
    if (!o->adapt[s]) continue;
    double g_sumsq = o->norms[2 * s + 1] * grad_scale * grad_scale;
    o->segs[s].trust =
        optim_lars_trust(o->lars_eta, o->segs[s].weight_decay, o->norms[2 * s], g_sumsq);
  }
}

void optim_step(Optimizer *o, double lr, double grad_scale) {
  Model *m = o->m;
  if (o->lars) lars_trust(o, grad_scale);
  OptHyper h = {.lr = lr, .momentum = o->momentum_coef, .nesterov = o->nesterov,
                .grad_scale = grad_scale};
  m->be->sgd_step(m->be, m->params, m->work, m->grads, o->momentum, o->segs, o->n_segs, &h);
}
