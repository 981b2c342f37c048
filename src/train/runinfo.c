/* runinfo.c - see runinfo.h.
 *
 * RD_VERSION is a compile definition of this file (the top-level project
 * version, src/train/CMakeLists.txt); RD_GIT_COMMIT comes from the header the
 * build regenerates from `git rev-parse` (cmake/RdGitCommit.cmake).  Every rank contributes a fixed-size record (host, GPU,
 * local rank, pid) through one all-gather, so the header names every rank.
 */
#include "train/runinfo.h"

#include <hdf5.h>
#include <inttypes.h>
#include <mpi.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cblas.h>
#include <jconfig.h>

#include "core/log.h"
#include "core/mem.h"
#include "rd_git_commit.h"
#include "train/jsonw.h"
#ifdef RD_HAVE_CUDA
#include <cuda_runtime_api.h>
#include <cudnn.h>
#include <nccl.h>
#endif

#define RI_STR2(x) #x
#define RI_STR(x) RI_STR2(x)

enum { HOST_BYTES = 64, GPU_BYTES = 112, RANK_RECORD_BYTES = HOST_BYTES + GPU_BYTES + 16 };

typedef struct {
  char mpi[128];
  char mpi_standard[16];
  char hdf5[32];
  char jpeg[32];
  char blas[160];
  char compiler[64];
} LibVersions;

/* First line / first comma-separated field of s, trimmed, into out. */
static void first_field(const char *s, char *out, size_t n) {
  size_t len = strcspn(s, ",\n");
  if (len >= n) len = n - 1;
  memcpy(out, s, len);
  out[len] = '\0';
  while (len > 0 && (out[len - 1] == ' ' || out[len - 1] == '\t')) out[--len] = '\0';
}

static void lib_versions(LibVersions *v) {
  char mpi[MPI_MAX_LIBRARY_VERSION_STRING];
  int len = 0, major = 0, minor = 0;
  MPI_Get_library_version(mpi, &len); /* allowed before MPI_Init (MPI-3) */
  first_field(mpi, v->mpi, sizeof v->mpi);
  MPI_Get_version(&major, &minor);
  snprintf(v->mpi_standard, sizeof v->mpi_standard, "%d.%d", major, minor);
  unsigned h_maj = 0, h_min = 0, h_rel = 0;
  H5get_libversion(&h_maj, &h_min, &h_rel);
  snprintf(v->hdf5, sizeof v->hdf5, "%u.%u.%u", h_maj, h_min, h_rel);
  snprintf(v->jpeg, sizeof v->jpeg, "%s", RI_STR(LIBJPEG_TURBO_VERSION));
  first_field(openblas_get_config(), v->blas, sizeof v->blas);
#if defined(__clang__)
  snprintf(v->compiler, sizeof v->compiler, "clang %s", __clang_version__);
#elif defined(__GNUC__)
  snprintf(v->compiler, sizeof v->compiler, "gcc %s", __VERSION__);
#else
  snprintf(v->compiler, sizeof v->compiler, "unknown");
#endif
}

#ifdef RD_HAVE_CUDA
/* 13000 -> "13.0" (CUDA runtime / driver encoding). */
static void cuda_version_text(int v, char *out, size_t n) {
  snprintf(out, n, "%d.%d", v / 1000, (v % 1000) / 10);
}
/* major*10000 + minor*100 + patch (cuDNN >= 9, NCCL >= 2.9). */
static void mmp_version_text(long v, char *out, size_t n) {
  snprintf(out, n, "%ld.%ld.%ld", v / 10000, (v / 100) % 100, v % 100);
}
#endif

void runinfo_print_versions(FILE *out) {
  LibVersions v;
  lib_versions(&v);
  fprintf(out, "resnet_dist %s (commit %s)\n", RD_VERSION, RD_GIT_COMMIT);
  fprintf(out, "  MPI:           %s (MPI %s)\n", v.mpi, v.mpi_standard);
  fprintf(out, "  HDF5:          %s\n", v.hdf5);
  fprintf(out, "  libjpeg-turbo: %s\n", v.jpeg);
  fprintf(out, "  BLAS:          %s\n", v.blas);
  fprintf(out, "  compiler:      %s\n", v.compiler);
#ifdef RD_HAVE_CUDA
  char cuda[16];
  cuda_version_text(CUDART_VERSION, cuda, sizeof cuda);
  fprintf(out, "  CUDA runtime:  %s (built against)\n", cuda);
  fprintf(out, "  cuDNN:         %d.%d.%d (built against)\n", CUDNN_MAJOR, CUDNN_MINOR,
          CUDNN_PATCHLEVEL);
  fprintf(out, "  NCCL:          %d.%d.%d (built against)\n", NCCL_MAJOR, NCCL_MINOR, NCCL_PATCH);
#else
  fprintf(out, "  CUDA:          not built (CPU backend only)\n");
#endif
}

/* This rank's GPU name and index, or "none" / -1 on the CPU backend. */
static void this_gpu(const Run *r, char *name, size_t n, int32_t *index) {
  snprintf(name, n, "none");
  *index = -1;
#ifdef RD_HAVE_CUDA
  if (r->be && r->be->kind == BACKEND_CUDA) {
    int dev = 0;
    struct cudaDeviceProp prop;
    if (cudaGetDevice(&dev) == cudaSuccess && cudaGetDeviceProperties(&prop, dev) == cudaSuccess) {
      size_t len = strnlen(prop.name, sizeof prop.name);
      if (len >= n) len = n - 1;
      memcpy(name, prop.name, len);
      name[len] = '\0';
      *index = dev;
    }
  }
#else
  (void)r;
#endif
}

/* Every rank's record: host, GPU name, GPU index, local rank, pid. */
static uint8_t *gather_ranks(Run *r) {
  int world = r->dist->world;
  uint8_t mine[RANK_RECORD_BYTES];
  memset(mine, 0, sizeof mine);
  snprintf((char *)mine, HOST_BYTES, "%s", log_host());
  int32_t gpu_index, ints[3];
  this_gpu(r, (char *)mine + HOST_BYTES, GPU_BYTES, &gpu_index);
  ints[0] = gpu_index;
  ints[1] = r->dist->local_rank;
  ints[2] = (int32_t)getpid();
  memcpy(mine + HOST_BYTES + GPU_BYTES, ints, sizeof ints);
  uint8_t *all = mem_calloc_or_die((size_t)world, RANK_RECORD_BYTES, "rank records");
  if (r->comm)
    r->comm->allgather(r->comm, mine, all, RANK_RECORD_BYTES, COMM_U8,
                       "all-gather of the run header's rank records");
  else
    memcpy(all, mine, RANK_RECORD_BYTES);
  return all;
}

static void write_ranks(JsonW *w, const uint8_t *all, int world) {
  jsonw_key(w, "ranks");
  jsonw_arr_begin(w);
  for (int i = 0; i < world; i++) {
    const uint8_t *rec = all + (size_t)i * RANK_RECORD_BYTES;
    char host[HOST_BYTES], gpu[GPU_BYTES];
    int32_t ints[3];
    snprintf(host, sizeof host, "%.*s", HOST_BYTES - 1, (const char *)rec);
    snprintf(gpu, sizeof gpu, "%.*s", GPU_BYTES - 1, (const char *)rec + HOST_BYTES);
    memcpy(ints, rec + HOST_BYTES + GPU_BYTES, sizeof ints);
    jsonw_obj_begin(w);
    jsonw_kint(w, "rank", i);
    jsonw_kstr(w, "host", host);
    jsonw_kint(w, "local_rank", ints[1]);
    jsonw_kint(w, "pid", ints[2]);
    jsonw_kstr(w, "gpu", gpu);
    jsonw_kint(w, "gpu_index", ints[0]);
    jsonw_obj_end(w);
  }
  jsonw_arr_end(w);
}

static void write_libraries(JsonW *w, const Run *r) {
  LibVersions v;
  lib_versions(&v);
  jsonw_key(w, "libraries");
  jsonw_obj_begin(w);
  jsonw_kstr(w, "mpi", v.mpi);
  jsonw_kstr(w, "mpi_standard", v.mpi_standard);
  jsonw_kstr(w, "hdf5", v.hdf5);
  jsonw_kstr(w, "libjpeg_turbo", v.jpeg);
  jsonw_kstr(w, "blas", v.blas);
  jsonw_kstr(w, "compiler", v.compiler);
#ifdef RD_HAVE_CUDA
  char text[32];
  cuda_version_text(CUDART_VERSION, text, sizeof text);
  jsonw_kstr(w, "cuda_runtime_built", text);
  snprintf(text, sizeof text, "%d.%d.%d", CUDNN_MAJOR, CUDNN_MINOR, CUDNN_PATCHLEVEL);
  jsonw_kstr(w, "cudnn_built", text);
  snprintf(text, sizeof text, "%d.%d.%d", NCCL_MAJOR, NCCL_MINOR, NCCL_PATCH);
  jsonw_kstr(w, "nccl_built", text);
  if (r->be && r->be->kind == BACKEND_CUDA) { /* a GPU is in use: ask the libraries */
    int rt = 0, drv = 0, nccl = 0;
    cudaRuntimeGetVersion(&rt);
    cudaDriverGetVersion(&drv);
    ncclGetVersion(&nccl);
    cuda_version_text(rt, text, sizeof text);
    jsonw_kstr(w, "cuda_runtime", text);
    cuda_version_text(drv, text, sizeof text);
    jsonw_kstr(w, "cuda_driver", text);
    mmp_version_text((long)cudnnGetVersion(), text, sizeof text);
    jsonw_kstr(w, "cudnn", text);
    mmp_version_text(nccl, text, sizeof text);
    jsonw_kstr(w, "nccl", text);
  }
#else
  (void)r;
#endif
  jsonw_obj_end(w);
}

static void write_time(JsonW *w) {
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  char iso[32];
  strftime(iso, sizeof iso, "%Y-%m-%dT%H:%M:%SZ", &tm);
  jsonw_kstr(w, "time_utc", iso);
  jsonw_kint(w, "unix_time", (int64_t)now);
}

char *runinfo_header_json(Run *r, const char *mode) {
  const Config *c = &r->cfg;
  uint8_t *ranks = gather_ranks(r);
  JsonW w;
  jsonw_init(&w);
  jsonw_obj_begin(&w);
  jsonw_kstr(&w, "type", "header");
  jsonw_kstr(&w, "program", "resnet_dist");
  jsonw_kstr(&w, "version", RD_VERSION);
  jsonw_kstr(&w, "git_commit", RD_GIT_COMMIT);
  write_time(&w);
  jsonw_kstr(&w, "mode", mode);
  jsonw_kstr(&w, "config_file", r->cli.config_path);
  char hash[24];
  snprintf(hash, sizeof hash, "%016" PRIx64, config_hash(c));
  jsonw_kstr(&w, "config_hash", hash);
  jsonw_kstr(&w, "arch", config_arch_name(c->model.arch));
  jsonw_kstr(&w, "backend", r->be ? r->be->name : "none");
  jsonw_kstr(&w, "precision", config_precision_name(c->train.precision));
  jsonw_kint(&w, "world_size", r->dist->world);
  jsonw_kint(&w, "n_hosts", r->dist->n_hosts);
  jsonw_kstr(&w, "launcher", r->dist->launcher ? r->dist->launcher : "none");
  jsonw_kstr(&w, "grad_transport", r->grad_comm ? r->grad_comm->name : "none");
  jsonw_kint(&w, "batch_size_per_rank", c->train.batch_size);
  jsonw_kint(&w, "global_batch", (int64_t)c->train.batch_size * r->dist->world);
  jsonw_kstr(&w, "run_dir", r->run_dir);
  write_libraries(&w, r);
  write_ranks(&w, ranks, r->dist->world);
  jsonw_obj_end(&w);
  mem_free(ranks);
  return jsonw_take(&w);
}

void runinfo_write_files(const Run *r, const char *header_json) {
  if (r->dist->rank != 0) return;
  char path[CFG_STR_MAX + 32];
  snprintf(path, sizeof path, "%s/run.json", r->run_dir);
  FILE *f = fopen(path, "w");
  int ok = f && fprintf(f, "%s\n", header_json) > 0;
  if (f && fclose(f) != 0) ok = 0;
  if (!ok) {
    log_warn("cannot write the run header %s", path);
    return;
  }
  snprintf(path, sizeof path, "%s/config.ini", r->run_dir);
  f = fopen(path, "w");
  if (!f) {
    log_warn("cannot write the effective configuration %s", path);
    return;
  }
  fprintf(f, "; the effective configuration of this run (defaults < --config < --set)\n");
  config_print(&r->cfg, f);
  if (fclose(f) != 0) log_warn("cannot write the effective configuration %s", path);
}
