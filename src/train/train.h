/* train.h - the training and evaluation loops.
 *
 * A training step on one rank: upload the batch (uint8 NHWC -> normalised
 * activations), forward (sync BN through the model hooks), loss, backward
 * (gradient buckets all-reduced as they fill), wait for the buckets,
 * optimizer step with the scheduled learning rate.  Position in training is
 * (epoch, step within epoch, global step); because every random choice is a
 * pure function of (seed, epoch, sample), restoring that position plus the
 * parameters, buffers and momentum resumes the run exactly.
 *
 * Stop requests (SIGUSR1 / SIGTERM: Slurm preemption) are honoured at step
 * boundaries: all ranks agree, rank 0 writes a checkpoint, every rank exits
 * with status 124 (RD_EXIT_PREEMPTED).  The requeued job resumes it. */
#ifndef RD_TRAIN_TRAIN_H
#define RD_TRAIN_TRAIN_H

#include <stdint.h>

#include "train/run.h"

typedef struct {
  double loss;      /* mean over samples */
  double top1, top5;/* fractions */
  int64_t n;        /* samples counted (all ranks) */
} EvalResult;

/* --mode train.  Returns the process exit status. */
int train_main(Run *r);

/* Weights of the modes that do not train (eval, export, predict): --init-from
 * if given (already loaded by run_setup), else the checkpoint that
 * checkpoint.resume names (auto: the newest in the run's checkpoint folder),
 * else the random initialisation; says which.  Collective. */
void train_load_weights(Run *r);

/* --mode eval: evaluates the (imported / resumed) model on data.val. */
int eval_main(Run *r);

/* One pass over the validation split, every sample once across ranks. */
EvalResult train_evaluate(Run *r);

#endif
