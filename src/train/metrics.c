/* metrics.c - see metrics.h. */
#include "train/metrics.h"

#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"

struct Metrics {
  int enabled;
  FILE *jsonl;
  FILE *csv;
};

Metrics *metrics_open(const char *run_dir, int enabled, int progress_mode) {
  (void)progress_mode;
  Metrics *m = mem_calloc_or_die(1, sizeof *m, "metrics");
  m->enabled = enabled;
  if (!enabled) return m;
  char path[1200];
  snprintf(path, sizeof path, "%s/metrics.jsonl", run_dir);
  m->jsonl = fopen(path, "a");
  snprintf(path, sizeof path, "%s/metrics.csv", run_dir);
  int fresh = 1;
  FILE *probe = fopen(path, "r");
  if (probe) {
    fresh = fgetc(probe) == EOF;
    fclose(probe);
  }
  m->csv = fopen(path, "a");
  if (!m->jsonl || !m->csv) log_warn("cannot write metrics files in %s", run_dir);
  if (m->csv && fresh)
    fprintf(m->csv, "epoch,step_in_epoch,global_step,loss,top1,top5,lr,images_per_s,"
                    "data_wait_ms,step_ms,elapsed_s,corrupt\n");
  return m;
}

static void fmt_duration(double s, char *out, size_t n) {
  long t = s > 0 ? (long)(s + 0.5) : 0;
  snprintf(out, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
}

void metrics_step(Metrics *m, const StepRecord *r) {
  if (!m->enabled) return;
  char eta[32];
  fmt_duration(r->eta_s, eta, sizeof eta);
  log_info("epoch %lld/%lld step %lld/%lld loss %.4f top1 %.2f%% lr %.5g img/s %.1f data %.1fms "
           "eta %s",
           (long long)r->epoch + 1, (long long)r->epochs, (long long)r->step_in_epoch,
           (long long)r->steps_per_epoch, r->loss, 100 * r->top1, r->lr, r->images_per_s,
           r->data_wait_ms, eta);
  if (m->jsonl) {
    fprintf(m->jsonl,
            "{\"type\":\"step\",\"epoch\":%lld,\"step_in_epoch\":%lld,\"global_step\":%lld,"
            "\"loss\":%.9g,\"top1\":%.9g,\"top5\":%.9g,\"lr\":%.9g,\"images_per_s\":%.6g,"
            "\"data_wait_ms\":%.6g,\"step_ms\":%.6g,\"elapsed_s\":%.6g,\"corrupt\":%lld}\n",
            (long long)r->epoch, (long long)r->step_in_epoch, (long long)r->global_step, r->loss,
            r->top1, r->top5, r->lr, r->images_per_s, r->data_wait_ms, r->step_ms, r->elapsed_s,
            (long long)r->corrupt);
    fflush(m->jsonl);
  }
  if (m->csv) {
    fprintf(m->csv, "%lld,%lld,%lld,%.9g,%.9g,%.9g,%.9g,%.6g,%.6g,%.6g,%.6g,%lld\n",
            (long long)r->epoch, (long long)r->step_in_epoch, (long long)r->global_step, r->loss,
            r->top1, r->top5, r->lr, r->images_per_s, r->data_wait_ms, r->step_ms, r->elapsed_s,
            (long long)r->corrupt);
    fflush(m->csv);
  }
}

void metrics_epoch(Metrics *m, const EpochRecord *r) {
  if (!m->enabled) return;
  char val[160] = "";
  if (r->has_val)
    snprintf(val, sizeof val, " | val loss %.4f top1 %.2f%% top5 %.2f%% (%lld images)",
             r->val_loss, 100 * r->val_top1, 100 * r->val_top5, (long long)r->val_samples);
  log_info("epoch %lld done: train loss %.4f top1 %.2f%%%s | %.1f s, %.1f img/s, %lld corrupt "
           "images replaced",
           (long long)r->epoch + 1, r->train_loss, 100 * r->train_top1, val, r->epoch_s,
           r->images_per_s, (long long)r->corrupt);
  if (!m->jsonl) return;
  fprintf(m->jsonl,
          "{\"type\":\"epoch\",\"epoch\":%lld,\"train_loss\":%.9g,\"train_top1\":%.9g,"
          "\"epoch_s\":%.6g,\"images_per_s\":%.6g,\"corrupt\":%lld,\"lr\":%.9g",
          (long long)r->epoch, r->train_loss, r->train_top1, r->epoch_s, r->images_per_s,
          (long long)r->corrupt, r->lr);
  if (r->has_val)
    fprintf(m->jsonl, ",\"val_loss\":%.9g,\"val_top1\":%.9g,\"val_top5\":%.9g,\"val_samples\":%lld",
            r->val_loss, r->val_top1, r->val_top5, (long long)r->val_samples);
  fprintf(m->jsonl, "}\n");
  fflush(m->jsonl);
}

void metrics_close(Metrics *m) {
  if (!m) return;
  if (m->jsonl) fclose(m->jsonl);
  if (m->csv) fclose(m->csv);
  mem_free(m);
}
