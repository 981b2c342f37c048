/* test_shards.c - shard writer/reader round trip and the structural checks
 * of shard_open: every record and label reads back identically (jpeg and raw
 * encodings, several shards with an empty one, pread at H5Dget_offset);
 * wrong format, wrong version, chunked /images, decreasing offsets, a
 * missing dataset, a truncated file and a missing file are refused with a
 * message naming the file. */
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/rng.h"
#include "data/shard.h"
#include "data/shard_writer.h"
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

static void write_jpeg_shard(const char *path, int first, int n, int num_classes) {
  ShardMeta m = {SHARD_JPEG, num_classes, 0, 0, "train", "test", NULL};
  ShardWriter *w = shard_writer_open(path, &m);
  uint8_t buf[300];
  for (int i = first; i < first + n; i++) {
    char key[32];
    snprintf(key, sizeof key, "key-%d", i);
    shard_writer_add(w, buf, record(0, i, buf), i % num_classes, key);
  }
  shard_writer_close(w);
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

int main(void) {
  const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
  snprintf(g_dir, sizeof g_dir, "%s/rd_test_shards.XXXXXX", tmp);
  if (!mkdtemp(g_dir)) test_skip("cannot make a temporary folder");
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  TEST_RUN(test_jpeg_round_trip);
  TEST_RUN(test_raw_round_trip);
  TEST_RUN(test_refuses_broken_shards);
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
  if (system(cmd)) fprintf(stderr, "could not remove %s\n", g_dir);
  return test_summary();
}
