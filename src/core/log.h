/* log.h - levelled logging with the process's place in the job.
 *
 * Info lines come from rank 0 only (stdout); warnings and errors come from any
 * rank, on stderr, prefixed "[rank R host]" so a log from 64 ranks says who
 * spoke.  Every line is formatted into one buffer and written with a single
 * call, so lines from threads and ranks do not interleave mid-line.
 * The identity (rank, world size, host name) is process-wide state set once by
 * dist/ at start-up; before that it is rank 0 of 1.
 */
#ifndef RD_CORE_LOG_H
#define RD_CORE_LOG_H

#include <stdarg.h>

typedef enum { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 } LogLevel;

void log_set_identity(int rank, int world);
void log_set_level(LogLevel level);
LogLevel log_level(void);
int log_rank(void);
int log_world(void);
const char *log_host(void);

/* "[rank R host]" into buf (always terminated); returns buf. */
const char *log_prefix(char *buf, int n_bytes);

void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));    /* rank 0 */
void log_info_all(const char *fmt, ...) __attribute__((format(printf, 1, 2))); /* every rank, prefixed */
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));   /* every rank, prefixed */
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
