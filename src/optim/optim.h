/* optim.h - SGD with momentum over the flat parameter arena (PyTorch's
 * torch.optim.SGD semantics: dampening 0, weight decay added to the gradient,
 * Nesterov optional), with optional exclusion of BN parameters and biases from
 * weight decay.  Adjacent parameters with equal weight decay form one segment,
 * so the backend updates the arena in a few fused passes. */
#ifndef RD_OPTIM_OPTIM_H
#define RD_OPTIM_OPTIM_H

#include "backend/backend.h"
#include "config/config.h"
#include "model/resnet.h"

typedef struct {
  Model *m;
  void *momentum;      /* (n_param_elems) param dtype, zero at start */
  OptSegment *segs;
  int n_segs;
  double momentum_coef;
  int nesterov;
} Optimizer;

Optimizer *optim_create(Model *m, const Config *cfg);
void optim_destroy(Optimizer *o);
/* One update with learning rate lr; gradients are multiplied by grad_scale first. */
void optim_step(Optimizer *o, double lr, double grad_scale);

#endif
