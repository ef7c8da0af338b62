/* A quarantining allocator for the net_review tests: cmuduo's freed blocks are
 * filled with a poison byte and never handed back, and nr_quarantine_check()
 * fails if any of them changed afterwards. So a write through a dangling
 * pointer (a timer or functor that outlives its object) fails the test in
 * every build, not only under ASan (which cannot see these blocks: they are
 * never really freed). Install with nr_quarantine_install() first in main.
 * Header-only, for tests only; the blocks are released by nr_quarantine_check
 * (the caller is done with cmuduo by then). */
#ifndef CMUDUO_TESTS_NET_REVIEW_QUARANTINE_H
#define CMUDUO_TESTS_NET_REVIEW_QUARANTINE_H

#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmuduo/base/alloc.h"

#define NR_POISON 0xA5

/* Every block carries its size (and the quarantine link once freed) ahead of
 * the bytes cmuduo sees; 16 bytes keep malloc's alignment. */
typedef struct nr_block {
  size_t size;
  struct nr_block *next_freed;
} nr_block_t;

static pthread_mutex_t nr_mu = PTHREAD_MUTEX_INITIALIZER;
static nr_block_t *nr_freed;
static long nr_freed_count;

static inline void *nr_payload(nr_block_t *b) {
  return (char *)b + sizeof *b;
}
static inline nr_block_t *nr_header(void *p) {
  return (nr_block_t *)((char *)p - sizeof(nr_block_t));
}

static inline void *nr_malloc(size_t n) {
  nr_block_t *b = malloc(sizeof *b + n);
  if (b == NULL)
    return NULL;
  b->size = n;
  b->next_freed = NULL;
  return nr_payload(b);
}

static inline void nr_free(void *p) {
  if (p == NULL)
    return;
  nr_block_t *b = nr_header(p);
  memset(p, NR_POISON, b->size);
  pthread_mutex_lock(&nr_mu);
  b->next_freed = nr_freed;
  nr_freed = b;
  nr_freed_count++;
  pthread_mutex_unlock(&nr_mu);
}

static inline void *nr_realloc(void *old, size_t n) {
  if (old == NULL)
    return nr_malloc(n);
  void *p = nr_malloc(n);
  if (p == NULL)
    return NULL;
  size_t keep = nr_header(old)->size;
  memcpy(p, old, keep < n ? keep : n);
  nr_free(old);
  return p;
}

static inline void nr_quarantine_install(void) {
  static const mu_allocator_t k_quarantine = {nr_malloc, nr_realloc, nr_free};
  mu_set_allocator(&k_quarantine);
}

/* Returns how many freed blocks were written after their free (0: none), and
 * releases the quarantine. Prints the first bad block's size and offset. */
static inline long nr_quarantine_check(void) {
  pthread_mutex_lock(&nr_mu);
  long bad = 0;
  for (nr_block_t *b = nr_freed, *next; b != NULL; b = next) {
    next = b->next_freed;
    const unsigned char *q = nr_payload(b);
    for (size_t i = 0; i < b->size; ++i) {
      if (q[i] != NR_POISON) {
        if (bad == 0)
          fprintf(stderr,
                  "quarantine: a freed block of %zu bytes was written at offset %zu "
                  "after its free\n",
                  b->size, i);
        bad++;
        break;
      }
    }
    free(b);
  }
  nr_freed = NULL;
  pthread_mutex_unlock(&nr_mu);
  return bad;
}

#endif
