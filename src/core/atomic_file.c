/* atomic_file.c - see atomic_file.h. */
#include "core/atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int fsync_dir_of(const char *path) {
  char copy[1024];
  snprintf(copy, sizeof copy, "%s", path);
  int dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY);
  if (dfd < 0) return -1;
  int rc = fsync(dfd);
  close(dfd);
  return rc;
}

int atomic_file_open(AtomicFile *f, const char *path, char *err, size_t err_len) {
  snprintf(f->path, sizeof f->path, "%s", path);
  snprintf(f->tmp_path, sizeof f->tmp_path, "%s.tmp.%d.XXXXXX", path, (int)getpid());
  f->fd = mkstemp(f->tmp_path);
  if (f->fd < 0) {
    snprintf(err, err_len, "cannot create a file next to '%s': %s", path, strerror(errno));
    return -1;
  }
  return 0;
}

int atomic_file_write(AtomicFile *f, const void *data, size_t n_bytes) {
  const char *p = data;
  while (n_bytes) {
    ssize_t w = write(f->fd, p, n_bytes);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += w;
    n_bytes -= (size_t)w;
  }
  return 0;
}

void atomic_file_abort(AtomicFile *f) {
  if (f->fd >= 0) close(f->fd);
  f->fd = -1;
  unlink(f->tmp_path);
}

int atomic_file_commit(AtomicFile *f, char *err, size_t err_len) {
  if (fchmod(f->fd, 0644) != 0 || fsync(f->fd) != 0) {
    snprintf(err, err_len, "cannot write '%s': %s", f->path, strerror(errno));
    atomic_file_abort(f);
    return -1;
  }
  close(f->fd);
  f->fd = -1;
  if (rename(f->tmp_path, f->path) != 0) {
    snprintf(err, err_len, "cannot rename '%s' to '%s': %s", f->tmp_path, f->path,
             strerror(errno));
    unlink(f->tmp_path);
    return -1;
  }
  fsync_dir_of(f->path);
  return 0;
}

int atomic_rename(const char *tmp_path, const char *path, char *err, size_t err_len) {
  int fd = open(tmp_path, O_RDONLY);
  if (fd < 0 || fsync(fd) != 0) {
    snprintf(err, err_len, "cannot sync '%s': %s", tmp_path, strerror(errno));
    if (fd >= 0) close(fd);
    return -1;
  }
  close(fd);
  if (rename(tmp_path, path) != 0) {
    snprintf(err, err_len, "cannot rename '%s' to '%s': %s", tmp_path, path, strerror(errno));
    return -1;
  }
  fsync_dir_of(path);
  return 0;
}
