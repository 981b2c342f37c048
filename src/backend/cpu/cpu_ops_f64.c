/* cpu_ops_f64.c - the CPU kernels (cpu_ops.inc) instantiated for double: the
 * "cpu64" backend, used by the finite-difference gradient checks so they
 * test exactly the code the fp32 backend runs. */
#include <cblas.h>

typedef double real_t;
#define CPU_GEMM cblas_dgemm
#define CPU_INSTALL_OPS cpu_install_ops_f64

#include "backend/cpu/cpu_ops.inc"
