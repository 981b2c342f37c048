/* run.c - see run.h.
 *
 * User errors during setup are agreed on before anyone exits: every rank
 * reports whether its stage failed (an all-reduce MIN of the failing rank),
 * the lowest failing rank prints its one line, and every rank leaves MPI
 * cleanly with exit status 2.  So a bad path prints one line, not one per
 * rank, and no rank is left waiting in a collective. */
#include "train/run.h"

#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/check.h"
#include "core/log.h"
#include "core/mem.h"
#include "model/weights.h"
#include "dist/config_check.h"
#include "train/checkpoint.h"
#ifdef RD_HAVE_CUDA
#include "backend/cuda/backend_cuda.h"
#include "dist/comm_nccl.h"
#endif

void run_agree(Run *r, const char *err) {
  int failed = err && err[0];
  if (!r->comm) {
    if (failed) {
      log_error("%s", err);
      core_exit_job(RD_EXIT_USAGE);
    }
    return;
  }
  int32_t first = failed ? r->dist->rank : r->dist->world;
  r->comm->allreduce(r->comm, &first, 1, COMM_I32, COMM_MIN, "agreement on setup errors");
  if (first == r->dist->world) return;
  if (first == r->dist->rank) log_error("%s", err);
  dist_finalize(r->dist);
  exit(RD_EXIT_USAGE);
}

void run_user_error(Run *r, const char *fmt, ...) {
  char msg[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  run_agree(r, msg);
  /* only reached when this rank's message was empty */
  FATAL("run_user_error with an empty message");
}

void run_allreduce_host(Run *r, double *v, int n, const char *what) {
  if (r->comm) r->comm->allreduce(r->comm, v, (size_t)n, COMM_F64, COMM_SUM, what);
}

/* mkdir -p; 0 or -1 with errno. */
static int make_dirs(const char *path) {
  char tmp[CFG_STR_MAX + 64];
  snprintf(tmp, sizeof tmp, "%s", path);
  for (char *p = tmp + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
    *p = '/';
  }
  return mkdir(tmp, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

/* runs/<config file stem>, or runs/default. */
static void default_run_dir(const CliOptions *cli, char *out, size_t n) {
  const char *base = strrchr(cli->config_path, '/');
  base = base ? base + 1 : cli->config_path;
  char stem[128];
  snprintf(stem, sizeof stem, "%.120s", base[0] ? base : "default");
  char *dot = strrchr(stem, '.');
  if (dot && dot != stem) *dot = '\0';
  snprintf(out, n, "runs/%s", stem);
}

/* Every rank must run with the same configuration (dist/config_check.h:
 * the first differing key is named, exit 2). */
static void check_same_config(Run *r) {
  if (!r->comm) return;
  char *text = config_to_string(&r->cfg);
  dist_check_same_config(r->comm, text);
  mem_free(text);
}

static void setup_run_dir(Run *r, int needs) {
  if (r->cfg.log.dir[0])
    snprintf(r->run_dir, sizeof r->run_dir, "%s", r->cfg.log.dir);
  else
    default_run_dir(&r->cli, r->run_dir, sizeof r->run_dir);
  if (r->cfg.checkpoint.dir[0])
    snprintf(r->ckpt_dir, sizeof r->ckpt_dir, "%s", r->cfg.checkpoint.dir);
  else
    snprintf(r->ckpt_dir, sizeof r->ckpt_dir, "%s/checkpoints", r->run_dir);
  if (!(needs & RUN_NEED_RUN_DIR)) return;
  char err[1024] = "";
  if (r->dist->rank == 0) {
    if (make_dirs(r->run_dir) != 0)
      snprintf(err, sizeof err, "cannot create the run directory '%s' (log.dir): %s", r->run_dir,
               strerror(errno));
    int checkpoints = r->cfg.checkpoint.every_epochs > 0 || r->cfg.checkpoint.every_minutes > 0;
    char why[900];
    if (!err[0] && checkpoints && ckpt_check_writable(r->ckpt_dir, why, sizeof why) != 0)
      snprintf(err, sizeof err, "checkpoint.dir: %s", why);
  }
  run_agree(r, err);
}

/* CPU threads per rank when train.threads = 0: OMP_NUM_THREADS if set (the
 * launcher's choice), else the cores this process may run on (its affinity
 * mask, which mpirun --bind-to / srun --cpus-per-task set) shared by the ranks
 * of this host when they are not bound apart. */
static int default_threads(const Run *r) {
  const char *env = getenv("OMP_NUM_THREADS");
  if (env && atoi(env) > 0) return atoi(env);
  cpu_set_t set;
  int cores = (int)sysconf(_SC_NPROCESSORS_ONLN);
  if (sched_getaffinity(0, sizeof set, &set) == 0) cores = CPU_COUNT(&set);
  int online = (int)sysconf(_SC_NPROCESSORS_ONLN);
  int local = r->dist->local_world > 0 ? r->dist->local_world : 1;
  int t = cores < online ? cores : cores / local; /* bound: the mask is ours alone */
  return t > 0 ? t : 1;
}

static void setup_backend(Run *r) {
  int want_cuda = r->cli.device == DEVICE_CUDA;
  char err[512] = "";
#ifdef RD_HAVE_CUDA
  int n_gpus = backend_cuda_device_count();
  if (r->cli.device == DEVICE_AUTO) want_cuda = n_gpus > 0;
  if (r->cli.device == DEVICE_CUDA && n_gpus == 0)
    snprintf(err, sizeof err, "--device cuda: no usable GPU on %s (use --device cpu)", log_host());
  if (r->cli.device == DEVICE_AUTO && r->comm) { /* every rank must pick the same kind */
    int32_t lo = want_cuda, hi = want_cuda;
    r->comm->allreduce(r->comm, &lo, 1, COMM_I32, COMM_MIN, "agreement on the device kind");
    r->comm->allreduce(r->comm, &hi, 1, COMM_I32, COMM_MAX, "agreement on the device kind");
    if (lo != hi && !want_cuda)
      snprintf(err, sizeof err, "--device auto: no usable GPU on %s while other ranks have GPUs "
                                "(fix that host's GPUs or driver, or run with --device cpu)",
               log_host());
  }
#else
  if (want_cuda)
    snprintf(err, sizeof err, "--device cuda: this build has no CUDA backend (configure with "
                              "-DRESNET_CUDA=ON where nvcc, cuDNN and NCCL are installed)");
#endif
  run_agree(r, err);
#ifdef RD_HAVE_CUDA
  if (want_cuda) {
    r->gpu = dist_local_device(r->dist, n_gpus);
    int conv = r->cfg.train.conv_algos;
    int rank0_measures = conv == CONV_ALGOS_RANK0 && r->comm && r->dist->rank != 0;
    CudaBackendOptions o = {
        .device = r->gpu, .precision = r->cfg.train.precision,
        .workspace_bytes = (size_t)r->cfg.train.cudnn_workspace_mb << 20,
        .conv_algo_heuristic = conv == CONV_ALGOS_HEURISTIC || rank0_measures};
    r->be = backend_cuda_create(&o);
    return;
  }
#endif
  int threads = r->cfg.train.threads;
  if (threads == 0) threads = default_threads(r);
  if (r->cli.device == DEVICE_CPU64) {
    r->be = backend_cpu64_create(threads);
    return;
  }
  r->be = backend_cpu_create(threads);
}

static void *alloc_host_cb(void *ctx, size_t n_bytes) {
  Backend *be = ctx;
  return be->alloc_host(be, n_bytes, "batch ring");
}
static void free_host_cb(void *ctx, void *ptr) {
  Backend *be = ctx;
  be->free_host(be, ptr);
}

static Pipeline *open_pipeline(Run *r, int split) {
  PipelineOptions po = {.cfg = &r->cfg, .split = split, .rank = r->dist->rank,
                        .world = r->dist->world, .alloc_host = alloc_host_cb,
                        .free_host = free_host_cb, .alloc_ctx = r->be};
  char err[1024] = "";
  Pipeline *p = pipeline_open(&po, err, sizeof err);
  run_agree(r, p ? "" : err);
  return p;
}

static int has_val_split(const Config *c) {
  return c->data.source == SOURCE_SYNTHETIC ? c->data.synthetic_val > 0 : c->data.val[0] != '\0';
}

static void check_image(Run *r, const ModelSpec *spec, int h, int w) {
  char err[512] = "";
  if (model_check_image_size(spec, h, w, err, sizeof err) != 0) run_agree(r, err);
}

static void setup_model(Run *r) {
  ModelSpec spec;
  model_spec_from_config(&spec, &r->cfg);
  char err[2048] = "";
  r->model = model_create(r->be, &spec, err, sizeof err);
  run_agree(r, r->model ? "" : err);
  model_init_params(r->model, (uint64_t)r->cfg.train.seed);
  if (r->cli.init_from[0]) {
    err[0] = '\0';
    weights_import(r->model, r->cli.init_from, err, sizeof err);
    run_agree(r, err);
  }
  if (r->comm) { /* one truth: rank 0's parameters and buffers */
    Model *m = r->model;
    run_broadcast_params(r, m->params, m->n_param_elems, "broadcast of the initial parameters");
    run_broadcast_params(r, m->buffers, m->n_buffer_elems,
                         "broadcast of the initial BN statistics");
    model_params_changed(m);
  }
}

void run_broadcast_params(Run *r, void *data, size_t n_elems, const char *what) {
  if (!r->comm) return;
  size_t n_bytes = n_elems * (size_t)r->be->param_bytes;
  CommDtype dt = r->be->param_bytes == 8 ? COMM_F64 : COMM_F32;
  int staged = !r->comm->device_buffers && r->be->kind == BACKEND_CUDA;
  void *buf = staged ? mem_alloc_or_die(n_bytes, "broadcast staging") : data;
  if (staged) r->be->download(r->be, buf, data, n_bytes);
  r->comm->broadcast(r->comm, buf, n_elems, dt, 0, what);
  if (staged) {
    r->be->upload(r->be, data, buf, n_bytes);
    mem_free(buf);
  }
}

#ifdef RD_HAVE_CUDA
/* train.conv_algos=rank0 on several ranks: rank 0 has measured the conv
 * algorithms of the training shape (the others only asked cuDNN's
 * heuristics); every rank now takes rank 0's choices, so all replicas run the
 * same kernels.  Shapes met later (evaluation, prediction) are measured by
 * each rank. */
static void share_conv_algos(Run *r) {
  if (r->be->kind != BACKEND_CUDA) return;
  int conv = r->cfg.train.conv_algos;
  if (conv == CONV_ALGOS_RANK0 && r->comm) {
    model_plan(r->model, r->cfg.train.batch_size, r->train_h, r->train_w);
    int64_t n_bytes = r->dist->rank == 0 ? (int64_t)backend_cuda_conv_algos_export(r->be, NULL, 0)
                                         : 0;
    r->comm->broadcast(r->comm, &n_bytes, 1, COMM_I64, 0, "size of rank 0's conv algorithms");
    unsigned char *blob = mem_alloc_or_die((size_t)n_bytes, "conv algorithms");
    if (r->dist->rank == 0) backend_cuda_conv_algos_export(r->be, blob, (size_t)n_bytes);
    r->comm->broadcast(r->comm, blob, (size_t)n_bytes, COMM_U8, 0, "rank 0's conv algorithms");
    if (r->dist->rank != 0)
      CHECK(backend_cuda_conv_algos_import(r->be, blob, (size_t)n_bytes) == 0,
            "rank 0's conv algorithm table (%lld bytes) is not one this build reads",
            (long long)n_bytes);
    mem_free(blob);
    log_info("cuda: every rank uses rank 0's conv algorithms (train.conv_algos=rank0)");
  }
  backend_cuda_set_conv_algo_heuristic(r->be, conv == CONV_ALGOS_HEURISTIC);
}
#endif

/* ---- does the batch fit? ------------------------------------------------- */

enum { RESERVE_MIB = 256, RESERVE_PERCENT = 5 };

/* The first number on the line of `key` in a /proc or /sys file, or -1. */
static long long read_number(const char *path, const char *key) {
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  char line[256];
  long long v = -1;
  size_t klen = key ? strlen(key) : 0;
  while (fgets(line, sizeof line, f)) {
    if (key && strncmp(line, key, klen) != 0) continue;
    char *end;
    long long x = strtoll(line + klen, &end, 10);
    if (end != line + klen) v = x;
    break;
  }
  fclose(f);
  return v;
}

/* Host memory this process may still take: MemAvailable, capped by the
 * cgroup's limit (v2, else v1) less its usage, as under Slurm or a container. */
static size_t host_available_bytes(void) {
  long long avail = read_number("/proc/meminfo", "MemAvailable:");
  if (avail < 0) return 0;
  unsigned long long bytes = (unsigned long long)avail * 1024ull;
  long long lim = read_number("/sys/fs/cgroup/memory.max", NULL);
  long long use = read_number("/sys/fs/cgroup/memory.current", NULL);
  if (lim < 0) {
    lim = read_number("/sys/fs/cgroup/memory/memory.limit_in_bytes", NULL);
    use = read_number("/sys/fs/cgroup/memory/memory.usage_in_bytes", NULL);
  }
  if (lim > 0 && use >= 0) {
    unsigned long long left = lim > use ? (unsigned long long)(lim - use) : 0;
    if (left < bytes) bytes = left;
  }
  return (size_t)bytes;
}

ModelBudget run_memory_budget(Run *r) {
  static char where[160];
  ModelBudget b = {0, 0, 0, where};
  size_t free_bytes = 0;
  int sharing = r->dist->local_world > 0 ? r->dist->local_world : 1;
#ifdef RD_HAVE_CUDA
  if (r->be->kind == BACKEND_CUDA) {
    int n_gpus = backend_cuda_device_count();
    sharing = n_gpus > 0 ? (sharing + n_gpus - 1) / n_gpus : 1;
    free_bytes = backend_cuda_free_bytes(r->be);
    b.workspace_bytes = backend_cuda_workspace_bytes(r->be);
    snprintf(where, sizeof where, "free on GPU %d", r->gpu);
  }
#endif
  if (r->be->kind != BACKEND_CUDA) { /* the batch rings come out of the same memory */
    free_bytes = host_available_bytes();
    if (!free_bytes) return b; /* unknown (no /proc/meminfo): no check */
    size_t rings = (r->train_data ? pipeline_ring_bytes(r->train_data) : 0) +
                   (r->val_data ? pipeline_ring_bytes(r->val_data) : 0);
    b.per_image_bytes = rings / (size_t)r->cfg.train.batch_size;
    snprintf(where, sizeof where, "available host memory");
  }
  if (sharing > 1) {
    free_bytes /= (size_t)sharing;
    size_t len = strlen(where);
    snprintf(where + len, sizeof where - len, ", shared by %d ranks", sharing);
  }
  size_t reserve = ((size_t)RESERVE_MIB << 20) + free_bytes / 100 * RESERVE_PERCENT;
  b.available_bytes = free_bytes > reserve ? free_bytes - reserve : 1; /* 1: nothing fits */
  return b;
}

static double gib(size_t n) { return (double)n / (double)(1ull << 30); }

/* A training batch whose activations cannot fit is refused before any is
 * allocated, naming the largest that would (train.batch_size is per rank). */
static void check_batch_fits(Run *r) {
  ModelBudget b = run_memory_budget(r);
  char err[512] = "";
  int batch = r->cfg.train.batch_size;
  size_t need = model_batch_bytes(r->model, batch, r->train_h, r->train_w, &b);
  if (b.available_bytes && need > b.available_bytes) {
    int fit = model_largest_batch(r->model, r->train_h, r->train_w, &b, batch);
    if (fit > 0)
      snprintf(err, sizeof err, "train.batch_size=%d does not fit: it needs %.1f GiB, "
               "%.1f GiB is %s (beyond the parameters, less a reserve); the largest "
               "batch that fits is %d (set train.batch_size=%d)",
               batch, gib(need), gib(b.available_bytes), b.where, fit, fit);
    else
      snprintf(err, sizeof err, "train.batch_size=%d does not fit: %.1f GiB is %s, not enough "
               "for even one image of %dx%d (%s)", batch, gib(b.available_bytes), b.where,
               r->train_h, r->train_w, config_arch_name(r->cfg.model.arch));
  }
  run_agree(r, err);
}

static void setup_comms(Run *r) {
  if (r->dist->world == 1) return;
  r->comm = comm_mpi_create(r->dist, 0);
}

static void setup_sync(Run *r, int needs) {
  if (!r->comm) return;
  Comm *grad_comm = r->comm;
#ifdef RD_HAVE_CUDA
  int nccl = r->be->kind == BACKEND_CUDA && r->cfg.dist.backend != COMM_MPI;
  if (nccl) {
    grad_comm = comm_nccl_create(r->dist, r->gpu, 0);
    comm_nccl_set_compute_stream(grad_comm, backend_cuda_stream(r->be));
  }
#endif
  r->grad_comm = grad_comm;
  if (r->cfg.dist.sync_bn) {
    int g = r->cfg.dist.bn_group;
    if (g > 0 && r->dist->world % g != 0)
      run_user_error(r, "dist.bn_group=%d does not divide the %d ranks", g, r->dist->world);
    r->bn_comm = g > 0 && g < r->dist->world ? comm_mpi_create(r->dist, g) : grad_comm;
    r->sync_bn = sync_bn_create(r->bn_comm, r->be);
  }
  if (needs & RUN_NEED_OPTIM) {
    Model *m = r->model;
    size_t *offsets = mem_alloc_or_die((size_t)m->n_params * sizeof(size_t), "param offsets");
    for (int i = 0; i < m->n_params; i++) offsets[i] = m->param_table[i].offset;
    r->grad_sync = grad_sync_create(grad_comm, r->be, m->grads, m->n_param_elems, offsets,
                                    m->n_params, r->cfg.dist.bucket_mb);
    mem_free(offsets);
  }
}

void run_setup(Run *r, const Config *cfg, const CliOptions *cli, Dist *dist, int needs) {
  memset(r, 0, sizeof *r);
  r->cfg = *cfg;
  r->cli = *cli;
  r->dist = dist;
  dist_set_timeout(dist, cfg->dist.timeout_s);
  for (int i = 0; i < 3; i++) {
    r->mean[i] = (float)cfg->data.mean.v[i];
    r->std[i] = (float)cfg->data.std.v[i];
  }
  setup_comms(r);
  check_same_config(r);
  setup_run_dir(r, needs);
  if (!(needs & RUN_NEED_MODEL)) return;
  setup_backend(r);
  if (r->be->kind != BACKEND_CUDA) r->cfg.train.precision = PREC_FP32;
  ModelSpec spec;
  model_spec_from_config(&spec, &r->cfg);
  r->train_h = r->train_w = r->cfg.data.image_size;
  if (needs & RUN_NEED_TRAIN_DATA) {
    r->train_data = open_pipeline(r, SPLIT_TRAIN);
    r->train_h = pipeline_image_h(r->train_data);
    r->train_w = pipeline_image_w(r->train_data);
    check_image(r, &spec, r->train_h, r->train_w);
  }
  if ((needs & RUN_NEED_VAL_DATA) && has_val_split(&r->cfg)) {
    r->val_data = open_pipeline(r, SPLIT_VAL);
    check_image(r, &spec, pipeline_image_h(r->val_data), pipeline_image_w(r->val_data));
  }
  if (!(needs & (RUN_NEED_TRAIN_DATA | RUN_NEED_VAL_DATA)))
    check_image(r, &spec, r->train_h, r->train_w);
  setup_model(r);
  if (needs & RUN_NEED_OPTIM) r->opt = optim_create(r->model, &r->cfg);
  if (needs & (RUN_NEED_OPTIM | RUN_NEED_VAL_DATA)) check_batch_fits(r);
#ifdef RD_HAVE_CUDA
  if (needs & RUN_NEED_OPTIM) share_conv_algos(r);
#endif
  setup_sync(r, needs);
  r->hooks.bn_allreduce = r->sync_bn ? sync_bn_allreduce : NULL;
  r->hooks.bn_ctx = r->sync_bn;
  r->hooks.grads_ready = r->grad_sync ? grad_sync_ready_hook : NULL;
  r->hooks.grad_ctx = r->grad_sync;
  /* after every check: a user error stays the only line */
  int trains = cli->mode == MODE_TRAIN || cli->mode == MODE_BENCH;
  int asked = cfg->train.precision;
  if (trains && r->be->kind != BACKEND_CUDA && asked != PREC_FP32 && asked != PREC_FP32_STRICT)
    log_info("note: the CPU backend computes in fp32 (train.precision=%s applies to GPUs)",
             config_precision_name(asked));
}

void run_teardown(Run *r) {
  if (r->train_data) pipeline_close(r->train_data);
  if (r->val_data) pipeline_close(r->val_data);
  if (r->grad_sync) grad_sync_destroy(r->grad_sync);
  if (r->sync_bn) sync_bn_destroy(r->sync_bn);
  optim_destroy(r->opt);
  model_destroy(r->model);
  if (r->bn_comm && r->bn_comm != r->comm && r->bn_comm != r->grad_comm)
    r->bn_comm->destroy(r->bn_comm);
  if (r->grad_comm && r->grad_comm != r->comm) r->grad_comm->destroy(r->grad_comm);
  if (r->comm) r->comm->destroy(r->comm);
  if (r->be) r->be->destroy(r->be);
  memset(r, 0, sizeof *r);
}
