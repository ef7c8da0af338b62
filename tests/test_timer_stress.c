/* Timer stress: 100,000 timers with random deadlines, about half cancelled
 * before they fire and some cancelled by earlier callbacks: exactly the others
 * fire, once each, in deadline order. Then 100,000s of adds and cancels that
 * recycle the same slots (from the loop thread and from another thread) leave
 * the queue consistent: empty when it should be, stale ids harmless, and the
 * next timer still fires. ASan checks that everything is freed. */
#include <pthread.h>
#include <stdint.h>

#include "cmuduo/cmuduo.h"
#include "test_util.h"
#include "net/timer_queue.h"

enum { k_n = 100000 };

static mu_event_loop_t *g_loop;

static uint64_t g_rng = 0x9E3779B97F4A7C15u;

static uint32_t rnd(uint32_t bound) {
  g_rng ^= g_rng << 13;
  g_rng ^= g_rng >> 7;
  g_rng ^= g_rng << 17;
  return (uint32_t)((g_rng >> 16) % bound);
}

static int64_t now_us(void) {
  return mu_timestamp_mono_now().us;
}

static void on_quit(void *arg) {
  (*(int *)arg)++;
  mu_event_loop_quit(g_loop);
}

static void run_until_quit_at(int64_t when) {
  int quit_fired = 0;
  mu_timer_id_t id =
      mu_event_loop_run_at(g_loop, mu_timestamp_from_us(when), on_quit, &quit_fired);
  CHECK(mu_timer_id_valid(id));
  mu_event_loop_loop(g_loop);
  CHECK_EQ(quit_fired, 1);
}

static void shuffle(int *a, int n) {
  for (int i = n - 1; i > 0; --i) {
    int j = (int)rnd((uint32_t)i + 1);
    int t = a[i];
    a[i] = a[j];
    a[j] = t;
  }
}

/* ---- 100,000 random deadlines ------------------------------------------- */

typedef struct stress_timer {
  int64_t deadline;
  mu_timer_id_t id;
  int victim;   /* index this timer cancels when it fires, or -1 */
  bool cancel;  /* must not fire */
  bool by_peer; /* cancelled by its canceller's callback, not up front */
  int fired;
} stress_timer_t;

static stress_timer_t g_timers[k_n];
static int g_by_deadline[k_n];
static int g_order[k_n];
static int64_t g_last_deadline;
static int g_fired_total;

static int by_deadline(const void *a, const void *b) {
  const stress_timer_t *x = &g_timers[*(const int *)a], *y = &g_timers[*(const int *)b];
  if (x->deadline != y->deadline)
    return x->deadline < y->deadline ? -1 : 1;
  return (*(const int *)a > *(const int *)b) - (*(const int *)a < *(const int *)b);
}

static void on_stress(void *arg) {
  stress_timer_t *t = arg;
  CHECK(!t->cancel);
  CHECK_EQ(t->fired, 0);
  CHECK(now_us() >= t->deadline);
  CHECK(t->deadline >= g_last_deadline);
  g_last_deadline = t->deadline;
  t->fired++;
  g_fired_total++;
  if (t->victim >= 0)
    mu_event_loop_cancel(g_loop, g_timers[t->victim].id);
}

/* Half the timers are cancelled up front; among the rest, about one in ten is
 * paired with the next one due strictly later, which it cancels when it fires
 * (often in the same tick, since 100,000 deadlines share 200 ms). */
static int plan_cancellations(void) {
  for (int i = 0; i < k_n; ++i) {
    g_timers[i].cancel = rnd(2) == 0;
    g_timers[i].victim = -1;
  }
  int prev = -1;
  for (int k = 0; k < k_n; ++k) {
    int i = g_by_deadline[k];
    if (g_timers[i].cancel)
      continue;
    if (prev >= 0 && g_timers[prev].victim == -2 &&
        g_timers[i].deadline > g_timers[prev].deadline) {
      g_timers[prev].victim = i;
      g_timers[i].cancel = true;
      g_timers[i].by_peer = true;
      prev = -1;
      continue;
    }
    if (prev >= 0 && g_timers[prev].victim == -2)
      g_timers[prev].victim = -1;
    prev = i;
    if (rnd(10) == 0)
      g_timers[i].victim = -2; /* wants the next one */
  }
  if (prev >= 0 && g_timers[prev].victim == -2)
    g_timers[prev].victim = -1;
  int expected = 0;
  for (int i = 0; i < k_n; ++i)
    expected += !g_timers[i].cancel;
  return expected;
}

static void test_random_deadlines(void) {
  int64_t base = now_us() + 50000;
  for (int i = 0; i < k_n; ++i) {
    g_timers[i] = (stress_timer_t){.deadline = base + rnd(200000)};
    g_by_deadline[i] = i;
  }
  qsort(g_by_deadline, k_n, sizeof g_by_deadline[0], by_deadline);
  int expected = plan_cancellations();
  CHECK(expected > k_n / 3 && expected < k_n / 2);
  /* Added in index order: random with respect to the deadlines. */
  for (int i = 0; i < k_n; ++i) {
    stress_timer_t *t = &g_timers[i];
    t->id = mu_event_loop_run_at(g_loop, mu_timestamp_from_us(t->deadline), on_stress, t);
    CHECK(mu_timer_id_valid(t->id));
  }
  /* The up-front cancels, in random order, all before the loop runs. */
  for (int i = 0; i < k_n; ++i)
    g_order[i] = i;
  shuffle(g_order, k_n);
  for (int k = 0; k < k_n; ++k) {
    stress_timer_t *t = &g_timers[g_order[k]];
    if (t->cancel && !t->by_peer)
      mu_event_loop_cancel(g_loop, t->id);
  }
  run_until_quit_at(base + 300000);
  CHECK_EQ(g_fired_total, expected);
  for (int i = 0; i < k_n; ++i)
    CHECK_EQ(g_timers[i].fired, !g_timers[i].cancel);
}

/* ---- slot reuse through the public API ---------------------------------- */

static int g_never_fired;

static void on_must_not_fire(void *arg) {
  (void)arg;
  g_never_fired++;
}

static void on_counted(void *arg) {
  (*(int *)arg)++;
}

static mu_timer_id_t g_ids[k_n];

static void test_public_slot_reuse(void) {
  /* One slot, recycled 100,000 times. */
  for (int i = 0; i < k_n; ++i) {
    mu_timer_id_t id = mu_event_loop_run_after(g_loop, 5.0, on_must_not_fire, NULL);
    CHECK(mu_timer_id_valid(id));
    mu_event_loop_cancel(g_loop, id);
  }
  /* 100,000 pending at once, cancelled in random order (removals from
   * anywhere in the heap), a few rounds over the same slots. */
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < k_n; ++i) {
      double delay = 5.0 + (double)rnd(1000000) / 1e6;
      g_ids[i] = mu_event_loop_run_after(g_loop, delay, on_must_not_fire, NULL);
      CHECK(mu_timer_id_valid(g_ids[i]));
      g_order[i] = i;
    }
    shuffle(g_order, k_n);
    for (int i = 0; i < k_n; ++i)
      mu_event_loop_cancel(g_loop, g_ids[g_order[i]]);
  }
  /* New timers take the freed slots; the stale ids of the last round name the
   * same slots and must not touch them. */
  enum { fresh = 1000 };
  int fresh_fired = 0;
  int64_t start = now_us();
  for (int i = 0; i < fresh; ++i) {
    mu_timestamp_t at = mu_timestamp_from_us(start + 10000 + rnd(20000));
    CHECK(mu_timer_id_valid(mu_event_loop_run_at(g_loop, at, on_counted, &fresh_fired)));
  }
  for (int i = 0; i < k_n; ++i)
    mu_event_loop_cancel(g_loop, g_ids[i]);
  run_until_quit_at(start + 100000);
  CHECK_EQ(fresh_fired, fresh);
  CHECK_EQ(g_never_fired, 0);
}

/* ---- a callback that grows the queue under its own tick ------------------ */

enum { k_same_tick = 8 };

static int g_tick_fired[k_same_tick];

/* Adds enough timers to move the queue's arrays, while the rest of its tick
 * is still to run from them, then cancels them again. */
static void on_grower(void *arg) {
  (*(int *)arg)++;
  for (int i = 0; i < k_n; ++i) {
    g_ids[i] = mu_event_loop_run_after(g_loop, 30.0, on_must_not_fire, NULL);
    CHECK(mu_timer_id_valid(g_ids[i]));
  }
  for (int i = 0; i < k_n; ++i)
    mu_event_loop_cancel(g_loop, g_ids[i]);
}

static void test_callback_grows_queue(void) {
  int64_t start = now_us();
  mu_timestamp_t at = mu_timestamp_from_us(start + 10000);
  for (int i = 0; i < k_same_tick; ++i) {
    mu_functor_fn fn = i == 0 ? on_grower : on_counted;
    CHECK(mu_timer_id_valid(mu_event_loop_run_at(g_loop, at, fn, &g_tick_fired[i])));
  }
  run_until_quit_at(start + 50000);
  for (int i = 0; i < k_same_tick; ++i)
    CHECK_EQ(g_tick_fired[i], 1);
  CHECK_EQ(g_never_fired, 0);
}

/* ---- slot reuse inside the queue, with its size checked ------------------ */

static mu_timer_id_t tq_add(mu_timer_queue_t *tq, int64_t when, mu_functor_fn fn,
                            void *arg) {
  uint64_t seq = mu_timer_queue_next_seq(tq);
  int64_t slot = mu_timer_queue_add(tq, seq, fn, arg, when, 0, 0);
  CHECK(slot >= 0);
  return (mu_timer_id_t){seq, (uint32_t)slot};
}

static void test_queue_stays_consistent(void) {
  /* A queue of its own, on the same loop, so its size can be asked. */
  mu_timer_queue_t *tq = mu_timer_queue_new(g_loop);
  CHECK(tq != NULL);
  int64_t far = now_us() + 60 * MU_MICROS_PER_SECOND;
  for (int i = 0; i < k_n; ++i) {
    mu_timer_queue_cancel(tq, tq_add(tq, far + rnd(1000), on_must_not_fire, NULL));
    CHECK_EQ(mu_timer_queue_size(tq), 0);
  }
  for (int i = 0; i < k_n; ++i) {
    g_ids[i] = tq_add(tq, far + rnd(1000000), on_must_not_fire, NULL);
    g_order[i] = i;
  }
  CHECK_EQ(mu_timer_queue_size(tq), k_n);
  shuffle(g_order, k_n);
  for (int i = 0; i < k_n / 2; ++i)
    mu_timer_queue_cancel(tq, g_ids[g_order[i]]);
  CHECK_EQ(mu_timer_queue_size(tq), k_n - k_n / 2);
  for (int i = 0; i < k_n / 2; ++i)
    mu_timer_queue_cancel(tq, g_ids[g_order[i]]);
  CHECK_EQ(mu_timer_queue_size(tq), k_n - k_n / 2); /* twice: no-ops */
  for (int i = k_n / 2; i < k_n; ++i)
    mu_timer_queue_cancel(tq, g_ids[g_order[i]]);
  CHECK_EQ(mu_timer_queue_size(tq), 0);
  int final_fired = 0;
  int64_t start = now_us();
  tq_add(tq, start + 10000, on_counted, &final_fired);
  CHECK_EQ(mu_timer_queue_size(tq), 1);
  run_until_quit_at(start + 60000);
  CHECK_EQ(final_fired, 1);
  CHECK_EQ(mu_timer_queue_size(tq), 0);
  CHECK_EQ(g_never_fired, 0);
  /* Freed with timers still pending: ASan reports anything left behind. */
  tq_add(tq, far, on_must_not_fire, NULL);
  mu_timer_queue_free(tq);
}

/* ---- slot reuse from another thread ------------------------------------- */

static void on_remote_final(void *arg) {
  (*(int *)arg)++;
  mu_event_loop_quit(g_loop);
}

/* Cross-thread ids go through the queue's seq -> slot map, so this puts
 * 100,000 inserts and deletes through it while the loop runs. The final timer
 * is queued after the last cancel, so it fires after all of them took effect. */
static void *remote_add_cancel(void *arg) {
  for (int i = 0; i < k_n; ++i) {
    mu_timer_id_t id = mu_event_loop_run_after(g_loop, 5.0, on_must_not_fire, NULL);
    CHECK(mu_timer_id_valid(id));
    mu_event_loop_cancel(g_loop, id);
  }
  CHECK(mu_timer_id_valid(mu_event_loop_run_after(g_loop, 0.01, on_remote_final, arg)));
  return NULL;
}

static void test_remote_slot_reuse(void) {
  int final_fired = 0;
  int watchdog_fired = 0;
  mu_timer_id_t watchdog =
      mu_event_loop_run_after(g_loop, 120.0, on_quit, &watchdog_fired);
  pthread_t thread;
  CHECK_EQ(pthread_create(&thread, NULL, remote_add_cancel, &final_fired), 0);
  mu_event_loop_loop(g_loop);
  CHECK_EQ(pthread_join(thread, NULL), 0);
  mu_event_loop_cancel(g_loop, watchdog);
  CHECK_EQ(watchdog_fired, 0);
  CHECK_EQ(final_fired, 1);
  CHECK_EQ(g_never_fired, 0);
}

int main(void) {
  test_time_limit(240);
  g_loop = mu_event_loop_new();
  CHECK(g_loop != NULL);
  test_callback_grows_queue(); /* first: the queue's arrays never shrink */
  test_random_deadlines();
  test_public_slot_reuse();
  test_queue_stays_consistent();
  test_remote_slot_reuse();
  mu_event_loop_free(g_loop);
  TEST_PASS("timer_stress");
}
