/* test_cuda_nccl.c - the NCCL transport and sync BN on a real device, one rank.
 *
 * A one-rank communicator makes every collective the identity, so each
 * result is exactly known: values are chosen exactly representable in their
 * dtype and must come back bit for bit (sum, average, broadcast, asynchronous
 * all-reduce; fp32, fp64, bf16, int32).  Stream order: the buffer is scaled
 * by a kernel on the backend's compute stream and all-reduced with no sync in
 * between; the collective must see the scaled values
 * (comm_nccl_set_compute_stream).  Sync BN: per-channel statistics and
 * gradient sums computed by the CUDA backend, reduced through the NCCL
 * communicator (fp64) and through sync_bn_allreduce, then finalized, must
 * equal the CPU oracle's batch norm of the same batch (relative 1e-5).
 */
#include <stdio.h>
#include <string.h>

#include "backend/cuda/backend_cuda.h"
#include "config/config.h"
#include "cuda_test_util.h"
#include "dist/comm_nccl.h"
#include "dist/dist.h"
#include "dist/sync_bn.h"

static Backend *G;
static Comm *C;

static void test_identity_sums(void) {
  enum { N = (1 << 20) + 3 };
  float *h = mem_alloc_or_die(N * sizeof(float), "host"), *back = mem_alloc_or_die(N * 4, "back");
  for (int i = 0; i < N; i++) h[i] = (float)(i % 1000) * 0.25f - 100.0f;
  float *d = G->alloc(G, N * sizeof(float), "fp32 buffer");
  G->params_from_host_f32(G, d, h, N);
  G->scale(G, d, N, 2.0); /* on the compute stream; no sync before the collective */
  C->allreduce(C, d, N, COMM_F32, COMM_SUM, "fp32 sum");
  G->download(G, back, d, N * sizeof(float));
  int bad = 0;
  for (int i = 0; i < N; i++) bad += back[i] != 2.0f * h[i];
  CU_EXPECT(bad, 0, "fp32 sum after a compute-stream kernel: wrong elements");

  CommRequest *req = C->iallreduce(C, d, N, COMM_F32, COMM_AVG, "fp32 average");
  C->wait(C, req);
  G->download(G, back, d, N * sizeof(float));
  bad = 0;
  for (int i = 0; i < N; i++) bad += back[i] != 2.0f * h[i];
  CU_EXPECT(bad, 0, "fp32 asynchronous average: wrong elements");

  C->broadcast(C, d, N, COMM_F32, 0, "fp32 broadcast");
  G->download(G, back, d, N * sizeof(float));
  bad = 0;
  for (int i = 0; i < N; i++) bad += back[i] != 2.0f * h[i];
  CU_EXPECT(bad, 0, "fp32 broadcast: wrong elements");
  G->free(G, d);
  mem_free(back);
  mem_free(h);

  enum { M = 4099 };
  double hd[M], bd[M];
  int32_t hi[M], bi[M];
  uint16_t hb[M], bb[M]; /* bf16 bit patterns of small integers: exact */
  for (int i = 0; i < M; i++) {
    hd[i] = (double)i * 1.0e-3 - 1.0;
    hi[i] = i * 7 - 9000;
    float f = (float)(i % 200 - 100);
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    hb[i] = (uint16_t)(u >> 16);
  }
  void *dd = G->alloc(G, sizeof hd, "fp64"), *di = G->alloc(G, sizeof hi, "int32");
  void *db = G->alloc(G, sizeof hb, "bf16");
  G->upload(G, dd, hd, sizeof hd);
  G->upload(G, di, hi, sizeof hi);
  G->upload(G, db, hb, sizeof hb);
  C->allreduce(C, dd, M, COMM_F64, COMM_SUM, "fp64 sum");
  C->allreduce(C, di, M, COMM_I32, COMM_SUM, "int32 sum");
  C->allreduce(C, db, M, COMM_BF16, COMM_SUM, "bf16 sum");
  C->barrier(C, "barrier");
  G->download(G, bd, dd, sizeof bd);
  G->download(G, bi, di, sizeof bi);
  G->download(G, bb, db, sizeof bb);
  CU_EXPECT(memcmp(bd, hd, sizeof hd) != 0, 0, "fp64 sum differs");
  CU_EXPECT(memcmp(bi, hi, sizeof hi) != 0, 0, "int32 sum differs");
  CU_EXPECT(memcmp(bb, hb, sizeof hb) != 0, 0, "bf16 sum differs");
  G->free(G, dd);
  G->free(G, di);
  G->free(G, db);
}

static void test_sync_bn(void) {
  enum { N = 4, CH = 32, H = 8, W = 8, COUNT = N * CH * H * W };
  Backend *cpu = backend_cpu_create(0);
  float *x = mem_alloc_or_die(COUNT * sizeof(float), "x");
  float *dy = mem_alloc_or_die(COUNT * sizeof(float), "dy");
  cu_rand(x, COUNT, 800, -1, 3);
  cu_rand(dy, COUNT, 801, -1, 1);
  void *xg = G->alloc(G, (size_t)COUNT * G->act_bytes, "x"), *dyg = G->alloc(G, COUNT * 4, "dy");
  G->act_from_host_f32(G, xg, x, N, CH, H, W);
  G->act_to_host_f32(G, x, xg, N, CH, H, W); /* the CPU sees the GPU's rounded values */
  G->act_from_host_f32(G, dyg, dy, N, CH, H, W);
  G->act_to_host_f32(G, dy, dyg, N, CH, H, W);

  double *stats_g = G->alloc(G, (2 * CH + 1) * sizeof(double), "stats");
  double *sums_g = G->alloc(G, 2 * CH * sizeof(double), "sums");
  float *mi_g = G->alloc(G, 2 * CH * sizeof(float), "mean_invstd");
  float *par_g = G->alloc(G, 2 * CH * sizeof(float), "dgamma, dbeta");
  double stats_c[2 * CH + 1], sums_c[2 * CH], before[2 * CH + 1], after[2 * CH + 1];
  float mi_c[2 * CH], mi_back[2 * CH], par_c[2 * CH];
  SyncBn *sb = sync_bn_create(C, G);

  G->bn_stats(G, N, CH, H, W, xg, stats_g);
  G->download(G, before, stats_g, sizeof before);
  C->allreduce(C, stats_g, 2 * CH + 1, COMM_F64, COMM_SUM, "BN statistics");
  sync_bn_allreduce(sb, stats_g, 2 * CH + 1);
  G->download(G, after, stats_g, sizeof after);
  CU_EXPECT(memcmp(before, after, sizeof before) != 0, 0, "one-rank stats all-reduce changed them");
  G->bn_finalize(G, CH, stats_g, mi_g, NULL, NULL, 0.1, 1e-5, 0);

  cpu->bn_stats(cpu, N, CH, H, W, x, stats_c);
  cpu->bn_finalize(cpu, CH, stats_c, mi_c, NULL, NULL, 0.1, 1e-5, 0);
  CU_EXPECT(cu_rel_err_f64(after, stats_c, 2 * CH + 1), 1e-6, "sync BN statistics vs CPU");
  G->params_to_host_f32(G, mi_back, mi_g, 2 * CH);
  CU_EXPECT(cu_rel_err(mi_back, mi_c, 2 * CH), 1e-5, "sync BN mean/invstd vs CPU");

  G->bn_bwd_reduce(G, N, CH, H, W, dyg, NULL, xg, mi_g, 0, NULL, 0, par_g, par_g + CH, sums_g);
  C->allreduce(C, sums_g, 2 * CH, COMM_F64, COMM_SUM, "BN gradient sums");
  sync_bn_allreduce(sb, sums_g, 2 * CH);
  cpu->bn_bwd_reduce(cpu, N, CH, H, W, dy, NULL, x, mi_c, 0, NULL, 0, par_c, par_c + CH, sums_c);
  double sums_back[2 * CH];
  G->download(G, sums_back, sums_g, sizeof sums_back);
  CU_EXPECT(cu_rel_err_f64(sums_back, sums_c, 2 * CH), 1e-5, "sync BN gradient sums vs CPU");

  sync_bn_destroy(sb);
  G->free(G, par_g);
  G->free(G, mi_g);
  G->free(G, sums_g);
  G->free(G, stats_g);
  G->free(G, dyg);
  G->free(G, xg);
  mem_free(dy);
  mem_free(x);
  cpu->destroy(cpu);
}

int main(int argc, char **argv) {
  if (backend_cuda_device_count() == 0) test_skip("no GPU (backend_cuda_device_count() = 0)");
  Dist *d = dist_init(&argc, &argv);
  dist_set_timeout(d, 60.0);
  CudaBackendOptions opt = {.device = 0, .precision = PREC_BF16};
  G = backend_cuda_create(&opt);
  C = comm_nccl_create(d, 0, 0);
  comm_nccl_set_compute_stream(C, backend_cuda_stream(G));
  T_CHECK(C->size == 1 && C->rank == 0 && C->device_buffers, "one-rank device communicator");
  TEST_RUN(test_identity_sums);
  TEST_RUN(test_sync_bn);
  C->destroy(C);
  G->destroy(G);
  dist_finalize(d);
  return test_summary();
}
