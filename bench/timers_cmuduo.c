/* (b) Timer add + cancel, cmuduo: in a functor running in the loop thread, add n
 * one-shot timers with mu_event_loop_run_after (delays from the shared 1-10 s
 * sequence), then cancel them all in the order they were added; repeat for
 * `rounds` rounds. None fires. The delays and the id array are prepared before
 * the clock starts, as a user program keeps its ids in objects that already
 * exist. */
#include "bench_util.h"
#include "cmuduo/net/event_loop.h"

typedef struct ctx {
  mu_event_loop_t *loop;
  long n;
  int rounds;
  double *delays_s;
  mu_timer_id_t *ids;
  bench_round_t *times;
} ctx_t;

static void never(void *arg) {
  bench_die("a timer fired: the benchmark took longer than the shortest delay");
}

static void one_round(ctx_t *c, bench_round_t *t) {
  bench_round_start(t);
  for (long i = 0; i < c->n; ++i) {
    c->ids[i] = mu_event_loop_run_after(c->loop, c->delays_s[i], never, NULL);
    if (!mu_timer_id_valid(c->ids[i]))
      bench_die("run_after failed");
  }
  bench_round_mid(t);
  for (long i = 0; i < c->n; ++i)
    mu_event_loop_cancel(c->loop, c->ids[i]);
  bench_round_end(t);
}

static void run(void *arg) {
  ctx_t *c = arg;
  for (int r = 0; r < c->rounds; ++r)
    one_round(c, &c->times[r]);
  mu_event_loop_quit(c->loop);
}

int main(int argc, char **argv) {
  bench_opts_t o = bench_default_opts(1000000);
  bench_parse(argc, argv, &o);
  bench_pin(o.loop_cpu);
  ctx_t c = {.n = o.n, .rounds = o.rounds};
  int64_t *us = bench_timer_delays_us(o.n);
  c.delays_s = malloc((size_t)o.n * sizeof *c.delays_s);
  c.ids = malloc((size_t)o.n * sizeof *c.ids);
  c.times = calloc((size_t)o.rounds, sizeof *c.times);
  if (c.delays_s == NULL || c.ids == NULL || c.times == NULL)
    bench_die("out of memory");
  for (long i = 0; i < o.n; ++i)
    c.delays_s[i] = (double)us[i] / 1e6;
  memset(c.ids, 0, (size_t)o.n * sizeof *c.ids); /* fault the pages in */
  c.loop = mu_event_loop_new();
  if (c.loop == NULL)
    bench_die("mu_event_loop_new failed");
  mu_event_loop_queue_in_loop(c.loop, run, &c);
  mu_event_loop_loop(c.loop);
  mu_event_loop_free(c.loop);
  bench_report_timer_rounds("cmuduo", o.n, c.times, o.rounds);
  free(us);
  free(c.delays_s);
  free(c.ids);
  free(c.times);
  return 0;
}
