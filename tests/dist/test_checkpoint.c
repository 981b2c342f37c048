/* test_checkpoint.c - HDF5 checkpoints (src/train/checkpoint.h): round trip,
 * atomicity (a writer killed mid-write never leaves a file under a final
 * name), keep-K pruning, corrupt / incompatible newest files skipped by the
 * resume=auto search with a warning naming the file and why, and an
 * unwritable checkpoint directory refused at start.
 *
 *   test_checkpoint                run every case
 *   test_checkpoint --write PATH   write one small checkpoint into folder PATH
 *                                  (for the h5py check in test_checkpoint_h5py.sh)
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hdf5.h>

#include "core/child_capture.h"
#include "core/mem.h"
#include "train/checkpoint.h"
#include "test_util.h"

enum { BIG_ELEMS = 300000 };

static char g_root[256];

/* ------------------------------------------------------------ fixtures */

typedef struct {
  float w[4 * 3 * 3 * 3];
  float mean[4];
  int64_t tracked;
  float bias[10];
  float *big; /* (BIG_ELEMS) */
  CkptTensor t[6];
} Tensors;

static void make_tensors(Tensors *x, int salt) {
  for (int i = 0; i < 108; i++) x->w[i] = (float)(i * 0.01 - 0.5 + salt);
  for (int i = 0; i < 4; i++) x->mean[i] = (float)(i + salt) * 0.25f;
  x->tracked = 1234567890123ll + salt;
  for (int i = 0; i < 10; i++) x->bias[i] = -(float)i / 7.0f;
  x->big = mem_alloc_or_die(BIG_ELEMS * sizeof(float), "big tensor");
  for (int i = 0; i < BIG_ELEMS; i++) x->big[i] = (float)(((long long)i * 7919 + salt) % 10007) / 10007.0f;
  CkptTensor t[6] = {
      {"conv1.weight", 4, {4, 3, 3, 3}, CKPT_F32, x->w, 108},
      {"bn1.running_mean", 1, {4}, CKPT_F32, x->mean, 4},
      {"bn1.num_batches_tracked", 0, {0}, CKPT_I64, &x->tracked, 1},
      {"fc.bias", 1, {10}, CKPT_F32, x->bias, 10},
      {"momentum.big", 2, {BIG_ELEMS / 100, 100}, CKPT_F32, x->big, BIG_ELEMS},
      {"empty", 1, {0}, CKPT_F32, NULL, 0},
  };
  memcpy(x->t, t, sizeof t);
}

static CkptState make_state(const Tensors *x, int64_t step) {
  CkptState s = {.epoch = step / 100, .step_in_epoch = step % 100, .global_step = step,
                 .samples_seen = step * 256, .seed = 42, .world_size = 4, .global_batch = 256,
                 .loss_scale = 65536.0, .config_text = "[model]\narch = resnet20\n",
                 .tensors = x->t, .n_tensors = 6};
  return s;
}

static void dir_for(char *out, size_t n, const char *name) {
  snprintf(out, n, "%s/%s", g_root, name);
}

static int write_step(const char *dir, int64_t step, int keep) {
  Tensors x;
  make_tensors(&x, (int)step);
  CkptState s = make_state(&x, step);
  char path[512], err[512];
  int rc = ckpt_write(dir, &s, keep, path, sizeof path, err, sizeof err);
  T_CHECK(rc == 0, "ckpt_write step %lld: %s", (long long)step, err);
  mem_free(x.big);
  return rc;
}

static int file_exists(const char *path) { return access(path, F_OK) == 0; }

static void ckpt_path(char *out, size_t n, const char *dir, int64_t step) {
  snprintf(out, n, "%s/ckpt-%08lld.h5", dir, (long long)step);
}

/* -------------------------------------------------------------- cases */

static void test_round_trip(void) {
  char dir[300], path[512], err[512];
  dir_for(dir, sizeof dir, "roundtrip/nested");
  Tensors x;
  make_tensors(&x, 3);
  CkptState s = make_state(&x, 1234);
  T_CHECK(ckpt_write(dir, &s, 3, path, sizeof path, err, sizeof err) == 0, "write: %s", err);
  char want[512];
  ckpt_path(want, sizeof want, dir, 1234);
  T_CHECK(!strcmp(path, want), "path %s, want %s", path, want);
  CkptLoaded l;
  T_CHECK(ckpt_read(path, &l, err, sizeof err) == 0, "read: %s", err);
  T_CHECK(l.state.epoch == 12 && l.state.step_in_epoch == 34 && l.state.global_step == 1234 &&
              l.state.samples_seen == 1234 * 256 && l.state.seed == 42 &&
              l.state.world_size == 4 && l.state.global_batch == 256 &&
              l.state.loss_scale == 65536.0,
          "scalars differ");
  T_CHECK(l.state.config_text && !strcmp(l.state.config_text, s.config_text), "config '%s'",
          l.state.config_text ? l.state.config_text : "(null)");
  T_CHECK(l.state.n_tensors == 6, "%d tensors", l.state.n_tensors);
  for (int i = 0; i < l.state.n_tensors && i < 6; i++) {
    const CkptTensor *a = &x.t[i], *b = &l.tensors[i];
    int same = !strcmp(a->name, b->name) && a->ndim == b->ndim && a->dtype == b->dtype &&
               a->n_elems == b->n_elems;
    for (int d = 0; same && d < a->ndim; d++) same = a->shape[d] == b->shape[d];
    size_t bytes = a->n_elems * (a->dtype == CKPT_I64 ? 8 : 4);
    same = same && (bytes == 0 || !memcmp(a->data, b->data, bytes));
    T_CHECK(same, "tensor %d '%s' did not round-trip (order, shape or data)", i, a->name);
  }
  const CkptTensor *t = ckpt_find_tensor(&l, "bn1.num_batches_tracked");
  T_CHECK(t && *(const int64_t *)t->data == 1234567890123ll + 3, "i64 scalar");
  T_CHECK(ckpt_find_tensor(&l, "nope") == NULL, "found a tensor that does not exist");
  ckpt_free(&l);
  mem_free(x.big);
}

static void test_keep_pruning(void) {
  char dir[300], path[512], other[512];
  dir_for(dir, sizeof dir, "keep");
  mkdir(dir, 0777);
  snprintf(other, sizeof other, "%s/notes.txt", dir);
  FILE *f = fopen(other, "w");
  if (f) fclose(f);
  for (int64_t step = 10; step <= 50; step += 10) write_step(dir, step, 3);
  for (int64_t step = 10; step <= 50; step += 10) {
    ckpt_path(path, sizeof path, dir, step);
    T_CHECK(file_exists(path) == (step >= 30), "after keep=3: %s %s", path,
            file_exists(path) ? "exists" : "is gone");
  }
  T_CHECK(file_exists(other), "pruning removed an unrelated file");
  char found[512], err[512];
  T_CHECK(ckpt_find_latest(dir, found, sizeof found, err, sizeof err) == 0, "find: %s", err);
  ckpt_path(path, sizeof path, dir, 50);
  T_CHECK(!strcmp(found, path), "latest %s, want %s", found, path);
}

/* Writing a checkpoint never deletes itself or anything with a larger step:
 * those belong to another trajectory (the trainer refuses to mix them; the
 * writer must not lose data if it ever happens). */
static void test_keep_never_deletes_newer(void) {
  char dir[300], path[512];
  dir_for(dir, sizeof dir, "keep_newer");
  mkdir(dir, 0777);
  write_step(dir, 100, 1);
  write_step(dir, 200, 1);
  write_step(dir, 50, 1);
  ckpt_path(path, sizeof path, dir, 50);
  T_CHECK(file_exists(path), "the checkpoint just written (step 50) was pruned");
  ckpt_path(path, sizeof path, dir, 200);
  T_CHECK(file_exists(path), "a newer checkpoint (step 200) was pruned");
  ckpt_path(path, sizeof path, dir, 100);
  T_CHECK(!file_exists(path), "step 100 should have been pruned by keep=1 at step 200");
  write_step(dir, 60, 1);
  ckpt_path(path, sizeof path, dir, 50);
  T_CHECK(!file_exists(path), "keep=1: step 50 should go once step 60 is written");
  char name[96];
  int64_t step = 0;
  T_CHECK(ckpt_newest(dir, name, sizeof name, &step) == 2 && step == 200, "newest %lld",
          (long long)step);
}

/* A child writes step 60 under a 64 KiB file-size limit: the kernel kills
 * it (SIGXFSZ) in the middle of writing. */
static const char *g_atomic_dir;
static void write_under_size_limit(void) {
  struct rlimit fsize = {64 * 1024, 64 * 1024}, core = {0, 0};
  setrlimit(RLIMIT_CORE, &core);
  setrlimit(RLIMIT_FSIZE, &fsize);
  signal(SIGXFSZ, SIG_DFL);
  Tensors x;
  make_tensors(&x, 60);
  CkptState s = make_state(&x, 60);
  char path[512], err[512];
  ckpt_write(g_atomic_dir, &s, 10, path, sizeof path, err, sizeof err);
  fprintf(stderr, "writer survived: %s\n", err);
}

static void test_atomic_write(void) {
  char dir[300], path[512], found[512], err[512], out[4096];
  dir_for(dir, sizeof dir, "atomic");
  write_step(dir, 50, 10);
  g_atomic_dir = dir;
  int status = run_captured(write_under_size_limit, out, sizeof out);
  T_CHECK(status == 128 + SIGXFSZ, "writer ended with status %d, want death by SIGXFSZ; %s",
          status, out);
  ckpt_path(path, sizeof path, dir, 60);
  T_CHECK(!file_exists(path), "a half-written checkpoint appeared under its final name %s",
          path);
  char tmp[512];
  snprintf(tmp, sizeof tmp, "%s/.ckpt-00000060.h5.tmp", dir);
  T_CHECK(file_exists(tmp), "the interrupted write left no temporary file (was it killed?)");
  T_CHECK(ckpt_find_latest(dir, found, sizeof found, err, sizeof err) == 0, "find: %s", err);
  ckpt_path(path, sizeof path, dir, 50);
  T_CHECK(!strcmp(found, path), "latest after the crash: %s, want %s", found, path);
  write_step(dir, 70, 10);
  T_CHECK(!file_exists(tmp), "the next write did not clean up %s", tmp);
}

/* Bytes of tensor `name` in an HDF5 file: where its contiguous data starts. */
static long long tensor_file_offset(const char *path, const char *name) {
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  char ds_name[160];
  snprintf(ds_name, sizeof ds_name, "tensors/%s", name);
  hid_t ds = H5Dopen2(f, ds_name, H5P_DEFAULT);
  haddr_t off = H5Dget_offset(ds);
  H5Dclose(ds);
  H5Fclose(f);
  return off == HADDR_UNDEF ? -1 : (long long)off;
}

static void flip_bytes(const char *path, long long offset) {
  int fd = open(path, O_RDWR);
  unsigned char b[16];
  T_CHECK(fd >= 0 && pread(fd, b, sizeof b, offset) == (ssize_t)sizeof b, "read %s", path);
  for (size_t i = 0; i < sizeof b; i++) b[i] ^= 0x5a;
  T_CHECK(pwrite(fd, b, sizeof b, offset) == (ssize_t)sizeof b, "write %s", path);
  close(fd);
}

static void truncate_half(const char *path) {
  struct stat st;
  T_CHECK(stat(path, &st) == 0 && truncate(path, st.st_size / 2) == 0, "truncate %s", path);
}

static const char *g_find_dir;
static void find_and_print(void) {
  char found[512], err[1024];
  int rc = ckpt_find_latest(g_find_dir, found, sizeof found, err, sizeof err);
  fprintf(stderr, "RESULT %d %s\n", rc, rc == 0 ? found : err);
}

/* Runs the search in a child; returns its stderr (warnings and RESULT). */
static void find_captured(const char *dir, char *out, size_t n) {
  g_find_dir = dir;
  run_captured(find_and_print, out, n);
}

static void test_corrupt_newest(void) {
  char dir[300], p10[512], p20[512], p30[512], out[8192], want[600], err[1024];
  dir_for(dir, sizeof dir, "corrupt");
  for (int64_t step = 10; step <= 30; step += 10) write_step(dir, step, 10);
  ckpt_path(p10, sizeof p10, dir, 10);
  ckpt_path(p20, sizeof p20, dir, 20);
  ckpt_path(p30, sizeof p30, dir, 30);

  truncate_half(p30);
  find_captured(dir, out, sizeof out);
  snprintf(want, sizeof want, "RESULT 0 %s\n", p20);
  T_CHECK(strstr(out, want) != NULL, "truncated newest: want %s, got: %s", want, out);
  snprintf(want, sizeof want, "warning: checkpoint %s: ", p30);
  T_CHECK(strstr(out, want) && strstr(out, "skipping it"), "no warning naming %s: %s", p30, out);
  T_CHECK(strstr(out, "using the previous checkpoint") != NULL, "fallback not announced: %s",
          out);

  long long off = tensor_file_offset(p20, "momentum.big");
  T_CHECK(off > 0, "no contiguous offset for the big tensor");
  if (off > 0) flip_bytes(p20, off + 4000);
  CkptLoaded l;
  T_CHECK(ckpt_read(p20, &l, err, sizeof err) != 0, "a damaged file was accepted");
  T_CHECK(strstr(err, "checksum mismatch in tensor 'momentum.big'") != NULL, "why: %s", err);
  find_captured(dir, out, sizeof out);
  snprintf(want, sizeof want, "RESULT 0 %s\n", p10);
  T_CHECK(strstr(out, want) != NULL, "two damaged: want %s, got: %s", want, out);
  T_CHECK(strstr(out, "checksum mismatch") != NULL, "the warning does not say why: %s", out);

  truncate_half(p10);
  find_captured(dir, out, sizeof out);
  T_CHECK(strstr(out, "RESULT -1 none of the 3 checkpoint(s)") != NULL, "all damaged: %s", out);
}

/* A newer format version and a foreign HDF5 file are refused with reasons. */
static void test_incompatible(void) {
  char dir[300], p[512], err[1024];
  dir_for(dir, sizeof dir, "incompatible");
  write_step(dir, 5, 10);
  ckpt_path(p, sizeof p, dir, 5);
  hid_t f = H5Fopen(p, H5F_ACC_RDWR, H5P_DEFAULT);
  hid_t a = H5Aopen(f, "version", H5P_DEFAULT);
  int v = 99;
  H5Awrite(a, H5T_NATIVE_INT, &v);
  H5Aclose(a);
  H5Fclose(f);
  CkptLoaded l;
  T_CHECK(ckpt_read(p, &l, err, sizeof err) != 0 && strstr(err, "format version 99"),
          "newer version: %s", err);
  char foreign[512];
  snprintf(foreign, sizeof foreign, "%s/ckpt-00000007.h5", dir);
  hid_t g = H5Fcreate(foreign, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  H5Fclose(g);
  T_CHECK(ckpt_read(foreign, &l, err, sizeof err) != 0 &&
              strstr(err, "not a resnet_dist checkpoint"),
          "foreign file: %s", err);
  char missing[512];
  snprintf(missing, sizeof missing, "%s/ckpt-00000099.h5", dir);
  T_CHECK(ckpt_read(missing, &l, err, sizeof err) != 0 && strstr(err, missing),
          "missing file: %s", err);
}

static void test_no_checkpoints(void) {
  char dir[300], found[512], err[512];
  dir_for(dir, sizeof dir, "does/not/exist");
  T_CHECK(ckpt_find_latest(dir, found, sizeof found, err, sizeof err) == 1, "missing dir");
  dir_for(dir, sizeof dir, "empty");
  mkdir(dir, 0777);
  T_CHECK(ckpt_find_latest(dir, found, sizeof found, err, sizeof err) == 1, "empty dir");
}

static void test_unwritable_dir(void) {
  char err[512], dir[400];
  dir_for(dir, sizeof dir, "writable/deep/er");
  T_CHECK(ckpt_check_writable(dir, err, sizeof err) == 0, "%s", err);
  T_CHECK(ckpt_check_writable("/dev/null/ckpt", err, sizeof err) == -1 &&
              strstr(err, "/dev/null"),
          "under a device file: %s", err);
  char file[300];
  dir_for(file, sizeof file, "a_file");
  FILE *f = fopen(file, "w");
  if (f) fclose(f);
  snprintf(dir, sizeof dir, "%s/sub", file);
  T_CHECK(ckpt_check_writable(dir, err, sizeof err) == -1 && strstr(err, "not a directory"),
          "under a regular file: %s", err);
  T_CHECK(ckpt_check_writable("", err, sizeof err) == -1, "empty dir accepted");
  Tensors x;
  make_tensors(&x, 0);
  CkptState s = make_state(&x, 1);
  char path[512];
  T_CHECK(ckpt_write(dir, &s, 3, path, sizeof path, err, sizeof err) == -1, "write accepted");
  mem_free(x.big);
  if (geteuid() == 0) {
    printf("  (running as root: permission bits do not stop writes; mode 0500 not tested)\n");
    return;
  }
  dir_for(dir, sizeof dir, "readonly");
  mkdir(dir, 0500);
  T_CHECK(ckpt_check_writable(dir, err, sizeof err) == -1 && strstr(err, "not writable"),
          "read-only dir: %s", err);
}

int main(int argc, char **argv) {
  if (argc == 3 && !strcmp(argv[1], "--write")) {
    snprintf(g_root, sizeof g_root, "%s", argv[2]);
    return write_step(argv[2], 77, 3) == 0 ? 0 : 1;
  }
  snprintf(g_root, sizeof g_root, "/tmp/rd_test_ckpt_XXXXXX");
  if (!mkdtemp(g_root)) test_skip("cannot create a temporary folder");
  TEST_RUN(test_round_trip);
  TEST_RUN(test_keep_pruning);
  TEST_RUN(test_keep_never_deletes_newer);
  TEST_RUN(test_atomic_write);
  TEST_RUN(test_corrupt_newest);
  TEST_RUN(test_incompatible);
  TEST_RUN(test_no_checkpoints);
  TEST_RUN(test_unwritable_dir);
  char cmd[600];
  snprintf(cmd, sizeof cmd, "chmod -R u+w %s && rm -rf %s", g_root, g_root);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_root);
  return test_summary();
}
