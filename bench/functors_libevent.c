/* (a) Cross-thread functors per second, libevent: the idiomatic way to run a
 * function in another thread's event base is event_base_once() with a zero
 * timeout (threading enabled with evthread_use_pthreads): it allocates a one-shot
 * event, makes it active under the base lock and notifies the base. Same shape as
 * functors_cmuduo.c. */
#include <event2/event.h>
#include <event2/thread.h>

#include "bench_util.h"

typedef struct ctx {
  struct event_base *base;
  long total;
  long done; /* loop thread only */
  int64_t end_ns;
  _Atomic int go;
  int producer_cpu;
} ctx_t;

typedef struct producer {
  ctx_t *ctx;
  long count;
  int64_t start_ns;
  pthread_t thread;
} producer_t;

static void count_one(evutil_socket_t fd, short what, void *arg) {
  ctx_t *c = arg;
  if (++c->done == c->total) {
    c->end_ns = bench_now_ns();
    event_base_loopbreak(c->base);
  }
}

static void release_producers(evutil_socket_t fd, short what, void *arg) {
  ctx_t *c = arg;
  atomic_store_explicit(&c->go, 1, memory_order_release);
}

static void *produce(void *arg) {
  producer_t *p = arg;
  ctx_t *c = p->ctx;
  bench_pin(c->producer_cpu);
  while (!atomic_load_explicit(&c->go, memory_order_acquire))
    BENCH_CPU_RELAX();
  p->start_ns = bench_now_ns();
  for (long i = 0; i < p->count; ++i) {
    if (event_base_once(c->base, -1, EV_TIMEOUT, count_one, c, NULL) != 0) {
      bench_die("event_base_once failed");
    }
  }
  return NULL;
}

int main(int argc, char **argv) {
  bench_opts_t o = bench_default_opts(2000000);
  bench_parse(argc, argv, &o);
  bench_pin(o.loop_cpu);
  if (evthread_use_pthreads() != 0)
    bench_die("evthread_use_pthreads failed");
  ctx_t c = {.total = o.n - o.n % o.producers, .producer_cpu = o.producer_cpu};
  c.base = event_base_new();
  if (c.base == NULL)
    bench_die("event_base_new failed");
  producer_t ps[64];
  for (int i = 0; i < o.producers; ++i) {
    ps[i] = (producer_t){.ctx = &c, .count = c.total / o.producers};
    if (pthread_create(&ps[i].thread, NULL, produce, &ps[i]) != 0) {
      bench_die("pthread_create failed");
    }
  }
  event_base_once(c.base, -1, EV_TIMEOUT, release_producers, &c, NULL);
  /* The base has no pending event until the producers start: keep it running. */
  event_base_loop(c.base, EVLOOP_NO_EXIT_ON_EMPTY);
  int64_t start = INT64_MAX;
  for (int i = 0; i < o.producers; ++i) {
    pthread_join(ps[i].thread, NULL);
    if (ps[i].start_ns < start)
      start = ps[i].start_ns;
  }
  event_base_free(c.base);
  char name[32];
  snprintf(name, sizeof name, "functors_p%d", o.producers);
  bench_result(name, "libevent", "rate",
               (double)c.total / ((double)(c.end_ns - start) / 1e9), "functors/s");
  return 0;
}
