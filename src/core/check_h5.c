/* check_h5.c - the innermost message of HDF5's error stack, for H5_CHECK. */
#include "core/check_h5.h"

#include <stdio.h>
#include <string.h>

static char g_h5_msg[512];

static herr_t h5_walk_cb(unsigned n, const H5E_error2_t *err, void *data) {
  (void)data;
  if (n == 0) snprintf(g_h5_msg, sizeof g_h5_msg, "%s (in %s)", err->desc, err->func_name);
  return 0;
}

const char *core_h5_last_error(void) {
  g_h5_msg[0] = '\0';
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, h5_walk_cb, NULL);
  return g_h5_msg;
}
