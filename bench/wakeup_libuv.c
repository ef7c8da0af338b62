/* (c) Wake-up latency, libuv: uv_async_send from the main thread to a loop that
 * sleeps in another thread; the async callback stamps the time. Same ping-pong
 * as wakeup_cmuduo.c. */
#include <uv.h>

#include "bench_util.h"

typedef struct ctx {
  uv_loop_t loop;
  uv_async_t async;
  int loop_cpu;
  _Atomic int ready;
  _Atomic int stop;
  int64_t ran_ns;
  _Atomic long replies;
} ctx_t;

static void pong(uv_async_t *h) {
  ctx_t *c = h->data;
  c->ran_ns = bench_now_ns();
  if (atomic_load_explicit(&c->stop, memory_order_acquire)) {
    uv_close((uv_handle_t *)h, NULL);
    return;
  }
  atomic_fetch_add_explicit(&c->replies, 1, memory_order_release);
}

static void *loop_main(void *arg) {
  ctx_t *c = arg;
  bench_pin(c->loop_cpu);
  if (uv_loop_init(&c->loop) != 0 || uv_async_init(&c->loop, &c->async, pong) != 0) {
    bench_die("libuv init failed");
  }
  c->async.data = c;
  atomic_store_explicit(&c->ready, 1, memory_order_release);
  uv_run(&c->loop, UV_RUN_DEFAULT); /* returns once the async handle is closed */
  if (uv_loop_close(&c->loop) != 0)
    bench_die("uv_loop_close failed");
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
  while (!atomic_load_explicit(&c.ready, memory_order_acquire))
    BENCH_CPU_RELAX();
  int64_t *samples = malloc((size_t)o.samples * sizeof *samples);
  if (samples == NULL)
    bench_die("out of memory");
  for (long i = 0; i < o.samples; ++i) {
    bench_sleep_us(o.gap_us);
    int64_t sent = bench_now_ns();
    if (uv_async_send(&c.async) != 0)
      bench_die("uv_async_send failed");
    bench_wait_for(&c.replies, i + 1);
    samples[i] = c.ran_ns - sent;
  }
  atomic_store_explicit(&c.stop, 1, memory_order_release);
  uv_async_send(&c.async);
  pthread_join(thread, NULL);
  bench_report_latency("wakeup", "libuv", samples, o.samples);
  free(samples);
  return 0;
}
