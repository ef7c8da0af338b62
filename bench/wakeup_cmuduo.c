/* (c) Wake-up latency, cmuduo: the main thread queues a functor with
 * mu_event_loop_queue_in_loop to a loop that sleeps in epoll_wait in another
 * thread, and measures the time from just before the call to the functor's
 * first instruction. Ping-pong: it waits for each reply, then pauses gap_us so
 * the loop is back asleep before the next sample. */
#include "bench_util.h"
#include "cmuduo/net/event_loop.h"

typedef struct ctx {
  mu_event_loop_t *_Atomic loop;
  int loop_cpu;
  int64_t ran_ns; /* written by the loop before `replies` is released */
  _Atomic long replies;
} ctx_t;

static void pong(void *arg) {
  ctx_t *c = arg;
  c->ran_ns = bench_now_ns();
  atomic_fetch_add_explicit(&c->replies, 1, memory_order_release);
}

static void *loop_main(void *arg) {
  ctx_t *c = arg;
  bench_pin(c->loop_cpu);
  mu_event_loop_t *loop = mu_event_loop_new();
  if (loop == NULL)
    bench_die("mu_event_loop_new failed");
  atomic_store_explicit(&c->loop, loop, memory_order_release);
  mu_event_loop_loop(loop);
  mu_event_loop_free(loop);
  return NULL;
}

int main(int argc, char **argv) {
  bench_opts_t o = bench_default_opts(1);
  bench_parse(argc, argv, &o);
  bench_pin(o.producer_cpu);
  static ctx_t c;
  c.loop_cpu = o.loop_cpu;
  pthread_t thread;
  if (pthread_create(&thread, NULL, loop_main, &c) != 0)
    bench_die("pthread_create failed");
  mu_event_loop_t *loop;
  while ((loop = atomic_load_explicit(&c.loop, memory_order_acquire)) == NULL) {
    BENCH_CPU_RELAX();
  }
  int64_t *samples = malloc((size_t)o.samples * sizeof *samples);
  if (samples == NULL)
    bench_die("out of memory");
  for (long i = 0; i < o.samples; ++i) {
    bench_sleep_us(o.gap_us);
    int64_t sent = bench_now_ns();
    if (mu_event_loop_queue_in_loop(loop, pong, &c) != 0)
      bench_die("queue failed");
    bench_wait_for(&c.replies, i + 1);
    samples[i] = c.ran_ns - sent;
  }
  mu_event_loop_quit(loop);
  pthread_join(thread, NULL);
  bench_report_latency("wakeup", "cmuduo", samples, o.samples);
  free(samples);
  return 0;
}
