/* main.c - resnet_dist: parse the command line, then run the chosen mode. */
#include <stdio.h>
#include <stdlib.h>

#include "config/cli.h"
#include "core/check.h"
#include "core/log.h"

int main(int argc, char **argv) {
  static Config cfg;
  CliOptions cli;
  char err[CFG_ERR_MAX];
  if (cli_parse(argc, argv, &cli, &cfg, err, sizeof err) != 0) {
    log_error("%s", err);
    return RD_EXIT_USAGE;
  }
  if (cli.help) {
    cli_print_usage(stdout);
    return RD_EXIT_OK;
  }
  if (cli.version) {
    printf("resnet_dist %s (commit %s)\n", RD_VERSION, RD_GIT_COMMIT);
    return RD_EXIT_OK;
  }
  if (cli.print_config) {
    config_print(&cfg, stdout);
    return RD_EXIT_OK;
  }
  log_error("mode '%s' is not available in this build yet", cli_mode_name(cli.mode));
  return RD_EXIT_FAILURE;
}
