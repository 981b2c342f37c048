/* fuzz_jpeg.c - libFuzzer target: arbitrary bytes through the JPEG decode and
 * augment path (header, scaled partial decode, crop planning, resampling,
 * flip) in every mode a pipeline uses.  The first two bytes pick the mode,
 * the output size and the sample's RNG stream; the rest is the "file".
 * Failing to decode is fine (the pipeline counts and replaces it); reading
 * out of bounds, leaking, undefined behaviour or aborting is not. */
#include <stddef.h>
#include <stdint.h>

#include "core/rng.h"
#include "data/augment.h"
#include "data/sample.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static SampleWorker *w;
  static uint8_t out[64 * 64 * 3];
  if (size < 2) return 0;
  if (!w) w = sample_worker_new();
  int mode = data[0] % 3, side = 8 + (data[0] / 3) % 57;
  AugmentSpec a = {mode, side, side + data[1] % 32, 0.08, 1.0, 0.75, 4.0 / 3.0, 4, 1};
  RngStream rs;
  rng_stream_init(&rs, 1, rng_id_hi(RNG_DOMAIN_AUGMENT, 0), data[1]);
  sample_from_jpeg(w, &a, &rs, data + 2, size - 2, out);
  return 0;
}
