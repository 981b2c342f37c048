/* fuzz_shard.c - libFuzzer target: the shard reader on hostile shards.
 *
 * Structure-aware: the input decides what a shard file holds -- the format
 * string, version, encoding and num_classes attributes (right or wrong),
 * which datasets exist, their shapes, integer types and layouts (contiguous,
 * chunked, compressed), the labels, the offsets (consistent or arbitrary),
 * the record bytes, raw image sizes, and how much of the finished file
 * survives (truncation).  The file is written with the HDF5 API, opened with
 * shard_open, and when accepted every record (at most 64) is pread and sent
 * through the decode / augment path as the pipeline would.  Refusing a file
 * is fine; crashing, reading outside a record or leaking is not.
 *
 * Why not raw file bytes: that fuzzes libhdf5's own metadata parser, which
 * in 1.10 has memory errors on damaged files (docs/SHARDS.md, "Robustness
 * notes"); those are HDF5's to fix, not ours.
 *
 * Input layout: 8 header bytes (flags, num_classes, records, label spread,
 * raw H, raw W, truncation, type choice), then labels / offsets, then the
 * record bytes (the rest).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hdf5.h>

#include "core/mem.h"
#include "core/rng.h"
#include "data/augment.h"
#include "data/sample.h"
#include "data/shard.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum {
  F_BAD_FORMAT = 1, F_BAD_VERSION = 2, F_RAW = 4, F_NO_LABELS = 8, F_NO_OFFSETS = 16,
  F_CHUNKED = 32, F_FUZZ_OFFSETS = 64, F_TRUNCATE = 128,
};

typedef struct {
  const uint8_t *p;
  size_t n;
} Bytes;

static uint8_t take(Bytes *b) {
  if (!b->n) return 0;
  b->n--;
  return *b->p++;
}

static void attr_str(hid_t f, const char *name, const char *value) {
  hid_t t = H5Tcopy(H5T_C_S1), sp = H5Screate(H5S_SCALAR);
  H5Tset_size(t, strlen(value) + 1);
  hid_t a = H5Acreate2(f, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
  H5Awrite(a, t, value);
  H5Aclose(a);
  H5Sclose(sp);
  H5Tclose(t);
}

static void attr_int(hid_t f, const char *name, long long v) {
  hid_t sp = H5Screate(H5S_SCALAR);
  hid_t a = H5Acreate2(f, name, H5T_STD_I64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
  H5Awrite(a, H5T_NATIVE_LLONG, &v);
  H5Aclose(a);
  H5Sclose(sp);
}

static void dataset(hid_t f, const char *name, hid_t ftype, hid_t mtype, int rank,
                    const hsize_t *dims, const void *buf, int chunked) {
  hid_t sp = H5Screate_simple(rank, dims, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
  hsize_t total = 1, chunk[4];
  for (int i = 0; i < rank; i++) {
    total *= dims[i];
    chunk[i] = dims[i] ? dims[i] : 1;
  }
  if (chunked && total) {
    H5Pset_chunk(dcpl, rank, chunk);
    H5Pset_deflate(dcpl, 1);
  }
  hid_t d = H5Dcreate2(f, name, ftype, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  if (d >= 0 && total) H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
  if (d >= 0) H5Dclose(d);
  H5Pclose(dcpl);
  H5Sclose(sp);
}

/* Writes the shard the input describes to path. */
static void build(const char *path, Bytes in) {
  uint8_t flags = take(&in), classes = take(&in), n = take(&in) % 17, spread = take(&in);
  uint8_t raw_h = take(&in), raw_w = take(&in), trunc = take(&in), types = take(&in);
  int32_t labels[16];
  uint64_t offsets[17];
  for (int i = 0; i < n; i++) labels[i] = (int32_t)(take(&in) % (spread + 1)) - (spread > 200);
  for (int i = 0; i <= n; i++) offsets[i] = (uint64_t)take(&in) << (types & 7);
  hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (f < 0) return;
  attr_str(f, "format", flags & F_BAD_FORMAT ? "resnet_dist.shardX" : SHARD_FORMAT);
  attr_int(f, "version", flags & F_BAD_VERSION ? (types >> 4) : SHARD_VERSION);
  attr_str(f, "encoding", flags & F_RAW ? "raw" : (types & 8 ? "png" : "jpeg"));
  attr_int(f, "num_classes", (long long)classes - (types & 16 ? 1 : 0));
  hsize_t nn = n, n1 = (hsize_t)n + (types & 32 ? 0 : 1);
  if (!(flags & F_NO_LABELS)) {
    dataset(f, "labels", types & 64 ? H5T_STD_I8LE : H5T_STD_I32LE, H5T_NATIVE_INT32, 1, &nn,
            labels, 0);
    dataset(f, "keys", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, &nn, labels, 0);
  }
  size_t rest = in.n;
  if (flags & F_RAW) {
    hsize_t dims[4] = {n, raw_h % 9, raw_w % 9 + 1, types & 128 ? 4 : 3};
    size_t need = (size_t)(dims[0] * dims[1] * dims[2] * dims[3]);
    uint8_t *px = mem_calloc_or_die(need ? need : 1, 1, "pixels");
    memcpy(px, in.p, need < rest ? need : rest);
    dataset(f, "pixels", H5T_STD_U8LE, H5T_NATIVE_UINT8, 4, dims, px, flags & F_CHUNKED);
    mem_free(px);
  } else {
    if (!(flags & F_FUZZ_OFFSETS)) { /* consistent: records split the rest evenly */
      for (int i = 0; i <= n; i++) offsets[i] = n ? rest * (size_t)i / n : 0;
    }
    hsize_t n_img = rest;
    dataset(f, "images", H5T_STD_U8LE, H5T_NATIVE_UINT8, 1, &n_img, in.p, flags & F_CHUNKED);
    if (!(flags & F_NO_OFFSETS))
      dataset(f, "offsets", H5T_STD_U64LE, H5T_NATIVE_UINT64, 1, &n1, offsets, 0);
  }
  H5Fclose(f);
  if (flags & F_TRUNCATE) {
    FILE *fp = fopen(path, "rb");
    long len = 0;
    if (fp && !fseek(fp, 0, SEEK_END)) len = ftell(fp);
    if (fp) fclose(fp);
    if (truncate(path, len * trunc / 256)) return;
  }
}

static void exercise(const Shard *s, SampleWorker *w) {
  static uint8_t out[32 * 32 * 3];
  AugmentSpec a = {AUG_RRC, 32, 36, 0.08, 1.0, 0.75, 4.0 / 3.0, 4, 1};
  for (int64_t i = 0; i < s->n && i < 64; i++) {
    if (s->labels[i] < 0 || s->labels[i] >= s->num_classes) continue;
    size_t n = shard_record_bytes(s, i);
    uint8_t *buf = mem_alloc_or_die(n ? n : 1, "record");
    RngStream rs;
    rng_stream_init(&rs, 1, rng_id_hi(RNG_DOMAIN_AUGMENT, 0), (uint32_t)i);
    a.mode = (int)(i % 3);
    if (shard_read(s, i, buf) == 0) {
      if (s->encoding == SHARD_RAW)
        sample_from_pixels(w, &a, &rs, buf, s->raw_w, s->raw_h, out);
      else
        sample_from_jpeg(w, &a, &rs, buf, n, out);
    }
    mem_free(buf);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static char path[64];
  static SampleWorker *w;
  if (!w) {
    snprintf(path, sizeof path, "/tmp/rd_fuzz_shard.%d.h5", (int)getpid());
    w = sample_worker_new();
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  }
  build(path, (Bytes){data, size});
  Shard s;
  char err[1024];
  if (shard_open(&s, path, err, sizeof err) == 0) {
    exercise(&s, w);
    shard_close(&s);
  }
  unlink(path);
  return 0;
}
