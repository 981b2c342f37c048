/* progress.c - see progress.h. */
#include "data/tools/progress.h"

#include <stdio.h>
#include <unistd.h>

#include "core/timer.h"

enum { BAR_WIDTH = 30 };

void progress_start(Progress *p, const char *what, int64_t total) {
  p->what = what;
  p->total = total;
  p->done = 0;
  p->bytes = 0;
  p->t0_ns = p->last_ns = timer_now_ns();
  p->tty = isatty(2);
  p->last_decile = 0;
}

static void format_duration(double s, char *out, size_t n) {
  long t = (long)(s + 0.5);
  if (t >= 3600)
    snprintf(out, n, "%ldh%02ldm", t / 3600, t / 60 % 60);
  else
    snprintf(out, n, "%ldm%02lds", t / 60, t % 60);
}

static void draw(const Progress *p, int final) {
  double elapsed = (timer_now_ns() - p->t0_ns) * 1e-9;
  double frac = p->total ? (double)p->done / p->total : 1.0;
  double rate = elapsed > 0 ? p->done / elapsed : 0;
  char eta[32], spent[32];
  format_duration(rate > 0 ? (p->total - p->done) / rate : 0, eta, sizeof eta);
  format_duration(elapsed, spent, sizeof spent);
  char bar[BAR_WIDTH + 1];
  int fill = (int)(frac * BAR_WIDTH);
  for (int i = 0; i < BAR_WIDTH; i++) bar[i] = i < fill ? '=' : i == fill ? '>' : ' ';
  bar[BAR_WIDTH] = '\0';
  fprintf(stderr, "%s%-5s [%s] %3.0f%% %lld/%lld  %.1f MB  %.0f/s  %s %s%s",
          p->tty ? "\r" : "", p->what, bar, 100 * frac, (long long)p->done,
          (long long)p->total, p->bytes / 1e6, rate, final ? "took" : "ETA",
          final ? spent : eta, p->tty && !final ? "" : "\n");
  fflush(stderr);
}

void progress_update(Progress *p, int64_t done, uint64_t bytes) {
  p->done = done;
  p->bytes = bytes;
  uint64_t now = timer_now_ns();
  if (p->tty) {
    if (now - p->last_ns < 200000000ull) return;
    p->last_ns = now;
    draw(p, 0);
    return;
  }
  int decile = p->total ? (int)(10 * done / p->total) : 10;
  if (decile > p->last_decile && decile < 10) {
    p->last_decile = decile;
    draw(p, 0);
  }
}

void progress_finish(Progress *p) { draw(p, 1); }
