/* test_check.c - every fatal-error macro prints "[rank R host] file:line: what"
 * with the library's own text, runs the abort hook, and exits 1; user errors
 * print one "error:" line and exit 2. */
#include <regex.h>
#include <string.h>

#include "core/check.h"
#include "core/check_h5.h"
#include "core/check_mpi.h"
#include "core/check_tj.h"
#include "core/log.h"
#include "child_capture.h"
#include "test_util.h"

static void hook(int code) { fprintf(stderr, "abort-hook(%d)\n", code); }

static void identity(void) {
  log_set_identity(3, 4);
  core_set_abort_hook(hook);
}

/* The enum and the CHECK share a line, so the expected line is a constant. */
enum { DO_CHECK_LINE = __LINE__ }; static void do_check(void) { identity(); int x = 3; CHECK(x == 4, "x is %d", x); }
static void do_fatal(void) {
  identity();
  FATAL("the %s is broken", "frobnicator");
}
static void do_mpi(void) {
  MPI_Init(NULL, NULL); /* singleton, as after dist_init */
  identity();
  MPI_CHECK(MPI_ERR_COUNT);
}
static void do_h5(void) {
  identity();
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  H5_CHECK(H5Fopen("/nonexistent/dir/file.h5", H5F_ACC_RDONLY, H5P_DEFAULT));
}
static void do_tj(void) {
  identity();
  tjhandle h = tjInitDecompress();
  unsigned char junk[16] = {1, 2, 3};
  int w, hh, ss, cs;
  TJ_CHECK(h, tjDecompressHeader3(h, junk, sizeof junk, &w, &hh, &ss, &cs));
}
static void do_user(void) {
  log_set_identity(0, 1);
  core_user_error("data.train: no shards match '%s'", "/x/*.h5");
}

/* The first line must match ^[rank 3 <host>] test_check.c:<digits>: <what> */
static void expect_fatal(void (*fn)(void), const char *what_regex) {
  char out[8192];
  int status = run_captured(fn, out, sizeof out);
  T_CHECK(status == 1, "exit status %d (want 1); output: %s", status, out);
  char pattern[512];
  snprintf(pattern, sizeof pattern, "^\\[rank 3 %s\\] test_check\\.c:[0-9]+: %s", log_host(),
           what_regex);
  regex_t re;
  T_CHECK(regcomp(&re, pattern, REG_EXTENDED | REG_NEWLINE) == 0, "regex %s", pattern);
  T_CHECK(regexec(&re, out, 0, NULL, 0) == 0, "'%s' does not match /%s/", out, pattern);
  regfree(&re);
  T_CHECK(strstr(out, "abort-hook(1)") != NULL, "abort hook not run: %s", out);
}

static void test_check_macro(void) {
  expect_fatal(do_check, "check failed: x is 3");
  char out[4096];
  run_captured(do_check, out, sizeof out);
  char want[64];
  snprintf(want, sizeof want, "test_check.c:%d:", (int)DO_CHECK_LINE);
  T_CHECK(strstr(out, want) != NULL, "line number: want %s in %s", want, out);
}
static void test_fatal(void) { expect_fatal(do_fatal, "the frobnicator is broken"); }
static void test_mpi_check(void) { expect_fatal(do_mpi, "MPI error [0-9]+ in MPI_ERR_COUNT: .+"); }
static void test_h5_check(void) {
  expect_fatal(do_h5, "HDF5 call failed: H5Fopen\\(.*\\): .+");
}
static void test_tj_check(void) {
  expect_fatal(do_tj, "TurboJPEG error in tjDecompressHeader3\\(.*\\): .+");
}
static void test_user_error(void) {
  char out[4096];
  int status = run_captured(do_user, out, sizeof out);
  T_CHECK(status == 2, "exit status %d (want 2)", status);
  T_CHECK(!strcmp(out, "error: data.train: no shards match '/x/*.h5'\n"), "output: '%s'", out);
}

int main(void) {
  TEST_RUN(test_check_macro);
  TEST_RUN(test_fatal);
  TEST_RUN(test_mpi_check);
  TEST_RUN(test_h5_check);
  TEST_RUN(test_tj_check);
  TEST_RUN(test_user_error);
  return test_summary();
}
