/* (b) Timer add + cancel, libevent: the same sequence and rounds as
 * timers_cmuduo.c, run in a callback of the base.
 *
 * Storage: by default the struct events live in one array allocated and touched
 * before the clock starts, and "add" is evtimer_assign + evtimer_add, "cancel" is
 * evtimer_del. That is what a careful user does (the event is embedded in an
 * object that exists anyway, e.g. a connection), and it is how libuv is measured
 * too (uv_timer_t is always user storage). With --alloc, "add" is evtimer_new +
 * evtimer_add and "cancel" is evtimer_del + event_free: the malloc and free per
 * timer are then inside the timed region. Threading is not enabled: the base
 * takes no locks, as in a single-threaded libevent program. */
#include <event2/event.h>

#include "bench_util.h"

typedef struct ctx {
  struct event_base *base;
  long n;
  int rounds;
  int alloc;
  struct timeval *delays;
  struct event **evs;
  bench_round_t *times;
} ctx_t;

static void never(evutil_socket_t fd, short what, void *arg) {
  bench_die("a timer fired: the benchmark took longer than the shortest delay");
}

static void add_all(ctx_t *c) {
  for (long i = 0; i < c->n; ++i) {
    struct event *ev = c->evs[i];
    if (c->alloc) {
      ev = c->evs[i] = evtimer_new(c->base, never, NULL);
      if (ev == NULL)
        bench_die("evtimer_new failed");
    } else {
      evtimer_assign(ev, c->base, never, NULL);
    }
    if (evtimer_add(ev, &c->delays[i]) != 0)
      bench_die("evtimer_add failed");
  }
}

static void cancel_all(ctx_t *c) {
  for (long i = 0; i < c->n; ++i) {
    evtimer_del(c->evs[i]);
    if (c->alloc)
      event_free(c->evs[i]);
  }
}

static void run(evutil_socket_t fd, short what, void *arg) {
  ctx_t *c = arg;
  for (int r = 0; r < c->rounds; ++r) {
    bench_round_start(&c->times[r]);
    add_all(c);
    bench_round_mid(&c->times[r]);
    cancel_all(c);
    bench_round_end(&c->times[r]);
  }
}

int main(int argc, char **argv) {
  bench_opts_t o = bench_default_opts(1000000);
  bench_parse(argc, argv, &o);
  bench_pin(o.loop_cpu);
  ctx_t c = {.n = o.n, .rounds = o.rounds, .alloc = o.alloc};
  int64_t *us = bench_timer_delays_us(o.n);
  c.delays = malloc((size_t)o.n * sizeof *c.delays);
  c.evs = malloc((size_t)o.n * sizeof *c.evs);
  c.times = calloc((size_t)o.rounds, sizeof *c.times);
  if (c.delays == NULL || c.evs == NULL || c.times == NULL)
    bench_die("out of memory");
  for (long i = 0; i < o.n; ++i) {
    c.delays[i] = (struct timeval){us[i] / 1000000, us[i] % 1000000};
  }
  char *storage = NULL;
  if (!o.alloc) {
    size_t size = event_get_struct_event_size();
    storage = malloc((size_t)o.n * size);
    if (storage == NULL)
      bench_die("out of memory");
    memset(storage, 0, (size_t)o.n * size); /* fault the pages in */
    for (long i = 0; i < o.n; ++i)
      c.evs[i] = (struct event *)(storage + (size_t)i * size);
  }
  c.base = event_base_new();
  if (c.base == NULL)
    bench_die("event_base_new failed");
  event_base_once(c.base, -1, EV_TIMEOUT, run, &c, NULL);
  event_base_dispatch(c.base);
  event_base_free(c.base);
  bench_report_timer_rounds(o.alloc ? "libevent-alloc" : "libevent", o.n, c.times,
                            o.rounds);
  free(storage);
  free(us);
  free(c.delays);
  free(c.evs);
  free(c.times);
  return 0;
}
