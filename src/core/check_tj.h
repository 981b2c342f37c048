/* check_tj.h - TJ_CHECK(handle, call): TurboJPEG calls return -1 on error;
 * the handle's own error text is printed.  Decoding a user's corrupt JPEG is
 * NOT a fatal error (data/ counts and replaces it); use this only where a
 * failure means a bug or a broken library (init, encode of our own pixels). */
#ifndef RD_CORE_CHECK_TJ_H
#define RD_CORE_CHECK_TJ_H

#include <turbojpeg.h>

#include "core/check.h"

#define TJ_CHECK(handle, call)                                               \
  do {                                                                       \
    if ((call) != 0)                                                         \
      core_fatal(__FILE__, __LINE__, "TurboJPEG error in %s: %s", #call,     \
                 tjGetErrorStr2(handle));                                    \
  } while (0)

#endif
