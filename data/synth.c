/* synth.c - synthetic images: class stripes + sample jitter + pixel noise;
 * see synth.h for what makes them learnable and deterministic. */
#include "data/synth.h"

#include <math.h>
#include <stddef.h>

#include "core/rng.h"

typedef struct {
  float col_a[3], col_b[3];  /* the two stripe colours, 0..255 */
  float kx, ky;              /* radians per native pixel along x and y */
  float phase;
  float brightness;          /* added to every channel */
  float noise_amp;           /* peak-to-peak / 2 of the per-pixel noise */
  uint64_t noise_key;
} SynthLook;

static void sample_stream(RngStream *rs, uint64_t seed, int split, int64_t index) {
  rng_stream_init(rs, seed, rng_id_hi(RNG_DOMAIN_SYNTH, (uint32_t)split), (uint32_t)index);
}

int synth_label(uint64_t seed, int split, int64_t index, int num_classes) {
  RngStream rs;
  sample_stream(&rs, seed, split, index);
  return (int)rng_below(&rs, (uint32_t)num_classes);
}

/* The look of a sample: its class prototype, jittered by the sample stream. */
static void make_look(uint64_t seed, int split, int64_t index, int num_classes, int native_w,
                      int native_h, SynthLook *look) {
  RngStream rs, cls;
  sample_stream(&rs, seed, split, index);
  int label = (int)rng_below(&rs, (uint32_t)num_classes);
  rng_stream_init(&cls, seed, rng_id_hi(RNG_DOMAIN_SYNTH, SYNTH_SUB_CLASS), (uint32_t)label);
  for (int c = 0; c < 3; c++) look->col_a[c] = (float)rng_uniform_range(&cls, 0, 255);
  for (int c = 0; c < 3; c++) look->col_b[c] = (float)rng_uniform_range(&cls, 0, 255);
  double angle = rng_uniform_range(&cls, 0, M_PI) + rng_uniform_range(&rs, -0.15, 0.15);
  double cycles = rng_uniform_range(&cls, 1.5, 6.0) * rng_uniform_range(&rs, 0.9, 1.1);
  double side = native_w < native_h ? native_w : native_h;
  double k = 2.0 * M_PI * cycles / side;
  look->kx = (float)(k * cos(angle));
  look->ky = (float)(k * sin(angle));
  look->phase = (float)rng_uniform_range(&rs, 0, 2.0 * M_PI);
  look->brightness = (float)rng_uniform_range(&rs, -24, 24);
  look->noise_amp = 24.0f;
  look->noise_key = rng_u64(&rs);
}

static uint8_t to_u8(float v) { return (uint8_t)(v < 0.f ? 0 : v > 255.f ? 255 : v + 0.5f); }

/* Colour of native point (x, y) (continuous; noise from its pixel). */
static void shade(const SynthLook *l, float x, float y, uint8_t *px) {
  float t = 0.5f + 0.5f * sinf(l->kx * x + l->ky * y + l->phase);
  uint64_t h = rng_mix64(l->noise_key ^ ((uint64_t)(uint32_t)(int)x << 32) ^ (uint32_t)(int)y);
  float noise = ((float)(h & 0xFFFF) / 65535.0f * 2.0f - 1.0f) * l->noise_amp;
  for (int c = 0; c < 3; c++)
    px[c] = to_u8(l->col_a[c] + (l->col_b[c] - l->col_a[c]) * t + l->brightness + noise);
}

void synth_render_crop(uint64_t seed, int split, int64_t index, int num_classes, int native_w,
                       int native_h, const CropPlan *p, int out_side, uint8_t *out) {
  SynthLook look;
  make_look(seed, split, index, num_classes, native_w, native_h, &look);
  double sx = (double)p->w / p->out_w_full, sy = (double)p->h / p->out_h_full;
  for (int v = 0; v < out_side; v++) {
    double y = p->y0 + (p->win_y + v + 0.5) * sy;
    for (int u = 0; u < out_side; u++) {
      int uu = p->flip ? out_side - 1 - u : u;
      double x = p->x0 + (p->win_x + uu + 0.5) * sx;
      uint8_t *px = out + ((size_t)v * out_side + u) * 3;
      if (x < 0 || y < 0 || x >= native_w || y >= native_h) {
        px[0] = px[1] = px[2] = 0;
        continue;
      }
      shade(&look, (float)x, (float)y, px);
    }
  }
}

void synth_render_image(uint64_t seed, int split, int64_t index, int num_classes, int w, int h,
                        uint8_t *out) {
  SynthLook look;
  make_look(seed, split, index, num_classes, w, h, &look);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      shade(&look, (float)x + 0.5f, (float)y + 0.5f, out + ((size_t)y * w + x) * 3);
}

void synth_image_size(uint64_t seed, int split, int64_t index, int min_side, int max_side,
                      int *w, int *h) {
  RngStream rs;
  rng_stream_init(&rs, seed, rng_id_hi(RNG_DOMAIN_SYNTH, SYNTH_SUB_SIZE + (uint32_t)split),
                  (uint32_t)index);
  int short_side = min_side + (int)rng_below(&rs, (uint32_t)(max_side - min_side + 1));
  int long_side = (int)(short_side * rng_uniform_range(&rs, 1.0, 1.6) + 0.5);
  int landscape = rng_below(&rs, 3) < 2;
  *w = landscape ? long_side : short_side;
  *h = landscape ? short_side : long_side;
}
