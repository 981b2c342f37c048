/* shard_writer.c - stage records, then write the HDF5 shard atomically; see
 * shard_writer.h.  Attribute strings are fixed-length UTF-8 (h5py reads them
 * as bytes); /keys and /classes are variable-length strings.
 *
 * The temporary files of open writers are listed in fixed slots (no memory
 * is freed under a reader), so an exit handler and a signal handler can
 * remove them. */
#include "data/shard_writer.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hdf5.h>

#include "core/check_h5.h"
#include "core/mem.h"
#include "data/shard.h"

enum { COPY_CHUNK_BYTES = 16 << 20, MAX_LIVE = 16, TEMP_PATH_MAX = 4352 };

/* ------------------------------------------------ temporary files */

typedef struct {
  atomic_int state;                     /* 0 free, 1 being filled, 2 listed */
  char tmp[TEMP_PATH_MAX], stage[TEMP_PATH_MAX];
} LiveTemps;

static LiveTemps g_live[MAX_LIVE];
static atomic_int g_exit_handler;

/* Async-signal-safe: unlink only. */
void shard_writer_remove_temp_files(void) {
  for (int k = 0; k < MAX_LIVE; k++) {
    if (atomic_load(&g_live[k].state) != 2) continue;
    unlink(g_live[k].stage);
    unlink(g_live[k].tmp);
  }
}

static void exit_handler(void) { shard_writer_remove_temp_files(); }

static void on_signal(int sig) {
  shard_writer_remove_temp_files();
  signal(sig, SIG_DFL);
  raise(sig);
}

void shard_writer_cleanup_on_signals(void) {
  static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
  for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
    struct sigaction old, sa;
    if (sigaction(sigs[i], NULL, &old) || old.sa_handler != SIG_DFL) continue; /* nohup &c. */
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(sigs[i], &sa, NULL);
  }
}

/* Lists the writer's temporary files (slot index, or -1 when all are taken:
 * then they are only removed by the next build's clean-up). */
static int list_temps(const char *tmp, const char *stage) {
  if (!atomic_exchange(&g_exit_handler, 1)) atexit(exit_handler);
  if (strlen(tmp) >= TEMP_PATH_MAX || strlen(stage) >= TEMP_PATH_MAX) return -1;
  for (int k = 0; k < MAX_LIVE; k++) {
    int expect = 0;
    if (!atomic_compare_exchange_strong(&g_live[k].state, &expect, 1)) continue;
    snprintf(g_live[k].tmp, sizeof g_live[k].tmp, "%s", tmp);
    snprintf(g_live[k].stage, sizeof g_live[k].stage, "%s", stage);
    atomic_store(&g_live[k].state, 2);
    return k;
  }
  return -1;
}

static void unlist_temps(int k) {
  if (k >= 0) atomic_store(&g_live[k].state, 0);
}

struct ShardWriter {
  char *path, *tmp_path, *stage_path;
  ShardMeta meta;
  char **class_names;     /* (num_classes) copies, or NULL */
  FILE *stage;            /* record bytes, back to back */
  int64_t n, cap;
  uint64_t *offsets;      /* (cap + 1) */
  int32_t *labels;        /* (cap) */
  char **keys;            /* (cap) */
  int live;               /* slot in g_live, or -1 */
};

static char *join(const char *a, const char *b) {
  size_t n = strlen(a) + strlen(b) + 1;
  char *s = mem_alloc_or_die(n, "path");
  snprintf(s, n, "%s%s", a, b);
  return s;
}

ShardWriter *shard_writer_open(const char *path, const ShardMeta *meta) {
  ShardWriter *w = mem_calloc_or_die(1, sizeof *w, "shard writer");
  w->path = mem_strdup_or_die(path);
  w->tmp_path = join(path, ".tmp");
  w->stage_path = join(path, ".records.tmp");
  w->meta = *meta;
  w->meta.split = mem_strdup_or_die(meta->split);
  w->meta.source = mem_strdup_or_die(meta->source ? meta->source : "");
  if (meta->class_names) {
    w->class_names = mem_alloc_or_die((size_t)meta->num_classes * sizeof(char *), "classes");
    for (int c = 0; c < meta->num_classes; c++)
      w->class_names[c] = mem_strdup_or_die(meta->class_names[c]);
  }
  w->stage = fopen(w->stage_path, "w+b");
  if (!w->stage) core_user_error("cannot write %s: %s", w->stage_path, strerror(errno));
  w->live = list_temps(w->tmp_path, w->stage_path);
  w->offsets = mem_calloc_or_die(1, sizeof(uint64_t), "shard offsets");
  return w;
}

static void grow(ShardWriter *w) {
  w->cap = w->cap ? 2 * w->cap : 1024;
  w->offsets = mem_realloc_or_die(w->offsets, (size_t)(w->cap + 1) * sizeof(uint64_t), "offsets");
  w->labels = mem_realloc_or_die(w->labels, (size_t)w->cap * sizeof(int32_t), "labels");
  w->keys = mem_realloc_or_die(w->keys, (size_t)w->cap * sizeof(char *), "keys");
}

void shard_writer_add(ShardWriter *w, const uint8_t *data, size_t n_bytes, int32_t label,
                      const char *key) {
  if (w->n == w->cap) grow(w);
  if (n_bytes && fwrite(data, 1, n_bytes, w->stage) != n_bytes)
    FATAL("writing %s: %s", w->stage_path, strerror(errno));
  w->labels[w->n] = label;
  w->keys[w->n] = mem_strdup_or_die(key);
  w->offsets[w->n + 1] = w->offsets[w->n] + n_bytes;
  w->n++;
}

int64_t shard_writer_count(const ShardWriter *w) { return w->n; }
uint64_t shard_writer_bytes(const ShardWriter *w) { return w->offsets[w->n]; }

/* ------------------------------------------------------------- HDF5 */

static hid_t vlen_str_type(void) {
  hid_t t = H5Tcopy(H5T_C_S1);
  H5_CHECK(t);
  H5_CHECK(H5Tset_size(t, H5T_VARIABLE));
  H5_CHECK(H5Tset_cset(t, H5T_CSET_UTF8));
  return t;
}

/* Fixed-length: reading it never touches HDF5's global heap (whose parser
 * in libhdf5 1.10 overruns buffers on a damaged file; see shard.c). */
static void attr_str(hid_t f, const char *name, const char *value) {
  hid_t t = H5Tcopy(H5T_C_S1), sp = H5Screate(H5S_SCALAR);
  H5_CHECK(t);
  H5_CHECK(H5Tset_size(t, strlen(value) + 1));
  H5_CHECK(H5Tset_cset(t, H5T_CSET_UTF8));
  hid_t a = H5Acreate2(f, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
  H5_CHECK(a);
  H5_CHECK(H5Awrite(a, t, value));
  H5Aclose(a);
  H5Sclose(sp);
  H5Tclose(t);
}

static void attr_int(hid_t f, const char *name, long long value) {
  hid_t sp = H5Screate(H5S_SCALAR);
  hid_t a = H5Acreate2(f, name, H5T_STD_I64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
  H5_CHECK(a);
  H5_CHECK(H5Awrite(a, H5T_NATIVE_LLONG, &value));
  H5Aclose(a);
  H5Sclose(sp);
}

/* A dataset written from memory in one call. */
static void write_dataset(hid_t f, const char *name, hid_t file_type, hid_t mem_type,
                          hsize_t n, const void *data) {
  hid_t sp = H5Screate_simple(1, &n, NULL);
  hid_t d = H5Dcreate2(f, name, file_type, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  H5_CHECK(d);
  if (n) H5_CHECK(H5Dwrite(d, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data));
  H5Dclose(d);
  H5Sclose(sp);
}

static void write_strings(hid_t f, const char *name, char *const *s, hsize_t n) {
  hid_t t = vlen_str_type();
  write_dataset(f, name, t, t, n, s);
  H5Tclose(t);
}

/* The staged bytes into a contiguous uint8 dataset of `rank` dims, in
 * COPY_CHUNK_BYTES pieces through a 1-D view of its elements. */
static void write_bulk(ShardWriter *w, hid_t f, const char *name, int rank,
                       const hsize_t *dims) {
  hid_t sp = H5Screate_simple(rank, dims, NULL);
  hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  H5_CHECK(H5Pset_layout(dcpl, H5D_CONTIGUOUS));
  H5_CHECK(H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY));
  H5_CHECK(H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER));
  hid_t d = H5Dcreate2(f, name, H5T_STD_U8LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  H5_CHECK(d);
  hsize_t total = shard_writer_bytes(w);
  hid_t flat = H5Screate_simple(1, &total, NULL);
  uint8_t *buf = mem_alloc_or_die(COPY_CHUNK_BYTES, "shard copy buffer");
  if (fseek(w->stage, 0, SEEK_SET)) FATAL("%s: %s", w->stage_path, strerror(errno));
  for (hsize_t at = 0; at < total;) {
    hsize_t n = total - at < COPY_CHUNK_BYTES ? total - at : COPY_CHUNK_BYTES;
    if (fread(buf, 1, n, w->stage) != n) FATAL("reading %s: %s", w->stage_path, strerror(errno));
    hid_t mem = H5Screate_simple(1, &n, NULL);
    H5_CHECK(H5Sselect_hyperslab(flat, H5S_SELECT_SET, &at, NULL, &n, NULL));
    H5_CHECK(H5Dwrite(d, H5T_NATIVE_UINT8, mem, flat, H5P_DEFAULT, buf));
    H5Sclose(mem);
    at += n;
  }
  mem_free(buf);
  H5Sclose(flat);
  H5Dclose(d);
  H5Pclose(dcpl);
  H5Sclose(sp);
}

static void write_file(ShardWriter *w) {
  hid_t f = H5Fcreate(w->tmp_path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (f < 0) core_user_error("cannot create %s: %s", w->tmp_path, core_h5_last_error());
  const ShardMeta *m = &w->meta;
  attr_str(f, "format", SHARD_FORMAT);
  attr_int(f, "version", SHARD_VERSION);
  attr_str(f, "encoding", m->encoding == SHARD_RAW ? "raw" : "jpeg");
  attr_int(f, "num_classes", m->num_classes);
  attr_str(f, "split", m->split);
  attr_str(f, "source", m->source);
  attr_int(f, "num_records", w->n);
  write_dataset(f, "labels", H5T_STD_I32LE, H5T_NATIVE_INT32, (hsize_t)w->n, w->labels);
  write_strings(f, "keys", w->keys, (hsize_t)w->n);
  if (w->class_names) write_strings(f, "classes", w->class_names, (hsize_t)m->num_classes);
  if (m->encoding == SHARD_RAW) {
    hsize_t dims[4] = {(hsize_t)w->n, (hsize_t)m->raw_h, (hsize_t)m->raw_w, 3};
    write_bulk(w, f, "pixels", 4, dims);
  } else {
    write_dataset(f, "offsets", H5T_STD_U64LE, H5T_NATIVE_UINT64, (hsize_t)w->n + 1,
                  w->offsets);
    hsize_t dims[1] = {shard_writer_bytes(w)};
    write_bulk(w, f, "images", 1, dims);
  }
  H5_CHECK(H5Fclose(f));
}

/* fsync of the folder holding `path`, so that a rename in it is durable
 * (file systems that cannot sync a folder say EINVAL: nothing to do). */
static void sync_folder(const char *path) {
  const char *slash = strrchr(path, '/');
  char dir[TEMP_PATH_MAX];
  if (!slash)
    snprintf(dir, sizeof dir, ".");
  else
    snprintf(dir, sizeof dir, "%.*s", slash == path ? 1 : (int)(slash - path), path);
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) FATAL("open %s: %s", dir, strerror(errno));
  if (fsync(fd) && errno != EINVAL && errno != EROFS) FATAL("fsync %s: %s", dir, strerror(errno));
  close(fd);
}

static void sync_and_rename(const char *from, const char *to) {
  int fd = open(from, O_RDONLY | O_CLOEXEC);
  if (fd < 0 || fsync(fd)) FATAL("fsync %s: %s", from, strerror(errno));
  close(fd);
  if (rename(from, to)) FATAL("rename %s -> %s: %s", from, to, strerror(errno));
  sync_folder(to);
}

void shard_writer_close(ShardWriter *w) {
  if (fflush(w->stage)) FATAL("writing %s: %s", w->stage_path, strerror(errno));
  write_file(w);
  fclose(w->stage);
  unlink(w->stage_path);
  sync_and_rename(w->tmp_path, w->path);
  unlist_temps(w->live);
  for (int64_t i = 0; i < w->n; i++) mem_free(w->keys[i]);
  if (w->class_names)
    for (int c = 0; c < w->meta.num_classes; c++) mem_free(w->class_names[c]);
  mem_free(w->class_names);
  mem_free((char *)w->meta.split);
  mem_free((char *)w->meta.source);
  mem_free(w->keys);
  mem_free(w->labels);
  mem_free(w->offsets);
  mem_free(w->path);
  mem_free(w->tmp_path);
  mem_free(w->stage_path);
  mem_free(w);
}
