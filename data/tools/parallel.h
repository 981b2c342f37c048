/* parallel.h - a parallel for-loop over [0, n) on n_threads pthreads, for
 * the shard tool's per-file work (read, check, convert, encode).  Items are
 * handed out one at a time from a shared counter; fn gets the thread index
 * so it can use that thread's own decoder / encoder.  Returns when all items
 * are done. */
#ifndef RD_DATA_TOOLS_PARALLEL_H
#define RD_DATA_TOOLS_PARALLEL_H

#include <stdint.h>

typedef void (*ParallelFn)(void *ctx, int64_t i, int thread);

void parallel_for(int n_threads, int64_t n, ParallelFn fn, void *ctx);

/* Threads to use by default: online CPUs. */
int parallel_default_threads(void);

#endif
