/* augment.h - where a training or validation crop comes from (pure geometry).
 *
 * Every function here is a pure function of the image size, the spec and a
 * per-sample RngStream (RNG_DOMAIN_AUGMENT, sub-id epoch, id_lo = global
 * sample index), so a sample's crop never depends on thread or rank count.
 *
 *   RandomResizedCrop: torchvision.transforms.RandomResizedCrop.get_params
 *     (v0.14): ten tries of (area fraction ~ U(scale), log aspect ~
 *     U(log ratio)), w = round(sqrt(A*r)), h = round(sqrt(A/r)), accepted when
 *     0 < w <= W and 0 < h <= H, offsets uniform; else the central fallback
 *     crop clamped to the ratio range.  Then a horizontal flip with p = 0.5.
 *   Validation: torchvision Resize(val_resize) (shorter side, the longer one
 *     int(resize * long / short)) then CenterCrop(val_crop) with Python's
 *     round-half-even offsets.
 *   Pad-crop (CIFAR): RandomCrop(size, padding=pad) then the flip.
 *
 * A crop is described as a box in source pixels (x0, y0, w, h; may extend
 * past the image for pad-crop, where the outside is zero) that is resampled
 * to an output of (out_w_full, out_h_full) pixels, of which the window
 * (win_x, win_y, out_w, out_h) is kept.
 */
#ifndef RD_DATA_AUGMENT_H
#define RD_DATA_AUGMENT_H

#include "core/rng.h"

typedef enum {
  AUG_RRC = 0,      /* RandomResizedCrop + flip */
  AUG_PAD_CROP = 1, /* zero pad, random crop at native size + flip */
  AUG_CENTER = 2,   /* resize shorter side, center crop (evaluation) */
} AugMode;

typedef struct {
  int mode;                      /* AugMode */
  int out_side;                  /* output is out_side x out_side */
  int resize;                    /* AUG_CENTER: shorter side after resize */
  double scale_min, scale_max;   /* AUG_RRC: area fraction range */
  double ratio_min, ratio_max;   /* AUG_RRC: aspect ratio (w/h) range */
  int pad;                       /* AUG_PAD_CROP: zero border */
  int flip;                      /* random horizontal flip (not AUG_CENTER) */
} AugmentSpec;

typedef struct {
  int x0, y0, w, h;              /* source box, pixels (may exceed the image) */
  int out_w_full, out_h_full;    /* the box is resampled to this size ... */
  int win_x, win_y;              /* ... and this window of out_side^2 is kept */
  int flip;                      /* mirror the output horizontally */
} CropPlan;

/* The crop of one sample from a (src_w x src_h) image. */
void augment_plan(const AugmentSpec *a, int src_w, int src_h, RngStream *rng, CropPlan *plan);

/* torchvision RandomResizedCrop.get_params: box (x0, y0, w, h). */
void augment_rrc_box(int src_w, int src_h, double scale_min, double scale_max,
                     double ratio_min, double ratio_max, RngStream *rng, int box[4]);

/* Python's round() (half to even) on doubles, as torchvision uses. */
int augment_round_half_even(double x);

#endif
