/* split_writer.c - see split_writer.h. */
#include "data/tools/split_writer.h"

#include <stdio.h>
#include <string.h>

#include "core/check.h"
#include "core/mem.h"

struct SplitWriter {
  char *out_dir;
  ShardMeta meta;
  int n_shards, cur;      /* cur: index of the open shard, -1 before the first */
  int64_t *first;         /* (n_shards + 1) first planned record of each shard */
  int64_t n_records, next;
  int64_t written;
  uint64_t bytes;
  ShardWriter *open;
};

int split_default_shards(uint64_t total_bytes) {
  uint64_t n = (total_bytes + (256ull << 20) - 1) / (256ull << 20);
  return n < 1 ? 1 : n > 99999 ? 99999 : (int)n;
}

/* first[k] = first record whose cumulative start * N >= k * total. */
static void plan(SplitWriter *w, const uint64_t *weights) {
  unsigned __int128 total = 0, cum = 0;
  for (int64_t i = 0; i < w->n_records; i++) total += weights ? weights[i] : 1;
  int k = 0;
  for (int64_t i = 0; i < w->n_records; i++) {
    while (k < w->n_shards && cum * (unsigned)w->n_shards >= total * (unsigned)k) w->first[k++] = i;
    cum += weights ? weights[i] : 1;
  }
  while (k <= w->n_shards) w->first[k++] = w->n_records;
}

SplitWriter *split_writer_open(const char *out_dir, int n_shards, const ShardMeta *meta,
                               int64_t n_records, const uint64_t *weights) {
  CHECK(n_shards >= 1, "%d shards", n_shards);
  SplitWriter *w = mem_calloc_or_die(1, sizeof *w, "split writer");
  w->out_dir = mem_strdup_or_die(out_dir);
  w->meta = *meta;
  w->n_shards = n_shards;
  w->cur = -1;
  w->n_records = n_records;
  w->first = mem_alloc_or_die((size_t)(n_shards + 1) * sizeof(int64_t), "shard plan");
  plan(w, weights);
  return w;
}

static void open_shard(SplitWriter *w, int k) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s-%05d-of-%05d.h5", w->out_dir, w->meta.split, k,
           w->n_shards);
  w->open = shard_writer_open(path, &w->meta);
  w->cur = k;
}

static void close_shard(SplitWriter *w) {
  if (!w->open) return;
  w->bytes += shard_writer_bytes(w->open);
  w->written += shard_writer_count(w->open);
  shard_writer_close(w->open);
  w->open = NULL;
}

/* Opens shards up to the one planned record `i` belongs to. */
static void advance_to(SplitWriter *w, int64_t i) {
  while (w->cur < 0 || (w->cur + 1 < w->n_shards && i >= w->first[w->cur + 1])) {
    close_shard(w);
    open_shard(w, w->cur + 1);
  }
}

void split_writer_next(SplitWriter *w, const uint8_t *data, size_t n_bytes, int32_t label,
                       const char *key) {
  CHECK(w->next < w->n_records, "more records than planned (%lld)", (long long)w->n_records);
  advance_to(w, w->next++);
  if (data) shard_writer_add(w->open, data, n_bytes, label, key);
}

int64_t split_writer_written(const SplitWriter *w) {
  return w->written + (w->open ? shard_writer_count(w->open) : 0);
}

uint64_t split_writer_bytes(const SplitWriter *w) {
  return w->bytes + (w->open ? shard_writer_bytes(w->open) : 0);
}

void split_writer_close(SplitWriter *w) {
  advance_to(w, w->n_records);
  while (w->cur + 1 < w->n_shards) {
    close_shard(w);
    open_shard(w, w->cur + 1);
  }
  close_shard(w);
  mem_free(w->out_dir);
  mem_free(w->first);
  mem_free(w);
}
