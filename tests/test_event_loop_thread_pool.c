/* EventLoopThreadPool: with no threads everything is the base loop; with N
 * threads the loops are distinct, named, picked round-robin or by hash, and
 * work sent to each runs in its own thread. */
#include <pthread.h>
#include <stdatomic.h>

#include "cmuduo/cmuduo.h"
#include "test_util.h"

enum { k_threads = 3 };

/* ---- init callback records ------------------------------------------------ */

typedef struct init_call {
  mu_event_loop_t *loop;
  pid_t tid;
  bool in_loop_thread;
  char name[32];
} init_call_t;

typedef struct init_log {
  pthread_mutex_t mutex;
  int calls;
  init_call_t call[k_threads + 1]; /* one spare: an extra call must be seen */
} init_log_t;

static void on_init(mu_event_loop_t *loop, void *arg) {
  init_log_t *log = arg;
  pthread_mutex_lock(&log->mutex);
  if (log->calls < k_threads + 1) {
    init_call_t *c = &log->call[log->calls];
    c->loop = loop;
    c->tid = mu_current_thread_tid();
    c->in_loop_thread = mu_event_loop_is_in_loop_thread(loop);
    snprintf(c->name, sizeof c->name, "%s", mu_current_thread_name());
  }
  log->calls++;
  pthread_mutex_unlock(&log->mutex);
}

static void init_log_init(init_log_t *log) {
  memset(log, 0, sizeof *log);
  pthread_mutex_init(&log->mutex, NULL);
}

static int init_calls(init_log_t *log) {
  pthread_mutex_lock(&log->mutex);
  int n = log->calls;
  pthread_mutex_unlock(&log->mutex);
  return n;
}

/* ---- an empty pool ---------------------------------------------------------- */

static void test_no_threads(mu_event_loop_t *base) {
  init_log_t log;
  init_log_init(&log);
  mu_event_loop_thread_pool_t *pool = mu_event_loop_thread_pool_new(base, "empty");
  CHECK(pool != NULL);
  CHECK(!mu_event_loop_thread_pool_started(pool));
  /* Before start every loop asked for is the base loop. */
  CHECK(mu_event_loop_thread_pool_get_next_loop(pool) == base);
  CHECK(mu_event_loop_thread_pool_get_loop_for_hash(pool, 12345) == base);
  size_t before = 0;
  mu_event_loop_t *const *unstarted =
      mu_event_loop_thread_pool_get_all_loops(pool, &before);
  CHECK_EQ(before, 1);
  CHECK(unstarted[0] == base);
  mu_event_loop_thread_pool_set_thread_num(pool, -2); /* taken as 0 */
  CHECK_EQ(mu_event_loop_thread_pool_thread_num(pool), 0);
  CHECK_EQ(mu_event_loop_thread_pool_start(pool, on_init, &log), 0);
  CHECK(mu_event_loop_thread_pool_started(pool));
  CHECK_STREQ(mu_event_loop_thread_pool_name(pool), "empty");

  CHECK_EQ(init_calls(&log), 1);
  CHECK(log.call[0].loop == base);
  CHECK_EQ(log.call[0].tid, mu_current_thread_tid());

  for (int i = 0; i < 5; ++i)
    CHECK(mu_event_loop_thread_pool_get_next_loop(pool) == base);
  for (size_t h = 0; h < 5; ++h) {
    CHECK(mu_event_loop_thread_pool_get_loop_for_hash(pool, h * 7919) == base);
  }
  size_t n = 0;
  mu_event_loop_t *const *all = mu_event_loop_thread_pool_get_all_loops(pool, &n);
  CHECK_EQ(n, 1);
  CHECK(all[0] == base);
  mu_event_loop_thread_pool_free(pool);
  CHECK_EQ(init_calls(&log), 1);
  pthread_mutex_destroy(&log.mutex);
}

/* ---- a pool of k_threads ------------------------------------------------------ */

static int index_of(mu_event_loop_t *const *all, size_t n, const mu_event_loop_t *loop) {
  for (size_t i = 0; i < n; ++i) {
    if (all[i] == loop)
      return (int)i;
  }
  return -1;
}

static void check_init_calls(init_log_t *log, mu_event_loop_t *base,
                             mu_event_loop_t *const *all, size_t n) {
  CHECK_EQ(init_calls(log), k_threads);
  bool name_seen[k_threads] = {false};
  for (int i = 0; i < k_threads; ++i) {
    init_call_t *c = &log->call[i];
    CHECK(c->in_loop_thread);
    CHECK(c->tid != mu_current_thread_tid());
    CHECK(c->loop != base);
    int at = index_of(all, n, c->loop);
    CHECK(at >= 0);
    CHECK_EQ(mu_event_loop_thread_id(c->loop), c->tid);
    for (int j = 0; j < i; ++j)
      CHECK(log->call[j].loop != c->loop);
    /* "workers0".."workers2", each once. */
    CHECK_EQ(strncmp(c->name, "workers", 7), 0);
    CHECK(c->name[7] >= '0' && c->name[7] < '0' + k_threads && c->name[8] == '\0');
    CHECK(!name_seen[c->name[7] - '0']);
    name_seen[c->name[7] - '0'] = true;
  }
}

static void check_round_robin(mu_event_loop_thread_pool_t *pool, mu_event_loop_t *base,
                              mu_event_loop_t *const *all, size_t n) {
  mu_event_loop_t *first[k_threads];
  for (int i = 0; i < k_threads; ++i) {
    first[i] = mu_event_loop_thread_pool_get_next_loop(pool);
    CHECK(first[i] != base);
    CHECK(index_of(all, n, first[i]) >= 0);
    for (int j = 0; j < i; ++j)
      CHECK(first[i] != first[j]);
  }
  /* Then the same cycle again, in the same order. */
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < k_threads; ++i) {
      CHECK(mu_event_loop_thread_pool_get_next_loop(pool) == first[i]);
    }
  }
}

static void check_hash(mu_event_loop_thread_pool_t *pool, mu_event_loop_t *const *all,
                       size_t n) {
  bool hit[k_threads] = {false};
  for (size_t h = 0; h < 100; ++h) {
    size_t hash = h * 2654435761u;
    mu_event_loop_t *loop = mu_event_loop_thread_pool_get_loop_for_hash(pool, hash);
    int at = index_of(all, n, loop);
    CHECK(at >= 0);
    hit[at] = true;
    /* Stable: asking again, even after round-robin picks, gives the same. */
    mu_event_loop_thread_pool_get_next_loop(pool);
    CHECK(mu_event_loop_thread_pool_get_loop_for_hash(pool, hash) == loop);
  }
  for (int i = 0; i < k_threads; ++i)
    CHECK(hit[i]);
}

/* ---- work in each loop, answered on the base loop ------------------------------ */

typedef struct trip {
  mu_event_loop_t *base;
  mu_event_loop_t *loop; /* the pool loop this trip visits */
  pid_t tid;
  bool in_loop_thread;
  char name[32];
  int *answers; /* base loop thread only */
} trip_t;

static void answer_on_base(void *arg) {
  trip_t *t = arg;
  CHECK(mu_event_loop_is_in_loop_thread(t->base));
  if (++*t->answers == k_threads)
    mu_event_loop_quit(t->base);
}

static void visit(void *arg) {
  trip_t *t = arg;
  t->tid = mu_current_thread_tid();
  t->in_loop_thread = mu_event_loop_is_in_loop_thread(t->loop);
  snprintf(t->name, sizeof t->name, "%s", mu_current_thread_name());
  CHECK_EQ(mu_event_loop_queue_in_loop(t->base, answer_on_base, t), 0);
}

static void check_work_runs_in_each_loop(mu_event_loop_t *base, init_log_t *log,
                                         mu_event_loop_t *const *all, size_t n) {
  trip_t trips[k_threads];
  int answers = 0;
  for (size_t i = 0; i < n; ++i) {
    trips[i] = (trip_t){.base = base, .loop = all[i], .answers = &answers};
    CHECK_EQ(mu_event_loop_run_in_loop(all[i], visit, &trips[i]), 0);
  }
  mu_event_loop_loop(base);
  CHECK_EQ(answers, k_threads);
  for (size_t i = 0; i < n; ++i) {
    CHECK(trips[i].in_loop_thread);
    CHECK_EQ(trips[i].tid, mu_event_loop_thread_id(all[i]));
    /* The thread that ran the work is the one that ran init for that loop. */
    bool matched = false;
    for (int j = 0; j < k_threads; ++j) {
      if (log->call[j].loop != all[i])
        continue;
      CHECK_EQ(log->call[j].tid, trips[i].tid);
      CHECK_STREQ(log->call[j].name, trips[i].name);
      matched = true;
    }
    CHECK(matched);
  }
}

/* ---- free joins ---------------------------------------------------------------- */

typedef struct late {
  _Atomic int ran;
} late_t;

static void count_late(void *arg) {
  atomic_fetch_add(&((late_t *)arg)->ran, 1);
}

static void test_threads(mu_event_loop_t *base) {
  init_log_t log;
  init_log_init(&log);
  mu_event_loop_thread_pool_t *pool = mu_event_loop_thread_pool_new(base, "workers");
  CHECK(pool != NULL);
  mu_event_loop_thread_pool_set_thread_num(pool, k_threads);
  CHECK(!mu_event_loop_thread_pool_started(pool));
  CHECK_EQ(mu_event_loop_thread_pool_start(pool, on_init, &log), 0);
  CHECK(mu_event_loop_thread_pool_started(pool));
  CHECK_EQ(mu_event_loop_thread_pool_thread_num(pool), k_threads);
  CHECK(mu_event_loop_thread_pool_start(pool, on_init, &log) < 0); /* once only */

  size_t n = 0;
  mu_event_loop_t *const *all = mu_event_loop_thread_pool_get_all_loops(pool, &n);
  CHECK_EQ(n, k_threads);
  CHECK(index_of(all, n, base) < 0);
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = 0; j < i; ++j)
      CHECK(all[i] != all[j]);
  }
  check_init_calls(&log, base, all, n);
  check_round_robin(pool, base, all, n);
  check_hash(pool, all, n);
  check_work_runs_in_each_loop(base, &log, all, n);

  /* Work queued just before free has run once free returns: free quits, the
   * loops drain, and the threads are joined. */
  late_t late = {0};
  for (size_t i = 0; i < n; ++i) {
    CHECK_EQ(mu_event_loop_queue_in_loop(all[i], count_late, &late), 0);
  }
  mu_event_loop_thread_pool_free(pool);
  CHECK_EQ(atomic_load(&late.ran), k_threads);
  CHECK_EQ(init_calls(&log), k_threads);
  pthread_mutex_destroy(&log.mutex);
}

int main(void) {
  test_time_limit(60);
  mu_event_loop_t *base = mu_event_loop_new();
  CHECK(base != NULL);
  test_no_threads(base);
  test_threads(base);
  for (int i = 0; i < 5; ++i)
    test_threads(base); /* start and stop repeatedly */
  mu_event_loop_free(base);
  TEST_PASS("event_loop_thread_pool");
}
