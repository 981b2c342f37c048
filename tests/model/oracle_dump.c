/* oracle_dump.c - runs our model on a given batch and dumps what the PyTorch
 * oracle (oracle_torch.py) compares: the initial weights, logits, loss, every
 * parameter gradient, and the parameters and BN buffers after 3 SGD steps on
 * the same batch.
 *
 *   oracle_dump ARCH NUM_CLASSES SHORTCUT(A|B) X.npy LABELS.npy OUT_DIR
 *               LR MOMENTUM WEIGHT_DECAY NESTEROV(0|1) SMOOTHING
 *
 * X.npy: float32 (N,3,H,W), already normalized; LABELS.npy: float32 (N).
 * Writes OUT_DIR/{init,grads,after3}.safetensors, logits.npy, loss.txt. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "config/config.h"
#include "core/check.h"
#include "core/mem.h"
#include "model/resnet.h"
#include "model/safetensors.h"
#include "model/weights.h"
#include "optim/optim.h"
#include "train/npy.h"

static int arch_id(const char *name) {
  static const char *names[] = {"resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
                                "resnet20", "resnet32", "resnet44", "resnet56", "resnet110"};
  for (int i = 0; i < 10; i++)
    if (!strcmp(name, names[i])) return i;
  FATAL("unknown arch %s", name);
}

/* Parameter gradients as named tensors (same names as the parameters). */
static void write_grads(const Model *m, const char *path) {
  float *g = mem_alloc_or_die(m->n_param_elems * sizeof(float), "grads");
  m->be->params_to_host_f32(m->be, g, m->grads, m->n_param_elems);
  StTensor *t = mem_calloc_or_die((size_t)m->n_params, sizeof(StTensor), "tensors");
  for (int i = 0; i < m->n_params; i++) {
    const ParamEntry *e = &m->param_table[i];
    snprintf(t[i].name, sizeof t[i].name, "%s", e->name);
    t[i].dtype = ST_F32;
    t[i].ndim = e->ndim;
    for (int d = 0; d < e->ndim; d++) t[i].shape[d] = e->shape[d];
    t[i].data = g + e->offset;
    t[i].n_elems = e->n_elems;
  }
  char err[512];
  CHECK(st_write(path, t, m->n_params, err, sizeof err) == 0, "%s", err);
  mem_free(t);
  mem_free(g);
}

int main(int argc, char **argv) {
  if (argc != 12) {
    fprintf(stderr, "usage: see the header of oracle_dump.c\n");
    return 2;
  }
  Config cfg;
  config_defaults(&cfg);
  cfg.model.arch = arch_id(argv[1]);
  cfg.model.num_classes = atoi(argv[2]);
  cfg.model.shortcut = argv[3][0] == 'B' ? SHORTCUT_B : SHORTCUT_A;
  cfg.optim.momentum = atof(argv[8]);
  cfg.optim.weight_decay = atof(argv[9]);
  cfg.optim.nesterov = atoi(argv[10]);
  double lr = atof(argv[7]), smoothing = atof(argv[11]);
  char err[1024], path[1024];
  NpyArray x, y;
  CHECK(npy_read_f32(argv[4], &x, err, sizeof err) == 0, "%s", err);
  CHECK(npy_read_f32(argv[5], &y, err, sizeof err) == 0, "%s", err);
  int n = (int)x.shape[0], h = (int)x.shape[2], w = (int)x.shape[3];
  Backend *be = backend_cpu_create(0);
  ModelSpec spec;
  model_spec_from_config(&spec, &cfg);
  Model *m = model_create(be, &spec, err, sizeof err);
  CHECK(m, "%s", err);
  model_init_params(m, 1234);
  Optimizer *opt = optim_create(m, &cfg);
  model_plan(m, n, h, w);
  snprintf(path, sizeof path, "%s/init.safetensors", argv[6]);
  CHECK(weights_export(m, path, err, sizeof err) == 0, "%s", err);
  int32_t *labels = mem_alloc_or_die((size_t)n * sizeof(int32_t), "labels");
  for (int i = 0; i < n; i++) labels[i] = (int32_t)y.data[i];
  for (int step = 0; step < 3; step++) {
    be->act_from_host_f32(be, model_input(m), x.data, n, 3, h, w);
    be->upload_labels(be, m->labels, labels, n);
    model_forward(m, 1, NULL);
    double loss_sum;
    int64_t correct[2];
    model_loss(m, n, smoothing, 1.0 / n, 1, &loss_sum, correct);
    model_backward(m, NULL);
    if (step == 0) {
      float *logits = mem_alloc_or_die((size_t)n * spec.num_classes * sizeof(float), "logits");
      be->act_to_host_f32(be, logits, model_logits(m), n, spec.num_classes, 1, 1);
      int64_t shape[2] = {n, spec.num_classes};
      snprintf(path, sizeof path, "%s/logits.npy", argv[6]);
      CHECK(npy_write_f32(path, logits, 2, shape, err, sizeof err) == 0, "%s", err);
      mem_free(logits);
      snprintf(path, sizeof path, "%s/loss.txt", argv[6]);
      FILE *f = fopen(path, "w");
      CHECK(f, "cannot write %s", path);
      fprintf(f, "%.9g\n", loss_sum / n);
      fclose(f);
      snprintf(path, sizeof path, "%s/grads.safetensors", argv[6]);
      write_grads(m, path);
    }
    optim_step(opt, lr, 1.0);
  }
  snprintf(path, sizeof path, "%s/after3.safetensors", argv[6]);
  CHECK(weights_export(m, path, err, sizeof err) == 0, "%s", err);
  optim_destroy(opt);
  model_destroy(m);
  be->destroy(be);
  mem_free(labels);
  mem_free(x.data);
  mem_free(y.data);
  return 0;
}
