/* shard.c - opening, validating and reading shards; see shard.h and
 * docs/SHARDS.md.  Every check names the file; HDF5's own error printing is
 * switched off while we probe (a missing attribute is our message, not a
 * stack dump) and restored afterwards. */
#include "data/shard.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hdf5.h>

#include "core/check.h"
#include "core/check_h5.h"
#include "core/mem.h"

/* ------------------------------------------------------------ HDF5 probes */

/* Fixed-length string attribute into out; 0 or -1.  Variable-length strings
 * are refused: they live in HDF5's global heap, whose reader in libhdf5 1.10
 * overruns buffers on a damaged file (found by tests/data/fuzz). */
static int read_str_attr(hid_t obj, const char *name, char *out, size_t out_len) {
  if (H5Aexists(obj, name) <= 0) return -1;
  hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
  if (a < 0) return -1;
  hid_t t = H5Aget_type(a);
  int rc = -1;
  size_t n = H5Tget_size(t);
  if (H5Tget_class(t) == H5T_STRING && H5Tis_variable_str(t) == 0 && n > 0 && n < 65536) {
    hid_t mt = H5Tcopy(H5T_C_S1);
    H5Tset_cset(mt, H5Tget_cset(t));
    H5Tset_size(mt, n + 1);
    char *s = mem_calloc_or_die(n + 1, 1, "string attribute");
    if (H5Aread(a, mt, s) >= 0) {
      snprintf(out, out_len, "%s", s);
      rc = 0;
    }
    mem_free(s);
    H5Tclose(mt);
  }
  H5Tclose(t);
  H5Aclose(a);
  return rc;
}

static int read_int_attr(hid_t obj, const char *name, long long *out) {
  if (H5Aexists(obj, name) <= 0) return -1;
  hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
  if (a < 0) return -1;
  hid_t t = H5Aget_type(a);
  int rc = H5Tget_class(t) == H5T_INTEGER && H5Aread(a, H5T_NATIVE_LLONG, out) >= 0 ? 0 : -1;
  H5Tclose(t);
  H5Aclose(a);
  return rc;
}

static hid_t open_dataset(hid_t f, const char *name) {
  if (H5Lexists(f, name, H5P_DEFAULT) <= 0) return -1;
  return H5Dopen2(f, name, H5P_DEFAULT);
}

/* Rank of the dataset and its dimensions (up to 4). -1 on error. */
static int dataset_dims(hid_t d, hsize_t dims[4]) {
  hid_t sp = H5Dget_space(d);
  if (sp < 0) return -1;
  int rank = H5Sget_simple_extent_ndims(sp);
  if (rank < 0 || rank > 4 || H5Sget_simple_extent_dims(sp, dims, NULL) < 0) rank = -1;
  H5Sclose(sp);
  return rank;
}

static int type_is(hid_t d, H5T_class_t cls, size_t size) {
  hid_t t = H5Dget_type(d);
  int ok = H5Tget_class(t) == cls && (size == 0 || H5Tget_size(t) == size);
  H5Tclose(t);
  return ok;
}

static int is_contiguous(hid_t d) {
  hid_t dcpl = H5Dget_create_plist(d);
  int ok = H5Pget_layout(dcpl) == H5D_CONTIGUOUS && H5Pget_external_count(dcpl) == 0;
  H5Pclose(dcpl);
  return ok;
}

/* Reads a whole 1-D dataset converting to `memtype` into dst. */
static int read_all(hid_t d, hid_t memtype, void *dst) {
  return H5Dread(d, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, dst) < 0 ? -1 : 0;
}

/* --------------------------------------------------------- validation */

static int check_attributes(Shard *s, hid_t f, char *err, size_t err_len) {
  char text[256];
  long long v;
  const char *p = s->path;
  if (read_str_attr(f, "format", text, sizeof text) || strcmp(text, SHARD_FORMAT))
    return core_err(err, err_len, "%s: not a resnet_dist shard (attribute format is not \"%s\"); "
                "build shards with resnet_shards build", p, SHARD_FORMAT);
  if (read_int_attr(f, "version", &v))
    return core_err(err, err_len, "%s: shard has no integer attribute version", p);
  if (v != SHARD_VERSION)
    return core_err(err, err_len, "%s: shard format version %lld, this build reads version %d: "
                "rebuild the shards with this resnet_shards", p, v, SHARD_VERSION);
  if (read_str_attr(f, "encoding", text, sizeof text) ||
      (strcmp(text, "jpeg") && strcmp(text, "raw")))
    return core_err(err, err_len, "%s: attribute encoding must be \"jpeg\" or \"raw\"", p);
  s->encoding = strcmp(text, "jpeg") ? SHARD_RAW : SHARD_JPEG;
  if (read_int_attr(f, "num_classes", &v) || v < 1 || v > (1 << 30))
    return core_err(err, err_len, "%s: attribute num_classes missing or not a positive integer",
                p);
  s->num_classes = (int)v;
  return 0;
}

static int check_labels(Shard *s, hid_t f, char *err, size_t err_len) {
  hid_t d = open_dataset(f, "labels");
  hsize_t dims[4];
  if (d < 0) return core_err(err, err_len, "%s: dataset /labels is missing", s->path);
  int rc = 0;
  if (dataset_dims(d, dims) != 1 || !type_is(d, H5T_INTEGER, 0)) {
    rc = core_err(err, err_len, "%s: /labels must be a 1-D integer dataset", s->path);
  } else {
    s->n = (int64_t)dims[0];
    s->labels = mem_alloc_or_die((size_t)(s->n ? s->n : 1) * sizeof(int32_t), "shard labels");
    if (s->n && read_all(d, H5T_NATIVE_INT32, s->labels))
      rc = core_err(err, err_len, "%s: cannot read /labels (%s)", s->path, core_h5_last_error());
  }
  H5Dclose(d);
  if (rc) return rc;
  hid_t k = open_dataset(f, "keys");
  if (k < 0) return core_err(err, err_len, "%s: dataset /keys is missing", s->path);
  rc = dataset_dims(k, dims) == 1 && (int64_t)dims[0] == s->n
           ? 0
           : core_err(err, err_len, "%s: /keys must have one entry per label (%lld)", s->path,
                  (long long)s->n);
  H5Dclose(k);
  return rc;
}

/* The file offset of a contiguous dataset's bytes (none when empty). */
static int locate_data(Shard *s, hid_t d, const char *name, char *err, size_t err_len) {
  if (!type_is(d, H5T_INTEGER, 1))
    return core_err(err, err_len, "%s: /%s must be uint8", s->path, name);
  if (!is_contiguous(d))
    return core_err(err, err_len, "%s: /%s is chunked or compressed; shards need the contiguous "
                "layout (rebuild with resnet_shards build)", s->path, name);
  if (s->data_bytes == 0) return 0;
  haddr_t off = H5Dget_offset(d);
  if (off == HADDR_UNDEF)
    return core_err(err, err_len, "%s: /%s has no storage in the file", s->path, name);
  s->data_offset = (uint64_t)off;
  return 0;
}

static int check_jpeg(Shard *s, hid_t f, char *err, size_t err_len) {
  hsize_t dims[4];
  hid_t d = open_dataset(f, "images");
  if (d < 0) return core_err(err, err_len, "%s: dataset /images is missing", s->path);
  int rc = dataset_dims(d, dims) == 1 ? 0 : core_err(err, err_len, "%s: /images must be 1-D", s->path);
  if (!rc) {
    s->data_bytes = dims[0];
    rc = locate_data(s, d, "images", err, err_len);
  }
  H5Dclose(d);
  if (rc) return rc;
  hid_t o = open_dataset(f, "offsets");
  if (o < 0) return core_err(err, err_len, "%s: dataset /offsets is missing", s->path);
  if (dataset_dims(o, dims) != 1 || (int64_t)dims[0] != s->n + 1 || !type_is(o, H5T_INTEGER, 0))
    rc = core_err(err, err_len, "%s: /offsets must be integers, one more than /labels (%lld)",
              s->path, (long long)(s->n + 1));
  if (!rc) {
    s->offsets = mem_alloc_or_die((size_t)(s->n + 1) * sizeof(uint64_t), "shard offsets");
    if (read_all(o, H5T_NATIVE_UINT64, s->offsets))
      rc = core_err(err, err_len, "%s: cannot read /offsets (%s)", s->path, core_h5_last_error());
  }
  H5Dclose(o);
  if (rc) return rc;
  if (s->offsets[0] != 0 || s->offsets[s->n] != s->data_bytes)
    return core_err(err, err_len, "%s: /offsets must run from 0 to the size of /images (%llu)",
                s->path, (unsigned long long)s->data_bytes);
  for (int64_t i = 0; i < s->n; i++)
    if (s->offsets[i + 1] < s->offsets[i])
      return core_err(err, err_len, "%s: /offsets decreases at record %lld", s->path, (long long)i);
  return 0;
}

static int check_raw(Shard *s, hid_t f, char *err, size_t err_len) {
  hsize_t dims[4];
  hid_t d = open_dataset(f, "pixels");
  if (d < 0) return core_err(err, err_len, "%s: dataset /pixels is missing", s->path);
  int rc = 0;
  if (dataset_dims(d, dims) != 4 || (int64_t)dims[0] != s->n || dims[3] != 3 || dims[1] < 1 ||
      dims[2] < 1 || dims[1] > 65535 || dims[2] > 65535)
    rc = core_err(err, err_len, "%s: /pixels must be [N, H, W, 3] with N = %lld", s->path,
              (long long)s->n);
  if (!rc) {
    s->raw_h = (int)dims[1];
    s->raw_w = (int)dims[2];
    s->data_bytes = dims[0] * dims[1] * dims[2] * 3;
    rc = locate_data(s, d, "pixels", err, err_len);
  }
  H5Dclose(d);
  return rc;
}

static int validate(Shard *s, hid_t f, char *err, size_t err_len) {
  if (check_attributes(s, f, err, err_len) || check_labels(s, f, err, err_len)) return -1;
  if (s->encoding == SHARD_JPEG ? check_jpeg(s, f, err, err_len) : check_raw(s, f, err, err_len))
    return -1;
  struct stat st;
  if (fstat(s->fd, &st)) return core_err(err, err_len, "%s: %s", s->path, strerror(errno));
  if (s->data_offset + s->data_bytes > (uint64_t)st.st_size)
    return core_err(err, err_len, "%s: truncated: the data ends at byte %llu, the file has %llu; "
                "copy or rebuild the shard", s->path,
                (unsigned long long)(s->data_offset + s->data_bytes),
                (unsigned long long)st.st_size);
  return 0;
}

int shard_open(Shard *s, const char *path, char *err, size_t err_len) {
  memset(s, 0, sizeof *s);
  s->fd = -1;
  s->path = mem_strdup_or_die(path);
  s->fd = open(path, O_RDONLY | O_CLOEXEC);
  if (s->fd < 0) {
    core_err(err, err_len, "%s: %s", path, strerror(errno));
    shard_close(s);
    return -1;
  }
  H5E_auto2_t old_fn;
  void *old_data;
  H5Eget_auto2(H5E_DEFAULT, &old_fn, &old_data);
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  int rc;
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) {
    rc = core_err(err, err_len, "%s: not a readable HDF5 file (%s); truncated or not a shard: "
              "rebuild it with resnet_shards build", path, core_h5_last_error());
  } else {
    rc = validate(s, f, err, err_len);
    H5Fclose(f);
  }
  H5Eset_auto2(H5E_DEFAULT, old_fn, old_data);
  if (rc) shard_close(s);
  return rc;
}

void shard_close(Shard *s) {
  if (s->fd >= 0) close(s->fd);
  mem_free(s->path);
  mem_free(s->offsets);
  mem_free(s->labels);
  memset(s, 0, sizeof *s);
  s->fd = -1;
}

size_t shard_record_bytes(const Shard *s, int64_t i) {
  if (s->encoding == SHARD_RAW) return (size_t)s->raw_h * (size_t)s->raw_w * 3;
  return (size_t)(s->offsets[i + 1] - s->offsets[i]);
}

int shard_read(const Shard *s, int64_t i, uint8_t *dst) {
  size_t n = shard_record_bytes(s, i), done = 0;
  uint64_t at = s->data_offset + (s->encoding == SHARD_RAW ? (uint64_t)i * n : s->offsets[i]);
  while (done < n) {
    ssize_t got = pread(s->fd, dst + done, n - done, (off_t)(at + done));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      if (got == 0) errno = EIO;
      return -1;
    }
    done += (size_t)got;
  }
  return 0;
}

/* ------------------------------------------------------------ shard sets */

static int has_glob_chars(const char *s) { return strpbrk(s, "*?[") != NULL; }

/* The sorted matches of pattern into paths; 0, or -1 when nothing matches. */
static int glob_paths(const char *pattern, char ***paths, int *n_paths) {
  glob_t g;
  if (glob(pattern, 0, NULL, &g) != 0 || g.gl_pathc == 0) {
    globfree(&g);
    return -1;
  }
  *paths = mem_alloc_or_die(g.gl_pathc * sizeof(char *), "shard paths");
  for (size_t i = 0; i < g.gl_pathc; i++) (*paths)[i] = mem_strdup_or_die(g.gl_pathv[i]);
  *n_paths = (int)g.gl_pathc;
  globfree(&g);
  return 0;
}

static const char *base_name(const char *path) {
  const char *slash = strrchr(path, '/');
  return slash ? slash + 1 : path;
}

/* A name "<set>-IIIII-of-NNNNN.h5" (what resnet_shards writes): the length
 * of <set>, the index and the count.  0, or -1 for any other name. */
static int parse_shard_name(const char *name, size_t *set_len, int *index, int *count) {
  static const char form[] = "-00000-of-00000.h5"; /* 0: a digit */
  size_t n = strlen(name), k = sizeof form - 1;
  if (n <= k) return -1;
  const char *tail = name + n - k;
  for (size_t i = 0; i < k; i++)
    if (form[i] == '0' ? tail[i] < '0' || tail[i] > '9' : tail[i] != form[i]) return -1;
  *set_len = n - k;
  *index = atoi(tail + 1);
  *count = atoi(tail + 10);
  return *count >= 1 && *index < *count ? 0 : -1;
}

int shard_check_complete(const char *where, char *const *paths, int n_paths, char *err,
                         size_t err_len) {
  char *done = mem_calloc_or_die((size_t)(n_paths ? n_paths : 1), 1, "shard set check");
  int rc = 0;
  for (int i = 0; i < n_paths && !rc; i++) {
    const char *a = base_name(paths[i]);
    size_t len;
    int index, count;
    if (done[i] || parse_shard_name(a, &len, &index, &count)) continue;
    /* the files of set a[0, len): all with the same count, every index once */
    char *seen = mem_calloc_or_die((size_t)count, 1, "shard set check");
    int found = 0;
    for (int j = i; j < n_paths && !rc; j++) {
      const char *b = base_name(paths[j]);
      size_t len_b;
      int index_b, count_b;
      if (done[j] || parse_shard_name(b, &len_b, &index_b, &count_b) || len_b != len ||
          strncmp(a, b, len))
        continue;
      done[j] = 1;
      if (count_b != count)
        rc = core_err(err, err_len, "%s: shard set '%.*s' mixes %s and %s (files of two "
                      "builds); remove the stale ones or rebuild the set", where, (int)len, a,
                      a, b);
      else
        found += !seen[index_b]++;
    }
    if (!rc && found < count) {
      int first_missing = 0;
      while (seen[first_missing]) first_missing++;
      char more[64] = "";
      if (count - found > 1) snprintf(more, sizeof more, " and %d more", count - found - 1);
      rc = core_err(err, err_len, "%s: shard set '%.*s' is incomplete: %d of %d files (missing "
                    "%.*s-%05d-of-%05d.h5%s); rebuild it or restore the file", where, (int)len,
                    a, found, count, (int)len, a, first_missing, count, more);
    }
    mem_free(seen);
  }
  mem_free(done);
  return rc;
}

/* Whether a file of a folder without <split>-*.h5 belongs to another split:
 * named <other>-* for another split we know, or with another split attribute
 * (files HDF5 cannot open are kept: shard_open names the problem). */
static int of_other_split(const char *path, const char *split) {
  static const char *const known[] = {"train", "val"};
  const char *name = base_name(path);
  for (size_t k = 0; k < sizeof known / sizeof known[0]; k++) {
    size_t n = strlen(known[k]);
    if (strcmp(known[k], split) && !strncmp(name, known[k], n) && name[n] == '-') return 1;
  }
  char attr[64];
  return shard_read_attr(path, "split", attr, sizeof attr) == 0 && strcmp(attr, split);
}

/* The folder's *.h5 without those of another split, for a folder that has
 * no <split>-*.h5.  0, or -1 with a message. */
static int list_folder_fallback(const char *dir, const char *split, char ***paths,
                                int *n_paths, char *err, size_t err_len) {
  char pattern[4096], **all;
  int n_all;
  snprintf(pattern, sizeof pattern, "%s/*.h5", dir);
  if (glob_paths(pattern, &all, &n_all))
    return core_err(err, err_len, "%s: a folder without shard files (*.h5); make them with "
                    "resnet_shards build or resnet_shards synth", dir);
  *paths = mem_alloc_or_die((size_t)n_all * sizeof(char *), "shard paths");
  int n_other = 0;
  const char *other = NULL;
  for (int i = 0; i < n_all; i++) {
    if (!of_other_split(all[i], split))
      (*paths)[(*n_paths)++] = mem_strdup_or_die(all[i]);
    else if (n_other++ == 0)
      other = all[i];
  }
  int rc = 0;
  if (*n_paths == 0) {
    char more[64] = "";
    if (n_other > 1) snprintf(more, sizeof more, " and %d more", n_other - 1);
    rc = core_err(err, err_len, "%s: no shards of split '%s' (found %s%s, of another split; "
                  "build them with resnet_shards or point data.%s elsewhere)", dir, split,
                  base_name(other), more, split);
    mem_free(*paths);
    *paths = NULL;
  }
  shard_free_paths(all, n_all);
  return rc;
}

int shard_list(const char *spec, const char *split, char ***paths, int *n_paths, char *err,
               size_t err_len) {
  *paths = NULL;
  *n_paths = 0;
  struct stat st;
  char pattern[4096];
  if (has_glob_chars(spec)) {
    if (!glob_paths(spec, paths, n_paths)) return 0;
    return core_err(err, err_len, "%s: no shard files match (make them with resnet_shards build "
                "or resnet_shards synth)", spec);
  }
  int rc;
  if (stat(spec, &st) == 0 && S_ISDIR(st.st_mode)) {
    snprintf(pattern, sizeof pattern, "%s/%s-*.h5", spec, split);
    if (glob_paths(pattern, paths, n_paths) &&
        list_folder_fallback(spec, split, paths, n_paths, err, err_len))
      return -1;
  } else if (stat(spec, &st) == 0) {
    *paths = mem_alloc_or_die(sizeof(char *), "shard paths");
    (*paths)[0] = mem_strdup_or_die(spec);
    *n_paths = 1;
    return 0;
  } else {
    snprintf(pattern, sizeof pattern, "%s-*.h5", spec); /* DIR/train -> DIR/train-*.h5 */
    if (glob_paths(pattern, paths, n_paths))
      return core_err(err, err_len, "%s: no such file or folder, and no shards %s (a shard "
                      "folder, a glob, a .h5 file or a shard-name prefix)", spec, pattern);
  }
  /* a folder or a prefix names whole sets: all of their shards must be there */
  rc = shard_check_complete(spec, *paths, *n_paths, err, err_len);
  if (rc) {
    shard_free_paths(*paths, *n_paths);
    *paths = NULL;
    *n_paths = 0;
  }
  return rc;
}

void shard_free_paths(char **paths, int n_paths) {
  for (int i = 0; i < n_paths; i++) mem_free(paths[i]);
  mem_free(paths);
}

/* Shards of a set must agree on what a record is. */
static int check_consistent(const ShardSet *set, const Shard *s, char *err, size_t err_len) {
  const Shard *a = &set->shards[0];
  if (s->encoding != a->encoding)
    return core_err(err, err_len, "%s: encoding differs from %s; one set holds one encoding",
                s->path, a->path);
  if (s->num_classes != a->num_classes)
    return core_err(err, err_len, "%s: num_classes %d differs from %d in %s", s->path,
                s->num_classes, a->num_classes, a->path);
  if (s->encoding == SHARD_RAW && (s->raw_h != a->raw_h || s->raw_w != a->raw_w))
    return core_err(err, err_len, "%s: raw image size %dx%d differs from %dx%d in %s", s->path,
                s->raw_w, s->raw_h, a->raw_w, a->raw_h, a->path);
  return 0;
}

int shard_set_open(ShardSet *set, const char *spec, const char *split, char *err,
                   size_t err_len) {
  memset(set, 0, sizeof *set);
  char **paths;
  int n;
  if (shard_list(spec, split, &paths, &n, err, err_len)) return -1;
  set->shards = mem_calloc_or_die((size_t)n, sizeof(Shard), "shards");
  set->first = mem_calloc_or_die((size_t)n + 1, sizeof(int64_t), "shard index");
  int rc = 0;
  for (int i = 0; i < n && !rc; i++) {
    rc = shard_open(&set->shards[i], paths[i], err, err_len);
    if (rc) break;
    set->n_shards = i + 1;
    rc = check_consistent(set, &set->shards[i], err, err_len);
    set->first[i + 1] = set->first[i] + set->shards[i].n;
  }
  shard_free_paths(paths, n);
  if (rc) {
    shard_set_close(set);
    return -1;
  }
  set->n_records = set->first[n];
  set->encoding = set->shards[0].encoding;
  set->num_classes = set->shards[0].num_classes;
  set->raw_h = set->shards[0].raw_h;
  set->raw_w = set->shards[0].raw_w;
  return 0;
}

void shard_set_close(ShardSet *set) {
  for (int i = 0; i < set->n_shards; i++) shard_close(&set->shards[i]);
  mem_free(set->shards);
  mem_free(set->first);
  memset(set, 0, sizeof *set);
}

const Shard *shard_set_locate(const ShardSet *set, int64_t index, int64_t *local) {
  int lo = 0, hi = set->n_shards - 1;
  while (lo < hi) {  /* last shard whose first record is <= index */
    int mid = (lo + hi + 1) / 2;
    if (set->first[mid] <= index)
      lo = mid;
    else
      hi = mid - 1;
  }
  *local = index - set->first[lo];
  return &set->shards[lo];
}

/* ------------------------------------------------------------ tool helpers */

static hid_t open_quietly(const char *path, H5E_auto2_t *old_fn, void **old_data) {
  H5Eget_auto2(H5E_DEFAULT, old_fn, old_data);
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  return H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
}

static void close_quietly(hid_t f, H5E_auto2_t old_fn, void *old_data) {
  if (f >= 0) H5Fclose(f);
  H5Eset_auto2(H5E_DEFAULT, old_fn, old_data);
}

static int read_strings(hid_t f, const char *name, char ***strings, int64_t *n) {
  hid_t d = open_dataset(f, name);
  hsize_t dims[4];
  if (d < 0) return -1;
  int rc = -1;
  if (dataset_dims(d, dims) == 1 && type_is(d, H5T_STRING, 0)) {
    hid_t ft = H5Dget_type(d), t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5Tget_cset(ft));
    H5Tclose(ft);
    char **raw = mem_calloc_or_die(dims[0] ? dims[0] : 1, sizeof(char *), "strings");
    if (!dims[0] || H5Dread(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw) >= 0) {
      *strings = mem_calloc_or_die(dims[0] ? dims[0] : 1, sizeof(char *), "strings");
      for (hsize_t i = 0; i < dims[0]; i++) {
        (*strings)[i] = mem_strdup_or_die(raw[i] ? raw[i] : "");
        H5free_memory(raw[i]);
      }
      *n = (int64_t)dims[0];
      rc = 0;
    }
    mem_free(raw);
    H5Tclose(t);
  }
  H5Dclose(d);
  return rc;
}

int shard_read_strings(const char *path, const char *name, char ***strings, int64_t *n) {
  H5E_auto2_t fn;
  void *data;
  hid_t f = open_quietly(path, &fn, &data);
  int rc = f >= 0 ? read_strings(f, name, strings, n) : -1;
  close_quietly(f, fn, data);
  return rc;
}

void shard_free_strings(char **strings, int64_t n) {
  for (int64_t i = 0; i < n; i++) mem_free(strings[i]);
  mem_free(strings);
}

int shard_read_attr(const char *path, const char *attr, char *out, size_t out_len) {
  H5E_auto2_t fn;
  void *data;
  hid_t f = open_quietly(path, &fn, &data);
  int rc = f >= 0 ? read_str_attr(f, attr, out, out_len) : -1;
  close_quietly(f, fn, data);
  return rc;
}
