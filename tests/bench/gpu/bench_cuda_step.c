/* bench_cuda_step.c - training throughput of resnet_dist's CUDA path with
 * the data already on the device (a program that prints figures; not a test).
 *
 * One process, one GPU: a ResNet from the model API at a batch and image
 * size; one random uint8 batch and its labels are uploaded once, so the input
 * pipeline is not measured (the PyTorch side, torch_bench.py, does the same).
 * `warmup` untimed steps (they include cuDNN's algorithm search), then
 * `steps` timed training steps: forward in train mode (BN batch statistics),
 * cross-entropy with label smoothing 0.1 (no read-back of the loss), backward,
 * SGD with momentum 0.9 and weight decay 5e-5.  Prints one JSON line:
 *
 *   {"impl":"resnet_dist","arch":"resnet50","batch":256,"image":224,
 *    "precision":"bf16","steps":30,"images_per_s":...,"step_ms":...,
 *    "peak_mem_bytes":...}
 *
 * peak_mem_bytes: the most device memory in use (cudaMemGetInfo: total -
 * free) after any step, minus what was in use once the CUDA context existed,
 * i.e. everything this run allocated (arenas, workspace, pools).
 *
 *   bench_cuda_step [--arch resnet50] [--batch 256] [--image 224]
 *                   [--precision bf16] [--steps 30] [--warmup 10] [--classes 1000]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime.h>

#include "backend/cuda/backend_cuda.h"
#include "config/config.h"
#include "core/check.h"
#include "core/mem.h"
#include "core/rng.h"
#include "core/timer.h"
#include "model/resnet.h"
#include "optim/optim.h"

typedef struct {
  int arch, batch, image, precision, steps, warmup, classes;
} BenchArgs;

static int lookup(const char *value, const char *(*name_of)(int), int n, const char *flag) {
  for (int i = 0; i < n; i++)
    if (!strcmp(value, name_of(i))) return i;
  core_user_error("%s %s: unknown value", flag, value);
}

static int positive(const char *value, const char *flag) {
  char *end;
  long v = strtol(value, &end, 10);
  if (*end || v < 1 || v > 1000000)
    core_user_error("%s %s: expected a positive integer", flag, value);
  return (int)v;
}

static BenchArgs parse(int argc, char **argv) {
  BenchArgs a = {ARCH_RESNET50, 256, 224, PREC_BF16, 30, 10, 1000};
  for (int i = 1; i < argc; i++) {
    const char *flag = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!v) core_user_error("%s needs a value", flag);
    i++;
    if (!strcmp(flag, "--arch")) a.arch = lookup(v, config_arch_name, ARCH_RESNET110 + 1, flag);
    else if (!strcmp(flag, "--precision"))
      a.precision = lookup(v, config_precision_name, PREC_FP32_STRICT + 1, flag);
    else if (!strcmp(flag, "--batch")) a.batch = positive(v, flag);
    else if (!strcmp(flag, "--image")) a.image = positive(v, flag);
    else if (!strcmp(flag, "--steps")) a.steps = positive(v, flag);
    else if (!strcmp(flag, "--warmup")) a.warmup = positive(v, flag);
    else if (!strcmp(flag, "--classes")) a.classes = positive(v, flag);
    else core_user_error("unknown option %s", flag);
  }
  return a;
}

static size_t used_bytes(void) {
  size_t free_b = 0, total_b = 0;
  if (cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) FATAL("cudaMemGetInfo failed");
  return total_b - free_b;
}

static void step(Model *m, Optimizer *o) {
  model_forward(m, 1, NULL);
  model_loss(m, m->batch, 0.1, 1.0 / m->batch, 1, NULL, NULL);
  model_backward(m, NULL);
  optim_step(o, 0.1, 1.0);
}

int main(int argc, char **argv) {
  BenchArgs a = parse(argc, argv);
  if (backend_cuda_device_count() == 0) core_user_error("no GPU: bench_cuda_step needs one");
  if (cudaSetDevice(0) != cudaSuccess || cudaFree(NULL) != cudaSuccess)
    FATAL("cannot create a CUDA context on device 0");
  const size_t base = used_bytes();

  CudaBackendOptions opt = {.device = 0, .precision = a.precision};
  Backend *be = backend_cuda_create(&opt);
  ModelSpec spec = {a.arch, a.classes, VARIANT_V1_5, SHORTCUT_A, 0, 0.1, 1e-5};
  char err[512] = "";
  Model *m = model_create(be, &spec, err, sizeof err);
  if (!m) core_user_error("%s", err);
  model_init_params(m, 1);
  model_plan(m, a.batch, a.image, a.image);
  Config cfg;
  config_defaults(&cfg);
  cfg.optim.momentum = 0.9;
  cfg.optim.weight_decay = 5e-5;
  Optimizer *o = optim_create(m, &cfg);

  size_t n_bytes = (size_t)a.batch * a.image * a.image * 3;
  uint8_t *img = be->alloc_host(be, n_bytes, "benchmark batch");
  int32_t *labels = mem_alloc_or_die((size_t)a.batch * sizeof(int32_t), "labels");
  RngStream rs;
  rng_stream_init(&rs, 1, rng_id_hi(RNG_DOMAIN_TEST, 77), 0);
  for (size_t i = 0; i < n_bytes; i++) img[i] = (uint8_t)rng_below(&rs, 256);
  for (int i = 0; i < a.batch; i++) labels[i] = (int32_t)rng_below(&rs, (uint32_t)a.classes);
  static const float mean[3] = {0.485f, 0.456f, 0.406f}, std[3] = {0.229f, 0.224f, 0.225f};
  be->input_u8(be, model_input(m), img, a.batch, a.image, a.image, mean, std);
  be->upload_labels(be, m->labels, labels, a.batch);

  for (int i = 0; i < a.warmup; i++) step(m, o);
  be->sync(be);
  size_t peak = used_bytes();
  uint64_t t0 = timer_now_ns();
  for (int i = 0; i < a.steps; i++) step(m, o);
  be->sync(be);
  double ms = timer_since_ms(t0);
  size_t now = used_bytes();
  if (now > peak) peak = now;

  printf("{\"impl\":\"resnet_dist\",\"arch\":\"%s\",\"batch\":%d,\"image\":%d,"
         "\"precision\":\"%s\",\"steps\":%d,\"images_per_s\":%.2f,\"step_ms\":%.3f,"
         "\"peak_mem_bytes\":%zu}\n",
         config_arch_name(a.arch), a.batch, a.image, config_precision_name(a.precision), a.steps,
         (double)a.batch * a.steps / (ms / 1000.0), ms / a.steps, peak - base);
  be->free_host(be, img);
  mem_free(labels);
  optim_destroy(o);
  model_destroy(m);
  be->destroy(be);
  return 0;
}
