/* raster.h - an RGB image to draw charts into (for the PNG plots).
 *
 * Pixel (x, y) has its origin at the top left; coordinates outside the image
 * are clipped.  Lines are drawn as a row of discs (no anti-aliasing: the
 * figures are curves on a white background, where jagged edges at 2 px width
 * are hardly visible).  Text uses a built-in 5x7 bitmap font (printable
 * ASCII; anything else draws as '?') scaled by an integer factor; each
 * character takes a 6x9 cell times the scale.
 */
#ifndef RD_PLOT_RASTER_H
#define RD_PLOT_RASTER_H

#include <stdint.h>

typedef struct {
  uint8_t r, g, b;
} Rgb;

typedef struct {
  int w, h;
  uint8_t *rgb; /* (h, w, 3) */
} Raster;

Raster *raster_create(int w, int h, Rgb background);
void raster_free(Raster *im);

/* Inclusive rectangle [x0, x1] x [y0, y1]. */
void raster_fill_rect(Raster *im, int x0, int y0, int x1, int y1, Rgb c);
void raster_disc(Raster *im, double cx, double cy, double radius, Rgb c);
void raster_line(Raster *im, double x0, double y0, double x1, double y1, double width, Rgb c);

enum { RASTER_LEFT = 0, RASTER_CENTER = 1, RASTER_RIGHT = 2 };

int raster_text_width(const char *s, int scale);
int raster_text_height(int scale);
/* Text with its top at y; anchor says whether x is its left end, middle or
 * right end. */
void raster_text(Raster *im, int x, int y, const char *s, int scale, int anchor, Rgb c);
/* The same turned 90 degrees counter-clockwise (reads bottom to top), its
 * middle at (x, y) and its top (the glyphs' top) toward x - height. */
void raster_text_up(Raster *im, int x, int y, const char *s, int scale, Rgb c);

#endif
