/* test_model_arch.c - the architecture as torchvision and the paper define it:
 * parameter counts of every depth, MACs of ResNet-50 at 224, torchvision
 * names, image-size and class-count errors, export/import round trip and the
 * import error that lists mismatched names. */
#include <string.h>
#include <unistd.h>

#include "backend/backend.h"
#include "core/mem.h"
#include "model/resnet.h"
#include "model/weights.h"
#include "test_util.h"

static Backend *be;

static Model *make(int arch, int classes, int shortcut, int variant) {
  Config cfg;
  config_defaults(&cfg);
  cfg.model.arch = arch;
  cfg.model.num_classes = classes;
  cfg.model.shortcut = shortcut;
  cfg.model.variant = variant;
  ModelSpec s;
  model_spec_from_config(&s, &cfg);
  char err[512];
  Model *m = model_create(be, &s, err, sizeof err);
  T_CHECK(m != NULL, "model_create: %s", err);
  return m;
}

/* torchvision.models.resnetXX(num_classes=1000): sum(p.numel()) */
static void test_imagenet_param_counts(void) {
  static const struct { int arch; size_t params; } want[] = {
      {ARCH_RESNET18, 11689512}, {ARCH_RESNET34, 21797672}, {ARCH_RESNET50, 25557032},
      {ARCH_RESNET101, 44549160}, {ARCH_RESNET152, 60192808}};
  for (int i = 0; i < 5; i++) {
    Model *m = make(want[i].arch, 1000, SHORTCUT_A, VARIANT_V1_5);
    T_CHECK(m->n_param_elems == want[i].params, "%s: %zu params, torchvision has %zu",
            config_arch_name(want[i].arch), m->n_param_elems, want[i].params);
    model_destroy(m);
  }
  /* v1 moves the stride, not the parameters */
  Model *m = make(ARCH_RESNET50, 1000, SHORTCUT_A, VARIANT_V1);
  T_CHECK(m->n_param_elems == 25557032, "v1: %zu", m->n_param_elems);
  model_destroy(m);
}

/* He et al. Table 6: 0.27M, 0.46M, 0.66M, 0.85M, 1.7M (option A, 10 classes).
 * Exact count for 6n+2 layers, counted by hand from the architecture:
 * stem 432+32, stage 1: n*(2*2304+64), stage 2: 13952 + (n-1)*18560,
 * stage 3: 55552 + (n-1)*73984, fc 650. */
static void test_cifar_param_counts(void) {
  static const struct { int arch, n; double paper_m; } want[] = {
      {ARCH_RESNET20, 3, 0.27}, {ARCH_RESNET32, 5, 0.46}, {ARCH_RESNET44, 7, 0.66},
      {ARCH_RESNET56, 9, 0.85}, {ARCH_RESNET110, 18, 1.7}};
  for (int i = 0; i < 5; i++) {
    size_t n = (size_t)want[i].n;
    size_t exact = 464 + n * 4672 + 13952 + (n - 1) * 18560 + 55552 + (n - 1) * 73984 + 650;
    Model *a = make(want[i].arch, 10, SHORTCUT_A, VARIANT_V1_5);
    Model *b = make(want[i].arch, 10, SHORTCUT_B, VARIANT_V1_5);
    T_CHECK(a->n_param_elems == exact, "%s A: %zu, expected %zu", config_arch_name(want[i].arch),
            a->n_param_elems, exact);
    T_NEAR(a->n_param_elems / 1e6, want[i].paper_m, 0, want[i].paper_m < 1 ? 0.005 : 0.05,
           "paper's rounded count");
    /* option B adds the 1x1 projections (and their BN) of stages 2 and 3 */
    T_CHECK(b->n_param_elems == exact + 2752, "%s B: %zu", config_arch_name(want[i].arch),
            b->n_param_elems);
    model_destroy(a);
    model_destroy(b);
  }
}

static void test_macs_and_names(void) {
  Model *m = make(ARCH_RESNET50, 1000, SHORTCUT_A, VARIANT_V1_5);
  model_plan(m, 1, 224, 224);
  int64_t macs = model_macs_per_image(m);
  /* conv + fc multiply-accumulates of torchvision's resnet50 at 224x224 */
  T_CHECK(macs == 4089184256LL, "ResNet-50 MACs %lld", (long long)macs);
  T_CHECK(!strcmp(m->param_table[0].name, "conv1.weight"), "first %s", m->param_table[0].name);
  T_CHECK(!strcmp(m->param_table[m->n_params - 1].name, "fc.bias"), "last");
  T_CHECK(model_find_param(m, "layer4.2.conv3.weight") >= 0, "layer4.2.conv3");
  T_CHECK(model_find_param(m, "layer2.0.downsample.0.weight") >= 0, "downsample");
  T_CHECK(model_find_buffer(m, "layer3.5.bn3.running_var") >= 0, "running_var");
  T_CHECK(m->tensors[m->n_tensors - 1].c == 1000, "logits");
  /* v1.5: the stride sits on layer2.0.conv2 (3x3), v1: on conv1 (1x1) */
  for (int i = 0; i < m->n_ops; i++)
    if (!strcmp(m->ops[i].name, "layer2.0.conv2")) T_CHECK(m->ops[i].stride == 2, "v1.5 stride");
  model_destroy(m);
  m = make(ARCH_RESNET50, 1000, SHORTCUT_A, VARIANT_V1);
  for (int i = 0; i < m->n_ops; i++)
    if (!strcmp(m->ops[i].name, "layer2.0.conv1")) T_CHECK(m->ops[i].stride == 2, "v1 stride");
  model_destroy(m);
}

static void test_bad_input(void) {
  ModelSpec s = {.arch = ARCH_RESNET50, .num_classes = 10, .bn_momentum = 0.1, .bn_eps = 1e-5};
  char err[512];
  T_CHECK(model_check_image_size(&s, 8, 8, err, sizeof err) == -1, "8x8 accepted");
  T_CHECK(strstr(err, "too small for resnet50") && strstr(err, "at least 32x32"), "%s", err);
  T_CHECK(model_check_image_size(&s, 224, 224, err, sizeof err) == 0, "224 refused");
  s.arch = ARCH_RESNET20;
  T_CHECK(model_check_image_size(&s, 8, 8, err, sizeof err) == 0, "cifar 8x8 refused");
  s.num_classes = 0;
  T_CHECK(model_create(be, &s, err, sizeof err) == NULL && strstr(err, "num_classes"), "%s", err);
}

static void test_export_import(void) {
  char path[] = "/tmp/rd_test_weights_XXXXXX";
  int fd = mkstemp(path);
  close(fd);
  char err[4096];
  Model *a = make(ARCH_RESNET20, 10, SHORTCUT_B, VARIANT_V1_5);
  model_init_params(a, 99);
  a->num_batches_tracked = 17;
  T_CHECK(weights_export(a, path, err, sizeof err) == 0, "export: %s", err);
  Model *b = make(ARCH_RESNET20, 10, SHORTCUT_B, VARIANT_V1_5);
  model_init_params(b, 5);
  T_CHECK(weights_import(b, path, err, sizeof err) == 0, "import: %s", err);
  size_t nb = a->n_param_elems * (size_t)be->param_bytes;
  T_CHECK(memcmp(a->params, b->params, nb) == 0, "params differ after round trip");
  T_CHECK(b->num_batches_tracked == 17, "num_batches_tracked %lld", (long long)b->num_batches_tracked);
  Model *c = make(ARCH_RESNET20, 100, SHORTCUT_A, VARIANT_V1_5);
  T_CHECK(weights_import(c, path, err, sizeof err) == -1, "wrong model accepted");
  T_CHECK(strstr(err, "fc.weight has shape [10,64], the model needs [100,64]") != NULL, "%s", err);
  T_CHECK(strstr(err, "unexpected layer2.0.downsample.0.weight") != NULL, "%s", err);
  T_CHECK(strchr(err, '\n') == NULL, "one line");
  model_destroy(a);
  model_destroy(b);
  model_destroy(c);
  unlink(path);
}

int main(void) {
  be = backend_cpu_create(1);
  TEST_RUN(test_imagenet_param_counts);
  TEST_RUN(test_cifar_param_counts);
  TEST_RUN(test_macs_and_names);
  TEST_RUN(test_bad_input);
  TEST_RUN(test_export_import);
  be->destroy(be);
  return test_summary();
}
