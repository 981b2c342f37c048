/* main.c - resnet_dist: parse -> dist init -> set up what the mode needs -> run.
 *
 * Exit status: 0 done, 1 failure, 2 bad command line / configuration / data
 * (one line says what to fix), 124 stopped on SIGUSR1/SIGTERM after writing a
 * checkpoint (run again to resume). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/cli.h"
#include "core/check.h"
#include "core/log.h"
#include "dist/dist.h"
#include "plot/plot.h"
#include "train/bench.h"
#include "train/modes.h"
#include "train/run.h"
#include "train/runinfo.h"
#include "train/train.h"

static int needs_of(const CliOptions *cli, const Config *cfg) {
  if (cli->dry_run)
    return RUN_NEED_MODEL | RUN_NEED_OPTIM | RUN_NEED_TRAIN_DATA | RUN_NEED_VAL_DATA |
           RUN_NEED_RUN_DIR;
  switch (cli->mode) {
    case MODE_TRAIN:
      return RUN_NEED_MODEL | RUN_NEED_OPTIM | RUN_NEED_TRAIN_DATA | RUN_NEED_VAL_DATA |
             RUN_NEED_RUN_DIR;
    case MODE_EVAL: return RUN_NEED_MODEL | RUN_NEED_VAL_DATA;
    case MODE_BENCH:
      return RUN_NEED_MODEL | RUN_NEED_OPTIM | (cfg->bench.pipeline ? RUN_NEED_TRAIN_DATA : 0);
    default: return RUN_NEED_MODEL;
  }
}

static int dry_run(Run *r) {
  model_plan(r->model, r->cfg.train.batch_size, r->train_h, r->train_w);
  log_info("dry run OK: %s, %lld training samples (%lld steps/epoch per rank), %s validation, "
           "run directory %s, checkpoints in %s; activations %.1f MiB per rank",
           config_arch_name(r->cfg.model.arch),
           (long long)pipeline_num_samples(r->train_data),
           (long long)pipeline_steps_per_epoch(r->train_data),
           r->val_data ? "with" : "no", r->run_dir, r->ckpt_dir,
           (double)(r->model->act_arena_bytes + r->model->grad_arena_bytes) / (1 << 20));
  return RD_EXIT_OK;
}

int main(int argc, char **argv) {
  static Config cfg;
  CliOptions cli;
  char err[CFG_ERR_MAX];
  /* Before MPI: rank from the launcher's environment, so only rank 0 speaks. */
  log_set_identity(dist_env_rank(), dist_env_world());
  if (cli_parse(argc, argv, &cli, &cfg, err, sizeof err) != 0) {
    if (dist_env_rank() == 0) log_error("%s", err);
    return RD_EXIT_USAGE;
  }
  if (cli.help) {
    cli_print_usage(stdout);
    return RD_EXIT_OK;
  }
  if (cli.version) {
    runinfo_print_versions(stdout);
    return RD_EXIT_OK;
  }
  if (cli.print_config) {
    if (dist_env_rank() == 0) config_print(&cfg, stdout);
    return RD_EXIT_OK;
  }
  log_set_level((LogLevel)cfg.log.level);
  if (cli.mode == MODE_PLOT) return plot_run_dir(cli.plot_dir);
  /* --json: stdout carries the JSON document alone */
  if (cli.json && cli.mode == MODE_BENCH && cfg.log.level > LEVEL_WARN) log_set_level(LOG_WARN);
  Dist *dist = dist_init(&argc, &argv);
  static Run run;
  run_setup(&run, &cfg, &cli, dist, needs_of(&cli, &cfg));
  int rc;
  int one_process = cli.mode == MODE_EXPORT || cli.mode == MODE_PREDICT;
  if (!cli.dry_run && one_process && dist->world > 1)
    run_user_error(&run, "--mode %s runs in one process: start it without mpirun / srun",
                   cli_mode_name(cli.mode));
  if (!cli.dry_run && (one_process || cli.mode == MODE_EVAL)) train_load_weights(&run);
  if (cli.dry_run) {
    rc = dry_run(&run);
  } else {
    switch (cli.mode) {
      case MODE_TRAIN: rc = train_main(&run); break;
      case MODE_EVAL: rc = eval_main(&run); break;
      case MODE_SUMMARY: rc = mode_summary(&run); break;
      case MODE_EXPORT: rc = mode_export(&run); break;
      case MODE_PREDICT: rc = mode_predict(&run); break;
      case MODE_BENCH: rc = bench_main(&run); break;
      default:
        log_error("--mode %s is not available in this build yet", cli_mode_name(cli.mode));
        rc = RD_EXIT_FAILURE;
    }
  }
  run_teardown(&run);
  dist_finalize(dist);
  return rc;
}
