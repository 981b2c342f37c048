/* run.h - everything one rank needs for a run, set up once, in order:
 * run directory, backend (CPU or CUDA by --device), communicators (gradients;
 * batch-norm group), model (init, --init-from, broadcast from rank 0), optimizer,
 * gradient buckets, data pipelines.  Every mode (train, eval, predict, export,
 * summary, bench) starts from a Run; each mode asks only for what it uses.
 *
 * Problems the user can fix (bad data path, image too small for the network,
 * unwritable checkpoint directory, configs differing between ranks) are
 * detected here, before any heavy work, and end the job with exit status 2. */
#ifndef RD_TRAIN_RUN_H
#define RD_TRAIN_RUN_H

#include <stdint.h>

#include "backend/backend.h"
#include "config/cli.h"
#include "config/config.h"
#include "data/pipeline.h"
#include "dist/comm.h"
#include "dist/dist.h"
#include "dist/grad_sync.h"
#include "dist/sync_bn.h"
#include "model/resnet.h"
#include "optim/optim.h"

typedef struct {
  Config cfg;            /* effective configuration (CPU: precision forced to fp32) */
  CliOptions cli;
  Dist *dist;
  Backend *be;
  Comm *comm;            /* all ranks (NULL when world == 1) */
  Comm *grad_comm;       /* gradient all-reduce (== comm, or NCCL on GPUs) */
  Comm *bn_comm;         /* batch-norm group (NULL: local BN) */
  SyncBn *sync_bn;
  GradSync *grad_sync;
  Model *model;
  Optimizer *opt;
  Pipeline *train_data;
  Pipeline *val_data;
  ModelHooks hooks;
  char run_dir[CFG_STR_MAX];
  char ckpt_dir[CFG_STR_MAX + 32];
  float mean[3], std[3];
  int train_h, train_w;  /* training image side */
  int gpu;               /* CUDA device of this rank (CUDA backend only) */
} Run;

typedef enum {
  RUN_NEED_MODEL = 1,    /* backend + model */
  RUN_NEED_OPTIM = 2,    /* optimizer + gradient sync */
  RUN_NEED_TRAIN_DATA = 4,
  RUN_NEED_VAL_DATA = 8,
  RUN_NEED_RUN_DIR = 16, /* run directory and checkpoint directory checks */
} RunNeeds;

/* Sets up what `needs` asks for.  Exits 2 with one line on a user error. */
void run_setup(Run *r, const Config *cfg, const CliOptions *cli, Dist *dist, int needs);
void run_teardown(Run *r);

/* One line (rank 0 prints it; every rank exits 2). */
void run_user_error(Run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Ends the job with status 2 if any rank passes a non-empty err (collective:
 * every rank must call it); the lowest failing rank prints its message. */
void run_agree(Run *r, const char *err);

/* What this rank's activations may use (ModelBudget of resnet.h): free GPU
 * memory shared by the ranks on that GPU, or the host's available memory
 * (within its cgroup limit) shared by the ranks on this host; less a reserve
 * for temporaries.  Plus the backend's library workspace. */
ModelBudget run_memory_budget(Run *r);

/* Broadcasts a param-dtype array (backend memory) from rank 0, staging
 * through the host when the transport needs host buffers. */
void run_broadcast_params(Run *r, void *data, size_t n_elems, const char *what);

/* All-reduce sum of n doubles on the host across all ranks (no-op alone). */
void run_allreduce_host(Run *r, double *v, int n, const char *what);

#endif
