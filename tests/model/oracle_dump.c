/* oracle_dump.c - runs our model on a given batch and dumps what the PyTorch
 * oracle (oracle_torch.py) compares: the initial weights, logits, loss, every
 * parameter gradient, and the parameters and BN buffers after 3 SGD steps on
 * the same batch.
 *
 *   oracle_dump PRECISION(f32|f64) ARCH NUM_CLASSES SHORTCUT(A|B) X.npy
 *               LABELS.npy OUT_DIR LR MOMENTUM WEIGHT_DECAY NESTEROV(0|1) SMOOTHING
 *               [OPTIM]
 *
 * f32 runs the CPU backend, f64 the double-precision one.  X.npy: float32
 * (N,3,H,W), already normalized; LABELS.npy: float32 (N).  Writes OUT_DIR/
 * init.safetensors (F32: the initial values are float32 numbers in both
 * precisions), and in the run's precision logits.safetensors, grads.safetensors,
 * after3.safetensors, plus loss.txt.  OPTIM: "sgd" (default) or "lars:ETA"
 * (LARS with trust coefficient ETA; BN parameters and biases excluded from
 * weight decay and adaptation). */
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

/* Named views of an arena in the backend's own dtype (CPU memory). */
static int add_table(StTensor *t, int n, const ParamEntry *table, int count, const void *base,
                     int elem_bytes, const char *prefix) {
  for (int i = 0; i < count; i++) {
    const ParamEntry *e = &table[i];
    StTensor *s = &t[n++];
    snprintf(s->name, sizeof s->name, "%s%s", prefix, e->name);
    s->dtype = elem_bytes == 8 ? ST_F64 : ST_F32;
    s->ndim = e->ndim;
    for (int d = 0; d < e->ndim; d++) s->shape[d] = e->shape[d];
    s->data = (const char *)base + e->offset * (size_t)elem_bytes;
    s->n_elems = e->n_elems;
  }
  return n;
}

static void write_file(const char *dir, const char *name, const StTensor *t, int n) {
  char path[1200], err[512];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  CHECK(st_write(path, t, n, err, sizeof err) == 0, "%s", err);
}

int main(int argc, char **argv) {
  if (argc != 13 && argc != 14) {
    fprintf(stderr, "usage: see the header of oracle_dump.c\n");
    return 2;
  }
  int f64 = !strcmp(argv[1], "f64");
  Config cfg;
  config_defaults(&cfg);
  cfg.model.arch = arch_id(argv[2]);
  cfg.model.num_classes = atoi(argv[3]);
  cfg.model.shortcut = argv[4][0] == 'B' ? SHORTCUT_B : SHORTCUT_A;
  cfg.optim.momentum = atof(argv[9]);
  cfg.optim.weight_decay = atof(argv[10]);
  cfg.optim.nesterov = atoi(argv[11]);
  if (argc == 14 && !strncmp(argv[13], "lars:", 5)) {
    cfg.optim.name = OPTIM_LARS;
    cfg.optim.lars_eta = atof(argv[13] + 5);
    cfg.optim.wd_exclude_bn_bias = 1;
  } else if (argc == 14 && strcmp(argv[13], "sgd") != 0) {
    FATAL("unknown optimizer %s (sgd or lars:ETA)", argv[13]);
  }
  const char *out = argv[7];
  double lr = atof(argv[8]), smoothing = atof(argv[12]);
  char err[1024], path[1200];
  NpyArray x, y;
  CHECK(npy_read_f32(argv[5], &x, err, sizeof err) == 0, "%s", err);
  CHECK(npy_read_f32(argv[6], &y, err, sizeof err) == 0, "%s", err);
  int n = (int)x.shape[0], h = (int)x.shape[2], w = (int)x.shape[3];
  Backend *be = f64 ? backend_cpu64_create(0) : backend_cpu_create(0);
  int eb = be->param_bytes;
  ModelSpec spec;
  model_spec_from_config(&spec, &cfg);
  Model *m = model_create(be, &spec, err, sizeof err);
  CHECK(m, "%s", err);
  model_init_params(m, 1234);
  Optimizer *opt = optim_create(m, &cfg);
  model_plan(m, n, h, w);
  snprintf(path, sizeof path, "%s/init.safetensors", out);
  CHECK(weights_export(m, path, err, sizeof err) == 0, "%s", err);
  int32_t *labels = mem_alloc_or_die((size_t)n * sizeof(int32_t), "labels");
  for (int i = 0; i < n; i++) labels[i] = (int32_t)y.data[i];
  StTensor *t = mem_calloc_or_die((size_t)(m->n_params + m->n_buffers + 2), sizeof(StTensor), "tensors");
  for (int step = 0; step < 3; step++) {
    be->act_from_host_f32(be, model_input(m), x.data, n, 3, h, w);
    be->upload_labels(be, m->labels, labels, n);
    model_forward(m, 1, NULL);
    double loss_sum;
    int64_t correct[2];
    model_loss(m, n, smoothing, 1.0 / n, 1, &loss_sum, correct);
    model_backward(m, NULL);
    if (step == 0) {
      StTensor lg = {.dtype = eb == 8 ? ST_F64 : ST_F32, .ndim = 2,
                     .shape = {n, spec.num_classes}, .data = model_logits(m),
                     .n_elems = (size_t)n * spec.num_classes};
      snprintf(lg.name, sizeof lg.name, "logits");
      write_file(out, "logits.safetensors", &lg, 1);
      snprintf(path, sizeof path, "%s/loss.txt", out);
      FILE *f = fopen(path, "w");
      CHECK(f, "cannot write %s", path);
      fprintf(f, "%.17g\n", loss_sum / n);
      fclose(f);
      int k = add_table(t, 0, m->param_table, m->n_params, m->grads, eb, "");
      write_file(out, "grads.safetensors", t, k);
    }
    optim_step(opt, lr, 1.0);
  }
  int k = add_table(t, 0, m->param_table, m->n_params, m->params, eb, "");
  k = add_table(t, k, m->buffer_table, m->n_buffers, m->buffers, eb, "");
  StTensor *nbt = &t[k++];
  snprintf(nbt->name, sizeof nbt->name, "num_batches_tracked");
  nbt->dtype = ST_I64;
  nbt->data = &m->num_batches_tracked;
  nbt->n_elems = 1;
  write_file(out, "after3.safetensors", t, k);
  mem_free(t);
  optim_destroy(opt);
  model_destroy(m);
  be->destroy(be);
  mem_free(labels);
  mem_free(x.data);
  mem_free(y.data);
  return 0;
}
