/* check.c - see check.h. */
#include "core/check.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

static CoreAbortHook g_abort_hook;
static volatile int g_aborting;

void core_set_abort_hook(CoreAbortHook hook) { g_abort_hook = hook; }

noreturn void core_exit_job(int code) {
  fflush(stdout);
  fflush(stderr);
  /* A fatal error inside the hook itself must not recurse. */
  if (g_abort_hook && !g_aborting) {
    g_aborting = 1;
    g_abort_hook(code);
  }
  exit(code);
}

noreturn void core_fatal(const char *file, int line, const char *fmt, ...) {
  char msg[4096];
  char pre[96];
  const char *base = strrchr(file, '/');
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fprintf(stderr, "%s %s:%d: %s\n", log_prefix(pre, sizeof pre), base ? base + 1 : file,
          line, msg);
  core_exit_job(RD_EXIT_FAILURE);
}

noreturn void core_user_error(const char *fmt, ...) {
  char msg[4096];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  log_error("%s", msg);
  core_exit_job(RD_EXIT_USAGE);
}

int core_err(char *err, size_t err_len, const char *fmt, ...) {
  if (err && err_len) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
  }
  return -1;
}
