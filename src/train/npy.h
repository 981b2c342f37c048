/* npy.h - NumPy .npy files (format version 1.0/2.0): little-endian float32,
 * C order, which is what `np.save(f, x.astype(np.float32))` writes. */
#ifndef RD_TRAIN_NPY_H
#define RD_TRAIN_NPY_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
  int ndim;
  int64_t shape[8];
  float *data;   /* mem_free */
  size_t n_elems;
} NpyArray;

int npy_read_f32(const char *path, NpyArray *a, char *err, size_t err_len);
int npy_write_f32(const char *path, const float *data, int ndim, const int64_t *shape, char *err,
                  size_t err_len);

#endif
