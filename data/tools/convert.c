/* convert.c - see convert.h. */
#include "data/tools/convert.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/mem.h"
#include "data/jpegdec.h"
#include "data/jpegenc.h"
#include "data/resample.h"
#include "data/tools/files.h"

struct Converter {
  int max_side, quality;
  JpegDecoder *dec;
  JpegEncoder *enc;
  ResampleAxis ax, ay;
  uint8_t *tmp, *rgb;
  size_t tmp_cap, rgb_cap;
};

static const char *const KIND_NAMES[CONV_N_KINDS] = {
    "stored", "greyscale (kept, decoded as RGB)", "CMYK converted to RGB",
    "re-encoded at --max-side", "skipped: PNG", "skipped: not a JPEG",
    "skipped: corrupt JPEG", "skipped: unreadable"};

const char *convert_kind_name(int kind) { return KIND_NAMES[kind]; }

Converter *convert_new(int max_side, int quality) {
  Converter *c = mem_calloc_or_die(1, sizeof *c, "converter");
  c->max_side = max_side;
  c->quality = quality;
  c->dec = jpegdec_new();
  c->enc = jpegenc_new();
  return c;
}

void convert_free(Converter *c) {
  if (!c) return;
  jpegdec_free(c->dec);
  jpegenc_free(c->enc);
  resample_axis_free(&c->ax);
  resample_axis_free(&c->ay);
  mem_free(c->tmp);
  mem_free(c->rgb);
  mem_free(c);
}

static void grow(uint8_t **buf, size_t *cap, size_t need) {
  if (need <= *cap) return;
  mem_free(*buf);
  *buf = mem_alloc_or_die(need, "conversion buffer");
  *cap = need;
}

static void skip(ConvResult *r, int kind, const char *why) {
  r->kind = kind;
  snprintf(r->why, sizeof r->why, "%s", why);
}

/* Decodes (downscaled to fit max_side when asked) to RGB in c->rgb. */
static int decode_rgb(Converter *c, const uint8_t *data, size_t n, const JpegInfo *info,
                      int out_w, int out_h) {
  int denom = 1;
  for (int d = 8; d > 1 && denom == 1; d /= 2)
    if (jpegdec_scaled(info->width, d) >= out_w && jpegdec_scaled(info->height, d) >= out_h)
      denom = d;
  JpegRegion r;
  if (jpegdec_region(c->dec, data, n, denom, 0, 0, jpegdec_scaled(info->width, denom),
                     jpegdec_scaled(info->height, denom), &r))
    return -1;
  grow(&c->rgb, &c->rgb_cap, (size_t)out_w * out_h * 3);
  if (r.full_w == out_w && r.full_h == out_h) {
    for (int y = 0; y < out_h; y++)
      for (int x = 0; x < out_w; x++)
        memcpy(c->rgb + ((size_t)y * out_w + x) * 3, r.pixels + (size_t)y * r.stride + 4 * x, 3);
    return 0;
  }
  resample_plan(&c->ax, r.full_w, 0, r.full_w, out_w, 0, out_w);
  resample_plan(&c->ay, r.full_h, 0, r.full_h, out_h, 0, out_h);
  grow(&c->tmp, &c->tmp_cap, resample_tmp_bytes(&c->ax, &c->ay));
  resample_run(&c->ax, &c->ay, r.pixels, r.stride, 4, 0, 0, c->tmp, c->rgb, (size_t)out_w * 3);
  return 0;
}

void convert_bytes(Converter *c, uint8_t *data, size_t n, ConvResult *r) {
  memset(r, 0, sizeof *r);
  static const uint8_t png_magic[4] = {0x89, 'P', 'N', 'G'};
  if (n < 3 || data[0] != 0xFF || data[1] != 0xD8 || data[2] != 0xFF) {
    if (n >= 4 && !memcmp(data, png_magic, 4))
      skip(r, CONV_SKIP_PNG, "PNG data (libjpeg-turbo cannot decode it)");
    else
      skip(r, CONV_SKIP_FORMAT, "no JPEG start-of-image marker");
    mem_free(data);
    return;
  }
  JpegInfo info;
  if (jpegdec_info(c->dec, data, n, &info)) {
    skip(r, CONV_SKIP_CORRUPT, jpegdec_error(c->dec));
    mem_free(data);
    return;
  }
  int longer = info.width > info.height ? info.width : info.height;
  int resize = c->max_side > 0 && longer > c->max_side;
  if (!resize && !info.is_cmyk) {
    r->kind = info.components == 1 ? CONV_GRAY : CONV_STORED;
    r->data = data;
    r->n_bytes = n;
    return;
  }
  double s = resize ? (double)c->max_side / longer : 1.0;
  int w = (int)lround(info.width * s), h = (int)lround(info.height * s);
  w = w < 1 ? 1 : w;
  h = h < 1 ? 1 : h;
  if (decode_rgb(c, data, n, &info, w, h)) {
    skip(r, CONV_SKIP_CORRUPT, jpegdec_error(c->dec));
    mem_free(data);
    return;
  }
  mem_free(data);
  const uint8_t *jpeg = jpegenc_rgb(c->enc, c->rgb, w, h, c->quality,
                                    info.is_cmyk ? JPEGENC_444 : JPEGENC_420, &r->n_bytes);
  r->data = mem_alloc_or_die(r->n_bytes, "re-encoded JPEG");
  memcpy(r->data, jpeg, r->n_bytes);
  r->kind = info.is_cmyk ? CONV_CMYK : CONV_RESIZED;
}

void convert_file(Converter *c, const char *path, ConvResult *r) {
  size_t n;
  uint8_t *data = files_read(path, &n);
  if (!data) {
    memset(r, 0, sizeof *r);
    skip(r, CONV_SKIP_READ, strerror(errno));
    return;
  }
  convert_bytes(c, data, n, r);
}
