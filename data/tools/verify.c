/* verify.c - `resnet_shards verify DIR [--decode]` and `resnet_shards info DIR`.
 *
 * verify opens every shard with the reader's own validation (schema, version,
 * contiguous layout, offsets, file size), then checks every record's label
 * range and size, and with --decode decodes every image completely on all
 * threads.  Each problem is one line naming the shard file, the record index
 * and its key (the first MAX_LISTED of the run; the rest are counted).  A
 * folder's shard sets must be complete (every <set>-IIIII-of-NNNNN.h5, as
 * the pipeline requires).  Exit status 2 if anything is wrong.
 *
 * info prints, per split, shards / records / bytes / format version /
 * encoding and the number of records of each class (and a warning for an
 * incomplete set).
 */
#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <string.h>

#include "core/mem.h"
#include "data/jpegdec.h"
#include "data/shard.h"
#include "data/tools/files.h"
#include "data/tools/parallel.h"
#include "data/tools/shards_tool.h"

enum { CHUNK = 1024, MAX_LISTED = 100 };

/* Shard files named by spec: a folder (its *.h5), a glob, or one file. */
static int list_files(const char *spec, NameList *out) {
  memset(out, 0, sizeof *out);
  if (files_is_dir(spec)) {
    NameList all;
    if (files_list(spec, 0, &all)) return -1;
    for (int i = 0; i < all.n; i++) {
      size_t n = strlen(all.names[i]);
      if (n < 3 || strcmp(all.names[i] + n - 3, ".h5")) continue;
      char *path = files_join(spec, all.names[i]);
      files_push(out, path);
      mem_free(path);
    }
    files_free(&all);
    return 0;
  }
  glob_t g;
  if (glob(spec, 0, NULL, &g) == 0) {
    for (size_t i = 0; i < g.gl_pathc; i++) files_push(out, g.gl_pathv[i]);
    globfree(&g);
  }
  return 0;
}

/* ------------------------------------------------------------ verify */

typedef struct {
  const Shard *s;
  int64_t base;
  JpegDecoder **dec;
  uint8_t **buf;
  size_t *cap;
  char (*why)[160];      /* (CHUNK) "" when good */
} DecodeJob;

static void decode_one(void *ctx, int64_t i, int t) {
  DecodeJob *j = ctx;
  int64_t r = j->base + i;
  size_t n = shard_record_bytes(j->s, r);
  j->why[i][0] = '\0';
  if (n > j->cap[t]) {
    mem_free(j->buf[t]);
    j->buf[t] = mem_alloc_or_die(n, "record");
    j->cap[t] = n;
  }
  if (shard_read(j->s, r, j->buf[t])) {
    snprintf(j->why[i], sizeof j->why[i], "read error: %s", strerror(errno));
    return;
  }
  JpegInfo info;
  JpegRegion reg;
  if (jpegdec_info(j->dec[t], j->buf[t], n, &info) ||
      jpegdec_region(j->dec[t], j->buf[t], n, 1, 0, 0, info.width, info.height, &reg))
    snprintf(j->why[i], sizeof j->why[i], "undecodable: %s", jpegdec_error(j->dec[t]));
}

typedef struct {
  int64_t n_bad;         /* in this shard */
  int64_t *n_listed;     /* lines printed in the whole run */
  char **keys;
  int64_t n_keys;
} BadLog;

static void bad_record(BadLog *log, const Shard *s, int64_t r, const char *why) {
  log->n_bad++;
  if (*log->n_listed >= MAX_LISTED) return;
  ++*log->n_listed;
  if (!log->keys && shard_read_strings(s->path, "keys", &log->keys, &log->n_keys))
    log->n_keys = 0;
  printf("BAD %s: record %lld (key %s): %s\n", s->path, (long long)r,
         r < log->n_keys ? log->keys[r] : "?", why);
}

static void decode_all(const Shard *s, int threads, BadLog *log) {
  DecodeJob j = {.s = s};
  j.dec = mem_alloc_or_die((size_t)threads * sizeof(JpegDecoder *), "decoders");
  j.buf = mem_calloc_or_die((size_t)threads, sizeof(uint8_t *), "buffers");
  j.cap = mem_calloc_or_die((size_t)threads, sizeof(size_t), "buffers");
  j.why = mem_alloc_or_die(CHUNK * sizeof *j.why, "messages");
  for (int t = 0; t < threads; t++) j.dec[t] = jpegdec_new();
  for (j.base = 0; j.base < s->n; j.base += CHUNK) {
    int64_t m = s->n - j.base < CHUNK ? s->n - j.base : CHUNK;
    parallel_for(threads, m, decode_one, &j);
    for (int64_t i = 0; i < m; i++)
      if (j.why[i][0]) bad_record(log, s, j.base + i, j.why[i]);
  }
  for (int t = 0; t < threads; t++) {
    jpegdec_free(j.dec[t]);
    mem_free(j.buf[t]);
  }
  mem_free(j.dec);
  mem_free(j.buf);
  mem_free(j.cap);
  mem_free(j.why);
}

/* Problems in one shard (0 when it is good). */
static int64_t verify_shard(const char *path, int decode, int threads, int64_t *n_listed) {
  Shard s;
  char err[1024];
  if (shard_open(&s, path, err, sizeof err)) {
    printf("BAD %s\n", err);
    return 1;
  }
  BadLog log = {.n_listed = n_listed};
  for (int64_t r = 0; r < s.n; r++) {
    char why[96];
    if (s.labels[r] < 0 || s.labels[r] >= s.num_classes) {
      snprintf(why, sizeof why, "label %d outside [0, %d)", s.labels[r], s.num_classes);
      bad_record(&log, &s, r, why);
    } else if (shard_record_bytes(&s, r) == 0) {
      bad_record(&log, &s, r, "empty record");
    }
  }
  if (decode && s.encoding == SHARD_JPEG) decode_all(&s, threads, &log);
  char bad[64] = "";
  if (log.n_bad) snprintf(bad, sizeof bad, ", %lld bad", (long long)log.n_bad);
  printf("%s %s: %lld records%s, %s, %d classes%s\n", log.n_bad ? "BAD" : "ok ", path,
         (long long)s.n, bad, s.encoding == SHARD_JPEG ? "jpeg" : "raw", s.num_classes,
         decode && s.encoding == SHARD_JPEG ? ", every image decoded" : "");
  if (log.keys) shard_free_strings(log.keys, log.n_keys);
  shard_close(&s);
  return log.n_bad;
}

/* The folder's shard sets (train-*, val-*, the other files) are complete;
 * the number of incomplete ones, each reported on out after `tag`. */
static int check_sets(const char *dir, const NameList *files, FILE *out, const char *tag) {
  static const char *const prefix[] = {"train-", "val-", NULL};
  int bad = 0;
  char **sub = mem_alloc_or_die((size_t)(files->n ? files->n : 1) * sizeof(char *), "files");
  for (size_t k = 0; k < sizeof prefix / sizeof prefix[0]; k++) {
    int n = 0;
    for (int i = 0; i < files->n; i++) {
      const char *slash = strrchr(files->names[i], '/');
      const char *name = slash ? slash + 1 : files->names[i];
      int is_train = !strncmp(name, prefix[0], strlen(prefix[0]));
      int is_val = !strncmp(name, prefix[1], strlen(prefix[1]));
      if (prefix[k] ? !strncmp(name, prefix[k], strlen(prefix[k])) : !is_train && !is_val)
        sub[n++] = files->names[i];
    }
    char err[1024];
    if (shard_check_complete(dir, sub, n, err, sizeof err)) {
      fprintf(out, "%s%s\n", tag, err);
      bad++;
    }
  }
  mem_free(sub);
  return bad;
}

int shards_verify(const char *spec, int decode, int threads) {
  NameList files;
  if (list_files(spec, &files) || files.n == 0) {
    fprintf(stderr, "error: %s: no shard files (*.h5) found\n", spec);
    return 2;
  }
  int64_t bad = 0, bad_records = 0, n_listed = 0;
  if (files_is_dir(spec)) bad += check_sets(spec, &files, stdout, "BAD ");
  for (int i = 0; i < files.n; i++)
    bad_records += verify_shard(files.names[i], decode, threads, &n_listed);
  if (bad_records > n_listed)
    printf("(%lld more bad records not listed)\n", (long long)(bad_records - n_listed));
  bad += bad_records;
  printf("%d shard file%s checked: %s\n", files.n, files.n == 1 ? "" : "s",
         bad ? "PROBLEMS FOUND" : "all good");
  files_free(&files);
  return bad ? 2 : 0;
}

/* ------------------------------------------------------------ info */

typedef struct {
  char name[64];
  int n_shards, encoding, num_classes, raw_h, raw_w;
  int64_t n_records;
  uint64_t bytes;
  int64_t *per_class;    /* (num_classes) */
} SplitInfo;

enum { MAX_SPLITS = 8 };

/* The entry of split `name`, added if new; NULL when there are too many. */
static SplitInfo *find_split(SplitInfo *splits, int *n_splits, const char *name) {
  for (int i = 0; i < *n_splits; i++)
    if (!strcmp(splits[i].name, name)) return &splits[i];
  if (*n_splits == MAX_SPLITS) return NULL;
  SplitInfo *s = &splits[(*n_splits)++];
  memset(s, 0, sizeof *s);
  snprintf(s->name, sizeof s->name, "%s", name);
  return s;
}

static void add_shard(SplitInfo *si, const Shard *s) {
  if (!si->per_class) {
    si->num_classes = s->num_classes;
    si->encoding = s->encoding;
    si->raw_h = s->raw_h;
    si->raw_w = s->raw_w;
    si->per_class = mem_calloc_or_die((size_t)s->num_classes, sizeof(int64_t), "counts");
  }
  si->n_shards++;
  si->n_records += s->n;
  si->bytes += s->data_bytes;
  for (int64_t r = 0; r < s->n; r++)
    if (s->labels[r] >= 0 && s->labels[r] < si->num_classes) si->per_class[s->labels[r]]++;
}

static void print_info(SplitInfo *splits, int n_splits, char **names, int64_t n_names) {
  int max_classes = 0;
  for (int i = 0; i < n_splits; i++) {
    SplitInfo *s = &splits[i];
    printf("%-5s  %d shard%s  %lld records  %.1f MB  format %s v%d  encoding %s", s->name,
           s->n_shards, s->n_shards == 1 ? "" : "s", (long long)s->n_records, s->bytes / 1e6,
           SHARD_FORMAT, SHARD_VERSION, s->encoding == SHARD_JPEG ? "jpeg" : "raw");
    if (s->encoding == SHARD_RAW) printf(" %dx%d", s->raw_w, s->raw_h);
    printf("  %d classes\n", s->num_classes);
    if (s->num_classes > max_classes) max_classes = s->num_classes;
  }
  printf("\nclass  name                 ");
  for (int i = 0; i < n_splits; i++) printf("%10s", splits[i].name);
  printf("\n");
  for (int c = 0; c < max_classes; c++) {
    printf("%5d  %-20s ", c, c < n_names ? names[c] : "");
    for (int i = 0; i < n_splits; i++)
      printf("%10lld", c < splits[i].num_classes ? (long long)splits[i].per_class[c] : 0LL);
    printf("\n");
  }
}

int shards_info(const char *spec) {
  NameList files;
  if (list_files(spec, &files) || files.n == 0) {
    fprintf(stderr, "error: %s: no shard files (*.h5) found\n", spec);
    return 2;
  }
  if (files_is_dir(spec)) check_sets(spec, &files, stderr, "warning: ");
  SplitInfo splits[MAX_SPLITS];
  int n_splits = 0, rc = 0;
  char **names = NULL;
  int64_t n_names = 0;
  for (int i = 0; i < files.n && !rc; i++) {
    Shard s;
    char err[1024], split[64];
    if (shard_open(&s, files.names[i], err, sizeof err)) {
      fprintf(stderr, "error: %s\n", err);
      rc = 2;
      break;
    }
    if (shard_read_attr(files.names[i], "split", split, sizeof split))
      snprintf(split, sizeof split, "?");
    SplitInfo *si = find_split(splits, &n_splits, split);
    if (si) add_shard(si, &s);
    if (!names && shard_read_strings(files.names[i], "classes", &names, &n_names)) names = NULL;
    shard_close(&s);
  }
  if (!rc) print_info(splits, n_splits, names, n_names);
  for (int i = 0; i < n_splits; i++) mem_free(splits[i].per_class);
  if (names) shard_free_strings(names, n_names);
  files_free(&files);
  return rc;
}
