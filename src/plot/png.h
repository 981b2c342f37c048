/* png.h - writes an 8-bit RGB image as a PNG file (ISO/IEC 15948, W3C PNG
 * specification): signature, IHDR, one IDAT (zlib stream, compressed with
 * zlib's deflate; every scanline with filter type 0), IEND; chunk CRCs are
 * CRC-32 as the specification's annex gives it (zlib's crc32). */
#ifndef RD_PLOT_PNG_H
#define RD_PLOT_PNG_H

#include <stddef.h>
#include <stdint.h>

/* rgb: (h, w, 3).  0, or -1 with one line in err (the path and why). */
int png_write_rgb(const char *path, const uint8_t *rgb, int w, int h, char *err, size_t err_len);

#endif
