/* sample.h - one sample's stored form to its output crop (uint8 HWC RGB).
 *
 * From JPEG bytes: read the header, plan the crop (augment.h), pick the
 * smallest DCT scale 1/8..1 at which the crop still has at least the output's
 * resolution, decode only the rows and iMCU columns the resampler needs
 * (jpegdec.h), resample PIL-exactly (resample.h), flip.  From raw pixels
 * (CIFAR-style shards): the same without the decode.  Pad-crop copies with a
 * zero border.  At scale 1 the result equals torchvision + PIL on the same
 * file bit for bit (tests/data/test_val_oracle.py); at scales < 1 the DCT
 * downscale stands in for part of PIL's antialiasing filter.
 *
 * A SampleWorker holds one thread's decoder and scratch buffers (not shared).
 */
#ifndef RD_DATA_SAMPLE_H
#define RD_DATA_SAMPLE_H

#include <stddef.h>
#include <stdint.h>

#include "core/rng.h"
#include "data/augment.h"

typedef struct SampleWorker SampleWorker;

SampleWorker *sample_worker_new(void);
void sample_worker_free(SampleWorker *w);

/* out (a->out_side, a->out_side, 3).  0, or -1 if the JPEG is corrupt
 * (sample_worker_error says why). */
int sample_from_jpeg(SampleWorker *w, const AugmentSpec *a, RngStream *rng,
                     const uint8_t *jpeg, size_t n_bytes, uint8_t *out);

/* px (h, w, 3) -> out (a->out_side, a->out_side, 3). */
void sample_from_pixels(SampleWorker *w, const AugmentSpec *a, RngStream *rng,
                        const uint8_t *px, int width, int height, uint8_t *out);

/* The crop `plan` (source pixels of the full-size image) of an image decoded
 * at scale 1/denom (src_w x src_h pixels at that scale), from a decoded
 * region whose pixel (0, 0) is scaled pixel (rx0, ry0) -- bpp bytes a pixel
 * (3 RGB, 4 RGBX), row stride `stride` -- covering at least the crop (a whole
 * decoded image always does), to out (side, side, 3), mirrored when the plan
 * says so.  Not for AUG_PAD_CROP. */
void sample_crop_resize(SampleWorker *w, const CropPlan *plan, int side, int denom, int src_w,
                        int src_h, const uint8_t *region, size_t stride, int bpp, int rx0,
                        int ry0, uint8_t *out);

/* DCT scale denominator (1, 2, 4, 8) the crop `plan` would be decoded at. */
int sample_pick_denom(const CropPlan *plan);

const char *sample_worker_error(const SampleWorker *w);

#endif
