/* mpi_hello.c - the smallest MPI program that proves a launch worked.
 *
 * Every rank prints one line
 *   mpi_hello rank R/N host H sum S expect E ok|BAD
 * where S is an MPI_Allreduce(SUM) of (rank + 1) over all ranks and
 * E = N (N + 1) / 2.  The harness scripts in tests/launch use it to check a
 * Slurm allocation, srun --mpi=pmix, and mpirun across network-namespace
 * "hosts" (H is the UTS hostname the ssh stand-in gives each namespace)
 * without depending on the training program.  Exit status 0 iff the sum is
 * right.
 */
#include <mpi.h>
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank = 0, world = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  char host[256] = "?";
  gethostname(host, sizeof host - 1);
  long mine = rank + 1, sum = 0;
  MPI_Allreduce(&mine, &sum, 1, MPI_LONG, MPI_SUM, MPI_COMM_WORLD);
  long expect = (long)world * (world + 1) / 2;
  printf("mpi_hello rank %d/%d host %s sum %ld expect %ld %s\n", rank, world, host, sum, expect,
         sum == expect ? "ok" : "BAD");
  fflush(stdout);
  MPI_Finalize();
  return sum == expect ? 0 : 1;
}
