/* dist.c - launcher detection, MPI start-up, local rank, job-wide abort; see dist.h.
 *
 * Launchers, in the order they are recognised (the first match wins, so
 * mpirun inside a Slurm allocation is "mpirun"):
 *   mpirun (Open MPI)  OMPI_COMM_WORLD_RANK / OMPI_COMM_WORLD_SIZE
 *   srun (Slurm)       SLURM_PROCID with SLURM_NTASKS (SLURM_STEP_NUM_TASKS preferred),
 *                      only inside a job step (SLURM_STEP_ID): an sbatch batch
 *                      shell has SLURM_PROCID=0 and SLURM_NTASKS=N too, but a
 *                      program it runs directly is one process, not rank 0 of N
 *   PMIx               PMIX_RANK
 *   PMI                PMI_RANK / PMI_SIZE
 * With none of them the process is rank 0 of 1 and MPI is never initialised.
 * After MPI_Init_thread the job's own rank and size are authoritative.
 *
 * Invariants: the abort hook (core_set_abort_hook) runs the dist_on_abort
 * callbacks, then MPI_Abort(MPI_COMM_WORLD) if MPI is up; every communicator
 * this module creates returns errors (MPI_ERRORS_RETURN) to MPI_CHECK.
 */
#include "dist/dist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mpi.h>

#include "core/check.h"
#include "core/check_mpi.h"
#include "core/log.h"
#include "core/mem.h"
#include "dist/watchdog.h"

enum { MAX_ABORT_CALLBACKS = 16 };
static const double DEFAULT_TIMEOUT_S = 300.0;

typedef struct {
  MPI_Comm world; /* duplicate of MPI_COMM_WORLD for dist's own collectives */
} DistImpl;

typedef struct {
  void (*fn)(void *ctx);
  void *ctx;
} AbortCallback;

static AbortCallback g_abort_callbacks[MAX_ABORT_CALLBACKS];
static int g_n_abort_callbacks;

/* ------------------------------------------------------------ environment */

static int env_int(const char *name, int *out) {
  const char *v = getenv(name);
  if (!v || !*v) return 0;
  char *end = NULL;
  long x = strtol(v, &end, 10);
  if (*end || x < 0 || x > 1 << 30) return 0;
  *out = (int)x;
  return 1;
}

static int env_is_set(const char *name) {
  const char *v = getenv(name);
  return v && *v;
}

static const char *detect_launcher(void) {
  if (env_is_set("OMPI_COMM_WORLD_RANK")) return "mpirun";
  if (env_is_set("SLURM_PROCID") && env_is_set("SLURM_NTASKS") && env_is_set("SLURM_STEP_ID"))
    return "srun";
  if (env_is_set("PMIX_RANK")) return "pmix";
  if (env_is_set("PMI_RANK")) return "pmi";
  return "none";
}

int dist_env_rank(void) {
  const char *launcher = detect_launcher();
  int r = 0;
  if (!strcmp(launcher, "mpirun")) env_int("OMPI_COMM_WORLD_RANK", &r);
  else if (!strcmp(launcher, "srun")) env_int("SLURM_PROCID", &r);
  else if (!strcmp(launcher, "pmix")) env_int("PMIX_RANK", &r);
  else if (!strcmp(launcher, "pmi")) env_int("PMI_RANK", &r);
  return r;
}

int dist_env_world(void) {
  const char *launcher = detect_launcher();
  int w = 1;
  if (!strcmp(launcher, "mpirun")) env_int("OMPI_COMM_WORLD_SIZE", &w);
  else if (!strcmp(launcher, "srun")) {
    if (!env_int("SLURM_STEP_NUM_TASKS", &w)) env_int("SLURM_NTASKS", &w);
  } else if (!strcmp(launcher, "pmi")) env_int("PMI_SIZE", &w);
  else if (!strcmp(launcher, "pmix") && !env_int("OMPI_COMM_WORLD_SIZE", &w))
    env_int("SLURM_NTASKS", &w);
  return w < 1 ? 1 : w;
}

/* ------------------------------------------------------------------ abort */

void dist_on_abort(void (*fn)(void *ctx), void *ctx) {
  CHECK(g_n_abort_callbacks < MAX_ABORT_CALLBACKS, "more than %d abort callbacks",
        MAX_ABORT_CALLBACKS);
  g_abort_callbacks[g_n_abort_callbacks++] = (AbortCallback){fn, ctx};
}

void dist_remove_on_abort(void (*fn)(void *ctx), void *ctx) {
  for (int i = 0; i < g_n_abort_callbacks; i++) {
    if (g_abort_callbacks[i].fn != fn || g_abort_callbacks[i].ctx != ctx) continue;
    g_abort_callbacks[i] = g_abort_callbacks[--g_n_abort_callbacks];
    return;
  }
}

static void dist_abort_hook(int code) {
  for (int i = g_n_abort_callbacks - 1; i >= 0; i--) g_abort_callbacks[i].fn(g_abort_callbacks[i].ctx);
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (initialized && !finalized) MPI_Abort(MPI_COMM_WORLD, code);
}

noreturn void dist_abort(Dist *d, int code, const char *why) {
  if (why && *why) {
    char pre[128];
    fprintf(stderr, "%s %s\n", log_prefix(pre, sizeof pre), why);
  }
  core_exit_job(code);
}

/* ------------------------------------------------------------------- init */

static Dist *dist_alloc(const char *launcher) {
  Dist *d = mem_calloc_or_die(1, sizeof *d, "Dist");
  d->rank = 0;
  d->world = 1;
  d->local_rank = 0;
  d->local_world = 1;
  d->n_hosts = 1;
  d->launcher = launcher;
  d->timeout_s = DEFAULT_TIMEOUT_S;
  return d;
}

/* Blocking all-reduce of one int at start-up (no deadline needed yet: the
 * launcher brings the job down if a rank fails to start). */
static int allreduce_int_sum(MPI_Comm comm, int x) {
  int sum = 0;
  MPI_CHECK(MPI_Allreduce(&x, &sum, 1, MPI_INT, MPI_SUM, comm));
  return sum;
}

static void init_mpi(Dist *d, int *argc, char ***argv) {
  int provided = 0;
  MPI_CHECK(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided));
  d->mpi = 1;
  core_set_abort_hook(dist_abort_hook);
  MPI_CHECK(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN));
  if (provided < MPI_THREAD_FUNNELED)
    FATAL("MPI provides thread level %d, need MPI_THREAD_FUNNELED", provided);
  DistImpl *impl = mem_calloc_or_die(1, sizeof *impl, "DistImpl");
  MPI_CHECK(MPI_Comm_dup(MPI_COMM_WORLD, &impl->world));
  MPI_CHECK(MPI_Comm_set_errhandler(impl->world, MPI_ERRORS_RETURN));
  d->impl = impl;
  MPI_CHECK(MPI_Comm_rank(impl->world, &d->rank));
  MPI_CHECK(MPI_Comm_size(impl->world, &d->world));
  log_set_identity(d->rank, d->world);

  MPI_Comm local;
  MPI_CHECK(MPI_Comm_split_type(impl->world, MPI_COMM_TYPE_SHARED, d->rank, MPI_INFO_NULL,
                                &local));
  MPI_CHECK(MPI_Comm_rank(local, &d->local_rank));
  MPI_CHECK(MPI_Comm_size(local, &d->local_world));
  MPI_CHECK(MPI_Comm_free(&local));
  d->n_hosts = allreduce_int_sum(impl->world, d->local_rank == 0);
}

Dist *dist_init(int *argc, char ***argv) {
  Dist *d = dist_alloc(detect_launcher());
  core_set_abort_hook(dist_abort_hook);
  if (strcmp(d->launcher, "none") != 0) init_mpi(d, argc, argv);
  log_set_identity(d->rank, d->world);
  watchdog_install_signal_handlers();
  return d;
}

void dist_set_timeout(Dist *d, double timeout_s) {
  CHECK(timeout_s > 0, "dist timeout %g s", timeout_s);
  d->timeout_s = timeout_s;
}

void dist_finalize(Dist *d) {
  if (!d) return;
  if (d->mpi) {
    DistImpl *impl = d->impl;
    MPI_CHECK(MPI_Comm_free(&impl->world));
    mem_free(impl);
    MPI_CHECK(MPI_Finalize());
  }
  mem_free(d);
}

int dist_local_device(const Dist *d, int n_devices) {
  if (n_devices < 1) return -1;
  if (d->local_world > n_devices && d->local_rank == 0)
    log_warn("%d ranks on this host share %d GPU(s); ranks %d apart use the same GPU",
             d->local_world, n_devices, n_devices);
  return d->local_rank % n_devices;
}

void dist_catch_stop_signals(Dist *d) { watchdog_catch_stop_signals(); }

int dist_stop_signal(void) { return watchdog_stop_signal(); }
