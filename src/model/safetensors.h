/* safetensors.h - read and write the safetensors format (huggingface/
 * safetensors: 8-byte little-endian header length, JSON header of
 * {name: {dtype, shape, data_offsets}}, then the raw little-endian data).
 * Our files hold F32 tensors (and I64 scalars for BN num_batches_tracked;
 * F64 for double-precision test dumps),
 * named as torchvision's state_dict, so
 *   torchvision.models.resnet50().load_state_dict(safetensors.torch.load_file(f))
 * accepts them.  Writes are atomic (temporary file, fsync, rename). */
#ifndef RD_MODEL_SAFETENSORS_H
#define RD_MODEL_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

typedef enum { ST_F32, ST_I64, ST_F64 } StDtype;

typedef struct {
  char name[128];
  StDtype dtype;
  int ndim;           /* 0 (scalar) to 4 */
  int64_t shape[4];
  const void *data;   /* host; n_elems of dtype */
  size_t n_elems;
} StTensor;

typedef struct {
  int n;
  StTensor *tensors;  /* data points into blob */
  void *blob;
} StFile;

int st_write(const char *path, const StTensor *tensors, int n, char *err, size_t err_len);
int st_read(const char *path, StFile *f, char *err, size_t err_len);
void st_free(StFile *f);
const StTensor *st_find(const StFile *f, const char *name);

#endif
