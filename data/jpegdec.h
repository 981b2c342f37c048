/* jpegdec.h - JPEG to RGB, decoding only what a crop needs.
 *
 * Uses libjpeg-turbo's libjpeg API (the same codec as its TurboJPEG API) for
 * what TurboJPEG 2.1 lacks: DCT-domain downscaling by 1/2, 1/4, 1/8 combined
 * with partial decoding -- jpeg_crop_scanline skips the IDCT and colour
 * conversion of iMCU columns left and right of the crop, jpeg_skip_scanlines
 * those of rows above it, and rows below it are never decoded.
 *
 * Output is RGB as PIL's Image.open(...).convert("RGB") gives it with the same
 * libjpeg-turbo: ISLOW IDCT, fancy upsampling; greyscale is replicated; CMYK
 * and YCCK are taken as Adobe-inverted (PIL's "CMYK;I") and converted with
 * PIL's formula.  A decode error and the libjpeg warnings that mean corrupt
 * data (truncated file, bad Huffman code, premature end of a segment) make
 * the call fail with a message; harmless warnings (extraneous bytes before a
 * marker, an unknown JFIF revision) are ignored, as PIL ignores them.
 *
 * One decoder per thread; not thread-safe.
 */
#ifndef RD_DATA_JPEGDEC_H
#define RD_DATA_JPEGDEC_H

#include <stddef.h>
#include <stdint.h>

typedef struct JpegDecoder JpegDecoder;

typedef struct {
  int width, height;  /* full-size image */
  int components;     /* 1 grey, 3 YCbCr/RGB, 4 CMYK/YCCK */
  int is_cmyk;
} JpegInfo;

typedef struct {
  const uint8_t *pixels; /* (h, w, 4) RGBX (X undefined), row stride `stride` bytes; owned
                            by the decoder.  4 bytes a pixel: what the resampler's vector
                            lanes want, and free for libjpeg-turbo's colour conversion. */
  size_t stride;
  int x0, y0, w, h;      /* where this region sits in the scaled image */
  int full_w, full_h;    /* scaled image size */
} JpegRegion;

/* Largest accepted image, in pixels, and most pixels per byte of JPEG data
 * (beyond either the file is reported as corrupt).  A flat image coded with
 * Huffman tables needs at least ~1 byte per 64-256 pixels; only a damaged
 * header or an arithmetic-coded "bomb" claims more, and decoding it would
 * stall a worker for seconds. */
enum { JPEGDEC_MAX_PIXELS = 1 << 27, JPEGDEC_MAX_PIXELS_PER_BYTE = 1024 };

/* Most scans a (progressive) JPEG may have, as TurboJPEG's TJFLAG_LIMITSCANS:
 * real encoders write about 10; a damaged or hostile file with thousands
 * would make the decoder pass over the coefficients thousands of times.
 * jpegdec_scans_ok(n): whether scan number n (from 1) is still accepted. */
enum { JPEGDEC_MAX_SCANS = 500 };
int jpegdec_scans_ok(int scan_number);

JpegDecoder *jpegdec_new(void);
void jpegdec_free(JpegDecoder *d);

/* Size of the image after decoding at 1/denom (libjpeg's rounding up). */
int jpegdec_scaled(int side, int denom);

/* Reads the header.  0, or -1 with jpegdec_error(). */
int jpegdec_info(JpegDecoder *d, const uint8_t *data, size_t n_bytes, JpegInfo *info);

/* Decodes at scale 1/denom (1, 2, 4 or 8) at least the rectangle [x0, x1) x
 * [y0, y1) of the scaled image (clamped to it); the region returned may be
 * wider (iMCU alignment).  0, or -1 with jpegdec_error(). */
int jpegdec_region(JpegDecoder *d, const uint8_t *data, size_t n_bytes, int denom, int x0,
                   int y0, int x1, int y1, JpegRegion *out);

/* Message of the last failure. */
const char *jpegdec_error(const JpegDecoder *d);

#endif
