/* dist_test_util.h - shared pieces of the multi-rank tests: start-up, a
 * job-wide verdict (every rank exits with the same status), rank-dependent
 * values with exactly representable sums. */
#ifndef RD_TESTS_DIST_TEST_UTIL_H
#define RD_TESTS_DIST_TEST_UTIL_H

#include <stdio.h>

#include "dist/comm.h"
#include "dist/dist.h"
#include "test_util.h"

/* Collectives in tests end the job after this long instead of hanging. */
static const double DIST_TEST_TIMEOUT_S = 60.0;

static inline Dist *dist_test_init(int *argc, char ***argv) {
  Dist *d = dist_init(argc, argv);
  dist_set_timeout(d, DIST_TEST_TIMEOUT_S);
  return d;
}

/* Sums every rank's failures; rank 0 prints the total.  Returns the exit status. */
static inline int dist_test_finish(Dist *d, Comm *world) {
  int64_t counts[2] = {t_checks, t_failures};
  world->allreduce(world, counts, 2, COMM_I64, COMM_SUM, "all-reduce of test verdicts");
  if (d->rank == 0)
    printf("all %d ranks: %lld checks, %lld failed\n", d->world, (long long)counts[0],
           (long long)counts[1]);
  world->destroy(world);
  dist_finalize(d);
  return counts[1] ? 1 : 0;
}

#endif
