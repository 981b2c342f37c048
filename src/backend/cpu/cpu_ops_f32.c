/* cpu_ops_f32.c - the CPU kernels (cpu_ops.inc) instantiated for float: the
 * "cpu" backend. */
#include <cblas.h>

typedef float real_t;
#define CPU_GEMM cblas_sgemm
#define CPU_INSTALL_OPS cpu_install_ops_f32

#include "backend/cpu/cpu_ops.inc"
