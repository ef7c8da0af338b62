/* Timer order and accuracy: timers fire in deadline order whatever order they
 * were added in, ties fire in the order added, no timer ever fires before its
 * deadline nor waits for a later one, and a timer that is already due fires on
 * the very next iteration. */
#include <stdint.h>

#include "cmuduo/cmuduo.h"
#include "test_util.h"

/* Lateness is only bounded loosely: the CI machine is shared and sanitized. */
static const int64_t k_max_late_us = 2 * MU_MICROS_PER_SECOND;

enum { k_max_probes = 256 };

/* One timer under observation. Its real deadline lies in [lo, hi]: exact for
 * run_at, bracketed by clock reads around the call for run_after. */
typedef struct probe {
  int64_t lo;
  int64_t hi;
  int add_index;
  int fired;
  int64_t fired_at;
  int64_t fired_iteration;
} probe_t;

static mu_event_loop_t *g_loop;
static probe_t g_probes[k_max_probes];
static probe_t *g_order[k_max_probes]; /* probes in the order they fired */
static int g_fired;
static int g_expected;

static int64_t now_us(void) {
  return mu_timestamp_mono_now().us;
}

static void reset(int expected) {
  memset(g_probes, 0, sizeof g_probes);
  memset(g_order, 0, sizeof g_order);
  g_fired = 0;
  g_expected = expected;
}

static void on_probe(void *arg) {
  probe_t *p = arg;
  int64_t now = now_us();
  CHECK(now >= p->lo); /* never early */
  CHECK(now - p->hi < k_max_late_us);
  CHECK_EQ(p->fired, 0);
  CHECK(g_fired < g_expected);
  p->fired = 1;
  p->fired_at = now;
  p->fired_iteration = mu_event_loop_iteration(g_loop);
  g_order[g_fired++] = p;
  if (g_fired == g_expected)
    mu_event_loop_quit(g_loop);
}

/* A fixed permutation of 0..n-1 (deterministic LCG shuffle). */
static void scramble(int *perm, int n, uint32_t seed) {
  for (int i = 0; i < n; ++i)
    perm[i] = i;
  for (int i = n - 1; i > 0; --i) {
    seed = seed * 1664525u + 1013904223u;
    int j = (int)((seed >> 8) % (uint32_t)(i + 1));
    int tmp = perm[i];
    perm[i] = perm[j];
    perm[j] = tmp;
  }
}

static void add_at(probe_t *p, int add_index, int64_t deadline) {
  p->lo = p->hi = deadline;
  p->add_index = add_index;
  mu_timer_id_t id =
      mu_event_loop_run_at(g_loop, mu_timestamp_from_us(deadline), on_probe, p);
  CHECK(mu_timer_id_valid(id));
}

/* Returns the loop iterations it took. Only the timerfd is watched, so an
 * iteration that fires nothing means the timerfd was set too early. */
static int64_t run_until_all_fired(void) {
  int64_t before = mu_event_loop_iteration(g_loop);
  mu_event_loop_loop(g_loop);
  CHECK_EQ(g_fired, g_expected);
  return mu_event_loop_iteration(g_loop) - before;
}

/* Distinct absolute deadlines, added in scrambled order; odd microsecond
 * offsets so a rounding error in the timerfd conversion would show as an
 * early fire. */
static void test_run_at_scrambled(void) {
  enum { n = 200 };
  reset(n);
  int perm[n];
  scramble(perm, n, 12345);
  int64_t base = now_us() + 30000;
  for (int i = 0; i < n; ++i)
    add_at(&g_probes[perm[i]], i, base + perm[i] * 397 + 1);
  CHECK(run_until_all_fired() <= n);
  for (int i = 0; i < n; ++i)
    CHECK(g_order[i] == &g_probes[i]);
}

/* Three deadlines, ten timers each, added interleaved: within a deadline the
 * timers fire in the order they were added. */
static void test_equal_deadlines(void) {
  enum { groups = 3, per_group = 10, n = groups * per_group };
  reset(n);
  int64_t base = now_us() + 20000;
  const int group_order[groups] = {2, 0, 1};
  for (int i = 0; i < n; ++i) {
    int group = group_order[i % groups];
    add_at(&g_probes[i], i, base + group * 5000);
  }
  CHECK(run_until_all_fired() <= groups);
  for (int i = 1; i < n; ++i) {
    const probe_t *a = g_order[i - 1], *b = g_order[i];
    CHECK(a->lo < b->lo || (a->lo == b->lo && a->add_index < b->add_index));
  }
}

/* run_after with distinct delays added in scrambled order. The exact deadline
 * is unknown, so the check is the one that cannot be wrong: a timer never
 * fires after one whose deadline is certainly later than its own. */
static void test_run_after_scrambled(void) {
  enum { n = 40 };
  reset(n);
  int perm[n];
  scramble(perm, n, 777);
  for (int i = 0; i < n; ++i) {
    probe_t *p = &g_probes[perm[i]];
    int64_t delay_us = 10000 + perm[i] * 2000;
    p->add_index = i;
    p->lo = now_us() + delay_us;
    mu_timer_id_t id =
        mu_event_loop_run_after(g_loop, (double)delay_us / 1e6, on_probe, p);
    p->hi = now_us() + delay_us;
    CHECK(mu_timer_id_valid(id));
  }
  run_until_all_fired();
  for (int i = 1; i < n; ++i)
    CHECK(!(g_order[i]->hi < g_order[i - 1]->lo));
}

/* A timer due before the one the timerfd is set for must re-arm it, not wait
 * for the later one (on_probe bounds the lateness). */
static int g_far_fired;

static void on_far(void *arg) {
  (void)arg;
  g_far_fired++;
}

static void test_earlier_timer_rearms(void) {
  reset(1);
  mu_timer_id_t far = mu_event_loop_run_after(g_loop, 10.0, on_far, NULL);
  CHECK(mu_timer_id_valid(far));
  /* An odd microsecond: a timerfd set even slightly early would spin. */
  add_at(&g_probes[0], 0, now_us() + 10777);
  CHECK_EQ(run_until_all_fired(), 1);
  mu_event_loop_cancel(g_loop, far);
  CHECK_EQ(g_far_fired, 0);
}

/* ---- timers already due ------------------------------------------------- */

static int64_t g_trigger_iteration;

/* Runs in iteration i; every timer added here is due, so all must fire in
 * iteration i + 1 (no other fd is active), the most overdue first. */
static void on_trigger(void *arg) {
  (void)arg;
  g_trigger_iteration = mu_event_loop_iteration(g_loop);
  int64_t now = now_us();
  add_at(&g_probes[0], 0, now - MU_MICROS_PER_SECOND); /* deep in the past */
  g_probes[0].hi = now;         /* lateness counts from when it was added */
  add_at(&g_probes[1], 1, now); /* due exactly now */
  probe_t *p = &g_probes[2];
  p->add_index = 2;
  p->lo = now_us();
  CHECK(mu_timer_id_valid(mu_event_loop_run_after(g_loop, 0.0, on_probe, p)));
  p->hi = now_us();
}

static void test_due_timers_fire_next_iteration(void) {
  reset(3);
  mu_timer_id_t id = mu_event_loop_run_after(g_loop, 0.005, on_trigger, NULL);
  CHECK(mu_timer_id_valid(id));
  run_until_all_fired();
  CHECK(g_order[0] == &g_probes[0]);
  CHECK(g_order[1] == &g_probes[1]);
  CHECK(g_order[2] == &g_probes[2]);
  for (int i = 0; i < 3; ++i) {
    CHECK_EQ(g_probes[i].fired_iteration, g_trigger_iteration + 1);
  }
}

/* A zero-delay timer added before loop() fires in the loop's first iteration. */
static void test_zero_delay_before_loop(void) {
  reset(1);
  probe_t *p = &g_probes[0];
  int64_t start_iteration = mu_event_loop_iteration(g_loop);
  p->lo = now_us();
  CHECK(mu_timer_id_valid(mu_event_loop_run_after(g_loop, 0.0, on_probe, p)));
  p->hi = now_us();
  run_until_all_fired();
  CHECK_EQ(p->fired_iteration, start_iteration + 1);
}

int main(void) {
  test_time_limit(60);
  g_loop = mu_event_loop_new();
  CHECK(g_loop != NULL);
  test_run_at_scrambled();
  test_equal_deadlines();
  test_run_after_scrambled();
  test_earlier_timer_rearms();
  test_due_timers_fire_next_iteration();
  test_zero_delay_before_loop();
  mu_event_loop_free(g_loop);
  TEST_PASS("timer_order");
}
