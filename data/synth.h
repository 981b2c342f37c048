/* synth.h - a deterministic, learnable synthetic image-classification set.
 *
 * Sample i of a split is a pure function of (seed, split, i): its label and
 * look come from the Philox stream (RNG_DOMAIN_SYNTH, sub-id split, id_lo i);
 * each class has a prototype from (RNG_DOMAIN_SYNTH, sub-id SYNTH_SUB_CLASS,
 * id_lo class): two colours, a stripe orientation and a spatial frequency.
 * A sample is the class's stripes between its two colours, with its own
 * phase, small orientation / frequency / brightness jitter and per-pixel
 * noise: a small ResNet separates the classes within a few epochs, but not
 * from one pixel.  The pattern is continuous in image coordinates, so a crop
 * is rendered directly at the output resolution (no decode, no resize),
 * while the noise lives on the native pixel grid.
 *
 * Used by the in-memory source (data.source=synthetic; the workers render on
 * the fly) and by `resnet_shards synth` (rendered at varied sizes, encoded to
 * JPEG).
 */
#ifndef RD_DATA_SYNTH_H
#define RD_DATA_SYNTH_H

#include <stdint.h>

#include "data/augment.h"

/* Sub-ids of RNG_DOMAIN_SYNTH: 0 and 1 are the samples of SPLIT_TRAIN and
 * SPLIT_VAL, 2 the class prototypes, 3 + split the image sizes. */
enum { SYNTH_SUB_CLASS = 2, SYNTH_SUB_SIZE = 3 };

/* Label of sample `index` of `split`, in [0, num_classes). */
int synth_label(uint64_t seed, int split, int64_t index, int num_classes);

/* Renders the crop `plan` of the sample (native size native_w x native_h)
 * into out (out_side, out_side, 3); box parts outside the image are black. */
void synth_render_crop(uint64_t seed, int split, int64_t index, int num_classes, int native_w,
                       int native_h, const CropPlan *plan, int out_side, uint8_t *out);

/* Size of generated image `index` for the JPEG generator: shorter side
 * uniform in [min_side, max_side], aspect 1..1.6, landscape 2 times in 3. */
void synth_image_size(uint64_t seed, int split, int64_t index, int min_side, int max_side,
                      int *w, int *h);

/* The whole native image into out (h, w, 3). */
void synth_render_image(uint64_t seed, int split, int64_t index, int num_classes, int w, int h,
                        uint8_t *out);

#endif
