/* optim.h - SGD with momentum, or LARS, over the flat parameter arena.
 *
 * SGD follows torch.optim.SGD (dampening 0, weight decay added to the
 * gradient, Nesterov optional), with optional exclusion of BN parameters and
 * biases from weight decay.  Adjacent parameters with equal weight decay form
 * one segment, so the backend updates the arena in a few fused passes.
 *
 * LARS (You, Gitman, Ginsburg 2017, as used by MLPerf's ResNet-50) gives each
 * adapted tensor its own segment and, every step, the trust ratio
 *   trust = eta |w| / (|g| + wd |w|)   (1 when |w| or |g| is 0)
 * which multiplies that tensor's update g + wd w before the momentum.  BN
 * parameters and biases are never adapted (trust 1), as in MLPerf; their
 * weight decay still follows optim.wd_exclude_bn_bias.  The norms come from
 * the backend's segment_norms (one pass over params and grads). */
#ifndef RD_OPTIM_OPTIM_H
#define RD_OPTIM_OPTIM_H

#include "backend/backend.h"
#include "config/config.h"
#include "model/resnet.h"

typedef struct {
  Model *m;
  void *momentum;      /* (n_param_elems) param dtype, zero at start */
  OptSegment *segs;
  unsigned char *adapt; /* (n_segs) 1: LARS trust ratio applies to the segment */
  double *norms;        /* (2 n_segs) host: |p|^2, |g|^2 per segment (LARS) */
  int n_segs;
  int lars;
  double lars_eta;
  double momentum_coef;
  int nesterov;
} Optimizer;

Optimizer *optim_create(Model *m, const Config *cfg);
void optim_destroy(Optimizer *o);
/* One update with learning rate lr; gradients are multiplied by grad_scale first. */
void optim_step(Optimizer *o, double lr, double grad_scale);
/* LARS trust ratio of a tensor from its squared norms (pure; for tests). */
double optim_lars_trust(double eta, double weight_decay, double w_sumsq, double g_sumsq);

#endif
