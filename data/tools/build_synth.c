/* build_synth.c - `resnet_shards synth`: a deterministic, learnable JPEG
 * classification set (synth.h) as shards, for tests, demos and benchmarks.
 * Sample i of a split: label and look from (seed, split, i), size from
 * synth_image_size, encoded at --quality; the same options give the same
 * bytes on any machine with the same libjpeg-turbo. */
#include <stdio.h>
#include <string.h>

#include "core/mem.h"
#include "data/jpegenc.h"
#include "data/pipeline.h"
#include "data/shard.h"
#include "data/synth.h"
#include "data/tools/files.h"
#include "data/tools/parallel.h"
#include "data/tools/progress.h"
#include "data/tools/shards_tool.h"
#include "data/tools/split_writer.h"

enum { CHUNK = 256 };

typedef struct {
  const SynthOptions *o;
  int split;
  int64_t base;
  JpegEncoder **enc;
  uint8_t **rgb;           /* per thread */
  size_t *rgb_cap;
  uint8_t *jpeg[CHUNK];    /* per item */
  size_t n_bytes[CHUNK];
} Job;

static void make_one(void *ctx, int64_t i, int thread) {
  Job *j = ctx;
  int64_t index = j->base + i;
  int w, h;
  synth_image_size(j->o->seed, j->split, index, j->o->min_side, j->o->max_side, &w, &h);
  size_t need = (size_t)w * h * 3;
  if (need > j->rgb_cap[thread]) {
    mem_free(j->rgb[thread]);
    j->rgb[thread] = mem_alloc_or_die(need, "synthetic image");
    j->rgb_cap[thread] = need;
  }
  synth_render_image(j->o->seed, j->split, index, j->o->classes, w, h, j->rgb[thread]);
  size_t n;
  const uint8_t *jpeg = jpegenc_rgb(j->enc[thread], j->rgb[thread], w, h, j->o->quality,
                                    JPEGENC_420, &n);
  j->jpeg[i] = mem_alloc_or_die(n, "synthetic JPEG");
  memcpy(j->jpeg[i], jpeg, n);
  j->n_bytes[i] = n;
}

static void write_split(const SynthOptions *o, int split, int64_t n, NameList *classes) {
  const char *name = split == SPLIT_TRAIN ? "train" : "val";
  char source[128];
  snprintf(source, sizeof source, "synth:seed=%llu", (unsigned long long)o->seed);
  ShardMeta meta = {SHARD_JPEG, o->classes, 0, 0, name, source,
                    (const char *const *)classes->names};
  int n_shards = split == SPLIT_TRAIN ? o->shards : 1;
  SplitWriter *w = split_writer_open(o->output, n_shards, &meta, n, NULL);
  Job job = {.o = o, .split = split};
  job.enc = mem_alloc_or_die((size_t)o->threads * sizeof(JpegEncoder *), "encoders");
  job.rgb = mem_calloc_or_die((size_t)o->threads, sizeof(uint8_t *), "buffers");
  job.rgb_cap = mem_calloc_or_die((size_t)o->threads, sizeof(size_t), "buffers");
  for (int t = 0; t < o->threads; t++) job.enc[t] = jpegenc_new();
  Progress prog;
  progress_start(&prog, name, n);
  for (job.base = 0; job.base < n; job.base += CHUNK) {
    int64_t m = n - job.base < CHUNK ? n - job.base : CHUNK;
    parallel_for(o->threads, m, make_one, &job);
    for (int64_t i = 0; i < m; i++) {
      int64_t index = job.base + i;
      char key[64];
      snprintf(key, sizeof key, "synth/%s/%lld", name, (long long)index);
      split_writer_next(w, job.jpeg[i], job.n_bytes[i],
                        synth_label(o->seed, split, index, o->classes), key);
      mem_free(job.jpeg[i]);
    }
    progress_update(&prog, job.base + m, split_writer_bytes(w));
  }
  progress_finish(&prog);
  printf("%s: %lld synthetic JPEGs, %.1f MB in %d shard%s\n", name, (long long)n,
         split_writer_bytes(w) / 1e6, n_shards, n_shards == 1 ? "" : "s");
  split_writer_close(w);
  for (int t = 0; t < o->threads; t++) {
    jpegenc_free(job.enc[t]);
    mem_free(job.rgb[t]);
  }
  mem_free(job.enc);
  mem_free(job.rgb);
  mem_free(job.rgb_cap);
}

int shards_synth(const SynthOptions *o) {
  NameList classes = {0};
  for (int c = 0; c < o->classes; c++) {
    char name[32];
    snprintf(name, sizeof name, "class_%03d", c);
    files_push(&classes, name);
  }
  write_split(o, SPLIT_TRAIN, o->n_train, &classes);
  if (o->n_val > 0) write_split(o, SPLIT_VAL, o->n_val, &classes);
  files_free(&classes);
  return 0;
}
