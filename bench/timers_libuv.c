/* (b) Timer add + cancel, libuv: the same sequence and rounds as
 * timers_cmuduo.c, each round run in a callback of the loop. The uv_timer_t
 * handles live in one array allocated and touched before the clock starts
 * (libuv never allocates them; timers_libevent.c makes the same choice). "add" is
 * uv_timer_init + uv_timer_start, "cancel" is uv_timer_stop. A handle must be
 * closed before it is initialised again, so between rounds the handles are
 * closed, untimed, and the next round starts from a fresh zero-delay timer once
 * the loop has run the close callbacks. libuv's timeouts are in milliseconds:
 * the shared microsecond delays are rounded to the nearest ms. */
#include <uv.h>

#include "bench_util.h"

typedef struct ctx {
  uv_loop_t loop;
  uv_timer_t kick;
  long n;
  int rounds;
  int round; /* the next round to run */
  uint64_t *delays_ms;
  uv_timer_t *timers;
  bench_round_t *times;
} ctx_t;

static void never(uv_timer_t *t) {
  bench_die("a timer fired: the benchmark took longer than the shortest delay");
}

static void run_round(uv_timer_t *kick);

static void all_closed(uv_handle_t *h) {
  ctx_t *c = h->data;
  if (++c->round < c->rounds)
    uv_timer_start(&c->kick, run_round, 0, 0);
}

static void run_round(uv_timer_t *kick) {
  ctx_t *c = kick->data;
  bench_round_t *t = &c->times[c->round];
  bench_round_start(t);
  for (long i = 0; i < c->n; ++i) {
    if (uv_timer_init(&c->loop, &c->timers[i]) != 0 ||
        uv_timer_start(&c->timers[i], never, c->delays_ms[i], 0) != 0) {
      bench_die("uv_timer_start failed");
    }
  }
  bench_round_mid(t);
  for (long i = 0; i < c->n; ++i)
    uv_timer_stop(&c->timers[i]);
  bench_round_end(t);
  c->timers[c->n - 1].data = c;
  /* Close callbacks run in order, so the last one means all handles are free
   * again. (Restarting `kick` here would run it before the closes finish.) */
  for (long i = 0; i + 1 < c->n; ++i)
    uv_close((uv_handle_t *)&c->timers[i], NULL);
  uv_close((uv_handle_t *)&c->timers[c->n - 1], all_closed);
}

int main(int argc, char **argv) {
  bench_opts_t o = bench_default_opts(1000000);
  bench_parse(argc, argv, &o);
  bench_pin(o.loop_cpu);
  static ctx_t c;
  c.n = o.n;
  c.rounds = o.rounds;
  int64_t *us = bench_timer_delays_us(o.n);
  c.delays_ms = malloc((size_t)o.n * sizeof *c.delays_ms);
  c.timers = malloc((size_t)o.n * sizeof *c.timers);
  c.times = calloc((size_t)o.rounds, sizeof *c.times);
  if (c.delays_ms == NULL || c.timers == NULL || c.times == NULL) {
    bench_die("out of memory");
  }
  for (long i = 0; i < o.n; ++i)
    c.delays_ms[i] = (uint64_t)((us[i] + 500) / 1000);
  memset(c.timers, 0, (size_t)o.n * sizeof *c.timers); /* fault the pages in */
  if (uv_loop_init(&c.loop) != 0 || uv_timer_init(&c.loop, &c.kick) != 0) {
    bench_die("libuv init failed");
  }
  c.kick.data = &c;
  uv_timer_start(&c.kick, run_round, 0, 0);
  uv_run(&c.loop, UV_RUN_DEFAULT);
  uv_close((uv_handle_t *)&c.kick, NULL);
  uv_run(&c.loop, UV_RUN_DEFAULT);
  if (uv_loop_close(&c.loop) != 0)
    bench_die("uv_loop_close failed");
  bench_report_timer_rounds("libuv", o.n, c.times, o.rounds);
  free(us);
  free(c.delays_ms);
  free(c.timers);
  free(c.times);
  return 0;
}
