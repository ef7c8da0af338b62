/* quit(): from another thread it wakes a loop blocked in poll; before loop() it
 * is not lost; functors still queued at quit run before loop() returns; the loop
 * runs again afterwards; functors queued after it returned are run by free(). */
#include <pthread.h>
#include <stdatomic.h>

#include "cmuduo/cmuduo.h"
#include "test_util.h"

/* If the loop only returned because this timer woke it, quit's wakeup was lost.
 * Far beyond anything a loaded sanitizer run needs. */
static const double k_watchdog_seconds = 10.0;

static bool g_watchdog_fired;

static void on_watchdog(void *arg) {
  g_watchdog_fired = true;
  mu_event_loop_quit(arg);
}

static mu_timer_id_t arm_watchdog(mu_event_loop_t *loop) {
  g_watchdog_fired = false;
  mu_timer_id_t id = mu_event_loop_run_after(loop, k_watchdog_seconds, on_watchdog, loop);
  CHECK(mu_timer_id_valid(id));
  return id;
}

static void count(void *arg) {
  atomic_fetch_add((_Atomic int *)arg, 1);
}

/* ---- quit from another thread while blocked in poll ------------------------ */

typedef struct quitter {
  mu_event_loop_t *loop;
  mu_countdown_latch_t looping;
  _Atomic bool quit_sent;
} quitter_t;

static void signal_looping(void *arg) {
  mu_countdown_latch_count_down(arg);
}

static void *quit_later(void *arg) {
  quitter_t *q = arg;
  mu_countdown_latch_wait(&q->looping);
  /* Give the loop time to go back into poll, so quit has to wake it. */
  usleep(50 * 1000);
  atomic_store(&q->quit_sent, true);
  mu_event_loop_quit(q->loop);
  return NULL;
}

static void test_quit_from_other_thread(mu_event_loop_t *loop) {
  quitter_t q = {.loop = loop};
  mu_countdown_latch_init(&q.looping, 1);
  pthread_t th;
  CHECK(pthread_create(&th, NULL, quit_later, &q) == 0);
  CHECK_EQ(mu_event_loop_queue_in_loop(loop, signal_looping, &q.looping), 0);
  mu_timer_id_t watchdog = arm_watchdog(loop);
  mu_event_loop_loop(loop);
  CHECK(atomic_load(&q.quit_sent)); /* returned because of quit, not by itself */
  CHECK(!g_watchdog_fired);
  CHECK(pthread_join(th, NULL) == 0);
  mu_event_loop_cancel(loop, watchdog);
  mu_countdown_latch_destroy(&q.looping);
}

/* ---- quit before loop ------------------------------------------------------ */

static void *quit_now(void *arg) {
  mu_event_loop_quit(arg);
  return NULL;
}

/* `from_other_thread` covers the case where quit also writes the wakeup fd. */
static void test_quit_before_loop(mu_event_loop_t *loop, bool from_other_thread) {
  if (from_other_thread) {
    pthread_t th;
    CHECK(pthread_create(&th, NULL, quit_now, loop) == 0);
    CHECK(pthread_join(th, NULL) == 0);
  } else {
    mu_event_loop_quit(loop);
  }
  mu_timer_id_t watchdog = arm_watchdog(loop);
  int64_t it0 = mu_event_loop_iteration(loop);
  mu_timestamp_t t0 = mu_timestamp_mono_now();
  mu_event_loop_loop(loop);
  double elapsed = mu_timestamp_diff_seconds(mu_timestamp_mono_now(), t0);
  CHECK(!g_watchdog_fired);
  CHECK(elapsed < 1.0);
  CHECK(mu_event_loop_iteration(loop) - it0 <= 2);
  mu_event_loop_cancel(loop, watchdog);
}

/* ---- functors queued at quit ------------------------------------------------ */

enum { k_left_behind = 5 };

typedef struct leftover {
  mu_event_loop_t *loop;
  _Atomic int ran;
} leftover_t;

static void queue_more(void *arg) {
  leftover_t *l = arg;
  count(&l->ran);
  CHECK_EQ(mu_event_loop_queue_in_loop(l->loop, count, &l->ran), 0);
}

/* Quits, then leaves work behind, some of which queues more work. */
static void quit_and_leave_work(void *arg) {
  leftover_t *l = arg;
  mu_event_loop_quit(l->loop);
  for (int i = 0; i < k_left_behind; ++i) {
    CHECK_EQ(mu_event_loop_queue_in_loop(l->loop, count, &l->ran), 0);
  }
  CHECK_EQ(mu_event_loop_queue_in_loop(l->loop, queue_more, l), 0);
}

static void test_functors_run_at_quit(mu_event_loop_t *loop) {
  leftover_t l = {.loop = loop};
  CHECK_EQ(mu_event_loop_queue_in_loop(loop, quit_and_leave_work, &l), 0);
  mu_timer_id_t watchdog = arm_watchdog(loop);
  mu_event_loop_loop(loop);
  CHECK(!g_watchdog_fired);
  /* k_left_behind, queue_more itself, and what queue_more queued. */
  CHECK_EQ(atomic_load(&l.ran), k_left_behind + 2);
  CHECK_EQ(mu_event_loop_queue_size(loop), 0);
  mu_event_loop_cancel(loop, watchdog);
}

enum { k_remote_items = 1000 };

static void *queue_then_quit(void *arg) {
  leftover_t *l = arg;
  for (int i = 0; i < k_remote_items; ++i) {
    CHECK_EQ(mu_event_loop_queue_in_loop(l->loop, count, &l->ran), 0);
  }
  mu_event_loop_quit(l->loop);
  return NULL;
}

/* Everything another thread queued before its quit has run when loop() returns. */
static void test_remote_functors_run_at_quit(mu_event_loop_t *loop) {
  leftover_t l = {.loop = loop};
  pthread_t th;
  CHECK(pthread_create(&th, NULL, queue_then_quit, &l) == 0);
  mu_timer_id_t watchdog = arm_watchdog(loop);
  mu_event_loop_loop(loop);
  CHECK(!g_watchdog_fired);
  CHECK_EQ(atomic_load(&l.ran), k_remote_items);
  CHECK(pthread_join(th, NULL) == 0);
  mu_event_loop_cancel(loop, watchdog);
}

/* ---- run again -------------------------------------------------------------- */

enum { k_passes = 4 };

typedef struct spinner {
  mu_event_loop_t *loop;
  int left;
} spinner_t;

/* Needs several passes of the loop: proves a stale quit flag does not end the
 * next run early (a drain at quit would still run it, but in one pass). */
static void spin(void *arg) {
  spinner_t *s = arg;
  if (--s->left == 0) {
    mu_event_loop_quit(s->loop);
    return;
  }
  CHECK_EQ(mu_event_loop_queue_in_loop(s->loop, spin, s), 0);
}

static void test_run_again(mu_event_loop_t *loop) {
  for (int run = 0; run < 3; ++run) {
    spinner_t s = {loop, k_passes};
    CHECK_EQ(mu_event_loop_queue_in_loop(loop, spin, &s), 0);
    int64_t it0 = mu_event_loop_iteration(loop);
    mu_timer_id_t watchdog = arm_watchdog(loop);
    mu_event_loop_loop(loop);
    CHECK(!g_watchdog_fired);
    CHECK_EQ(s.left, 0);
    CHECK(mu_event_loop_iteration(loop) - it0 >= k_passes);
    mu_event_loop_cancel(loop, watchdog);
  }
}

/* ---- queued after loop() returned: run by free ----------------------------- */

typedef struct late {
  mu_event_loop_t *loop;
  _Atomic int ran;
  _Atomic pid_t last_tid;
} late_t;

static void count_late(void *arg) {
  late_t *l = arg;
  atomic_store(&l->last_tid, mu_current_thread_tid());
  count(&l->ran);
}

static void count_late_and_queue(void *arg) {
  late_t *l = arg;
  count_late(l);
  CHECK_EQ(mu_event_loop_queue_in_loop(l->loop, count_late, l), 0);
}

static void *queue_late(void *arg) {
  late_t *l = arg;
  CHECK_EQ(mu_event_loop_queue_in_loop(l->loop, count_late, l), 0);
  return NULL;
}

static void test_free_runs_late_functors(mu_event_loop_t *loop) {
  late_t l = {.loop = loop};
  CHECK_EQ(mu_event_loop_queue_in_loop(loop, count_late, &l), 0);
  CHECK_EQ(mu_event_loop_queue_in_loop(loop, count_late_and_queue, &l), 0);
  pthread_t th;
  CHECK(pthread_create(&th, NULL, queue_late, &l) == 0);
  CHECK(pthread_join(th, NULL) == 0);
  CHECK_EQ(atomic_load(&l.ran), 0);
  CHECK_EQ(mu_event_loop_queue_size(loop), 3);
  mu_event_loop_free(loop);
  /* The three queued, and the one queued while free drained. */
  CHECK_EQ(atomic_load(&l.ran), 4);
  CHECK_EQ(atomic_load(&l.last_tid), mu_current_thread_tid());
}

int main(void) {
  test_time_limit(60);
  mu_event_loop_t *loop = mu_event_loop_new();
  CHECK(loop != NULL);
  test_quit_from_other_thread(loop);
  test_quit_before_loop(loop, false);
  test_quit_before_loop(loop, true);
  test_functors_run_at_quit(loop);
  test_remote_functors_run_at_quit(loop);
  test_run_again(loop);
  test_quit_from_other_thread(loop);  /* again, after all the runs above */
  test_free_runs_late_functors(loop); /* frees the loop */
  TEST_PASS("loop_quit");
}
