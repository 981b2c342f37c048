/* test_dist_init.c - launcher detection and start-up.
 *
 *   test_dist_init           (no launcher) rank 0 of 1, MPI never initialised,
 *                            a size-1 communicator that needs no MPI
 *   mpirun -np N test_dist_init --mpi
 *                            MPI up, rank / world / local rank / hosts agree
 *                            with the launcher's environment
 */
#include <stdlib.h>
#include <string.h>

#include <mpi.h>

#include "dist_test_util.h"

static const char *const LAUNCHER_VARS[] = {
    "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "SLURM_PROCID", "SLURM_NTASKS",
    "SLURM_STEP_NUM_TASKS", "SLURM_STEP_ID", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"};
enum { N_LAUNCHER_VARS = (int)(sizeof LAUNCHER_VARS / sizeof LAUNCHER_VARS[0]) };

static void clear_launcher_env(void) {
  for (int i = 0; i < N_LAUNCHER_VARS; i++) unsetenv(LAUNCHER_VARS[i]);
}

/* Environment detection without starting anything. */
static void test_env_detection(void) {
  clear_launcher_env();
  T_CHECK(dist_env_rank() == 0 && dist_env_world() == 1, "no launcher: %d of %d",
          dist_env_rank(), dist_env_world());
  setenv("SLURM_PROCID", "0", 1); /* an sbatch batch shell: not a job step */
  setenv("SLURM_NTASKS", "8", 1);
  T_CHECK(dist_env_rank() == 0 && dist_env_world() == 1, "batch shell: %d of %d",
          dist_env_rank(), dist_env_world());
  setenv("SLURM_PROCID", "3", 1);
  setenv("SLURM_STEP_ID", "0", 1);
  T_CHECK(dist_env_rank() == 3 && dist_env_world() == 8, "srun: %d of %d", dist_env_rank(),
          dist_env_world());
  setenv("OMPI_COMM_WORLD_RANK", "5", 1);
  setenv("OMPI_COMM_WORLD_SIZE", "6", 1);
  T_CHECK(dist_env_rank() == 5 && dist_env_world() == 6, "mpirun inside Slurm: %d of %d",
          dist_env_rank(), dist_env_world());
  clear_launcher_env();
  setenv("PMI_RANK", "2", 1);
  setenv("PMI_SIZE", "4", 1);
  T_CHECK(dist_env_rank() == 2 && dist_env_world() == 4, "PMI: %d of %d", dist_env_rank(),
          dist_env_world());
  clear_launcher_env();
}

static void test_no_launcher(void) {
  int argc = 1;
  char *args[] = {"test_dist_init", NULL};
  char **argv = args;
  Dist *d = dist_init(&argc, &argv);
  int initialized = 1;
  MPI_Initialized(&initialized);
  T_CHECK(!initialized, "MPI was initialised without a launcher");
  T_CHECK(d->mpi == 0 && !strcmp(d->launcher, "none"), "mpi %d launcher %s", d->mpi,
          d->launcher);
  T_CHECK(d->rank == 0 && d->world == 1 && d->local_rank == 0 && d->local_world == 1 &&
              d->n_hosts == 1,
          "rank %d world %d local %d/%d hosts %d", d->rank, d->world, d->local_rank,
          d->local_world, d->n_hosts);
  T_CHECK(dist_local_device(d, 4) == 0 && dist_local_device(d, 0) == -1, "local device");

  Comm *c = comm_mpi_create(d, 0);
  T_CHECK(c->rank == 0 && c->size == 1, "communicator %d/%d", c->rank, c->size);
  float x[3] = {1.5f, -2.0f, 3.25f};
  c->allreduce(c, x, 3, COMM_F32, COMM_AVG, "identity all-reduce");
  T_CHECK(x[0] == 1.5f && x[1] == -2.0f && x[2] == 3.25f, "size-1 average changed values");
  int64_t mine[2] = {7, 8}, all[2] = {0, 0};
  c->allgather(c, mine, all, 2, COMM_I64, "identity all-gather");
  T_CHECK(all[0] == 7 && all[1] == 8, "size-1 all-gather: %lld %lld", (long long)all[0],
          (long long)all[1]);
  c->broadcast(c, x, 3, COMM_F32, 0, "identity broadcast");
  c->barrier(c, "size-1 barrier");
  CommRequest *r = c->iallreduce(c, x, 3, COMM_F32, COMM_SUM, "size-1 iallreduce");
  T_CHECK(c->test(c, r) == 1, "size-1 iallreduce not complete at once");
  T_CHECK(dist_agree_stop(c, 0) == 0 && dist_agree_stop(c, 1) == 1, "size-1 stop agreement");
  c->destroy(c);
  dist_finalize(d);
  MPI_Initialized(&initialized);
  T_CHECK(!initialized, "MPI was initialised by the size-1 communicator");
}

static int run_under_mpi(int argc, char **argv) {
  int env_rank = dist_env_rank(), env_world = dist_env_world();
  Dist *d = dist_test_init(&argc, &argv);
  Comm *c = comm_mpi_create(d, 0);
  int initialized = 0;
  MPI_Initialized(&initialized);
  T_CHECK(initialized && d->mpi == 1 && !strcmp(d->launcher, "mpirun"), "mpi %d launcher %s",
          d->mpi, d->launcher);
  T_CHECK(d->rank == env_rank && d->world == env_world, "rank %d/%d, environment %d/%d",
          d->rank, d->world, env_rank, env_world);
  /* One host: every rank is local, in rank order. */
  T_CHECK(d->n_hosts == 1 && d->local_world == d->world && d->local_rank == d->rank,
          "hosts %d local %d/%d", d->n_hosts, d->local_rank, d->local_world);
  T_CHECK(dist_local_device(d, 1) == 0, "one GPU: device %d", dist_local_device(d, 1));
  T_CHECK(dist_local_device(d, 64) == d->rank, "64 GPUs: device %d", dist_local_device(d, 64));
  return dist_test_finish(d, c);
}

int main(int argc, char **argv) {
  if (argc > 1 && !strcmp(argv[1], "--mpi")) return run_under_mpi(argc, argv);
  clear_launcher_env(); /* as if started by hand, even inside a Slurm job */
  TEST_RUN(test_no_launcher);
  TEST_RUN(test_env_detection);
  return test_summary();
}
