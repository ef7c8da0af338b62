#include "cmuduo/net/event_loop.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "channel_internal.h"
#include "cmuduo/base/alloc.h"
#include "cmuduo/base/current_thread.h"
#include "cmuduo/base/logging.h"
#include "cmuduo/net/buffer.h"
#include "event_loop_internal.h"
#include "poller.h"
#include "timer_queue.h"

typedef struct functor {
  mu_functor_fn fn;
  void *arg;
} functor_t;

typedef struct functor_vec {
  functor_t *items;
  size_t size;
  size_t cap;
} functor_vec_t;

struct mu_event_loop {
  pid_t thread_id;
  _Atomic bool looping;
  _Atomic bool quit;
  bool event_handling;
  bool calling_pending_functors;
  _Atomic int64_t iteration;
  _Atomic int64_t poll_return_us;
  mu_poller_t *poller;
  mu_timer_queue_t *timers;
  int wakeup_fd;
  mu_channel_t wakeup_channel;
  mu_channel_list_t active;
  size_t active_index; /* next active channel to handle */
  pthread_mutex_t mutex;
  functor_vec_t pending; /* guarded by mutex */
  functor_vec_t running; /* loop thread only: the batch being run */
  mu_loop_task_t *tasks; /* guarded by mutex: fallback calls, newest first */
};

/* Per-thread state: the loop owned by this thread (one loop per thread). */
static __thread mu_event_loop_t *t_loop_in_this_thread;

/* Bounds the drain at quit/free, so a functor that always re-queues itself
 * cannot hang the exit. */
enum { k_max_drain_rounds = 1000 };

/* ---- wakeup ------------------------------------------------------------- */

void mu_event_loop_wakeup(mu_event_loop_t *loop) {
  uint64_t one = 1;
  ssize_t n = write(loop->wakeup_fd, &one, sizeof one);
  if (n != (ssize_t)sizeof one && errno != EAGAIN)
    MU_LOG_SYSERR("write eventfd");
}

static void mu_event_loop_handle_read(mu_channel_t *ch, mu_timestamp_t t, void *arg) {
  (void)ch;
  (void)t;
  mu_event_loop_t *loop = arg;
  uint64_t n;
  if (read(loop->wakeup_fd, &n, sizeof n) < 0 && errno != EAGAIN) {
    MU_LOG_SYSERR("read eventfd");
  }
}

static const mu_channel_ops_t k_wakeup_ops = {.read = mu_event_loop_handle_read};

/* ---- life cycle --------------------------------------------------------- */

static void destroy_parts(mu_event_loop_t *loop) {
  if (loop->timers)
    mu_timer_queue_free(loop->timers);
  if (loop->wakeup_fd >= 0) {
    mu_channel_remove(&loop->wakeup_channel);
    close(loop->wakeup_fd);
  }
  if (loop->poller)
    loop->poller->ops->free(loop->poller);
  pthread_mutex_destroy(&loop->mutex);
  mu_free(loop->active.items);
  mu_free(loop->pending.items);
  mu_free(loop->running.items);
  mu_free(loop);
}

mu_event_loop_t *mu_event_loop_new(void) {
  if (t_loop_in_this_thread != NULL) {
    MU_LOG_FATAL("another event loop %p already exists in thread %d",
                 (void *)t_loop_in_this_thread, mu_current_thread_tid());
  }
  mu_event_loop_t *loop = mu_calloc(1, sizeof *loop);
  if (loop == NULL)
    return NULL;
  loop->thread_id = mu_current_thread_tid();
  loop->wakeup_fd = -1;
  pthread_mutex_init(&loop->mutex, NULL);
  int err = 0;
  loop->poller = mu_poller_new_default();
  if (loop->poller == NULL)
    goto fail;
  loop->wakeup_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (loop->wakeup_fd < 0)
    goto fail;
  mu_channel_init(&loop->wakeup_channel, loop, loop->wakeup_fd, &k_wakeup_ops, loop);
  if ((err = -mu_channel_enable_reading(&loop->wakeup_channel)) != 0)
    goto fail;
  loop->timers = mu_timer_queue_new(loop);
  if (loop->timers == NULL)
    goto fail;
  t_loop_in_this_thread = loop;
  MU_LOG_DEBUG("event loop %p created in thread %d (%s)", (void *)loop, loop->thread_id,
               loop->poller->name);
  return loop;
fail:
  err = err ? err : errno;
  MU_LOG_ERROR("cannot create an event loop: %s", mu_strerror_tl(err));
  destroy_parts(loop);
  errno = err;
  return NULL;
}

static void mu_event_loop_do_pending_functors(mu_event_loop_t *loop);

static void drain_pending(mu_event_loop_t *loop) {
  for (int round = 0; round < k_max_drain_rounds; ++round) {
    if (mu_event_loop_queue_size(loop) == 0)
      return;
    mu_event_loop_do_pending_functors(loop);
  }
  MU_LOG_WARN("%zu functors still queued after %d rounds of draining",
              mu_event_loop_queue_size(loop), k_max_drain_rounds);
}

void mu_event_loop_free(mu_event_loop_t *loop) {
  if (loop == NULL)
    return;
  MU_ASSERT_IN_LOOP_THREAD(loop);
  if (atomic_load(&loop->looping))
    MU_LOG_FATAL("mu_event_loop_free while the loop runs");
  drain_pending(loop);
  size_t left = mu_event_loop_queue_size(loop);
  if (left > 0)
    MU_LOG_ERROR("event loop freed with %zu functors never run", left);
  t_loop_in_this_thread = NULL;
  destroy_parts(loop);
}

/* ---- the loop ----------------------------------------------------------- */

static void mu_event_loop_handle_active_channels(mu_event_loop_t *loop,
                                                 mu_timestamp_t now) {
  loop->event_handling = true;
  /* Callbacks never grow or move the list (only the poller fills it); they
   * may only NULL entries past active_index: read size and items once. */
  mu_channel_t **items = loop->active.items;
  size_t n = loop->active.size;
  for (size_t i = 0; i < n; ++i) {
    loop->active_index = i + 1;
    mu_channel_t *ch = items[i];
    /* NULL: removed by an earlier callback of this iteration (a stale event). */
    if (ch != NULL)
      mu_channel_handle_event(ch, now);
  }
  loop->active.size = 0;
  loop->event_handling = false;
}

void mu_event_loop_loop(mu_event_loop_t *loop) {
  MU_ASSERT_IN_LOOP_THREAD(loop);
  if (atomic_exchange(&loop->looping, true)) {
    MU_LOG_FATAL("mu_event_loop_loop: loop %p is already running", (void *)loop);
  }
  MU_LOG_TRACE("event loop %p start looping", (void *)loop);
  while (!atomic_load_explicit(&loop->quit, memory_order_acquire)) {
    loop->active.size = 0;
    mu_timestamp_t now = loop->poller->ops->poll(loop->poller, -1, &loop->active);
    atomic_store_explicit(&loop->poll_return_us, now.us, memory_order_relaxed);
    atomic_fetch_add_explicit(&loop->iteration, 1, memory_order_relaxed);
    mu_event_loop_handle_active_channels(loop, now);
    mu_event_loop_do_pending_functors(loop);
  }
  drain_pending(loop);
  MU_LOG_TRACE("event loop %p stop looping", (void *)loop);
  atomic_store(&loop->quit, false);
  atomic_store(&loop->looping, false);
}

void mu_event_loop_quit(mu_event_loop_t *loop) {
  atomic_store_explicit(&loop->quit, true, memory_order_release);
  /* In its own thread the loop sees the flag after the current callback. */
  if (!mu_event_loop_is_in_loop_thread(loop))
    mu_event_loop_wakeup(loop);
}

/* ---- functors ----------------------------------------------------------- */

static int functor_vec_push(functor_vec_t *v, mu_functor_fn fn, void *arg) {
  if (v->size == v->cap) {
    size_t cap = v->cap ? v->cap * 2 : 16;
    functor_t *items = mu_realloc(v->items, cap * sizeof *items);
    if (items == NULL)
      return -ENOMEM;
    v->items = items;
    v->cap = cap;
  }
  v->items[v->size++] = (functor_t){fn, arg};
  return 0;
}

/* Wake only when needed: if the queue was not empty, whoever made it non-empty
 * already woke the loop; and in the loop thread, while I/O events are being
 * handled, the queue is run at the end of this iteration anyway. */
static void wakeup_after_queue(mu_event_loop_t *loop, bool was_empty) {
  if (was_empty && !(mu_event_loop_is_in_loop_thread(loop) && loop->event_handling &&
                     !loop->calling_pending_functors)) {
    mu_event_loop_wakeup(loop);
  }
}

static bool queue_empty_locked(const mu_event_loop_t *loop) {
  return loop->pending.size == 0 && loop->tasks == NULL;
}

int mu_event_loop_queue_in_loop(mu_event_loop_t *loop, mu_functor_fn fn, void *arg) {
  pthread_mutex_lock(&loop->mutex);
  bool was_empty = queue_empty_locked(loop);
  int rc = functor_vec_push(&loop->pending, fn, arg);
  pthread_mutex_unlock(&loop->mutex);
  if (rc != 0)
    return rc;
  wakeup_after_queue(loop, was_empty);
  return 0;
}

void mu_event_loop_queue_in_loop_or_task(mu_event_loop_t *loop, mu_functor_fn fn,
                                         void *arg, mu_loop_task_t *task) {
  pthread_mutex_lock(&loop->mutex);
  bool was_empty = queue_empty_locked(loop);
  if (functor_vec_push(&loop->pending, fn, arg) != 0) {
    task->next = loop->tasks;
    loop->tasks = task;
  }
  pthread_mutex_unlock(&loop->mutex);
  wakeup_after_queue(loop, was_empty);
}

void mu_event_loop_run_in_loop_or_task(mu_event_loop_t *loop, mu_functor_fn fn, void *arg,
                                       mu_loop_task_t *task) {
  if (mu_event_loop_is_in_loop_thread(loop))
    fn(arg);
  else
    mu_event_loop_queue_in_loop_or_task(loop, fn, arg, task);
}

int mu_event_loop_run_in_loop(mu_event_loop_t *loop, mu_functor_fn fn, void *arg) {
  if (mu_event_loop_is_in_loop_thread(loop)) {
    fn(arg);
    return 0;
  }
  return mu_event_loop_queue_in_loop(loop, fn, arg);
}

size_t mu_event_loop_queue_size(mu_event_loop_t *loop) {
  pthread_mutex_lock(&loop->mutex);
  size_t n = loop->pending.size;
  for (const mu_loop_task_t *t = loop->tasks; t != NULL; t = t->next)
    ++n;
  pthread_mutex_unlock(&loop->mutex);
  return n;
}

static void mu_event_loop_do_pending_functors(mu_event_loop_t *loop) {
  /* Swap the queue out under the lock and run it without: producers are never
   * blocked by a running functor, and a functor may queue more (they run in the
   * next round, not this one). */
  pthread_mutex_lock(&loop->mutex);
  functor_vec_t batch = loop->pending;
  loop->pending = loop->running;
  mu_loop_task_t *tasks = loop->tasks;
  loop->tasks = NULL;
  pthread_mutex_unlock(&loop->mutex);
  loop->calling_pending_functors = true;
  for (size_t i = 0; i < batch.size; ++i)
    batch.items[i].fn(batch.items[i].arg);
  /* Oldest first; a task may be queued again (and so relinked) by its own fn. */
  mu_loop_task_t *fifo = NULL;
  while (tasks != NULL) {
    mu_loop_task_t *t = tasks;
    tasks = t->next;
    t->next = fifo;
    fifo = t;
  }
  while (fifo != NULL) {
    mu_loop_task_t *t = fifo;
    fifo = t->next;
    t->next = NULL;
    t->fn(t);
  }
  loop->calling_pending_functors = false;
  batch.size = 0;
  loop->running = batch;
}

/* ---- timers ------------------------------------------------------------- */

typedef struct remote_timer {
  mu_event_loop_t *loop;
  uint64_t seq;
  mu_functor_fn fn;
  void *arg;
  int64_t when;
  int64_t interval;
} remote_timer_t;

static void add_remote_timer(void *p) {
  remote_timer_t *rt = p;
  if (mu_timer_queue_add(rt->loop->timers, rt->seq, rt->fn, rt->arg, rt->when,
                         rt->interval, 1) < 0) {
    MU_LOG_ERROR("out of memory adding a timer from another thread; it will not fire");
  }
  mu_free(rt);
}

static mu_timer_id_t add_timer(mu_event_loop_t *loop, int64_t when, int64_t interval,
                               mu_functor_fn fn, void *arg) {
  uint64_t seq = mu_timer_queue_next_seq(loop->timers);
  if (mu_event_loop_is_in_loop_thread(loop)) {
    int64_t slot = mu_timer_queue_add(loop->timers, seq, fn, arg, when, interval, 0);
    if (slot >= 0)
      return (mu_timer_id_t){seq, (uint32_t)slot};
  } else {
    remote_timer_t *rt = mu_malloc(sizeof *rt);
    if (rt != NULL) {
      *rt = (remote_timer_t){loop, seq, fn, arg, when, interval};
      if (mu_event_loop_queue_in_loop(loop, add_remote_timer, rt) == 0) {
        return (mu_timer_id_t){seq, MU_TIMER_SLOT_REMOTE};
      }
      mu_free(rt);
    }
  }
  errno = ENOMEM;
  return (mu_timer_id_t){0, 0};
}

/* Delays past ~100 years are clamped (and NaN or negative taken as 0) so the
 * conversion and the deadline sum can never overflow. */
static int64_t seconds_to_us(double s) {
  const double max_seconds = 100.0 * 365 * 24 * 3600;
  if (!(s > 0))
    return 0;
  if (s > max_seconds)
    s = max_seconds;
  return (int64_t)(s * (double)MU_MICROS_PER_SECOND + 0.5);
}

mu_timer_id_t mu_event_loop_run_at(mu_event_loop_t *loop, mu_timestamp_t when,
                                   mu_functor_fn fn, void *arg) {
  return add_timer(loop, when.us, 0, fn, arg);
}

mu_timer_id_t mu_event_loop_run_after(mu_event_loop_t *loop, double delay,
                                      mu_functor_fn fn, void *arg) {
  return add_timer(loop, mu_timestamp_mono_now().us + seconds_to_us(delay), 0, fn, arg);
}

mu_timer_id_t mu_event_loop_run_every(mu_event_loop_t *loop, double interval,
                                      mu_functor_fn fn, void *arg) {
  int64_t us = seconds_to_us(interval);
  if (us == 0)
    us = 1; /* a zero interval would make a one-shot timer */
  return add_timer(loop, mu_timestamp_mono_now().us + us, us, fn, arg);
}

typedef struct remote_cancel {
  mu_event_loop_t *loop;
  mu_timer_id_t id;
} remote_cancel_t;

static void cancel_in_loop(void *p) {
  remote_cancel_t *rc = p;
  mu_timer_queue_cancel(rc->loop->timers, rc->id);
  mu_free(rc);
}

void mu_event_loop_cancel(mu_event_loop_t *loop, mu_timer_id_t id) {
  if (id.seq == 0)
    return;
  if (mu_event_loop_is_in_loop_thread(loop)) {
    if (mu_timer_queue_cancel(loop->timers, id))
      return;
    /* A cross-thread id not found may name a timer whose add is still queued:
     * cancel again behind it. Ids are never reused, so otherwise a no-op. */
    if (id.slot != MU_TIMER_SLOT_REMOTE)
      return;
  }
  remote_cancel_t *rc = mu_malloc(sizeof *rc);
  if (rc != NULL) {
    *rc = (remote_cancel_t){loop, id};
    if (mu_event_loop_queue_in_loop(loop, cancel_in_loop, rc) == 0)
      return;
    mu_free(rc);
  }
  MU_LOG_ERROR("out of memory cancelling a timer from another thread");
}

/* ---- channels ----------------------------------------------------------- */

int mu_event_loop_update_channel(mu_event_loop_t *loop, mu_channel_t *ch) {
  MU_ASSERT_IN_LOOP_THREAD(loop);
  return loop->poller->ops->update_channel(loop->poller, ch);
}

void mu_event_loop_remove_channel(mu_event_loop_t *loop, mu_channel_t *ch) {
  MU_ASSERT_IN_LOOP_THREAD(loop);
  if (loop->event_handling) {
    /* A callback removed a channel that may still have an event waiting in
     * this iteration: drop that event, so its callback never runs on an object
     * the callback's owner may already have freed. */
    for (size_t i = loop->active_index; i < loop->active.size; ++i) {
      if (loop->active.items[i] == ch)
        loop->active.items[i] = NULL;
    }
  }
  loop->poller->ops->remove_channel(loop->poller, ch);
}

/* ---- queries ------------------------------------------------------------ */

bool mu_event_loop_is_in_loop_thread(const mu_event_loop_t *loop) {
  return loop->thread_id == mu_current_thread_tid();
}

pid_t mu_event_loop_thread_id(const mu_event_loop_t *loop) {
  return loop->thread_id;
}

int64_t mu_event_loop_iteration(const mu_event_loop_t *loop) {
  return atomic_load_explicit(&loop->iteration, memory_order_relaxed);
}

mu_timestamp_t mu_event_loop_poll_return_time(const mu_event_loop_t *loop) {
  return (mu_timestamp_t){
      atomic_load_explicit(&loop->poll_return_us, memory_order_relaxed)};
}

const char *mu_event_loop_poller_name(const mu_event_loop_t *loop) {
  return loop->poller->name;
}

mu_event_loop_t *mu_event_loop_of_current_thread(void) {
  return t_loop_in_this_thread;
}

void mu_event_loop_assert_in_loop_thread_for(const mu_event_loop_t *loop,
                                             const char *func) {
  if (!mu_event_loop_is_in_loop_thread(loop)) {
    MU_LOG_FATAL("%s: loop %p was created in thread %d, called from thread %d", func,
                 (void *)loop, loop->thread_id, mu_current_thread_tid());
  }
}

void mu_event_loop_assert_in_loop_thread(const mu_event_loop_t *loop) {
  mu_event_loop_assert_in_loop_thread_for(loop, "mu_event_loop_assert_in_loop_thread");
}
