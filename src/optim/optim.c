/* optim.c - see optim.h. */
#include "optim/optim.h"

#include "core/mem.h"

Optimizer *optim_create(Model *m, const Config *cfg) {
  Optimizer *o = mem_calloc_or_die(1, sizeof *o, "optimizer");
  Backend *be = m->be;
  o->m = m;
  o->momentum_coef = cfg->optim.momentum;
  o->nesterov = cfg->optim.nesterov;
  o->momentum = be->alloc(be, m->n_param_elems * (size_t)be->param_bytes, "momentum");
  be->zero(be, o->momentum, m->n_param_elems * (size_t)be->param_bytes);
  o->segs = mem_calloc_or_die((size_t)m->n_params, sizeof(OptSegment), "optimizer segments");
  for (int i = 0; i < m->n_params; i++) {
    const ParamEntry *e = &m->param_table[i];
    double wd = cfg->optim.wd_exclude_bn_bias && e->no_decay ? 0.0 : cfg->optim.weight_decay;
    OptSegment *last = o->n_segs ? &o->segs[o->n_segs - 1] : NULL;
    if (last && last->weight_decay == wd && last->offset + last->n_elems == e->offset) {
      last->n_elems += e->n_elems;
      continue;
    }
    o->segs[o->n_segs++] = (OptSegment){e->offset, e->n_elems, wd, 1.0};
  }
  return o;
}

void optim_destroy(Optimizer *o) {
  if (!o) return;
  o->m->be->free(o->m->be, o->momentum);
  mem_free(o->segs);
  mem_free(o);
}

void optim_step(Optimizer *o, double lr, double grad_scale) {
  Model *m = o->m;
  OptHyper h = {.lr = lr, .momentum = o->momentum_coef, .nesterov = o->nesterov,
                .grad_scale = grad_scale};
  m->be->sgd_step(m->be, m->params, m->work, m->grads, o->momentum, o->segs, o->n_segs, &h);
}
