/* test_shards.c - shard writer/reader round trip and the structural checks
 * of shard_open: every record and label reads back identically (jpeg and raw
 * encodings, several shards with an empty one, pread at H5Dget_offset);
 * wrong format, wrong version, chunked /images, decreasing offsets, a
 * missing dataset, a truncated file and a missing file are refused with a
 * message naming the file.  Shard sets: a folder without shards of the
 * split does not fall back to the other split's files; a folder or prefix
 * with a missing or stale <set>-IIIII-of-NNNNN.h5 is refused, a glob may
 * name a subset.  The writer leaves no temporary files behind: after
 * closing, after a fatal error, after SIGTERM with the clean-up handlers. */
#include <glob.h>
#include <hdf5.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/check.h"
#include "core/rng.h"
#include "data/shard.h"
#include "data/shard_writer.h"
#include "child_util.h"
#include "test_util.h"

static char g_dir[256];

static void path_of(char *out, size_t n, const char *name) {
  snprintf(out, n, "%s/%s", g_dir, name);
}

/* Record i: deterministic bytes of length (i * 37) % 300 (0 for i = 0). */
static size_t record(int split, int i, uint8_t *buf) {
  size_t n = (size_t)(i * 37) % 300;
  RngStream rs;
  rng_stream_init(&rs, 3, (uint32_t)split, (uint32_t)i);
  for (size_t k = 0; k < n; k++) buf[k] = (uint8_t)rng_u32(&rs);
  return n;
}

static void write_split_shard(const char *path, const char *split, int first, int n,
                              int num_classes) {
  ShardMeta m = {SHARD_JPEG, num_classes, 0, 0, split, "test", NULL};
  ShardWriter *w = shard_writer_open(path, &m);
  uint8_t buf[300];
  for (int i = first; i < first + n; i++) {
    char key[32];
    snprintf(key, sizeof key, "key-%d", i);
    shard_writer_add(w, buf, record(0, i, buf), i % num_classes, key);
  }
  shard_writer_close(w);
}

static void write_jpeg_shard(const char *path, int first, int n, int num_classes) {
  write_split_shard(path, "train", first, n, num_classes);
}

static void test_jpeg_round_trip(void) {
  char pattern[512], p0[512], p1[512], p2[512];
  path_of(p0, sizeof p0, "train-00000-of-00003.h5");
  path_of(p1, sizeof p1, "train-00001-of-00003.h5");
  path_of(p2, sizeof p2, "train-00002-of-00003.h5");
  write_jpeg_shard(p0, 0, 40, 7);
  write_jpeg_shard(p1, 40, 0, 7);  /* empty shard */
  write_jpeg_shard(p2, 40, 25, 7);
  ShardSet set;
  char err[1024];
  T_CHECK(shard_set_open(&set, g_dir, "train", err, sizeof err) == 0, "%s", err);
  T_CHECK(set.n_shards == 3 && set.n_records == 65, "%d shards %lld records", set.n_shards,
          (long long)set.n_records);
  T_CHECK(set.encoding == SHARD_JPEG && set.num_classes == 7, "attributes");
  uint8_t want[300], got[300];
  int bad = 0;
  for (int i = 0; i < set.n_records; i++) {
    int64_t local;
    const Shard *s = shard_set_locate(&set, i, &local);
    size_t n = record(0, i, want);
    bad += shard_record_bytes(s, local) != n || shard_read(s, local, got) != 0 ||
           memcmp(want, got, n) != 0 || s->labels[local] != i % 7;
  }
  T_CHECK(bad == 0, "%d records differ", bad);
  shard_set_close(&set);
  snprintf(pattern, sizeof pattern, "%s/train-0000[02]-*.h5", g_dir);
  T_CHECK(shard_set_open(&set, pattern, "train", err, sizeof err) == 0, "glob: %s", err);
  T_CHECK(set.n_shards == 2 && set.n_records == 65, "glob found %d", set.n_shards);
  shard_set_close(&set);
  snprintf(pattern, sizeof pattern, "%s/train", g_dir);  /* a shard-name prefix */
  T_CHECK(shard_set_open(&set, pattern, "val", err, sizeof err) == 0 && set.n_shards == 3,
          "prefix: %s", err);
  shard_set_close(&set);
  char **keys;
  int64_t n_keys;
  T_CHECK(shard_read_strings(p2, "keys", &keys, &n_keys) == 0 && n_keys == 25 &&
              !strcmp(keys[3], "key-43"),
          "keys");
  if (n_keys == 25) shard_free_strings(keys, n_keys);
}

static void test_raw_round_trip(void) {
  char p[512];
  path_of(p, sizeof p, "val-00000-of-00001.h5");
  ShardMeta m = {SHARD_RAW, 10, 5, 4, "val", "test", NULL};
  ShardWriter *w = shard_writer_open(p, &m);
  uint8_t px[5 * 4 * 3];
  for (int i = 0; i < 9; i++) {
    for (size_t k = 0; k < sizeof px; k++) px[k] = (uint8_t)(i * 31 + k);
    shard_writer_add(w, px, sizeof px, 9 - i, "k");
  }
  shard_writer_close(w);
  Shard s;
  char err[1024];
  T_CHECK(shard_open(&s, p, err, sizeof err) == 0, "%s", err);
  T_CHECK(s.encoding == SHARD_RAW && s.raw_h == 5 && s.raw_w == 4 && s.n == 9, "raw attrs");
  int bad = 0;
  for (int i = 0; i < s.n; i++) {
    uint8_t got[sizeof px];
    for (size_t k = 0; k < sizeof px; k++) px[k] = (uint8_t)(i * 31 + k);
    bad += shard_read(&s, i, got) || memcmp(got, px, sizeof px) || s.labels[i] != 9 - i;
  }
  T_CHECK(bad == 0, "%d raw records differ", bad);
  shard_close(&s);
}

/* ---------------------------------------------------------- broken shards */

static void fresh(const char *name, char *out, size_t n) {
  path_of(out, n, name);
  write_jpeg_shard(out, 0, 12, 3);
}

static void set_attr_str(const char *path, const char *name, const char *value) {
  hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
  H5Adelete(f, name);
  hid_t t = H5Tcopy(H5T_C_S1);
  H5Tset_size(t, strlen(value) + 1);
  hid_t sp = H5Screate(H5S_SCALAR);
  hid_t a = H5Acreate2(f, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
  H5Awrite(a, t, value);
  H5Aclose(a);
  H5Sclose(sp);
  H5Tclose(t);
  H5Fclose(f);
}

static void set_attr_int(const char *path, const char *name, long long value) {
  hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
  hid_t a = H5Aopen(f, name, H5P_DEFAULT);
  H5Awrite(a, H5T_NATIVE_LLONG, &value);
  H5Aclose(a);
  H5Fclose(f);
}

static void expect_refused(const char *path, const char *needle, const char *what) {
  Shard s;
  char err[1024] = "";
  int rc = shard_open(&s, path, err, sizeof err);
  T_CHECK(rc == -1, "%s: accepted", what);
  T_CHECK(strstr(err, path) != NULL, "%s: message does not name the file: %s", what, err);
  T_CHECK(strstr(err, needle) != NULL, "%s: message lacks '%s': %s", what, needle, err);
  if (rc == 0) shard_close(&s);
}

static void test_refuses_broken_shards(void) {
  char p[512];
  fresh("bad_format.h5", p, sizeof p);
  set_attr_str(p, "format", "something.else");
  expect_refused(p, "not a resnet_dist shard", "wrong format");

  fresh("bad_version.h5", p, sizeof p);
  set_attr_int(p, "version", 2);
  expect_refused(p, "version 2", "wrong version");

  fresh("bad_offsets.h5", p, sizeof p);
  hid_t f = H5Fopen(p, H5F_ACC_RDWR, H5P_DEFAULT);
  hid_t d = H5Dopen2(f, "offsets", H5P_DEFAULT);
  uint64_t off[13];
  H5Dread(d, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, off);
  uint64_t t = off[5];
  off[5] = off[6];
  off[6] = t - 1;
  H5Dwrite(d, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, off);
  H5Dclose(d);
  H5Fclose(f);
  expect_refused(p, "offsets", "decreasing offsets");

  fresh("no_labels.h5", p, sizeof p);
  f = H5Fopen(p, H5F_ACC_RDWR, H5P_DEFAULT);
  H5Ldelete(f, "labels", H5P_DEFAULT);
  H5Fclose(f);
  expect_refused(p, "/labels is missing", "missing /labels");

  /* a chunked, compressed /images written by someone else's tool */
  path_of(p, sizeof p, "chunked.h5");
  f = H5Fcreate(p, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  hsize_t n = 100, chunk = 10, n1 = 2, n_lab = 1;
  hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  H5Pset_chunk(dcpl, 1, &chunk);
  H5Pset_deflate(dcpl, 4);
  hid_t sp = H5Screate_simple(1, &n, NULL);
  uint8_t zeros[100] = {0};
  d = H5Dcreate2(f, "images", H5T_STD_U8LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  H5Dwrite(d, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, zeros);
  H5Dclose(d);
  H5Sclose(sp);
  uint64_t offs[2] = {0, 100};
  int32_t lab[1] = {0};
  sp = H5Screate_simple(1, &n1, NULL);
  d = H5Dcreate2(f, "offsets", H5T_STD_U64LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  H5Dwrite(d, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, offs);
  H5Dclose(d);
  H5Sclose(sp);
  sp = H5Screate_simple(1, &n_lab, NULL);
  d = H5Dcreate2(f, "labels", H5T_STD_I32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  H5Dwrite(d, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, lab);
  H5Dclose(d);
  d = H5Dcreate2(f, "keys", H5T_STD_I32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  H5Dwrite(d, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, lab);
  H5Dclose(d);
  H5Sclose(sp);
  H5Pclose(dcpl);
  H5Fclose(f);
  set_attr_str(p, "format", SHARD_FORMAT);
  set_attr_str(p, "encoding", "jpeg");
  f = H5Fopen(p, H5F_ACC_RDWR, H5P_DEFAULT);
  hid_t scal = H5Screate(H5S_SCALAR);
  long long one = 1, three = 3;
  hid_t a = H5Acreate2(f, "version", H5T_STD_I64LE, scal, H5P_DEFAULT, H5P_DEFAULT);
  H5Awrite(a, H5T_NATIVE_LLONG, &one);
  H5Aclose(a);
  a = H5Acreate2(f, "num_classes", H5T_STD_I64LE, scal, H5P_DEFAULT, H5P_DEFAULT);
  H5Awrite(a, H5T_NATIVE_LLONG, &three);
  H5Aclose(a);
  H5Sclose(scal);
  H5Fclose(f);
  expect_refused(p, "chunked or compressed", "chunked /images");

  /* truncated: the file loses its last third */
  fresh("truncated.h5", p, sizeof p);
  FILE *fp = fopen(p, "rb");
  fseek(fp, 0, SEEK_END);
  long size = ftell(fp);
  fclose(fp);
  T_CHECK(truncate(p, size * 2 / 3) == 0, "truncate");
  Shard s;
  char err[1024] = "";
  T_CHECK(shard_open(&s, p, err, sizeof err) == -1 && strstr(err, p), "truncated: %s", err);
  printf("truncated shard: %s\n", err);

  path_of(p, sizeof p, "does-not-exist.h5");
  expect_refused(p, "No such file", "missing file");

  ShardSet set;
  char dir[512];
  path_of(dir, sizeof dir, "empty-folder");
  T_CHECK(mkdir(dir, 0700) == 0, "mkdir %s", dir);
  T_CHECK(shard_set_open(&set, dir, "train", err, sizeof err) == -1 &&
              strstr(err, "without shard files"),
          "empty folder: %s", err);
  snprintf(dir, sizeof dir, "%s/nothing", g_dir);
  T_CHECK(shard_set_open(&set, dir, "train", err, sizeof err) == -1 && strstr(err, dir) &&
              strstr(err, "prefix"),
          "missing path: %s", err);
}


/* ------------------------------------------------------------ shard sets */

/* A fresh sub-folder of the test folder. */
static void sub_folder(const char *name, char *out, size_t n) {
  path_of(out, n, name);
  T_CHECK(mkdir(out, 0700) == 0, "mkdir %s", out);
}

static void shard_in(const char *dir, const char *name, const char *split) {
  char p[600];
  snprintf(p, sizeof p, "%s/%s", dir, name);
  write_split_shard(p, split, 0, 3, 4);
}

/* shard_set_open(spec, split) fails with a message holding all needles. */
static void expect_set_refused(const char *spec, const char *split, const char *const *needles,
                               const char *what) {
  ShardSet set;
  char err[1024] = "";
  int rc = shard_set_open(&set, spec, split, err, sizeof err);
  T_CHECK(rc == -1, "%s: accepted", what);
  if (rc == 0) shard_set_close(&set);
  for (int i = 0; needles[i]; i++)
    T_CHECK(strstr(err, needles[i]) != NULL, "%s: message lacks '%s': %s", what, needles[i], err);
  printf("%s: %s\n", what, err);
}

static int set_size(const char *spec, const char *split) {
  ShardSet set;
  char err[1024] = "";
  if (shard_set_open(&set, spec, split, err, sizeof err)) {
    T_CHECK(0, "%s (%s): %s", spec, split, err);
    return -1;
  }
  int n = set.n_shards;
  shard_set_close(&set);
  return n;
}

static void test_folder_without_split_shards(void) {
  char dir[512];
  sub_folder("only-train", dir, sizeof dir);
  shard_in(dir, "train-00000-of-00002.h5", "train");
  shard_in(dir, "train-00001-of-00002.h5", "train");
  T_CHECK(set_size(dir, "train") == 2, "train shards of a train-only folder");
  /* data.val=DIR with only train shards there: never validate on train data */
  expect_set_refused(dir, "val",
                     (const char *const[]){dir, "no shards of split 'val'",
                                           "train-00000-of-00002.h5 and 1 more", "data.val",
                                           NULL},
                     "val from a train-only folder");
  /* other names: the split attribute decides */
  sub_folder("by-attribute", dir, sizeof dir);
  shard_in(dir, "cifar-a.h5", "train");
  shard_in(dir, "cifar-b.h5", "val");
  shard_in(dir, "cifar-c.h5", "val");
  T_CHECK(set_size(dir, "train") == 1, "train by attribute");
  T_CHECK(set_size(dir, "val") == 2, "val by attribute");
  sub_folder("val-attribute-only", dir, sizeof dir);
  shard_in(dir, "test.h5", "val");
  expect_set_refused(dir, "train",
                     (const char *const[]){"no shards of split 'train'", "test.h5", NULL},
                     "train from a folder of val shards");
}

static void test_incomplete_sets(void) {
  char dir[512], spec[600];
  sub_folder("incomplete", dir, sizeof dir);
  shard_in(dir, "train-00000-of-00004.h5", "train");
  shard_in(dir, "train-00002-of-00004.h5", "train");
  const char *const needles[] = {"shard set 'train' is incomplete: 2 of 4 files",
                                 "missing train-00001-of-00004.h5 and 1 more", "rebuild", NULL};
  expect_set_refused(dir, "train", needles, "incomplete folder");
  snprintf(spec, sizeof spec, "%s/train", dir);
  expect_set_refused(spec, "train", needles, "incomplete prefix");
  snprintf(spec, sizeof spec, "%s/train-*.h5", dir);
  T_CHECK(set_size(spec, "train") == 2, "a glob may name part of a set");
  shard_in(dir, "train-00001-of-00004.h5", "train");
  shard_in(dir, "train-00003-of-00004.h5", "train");
  T_CHECK(set_size(dir, "train") == 4, "the completed set");
  shard_in(dir, "train-00000-of-00002.h5", "train"); /* a leftover of another build */
  expect_set_refused(dir, "train",
                     (const char *const[]){"mixes", "train-00000-of-00002.h5",
                                           "train-00000-of-00004.h5", NULL},
                     "two builds in one folder");
  /* the fallback's sets are checked too */
  sub_folder("incomplete-other", dir, sizeof dir);
  shard_in(dir, "part-00001-of-00002.h5", "train");
  expect_set_refused(dir, "train",
                     (const char *const[]){"'part' is incomplete: 1 of 2",
                                           "missing part-00000-of-00002.h5)", NULL},
                     "incomplete set without split names");
}

/* ------------------------------------------------------ temporary files */

static int count_temps(const char *dir) {
  char pattern[600];
  snprintf(pattern, sizeof pattern, "%s/*.tmp", dir);
  glob_t g;
  int n = glob(pattern, 0, NULL, &g) == 0 ? (int)g.gl_pathc : 0;
  globfree(&g);
  return n;
}

typedef struct {
  char path[600];
  int how;  /* 0: fatal error, 1: SIGTERM with the handlers, 2: SIGKILL */
} Interrupted;

static void write_and_die(void *arg) {
  Interrupted *it = arg;
  if (it->how == 1) shard_writer_cleanup_on_signals();
  ShardMeta m = {SHARD_JPEG, 3, 0, 0, "train", "test", NULL};
  ShardWriter *w = shard_writer_open(it->path, &m);
  uint8_t buf[300];
  for (int i = 0; i < 50; i++) shard_writer_add(w, buf, record(0, i, buf), i % 3, "k");
  if (it->how == 0) FATAL("disk on fire (test)");
  raise(it->how == 1 ? SIGTERM : SIGKILL);
}

static void test_no_temp_files_left(void) {
  char dir[512], out[4096];
  sub_folder("temps", dir, sizeof dir);
  Interrupted it;
  snprintf(it.path, sizeof it.path, "%s/train-00000-of-00001.h5", dir);
  write_jpeg_shard(it.path, 0, 20, 3);
  T_CHECK(count_temps(dir) == 0, "temporary files after a close");
  T_CHECK(unlink(it.path) == 0, "unlink %s", it.path);
  it.how = 0;
  int st = run_in_child(write_and_die, &it, out, sizeof out);
  T_CHECK(st == RD_EXIT_FAILURE && strstr(out, "disk on fire"), "fatal child: %d %s", st, out);
  T_CHECK(count_temps(dir) == 0, "%d temporary files after a fatal error", count_temps(dir));
  it.how = 1;
  st = run_in_child(write_and_die, &it, out, sizeof out);
  T_CHECK(st == 128 + SIGTERM, "SIGTERM child: %d %s", st, out);
  T_CHECK(count_temps(dir) == 0, "%d temporary files after SIGTERM", count_temps(dir));
  /* killed outright: nothing can clean up (resnet_shards removes them next time) */
  it.how = 2;
  st = run_in_child(write_and_die, &it, out, sizeof out);
  T_CHECK(st == 128 + SIGKILL && count_temps(dir) == 1, "SIGKILL child: %d, %d temporary files",
          st, count_temps(dir));
  T_CHECK(access(it.path, F_OK) != 0, "a shard appeared without being closed");
}

int main(void) {
  const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
  snprintf(g_dir, sizeof g_dir, "%s/rd_test_shards.XXXXXX", tmp);
  if (!mkdtemp(g_dir)) test_skip("cannot make a temporary folder");
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  TEST_RUN(test_jpeg_round_trip);
  TEST_RUN(test_raw_round_trip);
  TEST_RUN(test_refuses_broken_shards);
  TEST_RUN(test_folder_without_split_shards);
  TEST_RUN(test_incomplete_sets);
  TEST_RUN(test_no_temp_files_left);
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
  if (system(cmd)) fprintf(stderr, "could not remove %s\n", g_dir);
  return test_summary();
}
