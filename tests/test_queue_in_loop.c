/* queue_in_loop and run_in_loop: cross-thread functors run exactly once, in
 * the loop thread, in per-producer order; a functor queued from a functor or
 * before loop() starts runs without another event to wake the loop. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "cmuduo/cmuduo.h"
#include "test_util.h"

/* A watchdog on every scenario: if a functor only ran because this timer woke
 * the loop, the wakeup it depended on was lost. Generous, so a slow sanitizer
 * run never trips it. */
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

/* ---- many producers ----------------------------------------------------- */

enum { k_producers = 4, k_per_producer = 100000, k_seq_bits = 24 };

typedef struct producer {
  mu_event_loop_t *loop;
  uintptr_t id;
  mu_countdown_latch_t *go;
} producer_t;

static mu_event_loop_t *g_loop;
static pid_t g_loop_tid;
static uintptr_t g_next_seq[k_producers]; /* loop thread only */
static long g_ran;                        /* loop thread only */

/* The producer and its sequence number travel in the argument itself, so the
 * test measures the queue and not malloc. */
static void on_item(void *arg) {
  uintptr_t v = (uintptr_t)arg;
  uintptr_t producer = v >> k_seq_bits;
  uintptr_t seq = v & (((uintptr_t)1 << k_seq_bits) - 1);
  CHECK(mu_current_thread_tid() == g_loop_tid);
  CHECK(producer < k_producers);
  CHECK_EQ(seq, g_next_seq[producer]);
  g_next_seq[producer] = seq + 1;
  if (++g_ran == (long)k_producers * k_per_producer)
    mu_event_loop_quit(g_loop);
}

static void *producer_main(void *p) {
  producer_t *pr = p;
  mu_countdown_latch_wait(pr->go);
  for (uintptr_t seq = 0; seq < k_per_producer; ++seq) {
    void *arg = (void *)((pr->id << k_seq_bits) | seq);
    CHECK_EQ(mu_event_loop_queue_in_loop(pr->loop, on_item, arg), 0);
  }
  return NULL;
}

static void release_producers(void *arg) {
  mu_countdown_latch_count_down(arg);
}

static void test_many_producers(void) {
  g_loop = mu_event_loop_new();
  CHECK(g_loop != NULL);
  g_loop_tid = mu_current_thread_tid();
  mu_countdown_latch_t go;
  mu_countdown_latch_init(&go, 1);
  pthread_t threads[k_producers];
  producer_t producers[k_producers];
  for (int i = 0; i < k_producers; ++i) {
    producers[i] = (producer_t){g_loop, (uintptr_t)i, &go};
    CHECK(pthread_create(&threads[i], NULL, producer_main, &producers[i]) == 0);
  }
  /* Producers start once the loop runs, so they race with it, not with setup. */
  CHECK_EQ(mu_event_loop_queue_in_loop(g_loop, release_producers, &go), 0);
  mu_timer_id_t watchdog = arm_watchdog(g_loop);
  mu_event_loop_loop(g_loop);
  for (int i = 0; i < k_producers; ++i)
    CHECK(pthread_join(threads[i], NULL) == 0);
  CHECK(!g_watchdog_fired);
  CHECK_EQ(g_ran, (long)k_producers * k_per_producer);
  for (int i = 0; i < k_producers; ++i)
    CHECK_EQ(g_next_seq[i], k_per_producer);
  CHECK_EQ(mu_event_loop_queue_size(g_loop), 0);
  mu_event_loop_cancel(g_loop, watchdog);
  mu_countdown_latch_destroy(&go);
  mu_event_loop_free(g_loop);
  g_loop = NULL;
}

/* ---- run_in_loop ------------------------------------------------------------ */

typedef struct record {
  _Atomic int runs;
  _Atomic pid_t tid;
  mu_event_loop_t *loop;
} record_t;

static void note_run(void *arg) {
  record_t *r = arg;
  atomic_store(&r->tid, mu_current_thread_tid());
  atomic_fetch_add(&r->runs, 1);
}

static void note_run_and_quit(void *arg) {
  note_run(arg);
  mu_event_loop_quit(((record_t *)arg)->loop);
}

static void *run_in_loop_from_other_thread(void *arg) {
  record_t *r = arg;
  CHECK_EQ(mu_event_loop_run_in_loop(r->loop, note_run_and_quit, r), 0);
  /* The owner is blocked in pthread_join, so only a wrong direct call could
   * have run it by now. */
  CHECK_EQ(atomic_load(&r->runs), 0);
  CHECK_EQ(mu_event_loop_queue_size(r->loop), 1);
  return NULL;
}

static void test_run_in_loop(void) {
  mu_event_loop_t *loop = mu_event_loop_new();
  CHECK(loop != NULL);
  record_t here = {.loop = loop};
  CHECK_EQ(mu_event_loop_run_in_loop(loop, note_run, &here), 0);
  CHECK_EQ(atomic_load(&here.runs), 1); /* ran before run_in_loop returned */
  CHECK_EQ(atomic_load(&here.tid), mu_current_thread_tid());
  CHECK_EQ(mu_event_loop_queue_size(loop), 0);

  record_t remote = {.loop = loop};
  pthread_t th;
  CHECK(pthread_create(&th, NULL, run_in_loop_from_other_thread, &remote) == 0);
  CHECK(pthread_join(th, NULL) == 0);
  CHECK_EQ(atomic_load(&remote.runs), 0);
  mu_timer_id_t watchdog = arm_watchdog(loop);
  mu_event_loop_loop(loop);
  CHECK(!g_watchdog_fired);
  CHECK_EQ(atomic_load(&remote.runs), 1);
  CHECK_EQ(atomic_load(&remote.tid), mu_current_thread_tid());
  mu_event_loop_cancel(loop, watchdog);
  mu_event_loop_free(loop);
}

/* ---- a functor queues the next ------------------------------------------ */

enum { k_chain = 200 };

typedef struct chain {
  mu_event_loop_t *loop;
  int links;
  int64_t start_iteration;
  int64_t max_gap; /* most loop iterations between a queue and its run */
  int64_t queued_at;
} chain_t;

static void chain_link(void *arg) {
  chain_t *c = arg;
  int64_t now = mu_event_loop_iteration(c->loop);
  if (c->links > 0 && now - c->queued_at > c->max_gap)
    c->max_gap = now - c->queued_at;
  /* Only our own eventfd wakeup can have let this run before the watchdog. */
  CHECK(!g_watchdog_fired);
  if (++c->links == k_chain) {
    mu_event_loop_quit(c->loop);
    return;
  }
  c->queued_at = now;
  CHECK_EQ(mu_event_loop_queue_in_loop(c->loop, chain_link, c), 0);
}

static void test_functor_queues_functor(void) {
  mu_event_loop_t *loop = mu_event_loop_new();
  CHECK(loop != NULL);
  chain_t c = {.loop = loop};
  mu_timer_id_t watchdog = arm_watchdog(loop);
  CHECK_EQ(mu_event_loop_queue_in_loop(loop, chain_link, &c), 0);
  c.start_iteration = mu_event_loop_iteration(loop);
  mu_event_loop_loop(loop);
  CHECK(!g_watchdog_fired);
  CHECK_EQ(c.links, k_chain);
  /* Each link runs in the next pass, not "some time later". */
  CHECK(c.max_gap >= 1 && c.max_gap <= 2);
  CHECK(mu_event_loop_iteration(loop) - c.start_iteration <= 2 * k_chain + 2);
  mu_event_loop_cancel(loop, watchdog);
  mu_event_loop_free(loop);
}

/* ---- queued before loop() ----------------------------------------------- */

static void test_queued_before_loop_starts(void) {
  mu_event_loop_t *loop = mu_event_loop_new();
  CHECK(loop != NULL);
  record_t r = {.loop = loop};
  CHECK_EQ(mu_event_loop_queue_in_loop(loop, note_run_and_quit, &r), 0);
  CHECK_EQ(atomic_load(&r.runs), 0); /* queued, not run */
  mu_timer_id_t watchdog = arm_watchdog(loop);
  mu_event_loop_loop(loop);
  CHECK(!g_watchdog_fired);
  CHECK_EQ(atomic_load(&r.runs), 1);
  mu_event_loop_cancel(loop, watchdog);
  mu_event_loop_free(loop);
}

/* ---- queue_size ---------------------------------------------------------- */

typedef struct sizer {
  mu_event_loop_t *loop;
  record_t counted;
  size_t seen_inside;
} sizer_t;

enum { k_remote_queued = 5 };

static void *queue_five(void *arg) {
  sizer_t *s = arg;
  for (int i = 0; i < k_remote_queued; ++i) {
    CHECK_EQ(mu_event_loop_queue_in_loop(s->loop, note_run, &s->counted), 0);
  }
  return NULL;
}

/* While this functor runs, the loop cannot take the queue: what another thread
 * queues meanwhile must all be counted. */
static void measure_inside(void *arg) {
  sizer_t *s = arg;
  pthread_t th;
  CHECK(pthread_create(&th, NULL, queue_five, s) == 0);
  CHECK(pthread_join(th, NULL) == 0);
  s->seen_inside = mu_event_loop_queue_size(s->loop);
  mu_event_loop_quit(s->loop);
}

static void test_queue_size(void) {
  mu_event_loop_t *loop = mu_event_loop_new();
  CHECK(loop != NULL);
  sizer_t s = {.loop = loop};
  CHECK_EQ(mu_event_loop_queue_size(loop), 0);
  CHECK_EQ(mu_event_loop_queue_in_loop(loop, note_run, &s.counted), 0);
  CHECK_EQ(mu_event_loop_queue_in_loop(loop, note_run, &s.counted), 0);
  CHECK_EQ(mu_event_loop_queue_size(loop), 2);
  CHECK_EQ(mu_event_loop_queue_in_loop(loop, measure_inside, &s), 0);
  CHECK_EQ(mu_event_loop_queue_size(loop), 3);
  mu_timer_id_t watchdog = arm_watchdog(loop);
  mu_event_loop_loop(loop);
  CHECK(!g_watchdog_fired);
  CHECK_EQ(s.seen_inside, k_remote_queued);
  CHECK_EQ(atomic_load(&s.counted.runs), 2 + k_remote_queued);
  CHECK_EQ(mu_event_loop_queue_size(loop), 0);
  mu_event_loop_cancel(loop, watchdog);
  mu_event_loop_free(loop);
}

int main(void) {
  test_time_limit(120);
  test_run_in_loop();
  test_functor_queues_functor();
  test_queued_before_loop_starts();
  test_queue_size();
  mu_timestamp_t t0 = mu_timestamp_mono_now();
  test_many_producers();
  printf("%d producers x %d functors: %.3f s\n", k_producers, k_per_producer,
         mu_timestamp_diff_seconds(mu_timestamp_mono_now(), t0));
  TEST_PASS("queue_in_loop");
}
