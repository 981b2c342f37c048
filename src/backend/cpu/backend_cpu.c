/* backend_cpu.c - creation of the CPU backends and their memory ops.
 *
 * "cpu" (fp32) and "cpu64" (fp64, for gradient checks) share everything here:
 * device memory is host memory (64-byte aligned, mem_alloc_or_die), upload /
 * download are memcpy and sync is a no-op because every op has finished when
 * it returns.  The typed ops come from cpu_ops_f32.c / cpu_ops_f64.c.
 *
 * Threads: `threads` (0 = all cores) is the size of every OpenMP region of
 * the backend; OpenBLAS is set to one thread (a process-wide setting) because
 * our GEMMs run inside those regions, one per thread (see cpu_impl.h).
 */
#include "backend/cpu/cpu_impl.h"

#include <cblas.h>
#include <omp.h>
#include <string.h>

#include "core/check.h"
#include "core/mem.h"

void *cpu_workspace(Backend *be, size_t n_bytes) {
  CpuImpl *impl = be->impl;
  if (n_bytes <= impl->work_bytes) return impl->work;
  mem_free(impl->work);
  impl->work = mem_alloc_or_die(n_bytes, "cpu convolution workspace");
  impl->work_bytes = n_bytes;
  return impl->work;
}

static void cpu_destroy(Backend *be) {
  if (!be) return;
  CpuImpl *impl = be->impl;
  mem_free(impl->work);
  mem_free(impl);
  mem_free(be);
}

static void *cpu_alloc(Backend *be, size_t n_bytes, const char *what) {
  return mem_alloc_or_die(n_bytes, what);
}

static void cpu_free(Backend *be, void *ptr) { mem_free(ptr); }

static void cpu_zero(Backend *be, void *ptr, size_t n_bytes) { memset(ptr, 0, n_bytes); }

static void cpu_copy(Backend *be, void *dst, const void *src, size_t n_bytes) {
  if (dst != src) memmove(dst, src, n_bytes);
}

static void cpu_sync(Backend *be) {}

static void cpu_upload_labels(Backend *be, int32_t *dst, const int32_t *host_src, int n) {
  memcpy(dst, host_src, (size_t)n * sizeof *dst);
}

static Backend *cpu_create(BackendKind kind, int threads) {
  CHECK(threads >= 0, "cpu backend: threads = %d (want >= 0)", threads);
  if (threads == 0) threads = omp_get_num_procs();
  Backend *be = mem_calloc_or_die(1, sizeof *be, "cpu backend");
  CpuImpl *impl = mem_calloc_or_die(1, sizeof *impl, "cpu backend state");
  impl->threads = threads;
  be->kind = kind;
  be->impl = impl;
  be->destroy = cpu_destroy;
  be->alloc = cpu_alloc;
  be->free = cpu_free;
  be->zero = cpu_zero;
  be->copy = cpu_copy;
  be->upload = cpu_copy;
  be->download = cpu_copy;
  be->sync = cpu_sync;
  be->alloc_host = cpu_alloc;
  be->free_host = cpu_free;
  be->upload_labels = cpu_upload_labels;
  omp_set_num_threads(threads);
  openblas_set_num_threads(1);
  return be;
}

Backend *backend_cpu_create(int threads) {
  Backend *be = cpu_create(BACKEND_CPU, threads);
  be->name = "cpu";
  be->act_bytes = be->param_bytes = (int)sizeof(float);
  cpu_install_ops_f32(be);
  return be;
}

Backend *backend_cpu64_create(int threads) {
  Backend *be = cpu_create(BACKEND_CPU64, threads);
  be->name = "cpu64";
  be->act_bytes = be->param_bytes = (int)sizeof(double);
  cpu_install_ops_f64(be);
  return be;
}
