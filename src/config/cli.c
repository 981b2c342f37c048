/* cli.c - see cli.h. */
#include "config/cli.h"

#include <stdarg.h>
#include <string.h>

#include "core/check.h"

static const char *const MODE_NAMES[] = {"train", "eval", "predict", "export",
                                         "summary", "bench", "plot", NULL};
static const char *const DEVICE_NAMES[] = {"auto", "cpu", "cuda", "cpu64", NULL};

/* Flags that take a value, and those that do not. */
static const char *const VALUE_FLAGS[] = {"--config", "--set", "--device", "--mode",
                                          "--init-from", "--input", "--output", NULL};
static const char *const BARE_FLAGS[] = {"--print-config", "--help", "--version",
                                         "--dry-run", "--json", "-h", NULL};

const char *cli_mode_name(int mode) { return MODE_NAMES[mode]; }
const char *cli_device_name(int device) { return DEVICE_NAMES[device]; }

static int in_list(const char *s, const char *const *list) {
  for (int i = 0; list[i]; i++)
    if (!strcmp(s, list[i])) return i;
  return -1;
}

/* Number of leading characters two strings share, for flag suggestions. */
static int common_prefix(const char *a, const char *b) {
  int n = 0;
  while (a[n] && a[n] == b[n]) n++;
  return n;
}

static const char *nearest_flag(const char *flag) {
  const char *best = NULL;
  int best_n = 3;
  for (int pass = 0; pass < 2; pass++) {
    const char *const *list = pass ? BARE_FLAGS : VALUE_FLAGS;
    for (int i = 0; list[i]; i++) {
      int n = common_prefix(flag, list[i]);
      if (n > best_n) {
        best_n = n;
        best = list[i];
      }
    }
  }
  return best;
}

static int copy_value(char *dst, const char *flag, const char *value, char *err, size_t err_len) {
  if (strlen(value) >= CFG_STR_MAX)
    return core_err(err, err_len, "%s: value longer than %d characters", flag, CFG_STR_MAX - 1);
  strcpy(dst, value);
  return 0;
}

/* Splits argv[*i] into flag and value ("--x=v" or "--x v"); advances *i. */
static int take_flag(int argc, char **argv, int *i, char *flag, size_t flag_len,
                     const char **value, char *err, size_t err_len) {
  const char *arg = argv[*i];
  const char *eq = strchr(arg, '=');
  size_t n = eq ? (size_t)(eq - arg) : strlen(arg);
  if (n >= flag_len) n = flag_len - 1;
  memcpy(flag, arg, n);
  flag[n] = '\0';
  *value = NULL;
  if (in_list(flag, BARE_FLAGS) >= 0) {
    if (eq) return core_err(err, err_len, "%s takes no value", flag);
    return 0;
  }
  if (in_list(flag, VALUE_FLAGS) < 0) {
    const char *near = nearest_flag(flag);
    if (near) return core_err(err, err_len, "unknown option %s; did you mean %s?", flag, near);
    return core_err(err, err_len, "unknown option %s (see resnet_dist --help)", flag);
  }
  if (eq) {
    *value = eq + 1;
  } else {
    if (*i + 1 >= argc) return core_err(err, err_len, "%s needs a value", flag);
    *value = argv[++*i];
  }
  return 0;
}

int cli_parse(int argc, char **argv, CliOptions *cli, Config *cfg, char *err, size_t err_len) {
  memset(cli, 0, sizeof *cli);
  config_defaults(cfg);
  int first = 1;
  if (argc > 1 && !strcmp(argv[1], "plot")) {
    if (argc != 3) return core_err(err, err_len, "usage: resnet_dist plot RUN_DIR");
    cli->mode = MODE_PLOT;
    return copy_value(cli->plot_dir, "plot", argv[2], err, err_len);
  }
  /* Pass 1: every flag except --set; remembers --config. */
  for (int i = first; i < argc; i++) {
    char flag[64];
    const char *value;
    if (argv[i][0] != '-')
      return core_err(err, err_len, "unexpected argument '%s' (options start with --)", argv[i]);
    if (take_flag(argc, argv, &i, flag, sizeof flag, &value, err, err_len)) return -1;
    if (!strcmp(flag, "--help") || !strcmp(flag, "-h")) cli->help = 1;
    else if (!strcmp(flag, "--version")) cli->version = 1;
    else if (!strcmp(flag, "--print-config")) cli->print_config = 1;
    else if (!strcmp(flag, "--dry-run")) cli->dry_run = 1;
    else if (!strcmp(flag, "--json")) cli->json = 1;
    else if (!strcmp(flag, "--config")) {
      if (copy_value(cli->config_path, flag, value, err, err_len)) return -1;
    } else if (!strcmp(flag, "--mode")) {
      int m = in_list(value, MODE_NAMES);
      if (m < 0 || m == MODE_PLOT)
        return core_err(err, err_len, "--mode %s: expected train, eval, predict, export, summary "
                                  "or bench", value);
      cli->mode = m;
    } else if (!strcmp(flag, "--device")) {
      int d = in_list(value, DEVICE_NAMES);
      if (d < 0) return core_err(err, err_len, "--device %s: expected cpu, cuda, auto or cpu64", value);
      cli->device = d;
    } else if (!strcmp(flag, "--init-from")) {
      if (copy_value(cli->init_from, flag, value, err, err_len)) return -1;
    } else if (!strcmp(flag, "--input")) {
      if (copy_value(cli->input, flag, value, err, err_len)) return -1;
    } else if (!strcmp(flag, "--output")) {
      if (copy_value(cli->output, flag, value, err, err_len)) return -1;
    }
  }
  if (cli->help || cli->version) return 0;
  if (cli->config_path[0] && config_load_file(cfg, cli->config_path, err, err_len)) return -1;
  /* Pass 2: --set in command-line order. */
  for (int i = first; i < argc; i++) {
    char flag[64];
    const char *value;
    if (take_flag(argc, argv, &i, flag, sizeof flag, &value, err, err_len)) return -1;
    if (!strcmp(flag, "--set") && config_set(cfg, value, err, err_len)) return -1;
  }
  return config_validate(cfg, err, err_len);
}

void cli_print_usage(FILE *out) {
  fputs(
      "usage: resnet_dist [--config FILE] [--set section.key=value]... [options]\n"
      "       mpirun -np N resnet_dist --config FILE ...      (one rank per GPU)\n"
      "       resnet_dist plot RUN_DIR                        (curves to SVG and PNG)\n"
      "\n"
      "Trains, evaluates or runs a ResNet (ImageNet ResNet-18..152, CIFAR ResNet-20..110)\n"
      "on one or many ranks.  Settings come from the built-in defaults, then --config,\n"
      "then each --set in order.\n"
      "\n"
      "options:\n"
      "  --config FILE          INI file with [model] [data] [train] [optim] [dist]\n"
      "                         [checkpoint] [log] [bench] sections (keys below)\n"
      "  --set S.K=V            override one key, e.g. --set train.batch_size=64 (repeatable)\n"
      "  --device D             cpu, cuda or auto (default: cuda when a GPU is usable);\n"
      "                         cpu64: the CPU backend in double precision (verification)\n"
      "  --mode M               train (default), eval, predict, export, summary, bench\n"
      "  --init-from FILE       start from parameters in a .safetensors file\n"
      "  --input X              predict: a float32 .npy batch (N,3,H,W), JPEG file or folder\n"
      "  --output Y             predict: logits .npy; export: .safetensors file\n"
      "  --dry-run              validate config, data, memory plan and checkpoint dir; exit\n"
      "  --json                 bench / summary: machine-readable output\n"
      "  --print-config         print the effective configuration as INI and exit\n"
      "  --version              print version, commit and library versions\n"
      "  --help                 this text\n"
      "\n"
      "exit status: 0 success, 1 failure, 2 bad configuration / command line / data,\n"
      "124 stopped by a signal after writing a checkpoint (requeue and it resumes)\n"
      "\n"
      "configuration keys:\n",
      out);
  config_print_help(out);
}
