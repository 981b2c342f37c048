/* trace.c - see trace.h.
 *
 * Each rank turns its events into a JSON fragment (metadata events naming
 * the process "rank R (host)" and its lanes, then the "X" events); the
 * fragments are all-gathered (sizes first, then padded bytes) and rank 0
 * joins them into {"traceEvents":[...]}.  An all-gather moves every
 * fragment to every rank; a window of ten ResNet-50 steps is some hundred
 * kilobytes per rank, so this is cheap next to the training it describes.
 */
#include "train/trace.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/timer.h"
#include "train/jsonw.h"

enum { NAME_BYTES = 48, MAX_LANES = 512 };

typedef struct {
  int lane;
  char name[NAME_BYTES];
  uint64_t t0_ns, t1_ns;
  int64_t step;
} Event;

struct Trace {
  char path[1024];
  Comm *comm;
  int rank;
  int64_t first_step, n_steps;
  int64_t step;           /* step being run */
  int recording;
  int finished;
  uint64_t origin_ns;     /* common time origin (after a barrier) */
  Event *events;
  size_t n_events, cap_events;
  unsigned char lane_used[MAX_LANES];
};

/* rank 0: can the file be created?  "" or one line. */
static void check_writable(const char *path, char *err, size_t err_len) {
  FILE *f = fopen(path, "a");
  if (f) {
    fclose(f);
    return;
  }
  snprintf(err, err_len, "log.trace: cannot write the trace file '%s': %s (set log.trace to a "
                         "path in a writable folder)", path, strerror(errno));
}

Trace *trace_open(const char *path, Comm *comm, int64_t first_step, int64_t n_steps, char *err,
                  size_t err_len) {
  Trace *t = mem_calloc_or_die(1, sizeof *t, "trace");
  snprintf(t->path, sizeof t->path, "%s", path);
  t->comm = comm;
  t->rank = comm ? comm->rank : 0;
  t->first_step = first_step;
  t->n_steps = n_steps;
  t->step = -1;
  err[0] = '\0';
  if (t->rank == 0) check_writable(path, err, err_len);
  if (comm) comm->barrier(comm, "barrier setting the trace's time origin");
  t->origin_ns = timer_now_ns();
  return t;
}

void trace_begin_step(Trace *t, int64_t global_step) {
  if (!t) return;
  t->step = global_step;
  t->recording = !t->finished && global_step >= t->first_step &&
                 global_step < t->first_step + t->n_steps;
}

int trace_recording(const Trace *t) { return t && t->recording; }

void trace_span(Trace *t, int lane, const char *name, uint64_t t0_ns, uint64_t t1_ns) {
  if (!t || !t->recording) return;
  if (t->n_events == t->cap_events) {
    t->cap_events = t->cap_events ? 2 * t->cap_events : 1024;
    t->events = mem_realloc_or_die(t->events, t->cap_events * sizeof *t->events, "trace events");
  }
  Event *e = &t->events[t->n_events++];
  e->lane = lane;
  snprintf(e->name, sizeof e->name, "%s", name);
  e->t0_ns = t0_ns;
  e->t1_ns = t1_ns > t0_ns ? t1_ns : t0_ns;
  e->step = t->step;
  if (lane >= 0 && lane < MAX_LANES) t->lane_used[lane] = 1;
}

int trace_window_over(const Trace *t, int64_t steps_done) {
  return t && !t->finished && steps_done >= t->first_step + t->n_steps;
}

static void lane_name(int lane, char *out, size_t n) {
  if (lane == TRACE_LANE_STEP)
    snprintf(out, n, "training thread");
  else if (lane >= TRACE_LANE_BUCKET)
    snprintf(out, n, "all-reduce bucket %d", lane - TRACE_LANE_BUCKET);
  else if (lane >= TRACE_LANE_DECODE)
    snprintf(out, n, "decode (ring slot %d)", lane - TRACE_LANE_DECODE);
  else
    snprintf(out, n, "lane %d", lane);
}

static void meta_event(JsonW *w, const char *what, int pid, int tid, const char *key,
                       const char *text, int64_t number, int is_number) {
  jsonw_obj_begin(w);
  jsonw_kstr(w, "name", what);
  jsonw_kstr(w, "ph", "M");
  jsonw_kint(w, "pid", pid);
  jsonw_kint(w, "tid", tid);
  jsonw_key(w, "args");
  jsonw_obj_begin(w);
  if (is_number)
    jsonw_kint(w, key, number);
  else
    jsonw_kstr(w, key, text);
  jsonw_obj_end(w);
  jsonw_obj_end(w);
}

static double us_since_origin(const Trace *t, uint64_t ns) {
  return ((double)ns - (double)t->origin_ns) * 1e-3;
}

/* This rank's events as a JSON array body (no brackets). */
static char *fragment(const Trace *t) {
  JsonW w;
  jsonw_init(&w);
  jsonw_arr_begin(&w);
  char text[96];
  snprintf(text, sizeof text, "rank %d (%s)", t->rank, log_host());
  meta_event(&w, "process_name", t->rank, 0, "name", text, 0, 0);
  meta_event(&w, "process_sort_index", t->rank, 0, "sort_index", NULL, t->rank, 1);
  for (int lane = 0; lane < MAX_LANES; lane++) {
    if (!t->lane_used[lane]) continue;
    lane_name(lane, text, sizeof text);
    meta_event(&w, "thread_name", t->rank, lane, "name", text, 0, 0);
    meta_event(&w, "thread_sort_index", t->rank, lane, "sort_index", NULL, lane, 1);
  }
  for (size_t i = 0; i < t->n_events; i++) {
    const Event *e = &t->events[i];
    jsonw_obj_begin(&w);
    jsonw_kstr(&w, "name", e->name);
    jsonw_kstr(&w, "cat", e->lane == TRACE_LANE_STEP ? "step"
                          : e->lane >= TRACE_LANE_BUCKET ? "comm" : "data");
    jsonw_kstr(&w, "ph", "X");
    jsonw_kint(&w, "pid", t->rank);
    jsonw_kint(&w, "tid", e->lane);
    jsonw_knum(&w, "ts", us_since_origin(t, e->t0_ns));
    jsonw_knum(&w, "dur", (double)(e->t1_ns - e->t0_ns) * 1e-3);
    jsonw_key(&w, "args");
    jsonw_obj_begin(&w);
    jsonw_kint(&w, "step", e->step);
    jsonw_obj_end(&w);
    jsonw_obj_end(&w);
  }
  jsonw_arr_end(&w);
  /* strip the brackets: fragments are joined into one array */
  char *s = jsonw_take(&w);
  size_t n = strlen(s);
  memmove(s, s + 1, n - 2);
  s[n - 2] = '\0';
  return s;
}

/* Every rank's fragment, concatenated with NUL separators, on every rank;
 * returns the padded per-rank size. */
static char *gather(Trace *t, const char *mine, int64_t *stride) {
  int64_t n = (int64_t)strlen(mine) + 1;
  int world = t->comm ? t->comm->size : 1;
  int64_t *sizes = mem_calloc_or_die((size_t)world, sizeof *sizes, "trace sizes");
  if (t->comm)
    t->comm->allgather(t->comm, &n, sizes, 1, COMM_I64, "all-gather of trace sizes");
  else
    sizes[0] = n;
  int64_t max = 0;
  for (int i = 0; i < world; i++) max = sizes[i] > max ? sizes[i] : max;
  mem_free(sizes);
  char *padded = mem_calloc_or_die((size_t)max, 1, "trace fragment");
  memcpy(padded, mine, (size_t)n);
  char *all = mem_calloc_or_die((size_t)world, (size_t)max, "trace of all ranks");
  if (t->comm)
    t->comm->allgather(t->comm, padded, all, (size_t)max, COMM_U8, "all-gather of trace events");
  else
    memcpy(all, padded, (size_t)max);
  mem_free(padded);
  *stride = max;
  return all;
}

static void write_file(const Trace *t, const char *all, int64_t stride, int world) {
  FILE *f = fopen(t->path, "w");
  if (!f) {
    log_warn("cannot write the trace file %s: %s", t->path, strerror(errno));
    return;
  }
  fputs("{\"traceEvents\":[\n", f);
  int first = 1;
  for (int r = 0; r < world; r++) {
    const char *frag = all + (size_t)r * (size_t)stride;
    if (!frag[0]) continue;
    fprintf(f, "%s%s", first ? "" : ",\n", frag);
    first = 0;
  }
  fprintf(f, "\n],\"displayTimeUnit\":\"ms\"}\n");
  if (fclose(f) != 0) {
    log_warn("cannot write the trace file %s", t->path);
    return;
  }
  log_info("trace of steps %lld..%lld (%d rank%s) written to %s (open it in ui.perfetto.dev)",
           (long long)t->first_step, (long long)(t->first_step + t->n_steps - 1), world,
           world > 1 ? "s" : "", t->path);
}

void trace_finish(Trace *t) {
  if (!t || t->finished) return;
  t->finished = 1;
  t->recording = 0;
  char *mine = fragment(t);
  int64_t stride = 0;
  char *all = gather(t, mine, &stride);
  if (t->rank == 0) write_file(t, all, stride, t->comm ? t->comm->size : 1);
  mem_free(all);
  mem_free(mine);
}

void trace_close(Trace *t) {
  if (!t) return;
  mem_free(t->events);
  mem_free(t);
}

void trace_bn_allreduce(void *hook, double *buf, int n_doubles) {
  TraceBnHook *h = hook;
  uint64_t t0 = timer_now_ns();
  h->inner(h->inner_ctx, buf, n_doubles);
  trace_span(h->trace, TRACE_LANE_STEP, "sync BN all-reduce", t0, timer_now_ns());
}

void trace_bucket_observer(void *trace, int bucket, uint64_t t0_ns, uint64_t t1_ns) {
  char name[NAME_BYTES];
  snprintf(name, sizeof name, "all-reduce bucket %d", bucket);
  trace_span(trace, TRACE_LANE_BUCKET + bucket, name, t0_ns, t1_ns);
}
