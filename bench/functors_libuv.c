/* (a) Cross-thread functors per second, libuv: libuv has no functor queue, so
 * this is what a libuv user writes: a mutex-guarded array of (fn, arg) pushed by
 * the producers, and uv_async_send() after every push (libuv coalesces the
 * sends); the async callback swaps the array out under the lock and runs it.
 * Same shape as functors_cmuduo.c. */
#include <uv.h>

#include "bench_util.h"

typedef void (*fn_t)(void *);

typedef struct item {
  fn_t fn;
  void *arg;
} item_t;

typedef struct vec {
  item_t *items;
  size_t size;
  size_t cap;
} vec_t;

typedef struct ctx {
  uv_loop_t loop;
  uv_async_t async;
  uv_timer_t start_timer;
  uv_mutex_t mutex;
  vec_t pending; /* guarded by mutex */
  vec_t running; /* loop thread only */
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

static void vec_push(vec_t *v, fn_t fn, void *arg) {
  if (v->size == v->cap) {
    size_t cap = v->cap ? v->cap * 2 : 16;
    item_t *items = realloc(v->items, cap * sizeof *items);
    if (items == NULL)
      bench_die("out of memory");
    v->items = items;
    v->cap = cap;
  }
  v->items[v->size++] = (item_t){fn, arg};
}

static void post(ctx_t *c, fn_t fn, void *arg) {
  uv_mutex_lock(&c->mutex);
  vec_push(&c->pending, fn, arg);
  uv_mutex_unlock(&c->mutex);
  if (uv_async_send(&c->async) != 0)
    bench_die("uv_async_send failed");
}

static void run_posted(uv_async_t *h) {
  ctx_t *c = h->data;
  uv_mutex_lock(&c->mutex);
  vec_t batch = c->pending;
  c->pending = c->running;
  uv_mutex_unlock(&c->mutex);
  for (size_t i = 0; i < batch.size; ++i)
    batch.items[i].fn(batch.items[i].arg);
  batch.size = 0;
  c->running = batch;
}

static void count_one(void *arg) {
  ctx_t *c = arg;
  if (++c->done == c->total) {
    c->end_ns = bench_now_ns();
    uv_stop(&c->loop);
  }
}

static void release_producers(uv_timer_t *t) {
  ctx_t *c = t->data;
  atomic_store_explicit(&c->go, 1, memory_order_release);
}

static void *produce(void *arg) {
  producer_t *p = arg;
  ctx_t *c = p->ctx;
  bench_pin(c->producer_cpu);
  while (!atomic_load_explicit(&c->go, memory_order_acquire))
    BENCH_CPU_RELAX();
  p->start_ns = bench_now_ns();
  for (long i = 0; i < p->count; ++i)
    post(c, count_one, c);
  return NULL;
}

int main(int argc, char **argv) {
  bench_opts_t o = bench_default_opts(2000000);
  bench_parse(argc, argv, &o);
  bench_pin(o.loop_cpu);
  static ctx_t c;
  c.total = o.n - o.n % o.producers;
  c.producer_cpu = o.producer_cpu;
  if (uv_loop_init(&c.loop) != 0 || uv_mutex_init(&c.mutex) != 0 ||
      uv_async_init(&c.loop, &c.async, run_posted) != 0 ||
      uv_timer_init(&c.loop, &c.start_timer) != 0) {
    bench_die("libuv init failed");
  }
  c.async.data = &c;
  c.start_timer.data = &c;
  producer_t ps[64];
  for (int i = 0; i < o.producers; ++i) {
    ps[i] = (producer_t){.ctx = &c, .count = c.total / o.producers};
    if (pthread_create(&ps[i].thread, NULL, produce, &ps[i]) != 0) {
      bench_die("pthread_create failed");
    }
  }
  uv_timer_start(&c.start_timer, release_producers, 0, 0);
  uv_run(&c.loop, UV_RUN_DEFAULT);
  int64_t start = INT64_MAX;
  for (int i = 0; i < o.producers; ++i) {
    pthread_join(ps[i].thread, NULL);
    if (ps[i].start_ns < start)
      start = ps[i].start_ns;
  }
  uv_close((uv_handle_t *)&c.async, NULL);
  uv_close((uv_handle_t *)&c.start_timer, NULL);
  uv_run(&c.loop, UV_RUN_DEFAULT);
  if (uv_loop_close(&c.loop) != 0)
    bench_die("uv_loop_close failed");
  uv_mutex_destroy(&c.mutex);
  free(c.pending.items);
  free(c.running.items);
  char name[32];
  snprintf(name, sizeof name, "functors_p%d", o.producers);
  bench_result(name, "libuv", "rate",
               (double)c.total / ((double)(c.end_ns - start) / 1e9), "functors/s");
  return 0;
}
