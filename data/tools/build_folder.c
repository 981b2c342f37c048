/* build_folder.c - `resnet_shards build --from imagefolder`: an ImageNet-style
 * tree to shards.
 *
 * Layout (torchvision.datasets.ImageFolder): ROOT/train/<class>/... ; the
 * class index is the position of the class folder's name in byte-sorted
 * order; files are found recursively in the order of sorted(os.walk(...))
 * then sorted names, keeping the extensions ImageFolder accepts -- so record
 * i of our train split is ImageFolder's samples[i] (unless a file had to be
 * skipped, which is reported).  Validation is ROOT/val/<class>/... with the
 * train class list, or a flat folder with a labels file: --val-labels FILE
 * (lines "file class" -- class a folder name or an integer index; a first
 * header line is ignored; ILSVRC2012's LOC_val_solution.csv works), or
 * Tiny-ImageNet's ROOT/val/images + ROOT/val/val_annotations.txt, found by
 * itself.  Files are converted by convert.h on all threads; a split is
 * written as shards balanced by bytes (split_writer.h).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/check.h"
#include "core/mem.h"
#include "data/shard.h"
#include "data/tools/convert.h"
#include "data/tools/files.h"
#include "data/tools/parallel.h"
#include "data/tools/progress.h"
#include "data/tools/shards_tool.h"
#include "data/tools/split_writer.h"

enum { CHUNK = 256, REPORT_MAX = 20 };

typedef struct {
  char *path;
  char *key;       /* path under the split folder */
  int32_t label;
  uint64_t n_bytes;
} Item;

typedef struct {
  Item *items;
  int64_t n, cap;
} ItemList;

static void push_item(ItemList *l, char *path, char *key, int32_t label) {
  if (l->n == l->cap) {
    l->cap = l->cap ? 2 * l->cap : 1024;
    l->items = mem_realloc_or_die(l->items, (size_t)l->cap * sizeof(Item), "file list");
  }
  FILE *f = fopen(path, "rb");
  uint64_t size = 0;
  if (f && !fseek(f, 0, SEEK_END)) size = (uint64_t)ftell(f);
  if (f) fclose(f);
  l->items[l->n++] = (Item){path, key, label, size};
}

static void free_items(ItemList *l) {
  for (int64_t i = 0; i < l->n; i++) {
    mem_free(l->items[i].path);
    mem_free(l->items[i].key);
  }
  mem_free(l->items);
  memset(l, 0, sizeof *l);
}

/* torchvision's IMG_EXTENSIONS, case-insensitive. */
static int has_image_extension(const char *name) {
  static const char *const ext[] = {".jpg", ".jpeg", ".png", ".ppm", ".bmp",
                                    ".pgm", ".tif",  ".tiff", ".webp", NULL};
  size_t n = strlen(name);
  for (int i = 0; ext[i]; i++) {
    size_t m = strlen(ext[i]);
    if (n < m) continue;
    int eq = 1;
    for (size_t k = 0; k < m && eq; k++) eq = tolower((unsigned char)name[n - m + k]) == ext[i][k];
    if (eq) return 1;
  }
  return 0;
}

/* dir and every folder below it (symlinks followed, as os.walk(followlinks)). */
static void collect_dirs(const char *dir, NameList *out, int depth) {
  files_push(out, dir);
  NameList subs;
  if (depth > 64 || files_list(dir, 1, &subs)) return;
  for (int i = 0; i < subs.n; i++) {
    char *sub = files_join(dir, subs.names[i]);
    collect_dirs(sub, out, depth + 1);
    mem_free(sub);
  }
  files_free(&subs);
}

/* Image files under class_dir in ImageFolder's order; keys relative to
 * split_dir. */
static void scan_class(const char *split_dir, const char *class_dir, int32_t label,
                       ItemList *items) {
  NameList dirs = {0};
  collect_dirs(class_dir, &dirs, 0);
  files_sort(&dirs);
  size_t skip = strlen(split_dir) + 1;
  for (int d = 0; d < dirs.n; d++) {
    NameList files;
    if (files_list(dirs.names[d], 0, &files)) continue;
    for (int i = 0; i < files.n; i++) {
      if (!has_image_extension(files.names[i])) continue;
      char *path = files_join(dirs.names[d], files.names[i]);
      push_item(items, path, mem_strdup_or_die(path + skip), label);
    }
    files_free(&files);
  }
  files_free(&dirs);
}

static int find_class(const NameList *classes, const char *name) {
  int lo = 0, hi = classes->n - 1;
  while (lo <= hi) {
    int mid = (lo + hi) / 2, c = strcmp(classes->names[mid], name);
    if (!c) return mid;
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid - 1;
  }
  return -1;
}

/* ROOT/<split>/<class>/...; class folders must be train classes. */
static int scan_class_folders(const char *split_dir, const NameList *classes, ItemList *items) {
  NameList dirs;
  if (files_list(split_dir, 1, &dirs)) {
    fprintf(stderr, "error: %s: %s\n", split_dir, strerror(errno));
    return -1;
  }
  for (int i = 0; i < dirs.n; i++) {
    int label = find_class(classes, dirs.names[i]);
    if (label < 0) {
      fprintf(stderr, "error: %s/%s: not a class of the train split (its folders name the "
              "classes)\n", split_dir, dirs.names[i]);
      files_free(&dirs);
      return -1;
    }
    char *class_dir = files_join(split_dir, dirs.names[i]);
    scan_class(split_dir, class_dir, label, items);
    mem_free(class_dir);
  }
  files_free(&dirs);
  return 0;
}

/* ------------------------------------------------------------ labels file */

typedef struct {
  char *file;   /* as written in the labels file */
  int label;
} LabelEntry;

typedef struct {
  LabelEntry *e;
  int n, cap;
} LabelMap;

static int cmp_entry(const void *a, const void *b) {
  return strcmp(((const LabelEntry *)a)->file, ((const LabelEntry *)b)->file);
}

static int parse_class(const NameList *classes, const char *tok) {
  int c = find_class(classes, tok);
  if (c >= 0) return c;
  char *end;
  long v = strtol(tok, &end, 10);
  return *tok && !*end && v >= 0 && v < classes->n ? (int)v : -1;
}

/* Lines "file<sep>class ..." with sep = whitespace or comma. */
static int read_labels(const char *path, const NameList *classes, LabelMap *map) {
  FILE *f = fopen(path, "r");
  if (!f) {
    fprintf(stderr, "error: --val-labels %s: %s\n", path, strerror(errno));
    return -1;
  }
  char line[8192];
  int line_no = 0;
  while (fgets(line, sizeof line, f)) {
    line_no++;
    char *save, *file = strtok_r(line, " \t,\r\n", &save);
    if (!file || file[0] == '#') continue;
    char *cls = strtok_r(NULL, " \t,\r\n", &save);
    int label = cls ? parse_class(classes, cls) : -1;
    if (label < 0 && line_no == 1) continue; /* a header */
    if (label < 0) {
      fprintf(stderr, "error: %s:%d: '%s' is neither a class folder of the train split nor a "
              "class index below %d\n", path, line_no, cls ? cls : "", classes->n);
      fclose(f);
      return -1;
    }
    if (map->n == map->cap) {
      map->cap = map->cap ? 2 * map->cap : 1024;
      map->e = mem_realloc_or_die(map->e, (size_t)map->cap * sizeof(LabelEntry), "labels");
    }
    map->e[map->n++] = (LabelEntry){mem_strdup_or_die(file), label};
  }
  fclose(f);
  qsort(map->e, (size_t)map->n, sizeof(LabelEntry), cmp_entry);
  return 0;
}

static int lookup_label(const LabelMap *map, const char *name) {
  LabelEntry key = {(char *)name, 0};
  LabelEntry *e = bsearch(&key, map->e, (size_t)map->n, sizeof(LabelEntry), cmp_entry);
  return e ? e->label : -1;
}

/* Label of a file: by its name, or its name without the extension. */
static int label_of(const LabelMap *map, const char *name) {
  int label = lookup_label(map, name);
  if (label >= 0) return label;
  char stem[4096];
  snprintf(stem, sizeof stem, "%s", name);
  char *dot = strrchr(stem, '.');
  if (dot) *dot = '\0';
  return lookup_label(map, stem);
}

static void free_labels(LabelMap *map) {
  for (int i = 0; i < map->n; i++) mem_free(map->e[i].file);
  mem_free(map->e);
}

static int scan_flat(const char *images_dir, const char *labels_path, const NameList *classes,
                     ItemList *items) {
  LabelMap map = {0};
  if (read_labels(labels_path, classes, &map)) return -1;
  NameList files;
  if (files_list(images_dir, 0, &files)) {
    fprintf(stderr, "error: %s: %s\n", images_dir, strerror(errno));
    free_labels(&map);
    return -1;
  }
  int unlabelled = 0;
  for (int i = 0; i < files.n; i++) {
    if (!has_image_extension(files.names[i])) continue;
    int label = label_of(&map, files.names[i]);
    if (label < 0) {
      if (unlabelled++ < REPORT_MAX)
        fprintf(stderr, "warning: %s/%s has no label in %s; skipped\n", images_dir,
                files.names[i], labels_path);
      continue;
    }
    push_item(items, files_join(images_dir, files.names[i]), mem_strdup_or_die(files.names[i]),
              label);
  }
  if (unlabelled) fprintf(stderr, "warning: %d unlabelled files skipped\n", unlabelled);
  files_free(&files);
  free_labels(&map);
  return 0;
}

/* Which validation layout ROOT/val has; fills items.  1 when there is no
 * validation folder, 0 done, -1 error. */
static int scan_val(const BuildOptions *o, const NameList *classes, ItemList *items) {
  char *val_dir = files_join(o->input, "val");
  char *images = files_join(val_dir, "images");
  char *tiny = files_join(val_dir, "val_annotations.txt");
  int rc;
  const char *flat_dir = files_is_dir(images) ? images : val_dir;
  if (!files_is_dir(val_dir))
    rc = 1;
  else if (o->val_labels)
    rc = scan_flat(flat_dir, o->val_labels, classes, items);
  else if (files_is_file(tiny))
    rc = scan_flat(flat_dir, tiny, classes, items);
  else
    rc = scan_class_folders(val_dir, classes, items);
  if (rc == 0 && items->n == 0) {
    fprintf(stderr, "error: %s holds no images in class folders; for a flat folder give "
            "--val-labels FILE (lines \"file class\")\n", val_dir);
    rc = -1;
  }
  mem_free(val_dir);
  mem_free(images);
  mem_free(tiny);
  return rc;
}

/* ------------------------------------------------------------ writing */

typedef struct {
  const Item *items;
  ConvResult *results;
  Converter **conv;
} Job;

static void convert_one(void *ctx, int64_t i, int thread) {
  Job *j = ctx;
  convert_file(j->conv[thread], j->items[i].path, &j->results[i]);
}

typedef struct {
  int64_t count[CONV_N_KINDS];
  int listed[CONV_N_KINDS];
} Tally;

static void tally(Tally *t, const Item *it, const ConvResult *r) {
  t->count[r->kind]++;
  if (r->kind == CONV_STORED || r->kind == CONV_GRAY || t->listed[r->kind] >= REPORT_MAX) return;
  t->listed[r->kind]++;
  printf("  %s: %s%s%s\n", it->path, convert_kind_name(r->kind), r->why[0] ? ": " : "", r->why);
}

static void report(const char *split, const Tally *t, int64_t written, uint64_t bytes,
                   int n_shards) {
  printf("%s: %lld records, %.1f MB in %d shard%s", split, (long long)written, bytes / 1e6,
         n_shards, n_shards == 1 ? "" : "s");
  for (int k = 1; k < CONV_N_KINDS; k++)
    if (t->count[k]) printf("; %lld %s", (long long)t->count[k], convert_kind_name(k));
  printf("\n");
  for (int k = CONV_SKIP_PNG; k < CONV_N_KINDS; k++)
    if (t->count[k] > t->listed[k])
      printf("  (%lld more %s not listed)\n", (long long)(t->count[k] - t->listed[k]),
             convert_kind_name(k));
}

static void write_split(const BuildOptions *o, const char *split, const ItemList *items,
                        int n_shards, const NameList *classes) {
  uint64_t *weights = mem_alloc_or_die((size_t)(items->n ? items->n : 1) * sizeof(uint64_t),
                                       "weights");
  for (int64_t i = 0; i < items->n; i++) weights[i] = items->items[i].n_bytes;
  char source[4200];
  snprintf(source, sizeof source, "imagefolder:%s", o->input);
  ShardMeta meta = {SHARD_JPEG, classes->n, 0, 0, split, source,
                    (const char *const *)classes->names};
  SplitWriter *w = split_writer_open(o->output, n_shards, &meta, items->n, weights);
  mem_free(weights);
  Job job = {0};
  job.results = mem_calloc_or_die(CHUNK, sizeof(ConvResult), "results");
  job.conv = mem_alloc_or_die((size_t)o->threads * sizeof(Converter *), "converters");
  for (int t = 0; t < o->threads; t++) job.conv[t] = convert_new(o->max_side, o->quality);
  Tally t = {{0}, {0}};
  Progress prog;
  progress_start(&prog, split, items->n);
  for (int64_t base = 0; base < items->n; base += CHUNK) {
    int64_t m = items->n - base < CHUNK ? items->n - base : CHUNK;
    job.items = items->items + base;
    parallel_for(o->threads, m, convert_one, &job);
    for (int64_t i = 0; i < m; i++) {
      const Item *it = &job.items[i];
      ConvResult *r = &job.results[i];
      split_writer_next(w, r->data, r->n_bytes, it->label, it->key);
      tally(&t, it, r);
      mem_free(r->data);
    }
    progress_update(&prog, base + m, split_writer_bytes(w));
  }
  progress_finish(&prog);
  int64_t written = split_writer_written(w);
  uint64_t bytes = split_writer_bytes(w);
  split_writer_close(w);
  report(split, &t, written, bytes, n_shards);
  for (int k = 0; k < o->threads; k++) convert_free(job.conv[k]);
  mem_free(job.conv);
  mem_free(job.results);
}

static uint64_t total_bytes(const ItemList *l) {
  uint64_t s = 0;
  for (int64_t i = 0; i < l->n; i++) s += l->items[i].n_bytes;
  return s;
}

int shards_build_imagefolder(const BuildOptions *o) {
  char *train_dir = files_join(o->input, "train");
  NameList classes;
  if (files_list(train_dir, 1, &classes) || classes.n == 0) {
    fprintf(stderr, "error: %s: no class folders (expected ROOT/train/<class>/<images>)\n",
            train_dir);
    mem_free(train_dir);
    return 2;
  }
  ItemList train = {0}, val = {0};
  for (int c = 0; c < classes.n; c++) {
    char *class_dir = files_join(train_dir, classes.names[c]);
    int64_t before = train.n;
    scan_class(train_dir, class_dir, c, &train);
    if (train.n == before) fprintf(stderr, "warning: %s has no image files\n", class_dir);
    mem_free(class_dir);
  }
  mem_free(train_dir);
  int val_rc = scan_val(o, &classes, &val);
  int rc = 0;
  if (val_rc < 0 || train.n == 0) {
    if (train.n == 0) fprintf(stderr, "error: %s/train holds no image files\n", o->input);
    rc = 2;
  } else {
    uint64_t train_bytes = total_bytes(&train), val_bytes = total_bytes(&val);
    int n_train = o->shards ? o->shards : split_default_shards(train_bytes);
    double val_share = (double)val_bytes / (train_bytes ? train_bytes : 1);
    int n_val = o->shards ? (int)(o->shards * val_share + 0.5) : split_default_shards(val_bytes);
    printf("%d classes; train %lld files (%.1f MB), val %lld files (%.1f MB)\n", classes.n,
           (long long)train.n, train_bytes / 1e6, (long long)val.n, val_bytes / 1e6);
    write_split(o, "train", &train, n_train, &classes);
    if (val_rc == 0) write_split(o, "val", &val, n_val < 1 ? 1 : n_val, &classes);
  }
  free_items(&train);
  free_items(&val);
  files_free(&classes);
  return rc;
}
