/* EventLoopThread: start_loop hands back a running loop owned by a new, named
 * thread whose init callback has already run; free quits, drains and joins. */
#include <pthread.h>
#include <stdatomic.h>

#include "cmuduo/cmuduo.h"
#include "test_util.h"

/* ---- what the init callback saw ------------------------------------------- */

typedef struct init_seen {
  useconds_t linger_us; /* makes an init that raced with start_loop lose */
  int calls;
  pid_t tid;
  mu_event_loop_t *loop;
  mu_event_loop_t *current;
  bool in_loop_thread;
  char name[32];
} init_seen_t;

/* Written in the loop thread before start_loop returns; start_loop's handshake
 * is what makes reading it afterwards safe (TSan checks that too). */
static void on_init(mu_event_loop_t *loop, void *arg) {
  init_seen_t *s = arg;
  if (s->linger_us > 0)
    usleep(s->linger_us);
  s->calls++;
  s->tid = mu_current_thread_tid();
  s->loop = loop;
  s->current = mu_event_loop_of_current_thread();
  s->in_loop_thread = mu_event_loop_is_in_loop_thread(loop);
  snprintf(s->name, sizeof s->name, "%s", mu_current_thread_name());
}

/* ---- what a queued functor saw ------------------------------------------- */

typedef struct work_seen {
  mu_event_loop_t *loop;
  mu_countdown_latch_t done;
  pid_t tid;
  bool in_loop_thread;
  char name[32];
} work_seen_t;

static void look_around(void *arg) {
  work_seen_t *w = arg;
  w->tid = mu_current_thread_tid();
  w->in_loop_thread = mu_event_loop_is_in_loop_thread(w->loop);
  snprintf(w->name, sizeof w->name, "%s", mu_current_thread_name());
  mu_countdown_latch_count_down(&w->done);
}

static void test_start_loop(void) {
  init_seen_t seen = {.linger_us = 50 * 1000};
  mu_event_loop_thread_t *t = mu_event_loop_thread_new(on_init, &seen, "io-test");
  CHECK(t != NULL);
  CHECK_EQ(seen.calls, 0); /* new does not start */
  mu_event_loop_t *loop = mu_event_loop_thread_start_loop(t);
  CHECK(loop != NULL);
  CHECK_EQ(seen.calls, 1);
  CHECK(seen.loop == loop);
  CHECK(seen.current == loop);
  CHECK(seen.in_loop_thread);
  CHECK(seen.tid != mu_current_thread_tid());
  CHECK_EQ(mu_event_loop_thread_id(loop), seen.tid);
  CHECK_STREQ(seen.name, "io-test");
  CHECK(!mu_event_loop_is_in_loop_thread(loop));
  CHECK(mu_event_loop_of_current_thread() == NULL);

  /* The loop is running: queued work is picked up without our help. */
  work_seen_t w = {.loop = loop};
  mu_countdown_latch_init(&w.done, 1);
  CHECK_EQ(mu_event_loop_queue_in_loop(loop, look_around, &w), 0);
  mu_countdown_latch_wait(&w.done);
  CHECK_EQ(w.tid, seen.tid);
  CHECK(w.in_loop_thread);
  CHECK_STREQ(w.name, "io-test");
  mu_event_loop_thread_free(t);
  mu_countdown_latch_destroy(&w.done);
}

/* ---- free ------------------------------------------------------------------ */

enum { k_last_minute = 100 };

typedef struct tally {
  mu_event_loop_t *loop;
  _Atomic int ran;
  _Atomic int wrong_thread;
} tally_t;

static void count_in_loop(void *arg) {
  tally_t *t = arg;
  if (!mu_event_loop_is_in_loop_thread(t->loop))
    atomic_fetch_add(&t->wrong_thread, 1);
  atomic_fetch_add(&t->ran, 1);
}

static void count_and_queue(void *arg) {
  tally_t *t = arg;
  count_in_loop(t);
  CHECK_EQ(mu_event_loop_queue_in_loop(t->loop, count_in_loop, t), 0);
}

/* free() quits the loop, and the loop runs what is still queued before it
 * returns (event_loop.h), then frees itself in its thread, which free() joins:
 * so everything queued before free() has run by the time free() returns. */
static void test_free_runs_last_minute_work(void) {
  mu_event_loop_thread_t *t = mu_event_loop_thread_new(NULL, NULL, "last");
  CHECK(t != NULL);
  tally_t tally = {0};
  tally.loop = mu_event_loop_thread_start_loop(t);
  CHECK(tally.loop != NULL);
  for (int i = 0; i < k_last_minute; ++i) {
    CHECK_EQ(mu_event_loop_queue_in_loop(tally.loop, count_in_loop, &tally), 0);
  }
  CHECK_EQ(mu_event_loop_queue_in_loop(tally.loop, count_and_queue, &tally), 0);
  mu_event_loop_thread_free(t);
  CHECK_EQ(atomic_load(&tally.ran), k_last_minute + 2);
  CHECK_EQ(atomic_load(&tally.wrong_thread), 0);
}

static void test_free_without_start(void) {
  init_seen_t seen = {0};
  mu_event_loop_thread_t *t = mu_event_loop_thread_new(on_init, &seen, "never");
  CHECK(t != NULL);
  mu_event_loop_thread_free(t);
  CHECK_EQ(seen.calls, 0);
  mu_event_loop_thread_free(NULL);
}

/* ---- several in a row and side by side ------------------------------------- */

enum { k_in_a_row = 20, k_side_by_side = 4 };

static void test_in_a_row(void) {
  for (int i = 0; i < k_in_a_row; ++i) {
    char name[16];
    snprintf(name, sizeof name, "row%d", i);
    init_seen_t seen = {0};
    mu_event_loop_thread_t *t = mu_event_loop_thread_new(on_init, &seen, name);
    CHECK(t != NULL);
    mu_event_loop_t *loop = mu_event_loop_thread_start_loop(t);
    CHECK(loop != NULL);
    CHECK_EQ(seen.calls, 1);
    CHECK_STREQ(seen.name, name);
    tally_t tally = {.loop = loop};
    /* Odd rounds free at once: quit may then arrive before loop() starts. */
    if (i % 2 == 0)
      CHECK_EQ(mu_event_loop_queue_in_loop(loop, count_in_loop, &tally), 0);
    mu_event_loop_thread_free(t);
    CHECK_EQ(atomic_load(&tally.ran), i % 2 == 0 ? 1 : 0);
    CHECK_EQ(atomic_load(&tally.wrong_thread), 0);
  }
}

static void test_side_by_side(void) {
  mu_event_loop_thread_t *threads[k_side_by_side];
  init_seen_t seen[k_side_by_side];
  memset(seen, 0, sizeof seen);
  mu_event_loop_t *loops[k_side_by_side];
  for (int i = 0; i < k_side_by_side; ++i) {
    threads[i] = mu_event_loop_thread_new(on_init, &seen[i], NULL);
    CHECK(threads[i] != NULL);
    loops[i] = mu_event_loop_thread_start_loop(threads[i]);
    CHECK(loops[i] != NULL);
  }
  for (int i = 0; i < k_side_by_side; ++i) {
    CHECK_EQ(seen[i].calls, 1);
    for (int j = 0; j < i; ++j) {
      CHECK(loops[i] != loops[j]);
      CHECK(seen[i].tid != seen[j].tid);
    }
    work_seen_t w = {.loop = loops[i]};
    mu_countdown_latch_init(&w.done, 1);
    CHECK_EQ(mu_event_loop_run_in_loop(loops[i], look_around, &w), 0);
    mu_countdown_latch_wait(&w.done);
    CHECK_EQ(w.tid, seen[i].tid);
    CHECK(w.in_loop_thread);
    mu_countdown_latch_destroy(&w.done);
  }
  /* Freed in the opposite order from start: none depends on another. */
  for (int i = k_side_by_side - 1; i >= 0; --i)
    mu_event_loop_thread_free(threads[i]);
}

int main(void) {
  test_time_limit(60);
  test_start_loop();
  test_free_runs_last_minute_work();
  test_free_without_start();
  test_in_a_row();
  test_side_by_side();
  CHECK(mu_event_loop_of_current_thread() == NULL);
  TEST_PASS("event_loop_thread");
}
