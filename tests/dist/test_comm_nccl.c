/* test_comm_nccl.c - comm_nccl on device buffers: all-reduce (sum, average;
 * f32, f64, bf16), broadcast, all-gather, barrier, non-blocking all-reduce,
 * stream order after the compute stream, and grad_sync reducing a device
 * arena in place.  Rank-dependent inputs with exactly known results.  Needs
 * one GPU per rank; prints "skipped: no GPU" (exit 77) where there is none.
 *
 *   test_comm_nccl                 (one rank)   mpirun -np N test_comm_nccl
 */
#include <string.h>

#include <cuda_runtime.h>

#include "core/mem.h"
#include "dist/comm_nccl.h"
#include "dist/grad_sync.h"
#include "dist_test_util.h"

static Dist *g_d;
static Comm *g_c;

static void *dev_alloc(size_t n_bytes) {
  void *p = NULL;
  T_CHECK(cudaMalloc(&p, n_bytes) == cudaSuccess, "cudaMalloc %zu", n_bytes);
  return p;
}

static void upload(void *dst, const void *src, size_t n) {
  T_CHECK(cudaMemcpy(dst, src, n, cudaMemcpyHostToDevice) == cudaSuccess, "upload");
}
static void download(void *dst, const void *src, size_t n) {
  T_CHECK(cudaMemcpy(dst, src, n, cudaMemcpyDeviceToHost) == cudaSuccess, "download");
}

static float value(int r, size_t i) { return (float)((r + 1) + (int)(i % 5)); }

static void test_allreduce(void) {
  const size_t sizes[] = {1, 1000, (1u << 20) + 3};
  for (int s = 0; s < 3; s++) {
    size_t n = sizes[s];
    float *h = mem_alloc_or_die(n * sizeof *h, "host");
    float *d = dev_alloc(n * sizeof *d);
    for (int op = 0; op < 2; op++) {
      for (size_t i = 0; i < n; i++) h[i] = value(g_c->rank, i);
      upload(d, h, n * sizeof *h);
      g_c->allreduce(g_c, d, n, COMM_F32, op ? COMM_AVG : COMM_SUM, "nccl all-reduce");
      download(h, d, n * sizeof *h);
      size_t bad = 0;
      for (size_t i = 0; i < n; i++) {
        float sum = 0;
        for (int r = 0; r < g_c->size; r++) sum += value(r, i);
        float want = op ? sum / (float)g_c->size : sum;
        bad += op ? (h[i] - want > 1e-6f * want || want - h[i] > 1e-6f * want) : h[i] != want;
      }
      T_CHECK(bad == 0, "f32 %s n=%zu: %zu wrong", op ? "avg" : "sum", n, bad);
    }
    cudaFree(d);
    mem_free(h);
  }
  /* bf16 and f64 sums of small integers are exact. */
  enum { N = 4099 };
  uint16_t hb[N];
  double hd[N];
  for (size_t i = 0; i < N; i++) {
    float f = value(g_c->rank, i);
    comm_f32_to_half(COMM_BF16, &f, &hb[i], 1);
    hd[i] = value(g_c->rank, i) * 0.5;
  }
  uint16_t *db = dev_alloc(sizeof hb);
  double *dd = dev_alloc(sizeof hd);
  upload(db, hb, sizeof hb);
  upload(dd, hd, sizeof hd);
  g_c->allreduce(g_c, db, N, COMM_BF16, COMM_SUM, "bf16 all-reduce");
  g_c->allreduce(g_c, dd, N, COMM_F64, COMM_SUM, "f64 all-reduce");
  download(hb, db, sizeof hb);
  download(hd, dd, sizeof hd);
  size_t bad = 0;
  for (size_t i = 0; i < N; i++) {
    float sum = 0, got;
    for (int r = 0; r < g_c->size; r++) sum += value(r, i);
    comm_half_to_f32(COMM_BF16, &hb[i], &got, 1);
    bad += got != sum || hd[i] != sum * 0.5;
  }
  T_CHECK(bad == 0, "bf16/f64 sums: %zu wrong", bad);
  cudaFree(db);
  cudaFree(dd);
}

static void test_broadcast_allgather_barrier(void) {
  enum { N = 777 };
  int32_t h[N];
  for (int i = 0; i < N; i++) h[i] = g_c->rank * 1000 + i;
  int32_t *d = dev_alloc(sizeof h);
  upload(d, h, sizeof h);
  int root = g_c->size - 1;
  g_c->broadcast(g_c, d, N, COMM_I32, root, "nccl broadcast");
  download(h, d, sizeof h);
  int bad = 0;
  for (int i = 0; i < N; i++) bad += h[i] != root * 1000 + i;
  T_CHECK(bad == 0, "broadcast from %d: %d wrong", root, bad);
  int64_t mine[2] = {g_c->rank, -7 * g_c->rank};
  int64_t *dsend = dev_alloc(sizeof mine), *drecv = dev_alloc(sizeof mine * (size_t)g_c->size);
  upload(dsend, mine, sizeof mine);
  g_c->allgather(g_c, dsend, drecv, 2, COMM_I64, "nccl all-gather");
  int64_t *all = mem_alloc_or_die(sizeof mine * (size_t)g_c->size, "all");
  download(all, drecv, sizeof mine * (size_t)g_c->size);
  for (int r = 0; r < g_c->size; r++)
    T_CHECK(all[2 * r] == r && all[2 * r + 1] == -7 * r, "all-gather slot %d", r);
  g_c->barrier(g_c, "nccl barrier");
  mem_free(all);
  cudaFree(d);
  cudaFree(dsend);
  cudaFree(drecv);
}

/* The collective must see an asynchronous copy enqueued on the compute stream. */
static void test_stream_order_and_iallreduce(void) {
  enum { N = 1 << 22 };
  cudaStream_t s;
  T_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking) == cudaSuccess, "stream");
  comm_nccl_set_compute_stream(g_c, s);
  float *h = NULL;
  T_CHECK(cudaMallocHost((void **)&h, N * sizeof *h) == cudaSuccess, "pinned");
  for (size_t i = 0; i < N; i++) h[i] = value(g_c->rank, i);
  float *d = dev_alloc(N * sizeof *d);
  cudaMemsetAsync(d, 0, N * sizeof *d, s);
  cudaMemcpyAsync(d, h, N * sizeof *d, cudaMemcpyHostToDevice, s);
  CommRequest *req = g_c->iallreduce(g_c, d, N, COMM_F32, COMM_SUM, "ordered all-reduce");
  while (!g_c->test(g_c, req)) {
  }
  download(h, d, N * sizeof *h);
  size_t bad = 0;
  for (size_t i = 0; i < N; i++) {
    float sum = 0;
    for (int r = 0; r < g_c->size; r++) sum += value(r, i);
    bad += h[i] != sum;
  }
  T_CHECK(bad == 0, "all-reduce after an async copy: %zu wrong (stream order broken?)", bad);
  comm_nccl_set_compute_stream(g_c, NULL);
  cudaFree(d);
  cudaFreeHost(h);
  cudaStreamDestroy(s);
}

/* grad_sync over a device arena, reduced in place through NCCL. */
static void test_grad_sync_device(void) {
  enum { N_PARAMS = 9 };
  size_t off[N_PARAMS], n = 0;
  for (int p = 0; p < N_PARAMS; p++) {
    off[p] = n;
    n += 1000 + (size_t)p * 37777;
  }
  Backend be;
  memset(&be, 0, sizeof be);
  be.kind = BACKEND_CUDA;
  be.name = "cuda-arena";
  be.param_bytes = 4;
  float *h = mem_alloc_or_die(n * sizeof *h, "grads");
  for (size_t i = 0; i < n; i++) h[i] = value(g_c->rank, i);
  float *d = dev_alloc(n * sizeof *d);
  upload(d, h, n * sizeof *h);
  GradSync *gs = grad_sync_create(g_c, &be, d, n, off, N_PARAMS, 0.25);
  grad_sync_begin(gs);
  for (int p = N_PARAMS - 1; p >= 0; p--)
    grad_sync_ready(gs, off[p], (p + 1 < N_PARAMS ? off[p + 1] : n) - off[p]);
  grad_sync_finish(gs);
  download(h, d, n * sizeof *h);
  size_t bad = 0;
  for (size_t i = 0; i < n; i++) {
    float sum = 0;
    for (int r = 0; r < g_c->size; r++) sum += value(r, i);
    float want = sum / (float)g_c->size;
    bad += h[i] - want > 1e-6f * want || want - h[i] > 1e-6f * want;
  }
  T_CHECK(bad == 0, "device grad_sync: %zu of %zu not the average", bad, n);
  grad_sync_destroy(gs);
  cudaFree(d);
  mem_free(h);
}

int main(int argc, char **argv) {
  int n_devices = 0;
  if (cudaGetDeviceCount(&n_devices) != cudaSuccess || n_devices < 1) test_skip("no GPU");
  g_d = dist_test_init(&argc, &argv);
  if (g_d->local_world > n_devices) test_skip("needs one GPU per rank on each host");
  Comm *world_mpi = comm_mpi_create(g_d, 0);
  g_c = comm_nccl_create(g_d, dist_local_device(g_d, n_devices), 0);
  TEST_RUN(test_allreduce);
  TEST_RUN(test_broadcast_allgather_barrier);
  TEST_RUN(test_stream_order_and_iallreduce);
  TEST_RUN(test_grad_sync_device);
  g_c->destroy(g_c);
  return dist_test_finish(g_d, world_mpi);
}
