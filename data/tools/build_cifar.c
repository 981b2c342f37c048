/* build_cifar.c - `resnet_shards build --from cifar10`: the CIFAR-10 binary
 * version (https://www.cs.toronto.edu/~kriz/cifar.html) to raw shards.
 * data_batch_1..5.bin -> train (50000), test_batch.bin -> val (10000); each
 * record is 1 label byte and 3072 pixel bytes: the R, G, B planes of a 32x32
 * image, rows top to bottom.  Stored as /pixels [N, 32, 32, 3] (HWC).  Class
 * names come from batches.meta.txt when it is there. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/mem.h"
#include "data/shard.h"
#include "data/tools/files.h"
#include "data/tools/progress.h"
#include "data/tools/shards_tool.h"
#include "data/tools/split_writer.h"

enum { SIDE = 32, PLANE = SIDE * SIDE, RECORD = 1 + 3 * PLANE, N_CLASSES = 10, MAX_FILES = 8 };

static void class_names(const char *dir, NameList *names) {
  memset(names, 0, sizeof *names);
  char *path = files_join(dir, "batches.meta.txt");
  FILE *f = fopen(path, "r");
  mem_free(path);
  char line[256];
  while (f && names->n < N_CLASSES && fgets(line, sizeof line, f)) {
    line[strcspn(line, "\r\n")] = '\0';
    if (line[0]) files_push(names, line);
  }
  if (f) fclose(f);
  if (names->n == N_CLASSES) return;
  files_free(names);
  for (int c = 0; c < N_CLASSES; c++) {
    snprintf(line, sizeof line, "%d", c);
    files_push(names, line);
  }
}

/* Reads the batch files; 0, or -1 after printing which one is wrong. */
static int load(const char *dir, const char *const *files, int n_files, uint8_t **data,
                size_t *n_bytes, int64_t *per_file) {
  *data = NULL;
  *n_bytes = 0;
  for (int i = 0; i < n_files; i++) {
    char *path = files_join(dir, files[i]);
    size_t n;
    uint8_t *d = files_read(path, &n);
    if (!d || n % RECORD) {
      fprintf(stderr, "error: %s: %s\n", path,
              d ? "size is not a multiple of 3073 bytes (not a CIFAR-10 binary batch)"
                : strerror(errno));
      mem_free(d);
      mem_free(path);
      return -1;
    }
    *data = mem_realloc_or_die(*data, *n_bytes + n, "CIFAR batches");
    memcpy(*data + *n_bytes, d, n);
    *n_bytes += n;
    per_file[i] = (int64_t)(n / RECORD);
    mem_free(d);
    mem_free(path);
  }
  return 0;
}

static int write_split(const BuildOptions *o, const char *split, const char *const *files,
                       int n_files, int n_shards, const NameList *names) {
  uint8_t *data;
  size_t n_bytes;
  int64_t per_file[MAX_FILES];
  if (load(o->input, files, n_files, &data, &n_bytes, per_file)) return -1;
  int64_t n = (int64_t)(n_bytes / RECORD);
  char source[4200];
  snprintf(source, sizeof source, "cifar10:%s", o->input);
  ShardMeta meta = {SHARD_RAW, N_CLASSES, SIDE, SIDE, split, source,
                    (const char *const *)names->names};
  SplitWriter *w = split_writer_open(o->output, n_shards, &meta, n, NULL);
  uint8_t hwc[3 * PLANE];
  Progress prog;
  progress_start(&prog, split, n);
  int bad = 0, file = 0;
  for (int64_t i = 0, first = 0; i < n; i++) {
    while (i - first >= per_file[file]) first += per_file[file++];
    const uint8_t *rec = data + (size_t)i * RECORD;
    for (int p = 0; p < PLANE; p++)
      for (int c = 0; c < 3; c++) hwc[3 * p + c] = rec[1 + c * PLANE + p];
    char key[128];
    snprintf(key, sizeof key, "%s:%lld", files[file], (long long)(i - first));
    if (rec[0] >= N_CLASSES) bad++;
    split_writer_next(w, hwc, sizeof hwc, rec[0], key);
    if (i % 1000 == 999) progress_update(&prog, i + 1, split_writer_bytes(w));
  }
  progress_update(&prog, n, split_writer_bytes(w));
  progress_finish(&prog);
  printf("%s: %lld images 32x32 in %d shard%s%s\n", split, (long long)n, n_shards,
         n_shards == 1 ? "" : "s", bad ? " (some labels are >= 10: not CIFAR-10?)" : "");
  split_writer_close(w);
  mem_free(data);
  return 0;
}

int shards_build_cifar10(const BuildOptions *o) {
  static const char *const train[] = {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
                                      "data_batch_4.bin", "data_batch_5.bin"};
  static const char *const test[] = {"test_batch.bin"};
  NameList names;
  class_names(o->input, &names);
  int rc = write_split(o, "train", train, 5, o->shards ? o->shards : 1, &names) ||
                   write_split(o, "val", test, 1, 1, &names)
               ? 2
               : 0;
  files_free(&names);
  return rc;
}
