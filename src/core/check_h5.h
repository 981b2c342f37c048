/* check_h5.h - H5_CHECK(expr): HDF5 calls return a negative value on error.
 * The innermost message of HDF5's error stack is added to ours. */
#ifndef RD_CORE_CHECK_H5_H
#define RD_CORE_CHECK_H5_H

#include <hdf5.h>

#include "core/check.h"

/* Innermost HDF5 error message of the current stack, or "" (static buffer). */
const char *core_h5_last_error(void);

#define H5_CHECK(expr)                                                       \
  do {                                                                       \
    if ((long long)(expr) < 0)                                               \
      core_fatal(__FILE__, __LINE__, "HDF5 call failed: %s: %s", #expr,      \
                 core_h5_last_error());                                      \
  } while (0)

#endif
