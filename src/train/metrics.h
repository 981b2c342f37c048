/* metrics.h - what a run shows and leaves behind: log lines on rank 0 and
 * metrics files in the run directory (metrics.jsonl: one JSON record per
 * logged step and per epoch, schema in docs/METRICS.md; metrics.csv with the
 * step records).  Only rank 0 writes; other ranks get a no-op Metrics. */
#ifndef RD_TRAIN_METRICS_H
#define RD_TRAIN_METRICS_H

#include <stdint.h>

typedef struct {
  int64_t epoch;           /* 0-based */
  int64_t epochs;
  int64_t step_in_epoch;   /* steps done in this epoch */
  int64_t steps_per_epoch;
  int64_t global_step;     /* steps done in total */
  int64_t total_steps;
  double loss;             /* mean over the window's samples, all ranks */
  double top1, top5;       /* fractions over the window */
  double lr;
  double images_per_s;     /* all ranks, over the window */
  double data_wait_ms;     /* mean per step, rank 0 */
  double step_ms;          /* mean per step, rank 0 */
  double elapsed_s;        /* since training started */
  double eta_s;
  int64_t corrupt;         /* corrupt samples replaced in the window, all ranks */
} StepRecord;

typedef struct {
  int64_t epoch;           /* 0-based */
  double train_loss, train_top1;
  int has_val;
  double val_loss, val_top1, val_top5;
  int64_t val_samples;
  double epoch_s;
  double images_per_s;
  int64_t corrupt;
  double lr;
} EpochRecord;

typedef struct Metrics Metrics;

/* run_dir: the run directory; enabled: this rank writes (rank 0). */
Metrics *metrics_open(const char *run_dir, int enabled, int progress_mode);
void metrics_step(Metrics *m, const StepRecord *r);
void metrics_epoch(Metrics *m, const EpochRecord *r);
void metrics_close(Metrics *m);

#endif
