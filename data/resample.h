/* resample.h - antialiased bilinear resize of uint8 RGB, bit-exact with PIL.
 *
 * Follows Pillow's Resample.c (ImagingResample with the BILINEAR filter, as
 * torchvision's Resize and RandomResizedCrop use on PIL images): separable,
 * the triangle filter's support widened by the downscale factor (so
 * downscaling averages every source pixel: antialiased), coefficients in
 * double normalised to sum 1 then rounded to 22-bit fixed point, the
 * horizontal pass first into a uint8 intermediate, then the vertical pass,
 * each rounded and clipped.  Only a window of the output may be computed;
 * every output pixel equals the one of the full resize.
 *
 * Usage: plan both axes (which says which source pixels are needed), then run
 * on a source region that covers them.  A plan owns its coefficient arrays
 * and is reused across calls (grows, never shrinks).
 */
#ifndef RD_DATA_RESAMPLE_H
#define RD_DATA_RESAMPLE_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
  int n_out;         /* outputs computed (the window) */
  int ksize;         /* taps per output (max) */
  int src_lo, src_hi;/* source pixels needed: [src_lo, src_hi) */
  int *first;        /* (n_out) first source pixel of each output */
  int *count;        /* (n_out) taps used */
  int32_t *coeffs;   /* (n_out, ksize) fixed point, 22 fraction bits */
  size_t cap_out, cap_coeffs;
} ResampleAxis;

/* Plans outputs [win0, win0 + n_win) of a resize of the source interval
 * [in0, in1) (source has in_size pixels on this axis) to out_full pixels. */
void resample_plan(ResampleAxis *ax, int in_size, double in0, double in1, int out_full,
                   int win0, int n_win);

/* Runs the planned resize.  src points at source pixel (x_org, y_org) of a
 * region with row stride src_stride bytes and src_bpp bytes per pixel (3 RGB
 * or 4 RGBX) that covers [src_lo, src_hi) of both axes; tmp needs
 * resample_tmp_bytes() and 64-byte alignment (mem_alloc gives it);
 * dst (ay.n_out, ax.n_out, 3) RGB. */
void resample_run(const ResampleAxis *ax, const ResampleAxis *ay, const uint8_t *src,
                  size_t src_stride, int src_bpp, int x_org, int y_org, uint8_t *tmp,
                  uint8_t *dst, size_t dst_stride);

size_t resample_tmp_bytes(const ResampleAxis *ax, const ResampleAxis *ay);

void resample_axis_free(ResampleAxis *ax);

#endif
