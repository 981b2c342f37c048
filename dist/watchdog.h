/* watchdog.h - waiting without hanging, and what a signal finds us doing.
 *
 * Design (no watchdog thread): every collective of every transport is issued
 * non-blocking and completed by watchdog_wait(), a polling loop on the calling
 * thread that asks the transport "done yet?" (MPI_Testall / MPI_Testsome, cudaEventQuery +
 * ncclCommGetAsyncError) and, between polls, checks the clock against the
 * Dist's timeout and yields the core (sched_yield, so oversubscribed ranks
 * share cores).  A wait that outlasts dist.timeout_s prints one line
 *   [rank R host] timeout: waited 5.0 s in <what>; a peer rank is gone or stuck (dist.timeout_s=5)
 * and ends the job through core_exit_job (abort callbacks such as
 * ncclCommAbort, then MPI_Abort), so no rank lingers.  Everything happens on
 * the thread that called MPI, which keeps MPI_THREAD_FUNNELED sufficient and
 * MPI_Abort standard-conforming.
 *
 * While a wait is in progress its description and start time are published
 * for the signal handlers (SIGTERM, SIGINT, SIGUSR1), which dist_init installs:
 * a rank torn down by the launcher (Open MPI sends SIGTERM to every survivor
 * when one rank dies) prints "[rank R host] SIGTERM received while waiting
 * 1.3 s in <what>" before it dies.  After dist_catch_stop_signals the same
 * signals only set a flag (preemption; see dist.h).
 */
#ifndef RD_DIST_WATCHDOG_H
#define RD_DIST_WATCHDOG_H

#include "dist/dist.h"

/* Returns 1 when the awaited operation is complete. */
typedef int (*WatchdogDoneFn)(void *ctx);

/* Polls done(ctx) until it returns 1; ends the job after d->timeout_s. */
void watchdog_wait(Dist *d, WatchdogDoneFn done, void *ctx, const char *what);

/* Ends the job: the timeout line above, then core_exit_job(RD_EXIT_FAILURE). */
noreturn void watchdog_timeout(const Dist *d, const char *what, double waited_s);

/* Called by dist_init: identity for the signal messages, handlers installed. */
void watchdog_install_signal_handlers(void);

/* Signal handlers stop ending the process; they record the signal instead. */
void watchdog_catch_stop_signals(void);

/* Number of the first stop signal caught since watchdog_catch_stop_signals, or 0. */
int watchdog_stop_signal(void);

#endif
