/* trace.h - a timeline of every rank's phases for a window of steps.
 *
 * log.trace=FILE records the training steps [log.trace_start,
 * log.trace_start + log.trace_steps) as Chrome trace-event JSON
 * ({"traceEvents":[...]}, complete "X" events, microseconds; format: Google's
 * "Trace Event Format" document,
 * docs.google.com/document/d/1CvAClvFfyA5R-PhYUmn5OOQtYMH4h6I0nSsKchNAySU),
 * which Perfetto (ui.perfetto.dev) and chrome://tracing open.  pid = rank,
 * tid = lane: the training thread's phases (data wait, H2D, forward with its
 * sync-BN all-reduces nested, backward, exposed gradient wait, optimizer,
 * checkpoint), one lane per gradient bucket all-reduce (launch to observed
 * completion), one lane per batch-ring slot for the pipeline's decode spans.
 *
 * Times: each rank's events are relative to a common origin taken right after
 * a barrier in trace_open, so ranks (and hosts, whose monotonic clocks are
 * unrelated) line up to within the barrier's exit skew.  Events are kept in
 * memory; trace_finish gathers them over the communicator and rank 0 writes
 * the one file.  Every rank must call trace_open / trace_finish at the same
 * points (they are collective).
 */
#ifndef RD_TRAIN_TRACE_H
#define RD_TRAIN_TRACE_H

#include <stddef.h>
#include <stdint.h>

#include "dist/comm.h"

enum {
  TRACE_LANE_STEP = 1,     /* the training thread */
  TRACE_LANE_DECODE = 10,  /* + ring slot: pipeline decode spans */
  TRACE_LANE_BUCKET = 100, /* + bucket index: gradient all-reduces */
};

typedef struct Trace Trace;

/* Collective over comm (NULL: one rank).  Rank 0 checks that path can be
 * written; on failure err (rank 0 only) holds one line naming log.trace and
 * the caller ends the job through run_agree.  Returns the Trace on every rank. */
Trace *trace_open(const char *path, Comm *comm, int64_t first_step, int64_t n_steps, char *err,
                  size_t err_len);

/* The step about to run (global step index from 0): recording is on while it
 * lies in the window.  NULL-safe, as are all calls below. */
void trace_begin_step(Trace *t, int64_t global_step);
int trace_recording(const Trace *t);

/* One complete event [t0_ns, t1_ns] (timer_now_ns) on a lane, while
 * recording.  name is copied (at most 47 characters). */
void trace_span(Trace *t, int lane, const char *name, uint64_t t0_ns, uint64_t t1_ns);

/* 1 once steps_done (global steps completed) has passed the window. */
int trace_window_over(const Trace *t, int64_t steps_done);

/* Collective: gathers every rank's events, rank 0 writes the file (a warning
 * if it cannot).  Only the first call does anything. */
void trace_finish(Trace *t);

void trace_close(Trace *t);

/* Hooks for the places that time themselves: the sync-BN all-reduce (wraps a
 * ModelHooks.bn_allreduce) and the gradient buckets (a grad_sync observer). */
typedef struct {
  Trace *trace;
  void (*inner)(void *ctx, double *buf, int n_doubles);
  void *inner_ctx;
} TraceBnHook;
void trace_bn_allreduce(void *hook, double *buf, int n_doubles); /* hook: TraceBnHook */
void trace_bucket_observer(void *trace, int bucket, uint64_t t0_ns, uint64_t t1_ns);

#endif
