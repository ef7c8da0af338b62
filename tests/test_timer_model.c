/* The event loop's timers against a model, on the real monotonic clock with
 * millisecond delays.
 *
 * Round 1, all in the loop thread: random run_at (on a coarse grid, so equal
 * deadlines are common, some already past), run_after (0 and negative
 * delays included) and run_every, and cancels of pending, due-in-this-tick, already
 * fired, already cancelled and repeating timers, of the running timer itself and of the
 * zero id, made from inside timer callbacks and from queued functors; now and then a
 * callback stalls for 3 ms so short repeating timers miss ticks. Every firing is checked
 * against the model: a timer never fires before its deadline (for a repeating timer, the
 * next deadline docs/reactor.md gives, skipped ticks included), never after it was
 * cancelled, a one-shot never twice, never in the iteration whose callback added it; none
 * fires while a timer with a surely earlier deadline is still waiting, and equal run_at
 * deadlines fire in the order the timers were created (docs/reactor.md). In the end every
 * one-shot fired exactly once unless cancelled first, and then never; every
 * repeating timer still fired until cancelled; and the idle loop stays asleep
 * (no cancelled timer is still scheduled). Adds near the points where the
 * timer queue's arrays grow are sometimes made to run out of memory: the
 * header's invalid id and ENOMEM, that timer never fires, the rest go on.
 *
 * Round 2, three threads: two more threads add and cancel timers (their own,
 * each other's and the loop thread's, often one whose add is still queued)
 * while the loop thread's callbacks do the same with theirs. A cross-thread
 * cancel takes effect when the loop runs it, so the canceller queues a marker
 * behind it; from the marker on, the timer must never fire. Every one-shot
 * never cancelled fires exactly once.
 *
 * Last, the loop is freed with timers still waiting and adds still queued:
 * none runs, none leaks.
 *
 * Only order and counts are asserted, never how late a timer is. A failure
 * prints the seed (TT_SEED=<seed> replays the same choices; the clock makes
 * the interleaving differ) and the last operations. MODEL_STEPS=<n> sets round
 * 1's length. */
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <time.h>

#include "tcp_test_util.h"

/* ---- failure reporting: seed, step and the last operations --------------------- */

enum { k_tail = 64, k_note_len = 150 };

static uint64_t g_seed;
static long g_steps; /* operations made so far in the current round */
static char g_tail[k_tail][k_note_len];
static long g_notes;
static pthread_mutex_t g_note_lock = PTHREAD_MUTEX_INITIALIZER;

static void note(const char *fmt, ...) {
  pthread_mutex_lock(&g_note_lock);
  char *line = g_tail[g_notes++ % k_tail];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, k_note_len, fmt, ap);
  va_end(ap);
  pthread_mutex_unlock(&g_note_lock);
}

static void print_tail(void) {
  long first = g_notes - k_tail < 0 ? 0 : g_notes - k_tail;
  for (long i = first; i < g_notes; ++i)
    fprintf(stderr, "  %s\n", g_tail[i % k_tail]);
}

static void model_fail(const char *file, int line, const char *fmt, ...) {
  pthread_mutex_lock(&g_note_lock);
  fflush(stdout);
  fprintf(stderr,
          "\n%s:%d: timer model mismatch at step %ld (seed %" PRIu64 ", TT_SEED=%" PRIu64
          " replays the choices): ",
          file, line, g_steps, g_seed, g_seed);
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, "\nlast operations, oldest first:\n");
  print_tail();
  fflush(NULL);
  abort();
}

#define MCHECK(cond)                               \
  do {                                             \
    if (!(cond))                                   \
      model_fail(__FILE__, __LINE__, "%s", #cond); \
  } while (0)

/* A hang (a timer that never fires) ends here, with the same report. */
static void on_alarm(int sig) {
  (void)sig;
  static const char msg[] = "\ntimer model: time limit hit, last operations:\n";
  if (write(STDERR_FILENO, msg, sizeof msg - 1) < 0)
    _exit(2);
  char head[96];
  int n = snprintf(head, sizeof head, "seed %" PRIu64 ", step %ld\n", g_seed, g_steps);
  if (write(STDERR_FILENO, head, (size_t)n) < 0)
    _exit(2);
  long first = g_notes - k_tail < 0 ? 0 : g_notes - k_tail;
  for (long i = first; i < g_notes; ++i) {
    const char *line = g_tail[i % k_tail];
    if (write(STDERR_FILENO, line, strnlen(line, k_note_len)) < 0 ||
        write(STDERR_FILENO, "\n", 1) < 0)
      _exit(2);
  }
  _exit(3);
}

/* ---- randomness and time ---------------------------------------------------------- */

static tt_rng_t g_rng; /* the loop thread's; second threads have their own */

static size_t below(tt_rng_t *r, size_t n) {
  return n == 0 ? 0 : (size_t)(tt_rng_next(r) % n);
}
static bool chance(tt_rng_t *r, unsigned percent) {
  return below(r, 100) < percent;
}

static int64_t now_us(void) {
  return mu_timestamp_mono_now().us;
}

/* ---- the model ----------------------------------------------------------------------
 */

typedef enum { K_AT, K_AFTER, K_EVERY } kind_t;
static const char *const k_kind_names[] = {"at", "after", "every"};

/* One timer. Its next deadline lies in [lo, hi] (lo == hi for run_at). For a
 * repeating timer both move on at every firing, following docs/reactor.md: the
 * next deadline is when + interval, or now + interval if that is already past
 * (missed ticks are skipped), where `now` is the batch's clock reading, which
 * lies between the loop's poll return time and the callback's clock reading. */
typedef struct trec {
  int idx;
  kind_t kind;
  bool remote_made; /* round 2: added by the second thread */
  int64_t lo;
  int64_t hi;
  int64_t interval;
  uint64_t order;     /* creation order, for equal deadlines */
  int64_t added_iter; /* loop iteration it was added in */
  bool added_in_cb;   /* from inside a timer callback */
  mu_timer_id_t id;   /* round 1 only; round 2 keeps ids in the shared table */
  int fires;
  bool cancel_asked; /* a cancel was made while it could still fire */
  bool dead;         /* may not fire any more: fired (one-shot) or cancelled */
  bool add_failed;   /* run_* returned an invalid id (ENOMEM) */
  int pos;           /* index in the pending or repeating list, -1 if in none */
} trec_t;

typedef struct list {
  trec_t **items;
  int size;
} list_t;

static void list_add(list_t *l, trec_t *r) {
  r->pos = l->size;
  l->items[l->size++] = r;
}

static void list_remove(list_t *l, trec_t *r) {
  MCHECK(r->pos >= 0 && r->pos < l->size && l->items[r->pos] == r);
  trec_t *last = l->items[--l->size];
  last->pos = r->pos;
  l->items[r->pos] = last;
  r->pos = -1;
}

static mu_event_loop_t *g_loop;
static trec_t *g_recs;
static int g_nrecs;
static int g_cap_recs;
static list_t g_pending;   /* one-shots that may still fire */
static list_t g_repeating; /* repeating timers not cancelled */
static long g_budget;
static bool g_in_cb;
static trec_t *g_current; /* the timer whose callback runs */
static uint64_t g_order;
static int64_t g_anchor;      /* origin of the run_at grid */
static int64_t g_last_at = 0; /* the last run_at deadline, to make exact ties */
static unsigned g_tie_percent = 15;

enum { PH_RUN, PH_DRAIN, PH_LINGER };
static int g_phase;

/* Counts of what happened, to show (and require) that each case was reached. */
enum {
  C_ADD_AT,
  C_ADD_AT_TIE,
  C_ADD_AT_PAST,
  C_ADD_AFTER,
  C_ADD_AFTER_ZERO,
  C_ADD_EVERY,
  C_ADD_IN_CB,
  C_ADD_IN_FUNCTOR,
  C_ADD_ENOMEM,
  C_CANCEL_PENDING,
  C_CANCEL_DUE,
  C_CANCEL_REPEATING,
  C_CANCEL_STALE,
  C_CANCEL_SELF_ONESHOT,
  C_CANCEL_SELF_REPEATING,
  C_CANCEL_ZERO,
  C_FIRE,
  C_SKIPPED_TICKS,
  C_STALL,
  C_BURST,
  C_TIE_CHECKED,
  C_ORDER_CHECKED,
  C_COUNT
};
static const char *const k_count_names[] = {"add_at",
                                            "add_at_tie",
                                            "add_at_past",
                                            "add_after",
                                            "add_after_0_or_neg",
                                            "add_every",
                                            "add_in_callback",
                                            "add_in_functor",
                                            "add_enomem",
                                            "cancel_pending",
                                            "cancel_due",
                                            "cancel_repeating",
                                            "cancel_stale",
                                            "cancel_self_1",
                                            "cancel_self_every",
                                            "cancel_zero",
                                            "fires",
                                            "skipped_ticks",
                                            "stalls",
                                            "bursts",
                                            "ties_checked",
                                            "order_checked"};
_Static_assert(sizeof k_count_names / sizeof k_count_names[0] == C_COUNT,
               "a name for every count");
static long g_count[C_COUNT];

static trec_t *new_rec(kind_t kind) {
  MCHECK(g_nrecs < g_cap_recs);
  trec_t *r = &g_recs[g_nrecs];
  *r = (trec_t){.idx = g_nrecs, .kind = kind, .pos = -1};
  g_nrecs++;
  return r;
}

/* ---- round 1: adds and cancels in the loop thread ------------------------------------
 */

static void on_fire(void *arg);

/* ---- allocation failures: only the loop thread's, only around one add ------------ */

static _Thread_local bool t_fail_allocs;

static void *fail_malloc(size_t n) {
  return t_fail_allocs ? NULL : malloc(n);
}

static void *fail_realloc(void *p, size_t n) {
  return t_fail_allocs ? NULL : realloc(p, n);
}

/* The timer queue's arrays grow when the number of timers passes a power of two
 * (64 and up): adds near one of those may be made to fail (the slot or the heap
 * entry cannot be had), and everything after must go on as if never asked. */
static bool near_growth(void) {
  int n = g_pending.size + g_repeating.size;
  for (int cap = 64; cap <= 4096; cap *= 2) {
    if (n >= cap - 8 && n <= cap + 8)
      return chance(&g_rng, 50);
  }
  return false;
}

static void add_timer(kind_t kind) {
  trec_t *r = new_rec(kind);
  r->order = ++g_order;
  r->added_iter = mu_event_loop_iteration(g_loop);
  r->added_in_cb = g_in_cb;
  g_count[g_in_cb ? C_ADD_IN_CB : C_ADD_IN_FUNCTOR]++;
  int64_t t0 = now_us();
  bool inject = near_growth();
  errno = 0;
  if (kind == K_AT) {
    /* A 500 us grid from 2 ms in the past to 20 ms ahead. */
    int64_t k = (t0 - 2000 - g_anchor) / 500 + (int64_t)below(&g_rng, 45);
    int64_t when = g_anchor + k * 500;
    if (g_last_at > 0 && chance(&g_rng, g_tie_percent)) {
      when = g_last_at;
      g_count[C_ADD_AT_TIE]++;
    }
    if (when <= t0)
      g_count[C_ADD_AT_PAST]++;
    g_last_at = when;
    r->lo = r->hi = when;
    t_fail_allocs = inject;
    r->id = mu_event_loop_run_at(g_loop, mu_timestamp_from_us(when), on_fire, r);
    g_count[C_ADD_AT]++;
  } else if (kind == K_AFTER) {
    int64_t us = chance(&g_rng, 15) ? 0 : 250 * (int64_t)below(&g_rng, 81);
    if (chance(&g_rng, 5))
      us = -250 * (1 + (int64_t)below(&g_rng, 8)); /* counts as 0 (docs/reactor.md) */
    t_fail_allocs = inject;
    r->id = mu_event_loop_run_after(g_loop, (double)us / 1e6, on_fire, r);
    us = us > 0 ? us : 0;
    r->lo = t0 + us - 1; /* the delay is rounded to the microsecond */
    r->hi = now_us() + us + 1;
    g_count[us == 0 ? C_ADD_AFTER_ZERO : C_ADD_AFTER]++;
  } else {
    r->interval = 1000 * (1 + (int64_t)below(&g_rng, 12));
    t_fail_allocs = inject;
    r->id = mu_event_loop_run_every(g_loop, (double)r->interval / 1e6, on_fire, r);
    r->lo = t0 + r->interval - 1;
    r->hi = now_us() + r->interval + 1;
    g_count[C_ADD_EVERY]++;
  }
  t_fail_allocs = false;
  if (!mu_timer_id_valid(r->id)) {
    /* The header: an invalid id and ENOMEM; such a timer must never fire. */
    MCHECK(inject && errno == ENOMEM);
    note("%ld: add #%d failed for lack of memory", g_steps, r->idx);
    r->add_failed = true;
    r->dead = true;
    g_count[C_ADD_ENOMEM]++;
    return;
  }
  list_add(kind == K_EVERY ? &g_repeating : &g_pending, r);
  note("%ld: add #%d %s lo %+" PRId64 " us hi %+" PRId64 " interval %" PRId64
       " (it %" PRId64 "%s)",
       g_steps, r->idx, k_kind_names[kind], r->lo - t0, r->hi - t0, r->interval,
       r->added_iter, g_in_cb ? ", in callback" : "");
}

/* A pending one-shot, preferring one already due (it may be later in the batch
 * that is running now: cancelling it must still stop it). */
static trec_t *pick_pending(bool *due) {
  int64_t now = now_us();
  trec_t *pick = NULL;
  for (int tries = 0; tries < 4; ++tries) {
    pick = g_pending.items[below(&g_rng, (size_t)g_pending.size)];
    if (pick->hi <= now)
      break;
  }
  *due = pick->hi <= now;
  return pick;
}

static void cancel_rec(trec_t *r, list_t *from) {
  mu_event_loop_cancel(g_loop, r->id);
  r->cancel_asked = true;
  r->dead = true;
  list_remove(from, r);
}

/* True when a timer surely due at this batch's clock has yet to run: the
 * running batch holds more callbacks after this one. */
static bool batch_has_more(void) {
  int64_t poll = mu_event_loop_poll_return_time(g_loop).us;
  int64_t iter = mu_event_loop_iteration(g_loop);
  for (int i = 0; i < g_pending.size; ++i) {
    const trec_t *y = g_pending.items[i];
    if (y->hi <= poll && !(y->added_in_cb && y->added_iter == iter))
      return true;
  }
  return false;
}

/* Many timers at once from a callback with more of its batch to run, mostly on
 * one deadline, the first few bursts twice as many as the last: the timer
 * queue's arrays grow while a batch runs, and one batch fires them all. At most
 * k_max_bursts a round (past the fifth nothing grows any more), so at most
 * k_burst_recs records in all. */
enum { k_max_bursts = 6, k_burst_recs = 100 + 200 + 400 + 800 + 1600 + 1600 };

static void burst(void) {
  int n = 100 << (g_count[C_BURST] < 4 ? g_count[C_BURST] : 4);
  note("%ld: burst of %d", g_steps, n);
  g_last_at = 0;
  add_timer(K_AT); /* picks the deadline most of the others share */
  g_tie_percent = 85;
  for (int i = 1; i < n; ++i)
    add_timer(chance(&g_rng, 80) ? K_AT : K_AFTER);
  g_tie_percent = 15;
  g_count[C_BURST]++;
}

static void one_op(void) {
  g_steps++;
  unsigned live = (unsigned)(g_pending.size + g_repeating.size);
  unsigned op = (unsigned)below(&g_rng, 100);
  if (live < 24 && op >= 45)
    op = (unsigned)below(&g_rng, 45); /* too few timers: add */
  if (live > 120 && op < 45)
    op = 45 + (unsigned)below(&g_rng, 55); /* too many: cancel */
  if (op < 18) {
    add_timer(K_AT);
  } else if (op < 38) {
    add_timer(K_AFTER);
  } else if (op < 45) {
    if (g_repeating.size < 6)
      add_timer(K_EVERY);
    else
      add_timer(K_AFTER);
  } else if (op < 65) {
    if (g_pending.size == 0)
      return;
    bool due;
    trec_t *r = pick_pending(&due);
    note("%ld: cancel pending #%d%s", g_steps, r->idx, due ? " (due)" : "");
    cancel_rec(r, &g_pending);
    g_count[due ? C_CANCEL_DUE : C_CANCEL_PENDING]++;
  } else if (op < 72) {
    if (g_repeating.size == 0)
      return;
    trec_t *r = g_repeating.items[below(&g_rng, (size_t)g_repeating.size)];
    note("%ld: cancel repeating #%d after %d fires", g_steps, r->idx, r->fires);
    cancel_rec(r, &g_repeating);
    g_count[C_CANCEL_REPEATING]++;
  } else if (op < 88) {
    /* A timer that fired or was cancelled: a no-op that must not touch any
     * other timer (ids are never reused, though slots are). */
    trec_t *r = &g_recs[below(&g_rng, (size_t)g_nrecs)];
    if (!r->dead)
      return;
    note("%ld: cancel stale #%d (%s, %d fires)", g_steps, r->idx,
         r->cancel_asked ? "cancelled" : "fired", r->fires);
    mu_event_loop_cancel(g_loop, r->id);
    g_count[C_CANCEL_STALE]++;
  } else if (op < 95) {
    trec_t *r = g_current;
    if (r == NULL)
      return;
    note("%ld: cancel self #%d (%s)", g_steps, r->idx, k_kind_names[r->kind]);
    if (r->kind == K_EVERY && !r->dead) {
      cancel_rec(r, &g_repeating); /* it will not fire again */
      g_count[C_CANCEL_SELF_REPEATING]++;
    } else {
      mu_event_loop_cancel(g_loop, r->id); /* fired or cancelled: a no-op */
      g_count[C_CANCEL_SELF_ONESHOT]++;
    }
  } else if (op == 98 && g_in_cb && g_count[C_BURST] < k_max_bursts && live < 120 &&
             chance(&g_rng, 60) && batch_has_more()) {
    burst();
  } else if (op < 99) {
    note("%ld: cancel zero id", g_steps);
    mu_event_loop_cancel(g_loop, (mu_timer_id_t){0, 0});
    g_count[C_CANCEL_ZERO]++;
  } else {
    /* A slow callback or functor: short repeating timers fall a whole interval
     * behind, and the loop must skip their missed ticks. */
    note("%ld: stall 3 ms", g_steps);
    tt_sleep_ms(3);
    g_count[C_STALL]++;
  }
}

static void maybe_finish(void) {
  if (g_phase == PH_DRAIN && g_pending.size == 0 && g_repeating.size == 0) {
    note("%ld: all settled, quit", g_steps);
    mu_event_loop_quit(g_loop);
  }
}

/* Runs a few operations, then keeps at least one timer alive so the walk goes
 * on (a loop with no timers and no functors would sleep for ever). */
static void run_ops(int n) {
  for (int i = 0; i < n && g_phase == PH_RUN; ++i) {
    one_op();
    if (g_steps >= g_budget) {
      g_phase = PH_DRAIN;
      note("%ld: budget spent, draining %d pending, %d repeating", g_steps,
           g_pending.size, g_repeating.size);
    }
  }
  if (g_phase == PH_RUN && g_pending.size + g_repeating.size == 0)
    add_timer(K_AFTER);
}

static void driver_functor(void *arg) {
  (void)arg;
  MCHECK(!g_in_cb);
  run_ops(1 + (int)below(&g_rng, 3));
  maybe_finish();
}

/* No timer whose next deadline is surely earlier (or equal, for run_at, and
 * created first) may still be waiting when `r` fires, unless a callback of this
 * very iteration added it (it joins the next batch). A repeating timer that
 * fired earlier in this batch has its bounds past the batch's clock already. */
static void check_order_in(const list_t *l, const trec_t *r, int64_t lo, int64_t iter) {
  for (int i = 0; i < l->size; ++i) {
    const trec_t *y = l->items[i];
    if (y == r)
      continue;
    if (y->added_in_cb && y->added_iter == iter)
      continue;
    if (y->hi < lo) {
      model_fail(__FILE__, __LINE__,
                 "#%d (%s) fired while #%d (%s, deadline <= %+" PRId64
                 " us from this one's earliest) is still pending",
                 r->idx, k_kind_names[r->kind], y->idx, k_kind_names[y->kind],
                 y->hi - lo);
    }
    if (r->kind == K_AT && y->kind == K_AT && y->lo == r->lo) {
      g_count[C_TIE_CHECKED]++;
      if (y->order < r->order)
        model_fail(__FILE__, __LINE__,
                   "#%d fired before #%d: same run_at deadline, created later", r->idx,
                   y->idx);
    }
  }
}

static void check_order(const trec_t *r, int64_t lo, int64_t iter) {
  check_order_in(&g_pending, r, lo, iter);
  check_order_in(&g_repeating, r, lo, iter);
  g_count[C_ORDER_CHECKED]++;
}

static int64_t max64(int64_t a, int64_t b) {
  return a > b ? a : b;
}

/* A repeating timer fired at `now` in an iteration whose poll returned at
 * `poll`: where its next deadline can lie. */
static void advance_repeating(trec_t *r, int64_t now, int64_t poll) {
  int64_t lo = max64(r->lo + r->interval, poll + 1);
  if (r->hi + r->interval <= poll) {
    /* when + interval is surely past the batch's clock: skipped to now + interval */
    lo = max64(lo, poll + r->interval);
    g_count[C_SKIPPED_TICKS]++;
  }
  r->lo = lo;
  r->hi = max64(r->hi + r->interval, now + r->interval);
}

static void on_fire(void *arg) {
  trec_t *r = arg;
  int64_t now = now_us();
  int64_t iter = mu_event_loop_iteration(g_loop);
  note("%ld: fire #%d %s (fire %d, it %" PRId64 ")", g_steps, r->idx,
       k_kind_names[r->kind], r->fires + 1, iter);
  MCHECK(!g_in_cb);
  if (r->dead)
    model_fail(__FILE__, __LINE__, "#%d (%s) fired after it %s", r->idx,
               k_kind_names[r->kind], r->cancel_asked ? "was cancelled" : "had fired");
  int64_t lo = r->lo;
  if (now < lo)
    model_fail(__FILE__, __LINE__, "#%d fired %" PRId64 " us before its deadline", r->idx,
               lo - now);
  if (r->kind != K_EVERY) {
    list_remove(&g_pending, r);
    r->dead = true;
  }
  /* docs/reactor.md: a timer a callback adds joins the next batch, even if due. */
  if (r->added_in_cb && r->added_iter == iter)
    model_fail(__FILE__, __LINE__, "#%d fired in the iteration whose callback added it",
               r->idx);
  check_order(r, lo, iter);
  if (r->kind == K_EVERY)
    advance_repeating(r, now, mu_event_loop_poll_return_time(g_loop).us);
  r->fires++;
  g_count[C_FIRE]++;
  g_in_cb = true;
  g_current = r;
  if (g_phase == PH_RUN) {
    run_ops((int)below(&g_rng, 4));
    if (chance(&g_rng, 20))
      CHECK(mu_event_loop_queue_in_loop(g_loop, driver_functor, NULL) == 0);
  } else if (r->kind == K_EVERY) {
    /* Draining: a repeating timer shows it is still alive, then ends itself. */
    note("%ld: drain cancels #%d", g_steps, r->idx);
    cancel_rec(r, &g_repeating);
  }
  g_in_cb = false;
  g_current = NULL;
  maybe_finish();
}

static void quit_fn(void *arg) {
  mu_event_loop_quit(arg);
}

/* With nothing left, the loop runs 100 ms more: a cancelled timer that still
 * fired would show, and so would one still scheduled though it can never run
 * again (cancelled in its batch and re-armed anyway): it keeps waking the
 * loop. Allowed: the quit timer's wake-up, one for a timerfd still armed for a
 * cancelled timer (cancel leaves the timerfd alone) and one for a wake-up
 * left in the eventfd. */
static void linger(void) {
  int64_t before = mu_event_loop_iteration(g_loop);
  mu_event_loop_run_after(g_loop, 0.1, quit_fn, g_loop);
  mu_event_loop_loop(g_loop);
  int64_t wakeups = mu_event_loop_iteration(g_loop) - before;
  if (wakeups > 4)
    model_fail(__FILE__, __LINE__,
               "an idle loop woke %" PRId64 " times in 100 ms: a timer is still armed",
               wakeups);
}

static void round_local(long budget) {
  g_budget = budget;
  g_steps = 0;
  g_phase = PH_RUN;
  g_anchor = now_us();
  /* Before loop(): adds from the loop thread, outside any callback. */
  for (int i = 0; i < 40; ++i)
    one_op();
  if (g_pending.size + g_repeating.size == 0)
    add_timer(K_AFTER);
  double t0 = tt_now();
  mu_event_loop_loop(g_loop);
  MCHECK(g_phase == PH_DRAIN && g_pending.size == 0 && g_repeating.size == 0);
  g_phase = PH_LINGER;
  linger();
  long oneshots = 0, cancelled = 0;
  for (int i = 0; i < g_nrecs; ++i) {
    const trec_t *r = &g_recs[i];
    MCHECK(r->dead);
    if (r->add_failed) {
      MCHECK(r->fires == 0);
      continue;
    }
    if (r->kind == K_EVERY) {
      MCHECK(r->cancel_asked);
      continue;
    }
    oneshots++;
    if (r->cancel_asked && r->fires == 0) {
      cancelled++;
      continue;
    }
    if (r->fires != 1)
      model_fail(__FILE__, __LINE__, "one-shot #%d fired %d times", r->idx, r->fires);
  }
  printf(
      "round 1: %ld operations, %d timers (%ld one-shot, %ld cancelled before "
      "firing) in %.1f s\n",
      g_steps, g_nrecs, oneshots, cancelled, tt_now() - t0);
  for (int i = 0; i < C_COUNT; ++i)
    printf("  %-18s %ld\n", k_count_names[i], g_count[i]);
  if (getenv("MODEL_STEPS") == NULL) {
    for (int i = 0; i < C_COUNT; ++i) {
      if (g_count[i] == 0 && i != C_ADD_ENOMEM) { /* that one is chance */
        fprintf(stderr, "round 1 never reached %s\n", k_count_names[i]);
        abort();
      }
    }
  }
}

/* ---- round 2: a second thread adds and cancels ------------------------------------- */

/* Every id made in round 2, by either thread; both pick from it to cancel. */
typedef struct shared_id {
  trec_t *rec;
  mu_timer_id_t id;
} shared_id_t;

static pthread_mutex_t g_ids_lock = PTHREAD_MUTEX_INITIALIZER;
static shared_id_t *g_ids;
static int g_nids;
static int g_cap_ids;

static void publish(trec_t *r, mu_timer_id_t id) {
  pthread_mutex_lock(&g_ids_lock);
  CHECK(g_nids < g_cap_ids);
  g_ids[g_nids++] = (shared_id_t){r, id};
  pthread_mutex_unlock(&g_ids_lock);
}

/* Often one of the newest ids: its add may still be queued in the loop. */
static bool pick_id(tt_rng_t *rng, shared_id_t *out) {
  pthread_mutex_lock(&g_ids_lock);
  bool any = g_nids > 0;
  size_t newest = g_nids < 3 ? (size_t)g_nids : 3;
  if (any && chance(rng, 40))
    *out = g_ids[(size_t)g_nids - 1 - below(rng, newest)];
  else if (any)
    *out = g_ids[below(rng, (size_t)g_nids)];
  pthread_mutex_unlock(&g_ids_lock);
  return any;
}

/* Round 2 records: second thread t fills [t * per, t * per + used) before each
 * add (the loop reads them only after the add's functor, which orders the
 * writes); the loop thread owns [k_remotes * per, g_cap_recs). fires, dead and
 * cancel_asked are the loop thread's. */
enum { k_remotes = 2 };

typedef struct remote {
  int no;
  tt_rng_t rng;
  int base;
  int cap;
  int used; /* its thread's; the loop reads it after remote_finished */
  long ops;
  long cancels; /* its thread's; read after the join */
} remote_t;

static remote_t g_remotes[k_remotes];
static int g_local_base;
static int g_local_used;   /* loop thread only */
static int g_remotes_done; /* loop thread: second threads whose last functor ran */
static long g_x_fires;
static long g_x_cancels_by_loop; /* loop thread only */

static void on_fire_x(void *arg);

/* Runs in the loop thread behind a cancel made elsewhere: from here on the
 * timer must not fire. */
static void mark_dead(void *arg) {
  trec_t *r = arg;
  note("mark dead #%d (%d fires)", r->idx, r->fires);
  r->cancel_asked = true;
  r->dead = true;
}

/* Whether record i was used in round 2 (after every second thread finished). */
static bool used_x(int i) {
  if (i >= g_local_base)
    return i < g_local_base + g_local_used;
  const remote_t *t = &g_remotes[i / g_remotes[0].cap];
  return i < t->base + t->used;
}

static bool all_settled(void) {
  for (int i = 0; i < g_cap_recs; ++i) {
    if (used_x(i) && !g_recs[i].dead)
      return false;
  }
  return true;
}

static void check_settled(void) {
  if (g_remotes_done == k_remotes && all_settled())
    mu_event_loop_quit(g_loop);
}

static void mark_dead_and_check(void *arg) {
  mark_dead(arg);
  check_settled();
}

/* An add from either thread; lo bounds the first deadline as in round 1. */
static mu_timer_id_t add_x(trec_t *r, tt_rng_t *rng, bool allow_every) {
  int64_t t0 = now_us();
  unsigned pick = (unsigned)below(rng, 10);
  if (pick < 3) {
    int64_t when = t0 - 1000 + 250 * (int64_t)below(rng, 60);
    r->kind = K_AT;
    r->lo = r->hi = when;
    return mu_event_loop_run_at(g_loop, mu_timestamp_from_us(when), on_fire_x, r);
  }
  if (pick < 9 || !allow_every) {
    int64_t us = chance(rng, 15) ? 0 : 250 * (int64_t)below(rng, 60);
    r->kind = K_AFTER;
    r->lo = t0 + us - 1;
    r->hi = INT64_MAX;
    return mu_event_loop_run_after(g_loop, (double)us / 1e6, on_fire_x, r);
  }
  r->kind = K_EVERY;
  r->interval = 1000 * (1 + (int64_t)below(rng, 8));
  r->lo = t0 + r->interval - 1;
  r->hi = INT64_MAX;
  return mu_event_loop_run_every(g_loop, (double)r->interval / 1e6, on_fire_x, r);
}

static void remote_finished(void *arg);

/* A second thread: adds (its repeating timers are capped and tracked so it can
 * cancel them at the end), cancels of any published id (the loop thread's, the
 * other second thread's, its own), each followed by a marker, and short sleeps
 * so that timers fire in between. Its last act queues remote_finished, which
 * therefore runs after all it queued. */
static void *remote_main(void *arg) {
  remote_t *t = arg;
  enum { k_max_rep = 4 };
  shared_id_t reps[k_max_rep];
  int nrep = 0;
  for (long i = 0; i < t->ops; ++i) {
    unsigned op = (unsigned)below(&t->rng, 100);
    if (op < 50 && t->used < t->cap) {
      trec_t *r = &g_recs[t->base + t->used++];
      *r = (trec_t){.idx = (int)(r - g_recs), .remote_made = true, .pos = -1};
      mu_timer_id_t id = add_x(r, &t->rng, nrep < k_max_rep);
      CHECK(mu_timer_id_valid(id));
      note("remote %d: add #%d %s", t->no, r->idx, k_kind_names[r->kind]);
      if (r->kind == K_EVERY)
        reps[nrep++] = (shared_id_t){r, id};
      publish(r, id);
      if (chance(&t->rng, 15)) { /* cancel at once: its add may be queued */
        note("remote %d: cancel #%d just added", t->no, r->idx);
        mu_event_loop_cancel(g_loop, id);
        CHECK(mu_event_loop_queue_in_loop(g_loop, mark_dead_and_check, r) == 0);
        if (r->kind == K_EVERY)
          nrep--;
        t->cancels++;
      }
    } else if (op < 90) {
      shared_id_t sid;
      if (pick_id(&t->rng, &sid)) {
        note("remote %d: cancel #%d", t->no, sid.rec->idx);
        mu_event_loop_cancel(g_loop, sid.id);
        CHECK(mu_event_loop_queue_in_loop(g_loop, mark_dead_and_check, sid.rec) == 0);
        for (int k = 0; k < nrep; ++k) {
          if (reps[k].rec == sid.rec)
            reps[k--] = reps[--nrep];
        }
        t->cancels++;
      }
    } else {
      tt_sleep_ms(1);
    }
  }
  for (int k = 0; k < nrep; ++k) {
    note("remote %d: final cancel of repeating #%d", t->no, reps[k].rec->idx);
    mu_event_loop_cancel(g_loop, reps[k].id);
    CHECK(mu_event_loop_queue_in_loop(g_loop, mark_dead_and_check, reps[k].rec) == 0);
  }
  CHECK(mu_event_loop_queue_in_loop(g_loop, remote_finished, t) == 0);
  return NULL;
}

/* When the last second thread has finished, every marker it queued has run,
 * so its repeating timers are dead; the loop thread's end now, at once. */
static void remote_finished(void *arg) {
  remote_t *t = arg;
  note("remote %d finished: %d timers", t->no, t->used);
  if (++g_remotes_done < k_remotes)
    return;
  for (int i = 0; i < g_cap_recs; ++i) {
    trec_t *r = &g_recs[i];
    if (!used_x(i) || r->kind != K_EVERY || r->dead)
      continue;
    MCHECK(!r->remote_made);
    mu_event_loop_cancel(g_loop, r->id);
    r->cancel_asked = true;
    r->dead = true;
  }
  check_settled();
}

static int live_local_repeating(void) {
  int n = 0;
  for (int i = g_local_base; i < g_local_base + g_local_used; ++i)
    n += g_recs[i].kind == K_EVERY && !g_recs[i].dead;
  return n;
}

static void local_add_x(void) {
  trec_t *n = &g_recs[g_local_base + g_local_used++];
  *n = (trec_t){.idx = (int)(n - g_recs), .pos = -1};
  n->id = add_x(n, &g_rng, live_local_repeating() < 4);
  CHECK(mu_timer_id_valid(n->id));
  note("loop: add #%d %s", n->idx, k_kind_names[n->kind]);
  publish(n, n->id);
}

static void on_fire_x(void *arg) {
  trec_t *r = arg;
  int64_t now = now_us();
  note("fire #%d %s%s (fire %d)", r->idx, k_kind_names[r->kind],
       r->remote_made ? " remote-made" : "", r->fires + 1);
  if (r->dead)
    model_fail(__FILE__, __LINE__, "#%d (%s) fired after it %s", r->idx,
               k_kind_names[r->kind], r->cancel_asked ? "was cancelled" : "had fired");
  int64_t lo = r->kind == K_EVERY ? r->lo + r->fires * r->interval : r->lo;
  if (now < lo)
    model_fail(__FILE__, __LINE__, "#%d fired %" PRId64 " us before its deadline", r->idx,
               lo - now);
  r->fires++;
  g_x_fires++;
  if (r->kind != K_EVERY)
    r->dead = true;
  unsigned op = (unsigned)below(&g_rng, 100);
  if (g_remotes_done == k_remotes) {
    /* draining */
  } else if (op < 30 && g_local_base + g_local_used < g_cap_recs) {
    local_add_x();
  } else if (op < 60) { /* cancel anything published, the other thread's too */
    shared_id_t s;
    if (pick_id(&g_rng, &s)) {
      note("loop: cancel #%d%s", s.rec->idx, s.rec->remote_made ? " remote-made" : "");
      mu_event_loop_cancel(g_loop, s.id);
      if (s.rec->remote_made) {
        /* Its add may still be queued, and then so is the cancel. */
        CHECK(mu_event_loop_queue_in_loop(g_loop, mark_dead_and_check, s.rec) == 0);
      } else {
        s.rec->cancel_asked = true;
        s.rec->dead = true;
      }
      g_x_cancels_by_loop++;
    }
  }
  check_settled();
}

static void round_cross(long remote_ops) {
  memset(g_recs, 0, (size_t)g_cap_recs * sizeof *g_recs);
  int per = g_cap_recs / (k_remotes + 1);
  g_local_base = k_remotes * per;
  g_cap_ids = g_cap_recs;
  g_ids = calloc((size_t)g_cap_ids, sizeof *g_ids);
  CHECK(g_ids != NULL);
  for (int i = 0; i < 8; ++i)
    local_add_x();
  double t0 = tt_now();
  pthread_t th[k_remotes];
  for (int t = 0; t < k_remotes; ++t) {
    g_remotes[t] = (remote_t){.no = t,
                              .rng = tt_rng_make(tt_mix64(g_seed + 1 + (uint64_t)t)),
                              .base = t * per,
                              .cap = per,
                              .ops = remote_ops};
    CHECK(pthread_create(&th[t], NULL, remote_main, &g_remotes[t]) == 0);
  }
  mu_event_loop_loop(g_loop);
  long remote_cancels = 0, remote_timers = 0;
  for (int t = 0; t < k_remotes; ++t) {
    CHECK(pthread_join(th[t], NULL) == 0);
    remote_cancels += g_remotes[t].cancels;
    remote_timers += g_remotes[t].used;
  }
  MCHECK(g_remotes_done == k_remotes && all_settled());
  linger();
  long oneshots = 0, cancelled = 0;
  for (int i = 0; i < g_cap_recs; ++i) {
    const trec_t *r = &g_recs[i];
    if (!used_x(i))
      continue;
    MCHECK(r->dead);
    if (r->kind == K_EVERY) {
      MCHECK(r->cancel_asked);
      continue;
    }
    oneshots++;
    if (r->cancel_asked) { /* it may have fired before the cancel ran */
      cancelled++;
      MCHECK(r->fires <= 1);
      continue;
    }
    if (r->fires != 1)
      model_fail(__FILE__, __LINE__, "one-shot #%d fired %d times", r->idx, r->fires);
  }
  printf(
      "round 2: %d threads x %ld operations, %ld + %d timers (%ld one-shot, %ld of "
      "them cancelled), %ld fires, cancels %ld by the loop thread and %ld by the "
      "others, in %.1f s\n",
      k_remotes, remote_ops, remote_timers, g_local_used, oneshots, cancelled, g_x_fires,
      g_x_cancels_by_loop, remote_cancels, tt_now() - t0);
  MCHECK(g_x_fires > 0 && g_x_cancels_by_loop > 0 && remote_cancels > 0);
  free(g_ids);
}

static void never(void *arg) {
  (void)arg;
  model_fail(__FILE__, __LINE__, "a timer fired after its loop stopped running");
}

static void *add_from_thread(void *arg) {
  (void)arg;
  mu_timer_id_t id = mu_event_loop_run_after(g_loop, 0, never, NULL);
  CHECK(mu_timer_id_valid(id));
  CHECK(mu_timer_id_valid(mu_event_loop_run_every(g_loop, 0.001, never, NULL)));
  mu_event_loop_cancel(g_loop, id);
  return NULL;
}

/* The loop is freed with timers still waiting: due, later and repeating ones,
 * and adds and a cancel still queued from another thread. None may run, and
 * none may leak (ASan's leak check). */
static void free_with_pending_timers(void) {
  mu_timestamp_t past = mu_timestamp_from_us(now_us() - 1000);
  CHECK(mu_timer_id_valid(mu_event_loop_run_at(g_loop, past, never, NULL)));
  CHECK(mu_timer_id_valid(mu_event_loop_run_after(g_loop, 10, never, NULL)));
  CHECK(mu_timer_id_valid(mu_event_loop_run_every(g_loop, 0.001, never, NULL)));
  pthread_t th;
  CHECK(pthread_create(&th, NULL, add_from_thread, NULL) == 0);
  CHECK(pthread_join(th, NULL) == 0);
  mu_event_loop_free(g_loop);
  g_loop = NULL;
}

static long env_long(const char *name, long fallback) {
  const char *v = getenv(name);
  return v != NULL ? strtol(v, NULL, 0) : fallback;
}

int main(void) {
  tt_init("timer_model", 240);
  signal(SIGALRM, on_alarm);
  static const mu_allocator_t k_alloc = {fail_malloc, fail_realloc, free};
  mu_set_allocator(&k_alloc);
  g_seed = tt_seed(tt_mix64((uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32)));
  g_rng = tt_rng_make(g_seed);
  long budget = env_long("MODEL_STEPS", TT_SANITIZED ? 20000 : 40000);
  long remote_ops = TT_SANITIZED ? 2000 : 5000;
  long round2_recs = (k_remotes + 1) * remote_ops;
  g_cap_recs = (int)((budget > round2_recs ? budget : round2_recs) + 4096 + k_burst_recs);
  g_recs = calloc((size_t)g_cap_recs, sizeof *g_recs);
  g_pending.items = calloc((size_t)g_cap_recs, sizeof(trec_t *));
  g_repeating.items = calloc((size_t)g_cap_recs, sizeof(trec_t *));
  CHECK(g_recs != NULL && g_pending.items != NULL && g_repeating.items != NULL);
  g_loop = mu_event_loop_new();
  CHECK(g_loop != NULL);
  printf("poller %s\n", mu_event_loop_poller_name(g_loop));
  round_local(budget);
  round_cross(remote_ops);
  free_with_pending_timers();
  free(g_recs);
  free(g_pending.items);
  free(g_repeating.items);
  printf("timer_model: OK\n");
  return 0;
}
