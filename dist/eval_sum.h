/* eval_sum.h - distributed evaluation totals.
 *
 * The validation pipeline gives rank r of W the samples r, r+W, r+2W, ...
 * (data/pipeline.h: every sample exactly once, no padding, ranks may see
 * different numbers of samples).  Each rank counts what it saw; the totals
 * are sums over ranks, and accuracy is summed hits over summed samples, so
 * the result equals a single-process evaluation of the whole set (and never
 * counts a padded duplicate, unlike DistributedSampler's padding).
 */
#ifndef RD_DIST_EVAL_SUM_H
#define RD_DIST_EVAL_SUM_H

#include <stdint.h>

#include "dist/comm.h"

typedef struct {
  int64_t n_samples;
  int64_t top1;       /* hits */
  int64_t top5;
  int64_t n_corrupt;  /* samples replaced by the decoder */
  double loss_sum;    /* sum of per-sample losses */
} EvalTotals;

/* Sums t over the ranks of c (host communicator), in place, on every rank. */
void eval_totals_allreduce(Comm *c, EvalTotals *t);

/* Fractions of the summed samples (0 when there are none). */
double eval_top1(const EvalTotals *t);
double eval_top5(const EvalTotals *t);
double eval_mean_loss(const EvalTotals *t);

#endif
