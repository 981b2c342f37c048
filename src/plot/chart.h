/* chart.h - a line chart (one x axis, one y axis, a few named series) drawn
 * once by one layout routine onto two canvases: SVG text and an RGB raster
 * written as PNG, so the two files show the same picture.
 *
 * Axes get "nice" ticks (1, 2, 5 x 10^k; decades on a log axis); the y range
 * covers the data (or a fixed range, e.g. 0..100 for accuracy).  The legend
 * goes into the corner of the plot area that hides the fewest points.  A
 * series whose x goes backwards (a run resumed from an earlier checkpoint
 * re-logs steps) keeps the newest points: adding x drops every earlier point
 * with x' >= x.
 */
#ifndef RD_PLOT_CHART_H
#define RD_PLOT_CHART_H

#include <stddef.h>

enum { CHART_MAX_SERIES = 6, CHART_W = 960, CHART_H = 540 };

typedef struct {
  char name[64];
  double *x, *y;    /* (n) */
  int n, cap;
  int markers;      /* a dot at every point (sparse series such as per-epoch values) */
} Series;

typedef struct {
  char title[128], x_label[64], y_label[64];
  Series series[CHART_MAX_SERIES];
  int n_series;
  int y_fixed;              /* y range is [y_min, y_max] below, not the data's */
  double y_min, y_max;
  int y_from_zero;          /* y axis includes 0 (linear axis) */
  int y_log_if_wide;        /* log10 y axis when all y > 0 and max / min >= 30 */
} Chart;

void chart_init(Chart *c, const char *title, const char *x_label, const char *y_label);
void chart_free(Chart *c);
Series *chart_add_series(Chart *c, const char *name, int markers);
/* Non-finite values are ignored. */
void series_add(Series *s, double x, double y);
int chart_n_points(const Chart *c);

/* 0, or -1 with one line in err. */
int chart_write_svg(const Chart *c, const char *path, char *err, size_t err_len);
int chart_write_png(const Chart *c, const char *path, char *err, size_t err_len);

#endif
