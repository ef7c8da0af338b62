/* (a) Cross-thread functors per second, cmuduo: P producer threads each queue
 * n/P functors to a loop running in the main thread with
 * mu_event_loop_queue_in_loop. Timed from the first queue call to the run of the
 * last functor. */
#include "bench_util.h"
#include "cmuduo/net/event_loop.h"

typedef struct ctx {
  mu_event_loop_t *loop;
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

static void count_one(void *arg) {
  ctx_t *c = arg;
  if (++c->done == c->total) {
    c->end_ns = bench_now_ns();
    mu_event_loop_quit(c->loop);
  }
}

/* Runs in the loop, so the producers start only once the loop is polling. */
static void release_producers(void *arg) {
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
    if (mu_event_loop_queue_in_loop(c->loop, count_one, c) != 0)
      bench_die("queue failed");
  }
  return NULL;
}

int main(int argc, char **argv) {
  bench_opts_t o = bench_default_opts(2000000);
  bench_parse(argc, argv, &o);
  bench_pin(o.loop_cpu);
  ctx_t c = {.total = o.n - o.n % o.producers, .producer_cpu = o.producer_cpu};
  c.loop = mu_event_loop_new();
  if (c.loop == NULL)
    bench_die("mu_event_loop_new failed");
  producer_t ps[64];
  for (int i = 0; i < o.producers; ++i) {
    ps[i] = (producer_t){.ctx = &c, .count = c.total / o.producers};
    if (pthread_create(&ps[i].thread, NULL, produce, &ps[i]) != 0) {
      bench_die("pthread_create failed");
    }
  }
  mu_event_loop_queue_in_loop(c.loop, release_producers, &c);
  mu_event_loop_loop(c.loop);
  int64_t start = INT64_MAX;
  for (int i = 0; i < o.producers; ++i) {
    pthread_join(ps[i].thread, NULL);
    if (ps[i].start_ns < start)
      start = ps[i].start_ns;
  }
  mu_event_loop_free(c.loop);
  char name[32];
  snprintf(name, sizeof name, "functors_p%d", o.producers);
  bench_result(name, "cmuduo", "rate",
               (double)c.total / ((double)(c.end_ns - start) / 1e9), "functors/s");
  return 0;
}
