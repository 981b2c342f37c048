/* chart.c - see chart.h.
 *
 * One layout routine (draw_chart) talks to a Canvas: the SVG canvas prints
 * elements, the raster canvas paints pixels.  Sizes are in pixels of a
 * CHART_W x CHART_H picture; text positions are given by their vertical
 * middle, which each canvas turns into its own anchor (SVG: baseline; raster:
 * top of the glyph cell).
 */
#include "plot/chart.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/mem.h"
#include "plot/png.h"
#include "plot/raster.h"

static const Rgb PALETTE[CHART_MAX_SERIES] = {{31, 119, 180}, {255, 127, 14}, {44, 160, 44},
                                              {214, 39, 40},  {148, 103, 189}, {140, 86, 75}};
static const Rgb BLACK = {0, 0, 0}, WHITE = {255, 255, 255}, GRID = {225, 225, 225},
                 GREY = {90, 90, 90};

enum { MARGIN_L = 110, MARGIN_R = 30, MARGIN_T = 56, MARGIN_B = 70, TICKS = 6 };
static const double SVG_FONT_PX = 15, SVG_TITLE_PX = 20, SVG_CHAR_W = 0.6; /* em */

/* ------------------------------------------------------------ model */

void chart_init(Chart *c, const char *title, const char *x_label, const char *y_label) {
  memset(c, 0, sizeof *c);
  snprintf(c->title, sizeof c->title, "%s", title);
  snprintf(c->x_label, sizeof c->x_label, "%s", x_label);
  snprintf(c->y_label, sizeof c->y_label, "%s", y_label);
}

void chart_free(Chart *c) {
  for (int i = 0; i < c->n_series; i++) {
    mem_free(c->series[i].x);
    mem_free(c->series[i].y);
  }
  memset(c, 0, sizeof *c);
}

Series *chart_add_series(Chart *c, const char *name, int markers) {
  if (c->n_series == CHART_MAX_SERIES) return NULL;
  Series *s = &c->series[c->n_series++];
  snprintf(s->name, sizeof s->name, "%s", name);
  s->markers = markers;
  return s;
}

void series_add(Series *s, double x, double y) {
  if (!s || !isfinite(x) || !isfinite(y)) return;
  while (s->n > 0 && s->x[s->n - 1] >= x) s->n--;
  if (s->n == s->cap) {
    s->cap = s->cap ? 2 * s->cap : 256;
    s->x = mem_realloc_or_die(s->x, (size_t)s->cap * sizeof *s->x, "chart points");
    s->y = mem_realloc_or_die(s->y, (size_t)s->cap * sizeof *s->y, "chart points");
  }
  s->x[s->n] = x;
  s->y[s->n] = y;
  s->n++;
}

int chart_n_points(const Chart *c) {
  int n = 0;
  for (int i = 0; i < c->n_series; i++) n += c->series[i].n;
  return n;
}

/* ------------------------------------------------------------ canvases */

typedef struct Canvas Canvas;
struct Canvas {
  void (*line)(Canvas *cv, double x0, double y0, double x1, double y1, double width, Rgb c);
  void (*polyline)(Canvas *cv, const double *xs, const double *ys, int n, double width, Rgb c);
  void (*dot)(Canvas *cv, double x, double y, double r, Rgb c);
  void (*box)(Canvas *cv, double x0, double y0, double x1, double y1, Rgb fill, Rgb stroke);
  void (*text)(Canvas *cv, double x, double y_mid, const char *s, int big, int anchor, Rgb c);
  void (*text_up)(Canvas *cv, double x_mid, double y_mid, const char *s, Rgb c);
  double (*text_w)(Canvas *cv, const char *s);
  FILE *svg;
  Raster *im;
};

static void svg_color(char out[8], Rgb c) { snprintf(out, 8, "#%02x%02x%02x", c.r, c.g, c.b); }

static void svg_escaped(FILE *f, const char *s) {
  for (; *s; s++) {
    if (*s == '<') fputs("&lt;", f);
    else if (*s == '>') fputs("&gt;", f);
    else if (*s == '&') fputs("&amp;", f);
    else if (*s == '"') fputs("&quot;", f);
    else if ((unsigned char)*s >= 0x20) fputc(*s, f);
  }
}

static void svg_line(Canvas *cv, double x0, double y0, double x1, double y1, double width,
                     Rgb c) {
  char col[8];
  svg_color(col, c);
  fprintf(cv->svg, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                   "stroke-width=\"%.1f\"/>\n", x0, y0, x1, y1, col, width);
}

static void svg_polyline(Canvas *cv, const double *xs, const double *ys, int n, double width,
                         Rgb c) {
  char col[8];
  svg_color(col, c);
  fprintf(cv->svg, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"%.1f\" "
                   "stroke-linejoin=\"round\" points=\"", col, width);
  for (int i = 0; i < n; i++) fprintf(cv->svg, "%s%.1f,%.1f", i ? " " : "", xs[i], ys[i]);
  fprintf(cv->svg, "\"/>\n");
}

static void svg_dot(Canvas *cv, double x, double y, double r, Rgb c) {
  char col[8];
  svg_color(col, c);
  fprintf(cv->svg, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\" fill=\"%s\"/>\n", x, y, r, col);
}

static void svg_box(Canvas *cv, double x0, double y0, double x1, double y1, Rgb fill,
                    Rgb stroke) {
  char f[8], s[8];
  svg_color(f, fill);
  svg_color(s, stroke);
  fprintf(cv->svg, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\" "
                   "stroke=\"%s\"/>\n", x0, y0, x1 - x0, y1 - y0, f, s);
}

static void svg_text(Canvas *cv, double x, double y_mid, const char *s, int big, int anchor,
                     Rgb c) {
  static const char *const ANCHOR[] = {"start", "middle", "end"};
  double size = big ? SVG_TITLE_PX : SVG_FONT_PX;
  char col[8];
  svg_color(col, c);
  fprintf(cv->svg, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"%.0f\" text-anchor=\"%s\" "
                   "fill=\"%s\">", x, y_mid + 0.35 * size, size, ANCHOR[anchor], col);
  svg_escaped(cv->svg, s);
  fprintf(cv->svg, "</text>\n");
}

static void svg_text_up(Canvas *cv, double x_mid, double y_mid, const char *s, Rgb c) {
  char col[8];
  svg_color(col, c);
  double x = x_mid + 0.35 * SVG_FONT_PX;
  fprintf(cv->svg, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"%.0f\" text-anchor=\"middle\" "
                   "fill=\"%s\" transform=\"rotate(-90 %.1f %.1f)\">", x, y_mid, SVG_FONT_PX,
          col, x, y_mid);
  svg_escaped(cv->svg, s);
  fprintf(cv->svg, "</text>\n");
}

static double svg_text_w(Canvas *cv, const char *s) {
  (void)cv;
  return (double)strlen(s) * SVG_CHAR_W * SVG_FONT_PX;
}

enum { RASTER_SCALE = 2, RASTER_TITLE_SCALE = 3 };

static void ras_line(Canvas *cv, double x0, double y0, double x1, double y1, double width,
                     Rgb c) {
  raster_line(cv->im, x0, y0, x1, y1, width, c);
}

static void ras_polyline(Canvas *cv, const double *xs, const double *ys, int n, double width,
                         Rgb c) {
  for (int i = 1; i < n; i++) raster_line(cv->im, xs[i - 1], ys[i - 1], xs[i], ys[i], width, c);
  if (n == 1) raster_disc(cv->im, xs[0], ys[0], width, c);
}

static void ras_dot(Canvas *cv, double x, double y, double r, Rgb c) {
  raster_disc(cv->im, x, y, r, c);
}

static void ras_box(Canvas *cv, double x0, double y0, double x1, double y1, Rgb fill,
                    Rgb stroke) {
  int a = (int)lround(x0), b = (int)lround(y0), e = (int)lround(x1), d = (int)lround(y1);
  raster_fill_rect(cv->im, a, b, e, d, stroke);
  raster_fill_rect(cv->im, a + 1, b + 1, e - 1, d - 1, fill);
}

static void ras_text(Canvas *cv, double x, double y_mid, const char *s, int big, int anchor,
                     Rgb c) {
  int scale = big ? RASTER_TITLE_SCALE : RASTER_SCALE;
  int top = (int)lround(y_mid) - raster_text_height(scale) / 2 + scale;
  raster_text(cv->im, (int)lround(x), top, s, scale, anchor, c);
}

static void ras_text_up(Canvas *cv, double x_mid, double y_mid, const char *s, Rgb c) {
  raster_text_up(cv->im, (int)lround(x_mid), (int)lround(y_mid), s, RASTER_SCALE, c);
}

static double ras_text_w(Canvas *cv, const char *s) {
  (void)cv;
  return raster_text_width(s, RASTER_SCALE);
}

/* ------------------------------------------------------------ layout */

typedef struct {
  double lo, hi, step;      /* axis range and tick spacing */
} Axis;

typedef struct {
  Axis x, y;
  int y_log;                /* y axis in log10(y) */
  double left, right, top, bottom; /* plot area in pixels */
} Frame;

static const double LOG_WIDE_RATIO = 30;

static double nice_step(double range, int target) {
  double raw = range / target;
  double mag = pow(10, floor(log10(raw)));
  double norm = raw / mag;
  double f = norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10;
  return f * mag;
}

static Axis nice_axis(double lo, double hi) {
  if (!(hi > lo)) {
    double pad = fabs(lo) > 0 ? fabs(lo) * 0.1 : 1;
    lo -= pad;
    hi += pad;
  }
  Axis a;
  a.step = nice_step(hi - lo, TICKS);
  a.lo = floor(lo / a.step + 1e-9) * a.step;
  a.hi = ceil(hi / a.step - 1e-9) * a.step;
  return a;
}

static void data_range(const Chart *c, int want_x, double *lo, double *hi) {
  *lo = INFINITY;
  *hi = -INFINITY;
  for (int i = 0; i < c->n_series; i++)
    for (int k = 0; k < c->series[i].n; k++) {
      double v = want_x ? c->series[i].x[k] : c->series[i].y[k];
      *lo = v < *lo ? v : *lo;
      *hi = v > *hi ? v : *hi;
    }
  if (*lo > *hi) {
    *lo = 0;
    *hi = 1;
  }
}

static Frame make_frame(const Chart *c) {
  Frame f = {.left = MARGIN_L, .right = CHART_W - MARGIN_R, .top = MARGIN_T,
             .bottom = CHART_H - MARGIN_B};
  double lo, hi;
  data_range(c, 1, &lo, &hi);
  f.x = nice_axis(lo, hi);
  if (c->y_fixed) {
    lo = c->y_min;
    hi = c->y_max;
  } else {
    data_range(c, 0, &lo, &hi);
    f.y_log = c->y_log_if_wide && lo > 0 && hi / lo >= LOG_WIDE_RATIO;
    if (f.y_log) {
      f.y = (Axis){floor(log10(lo)), ceil(log10(hi)), 1};
      return f;
    }
    if (c->y_from_zero && lo > 0) lo = 0;
  }
  f.y = nice_axis(lo, hi);
  return f;
}

static double px(const Frame *f, double x) {
  return f->left + (x - f->x.lo) / (f->x.hi - f->x.lo) * (f->right - f->left);
}
/* y in axis units (log10 on a log axis) to pixels. */
static double py_axis(const Frame *f, double v) {
  return f->bottom - (v - f->y.lo) / (f->y.hi - f->y.lo) * (f->bottom - f->top);
}
static double py(const Frame *f, double y) { return py_axis(f, f->y_log ? log10(y) : y); }

static void tick_label(double v, double step, char *out, size_t n) {
  if (fabs(v) < step * 1e-6) v = 0;
  if (fabs(v) >= 1e5 || step < 1e-4) {
    snprintf(out, n, "%.3g", v);
    return;
  }
  int decimals = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
  snprintf(out, n, "%.*f", decimals, v);
}

static void draw_axes(Canvas *cv, const Chart *c, const Frame *f) {
  char label[48];
  int nx = (int)lround((f->x.hi - f->x.lo) / f->x.step);
  for (int i = 0; i <= nx; i++) {
    double v = f->x.lo + i * f->x.step, x = px(f, v);
    cv->line(cv, x, f->top, x, f->bottom, 1, GRID);
    tick_label(v, f->x.step, label, sizeof label);
    cv->text(cv, x, f->bottom + 16, label, 0, 1, GREY);
  }
  int ny = (int)lround((f->y.hi - f->y.lo) / f->y.step);
  for (int i = 0; i <= ny; i++) {
    double v = f->y.lo + i * f->y.step, y = py_axis(f, v);
    cv->line(cv, f->left, y, f->right, y, 1, GRID);
    if (f->y_log)
      snprintf(label, sizeof label, "%g", pow(10, v));
    else
      tick_label(v, f->y.step, label, sizeof label);
    cv->text(cv, f->left - 8, y, label, 0, 2, GREY);
  }
  cv->line(cv, f->left, f->bottom, f->right, f->bottom, 1.5, BLACK);
  cv->line(cv, f->left, f->top, f->left, f->bottom, 1.5, BLACK);
  cv->text(cv, CHART_W / 2.0, MARGIN_T / 2.0, c->title, 1, 1, BLACK);
  cv->text(cv, (f->left + f->right) / 2, CHART_H - 24, c->x_label, 0, 1, BLACK);
  char y_label[96];
  snprintf(y_label, sizeof y_label, "%s%s", c->y_label, f->y_log ? " (log scale)" : "");
  cv->text_up(cv, 22, (f->top + f->bottom) / 2, y_label, BLACK);
}

static void draw_series(Canvas *cv, const Series *s, const Frame *f, Rgb col) {
  if (s->n == 0) return;
  double *xs = mem_alloc_or_die((size_t)s->n * sizeof *xs, "chart pixels");
  double *ys = mem_alloc_or_die((size_t)s->n * sizeof *ys, "chart pixels");
  for (int k = 0; k < s->n; k++) {
    xs[k] = px(f, s->x[k]);
    ys[k] = py(f, s->y[k]);
  }
  cv->polyline(cv, xs, ys, s->n, 2, col);
  if (s->markers)
    for (int k = 0; k < s->n; k++) cv->dot(cv, xs[k], ys[k], 4, col);
  mem_free(xs);
  mem_free(ys);
}

static int points_inside(const Chart *c, const Frame *f, double x0, double y0, double x1,
                         double y1) {
  int n = 0;
  for (int i = 0; i < c->n_series; i++)
    for (int k = 0; k < c->series[i].n; k++) {
      double x = px(f, c->series[i].x[k]), y = py(f, c->series[i].y[k]);
      n += x >= x0 && x <= x1 && y >= y0 && y <= y1;
    }
  return n;
}

/* Top-left corner of the legend box: the plot corner hiding fewest points
 * (top right first on a tie). */
static void legend_corner(const Chart *c, const Frame *f, double w, double h, double *x0,
                          double *y0) {
  const double pad = 8;
  double xs[4] = {f->right - pad - w, f->left + pad, f->right - pad - w, f->left + pad};
  double ys[4] = {f->top + pad, f->top + pad, f->bottom - pad - h, f->bottom - pad - h};
  int best = 0, best_n = -1;
  for (int k = 0; k < 4; k++) {
    int n = points_inside(c, f, xs[k], ys[k], xs[k] + w, ys[k] + h);
    if (best_n < 0 || n < best_n) {
      best = k;
      best_n = n;
    }
  }
  *x0 = xs[best];
  *y0 = ys[best];
}

static void draw_legend(Canvas *cv, const Chart *c, const Frame *f) {
  double w = 0;
  int n = 0;
  for (int i = 0; i < c->n_series; i++) {
    if (c->series[i].n == 0) continue;
    double tw = cv->text_w(cv, c->series[i].name);
    w = tw > w ? tw : w;
    n++;
  }
  if (n == 0) return;
  double row = 24, box_w = w + 56, box_h = row * n + 8, x0, y0;
  legend_corner(c, f, box_w, box_h, &x0, &y0);
  cv->box(cv, x0, y0, x0 + box_w, y0 + box_h, WHITE, GRID);
  int k = 0;
  for (int i = 0; i < c->n_series; i++) {
    const Series *s = &c->series[i];
    if (s->n == 0) continue;
    double y = y0 + 4 + row * (k++ + 0.5);
    cv->line(cv, x0 + 8, y, x0 + 36, y, 2.5, PALETTE[i]);
    if (s->markers) cv->dot(cv, x0 + 22, y, 4, PALETTE[i]);
    cv->text(cv, x0 + 44, y, s->name, 0, 0, BLACK);
  }
}

static void draw_chart(Canvas *cv, const Chart *c) {
  Frame f = make_frame(c);
  cv->box(cv, 0, 0, CHART_W - 1, CHART_H - 1, WHITE, WHITE);
  draw_axes(cv, c, &f);
  for (int i = 0; i < c->n_series; i++) draw_series(cv, &c->series[i], &f, PALETTE[i]);
  draw_legend(cv, c, &f);
  if (chart_n_points(c) == 0)
    cv->text(cv, (f.left + f.right) / 2, (f.top + f.bottom) / 2, "no data", 1, 1, GREY);
}

/* ------------------------------------------------------------ files */

int chart_write_svg(const Chart *c, const char *path, char *err, size_t err_len) {
  FILE *f = fopen(path, "w");
  if (!f) {
    snprintf(err, err_len, "cannot write %s: %s", path, strerror(errno));
    return -1;
  }
  Canvas cv = {svg_line, svg_polyline, svg_dot, svg_box, svg_text, svg_text_up, svg_text_w,
               f, NULL};
  fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
             "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
             "viewBox=\"0 0 %d %d\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n",
          CHART_W, CHART_H, CHART_W, CHART_H);
  fprintf(f, "<title>");
  svg_escaped(f, c->title);
  fprintf(f, "</title>\n");
  draw_chart(&cv, c);
  fprintf(f, "</svg>\n");
  int bad = ferror(f);
  if (fclose(f) != 0 || bad) {
    snprintf(err, err_len, "cannot write %s", path);
    return -1;
  }
  return 0;
}

int chart_write_png(const Chart *c, const char *path, char *err, size_t err_len) {
  Raster *im = raster_create(CHART_W, CHART_H, WHITE);
  Canvas cv = {ras_line, ras_polyline, ras_dot, ras_box, ras_text, ras_text_up, ras_text_w,
               NULL, im};
  draw_chart(&cv, c);
  int rc = png_write_rgb(path, im->rgb, im->w, im->h, err, err_len);
  raster_free(im);
  return rc;
}
