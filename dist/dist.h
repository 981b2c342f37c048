/* dist.h - this process's place in the job, and how the job ends.
 *
 * dist_init detects the launcher from the environment (Open MPI's mpirun:
 * OMPI_COMM_WORLD_*; PMIx: PMIX_RANK; PMI: PMI_RANK; Slurm srun: SLURM_PROCID
 * with SLURM_NTASKS) and only then calls MPI_Init_thread; with no launcher it
 * is a single process and never touches MPI, so a one-GPU debug run needs no
 * MPI runtime.  It sets the log identity (rank, host) and installs the abort
 * hook so any fatal error on any rank brings the whole job down.
 * Local rank (rank among the ranks on this host) comes from a shared-memory
 * communicator split and picks the GPU.
 */
#ifndef RD_DIST_DIST_H
#define RD_DIST_DIST_H

#include <stdnoreturn.h>

typedef struct Dist {
  int rank, world;             /* in the job */
  int local_rank, local_world; /* on this host */
  int n_hosts;
  int mpi;                     /* 1 when MPI is initialised (launched job) */
  const char *launcher;        /* "none", "mpirun", "srun", "pmix", "pmi" */
  double timeout_s;            /* collectives waiting longer end the job */
  void *impl;
} Dist;

/* Rank and world size as the launcher's environment says (before dist_init);
 * 0 and 1 without a launcher. */
int dist_env_rank(void);
int dist_env_world(void);

Dist *dist_init(int *argc, char ***argv);
void dist_set_timeout(Dist *d, double timeout_s);
void dist_finalize(Dist *d);

/* Prints why (rank-prefixed) and brings every rank down with exit code. */
noreturn void dist_abort(Dist *d, int code, const char *why);

/* GPU index for this rank: local_rank % n_devices (a warning when ranks of
 * this host must share GPUs); -1 when n_devices < 1. */
int dist_local_device(const Dist *d, int n_devices);

/* Runs fn(ctx) when the job is brought down (before MPI_Abort), e.g.
 * ncclCommAbort.  Process-wide: the abort hook of core/ has no context. */
void dist_on_abort(void (*fn)(void *ctx), void *ctx);
void dist_remove_on_abort(void (*fn)(void *ctx), void *ctx);

/* Preemption.  dist_init installs handlers for SIGTERM, SIGINT and SIGUSR1
 * that print what the rank was waiting in and then end the process (the
 * default action).  After dist_catch_stop_signals they only record the
 * signal; the training loop then calls dist_agree_stop (comm.h) at every step
 * boundary, so all ranks stop after the same step.  A rank whose peer is gone
 * still ends after dist.timeout_s in its next collective. */
void dist_catch_stop_signals(Dist *d);
/* The first stop signal caught (SIGTERM, ...), or 0. */
int dist_stop_signal(void);

#endif
