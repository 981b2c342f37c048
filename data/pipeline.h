/* pipeline.h - one rank's input pipeline: the interface the training loop uses.
 *
 * A pipeline delivers batches of uint8 NHWC images and int32 labels for one
 * split (train or val) of one source (synthetic or HDF5 shards) to one rank.
 * Behind it: a sampler (global permutation per epoch from (seed, epoch); rank r
 * of W takes the strided slice, so the W ranks' batches j together are exactly
 * the global batch j of one rank with batch B x W), a reader thread (pread of
 * the JPEG bytes), `workers` decode/augment threads, and a bounded ring of
 * `prefetch` batches.  Every random choice about a sample is a pure function of
 * (seed, epoch, global sample index): results do not depend on thread count,
 * rank count or timing.
 *
 * Training drops the last partial GLOBAL batch (every rank runs the same number
 * of steps).  Evaluation visits every sample exactly once, with no padding and
 * no duplicates: rank r takes samples r, r+W, r+2W, ... in order, so ranks may
 * get different numbers of samples and batches; the last batch of a rank may
 * be partial (Batch.n < batch_size).
 *
 * Corrupt samples (undecodable JPEG, bad label) are replaced deterministically
 * and counted in Batch.n_corrupt; structural problems (missing file, wrong
 * format/version, truncated shard) make pipeline_open fail with one line.  A
 * corrupt record whose 64 successors in the epoch's order are all bad too
 * means a damaged shard set: pipeline_next ends the job with a one-line user
 * error (exit 2, core_user_error) when the batch holding it is due.
 */
#ifndef RD_DATA_PIPELINE_H
#define RD_DATA_PIPELINE_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"

typedef enum { SPLIT_TRAIN = 0, SPLIT_VAL = 1 } SplitId;

typedef struct {
  const Config *cfg;  /* data.*, train.seed, train.batch_size, model.num_classes */
  int split;          /* SplitId */
  int rank, world;    /* this rank's place among the data-parallel ranks */
  /* Host memory for the batch ring (pinned memory on CUDA).  NULL: malloc. */
  void *(*alloc_host)(void *ctx, size_t n_bytes);
  void (*free_host)(void *ctx, void *ptr);
  void *alloc_ctx;
} PipelineOptions;

typedef struct {
  uint8_t *images;    /* (batch_size, H, W, 3) host; the first n are valid */
  int32_t *labels;    /* (batch_size) host */
  int n;              /* valid samples */
  int h, w;           /* image side (train: data.image_size, val: data.val_crop) */
  int64_t epoch;
  int64_t step;       /* index of this batch within the epoch, from 0 */
  int n_corrupt;      /* samples in this batch that were corrupt and replaced */
  double wait_ms;     /* time pipeline_next blocked waiting for this batch */
  uint64_t decode_t0_ns, decode_t1_ns; /* read + decode of this batch (timer_now_ns),
                                          for the timeline (log.trace) */
} Batch;

typedef struct Pipeline Pipeline;

/* Opens and validates the source (every shard's schema, version, offsets,
 * label range).  NULL with a one-line message naming the file on failure. */
Pipeline *pipeline_open(const PipelineOptions *opt, char *err, size_t err_len);

int64_t pipeline_num_samples(const Pipeline *p);    /* in the split (after limit_samples) */
int64_t pipeline_steps_per_epoch(const Pipeline *p); /* for THIS rank */
int pipeline_num_classes(const Pipeline *p);
int pipeline_image_h(const Pipeline *p);
int pipeline_image_w(const Pipeline *p);
/* Host memory of the batch ring (data.prefetch + 1 batches of images and
 * labels), allocated by the first pipeline_start_epoch. */
size_t pipeline_ring_bytes(const Pipeline *p);

/* Starts producing the batches of `epoch` from batch index `first_step` on
 * (first_step > 0 resumes in the middle of an epoch, exactly).  Every batch
 * from pipeline_next must have been released before this call. */
void pipeline_start_epoch(Pipeline *p, int64_t epoch, int64_t first_step);

/* The next batch of the epoch in order, or NULL at the end of the epoch.
 * The batch stays valid until pipeline_release. */
const Batch *pipeline_next(Pipeline *p);
void pipeline_release(Pipeline *p, const Batch *b);

/* Stops the threads (also mid-epoch) and frees everything. */
void pipeline_close(Pipeline *p);

#endif
