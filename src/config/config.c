/* config.c - the key table and everything driven by it; see config.h.
 *
 * Parsing goes through inih's ini_parse_stream with our own line reader, which
 * counts lines (so every message names the line), rejects unknown [sections]
 * as soon as their header is read, and refuses lines longer than inih's
 * buffer instead of letting them be cut silently.
 */
#include "config/config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "core/check.h"
#include "core/mem.h"

typedef enum { T_INT, T_INT64, T_DOUBLE, T_BOOL, T_STRING, T_ENUM, T_LIST } KeyType;

typedef struct {
  const char *section;
  const char *key;
  KeyType type;
  size_t offset;
  const char *def;                /* default, as INI text */
  double min, max;                /* numeric range; for T_LIST: element range */
  int list_min, list_max;         /* T_LIST: number of elements */
  const char *const *names;       /* T_ENUM: accepted values, NULL-terminated */
  const char *help;
} KeyDef;

static const char *const ARCH_NAMES[] = {"resnet18", "resnet34", "resnet50", "resnet101",
                                         "resnet152", "resnet20", "resnet32", "resnet44",
                                         "resnet56", "resnet110", NULL};
static const char *const VARIANT_NAMES[] = {"v1.5", "v1", NULL};
static const char *const SHORTCUT_NAMES[] = {"A", "B", NULL};
static const char *const SOURCE_NAMES[] = {"synthetic", "shards", NULL};
static const char *const AUGMENT_NAMES[] = {"auto", "random_resized_crop", "pad_crop", "none",
                                            NULL};
static const char *const PRECISION_NAMES[] = {"bf16", "fp16", "fp32", "fp32-strict", NULL};
static const char *const OPTIM_NAMES[] = {"sgd", "lars", NULL};
static const char *const SCHEDULE_NAMES[] = {"step", "multistep", "cosine", "poly", "constant",
                                             NULL};
static const char *const UNIT_NAMES[] = {"epochs", "steps", NULL};
static const char *const COMM_NAMES[] = {"auto", "nccl", "mpi", NULL};
static const char *const LEVEL_NAMES[] = {"error", "warn", "info", "debug", NULL};
static const char *const PROGRESS_NAMES[] = {"auto", "bar", "lines", NULL};
static const char *const CONV_ALGO_NAMES[] = {"rank0", "find", "heuristic", NULL};

#define OFF(field) offsetof(Config, field)
#define BIG 1e18

/* clang-format off */
static const KeyDef KEYS[] = {
  /* [model] */
  {"model", "arch", T_ENUM, OFF(model.arch), "resnet50", 0, 0, 0, 0, ARCH_NAMES,
   "network: ImageNet ResNet-18/34/50/101/152 or CIFAR ResNet-20/32/44/56/110"},
  {"model", "num_classes", T_INT, OFF(model.num_classes), "1000", 1, 1000000, 0, 0, NULL,
   "number of output classes"},
  {"model", "variant", T_ENUM, OFF(model.variant), "v1.5", 0, 0, 0, 0, VARIANT_NAMES,
   "bottleneck stride on the 3x3 (v1.5, torchvision) or on the first 1x1 (v1)"},
  {"model", "shortcut", T_ENUM, OFF(model.shortcut), "A", 0, 0, 0, 0, SHORTCUT_NAMES,
   "CIFAR nets: A = zero-padded identity, B = 1x1 projection when the shape changes"},
  {"model", "zero_init_residual", T_BOOL, OFF(model.zero_init_residual), "false", 0, 0, 0, 0,
   NULL, "start the last BN gamma of every block at 0"},
  {"model", "bn_momentum", T_DOUBLE, OFF(model.bn_momentum), "0.1", 0, 1, 0, 0, NULL,
   "batch-norm running-statistics momentum (PyTorch convention)"},
  {"model", "bn_eps", T_DOUBLE, OFF(model.bn_eps), "1e-05", 1e-12, 1, 0, 0, NULL,
   "batch-norm epsilon"},
  /* [data] */
  {"data", "source", T_ENUM, OFF(data.source), "synthetic", 0, 0, 0, 0, SOURCE_NAMES,
   "synthetic (in-memory, learnable) or shards (HDF5 shard folders)"},
  {"data", "train", T_STRING, OFF(data.train), "", 0, 0, 0, 0, NULL,
   "training shard folder or glob (data.source=shards)"},
  {"data", "val", T_STRING, OFF(data.val), "", 0, 0, 0, 0, NULL,
   "validation shard folder or glob (empty: no validation)"},
  {"data", "image_size", T_INT, OFF(data.image_size), "224", 8, 4096, 0, 0, NULL,
   "training crop side in pixels"},
  {"data", "val_resize", T_INT, OFF(data.val_resize), "256", 8, 4096, 0, 0, NULL,
   "validation: resize the shorter side to this"},
  {"data", "val_crop", T_INT, OFF(data.val_crop), "224", 8, 4096, 0, 0, NULL,
   "validation: center crop side"},
  {"data", "workers", T_INT, OFF(data.workers), "4", 0, 256, 0, 0, NULL,
   "decode/augment threads per rank (0 = decode on the reader thread)"},
  {"data", "prefetch", T_INT, OFF(data.prefetch), "4", 1, 64, 0, 0, NULL,
   "batches prepared ahead per rank"},
  {"data", "limit_samples", T_INT64, OFF(data.limit_samples), "0", 0, BIG, 0, 0, NULL,
   "use only the first N samples of each split (0 = all)"},
  {"data", "mean", T_LIST, OFF(data.mean), "0.485,0.456,0.406", 0, 1, 3, 3, NULL,
   "per-channel mean (RGB, 0..1) subtracted after scaling to 0..1"},
  {"data", "std", T_LIST, OFF(data.std), "0.229,0.224,0.225", 1e-6, 10, 3, 3, NULL,
   "per-channel standard deviation (RGB, 0..1)"},
  {"data", "augment", T_ENUM, OFF(data.augment), "auto", 0, 0, 0, 0, AUGMENT_NAMES,
   "training augmentation (auto: pad_crop for raw 32x32 data, else random_resized_crop)"},
  {"data", "crop_scale_min", T_DOUBLE, OFF(data.crop_scale_min), "0.08", 1e-4, 1, 0, 0, NULL,
   "RandomResizedCrop: smallest area fraction"},
  {"data", "crop_scale_max", T_DOUBLE, OFF(data.crop_scale_max), "1", 1e-4, 1, 0, 0, NULL,
   "RandomResizedCrop: largest area fraction"},
  {"data", "crop_ratio_min", T_DOUBLE, OFF(data.crop_ratio_min), "0.75", 0.01, 100, 0, 0, NULL,
   "RandomResizedCrop: smallest aspect ratio (w/h)"},
  {"data", "crop_ratio_max", T_DOUBLE, OFF(data.crop_ratio_max), "1.3333333333333333", 0.01,
   100, 0, 0, NULL, "RandomResizedCrop: largest aspect ratio (w/h)"},
  {"data", "pad", T_INT, OFF(data.pad), "4", 0, 64, 0, 0, NULL,
   "pad_crop: zero padding on each side before the random crop"},
  {"data", "flip", T_BOOL, OFF(data.flip), "true", 0, 0, 0, 0, NULL,
   "random horizontal flip during training"},
  {"data", "synthetic_train", T_INT64, OFF(data.synthetic_train), "1024", 1, BIG, 0, 0, NULL,
   "data.source=synthetic: training samples"},
  {"data", "synthetic_val", T_INT64, OFF(data.synthetic_val), "256", 0, BIG, 0, 0, NULL,
   "data.source=synthetic: validation samples"},
  /* [train] */
  {"train", "epochs", T_INT, OFF(train.epochs), "90", 1, 100000, 0, 0, NULL,
   "passes over the training set"},
  {"train", "max_steps", T_INT64, OFF(train.max_steps), "0", 0, BIG, 0, 0, NULL,
   "stop after this many optimizer steps in total (0 = no limit)"},
  {"train", "batch_size", T_INT, OFF(train.batch_size), "256", 1, 65536, 0, 0, NULL,
   "images per rank per step (global batch = batch_size x world size)"},
  {"train", "precision", T_ENUM, OFF(train.precision), "bf16", 0, 0, 0, 0, PRECISION_NAMES,
   "GPU arithmetic (the CPU backend always computes in fp32)"},
  {"train", "seed", T_INT64, OFF(train.seed), "1", 0, BIG, 0, 0, NULL,
   "seed of every random choice (init, order, augmentation)"},
  {"train", "label_smoothing", T_DOUBLE, OFF(train.label_smoothing), "0", 0, 0.999, 0, 0, NULL,
   "label smoothing of the cross-entropy loss"},
  {"train", "eval_every_epochs", T_INT, OFF(train.eval_every_epochs), "1", 0, 100000, 0, 0,
   NULL, "evaluate every N epochs and at the end (0 = only at the end)"},
  {"train", "loss_scale", T_DOUBLE, OFF(train.loss_scale), "65536", 1, 1e30, 0, 0, NULL,
   "fp16: initial dynamic loss scale"},
  {"train", "cuda_graph", T_BOOL, OFF(train.cuda_graph), "false", 0, 0, 0, 0, NULL,
   "GPU: capture the training step in a CUDA graph"},
  {"train", "conv_algos", T_ENUM, OFF(train.conv_algos), "rank0", 0, 0, 0, 0, CONV_ALGO_NAMES,
   "GPU: how cuDNN conv algorithms are chosen (rank0: rank 0 measures, every rank uses its "
   "choices; find: each rank measures; heuristic: no measuring)"},
  {"train", "cudnn_workspace_mb", T_INT, OFF(train.cudnn_workspace_mb), "256", 1, 65536, 0, 0,
   NULL, "GPU: cuDNN / cuBLASLt workspace cap in MiB"},
  {"train", "threads", T_INT, OFF(train.threads), "0", 0, 1024, 0, 0, NULL,
   "CPU backend compute threads per rank (0 = cores / ranks on the node)"},
  /* [optim] */
  {"optim", "name", T_ENUM, OFF(optim.name), "sgd", 0, 0, 0, 0, OPTIM_NAMES,
   "optimizer"},
  {"optim", "lr", T_DOUBLE, OFF(optim.lr), "0.1", 0, 1000, 0, 0, NULL,
   "base learning rate (for lr_scale_batch images, if set)"},
  {"optim", "lr_scale_batch", T_INT, OFF(optim.lr_scale_batch), "0", 0, 10000000, 0, 0, NULL,
   "linear scaling rule: lr x global_batch / this (0 = off)"},
  {"optim", "momentum", T_DOUBLE, OFF(optim.momentum), "0.9", 0, 0.9999, 0, 0, NULL,
   "SGD momentum (PyTorch semantics)"},
  {"optim", "nesterov", T_BOOL, OFF(optim.nesterov), "false", 0, 0, 0, 0, NULL,
   "Nesterov momentum"},
  {"optim", "weight_decay", T_DOUBLE, OFF(optim.weight_decay), "0.0001", 0, 1, 0, 0, NULL,
   "L2 weight decay added to the gradient"},
  {"optim", "wd_exclude_bn_bias", T_BOOL, OFF(optim.wd_exclude_bn_bias), "false", 0, 0, 0, 0,
   NULL, "no weight decay on batch-norm parameters and biases"},
  {"optim", "schedule", T_ENUM, OFF(optim.schedule), "step", 0, 0, 0, 0, SCHEDULE_NAMES,
   "learning-rate schedule after warmup"},
  {"optim", "milestones", T_LIST, OFF(optim.milestones), "30,60,80", 0, BIG, 0, CFG_LIST_MAX,
   NULL, "multistep: where the lr is multiplied by gamma (unit: milestone_unit)"},
  {"optim", "milestone_unit", T_ENUM, OFF(optim.milestone_unit), "epochs", 0, 0, 0, 0,
   UNIT_NAMES, "unit of milestones and step_size"},
  {"optim", "step_size", T_DOUBLE, OFF(optim.step_size), "30", 1e-9, BIG, 0, 0, NULL,
   "step: multiply the lr by gamma every step_size (unit: milestone_unit)"},
  {"optim", "gamma", T_DOUBLE, OFF(optim.gamma), "0.1", 0, 1, 0, 0, NULL,
   "step / multistep decay factor"},
  {"optim", "warmup_epochs", T_DOUBLE, OFF(optim.warmup_epochs), "0", 0, 100000, 0, 0, NULL,
   "linear warmup from 0 to the lr over this many epochs"},
  {"optim", "poly_power", T_DOUBLE, OFF(optim.poly_power), "2", 0, 100, 0, 0, NULL,
   "poly: exponent of (1 - progress)"},
  {"optim", "lr_min", T_DOUBLE, OFF(optim.lr_min), "0", 0, 1000, 0, 0, NULL,
   "cosine / poly: final learning rate"},
  {"optim", "lars_eta", T_DOUBLE, OFF(optim.lars_eta), "0.001", 0, 1, 0, 0, NULL,
   "LARS trust coefficient"},
  /* [dist] */
  {"dist", "backend", T_ENUM, OFF(dist.backend), "auto", 0, 0, 0, 0, COMM_NAMES,
   "gradient transport (auto: nccl on GPUs, mpi otherwise)"},
  {"dist", "sync_bn", T_BOOL, OFF(dist.sync_bn), "true", 0, 0, 0, 0, NULL,
   "batch-norm statistics over all ranks (of a bn_group)"},
  {"dist", "bn_group", T_INT, OFF(dist.bn_group), "0", 0, 1000000, 0, 0, NULL,
   "ranks that share batch-norm statistics (0 = all)"},
  {"dist", "bucket_mb", T_DOUBLE, OFF(dist.bucket_mb), "25", 0.001, 65536, 0, 0, NULL,
   "gradient all-reduce bucket size in MiB"},
  {"dist", "timeout_s", T_DOUBLE, OFF(dist.timeout_s), "300", 0.1, 1e7, 0, 0, NULL,
   "a rank waiting longer than this in a collective ends the job"},
  /* [checkpoint] */
  {"checkpoint", "dir", T_STRING, OFF(checkpoint.dir), "", 0, 0, 0, 0, NULL,
   "checkpoint folder (empty: <log.dir>/checkpoints)"},
  {"checkpoint", "every_epochs", T_INT, OFF(checkpoint.every_epochs), "1", 0, 100000, 0, 0,
   NULL, "write a checkpoint every N epochs (0 = off)"},
  {"checkpoint", "every_minutes", T_DOUBLE, OFF(checkpoint.every_minutes), "0", 0, 1e7, 0, 0,
   NULL, "also write one every N minutes of training (0 = off)"},
  {"checkpoint", "keep", T_INT, OFF(checkpoint.keep), "3", 1, 100000, 0, 0, NULL,
   "newest checkpoints to keep"},
  {"checkpoint", "resume", T_STRING, OFF(checkpoint.resume), "auto", 0, 0, 0, 0, NULL,
   "auto (newest complete checkpoint in dir, if any), never, or a checkpoint path"},
  /* [log] */
  {"log", "dir", T_STRING, OFF(log.dir), "", 0, 0, 0, 0, NULL,
   "run directory for logs, metrics and final.safetensors (empty: runs/<config name>)"},
  {"log", "every_steps", T_INT, OFF(log.every_steps), "50", 1, 100000000, 0, 0, NULL,
   "log line / metrics record every N steps"},
  {"log", "trace", T_STRING, OFF(log.trace), "", 0, 0, 0, 0, NULL,
   "write a Chrome trace (JSON) of a window of steps to this file"},
  {"log", "trace_start", T_INT64, OFF(log.trace_start), "10", 0, BIG, 0, 0, NULL,
   "first traced step"},
  {"log", "trace_steps", T_INT64, OFF(log.trace_steps), "10", 1, BIG, 0, 0, NULL,
   "number of traced steps"},
  {"log", "level", T_ENUM, OFF(log.level), "info", 0, 0, 0, 0, LEVEL_NAMES,
   "log verbosity"},
  {"log", "progress", T_ENUM, OFF(log.progress), "auto", 0, 0, 0, 0, PROGRESS_NAMES,
   "bar (one updating line), lines (log lines), auto (bar on a terminal)"},
  /* [bench] */
  {"bench", "warmup_steps", T_INT, OFF(bench.warmup_steps), "5", 0, 1000000, 0, 0, NULL,
   "--mode bench: untimed steps first"},
  {"bench", "steps", T_INT, OFF(bench.steps), "20", 1, 1000000, 0, 0, NULL,
   "--mode bench: timed steps"},
  {"bench", "pipeline", T_BOOL, OFF(bench.pipeline), "false", 0, 0, 0, 0, NULL,
   "--mode bench: feed batches from the real input pipeline (false: one synthetic batch "
   "kept on the device)"},
};
/* clang-format on */

enum { N_KEYS = (int)(sizeof KEYS / sizeof KEYS[0]) };
static const char *const SECTIONS[] = {"model", "data",       "train", "optim", "dist",
                                       "checkpoint", "log", "bench", NULL};

/* ------------------------------------------------------------------ helpers */

static void *field(Config *cfg, const KeyDef *k) { return (char *)cfg + k->offset; }
static const void *cfield(const Config *cfg, const KeyDef *k) {
  return (const char *)cfg + k->offset;
}

static int streq_nocase(const char *a, const char *b) {
  for (; *a && *b; a++, b++)
    if (tolower((unsigned char)*a) != tolower((unsigned char)*b)) return 0;
  return *a == *b;
}

static const KeyDef *find_key(const char *section, const char *key) {
  for (int i = 0; i < N_KEYS; i++)
    if (!strcmp(KEYS[i].section, section) && !strcmp(KEYS[i].key, key)) return &KEYS[i];
  return NULL;
}

static int is_section(const char *s) {
  for (int i = 0; SECTIONS[i]; i++)
    if (!strcmp(SECTIONS[i], s)) return 1;
  return 0;
}

/* Levenshtein distance, for "did you mean". */
static int edit_distance(const char *a, const char *b) {
  int la = (int)strlen(a), lb = (int)strlen(b);
  if (la > 63 || lb > 63) return 99;
  int d[64][64];
  for (int i = 0; i <= la; i++) d[i][0] = i;
  for (int j = 0; j <= lb; j++) d[0][j] = j;
  for (int i = 1; i <= la; i++)
    for (int j = 1; j <= lb; j++) {
      int sub = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
      int del = d[i - 1][j] + 1, ins = d[i][j - 1] + 1;
      d[i][j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
    }
  return d[la][lb];
}

/* Nearest "section.key" to the unknown one (0 if nothing is close). */
static int suggest_key(const char *section, const char *key, char *out, size_t out_len) {
  char want[160];
  snprintf(want, sizeof want, "%s.%s", section, key);
  int best = 1 << 30;
  const KeyDef *best_k = NULL;
  for (int i = 0; i < N_KEYS; i++) {
    char have[160];
    snprintf(have, sizeof have, "%s.%s", KEYS[i].section, KEYS[i].key);
    int d = edit_distance(want, have);
    /* the right key name in the wrong section is a good guess too */
    if (!strcmp(KEYS[i].key, key)) d = d < 2 ? d : 2;
    if (d < best) {
      best = d;
      best_k = &KEYS[i];
    }
  }
  int limit = (int)strlen(want) / 3 > 2 ? (int)strlen(want) / 3 : 2;
  if (!best_k || best > limit) return 0;
  snprintf(out, out_len, "%s.%s", best_k->section, best_k->key);
  return 1;
}

static const char *suggest_section(const char *section) {
  int best = 1 << 30;
  const char *best_s = NULL;
  for (int i = 0; SECTIONS[i]; i++) {
    int d = edit_distance(section, SECTIONS[i]);
    if (d < best) {
      best = d;
      best_s = SECTIONS[i];
    }
  }
  return best <= 3 ? best_s : NULL;
}

static void trim(char *s) {
  char *p = s;
  while (isspace((unsigned char)*p)) p++;
  memmove(s, p, strlen(p) + 1);
  size_t n = strlen(s);
  while (n && isspace((unsigned char)s[n - 1])) s[--n] = '\0';
}

/* Accepted values of a key, for messages: "an integer in [1, 65536]". */
static void describe_accepted(const KeyDef *k, char *out, size_t out_len) {
  switch (k->type) {
    case T_INT:
    case T_INT64:
      if (k->max >= BIG)
        snprintf(out, out_len, "an integer >= %.0f", k->min);
      else
        snprintf(out, out_len, "an integer in [%.0f, %.0f]", k->min, k->max);
      break;
    case T_DOUBLE:
      if (k->max >= BIG)
        snprintf(out, out_len, "a number >= %g", k->min);
      else
        snprintf(out, out_len, "a number in [%g, %g]", k->min, k->max);
      break;
    case T_BOOL: snprintf(out, out_len, "true or false"); break;
    case T_STRING: snprintf(out, out_len, "a string of at most %d bytes", CFG_STR_MAX - 1); break;
    case T_ENUM: {
      size_t n = 0;
      out[0] = '\0';
      for (int i = 0; k->names[i]; i++)
        n += (size_t)snprintf(out + n, n < out_len ? out_len - n : 0, "%s%s",
                              i ? (k->names[i + 1] ? ", " : " or ") : "one of ", k->names[i]);
      break;
    }
    case T_LIST:
      if (k->list_min == k->list_max)
        snprintf(out, out_len, "%d comma-separated numbers in [%g, %g]", k->list_min, k->min,
                 k->max);
      else
        snprintf(out, out_len, "up to %d comma-separated numbers >= %g", k->list_max, k->min);
      break;
  }
}

static int parse_int64(const char *s, int64_t *out) {
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || end == s || *end) {
    /* allow "1e6"-style integers if they are exact */
    double d = strtod(s, &end);
    if (end == s || *end || d != floor(d) || fabs(d) > 9.0e18) return -1;
    v = (long long)d;
  }
  *out = v;
  return 0;
}

static int parse_double(const char *s, double *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || *end || !isfinite(v)) return -1;
  *out = v;
  return 0;
}

static int parse_bool(const char *s, int *out) {
  static const char *const yes[] = {"true", "1", "yes", "on", NULL};
  static const char *const no[] = {"false", "0", "no", "off", NULL};
  for (int i = 0; yes[i]; i++)
    if (streq_nocase(s, yes[i])) return *out = 1, 0;
  for (int i = 0; no[i]; i++)
    if (streq_nocase(s, no[i])) return *out = 0, 0;
  return -1;
}

/* Parses `value` into the key's field; 0, or -1 with `why` filled. */
static int set_value(Config *cfg, const KeyDef *k, const char *raw, char *why, size_t why_len) {
  char value[CFG_STR_MAX + 8];
  if (strlen(raw) >= sizeof value) {
    snprintf(why, why_len, "value too long");
    return -1;
  }
  strcpy(value, raw);
  trim(value);
  char accepted[256];
  describe_accepted(k, accepted, sizeof accepted);
  switch (k->type) {
    case T_INT:
    case T_INT64: {
      int64_t v;
      if (parse_int64(value, &v) || (double)v < k->min || (double)v > k->max) {
        snprintf(why, why_len, "expected %s", accepted);
        return -1;
      }
      if (k->type == T_INT)
        *(int *)field(cfg, k) = (int)v;
      else
        *(int64_t *)field(cfg, k) = v;
      return 0;
    }
    case T_DOUBLE: {
      double v;
      if (parse_double(value, &v) || v < k->min || v > k->max) {
        snprintf(why, why_len, "expected %s", accepted);
        return -1;
      }
      *(double *)field(cfg, k) = v;
      return 0;
    }
    case T_BOOL: {
      int v;
      if (parse_bool(value, &v)) {
        snprintf(why, why_len, "expected %s", accepted);
        return -1;
      }
      *(int *)field(cfg, k) = v;
      return 0;
    }
    case T_STRING:
      if (strlen(value) >= CFG_STR_MAX) {
        snprintf(why, why_len, "expected %s", accepted);
        return -1;
      }
      strcpy((char *)field(cfg, k), value);
      return 0;
    case T_ENUM:
      for (int i = 0; k->names[i]; i++)
        if (streq_nocase(value, k->names[i])) {
          *(int *)field(cfg, k) = i;
          return 0;
        }
      snprintf(why, why_len, "expected %s", accepted);
      return -1;
    case T_LIST: {
      CfgList list = {0};
      char *save = NULL;
      if (value[0]) {
        for (char *tok = strtok_r(value, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
          trim(tok);
          double v;
          if (list.n == CFG_LIST_MAX || parse_double(tok, &v) || v < k->min || v > k->max) {
            snprintf(why, why_len, "expected %s", accepted);
            return -1;
          }
          list.v[list.n++] = v;
        }
      }
      if (list.n < k->list_min || list.n > k->list_max) {
        snprintf(why, why_len, "expected %s", accepted);
        return -1;
      }
      *(CfgList *)field(cfg, k) = list;
      return 0;
    }
  }
  return -1;
}

/* Shortest decimal text that reads back as exactly v. */
static void format_double(double v, char *out, size_t out_len) {
  if (v == floor(v) && fabs(v) < 1e15) { /* integers as integers: 32000, not 3.2e+04 */
    snprintf(out, out_len, "%.0f", v);
    return;
  }
  for (int prec = 1; prec <= 17; prec++) {
    snprintf(out, out_len, "%.*g", prec, v);
    if (strtod(out, NULL) == v) return;
  }
}

static void format_value(const Config *cfg, const KeyDef *k, char *out, size_t out_len) {
  const void *f = cfield(cfg, k);
  switch (k->type) {
    case T_INT: snprintf(out, out_len, "%d", *(const int *)f); break;
    case T_INT64: snprintf(out, out_len, "%" PRId64, *(const int64_t *)f); break;
    case T_DOUBLE: format_double(*(const double *)f, out, out_len); break;
    case T_BOOL: snprintf(out, out_len, "%s", *(const int *)f ? "true" : "false"); break;
    case T_STRING: snprintf(out, out_len, "%s", (const char *)f); break;
    case T_ENUM: snprintf(out, out_len, "%s", k->names[*(const int *)f]); break;
    case T_LIST: {
      const CfgList *l = f;
      size_t n = 0;
      out[0] = '\0';
      for (int i = 0; i < l->n && n < out_len; i++) {
        char num[40];
        format_double(l->v[i], num, sizeof num);
        n += (size_t)snprintf(out + n, out_len - n, "%s%s", i ? "," : "", num);
      }
      break;
    }
  }
}

/* ------------------------------------------------------------------ public */

void config_defaults(Config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  for (int i = 0; i < N_KEYS; i++) {
    char why[256];
    if (set_value(cfg, &KEYS[i], KEYS[i].def, why, sizeof why) != 0) {
      fprintf(stderr, "internal error: default of %s.%s: %s\n", KEYS[i].section, KEYS[i].key,
              why);
      abort();
    }
  }
}

/* State shared by the line reader and the inih handler during one parse. */
typedef struct {
  Config *cfg;
  const char *name;     /* file name for messages */
  FILE *file;           /* either file ... */
  const char *text;     /* ... or text */
  int line;             /* line just read */
  char *err;
  size_t err_len;
  int failed;
  int set_line[N_KEYS]; /* line where each key was set in this source (0 = not) */
} ParseState;

static void parse_fail(ParseState *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void parse_fail(ParseState *st, const char *fmt, ...) {
  if (st->failed) return;
  st->failed = 1;
  char msg[CFG_ERR_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  core_err(st->err, st->err_len, "%s:%d: %s", st->name, st->line, msg);
}

/* Checks a "[section]" header line as soon as it is read. */
static void check_header(ParseState *st, const char *line) {
  const char *p = line;
  while (isspace((unsigned char)*p)) p++;
  if (*p != '[') return;
  const char *end = strchr(p, ']');
  if (!end) return; /* inih reports the syntax error */
  char name[128];
  size_t n = (size_t)(end - p - 1);
  if (n >= sizeof name) n = sizeof name - 1;
  memcpy(name, p + 1, n);
  name[n] = '\0';
  trim(name);
  if (is_section(name)) return;
  const char *near = suggest_section(name);
  if (near)
    parse_fail(st, "unknown section [%s]; did you mean [%s]?", name, near);
  else
    parse_fail(st, "unknown section [%s]; sections are [model] [data] [train] [optim] [dist] "
                   "[checkpoint] [log]", name);
}

static char *reader(char *buf, int n, void *stream) {
  ParseState *st = stream;
  if (st->file) {
    if (!fgets(buf, n, st->file)) return NULL;
  } else {
    if (!*st->text) return NULL;
    const char *nl = strchr(st->text, '\n');
    size_t len = nl ? (size_t)(nl - st->text + 1) : strlen(st->text);
    size_t take = len < (size_t)n - 1 ? len : (size_t)n - 1;
    memcpy(buf, st->text, take);
    buf[take] = '\0';
    st->text += take;
  }
  st->line++;
  size_t len = strlen(buf);
  if (len == (size_t)n - 1 && buf[len - 1] != '\n' &&
      !(st->file ? feof(st->file) : !*st->text)) {
    parse_fail(st, "line longer than %d characters", n - 2);
    return NULL;
  }
  check_header(st, buf);
  return buf;
}

static int handler(void *user, const char *section, const char *name, const char *value) {
  ParseState *st = user;
  if (st->failed) return 0;
  if (!section[0]) {
    parse_fail(st, "'%s' is outside any section; put it under [model], [data], [train], "
                   "[optim], [dist], [checkpoint] or [log]", name);
    return 0;
  }
  if (!is_section(section)) return 0; /* already reported by check_header */
  const KeyDef *k = find_key(section, name);
  if (!k) {
    char near[160];
    if (suggest_key(section, name, near, sizeof near))
      parse_fail(st, "unknown key '%s' in [%s]; did you mean %s?", name, section, near);
    else
      parse_fail(st, "unknown key '%s' in [%s] (resnet_dist --help lists every key)", name,
                 section);
    return 0;
  }
  int idx = (int)(k - KEYS);
  if (st->set_line[idx]) {
    parse_fail(st, "[%s] %s is set twice (first on line %d)", section, name, st->set_line[idx]);
    return 0;
  }
  char why[512];
  if (set_value(st->cfg, k, value, why, sizeof why) != 0) {
    parse_fail(st, "[%s] %s = '%s': %s", section, name, value, why);
    return 0;
  }
  st->set_line[idx] = st->line;
  return 1;
}

static int run_parse(ParseState *st) {
  int rc = ini_parse_stream(reader, st, handler, st);
  if (st->failed) return -1;
  if (rc > 0) {
    core_err(st->err, st->err_len,
               "%s:%d: syntax error: expected 'key = value', '[section]' or a comment", st->name,
               rc);
    return -1;
  }
  if (rc < 0) {
    core_err(st->err, st->err_len, "%s: could not be parsed (inih error %d)", st->name, rc);
    return -1;
  }
  return 0;
}

int config_load_file(Config *cfg, const char *path, char *err, size_t err_len) {
  FILE *f = fopen(path, "r");
  if (!f) {
    core_err(err, err_len, "cannot open config file '%s': %s", path, strerror(errno));
    return -1;
  }
  ParseState st = {.cfg = cfg, .name = path, .file = f, .err = err, .err_len = err_len};
  int rc = run_parse(&st);
  fclose(f);
  return rc;
}

int config_load_string(Config *cfg, const char *text, const char *name, char *err,
                       size_t err_len) {
  ParseState st = {.cfg = cfg, .name = name, .text = text, .err = err, .err_len = err_len};
  return run_parse(&st);
}

int config_set(Config *cfg, const char *assignment, char *err, size_t err_len) {
  const char *eq = strchr(assignment, '=');
  const char *dot = strchr(assignment, '.');
  if (!eq || !dot || dot > eq) {
    core_err(err, err_len, "--set %s: expected section.key=value (e.g. --set train.lr=0.1)",
               assignment);
    return -1;
  }
  char section[64], key[128];
  size_t ns = (size_t)(dot - assignment), nk = (size_t)(eq - dot - 1);
  if (ns >= sizeof section || nk >= sizeof key) {
    core_err(err, err_len, "--set %s: key too long", assignment);
    return -1;
  }
  memcpy(section, assignment, ns);
  section[ns] = '\0';
  memcpy(key, dot + 1, nk);
  key[nk] = '\0';
  trim(section);
  trim(key);
  if (!is_section(section)) {
    const char *near = suggest_section(section);
    if (near)
      core_err(err, err_len, "--set %s: unknown section [%s]; did you mean [%s]?", assignment,
                 section, near);
    else
      core_err(err, err_len, "--set %s: unknown section [%s]", assignment, section);
    return -1;
  }
  const KeyDef *k = find_key(section, key);
  if (!k) {
    char near[160];
    if (suggest_key(section, key, near, sizeof near))
      core_err(err, err_len, "--set %s: unknown key %s.%s; did you mean %s?", assignment,
                 section, key, near);
    else
      core_err(err, err_len, "--set %s: unknown key %s.%s (resnet_dist --help lists every key)",
                 assignment, section, key);
    return -1;
  }
  char why[512];
  if (set_value(cfg, k, eq + 1, why, sizeof why) != 0) {
    core_err(err, err_len, "--set %s: %s", assignment, why);
    return -1;
  }
  return 0;
}

int config_validate(const Config *c, char *err, size_t err_len) {
  if (c->data.source == SOURCE_SHARDS && !c->data.train[0]) {
    core_err(err, err_len, "data.source=shards needs data.train (a shard folder or glob); "
                             "or use data.source=synthetic");
    return -1;
  }
  if (c->data.val_crop > c->data.val_resize) {
    core_err(err, err_len, "data.val_crop=%d is larger than data.val_resize=%d",
               c->data.val_crop, c->data.val_resize);
    return -1;
  }
  if (c->data.crop_scale_min > c->data.crop_scale_max) {
    core_err(err, err_len, "data.crop_scale_min=%g is larger than data.crop_scale_max=%g",
               c->data.crop_scale_min, c->data.crop_scale_max);
    return -1;
  }
  if (c->data.crop_ratio_min > c->data.crop_ratio_max) {
    core_err(err, err_len, "data.crop_ratio_min=%g is larger than data.crop_ratio_max=%g",
               c->data.crop_ratio_min, c->data.crop_ratio_max);
    return -1;
  }
  for (int i = 1; i < c->optim.milestones.n; i++)
    if (c->optim.milestones.v[i] <= c->optim.milestones.v[i - 1]) {
      core_err(err, err_len, "optim.milestones must increase (%g follows %g)",
                 c->optim.milestones.v[i], c->optim.milestones.v[i - 1]);
      return -1;
    }
  if (c->optim.schedule == SCHED_MULTISTEP && c->optim.milestones.n == 0) {
    core_err(err, err_len, "optim.schedule=multistep needs optim.milestones (e.g. 30,60,80)");
    return -1;
  }
  if (c->optim.warmup_epochs >= c->train.epochs && c->train.max_steps == 0) {
    core_err(err, err_len, "optim.warmup_epochs=%g is not shorter than train.epochs=%d",
               c->optim.warmup_epochs, c->train.epochs);
    return -1;
  }
  if (c->train.cuda_graph) {
    core_err(err, err_len, "train.cuda_graph=true is not implemented yet; set it to false");
    return -1;
  }
  if (c->log.every_steps < 1) {
    core_err(err, err_len, "log.every_steps must be at least 1");
    return -1;
  }
  return 0;
}

void config_print(const Config *cfg, FILE *out) {
  char *s = config_to_string(cfg);
  fputs(s, out);
  mem_free(s);
}

char *config_to_string(const Config *cfg) {
  size_t cap = 8192, n = 0;
  char *s = mem_alloc_or_die(cap, "config text");
  const char *section = "";
  for (int i = 0; i < N_KEYS; i++) {
    char value[CFG_STR_MAX + 64], line[CFG_STR_MAX + 256];
    format_value(cfg, &KEYS[i], value, sizeof value);
    int m = 0;
    if (strcmp(section, KEYS[i].section)) {
      section = KEYS[i].section;
      m += snprintf(line, sizeof line, "%s[%s]\n", i ? "\n" : "", section);
    }
    m += snprintf(line + m, sizeof line - (size_t)m, "%s = %s\n", KEYS[i].key, value);
    if (n + (size_t)m + 1 > cap) {
      cap *= 2;
      s = mem_realloc_or_die(s, cap, "config text");
    }
    memcpy(s + n, line, (size_t)m);
    n += (size_t)m;
  }
  s[n] = '\0';
  return s;
}

void config_print_help(FILE *out) {
  const char *section = "";
  for (int i = 0; i < N_KEYS; i++) {
    const KeyDef *k = &KEYS[i];
    if (strcmp(section, k->section)) {
      section = k->section;
      fprintf(out, "\n  [%s]\n", section);
    }
    char accepted[256];
    describe_accepted(k, accepted, sizeof accepted);
    fprintf(out, "    %-20s %s (default: %s)\n", k->key, k->help, k->def[0] ? k->def : "empty");
    fprintf(out, "    %-20s   accepts %s\n", "", accepted);
  }
}

uint64_t config_hash(const Config *cfg) {
  char *s = config_to_string(cfg);
  uint64_t h = 0xcbf29ce484222325ull;
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    h ^= *p;
    h *= 0x100000001b3ull;
  }
  mem_free(s);
  return h;
}

/* Next "key = value" line of generated INI text; tracks the section. */
static const char *next_key_line(const char *p, char *section, char *line, size_t line_len) {
  while (*p) {
    const char *nl = strchr(p, '\n');
    size_t len = nl ? (size_t)(nl - p) : strlen(p);
    const char *next = nl ? nl + 1 : p + len;
    if (len && p[0] == '[') {
      size_t m = len - 2 < 63 ? len - 2 : 63;
      memcpy(section, p + 1, m);
      section[m] = '\0';
    } else if (len) {
      size_t m = len < line_len - 1 ? len : line_len - 1;
      memcpy(line, p, m);
      line[m] = '\0';
      return next;
    }
    p = next;
  }
  return NULL;
}

int config_first_difference(const char *a, const char *b, char *out, size_t out_len) {
  char sa[64] = "", sb[64] = "", la[CFG_STR_MAX + 256], lb[CFG_STR_MAX + 256];
  for (;;) {
    a = a ? next_key_line(a, sa, la, sizeof la) : NULL;
    b = b ? next_key_line(b, sb, lb, sizeof lb) : NULL;
    if (!a && !b) return 0;
    if (!a || !b || strcmp(sa, sb) || strcmp(la, lb)) {
      const char *line = a ? la : lb;
      const char *sec = a ? sa : sb;
      const char *eq = strstr(line, " = ");
      size_t klen = eq ? (size_t)(eq - line) : strlen(line);
      snprintf(out, out_len, "%s.%.*s", sec, (int)klen, line);
      return 1;
    }
  }
}

int config_list_differences(const char *a, const char *b, const char *const *ignore, char *out,
                            size_t out_len) {
  char sa[64] = "", sb[64] = "", la[CFG_STR_MAX + 256], lb[CFG_STR_MAX + 256];
  size_t used = 0;
  int count = 0;
  out[0] = '\0';
  while ((a = next_key_line(a, sa, la, sizeof la)) != NULL &&
         (b = next_key_line(b, sb, lb, sizeof lb)) != NULL) {
    if (!strcmp(sa, sb) && !strcmp(la, lb)) continue;
    const char *ea = strstr(la, " = "), *eb = strstr(lb, " = ");
    if (!ea || !eb) continue;
    char key[160];
    snprintf(key, sizeof key, "%s.%.*s", sa, (int)(ea - la), la);
    int skip = 0;
    for (int i = 0; ignore && ignore[i] && !skip; i++) skip = !strcmp(key, ignore[i]);
    if (skip) continue;
    count++;
    char item[CFG_STR_MAX * 2 + 200];
    snprintf(item, sizeof item, "%s%s (%s -> %s)", used ? ", " : "", key, ea + 3, eb + 3);
    if (used + strlen(item) + 5 < out_len) {
      memcpy(out + used, item, strlen(item) + 1);
      used += strlen(item);
    } else if (used + 5 < out_len && strcmp(out + used - 3, "...")) {
      memcpy(out + used, ", ...", 6);
      used += 5;
    }
  }
  return count;
}

const char *config_arch_name(int arch) { return ARCH_NAMES[arch]; }
const char *config_precision_name(int precision) { return PRECISION_NAMES[precision]; }
