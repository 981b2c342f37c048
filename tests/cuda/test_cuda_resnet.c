/* test_cuda_resnet.c - whole networks on the GPU agree with the CPU oracle.
 *
 * One training step's forward, loss and backward (no optimizer) of
 * ResNet-50 (batch 2, 224x224, 1000 classes) and CIFAR ResNet-20 (shortcut A,
 * batch 8, 32x32, 10 classes) through the model API (src/model/resnet.h),
 * with the same seed, images and labels on the CUDA backend and on
 * backend_cpu_create's fp32 oracle.  The GPU runs in its own precision (the
 * bf16 run uses bf16-rounded weights and activations; the CPU stays fp32),
 * so the bf16 bounds measure the whole mixed-precision path, not one op.
 *
 * Tolerances, relative L2 norm of gpu - cpu:
 *                  logits   loss    conv grads   BN grads   FC grads   running stats
 *   fp32-strict    1e-3     1e-4    2e-3         2e-3       2e-3       1e-4
 *   fp32 (TF32)    2e-2     5e-3    5e-2         5e-2       5e-2       5e-3
 *   bf16, fp16     5e-2     2e-2    1.5e-1       1.5e-1     1e-1       2e-2
 * fp32-strict: FMA algorithms (incl. Winograd / FFT at ~1e-5 per conv) over
 * 53 convolutions and BN layers normalised over as few as 98 values per
 * channel.  Reduced precision: activations are rounded at every layer
 * (2^-9 for bf16), and the errors of ~100 roundings add up along the depth.
 * The worst parameters are printed to help tune these bounds on a GPU.
 */
#include <stdio.h>
#include <string.h>

#include "backend/cuda/backend_cuda.h"
#include "config/config.h"
#include "core/check.h"
#include "cuda_test_util.h"
#include "model/resnet.h"

typedef struct {
  int precision;
  double logits, loss, conv, bn, fc, running;
} NetTol;

static const NetTol TOLS[] = {
    {PREC_FP32_STRICT, 1e-3, 1e-4, 2e-3, 2e-3, 2e-3, 1e-4},
    {PREC_FP32, 2e-2, 5e-3, 5e-2, 5e-2, 5e-2, 5e-3},
    {PREC_BF16, 5e-2, 2e-2, 1.5e-1, 1.5e-1, 1e-1, 2e-2},
    {PREC_FP16, 5e-2, 2e-2, 1.5e-1, 1.5e-1, 1e-1, 2e-2},
};

typedef struct {
  int arch, classes, batch, side;
  const int *precisions;
  int n_precisions;
} NetCase;

/* Host copies of one step's results. */
typedef struct {
  float *logits, *grads, *buffers;
  double loss;
  int64_t hits[2];
} StepResult;

static Model *build(Backend *be, const NetCase *nc) {
  ModelSpec spec = {nc->arch, nc->classes, VARIANT_V1_5, SHORTCUT_A, 0, 0.1, 1e-5};
  char err[512] = "";
  Model *m = model_create(be, &spec, err, sizeof err);
  CHECK(m, "model_create: %s", err);
  model_init_params(m, 1234);
  model_plan(m, nc->batch, nc->side, nc->side);
  return m;
}

static void run_step(Model *m, const uint8_t *img, const int32_t *labels, StepResult *r) {
  static const float mean[3] = {0.485f, 0.456f, 0.406f}, std[3] = {0.229f, 0.224f, 0.225f};
  Backend *be = m->be;
  be->input_u8(be, model_input(m), img, m->batch, m->image_h, m->image_w, mean, std);
  be->upload_labels(be, m->labels, labels, m->batch);
  model_forward(m, 1, NULL);
  model_loss(m, m->batch, 0.1, 1.0 / m->batch, 1, &r->loss, r->hits);
  model_backward(m, NULL);
  be->sync(be);
  const int k = m->spec.num_classes;
  r->logits = mem_alloc_or_die((size_t)m->batch * k * sizeof(float), "logits");
  r->grads = mem_alloc_or_die(m->n_param_elems * sizeof(float), "grads");
  r->buffers = mem_alloc_or_die(m->n_buffer_elems * sizeof(float), "buffers");
  be->act_to_host_f32(be, r->logits, model_logits(m), m->batch, k, 1, 1);
  be->params_to_host_f32(be, r->grads, m->grads, m->n_param_elems);
  be->params_to_host_f32(be, r->buffers, m->buffers, m->n_buffer_elems);
}

static void result_free(StepResult *r) {
  mem_free(r->logits);
  mem_free(r->grads);
  mem_free(r->buffers);
}

/* Relative error over the parameters of one kind (0 conv, 1 BN, 2 FC). */
static int param_kind(const ParamEntry *e) {
  if (!strncmp(e->name, "fc.", 3)) return 2;
  return e->ndim == 4 ? 0 : 1;
}

static double group_err(const Model *m, const float *g, const float *c, int kind) {
  double num = 0, den = 0;
  for (int i = 0; i < m->n_params; i++) {
    const ParamEntry *e = &m->param_table[i];
    if (param_kind(e) != kind) continue;
    for (size_t j = e->offset; j < e->offset + e->n_elems; j++) {
      if (!isfinite(g[j])) return INFINITY;
      double d = (double)g[j] - (double)c[j];
      num += d * d;
      den += (double)c[j] * c[j];
    }
  }
  return den > 0 ? sqrt(num / den) : sqrt(num);
}

static void print_worst(const Model *m, const float *g, const float *c) {
  int worst[3] = {-1, -1, -1};
  double err[3] = {-1, -1, -1};
  for (int i = 0; i < m->n_params; i++) {
    const ParamEntry *e = &m->param_table[i];
    double ei = cu_rel_err(g + e->offset, c + e->offset, e->n_elems);
    for (int s = 0; s < 3; s++) {
      if (ei <= err[s]) continue;
      for (int t = 2; t > s; t--) err[t] = err[t - 1], worst[t] = worst[t - 1];
      err[s] = ei, worst[s] = i;
      break;
    }
  }
  for (int s = 0; s < 3 && worst[s] >= 0; s++)
    printf("    worst gradient %d: %-40s rel err %.3e\n", s + 1, m->param_table[worst[s]].name,
           err[s]);
}

static const NetTol *tol_of(int precision) {
  for (size_t i = 0; i < sizeof TOLS / sizeof TOLS[0]; i++)
    if (TOLS[i].precision == precision) return &TOLS[i];
  return NULL;
}

static void compare(const NetCase *nc, int precision, const uint8_t *img, const int32_t *labels,
                    const StepResult *cpu) {
  const NetTol *t = tol_of(precision);
  const char *arch = config_arch_name(nc->arch), *prec = config_precision_name(precision);
  CudaBackendOptions opt = {.device = 0, .precision = precision};
  Backend *gpu = backend_cuda_create(&opt);
  Model *m = build(gpu, nc);
  StepResult r;
  run_step(m, img, labels, &r);
  const size_t n_logits = (size_t)nc->batch * nc->classes;
  CU_EXPECT(cu_rel_err(r.logits, cpu->logits, n_logits), t->logits, "%s %s logits", arch, prec);
  CU_EXPECT(fabs(r.loss - cpu->loss) / fabs(cpu->loss), t->loss, "%s %s loss", arch, prec);
  CU_EXPECT(group_err(m, r.grads, cpu->grads, 0), t->conv, "%s %s conv gradients", arch, prec);
  CU_EXPECT(group_err(m, r.grads, cpu->grads, 1), t->bn, "%s %s BN gradients", arch, prec);
  CU_EXPECT(group_err(m, r.grads, cpu->grads, 2), t->fc, "%s %s FC gradients", arch, prec);
  CU_EXPECT(cu_rel_err(r.buffers, cpu->buffers, m->n_buffer_elems), t->running,
            "%s %s BN running statistics", arch, prec);
  print_worst(m, r.grads, cpu->grads);
  result_free(&r);
  model_destroy(m);
  gpu->destroy(gpu);
}

static void run_case(const NetCase *nc) {
  size_t n_bytes = (size_t)nc->batch * nc->side * nc->side * 3;
  uint8_t *img = mem_alloc_or_die(n_bytes, "images");
  int32_t *labels = mem_alloc_or_die((size_t)nc->batch * sizeof(int32_t), "labels");
  RngStream rs;
  rng_stream_init(&rs, 3, rng_id_hi(RNG_DOMAIN_TEST, 900), (uint32_t)nc->arch);
  for (size_t i = 0; i < n_bytes; i++) img[i] = (uint8_t)rng_below(&rs, 256);
  for (int i = 0; i < nc->batch; i++) labels[i] = (int32_t)rng_below(&rs, (uint32_t)nc->classes);

  Backend *cpu = backend_cpu_create(0);
  Model *mc = build(cpu, nc);
  StepResult ref;
  run_step(mc, img, labels, &ref);
  printf("== %s batch %d: cpu loss %.6f, top-1 %lld\n", config_arch_name(nc->arch), nc->batch,
         ref.loss, (long long)ref.hits[0]);
  model_destroy(mc);
  cpu->destroy(cpu);

  for (int i = 0; i < nc->n_precisions; i++) compare(nc, nc->precisions[i], img, labels, &ref);
  result_free(&ref);
  mem_free(labels);
  mem_free(img);
}

static const int ALL_PRECISIONS[] = {PREC_FP32_STRICT, PREC_FP32, PREC_BF16, PREC_FP16};
static const int R50_PRECISIONS[] = {PREC_FP32_STRICT, PREC_BF16};

static void test_resnet20(void) {
  NetCase nc = {ARCH_RESNET20, 10, 8, 32, ALL_PRECISIONS, 4};
  run_case(&nc);
}

static void test_resnet50(void) {
  NetCase nc = {ARCH_RESNET50, 1000, 2, 224, R50_PRECISIONS, 2};
  run_case(&nc);
}

int main(void) {
  if (backend_cuda_device_count() == 0) test_skip("no GPU (backend_cuda_device_count() = 0)");
  TEST_RUN(test_resnet20);
  TEST_RUN(test_resnet50);
  return test_summary();
}
