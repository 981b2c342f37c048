/* png.c - see png.h. */
#include "plot/png.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

#include "core/mem.h"

static void put_be32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

/* length, type, data, CRC over type + data. */
static int write_chunk(FILE *f, const char type[4], const uint8_t *data, size_t n_bytes) {
  uint8_t head[8], tail[4];
  put_be32(head, (uint32_t)n_bytes);
  memcpy(head + 4, type, 4);
  uLong crc = crc32(0L, Z_NULL, 0);
  crc = crc32(crc, (const Bytef *)type, 4);
  if (n_bytes) crc = crc32(crc, data, (uInt)n_bytes);
  put_be32(tail, (uint32_t)crc);
  return fwrite(head, 1, 8, f) == 8 && (n_bytes == 0 || fwrite(data, 1, n_bytes, f) == n_bytes) &&
                 fwrite(tail, 1, 4, f) == 4
             ? 0
             : -1;
}

/* Scanlines with their filter byte (0 = none), zlib-compressed. */
static uint8_t *compress_rows(const uint8_t *rgb, int w, int h, size_t *n_out) {
  size_t row = (size_t)w * 3 + 1;
  size_t raw_n = row * (size_t)h;
  uint8_t *raw = mem_alloc_or_die(raw_n, "PNG scanlines");
  for (int y = 0; y < h; y++) {
    raw[(size_t)y * row] = 0;
    memcpy(raw + (size_t)y * row + 1, rgb + (size_t)y * (size_t)w * 3, (size_t)w * 3);
  }
  uLongf out_n = compressBound((uLong)raw_n);
  uint8_t *out = mem_alloc_or_die(out_n, "PNG image data");
  int rc = compress2(out, &out_n, raw, (uLong)raw_n, 6);
  mem_free(raw);
  if (rc != Z_OK) {
    mem_free(out);
    return NULL;
  }
  *n_out = out_n;
  return out;
}

int png_write_rgb(const char *path, const uint8_t *rgb, int w, int h, char *err, size_t err_len) {
  static const uint8_t SIGNATURE[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  size_t idat_n = 0;
  uint8_t *idat = compress_rows(rgb, w, h, &idat_n);
  if (!idat) {
    snprintf(err, err_len, "%s: zlib could not compress the image", path);
    return -1;
  }
  uint8_t ihdr[13];
  put_be32(ihdr, (uint32_t)w);
  put_be32(ihdr + 4, (uint32_t)h);
  ihdr[8] = 8;  /* bit depth */
  ihdr[9] = 2;  /* colour type: truecolour RGB */
  ihdr[10] = 0; /* deflate */
  ihdr[11] = 0; /* adaptive filtering (filter type 0 on every line) */
  ihdr[12] = 0; /* no interlace */
  FILE *f = fopen(path, "wb");
  int rc = f ? 0 : -1;
  if (!rc) rc = fwrite(SIGNATURE, 1, 8, f) == 8 ? 0 : -1;
  if (!rc) rc = write_chunk(f, "IHDR", ihdr, sizeof ihdr);
  if (!rc) rc = write_chunk(f, "IDAT", idat, idat_n);
  if (!rc) rc = write_chunk(f, "IEND", NULL, 0);
  if (f && fclose(f) != 0) rc = -1;
  mem_free(idat);
  if (rc) snprintf(err, err_len, "cannot write %s: %s", path, strerror(errno));
  return rc;
}
