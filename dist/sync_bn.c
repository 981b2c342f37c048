/* sync_bn.c - summing batch-norm statistics over a BN group; see sync_bn.h. */
#include "dist/sync_bn.h"

#include <stdio.h>

#include "core/check.h"
#include "core/mem.h"
#include "core/timer.h"

struct SyncBn {
  Comm *comm;
  Backend *be;
  int staged;         /* device buffers, host transport: go through host_buf */
  double *host_buf;   /* (host_cap) host */
  int host_cap;
  double ms;
  int64_t n_calls;
};

SyncBn *sync_bn_create(Comm *comm, Backend *be) {
  CHECK(!comm->device_buffers || be->kind == BACKEND_CUDA,
        "communicator %s needs device buffers but backend %s keeps them on the host",
        comm->name, be->name);
  SyncBn *s = mem_calloc_or_die(1, sizeof *s, "SyncBn");
  s->comm = comm;
  s->be = be;
  s->staged = be->kind == BACKEND_CUDA && !comm->device_buffers;
  return s;
}

void sync_bn_destroy(SyncBn *s) {
  if (!s) return;
  mem_free(s->host_buf);
  mem_free(s);
}

static double *host_buffer(SyncBn *s, int n_doubles) {
  if (n_doubles > s->host_cap) {
    mem_free(s->host_buf);
    s->host_buf = mem_alloc_or_die((size_t)n_doubles * sizeof(double), "sync-BN host copy");
    s->host_cap = n_doubles;
  }
  return s->host_buf;
}

void sync_bn_allreduce(void *ctx, double *buf, int n_doubles) {
  SyncBn *s = ctx;
  CHECK(n_doubles >= 0, "sync_bn_allreduce of %d values", n_doubles);
  if (s->comm->size == 1 || n_doubles == 0) return;
  uint64_t t0 = timer_now_ns();
  char what[96];
  snprintf(what, sizeof what, "all-reduce of sync-BN sums (call %lld of the step)",
           (long long)s->n_calls);
  size_t n_bytes = (size_t)n_doubles * sizeof(double);
  if (s->staged) {
    double *host = host_buffer(s, n_doubles);
    s->be->download(s->be, host, buf, n_bytes);
    s->comm->allreduce(s->comm, host, (size_t)n_doubles, COMM_F64, COMM_SUM, what);
    s->be->upload(s->be, buf, host, n_bytes);
  } else {
    s->comm->allreduce(s->comm, buf, (size_t)n_doubles, COMM_F64, COMM_SUM, what);
  }
  s->n_calls++;
  s->ms += timer_since_ms(t0);
}

double sync_bn_ms(const SyncBn *s) { return s->ms; }
int64_t sync_bn_calls(const SyncBn *s) { return s->n_calls; }

void sync_bn_reset(SyncBn *s) {
  s->ms = 0;
  s->n_calls = 0;
}
