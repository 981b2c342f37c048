/* weights.h - a model's parameters and buffers to and from .safetensors with
 * torchvision's state_dict names (F32 tensors; BN num_batches_tracked as I64
 * scalars), and the list of named host tensors that checkpoints reuse. */
#ifndef RD_MODEL_WEIGHTS_H
#define RD_MODEL_WEIGHTS_H

#include <stddef.h>

#include "model/resnet.h"
#include "model/safetensors.h"

/* Host copies of every parameter and buffer in state_dict order (params of a
 * module, then its running_mean, running_var, num_batches_tracked).
 * *host_f32 and *host_i64 own the data (mem_free both and the array). */
StTensor *weights_gather(const Model *m, int *n_out, float **host_f32, int64_t **host_i64);

int weights_export(const Model *m, const char *path, char *err, size_t err_len);

/* Loads every parameter and buffer by name.  Missing names, unexpected names
 * and shape mismatches are all listed in one message (-1). */
int weights_import(Model *m, const char *path, char *err, size_t err_len);

/* Same, from tensors already in memory (checkpoints). */
int weights_load_tensors(Model *m, const StTensor *t, int n, const char *source, char *err,
                         size_t err_len);

#endif
