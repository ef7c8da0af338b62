/* Memory allocation hooks.
 *
 * Every allocation cmuduo makes goes through these functions, so a program can
 * route it to its own allocator and tests can inject allocation failures.
 *
 * Thread-safety: mu_set_allocator() is process-wide configuration; call it once,
 * before any other cmuduo call, while only one thread runs. The mu_* wrappers
 * are thread-safe if the installed functions are.
 */
#ifndef CMUDUO_BASE_ALLOC_H
#define CMUDUO_BASE_ALLOC_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mu_allocator {
  void *(*malloc_fn)(size_t size);
  void *(*realloc_fn)(void *ptr, size_t size);
  void (*free_fn)(void *ptr);
} mu_allocator_t;

/* Installs `a` (copied); NULL restores the C library's functions.
 * Memory must be freed by the allocator that made it: do not switch while
 * cmuduo objects are alive. */
void mu_set_allocator(const mu_allocator_t *a);

void *mu_malloc(size_t size);
/* Zero-filled; returns NULL (errno ENOMEM) if n * size overflows. */
void *mu_calloc(size_t n, size_t size);
void *mu_realloc(void *ptr, size_t size);
void mu_free(void *ptr);

#ifdef __cplusplus
}
#endif
#endif
