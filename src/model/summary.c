/* summary.c - torchsummary-style layer table and the memory plan.
 *
 * One row per op with its torchvision module name, output shape [-1, C, H, W],
 * parameter count and multiply-accumulates per image (convolutions and the
 * FC layer; BN, pooling and additions are not counted, as in the usual
 * "4.09 GMACs for ResNet-50" figure). */
#include <inttypes.h>
#include <string.h>

#include "model/resnet.h"

/* 1234567 -> "1,234,567" */
static const char *commas(int64_t v, char *buf, size_t n) {
  char raw[32];
  snprintf(raw, sizeof raw, "%" PRId64, v < 0 ? -v : v);
  size_t len = strlen(raw), o = 0;
  if (v < 0 && o + 1 < n) buf[o++] = '-';
  for (size_t i = 0; i < len && o + 1 < n; i++) {
    if (i && (len - i) % 3 == 0 && o + 1 < n) buf[o++] = ',';
    buf[o++] = raw[i];
  }
  buf[o] = '\0';
  return buf;
}

static const char *op_type(const Op *op) {
  switch (op->kind) {
    case OP_CONV: return "Conv2d";
    case OP_BN:
      if (op->res >= 0) return op->relu ? "BatchNorm2d+Add+ReLU" : "BatchNorm2d+Add";
      return op->relu ? "BatchNorm2d+ReLU" : "BatchNorm2d";
    case OP_MAXPOOL: return "MaxPool2d";
    case OP_AVGPOOL: return "AdaptiveAvgPool2d";
    case OP_FC: return "Linear";
    case OP_PAD: return "ShortcutA(pad)";
  }
  return "?";
}

static int64_t op_params(const Model *m, const Op *op) {
  if (op->param < 0) return 0;
  int64_t n = (int64_t)m->param_table[op->param].n_elems;
  if (op->kind == OP_BN || op->kind == OP_FC) n += (int64_t)m->param_table[op->param + 1].n_elems;
  return n;
}

static double mib(size_t n_bytes) { return (double)n_bytes / (1024.0 * 1024.0); }

void model_print_summary(Model *m, int batch, int h, int w, const ModelBudget *budget,
                         FILE *out) {
  size_t act = 0, grad = 0;
  size_t plan = model_plan_bytes(m, batch, h, w, &act, &grad); /* sets the shapes */
  char b1[32], b2[32];
  const char *rule =
      "--------------------------------------------------------------------------------------"
      "------\n";
  fprintf(out, "%s", rule);
  fprintf(out, "%-28s %-22s %-20s %12s %14s\n", "Layer", "Type", "Output Shape", "Param #", "MACs");
  fprintf(out, "%s", rule);
  int64_t total_params = 0;
  for (int i = 0; i < m->n_ops; i++) {
    const Op *op = &m->ops[i];
    const Tensor *t = &m->tensors[op->out], *in = &m->tensors[op->in];
    char shape[48];
    if (op->kind == OP_AVGPOOL || op->kind == OP_FC)
      snprintf(shape, sizeof shape, "[-1, %d]", t->c);
    else
      snprintf(shape, sizeof shape, "[-1, %d, %d, %d]", t->c, t->h, t->w);
    int64_t macs = 0;
    if (op->kind == OP_CONV) macs = (int64_t)t->c * in->c * op->win * op->win * t->h * t->w;
    if (op->kind == OP_FC) macs = (int64_t)in->c * t->c;
    int64_t np = op_params(m, op);
    total_params += np;
    fprintf(out, "%-28s %-22s %-20s %12s %14s\n", op->name, op_type(op), shape,
            commas(np, b1, sizeof b1), macs ? commas(macs, b2, sizeof b2) : "");
  }
  fprintf(out, "%s", rule);
  int64_t macs = model_macs_per_image(m);
  fprintf(out, "Architecture: %s (%s%s), %d classes, input 3 x %d x %d\n",
          config_arch_name(m->spec.arch),
          model_arch_is_cifar(m->spec.arch) ? "CIFAR, shortcut "
                                            : (m->spec.variant == VARIANT_V1 ? "v1" : "v1.5"),
          model_arch_is_cifar(m->spec.arch) ? (m->spec.shortcut == SHORTCUT_A ? "A" : "B") : "",
          m->spec.num_classes, h, w);
  fprintf(out, "Total params: %s\n", commas(total_params, b1, sizeof b1));
  fprintf(out, "Trainable params: %s\n", commas((int64_t)m->n_param_elems, b1, sizeof b1));
  fprintf(out, "Buffers (BN running statistics): %s\n",
          commas((int64_t)m->n_buffer_elems, b1, sizeof b1));
  fprintf(out, "MACs per image: %s (%.2f GMACs)\n", commas(macs, b1, sizeof b1), macs * 1e-9);
  size_t param_mem = model_param_bytes(m), ws = budget ? budget->workspace_bytes : 0;
  fprintf(out, "Memory plan (backend %s, batch %d per rank, %d-byte activations):\n",
          m->be->name, batch, m->be->act_bytes);
  fprintf(out, "  activations             %10.1f MiB\n", mib(act));
  fprintf(out, "  activation gradients    %10.1f MiB  (shared where lifetimes allow)\n",
          mib(grad));
  fprintf(out, "  params+grads+momentum   %10.1f MiB\n", mib(param_mem));
  if (ws) fprintf(out, "  workspace (cuDNN)       %10.1f MiB\n", mib(ws));
  size_t extra = budget ? budget->per_image_bytes * (size_t)batch : 0;
  if (extra) fprintf(out, "  batch rings (host)      %10.1f MiB\n", mib(extra));
  fprintf(out, "  total                   %10.1f MiB\n", mib(plan + param_mem + ws + extra));
  if (!budget || !budget->available_bytes) return;
  fprintf(out, "  available for the plan  %10.1f MiB  (%s)\n", mib(budget->available_bytes),
          budget->where);
  if (plan + extra <= budget->available_bytes) {
    fprintf(out, "Batch %d fits.\n", batch);
  } else {
    int fit = model_largest_batch(m, h, w, budget, batch);
    fprintf(out, "Batch %d does NOT fit; the largest batch that fits is %d.\n", batch, fit);
  }
}
