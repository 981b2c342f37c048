/* test_check_cuda.c - CUDA_CHECK, CUDNN_CHECK, CUBLAS_CHECK and NCCL_CHECK
 * print "[rank R host] file:line: what" with the library's own error text.
 * Error codes are passed as constants: the libraries' string functions are
 * host-only, so this runs (and must pass) on machines without a GPU. */
#include <regex.h>
#include <string.h>

#include "core/check_cuda.h"
#include "core/log.h"
#include "child_capture.h"
#include "test_util.h"

static void identity(void) { log_set_identity(1, 2); }
static void do_cuda(void) { identity(); CUDA_CHECK(cudaErrorMemoryAllocation); }
static void do_cudnn(void) { identity(); CUDNN_CHECK(CUDNN_STATUS_BAD_PARAM); }
static void do_cublas(void) { identity(); CUBLAS_CHECK(CUBLAS_STATUS_INVALID_VALUE); }
static void do_nccl(void) { identity(); NCCL_CHECK(ncclInvalidArgument); }

static void expect(void (*fn)(void), const char *what_regex) {
  char out[4096], pattern[512];
  int status = run_captured(fn, out, sizeof out);
  T_CHECK(status == 1, "exit status %d; output %s", status, out);
  snprintf(pattern, sizeof pattern, "^\\[rank 1 %s\\] test_check_cuda\\.c:[0-9]+: %s",
           log_host(), what_regex);
  regex_t re;
  regcomp(&re, pattern, REG_EXTENDED | REG_NEWLINE);
  T_CHECK(regexec(&re, out, 0, NULL, 0) == 0, "'%s' does not match /%s/", out, pattern);
  regfree(&re);
}

static void test_cuda(void) { expect(do_cuda, "CUDA error 2 \\(cudaErrorMemoryAllocation\\) in .*: .+"); }
static void test_cudnn(void) { expect(do_cudnn, "cuDNN error [0-9]+ in CUDNN_STATUS_BAD_PARAM: .+"); }
static void test_cublas(void) { expect(do_cublas, "cuBLAS error 7 in CUBLAS_STATUS_INVALID_VALUE: .+"); }
static void test_nccl(void) { expect(do_nccl, "NCCL error 4 in ncclInvalidArgument: .+"); }

int main(void) {
  TEST_RUN(test_cuda);
  TEST_RUN(test_cudnn);
  TEST_RUN(test_cublas);
  TEST_RUN(test_nccl);
  return test_summary();
}
