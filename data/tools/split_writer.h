/* split_writer.h - one split written as N shards balanced by bytes.
 *
 * The caller knows every record's approximate size up front (file sizes, or
 * 1 each for equal records); record i goes to shard k when its cumulative
 * start lies in [k/N, (k+1)/N) of the total, so shards hold contiguous runs
 * of records in order with about equal bytes.  Records dropped on the way
 * (skipped files) still move the position along.  Files are named
 * DIR/<split>-<k:05>-of-<N:05>.h5; every planned shard is written, even one
 * left empty.
 */
#ifndef RD_DATA_TOOLS_SPLIT_WRITER_H
#define RD_DATA_TOOLS_SPLIT_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include "data/shard_writer.h"

typedef struct SplitWriter SplitWriter;

/* weights (n_records) or NULL for equal weights. */
SplitWriter *split_writer_open(const char *out_dir, int n_shards, const ShardMeta *meta,
                               int64_t n_records, const uint64_t *weights);

/* The next planned record: written, or skipped (data == NULL). */
void split_writer_next(SplitWriter *w, const uint8_t *data, size_t n_bytes, int32_t label,
                       const char *key);

int64_t split_writer_written(const SplitWriter *w);
uint64_t split_writer_bytes(const SplitWriter *w);

/* Finishes every shard and frees the writer. */
void split_writer_close(SplitWriter *w);

/* Shards for `total_bytes` of records when the user gave none: ~256 MiB each. */
int split_default_shards(uint64_t total_bytes);

#endif
