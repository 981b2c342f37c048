/* modes.c - summary (layer table + memory plan), export (.safetensors),
 * predict (logits and top-5 of a float32 .npy batch, or of JPEG files: one
 * file or every .jpg/.jpeg of a folder, through the validation transform
 * data.val_resize + center crop data.val_crop and data.mean / data.std). */
#include "train/modes.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "core/check.h"
#include "core/log.h"
#include "core/mem.h"
#include "data/sample.h"
#include "model/weights.h"
#include "train/npy.h"

int mode_summary(Run *r) {
  ModelBudget b = run_memory_budget(r);
  if (r->dist->rank == 0)
    model_print_summary(r->model, r->cfg.train.batch_size, r->train_h, r->train_w, &b, stdout);
  return RD_EXIT_OK;
}

int mode_export(Run *r) {
  if (!r->cli.output[0]) run_user_error(r, "--mode export needs --output FILE.safetensors");
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

/* Logits of n images (already in the model's input tensor) -> out (n, K). */
static void forward_logits(Run *r, int n, float *out) {
  Model *m = r->model;
  int k = m->spec.num_classes;
  model_forward(m, 0, NULL);
  float *all = mem_alloc_or_die((size_t)m->batch * k * sizeof(float), "logits chunk");
  r->be->act_to_host_f32(r->be, all, model_logits(m), m->batch, k, 1, 1);
  memcpy(out, all, (size_t)n * k * sizeof(float));
  mem_free(all);
}

/* Logits of a float32 .npy batch (N,3,H,W), already normalized. */
static float *predict_npy(Run *r, int *n_out) {
  NpyArray a;
  char err[1024];
  if (npy_read_f32(r->cli.input, &a, err, sizeof err) != 0) run_user_error(r, "%s", err);
  if (a.ndim != 4 || a.shape[1] != 3) {
    mem_free(a.data);
    run_user_error(r, "%s: expected shape (N, 3, H, W), already normalized", r->cli.input);
  }
  int n = (int)a.shape[0], h = (int)a.shape[2], w = (int)a.shape[3];
  if (model_check_image_size(&r->model->spec, h, w, err, sizeof err) != 0)
    run_user_error(r, "%s", err);
  Model *m = r->model;
  int k = m->spec.num_classes, chunk = r->cfg.train.batch_size < n ? r->cfg.train.batch_size : n;
  float *logits = mem_alloc_or_die((size_t)n * k * sizeof(float), "logits");
  float *in = mem_calloc_or_die((size_t)chunk * 3 * h * w, sizeof(float), "input chunk");
  model_plan(m, chunk, h, w);
  for (int s = 0; s < n; s += chunk) {
    int cnt = n - s < chunk ? n - s : chunk;
    memcpy(in, a.data + (size_t)s * 3 * h * w, (size_t)cnt * 3 * h * w * sizeof(float));
    r->be->act_from_host_f32(r->be, model_input(m), in, chunk, 3, h, w);
    forward_logits(r, cnt, logits + (size_t)s * k);
  }
  mem_free(in);
  mem_free(a.data);
  *n_out = n;
  return logits;
}

static int is_jpeg_name(const char *name) {
  const char *dot = strrchr(name, '.');
  return dot && (!strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg"));
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* --input as a list of JPEG paths: the file itself, or a folder's JPEGs in
 * sorted order. */
static char **list_jpegs(Run *r, int *n_out) {
  struct stat st;
  if (stat(r->cli.input, &st) != 0)
    run_user_error(r, "--input %s: %s", r->cli.input, strerror(errno));
  int n = 0, cap = 16;
  char **files = mem_alloc_or_die((size_t)cap * sizeof(char *), "file list");
  if (!S_ISDIR(st.st_mode)) {
    files[n++] = mem_strdup_or_die(r->cli.input);
  } else {
    DIR *d = opendir(r->cli.input);
    if (!d) run_user_error(r, "--input %s: %s", r->cli.input, strerror(errno));
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
      if (!is_jpeg_name(e->d_name)) continue;
      if (n == cap) files = mem_realloc_or_die(files, (size_t)(cap *= 2) * sizeof(char *), "file list");
      char path[CFG_STR_MAX + 300];
      snprintf(path, sizeof path, "%s/%s", r->cli.input, e->d_name);
      files[n++] = mem_strdup_or_die(path);
    }
    closedir(d);
    qsort(files, (size_t)n, sizeof(char *), cmp_str);
    if (n == 0) run_user_error(r, "--input %s: no .jpg or .jpeg files in this folder", r->cli.input);
  }
  *n_out = n;
  return files;
}

static uint8_t *read_file(const char *path, size_t *n_bytes) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *buf = len > 0 ? mem_alloc_may_fail((size_t)len) : NULL;
  if (buf && fread(buf, 1, (size_t)len, f) != (size_t)len) {
    mem_free(buf);
    buf = NULL;
  }
  fclose(f);
  *n_bytes = (size_t)len;
  return buf;
}

/* Logits of JPEG files through the validation transform. */
static float *predict_jpegs(Run *r, char **files, int n) {
  Model *m = r->model;
  int k = m->spec.num_classes, side = r->cfg.data.val_crop;
  char err[512];
  if (model_check_image_size(&m->spec, side, side, err, sizeof err) != 0)
    run_user_error(r, "%s", err);
  int chunk = r->cfg.train.batch_size < n ? r->cfg.train.batch_size : n;
  model_plan(m, chunk, side, side);
  AugmentSpec spec = {.mode = AUG_CENTER, .out_side = side, .resize = r->cfg.data.val_resize};
  SampleWorker *w = sample_worker_new();
  uint8_t *pixels = mem_calloc_or_die((size_t)chunk * side * side * 3, 1, "predict batch");
  float *logits = mem_alloc_or_die((size_t)n * k * sizeof(float), "logits");
  for (int s = 0; s < n; s += chunk) {
    int cnt = n - s < chunk ? n - s : chunk;
    for (int i = 0; i < cnt; i++) {
      size_t n_bytes = 0;
      uint8_t *jpeg = read_file(files[s + i], &n_bytes);
      if (!jpeg) run_user_error(r, "--input: cannot read %s", files[s + i]);
      RngStream rng;
      rng_stream_init(&rng, (uint64_t)r->cfg.train.seed, rng_id_hi(RNG_DOMAIN_AUGMENT, 0),
                      (uint32_t)(s + i));
      int rc = sample_from_jpeg(w, &spec, &rng, jpeg, n_bytes,
                                pixels + (size_t)i * side * side * 3);
      mem_free(jpeg);
      if (rc != 0)
        run_user_error(r, "--input: %s is not a decodable JPEG (%s)", files[s + i],
                       sample_worker_error(w));
    }
    r->be->input_u8(r->be, model_input(m), pixels, chunk, side, side, r->mean, r->std);
    forward_logits(r, cnt, logits + (size_t)s * k);
  }
  sample_worker_free(w);
  mem_free(pixels);
  return logits;
}

int mode_predict(Run *r) {
  if (!r->cli.input[0])
    run_user_error(r, "--mode predict needs --input: an X.npy (N,3,H,W float32), a JPEG file or "
                      "a folder of JPEGs");
  const char *dot = strrchr(r->cli.input, '.');
  int n = 0, n_files = 0;
  char **files = NULL;
  float *logits;
  if (dot && !strcmp(dot, ".npy")) {
    logits = predict_npy(r, &n);
  } else {
    files = list_jpegs(r, &n_files);
    n = n_files;
    logits = predict_jpegs(r, files, n);
  }
  int k = r->model->spec.num_classes;
  for (int i = 0; i < n && r->dist->rank == 0; i++) {
    int idx[5], kk = k < 5 ? k : 5;
    top_k(logits + (size_t)i * k, k, kk, idx);
    if (files)
      printf("%s: top-%d", files[i], kk);
    else
      printf("image %d: top-%d", i, kk);
    for (int j = 0; j < kk; j++) printf(" %d (%.3f)", idx[j], logits[(size_t)i * k + idx[j]]);
    printf("\n");
  }
  int rc = RD_EXIT_OK;
  char err[1024];
  if (r->cli.output[0] && r->dist->rank == 0) {
    int64_t shape[2] = {n, k};
    if (npy_write_f32(r->cli.output, logits, 2, shape, err, sizeof err) != 0) {
      log_error("%s", err);
      rc = RD_EXIT_USAGE;
    }
  }
  for (int i = 0; i < n_files; i++) mem_free(files[i]);
  mem_free(files);
  mem_free(logits);
  return rc;
}
