#include "cmuduo/base/alloc.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Process-wide, set once at start-up (see alloc.h); read-only afterwards. */
static mu_allocator_t g_alloc = {malloc, realloc, free};

void mu_set_allocator(const mu_allocator_t *a) {
  if (a == NULL) {
    g_alloc = (mu_allocator_t){malloc, realloc, free};
  } else {
    g_alloc = *a;
  }
}

void *mu_malloc(size_t size) {
  void *p = g_alloc.malloc_fn(size == 0 ? 1 : size);
  if (p == NULL)
    errno = ENOMEM;
  return p;
}

void *mu_calloc(size_t n, size_t size) {
  if (size != 0 && n > SIZE_MAX / size) {
    errno = ENOMEM;
    return NULL;
  }
  void *p = mu_malloc(n * size);
  if (p != NULL)
    memset(p, 0, n * size);
  return p;
}

void *mu_realloc(void *ptr, size_t size) {
  void *p = g_alloc.realloc_fn(ptr, size == 0 ? 1 : size);
  if (p == NULL)
    errno = ENOMEM;
  return p;
}

void mu_free(void *ptr) {
  if (ptr != NULL)
    g_alloc.free_fn(ptr);
}
