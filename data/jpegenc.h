/* jpegenc.h - RGB to JPEG with TurboJPEG (tjCompress2), for the shard tool,
 * the synthetic JPEG generator and tests.  Accurate (ISLOW) DCT; chroma
 * 4:2:0 (what cameras and ImageNet use) or 4:4:4 (for conversions that
 * should lose as little as possible).  One encoder per thread. */
#ifndef RD_DATA_JPEGENC_H
#define RD_DATA_JPEGENC_H

#include <stddef.h>
#include <stdint.h>

typedef struct JpegEncoder JpegEncoder;

JpegEncoder *jpegenc_new(void);
void jpegenc_free(JpegEncoder *e);

typedef enum { JPEGENC_420 = 0, JPEGENC_444 = 1 } JpegChroma;

/* Encodes rgb (h, w, 3) at quality 1..100.  The returned bytes stay valid
 * until the next call on this encoder; *n_bytes is their length. */
const uint8_t *jpegenc_rgb(JpegEncoder *e, const uint8_t *rgb, int w, int h, int quality,
                           int chroma, size_t *n_bytes);

#endif
