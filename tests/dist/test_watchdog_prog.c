/* test_watchdog_prog.c - failure injection for test_watchdog.sh (not a test
 * by itself).  Every rank runs all-reduces "all-reduce of step S"; at step 3
 * the last rank misbehaves:
 *   sleep    stops taking part (blocks in pause()) -> the others time out
 *   kill     raise(SIGKILL)                        -> the launcher tears down
 *   fatal    FATAL(...)                            -> MPI_Abort from that rank
 *   preempt  catches SIGTERM on itself (preemption) -> all ranks agree to stop
 *            after the same step and exit 124
 *   config   runs with a different dist.bucket_mb  -> exit 2, key named
 *
 *   mpirun -np N test_watchdog_prog MODE TIMEOUT_S
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "core/check.h"
#include "core/log.h"
#include "core/mem.h"
#include "dist/comm.h"
#include "dist/config_check.h"
#include "dist/dist.h"

enum { N_STEPS = 8, BAD_STEP = 3 };

static void run_steps(Dist *d, Comm *c, const char *mode) {
  int bad_rank = d->world - 1;
  int preempt = !strcmp(mode, "preempt");
  if (preempt) dist_catch_stop_signals(d);
  for (int step = 0; step < N_STEPS; step++) {
    if (step == BAD_STEP && d->rank == bad_rank) {
      if (!strcmp(mode, "sleep"))
        for (;;) pause();
      if (!strcmp(mode, "kill")) raise(SIGKILL);
      if (!strcmp(mode, "fatal")) FATAL("injected failure at step %d", step);
      if (preempt) raise(SIGTERM);
    }
    char what[64];
    snprintf(what, sizeof what, "all-reduce of step %d", step);
    double x = d->rank;
    c->allreduce(c, &x, 1, COMM_F64, COMM_SUM, what);
    if (preempt && dist_agree_stop(c, 0)) {
      log_info_all("stopped after step %d (signal %d)", step, dist_stop_signal());
      c->destroy(c);
      dist_finalize(d);
      exit(RD_EXIT_PREEMPTED);
    }
  }
}

static void run_config(Dist *d, Comm *c) {
  static Config cfg;
  char err[CFG_ERR_MAX];
  config_defaults(&cfg);
  if (d->rank == d->world - 1 && config_set(&cfg, "dist.bucket_mb=50", err, sizeof err) != 0)
    FATAL("%s", err);
  char *text = config_to_string(&cfg);
  dist_check_same_config(c, text);
  mem_free(text);
}

int main(int argc, char **argv) {
  Dist *d = dist_init(&argc, &argv);
  if (argc < 3) {
    fprintf(stderr, "usage: %s sleep|kill|fatal|preempt|config TIMEOUT_S\n", argv[0]);
    return RD_EXIT_USAGE;
  }
  dist_set_timeout(d, atof(argv[2]));
  Comm *c = comm_mpi_create(d, 0);
  if (!strcmp(argv[1], "config")) run_config(d, c);
  else run_steps(d, c, argv[1]);
  log_info_all("finished all steps");
  c->destroy(c);
  dist_finalize(d);
  return 0;
}
