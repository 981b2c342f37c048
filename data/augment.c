/* augment.c - crop geometry of RandomResizedCrop, center crop and pad-crop;
 * follows torchvision 0.14 transforms.py line by line (see augment.h). */
#include "data/augment.h"

#include <math.h>

int augment_round_half_even(double x) { return (int)nearbyint(x); }

static int imin(int a, int b) { return a < b ? a : b; }

void augment_rrc_box(int src_w, int src_h, double scale_min, double scale_max,
                     double ratio_min, double ratio_max, RngStream *rng, int box[4]) {
  double area = (double)src_w * src_h;
  double log_lo = log(ratio_min), log_hi = log(ratio_max);
  for (int attempt = 0; attempt < 10; attempt++) {
    double target_area = area * rng_uniform_range(rng, scale_min, scale_max);
    double aspect = exp(rng_uniform_range(rng, log_lo, log_hi));
    int w = augment_round_half_even(sqrt(target_area * aspect));
    int h = augment_round_half_even(sqrt(target_area / aspect));
    if (w > 0 && w <= src_w && h > 0 && h <= src_h) {
      box[1] = (int)rng_below(rng, (uint32_t)(src_h - h + 1));
      box[0] = (int)rng_below(rng, (uint32_t)(src_w - w + 1));
      box[2] = w;
      box[3] = h;
      return;
    }
  }
  double in_ratio = (double)src_w / src_h;
  int w = src_w, h = src_h;
  if (in_ratio < ratio_min)
    h = augment_round_half_even(w / ratio_min);
  else if (in_ratio > ratio_max)
    w = augment_round_half_even(h * ratio_max);
  box[0] = (src_w - w) / 2;
  box[1] = (src_h - h) / 2;
  box[2] = w;
  box[3] = h;
}

/* torchvision Resize(size) on the shorter side, then CenterCrop(crop). */
static void center_plan(const AugmentSpec *a, int src_w, int src_h, CropPlan *p) {
  int short_side = imin(src_w, src_h), long_side = src_w + src_h - short_side;
  int new_long = (int)((double)a->resize * long_side / short_side);
  p->out_w_full = src_w <= src_h ? a->resize : new_long;
  p->out_h_full = src_w <= src_h ? new_long : a->resize;
  p->x0 = 0;
  p->y0 = 0;
  p->w = src_w;
  p->h = src_h;
  p->win_x = augment_round_half_even((p->out_w_full - a->out_side) / 2.0);
  p->win_y = augment_round_half_even((p->out_h_full - a->out_side) / 2.0);
  p->flip = 0;
}

void augment_plan(const AugmentSpec *a, int src_w, int src_h, RngStream *rng, CropPlan *p) {
  p->win_x = p->win_y = 0;
  p->out_w_full = p->out_h_full = a->out_side;
  p->flip = 0;
  if (a->mode == AUG_CENTER) {
    center_plan(a, src_w, src_h, p);
    return;
  }
  if (a->mode == AUG_RRC) {
    int box[4];
    augment_rrc_box(src_w, src_h, a->scale_min, a->scale_max, a->ratio_min, a->ratio_max, rng,
                    box);
    p->x0 = box[0];
    p->y0 = box[1];
    p->w = box[2];
    p->h = box[3];
  } else {
    /* RandomCrop(out, padding=pad): offsets in the padded image */
    int span_y = src_h + 2 * a->pad - a->out_side, span_x = src_w + 2 * a->pad - a->out_side;
    p->y0 = (span_y > 0 ? (int)rng_below(rng, (uint32_t)span_y + 1) : 0) - a->pad;
    p->x0 = (span_x > 0 ? (int)rng_below(rng, (uint32_t)span_x + 1) : 0) - a->pad;
    p->w = p->h = a->out_side;
  }
  if (a->flip) p->flip = rng_uniform(rng) < 0.5;
}
