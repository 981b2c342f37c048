/* safetensors.c - see safetensors.h.  The JSON reader accepts exactly the
 * grammar safetensors headers use (objects, arrays, strings, integers) and
 * reports the byte offset of anything else. */
#include "model/safetensors.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/atomic_file.h"
#include "core/check.h"
#include "core/mem.h"

static size_t dtype_bytes(StDtype d) { return d == ST_F32 ? 4 : 8; }
static const char *dtype_name(StDtype d) {
  return d == ST_I64 ? "I64" : d == ST_F64 ? "F64" : "F32";
}

/* ------------------------------------------------------------------ write */

typedef struct {
  char *s;
  size_t n, cap;
} Str;

static void str_add(Str *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void str_add(Str *b, const char *fmt, ...) {
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(b->s + b->n, b->cap - b->n, fmt, ap);
    va_end(ap);
    if ((size_t)m < b->cap - b->n) {
      b->n += (size_t)m;
      return;
    }
    b->cap = b->cap * 2 + (size_t)m + 64;
    b->s = mem_realloc_or_die(b->s, b->cap, "safetensors header");
  }
}

int st_write(const char *path, const StTensor *t, int n, char *err, size_t err_len) {
  Str h = {mem_realloc_or_die(NULL, 4096, "safetensors header"), 0, 4096};
  h.s[0] = '\0';
  str_add(&h, "{\"__metadata__\":{\"format\":\"pt\",\"producer\":\"resnet_dist\"}");
  size_t off = 0;
  for (int i = 0; i < n; i++) {
    size_t nb = t[i].n_elems * dtype_bytes(t[i].dtype);
    str_add(&h, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[", t[i].name, dtype_name(t[i].dtype));
    for (int d = 0; d < t[i].ndim; d++) str_add(&h, "%s%" PRId64, d ? "," : "", t[i].shape[d]);
    str_add(&h, "],\"data_offsets\":[%zu,%zu]}", off, off + nb);
    off += nb;
  }
  str_add(&h, "}");
  while (h.n % 8) str_add(&h, " "); /* data starts 8-byte aligned */
  AtomicFile af;
  if (atomic_file_open(&af, path, err, err_len)) {
    mem_free(h.s);
    return -1;
  }
  uint64_t hlen = h.n; /* little-endian on every platform we build for */
  int ok = atomic_file_write(&af, &hlen, sizeof hlen) == 0 && atomic_file_write(&af, h.s, h.n) == 0;
  for (int i = 0; ok && i < n; i++)
    ok = atomic_file_write(&af, t[i].data, t[i].n_elems * dtype_bytes(t[i].dtype)) == 0;
  mem_free(h.s);
  if (!ok) {
    atomic_file_abort(&af);
    return core_err(err, err_len, "cannot write '%s': %s", path, strerror(errno));
  }
  return atomic_file_commit(&af, err, err_len);
}

/* ------------------------------------------------------------------ read */

typedef struct {
  const char *s;
  size_t i, n;
  char *err;
  size_t err_len;
} Json;

static void ws(Json *j) {
  while (j->i < j->n && isspace((unsigned char)j->s[j->i])) j->i++;
}

static int expect(Json *j, char c) {
  ws(j);
  if (j->i < j->n && j->s[j->i] == c) {
    j->i++;
    return 0;
  }
  return core_err(j->err, j->err_len, "header byte %zu: expected '%c'", j->i, c);
}

static int peek(Json *j, char c) {
  ws(j);
  return j->i < j->n && j->s[j->i] == c;
}

static int parse_string(Json *j, char *out, size_t out_len) {
  if (expect(j, '"')) return -1;
  size_t o = 0;
  while (j->i < j->n && j->s[j->i] != '"') {
    char c = j->s[j->i++];
    if (c == '\\' && j->i < j->n) {
      c = j->s[j->i++];
      if (c == 'u') { /* keep \uXXXX verbatim: names are ASCII in practice */
        if (o + 2 < out_len) out[o++] = '\\', out[o++] = 'u';
        continue;
      }
      c = c == 'n' ? '\n' : c == 't' ? '\t' : c;
    }
    if (o + 1 < out_len) out[o++] = c;
  }
  out[o] = '\0';
  return expect(j, '"');
}

static int parse_int(Json *j, int64_t *v) {
  ws(j);
  char *end;
  errno = 0;
  long long x = strtoll(j->s + j->i, &end, 10);
  if (end == j->s + j->i || errno) return core_err(j->err, j->err_len, "header byte %zu: expected an integer", j->i);
  j->i = (size_t)(end - j->s);
  *v = x;
  return 0;
}

static int parse_int_array(Json *j, int64_t *v, int max, int *count) {
  if (expect(j, '[')) return -1;
  *count = 0;
  if (peek(j, ']')) return expect(j, ']');
  do {
    if (*count == max) return core_err(j->err, j->err_len, "header byte %zu: too many dimensions", j->i);
    if (parse_int(j, &v[(*count)++])) return -1;
  } while (peek(j, ',') && !expect(j, ','));
  return expect(j, ']');
}

/* Skips any JSON value (for __metadata__ and unknown fields). */
static int skip_value(Json *j) {
  ws(j);
  if (j->i >= j->n) return core_err(j->err, j->err_len, "header ends early");
  char c = j->s[j->i];
  if (c == '"') {
    char tmp[4096];
    return parse_string(j, tmp, sizeof tmp);
  }
  if (c == '{' || c == '[') {
    char close = c == '{' ? '}' : ']';
    j->i++;
    if (peek(j, close)) return expect(j, close);
    do {
      if (c == '{') {
        char key[256];
        if (parse_string(j, key, sizeof key) || expect(j, ':')) return -1;
      }
      if (skip_value(j)) return -1;
    } while (peek(j, ',') && !expect(j, ','));
    return expect(j, close);
  }
  while (j->i < j->n && !strchr(",}] \t\r\n", j->s[j->i])) j->i++;
  return 0;
}

static int parse_tensor(Json *j, StTensor *t, int64_t range[2]) {
  if (expect(j, '{')) return -1;
  int have_dtype = 0, have_shape = 0, have_offsets = 0;
  do {
    char key[64];
    if (parse_string(j, key, sizeof key) || expect(j, ':')) return -1;
    if (!strcmp(key, "dtype")) {
      char d[16];
      if (parse_string(j, d, sizeof d)) return -1;
      if (!strcmp(d, "F32")) t->dtype = ST_F32;
      else if (!strcmp(d, "I64")) t->dtype = ST_I64;
      else if (!strcmp(d, "F64")) t->dtype = ST_F64;
      else return core_err(j->err, j->err_len, "tensor %s has dtype %s; only F32, F64 and I64 are supported", t->name, d);
      have_dtype = 1;
    } else if (!strcmp(key, "shape")) {
      if (parse_int_array(j, t->shape, 4, &t->ndim)) return -1;
      have_shape = 1;
    } else if (!strcmp(key, "data_offsets")) {
      int cnt;
      if (parse_int_array(j, range, 2, &cnt)) return -1;
      if (cnt != 2) return core_err(j->err, j->err_len, "tensor %s: data_offsets needs 2 numbers", t->name);
      have_offsets = 1;
    } else if (skip_value(j)) {
      return -1;
    }
  } while (peek(j, ',') && !expect(j, ','));
  if (!have_dtype || !have_shape || !have_offsets)
    return core_err(j->err, j->err_len, "tensor %s lacks dtype, shape or data_offsets", t->name);
  return expect(j, '}');
}

int st_read(const char *path, StFile *f, char *err, size_t err_len) {
  memset(f, 0, sizeof *f);
  FILE *fp = fopen(path, "rb");
  if (!fp) return core_err(err, err_len, "cannot open '%s': %s", path, strerror(errno));
  struct stat stt;
  uint64_t hlen = 0;
  if (fstat(fileno(fp), &stt) || fread(&hlen, 8, 1, fp) != 1 || hlen > (uint64_t)stt.st_size - 8 ||
      hlen > (100u << 20)) {
    fclose(fp);
    return core_err(err, err_len, "'%s' is not a safetensors file (bad header length)", path);
  }
  size_t data_len = (size_t)stt.st_size - 8 - hlen;
  char *hdr = mem_alloc_or_die(hlen + 1, "safetensors header");
  f->blob = mem_alloc_or_die(data_len ? data_len : 1, "safetensors data");
  int rc = fread(hdr, 1, hlen, fp) == hlen && fread(f->blob, 1, data_len, fp) == data_len ? 0 : -1;
  fclose(fp);
  if (rc) {
    mem_free(hdr);
    st_free(f);
    return core_err(err, err_len, "'%s': read error", path);
  }
  hdr[hlen] = '\0';
  char jerr[256] = "";
  Json j = {hdr, 0, hlen, jerr, sizeof jerr};
  int cap = 0;
  rc = expect(&j, '{');
  while (!rc && !peek(&j, '}')) {
    char name[128];
    rc = parse_string(&j, name, sizeof name) || expect(&j, ':');
    if (rc) break;
    if (!strcmp(name, "__metadata__")) {
      rc = skip_value(&j);
    } else {
      if (f->n == cap) {
        cap = cap ? cap * 2 : 64;
        f->tensors = mem_realloc_or_die(f->tensors, (size_t)cap * sizeof(StTensor), "tensors");
      }
      StTensor *t = &f->tensors[f->n++];
      memset(t, 0, sizeof *t);
      snprintf(t->name, sizeof t->name, "%s", name);
      int64_t range[2];
      rc = parse_tensor(&j, t, range);
      if (rc) break;
      size_t n_elems = 1;
      for (int d = 0; d < t->ndim; d++) n_elems *= (size_t)t->shape[d];
      t->n_elems = n_elems;
      if (range[0] < 0 || range[1] < range[0] || (size_t)range[1] > data_len ||
          (size_t)(range[1] - range[0]) != n_elems * dtype_bytes(t->dtype)) {
        rc = core_err(jerr, sizeof jerr, "tensor %s: data_offsets [%" PRId64 ", %" PRId64
                  "] do not fit its shape or the file", t->name, range[0], range[1]);
        break;
      }
      t->data = (char *)f->blob + range[0];
    }
    if (!rc && peek(&j, ',')) rc = expect(&j, ',');
  }
  mem_free(hdr);
  if (rc) {
    st_free(f);
    return core_err(err, err_len, "'%s': bad safetensors header: %s", path, jerr);
  }
  return 0;
}

void st_free(StFile *f) {
  mem_free(f->tensors);
  mem_free(f->blob);
  memset(f, 0, sizeof *f);
}

const StTensor *st_find(const StFile *f, const char *name) {
  for (int i = 0; i < f->n; i++)
    if (!strcmp(f->tensors[i].name, name)) return &f->tensors[i];
  return NULL;
}
