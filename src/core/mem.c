/* mem.c - see mem.h. */
#include "core/mem.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/check.h"

enum { MEM_ALIGN = 64 };

void *mem_alloc_may_fail(size_t n_bytes) {
  void *p = NULL;
  if (n_bytes == 0) n_bytes = 1;
  if (posix_memalign(&p, MEM_ALIGN, n_bytes) != 0) return NULL;
  return p;
}

void *mem_alloc_or_die(size_t n_bytes, const char *what) {
  void *p = mem_alloc_may_fail(n_bytes);
  if (!p) FATAL("out of memory allocating %zu bytes for %s", n_bytes, what);
  return p;
}

void *mem_calloc_or_die(size_t n_elems, size_t elem_bytes, const char *what) {
  if (elem_bytes && n_elems > SIZE_MAX / elem_bytes)
    FATAL("allocation size overflow for %s (%zu x %zu)", what, n_elems, elem_bytes);
  void *p = mem_alloc_or_die(n_elems * elem_bytes, what);
  memset(p, 0, n_elems * elem_bytes);
  return p;
}

void *mem_realloc_or_die(void *ptr, size_t n_bytes, const char *what) {
  void *p = realloc(ptr, n_bytes ? n_bytes : 1);
  if (!p) FATAL("out of memory growing %s to %zu bytes", what, n_bytes);
  return p;
}

char *mem_strdup_or_die(const char *s) {
  size_t n = strlen(s) + 1;
  char *p = mem_alloc_or_die(n, "string");
  memcpy(p, s, n);
  return p;
}

void mem_free(void *ptr) { free(ptr); }
