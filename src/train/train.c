/* train.c - see train.h. */
#include "train/train.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/check.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/timer.h"
#include "dist/eval_sum.h"
#include "model/weights.h"
#include "optim/lr_schedule.h"
#include "train/checkpoint.h"
#include "train/metrics.h"
#include "train/runinfo.h"
#include "train/trace.h"

typedef struct {
  int64_t epoch;          /* epoch in progress (0-based) */
  int64_t step_in_epoch;  /* steps of it already done */
  int64_t global_step;    /* steps done in total */
  int64_t samples_seen;
} TrainPos;

/* Sums over a logging window (local to this rank until reduced). */
typedef struct {
  double loss_sum, n, c1, c5, corrupt;
  double data_ms, step_ms, comm_ms, bn_ms;
  int64_t steps;
  uint64_t t0_ns;
} Window;

typedef struct {
  double loss_scale;      /* fp16 dynamic loss scale; 1 otherwise */
  int64_t good_steps;     /* since the last scale change */
} Scaler;

/* ------------------------------------------------------------------ step */

static void load_batch(Run *r, const Batch *b) {
  Model *m = r->model;
  r->be->input_u8(r->be, model_input(m), b->images, b->n, b->h, b->w, r->mean, r->std);
  r->be->upload_labels(r->be, m->labels, b->labels, b->n);
}

/* Ends a phase of the step that began at t0_ns: a trace event while the
 * trace records (after waiting for the device, so the event is the phase's
 * real duration and not its launch time); returns the end time. */
static uint64_t phase_end(Run *r, Trace *tr, const char *name, uint64_t t0_ns) {
  if (!trace_recording(tr)) return timer_now_ns();
  r->be->sync(r->be);
  uint64_t t1 = timer_now_ns();
  trace_span(tr, TRACE_LANE_STEP, name, t0_ns, t1);
  return t1;
}

/* One optimizer step on one batch; returns 0 if the step was skipped (fp16
 * overflow). */
static int train_step(Run *r, const Batch *b, double lr, Scaler *sc, Window *w, Trace *tr) {
  Model *m = r->model;
  uint64_t t0 = timer_now_ns();
  load_batch(r, b);
  uint64_t t = phase_end(r, tr, "H2D copy + normalize", t0);
  if (r->sync_bn) sync_bn_reset(r->sync_bn);
  if (r->grad_sync) grad_sync_begin(r->grad_sync);
  model_forward(m, 1, &r->hooks);
  double loss_sum = 0;
  int64_t correct[2] = {0, 0};
  model_loss(m, b->n, r->cfg.train.label_smoothing, sc->loss_scale / b->n, 1, &loss_sum, correct);
  t = phase_end(r, tr, "forward + loss", t);
  model_backward(m, &r->hooks);
  t = phase_end(r, tr, "backward", t);
  if (r->grad_sync) grad_sync_finish(r->grad_sync);
  t = phase_end(r, tr, "gradient all-reduce wait", t);
  int ok = 1;
  if (r->cfg.train.precision == PREC_FP16) {
    /* gradients are identical on every rank after the all-reduce, so every
     * rank reaches the same verdict without another collective */
    ok = r->be->count_nonfinite(r->be, m->grads, m->n_param_elems) == 0;
    if (!ok) {
      sc->loss_scale = sc->loss_scale > 1 ? sc->loss_scale / 2 : 1;
      sc->good_steps = 0;
    } else if (++sc->good_steps == 2000) {
      sc->loss_scale *= 2;
      sc->good_steps = 0;
    }
  }
  if (ok) optim_step(r->opt, lr, 1.0 / sc->loss_scale);
  phase_end(r, tr, "optimizer", t);
  w->loss_sum += loss_sum;
  w->n += b->n;
  w->c1 += (double)correct[0];
  w->c5 += (double)correct[1];
  w->corrupt += b->n_corrupt;
  w->data_ms += b->wait_ms;
  w->step_ms += timer_since_ms(t0) + b->wait_ms;
  w->comm_ms += r->grad_sync ? grad_sync_exposed_ms(r->grad_sync) : 0;
  w->bn_ms += r->sync_bn ? sync_bn_ms(r->sync_bn) : 0;
  w->steps++;
  return ok;
}

/* ------------------------------------------------------------------ eval */

EvalResult train_evaluate(Run *r) {
  EvalResult res = {0};
  Model *m = r->model;
  Pipeline *p = r->val_data;
  if (!p) return res;
  int keep_b = m->batch, keep_h = m->image_h, keep_w = m->image_w;
  model_plan(m, r->cfg.train.batch_size, pipeline_image_h(p), pipeline_image_w(p));
  EvalTotals tot = {0};
  pipeline_start_epoch(p, 0, 0);
  const Batch *b;
  while ((b = pipeline_next(p)) != NULL) {
    load_batch(r, b);
    model_forward(m, 0, &r->hooks);
    double loss_sum = 0;
    int64_t correct[2] = {0, 0};
    model_loss(m, b->n, r->cfg.train.label_smoothing, 1.0, 0, &loss_sum, correct);
    tot.loss_sum += loss_sum;
    tot.n_samples += b->n;
    tot.top1 += correct[0];
    tot.top5 += correct[1];
    tot.n_corrupt += b->n_corrupt;
    pipeline_release(p, b);
  }
  if (r->comm) eval_totals_allreduce(r->comm, &tot);
  if (keep_b > 0) model_plan(m, keep_b, keep_h, keep_w);
  res.n = tot.n_samples;
  res.loss = eval_mean_loss(&tot);
  res.top1 = eval_top1(&tot);
  res.top5 = eval_top5(&tot);
  return res;
}

/* ------------------------------------------------------------------ checkpoints */

static CkptTensor to_ckpt(const StTensor *s) {
  CkptTensor c;
  memset(&c, 0, sizeof c);
  snprintf(c.name, sizeof c.name, "%s", s->name);
  c.ndim = s->ndim;
  for (int d = 0; d < s->ndim; d++) c.shape[d] = s->shape[d];
  c.dtype = s->dtype == ST_I64 ? 1 : 0;
  c.data = s->data;
  c.n_elems = s->n_elems;
  return c;
}

static void save_checkpoint(Run *r, const TrainPos *pos, const Scaler *sc) {
  if (r->dist->rank != 0) return;
  Model *m = r->model;
  uint64_t t0 = timer_now_ns();
  int n_w;
  float *f32;
  int64_t *i64;
  StTensor *w = weights_gather(m, &n_w, &f32, &i64);
  float *mom = mem_alloc_or_die(m->n_param_elems * sizeof(float), "momentum copy");
  r->be->params_to_host_f32(r->be, mom, r->opt->momentum, m->n_param_elems);
  int n = n_w + m->n_params;
  CkptTensor *t = mem_calloc_or_die((size_t)n, sizeof(CkptTensor), "checkpoint tensors");
  for (int i = 0; i < n_w; i++) t[i] = to_ckpt(&w[i]);
  for (int i = 0; i < m->n_params; i++) {
    const ParamEntry *e = &m->param_table[i];
    CkptTensor *c = &t[n_w + i];
    snprintf(c->name, sizeof c->name, "optimizer.momentum.%s", e->name);
    c->ndim = e->ndim;
    for (int d = 0; d < e->ndim; d++) c->shape[d] = e->shape[d];
    c->data = mom + e->offset;
    c->n_elems = e->n_elems;
  }
  char *cfg_text = config_to_string(&r->cfg);
  CkptState s = {.epoch = pos->epoch, .step_in_epoch = pos->step_in_epoch,
                 .global_step = pos->global_step, .samples_seen = pos->samples_seen,
                 .seed = r->cfg.train.seed, .world_size = r->dist->world,
                 .global_batch = (int64_t)r->cfg.train.batch_size * r->dist->world,
                 .loss_scale = sc->loss_scale, .loss_scale_growth = sc->good_steps,
                 .config_text = cfg_text, .tensors = t,
                 .n_tensors = n};
  char path[1400], err[1024];
  if (ckpt_write(r->ckpt_dir, &s, r->cfg.checkpoint.keep, path, sizeof path, err, sizeof err))
    FATAL("writing a checkpoint failed: %s", err);
  log_info("checkpoint %s written (resumes at epoch %lld, step %lld; %.1f s)", path,
           (long long)pos->epoch + 1, (long long)pos->step_in_epoch, timer_since_ms(t0) * 1e-3);
  mem_free(cfg_text);
  mem_free(t);
  mem_free(mom);
  mem_free(w);
  mem_free(f32);
  mem_free(i64);
}

/* What rank 0 read from a checkpoint, broadcast to every rank as doubles. */
enum { ST_FOUND, ST_EPOCH, ST_STEP, ST_GLOBAL, ST_SCALE, ST_SAMPLES, ST_GROWTH, ST_N };

/* Keys whose difference between a checkpoint and this run says nothing about
 * the training trajectory. */
static const char *const OPERATIONAL_KEYS[] = {
    "data.workers", "data.prefetch", "train.threads", "dist.timeout_s", "dist.bucket_mb",
    "checkpoint.dir", "checkpoint.every_epochs", "checkpoint.every_minutes", "checkpoint.keep",
    "checkpoint.resume", "log.dir", "log.every_steps", "log.trace", "log.trace_start",
    "log.trace_steps", "log.level", "log.progress", "bench.warmup_steps", "bench.steps",
    "bench.pipeline", NULL};

/* Rank 0: reads the checkpoint at path into the model (and, when training, the
 * momentum and the position into state).  Training also checks the global
 * batch and warns about configuration changes.  0, or -1 with err. */
static int read_checkpoint(Run *r, const char *path, int training, double state[ST_N], char *err,
                           size_t err_len) {
  Model *m = r->model;
  CkptLoaded l;
  if (ckpt_read(path, &l, err, err_len) != 0) return -1;
  int64_t gb = (int64_t)r->cfg.train.batch_size * r->dist->world;
  if (training && l.state.global_batch != gb) {
    core_err(err, err_len,
             "checkpoint %s was written with global batch %lld (%d ranks); this run has %lld: "
             "set train.batch_size so that batch_size x ranks = %lld to resume it",
             path, (long long)l.state.global_batch, l.state.world_size, (long long)gb,
             (long long)l.state.global_batch);
    ckpt_free(&l);
    return -1;
  }
  StTensor *st = mem_calloc_or_die((size_t)l.state.n_tensors + 1, sizeof(StTensor), "tensors");
  float *mom = mem_calloc_or_die(m->n_param_elems, sizeof(float), "momentum");
  int n_w = 0, n_mom = 0;
  for (int i = 0; i < l.state.n_tensors; i++) {
    const CkptTensor *c = &l.tensors[i];
    if (!strncmp(c->name, "optimizer.momentum.", 19)) {
      int pi = model_find_param(m, c->name + 19);
      if (pi >= 0 && m->param_table[pi].n_elems == c->n_elems && c->dtype == 0) {
        memcpy(mom + m->param_table[pi].offset, c->data, c->n_elems * sizeof(float));
        n_mom++;
      }
      continue;
    }
    StTensor *t = &st[n_w++];
    snprintf(t->name, sizeof t->name, "%s", c->name);
    t->dtype = c->dtype == 1 ? ST_I64 : ST_F32;
    t->ndim = c->ndim;
    for (int d = 0; d < c->ndim; d++) t->shape[d] = c->shape[d];
    t->data = c->data;
    t->n_elems = c->n_elems;
  }
  int rc = -1;
  if (training && n_mom != m->n_params)
    core_err(err, err_len, "checkpoint %s holds momentum for %d of the %d parameters", path,
             n_mom, m->n_params);
  else if (weights_load_tensors(m, st, n_w, path, err, err_len) == 0)
    rc = 0;
  if (rc == 0 && training) {
    r->be->params_from_host_f32(r->be, r->opt->momentum, mom, m->n_param_elems);
    state[ST_EPOCH] = (double)l.state.epoch;
    state[ST_STEP] = (double)l.state.step_in_epoch;
    state[ST_GLOBAL] = (double)l.state.global_step;
    state[ST_SCALE] = l.state.loss_scale > 0 ? l.state.loss_scale : 1;
    state[ST_SAMPLES] = (double)l.state.samples_seen;
    state[ST_GROWTH] = (double)l.state.loss_scale_growth;
    char *now = config_to_string(&r->cfg), diff[1024];
    if (config_list_differences(l.config_text, now, OPERATIONAL_KEYS, diff, sizeof diff) > 0)
      log_warn("resuming %s with a configuration that differs from the checkpoint's in: %s; "
               "the run continues with the new values", path, diff);
    mem_free(now);
  }
  state[ST_FOUND] = rc == 0;
  mem_free(st);
  mem_free(mom);
  ckpt_free(&l);
  return rc;
}

/* Rank 0: the checkpoint checkpoint.resume names: auto = the newest usable
 * one in the checkpoint folder (1 when there is none), or the given path.
 * never = 1.  0 with path, 1 none, -1 with err. */
static int resume_path(Run *r, char *path, size_t path_len, char *err, size_t err_len) {
  const char *mode = r->cfg.checkpoint.resume;
  if (!strcmp(mode, "never")) return 1;
  if (strcmp(mode, "auto")) {
    snprintf(path, path_len, "%s", mode);
    return 0;
  }
  int rc = ckpt_find_latest(r->ckpt_dir, path, path_len, err, err_len);
  if (rc == 1) err[0] = '\0';
  return rc;
}

/* Rank 0: a run that does not continue the newest checkpoint of its folder
 * (resume=never, or an explicit older checkpoint) would write its checkpoints
 * among another trajectory's, and resume=auto would later pick the wrong one.
 * Applies to resume=never and resume=PATH. */
static void check_no_mixing(Run *r, int64_t start_step, char *err, size_t err_len) {
  char newest[96];
  int64_t step = -1;
  if (ckpt_newest(r->ckpt_dir, newest, sizeof newest, &step) <= 0 || step < start_step) return;
  if (!strcmp(r->cfg.checkpoint.resume, "never") || step > start_step)
    core_err(err, err_len,
             "%s already holds %s (global step %lld) from another run; this run (checkpoint."
             "resume=%s) would mix its checkpoints with them: move them away, set log.dir or "
             "checkpoint.dir to a new folder, or continue that run with checkpoint.resume=auto",
             r->ckpt_dir, newest, (long long)step, r->cfg.checkpoint.resume);
}

/* Resumes per checkpoint.resume; the state read by rank 0 is broadcast.
 * Returns 1 when resuming. */
static int load_checkpoint(Run *r, TrainPos *pos, Scaler *sc) {
  char err[2048] = "", path[1400] = "";
  double state[ST_N] = {0, 0, 0, 0, 1, 0, 0};
  Model *m = r->model;
  if (r->dist->rank == 0 && resume_path(r, path, sizeof path, err, sizeof err) == 0)
    read_checkpoint(r, path, 1, state, err, sizeof err);
  /* resume=auto continues the newest usable checkpoint; newer unusable ones
   * are superseded as the run passes them */
  if (r->dist->rank == 0 && !err[0] && strcmp(r->cfg.checkpoint.resume, "auto"))
    check_no_mixing(r, (int64_t)state[ST_GLOBAL], err, sizeof err);
  run_agree(r, err);
  if (r->comm) {
    r->comm->broadcast(r->comm, state, ST_N, COMM_F64, 0, "broadcast of the resume position");
    if (state[ST_FOUND]) {
      run_broadcast_params(r, m->params, m->n_param_elems, "broadcast of resumed parameters");
      run_broadcast_params(r, m->buffers, m->n_buffer_elems, "broadcast of resumed BN statistics");
      run_broadcast_params(r, r->opt->momentum, m->n_param_elems, "broadcast of resumed momentum");
      double nbt = (double)m->num_batches_tracked;
      r->comm->broadcast(r->comm, &nbt, 1, COMM_F64, 0, "broadcast of num_batches_tracked");
      m->num_batches_tracked = (int64_t)nbt;
      model_params_changed(m);
    }
  }
  if (!state[ST_FOUND]) return 0;
  pos->epoch = (int64_t)state[ST_EPOCH];
  pos->step_in_epoch = (int64_t)state[ST_STEP];
  pos->global_step = (int64_t)state[ST_GLOBAL];
  pos->samples_seen = (int64_t)state[ST_SAMPLES];
  sc->loss_scale = state[ST_SCALE];
  sc->good_steps = (int64_t)state[ST_GROWTH];
  log_info("resuming from %s: epoch %lld, step %lld (global step %lld)",
           r->dist->rank == 0 ? path : "rank 0's checkpoint", (long long)pos->epoch + 1,
           (long long)pos->step_in_epoch, (long long)pos->global_step);
  return 1;
}

void train_load_weights(Run *r) {
  if (r->cli.init_from[0]) return; /* named by the user, loaded by run_setup */
  char err[2048] = "", path[1400] = "";
  double state[ST_N] = {0};
  int found = 0;
  if (r->dist->rank == 0 && resume_path(r, path, sizeof path, err, sizeof err) == 0)
    found = read_checkpoint(r, path, 0, state, err, sizeof err) == 0;
  run_agree(r, err);
  if (r->comm) {
    double f = found;
    r->comm->broadcast(r->comm, &f, 1, COMM_F64, 0, "broadcast of the weights' source");
    found = f != 0;
    if (found) {
      run_broadcast_params(r, r->model->params, r->model->n_param_elems, "broadcast of weights");
      run_broadcast_params(r, r->model->buffers, r->model->n_buffer_elems,
                           "broadcast of BN statistics");
      model_params_changed(r->model);
    }
  }
  if (found)
    log_info("weights: checkpoint %s", r->dist->rank == 0 ? path : "of rank 0");
  else
    log_info("weights: the random initialisation (seed %lld; no --init-from, and no checkpoint "
             "in %s with checkpoint.resume=%s)",
             (long long)r->cfg.train.seed, r->ckpt_dir, r->cfg.checkpoint.resume);
}

/* ------------------------------------------------------------------ loop */

/* Where the loop reports: metrics (rank 0), the timeline (log.trace), and the
 * figures both need. */
typedef struct {
  Metrics *met;
  Trace *trace;           /* NULL unless log.trace is set */
  TraceBnHook bn_hook;    /* wraps the sync-BN hook while tracing */
  int64_t spe, total_steps, start_step, global_batch;
  uint64_t t_start_ns;
} Obs;

static void obs_open(Run *r, Obs *o) {
  const Config *c = &r->cfg;
  char *header = runinfo_header_json(r, "train");
  runinfo_write_files(r, header);
  o->met = metrics_open(r->run_dir, r->dist->rank == 0, c->log.progress, header);
  mem_free(header);
  if (!c->log.trace[0]) return;
  char err[1400];
  o->trace = trace_open(c->log.trace, r->comm, c->log.trace_start, c->log.trace_steps, err,
                        sizeof err);
  run_agree(r, err);
  if (r->hooks.bn_allreduce) {
    o->bn_hook = (TraceBnHook){o->trace, r->hooks.bn_allreduce, r->hooks.bn_ctx};
    r->hooks.bn_allreduce = trace_bn_allreduce;
    r->hooks.bn_ctx = &o->bn_hook;
  }
  if (r->grad_sync) grad_sync_set_observer(r->grad_sync, trace_bucket_observer, o->trace);
}

/* Collective (the trace is gathered); every rank calls it once. */
static void obs_close(Run *r, Obs *o) {
  trace_finish(o->trace);
  if (o->trace) {
    if (r->hooks.bn_allreduce == trace_bn_allreduce) {
      r->hooks.bn_allreduce = o->bn_hook.inner;
      r->hooks.bn_ctx = o->bn_hook.inner_ctx;
    }
    if (r->grad_sync) grad_sync_set_observer(r->grad_sync, NULL, NULL);
  }
  trace_close(o->trace);
  metrics_close(o->met);
}

static int stop_requested(Run *r, Trace *tr) {
  if (!r->comm) return dist_stop_signal() != 0;
  uint64_t t0 = timer_now_ns();
  int stop = dist_agree_stop(r->comm, 0);
  trace_span(tr, TRACE_LANE_STEP, "stop-signal agreement", t0, timer_now_ns());
  return stop;
}

/* The pipeline's decode span of this batch, on the lane of its ring slot. */
static void trace_decode(Trace *tr, const Batch *b, int prefetch) {
  if (!trace_recording(tr) || b->decode_t1_ns <= b->decode_t0_ns) return;
  char name[96];
  snprintf(name, sizeof name, "decode batch %lld, epoch %lld", (long long)b->step,
           (long long)b->epoch + 1);
  trace_span(tr, TRACE_LANE_DECODE + (int)(b->step % prefetch), name, b->decode_t0_ns,
             b->decode_t1_ns);
}

/* sums = [loss sum, samples, top-1 hits, top-5 hits, corrupt] over the window. */
static StepRecord step_record(Run *r, const Obs *o, const Window *w, const double sums[5],
                              const TrainPos *pos, double lr, double images_per_s) {
  double elapsed = timer_since_ms(o->t_start_ns) * 1e-3;
  int64_t done = pos->global_step - o->start_step;
  double per_step = done > 0 ? elapsed / (double)done : 0;
  double steps = w->steps > 0 ? (double)w->steps : 1;
  StepRecord rec = {.epoch = pos->epoch, .epochs = r->cfg.train.epochs,
                    .step_in_epoch = pos->step_in_epoch, .steps_per_epoch = o->spe,
                    .global_step = pos->global_step, .total_steps = o->total_steps,
                    .loss = sums[1] > 0 ? sums[0] / sums[1] : 0,
                    .top1 = sums[1] > 0 ? sums[2] / sums[1] : 0,
                    .top5 = sums[1] > 0 ? sums[3] / sums[1] : 0, .lr = lr,
                    .images_per_s = images_per_s,
                    .data_wait_ms = w->data_ms / steps, .step_ms = w->step_ms / steps,
                    .comm_ms = w->comm_ms / steps, .sync_bn_ms = w->bn_ms / steps,
                    .elapsed_s = elapsed,
                    .eta_s = per_step * (double)(o->total_steps - pos->global_step),
                    .corrupt = (int64_t)sums[4]};
  return rec;
}

static void log_window(Run *r, Obs *o, Window *w, const TrainPos *pos, double lr) {
  uint64_t t0 = timer_now_ns();
  double sums[5] = {w->loss_sum, w->n, w->c1, w->c5, w->corrupt};
  run_allreduce_host(r, sums, 5, "all-reduce of training metrics");
  double secs = timer_since_ms(w->t0_ns) * 1e-3;
  if (sums[1] > 0 && !isfinite(sums[0]))
    FATAL("training diverged: the loss is not finite at global step %lld (lower optim.lr?)",
          (long long)pos->global_step);
  StepRecord rec = step_record(r, o, w, sums, pos, lr, secs > 0 ? sums[1] / secs : 0);
  metrics_step(o->met, &rec);
  uint64_t now = timer_now_ns();
  trace_span(o->trace, TRACE_LANE_STEP, "metrics all-reduce + log", t0, now);
  memset(w, 0, sizeof *w);
  w->t0_ns = now;
}

/* Bar mode between logged windows: rank 0's own figures, no collective
 * (images/s is rank 0's rate times the world size). */
static void show_progress(Run *r, Obs *o, const Window *w, const TrainPos *pos, double lr) {
  if (!metrics_bar(o->met) || w->n <= 0) return;
  double sums[5] = {w->loss_sum, w->n, w->c1, w->c5, w->corrupt};
  double secs = timer_since_ms(w->t0_ns) * 1e-3;
  double ips = secs > 0 ? w->n * r->dist->world / secs : 0;
  StepRecord rec = step_record(r, o, w, sums, pos, lr, ips);
  metrics_progress(o->met, &rec);
}

static void checkpoint(Run *r, Obs *o, const TrainPos *pos, const Scaler *sc) {
  if (r->dist->rank != 0) return;
  metrics_break(o->met);
  uint64_t t0 = timer_now_ns();
  save_checkpoint(r, pos, sc);
  trace_span(o->trace, TRACE_LANE_STEP, "checkpoint", t0, timer_now_ns());
}

static void add_window_delta(Window *ep, const Window *now, const Window *before) {
  ep->loss_sum += now->loss_sum - before->loss_sum;
  ep->n += now->n - before->n;
  ep->c1 += now->c1 - before->c1;
  ep->c5 += now->c5 - before->c5;
  ep->corrupt += now->corrupt - before->corrupt;
}

/* Steps of the current epoch until its end, total_steps or a stop request;
 * ep gathers the epoch's sums.  Returns 1 when a stop was requested. */
static int run_epoch(Run *r, Obs *o, const LrPlan *plan, TrainPos *pos, Scaler *sc, Window *ep,
                     double *lr, uint64_t *t_ckpt_ns) {
  const Config *c = &r->cfg;
  Window w = {.t0_ns = timer_now_ns()};
  pipeline_start_epoch(r->train_data, pos->epoch, pos->step_in_epoch);
  while (pos->global_step < o->total_steps) {
    uint64_t t_step = timer_now_ns();
    const Batch *b = pipeline_next(r->train_data);
    if (!b) break;
    /* finished here, not before pipeline_next: the epoch-end evaluation and
     * checkpoint after the window's last step belong to the window */
    if (trace_window_over(o->trace, pos->global_step)) trace_finish(o->trace);
    trace_begin_step(o->trace, pos->global_step);
    trace_span(o->trace, TRACE_LANE_STEP, "data wait", t_step, timer_now_ns());
    trace_decode(o->trace, b, c->data.prefetch);
    *lr = lr_at(c, plan, pos->global_step);
    Window before = w;
    train_step(r, b, *lr, sc, &w, o->trace);
    add_window_delta(ep, &w, &before);
    pipeline_release(r->train_data, b);
    pos->step_in_epoch++;
    pos->global_step++;
    pos->samples_seen += o->global_batch;
    if (pos->global_step % c->log.every_steps == 0 || pos->step_in_epoch == o->spe)
      log_window(r, o, &w, pos, *lr);
    else
      show_progress(r, o, &w, pos, *lr);
    int stop = stop_requested(r, o->trace);
    char name[48];
    snprintf(name, sizeof name, "step %lld", (long long)pos->global_step - 1);
    trace_span(o->trace, TRACE_LANE_STEP, name, t_step, timer_now_ns());
    if (stop) return 1;
    if (c->checkpoint.every_minutes > 0 && r->dist->rank == 0 &&
        timer_since_ms(*t_ckpt_ns) > c->checkpoint.every_minutes * 60e3 &&
        pos->step_in_epoch < o->spe) {
      checkpoint(r, o, pos, sc);
      *t_ckpt_ns = timer_now_ns();
    }
  }
  return 0;
}

/* The epoch summary (with an evaluation when due and may_evaluate) once an
 * epoch is complete. */
static void end_epoch(Run *r, Obs *o, const TrainPos *pos, const Window *ep, double lr,
                      uint64_t t_epoch_ns, int last, int may_evaluate) {
  const Config *c = &r->cfg;
  double ep_sums[5] = {ep->loss_sum, ep->n, ep->c1, ep->c5, ep->corrupt};
  run_allreduce_host(r, ep_sums, 5, "all-reduce of epoch metrics");
  int due = c->train.eval_every_epochs > 0 && (pos->epoch + 1) % c->train.eval_every_epochs == 0;
  EpochRecord er = {.epoch = pos->epoch, .global_step = pos->global_step, .lr = lr,
                    .epoch_s = timer_since_ms(t_epoch_ns) * 1e-3,
                    .train_loss = ep_sums[1] > 0 ? ep_sums[0] / ep_sums[1] : 0,
                    .train_top1 = ep_sums[1] > 0 ? ep_sums[2] / ep_sums[1] : 0,
                    .train_top5 = ep_sums[1] > 0 ? ep_sums[3] / ep_sums[1] : 0,
                    .train_samples = (int64_t)ep_sums[1], .corrupt = (int64_t)ep_sums[4]};
  er.images_per_s = er.epoch_s > 0 ? ep_sums[1] / er.epoch_s : 0;
  if (r->val_data && (due || last) && !may_evaluate)
    log_info("epoch %lld: validation skipped, a stop was requested", (long long)pos->epoch + 1);
  if (r->val_data && (due || last) && may_evaluate) {
    metrics_break(o->met);
    uint64_t t0 = timer_now_ns();
    EvalResult ev = train_evaluate(r);
    uint64_t t1 = timer_now_ns();
    trace_span(o->trace, TRACE_LANE_STEP, "evaluation", t0, t1);
    er.has_val = 1;
    er.val_loss = ev.loss;
    er.val_top1 = ev.top1;
    er.val_top5 = ev.top5;
    er.val_samples = ev.n;
    er.val_s = (double)(t1 - t0) * 1e-9;
  }
  metrics_epoch(o->met, &er);
}

int train_main(Run *r) {
  Model *m = r->model;
  const Config *c = &r->cfg;
  Obs o = {.spe = pipeline_steps_per_epoch(r->train_data),
           .global_batch = (int64_t)c->train.batch_size * r->dist->world};
  if (o.spe < 1)
    run_user_error(r, "the training set has %lld samples, fewer than one global batch of %lld "
                      "(train.batch_size %d x %d ranks)",
                   (long long)pipeline_num_samples(r->train_data), (long long)o.global_batch,
                   c->train.batch_size, r->dist->world);
  o.total_steps = (int64_t)c->train.epochs * o.spe;
  if (c->train.max_steps > 0 && c->train.max_steps < o.total_steps)
    o.total_steps = c->train.max_steps;
  LrPlan plan = lr_plan(c, o.spe, o.global_batch, o.total_steps);
  TrainPos pos = {0, 0, 0, 0};
  Scaler sc = {c->train.precision == PREC_FP16 ? c->train.loss_scale : 1.0, 0};
  load_checkpoint(r, &pos, &sc);
  model_plan(m, c->train.batch_size, r->train_h, r->train_w);
  obs_open(r, &o);
  dist_catch_stop_signals(r->dist);
  log_info("training %s on %d rank%s (%s backend): %lld steps/epoch, global batch %lld, "
           "%lld steps in total",
           config_arch_name(c->model.arch), r->dist->world, r->dist->world > 1 ? "s" : "",
           r->be->name, (long long)o.spe, (long long)o.global_batch, (long long)o.total_steps);
  o.t_start_ns = timer_now_ns();
  uint64_t t_ckpt = o.t_start_ns;
  o.start_step = pos.global_step;
  if (pos.global_step >= o.total_steps)
    log_info("the checkpoint is at the end of this training (global step %lld of %lld): "
             "nothing left to train", (long long)pos.global_step, (long long)o.total_steps);
  int stopped = 0, saved = 0; /* saved: a checkpoint holds the current position */
  double lr = lr_at(c, &plan, pos.global_step);
  while (!stopped && pos.global_step < o.total_steps && pos.epoch < c->train.epochs) {
    uint64_t t_epoch = timer_now_ns();
    Window ep = {.t0_ns = t_epoch};
    stopped = run_epoch(r, &o, &plan, &pos, &sc, &ep, &lr, &t_ckpt);
    saved = 0;
    if (pos.step_in_epoch < o.spe) break; /* stopped, or max_steps reached, mid-epoch */
    /* The epoch is complete: its record and checkpoint come first, also when
     * the stop came on its last step (without the evaluation then: it would
     * eat into the time left before the job is killed). */
    int last = pos.epoch + 1 == c->train.epochs || pos.global_step >= o.total_steps;
    end_epoch(r, &o, &pos, &ep, lr, t_epoch, last, !stopped);
    pos.epoch++;
    pos.step_in_epoch = 0;
    if (stopped || (c->checkpoint.every_epochs > 0 &&
                    (pos.epoch % c->checkpoint.every_epochs == 0 || last))) {
      checkpoint(r, &o, &pos, &sc);
      t_ckpt = timer_now_ns();
      saved = 1;
    }
    /* a stop signal may have come during the evaluation or the checkpoint */
    if (!stopped && !last) stopped = stop_requested(r, o.trace);
  }
  if (stopped) {
    metrics_break(o.met);
    char why[48] = "by a signal on another rank";
    if (dist_stop_signal()) snprintf(why, sizeof why, "signal %d", dist_stop_signal());
    log_info("stop requested (%s): %s at epoch %lld step %lld, exiting", why,
             saved ? "checkpoint written" : "checkpointing", (long long)pos.epoch + 1,
             (long long)pos.step_in_epoch);
    if (!saved) save_checkpoint(r, &pos, &sc);
    if (r->comm) r->comm->barrier(r->comm, "barrier after the preemption checkpoint");
    obs_close(r, &o);
    return RD_EXIT_PREEMPTED;
  }
  metrics_break(o.met);
  if (pos.step_in_epoch > 0 && r->val_data) { /* stopped by max_steps mid-epoch */
    EvalResult ev = train_evaluate(r);
    log_info("final evaluation: val loss %.4f top1 %.2f%% top5 %.2f%% (%lld images)", ev.loss,
             100 * ev.top1, 100 * ev.top5, (long long)ev.n);
  }
  if (pos.step_in_epoch > 0 && (c->checkpoint.every_epochs > 0 || c->checkpoint.every_minutes > 0))
    save_checkpoint(r, &pos, &sc);
  if (r->dist->rank == 0) {
    char path[CFG_STR_MAX + 32], err[1024];
    snprintf(path, sizeof path, "%s/final.safetensors", r->run_dir);
    if (weights_export(m, path, err, sizeof err) != 0) FATAL("%s", err);
    log_info("done: %lld steps in %.1f s; parameters in %s", (long long)pos.global_step,
             timer_since_ms(o.t_start_ns) * 1e-3, path);
  }
  obs_close(r, &o);
  return RD_EXIT_OK;
}

int eval_main(Run *r) {
  if (!r->val_data)
    run_user_error(r, "--mode eval needs validation data: set data.val (or data.source=synthetic "
                      "with data.synthetic_val > 0)");
  EvalResult ev = train_evaluate(r);
  log_info("eval: loss %.4f top1 %.2f%% top5 %.2f%% over %lld images", ev.loss, 100 * ev.top1,
           100 * ev.top5, (long long)ev.n);
  return RD_EXIT_OK;
}
