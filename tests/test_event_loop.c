/* EventLoop queries: the current thread's loop, thread ownership, iteration
 * count, poll return time, poller choice, and one loop per thread over time. */
#include <pthread.h>
#include <stdatomic.h>

#include "cmuduo/cmuduo.h"
#include "test_util.h"

/* ---- of_current_thread / ownership ----------------------------------------- */

typedef struct probe {
  mu_event_loop_t *loop;
  bool in_loop_thread;
  pid_t tid;
  mu_event_loop_t *current;
} probe_t;

static void *probe_from_thread(void *arg) {
  probe_t *p = arg;
  p->in_loop_thread = mu_event_loop_is_in_loop_thread(p->loop);
  p->tid = mu_current_thread_tid();
  p->current = mu_event_loop_of_current_thread();
  return NULL;
}

static void test_ownership(void) {
  CHECK(mu_event_loop_of_current_thread() == NULL);
  mu_event_loop_t *loop = mu_event_loop_new();
  CHECK(loop != NULL);
  CHECK(mu_event_loop_of_current_thread() == loop);
  CHECK(mu_event_loop_is_in_loop_thread(loop));
  CHECK_EQ(mu_event_loop_thread_id(loop), mu_current_thread_tid());
  mu_event_loop_assert_in_loop_thread(loop); /* must not abort here */

  probe_t p = {.loop = loop, .in_loop_thread = true, .current = loop};
  pthread_t th;
  CHECK(pthread_create(&th, NULL, probe_from_thread, &p) == 0);
  CHECK(pthread_join(th, NULL) == 0);
  CHECK(!p.in_loop_thread);
  CHECK(p.tid != mu_current_thread_tid());
  CHECK(p.current == NULL); /* our loop is not the other thread's */

  mu_event_loop_free(loop);
  CHECK(mu_event_loop_of_current_thread() == NULL);
  /* Freed, so this thread may own a new one. */
  loop = mu_event_loop_new();
  CHECK(loop != NULL);
  CHECK(mu_event_loop_of_current_thread() == loop);
  mu_event_loop_free(loop);
}

/* ---- iterations and poll return time ------------------------------------- */

enum { k_passes = 6 };

typedef struct ticker {
  mu_event_loop_t *loop;
  int passes;
  int64_t last_iteration;
  mu_timestamp_t last_poll;
  mu_timestamp_t before_loop;
} ticker_t;

/* Re-queues itself, one pass of the loop each time, and checks at each pass
 * that the counters moved the right way. */
static void tick(void *arg) {
  ticker_t *t = arg;
  int64_t it = mu_event_loop_iteration(t->loop);
  mu_timestamp_t polled = mu_event_loop_poll_return_time(t->loop);
  mu_timestamp_t now = mu_timestamp_mono_now();
  CHECK(it > t->last_iteration);
  CHECK(mu_timestamp_valid(polled));
  CHECK(polled.us >= t->last_poll.us);
  CHECK(polled.us >= t->before_loop.us);
  /* A monotonic reading taken just before this functor ran: a wall-clock
   * value would be decades away. */
  CHECK(polled.us <= now.us);
  CHECK(mu_timestamp_diff_seconds(now, polled) < 5.0);
  t->last_iteration = it;
  t->last_poll = polled;
  if (++t->passes == k_passes) {
    mu_event_loop_quit(t->loop);
    return;
  }
  CHECK_EQ(mu_event_loop_queue_in_loop(t->loop, tick, t), 0);
}

static void test_iterations_and_poll_time(void) {
  mu_event_loop_t *loop = mu_event_loop_new();
  CHECK(loop != NULL);
  CHECK_EQ(mu_event_loop_iteration(loop), 0);
  ticker_t t = {.loop = loop, .last_iteration = 0};
  t.before_loop = mu_timestamp_mono_now();
  CHECK_EQ(mu_event_loop_queue_in_loop(loop, tick, &t), 0);
  mu_event_loop_loop(loop);
  CHECK_EQ(t.passes, k_passes);
  int64_t after = mu_event_loop_iteration(loop);
  CHECK(after >= k_passes);
  CHECK(after <= 2 * k_passes + 2);
  CHECK(mu_event_loop_poll_return_time(loop).us >= t.before_loop.us);
  CHECK(mu_event_loop_poll_return_time(loop).us <= mu_timestamp_mono_now().us);
  mu_event_loop_free(loop);
}

/* ---- poller choice -------------------------------------------------------- */

static void test_poller_name(void) {
  mu_event_loop_t *loop = mu_event_loop_new();
  CHECK(loop != NULL);
  CHECK_STREQ(mu_event_loop_poller_name(loop), test_using_poll() ? "poll" : "epoll");
  mu_event_loop_free(loop);
}

/* ---- loops in threads that come and go -------------------------------------- */

typedef struct owner {
  mu_countdown_latch_t *made;    /* counted down once this thread's loop exists */
  mu_countdown_latch_t *release; /* waited on before freeing it */
  mu_event_loop_t *loop;         /* read by main only after the latch or join */
  pid_t tid;
  bool freed_cleanly;
} owner_t;

static void *own_a_loop(void *arg) {
  owner_t *o = arg;
  o->tid = mu_current_thread_tid();
  o->loop = mu_event_loop_new();
  CHECK(o->loop != NULL);
  CHECK(mu_event_loop_of_current_thread() == o->loop);
  CHECK_EQ(mu_event_loop_thread_id(o->loop), o->tid);
  if (o->made)
    mu_countdown_latch_count_down(o->made);
  if (o->release)
    mu_countdown_latch_wait(o->release);
  mu_event_loop_free(o->loop);
  o->freed_cleanly = mu_event_loop_of_current_thread() == NULL;
  return NULL;
}

static void run_owner(owner_t *o) {
  pthread_t th;
  CHECK(pthread_create(&th, NULL, own_a_loop, o) == 0);
  CHECK(pthread_join(th, NULL) == 0);
  CHECK(o->freed_cleanly);
}

static void test_loops_in_passing_threads(void) {
  /* One after another: a thread that freed its loop and exited leaves nothing
   * behind that stops the next thread. */
  for (int i = 0; i < 5; ++i) {
    owner_t o = {0};
    run_owner(&o);
  }
  /* At the same time: one loop per thread, not one per process. */
  mu_countdown_latch_t made, release;
  mu_countdown_latch_init(&made, 2);
  mu_countdown_latch_init(&release, 1);
  owner_t a = {.made = &made, .release = &release};
  owner_t b = {.made = &made, .release = &release};
  pthread_t ta, tb;
  CHECK(pthread_create(&ta, NULL, own_a_loop, &a) == 0);
  CHECK(pthread_create(&tb, NULL, own_a_loop, &b) == 0);
  mu_countdown_latch_wait(&made);
  CHECK(a.loop != b.loop);
  CHECK(a.tid != b.tid);
  CHECK(!mu_event_loop_is_in_loop_thread(a.loop));
  CHECK(!mu_event_loop_is_in_loop_thread(b.loop));
  CHECK(mu_event_loop_of_current_thread() == NULL);
  /* The main thread may own one as well while they live. */
  mu_event_loop_t *mine = mu_event_loop_new();
  CHECK(mine != NULL);
  mu_countdown_latch_count_down(&release);
  CHECK(pthread_join(ta, NULL) == 0);
  CHECK(pthread_join(tb, NULL) == 0);
  CHECK(a.freed_cleanly && b.freed_cleanly);
  mu_event_loop_free(mine);
  mu_countdown_latch_destroy(&made);
  mu_countdown_latch_destroy(&release);
}

int main(void) {
  test_time_limit(60);
  test_ownership();
  test_iterations_and_poll_time();
  test_poller_name();
  test_loops_in_passing_threads();
  TEST_PASS("event_loop");
}
