/* fuzz_seeds.c - writes the starting corpora of the fuzz targets:
 *   fuzz_seeds JPEG_DIR SHARD_DIR
 * JPEGs (4:2:0 / 4:4:4 / greyscale / CMYK, several sizes) each prefixed by
 * the two mode bytes fuzz_jpeg reads, and shard descriptions in the input
 * layout of fuzz_shard.c (jpeg, raw, arbitrary offsets, truncated). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <turbojpeg.h>

#include "data/jpegenc.h"
#include "data/synth.h"

static void write_file(const char *dir, const char *name, const uint8_t *a, size_t na,
                       const uint8_t *b, size_t nb) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  if (!f) exit(1);
  fwrite(a, 1, na, f);
  fwrite(b, 1, nb, f);
  fclose(f);
}

/* A CMYK JPEG of the RGB image (TurboJPEG converts the pixels for us). */
static void cmyk_jpeg(const char *dir, const uint8_t *rgb, int w, int h) {
  uint8_t *cmyk = malloc((size_t)w * h * 4);
  for (int i = 0; i < w * h; i++) {
    for (int c = 0; c < 3; c++) cmyk[4 * i + c] = (uint8_t)(255 - rgb[3 * i + c]);
    cmyk[4 * i + 3] = 0;
  }
  tjhandle tj = tjInitCompress();
  unsigned char *buf = NULL;
  unsigned long n = 0;
  if (tjCompress2(tj, cmyk, w, 0, h, TJPF_CMYK, &buf, &n, TJSAMP_420, 85, 0) == 0) {
    uint8_t mode[2] = {0, 3};
    write_file(dir, "cmyk.bin", mode, 2, buf, n);
  }
  tjFree(buf);
  tjDestroy(tj);
  free(cmyk);
}

int main(int argc, char **argv) {
  if (argc != 3) return 2;
  JpegEncoder *enc = jpegenc_new();
  static uint8_t rgb[96 * 80 * 3];
  int sizes[4][2] = {{96, 80}, {17, 33}, {64, 64}, {9, 8}};
  for (int k = 0; k < 4; k++) {
    int w = sizes[k][0], h = sizes[k][1];
    synth_render_image(1, 0, k, 5, w, h, rgb);
    for (int chroma = 0; chroma < 2; chroma++) {
      size_t n;
      const uint8_t *jpeg = jpegenc_rgb(enc, rgb, w, h, 80, chroma, &n);
      uint8_t mode[2] = {(uint8_t)(k * 3 + chroma), (uint8_t)(k * 7)};
      char name[64];
      snprintf(name, sizeof name, "jpeg_%d_%d.bin", k, chroma);
      write_file(argv[1], name, mode, 2, jpeg, n);
    }
  }
  for (int i = 0; i < 64 * 64; i++) rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = (uint8_t)i;
  cmyk_jpeg(argv[1], rgb, 64, 64);
  /* fuzz_shard inputs: header, labels, offsets, then record bytes */
  static const uint8_t headers[4][8] = {{0, 5, 3, 4, 0, 0, 0, 0},     /* good jpeg shard */
                                        {4, 5, 3, 4, 8, 7, 0, 0},     /* good raw shard */
                                        {64, 5, 3, 4, 0, 0, 0, 1},    /* arbitrary offsets */
                                        {128, 5, 3, 4, 0, 0, 200, 0}}; /* truncated */
  for (int k = 0; k < 4; k++) {
    uint8_t prefix[8 + 3 + 4];
    memcpy(prefix, headers[k], 8);
    for (int i = 0; i < 3; i++) prefix[8 + i] = (uint8_t)i;
    for (int i = 0; i < 4; i++) prefix[11 + i] = (uint8_t)(i * 40);
    synth_render_image(1, 0, k, 4, 24, 16, rgb);
    size_t n;
    const uint8_t *jpeg = k == 1 ? rgb : jpegenc_rgb(enc, rgb, 24, 16, 70, 0, &n);
    if (k == 1) n = 3 * 8 * 8 * 3;
    uint8_t *body = malloc(3 * n);
    for (int i = 0; i < 3; i++) memcpy(body + i * n, jpeg, n);
    char name[64];
    snprintf(name, sizeof name, "shard_%d.bin", k);
    write_file(argv[2], name, prefix, sizeof prefix, body, 3 * n);
    free(body);
  }
  jpegenc_free(enc);
  return 0;
}
