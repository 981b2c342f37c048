/* eval_sum.c - sums of evaluation counters over ranks; see eval_sum.h.
 * Counts travel as int64 (exact); the loss sum as a double. */
#include "dist/eval_sum.h"

void eval_totals_allreduce(Comm *c, EvalTotals *t) {
  int64_t counts[4] = {t->n_samples, t->top1, t->top5, t->n_corrupt};
  c->allreduce(c, counts, 4, COMM_I64, COMM_SUM, "all-reduce of evaluation counts");
  c->allreduce(c, &t->loss_sum, 1, COMM_F64, COMM_SUM, "all-reduce of the evaluation loss");
  t->n_samples = counts[0];
  t->top1 = counts[1];
  t->top5 = counts[2];
  t->n_corrupt = counts[3];
}

static double fraction(int64_t part, int64_t whole) {
  return whole > 0 ? (double)part / (double)whole : 0.0;
}

double eval_top1(const EvalTotals *t) { return fraction(t->top1, t->n_samples); }
double eval_top5(const EvalTotals *t) { return fraction(t->top5, t->n_samples); }
double eval_mean_loss(const EvalTotals *t) {
  return t->n_samples > 0 ? t->loss_sum / (double)t->n_samples : 0.0;
}
