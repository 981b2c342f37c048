/* pipeline.c - one rank's input pipeline: sampler -> reader thread (pread of
 * the records of whole batches) -> decode/augment workers -> ring of batches.
 * See pipeline.h for the contract and DESIGN.md decision 8 for determinism.
 *
 * Threads and the ring.  There are prefetch + 1 slots; batch `step` of the
 * epoch always lives in slot (step - first_step) % n_slots, so order needs no
 * bookkeeping.  A slot goes FREE -> FILLING (reader: positions, indices,
 * record bytes) -> DECODING (workers take its samples one at a time, oldest
 * batch first) -> READY -> HELD (between pipeline_next and pipeline_release)
 * -> FREE.  One mutex guards all slot states; the per-sample work runs
 * outside it.  pipeline_start_epoch cancels whatever is in flight (a
 * generation counter), waits until no thread is inside a sample, and resets
 * the ring.
 *
 * Sample i of a batch is a pure function of (seed, epoch, global index): the
 * crop and flip come from the stream (RNG_DOMAIN_AUGMENT, sub-id epoch,
 * id_lo = index).  A corrupt record (undecodable image, label outside
 * [0, num_classes), read error) is replaced by the next record in the
 * epoch's order that is good -- again a pure function of (seed, epoch,
 * index) -- and counted in Batch.n_corrupt; the first few are logged with
 * their shard file and record index, later ones only counted.  When the
 * MAX_REPLACE_TRIES records after a corrupt one are all bad too, the shard
 * set is damaged, not a few files: the worker leaves a one-line message in
 * the batch's slot, and pipeline_next, when that batch is due, stops the
 * threads and turns it into a user error (exit 2) on the caller's thread --
 * batches before it are delivered, so the stop is as deterministic as the
 * data.
 */
#include "data/pipeline.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "core/check.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/rng.h"
#include "core/timer.h"
#include "data/augment.h"
#include "data/sample.h"
#include "data/sampler.h"
#include "data/shard.h"
#include "data/synth.h"

enum {
  MAX_REPLACE_TRIES = 64,  /* records tried after a corrupt one */
  WARN_FIRST = 10,         /* corrupt records logged one by one */
  WARN_EVERY = 1000,       /* then one summary line per this many */
  SMALL_IMAGE_MAX = 64,    /* synthetic images this small are CIFAR-like */
};

typedef enum { SLOT_FREE, SLOT_FILLING, SLOT_DECODING, SLOT_READY, SLOT_HELD } SlotState;

typedef struct {
  Batch batch;           /* first member: pipeline_release maps a Batch back */
  int state;             /* SlotState */
  int64_t *pos;          /* (batch) positions in the epoch order */
  int64_t *index;        /* (batch) global sample indices */
  uint8_t *bytes;        /* staged records, back to back (shards) */
  size_t bytes_cap;
  size_t *rec_off;       /* (batch + 1) record i is bytes[rec_off[i], rec_off[i+1]) */
  int *read_errno;       /* (batch) 0, or errno of a failed read */
  int next_task, n_done, n_corrupt;
  int fail_i;            /* -1, or the first sample with no good replacement */
  char fail[1024];       /* its message: the job stops when the batch is due */
} Slot;

typedef struct {
  SampleWorker *sw;
  uint8_t *scratch;      /* a replacement record */
  size_t scratch_cap;
} WorkerCtx;

typedef struct {
  struct Pipeline *p;
  int id;
} WorkerArg;

struct Pipeline {
  /* what this pipeline delivers */
  int split, batch, out_side, num_classes, source;
  uint64_t seed;
  int64_t n_samples;
  int native_side;       /* synthetic: the images' side */
  const char *key;       /* "data.train" / "data.val", for messages */
  AugmentSpec aug;
  Sampler sampler;
  ShardSet shards;
  /* the current epoch */
  int64_t epoch, first_step, n_steps, next_fill, next_out;
  int64_t *perm;         /* (n_samples) training order of `perm_epoch` */
  int64_t perm_epoch;
  int started, job, reader_busy, busy_workers, shutdown;
  unsigned gen;
  /* threads and ring */
  pthread_mutex_t mu;
  pthread_cond_t cv_reader, cv_work, cv_ready, cv_idle;
  pthread_t reader;
  pthread_t *workers;
  WorkerArg *worker_args;
  WorkerCtx *ctx;        /* (n_workers + 1): workers, then the reader */
  int n_workers;
  Slot *slots;           /* made by the first pipeline_start_epoch */
  int n_slots;
  int prefetch;
  void *(*alloc_host)(void *ctx, size_t n_bytes);
  void (*free_host)(void *ctx, void *ptr);
  void *alloc_ctx;
  atomic_long n_corrupt_total;
};

static size_t image_bytes(const Pipeline *p) {
  return (size_t)p->out_side * (size_t)p->out_side * 3;
}

static Slot *slot_for(Pipeline *p, int64_t step) {
  return &p->slots[(step - p->first_step) % p->n_slots];
}

/* ------------------------------------------------------------ samples */

static int64_t sample_at(const Pipeline *p, int64_t position) {
  int64_t k = position % p->n_samples;
  return p->sampler.shuffle ? p->perm[k] : k;
}

static void augment_stream(const Pipeline *p, int64_t index, RngStream *rs) {
  rng_stream_init(rs, p->seed, rng_id_hi(RNG_DOMAIN_AUGMENT, (uint32_t)p->epoch),
                  (uint32_t)index);
}

static void warn_corrupt(Pipeline *p, int64_t index, const char *why) {
  long n = atomic_fetch_add(&p->n_corrupt_total, 1) + 1;
  int64_t local;
  const Shard *s = shard_set_locate(&p->shards, index, &local);
  if (n <= WARN_FIRST)
    log_warn("corrupt sample replaced: %s record %lld: %s%s", s->path, (long long)local, why,
             n == WARN_FIRST ? " (further ones are counted, not listed)" : "");
  else if (n % WARN_EVERY == 0)
    log_warn("%ld corrupt samples replaced so far (split %s)", n,
             p->split == SPLIT_TRAIN ? "train" : "val");
}

/* Record `index` (bytes in data, or read_errno) to out; 0, or -1 with why. */
static int try_record(Pipeline *p, WorkerCtx *c, int64_t index, const uint8_t *data,
                      size_t n_bytes, int read_errno, uint8_t *out, int32_t *label,
                      char *why, size_t why_len) {
  int64_t local;
  const Shard *s = shard_set_locate(&p->shards, index, &local);
  if (read_errno) return core_err(why, why_len, "read error: %s", strerror(read_errno));
  *label = s->labels[local];
  if (*label < 0 || *label >= p->num_classes)
    return core_err(why, why_len, "label %d outside [0, %d)", *label, p->num_classes);
  RngStream rs;
  augment_stream(p, index, &rs);
  if (s->encoding == SHARD_RAW) {
    sample_from_pixels(c->sw, &p->aug, &rs, data, s->raw_w, s->raw_h, out);
    return 0;
  }
  if (sample_from_jpeg(c->sw, &p->aug, &rs, data, n_bytes, out))
    return core_err(why, why_len, "%s", sample_worker_error(c->sw));
  return 0;
}

/* Reads a replacement record into the worker's scratch; 0 or errno. */
static int read_into_scratch(Pipeline *p, WorkerCtx *c, int64_t index, size_t *n_bytes) {
  int64_t local;
  const Shard *s = shard_set_locate(&p->shards, index, &local);
  *n_bytes = shard_record_bytes(s, local);
  if (*n_bytes > c->scratch_cap) {
    mem_free(c->scratch);
    c->scratch = mem_alloc_or_die(*n_bytes, "replacement record");
    c->scratch_cap = *n_bytes;
  }
  return shard_read(s, local, c->scratch) ? (errno ? errno : EIO) : 0;
}

/* The message that stops the job when a corrupt record at index `first` and
 * the MAX_REPLACE_TRIES records after it in the epoch's order are all bad. */
static void damaged_set(const Pipeline *p, int64_t first, const char *why, char *fail,
                        size_t fail_len) {
  int64_t local;
  const Shard *s = shard_set_locate(&p->shards, first, &local);
  const char *slash = strrchr(s->path, '/');
  int dir_len = !slash ? 1 : slash == s->path ? 1 : (int)(slash - s->path);
  snprintf(fail, fail_len, "%s: %s record %lld is corrupt (%s) and so are the %d records after "
           "it in epoch %lld's order: the shard set is damaged; list the bad records with "
           "resnet_shards verify %.*s --decode, then rebuild or restore those shards", p->key,
           s->path, (long long)local, why, MAX_REPLACE_TRIES, (long long)p->epoch, dir_len,
           slash ? s->path : ".");
}

/* Sample i of slot s into the batch: 0, 1 if it had to be replaced, -1 if no
 * replacement was good either (message in fail). */
static int make_sample(Pipeline *p, WorkerCtx *c, Slot *s, int i, char *fail, size_t fail_len) {
  uint8_t *out = s->batch.images + (size_t)i * image_bytes(p);
  int64_t index = s->index[i];
  if (p->source == SOURCE_SYNTHETIC) {
    RngStream rs;
    augment_stream(p, index, &rs);
    CropPlan plan;
    augment_plan(&p->aug, p->native_side, p->native_side, &rs, &plan);
    synth_render_crop(p->seed, p->split, index, p->num_classes, p->native_side,
                      p->native_side, &plan, p->out_side, out);
    s->batch.labels[i] = synth_label(p->seed, p->split, index, p->num_classes);
    return 0;
  }
  char why[256];
  const uint8_t *data = s->bytes + s->rec_off[i];
  size_t n_bytes = s->rec_off[i + 1] - s->rec_off[i];
  if (!try_record(p, c, index, data, n_bytes, s->read_errno[i], out, &s->batch.labels[i], why,
                  sizeof why))
    return 0;
  warn_corrupt(p, index, why);
  char first_why[256];
  snprintf(first_why, sizeof first_why, "%s", why);
  for (int t = 1; t <= MAX_REPLACE_TRIES; t++) {
    int64_t other = sample_at(p, s->pos[i] + t);
    int rerr = read_into_scratch(p, c, other, &n_bytes);
    if (!try_record(p, c, other, c->scratch, n_bytes, rerr, out, &s->batch.labels[i], why,
                    sizeof why))
      return 1;
  }
  damaged_set(p, index, first_why, fail, fail_len);
  return -1;
}

/* Records the outcome of make_sample for sample i (the slot's owner, or the
 * mutex held): the first failing sample of the batch keeps its message. */
static void note_sample(Slot *s, int i, int rc, const char *fail) {
  if (rc > 0) s->n_corrupt++;
  if (rc < 0 && (s->fail_i < 0 || i < s->fail_i)) {
    s->fail_i = i;
    snprintf(s->fail, sizeof s->fail, "%s", fail);
  }
}

/* ------------------------------------------------------------ reader */

/* Positions, indices and (shards) record bytes of batch `step` into s. */
static void fill_slot(Pipeline *p, Slot *s, int64_t step) {
  int n = sampler_batch_positions(&p->sampler, step, s->pos);
  s->batch.n = n;
  s->batch.step = step;
  s->batch.epoch = p->epoch;
  s->next_task = s->n_done = s->n_corrupt = 0;
  s->fail_i = -1;
  s->batch.decode_t0_ns = timer_now_ns();
  for (int i = 0; i < n; i++) s->index[i] = sample_at(p, s->pos[i]);
  if (p->source != SOURCE_SHARDS) return;
  s->rec_off[0] = 0;
  for (int i = 0; i < n; i++) {
    int64_t local;
    const Shard *sh = shard_set_locate(&p->shards, s->index[i], &local);
    s->rec_off[i + 1] = s->rec_off[i] + shard_record_bytes(sh, local);
  }
  if (s->rec_off[n] > s->bytes_cap) {
    mem_free(s->bytes);
    s->bytes_cap = s->rec_off[n] + s->rec_off[n] / 4;
    s->bytes = mem_alloc_or_die(s->bytes_cap, "staged records");
  }
  for (int i = 0; i < n; i++) {
    int64_t local;
    const Shard *sh = shard_set_locate(&p->shards, s->index[i], &local);
    s->read_errno[i] = shard_read(sh, local, s->bytes + s->rec_off[i]) ? (errno ? errno : EIO) : 0;
  }
}

static void decode_all(Pipeline *p, Slot *s) {
  char fail[sizeof s->fail];
  for (int i = 0; i < s->batch.n; i++)
    note_sample(s, i, make_sample(p, &p->ctx[p->n_workers], s, i, fail, sizeof fail), fail);
}

static void ensure_permutation(Pipeline *p) {
  if (!p->sampler.shuffle || p->perm_epoch == p->epoch) return;
  sampler_permutation(p->seed, p->epoch, p->n_samples, p->perm);
  p->perm_epoch = p->epoch;
}

/* Runs one epoch's filling; called and returns with the mutex held. */
static void reader_job(Pipeline *p) {
  unsigned gen = p->gen;
  pthread_mutex_unlock(&p->mu);
  ensure_permutation(p);
  pthread_mutex_lock(&p->mu);
  while (gen == p->gen && !p->shutdown && p->next_fill < p->n_steps) {
    Slot *s = slot_for(p, p->next_fill);
    if (s->state != SLOT_FREE) {
      pthread_cond_wait(&p->cv_reader, &p->mu);
      continue;
    }
    int64_t step = p->next_fill++;
    s->state = SLOT_FILLING;
    pthread_mutex_unlock(&p->mu);
    fill_slot(p, s, step);
    if (p->n_workers == 0) {
      decode_all(p, s);
      s->batch.decode_t1_ns = timer_now_ns();
    }
    pthread_mutex_lock(&p->mu);
    if (gen != p->gen) break;
    s->state = p->n_workers ? SLOT_DECODING : SLOT_READY;
    pthread_cond_broadcast(p->n_workers ? &p->cv_work : &p->cv_ready);
  }
}

static void *reader_main(void *arg) {
  Pipeline *p = arg;
  pthread_mutex_lock(&p->mu);
  for (;;) {
    while (!p->shutdown && !p->job) pthread_cond_wait(&p->cv_reader, &p->mu);
    if (p->shutdown) break;
    p->job = 0;
    reader_job(p);
    p->reader_busy = 0;
    pthread_cond_broadcast(&p->cv_idle);
  }
  pthread_mutex_unlock(&p->mu);
  return NULL;
}

/* ------------------------------------------------------------ workers */

/* The oldest slot with samples nobody has taken yet, or NULL. */
static Slot *next_task_slot(Pipeline *p) {
  Slot *best = NULL;
  for (int k = 0; k < p->n_slots; k++) {
    Slot *s = &p->slots[k];
    if (s->state == SLOT_DECODING && s->next_task < s->batch.n &&
        (!best || s->batch.step < best->batch.step))
      best = s;
  }
  return best;
}

static void *worker_main(void *arg) {
  WorkerArg *wa = arg;
  Pipeline *p = wa->p;
  WorkerCtx *c = &p->ctx[wa->id];
  char fail[sizeof p->slots[0].fail];
  pthread_mutex_lock(&p->mu);
  for (;;) {
    Slot *s = NULL;
    while (!p->shutdown && !(s = next_task_slot(p))) pthread_cond_wait(&p->cv_work, &p->mu);
    if (p->shutdown) break;
    int i = s->next_task++;
    p->busy_workers++;
    pthread_mutex_unlock(&p->mu);
    int rc = make_sample(p, c, s, i, fail, sizeof fail);
    pthread_mutex_lock(&p->mu);
    p->busy_workers--;
    note_sample(s, i, rc, fail);
    if (++s->n_done == s->batch.n && s->state == SLOT_DECODING) {
      s->batch.decode_t1_ns = timer_now_ns();
      s->state = SLOT_READY;
      pthread_cond_broadcast(&p->cv_ready);
    }
    if (p->busy_workers == 0) pthread_cond_broadcast(&p->cv_idle);
  }
  pthread_mutex_unlock(&p->mu);
  return NULL;
}

/* ------------------------------------------------------------ opening */

static int open_source(Pipeline *p, const Config *cfg, char *err, size_t err_len) {
  if (cfg->data.source == SOURCE_SYNTHETIC) {
    p->num_classes = cfg->model.num_classes;
    p->n_samples = p->split == SPLIT_TRAIN ? cfg->data.synthetic_train : cfg->data.synthetic_val;
    int s = cfg->data.image_size;
    p->native_side = s <= SMALL_IMAGE_MAX ? s : (int)(s * 256.0 / 224.0 + 0.5);
    return 0;
  }
  const char *spec = p->split == SPLIT_TRAIN ? cfg->data.train : cfg->data.val;
  const char *key = p->key;
  if (!spec[0])
    return core_err(err, err_len, "%s is empty: set it to a shard folder, a glob or a .h5 file", key);
  char why[CFG_ERR_MAX];
  if (shard_set_open(&p->shards, spec, p->split == SPLIT_TRAIN ? "train" : "val", why,
                     sizeof why))
    return core_err(err, err_len, "%s: %s", key, why);
  p->num_classes = p->shards.num_classes;
  p->n_samples = p->shards.n_records;
  if (p->num_classes > cfg->model.num_classes)
    return core_err(err, err_len, "%s: the shards have %d classes but model.num_classes=%d; set "
                "model.num_classes=%d", key, p->num_classes, cfg->model.num_classes,
                p->num_classes);
  return 0;
}

/* Training augmentation from data.augment (auto: pad-crop for images that
 * already have the output size, RandomResizedCrop otherwise). */
static void resolve_augment(Pipeline *p, const Config *cfg) {
  AugmentSpec *a = &p->aug;
  a->scale_min = cfg->data.crop_scale_min;
  a->scale_max = cfg->data.crop_scale_max;
  a->ratio_min = cfg->data.crop_ratio_min;
  a->ratio_max = cfg->data.crop_ratio_max;
  a->pad = cfg->data.pad;
  if (p->split == SPLIT_VAL) {
    a->mode = AUG_CENTER;
    a->out_side = cfg->data.val_crop;
    a->resize = cfg->data.val_resize;
    return;
  }
  a->out_side = cfg->data.image_size;
  a->resize = cfg->data.image_size;
  a->flip = cfg->data.flip;
  int native = p->source == SOURCE_SYNTHETIC ? p->native_side : 0;
  if (p->source == SOURCE_SHARDS && p->shards.encoding == SHARD_RAW &&
      p->shards.raw_h == p->shards.raw_w)
    native = p->shards.raw_h;
  switch (cfg->data.augment) {
    case AUGMENT_AUTO: a->mode = native == a->out_side ? AUG_PAD_CROP : AUG_RRC; break;
    case AUGMENT_RRC: a->mode = AUG_RRC; break;
    case AUGMENT_PAD_CROP: a->mode = AUG_PAD_CROP; break;
    default: a->mode = AUG_CENTER; a->flip = 0; break;
  }
}

static void *host_alloc(Pipeline *p, size_t n_bytes) {
  if (!p->alloc_host) return mem_alloc_or_die(n_bytes, "batch ring");
  void *ptr = p->alloc_host(p->alloc_ctx, n_bytes);
  CHECK(ptr, "host allocation of %zu bytes for the batch ring", n_bytes);
  return ptr;
}

static void host_free(Pipeline *p, void *ptr) {
  if (!ptr) return;
  if (p->free_host)
    p->free_host(p->alloc_ctx, ptr);
  else
    mem_free(ptr);
}

static void make_ring(Pipeline *p, int prefetch) {
  p->n_slots = prefetch + 1;
  p->slots = mem_calloc_or_die((size_t)p->n_slots, sizeof(Slot), "batch ring");
  size_t B = (size_t)p->batch;
  for (int k = 0; k < p->n_slots; k++) {
    Slot *s = &p->slots[k];
    s->batch.images = host_alloc(p, B * image_bytes(p));
    s->batch.labels = host_alloc(p, B * sizeof(int32_t));
    s->batch.h = s->batch.w = p->out_side;
    s->pos = mem_alloc_or_die(B * sizeof(int64_t), "batch positions");
    s->index = mem_alloc_or_die(B * sizeof(int64_t), "batch indices");
    s->rec_off = mem_alloc_or_die((B + 1) * sizeof(size_t), "record offsets");
    s->read_errno = mem_calloc_or_die(B, sizeof(int), "read status");
    s->fail_i = -1;
  }
}

static void start_threads(Pipeline *p, int n_workers) {
  p->n_workers = n_workers;
  p->ctx = mem_calloc_or_die((size_t)n_workers + 1, sizeof(WorkerCtx), "worker contexts");
  for (int i = 0; i <= n_workers; i++) p->ctx[i].sw = sample_worker_new();
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->cv_reader, NULL);
  pthread_cond_init(&p->cv_work, NULL);
  pthread_cond_init(&p->cv_ready, NULL);
  pthread_cond_init(&p->cv_idle, NULL);
  int rc = pthread_create(&p->reader, NULL, reader_main, p);
  CHECK(rc == 0, "pthread_create (reader): %s", strerror(rc));
  p->workers = mem_calloc_or_die((size_t)(n_workers ? n_workers : 1), sizeof(pthread_t), "workers");
  p->worker_args = mem_calloc_or_die((size_t)(n_workers ? n_workers : 1), sizeof(WorkerArg),
                                     "workers");
  for (int i = 0; i < n_workers; i++) {
    p->worker_args[i] = (WorkerArg){p, i};
    rc = pthread_create(&p->workers[i], NULL, worker_main, &p->worker_args[i]);
    CHECK(rc == 0, "pthread_create (decode worker %d): %s", i, strerror(rc));
  }
}

Pipeline *pipeline_open(const PipelineOptions *opt, char *err, size_t err_len) {
  const Config *cfg = opt->cfg;
  CHECK(opt->world >= 1 && opt->rank >= 0 && opt->rank < opt->world, "rank %d of %d",
        opt->rank, opt->world);
  Pipeline *p = mem_calloc_or_die(1, sizeof *p, "pipeline");
  p->split = opt->split;
  p->key = p->split == SPLIT_TRAIN ? "data.train" : "data.val";
  p->source = cfg->data.source;
  p->batch = cfg->train.batch_size;
  p->seed = (uint64_t)cfg->train.seed;
  p->alloc_host = opt->alloc_host;
  p->free_host = opt->free_host;
  p->alloc_ctx = opt->alloc_ctx;
  if (open_source(p, cfg, err, err_len)) {
    shard_set_close(&p->shards);
    mem_free(p);
    return NULL;
  }
  if (cfg->data.limit_samples > 0 && cfg->data.limit_samples < p->n_samples)
    p->n_samples = cfg->data.limit_samples;
  p->sampler = (Sampler){p->n_samples, p->batch, opt->rank, opt->world,
                         p->split == SPLIT_TRAIN, p->seed};
  if (p->split == SPLIT_TRAIN && sampler_steps(&p->sampler) == 0) {
    core_err(err, err_len, "the training set has %lld samples, fewer than one global batch "
         "(train.batch_size=%d x %d ranks); use a smaller batch or more data",
         (long long)p->n_samples, p->batch, opt->world);
    shard_set_close(&p->shards);
    mem_free(p);
    return NULL;
  }
  resolve_augment(p, cfg);
  p->out_side = p->aug.out_side;
  p->perm = p->sampler.shuffle
                ? mem_alloc_or_die((size_t)(p->n_samples ? p->n_samples : 1) * sizeof(int64_t),
                                   "epoch permutation")
                : NULL;
  p->perm_epoch = -1;
  p->prefetch = cfg->data.prefetch;
  start_threads(p, cfg->data.workers);
  return p;
}

/* ------------------------------------------------------------ running */

int64_t pipeline_num_samples(const Pipeline *p) { return p->n_samples; }
int64_t pipeline_steps_per_epoch(const Pipeline *p) { return sampler_steps(&p->sampler); }
int pipeline_num_classes(const Pipeline *p) { return p->num_classes; }
int pipeline_image_h(const Pipeline *p) { return p->out_side; }
int pipeline_image_w(const Pipeline *p) { return p->out_side; }
size_t pipeline_ring_bytes(const Pipeline *p) {
  return (size_t)(p->prefetch + 1) * (size_t)p->batch * (image_bytes(p) + sizeof(int32_t));
}

/* Ends the reader and the workers (each finishes the sample or batch it is
 * on) and joins them; mutex not held. */
static void stop_threads(Pipeline *p) {
  pthread_mutex_lock(&p->mu);
  p->shutdown = 1;
  p->gen++;
  pthread_cond_broadcast(&p->cv_reader);
  pthread_cond_broadcast(&p->cv_work);
  pthread_cond_broadcast(&p->cv_idle);
  pthread_mutex_unlock(&p->mu);
  pthread_join(p->reader, NULL);
  for (int i = 0; i < p->n_workers; i++) pthread_join(p->workers[i], NULL);
}

/* Stops the current epoch's work and empties the ring (mutex held). */
static void cancel_epoch(Pipeline *p) {
  p->gen++;
  if (p->job) { /* posted but not picked up yet */
    p->job = 0;
    p->reader_busy = 0;
  }
  /* no new tasks from batches being decoded; a slot being filled belongs to
   * the reader (outside the mutex), which drops it on seeing the new gen */
  for (int k = 0; k < p->n_slots; k++)
    if (p->slots[k].state == SLOT_DECODING) p->slots[k].next_task = p->slots[k].batch.n;
  pthread_cond_broadcast(&p->cv_reader);
  while (p->reader_busy || p->busy_workers) pthread_cond_wait(&p->cv_idle, &p->mu);
  for (int k = 0; k < p->n_slots; k++) p->slots[k].state = SLOT_FREE;
}

void pipeline_start_epoch(Pipeline *p, int64_t epoch, int64_t first_step) {
  int64_t n_steps = sampler_steps(&p->sampler);
  CHECK(epoch >= 0 && first_step >= 0, "epoch %lld step %lld", (long long)epoch,
        (long long)first_step);
  pthread_mutex_lock(&p->mu);
  if (!p->slots) make_ring(p, p->prefetch); /* not at open: the batch may yet be refused */
  for (int k = 0; k < p->n_slots; k++)
    CHECK(p->slots[k].state != SLOT_HELD, "pipeline_start_epoch(%lld) while batch %lld of epoch "
          "%lld is held: the caller must pipeline_release every batch it got first",
          (long long)epoch, (long long)p->slots[k].batch.step, (long long)p->slots[k].batch.epoch);
  cancel_epoch(p);
  p->epoch = epoch;
  p->first_step = first_step < n_steps ? first_step : n_steps;
  p->n_steps = n_steps;
  p->next_fill = p->next_out = p->first_step;
  p->started = 1;
  p->job = 1;
  p->reader_busy = 1;
  pthread_cond_broadcast(&p->cv_reader);
  pthread_mutex_unlock(&p->mu);
}

const Batch *pipeline_next(Pipeline *p) {
  pthread_mutex_lock(&p->mu);
  CHECK(p->started, "pipeline_next before pipeline_start_epoch");
  if (p->next_out >= p->n_steps) {
    pthread_mutex_unlock(&p->mu);
    return NULL;
  }
  Slot *s = slot_for(p, p->next_out);
  CHECK(s->state != SLOT_HELD, "batch %lld is still held while asking for batch %lld: hold at "
        "most data.prefetch batches", (long long)s->batch.step, (long long)p->next_out);
  uint64_t t0 = timer_now_ns();
  while (!(s->state == SLOT_READY && s->batch.step == p->next_out))
    pthread_cond_wait(&p->cv_ready, &p->mu);
  if (s->fail_i >= 0) { /* a damaged shard set: stop here, on the caller's thread */
    char msg[sizeof s->fail];
    memcpy(msg, s->fail, sizeof msg);
    pthread_mutex_unlock(&p->mu);
    stop_threads(p); /* none may touch the batch ring (pinned memory) while the job ends */
    core_user_error("%s", msg);
  }
  s->batch.wait_ms = timer_since_ms(t0);
  s->batch.n_corrupt = s->n_corrupt;
  s->state = SLOT_HELD;
  p->next_out++;
  pthread_mutex_unlock(&p->mu);
  return &s->batch;
}

void pipeline_release(Pipeline *p, const Batch *b) {
  Slot *s = (Slot *)b;
  pthread_mutex_lock(&p->mu);
  CHECK(s >= p->slots && s < p->slots + p->n_slots && s->state == SLOT_HELD,
        "pipeline_release of a batch that is not held");
  s->state = SLOT_FREE;
  pthread_cond_broadcast(&p->cv_reader);
  pthread_mutex_unlock(&p->mu);
}

void pipeline_close(Pipeline *p) {
  if (!p) return;
  stop_threads(p);
  for (int i = 0; i <= p->n_workers; i++) {
    sample_worker_free(p->ctx[i].sw);
    mem_free(p->ctx[i].scratch);
  }
  for (int k = 0; k < p->n_slots; k++) {
    Slot *s = &p->slots[k];
    host_free(p, s->batch.images);
    host_free(p, s->batch.labels);
    mem_free(s->pos);
    mem_free(s->index);
    mem_free(s->bytes);
    mem_free(s->rec_off);
    mem_free(s->read_errno);
  }
  pthread_mutex_destroy(&p->mu);
  pthread_cond_destroy(&p->cv_reader);
  pthread_cond_destroy(&p->cv_work);
  pthread_cond_destroy(&p->cv_ready);
  pthread_cond_destroy(&p->cv_idle);
  shard_set_close(&p->shards);
  mem_free(p->slots);
  mem_free(p->ctx);
  mem_free(p->workers);
  mem_free(p->worker_args);
  mem_free(p->perm);
  mem_free(p);
}
