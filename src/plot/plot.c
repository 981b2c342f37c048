/* plot.c - see plot.h.
 *
 * x is in epochs: a step record sits at epoch + step_in_epoch /
 * steps_per_epoch, an epoch record at epoch + 1 (its end).  A record that
 * lacks a field simply adds no point; lines that are not JSON objects are
 * skipped and counted in the summary line, so a file cut by a crash still
 * plots.
 */
#include "plot/plot.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/check.h"
#include "core/log.h"
#include "core/mem.h"
#include "plot/chart.h"
#include "plot/jsonl.h"

enum { C_LOSS, C_ACC, C_LR, C_SPEED, N_CHARTS };
static const char *const CHART_FILES[N_CHARTS] = {"loss", "accuracy", "lr", "throughput"};

/* Series of each chart, in the order they are added. */
enum { S_LOSS_STEP, S_LOSS_EPOCH, S_LOSS_VAL };
enum { S_ACC_TOP1, S_ACC_TOP5, S_ACC_VAL1, S_ACC_VAL5 };
enum { S_SPEED_STEP, S_SPEED_EPOCH };

typedef struct {
  Chart charts[N_CHARTS];
  int64_t n_step, n_epoch, n_header, n_skipped;
  char subtitle[96];
} Plots;

static void init_charts(Plots *p) {
  Chart *c = p->charts;
  chart_init(&c[C_LOSS], "loss", "epoch", "cross-entropy loss");
  chart_add_series(&c[C_LOSS], "train (logged window)", 0);
  chart_add_series(&c[C_LOSS], "train (epoch)", 1);
  chart_add_series(&c[C_LOSS], "validation", 1);
  c[C_LOSS].y_from_zero = 1;
  c[C_LOSS].y_log_if_wide = 1;
  chart_init(&c[C_ACC], "accuracy", "epoch", "accuracy (%)");
  chart_add_series(&c[C_ACC], "train top-1", 0);
  chart_add_series(&c[C_ACC], "train top-5", 0);
  chart_add_series(&c[C_ACC], "val top-1", 1);
  chart_add_series(&c[C_ACC], "val top-5", 1);
  c[C_ACC].y_fixed = 1;
  c[C_ACC].y_min = 0;
  c[C_ACC].y_max = 100;
  chart_init(&c[C_LR], "learning rate", "epoch", "learning rate");
  chart_add_series(&c[C_LR], "lr", 0);
  c[C_LR].y_from_zero = 1;
  chart_init(&c[C_SPEED], "throughput", "epoch", "images/s (all ranks)");
  chart_add_series(&c[C_SPEED], "logged window", 0);
  chart_add_series(&c[C_SPEED], "epoch", 1);
  c[C_SPEED].y_from_zero = 1;
}

/* y = field of line, scaled, as a point at x of the given series. */
static void add_field(Chart *c, int series, const char *line, const char *key, double x,
                      double scale) {
  double v;
  if (jsonl_number(line, key, &v)) series_add(&c->series[series], x, v * scale);
}

static void add_step(Plots *p, const char *line) {
  double epoch, step, spe;
  if (!jsonl_number(line, "epoch", &epoch)) return;
  double x = epoch + 1;
  if (jsonl_number(line, "step_in_epoch", &step) && jsonl_number(line, "steps_per_epoch", &spe) &&
      spe > 0)
    x = epoch + step / spe;
  Chart *c = p->charts;
  add_field(&c[C_LOSS], S_LOSS_STEP, line, "loss", x, 1);
  add_field(&c[C_ACC], S_ACC_TOP1, line, "top1", x, 100);
  add_field(&c[C_ACC], S_ACC_TOP5, line, "top5", x, 100);
  add_field(&c[C_LR], 0, line, "lr", x, 1);
  add_field(&c[C_SPEED], S_SPEED_STEP, line, "images_per_s", x, 1);
  p->n_step++;
}

static void add_epoch(Plots *p, const char *line) {
  double epoch;
  if (!jsonl_number(line, "epoch", &epoch)) return;
  double x = epoch + 1;
  Chart *c = p->charts;
  add_field(&c[C_LOSS], S_LOSS_EPOCH, line, "train_loss", x, 1);
  add_field(&c[C_LOSS], S_LOSS_VAL, line, "val_loss", x, 1);
  add_field(&c[C_ACC], S_ACC_VAL1, line, "val_top1", x, 100);
  add_field(&c[C_ACC], S_ACC_VAL5, line, "val_top5", x, 100);
  add_field(&c[C_SPEED], S_SPEED_EPOCH, line, "images_per_s", x, 1);
  p->n_epoch++;
}

static void add_header(Plots *p, const char *line) {
  char arch[32] = "", backend[16] = "";
  double world = 1;
  jsonl_string(line, "arch", arch, sizeof arch);
  jsonl_string(line, "backend", backend, sizeof backend);
  jsonl_number(line, "world_size", &world);
  snprintf(p->subtitle, sizeof p->subtitle, "%s, %d rank%s, %s", arch, (int)world,
           world > 1 ? "s" : "", backend);
  p->n_header++;
}

static void read_records(Plots *p, FILE *f) {
  char *line = NULL;
  size_t cap = 0;
  while (getline(&line, &cap, f) >= 0) {
    char type[16];
    if (!jsonl_string(line, "type", type, sizeof type)) {
      if (line[strspn(line, " \t\r\n")]) p->n_skipped++;
      continue;
    }
    if (!strcmp(type, "step")) add_step(p, line);
    else if (!strcmp(type, "epoch")) add_epoch(p, line);
    else if (!strcmp(type, "header")) add_header(p, line);
  }
  free(line); /* getline's buffer comes from malloc */
}

static void set_titles(Plots *p) {
  if (!p->subtitle[0]) return;
  for (int i = 0; i < N_CHARTS; i++) {
    Chart *c = &p->charts[i];
    char t[sizeof c->title];
    snprintf(t, sizeof t, "%.40s - %.80s", c->title, p->subtitle);
    memcpy(c->title, t, sizeof t);
  }
}

static int write_all(Plots *p, const char *dir) {
  for (int i = 0; i < N_CHARTS; i++) {
    char path[4200], err[4400];
    snprintf(path, sizeof path, "%s/%s.svg", dir, CHART_FILES[i]);
    if (chart_write_svg(&p->charts[i], path, err, sizeof err) != 0) {
      log_error("%s", err);
      return RD_EXIT_USAGE;
    }
    snprintf(path, sizeof path, "%s/%s.png", dir, CHART_FILES[i]);
    if (chart_write_png(&p->charts[i], path, err, sizeof err) != 0) {
      log_error("%s", err);
      return RD_EXIT_USAGE;
    }
  }
  return RD_EXIT_OK;
}

int plot_run_dir(const char *run_dir) {
  char path[4096], dir[4096];
  snprintf(path, sizeof path, "%s/metrics.jsonl", run_dir);
  FILE *f = fopen(path, "r");
  if (!f) {
    log_error("resnet_dist plot: cannot read %s: %s (give the run directory, log.dir, of a "
              "training run)", path, strerror(errno));
    return RD_EXIT_USAGE;
  }
  Plots *p = mem_calloc_or_die(1, sizeof *p, "plots");
  init_charts(p);
  read_records(p, f);
  fclose(f);
  int rc = RD_EXIT_OK;
  snprintf(dir, sizeof dir, "%s/plots", run_dir);
  if (p->n_step + p->n_epoch == 0) {
    log_error("resnet_dist plot: %s has no step or epoch records yet", path);
    rc = RD_EXIT_USAGE;
  } else if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
    log_error("resnet_dist plot: cannot create %s: %s", dir, strerror(errno));
    rc = RD_EXIT_USAGE;
  } else {
    set_titles(p);
    rc = write_all(p, dir);
  }
  if (rc == RD_EXIT_OK)
    log_info("plots of %lld step and %lld epoch records written to %s (loss, accuracy, lr, "
             "throughput; .svg and .png)%s",
             (long long)p->n_step, (long long)p->n_epoch, dir,
             p->n_skipped ? " (some lines were not JSON records and were skipped)" : "");
  for (int i = 0; i < N_CHARTS; i++) chart_free(&p->charts[i]);
  mem_free(p);
  return rc;
}
