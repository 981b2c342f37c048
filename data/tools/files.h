/* files.h - file-system helpers of the shard tool: whole-file reads, sorted
 * directory listings (byte order, as Python's sorted()), path joins. */
#ifndef RD_DATA_TOOLS_FILES_H
#define RD_DATA_TOOLS_FILES_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
  char **names;
  int n, cap;
} NameList;

/* Entries of dir (no "." / ".."): want_dirs 1 = sub-directories (symlinks
 * followed), 0 = regular files; sorted.  0, or -1 with errno. */
int files_list(const char *dir, int want_dirs, NameList *out);
void files_push(NameList *l, const char *name);
void files_sort(NameList *l);
void files_free(NameList *l);

/* Whole file into a new buffer (mem_free it).  NULL with errno on failure. */
uint8_t *files_read(const char *path, size_t *n_bytes);

/* a + "/" + b, new string. */
char *files_join(const char *a, const char *b);

int files_is_dir(const char *path);
int files_is_file(const char *path);

/* mkdir -p; 0 or -1 with errno. */
int files_mkdirs(const char *path);

#endif
