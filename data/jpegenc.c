/* jpegenc.c - TurboJPEG compression of our own pixels; a failure here is a
 * library or memory failure, hence fatal (TJ_CHECK).  See jpegenc.h. */
#include "data/jpegenc.h"

#include "core/check_tj.h"
#include "core/mem.h"

struct JpegEncoder {
  tjhandle tj;
  unsigned char *buf;     /* TurboJPEG-allocated, reused across calls */
  unsigned long buf_cap;
};

JpegEncoder *jpegenc_new(void) {
  JpegEncoder *e = mem_calloc_or_die(1, sizeof *e, "JPEG encoder");
  e->tj = tjInitCompress();
  CHECK(e->tj, "tjInitCompress: %s", tjGetErrorStr2(NULL));
  return e;
}

void jpegenc_free(JpegEncoder *e) {
  if (!e) return;
  tjFree(e->buf);
  tjDestroy(e->tj);
  mem_free(e);
}

const uint8_t *jpegenc_rgb(JpegEncoder *e, const uint8_t *rgb, int w, int h, int quality,
                           int chroma, size_t *n_bytes) {
  int samp = chroma == JPEGENC_444 ? TJSAMP_444 : TJSAMP_420;
  unsigned long need = tjBufSize(w, h, samp);
  CHECK(need != (unsigned long)-1, "tjBufSize(%d, %d): %s", w, h, tjGetErrorStr2(NULL));
  if (need > e->buf_cap) {
    tjFree(e->buf);
    e->buf = tjAlloc((int)need);
    CHECK(e->buf, "tjAlloc(%lu)", need);
    e->buf_cap = need;
  }
  unsigned long size = e->buf_cap;
  TJ_CHECK(e->tj, tjCompress2(e->tj, rgb, w, 0, h, TJPF_RGB, &e->buf, &size, samp,
                              quality, TJFLAG_ACCURATEDCT | TJFLAG_NOREALLOC));
  *n_bytes = size;
  return e->buf;
}
