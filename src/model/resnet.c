/* resnet.c - building the ResNet op list, planning its memory, running it.
 *
 * Architecture references: He et al., "Deep Residual Learning for Image
 * Recognition" (CVPR 2016), Table 1 (ImageNet) and section 4.2 (CIFAR);
 * torchvision.models.resnet for names, parameter order, v1.5 and init.
 *
 * Construction declares each block's parameters first, in torchvision's order
 * (conv1, bn1, conv2, bn2, [conv3, bn3], downsample.0, downsample.1), and only
 * then emits the block's ops in execution order (the shortcut runs before the
 * last BN, which adds it).  So the arena order is torchvision's state_dict
 * order while the op list is the order of computation.
 */
#include "model/resnet.h"

#include <math.h>
#include <stdarg.h>
#include <string.h>

#include "core/check.h"
#include "core/mem.h"
#include "core/rng.h"

enum { ARENA_ALIGN = 256 };

/* ------------------------------------------------------------------ spec */

static const struct {
  int cifar;
  int bottleneck;
  int blocks[4];
} ARCHS[] = {
    [ARCH_RESNET18] = {0, 0, {2, 2, 2, 2}},   [ARCH_RESNET34] = {0, 0, {3, 4, 6, 3}},
    [ARCH_RESNET50] = {0, 1, {3, 4, 6, 3}},   [ARCH_RESNET101] = {0, 1, {3, 4, 23, 3}},
    [ARCH_RESNET152] = {0, 1, {3, 8, 36, 3}}, [ARCH_RESNET20] = {1, 0, {3, 3, 3, 0}},
    [ARCH_RESNET32] = {1, 0, {5, 5, 5, 0}},   [ARCH_RESNET44] = {1, 0, {7, 7, 7, 0}},
    [ARCH_RESNET56] = {1, 0, {9, 9, 9, 0}},   [ARCH_RESNET110] = {1, 0, {18, 18, 18, 0}},
};

void model_spec_from_config(ModelSpec *spec, const Config *cfg) {
  spec->arch = cfg->model.arch;
  spec->num_classes = cfg->model.num_classes;
  spec->variant = cfg->model.variant;
  spec->shortcut = cfg->model.shortcut;
  spec->zero_init_residual = cfg->model.zero_init_residual;
  spec->bn_momentum = cfg->model.bn_momentum;
  spec->bn_eps = cfg->model.bn_eps;
}

int model_arch_is_cifar(int arch) { return ARCHS[arch].cifar; }
int model_total_stride(int arch) { return ARCHS[arch].cifar ? 4 : 32; }

int model_check_image_size(const ModelSpec *spec, int h, int w, char *err, size_t err_len) {
  int s = model_total_stride(spec->arch);
  if (h >= s && w >= s) return 0;
  snprintf(err, err_len,
           "a %dx%d image is too small for %s: the network downsamples by %d, so images must be "
           "at least %dx%d (data.image_size / data.val_crop)",
           h, w, config_arch_name(spec->arch), s, s, s);
  return -1;
}

/* ------------------------------------------------------------------ building */

static void *grow(void *p, int n, int *cap, size_t elem, const char *what) {
  if (n < *cap) return p;
  *cap = *cap ? *cap * 2 : 64;
  return mem_realloc_or_die(p, (size_t)*cap * elem, what);
}

typedef struct {
  Model *m;
  int cap_ops, cap_tensors, cap_params, cap_buffers, cap_bn;
} Builder;

static void fmt_name(char *out, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fmt_name(char *out, size_t n, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int len = vsnprintf(out, n, fmt, ap);
  va_end(ap);
  CHECK(len >= 0 && (size_t)len < n, "name too long: %s", out);
}

static int new_tensor(Builder *b, int c) {
  Model *m = b->m;
  m->tensors = grow(m->tensors, m->n_tensors, &b->cap_tensors, sizeof(Tensor), "tensors");
  Tensor *t = &m->tensors[m->n_tensors];
  memset(t, 0, sizeof *t);
  t->c = c;
  t->producer = -1;
  t->last_consumer = -1;
  return m->n_tensors++;
}

static int new_entry(ParamEntry **table, int *n, int *cap, size_t *total, const char *name,
                     int ndim, const int *shape, int no_decay) {
  *table = grow(*table, *n, cap, sizeof(ParamEntry), "parameter table");
  ParamEntry *e = &(*table)[*n];
  memset(e, 0, sizeof *e);
  fmt_name(e->name, sizeof e->name, "%s", name);
  e->ndim = ndim;
  e->n_elems = 1;
  for (int i = 0; i < ndim; i++) {
    e->shape[i] = shape[i];
    e->n_elems *= (size_t)shape[i];
  }
  e->offset = *total;
  e->no_decay = no_decay;
  *total += e->n_elems;
  return (*n)++;
}

static int decl_param(Builder *b, const char *module, const char *suffix, int ndim,
                      const int *shape, int no_decay) {
  char name[96];
  fmt_name(name, sizeof name, "%s.%s", module, suffix);
  Model *m = b->m;
  return new_entry(&m->param_table, &m->n_params, &b->cap_params, &m->n_param_elems, name, ndim,
                   shape, no_decay);
}

static int decl_conv(Builder *b, const char *module, int k, int c, int r) {
  int shape[4] = {k, c, r, r};
  return decl_param(b, module, "weight", 4, shape, 0);
}

/* Declares a BN module: weight, bias (params), running_mean, running_var. */
static int decl_bn(Builder *b, const char *module, int c, int zero_init) {
  Model *m = b->m;
  int shape[1] = {c};
  decl_param(b, module, "weight", 1, shape, 1);
  decl_param(b, module, "bias", 1, shape, 1);
  char name[96];
  fmt_name(name, sizeof name, "%s.running_mean", module);
  int ib = new_entry(&m->buffer_table, &m->n_buffers, &b->cap_buffers, &m->n_buffer_elems, name,
                     1, shape, 0);
  fmt_name(name, sizeof name, "%s.running_var", module);
  new_entry(&m->buffer_table, &m->n_buffers, &b->cap_buffers, &m->n_buffer_elems, name, 1, shape,
            0);
  m->bn = grow(m->bn, m->n_bn, &b->cap_bn, sizeof(BnLayer), "bn layers");
  BnLayer *l = &m->bn[m->n_bn];
  memset(l, 0, sizeof *l);
  l->c = c;
  l->running_off = m->buffer_table[ib].offset;
  l->zero_init = zero_init;
  return m->n_bn++;
}

static Op *new_op(Builder *b, OpKind kind, const char *name, int in) {
  Model *m = b->m;
  m->ops = grow(m->ops, m->n_ops, &b->cap_ops, sizeof(Op), "ops");
  Op *op = &m->ops[m->n_ops];
  memset(op, 0, sizeof *op);
  op->kind = kind;
  fmt_name(op->name, sizeof op->name, "%s", name);
  op->in = in;
  op->res = -1;
  op->param = -1;
  op->bn = -1;
  m->n_ops++;
  return op;
}

static int emit_conv(Builder *b, const char *module, int param, int in, int k, int r, int stride,
                     int pad) {
  int out = new_tensor(b, k);
  Op *op = new_op(b, OP_CONV, module, in);
  op->out = out;
  op->param = param;
  op->win = r;
  op->stride = stride;
  op->pad = pad;
  return out;
}

static int emit_bn(Builder *b, const char *module, int bn, int in, int res, int relu) {
  Model *m = b->m;
  int out = new_tensor(b, m->tensors[in].c);
  Op *op = new_op(b, OP_BN, module, in);
  op->out = out;
  op->bn = bn;
  op->res = res;
  op->relu = relu;
  /* BN gamma is the param declared right before this layer's beta */
  char name[96];
  fmt_name(name, sizeof name, "%s.weight", module);
  op->param = model_find_param(m, name);
  CHECK(op->param >= 0, "no parameter %s", name);
  return out;
}

static int emit_simple(Builder *b, OpKind kind, const char *name, int in, int c_out, int win,
                       int stride, int pad) {
  int out = new_tensor(b, c_out);
  Op *op = new_op(b, kind, name, in);
  op->out = out;
  op->win = win;
  op->stride = stride;
  op->pad = pad;
  return out;
}

/* BasicBlock: conv3x3(s)-bn-relu-conv3x3-bn (+shortcut) relu.  shortcut_a:
 * CIFAR option A (zero-padded identity) instead of a projection. */
static int basic_block(Builder *b, const char *prefix, int x, int planes, int stride,
                       int shortcut_a) {
  Model *m = b->m;
  int in_c = m->tensors[x].c;
  int project = stride != 1 || in_c != planes;
  char n1[64], n2[64], n3[64], n4[64], nd0[64], nd1[64];
  fmt_name(n1, sizeof n1, "%s.conv1", prefix);
  fmt_name(n2, sizeof n2, "%s.bn1", prefix);
  fmt_name(n3, sizeof n3, "%s.conv2", prefix);
  fmt_name(n4, sizeof n4, "%s.bn2", prefix);
  fmt_name(nd0, sizeof nd0, "%s.downsample.0", prefix);
  fmt_name(nd1, sizeof nd1, "%s.downsample.1", prefix);
  int p1 = decl_conv(b, n1, planes, in_c, 3);
  int b1 = decl_bn(b, n2, planes, 0);
  int p2 = decl_conv(b, n3, planes, planes, 3);
  int b2 = decl_bn(b, n4, planes, 1);
  int pd = -1, bd = -1;
  if (project && !shortcut_a) {
    pd = decl_conv(b, nd0, planes, in_c, 1);
    bd = decl_bn(b, nd1, planes, 0);
  }
  int t = emit_conv(b, n1, p1, x, planes, 3, stride, 1);
  t = emit_bn(b, n2, b1, t, -1, 1);
  t = emit_conv(b, n3, p2, t, planes, 3, 1, 1);
  int res = x;
  if (project && shortcut_a) {
    char np[64];
    fmt_name(np, sizeof np, "%s.shortcut", prefix);
    res = emit_simple(b, OP_PAD, np, x, planes, 1, stride, 0);
  } else if (project) {
    res = emit_conv(b, nd0, pd, x, planes, 1, stride, 0);
    res = emit_bn(b, nd1, bd, res, -1, 0);
  }
  return emit_bn(b, n4, b2, t, res, 1);
}

/* Bottleneck: conv1x1-bn-relu-conv3x3-bn-relu-conv1x1(x4)-bn (+shortcut) relu.
 * v1.5 strides the 3x3; v1 strides the first 1x1. */
static int bottleneck_block(Builder *b, const char *prefix, int x, int planes, int stride,
                            int v1) {
  Model *m = b->m;
  int in_c = m->tensors[x].c, out_c = planes * 4;
  int project = stride != 1 || in_c != out_c;
  char nc[3][64], nb[3][64], nd0[64], nd1[64];
  for (int i = 0; i < 3; i++) {
    fmt_name(nc[i], sizeof nc[i], "%s.conv%d", prefix, i + 1);
    fmt_name(nb[i], sizeof nb[i], "%s.bn%d", prefix, i + 1);
  }
  fmt_name(nd0, sizeof nd0, "%s.downsample.0", prefix);
  fmt_name(nd1, sizeof nd1, "%s.downsample.1", prefix);
  int p1 = decl_conv(b, nc[0], planes, in_c, 1);
  int b1 = decl_bn(b, nb[0], planes, 0);
  int p2 = decl_conv(b, nc[1], planes, planes, 3);
  int b2 = decl_bn(b, nb[1], planes, 0);
  int p3 = decl_conv(b, nc[2], out_c, planes, 1);
  int b3 = decl_bn(b, nb[2], out_c, 1);
  int pd = -1, bd = -1;
  if (project) {
    pd = decl_conv(b, nd0, out_c, in_c, 1);
    bd = decl_bn(b, nd1, out_c, 0);
  }
  int t = emit_conv(b, nc[0], p1, x, planes, 1, v1 ? stride : 1, 0);
  t = emit_bn(b, nb[0], b1, t, -1, 1);
  t = emit_conv(b, nc[1], p2, t, planes, 3, v1 ? 1 : stride, 1);
  t = emit_bn(b, nb[1], b2, t, -1, 1);
  t = emit_conv(b, nc[2], p3, t, out_c, 1, 1, 0);
  int res = x;
  if (project) {
    res = emit_conv(b, nd0, pd, x, out_c, 1, stride, 0);
    res = emit_bn(b, nd1, bd, res, -1, 0);
  }
  return emit_bn(b, nb[2], b3, t, res, 1);
}

static void build(Builder *b) {
  Model *m = b->m;
  const ModelSpec *s = &m->spec;
  int cifar = ARCHS[s->arch].cifar, bottleneck = ARCHS[s->arch].bottleneck;
  int x = new_tensor(b, 3);
  int stem_c = cifar ? 16 : 64;
  int p = decl_conv(b, "conv1", stem_c, 3, cifar ? 3 : 7);
  int bn = decl_bn(b, "bn1", stem_c, 0);
  int t = cifar ? emit_conv(b, "conv1", p, x, stem_c, 3, 1, 1)
                : emit_conv(b, "conv1", p, x, stem_c, 7, 2, 3);
  t = emit_bn(b, "bn1", bn, t, -1, 1);
  if (!cifar) t = emit_simple(b, OP_MAXPOOL, "maxpool", t, stem_c, 3, 2, 1);
  int n_stages = cifar ? 3 : 4;
  for (int st = 0; st < n_stages; st++) {
    int planes = (cifar ? 16 : 64) << st;
    for (int i = 0; i < ARCHS[s->arch].blocks[st]; i++) {
      char prefix[32];
      fmt_name(prefix, sizeof prefix, "layer%d.%d", st + 1, i);
      int stride = (i == 0 && st > 0) ? 2 : 1;
      if (bottleneck)
        t = bottleneck_block(b, prefix, t, planes, stride, s->variant == VARIANT_V1);
      else
        t = basic_block(b, prefix, t, planes, stride, cifar && s->shortcut == SHORTCUT_A);
    }
  }
  int feat = m->tensors[t].c;
  t = emit_simple(b, OP_AVGPOOL, "avgpool", t, feat, 0, 1, 0);
  int wshape[2] = {s->num_classes, feat}, bshape[1] = {s->num_classes};
  int pw = decl_param(b, "fc", "weight", 2, wshape, 0);
  decl_param(b, "fc", "bias", 1, bshape, 1);
  Op *fc = new_op(b, OP_FC, "fc", t);
  fc->param = pw;
  fc->out = new_tensor(b, s->num_classes);
}

/* Consumers, write-vs-accumulate flags for backward, from the op order. */
static void analyse(Model *m) {
  for (int i = 0; i < m->n_ops; i++) {
    Op *op = &m->ops[i];
    m->tensors[op->out].producer = i;
    m->tensors[op->in].last_consumer = i;
    if (op->res >= 0) m->tensors[op->res].last_consumer = i;
    op->need_dx = op->in != 0;
  }
  /* the logits have no consuming op: the loss writes their gradient, so it
   * lives from the end of the op list */
  for (int t = 1; t < m->n_tensors; t++)
    if (m->tensors[t].last_consumer < 0) m->tensors[t].last_consumer = m->n_ops;
  int *written = mem_calloc_or_die((size_t)m->n_tensors, sizeof(int), "written flags");
  for (int i = m->n_ops - 1; i >= 0; i--) {
    Op *op = &m->ops[i];
    if (op->res >= 0) {
      op->dres_accumulate = written[op->res];
      written[op->res] = 1;
    }
    if (op->need_dx) {
      op->dx_accumulate = written[op->in];
      written[op->in] = 1;
    }
    /* these backward ops overwrite their whole input gradient */
    if (op->kind == OP_FC || op->kind == OP_AVGPOOL || op->kind == OP_MAXPOOL)
      CHECK(!op->dx_accumulate, "%s: input gradient would need accumulation", op->name);
  }
  mem_free(written);
}

Model *model_create(Backend *be, const ModelSpec *spec, char *err, size_t err_len) {
  if (spec->num_classes < 1) {
    snprintf(err, err_len, "model.num_classes must be at least 1 (got %d)", spec->num_classes);
    return NULL;
  }
  Model *m = mem_calloc_or_die(1, sizeof *m, "model");
  m->spec = *spec;
  m->be = be;
  Builder b = {.m = m};
  build(&b);
  analyse(m);
  size_t pb = (size_t)be->param_bytes;
  m->params = be->alloc(be, m->n_param_elems * pb, "parameters");
  m->grads = be->alloc(be, m->n_param_elems * pb, "gradients");
  m->buffers = be->alloc(be, m->n_buffer_elems * pb, "BN running statistics");
  m->work = be->act_bytes == be->param_bytes
                ? m->params
                : be->alloc(be, m->n_param_elems * (size_t)be->act_bytes, "working parameters");
  be->zero(be, m->grads, m->n_param_elems * pb);
  for (int i = 0; i < m->n_bn; i++) {
    BnLayer *l = &m->bn[i];
    l->stats = be->alloc(be, (size_t)(2 * l->c + 1) * sizeof(double), "BN statistics");
    l->sums = be->alloc(be, (size_t)(2 * l->c) * sizeof(double), "BN gradient sums");
    l->mean_invstd = be->alloc(be, (size_t)(2 * l->c) * pb, "BN mean/invstd");
  }
  return m;
}

void model_destroy(Model *m) {
  if (!m) return;
  Backend *be = m->be;
  for (int i = 0; i < m->n_ops; i++)
    if (m->ops[i].plan) be->conv_plan_free(be, m->ops[i].plan);
  for (int i = 0; i < m->n_bn; i++) {
    be->free(be, m->bn[i].stats);
    be->free(be, m->bn[i].sums);
    be->free(be, m->bn[i].mean_invstd);
  }
  if (m->work != m->params) be->free(be, m->work);
  be->free(be, m->params);
  be->free(be, m->grads);
  be->free(be, m->buffers);
  if (m->act_arena) be->free(be, m->act_arena);
  if (m->grad_arena) be->free(be, m->grad_arena);
  if (m->labels) be->free(be, m->labels);
  mem_free(m->ops);
  mem_free(m->tensors);
  mem_free(m->param_table);
  mem_free(m->buffer_table);
  mem_free(m->bn);
  mem_free(m);
}

int model_find_param(const Model *m, const char *name) {
  for (int i = 0; i < m->n_params; i++)
    if (!strcmp(m->param_table[i].name, name)) return i;
  return -1;
}

int model_find_buffer(const Model *m, const char *name) {
  for (int i = 0; i < m->n_buffers; i++)
    if (!strcmp(m->buffer_table[i].name, name)) return i;
  return -1;
}

/* ------------------------------------------------------------------ init */

void model_init_params(Model *m, uint64_t seed) {
  float *host = mem_alloc_or_die(m->n_param_elems * sizeof(float), "init parameters");
  for (int i = 0; i < m->n_params; i++) {
    const ParamEntry *e = &m->param_table[i];
    float *p = host + e->offset;
    RngStream rs;
    rng_stream_init(&rs, seed, rng_id_hi(RNG_DOMAIN_INIT, (uint32_t)i), 0);
    const char *suffix = strrchr(e->name, '.') + 1;
    int is_fc = !strncmp(e->name, "fc.", 3);
    if (e->ndim == 4) { /* conv: Kaiming normal, fan_out, gain sqrt(2) */
      double fan_out = (double)e->shape[0] * e->shape[2] * e->shape[3];
      double std = sqrt(2.0 / fan_out);
      for (size_t j = 0; j < e->n_elems; j++) p[j] = (float)(std * rng_normal(&rs));
    } else if (is_fc) { /* nn.Linear default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) */
      int fan_in = m->param_table[model_find_param(m, "fc.weight")].shape[1];
      double bound = 1.0 / sqrt((double)fan_in);
      for (size_t j = 0; j < e->n_elems; j++)
        p[j] = (float)rng_uniform_range(&rs, -bound, bound);
    } else { /* BN: gamma 1 (0 when zero-initialised), beta 0 */
      float v = !strcmp(suffix, "weight") ? 1.0f : 0.0f;
      for (size_t j = 0; j < e->n_elems; j++) p[j] = v;
    }
  }
  if (m->spec.zero_init_residual)
    for (int i = 0; i < m->n_ops; i++) {
      const Op *op = &m->ops[i];
      if (op->kind != OP_BN || !m->bn[op->bn].zero_init) continue;
      const ParamEntry *g = &m->param_table[op->param];
      memset(host + g->offset, 0, g->n_elems * sizeof(float));
    }
  m->be->params_from_host_f32(m->be, m->params, host, m->n_param_elems);
  mem_free(host);
  float *buf = mem_alloc_or_die(m->n_buffer_elems * sizeof(float), "init buffers");
  for (int i = 0; i < m->n_buffers; i++) {
    const ParamEntry *e = &m->buffer_table[i];
    float v = strstr(e->name, "running_var") ? 1.0f : 0.0f;
    for (size_t j = 0; j < e->n_elems; j++) buf[e->offset + j] = v;
  }
  m->be->params_from_host_f32(m->be, m->buffers, buf, m->n_buffer_elems);
  mem_free(buf);
  m->num_batches_tracked = 0;
  model_params_changed(m);
}

void model_params_changed(Model *m) {
  m->be->cast_params(m->be, m->work, m->params, m->n_param_elems);
}

/* ------------------------------------------------------------------ planning */

static size_t align_up(size_t n) { return (n + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN; }

static size_t tensor_bytes(const Model *m, const Tensor *t) {
  return align_up((size_t)m->batch * t->c * t->h * t->w * (size_t)m->be->act_bytes);
}

/* Output shapes of every op for input h x w. */
static void propagate_shapes(Model *m, int h, int w) {
  m->tensors[0].h = h;
  m->tensors[0].w = w;
  for (int i = 0; i < m->n_ops; i++) {
    Op *op = &m->ops[i];
    Tensor *in = &m->tensors[op->in], *out = &m->tensors[op->out];
    switch (op->kind) {
      case OP_CONV:
      case OP_MAXPOOL:
      case OP_PAD:
        out->h = (in->h + 2 * op->pad - op->win) / op->stride + 1;
        out->w = (in->w + 2 * op->pad - op->win) / op->stride + 1;
        break;
      case OP_BN:
        out->h = in->h;
        out->w = in->w;
        break;
      case OP_AVGPOOL:
      case OP_FC:
        out->h = out->w = 1;
        break;
    }
  }
}

/* Gradient buffers: tensor t's gradient lives from the backward of its last
 * consumer down to the backward of its producer, i.e. over op indices
 * [producer, last_consumer].  Buffers whose intervals are disjoint share
 * memory; placement is first-fit by decreasing size. */
static size_t plan_grad_offsets(Model *m, size_t *offsets) {
  int n = m->n_tensors;
  int *order = mem_alloc_or_die((size_t)n * sizeof(int), "grad plan");
  int k = 0;
  for (int t = 1; t < n; t++) order[k++] = t;
  for (int i = 1; i < k; i++) /* insertion sort by size, descending */
    for (int j = i; j > 0 && tensor_bytes(m, &m->tensors[order[j]]) >
                                 tensor_bytes(m, &m->tensors[order[j - 1]]);
         j--) {
      int tmp = order[j];
      order[j] = order[j - 1];
      order[j - 1] = tmp;
    }
  size_t total = 0;
  for (int i = 0; i < k; i++) {
    const Tensor *t = &m->tensors[order[i]];
    size_t size = tensor_bytes(m, t), off = 0;
    for (int moved = 1; moved;) { /* bump past every conflicting placed buffer */
      moved = 0;
      for (int j = 0; j < i; j++) {
        const Tensor *u = &m->tensors[order[j]];
        int live_overlap = t->producer <= u->last_consumer && u->producer <= t->last_consumer;
        size_t uo = offsets[order[j]], us = tensor_bytes(m, u);
        if (live_overlap && off < uo + us && uo < off + size) {
          off = uo + us;
          moved = 1;
        }
      }
    }
    offsets[order[i]] = off;
    if (off + size > total) total = off + size;
  }
  mem_free(order);
  return total;
}

size_t model_plan_bytes(Model *m, int batch, int h, int w, size_t *act_bytes,
                        size_t *grad_bytes) {
  int keep_b = m->batch, keep_h = m->image_h, keep_w = m->image_w;
  m->batch = batch;
  propagate_shapes(m, h, w);
  size_t act = 0;
  for (int t = 0; t < m->n_tensors; t++) act += tensor_bytes(m, &m->tensors[t]);
  size_t *goff = mem_calloc_or_die((size_t)m->n_tensors, sizeof(size_t), "grad offsets");
  size_t grad = plan_grad_offsets(m, goff);
  mem_free(goff);
  m->batch = keep_b;
  if (keep_b > 0) propagate_shapes(m, keep_h, keep_w);
  if (act_bytes) *act_bytes = act;
  if (grad_bytes) *grad_bytes = grad;
  return act + grad + (size_t)batch * sizeof(int32_t);
}

size_t model_batch_bytes(Model *m, int batch, int h, int w, const ModelBudget *b) {
  return model_plan_bytes(m, batch, h, w, NULL, NULL) + (size_t)batch * b->per_image_bytes;
}

int model_largest_batch(Model *m, int h, int w, const ModelBudget *b, int limit) {
  int lo = 0, hi = limit; /* the bytes grow with the batch: bisect */
  while (lo < hi) {
    int mid = lo + (hi - lo + 1) / 2;
    if (model_batch_bytes(m, mid, h, w, b) <= b->available_bytes)
      lo = mid;
    else
      hi = mid - 1;
  }
  return lo;
}

size_t model_param_bytes(const Model *m) {
  size_t pb = (size_t)m->be->param_bytes, ab = (size_t)m->be->act_bytes;
  return m->n_param_elems * pb * 3 /* params, grads, momentum */ +
         (m->work != m->params ? m->n_param_elems * ab : 0) + m->n_buffer_elems * pb;
}

void model_plan(Model *m, int batch, int h, int w) {
  if (m->batch == batch && m->image_h == h && m->image_w == w) return;
  Backend *be = m->be;
  m->batch = batch;
  m->image_h = h;
  m->image_w = w;
  propagate_shapes(m, h, w);
  for (int i = 0; i < m->n_ops; i++) {
    Op *op = &m->ops[i];
    if (op->kind != OP_CONV) continue;
    const Tensor *in = &m->tensors[op->in], *out = &m->tensors[op->out];
    op->conv = (ConvShape){.n = batch, .c = in->c, .h = in->h, .w = in->w, .k = out->c,
                           .r = op->win, .stride = op->stride, .pad = op->pad, .p = out->h,
                           .q = out->w};
    if (op->plan) be->conv_plan_free(be, op->plan);
    op->plan = be->conv_plan(be, &op->conv);
  }
  if (m->act_arena) be->free(be, m->act_arena);
  if (m->grad_arena) be->free(be, m->grad_arena);
  if (m->labels) be->free(be, m->labels);
  size_t act_total = 0;
  for (int t = 0; t < m->n_tensors; t++) act_total += tensor_bytes(m, &m->tensors[t]);
  size_t *goff = mem_calloc_or_die((size_t)m->n_tensors, sizeof(size_t), "grad offsets");
  size_t grad_total = plan_grad_offsets(m, goff);
  m->act_arena = be->alloc(be, act_total, "activations");
  m->grad_arena = be->alloc(be, grad_total, "activation gradients");
  m->act_arena_bytes = act_total;
  m->grad_arena_bytes = grad_total;
  size_t off = 0;
  for (int t = 0; t < m->n_tensors; t++) {
    Tensor *tt = &m->tensors[t];
    tt->act = (char *)m->act_arena + off;
    off += tensor_bytes(m, tt);
    tt->grad = t == 0 ? NULL : (char *)m->grad_arena + goff[t];
  }
  mem_free(goff);
  m->labels = be->alloc(be, (size_t)batch * sizeof(int32_t), "labels");
}

void *model_input(Model *m) { return m->tensors[0].act; }
void *model_logits(Model *m) { return m->tensors[m->n_tensors - 1].act; }

/* ------------------------------------------------------------------ running */

static void *param_ptr(const Model *m, int idx) {
  return (char *)m->params + m->param_table[idx].offset * (size_t)m->be->param_bytes;
}
static void *work_ptr(const Model *m, int idx) {
  return (char *)m->work + m->param_table[idx].offset * (size_t)m->be->act_bytes;
}
static void *grad_ptr(const Model *m, int idx) {
  return (char *)m->grads + m->param_table[idx].offset * (size_t)m->be->param_bytes;
}
static void *buffer_ptr(const Model *m, size_t off) {
  return (char *)m->buffers + off * (size_t)m->be->param_bytes;
}

static void grads_ready(const Model *m, const ModelHooks *h, int first_param, int n_params) {
  if (!h || !h->grads_ready) return;
  const ParamEntry *a = &m->param_table[first_param];
  const ParamEntry *z = &m->param_table[first_param + n_params - 1];
  h->grads_ready(h->grad_ctx, a->offset, z->offset + z->n_elems - a->offset);
}

static void forward_bn(Model *m, const Op *op, int train, const ModelHooks *h) {
  Backend *be = m->be;
  BnLayer *l = &m->bn[op->bn];
  const Tensor *in = &m->tensors[op->in];
  void *rm = buffer_ptr(m, l->running_off), *rv = buffer_ptr(m, l->running_off + (size_t)l->c);
  if (train) {
    be->bn_stats(be, m->batch, l->c, in->h, in->w, in->act, l->stats);
    if (h && h->bn_allreduce) h->bn_allreduce(h->bn_ctx, l->stats, 2 * l->c + 1);
    be->bn_finalize(be, l->c, l->stats, l->mean_invstd, rm, rv, m->spec.bn_momentum,
                    m->spec.bn_eps, 1);
  } else {
    be->bn_finalize_eval(be, l->c, rm, rv, m->spec.bn_eps, l->mean_invstd);
  }
  be->bn_apply(be, m->batch, l->c, in->h, in->w, m->tensors[op->out].act, in->act,
               l->mean_invstd, param_ptr(m, op->param), param_ptr(m, op->param + 1),
               op->res >= 0 ? m->tensors[op->res].act : NULL, op->relu);
}

void model_forward(Model *m, int train, const ModelHooks *hooks) {
  CHECK(m->batch > 0, "model_forward before model_plan");
  Backend *be = m->be;
  for (int i = 0; i < m->n_ops; i++) {
    const Op *op = &m->ops[i];
    const Tensor *in = &m->tensors[op->in], *out = &m->tensors[op->out];
    switch (op->kind) {
      case OP_CONV: be->conv_fwd(be, op->plan, out->act, in->act, work_ptr(m, op->param)); break;
      case OP_BN: forward_bn(m, op, train, hooks); break;
      case OP_MAXPOOL:
        be->maxpool_fwd(be, m->batch, in->c, in->h, in->w, op->win, op->stride, op->pad,
                        out->act, in->act);
        break;
      case OP_AVGPOOL: be->avgpool_fwd(be, m->batch, in->c, in->h, in->w, out->act, in->act); break;
      case OP_PAD:
        be->shortcut_pad_fwd(be, m->batch, in->c, in->h, in->w, out->c, op->stride, out->act,
                             in->act);
        break;
      case OP_FC:
        be->fc_fwd(be, m->batch, in->c, out->c, out->act, in->act, work_ptr(m, op->param),
                   param_ptr(m, op->param + 1));
        break;
    }
  }
  if (train) m->num_batches_tracked++;
}

void model_loss(Model *m, int n_valid, double label_smoothing, double grad_scale, int want_grad,
                double *loss_sum, int64_t correct[2]) {
  CHECK(n_valid >= 1 && n_valid <= m->batch, "n_valid %d of batch %d", n_valid, m->batch);
  Tensor *logits = &m->tensors[m->n_tensors - 1];
  m->be->xent(m->be, n_valid, logits->c, logits->act, m->labels, label_smoothing, grad_scale,
              want_grad ? logits->grad : NULL, loss_sum, correct);
}

static void backward_bn(Model *m, const Op *op, const ModelHooks *h) {
  Backend *be = m->be;
  BnLayer *l = &m->bn[op->bn];
  const Tensor *in = &m->tensors[op->in], *out = &m->tensors[op->out];
  void *dres = op->res >= 0 ? m->tensors[op->res].grad : NULL;
  be->bn_bwd_reduce(be, m->batch, l->c, in->h, in->w, out->grad, out->act, in->act,
                    l->mean_invstd, op->relu, dres, op->dres_accumulate,
                    grad_ptr(m, op->param), grad_ptr(m, op->param + 1), l->sums);
  grads_ready(m, h, op->param, 2);
  if (h && h->bn_allreduce) h->bn_allreduce(h->bn_ctx, l->sums, 2 * l->c);
  if (op->need_dx)
    be->bn_bwd_apply(be, m->batch, l->c, in->h, in->w, in->grad, out->grad, out->act, in->act,
                     l->mean_invstd, param_ptr(m, op->param), op->relu, l->stats, l->sums,
                     op->dx_accumulate);
}

void model_backward(Model *m, const ModelHooks *hooks) {
  Backend *be = m->be;
  for (int i = m->n_ops - 1; i >= 0; i--) {
    const Op *op = &m->ops[i];
    const Tensor *in = &m->tensors[op->in], *out = &m->tensors[op->out];
    switch (op->kind) {
      case OP_CONV:
        be->conv_bwd_filter(be, op->plan, grad_ptr(m, op->param), out->grad, in->act);
        grads_ready(m, hooks, op->param, 1);
        if (op->need_dx)
          be->conv_bwd_data(be, op->plan, in->grad, out->grad, work_ptr(m, op->param),
                            op->dx_accumulate);
        break;
      case OP_BN: backward_bn(m, op, hooks); break;
      case OP_MAXPOOL:
        be->maxpool_bwd(be, m->batch, in->c, in->h, in->w, op->win, op->stride, op->pad,
                        in->grad, out->grad, in->act, out->act);
        break;
      case OP_AVGPOOL: be->avgpool_bwd(be, m->batch, in->c, in->h, in->w, in->grad, out->grad); break;
      case OP_PAD:
        be->shortcut_pad_bwd(be, m->batch, in->c, in->h, in->w, out->c, op->stride, in->grad,
                             out->grad, op->dx_accumulate);
        break;
      case OP_FC:
        be->fc_bwd(be, m->batch, in->c, out->c, in->grad, grad_ptr(m, op->param),
                   grad_ptr(m, op->param + 1), out->grad, in->act, work_ptr(m, op->param));
        grads_ready(m, hooks, op->param, 2);
        break;
    }
  }
}

int64_t model_macs_per_image(const Model *m) {
  int64_t macs = 0;
  for (int i = 0; i < m->n_ops; i++) {
    const Op *op = &m->ops[i];
    const Tensor *in = &m->tensors[op->in], *out = &m->tensors[op->out];
    if (op->kind == OP_CONV)
      macs += (int64_t)out->c * in->c * op->win * op->win * out->h * out->w;
    else if (op->kind == OP_FC)
      macs += (int64_t)in->c * out->c;
  }
  return macs;
}
