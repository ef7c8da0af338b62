/* (c) Wake-up latency, libevent: with threading enabled
 * (evthread_use_pthreads), the main thread calls event_active() on a
 * pre-created event of a base that sleeps in another thread; libevent then
 * notifies the base through its eventfd. This is libevent's counterpart of
 * uv_async_send. Same ping-pong as wakeup_cmuduo.c. */
#include <event2/event.h>
#include <event2/thread.h>

#include "bench_util.h"

typedef struct ctx {
  struct event_base *base;
  struct event *ev;
  int loop_cpu;
  _Atomic int ready;
  int64_t ran_ns;
  _Atomic long replies;
} ctx_t;

static void pong(evutil_socket_t fd, short what, void *arg) {
  ctx_t *c = arg;
  c->ran_ns = bench_now_ns();
  atomic_fetch_add_explicit(&c->replies, 1, memory_order_release);
}

static void *loop_main(void *arg) {
  ctx_t *c = arg;
  bench_pin(c->loop_cpu);
  atomic_store_explicit(&c->ready, 1, memory_order_release);
  /* Nothing is pending between samples: keep waiting rather than return. */
  event_base_loop(c->base, EVLOOP_NO_EXIT_ON_EMPTY);
  return NULL;
}

int main(int argc, char **argv) {
  bench_opts_t o = bench_default_opts(1);
  bench_parse(argc, argv, &o);
  bench_pin(o.producer_cpu);
  if (evthread_use_pthreads() != 0)
    bench_die("evthread_use_pthreads failed");
  static ctx_t c;
  c.loop_cpu = o.loop_cpu;
  c.base = event_base_new();
  if (c.base == NULL)
    bench_die("event_base_new failed");
  c.ev = event_new(c.base, -1, 0, pong, &c);
  if (c.ev == NULL)
    bench_die("event_new failed");
  pthread_t thread;
  if (pthread_create(&thread, NULL, loop_main, &c) != 0)
    bench_die("pthread_create failed");
  while (!atomic_load_explicit(&c.ready, memory_order_acquire))
    BENCH_CPU_RELAX();
  int64_t *samples = malloc((size_t)o.samples * sizeof *samples);
  if (samples == NULL)
    bench_die("out of memory");
  for (long i = 0; i < o.samples; ++i) {
    bench_sleep_us(o.gap_us);
    int64_t sent = bench_now_ns();
    event_active(c.ev, EV_READ, 0);
    bench_wait_for(&c.replies, i + 1);
    samples[i] = c.ran_ns - sent;
  }
  event_base_loopbreak(c.base);
  pthread_join(thread, NULL);
  event_free(c.ev);
  event_base_free(c.base);
  bench_report_latency("wakeup", "libevent", samples, o.samples);
  free(samples);
  return 0;
}
