/* watchdog.c - polling waits under a deadline, and the signal handlers that
 * report what a rank was waiting in; see watchdog.h.
 *
 * Invariants: the handlers only touch sig_atomic_t flags and buffers that were
 * fully written before the flag that publishes them (g_what[g_slot] is written
 * first, then g_slot flips), and they call only async-signal-safe functions
 * (write, clock_gettime, sigaction, raise).  The 64-bit start time is read
 * without a lock; an aligned 64-bit load is atomic on the platforms we run on.
 */
#include "dist/watchdog.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/check.h"
#include "core/log.h"
#include "core/timer.h"

enum { WHAT_MAX = 160, PREFIX_MAX = 128, LINE_MAX_BYTES = 512 };

static char g_prefix[PREFIX_MAX] = "[rank 0]";
static char g_what[2][WHAT_MAX];
static volatile sig_atomic_t g_slot;
static volatile sig_atomic_t g_waiting;
static volatile uint64_t g_wait_t0_ns;
static volatile sig_atomic_t g_catch_stop;
static volatile sig_atomic_t g_stop_signal;

static const int STOP_SIGNALS[] = {SIGTERM, SIGINT, SIGUSR1};
enum { N_STOP_SIGNALS = (int)(sizeof STOP_SIGNALS / sizeof STOP_SIGNALS[0]) };

/* ------------------------------------------------ async-signal-safe output */

typedef struct {
  char buf[LINE_MAX_BYTES];
  size_t n;
} SafeLine;

static void safe_puts(SafeLine *l, const char *s) {
  while (*s && l->n + 1 < sizeof l->buf) l->buf[l->n++] = *s++;
}

/* Non-negative value with one decimal, e.g. "12.3". */
static void safe_put_tenths(SafeLine *l, double v) {
  uint64_t tenths = (uint64_t)(v * 10.0 + 0.5);
  char digits[24];
  int n = 0;
  uint64_t whole = tenths / 10;
  do {
    digits[n++] = (char)('0' + whole % 10);
    whole /= 10;
  } while (whole && n < (int)sizeof digits);
  while (n > 0 && l->n + 1 < sizeof l->buf) l->buf[l->n++] = digits[--n];
  char frac[3] = {'.', (char)('0' + tenths % 10), '\0'};
  safe_puts(l, frac);
}

static void safe_write_line(SafeLine *l) {
  l->buf[l->n++] = '\n';
  size_t off = 0;
  while (off < l->n) {
    ssize_t w = write(STDERR_FILENO, l->buf + off, l->n - off);
    if (w <= 0) return;
    off += (size_t)w;
  }
}

static const char *signal_name(int sig) {
  switch (sig) {
    case SIGTERM: return "SIGTERM";
    case SIGINT: return "SIGINT";
    case SIGUSR1: return "SIGUSR1";
    default: return "a signal";
  }
}

static void on_signal(int sig) {
  int saved_errno = errno;
  SafeLine l = {.n = 0};
  safe_puts(&l, g_prefix);
  safe_puts(&l, " ");
  safe_puts(&l, signal_name(sig));
  if (g_waiting) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
    safe_puts(&l, " received while waiting ");
    safe_put_tenths(&l, (double)(now - g_wait_t0_ns) * 1e-9);
    safe_puts(&l, " s in ");
    safe_puts(&l, g_what[g_slot]);
    safe_write_line(&l);
  } else if (!g_catch_stop) {
    safe_puts(&l, " received; exiting");
    safe_write_line(&l);
  }
  if (g_catch_stop) {
    if (!g_stop_signal) g_stop_signal = sig;
    errno = saved_errno;
    return;
  }
  /* Die of the signal itself (the default action), so the exit status says so. */
  struct sigaction dfl;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  sigaction(sig, &dfl, NULL);
  raise(sig);
  errno = saved_errno;
}

void watchdog_install_signal_handlers(void) {
  char pre[PREFIX_MAX];
  snprintf(g_prefix, sizeof g_prefix, "%s", log_prefix(pre, sizeof pre));
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  for (int i = 0; i < N_STOP_SIGNALS; i++) sigaddset(&sa.sa_mask, STOP_SIGNALS[i]);
  sa.sa_flags = SA_RESTART;
  for (int i = 0; i < N_STOP_SIGNALS; i++)
    CHECK(sigaction(STOP_SIGNALS[i], &sa, NULL) == 0, "sigaction(%d): %s", STOP_SIGNALS[i],
          strerror(errno));
}

void watchdog_catch_stop_signals(void) { g_catch_stop = 1; }

int watchdog_stop_signal(void) { return g_stop_signal; }

/* ------------------------------------------------------------- waiting */

static void publish_wait(const char *what, uint64_t t0_ns) {
  int next = !g_slot;
  snprintf(g_what[next], WHAT_MAX, "%s", what);
  g_slot = next;
  g_wait_t0_ns = t0_ns;
  g_waiting = 1;
}

noreturn void watchdog_timeout(const Dist *d, const char *what, double waited_s) {
  char pre[PREFIX_MAX];
  g_waiting = 0;
  fprintf(stderr,
          "%s timeout: waited %.1f s in %s; a peer rank is gone or stuck "
          "(dist.timeout_s=%g)\n",
          log_prefix(pre, sizeof pre), waited_s, what, d->timeout_s);
  core_exit_job(RD_EXIT_FAILURE);
}

void watchdog_wait(Dist *d, WatchdogDoneFn done, void *ctx, const char *what) {
  if (done(ctx)) return;
  uint64_t t0 = timer_now_ns();
  publish_wait(what, t0);
  for (;;) {
    if (done(ctx)) break;
    double waited_s = (double)(timer_now_ns() - t0) * 1e-9;
    if (waited_s > d->timeout_s) watchdog_timeout(d, what, waited_s);
    sched_yield();
  }
  g_waiting = 0;
}
