/* npy.c - see npy.h.  Header: "\x93NUMPY", major, minor, header length
 * (2 bytes for 1.0, 4 for 2.0), then a Python dict literal
 * {'descr': '<f4', 'fortran_order': False, 'shape': (N, C, H, W), }. */
#include "train/npy.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/atomic_file.h"
#include "core/mem.h"

int npy_read_f32(const char *path, NpyArray *a, char *err, size_t err_len) {
  memset(a, 0, sizeof *a);
  FILE *f = fopen(path, "rb");
  if (!f) {
    snprintf(err, err_len, "cannot open '%s': %s", path, strerror(errno));
    return -1;
  }
  unsigned char pre[10];
  char hdr[4096];
  uint32_t hlen = 0;
  int ok = fread(pre, 1, 8, f) == 8 && !memcmp(pre, "\x93NUMPY", 6);
  if (ok && pre[6] == 1) {
    unsigned char l2[2];
    ok = fread(l2, 1, 2, f) == 2;
    hlen = (uint32_t)l2[0] | (uint32_t)l2[1] << 8;
  } else if (ok) {
    unsigned char l4[4];
    ok = fread(l4, 1, 4, f) == 4;
    hlen = (uint32_t)l4[0] | (uint32_t)l4[1] << 8 | (uint32_t)l4[2] << 16 | (uint32_t)l4[3] << 24;
  }
  ok = ok && hlen < sizeof hdr && fread(hdr, 1, hlen, f) == hlen;
  if (!ok) {
    fclose(f);
    snprintf(err, err_len, "'%s' is not a .npy file", path);
    return -1;
  }
  hdr[hlen] = '\0';
  if (!strstr(hdr, "'descr': '<f4'") || strstr(hdr, "'fortran_order': True")) {
    fclose(f);
    snprintf(err, err_len, "'%s' must hold little-endian float32 in C order "
                           "(np.save(f, x.astype(np.float32)))", path);
    return -1;
  }
  const char *sp = strstr(hdr, "'shape': (");
  a->n_elems = 1;
  if (sp) {
    sp += 10;
    while (*sp && *sp != ')' && a->ndim < 8) {
      char *end;
      long long v = strtoll(sp, &end, 10);
      if (end == sp) break;
      a->shape[a->ndim++] = v;
      a->n_elems *= (size_t)v;
      sp = end;
      while (*sp == ',' || *sp == ' ') sp++;
    }
  }
  a->data = mem_alloc_or_die(a->n_elems * sizeof(float) + 1, "npy data");
  ok = fread(a->data, sizeof(float), a->n_elems, f) == a->n_elems;
  fclose(f);
  if (!ok) {
    mem_free(a->data);
    a->data = NULL;
    snprintf(err, err_len, "'%s' is truncated", path);
    return -1;
  }
  return 0;
}

int npy_write_f32(const char *path, const float *data, int ndim, const int64_t *shape, char *err,
                  size_t err_len) {
  char dict[512];
  int n = snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (");
  size_t n_elems = 1;
  for (int i = 0; i < ndim; i++) {
    n += snprintf(dict + n, sizeof dict - (size_t)n, "%" PRId64 "%s", shape[i],
                  ndim == 1 || i + 1 < ndim ? ", " : "");
    n_elems *= (size_t)shape[i];
  }
  n += snprintf(dict + n, sizeof dict - (size_t)n, "), }");
  int total = 10 + n + 1;
  int pad = (64 - total % 64) % 64;
  char hdr[640];
  memcpy(hdr, "\x93NUMPY\x01\x00", 8);
  uint16_t hl = (uint16_t)(n + pad + 1);
  hdr[8] = (char)(hl & 0xff);
  hdr[9] = (char)(hl >> 8);
  memcpy(hdr + 10, dict, (size_t)n);
  memset(hdr + 10 + n, ' ', (size_t)pad);
  hdr[10 + n + pad] = '\n';
  AtomicFile af;
  if (atomic_file_open(&af, path, err, err_len)) return -1;
  if (atomic_file_write(&af, hdr, (size_t)(11 + n + pad)) ||
      atomic_file_write(&af, data, n_elems * sizeof(float))) {
    atomic_file_abort(&af);
    snprintf(err, err_len, "cannot write '%s': %s", path, strerror(errno));
    return -1;
  }
  return atomic_file_commit(&af, err, err_len);
}
