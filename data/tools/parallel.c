/* parallel.c - see parallel.h. */
#include "data/tools/parallel.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "core/check.h"
#include "core/mem.h"

typedef struct {
  ParallelFn fn;
  void *ctx;
  int64_t n;
  atomic_llong next;
} Loop;

typedef struct {
  Loop *loop;
  int thread;
} Arg;

static void *run(void *arg) {
  Arg *a = arg;
  for (;;) {
    int64_t i = atomic_fetch_add(&a->loop->next, 1);
    if (i >= a->loop->n) break;
    a->loop->fn(a->loop->ctx, i, a->thread);
  }
  return NULL;
}

void parallel_for(int n_threads, int64_t n, ParallelFn fn, void *ctx) {
  Loop loop = {fn, ctx, n, 0};
  if (n_threads <= 1) {
    Arg a = {&loop, 0};
    run(&a);
    return;
  }
  pthread_t *tid = mem_alloc_or_die((size_t)n_threads * sizeof(pthread_t), "threads");
  Arg *args = mem_alloc_or_die((size_t)n_threads * sizeof(Arg), "thread args");
  for (int t = 0; t < n_threads; t++) {
    args[t] = (Arg){&loop, t};
    int rc = pthread_create(&tid[t], NULL, run, &args[t]);
    CHECK(rc == 0, "pthread_create: %s", strerror(rc));
  }
  for (int t = 0; t < n_threads; t++) pthread_join(tid[t], NULL);
  mem_free(tid);
  mem_free(args);
}

int parallel_default_threads(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (int)n : 1;
}
