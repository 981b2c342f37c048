/* modes.c - summary (layer table + memory plan), export (.safetensors),
 * predict (logits and top-5 of a float32 .npy batch). */
#include "train/modes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/check.h"
#include "core/log.h"
#include "core/mem.h"
#include "model/weights.h"
#include "train/npy.h"

int mode_summary(Run *r) {
  model_plan(r->model, r->cfg.train.batch_size, r->train_h, r->train_w);
  if (r->dist->rank == 0) model_print_summary(r->model, stdout);
  return RD_EXIT_OK;
}

int mode_export(Run *r) {
  if (!r->cli.output[0]) run_user_error(r, "--mode export needs --output FILE.safetensors");
  if (r->dist->rank != 0) return RD_EXIT_OK;
  char err[1024];
  if (weights_export(r->model, r->cli.output, err, sizeof err) != 0) {
    log_error("%s", err);
    return RD_EXIT_USAGE;
  }
  log_info("exported %d parameters and %d buffers of %s to %s", r->model->n_params,
           r->model->n_buffers, config_arch_name(r->cfg.model.arch), r->cli.output);
  return RD_EXIT_OK;
}

/* Indices of the k largest of x[0..n) in descending order. */
static void top_k(const float *x, int n, int k, int *idx) {
  for (int j = 0; j < k; j++) idx[j] = -1;
  for (int i = 0; i < n; i++)
    for (int j = 0; j < k; j++)
      if (idx[j] < 0 || x[i] > x[idx[j]]) {
        memmove(idx + j + 1, idx + j, (size_t)(k - j - 1) * sizeof(int));
        idx[j] = i;
        break;
      }
}

int mode_predict(Run *r) {
  if (!r->cli.input[0]) run_user_error(r, "--mode predict needs --input X.npy (N,3,H,W float32)");
  NpyArray a;
  char err[1024];
  if (npy_read_f32(r->cli.input, &a, err, sizeof err) != 0) run_user_error(r, "%s", err);
  if (a.ndim != 4 || a.shape[1] != 3) {
    mem_free(a.data);
    run_user_error(r, "%s: expected shape (N, 3, H, W), already normalized", r->cli.input);
  }
  int n = (int)a.shape[0], h = (int)a.shape[2], w = (int)a.shape[3];
  ModelSpec spec = r->model->spec;
  if (model_check_image_size(&spec, h, w, err, sizeof err) != 0) run_user_error(r, "%s", err);
  Model *m = r->model;
  int k = spec.num_classes;
  float *logits = mem_alloc_or_die((size_t)n * k * sizeof(float), "logits");
  int chunk = r->cfg.train.batch_size < n ? r->cfg.train.batch_size : n;
  model_plan(m, chunk, h, w);
  for (int s = 0; s < n; s += chunk) {
    int cnt = n - s < chunk ? n - s : chunk;
    float *in = mem_calloc_or_die((size_t)chunk * 3 * h * w, sizeof(float), "input chunk");
    memcpy(in, a.data + (size_t)s * 3 * h * w, (size_t)cnt * 3 * h * w * sizeof(float));
    r->be->act_from_host_f32(r->be, model_input(m), in, chunk, 3, h, w);
    mem_free(in);
    model_forward(m, 0, NULL);
    float *out = mem_alloc_or_die((size_t)chunk * k * sizeof(float), "logits chunk");
    r->be->act_to_host_f32(r->be, out, model_logits(m), chunk, k, 1, 1);
    memcpy(logits + (size_t)s * k, out, (size_t)cnt * k * sizeof(float));
    mem_free(out);
  }
  for (int i = 0; i < n && r->dist->rank == 0; i++) {
    int idx[5], kk = k < 5 ? k : 5;
    top_k(logits + (size_t)i * k, k, kk, idx);
    printf("image %d: top-%d", i, kk);
    for (int j = 0; j < kk; j++) printf(" %d (%.3f)", idx[j], logits[(size_t)i * k + idx[j]]);
    printf("\n");
  }
  int rc = RD_EXIT_OK;
  if (r->cli.output[0] && r->dist->rank == 0) {
    int64_t shape[2] = {n, k};
    if (npy_write_f32(r->cli.output, logits, 2, shape, err, sizeof err) != 0) {
      log_error("%s", err);
      rc = RD_EXIT_USAGE;
    }
  }
  mem_free(logits);
  mem_free(a.data);
  return rc;
}
