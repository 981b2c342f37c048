/* sample.c - decode + crop + resize + flip of one sample; see sample.h. */
#include "data/sample.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/mem.h"
#include "data/jpegdec.h"
#include "data/resample.h"

/* Extra source pixels decoded around what the resampler reads, so chroma
 * upsampling at the decoded region's edge never touches a used pixel. */
enum { REGION_MARGIN = 2 };

struct SampleWorker {
  JpegDecoder *dec;
  ResampleAxis ax, ay;
  int crop_x0, crop_y0;  /* resampler input origin in the (scaled) image */
  uint8_t *tmp;          /* resampler intermediate */
  size_t tmp_cap;
  char msg[256];
};

SampleWorker *sample_worker_new(void) {
  SampleWorker *w = mem_calloc_or_die(1, sizeof *w, "sample worker");
  w->dec = jpegdec_new();
  return w;
}

void sample_worker_free(SampleWorker *w) {
  if (!w) return;
  jpegdec_free(w->dec);
  resample_axis_free(&w->ax);
  resample_axis_free(&w->ay);
  mem_free(w->tmp);
  mem_free(w);
}

const char *sample_worker_error(const SampleWorker *w) { return w->msg; }

int sample_pick_denom(const CropPlan *p) {
  for (int d = 8; d > 1; d /= 2)
    if ((double)p->w / d >= p->out_w_full && (double)p->h / d >= p->out_h_full) return d;
  return 1;
}

static void flip_rows(uint8_t *img, int side) {
  for (int y = 0; y < side; y++) {
    uint8_t *row = img + (size_t)y * side * 3;
    for (int a = 0, b = side - 1; a < b; a++, b--)
      for (int c = 0; c < 3; c++) {
        uint8_t t = row[3 * a + c];
        row[3 * a + c] = row[3 * b + c];
        row[3 * b + c] = t;
      }
  }
}

/* Plans both axes for `plan` on a source of src_w x src_h pixels (the image
 * at scale 1/denom).  As torchvision's resized_crop, the crop is cut out
 * first and then resized, so the filter never reaches past the crop's edge:
 * the crop becomes the resampler's whole input.  At scale 1 it is exactly the
 * box; at 1/denom it is the box's pixel cover, with the fractional box inside.
 * Sets crop_x0/crop_y0 (scaled pixels) to where that input starts. */
static void plan_axes(SampleWorker *w, const CropPlan *p, int side, int denom, int src_w,
                      int src_h) {
  double f = 1.0 / denom;
  double bx0 = p->x0 * f, bx1 = (p->x0 + p->w) * f, by0 = p->y0 * f, by1 = (p->y0 + p->h) * f;
  int cx0 = (int)floor(bx0), cy0 = (int)floor(by0);
  int cx1 = (int)ceil(bx1), cy1 = (int)ceil(by1);
  cx1 = cx1 < src_w ? cx1 : src_w;
  cy1 = cy1 < src_h ? cy1 : src_h;
  resample_plan(&w->ax, cx1 - cx0, bx0 - cx0, bx1 - cx0, p->out_w_full, p->win_x, side);
  resample_plan(&w->ay, cy1 - cy0, by0 - cy0, by1 - cy0, p->out_h_full, p->win_y, side);
  w->crop_x0 = cx0;
  w->crop_y0 = cy0;
  size_t need = resample_tmp_bytes(&w->ax, &w->ay);
  if (need > w->tmp_cap) {
    mem_free(w->tmp);
    w->tmp = mem_alloc_or_die(need, "resample buffer");
    w->tmp_cap = need;
  }
}

/* Pad-crop: copy the box, zero outside the source (bpp bytes a pixel). */
static void copy_box(const CropPlan *p, int side, const uint8_t *src, size_t stride, int bpp,
                     int x_org, int y_org, int src_w, int src_h, uint8_t *out) {
  for (int v = 0; v < side; v++) {
    int y = p->y0 + v;
    uint8_t *row = out + (size_t)v * side * 3;
    for (int u = 0; u < side; u++) {
      int x = p->x0 + u;
      if (x < 0 || y < 0 || x >= src_w || y >= src_h) {
        row[3 * u] = row[3 * u + 1] = row[3 * u + 2] = 0;
        continue;
      }
      memcpy(row + 3 * u, src + (size_t)(y - y_org) * stride + (size_t)(x - x_org) * bpp, 3);
    }
  }
}

int sample_from_jpeg(SampleWorker *w, const AugmentSpec *a, RngStream *rng,
                     const uint8_t *jpeg, size_t n_bytes, uint8_t *out) {
  JpegInfo info;
  if (jpegdec_info(w->dec, jpeg, n_bytes, &info)) {
    snprintf(w->msg, sizeof w->msg, "%s", jpegdec_error(w->dec));
    return -1;
  }
  CropPlan p;
  augment_plan(a, info.width, info.height, rng, &p);
  int side = a->out_side;
  JpegRegion r;
  if (a->mode == AUG_PAD_CROP) {
    if (jpegdec_region(w->dec, jpeg, n_bytes, 1, 0, 0, info.width, info.height, &r)) {
      snprintf(w->msg, sizeof w->msg, "%s", jpegdec_error(w->dec));
      return -1;
    }
    copy_box(&p, side, r.pixels, r.stride, 4, r.x0, r.y0, r.full_w, r.full_h, out);
    if (p.flip) flip_rows(out, side);
    return 0;
  }
  int denom = sample_pick_denom(&p);
  plan_axes(w, &p, side, denom, jpegdec_scaled(info.width, denom),
            jpegdec_scaled(info.height, denom));
  int x0 = w->crop_x0, y0 = w->crop_y0;
  if (jpegdec_region(w->dec, jpeg, n_bytes, denom, x0 + w->ax.src_lo - REGION_MARGIN,
                     y0 + w->ay.src_lo - REGION_MARGIN, x0 + w->ax.src_hi + REGION_MARGIN,
                     y0 + w->ay.src_hi + REGION_MARGIN, &r)) {
    snprintf(w->msg, sizeof w->msg, "%s", jpegdec_error(w->dec));
    return -1;
  }
  resample_run(&w->ax, &w->ay, r.pixels, r.stride, 4, r.x0 - x0, r.y0 - y0, w->tmp, out,
               (size_t)side * 3);
  if (p.flip) flip_rows(out, side);
  return 0;
}

void sample_crop_resize(SampleWorker *w, const CropPlan *p, int side, int denom, int src_w,
                        int src_h, const uint8_t *region, size_t stride, int bpp, int rx0,
                        int ry0, uint8_t *out) {
  plan_axes(w, p, side, denom, src_w, src_h);
  resample_run(&w->ax, &w->ay, region, stride, bpp, rx0 - w->crop_x0, ry0 - w->crop_y0, w->tmp,
               out, (size_t)side * 3);
  if (p->flip) flip_rows(out, side);
}

void sample_from_pixels(SampleWorker *w, const AugmentSpec *a, RngStream *rng,
                        const uint8_t *px, int width, int height, uint8_t *out) {
  CropPlan p;
  augment_plan(a, width, height, rng, &p);
  int side = a->out_side;
  size_t stride = (size_t)width * 3;
  if (a->mode != AUG_PAD_CROP) {
    sample_crop_resize(w, &p, side, 1, width, height, px, stride, 3, 0, 0, out);
    return;
  }
  copy_box(&p, side, px, stride, 3, 0, 0, width, height, out);
  if (p.flip) flip_rows(out, side);
}
