/* bench.h - --mode bench: training-step throughput and where the time goes.
 *
 * bench.warmup_steps untimed steps, then bench.steps timed training steps
 * (forward, loss, backward with the overlapped gradient all-reduce, optimizer)
 * on either one synthetic batch uploaded once and kept on the device
 * (bench.pipeline=false: the compute and communication ceiling) or batches
 * from the real input pipeline (bench.pipeline=true: what training sees).
 * Every phase ends with be->sync (bench mode only), so the breakdown is each
 * phase's real duration on a device backend: data wait, H2D copy, forward,
 * backward, exposed gradient communication, sync BN (taken out of forward and
 * backward), optimizer, other.  Figures are per rank and aggregated (rank 0
 * gathers them): images/s, step time mean/p50/p95/p99.  --json prints one line
 * of JSON instead (schema in docs/METRICS.md).
 */
#ifndef RD_TRAIN_BENCH_H
#define RD_TRAIN_BENCH_H

#include "train/run.h"

/* Returns the process exit status.  Collective: every rank runs it. */
int bench_main(Run *r);

#endif
