/* lr_schedule.c - see lr_schedule.h. */
#include "optim/lr_schedule.h"

#include <math.h>

LrPlan lr_plan(const Config *cfg, int64_t steps_per_epoch, int64_t global_batch,
               int64_t total_steps) {
  LrPlan p;
  p.base_lr = cfg->optim.lr;
  if (cfg->optim.lr_scale_batch > 0)
    p.base_lr *= (double)global_batch / (double)cfg->optim.lr_scale_batch;
  p.steps_per_epoch = steps_per_epoch > 0 ? steps_per_epoch : 1;
  p.total_steps = total_steps > 0 ? total_steps : 1;
  p.warmup_steps = (int64_t)llround(cfg->optim.warmup_epochs * (double)p.steps_per_epoch);
  return p;
}

double lr_at(const Config *cfg, const LrPlan *p, int64_t step) {
  const double base = p->base_lr, lo = cfg->optim.lr_min;
  if (step < p->warmup_steps) return base * (double)(step + 1) / (double)p->warmup_steps;
  double t = cfg->optim.milestone_unit == UNIT_STEPS ? (double)step
                                                     : (double)(step / p->steps_per_epoch);
  int64_t span = p->total_steps - p->warmup_steps;
  double progress = span > 0 ? (double)(step - p->warmup_steps) / (double)span : 1.0;
  if (progress > 1.0) progress = 1.0;
  switch (cfg->optim.schedule) {
    case SCHED_CONSTANT: return base;
    case SCHED_STEP: return base * pow(cfg->optim.gamma, floor(t / cfg->optim.step_size));
    case SCHED_MULTISTEP: {
      int passed = 0;
      for (int i = 0; i < cfg->optim.milestones.n; i++) passed += t >= cfg->optim.milestones.v[i];
      return base * pow(cfg->optim.gamma, passed);
    }
    case SCHED_COSINE: return lo + (base - lo) * 0.5 * (1.0 + cos(M_PI * progress));
    case SCHED_POLY: return lo + (base - lo) * pow(1.0 - progress, cfg->optim.poly_power);
  }
  return base;
}
