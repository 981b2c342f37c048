/* lr_schedule.h - the learning rate as a pure function of the step.
 *
 * base = optim.lr x (global batch / optim.lr_scale_batch if that is set: the
 * linear scaling rule of Goyal et al. 2017).  During optim.warmup_epochs the
 * rate rises linearly: base x (step + 1) / warmup_steps.  After it:
 *   constant  base
 *   step      base x gamma^floor(t / step_size)
 *   multistep base x gamma^(number of milestones <= t)
 *   cosine    lr_min + (base - lr_min) (1 + cos(pi p)) / 2
 *   poly      lr_min + (base - lr_min) (1 - p)^poly_power
 * where t is the completed epoch count (optim.milestone_unit = epochs, as
 * PyTorch schedulers stepped once per epoch) or the step, and p is the
 * fraction of post-warmup steps done.  Being a pure function makes resume
 * exact: nothing about the schedule needs saving but the step. */
#ifndef RD_OPTIM_LR_SCHEDULE_H
#define RD_OPTIM_LR_SCHEDULE_H

#include <stdint.h>

#include "config/config.h"

typedef struct {
  double base_lr;
  int64_t steps_per_epoch;
  int64_t total_steps;
  int64_t warmup_steps;
} LrPlan;

LrPlan lr_plan(const Config *cfg, int64_t steps_per_epoch, int64_t global_batch,
               int64_t total_steps);
double lr_at(const Config *cfg, const LrPlan *plan, int64_t step);

#endif
