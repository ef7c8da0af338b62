#include "timer_queue.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "channel_internal.h"
#include "cmuduo/base/alloc.h"
#include "cmuduo/base/logging.h"
#include "event_loop_internal.h"

/* Timers live in a slot array addressed by index (the array may move when it
 * grows, so code holds indices, never pointers, across callbacks). A slot is
 * matched to an id by its sequence number, which is never reused: a stale id
 * finds a free slot (seq 0) or a newer timer and does nothing. */
typedef struct timer_slot {
  mu_functor_fn fn;
  void *arg;
  int64_t when;
  int64_t interval;
  uint64_t seq;     /* 0: the slot is free */
  int32_t heap_pos; /* -1: not in the heap */
  uint32_t next_free;
  bool in_batch; /* expired and waiting to run in this tick */
  bool canceled;
  bool remote; /* recorded in the seq -> slot map */
} timer_slot_t;

typedef struct heap_entry {
  int64_t when;
  uint64_t seq;
  uint32_t slot;
} heap_entry_t;

/* Open addressing map seq -> slot, only for timers made from other threads. */
typedef struct seq_map {
  uint64_t *keys; /* 0: empty, UINT64_MAX: deleted */
  uint32_t *vals;
  size_t cap;  /* a power of two */
  size_t used; /* live + deleted */
} seq_map_t;

#define NO_SLOT UINT32_MAX
#define TOMBSTONE UINT64_MAX

struct mu_timer_queue {
  mu_event_loop_t *loop;
  int timerfd;
  mu_channel_t channel;
  timer_slot_t *slots;
  uint32_t nslots;
  uint32_t free_head;
  heap_entry_t *heap;
  size_t heap_size;
  size_t heap_cap;
  uint32_t *batch; /* slots expired in the current tick */
  size_t batch_size;
  size_t batch_cap;
  seq_map_t remote;
  int64_t armed_when; /* expiry the timerfd is set to; 0: not armed */
  bool calling_expired;
  _Atomic uint64_t next_seq;
};

/* ---- seq -> slot map ---------------------------------------------------- */

static size_t map_hash(uint64_t k, size_t cap) {
  k *= UINT64_C(0x9E3779B97F4A7C15);
  return (size_t)(k >> 17) & (cap - 1);
}

static int map_put(seq_map_t *m, uint64_t key, uint32_t val);

static int map_rehash(seq_map_t *m, size_t cap) {
  seq_map_t bigger = {mu_calloc(cap, sizeof(uint64_t)), mu_malloc(cap * sizeof(uint32_t)),
                      cap, 0};
  if (bigger.keys == NULL || bigger.vals == NULL) {
    mu_free(bigger.keys);
    mu_free(bigger.vals);
    return -ENOMEM;
  }
  for (size_t i = 0; i < m->cap; ++i) {
    if (m->keys[i] != 0 && m->keys[i] != TOMBSTONE)
      map_put(&bigger, m->keys[i], m->vals[i]);
  }
  mu_free(m->keys);
  mu_free(m->vals);
  *m = bigger;
  return 0;
}

static int map_put(seq_map_t *m, uint64_t key, uint32_t val) {
  if ((m->used + 1) * 2 > m->cap) {
    /* Size for the live keys only, so deleted ones never make the table grow. */
    size_t live = 0;
    for (size_t i = 0; i < m->cap; ++i)
      live += m->keys[i] != 0 && m->keys[i] != TOMBSTONE;
    size_t cap = 16;
    while (cap < (live + 1) * 4)
      cap *= 2;
    int rc = map_rehash(m, cap);
    if (rc != 0)
      return rc;
  }
  size_t i = map_hash(key, m->cap);
  while (m->keys[i] != 0)
    i = (i + 1) & (m->cap - 1);
  m->keys[i] = key;
  m->vals[i] = val;
  m->used++;
  return 0;
}

static size_t map_find(const seq_map_t *m, uint64_t key) {
  if (m->cap == 0)
    return SIZE_MAX;
  for (size_t i = map_hash(key, m->cap);; i = (i + 1) & (m->cap - 1)) {
    if (m->keys[i] == key)
      return i;
    if (m->keys[i] == 0)
      return SIZE_MAX;
  }
}

static void map_erase(seq_map_t *m, uint64_t key) {
  size_t i = map_find(m, key);
  if (i != SIZE_MAX)
    m->keys[i] = TOMBSTONE;
}

/* ---- heap --------------------------------------------------------------- */

static bool entry_less(const heap_entry_t *a, const heap_entry_t *b) {
  return a->when < b->when || (a->when == b->when && a->seq < b->seq);
}

static void heap_place(mu_timer_queue_t *tq, size_t pos, heap_entry_t e) {
  tq->heap[pos] = e;
  tq->slots[e.slot].heap_pos = (int32_t)pos;
}

static void sift_up(mu_timer_queue_t *tq, size_t pos, heap_entry_t e) {
  while (pos > 0) {
    size_t parent = (pos - 1) / 2;
    if (!entry_less(&e, &tq->heap[parent]))
      break;
    heap_place(tq, pos, tq->heap[parent]);
    pos = parent;
  }
  heap_place(tq, pos, e);
}

static void sift_down(mu_timer_queue_t *tq, size_t pos, heap_entry_t e) {
  for (;;) {
    size_t child = 2 * pos + 1;
    if (child >= tq->heap_size)
      break;
    if (child + 1 < tq->heap_size && entry_less(&tq->heap[child + 1], &tq->heap[child])) {
      ++child;
    }
    if (!entry_less(&tq->heap[child], &e))
      break;
    heap_place(tq, pos, tq->heap[child]);
    pos = child;
  }
  heap_place(tq, pos, e);
}

static int heap_push(mu_timer_queue_t *tq, uint32_t slot) {
  if (tq->heap_size == tq->heap_cap) {
    size_t cap = tq->heap_cap ? tq->heap_cap * 2 : 64;
    heap_entry_t *h = mu_realloc(tq->heap, cap * sizeof *h);
    if (h == NULL)
      return -ENOMEM;
    tq->heap = h;
    tq->heap_cap = cap;
  }
  const timer_slot_t *t = &tq->slots[slot];
  heap_entry_t e = {t->when, t->seq, slot};
  sift_up(tq, tq->heap_size++, e);
  return 0;
}

static void heap_remove(mu_timer_queue_t *tq, size_t pos) {
  tq->slots[tq->heap[pos].slot].heap_pos = -1;
  heap_entry_t last = tq->heap[--tq->heap_size];
  if (pos == tq->heap_size)
    return;
  if (pos > 0 && entry_less(&last, &tq->heap[(pos - 1) / 2])) {
    sift_up(tq, pos, last);
  } else {
    sift_down(tq, pos, last);
  }
}

/* ---- slots -------------------------------------------------------------- */

static int64_t alloc_slot(mu_timer_queue_t *tq) {
  if (tq->free_head == NO_SLOT) {
    uint32_t n = tq->nslots ? tq->nslots * 2 : 64;
    if (n <= tq->nslots || n >= NO_SLOT)
      return -ENOMEM;
    timer_slot_t *s = mu_realloc(tq->slots, (size_t)n * sizeof *s);
    if (s == NULL)
      return -ENOMEM;
    for (uint32_t i = tq->nslots; i < n; ++i) {
      s[i].seq = 0;
      s[i].next_free = i + 1 < n ? i + 1 : NO_SLOT;
    }
    tq->slots = s;
    tq->free_head = tq->nslots;
    tq->nslots = n;
  }
  uint32_t slot = tq->free_head;
  tq->free_head = tq->slots[slot].next_free;
  return slot;
}

static void free_slot(mu_timer_queue_t *tq, uint32_t slot) {
  timer_slot_t *t = &tq->slots[slot];
  if (t->remote)
    map_erase(&tq->remote, t->seq);
  t->seq = 0;
  t->next_free = tq->free_head;
  tq->free_head = slot;
}

/* ---- timerfd ------------------------------------------------------------ */

static void arm(mu_timer_queue_t *tq, int64_t when) {
  if (when == tq->armed_when)
    return;
  if (when <= 0)
    when = 1; /* an all-zero it_value would disarm the timer */
  struct itimerspec spec = {0};
  spec.it_value.tv_sec = when / MU_MICROS_PER_SECOND;
  spec.it_value.tv_nsec = (long)(when % MU_MICROS_PER_SECOND) * 1000;
  if (timerfd_settime(tq->timerfd, TFD_TIMER_ABSTIME, &spec, NULL) != 0) {
    MU_LOG_SYSERR("timerfd_settime");
    return;
  }
  tq->armed_when = when;
}

static void arm_for_earliest(mu_timer_queue_t *tq) {
  if (tq->heap_size > 0)
    arm(tq, tq->heap[0].when);
}

static bool batch_push(mu_timer_queue_t *tq, uint32_t slot) {
  if (tq->batch_size == tq->batch_cap) {
    size_t cap = tq->batch_cap ? tq->batch_cap * 2 : 16;
    uint32_t *b = mu_realloc(tq->batch, cap * sizeof *b);
    if (b == NULL)
      return false;
    tq->batch = b;
    tq->batch_cap = cap;
  }
  tq->batch[tq->batch_size++] = slot;
  return true;
}

/* Moves every timer due at `now` from the heap into the batch. */
static void collect_expired(mu_timer_queue_t *tq, int64_t now) {
  tq->batch_size = 0;
  while (tq->heap_size > 0 && tq->heap[0].when <= now) {
    uint32_t slot = tq->heap[0].slot;
    if (!batch_push(tq, slot)) {
      MU_LOG_ERROR("out of memory running timers; the rest run next tick");
      break;
    }
    heap_remove(tq, 0);
    tq->slots[slot].in_batch = true;
  }
}

/* Re-arms repeating timers of the batch, frees the rest. */
static void finish_batch(mu_timer_queue_t *tq, int64_t now) {
  for (size_t i = 0; i < tq->batch_size; ++i) {
    uint32_t slot = tq->batch[i];
    timer_slot_t *t = &tq->slots[slot];
    t->in_batch = false;
    if (t->interval > 0 && !t->canceled) {
      t->when += t->interval;
      if (t->when <= now)
        t->when = now + t->interval; /* skip missed ticks */
      if (heap_push(tq, slot) == 0)
        continue;
      MU_LOG_ERROR("out of memory re-arming a repeating timer; it stops");
    }
    free_slot(tq, slot);
  }
  tq->batch_size = 0;
}

static void mu_timer_queue_handle_read(mu_channel_t *ch, mu_timestamp_t receive_time,
                                       void *arg) {
  (void)ch;
  (void)receive_time;
  mu_timer_queue_t *tq = arg;
  uint64_t expirations;
  if (read(tq->timerfd, &expirations, sizeof expirations) < 0 && errno != EAGAIN) {
    MU_LOG_SYSERR("read timerfd");
  }
  tq->armed_when = 0;
  int64_t now = mu_timestamp_mono_now().us;
  collect_expired(tq, now);
  tq->calling_expired = true;
  for (size_t i = 0; i < tq->batch_size; ++i) {
    timer_slot_t *t = &tq->slots[tq->batch[i]];
    if (!t->canceled)
      t->fn(t->arg); /* may add or cancel timers: re-fetch t after */
  }
  tq->calling_expired = false;
  finish_batch(tq, now);
  arm_for_earliest(tq);
}

static const mu_channel_ops_t k_timerfd_ops = {.read = mu_timer_queue_handle_read};

/* ---- public (internal) API ---------------------------------------------- */

mu_timer_queue_t *mu_timer_queue_new(mu_event_loop_t *loop) {
  mu_timer_queue_t *tq = mu_calloc(1, sizeof *tq);
  if (tq == NULL)
    return NULL;
  tq->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (tq->timerfd < 0) {
    int err = errno;
    mu_free(tq);
    errno = err;
    return NULL;
  }
  tq->loop = loop;
  tq->free_head = NO_SLOT;
  atomic_init(&tq->next_seq, 1);
  mu_channel_init(&tq->channel, loop, tq->timerfd, &k_timerfd_ops, tq);
  if (mu_channel_enable_reading(&tq->channel) != 0) {
    close(tq->timerfd);
    mu_free(tq);
    errno = ENOMEM;
    return NULL;
  }
  return tq;
}

void mu_timer_queue_free(mu_timer_queue_t *tq) {
  if (tq == NULL)
    return;
  mu_channel_remove(&tq->channel);
  close(tq->timerfd);
  mu_free(tq->slots);
  mu_free(tq->heap);
  mu_free(tq->batch);
  mu_free(tq->remote.keys);
  mu_free(tq->remote.vals);
  mu_free(tq);
}

uint64_t mu_timer_queue_next_seq(mu_timer_queue_t *tq) {
  return atomic_fetch_add_explicit(&tq->next_seq, 1, memory_order_relaxed);
}

int64_t mu_timer_queue_add(mu_timer_queue_t *tq, uint64_t seq, mu_functor_fn fn,
                           void *arg, int64_t when, int64_t interval_us, int remote) {
  int64_t slot = alloc_slot(tq);
  if (slot < 0)
    return slot;
  timer_slot_t *t = &tq->slots[slot];
  *t = (timer_slot_t){.fn = fn,
                      .arg = arg,
                      .when = when,
                      .interval = interval_us,
                      .seq = seq,
                      .heap_pos = -1,
                      .remote = remote != 0};
  if ((remote && map_put(&tq->remote, seq, (uint32_t)slot) != 0) ||
      heap_push(tq, (uint32_t)slot) != 0) {
    t = &tq->slots[slot];
    if (remote)
      map_erase(&tq->remote, seq);
    t->remote = false;
    free_slot(tq, (uint32_t)slot);
    return -ENOMEM;
  }
  /* Inside the expiry callbacks the timerfd is re-armed once, at the end. */
  if (!tq->calling_expired && tq->heap[0].slot == (uint32_t)slot)
    arm(tq, when);
  return slot;
}

static int64_t find_slot(const mu_timer_queue_t *tq, mu_timer_id_t id) {
  if (id.seq == 0)
    return -1;
  if (id.slot == MU_TIMER_SLOT_REMOTE) {
    size_t i = map_find(&tq->remote, id.seq);
    return i == SIZE_MAX ? -1 : (int64_t)tq->remote.vals[i];
  }
  if (id.slot >= tq->nslots || tq->slots[id.slot].seq != id.seq)
    return -1;
  return id.slot;
}

bool mu_timer_queue_cancel(mu_timer_queue_t *tq, mu_timer_id_t id) {
  int64_t slot = find_slot(tq, id);
  if (slot < 0)
    return false; /* fired, cancelled, or never was */
  timer_slot_t *t = &tq->slots[slot];
  if (t->in_batch) {
    t->canceled = true; /* its batch frees it */
    return true;
  }
  if (t->heap_pos >= 0)
    heap_remove(tq, (size_t)t->heap_pos);
  free_slot(tq, (uint32_t)slot);
  return true;
}

size_t mu_timer_queue_size(const mu_timer_queue_t *tq) {
  return tq->heap_size;
}
