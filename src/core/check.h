/* check.h - fatal errors that bring the whole job down.
 *
 * Every failure that is not the user's fault ends here: the message is printed
 * as "[rank R host] file:line: what" on stderr, then the abort hook installed
 * by dist/ (MPI_Abort, ncclCommAbort) runs so no other rank is left waiting,
 * and the process exits with status 1.  Library-specific wrappers live in
 * check_mpi.h, check_h5.h, check_tj.h and check_cuda.h; they all funnel into
 * core_fatal().  CHECK() is our release-mode assert: it always evaluates.
 *
 * User mistakes (bad config, missing file, corrupt shard) are not fatal
 * errors: they go through core_user_error(), one line, exit status 2.
 */
#ifndef RD_CORE_CHECK_H
#define RD_CORE_CHECK_H

#include <stddef.h>
#include <stdnoreturn.h>

/* Exit statuses the programs use. */
enum {
  RD_EXIT_OK = 0,
  RD_EXIT_FAILURE = 1,     /* internal / library failure, lost rank */
  RD_EXIT_USAGE = 2,       /* bad config, bad command line, bad data */
  RD_EXIT_SKIPPED = 77,    /* tests: cannot run here (CTest SKIP_RETURN_CODE) */
  RD_EXIT_PREEMPTED = 124, /* stopped on a signal after checkpointing */
};

/* Hook run once by core_fatal() before exiting (dist installs MPI_Abort). */
typedef void (*CoreAbortHook)(int exit_code);
void core_set_abort_hook(CoreAbortHook hook);

noreturn void core_fatal(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* One line "error: ..." (rank-prefixed when world > 1) and exit 2. */
noreturn void core_user_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Formats a one-line message into err (when err and err_len are non-zero) and
 * returns -1, so a function that reports problems through an error buffer can
 * `return core_err(err, err_len, "...", ...);`. */
int core_err(char *err, size_t err_len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Runs the abort hook (if any) and exits with `code`; no message. */
noreturn void core_exit_job(int code);

#define FATAL(...) core_fatal(__FILE__, __LINE__, __VA_ARGS__)

/* CHECK(cond, "fmt", ...): always evaluated, also in release builds. */
#define CHECK(cond, ...)                                                      \
  do {                                                                        \
    if (!(cond)) core_fatal(__FILE__, __LINE__, "check failed: " __VA_ARGS__); \
  } while (0)

#endif
