/* check_mpi.h - MPI_CHECK(call): on an error code, print MPI's own text. */
#ifndef RD_CORE_CHECK_MPI_H
#define RD_CORE_CHECK_MPI_H

#include <mpi.h>

#include "core/check.h"

#define MPI_CHECK(call)                                                        \
  do {                                                                         \
    int rd_mpi_rc_ = (call);                                                   \
    if (rd_mpi_rc_ != MPI_SUCCESS) {                                           \
      char rd_mpi_msg_[MPI_MAX_ERROR_STRING];                                  \
      int rd_mpi_len_ = 0;                                                     \
      MPI_Error_string(rd_mpi_rc_, rd_mpi_msg_, &rd_mpi_len_);                 \
      core_fatal(__FILE__, __LINE__, "MPI error %d in %s: %s", rd_mpi_rc_,     \
                 #call, rd_mpi_msg_);                                          \
    }                                                                          \
  } while (0)

#endif
