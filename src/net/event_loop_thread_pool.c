#include "cmuduo/net/event_loop_thread_pool.h"

#include <errno.h>
#include <stdio.h>

#include "cmuduo/base/alloc.h"
#include "cmuduo/base/logging.h"
#include "event_loop_internal.h"

struct mu_event_loop_thread_pool {
  mu_event_loop_t *base_loop;
  char name[32];
  bool started;
  int num_threads;
  size_t next;
  mu_event_loop_thread_t **threads;
  mu_event_loop_t **loops; /* num_threads loops, or just the base loop */
  size_t nloops;
};

mu_event_loop_thread_pool_t *mu_event_loop_thread_pool_new(mu_event_loop_t *base_loop,
                                                           const char *name) {
  mu_event_loop_thread_pool_t *pool = mu_calloc(1, sizeof *pool);
  if (pool == NULL)
    return NULL;
  pool->base_loop = base_loop;
  snprintf(pool->name, sizeof pool->name, "%s", name ? name : "loop");
  return pool;
}

static void stop_threads(mu_event_loop_thread_pool_t *pool, size_t n) {
  for (size_t i = 0; i < n; ++i)
    mu_event_loop_thread_free(pool->threads[i]);
}

void mu_event_loop_thread_pool_free(mu_event_loop_thread_pool_t *pool) {
  if (pool == NULL)
    return;
  if (pool->started)
    stop_threads(pool, (size_t)pool->num_threads);
  mu_free(pool->threads);
  mu_free(pool->loops);
  mu_free(pool);
}

void mu_event_loop_thread_pool_set_thread_num(mu_event_loop_thread_pool_t *pool, int n) {
  if (pool->started) {
    MU_LOG_ERROR("mu_event_loop_thread_pool_set_thread_num after start is ignored");
    return;
  }
  pool->num_threads = n > 0 ? n : 0;
}

static int start_threads(mu_event_loop_thread_pool_t *pool, mu_thread_init_fn init,
                         void *arg) {
  size_t n = (size_t)pool->num_threads;
  for (size_t i = 0; i < n; ++i) {
    char name[64];
    snprintf(name, sizeof name, "%s%zu", pool->name, i);
    mu_event_loop_thread_t *t = mu_event_loop_thread_new(init, arg, name);
    mu_event_loop_t *loop = t ? mu_event_loop_thread_start_loop(t) : NULL;
    if (loop == NULL) {
      int err = errno ? errno : ENOMEM;
      mu_event_loop_thread_free(t);
      stop_threads(pool, i);
      return -err;
    }
    pool->threads[i] = t;
    pool->loops[i] = loop;
  }
  return 0;
}

int mu_event_loop_thread_pool_start(mu_event_loop_thread_pool_t *pool,
                                    mu_thread_init_fn init, void *arg) {
  MU_ASSERT_IN_LOOP_THREAD(pool->base_loop);
  if (pool->started)
    return -EALREADY;
  size_t n = (size_t)pool->num_threads;
  pool->threads = mu_calloc(n ? n : 1, sizeof *pool->threads);
  pool->loops = mu_calloc(n ? n : 1, sizeof *pool->loops);
  if (pool->threads == NULL || pool->loops == NULL) {
    mu_free(pool->threads);
    mu_free(pool->loops);
    pool->threads = NULL;
    pool->loops = NULL;
    return -ENOMEM;
  }
  if (n == 0) {
    pool->loops[0] = pool->base_loop;
    pool->nloops = 1;
    if (init)
      init(pool->base_loop, arg);
  } else {
    int rc = start_threads(pool, init, arg);
    if (rc != 0) {
      /* Leave the pool as before start, so start can be tried again. */
      mu_free(pool->threads);
      mu_free(pool->loops);
      pool->threads = NULL;
      pool->loops = NULL;
      return rc;
    }
    pool->nloops = n;
  }
  pool->started = true;
  return 0;
}

mu_event_loop_t *mu_event_loop_thread_pool_get_next_loop(
    mu_event_loop_thread_pool_t *pool) {
  MU_ASSERT_IN_LOOP_THREAD(pool->base_loop);
  if (!pool->started)
    return pool->base_loop;
  mu_event_loop_t *loop = pool->loops[pool->next];
  pool->next = (pool->next + 1) % pool->nloops;
  return loop;
}

mu_event_loop_t *mu_event_loop_thread_pool_get_loop_for_hash(
    mu_event_loop_thread_pool_t *pool, size_t hash) {
  MU_ASSERT_IN_LOOP_THREAD(pool->base_loop);
  if (!pool->started)
    return pool->base_loop;
  return pool->loops[hash % pool->nloops];
}

mu_event_loop_t *const *mu_event_loop_thread_pool_get_all_loops(
    mu_event_loop_thread_pool_t *pool, size_t *count) {
  MU_ASSERT_IN_LOOP_THREAD(pool->base_loop);
  if (!pool->started) {
    *count = 1;
    return &pool->base_loop;
  }
  *count = pool->nloops;
  return pool->loops;
}

bool mu_event_loop_thread_pool_started(const mu_event_loop_thread_pool_t *pool) {
  return pool->started;
}
const char *mu_event_loop_thread_pool_name(const mu_event_loop_thread_pool_t *pool) {
  return pool->name;
}
int mu_event_loop_thread_pool_thread_num(const mu_event_loop_thread_pool_t *pool) {
  return pool->num_threads;
}
