/* Repeating timers: run_every keeps firing at about its interval and never
 * early; a one-shot that re-adds itself from its callback keeps going; when the
 * loop falls behind, a repeating timer skips the ticks it missed instead of
 * firing them in a burst. */
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

static void on_quit(void *arg) {
  (*(int *)arg)++;
  mu_event_loop_quit(g_loop);
}

/* ---- run_every over a window -------------------------------------------- */

enum { k_max_ticks = 64 };

typedef struct every_case {
  int64_t added_before; /* clock read just before run_every */
  int64_t interval_us;
  int fired;
  int64_t at[k_max_ticks];
} every_case_t;

/* Tick k (from 1) is due at least k intervals after the timer was added,
 * whatever the loop's delays: deadlines only ever move forward. */
static void on_every(void *arg) {
  every_case_t *ec = arg;
  int64_t now = now_us();
  CHECK(ec->fired < k_max_ticks);
  ec->at[ec->fired++] = now;
  CHECK(now >= ec->added_before + ec->fired * ec->interval_us);
}

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

/* The median gap between ticks: a few late ticks on a busy machine do not
 * move it, a wrong interval does. */
static int64_t median_gap(const every_case_t *ec) {
  int64_t gaps[k_max_ticks];
  int n = ec->fired - 1;
  for (int i = 0; i < n; ++i)
    gaps[i] = ec->at[i + 1] - ec->at[i];
  qsort(gaps, (size_t)n, sizeof gaps[0], cmp_i64);
  return gaps[n / 2];
}

static void test_run_every_window(void) {
  every_case_t ec = {.interval_us = 50000};
  const int64_t window_us = 1000000;
  ec.added_before = now_us();
  mu_timer_id_t id = mu_event_loop_run_every(g_loop, 0.05, on_every, &ec);
  CHECK(mu_timer_id_valid(id));
  int quit_fired = 0;
  mu_timestamp_t end = mu_timestamp_from_us(ec.added_before + window_us);
  CHECK(mu_timer_id_valid(mu_event_loop_run_at(g_loop, end, on_quit, &quit_fired)));
  mu_event_loop_loop(g_loop);
  CHECK_EQ(quit_fired, 1);
  mu_event_loop_cancel(g_loop, id);
  /* 20 ticks fit in the window; one more may share the quit timer's tick if
   * that tick is late. More would mean early fires. The lower bound only asks
   * that it kept firing on a slow machine. */
  CHECK(ec.fired <= window_us / ec.interval_us + 1);
  CHECK(ec.fired >= 5);
  int64_t median = median_gap(&ec);
  CHECK(median >= ec.interval_us / 2 && median <= ec.interval_us * 3 / 2);
}

/* ---- a one-shot that re-adds itself ------------------------------------- */

enum { k_rearms = 20 };

typedef struct chain {
  int fired;
  int64_t due;
  mu_timer_id_t ids[k_rearms];
} chain_t;

static void on_chain(void *arg) {
  chain_t *c = arg;
  CHECK(now_us() >= c->due);
  c->fired++;
  if (c->fired == k_rearms) {
    mu_event_loop_quit(g_loop);
    return;
  }
  c->due = now_us() + 2000;
  c->ids[c->fired] = mu_event_loop_run_after(g_loop, 0.002, on_chain, c);
  CHECK(mu_timer_id_valid(c->ids[c->fired]));
  CHECK(c->ids[c->fired].seq != c->ids[c->fired - 1].seq);
}

static void test_one_shot_rearms_itself(void) {
  chain_t c = {0};
  c.due = now_us() + 2000;
  c.ids[0] = mu_event_loop_run_after(g_loop, 0.002, on_chain, &c);
  CHECK(mu_timer_id_valid(c.ids[0]));
  int watchdog_fired = 0;
  mu_timer_id_t watchdog =
      mu_event_loop_run_after(g_loop, 20.0, on_quit, &watchdog_fired);
  mu_event_loop_loop(g_loop);
  CHECK_EQ(watchdog_fired, 0);
  CHECK_EQ(c.fired, k_rearms);
  mu_event_loop_cancel(g_loop, watchdog);
}

/* ---- falling behind ----------------------------------------------------- */

enum { k_after_stall = 12 };

/* The stall covers many intervals. Afterwards one late tick may run at once;
 * every later tick is due an interval after the previous one ran, so within
 * five intervals after the stall at most six ticks (the late one plus five)
 * can run. Firing the missed ticks would run all twelve at once. */
static const int64_t k_interval_us = 30000;
static const int64_t k_stall_us = 400000;

typedef struct stall_case {
  bool stall_in_own_callback; /* else a one-shot timer stalls the loop */
  int fired;
  int64_t stall_end;
  int64_t after[k_after_stall]; /* fire times after the stall */
  int nafter;
} stall_case_t;

static void stall_loop(stall_case_t *sc) {
  sleep_us(k_stall_us);
  sc->stall_end = now_us();
}

static void on_stalling_tick(void *arg) {
  stall_case_t *sc = arg;
  sc->fired++;
  if (sc->stall_end != 0) {
    sc->after[sc->nafter++] = now_us();
    if (sc->nafter == k_after_stall)
      mu_event_loop_quit(g_loop);
  } else if (sc->stall_in_own_callback) {
    stall_loop(sc);
  }
}

static void on_stall(void *arg) {
  stall_loop(arg);
}

static void run_stall_case(bool in_own_callback) {
  stall_case_t sc = {.stall_in_own_callback = in_own_callback};
  mu_timer_id_t id =
      mu_event_loop_run_every(g_loop, (double)k_interval_us / 1e6, on_stalling_tick, &sc);
  CHECK(mu_timer_id_valid(id));
  if (!in_own_callback) {
    CHECK(mu_timer_id_valid(mu_event_loop_run_after(g_loop, 0.045, on_stall, &sc)));
  }
  mu_event_loop_loop(g_loop);
  mu_event_loop_cancel(g_loop, id);
  CHECK_EQ(sc.nafter, k_after_stall);
  int soon = 0;
  for (int i = 0; i < sc.nafter; ++i) {
    CHECK(sc.after[i] >= sc.stall_end);
    soon += sc.after[i] < sc.stall_end + 5 * k_interval_us;
  }
  CHECK(soon <= 6);
}

static void test_stall_skips_missed_ticks(void) {
  run_stall_case(true);
  run_stall_case(false);
}

int main(void) {
  test_time_limit(60);
  g_loop = mu_event_loop_new();
  CHECK(g_loop != NULL);
  test_run_every_window();
  test_one_shot_rearms_itself();
  test_stall_skips_missed_ticks();
  mu_event_loop_free(g_loop);
  TEST_PASS("timer_repeat");
}
