/* An allocator for tests that fails one chosen allocation of one thread:
 * set tt_fail_in = n (with mu_set_allocator(&tt_countdown_allocator) in
 * place) and the n-th allocation that thread makes from then on fails, once;
 * tt_failed counts the failures. Per thread, so the allocations of other
 * threads (a loop thread the test does not aim at) go on. */
#ifndef CMUDUO_TESTS_ALLOC_COUNTDOWN_H
#define CMUDUO_TESTS_ALLOC_COUNTDOWN_H

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "cmuduo/base/alloc.h"

static __thread int tt_fail_in; /* 0: off; n: the n-th allocation from now fails */
static __thread int tt_failed;  /* allocations failed while armed */

static inline bool tt_countdown_admit(void) {
  if (tt_fail_in > 0 && --tt_fail_in == 0) {
    tt_failed++;
    errno = ENOMEM;
    return false;
  }
  return true;
}

static inline void *tt_countdown_malloc(size_t n) {
  return tt_countdown_admit() ? malloc(n) : NULL;
}

static inline void *tt_countdown_realloc(void *p, size_t n) {
  return tt_countdown_admit() ? realloc(p, n) : NULL;
}

static const mu_allocator_t tt_countdown_allocator = {tt_countdown_malloc,
                                                      tt_countdown_realloc, free};

#endif
