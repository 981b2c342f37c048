/* atomic_file.h - write a file so that its final name only ever shows a
 * complete file: data goes to a temporary file in the same directory, which
 * is fsync'ed and renamed over the final name, then the directory is fsync'ed.
 * A crash at any point leaves either the old file or the new one, never half
 * a file (plus, at worst, a stray "<name>.tmp.*" file). */
#ifndef RD_CORE_ATOMIC_FILE_H
#define RD_CORE_ATOMIC_FILE_H

#include <stddef.h>

typedef struct {
  int fd;
  char path[1024];      /* final name */
  char tmp_path[1100];  /* temporary name */
} AtomicFile;

/* 0, or -1 with a one-line message (e.g. directory not writable). */
int atomic_file_open(AtomicFile *f, const char *path, char *err, size_t err_len);
/* 0, or -1 with errno set. */
int atomic_file_write(AtomicFile *f, const void *data, size_t n_bytes);
/* fsync, rename to the final name, fsync the directory.  0 / -1 with message. */
int atomic_file_commit(AtomicFile *f, char *err, size_t err_len);
/* Closes and removes the temporary file. */
void atomic_file_abort(AtomicFile *f);

/* Renames tmp_path over path durably (fsync of the file, rename, fsync of the
 * directory), for files written by other libraries (HDF5).  0 / -1 with message. */
int atomic_rename(const char *tmp_path, const char *path, char *err, size_t err_len);

#endif
