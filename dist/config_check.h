/* config_check.h - every rank must run the same configuration.
 *
 * At start the ranks compare a hash of their effective configuration (the
 * INI text of config_to_string).  If any rank differs from rank 0, the lowest
 * such rank prints one line naming the first differing key and both values,
 * e.g.
 *   error: rank 1 runs a different configuration than rank 0: dist.bucket_mb =
 *   50 on rank 1, 25 on rank 0; every rank must get the same config file and
 *   --set options
 * and the whole job ends with exit status 2 (a user mistake, not a crash).
 */
#ifndef RD_DIST_CONFIG_CHECK_H
#define RD_DIST_CONFIG_CHECK_H

#include "dist/comm.h"

/* Collective over a host communicator of all ranks; returns when all agree. */
void dist_check_same_config(Comm *c, const char *config_text);

#endif
