/* progress.h - a progress bar with rate and ETA on stderr.
 *
 * On a terminal one line is redrawn in place at most ~5 times a second; in a
 * log file (not a tty) a plain line is written every 10% so logs stay short.
 * Single-threaded: call from the thread that owns the work's order.
 */
#ifndef RD_DATA_TOOLS_PROGRESS_H
#define RD_DATA_TOOLS_PROGRESS_H

#include <stdint.h>

typedef struct {
  const char *what;     /* e.g. "train" */
  int64_t total;        /* items */
  int64_t done;
  uint64_t bytes;       /* output so far */
  uint64_t t0_ns, last_ns;
  int tty, last_decile;
} Progress;

void progress_start(Progress *p, const char *what, int64_t total);
void progress_update(Progress *p, int64_t done, uint64_t bytes);
void progress_finish(Progress *p);

#endif
