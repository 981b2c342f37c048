/* cli.h - resnet_dist's command line.
 *
 *   resnet_dist [--config FILE] [--set section.key=value]... [--device cpu|cuda|auto]
 *               [--mode train|eval|predict|export|summary|bench] [--print-config]
 *               [--init-from FILE.safetensors] [--input X] [--output Y] [--dry-run]
 *               [--json] [--help] [--version]
 *   resnet_dist plot RUN_DIR
 *
 * --config is applied first wherever it appears, then every --set in order,
 * so --set always wins over the file and a later --set over an earlier one.
 */
#ifndef RD_CONFIG_CLI_H
#define RD_CONFIG_CLI_H

#include <stdio.h>

#include "config/config.h"

typedef enum { MODE_TRAIN, MODE_EVAL, MODE_PREDICT, MODE_EXPORT, MODE_SUMMARY, MODE_BENCH,
               MODE_PLOT } ModeId;
typedef enum { DEVICE_AUTO, DEVICE_CPU, DEVICE_CUDA, DEVICE_CPU64 } DeviceId;

typedef struct {
  char config_path[CFG_STR_MAX]; /* "" when no --config */
  int mode;                      /* ModeId */
  int device;                    /* DeviceId */
  int print_config;
  int help;
  int version;
  int dry_run;
  int json;
  char init_from[CFG_STR_MAX];
  char input[CFG_STR_MAX];
  char output[CFG_STR_MAX];
  char plot_dir[CFG_STR_MAX];    /* MODE_PLOT */
} CliOptions;

/* Parses argv into cli and cfg (defaults, then file, then --set), then runs
 * config_validate.  0 on success; -1 with a one-line message (exit 2). */
int cli_parse(int argc, char **argv, CliOptions *cli, Config *cfg, char *err, size_t err_len);

void cli_print_usage(FILE *out);
const char *cli_mode_name(int mode);
const char *cli_device_name(int device);

#endif
