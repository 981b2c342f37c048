/* build_cifar.c - `resnet_shards build --from cifar10`: the CIFAR-10 binary
 * version (https://www.cs.toronto.edu/~kriz/cifar.html) to raw shards.
 * data_batch_1..5.bin -> train (50000), test_batch.bin -> val (10000); each
 * record is 1 label byte and 3072 pixel bytes: the R, G, B planes of a 32x32
 * image, rows top to bottom.  Stored as /pixels [N, 32, 32, 3] (HWC).  Class
 * names come from batches.meta.txt when it is there.  Every batch file must
 * hold exactly 10000 records with labels 0..9; anything else (a truncated
 * download, CIFAR-100's binaries) is refused with one line naming the file
 * and record. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/mem.h"
#include "data/shard.h"
#include "data/tools/files.h"
#include "data/tools/progress.h"
#include "data/tools/shards_tool.h"
#include "data/tools/split_writer.h"

enum {
  SIDE = 32, PLANE = SIDE * SIDE, RECORD = 1 + 3 * PLANE, N_CLASSES = 10,
  PER_FILE = 10000,  /* records in each CIFAR-10 batch file */
  N_TRAIN_FILES = 5, N_FILES = 6,
};

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

/* One batch file, checked: PER_FILE records with labels 0..9.  Its bytes, or
 * NULL after one line naming the file (and record) and what is wrong. */
static uint8_t *read_batch(const char *dir, const char *file) {
  char *path = files_join(dir, file);
  size_t n;
  uint8_t *d = files_read(path, &n);
  char why[256] = "";
  if (!d) {
    snprintf(why, sizeof why, "%s", strerror(errno));
  } else if (n != (size_t)PER_FILE * RECORD) {
    snprintf(why, sizeof why, "%zu bytes, but a CIFAR-10 batch file holds %d records of %d bytes "
             "(%d bytes): a partial download? fetch cifar-10-binary.tar.gz again", n, PER_FILE,
             RECORD, PER_FILE * RECORD);
  } else {
    for (int r = 0; r < PER_FILE && !why[0]; r++)
      if (d[(size_t)r * RECORD] >= N_CLASSES)
        snprintf(why, sizeof why, "record %d has label %d, CIFAR-10 labels are 0..%d: not a "
                 "CIFAR-10 batch file, or a damaged one (fetch cifar-10-binary.tar.gz again)", r,
                 d[(size_t)r * RECORD], N_CLASSES - 1);
  }
  if (why[0]) {
    fprintf(stderr, "error: %s: %s\n", path, why);
    mem_free(d);
    d = NULL;
  }
  mem_free(path);
  return d;
}

static void write_split(const BuildOptions *o, const char *split, const char *const *files,
                        uint8_t *const *batches, int n_files, int n_shards,
                        const NameList *names) {
  int64_t n = (int64_t)n_files * PER_FILE;
  char source[4200];
  snprintf(source, sizeof source, "cifar10:%s", o->input);
  ShardMeta meta = {SHARD_RAW, N_CLASSES, SIDE, SIDE, split, source,
                    (const char *const *)names->names};
  SplitWriter *w = split_writer_open(o->output, n_shards, &meta, n, NULL);
  uint8_t hwc[3 * PLANE];
  Progress prog;
  progress_start(&prog, split, n);
  for (int64_t i = 0; i < n; i++) {
    int file = (int)(i / PER_FILE), r = (int)(i % PER_FILE);
    const uint8_t *rec = batches[file] + (size_t)r * RECORD;
    for (int p = 0; p < PLANE; p++)
      for (int c = 0; c < 3; c++) hwc[3 * p + c] = rec[1 + c * PLANE + p];
    char key[128];
    snprintf(key, sizeof key, "%s:%d", files[file], r);
    split_writer_next(w, hwc, sizeof hwc, rec[0], key);
    if (i % 1000 == 999) progress_update(&prog, i + 1, split_writer_bytes(w));
  }
  progress_update(&prog, n, split_writer_bytes(w));
  progress_finish(&prog);
  printf("%s: %lld images 32x32 in %d shard%s\n", split, (long long)n, n_shards,
         n_shards == 1 ? "" : "s");
  split_writer_close(w);
}

int shards_build_cifar10(const BuildOptions *o) {
  static const char *const files[N_FILES] = {"data_batch_1.bin", "data_batch_2.bin",
                                             "data_batch_3.bin", "data_batch_4.bin",
                                             "data_batch_5.bin", "test_batch.bin"};
  uint8_t *batches[N_FILES];
  int ok = 1;
  for (int i = 0; i < N_FILES; i++) ok &= (batches[i] = read_batch(o->input, files[i])) != NULL;
  if (ok) { /* every file is checked before anything is written */
    NameList names;
    class_names(o->input, &names);
    write_split(o, "train", files, batches, N_TRAIN_FILES, o->shards ? o->shards : 1, &names);
    write_split(o, "val", files + N_TRAIN_FILES, batches + N_TRAIN_FILES, 1, 1, &names);
    files_free(&names);
  }
  for (int i = 0; i < N_FILES; i++) mem_free(batches[i]);
  return ok ? 0 : 2;
}
