#include "cmuduo/base/async_logging.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmuduo/base/alloc.h"
#include "cmuduo/base/current_thread.h"
#include "cmuduo/base/log_file.h"
#include "cmuduo/base/logging.h"
#include "cmuduo/base/timestamp.h"

#define MU_ASYNC_DEFAULT_BUFFER ((size_t)4 << 20)
#define MU_ASYNC_MIN_BUFFER ((size_t)8 << 10)
#define MU_ASYNC_POOL_CAP 2      /* free buffers kept besides the back end's spare */
#define MU_ASYNC_FLUSH_WAIT_S 10 /* a flush gives up on a stuck back end */

typedef struct log_buffer {
  size_t len;
  char data[];
} log_buffer_t;

typedef enum state { ST_NEW, ST_RUNNING, ST_STOPPING, ST_STOPPED } state_t;

struct mu_async_logging {
  pthread_mutex_t mutex;
  pthread_cond_t wake; /* the back end sleeps here */
  pthread_cond_t done; /* flush and stop wait here */
  /* Who holds `mutex`: lets a FATAL raised inside the locked section (a sink
   * under the fallback, an allocator hook) flush without locking twice. */
  _Atomic pid_t owner;
  _Atomic pid_t backend_tid;
  pid_t pid; /* the creating process: a forked child leaves the logger alone */
  pthread_t thread;

  size_t buffer_size;
  size_t max_queued;
  double flush_interval;

  /* Under `mutex`. */
  state_t state;
  bool need_join;
  log_buffer_t *cur; /* NULL only when a buffer could not be had */
  log_buffer_t **queue;
  size_t nqueue;
  log_buffer_t *pool[MU_ASYNC_POOL_CAP];
  size_t npool;
  bool dropping; /* drop every line until the back end swaps the queue out */
  uint64_t pending_drop_lines, pending_drop_bytes;
  uint64_t flush_requested, flush_done;

  /* The back end's batch and the drops reported after it; touched by the
   * back-end thread only. */
  log_buffer_t **batch;
  size_t nbatch, batch_next;
  uint64_t batch_drop_lines, batch_drop_bytes;

  _Atomic uint64_t dropped_lines, dropped_bytes;

  mu_log_file_t *file;
  mu_async_logging_write_fn sink_write;
  mu_async_logging_flush_fn sink_flush;
  void *sink_arg;
};

/* The logger installed in the front end, stopped at exit (see the header). */
static _Atomic(mu_async_logging_t *) g_installed;
static pthread_once_t g_atexit_once = PTHREAD_ONCE_INIT;

/* ---- locking ------------------------------------------------------------ */

static void al_lock(mu_async_logging_t *al) {
  pthread_mutex_lock(&al->mutex);
  atomic_store_explicit(&al->owner, mu_current_thread_tid(), memory_order_relaxed);
}

static void al_unlock(mu_async_logging_t *al) {
  atomic_store_explicit(&al->owner, 0, memory_order_relaxed);
  pthread_mutex_unlock(&al->mutex);
}

static bool holds_lock(mu_async_logging_t *al) {
  return atomic_load_explicit(&al->owner, memory_order_relaxed) ==
         mu_current_thread_tid();
}

/* Returns true if the caller already held the lock (and so must not unlock). */
static bool lock_unless_held(mu_async_logging_t *al) {
  if (holds_lock(al))
    return true;
  al_lock(al);
  return false;
}

static bool is_backend(mu_async_logging_t *al) {
  return atomic_load_explicit(&al->backend_tid, memory_order_relaxed) ==
         mu_current_thread_tid();
}

/* Waits on `cond` (deadline NULL: no limit); returns ETIMEDOUT or 0. */
static int al_wait(mu_async_logging_t *al, pthread_cond_t *cond,
                   const struct timespec *deadline) {
  atomic_store_explicit(&al->owner, 0, memory_order_relaxed);
  int rc = deadline ? pthread_cond_timedwait(cond, &al->mutex, deadline)
                    : pthread_cond_wait(cond, &al->mutex);
  atomic_store_explicit(&al->owner, mu_current_thread_tid(), memory_order_relaxed);
  return rc;
}

static struct timespec deadline_after(double seconds) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  int64_t ns = (int64_t)(seconds * 1e9);
  ts.tv_sec += ns / 1000000000;
  ts.tv_nsec += ns % 1000000000;
  if (ts.tv_nsec >= 1000000000) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000;
  }
  return ts;
}

/* ---- sink --------------------------------------------------------------- */

static void file_write(const char *data, size_t len, void *arg) {
  mu_log_file_append(arg, data, len);
}

static void file_flush(void *arg) {
  mu_log_file_flush(arg);
}

static void sink_write(mu_async_logging_t *al, const char *data, size_t len) {
  if (len > 0)
    al->sink_write(data, len, al->sink_arg);
}

static void sink_flush(mu_async_logging_t *al) {
  if (al->sink_flush)
    al->sink_flush(al->sink_arg);
}

/* The line that stands for dropped lines, in the front end's format. */
static void write_drop_note(mu_async_logging_t *al, uint64_t lines, uint64_t bytes) {
  if (lines == 0)
    return;
  char when[MU_TIMESTAMP_STRLEN];
  mu_timestamp_to_formatted_string(mu_timestamp_now(), true, when, sizeof when);
  char line[256];
  int n = snprintf(line, sizeof line,
                   "%sZ %s ERROR async logging dropped %llu lines (%llu bytes): the "
                   "back end fell behind - async_logging.c:%d\n",
                   when, mu_current_thread_tid_string(), (unsigned long long)lines,
                   (unsigned long long)bytes, __LINE__);
  if (n <= 0 || (size_t)n >= sizeof line)
    return;
  sink_write(al, line, (size_t)n);
  ssize_t w = write(STDERR_FILENO, line, (size_t)n);
  (void)w;
}

static void write_batch_drop_note(mu_async_logging_t *al) {
  uint64_t lines = al->batch_drop_lines, bytes = al->batch_drop_bytes;
  al->batch_drop_lines = al->batch_drop_bytes = 0;
  write_drop_note(al, lines, bytes);
}

/* ---- buffers ------------------------------------------------------------ */

/* Touched once here, never under the lock, so that a log call does not take
 * the page faults of a fresh buffer (one per 4 KiB, ~40 lines). */
static log_buffer_t *buffer_new(mu_async_logging_t *al) {
  if (al->buffer_size > SIZE_MAX - sizeof(log_buffer_t)) {
    errno = ENOMEM; /* the size would wrap to a few bytes */
    return NULL;
  }
  log_buffer_t *b = mu_malloc(sizeof *b + al->buffer_size);
  if (b) {
    b->len = 0;
    memset(b->data, 0, al->buffer_size);
  }
  return b;
}

static log_buffer_t *pool_take(mu_async_logging_t *al) {
  return al->npool ? al->pool[--al->npool] : NULL;
}

/* Keeps `b` (emptied) in the pool if there is room; otherwise hands it back for
 * the caller to free outside the lock. */
static log_buffer_t *pool_give(mu_async_logging_t *al, log_buffer_t *b) {
  b->len = 0;
  if (al->npool < MU_ASYNC_POOL_CAP) {
    al->pool[al->npool++] = b;
    return NULL;
  }
  return b;
}

static void count_drop(mu_async_logging_t *al, size_t len) {
  al->pending_drop_lines++;
  al->pending_drop_bytes += len;
  atomic_fetch_add_explicit(&al->dropped_lines, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&al->dropped_bytes, len, memory_order_relaxed);
}

/* ---- front end ---------------------------------------------------------- */

static void write_stderr(const char *data, size_t len) {
  while (len > 0) {
    ssize_t n = write(STDERR_FILENO, data, len);
    if (n <= 0)
      return;
    data += n;
    len -= (size_t)n;
  }
}

/* Under the lock, running: copies the line or queues the full buffer. Returns
 * false if a new buffer is needed and none is at hand. */
static bool append_locked(mu_async_logging_t *al, const char *data, size_t len,
                          log_buffer_t **spare, bool *woke) {
  if (al->dropping) {
    count_drop(al, len);
    return true;
  }
  log_buffer_t *cur = al->cur;
  if (cur && al->buffer_size - cur->len >= len) {
    memcpy(cur->data + cur->len, data, len);
    cur->len += len;
    return true;
  }
  if (cur && al->nqueue >= al->max_queued) {
    al->dropping = true;
    count_drop(al, len);
    return true;
  }
  log_buffer_t *b = pool_take(al);
  if (b == NULL) {
    b = *spare;
    *spare = NULL;
  }
  if (b == NULL)
    return false;
  if (cur) {
    al->queue[al->nqueue++] = cur;
    *woke = true;
  }
  al->cur = b;
  memcpy(b->data, data, len);
  b->len = len;
  return true;
}

void mu_async_logging_append(mu_async_logging_t *al, const char *data, size_t len) {
  if (len > al->buffer_size)
    len = al->buffer_size;
  if (holds_lock(al)) {
    /* Logged from inside our own locked section (a sink under the fallback, an
     * allocator hook): the logger's state is busy, stderr is not. */
    write_stderr(data, len);
    return;
  }
  log_buffer_t *spare = NULL;
  bool woke = false;
  bool no_memory = false;
  for (;;) {
    al_lock(al);
    /* Checked again after a failed allocation too: a stop meanwhile means no
     * back end is left to report a drop, and the fallback takes the line. */
    if (al->state != ST_RUNNING && al->state != ST_STOPPING) {
      sink_write(al, data, len); /* the fallback: straight through */
      sink_flush(al);
      break;
    }
    if (append_locked(al, data, len, &spare, &woke)) {
      if (spare)
        spare = pool_give(al, spare);
      break;
    }
    if (no_memory) {
      count_drop(al, len);
      woke = true; /* the back end reports it */
      break;
    }
    al_unlock(al);
    /* Allocate outside the lock: a 4 MiB malloc must not stall other threads. */
    spare = buffer_new(al);
    no_memory = spare == NULL;
  }
  al_unlock(al);
  if (woke)
    pthread_cond_signal(&al->wake);
  if (spare)
    mu_free(spare);
}

/* ---- back end ----------------------------------------------------------- */

/* Hands a buffer's lines to the sink, marking them consumed first: a sink
 * that raises FATAL (or calls exit) re-enters write_everything_locked, which
 * must not write them twice. */
static void consume(mu_async_logging_t *al, log_buffer_t *b) {
  size_t n = b->len;
  b->len = 0;
  sink_write(al, b->data, n);
}

/* Writes what the back end has not written yet: the rest of its batch, the
 * queue, the current buffer, the drop notes; flushes. Called with the lock
 * held, by the back end's final pass or in the back-end thread itself when it
 * cannot wait for the back end (its own FATAL or exit). Buffers stay where they
 * are, emptied, so a caller further up the stack never sees one vanish. */
static void write_everything_locked(mu_async_logging_t *al) {
  while (al->batch_next < al->nbatch)
    consume(al, al->batch[al->batch_next++]);
  write_batch_drop_note(al);
  for (size_t i = 0; i < al->nqueue; ++i)
    consume(al, al->queue[i]);
  if (al->cur)
    consume(al, al->cur);
  uint64_t lines = al->pending_drop_lines, bytes = al->pending_drop_bytes;
  al->pending_drop_lines = al->pending_drop_bytes = 0;
  al->dropping = false;
  write_drop_note(al, lines, bytes);
  sink_flush(al);
  al->flush_done = al->flush_requested;
  pthread_cond_broadcast(&al->done);
}

static bool backend_idle(const mu_async_logging_t *al) {
  return al->state == ST_RUNNING && al->nqueue == 0 && al->pending_drop_lines == 0 &&
         al->flush_requested == al->flush_done;
}

/* Under the lock: moves the queue and a non-empty current buffer into the
 * batch, replacing the current buffer with `*spare` or one from the pool. */
static void swap_out(mu_async_logging_t *al, log_buffer_t **spare) {
  al->nbatch = 0;
  al->batch_next = 0;
  for (size_t i = 0; i < al->nqueue; ++i)
    al->batch[al->nbatch++] = al->queue[i];
  al->nqueue = 0;
  /* Lines were dropped after everything now in the batch: the note follows it. */
  al->batch_drop_lines = al->pending_drop_lines;
  al->batch_drop_bytes = al->pending_drop_bytes;
  al->pending_drop_lines = al->pending_drop_bytes = 0;
  al->dropping = false;
  if (al->cur && al->cur->len > 0) {
    al->batch[al->nbatch++] = al->cur;
    al->cur = *spare ? *spare : pool_take(al); /* NULL: the next append allocates */
    *spare = NULL;
  } else if (al->cur == NULL) {
    al->cur = *spare;
    *spare = NULL;
  }
}

/* After a batch is written: keeps one buffer as the spare, refills the pool,
 * and returns the rest in `extra` to be freed outside the lock. */
static size_t recycle_locked(mu_async_logging_t *al, log_buffer_t **spare,
                             log_buffer_t **extra) {
  size_t nextra = 0;
  for (size_t i = 0; i < al->nbatch; ++i) {
    log_buffer_t *b = al->batch[i];
    b->len = 0;
    if (*spare == NULL) {
      *spare = b;
    } else if ((b = pool_give(al, b)) != NULL) {
      extra[nextra++] = b;
    }
  }
  al->nbatch = al->batch_next = 0;
  return nextra;
}

/* The final pass, under the lock so that no line can slip in between the last
 * swap and the switch to the fallback. */
static void final_pass_locked(mu_async_logging_t *al) {
  write_everything_locked(al);
  al->state = ST_STOPPED;
}

static void *backend_main(void *arg) {
  mu_async_logging_t *al = arg;
  mu_current_thread_set_name("AsyncLogging");
  atomic_store(&al->backend_tid, mu_current_thread_tid());
  log_buffer_t *spare = NULL;
  log_buffer_t **extra = al->batch + al->max_queued + 1; /* scratch half of batch[] */
  al_lock(al);
  for (;;) {
    if (spare == NULL) {
      al_unlock(al);
      spare = buffer_new(al);
      al_lock(al);
    }
    struct timespec deadline = deadline_after(al->flush_interval);
    while (backend_idle(al) && al_wait(al, &al->wake, &deadline) != ETIMEDOUT) {
    }
    if (al->state == ST_STOPPING)
      final_pass_locked(al);
    if (al->state == ST_STOPPED)
      break;
    swap_out(al, &spare);
    uint64_t seq = al->flush_requested;
    al_unlock(al);

    while (al->batch_next < al->nbatch)
      consume(al, al->batch[al->batch_next++]);

    al_lock(al);
    /* Stopped by the sink itself during the batch: the final pass wrote the
     * rest and flushed, and appenders now use the sink through the fallback,
     * so it is theirs. */
    if (al->state != ST_STOPPED) {
      al_unlock(al);
      write_batch_drop_note(al);
      sink_flush(al);
      al_lock(al);
    }
    if (seq > al->flush_done)
      al->flush_done = seq;
    pthread_cond_broadcast(&al->done);
    size_t nextra = recycle_locked(al, &spare, extra);
    if (nextra) {
      al_unlock(al);
      for (size_t i = 0; i < nextra; ++i)
        mu_free(extra[i]);
      al_lock(al);
    }
  }
  pthread_cond_broadcast(&al->done);
  if (spare)
    spare = pool_give(al, spare);
  al_unlock(al);
  mu_free(spare);
  return NULL;
}

/* ---- lifetime ----------------------------------------------------------- */

void mu_async_logging_options_init(mu_async_logging_options_t *o) {
  *o = (mu_async_logging_options_t){
      .buffer_size = MU_ASYNC_DEFAULT_BUFFER,
      .flush_interval = 3.0,
      .max_queued_buffers = 16,
      .roll_size = (size_t)1 << 30,
  };
}

static int init_sync(mu_async_logging_t *al) {
  pthread_condattr_t attr;
  if (pthread_condattr_init(&attr) != 0)
    return -ENOMEM;
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(&al->wake, &attr);
  pthread_cond_init(&al->done, &attr);
  pthread_condattr_destroy(&attr);
  /* The critical section is a memcpy: spinning briefly beats sleeping in the
   * kernel when two threads log at once. */
  pthread_mutexattr_t mattr;
  pthread_mutexattr_init(&mattr);
  pthread_mutexattr_settype(&mattr, PTHREAD_MUTEX_ADAPTIVE_NP);
  pthread_mutex_init(&al->mutex, &mattr);
  pthread_mutexattr_destroy(&mattr);
  return 0;
}

static int open_sink(mu_async_logging_t *al, const char *basename,
                     const mu_async_logging_options_t *o) {
  if (o->sink_write) {
    al->sink_write = o->sink_write;
    al->sink_flush = o->sink_flush;
    al->sink_arg = o->sink_arg;
    return 0;
  }
  mu_log_file_options_t fo;
  mu_log_file_options_init(&fo);
  fo.roll_size = o->roll_size ? o->roll_size : fo.roll_size;
  fo.check_every_n = 1; /* few, big appends: check the day on each */
  al->file = mu_log_file_new(basename, &fo);
  if (al->file == NULL)
    return -errno;
  al->sink_write = file_write;
  al->sink_flush = file_flush;
  al->sink_arg = al->file;
  return 0;
}

static void apply_options(mu_async_logging_t *al, const mu_async_logging_options_t *o) {
  al->buffer_size = o->buffer_size ? o->buffer_size : MU_ASYNC_DEFAULT_BUFFER;
  if (al->buffer_size < MU_ASYNC_MIN_BUFFER)
    al->buffer_size = MU_ASYNC_MIN_BUFFER;
  al->flush_interval = o->flush_interval > 0 ? o->flush_interval : 3.0;
  if (al->flush_interval > 3600)
    al->flush_interval = 3600;
  al->max_queued = o->max_queued_buffers ? o->max_queued_buffers : 16;
}

mu_async_logging_t *mu_async_logging_new(const char *basename,
                                         const mu_async_logging_options_t *opts) {
  mu_async_logging_options_t o;
  if (opts) {
    o = *opts;
  } else {
    mu_async_logging_options_init(&o);
  }
  mu_async_logging_t *al = mu_calloc(1, sizeof *al);
  if (al == NULL)
    return NULL;
  apply_options(al, &o);
  al->pid = getpid();
  int rc = init_sync(al);
  al->queue = mu_calloc(al->max_queued, sizeof *al->queue);
  /* batch holds a swapped-out queue plus the current buffer; its second half is
   * the back end's scratch list of buffers to free. */
  al->batch = mu_calloc(2 * (al->max_queued + 1), sizeof *al->batch);
  al->cur = buffer_new(al);
  al->pool[0] = buffer_new(al);
  al->npool = al->pool[0] ? 1 : 0;
  if (rc == 0 && (al->queue == NULL || al->batch == NULL || al->cur == NULL))
    rc = -ENOMEM;
  if (rc == 0)
    rc = open_sink(al, basename, &o);
  if (rc != 0) {
    mu_async_logging_free(al);
    errno = -rc;
    return NULL;
  }
  return al;
}

int mu_async_logging_start(mu_async_logging_t *al) {
  al_lock(al);
  if (al->state != ST_NEW) {
    al_unlock(al);
    return -EALREADY;
  }
  al->state = ST_RUNNING;
  al->need_join = true;
  int rc = pthread_create(&al->thread, NULL, backend_main, al);
  if (rc != 0) {
    al->state = ST_NEW;
    al->need_join = false;
  }
  al_unlock(al);
  return -rc;
}

int mu_async_logging_flush(mu_async_logging_t *al) {
  if (al->pid != getpid())
    return 0;
  bool held = lock_unless_held(al);
  int rc = 0;
  if (al->state == ST_RUNNING || al->state == ST_STOPPING) {
    if (is_backend(al)) {
      write_everything_locked(al); /* waiting for ourselves would never end */
    } else {
      uint64_t req = ++al->flush_requested;
      pthread_cond_signal(&al->wake);
      struct timespec deadline = deadline_after(MU_ASYNC_FLUSH_WAIT_S);
      while (al->flush_done < req && al->state != ST_STOPPED) {
        if (al_wait(al, &al->done, &deadline) == ETIMEDOUT) {
          rc = -ETIMEDOUT;
          break;
        }
      }
    }
  } else {
    sink_flush(al);
  }
  if (!held)
    al_unlock(al);
  return rc;
}

void mu_async_logging_stop(mu_async_logging_t *al) {
  if (al->pid != getpid())
    return;
  bool held = lock_unless_held(al);
  if (al->state == ST_NEW) {
    al->state = ST_STOPPED;
  } else if (al->state == ST_RUNNING || al->state == ST_STOPPING) {
    if (is_backend(al)) {
      /* exit() or stop from the back end's own sink: no one to wait for. The
       * thread is joined by a later stop or free from another thread. */
      final_pass_locked(al);
    } else {
      al->state = ST_STOPPING;
      pthread_cond_signal(&al->wake);
      while (al->state != ST_STOPPED)
        al_wait(al, &al->done, NULL);
    }
  }
  bool join = al->need_join && !is_backend(al);
  if (join)
    al->need_join = false;
  if (!held)
    al_unlock(al);
  if (join)
    pthread_join(al->thread, NULL);
}

static void stop_installed_at_exit(void) {
  mu_async_logging_t *al = atomic_load(&g_installed);
  if (al && al->pid == getpid())
    mu_async_logging_stop(al);
}

static void register_atexit(void) {
  atexit(stop_installed_at_exit);
}

void mu_async_logging_install(mu_async_logging_t *al) {
  pthread_once(&g_atexit_once, register_atexit);
  atomic_store(&g_installed, al);
  mu_log_set_output(mu_async_logging_output, al);
  mu_log_set_flush(mu_async_logging_flush_output, al);
}

static void uninstall(mu_async_logging_t *al) {
  mu_async_logging_t *expected = al;
  if (atomic_compare_exchange_strong(&g_installed, &expected, NULL)) {
    mu_log_set_output(NULL, NULL);
    mu_log_set_flush(NULL, NULL);
  }
}

void mu_async_logging_free(mu_async_logging_t *al) {
  if (al == NULL)
    return;
  uninstall(al);
  if (al->sink_write)
    mu_async_logging_stop(al);
  if (al->need_join && al->pid == getpid())
    pthread_join(al->thread, NULL); /* it stopped itself */
  if (al->queue) {
    for (size_t i = 0; i < al->nqueue; ++i)
      mu_free(al->queue[i]);
  }
  for (size_t i = 0; i < al->npool; ++i)
    mu_free(al->pool[i]);
  mu_free(al->cur);
  mu_free(al->queue);
  mu_free(al->batch);
  mu_log_file_free(al->file);
  pthread_cond_destroy(&al->wake);
  pthread_cond_destroy(&al->done);
  pthread_mutex_destroy(&al->mutex);
  mu_free(al);
}

mu_async_logging_t *mu_async_logging_setup(const char *basename,
                                           const mu_async_logging_options_t *opts) {
  mu_async_logging_t *al = mu_async_logging_new(basename, opts);
  if (al == NULL)
    return NULL;
  int rc = mu_async_logging_start(al);
  if (rc != 0) {
    mu_async_logging_free(al);
    errno = -rc;
    return NULL;
  }
  mu_async_logging_install(al);
  return al;
}

uint64_t mu_async_logging_dropped_lines(mu_async_logging_t *al) {
  return atomic_load_explicit(&al->dropped_lines, memory_order_relaxed);
}

uint64_t mu_async_logging_dropped_bytes(mu_async_logging_t *al) {
  return atomic_load_explicit(&al->dropped_bytes, memory_order_relaxed);
}

void mu_async_logging_output(const char *line, size_t len, void *arg) {
  if (arg == NULL) {
    fwrite(line, 1, len, stdout);
    fflush(stdout);
    return;
  }
  mu_async_logging_append(arg, line, len);
}

void mu_async_logging_flush_output(void *arg) {
  if (arg == NULL) {
    fflush(stdout);
    return;
  }
  mu_async_logging_flush(arg);
}
