/* shard.h - reading HDF5 shards (format: docs/SHARDS.md, DESIGN.md decision 10).
 *
 * A shard is one HDF5 file: attributes format="resnet_dist.shard", version,
 * encoding ("jpeg" | "raw"), num_classes, split; /labels int32 [N]; /keys
 * (source ids) [N]; for "jpeg" the encoded files back to back in a contiguous
 * uint8 /images with /offsets uint64 [N+1]; for "raw" /pixels uint8
 * [N,H,W,3].  Opening validates all of it -- schema, version, contiguous
 * layout, offsets, file size -- and reads the small datasets once; HDF5 is not
 * used after that: records are read with pread() at the dataset's file offset
 * (H5Dget_offset), so any number of threads read without HDF5's global lock.
 *
 * A shard set is the sorted list of shards named by a folder (its
 * <split>-*.h5; when it has none of those, its *.h5 less the files of another
 * split: named train-* / val-*, or with another `split` attribute), a glob,
 * one file, or a shard-name prefix (DIR/train for DIR/train-*.h5); its
 * records are numbered 0..N-1 in that order.  A folder or a prefix must name
 * whole sets: files named <set>-IIIII-of-NNNNN.h5 must be there for every
 * index 0..N-1, all with the same N.  A glob or one file may name a subset.
 * Errors are one line naming the file and what would fix it.  HDF5 calls
 * happen only in shard_open / shard_list / shard_set_open (the caller's
 * thread).
 */
#ifndef RD_DATA_SHARD_H
#define RD_DATA_SHARD_H

#include <stddef.h>
#include <stdint.h>

#define SHARD_FORMAT "resnet_dist.shard"
enum { SHARD_VERSION = 1 };
typedef enum { SHARD_JPEG = 0, SHARD_RAW = 1 } ShardEncoding;

typedef struct {
  char *path;
  int fd;
  int64_t n;               /* records */
  int encoding;            /* ShardEncoding */
  int num_classes;
  int raw_h, raw_w;        /* SHARD_RAW: image size */
  uint64_t data_offset;    /* file offset of /images or /pixels */
  uint64_t data_bytes;
  uint64_t *offsets;       /* (n + 1) SHARD_JPEG: record i is [offsets[i], offsets[i+1]) */
  int32_t *labels;         /* (n) */
} Shard;

typedef struct {
  int n_shards;
  Shard *shards;
  int64_t *first;          /* (n_shards + 1) global index of each shard's first record */
  int64_t n_records;
  int encoding, num_classes, raw_h, raw_w;  /* common to all shards */
} ShardSet;

/* Opens and validates one shard file.  0, or -1 with a one-line message. */
int shard_open(Shard *s, const char *path, char *err, size_t err_len);
void shard_close(Shard *s);

/* The shard files `spec` names for `split` ("train"/"val"): sorted paths
 * (free with shard_free_paths).  0, or -1 with a message. */
int shard_list(const char *spec, const char *split, char ***paths, int *n_paths, char *err,
               size_t err_len);
void shard_free_paths(char **paths, int n_paths);

/* Among paths, the files named <set>-IIIII-of-NNNNN.h5 (other names are not
 * looked at): for every <set>, all of 0..N-1 with one N.  0, or -1 with a
 * message naming `where` and a missing file. */
int shard_check_complete(const char *where, char *const *paths, int n_paths, char *err,
                         size_t err_len);

int shard_set_open(ShardSet *set, const char *spec, const char *split, char *err,
                   size_t err_len);
void shard_set_close(ShardSet *set);

/* The shard holding global record `index`, and the record's index in it. */
const Shard *shard_set_locate(const ShardSet *set, int64_t index, int64_t *local);

/* Bytes of record i. */
size_t shard_record_bytes(const Shard *s, int64_t i);

/* Reads record i into dst (shard_record_bytes bytes).  0, or -1 (I/O error,
 * errno set). */
int shard_read(const Shard *s, int64_t i, uint8_t *dst);

/* For tools (HDF5, caller's thread): the strings of dataset `name` (/keys,
 * /classes) of a shard file, and its string attribute `attr` (e.g. split).
 * 0, or -1 when missing or unreadable. */
int shard_read_strings(const char *path, const char *name, char ***strings, int64_t *n);
void shard_free_strings(char **strings, int64_t n);
int shard_read_attr(const char *path, const char *attr, char *out, size_t out_len);

#endif
