/* cuda_device_count.c - prints backend_cuda_device_count() (0 without a
 * driver or GPU), so the GPU script tests can skip with a reason. */
#include <stdio.h>

#include "backend/cuda/backend_cuda.h"

int main(void) {
  printf("%d\n", backend_cuda_device_count());
  return 0;
}
