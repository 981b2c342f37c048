/* config.h - the run's configuration: one typed struct, one table of keys.
 *
 * Every key of the INI interface (sections [model] [data] [train] [optim]
 * [dist] [checkpoint] [log] [bench]) is a row of the table in config.c: type, default,
 * accepted range or values, one-line description.  The same table drives
 * parsing (inih), --set overrides, validation, --help and --print-config, so
 * they cannot drift apart.  Errors are returned as one line naming the file,
 * line, key and what is accepted; callers print it and exit 2.
 *
 * Precedence: built-in defaults < --config FILE < --set (in command-line order).
 * config_print() emits INI that config_load_*() reads back to an identical
 * struct (tests/config checks the round trip).
 */
#ifndef RD_CONFIG_CONFIG_H
#define RD_CONFIG_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum { CFG_STR_MAX = 512, CFG_LIST_MAX = 16, CFG_ERR_MAX = 1024 };

typedef enum {
  ARCH_RESNET18, ARCH_RESNET34, ARCH_RESNET50, ARCH_RESNET101, ARCH_RESNET152,
  ARCH_RESNET20, ARCH_RESNET32, ARCH_RESNET44, ARCH_RESNET56, ARCH_RESNET110,
} ArchId;
typedef enum { VARIANT_V1_5, VARIANT_V1 } VariantId;
typedef enum { SHORTCUT_A, SHORTCUT_B } ShortcutId;
typedef enum { SOURCE_SYNTHETIC, SOURCE_SHARDS } SourceId;
typedef enum { AUGMENT_AUTO, AUGMENT_RRC, AUGMENT_PAD_CROP, AUGMENT_NONE } AugmentId;
typedef enum { PREC_BF16, PREC_FP16, PREC_FP32, PREC_FP32_STRICT } PrecisionId;
typedef enum { OPTIM_SGD, OPTIM_LARS } OptimId;
typedef enum { SCHED_STEP, SCHED_MULTISTEP, SCHED_COSINE, SCHED_POLY, SCHED_CONSTANT } ScheduleId;
typedef enum { UNIT_EPOCHS, UNIT_STEPS } UnitId;
typedef enum { COMM_AUTO, COMM_NCCL, COMM_MPI } CommBackendId;
typedef enum { LEVEL_ERROR, LEVEL_WARN, LEVEL_INFO, LEVEL_DEBUG } LevelId;
typedef enum { PROGRESS_AUTO, PROGRESS_BAR, PROGRESS_LINES } ProgressId;
typedef enum { CONV_ALGOS_RANK0, CONV_ALGOS_FIND, CONV_ALGOS_HEURISTIC } ConvAlgoId;

typedef struct {
  int n;
  double v[CFG_LIST_MAX];
} CfgList;

typedef struct {
  struct {
    int arch;               /* ArchId */
    int num_classes;
    int variant;            /* VariantId */
    int shortcut;           /* ShortcutId (CIFAR nets) */
    int zero_init_residual;
    double bn_momentum;
    double bn_eps;
  } model;
  struct {
    int source;             /* SourceId */
    char train[CFG_STR_MAX];
    char val[CFG_STR_MAX];
    int image_size;
    int val_resize;
    int val_crop;
    int workers;
    int prefetch;
    int64_t limit_samples;
    CfgList mean;
    CfgList std;
    int augment;            /* AugmentId */
    double crop_scale_min;
    double crop_scale_max;
    double crop_ratio_min;
    double crop_ratio_max;
    int pad;
    int flip;
    int64_t synthetic_train;
    int64_t synthetic_val;
  } data;
  struct {
    int epochs;
    int64_t max_steps;
    int batch_size;         /* per rank */
    int precision;          /* PrecisionId */
    int64_t seed;
    double label_smoothing;
    int eval_every_epochs;
    double loss_scale;      /* fp16 initial loss scale */
    int cuda_graph;
    int conv_algos;         /* ConvAlgoId */
    int cudnn_workspace_mb;
    int threads;            /* CPU backend threads, 0 = cores/local ranks */
  } train;
  struct {
    int name;               /* OptimId */
    double lr;
    int lr_scale_batch;
    double momentum;
    int nesterov;
    double weight_decay;
    int wd_exclude_bn_bias;
    int schedule;           /* ScheduleId */
    CfgList milestones;
    int milestone_unit;     /* UnitId */
    double step_size;
    double gamma;
    double warmup_epochs;
    double poly_power;
    double lr_min;
    double lars_eta;
  } optim;
  struct {
    int backend;            /* CommBackendId */
    int sync_bn;
    int bn_group;
    double bucket_mb;
    double timeout_s;
  } dist;
  struct {
    char dir[CFG_STR_MAX];
    int every_epochs;
    double every_minutes;
    int keep;
    char resume[CFG_STR_MAX];
  } checkpoint;
  struct {
    char dir[CFG_STR_MAX];
    int every_steps;
    char trace[CFG_STR_MAX];
    int64_t trace_start;
    int64_t trace_steps;
    int level;              /* LevelId */
    int progress;           /* ProgressId */
  } log;
  struct {
    int warmup_steps;       /* --mode bench */
    int steps;
    int pipeline;           /* 1: real input pipeline; 0: one batch kept on the device */
  } bench;
} Config;

/* Fills every key with its default. */
void config_defaults(Config *cfg);

/* Reads an INI file over cfg.  0 on success; -1 with a one-line message. */
int config_load_file(Config *cfg, const char *path, char *err, size_t err_len);

/* Reads INI text over cfg (name is used in messages).  0 / -1 as above. */
int config_load_string(Config *cfg, const char *text, const char *name, char *err,
                       size_t err_len);

/* Applies one "section.key=value" override.  0 / -1 as above. */
int config_set(Config *cfg, const char *assignment, char *err, size_t err_len);

/* Cross-key checks (after all overrides).  0 / -1 as above. */
int config_validate(const Config *cfg, char *err, size_t err_len);

/* Writes the effective configuration as INI (every key, all sections). */
void config_print(const Config *cfg, FILE *out);

/* Same INI text into a malloc'ed string (caller frees with mem_free). */
char *config_to_string(const Config *cfg);

/* Writes the --help table of keys (section, key, type, default, text). */
void config_print_help(FILE *out);

/* 64-bit FNV-1a hash of config_to_string(): equal configs hash equal. */
uint64_t config_hash(const Config *cfg);

/* First key whose printed value differs between two INI texts (as made by
 * config_to_string), written as "section.key" into out; 0 if none differs. */
int config_first_difference(const char *ini_a, const char *ini_b, char *out, size_t out_len);

/* Every key whose value differs between two INI texts made by
 * config_to_string, as "section.key (value in a -> value in b), ..." into out
 * (truncated with "..."), skipping the "section.key" names in ignore
 * (NULL-terminated list, may be NULL).  Returns how many keys differ. */
int config_list_differences(const char *ini_a, const char *ini_b, const char *const *ignore,
                            char *out, size_t out_len);

/* Names of enum values, for messages and summaries. */
const char *config_arch_name(int arch);
const char *config_precision_name(int precision);

#endif
