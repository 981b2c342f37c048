/* convert.h - what the shard tool does to one input file before storing it.
 *
 * A JPEG whose header reads is stored byte for byte, unless it is CMYK/YCCK
 * (decoded to RGB as PIL does, re-encoded at `quality`) or larger than
 * max_side (decoded with DCT downscaling, resized PIL-exactly so the longer
 * side is max_side, re-encoded).  Greyscale JPEGs are kept: the decoder
 * replicates them to RGB.  Anything else -- a PNG or another format under a
 * .JPEG name, an unreadable or corrupt file -- is skipped with a reason.
 * One Converter per thread.
 */
#ifndef RD_DATA_TOOLS_CONVERT_H
#define RD_DATA_TOOLS_CONVERT_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
  CONV_STORED = 0,    /* bytes kept as they are */
  CONV_GRAY,          /* kept; greyscale JPEG */
  CONV_CMYK,          /* converted from CMYK/YCCK to RGB and re-encoded */
  CONV_RESIZED,       /* re-encoded at max_side */
  CONV_SKIP_PNG,      /* a PNG (libjpeg-turbo cannot decode it) */
  CONV_SKIP_FORMAT,   /* neither JPEG nor PNG */
  CONV_SKIP_CORRUPT,  /* JPEG header or data unreadable */
  CONV_SKIP_READ,     /* the file could not be read */
  CONV_N_KINDS
} ConvKind;

typedef struct {
  int kind;           /* ConvKind */
  uint8_t *data;      /* bytes to store (mem_free), NULL when skipped */
  size_t n_bytes;
  char why[160];      /* skipped: the reason */
} ConvResult;

typedef struct Converter Converter;

Converter *convert_new(int max_side, int quality);
void convert_free(Converter *c);

/* Reads and converts the file at path. */
void convert_file(Converter *c, const char *path, ConvResult *r);

/* Converts bytes already in memory (takes ownership of data). */
void convert_bytes(Converter *c, uint8_t *data, size_t n_bytes, ConvResult *r);

const char *convert_kind_name(int kind);

#endif
