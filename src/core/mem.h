/* mem.h - host allocation; the name says whether failure is possible.
 *
 * mem_alloc_or_die / mem_calloc_or_die: for memory the program cannot run
 * without; failure is fatal (message names what was being allocated).
 * mem_alloc_may_fail: for memory the caller can do without or report as a
 * user-level problem (e.g. a batch too large); returns NULL on failure.
 * All blocks are 64-byte aligned (cache line, AVX-512) and released with
 * mem_free.
 */
#ifndef RD_CORE_MEM_H
#define RD_CORE_MEM_H

#include <stddef.h>

void *mem_alloc_or_die(size_t n_bytes, const char *what);
void *mem_calloc_or_die(size_t n_elems, size_t elem_bytes, const char *what);
void *mem_alloc_may_fail(size_t n_bytes);
void *mem_realloc_or_die(void *ptr, size_t n_bytes, const char *what); /* unaligned */
char *mem_strdup_or_die(const char *s);
void mem_free(void *ptr);

#endif
