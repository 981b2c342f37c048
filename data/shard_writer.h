/* shard_writer.h - writing one shard file (format: docs/SHARDS.md).
 *
 * Records are appended in order; their bytes are staged in a temporary file
 * next to the shard (so memory stays bounded whatever the shard size), and
 * shard_writer_close writes the HDF5 file under a temporary name -- /images
 * (or /pixels) with the contiguous layout, allocated up front so it has a
 * file offset -- then fsyncs and renames it into place.  A shard therefore
 * exists complete or not at all.  I/O failures are fatal (they are not the
 * data's fault); a folder that cannot be written is a user error.
 *
 * Temporary files are <shard>.tmp and <shard>.records.tmp.  Those of open
 * writers are removed when the process exits before closing them (an exit
 * handler: fatal and user errors end in exit()) and, after
 * shard_writer_cleanup_on_signals, on SIGINT / SIGTERM / SIGHUP.  A process
 * killed outright leaves them; resnet_shards removes such leftovers of its
 * own naming pattern when it starts writing into the folder again.
 */
#ifndef RD_DATA_SHARD_WRITER_H
#define RD_DATA_SHARD_WRITER_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
  int encoding;                   /* ShardEncoding */
  int num_classes;
  int raw_h, raw_w;               /* SHARD_RAW */
  const char *split;              /* "train" / "val" */
  const char *source;             /* e.g. "imagefolder:/data/imagenet" */
  const char *const *class_names; /* (num_classes) or NULL: written as /classes */
} ShardMeta;

typedef struct ShardWriter ShardWriter;

ShardWriter *shard_writer_open(const char *path, const ShardMeta *meta);

/* Appends one record: encoded file bytes (jpeg) or (raw_h, raw_w, 3) pixels. */
void shard_writer_add(ShardWriter *w, const uint8_t *data, size_t n_bytes, int32_t label,
                      const char *key);

int64_t shard_writer_count(const ShardWriter *w);
uint64_t shard_writer_bytes(const ShardWriter *w);

/* Writes the shard and frees the writer. */
void shard_writer_close(ShardWriter *w);

/* Removes the temporary files of every open writer (async-signal-safe). */
void shard_writer_remove_temp_files(void);

/* Installs handlers that remove them and then die of the signal, for
 * SIGINT, SIGTERM and SIGHUP where those have their default action. */
void shard_writer_cleanup_on_signals(void);

#endif
