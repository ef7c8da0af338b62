/* Timer cancellation: a pending timer never fires; a repeating timer cancelled
 * from its own callback stops; a timer cancelled by an earlier callback of the
 * same tick does not run; stale and invalid ids are no-ops that never hit a
 * newer timer in a reused slot; a timer can be cancelled and re-added from a
 * callback. */
#include <stdint.h>
#include <time.h>

#include "cmuduo/cmuduo.h"
#include "test_util.h"
#include "net/timer_queue.h"

typedef struct counter {
  mu_timer_id_t id;
  int fired;
  int limit;  /* for repeating timers: cancel self at this count */
  int64_t lo; /* must not fire before this (monotonic us) */
} counter_t;

static mu_event_loop_t *g_loop;

static int64_t now_us(void) {
  return mu_timestamp_mono_now().us;
}

static void on_count(void *arg) {
  counter_t *c = arg;
  CHECK(now_us() >= c->lo);
  c->fired++;
}

static void on_quit(void *arg) {
  (*(int *)arg)++;
  mu_event_loop_quit(g_loop);
}

static counter_t *arm_after(counter_t *c, double delay) {
  c->lo = now_us() + (int64_t)(delay * 1e6);
  c->id = mu_event_loop_run_after(g_loop, delay, on_count, c);
  CHECK(mu_timer_id_valid(c->id));
  return c;
}

/* Runs the loop until a quit timer `delay` seconds from now fires. */
static void run_for(double delay) {
  int quit_fired = 0;
  CHECK(mu_timer_id_valid(mu_event_loop_run_after(g_loop, delay, on_quit, &quit_fired)));
  mu_event_loop_loop(g_loop);
  CHECK_EQ(quit_fired, 1);
}

static void sleep_us(int64_t us) {
  struct timespec ts = {(time_t)(us / 1000000), (long)(us % 1000000) * 1000};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

/* ---- pending timers ----------------------------------------------------- */

static void on_cancel_target(void *arg) {
  counter_t *target = arg;
  mu_event_loop_cancel(g_loop, target->id);
}

static void test_cancel_pending(void) {
  counter_t one_shot = {0}, repeating = {0}, later = {0}, keeper = {0};
  arm_after(&one_shot, 0.02);
  repeating.id = mu_event_loop_run_every(g_loop, 0.005, on_count, &repeating);
  CHECK(mu_timer_id_valid(repeating.id));
  arm_after(&later, 0.06);
  arm_after(&keeper, 0.03);
  mu_event_loop_cancel(g_loop, one_shot.id);
  mu_event_loop_cancel(g_loop, repeating.id);
  /* A callback cancels a timer that is still in the heap. */
  CHECK(
      mu_timer_id_valid(mu_event_loop_run_after(g_loop, 0.01, on_cancel_target, &later)));
  run_for(0.15);
  CHECK_EQ(one_shot.fired, 0);
  CHECK_EQ(repeating.fired, 0);
  CHECK_EQ(later.fired, 0);
  CHECK_EQ(keeper.fired, 1);
}

/* ---- a repeating timer cancelled from its own callback ------------------- */

static int64_t g_iteration_at_cancel;

static void on_repeat_until_limit(void *arg) {
  counter_t *c = arg;
  CHECK(c->fired < c->limit); /* never again after the cancel */
  if (++c->fired == c->limit) {
    g_iteration_at_cancel = mu_event_loop_iteration(g_loop);
    mu_event_loop_cancel(g_loop, c->id);
    mu_event_loop_cancel(g_loop, c->id); /* twice: still a no-op */
  }
}

static void test_cancel_repeating_from_own_callback(void) {
  counter_t c = {.limit = 5};
  c.id = mu_event_loop_run_every(g_loop, 0.005, on_repeat_until_limit, &c);
  CHECK(mu_timer_id_valid(c.id));
  run_for(0.05 + 0.005 * 20); /* its five ticks, then twenty more intervals */
  CHECK_EQ(c.fired, 5);
  /* Nothing but the quit timer woke the loop since: a cancelled timer kept in
   * the queue would have, at every interval. */
  CHECK_EQ(mu_event_loop_iteration(g_loop) - g_iteration_at_cancel, 1);
  mu_event_loop_cancel(g_loop, c.id); /* long gone: a no-op */
}

/* ---- cancelled by an earlier callback of the same tick ------------------- */

typedef struct batch_case {
  counter_t victim;    /* same deadline as the canceller, added after it */
  counter_t repeating; /* due later than the canceller, made due by the stall */
  counter_t bystander; /* same deadline, added last, not cancelled */
  mu_timer_id_t canceller_id;
  int canceller_fired;
  int64_t deadline;
} batch_case_t;

/* Holds the loop past every deadline of the case, so they all expire in one
 * tick whatever the scheduler does. */
static void on_stall(void *arg) {
  batch_case_t *bc = arg;
  while (now_us() < bc->deadline + 60000)
    sleep_us(10000);
}

static void on_canceller(void *arg) {
  batch_case_t *bc = arg;
  bc->canceller_fired++;
  CHECK_EQ(bc->victim.fired, 0);
  mu_event_loop_cancel(g_loop, bc->victim.id);
  mu_event_loop_cancel(g_loop, bc->repeating.id);
  mu_event_loop_cancel(g_loop, bc->canceller_id); /* itself, a one-shot: no-op */
}

static void test_cancel_in_same_tick(void) {
  batch_case_t bc = {0};
  int64_t now = now_us();
  bc.deadline = now + 20000;
  mu_timestamp_t at = mu_timestamp_from_us(bc.deadline);
  CHECK(mu_timer_id_valid(
      mu_event_loop_run_at(g_loop, mu_timestamp_from_us(now + 10000), on_stall, &bc)));
  bc.canceller_id = mu_event_loop_run_at(g_loop, at, on_canceller, &bc);
  bc.victim.id = mu_event_loop_run_at(g_loop, at, on_count, &bc.victim);
  bc.repeating.id = mu_event_loop_run_every(g_loop, 0.04, on_count, &bc.repeating);
  bc.bystander.id = mu_event_loop_run_at(g_loop, at, on_count, &bc.bystander);
  CHECK(mu_timer_id_valid(bc.canceller_id) && mu_timer_id_valid(bc.victim.id));
  CHECK(mu_timer_id_valid(bc.repeating.id) && mu_timer_id_valid(bc.bystander.id));
  run_for(0.4); /* the repeating timer would have fired several times by then */
  CHECK_EQ(bc.canceller_fired, 1);
  CHECK_EQ(bc.victim.fired, 0);
  CHECK_EQ(bc.repeating.fired, 0);
  CHECK_EQ(bc.bystander.fired, 1);
}

/* ---- stale ids ---------------------------------------------------------- */

typedef struct stale_case {
  counter_t fired_once; /* fires, then its id is stale */
  counter_t cancelled;  /* cancelled before firing, then its id is stale */
  counter_t reuser[2];  /* newer timers in the slots the stale ids name */
  int reused[2];
} stale_case_t;

/* Adds timers until one lands in `slot` (the queue hands freed slots back
 * out); the misses stay pending meanwhile, or the next try would just get the
 * same slot back, and are cancelled afterwards. Returns whether it got there. */
static bool add_into_slot(counter_t *c, uint32_t slot) {
  enum { k_attempts = 4096 };
  static counter_t misses[k_attempts];
  int nmisses = 0;
  bool found = false;
  while (!found && nmisses < k_attempts) {
    arm_after(c, 0.01);
    found = c->id.slot == slot;
    if (!found)
      misses[nmisses++] = *c;
  }
  for (int i = 0; i < nmisses; ++i)
    mu_event_loop_cancel(g_loop, misses[i].id);
  return found;
}

static void on_reuse_slots(void *arg) {
  stale_case_t *sc = arg;
  CHECK_EQ(sc->fired_once.fired, 1);
  mu_event_loop_cancel(g_loop, sc->cancelled.id);
  sc->reused[0] = add_into_slot(&sc->reuser[0], sc->fired_once.id.slot);
  sc->reused[1] = add_into_slot(&sc->reuser[1], sc->cancelled.id.slot);
  /* The stale ids name the reused slots but older sequence numbers. */
  mu_event_loop_cancel(g_loop, sc->fired_once.id);
  mu_event_loop_cancel(g_loop, sc->cancelled.id);
  mu_event_loop_cancel(g_loop, sc->fired_once.id);
}

static void test_stale_ids(void) {
  stale_case_t sc = {0};
  arm_after(&sc.fired_once, 0.005);
  arm_after(&sc.cancelled, 1.0);
  CHECK(mu_timer_id_valid(mu_event_loop_run_after(g_loop, 0.03, on_reuse_slots, &sc)));
  run_for(0.15);
  CHECK(sc.reused[0] && sc.reused[1]);
  CHECK(sc.fired_once.id.seq != sc.reuser[0].id.seq);
  CHECK_EQ(sc.fired_once.fired, 1);
  CHECK_EQ(sc.cancelled.fired, 0);
  CHECK_EQ(sc.reuser[0].fired, 1);
  CHECK_EQ(sc.reuser[1].fired, 1);
  /* Cancelling fired one-shots is a no-op. */
  mu_event_loop_cancel(g_loop, sc.reuser[0].id);
  mu_event_loop_cancel(g_loop, sc.reuser[1].id);
}

/* ---- invalid ids -------------------------------------------------------- */

static void test_invalid_ids(void) {
  counter_t live = {0};
  arm_after(&live, 0.02);
  mu_timer_id_t l = live.id;
  const mu_timer_id_t bogus[] = {
      {0, 0},                                  /* zeroed */
      {0, l.slot},                             /* zero seq on a live slot */
      {l.seq + 1000000, l.slot},               /* a sequence never issued */
      {l.seq, l.slot + 1},                     /* right sequence, wrong slot */
      {l.seq, 1u << 30},                       /* slot out of range */
      {l.seq + 1000000, MU_TIMER_SLOT_REMOTE}, /* unknown cross-thread id */
  };
  for (size_t i = 0; i < sizeof bogus / sizeof bogus[0]; ++i) {
    mu_event_loop_cancel(g_loop, bogus[i]);
  }
  run_for(0.08);
  CHECK_EQ(live.fired, 1);
}

/* ---- cancel and re-add from a callback ---------------------------------- */

typedef struct rearm_case {
  counter_t gen[2]; /* two generations of a repeating timer */
  counter_t moved;  /* a one-shot re-armed later by another callback */
  int64_t moved_to;
} rearm_case_t;

static rearm_case_t *g_rearm;

static void on_generation(void *arg) {
  counter_t *c = arg;
  CHECK(c->fired < 3);
  if (++c->fired < 3)
    return;
  mu_event_loop_cancel(g_loop, c->id);
  if (c == &g_rearm->gen[0]) {
    counter_t *next = &g_rearm->gen[1];
    next->id = mu_event_loop_run_every(g_loop, 0.005, on_generation, next);
    CHECK(mu_timer_id_valid(next->id));
  }
}

static void on_move(void *arg) {
  rearm_case_t *rc = arg;
  mu_event_loop_cancel(g_loop, rc->moved.id);
  rc->moved_to = now_us() + 40000;
  rc->moved.lo = rc->moved_to; /* firing at the old deadline would be early */
  rc->moved.id = mu_event_loop_run_at(g_loop, mu_timestamp_from_us(rc->moved_to),
                                      on_count, &rc->moved);
  CHECK(mu_timer_id_valid(rc->moved.id));
}

static void test_cancel_and_readd(void) {
  rearm_case_t rc = {0};
  g_rearm = &rc;
  rc.gen[0].id = mu_event_loop_run_every(g_loop, 0.005, on_generation, &rc.gen[0]);
  CHECK(mu_timer_id_valid(rc.gen[0].id));
  arm_after(&rc.moved, 0.02);
  CHECK(mu_timer_id_valid(mu_event_loop_run_after(g_loop, 0.01, on_move, &rc)));
  run_for(0.2);
  CHECK_EQ(rc.gen[0].fired, 3);
  CHECK_EQ(rc.gen[1].fired, 3);
  CHECK_EQ(rc.moved.fired, 1);
  g_rearm = NULL;
}

int main(void) {
  test_time_limit(60);
  g_loop = mu_event_loop_new();
  CHECK(g_loop != NULL);
  test_cancel_pending();
  test_cancel_repeating_from_own_callback();
  test_cancel_in_same_tick();
  test_stale_ids();
  test_invalid_ids();
  test_cancel_and_readd();
  mu_event_loop_free(g_loop);
  TEST_PASS("timer_cancel");
}
