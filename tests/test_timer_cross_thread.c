/* Timers across threads: timers added and cancelled from other threads fire
 * exactly when not cancelled, in the loop thread; a timer made in the loop
 * thread can be cancelled from another thread; a cross-thread timer can be
 * cancelled by its own callback and by the loop thread even before the loop
 * has seen the add; a stale cross-thread id never cancels a newer timer.
 * Meant to run under TSan too. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "cmuduo/cmuduo.h"
#include "test_util.h"

static mu_event_loop_t *g_loop;

static int64_t now_us(void) {
  return mu_timestamp_mono_now().us;
}

static void sleep_us(int64_t us) {
  struct timespec ts = {(time_t)(us / 1000000), (long)(us % 1000000) * 1000};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

/* Waits for a latch with a bound, so a timer that never comes fails the check
 * here instead of hanging until the time limit. */
static void wait_latch(mu_countdown_latch_t *latch) {
  for (int i = 0; i < 30000 && mu_countdown_latch_get_count(latch) > 0; ++i)
    sleep_us(1000);
  CHECK_EQ(mu_countdown_latch_get_count(latch), 0);
}

static void on_count_down(void *arg) {
  mu_countdown_latch_count_down(arg);
}

/* Adds a timer `delay` seconds out that counts `latch` down, and waits for it:
 * every timer due before it has run (or was cancelled) when this returns. */
static void wait_for_timer_after(double delay) {
  mu_countdown_latch_t done;
  mu_countdown_latch_init(&done, 1);
  CHECK(mu_timer_id_valid(mu_event_loop_run_after(g_loop, delay, on_count_down, &done)));
  wait_latch(&done);
  mu_countdown_latch_destroy(&done);
}

/* ---- many adders, every second timer cancelled -------------------------- */

enum { k_adders = 4, k_per_adder = 1000 };

/* The delays are long so that a timer cannot come due between its add and its
 * cancel, which follow each other in the adding thread: only a stall of
 * seconds in between could let it fire legitimately. */
static const double k_base_delay = 2.0;

typedef struct tagged {
  int adder;
  int index;
  int64_t lo; /* written before the add, read by the loop thread */
  int fired;  /* loop thread only until the final latch */
} tagged_t;

static tagged_t g_tagged[k_adders][k_per_adder];
static int g_fired_per_adder[k_adders]; /* loop thread only until the latch */

typedef struct adder {
  int id;
  mu_countdown_latch_t *go;
} adder_t;

static void on_tagged(void *arg) {
  tagged_t *t = arg;
  CHECK(mu_event_loop_is_in_loop_thread(g_loop));
  CHECK(now_us() >= t->lo);
  CHECK(t == &g_tagged[t->adder][t->index]); /* the arg came back verbatim */
  t->fired++;
  g_fired_per_adder[t->adder]++;
}

static void *adder_main(void *p) {
  adder_t *a = p;
  mu_countdown_latch_wait(a->go);
  for (int i = 0; i < k_per_adder; ++i) {
    tagged_t *t = &g_tagged[a->id][i];
    double delay = k_base_delay + (double)((i * 7 + a->id) % 64) * 0.0005;
    *t = (tagged_t){.adder = a->id, .index = i, .lo = now_us() + (int64_t)(delay * 1e6)};
    mu_timer_id_t id = mu_event_loop_run_after(g_loop, delay, on_tagged, t);
    CHECK(mu_timer_id_valid(id));
    if (i % 2 == 1)
      mu_event_loop_cancel(g_loop, id);
  }
  return NULL;
}

static void test_many_adders(void) {
  mu_countdown_latch_t go;
  mu_countdown_latch_init(&go, 1);
  pthread_t threads[k_adders];
  adder_t adders[k_adders];
  for (int i = 0; i < k_adders; ++i) {
    adders[i] = (adder_t){i, &go};
    CHECK_EQ(pthread_create(&threads[i], NULL, adder_main, &adders[i]), 0);
  }
  mu_countdown_latch_count_down(&go);
  for (int i = 0; i < k_adders; ++i)
    CHECK_EQ(pthread_join(threads[i], NULL), 0);
  mu_countdown_latch_destroy(&go);
  /* Added after every add and cancel, and due after every one of them. */
  wait_for_timer_after(k_base_delay + 0.2);
  for (int a = 0; a < k_adders; ++a) {
    CHECK_EQ(g_fired_per_adder[a], k_per_adder / 2);
    for (int i = 0; i < k_per_adder; ++i)
      CHECK_EQ(g_tagged[a][i].fired, i % 2 == 0);
  }
}

/* ---- loop-thread timers cancelled from another thread -------------------- */

typedef struct local_case {
  mu_timer_id_t repeating_id;
  mu_timer_id_t one_shot_id;
  atomic_int repeating_fired;
  int one_shot_fired;  /* loop thread only until a latch */
  int fired_at_cancel; /* loop thread only until a latch */
  mu_countdown_latch_t created;
  mu_countdown_latch_t cancelled;
} local_case_t;

static void on_repeating(void *arg) {
  local_case_t *lc = arg;
  atomic_fetch_add(&lc->repeating_fired, 1);
}

static void on_one_shot(void *arg) {
  local_case_t *lc = arg;
  lc->one_shot_fired++;
}

/* Runs in the loop thread. Holds the loop until the other thread has issued
 * its cancel, so the one-shot cannot come due before the cancel is queued. */
static void create_local_timers(void *arg) {
  local_case_t *lc = arg;
  lc->repeating_id = mu_event_loop_run_every(g_loop, 0.005, on_repeating, lc);
  lc->one_shot_id = mu_event_loop_run_after(g_loop, 0.02, on_one_shot, lc);
  CHECK(mu_timer_id_valid(lc->repeating_id) && mu_timer_id_valid(lc->one_shot_id));
  CHECK(lc->one_shot_id.slot != UINT32_MAX); /* a loop-thread id, not a remote one */
  mu_countdown_latch_count_down(&lc->created);
  mu_countdown_latch_wait(&lc->cancelled);
}

static void snapshot_repeating(void *arg) {
  local_case_t *lc = arg;
  lc->fired_at_cancel = atomic_load(&lc->repeating_fired);
}

static void test_cancel_loop_timer_from_other_thread(void) {
  local_case_t lc = {0};
  mu_countdown_latch_init(&lc.created, 1);
  mu_countdown_latch_init(&lc.cancelled, 1);
  CHECK_EQ(mu_event_loop_queue_in_loop(g_loop, create_local_timers, &lc), 0);
  mu_countdown_latch_wait(&lc.created);
  mu_event_loop_cancel(g_loop, lc.one_shot_id);
  mu_countdown_latch_count_down(&lc.cancelled);
  /* Let the repeating one run a few ticks before cancelling it. */
  for (int i = 0; i < 2000 && atomic_load(&lc.repeating_fired) < 3; ++i)
    sleep_us(5000);
  CHECK(atomic_load(&lc.repeating_fired) >= 3);
  mu_event_loop_cancel(g_loop, lc.repeating_id);
  /* Queued after the cancel, so it runs after it. */
  CHECK_EQ(mu_event_loop_queue_in_loop(g_loop, snapshot_repeating, &lc), 0);
  wait_for_timer_after(0.15); /* thirty intervals */
  CHECK_EQ(lc.one_shot_fired, 0);
  CHECK_EQ(atomic_load(&lc.repeating_fired), lc.fired_at_cancel);
  mu_countdown_latch_destroy(&lc.created);
  mu_countdown_latch_destroy(&lc.cancelled);
}

/* ---- a cross-thread timer cancelled in the loop thread -------------------- */

typedef struct remote_case {
  mu_timer_id_t id; /* published through `published` */
  atomic_bool published;
  int fired; /* loop thread only until the latch */
  int fired_at_cancel;
  mu_countdown_latch_t id_ready;
  mu_countdown_latch_t done;
} remote_case_t;

static void on_remote_repeating(void *arg) {
  remote_case_t *rc = arg;
  if (++rc->fired < 3)
    return;
  /* The adding thread stores the id after the call returns; wait for it. */
  for (int i = 0; i < 20000 && !atomic_load(&rc->published); ++i)
    sleep_us(100);
  CHECK(atomic_load(&rc->published));
  mu_event_loop_cancel(g_loop, rc->id);
  rc->fired_at_cancel = rc->fired;
  CHECK(
      mu_timer_id_valid(mu_event_loop_run_after(g_loop, 0.1, on_count_down, &rc->done)));
}

/* A repeating timer added from this thread cancels itself, by the id this
 * thread got, from its own callback. */
static void test_remote_repeating_cancels_itself(void) {
  remote_case_t rc = {0};
  mu_countdown_latch_init(&rc.done, 1);
  rc.id = mu_event_loop_run_every(g_loop, 0.005, on_remote_repeating, &rc);
  CHECK(mu_timer_id_valid(rc.id));
  atomic_store(&rc.published, true);
  wait_latch(&rc.done);
  CHECK_EQ(rc.fired, 3);
  CHECK_EQ(rc.fired_at_cancel, 3);
  mu_countdown_latch_destroy(&rc.done);
}

static void on_remote_one_shot(void *arg) {
  remote_case_t *rc = arg;
  rc->fired++;
}

/* Runs in the loop thread: receives the id of a timer this thread has not
 * added yet (its add is still queued behind this functor) and cancels it. */
static void cancel_before_add_is_seen(void *arg) {
  remote_case_t *rc = arg;
  mu_countdown_latch_wait(&rc->id_ready);
  mu_event_loop_cancel(g_loop, rc->id);
  CHECK(
      mu_timer_id_valid(mu_event_loop_run_after(g_loop, 0.2, on_count_down, &rc->done)));
}

static void test_loop_cancels_remote_timer_not_yet_added(void) {
  remote_case_t rc = {0};
  mu_countdown_latch_init(&rc.id_ready, 1);
  mu_countdown_latch_init(&rc.done, 1);
  CHECK_EQ(mu_event_loop_queue_in_loop(g_loop, cancel_before_add_is_seen, &rc), 0);
  rc.id = mu_event_loop_run_after(g_loop, 0.02, on_remote_one_shot, &rc);
  CHECK(mu_timer_id_valid(rc.id));
  mu_countdown_latch_count_down(&rc.id_ready);
  wait_latch(&rc.done);
  CHECK_EQ(rc.fired, 0);
  mu_countdown_latch_destroy(&rc.id_ready);
  mu_countdown_latch_destroy(&rc.done);
}

/* ---- a stale cross-thread id --------------------------------------------- */

enum { k_reusers = 64 };

typedef struct stale_remote {
  mu_timer_id_t old_id;
  int old_fired;
  int new_fired; /* loop thread only until the latch */
  mu_countdown_latch_t old_done;
  mu_countdown_latch_t done;
} stale_remote_t;

static void on_old(void *arg) {
  stale_remote_t *sr = arg;
  sr->old_fired++;
  mu_countdown_latch_count_down(&sr->old_done);
}

static void on_new(void *arg) {
  stale_remote_t *sr = arg;
  sr->new_fired++;
}

/* Runs in the loop thread: new timers take the freed slot of the fired
 * cross-thread timer, then its stale id is cancelled. */
static void reuse_then_cancel_stale(void *arg) {
  stale_remote_t *sr = arg;
  for (int i = 0; i < k_reusers; ++i) {
    CHECK(mu_timer_id_valid(mu_event_loop_run_after(g_loop, 0.03, on_new, sr)));
  }
  mu_event_loop_cancel(g_loop, sr->old_id);
  CHECK(
      mu_timer_id_valid(mu_event_loop_run_after(g_loop, 0.15, on_count_down, &sr->done)));
}

static void test_stale_remote_id(void) {
  stale_remote_t sr = {0};
  mu_countdown_latch_init(&sr.old_done, 1);
  mu_countdown_latch_init(&sr.done, 1);
  sr.old_id = mu_event_loop_run_after(g_loop, 0.005, on_old, &sr);
  CHECK(mu_timer_id_valid(sr.old_id));
  wait_latch(&sr.old_done);
  CHECK_EQ(mu_event_loop_queue_in_loop(g_loop, reuse_then_cancel_stale, &sr), 0);
  mu_event_loop_cancel(g_loop, sr.old_id); /* and from this thread too */
  wait_latch(&sr.done);
  CHECK_EQ(sr.old_fired, 1);
  CHECK_EQ(sr.new_fired, k_reusers);
  mu_countdown_latch_destroy(&sr.old_done);
  mu_countdown_latch_destroy(&sr.done);
}

int main(void) {
  test_time_limit(120);
  mu_event_loop_thread_t *thread = mu_event_loop_thread_new(NULL, NULL, "timer-loop");
  CHECK(thread != NULL);
  g_loop = mu_event_loop_thread_start_loop(thread);
  CHECK(g_loop != NULL);
  CHECK(!mu_event_loop_is_in_loop_thread(g_loop));
  test_many_adders();
  test_cancel_loop_timer_from_other_thread();
  test_remote_repeating_cancels_itself();
  test_loop_cancels_remote_timer_not_yet_added();
  test_stale_remote_id();
  mu_event_loop_thread_free(thread);
  TEST_PASS("timer_cross_thread");
}
