/* jpegdec.c - scaled, partial JPEG decoding to RGB with libjpeg-turbo's
 * libjpeg API; see jpegdec.h.  libjpeg reports errors through error_exit,
 * which must not return: we longjmp back to the call, abort the decompressor
 * (which keeps it reusable) and report the sample as corrupt. */
#include "data/jpegdec.h"

#include <setjmp.h>
#include <stdio.h>
#include <string.h>

#include <jerror.h>
#include <jpeglib.h>

#include "core/check.h"
#include "core/mem.h"

struct JpegDecoder {
  struct jpeg_decompress_struct cinfo;
  struct jpeg_error_mgr jerr;
  struct jpeg_progress_mgr progress;
  jmp_buf jump;
  char msg[JMSG_LENGTH_MAX + 32];
  uint8_t *buf;        /* decoded region (RGB or CMYK rows) */
  size_t buf_cap;
  JSAMPROW *rows;      /* row pointers into buf */
  size_t rows_cap;
};

static void on_error(j_common_ptr cinfo) {
  JpegDecoder *d = cinfo->client_data;
  (*cinfo->err->format_message)(cinfo, d->msg);
  longjmp(d->jump, 1);
}

/* Warnings that mean the pixels are not what was encoded. */
static int warning_is_corruption(int code) {
  return code == JWRN_HIT_MARKER || code == JWRN_HUFF_BAD_CODE || code == JWRN_JPEG_EOF ||
         code == JWRN_MUST_RESYNC;
}

static void on_message(j_common_ptr cinfo, int level) {
  if (level >= 0 || !warning_is_corruption(cinfo->err->msg_code)) return;
  on_error(cinfo);
}

int jpegdec_scans_ok(int scan_number) { return scan_number <= JPEGDEC_MAX_SCANS; }

/* libjpeg calls this while it reads the scans of a multi-scan (progressive)
 * file; like TurboJPEG's TJFLAG_LIMITSCANS, too many scans are corruption. */
static void on_progress(j_common_ptr cinfo) {
  if (!cinfo->is_decompressor) return;
  int scan = ((j_decompress_ptr)cinfo)->input_scan_number;
  if (jpegdec_scans_ok(scan)) return;
  JpegDecoder *d = cinfo->client_data;
  snprintf(d->msg, sizeof d->msg, "progressive JPEG with more than %d scans",
           JPEGDEC_MAX_SCANS);
  longjmp(d->jump, 1);
}

JpegDecoder *jpegdec_new(void) {
  JpegDecoder *d = mem_calloc_or_die(1, sizeof *d, "JPEG decoder");
  d->cinfo.err = jpeg_std_error(&d->jerr);
  d->jerr.error_exit = on_error;
  d->jerr.emit_message = on_message;
  d->cinfo.client_data = d;
  jpeg_create_decompress(&d->cinfo);
  d->progress.progress_monitor = on_progress;
  d->cinfo.progress = &d->progress;
  return d;
}

void jpegdec_free(JpegDecoder *d) {
  if (!d) return;
  jpeg_destroy_decompress(&d->cinfo);
  mem_free(d->buf);
  mem_free(d->rows);
  mem_free(d);
}

const char *jpegdec_error(const JpegDecoder *d) { return d->msg; }

int jpegdec_scaled(int side, int denom) { return (side + denom - 1) / denom; }

/* jpeg_read_header on a memory buffer; the caller has set the jump. */
static void read_header(JpegDecoder *d, const uint8_t *data, size_t n_bytes) {
  jpeg_mem_src(&d->cinfo, data, (unsigned long)n_bytes);
  if (jpeg_read_header(&d->cinfo, TRUE) != JPEG_HEADER_OK) {
    snprintf(d->msg, sizeof d->msg, "no image in the JPEG stream (tables only)");
    longjmp(d->jump, 1);
  }
  double n_pixels = (double)d->cinfo.image_width * d->cinfo.image_height;
  if (n_pixels > JPEGDEC_MAX_PIXELS) {
    snprintf(d->msg, sizeof d->msg, "image of %ux%u pixels is larger than accepted",
             d->cinfo.image_width, d->cinfo.image_height);
    longjmp(d->jump, 1);
  }
  if (n_pixels > 65536.0 + (double)JPEGDEC_MAX_PIXELS_PER_BYTE * n_bytes) {
    snprintf(d->msg, sizeof d->msg, "header claims %ux%u pixels for %zu bytes of data",
             d->cinfo.image_width, d->cinfo.image_height, n_bytes);
    longjmp(d->jump, 1);
  }
}

static int is_cmyk(const struct jpeg_decompress_struct *c) {
  return c->jpeg_color_space == JCS_CMYK || c->jpeg_color_space == JCS_YCCK;
}

int jpegdec_info(JpegDecoder *d, const uint8_t *data, size_t n_bytes, JpegInfo *info) {
  d->msg[0] = '\0';
  if (setjmp(d->jump)) {
    jpeg_abort_decompress(&d->cinfo);
    return -1;
  }
  read_header(d, data, n_bytes);
  info->width = (int)d->cinfo.image_width;
  info->height = (int)d->cinfo.image_height;
  info->components = d->cinfo.num_components;
  info->is_cmyk = is_cmyk(&d->cinfo);
  jpeg_abort_decompress(&d->cinfo);
  return 0;
}

static void reserve(JpegDecoder *d, size_t n_bytes, size_t n_rows) {
  if (n_bytes > d->buf_cap) {
    mem_free(d->buf);
    d->buf = mem_alloc_or_die(n_bytes, "decoded JPEG region");
    d->buf_cap = n_bytes;
  }
  if (n_rows > d->rows_cap) {
    mem_free(d->rows);
    d->rows = mem_alloc_or_die(n_rows * sizeof(JSAMPROW), "JPEG row pointers");
    d->rows_cap = n_rows;
  }
}

/* PIL: inverted CMYK (c, m, y, k stored as 255 - value) to RGBX in place,
 * channel = (255 - k) - (255 - k) * c / 255 with PIL's rounded division. */
static void cmyk_rows_to_rgbx(uint8_t *buf, int w, int h, size_t stride) {
  for (int y = 0; y < h; y++) {
    uint8_t *px = buf + (size_t)y * stride;
    for (int x = 0; x < w; x++, px += 4) {
      int nk = px[3];
      for (int c = 0; c < 3; c++) {
        int tmp = (255 - px[c]) * nk + 128;
        int v = nk - (((tmp >> 8) + tmp) >> 8);
        px[c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
      }
    }
  }
}

static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* The work of jpegdec_region; errors longjmp out of it. */
static void decode_region(JpegDecoder *d, const uint8_t *data, size_t n_bytes, int denom,
                          int x0, int y0, int x1, int y1, JpegRegion *out) {
  struct jpeg_decompress_struct *c = &d->cinfo;
  read_header(d, data, n_bytes);
  int cmyk = is_cmyk(c);
  c->out_color_space = cmyk ? JCS_CMYK : JCS_EXT_RGBX;
  c->scale_num = 1;
  c->scale_denom = (unsigned)denom;
  c->dct_method = JDCT_ISLOW;
  jpeg_start_decompress(c);
  int full_w = (int)c->output_width, full_h = (int)c->output_height;
  x0 = clampi(x0, 0, full_w - 1);
  x1 = clampi(x1, x0 + 1, full_w);
  y0 = clampi(y0, 0, full_h - 1);
  y1 = clampi(y1, y0 + 1, full_h);
  JDIMENSION xoff = (JDIMENSION)x0, width = (JDIMENSION)(x1 - x0);
  if ((int)width < full_w) jpeg_crop_scanline(c, &xoff, &width);
  int n_rows = y1 - y0;
  size_t stride = (size_t)width * 4;
  reserve(d, stride * (size_t)n_rows, (size_t)n_rows);
  for (int r = 0; r < n_rows; r++) d->rows[r] = d->buf + (size_t)r * stride;
  if (y0 > 0) jpeg_skip_scanlines(c, (JDIMENSION)y0);
  for (int done = 0; done < n_rows;) {
    int got = (int)jpeg_read_scanlines(c, d->rows + done, (JDIMENSION)(n_rows - done));
    if (got <= 0) {
      snprintf(d->msg, sizeof d->msg, "decoder returned no rows at row %d", y0 + done);
      longjmp(d->jump, 1);
    }
    done += got;
  }
  jpeg_abort_decompress(c);
  if (cmyk) cmyk_rows_to_rgbx(d->buf, (int)width, n_rows, stride);
  out->pixels = d->buf;
  out->stride = stride;
  out->x0 = (int)xoff;
  out->y0 = y0;
  out->w = (int)width;
  out->h = n_rows;
  out->full_w = full_w;
  out->full_h = full_h;
}

int jpegdec_region(JpegDecoder *d, const uint8_t *data, size_t n_bytes, int denom, int x0,
                   int y0, int x1, int y1, JpegRegion *out) {
  d->msg[0] = '\0';
  if (setjmp(d->jump)) {
    jpeg_abort_decompress(&d->cinfo);
    return -1;
  }
  decode_region(d, data, n_bytes, denom, x0, y0, x1, y1, out);
  return 0;
}
