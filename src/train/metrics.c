/* metrics.c - see metrics.h.
 *
 * The progress line is written with one fwrite per redraw: '\r', the text cut
 * to the terminal's width (a wrapped line could not be redrawn in place), and
 * on a terminal "erase to end of line" (ESC [K) so a shorter line leaves no
 * tail.  Records are flushed as they are written, so a crashed run keeps
 * every record up to the crash.
 */
#include "train/metrics.h"

#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "config/config.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/timer.h"
#include "train/jsonw.h"

enum { LINE_MAX_BYTES = 512, BAR_CELLS = 20, NO_TTY_COLS = 160 };
static const double REDRAW_MIN_S = 0.2;

struct Metrics {
  int enabled;
  int bar;              /* progress as one updating line */
  int tty;              /* stdout is a terminal */
  int line_open;        /* a progress line is on screen without its newline */
  uint64_t last_draw_ns;
  FILE *jsonl;
  FILE *csv;
};

static const char CSV_HEADER[] =
    "epoch,step_in_epoch,global_step,loss,top1,top5,lr,images_per_s,data_wait_ms,step_ms,"
    "elapsed_s,corrupt,steps_per_epoch,comm_ms,sync_bn_ms,unix_time\n";

static double unix_time_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static FILE *open_csv(const char *path) {
  int fresh = 1;
  FILE *probe = fopen(path, "r");
  if (probe) {
    fresh = fgetc(probe) == EOF;
    fclose(probe);
  }
  FILE *f = fopen(path, "a");
  if (f && fresh) fputs(CSV_HEADER, f);
  return f;
}

Metrics *metrics_open(const char *run_dir, int enabled, int progress_mode,
                      const char *header_json) {
  Metrics *m = mem_calloc_or_die(1, sizeof *m, "metrics");
  m->enabled = enabled;
  if (!enabled) return m;
  m->tty = isatty(STDOUT_FILENO);
  m->bar = progress_mode == PROGRESS_BAR || (progress_mode == PROGRESS_AUTO && m->tty);
  char path[CFG_STR_MAX + 32];
  snprintf(path, sizeof path, "%s/metrics.jsonl", run_dir);
  m->jsonl = fopen(path, "a");
  snprintf(path, sizeof path, "%s/metrics.csv", run_dir);
  m->csv = open_csv(path);
  if (!m->jsonl || !m->csv) log_warn("cannot write metrics files in %s", run_dir);
  if (m->jsonl && header_json) {
    fprintf(m->jsonl, "%s\n", header_json);
    fflush(m->jsonl);
  }
  return m;
}

int metrics_bar(const Metrics *m) { return m->enabled && m->bar; }

static void fmt_duration(double s, char *out, size_t n) {
  long t = s > 0 ? (long)(s + 0.5) : 0;
  snprintf(out, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
}

static int terminal_cols(const Metrics *m) {
  struct winsize ws;
  if (m->tty && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20) return ws.ws_col;
  return NO_TTY_COLS;
}

/* "[#####-----]" for done/total into out. */
static void bar_cells(int64_t done, int64_t total, char *out) {
  int full = total > 0 ? (int)(BAR_CELLS * done / total) : 0;
  if (full > BAR_CELLS) full = BAR_CELLS;
  out[0] = '[';
  for (int i = 0; i < BAR_CELLS; i++) out[1 + i] = i < full ? '#' : '-';
  out[BAR_CELLS + 1] = ']';
  out[BAR_CELLS + 2] = '\0';
}

/* The progress text, with the bar cells when with_cells; returns its length. */
static int bar_text(const StepRecord *r, int with_cells, char *text, size_t n_bytes) {
  char cells[BAR_CELLS + 4] = "", eta[32];
  if (with_cells) bar_cells(r->step_in_epoch, r->steps_per_epoch, cells);
  fmt_duration(r->eta_s, eta, sizeof eta);
  return snprintf(text, n_bytes,
                  "epoch %lld/%lld %s%s%lld/%lld loss %.4f top1 %.2f%% %.1f img/s lr %.5g "
                  "data %.1fms ETA %s",
                  (long long)r->epoch + 1, (long long)r->epochs, cells, with_cells ? " " : "",
                  (long long)r->step_in_epoch, (long long)r->steps_per_epoch, r->loss,
                  100 * r->top1, r->images_per_s, r->lr, r->data_wait_ms, eta);
}

static void draw_bar(Metrics *m, const StepRecord *r) {
  char text[LINE_MAX_BYTES], line[LINE_MAX_BYTES + 8];
  int cols = terminal_cols(m) - 1;
  int n = bar_text(r, 1, text, sizeof text);
  if (n > cols) n = bar_text(r, 0, text, sizeof text); /* narrow terminal: figures first */
  if (n > cols) n = cols;
  if (n < 0) n = 0;
  int len = snprintf(line, sizeof line, "\r%.*s%s", n, text, m->tty ? "\033[K" : "");
  fwrite(line, 1, (size_t)len, stdout);
  fflush(stdout);
  m->line_open = 1;
  m->last_draw_ns = timer_now_ns();
}

void metrics_break(Metrics *m) {
  if (!m->line_open) return;
  fputc('\n', stdout);
  fflush(stdout);
  m->line_open = 0;
}

void metrics_progress(Metrics *m, const StepRecord *r) {
  if (!metrics_bar(m)) return;
  int last = r->step_in_epoch == r->steps_per_epoch;
  int due = !m->line_open || timer_since_ms(m->last_draw_ns) >= REDRAW_MIN_S * 1e3;
  if (last || due) draw_bar(m, r);
}

static void log_step_line(const StepRecord *r) {
  char eta[32];
  fmt_duration(r->eta_s, eta, sizeof eta);
  log_info("epoch %lld/%lld step %lld/%lld loss %.4f top1 %.2f%% lr %.5g img/s %.1f data %.1fms "
           "eta %s",
           (long long)r->epoch + 1, (long long)r->epochs, (long long)r->step_in_epoch,
           (long long)r->steps_per_epoch, r->loss, 100 * r->top1, r->lr, r->images_per_s,
           r->data_wait_ms, eta);
}

/* Field order is part of the schema (docs/METRICS.md): scripts may match
 * "global_step":N,"loss":X with a regular expression. */
static void write_step_json(FILE *f, const StepRecord *r, double now_s) {
  JsonW w;
  jsonw_init(&w);
  jsonw_obj_begin(&w);
  jsonw_kstr(&w, "type", "step");
  jsonw_kint(&w, "epoch", r->epoch);
  jsonw_kint(&w, "step_in_epoch", r->step_in_epoch);
  jsonw_kint(&w, "global_step", r->global_step);
  jsonw_knum(&w, "loss", r->loss);
  jsonw_knum(&w, "top1", r->top1);
  jsonw_knum(&w, "top5", r->top5);
  jsonw_knum(&w, "lr", r->lr);
  jsonw_knum(&w, "images_per_s", r->images_per_s);
  jsonw_knum(&w, "data_wait_ms", r->data_wait_ms);
  jsonw_knum(&w, "step_ms", r->step_ms);
  jsonw_knum(&w, "elapsed_s", r->elapsed_s);
  jsonw_kint(&w, "corrupt", r->corrupt);
  jsonw_kint(&w, "steps_per_epoch", r->steps_per_epoch);
  jsonw_kint(&w, "total_steps", r->total_steps);
  jsonw_knum(&w, "comm_ms", r->comm_ms);
  jsonw_knum(&w, "sync_bn_ms", r->sync_bn_ms);
  jsonw_knum(&w, "eta_s", r->eta_s);
  jsonw_kfixed(&w, "unix_time", now_s, 3);
  jsonw_obj_end(&w);
  fprintf(f, "%s\n", w.s);
  fflush(f);
  jsonw_free(&w);
}

static void write_step_csv(FILE *f, const StepRecord *r, double now_s) {
  fprintf(f, "%lld,%lld,%lld,%.9g,%.9g,%.9g,%.9g,%.6g,%.6g,%.6g,%.6g,%lld,%lld,%.6g,%.6g,%.3f\n",
          (long long)r->epoch, (long long)r->step_in_epoch, (long long)r->global_step, r->loss,
          r->top1, r->top5, r->lr, r->images_per_s, r->data_wait_ms, r->step_ms, r->elapsed_s,
          (long long)r->corrupt, (long long)r->steps_per_epoch, r->comm_ms, r->sync_bn_ms, now_s);
  fflush(f);
}

void metrics_step(Metrics *m, const StepRecord *r) {
  if (!m->enabled) return;
  if (m->bar)
    draw_bar(m, r);
  else
    log_step_line(r);
  double now_s = unix_time_s();
  if (m->jsonl) write_step_json(m->jsonl, r, now_s);
  if (m->csv) write_step_csv(m->csv, r, now_s);
}

static void write_epoch_json(FILE *f, const EpochRecord *r) {
  JsonW w;
  jsonw_init(&w);
  jsonw_obj_begin(&w);
  jsonw_kstr(&w, "type", "epoch");
  jsonw_kint(&w, "epoch", r->epoch);
  jsonw_knum(&w, "train_loss", r->train_loss);
  jsonw_knum(&w, "train_top1", r->train_top1);
  jsonw_knum(&w, "epoch_s", r->epoch_s);
  jsonw_knum(&w, "images_per_s", r->images_per_s);
  jsonw_kint(&w, "corrupt", r->corrupt);
  jsonw_knum(&w, "lr", r->lr);
  jsonw_knum(&w, "train_top5", r->train_top5);
  jsonw_kint(&w, "global_step", r->global_step);
  jsonw_kint(&w, "train_samples", r->train_samples);
  jsonw_kfixed(&w, "unix_time", unix_time_s(), 3);
  if (r->has_val) {
    jsonw_knum(&w, "val_loss", r->val_loss);
    jsonw_knum(&w, "val_top1", r->val_top1);
    jsonw_knum(&w, "val_top5", r->val_top5);
    jsonw_kint(&w, "val_samples", r->val_samples);
    jsonw_knum(&w, "val_s", r->val_s);
  }
  jsonw_obj_end(&w);
  fprintf(f, "%s\n", w.s);
  fflush(f);
  jsonw_free(&w);
}

void metrics_epoch(Metrics *m, const EpochRecord *r) {
  if (!m->enabled) return;
  metrics_break(m);
  char val[160] = "";
  if (r->has_val)
    snprintf(val, sizeof val, " | val loss %.4f top1 %.2f%% top5 %.2f%% (%lld images)",
             r->val_loss, 100 * r->val_top1, 100 * r->val_top5, (long long)r->val_samples);
  log_info("epoch %lld done: train loss %.4f top1 %.2f%% top5 %.2f%%%s | %.1f s, %.1f img/s, "
           "%lld corrupt images replaced",
           (long long)r->epoch + 1, r->train_loss, 100 * r->train_top1, 100 * r->train_top5, val,
           r->epoch_s, r->images_per_s, (long long)r->corrupt);
  if (m->jsonl) write_epoch_json(m->jsonl, r);
}

void metrics_close(Metrics *m) {
  if (!m) return;
  metrics_break(m);
  if (m->jsonl) fclose(m->jsonl);
  if (m->csv) fclose(m->csv);
  mem_free(m);
}
