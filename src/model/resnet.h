/* resnet.h - the ResNet family as data, run over a backend's ops.
 *
 * A Model is a list of ops (conv, batch norm with optional residual add and
 * ReLU, max pool, global average pool, fully connected, CIFAR option-A
 * shortcut) over numbered tensors, built once from a ModelSpec:
 *   ImageNet ResNet-18/34 (BasicBlock) and 50/101/152 (Bottleneck), v1.5 (stride
 *   on the bottleneck's 3x3, torchvision) or v1 (stride on its first 1x1);
 *   CIFAR ResNet-20/32/44/56/110 (He et al. 2016 section 4.2: 3x3 stem, stages
 *   of 16/32/64 channels, shortcut A = zero-padded identity or B = projection).
 *
 * Parameters live in ONE flat arena, in torchvision's state_dict order and with
 * its names (conv1.weight, bn1.weight, bn1.bias, layer1.0.conv1.weight, ...,
 * fc.weight, fc.bias); gradients in a second arena with the same offsets; BN
 * running statistics in a buffers arena (bn1.running_mean, bn1.running_var,
 * ...).  Tensor 0 is the input image batch; the last tensor is the logits.
 *
 * Activation memory is planned once per (batch, image size): every forward
 * tensor is kept for backward; activation gradients share memory where their
 * lifetimes in the backward pass do not overlap.
 *
 * Backward visits ops in reverse; the first op to produce a tensor's gradient
 * writes it, later ones accumulate (a block input feeds both the block's first
 * conv and its shortcut).  Each parameter's gradient is reported as final
 * through ModelHooks.grads_ready as soon as it is written, so gradient buckets
 * can be all-reduced while backward goes on.
 */
#ifndef RD_MODEL_RESNET_H
#define RD_MODEL_RESNET_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "backend/backend.h"
#include "config/config.h"

typedef struct {
  int arch;               /* ArchId */
  int num_classes;
  int variant;            /* VariantId */
  int shortcut;           /* ShortcutId (CIFAR nets) */
  int zero_init_residual;
  double bn_momentum;
  double bn_eps;
} ModelSpec;

void model_spec_from_config(ModelSpec *spec, const Config *cfg);
int model_arch_is_cifar(int arch);
/* Total downsampling of the network (32 ImageNet, 4 CIFAR). */
int model_total_stride(int arch);

typedef struct {
  char name[96];   /* torchvision name, e.g. "layer1.0.conv1.weight" */
  size_t offset;   /* elements from the start of its arena */
  size_t n_elems;
  int ndim;
  int shape[4];
  int no_decay;    /* a BN parameter or a bias (optim.wd_exclude_bn_bias) */
} ParamEntry;

typedef enum { OP_CONV, OP_BN, OP_MAXPOOL, OP_AVGPOOL, OP_FC, OP_PAD } OpKind;

typedef struct {
  OpKind kind;
  char name[64];        /* module name, e.g. "layer1.0.bn2" */
  int in, out;          /* tensor ids */
  int res;              /* BN: residual tensor added before ReLU, or -1 */
  int relu;             /* BN: ReLU after the (residual) add */
  int param;            /* first ParamEntry (conv/fc weight, BN gamma), or -1;
                           FC bias / BN beta is param + 1 */
  int bn;               /* BN: index of its buffers and scratch, or -1 */
  int win, stride, pad; /* conv kernel side / pool window, stride, padding */
  ConvShape conv;       /* OP_CONV, for the planned batch */
  void *plan;           /* OP_CONV: backend plan */
  /* backward bookkeeping (from the op order, see model_create) */
  int need_dx;          /* 0 when `in` is the network input */
  int dx_accumulate;    /* grad(in) already holds another op's contribution */
  int dres_accumulate;  /* same for grad(res) */
} Op;

typedef struct {
  int c, h, w;          /* per-sample shape (batch is Model.batch) */
  int producer;         /* op index, -1 for the input */
  int last_consumer;    /* highest op index that reads it */
  void *act;            /* (N,C,H,W) act dtype */
  void *grad;           /* (N,C,H,W) act dtype, NULL for the input */
} Tensor;

typedef struct {
  int c;
  size_t running_off;   /* running_mean at buffers + running_off, running_var after it */
  double *stats;        /* (2C+1) device: [sum x | sum x^2 | count], reduced in place */
  double *sums;         /* (2C) device: [sum g | sum g xhat] */
  void *mean_invstd;    /* (2C) param dtype */
  int zero_init;        /* last BN of a residual block (model.zero_init_residual) */
} BnLayer;

/* Hooks the model calls during a step (any may be NULL). */
typedef struct {
  /* Sum n doubles (device memory) in place over the BN group (sync BN). */
  void (*bn_allreduce)(void *bn_ctx, double *buf, int n_doubles);
  void *bn_ctx;
  /* Gradient of params [offset, offset + n_elems) is final. */
  void (*grads_ready)(void *grad_ctx, size_t offset, size_t n_elems);
  void *grad_ctx;
} ModelHooks;

typedef struct Model {
  ModelSpec spec;
  Backend *be;
  int n_ops, n_tensors, n_params, n_buffers, n_bn;
  Op *ops;
  Tensor *tensors;
  ParamEntry *param_table;   /* n_params, arena order = torchvision order */
  ParamEntry *buffer_table;  /* n_buffers: running_mean, running_var per BN */
  BnLayer *bn;
  size_t n_param_elems, n_buffer_elems;
  void *params;   /* (n_param_elems) param dtype: master parameters */
  void *work;     /* (n_param_elems) act dtype: working copy (== params when same dtype) */
  void *grads;    /* (n_param_elems) param dtype */
  void *buffers;  /* (n_buffer_elems) param dtype: BN running statistics */
  int64_t num_batches_tracked; /* training forwards so far (torchvision BN buffer) */
  /* planned shape and memory */
  int batch, image_h, image_w;
  void *act_arena, *grad_arena;
  size_t act_arena_bytes, grad_arena_bytes;
  int32_t *labels;  /* (batch) device */
} Model;

/* Builds the architecture (no activation memory yet).  NULL with a one-line
 * message when the spec cannot be built. */
Model *model_create(Backend *be, const ModelSpec *spec, char *err, size_t err_len);
void model_destroy(Model *m);

/* Checks that images of h x w can go through the network; -1 with a message. */
int model_check_image_size(const ModelSpec *spec, int h, int w, char *err, size_t err_len);

/* Kaiming-normal (fan_out, relu) convs, PyTorch-default FC, BN gamma 1 beta 0
 * (0 for the last BN of each block with zero_init_residual), running mean 0 /
 * var 1.  A pure function of the seed (one Philox stream per parameter). */
void model_init_params(Model *m, uint64_t seed);

/* Plans activations for (batch, h, w): (re)creates conv plans and memory.
 * Re-planning to the same shape is free. */
void model_plan(Model *m, int batch, int h, int w);

void *model_input(Model *m);     /* (batch,3,H,W) act: fill with be->input_u8 */
void *model_logits(Model *m);    /* (batch,num_classes) act */

/* Forward pass.  train: BN uses batch statistics (reduced through the hook)
 * and updates its running statistics; otherwise running statistics. */
void model_forward(Model *m, int train, const ModelHooks *hooks);

/* Loss over the first n_valid samples with labels in m->labels (device).
 * If want_grad: writes d(loss)/d(logits) scaled by grad_scale (pass
 * 1 / n_valid for the mean loss, times the loss scale for fp16). */
void model_loss(Model *m, int n_valid, double label_smoothing, double grad_scale, int want_grad,
                double *loss_sum, int64_t correct[2]);

/* Backward pass after model_loss(want_grad = 1).  Writes every gradient. */
void model_backward(Model *m, const ModelHooks *hooks);

/* Refreshes the working copy after the master parameters changed outside the
 * optimizer (init, load, broadcast). */
void model_params_changed(Model *m);

/* Multiply-accumulates of one forward pass of one image (convs and FC). */
int64_t model_macs_per_image(const Model *m);

/* Bytes model_plan(m, batch, h, w) allocates (activations, their gradients,
 * labels), computed without allocating; *act_bytes / *grad_bytes get the two
 * arenas (either may be NULL).  The tensor shapes are left at (h, w) when
 * nothing is planned yet (so the summary can print them), else unchanged. */
size_t model_plan_bytes(Model *m, int batch, int h, int w, size_t *act_bytes,
                        size_t *grad_bytes);
/* Device (or host) memory the parameter arenas take: params, grads, momentum,
 * the working copy when separate, BN buffers. */
size_t model_param_bytes(const Model *m);

/* The memory a batch may take, beyond the model's parameter arenas. */
typedef struct {
  size_t workspace_bytes;  /* library workspace (cuDNN), 0 when none */
  size_t available_bytes;  /* memory the activations may use, 0: unknown */
  size_t per_image_bytes;  /* other memory per image of the batch in the same
                              place (the host batch rings, for the CPU backend) */
  const char *where;       /* what available_bytes is, e.g. "free on GPU 0" */
} ModelBudget;

/* Bytes a batch takes from the budget: model_plan_bytes + per_image_bytes each. */
size_t model_batch_bytes(Model *m, int batch, int h, int w, const ModelBudget *b);
/* The largest batch, at most limit, whose model_batch_bytes fit the budget's
 * available_bytes (0: not even one image). */
int model_largest_batch(Model *m, int h, int w, const ModelBudget *b, int limit);

/* torchsummary-style layer table for (h, w) and the memory plan of `batch`,
 * with whether it fits the budget (and the largest batch that would). */
void model_print_summary(Model *m, int batch, int h, int w, const ModelBudget *budget,
                         FILE *out);

/* Index of a parameter / buffer entry by name, or -1. */
int model_find_param(const Model *m, const char *name);
int model_find_buffer(const Model *m, const char *name);

#endif
