/* checkpoint.c - HDF5 checkpoints: atomic write, validated read, pruning and
 * the resume=auto search; see checkpoint.h for the file layout.
 *
 * Invariants: a file appears under its final name only by rename() after its
 * data and metadata were flushed and fsync'ed; a file is accepted only if its
 * format attribute and version match, every tensor reads back, and the
 * checksums of the tensors and of the state (scalars, config text, tensor
 * names and checksums) agree.  The HDF5 library's own error printing is
 * silenced inside these functions; its innermost message goes into err.
 * Files use the HDF5 1.8+ object format, whose metadata carry checksums.
 */
#include "train/checkpoint.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hdf5.h>

#include "core/check.h"
#include "core/check_h5.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/rng.h"

static const char *const FORMAT_NAME = "resnet_dist.checkpoint";
static const char *const TMP_SUFFIX = ".h5.tmp";
enum { PATH_BYTES = 4096, MAX_LISTED = 100000 };

/* ------------------------------------------------------------- helpers */

/* Silences HDF5's automatic error printing for the duration of a call. */
typedef struct {
  H5E_auto2_t fn;
  void *data;
} H5Quiet;

static H5Quiet h5_quiet(void) {
  H5Quiet q;
  H5Eget_auto2(H5E_DEFAULT, &q.fn, &q.data);
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  return q;
}

static void h5_restore(H5Quiet q) { H5Eset_auto2(H5E_DEFAULT, q.fn, q.data); }

/* 64-bit checksum of a byte run: word-wise multiply-mix, order-dependent. */
static uint64_t data_checksum(const void *data, size_t n_bytes) {
  const unsigned char *b = data;
  uint64_t h = 0x243f6a8885a308d3ull;
  size_t i = 0;
  for (; i + 8 <= n_bytes; i += 8) {
    uint64_t w;
    memcpy(&w, b + i, 8);
    h = (h ^ rng_mix64(w)) * 0x9e3779b97f4a7c15ull;
  }
  uint64_t tail = 0;
  if (n_bytes > i) memcpy(&tail, b + i, n_bytes - i);
  h = (h ^ rng_mix64(tail ^ (uint64_t)(n_bytes - i))) * 0x9e3779b97f4a7c15ull;
  return rng_mix64(h ^ (uint64_t)n_bytes);
}

static uint64_t fnv_update(uint64_t h, const void *data, size_t n_bytes) {
  const unsigned char *p = data;
  for (size_t i = 0; i < n_bytes; i++) {
    h ^= p[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

static size_t dtype_bytes(int dtype) { return dtype == CKPT_I64 ? 8 : 4; }

/* Checksum of everything but the tensor data (which has its own). */
static uint64_t state_checksum(const CkptState *s, const uint64_t *tensor_sums) {
  uint64_t h = 0xcbf29ce484222325ull;
  int64_t ints[8] = {s->epoch, s->step_in_epoch, s->global_step,  s->samples_seen,
                     s->seed,  s->world_size,    s->global_batch, s->loss_scale_growth};
  h = fnv_update(h, ints, sizeof ints);
  h = fnv_update(h, &s->loss_scale, sizeof s->loss_scale);
  const char *cfg = s->config_text ? s->config_text : "";
  h = fnv_update(h, cfg, strlen(cfg) + 1);
  for (int i = 0; i < s->n_tensors; i++) {
    const CkptTensor *t = &s->tensors[i];
    h = fnv_update(h, t->name, strlen(t->name) + 1);
    h = fnv_update(h, &t->dtype, sizeof t->dtype);
    h = fnv_update(h, &t->ndim, sizeof t->ndim);
    h = fnv_update(h, t->shape, (size_t)t->ndim * sizeof t->shape[0]);
    h = fnv_update(h, &tensor_sums[i], sizeof tensor_sums[i]);
  }
  return h;
}

/* "ckpt-<digits>.h5" -> step; -1 for any other name. */
static int64_t parse_ckpt_name(const char *name) {
  if (strncmp(name, "ckpt-", 5) != 0) return -1;
  const char *p = name + 5;
  int64_t step = 0;
  int n_digits = 0;
  for (; *p >= '0' && *p <= '9'; p++, n_digits++) {
    if (step > (INT64_MAX - 9) / 10) return -1;
    step = step * 10 + (*p - '0');
  }
  if (n_digits < 8 || strcmp(p, ".h5") != 0) return -1;
  return step;
}

static int mkdir_p(const char *dir, char *err, size_t err_len) {
  char path[PATH_BYTES];
  if (!dir[0]) {
    core_err(err, err_len, "checkpoint directory is empty; set checkpoint.dir");
    return -1;
  }
  if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path) {
    core_err(err, err_len, "checkpoint directory name too long: '%s'", dir);
    return -1;
  }
  for (char *p = path + 1;; p++) {
    if (*p != '/' && *p != '\0') continue;
    char saved = *p;
    *p = '\0';
    if (mkdir(path, 0777) != 0 && errno != EEXIST) {
      core_err(err, err_len, "cannot create checkpoint directory '%s': %s", path,
              strerror(errno));
      return -1;
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
      core_err(err, err_len, "checkpoint directory '%s': '%s' is not a directory", dir, path);
      return -1;
    }
    *p = saved;
    if (!saved) return 0;
  }
}

static int fsync_path(const char *path, int flags, char *err, size_t err_len) {
  int fd = open(path, flags);
  if (fd < 0 || fsync(fd) != 0) {
    core_err(err, err_len, "cannot fsync '%s': %s", path, strerror(errno));
    if (fd >= 0) close(fd);
    return -1;
  }
  close(fd);
  return 0;
}

/* Checkpoint files in dir, newest (largest step) first. */
typedef struct {
  int64_t step;
  char name[64];
} Listed;

static int cmp_listed_desc(const void *a, const void *b) {
  int64_t x = ((const Listed *)a)->step, y = ((const Listed *)b)->step;
  return x < y ? 1 : x > y ? -1 : 0;
}

/* Returns the count (0 when dir does not exist), -1 on error. */
static int list_checkpoints(const char *dir, Listed **out, char *err, size_t err_len) {
  *out = NULL;
  DIR *d = opendir(dir);
  if (!d) {
    if (errno == ENOENT) return 0;
    core_err(err, err_len, "cannot read checkpoint directory '%s': %s", dir, strerror(errno));
    return -1;
  }
  int n = 0, cap = 0;
  Listed *v = NULL;
  struct dirent *e;
  while ((e = readdir(d)) != NULL && n < MAX_LISTED) {
    int64_t step = parse_ckpt_name(e->d_name);
    size_t name_len = strlen(e->d_name);
    if (step < 0 || name_len >= sizeof v->name) continue;
    if (n == cap) {
      cap = cap ? 2 * cap : 16;
      v = mem_realloc_or_die(v, (size_t)cap * sizeof *v, "checkpoint list");
    }
    v[n].step = step;
    memcpy(v[n].name, e->d_name, name_len + 1);
    n++;
  }
  closedir(d);
  if (n) qsort(v, (size_t)n, sizeof *v, cmp_listed_desc);
  *out = v;
  return n;
}

/* Removes leftovers of interrupted writes (".ckpt-*.h5.tmp"). */
static void remove_stale_temps(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return;
  struct dirent *e;
  size_t suffix_len = strlen(TMP_SUFFIX);
  while ((e = readdir(d)) != NULL) {
    size_t len = strlen(e->d_name);
    if (strncmp(e->d_name, ".ckpt-", 6) || len <= suffix_len ||
        strcmp(e->d_name + len - suffix_len, TMP_SUFFIX))
      continue;
    char path[PATH_BYTES];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    unlink(path);
  }
  closedir(d);
}

/* Keeps the newest `keep` checkpoints with a step <= written_step (the file
 * just written is one of them); files with larger steps are not ours to
 * judge and stay. */
static void prune(const char *dir, int keep, int64_t written_step) {
  Listed *v;
  int n = list_checkpoints(dir, &v, NULL, 0);
  int kept = 0;
  for (int i = 0; i < n; i++) {
    if (v[i].step > written_step || kept++ < keep) continue;
    char path[PATH_BYTES];
    snprintf(path, sizeof path, "%s/%s", dir, v[i].name);
    if (unlink(path) != 0) log_warn("cannot remove old checkpoint %s: %s", path, strerror(errno));
  }
  mem_free(v);
}

int ckpt_newest(const char *dir, char *name_out, size_t name_len, int64_t *step) {
  Listed *v;
  int n = list_checkpoints(dir, &v, NULL, 0);
  if (n > 0) {
    snprintf(name_out, name_len, "%s", v[0].name);
    *step = v[0].step;
  }
  mem_free(v);
  return n;
}

/* ---------------------------------------------------------------- write */

static int attr_write(hid_t obj, const char *name, hid_t file_type, hid_t mem_type,
                      const void *value) {
  hid_t space = H5Screate(H5S_SCALAR);
  hid_t a = space < 0 ? -1 : H5Acreate2(obj, name, file_type, space, H5P_DEFAULT, H5P_DEFAULT);
  int ok = a >= 0 && H5Awrite(a, mem_type, value) >= 0;
  if (a >= 0) H5Aclose(a);
  if (space >= 0) H5Sclose(space);
  return ok ? 0 : -1;
}

static hid_t string_type(size_t n_bytes) {
  hid_t t = H5Tcopy(H5T_C_S1);
  if (t < 0) return -1;
  if (H5Tset_size(t, n_bytes ? n_bytes : 1) < 0 || H5Tset_strpad(t, H5T_STR_NULLPAD) < 0) {
    H5Tclose(t);
    return -1;
  }
  return t;
}

static int attr_write_str(hid_t obj, const char *name, const char *s) {
  hid_t t = string_type(strlen(s));
  if (t < 0) return -1;
  int rc = attr_write(obj, name, t, t, s);
  H5Tclose(t);
  return rc;
}

static int write_config(hid_t file, const char *text) {
  size_t n = strlen(text);
  hid_t t = string_type(n);
  hid_t space = H5Screate(H5S_SCALAR);
  hid_t ds = (t < 0 || space < 0) ? -1
             : H5Dcreate2(file, "config", t, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  int ok = ds >= 0 && H5Dwrite(ds, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, n ? text : "") >= 0;
  if (ds >= 0) H5Dclose(ds);
  if (space >= 0) H5Sclose(space);
  if (t >= 0) H5Tclose(t);
  return ok ? 0 : -1;
}

static int write_tensor(hid_t group, const CkptTensor *t, uint64_t checksum) {
  hsize_t dims[4];
  for (int d = 0; d < t->ndim; d++) dims[d] = (hsize_t)t->shape[d];
  hid_t space = t->ndim ? H5Screate_simple(t->ndim, dims, NULL) : H5Screate(H5S_SCALAR);
  hid_t file_type = t->dtype == CKPT_I64 ? H5T_STD_I64LE : H5T_IEEE_F32LE;
  hid_t mem_type = t->dtype == CKPT_I64 ? H5T_NATIVE_INT64 : H5T_NATIVE_FLOAT;
  hid_t ds = space < 0 ? -1
             : H5Dcreate2(group, t->name, file_type, space, H5P_DEFAULT, H5P_DEFAULT,
                          H5P_DEFAULT);
  int ok = ds >= 0 && (t->n_elems == 0 ||
                       H5Dwrite(ds, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, t->data) >= 0);
  ok = ok && attr_write(ds, "checksum", H5T_STD_U64LE, H5T_NATIVE_UINT64, &checksum) == 0;
  if (ds >= 0) H5Dclose(ds);
  if (space >= 0) H5Sclose(space);
  return ok ? 0 : -1;
}

/* Programming errors in the state are reported like file errors. */
static int validate_state(const CkptState *s, char *err, size_t err_len) {
  if (s->n_tensors < 0 || (s->n_tensors && !s->tensors)) {
    core_err(err, err_len, "checkpoint state has %d tensors and no tensor table", s->n_tensors);
    return -1;
  }
  for (int i = 0; i < s->n_tensors; i++) {
    const CkptTensor *t = &s->tensors[i];
    size_t n = 1;
    for (int d = 0; d < t->ndim && t->ndim <= 4; d++) n *= (size_t)t->shape[d];
    const char *why = NULL;
    if (!t->name[0] || strchr(t->name, '/') || !strcmp(t->name, ".")) why = "bad name";
    else if (t->ndim < 0 || t->ndim > 4) why = "ndim outside 0..4";
    else if (t->dtype != CKPT_F32 && t->dtype != CKPT_I64) why = "dtype is not f32 or i64";
    else if (n != t->n_elems) why = "n_elems differs from the product of its shape";
    else if (n && !t->data) why = "no data";
    if (why) {
      core_err(err, err_len, "checkpoint tensor %d '%s': %s", i, t->name, why);
      return -1;
    }
  }
  return 0;
}

static int write_file(const char *path, const CkptState *s, char *err, size_t err_len) {
  uint64_t *sums = mem_alloc_or_die(((size_t)s->n_tensors + 1) * sizeof *sums, "checksums");
  for (int i = 0; i < s->n_tensors; i++)
    sums[i] = data_checksum(s->tensors[i].data, s->tensors[i].n_elems * dtype_bytes(s->tensors[i].dtype));
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_LATEST);
  hid_t file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
  H5Pclose(fapl);
  if (file < 0) {
    core_err(err, err_len, "cannot create '%s': %s", path, core_h5_last_error());
    mem_free(sums);
    return -1;
  }
  int version = CKPT_FORMAT_VERSION;
  int64_t n_tensors = s->n_tensors;
  uint64_t state_sum = state_checksum(s, sums);
  int ok = attr_write_str(file, "format", FORMAT_NAME) == 0 &&
           attr_write(file, "version", H5T_STD_I32LE, H5T_NATIVE_INT, &version) == 0 &&
           attr_write(file, "epoch", H5T_STD_I64LE, H5T_NATIVE_INT64, &s->epoch) == 0 &&
           attr_write(file, "step_in_epoch", H5T_STD_I64LE, H5T_NATIVE_INT64,
                      &s->step_in_epoch) == 0 &&
           attr_write(file, "global_step", H5T_STD_I64LE, H5T_NATIVE_INT64,
                      &s->global_step) == 0 &&
           attr_write(file, "samples_seen", H5T_STD_I64LE, H5T_NATIVE_INT64,
                      &s->samples_seen) == 0 &&
           attr_write(file, "seed", H5T_STD_I64LE, H5T_NATIVE_INT64, &s->seed) == 0 &&
           attr_write(file, "world_size", H5T_STD_I32LE, H5T_NATIVE_INT, &s->world_size) == 0 &&
           attr_write(file, "global_batch", H5T_STD_I64LE, H5T_NATIVE_INT64,
                      &s->global_batch) == 0 &&
           attr_write(file, "loss_scale", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE,
                      &s->loss_scale) == 0 &&
           attr_write(file, "loss_scale_growth", H5T_STD_I64LE, H5T_NATIVE_INT64,
                      &s->loss_scale_growth) == 0 &&
           attr_write(file, "n_tensors", H5T_STD_I64LE, H5T_NATIVE_INT64, &n_tensors) == 0 &&
           attr_write(file, "state_checksum", H5T_STD_U64LE, H5T_NATIVE_UINT64,
                      &state_sum) == 0 &&
           write_config(file, s->config_text ? s->config_text : "") == 0;
  hid_t gcpl = H5Pcreate(H5P_GROUP_CREATE);
  H5Pset_link_creation_order(gcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED);
  hid_t group = ok ? H5Gcreate2(file, "tensors", H5P_DEFAULT, gcpl, H5P_DEFAULT) : -1;
  H5Pclose(gcpl);
  ok = ok && group >= 0;
  for (int i = 0; ok && i < s->n_tensors; i++) ok = write_tensor(group, &s->tensors[i], sums[i]) == 0;
  if (!ok) core_err(err, err_len, "cannot write '%s': %s", path, core_h5_last_error());
  if (group >= 0) H5Gclose(group);
  if (ok && H5Fflush(file, H5F_SCOPE_GLOBAL) < 0) {
    core_err(err, err_len, "cannot flush '%s': %s", path, core_h5_last_error());
    ok = 0;
  }
  if (H5Fclose(file) < 0 && ok) {
    core_err(err, err_len, "cannot close '%s': %s", path, core_h5_last_error());
    ok = 0;
  }
  mem_free(sums);
  return ok ? 0 : -1;
}

int ckpt_write(const char *dir, const CkptState *s, int keep, char *path_out, size_t path_len,
               char *err, size_t err_len) {
  if (validate_state(s, err, err_len) != 0 || mkdir_p(dir, err, err_len) != 0) return -1;
  char tmp[PATH_BYTES], final_path[PATH_BYTES];
  snprintf(tmp, sizeof tmp, "%s/.ckpt-%08" PRId64 "%s", dir, s->global_step, TMP_SUFFIX);
  snprintf(final_path, sizeof final_path, "%s/ckpt-%08" PRId64 ".h5", dir, s->global_step);
  remove_stale_temps(dir);
  H5Quiet q = h5_quiet();
  int rc = write_file(tmp, s, err, err_len);
  h5_restore(q);
  if (rc == 0) rc = fsync_path(tmp, O_RDONLY, err, err_len);
  if (rc == 0 && rename(tmp, final_path) != 0) {
    core_err(err, err_len, "cannot rename '%s' to '%s': %s", tmp, final_path, strerror(errno));
    rc = -1;
  }
  if (rc != 0) {
    unlink(tmp);
    return -1;
  }
  if (fsync_path(dir, O_RDONLY | O_DIRECTORY, err, err_len) != 0) return -1;
  if (keep > 0) prune(dir, keep, s->global_step);
  if (path_out && path_len) snprintf(path_out, path_len, "%s", final_path);
  return 0;
}

/* ----------------------------------------------------------------- read */

static int attr_read(hid_t obj, const char *name, hid_t mem_type, void *value) {
  if (H5Aexists(obj, name) <= 0) return -1;
  hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
  int ok = a >= 0 && H5Aread(a, mem_type, value) >= 0;
  if (a >= 0) H5Aclose(a);
  return ok ? 0 : -1;
}

/* Fixed-length string attribute into out (terminated). */
static int attr_read_str(hid_t obj, const char *name, char *out, size_t out_len) {
  if (H5Aexists(obj, name) <= 0) return -1;
  hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
  hid_t ft = a >= 0 ? H5Aget_type(a) : -1;
  int ok = ft >= 0 && H5Tget_class(ft) == H5T_STRING && !H5Tis_variable_str(ft);
  size_t n = ok ? H5Tget_size(ft) : 0;
  hid_t mt = ok ? string_type(n) : -1;
  char *buf = ok ? mem_alloc_or_die(n + 1, "string attribute") : NULL;
  ok = ok && mt >= 0 && H5Aread(a, mt, buf) >= 0;
  if (ok) {
    buf[n] = '\0';
    snprintf(out, out_len, "%s", buf);
  }
  mem_free(buf);
  if (mt >= 0) H5Tclose(mt);
  if (ft >= 0) H5Tclose(ft);
  if (a >= 0) H5Aclose(a);
  return ok ? 0 : -1;
}

static char *read_config(hid_t file) {
  hid_t ds = H5Dopen2(file, "config", H5P_DEFAULT);
  hid_t ft = ds >= 0 ? H5Dget_type(ds) : -1;
  int ok = ft >= 0 && H5Tget_class(ft) == H5T_STRING && !H5Tis_variable_str(ft);
  size_t n = ok ? H5Tget_size(ft) : 0;
  hid_t mt = ok ? string_type(n) : -1;
  char *text = ok ? mem_alloc_may_fail(n + 1) : NULL;
  ok = ok && text && mt >= 0 && H5Dread(ds, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, text) >= 0;
  if (ok) text[n] = '\0';
  if (mt >= 0) H5Tclose(mt);
  if (ft >= 0) H5Tclose(ft);
  if (ds >= 0) H5Dclose(ds);
  if (!ok) {
    mem_free(text);
    return NULL;
  }
  return text;
}

/* Reads tensor i of the group (creation order) into t; -1 with why. */
static int read_tensor(hid_t group, hsize_t i, CkptTensor *t, char *why, size_t why_len) {
  ssize_t name_len = H5Lget_name_by_idx(group, ".", H5_INDEX_CRT_ORDER, H5_ITER_INC, i, t->name,
                                        sizeof t->name, H5P_DEFAULT);
  if (name_len < 0 || name_len >= (ssize_t)sizeof t->name) {
    snprintf(why, why_len, "tensor %llu has an unreadable name", (unsigned long long)i);
    return -1;
  }
  hid_t ds = H5Dopen2(group, t->name, H5P_DEFAULT);
  hid_t space = ds >= 0 ? H5Dget_space(ds) : -1;
  hid_t ft = ds >= 0 ? H5Dget_type(ds) : -1;
  int ndim = space >= 0 ? H5Sget_simple_extent_ndims(space) : -1;
  int ok = ds >= 0 && space >= 0 && ft >= 0 && ndim >= 0 && ndim <= 4;
  H5T_class_t cls = ok ? H5Tget_class(ft) : H5T_NO_CLASS;
  ok = ok && (cls == H5T_FLOAT || cls == H5T_INTEGER);
  hsize_t dims[4] = {0, 0, 0, 0};
  if (ok) ok = H5Sget_simple_extent_dims(space, dims, NULL) == ndim;
  if (!ok) snprintf(why, why_len, "tensor '%s' is unreadable or not f32/i64", t->name);
  t->ndim = ndim;
  t->dtype = cls == H5T_INTEGER ? CKPT_I64 : CKPT_F32;
  size_t n = 1;
  for (int d = 0; ok && d < ndim; d++) {
    t->shape[d] = (int64_t)dims[d];
    n *= (size_t)dims[d];
  }
  t->n_elems = n;
  void *data = NULL;
  if (ok) {
    data = mem_alloc_may_fail(n * dtype_bytes(t->dtype));
    if (!data) snprintf(why, why_len, "tensor '%s' (%zu values) does not fit in memory", t->name, n);
    ok = data != NULL;
  }
  hid_t mt = t->dtype == CKPT_I64 ? H5T_NATIVE_INT64 : H5T_NATIVE_FLOAT;
  if (ok && n && H5Dread(ds, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0) {
    snprintf(why, why_len, "tensor '%s' cannot be read: %s", t->name, core_h5_last_error());
    ok = 0;
  }
  uint64_t stored = 0;
  if (ok && attr_read(ds, "checksum", H5T_NATIVE_UINT64, &stored) != 0) {
    snprintf(why, why_len, "tensor '%s' has no checksum", t->name);
    ok = 0;
  }
  if (ok && stored != data_checksum(data, n * dtype_bytes(t->dtype))) {
    snprintf(why, why_len, "checksum mismatch in tensor '%s' (the file is damaged)", t->name);
    ok = 0;
  }
  if (ft >= 0) H5Tclose(ft);
  if (space >= 0) H5Sclose(space);
  if (ds >= 0) H5Dclose(ds);
  if (!ok) {
    mem_free(data);
    return -1;
  }
  t->data = data;
  return 0;
}

void ckpt_free(CkptLoaded *l) {
  if (!l) return;
  for (int i = 0; l->tensors && i < l->state.n_tensors; i++) mem_free((void *)l->tensors[i].data);
  mem_free(l->tensors);
  mem_free(l->config_text);
  memset(l, 0, sizeof *l);
}

static int read_header(hid_t file, CkptState *s, int64_t *n_tensors, uint64_t *state_sum,
                       char *why, size_t why_len) {
  char format[64] = "";
  int version = 0;
  if (attr_read_str(file, "format", format, sizeof format) != 0 || strcmp(format, FORMAT_NAME)) {
    snprintf(why, why_len, "not a resnet_dist checkpoint (format attribute '%s')", format);
    return -1;
  }
  if (attr_read(file, "version", H5T_NATIVE_INT, &version) != 0 || version < 1 ||
      version > CKPT_FORMAT_VERSION) {
    snprintf(why, why_len, "format version %d; this build reads versions 1..%d", version,
             CKPT_FORMAT_VERSION);
    return -1;
  }
  int ok = attr_read(file, "epoch", H5T_NATIVE_INT64, &s->epoch) == 0 &&
           attr_read(file, "step_in_epoch", H5T_NATIVE_INT64, &s->step_in_epoch) == 0 &&
           attr_read(file, "global_step", H5T_NATIVE_INT64, &s->global_step) == 0 &&
           attr_read(file, "samples_seen", H5T_NATIVE_INT64, &s->samples_seen) == 0 &&
           attr_read(file, "seed", H5T_NATIVE_INT64, &s->seed) == 0 &&
           attr_read(file, "world_size", H5T_NATIVE_INT, &s->world_size) == 0 &&
           attr_read(file, "global_batch", H5T_NATIVE_INT64, &s->global_batch) == 0 &&
           attr_read(file, "loss_scale", H5T_NATIVE_DOUBLE, &s->loss_scale) == 0 &&
           attr_read(file, "loss_scale_growth", H5T_NATIVE_INT64, &s->loss_scale_growth) == 0 &&
           attr_read(file, "n_tensors", H5T_NATIVE_INT64, n_tensors) == 0 &&
           attr_read(file, "state_checksum", H5T_NATIVE_UINT64, state_sum) == 0;
  if (!ok || *n_tensors < 0 || *n_tensors > INT_MAX) {
    snprintf(why, why_len, "missing or unreadable training-state attributes");
    return -1;
  }
  return 0;
}

static int read_file(hid_t file, CkptLoaded *out, char *why, size_t why_len) {
  int64_t n_tensors = 0;
  uint64_t state_sum = 0;
  if (read_header(file, &out->state, &n_tensors, &state_sum, why, why_len) != 0) return -1;
  out->config_text = read_config(file);
  if (!out->config_text) {
    snprintf(why, why_len, "the config dataset is missing or unreadable");
    return -1;
  }
  hid_t group = H5Gopen2(file, "tensors", H5P_DEFAULT);
  H5G_info_t info;
  if (group < 0 || H5Gget_info(group, &info) < 0 || info.nlinks != (hsize_t)n_tensors) {
    snprintf(why, why_len, "the tensors group is missing or does not hold %" PRId64 " tensors",
             n_tensors);
    if (group >= 0) H5Gclose(group);
    return -1;
  }
  out->tensors = mem_calloc_or_die((size_t)n_tensors + 1, sizeof *out->tensors, "tensors");
  int rc = 0;
  for (int64_t i = 0; i < n_tensors && rc == 0; i++) {
    rc = read_tensor(group, (hsize_t)i, &out->tensors[i], why, why_len);
    if (rc == 0) out->state.n_tensors = (int)i + 1;
  }
  H5Gclose(group);
  if (rc != 0) return -1;
  out->state.tensors = out->tensors;
  out->state.config_text = out->config_text;
  uint64_t *sums = mem_alloc_or_die(((size_t)n_tensors + 1) * sizeof *sums, "checksums");
  for (int i = 0; i < out->state.n_tensors; i++)
    sums[i] = data_checksum(out->tensors[i].data,
                            out->tensors[i].n_elems * dtype_bytes(out->tensors[i].dtype));
  int same = state_checksum(&out->state, sums) == state_sum;
  mem_free(sums);
  if (!same) {
    snprintf(why, why_len, "state checksum mismatch (the file is damaged)");
    return -1;
  }
  return 0;
}

int ckpt_read(const char *path, CkptLoaded *out, char *err, size_t err_len) {
  memset(out, 0, sizeof *out);
  char why[512] = "";
  H5Quiet q = h5_quiet();
  int rc = -1;
  if (access(path, R_OK) != 0) {
    snprintf(why, sizeof why, "%s", strerror(errno));
  } else {
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (file < 0) {
      snprintf(why, sizeof why, "not a readable HDF5 file (truncated?): %s",
               core_h5_last_error());
    } else {
      rc = read_file(file, out, why, sizeof why);
      H5Fclose(file);
    }
  }
  h5_restore(q);
  if (rc != 0) {
    ckpt_free(out);
    core_err(err, err_len, "checkpoint %s: %s", path, why);
  }
  return rc;
}

const CkptTensor *ckpt_find_tensor(const CkptLoaded *l, const char *name) {
  for (int i = 0; i < l->state.n_tensors; i++)
    if (!strcmp(l->tensors[i].name, name)) return &l->tensors[i];
  return NULL;
}

/* --------------------------------------------------------------- search */

int ckpt_find_latest(const char *dir, char *path_out, size_t path_len, char *err,
                     size_t err_len) {
  Listed *v;
  int n = list_checkpoints(dir, &v, err, err_len);
  if (n <= 0) {
    mem_free(v);
    return n < 0 ? -1 : 1;
  }
  char newest_why[1024] = "";
  int found = -1;
  for (int i = 0; i < n && found < 0; i++) {
    char path[PATH_BYTES], why[1024];
    snprintf(path, sizeof path, "%s/%s", dir, v[i].name);
    CkptLoaded l;
    if (ckpt_read(path, &l, why, sizeof why) == 0) {
      ckpt_free(&l);
      found = i;
      snprintf(path_out, path_len, "%s", path);
      if (i > 0) log_warn("resume: using the previous checkpoint %s", path);
      break;
    }
    log_warn("%s; skipping it", why);
    if (i == 0) snprintf(newest_why, sizeof newest_why, "%s", why);
  }
  mem_free(v);
  if (found >= 0) return 0;
  core_err(err, err_len,
          "none of the %d checkpoint(s) in '%s' is usable (newest: %s); set "
          "checkpoint.resume=never to start over or point it at a good file",
          n, dir, newest_why);
  return -1;
}

int ckpt_check_writable(const char *dir, char *err, size_t err_len) {
  if (!dir || !dir[0]) {
    core_err(err, err_len, "checkpoint.dir is empty; set it to a writable folder");
    return -1;
  }
  if (mkdir_p(dir, err, err_len) != 0) return -1;
  char probe[PATH_BYTES];
  snprintf(probe, sizeof probe, "%s/.ckpt-write-test-%ld", dir, (long)getpid());
  int fd = open(probe, O_CREAT | O_EXCL | O_WRONLY, 0600);
  if (fd < 0) {
    core_err(err, err_len, "checkpoint.dir '%s' is not writable: %s", dir, strerror(errno));
    return -1;
  }
  int ok = write(fd, "x", 1) == 1;
  int saved = errno;
  close(fd);
  unlink(probe);
  if (!ok) {
    core_err(err, err_len, "checkpoint.dir '%s' is not writable: %s", dir, strerror(saved));
    return -1;
  }
  return 0;
}
