/* metrics.h - what a run shows and leaves behind.
 *
 * On rank 0's stdout: either a one-line progress display per epoch, redrawn in
 * place with '\r' (log.progress=bar, or auto when stdout is a terminal), or a
 * plain log line every log.every_steps (log.progress=lines, or auto in batch
 * jobs); an epoch summary line either way.  In the run directory:
 * metrics.jsonl (a "header" record at every start, then one "step" record per
 * logged window and one "epoch" record per epoch; schema in docs/METRICS.md)
 * and metrics.csv (the step records).  Only rank 0 writes; other ranks get a
 * no-op Metrics.  Files are appended to, so a resumed run continues them.
 */
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
  double comm_ms;          /* mean per step, rank 0: exposed gradient all-reduce wait */
  double sync_bn_ms;       /* mean per step, rank 0: time in sync-BN all-reduces */
  double elapsed_s;        /* since training started */
  double eta_s;
  int64_t corrupt;         /* corrupt samples replaced in the window, all ranks */
} StepRecord;

typedef struct {
  int64_t epoch;           /* 0-based */
  int64_t global_step;     /* steps done at the end of the epoch */
  double train_loss, train_top1, train_top5;
  int64_t train_samples;   /* samples the train_* figures cover, all ranks (fewer
                              than the epoch's after a mid-epoch resume) */
  int has_val;
  double val_loss, val_top1, val_top5;
  int64_t val_samples;
  double val_s;            /* time the evaluation took */
  double epoch_s;          /* training time of the epoch (without evaluation) */
  double images_per_s;
  int64_t corrupt;
  double lr;
} EpochRecord;

typedef struct Metrics Metrics;

/* run_dir: the run directory; enabled: this rank writes (rank 0);
 * progress_mode: ProgressId (config.h); header_json: the run header record
 * (runinfo_header_json), appended to metrics.jsonl, or NULL. */
Metrics *metrics_open(const char *run_dir, int enabled, int progress_mode,
                      const char *header_json);

/* 1 when the progress display is the updating line (bar mode). */
int metrics_bar(const Metrics *m);

/* A logged window: a step record in both files, and a log line (lines mode)
 * or a redraw of the progress line (bar mode). */
void metrics_step(Metrics *m, const StepRecord *r);

/* Bar mode, every step, with rank 0's own running figures: redraws the line
 * at most a few times a second (and always at the last step of an epoch).
 * No-op in lines mode. */
void metrics_progress(Metrics *m, const StepRecord *r);

/* Ends an open progress line, so other output starts on a line of its own. */
void metrics_break(Metrics *m);

/* The epoch summary line and an epoch record. */
void metrics_epoch(Metrics *m, const EpochRecord *r);

void metrics_close(Metrics *m);

#endif
