/* files.c - see files.h. */
#include "data/tools/files.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/mem.h"

void files_push(NameList *l, const char *name) {
  if (l->n == l->cap) {
    l->cap = l->cap ? 2 * l->cap : 64;
    l->names = mem_realloc_or_die(l->names, (size_t)l->cap * sizeof(char *), "name list");
  }
  l->names[l->n++] = mem_strdup_or_die(name);
}

static int cmp_names(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

void files_sort(NameList *l) {
  if (l->n > 1) qsort(l->names, (size_t)l->n, sizeof(char *), cmp_names);
}

void files_free(NameList *l) {
  for (int i = 0; i < l->n; i++) mem_free(l->names[i]);
  mem_free(l->names);
  memset(l, 0, sizeof *l);
}

int files_is_dir(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int files_is_file(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

char *files_join(const char *a, const char *b) {
  size_t n = strlen(a) + strlen(b) + 2;
  char *s = mem_alloc_or_die(n, "path");
  snprintf(s, n, "%s/%s", a, b);
  return s;
}

int files_list(const char *dir, int want_dirs, NameList *out) {
  memset(out, 0, sizeof *out);
  DIR *d = opendir(dir);
  if (!d) return -1;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    char *full = files_join(dir, e->d_name);
    int keep = want_dirs ? files_is_dir(full) : files_is_file(full);
    mem_free(full);
    if (keep) files_push(out, e->d_name);
  }
  closedir(d);
  files_sort(out);
  return 0;
}

uint8_t *files_read(const char *path, size_t *n_bytes) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  struct stat st;
  if (fstat(fileno(f), &st)) {
    fclose(f);
    return NULL;
  }
  size_t n = (size_t)st.st_size;
  uint8_t *buf = mem_alloc_or_die(n ? n : 1, "file contents");
  size_t got = fread(buf, 1, n, f);
  int failed = ferror(f);
  fclose(f);
  if (got != n || failed) {
    mem_free(buf);
    errno = EIO;
    return NULL;
  }
  *n_bytes = n;
  return buf;
}

int files_mkdirs(const char *path) {
  char *p = mem_strdup_or_die(path);
  for (char *s = p + 1; *s; s++) {
    if (*s != '/') continue;
    *s = '\0';
    if (mkdir(p, 0777) && errno != EEXIST) {
      mem_free(p);
      return -1;
    }
    *s = '/';
  }
  int rc = mkdir(p, 0777) && errno != EEXIST ? -1 : 0;
  mem_free(p);
  return rc;
}
