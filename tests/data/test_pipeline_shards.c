/* test_pipeline_shards.c - the pipeline on HDF5 shards, with bad records.
 *
 * A JPEG shard set holds corrupt records (random bytes, a JPEG cut in half,
 * a label out of range).  Checks: every corrupt record is replaced by the
 * next good record of the epoch's order (its label proves which) and
 * counted in Batch.n_corrupt; the pixels do not depend on worker count or
 * rank count (2 ranks == 1 rank with the global batch); evaluation sees
 * every record once with its stored label; raw (CIFAR-style) shards give the
 * stored pixels in evaluation and shifted / mirrored windows in training;
 * structural problems make pipeline_open fail naming the file.  A damaged
 * set (a corrupt record followed by 64 more in the epoch's order) is not
 * papered over: the batches before it arrive, then pipeline_next ends the
 * process with exit 2 and one line naming the shard, the record and
 * `resnet_shards verify DIR --decode`, with or without decode workers.  A
 * progressive JPEG with more than JPEGDEC_MAX_SCANS scans does not decode
 * (one with fewer, made the same way, does). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jpeglib.h>

#include "config/config.h"
#include "core/check.h"
#include "data/jpegdec.h"
#include "data/jpegenc.h"
#include "data/pipeline.h"
#include "data/sampler.h"
#include "data/shard.h"
#include "data/shard_writer.h"
#include "data/synth.h"
#include "child_util.h"
#include "test_util.h"

enum { N_TRAIN = 70, N_VAL = 23, CLASSES = 6, B = 4 };

static char g_dir[256], g_jpeg[300], g_raw[300];
static int g_bad[N_TRAIN];       /* train record i is corrupt */
static int32_t g_label[N_TRAIN]; /* stored labels */

static int corrupt_kind(int i) { return i % 11 == 3 ? 1 + (i / 11) % 3 : 0; }

/* JPEG shards: 2 train shards, 1 val; records with corrupt_kind != 0 broken. */
static void make_jpeg_set(void) {
  snprintf(g_jpeg, sizeof g_jpeg, "%s/jpeg", g_dir);
  mkdir(g_jpeg, 0700);
  JpegEncoder *enc = jpegenc_new();
  uint8_t rgb[80 * 80 * 3];
  for (int split = 0; split < 2; split++) {
    int n = split ? N_VAL : N_TRAIN;
    ShardMeta m = {0, CLASSES, 0, 0, split ? "val" : "train", "test", NULL};
    ShardWriter *w = NULL;
    for (int i = 0; i < n; i++) {
      if (i == 0 || (!split && i == 40)) {
        char path[400];
        if (w) shard_writer_close(w);
        snprintf(path, sizeof path, "%s/%s-%05d.h5", g_jpeg, m.split, i ? 1 : 0);
        w = shard_writer_open(path, &m);
      }
      int side = 40 + i % 30;
      synth_render_image(11, split, i, CLASSES, side, 80 - i % 17, rgb);
      size_t n_bytes;
      const uint8_t *jpeg = jpegenc_rgb(enc, rgb, side, 80 - i % 17, 90,
                                          JPEGENC_420, &n_bytes);
      int32_t label = synth_label(11, split, i, CLASSES);
      int kind = corrupt_kind(i);
      uint8_t junk[64];
      for (int k = 0; k < 64; k++) junk[k] = (uint8_t)(k * 77 + i);
      if (kind == 1) shard_writer_add(w, junk, sizeof junk, label, "junk");
      if (kind == 2) shard_writer_add(w, jpeg, n_bytes / 2, label, "half");
      if (kind == 3) shard_writer_add(w, jpeg, n_bytes, CLASSES + 5, "bad label");
      if (kind == 0) shard_writer_add(w, jpeg, n_bytes, label, "good");
      if (!split) {
        g_bad[i] = kind != 0;
        g_label[i] = label;
      }
    }
    shard_writer_close(w);
  }
  jpegenc_free(enc);
}

/* Raw 32x32 shards: pixel (y, x, c) of record i = (i*7 + y*3 + x*5 + c*50) % 256. */
static uint8_t raw_px(int i, int y, int x, int c) {
  return (uint8_t)((i * 7 + y * 3 + x * 5 + c * 50) % 256);
}

static void make_raw_set(void) {
  snprintf(g_raw, sizeof g_raw, "%s/raw", g_dir);
  mkdir(g_raw, 0700);
  for (int split = 0; split < 2; split++) {
    ShardMeta m = {SHARD_RAW, 10, 32, 32, split ? "val" : "train", "test", NULL};
    char path[400];
    snprintf(path, sizeof path, "%s/%s-00000-of-00001.h5", g_raw, m.split);
    ShardWriter *w = shard_writer_open(path, &m);
    uint8_t px[32 * 32 * 3];
    for (int i = 0; i < 20; i++) {
      for (int y = 0; y < 32; y++)
        for (int x = 0; x < 32; x++)
          for (int c = 0; c < 3; c++) px[(y * 32 + x) * 3 + c] = raw_px(i, y, x, c);
      shard_writer_add(w, px, sizeof px, i % 10, "raw");
    }
    shard_writer_close(w);
  }
}

static void config_for(Config *c, const char *dir, int image_size, int workers) {
  config_defaults(c);
  c->data.source = SOURCE_SHARDS;
  snprintf(c->data.train, sizeof c->data.train, "%s", dir);
  snprintf(c->data.val, sizeof c->data.val, "%s", dir);
  c->data.image_size = image_size;
  c->data.val_resize = image_size;
  c->data.val_crop = image_size;
  c->data.workers = workers;
  c->model.num_classes = 10;
  c->train.batch_size = B;
  c->train.seed = 3;
}

typedef struct {
  int n_steps, n, n_corrupt;
  uint8_t *images;   /* all samples of the epoch in order */
  int32_t *labels;
  size_t img_bytes;
} Run;

/* Batch-ring memory filled with a pattern that differs from run to run: a
 * byte of a delivered batch that the pipeline never wrote makes two runs
 * differ, instead of matching by the luck of what malloc returned. */
static unsigned char g_poison = 0x5a;
static void *poison_alloc(void *ctx, size_t n_bytes) {
  void *p = malloc(n_bytes);
  if (p) memset(p, g_poison, n_bytes);
  g_poison = (unsigned char)(g_poison * 7 + 13);
  return p;
}
static void poison_free(void *ctx, void *ptr) { free(ptr); }

static int run(const Config *c, int split, int rank, int world, int64_t epoch, Run *r) {
  PipelineOptions o = {c, split, rank, world, poison_alloc, poison_free, NULL};
  char err[1024];
  Pipeline *p = pipeline_open(&o, err, sizeof err);
  T_CHECK(p != NULL, "pipeline_open: %s", err);
  memset(r, 0, sizeof *r);
  if (!p) return -1;
  int side = pipeline_image_h(p);
  r->img_bytes = (size_t)side * side * 3;
  r->images = malloc((size_t)(N_TRAIN + 1) * r->img_bytes);
  r->labels = malloc((N_TRAIN + 1) * sizeof(int32_t));
  pipeline_start_epoch(p, epoch, 0);
  const Batch *b;
  while ((b = pipeline_next(p)) != NULL) {
    memcpy(r->images + (size_t)r->n * r->img_bytes, b->images, (size_t)b->n * r->img_bytes);
    memcpy(r->labels + r->n, b->labels, (size_t)b->n * sizeof(int32_t));
    r->n += b->n;
    r->n_corrupt += b->n_corrupt;
    r->n_steps++;
    pipeline_release(p, b);
  }
  pipeline_close(p);
  return 0;
}

static void free_run(Run *r) {
  free(r->images);
  free(r->labels);
}

/* Expected labels of a training epoch: corrupt positions take the label of
 * the next good record in the permutation. */
static void test_corrupt_replaced_and_counted(void) {
  Config c;
  config_for(&c, g_jpeg, 32, 2);
  Run r;
  if (run(&c, SPLIT_TRAIN, 0, 1, 1, &r)) return;
  int64_t perm[N_TRAIN];
  sampler_permutation(3, 1, N_TRAIN, perm);
  int used = (N_TRAIN / B) * B, expect_corrupt = 0, label_ok = 1;
  for (int k = 0; k < used; k++) {
    int t = 0;
    while (g_bad[perm[(k + t) % N_TRAIN]]) t++;
    expect_corrupt += t > 0;
    label_ok &= r.labels[k] == g_label[perm[(k + t) % N_TRAIN]];
  }
  T_CHECK(r.n == used && r.n_steps == N_TRAIN / B, "%d samples in %d steps", r.n, r.n_steps);
  T_CHECK(expect_corrupt > 0, "the test set has no corrupt record in use");
  T_CHECK(r.n_corrupt == expect_corrupt, "n_corrupt %d, expected %d", r.n_corrupt,
          expect_corrupt);
  T_CHECK(label_ok, "labels are not those of the expected replacements");
  free_run(&r);
}

static void test_workers_and_ranks_agree(void) {
  Config c;
  config_for(&c, g_jpeg, 32, 0);
  Run ref, other;
  if (run(&c, SPLIT_TRAIN, 0, 1, 2, &ref)) return;
  c.data.workers = 3;
  if (!run(&c, SPLIT_TRAIN, 0, 1, 2, &other)) {
    T_CHECK(other.n == ref.n && !memcmp(other.images, ref.images, (size_t)ref.n * ref.img_bytes),
            "3 workers differ from 0");
    T_CHECK(other.n_corrupt == ref.n_corrupt, "corrupt counts differ");
    free_run(&other);
  }
  free_run(&ref);
  /* 2 ranks of batch 2 == 1 rank of batch 4 */
  config_for(&c, g_jpeg, 32, 1);
  if (run(&c, SPLIT_TRAIN, 0, 1, 5, &ref)) return;
  c.train.batch_size = B / 2;
  Run part[2];
  for (int rk = 0; rk < 2; rk++)
    if (run(&c, SPLIT_TRAIN, rk, 2, 5, &part[rk])) return;
  int bad = 0, corrupt = part[0].n_corrupt + part[1].n_corrupt;
  for (int k = 0; k < ref.n; k++) {
    int step = k / B, within = k % B, rk = within % 2, i = within / 2;
    int kk = step * (B / 2) + i;
    bad += memcmp(ref.images + (size_t)k * ref.img_bytes,
                  part[rk].images + (size_t)kk * ref.img_bytes, ref.img_bytes) != 0;
    bad += ref.labels[k] != part[rk].labels[kk];
  }
  T_CHECK(bad == 0 && part[0].n + part[1].n == ref.n, "%d samples differ between 2 ranks and 1",
          bad);
  T_CHECK(corrupt == ref.n_corrupt, "corrupt counts: %d on 2 ranks, %d on 1", corrupt,
          ref.n_corrupt);
  free_run(&ref);
  free_run(&part[0]);
  free_run(&part[1]);
}

static void test_eval_sees_every_record(void) {
  Config c;
  config_for(&c, g_jpeg, 32, 2);
  int total = 0;
  for (int rk = 0; rk < 2; rk++) {
    Run r;
    if (run(&c, SPLIT_VAL, rk, 2, 0, &r)) return;
    int ok = 1;
    for (int k = 0; k < r.n; k++) {
      int i = rk + 2 * k;
      if (!corrupt_kind(i)) ok &= r.labels[k] == synth_label(11, 1, i, CLASSES);
    }
    T_CHECK(ok, "rank %d: evaluation labels differ from the stored ones", rk);
    total += r.n;
    free_run(&r);
  }
  T_CHECK(total == N_VAL, "evaluation saw %d of %d", total, N_VAL);
}

static void test_raw_shards(void) {
  Config c;
  config_for(&c, g_raw, 32, 2);
  Run r;
  if (run(&c, SPLIT_VAL, 0, 1, 0, &r)) return;
  int exact = r.n == 20;
  for (int i = 0; i < r.n && exact; i++)
    for (int y = 0; y < 32; y++)
      for (int x = 0; x < 32; x++)
        for (int ch = 0; ch < 3; ch++)
          exact &= r.images[(size_t)i * r.img_bytes + (y * 32 + x) * 3 + ch] == raw_px(i, y, x, ch);
  T_CHECK(exact, "evaluation of raw shards is not the stored pixels");
  free_run(&r);
  if (run(&c, SPLIT_TRAIN, 0, 1, 0, &r)) return;
  int64_t perm[20];
  sampler_permutation(3, 0, 20, perm);
  int found_all = 1, flips = 0;
  for (int k = 0; k < r.n; k++) {
    const uint8_t *img = r.images + (size_t)k * r.img_bytes;
    int idx = (int)perm[k], found = 0;
    for (int dy = -4; dy <= 4 && !found; dy++)
      for (int dx = -4; dx <= 4 && !found; dx++)
        for (int f = 0; f < 2 && !found; f++) {
          int same = 1;
          for (int y = 0; y < 32 && same; y++)
            for (int x = 0; x < 32 && same; x++) {
              int sx = (f ? 31 - x : x) + dx, sy = y + dy;
              for (int ch = 0; ch < 3; ch++) {
                uint8_t want = sx < 0 || sy < 0 || sx > 31 || sy > 31 ? 0 : raw_px(idx, sy, sx, ch);
                same &= img[(y * 32 + x) * 3 + ch] == want;
              }
            }
          if (same) found = 1, flips += f;
        }
    found_all &= found;
  }
  T_CHECK(found_all, "a training image is not a padded shift (+ mirror) of its record");
  T_CHECK(flips > 0 && flips < r.n, "%d of %d mirrored", flips, r.n);
  free_run(&r);
}

static void test_structural_errors(void) {
  Config c;
  char err[1024];
  PipelineOptions o = {&c, SPLIT_TRAIN, 0, 1, NULL, NULL, NULL};
  config_for(&c, "/nonexistent/shards", 32, 1);
  T_CHECK(!pipeline_open(&o, err, sizeof err) && strstr(err, "data.train") &&
              strstr(err, "/nonexistent/shards"),
          "missing folder: %s", err);
  config_for(&c, g_jpeg, 32, 1);
  c.model.num_classes = 3;
  T_CHECK(!pipeline_open(&o, err, sizeof err) && strstr(err, "model.num_classes"),
          "too few classes: %s", err);
  char bad_dir[400], path[500];
  snprintf(bad_dir, sizeof bad_dir, "%s/mixed", g_dir);
  mkdir(bad_dir, 0700);
  snprintf(path, sizeof path, "%s/train-00000.h5", bad_dir);
  ShardMeta m = {SHARD_RAW, 10, 32, 32, "train", "test", NULL};
  ShardWriter *w = shard_writer_open(path, &m);
  uint8_t px[32 * 32 * 3] = {0};
  shard_writer_add(w, px, sizeof px, 0, "k");
  shard_writer_close(w);
  snprintf(path, sizeof path, "%s/train-00001.h5", bad_dir);
  FILE *f = fopen(path, "wb");
  fputs("this is not an HDF5 file", f);
  fclose(f);
  config_for(&c, bad_dir, 32, 1);
  T_CHECK(!pipeline_open(&o, err, sizeof err) && strstr(err, path), "bad shard: %s", err);
  config_for(&c, g_jpeg, 32, 1);
  c.data.val[0] = '\0';
  o.split = SPLIT_VAL;
  T_CHECK(!pipeline_open(&o, err, sizeof err) && strstr(err, "data.val"), "no val: %s", err);
}

/* ------------------------------------------------------- a damaged set */

enum { DAMAGED_N = 100, DAMAGED_FIRST = 12, DAMAGED_LAST = 89 }; /* records 12..89 are junk */

static char g_damaged[300];

static void make_damaged_set(void) {
  snprintf(g_damaged, sizeof g_damaged, "%s/damaged", g_dir);
  mkdir(g_damaged, 0700);
  JpegEncoder *enc = jpegenc_new();
  uint8_t rgb[48 * 48 * 3];
  ShardMeta m = {SHARD_JPEG, CLASSES, 0, 0, "val", "test", NULL};
  char path[400];
  snprintf(path, sizeof path, "%s/val-00000-of-00001.h5", g_damaged);
  ShardWriter *w = shard_writer_open(path, &m);
  for (int i = 0; i < DAMAGED_N; i++) {
    int32_t label = synth_label(11, 1, i, CLASSES);
    if (i >= DAMAGED_FIRST && i <= DAMAGED_LAST) {
      uint8_t junk[40];
      for (int k = 0; k < 40; k++) junk[k] = (uint8_t)(k * 31 + i);
      shard_writer_add(w, junk, sizeof junk, label, "junk");
      continue;
    }
    synth_render_image(11, 1, i, CLASSES, 48, 48, rgb);
    size_t n_bytes;
    const uint8_t *jpeg = jpegenc_rgb(enc, rgb, 48, 48, 90, JPEGENC_420, &n_bytes);
    shard_writer_add(w, jpeg, n_bytes, label, "good");
  }
  shard_writer_close(w);
  jpegenc_free(enc);
}

static void evaluate_damaged(void *arg) {
  Config c;
  config_for(&c, g_damaged, 32, *(int *)arg);
  PipelineOptions o = {&c, SPLIT_VAL, 0, 1, NULL, NULL, NULL};
  char err[1024];
  Pipeline *p = pipeline_open(&o, err, sizeof err);
  if (!p) {
    printf("pipeline_open: %s\n", err);
    return;
  }
  pipeline_start_epoch(p, 0, 0);
  const Batch *b;
  while ((b = pipeline_next(p)) != NULL) {
    printf("batch %lld\n", (long long)b->step);
    fflush(stdout);
    pipeline_release(p, b);
  }
  printf("end of epoch\n");
  pipeline_close(p);
}

static void test_damaged_set_stops(void) {
  make_damaged_set();
  char shard[400], verify[400], record[64], out[16384];
  snprintf(shard, sizeof shard, "%s/val-00000-of-00001.h5 record %d ", g_damaged, DAMAGED_FIRST);
  snprintf(verify, sizeof verify, "resnet_shards verify %s --decode", g_damaged);
  snprintf(record, sizeof record, "batch %d\n", DAMAGED_FIRST / B);
  for (int workers = 0; workers <= 3; workers += 3) {
    int st = run_in_child(evaluate_damaged, &workers, out, sizeof out);
    T_CHECK(st == RD_EXIT_USAGE, "%d workers: exit status %d:\n%s", workers, st, out);
    /* evaluation order is the record order: batches 0..2 are good, batch 3 holds record 12 */
    T_CHECK(strstr(out, "batch 2\n") && !strstr(out, record) && !strstr(out, "end of epoch"),
            "%d workers: batches before the damage, none after:\n%s", workers, out);
    char line[2048] = ""; /* the error line */
    const char *err = strstr(out, "error: ");
    if (err) snprintf(line, sizeof line, "%.*s", (int)strcspn(err, "\n"), err);
    T_CHECK(strstr(line, "data.val: ") && strstr(line, shard) && strstr(line, verify),
            "%d workers: no error line naming shard, record and verify:\n%s", workers, out);
    /* the threads were stopped first: nothing follows the error line */
    T_CHECK(err && err[strlen(line)] == '\n' && !err[strlen(line) + 1],
            "%d workers: output after the error line:\n%s", workers, out);
    T_CHECK(!strstr(out, "black image"), "a substitute image was used:\n%s", out);
  }
}

/* ----------------------------------------------- progressive scan limit */

static uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

/* A 16x16 progressive JPEG (libjpeg's simple progression: 10 scans) with
 * its first scan repeated `extra` more times -- a legal stream, only a
 * pointless one -- in malloc'ed memory. */
static uint8_t *many_scans_jpeg(int extra, size_t *n_out) {
  struct jpeg_compress_struct c;
  struct jpeg_error_mgr e;
  c.err = jpeg_std_error(&e);
  jpeg_create_compress(&c);
  unsigned char *mem = NULL;
  unsigned long size = 0;
  jpeg_mem_dest(&c, &mem, &size);
  c.image_width = c.image_height = 16;
  c.input_components = 3;
  c.in_color_space = JCS_RGB;
  jpeg_set_defaults(&c);
  jpeg_simple_progression(&c);
  jpeg_start_compress(&c, TRUE);
  uint8_t row[16 * 3];
  for (int y = 0; y < 16; y++) {
    for (int k = 0; k < 16 * 3; k++) row[k] = (uint8_t)(y * 13 + k * 5);
    JSAMPROW r = row;
    jpeg_write_scanlines(&c, &r, 1);
  }
  jpeg_finish_compress(&c);
  jpeg_destroy_compress(&c);
  size_t sos = 2; /* walk the marker segments to the first SOS */
  while (sos + 4 < size && mem[sos + 1] != 0xDA) sos += 2 + be16(mem + sos + 2);
  size_t end = sos + 2 + be16(mem + sos + 2); /* then past its entropy-coded data */
  while (end + 1 < size && !(mem[end] == 0xFF && mem[end + 1] != 0 &&
                             (mem[end + 1] < 0xD0 || mem[end + 1] > 0xD7)))
    end++;
  size_t scan = end - sos;
  uint8_t *out = malloc(size + (size_t)extra * scan);
  memcpy(out, mem, end);
  for (int k = 0; k < extra; k++) memcpy(out + end + (size_t)k * scan, mem + sos, scan);
  memcpy(out + end + (size_t)extra * scan, mem + end, size - end);
  *n_out = size + (size_t)extra * scan;
  free(mem);
  return out;
}

static void test_scan_limit(void) {
  T_CHECK(jpegdec_scans_ok(JPEGDEC_MAX_SCANS) && !jpegdec_scans_ok(JPEGDEC_MAX_SCANS + 1),
          "limit at %d scans", JPEGDEC_MAX_SCANS);
  JpegDecoder *d = jpegdec_new();
  for (int extra = JPEGDEC_MAX_SCANS - 20; extra <= JPEGDEC_MAX_SCANS; extra += 20) {
    size_t n;
    uint8_t *jpeg = many_scans_jpeg(extra, &n);
    JpegRegion r;
    int rc = jpegdec_region(d, jpeg, n, 1, 0, 0, 16, 16, &r);
    int scans = 10 + extra;
    if (scans <= JPEGDEC_MAX_SCANS)
      T_CHECK(rc == 0 && r.w == 16 && r.h == 16, "%d scans: %s", scans, jpegdec_error(d));
    else
      T_CHECK(rc == -1 && strstr(jpegdec_error(d), "more than 500 scans"), "%d scans: rc %d %s",
              scans, rc, jpegdec_error(d));
    free(jpeg);
  }
  size_t n; /* the decoder is still usable */
  uint8_t *jpeg = many_scans_jpeg(0, &n);
  JpegRegion r;
  T_CHECK(jpegdec_region(d, jpeg, n, 2, 0, 0, 8, 8, &r) == 0, "after a refusal: %s",
          jpegdec_error(d));
  free(jpeg);
  jpegdec_free(d);
}

int main(void) {
  snprintf(g_dir, sizeof g_dir, "%s/rd_test_pipe.XXXXXX",
           getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  if (!mkdtemp(g_dir)) test_skip("cannot make a temporary folder");
  make_jpeg_set();
  make_raw_set();
  TEST_RUN(test_corrupt_replaced_and_counted);
  TEST_RUN(test_workers_and_ranks_agree);
  TEST_RUN(test_eval_sees_every_record);
  TEST_RUN(test_raw_shards);
  TEST_RUN(test_structural_errors);
  TEST_RUN(test_damaged_set_stops);
  TEST_RUN(test_scan_limit);
  char cmd[400];
  snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
  if (system(cmd)) fprintf(stderr, "could not remove %s\n", g_dir);
  return test_summary();
}
