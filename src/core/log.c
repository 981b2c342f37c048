/* log.c - see log.h. */
#include "core/log.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int g_rank = 0;
static int g_world = 1;
static LogLevel g_level = LOG_INFO;
static char g_host[64];

void log_set_identity(int rank, int world) {
  g_rank = rank;
  g_world = world;
}

void log_set_level(LogLevel level) { g_level = level; }
LogLevel log_level(void) { return g_level; }
int log_rank(void) { return g_rank; }
int log_world(void) { return g_world; }

const char *log_host(void) {
  if (!g_host[0]) {
    if (gethostname(g_host, sizeof g_host - 1) != 0) strcpy(g_host, "unknown-host");
    g_host[sizeof g_host - 1] = '\0';
  }
  return g_host;
}

const char *log_prefix(char *buf, int n_bytes) {
  snprintf(buf, (size_t)n_bytes, "[rank %d %s]", g_rank, log_host());
  return buf;
}

/* Formats "<prefix><tag><message>\n" into one buffer and writes it at once. */
static void log_emit(FILE *f, int with_prefix, const char *tag, const char *fmt, va_list ap) {
  char line[4096];
  int n = 0;
  if (with_prefix) {
    char pre[96];
    n = snprintf(line, sizeof line, "%s ", log_prefix(pre, sizeof pre));
  }
  n += snprintf(line + n, sizeof line - (size_t)n, "%s", tag);
  if (n < (int)sizeof line) n += vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
  if (n > (int)sizeof line - 2) n = (int)sizeof line - 2;
  line[n++] = '\n';
  fwrite(line, 1, (size_t)n, f);
  fflush(f);
}

void log_info(const char *fmt, ...) {
  if (g_rank != 0 || g_level < LOG_INFO) return;
  va_list ap;
  va_start(ap, fmt);
  log_emit(stdout, 0, "", fmt, ap);
  va_end(ap);
}

void log_info_all(const char *fmt, ...) {
  if (g_level < LOG_INFO) return;
  va_list ap;
  va_start(ap, fmt);
  log_emit(stdout, g_world > 1, "", fmt, ap);
  va_end(ap);
}

void log_debug(const char *fmt, ...) {
  if (g_level < LOG_DEBUG) return;
  va_list ap;
  va_start(ap, fmt);
  log_emit(stderr, 1, "debug: ", fmt, ap);
  va_end(ap);
}

void log_warn(const char *fmt, ...) {
  if (g_level < LOG_WARN) return;
  va_list ap;
  va_start(ap, fmt);
  log_emit(stderr, g_world > 1, "warning: ", fmt, ap);
  va_end(ap);
}

void log_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  log_emit(stderr, g_world > 1, "error: ", fmt, ap);
  va_end(ap);
}
