/* TcpConnection: the read, write and close paths traced in the seed analysis,
 * with cmuduo's stricter lifetime rules (see DESIGN.md). */
#include "tcp_connection_internal.h"

#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "channel_internal.h"
#include "cmuduo/base/alloc.h"
#include "cmuduo/base/logging.h"
#include "event_loop_internal.h"
#include "sockets_ops.h"

/* The per-message path keeps its rare branches out of line, so the compiler
 * lays it out straight and saves fewer registers around it. */
#define LIKELY(x) __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)
#define COLD __attribute__((noinline, cold))

/* A file region of the output stream (mu_tcp_connection_send_file). */
typedef struct out_file {
  struct out_file *next;
  int fd;
  uint64_t offset;
  uint64_t left;
  /* Output-buffer bytes between the previous region (or the stream's head)
   * and this one: they go out first. */
  size_t before;
} out_file_t;

/* Rarely used state, allocated on first use so an idle connection stays small. */
typedef struct conn_ext {
  _Atomic(char *) name;
  void *context;
  void (*context_free)(void *);
  mu_timer_id_t delayed_close;
  mu_timestamp_t delayed_close_when;
  out_file_t *files; /* loop thread only; k_sending_file while not NULL */
  out_file_t *files_tail;
  size_t files_before;      /* sum of the regions' `before` */
  bool own_high_water_mark; /* set_high_water_mark was called: use the next field */
  size_t high_water_mark;
} conn_ext_t;

enum {
  k_reading = 1u << 0,      /* the user wants input (start_read/stop_read) */
  k_input_paused = 1u << 1, /* input reached the cap: not reading until consumed */
  /* read returned 0: while output was queued (then the drain closes), or at
   * any time in half-open mode (then shutdown() closes) */
  k_peer_closed = 1u << 2,
  k_sending_file = 1u << 3, /* file regions are queued (conn_ext_t.files) */
  /* shutdown() has reached the loop: half-close once the output drains. The
   * state alone cannot say so: shutdown() sets DISCONNECTING in the caller's
   * thread while that thread's earlier sends may still be queued to the loop,
   * and a drain seen in between must not half-close ahead of them. */
  k_shutdown_wanted = 1u << 4,
  /* The socket reported an error (SO_ERROR, read by handle_error, which
   * clears it): a read of 0 that follows is a reset, not the peer's FIN. */
  k_socket_error = 1u << 5,
};

/* Ordered by use: what every message touches first, together (the channel,
 * the state, the owner, the input buffer, the counters and the output
 * buffer's data pointer, which is NULL while nothing is queued: 112 bytes),
 * then what only setup, close and queries touch. 216 bytes in all, no padding
 * (a 224-byte malloc chunk): the state and the flags are 16 bits for that. */
struct mu_tcp_connection {
  mu_channel_t channel; /* holds the loop and the fd */
  _Atomic uint16_t state;
  uint16_t flags;      /* loop thread only */
  uint32_t owner_slot; /* owner loop thread only; here to fill the line */
  mu_conn_owner_t *owner;
  _Atomic uint64_t bytes_sent;
  mu_buffer_t input;
  _Atomic int64_t last_receive_us;
  _Atomic uint64_t bytes_received;
  mu_buffer_t output;
  /* ---- not per message ---- */
  _Atomic int refcnt;
  mu_inet_address_t peer;
  _Atomic(conn_ext_t *) ext;
  uint64_t id;
  _Atomic int64_t created_us;
  /* The close path's two hops between loops, when queueing them runs out of
   * memory (a closed connection must still be removed and destroyed). */
  mu_loop_task_t remove_task;
  mu_loop_task_t destroy_task;
};

static void mu_tcp_connection_handle_read(mu_channel_t *ch, mu_timestamp_t t, void *arg);
static void mu_tcp_connection_handle_write(mu_channel_t *ch, void *arg);
static void mu_tcp_connection_handle_close(mu_channel_t *ch, void *arg);
static void mu_tcp_connection_handle_error(mu_channel_t *ch, void *arg);
static void unref_void(void *conn);
static void drop_files(conn_ext_t *ext);
static void remove_task_fn(mu_loop_task_t *task);
static void destroy_task_fn(mu_loop_task_t *task);

/* No tie_ref/tie_unref: a reference taken and dropped around every event costs
 * two locked instructions per message. The owner's reference keeps the
 * connection while its channel is in the loop (the only time it gets events),
 * and connect_destroyed, which drops it, defers that to the end of the event
 * when it runs inside one of this connection's callbacks (`release`). */
static const mu_channel_ops_t k_conn_ops = {.read = mu_tcp_connection_handle_read,
                                            .write = mu_tcp_connection_handle_write,
                                            .close = mu_tcp_connection_handle_close,
                                            .error = mu_tcp_connection_handle_error,
                                            .release = unref_void};

/* ---- owner -------------------------------------------------------------- */

mu_conn_owner_t *mu_conn_owner_new(mu_event_loop_t *loop, void *owner,
                                   void (*remove_in_loop)(void *, mu_tcp_connection_t *),
                                   const char *name_prefix) {
  mu_conn_owner_t *o = mu_calloc(1, sizeof *o);
  if (o == NULL)
    return NULL;
  atomic_init(&o->refcnt, 1);
  o->loop = loop;
  o->owner = owner;
  o->remove_connection_in_loop = remove_in_loop;
  o->high_water_mark = MU_TCP_DEFAULT_HIGH_WATER_MARK;
  o->input_cap = MU_TCP_DEFAULT_INPUT_CAP;
  snprintf(o->name_prefix, sizeof o->name_prefix, "%s", name_prefix);
  return o;
}

void mu_conn_owner_ref(mu_conn_owner_t *o) {
  atomic_fetch_add_explicit(&o->refcnt, 1, memory_order_relaxed);
}

void mu_conn_owner_unref(mu_conn_owner_t *o) {
  if (atomic_fetch_sub_explicit(&o->refcnt, 1, memory_order_acq_rel) == 1)
    mu_free(o);
}

/* ---- life cycle --------------------------------------------------------- */

static mu_event_loop_t *loop_of(const mu_tcp_connection_t *conn) {
  return conn->channel.loop;
}

static int get_state(const mu_tcp_connection_t *conn) {
  return atomic_load_explicit(&conn->state, memory_order_acquire);
}

static void set_state(mu_tcp_connection_t *conn, int s) {
  atomic_store_explicit(&conn->state, (uint16_t)s, memory_order_release);
}

mu_tcp_connection_t *mu_tcp_connection_new(mu_event_loop_t *loop, mu_conn_owner_t *owner,
                                           uint64_t id, int fd,
                                           const mu_inet_address_t *peer) {
  mu_tcp_connection_t *conn = mu_calloc(1, sizeof *conn);
  if (conn == NULL) {
    mu_sockets_close(fd);
    return NULL;
  }
  atomic_init(&conn->refcnt, 1);
  atomic_init(&conn->state, (uint16_t)MU_TCP_CONNECTING);
  conn->flags = k_reading;
  conn->owner = owner;
  mu_conn_owner_ref(owner);
  mu_channel_init(&conn->channel, loop, fd, &k_conn_ops, conn);
  conn->remove_task.fn = remove_task_fn;
  conn->destroy_task.fn = destroy_task_fn;
  conn->id = id;
  atomic_init(&conn->created_us, mu_timestamp_mono_now().us);
  conn->peer = *peer;
  mu_sockets_set_keep_alive(fd, true);
  MU_LOG_DEBUG("connection %s%llu fd=%d created", owner->name_prefix,
               (unsigned long long)id, fd);
  return conn;
}

static void conn_free(mu_tcp_connection_t *conn) {
  if (conn->channel.flags & MU_CHANNEL_ADDED_TO_LOOP) {
    /* Would leave the poller with a dangling pointer: refuse loudly. */
    MU_LOG_FATAL("connection fd=%d freed while its channel is still in the loop",
                 conn->channel.fd);
  }
  MU_LOG_DEBUG("connection %s%llu fd=%d freed", conn->owner->name_prefix,
               (unsigned long long)conn->id, conn->channel.fd);
  mu_sockets_close(conn->channel.fd);
  mu_buffer_destroy(&conn->input);
  mu_buffer_destroy(&conn->output);
  conn_ext_t *ext = atomic_load(&conn->ext);
  if (ext != NULL) {
    drop_files(ext);
    if (ext->context_free)
      ext->context_free(ext->context);
    mu_free(atomic_load(&ext->name));
    mu_free(ext);
  }
  mu_conn_owner_unref(conn->owner);
  mu_free(conn);
}

void mu_tcp_connection_ref(mu_tcp_connection_t *conn) {
  atomic_fetch_add_explicit(&conn->refcnt, 1, memory_order_relaxed);
}

void mu_tcp_connection_unref(mu_tcp_connection_t *conn) {
  if (conn != NULL &&
      atomic_fetch_sub_explicit(&conn->refcnt, 1, memory_order_acq_rel) == 1) {
    conn_free(conn);
  }
}

static void unref_void(void *conn) {
  mu_tcp_connection_unref(conn);
}

/* Queues fn(conn) into the connection's loop, holding a reference that fn drops. */
static void queue_with_ref(mu_tcp_connection_t *conn, mu_functor_fn fn) {
  mu_tcp_connection_ref(conn);
  if (mu_event_loop_queue_in_loop(loop_of(conn), fn, conn) != 0) {
    MU_LOG_ERROR("out of memory queueing work for a connection");
    mu_tcp_connection_unref(conn);
  }
}

/* run_in_loop with the same reference rule. */
static void run_with_ref(mu_tcp_connection_t *conn, mu_functor_fn fn) {
  mu_tcp_connection_ref(conn);
  if (mu_event_loop_run_in_loop(loop_of(conn), fn, conn) != 0) {
    MU_LOG_ERROR("out of memory queueing work for a connection");
    mu_tcp_connection_unref(conn);
  }
}

static void notify_connection(mu_tcp_connection_t *conn) {
  mu_conn_owner_t *o = conn->owner;
  if (o->connection_cb)
    o->connection_cb(conn, o->connection_arg);
}

void mu_tcp_connection_connect_established(mu_tcp_connection_t *conn) {
  MU_ASSERT_IN_LOOP_THREAD(loop_of(conn));
  set_state(conn, MU_TCP_CONNECTED);
  if (mu_channel_enable_reading(&conn->channel) != 0) {
    /* Could not watch the socket: close it the normal way so the owner forgets it. */
    mu_tcp_connection_handle_close(&conn->channel, conn);
    return;
  }
  notify_connection(conn);
}

void mu_tcp_connection_connect_destroyed(mu_tcp_connection_t *conn) {
  MU_ASSERT_IN_LOOP_THREAD(loop_of(conn));
  if (get_state(conn) != MU_TCP_DISCONNECTED) {
    /* The owner is being freed while the connection is open. */
    set_state(conn, MU_TCP_DISCONNECTED);
    mu_channel_disable_all(&conn->channel);
    notify_connection(conn);
  }
  conn_ext_t *ext = atomic_load(&conn->ext);
  if (ext != NULL && mu_timer_id_valid(ext->delayed_close)) {
    /* The delayed close's timer holds a reference: give it back now. */
    mu_event_loop_cancel(loop_of(conn), ext->delayed_close);
    ext->delayed_close = (mu_timer_id_t){0, 0};
    mu_tcp_connection_unref(conn);
  }
  mu_channel_remove(&conn->channel);
  /* A user reference keeps the fd number (so it is not reused under them) but
   * must not keep the connection: the peer sees our FIN now, not at the last
   * unref. */
  mu_sockets_shutdown_write(conn->channel.fd);
  /* The owner's reference. Inside a callback of this connection (the channel
   * is handling an event) it is dropped when that event ends, so the last
   * unref never frees the memory under the callback. */
  if (conn->channel.flags & MU_CHANNEL_EVENT_HANDLING) {
    conn->channel.flags |= MU_CHANNEL_RELEASE_PENDING;
  } else {
    mu_tcp_connection_unref(conn);
  }
}

static void destroy_functor(void *p) {
  mu_tcp_connection_connect_destroyed(p);
}

static void destroy_task_fn(mu_loop_task_t *task) {
  destroy_functor((char *)task - offsetof(mu_tcp_connection_t, destroy_task));
}

void mu_tcp_connection_queue_destroy(mu_tcp_connection_t *conn) {
  mu_event_loop_queue_in_loop_or_task(loop_of(conn), destroy_functor, conn,
                                      &conn->destroy_task);
}

uint32_t mu_tcp_connection_owner_slot(const mu_tcp_connection_t *conn) {
  return conn->owner_slot;
}
void mu_tcp_connection_set_owner_slot(mu_tcp_connection_t *conn, uint32_t slot) {
  conn->owner_slot = slot;
}

/* ---- close path --------------------------------------------------------- */

static void mu_tcp_connection_remove_in_owner_loop(void *p) {
  mu_tcp_connection_t *conn = p;
  mu_conn_owner_t *o = conn->owner;
  if (o->owner != NULL)
    o->remove_connection_in_loop(o->owner, conn);
  /* else: the owner was freed and has already queued connect_destroyed. */
  mu_tcp_connection_unref(conn);
}

static void remove_task_fn(mu_loop_task_t *task) {
  mu_tcp_connection_remove_in_owner_loop((char *)task -
                                         offsetof(mu_tcp_connection_t, remove_task));
}

static void mu_tcp_connection_handle_close(mu_channel_t *ch, void *arg) {
  (void)ch;
  mu_tcp_connection_t *conn = arg;
  MU_ASSERT_IN_LOOP_THREAD(loop_of(conn));
  int s = get_state(conn);
  if (s == MU_TCP_DISCONNECTED)
    return;
  MU_LOG_TRACE("fd = %d state = %d", conn->channel.fd, s);
  set_state(conn, MU_TCP_DISCONNECTED);
  mu_channel_disable_all(&conn->channel);
  if (conn->flags & k_sending_file) {
    drop_files(atomic_load(&conn->ext)); /* their fds are not kept to the last unref */
    conn->flags &= ~k_sending_file;
  }
  mu_tcp_connection_ref(conn); /* the callbacks below must not free it */
  notify_connection(conn);
  /* Last: hand the connection to its owner's loop (TcpServer::removeConnection). */
  mu_tcp_connection_ref(conn);
  mu_event_loop_run_in_loop_or_task(conn->owner->loop,
                                    mu_tcp_connection_remove_in_owner_loop, conn,
                                    &conn->remove_task);
  mu_tcp_connection_unref(conn);
}

static void mu_tcp_connection_handle_error(mu_channel_t *ch, void *arg) {
  mu_tcp_connection_t *conn = arg;
  int err = mu_sockets_get_socket_error(ch->fd);
  if (err != 0) {
    conn->flags |= k_socket_error;
    MU_LOG_DEBUG("connection %s%llu: SO_ERROR = %d %s", conn->owner->name_prefix,
                 (unsigned long long)conn->id, err, mu_strerror_tl(err));
  }
}

static void mu_tcp_connection_force_close_in_loop(void *p) {
  mu_tcp_connection_t *conn = p;
  int s = get_state(conn);
  if (s == MU_TCP_CONNECTED || s == MU_TCP_DISCONNECTING)
    mu_tcp_connection_handle_close(&conn->channel, conn);
  mu_tcp_connection_unref(conn);
}

/* CONNECTED or DISCONNECTING -> DISCONNECTING, atomically: a plain load and
 * store from another thread could overwrite the loop's DISCONNECTED and close
 * (and call the user's down callback) a second time. */
static bool mark_disconnecting(mu_tcp_connection_t *conn) {
  uint16_t s = (uint16_t)get_state(conn);
  while (s == MU_TCP_CONNECTED || s == MU_TCP_DISCONNECTING) {
    if (atomic_compare_exchange_weak(&conn->state, &s, (uint16_t)MU_TCP_DISCONNECTING))
      return true;
  }
  return false;
}

/* Queues force_close_in_loop with a reference. The state already says
 * DISCONNECTING (sends are refused), so the close must not be lost: when the
 * functor queue cannot grow, a timer due now (another allocation, often none)
 * carries it instead. */
static void queue_close(mu_tcp_connection_t *conn) {
  mu_tcp_connection_ref(conn);
  if (mu_event_loop_queue_in_loop(loop_of(conn), mu_tcp_connection_force_close_in_loop,
                                  conn) == 0)
    return;
  if (mu_timer_id_valid(mu_event_loop_run_after(
          loop_of(conn), 0, mu_tcp_connection_force_close_in_loop, conn)))
    return;
  MU_LOG_ERROR("out of memory queueing a close; the connection stays open");
  mu_tcp_connection_unref(conn);
}

void mu_tcp_connection_force_close(mu_tcp_connection_t *conn) {
  if (!mark_disconnecting(conn))
    return;
  /* Always queued, even in the loop thread: the caller may be a callback of this
   * very connection, which must finish before the connection goes down. */
  queue_close(conn);
}

static conn_ext_t *get_ext(mu_tcp_connection_t *conn) {
  conn_ext_t *ext = atomic_load_explicit(&conn->ext, memory_order_acquire);
  if (ext != NULL)
    return ext;
  conn_ext_t *fresh = mu_calloc(1, sizeof *fresh);
  if (fresh == NULL)
    return NULL;
  if (!atomic_compare_exchange_strong(&conn->ext, &ext, fresh)) {
    mu_free(fresh); /* another thread won; use its */
    return ext;
  }
  return fresh;
}

/* The owner's mark unless the connection has its own: kept out of the
 * connection struct, which every idle connection pays for. Loop thread. */
static size_t high_water_mark(const mu_tcp_connection_t *conn) {
  const conn_ext_t *ext = atomic_load_explicit(&conn->ext, memory_order_relaxed);
  if (ext != NULL && ext->own_high_water_mark)
    return ext->high_water_mark;
  return conn->owner->high_water_mark;
}

typedef struct delayed_close {
  mu_tcp_connection_t *conn;
  double seconds;
} delayed_close_t;

static void delayed_close_fire(void *p) {
  mu_tcp_connection_t *conn = p;
  conn_ext_t *ext = atomic_load(&conn->ext);
  ext->delayed_close = (mu_timer_id_t){0, 0};
  mu_tcp_connection_force_close_in_loop(conn); /* drops the timer's reference */
}

static void delayed_close_in_loop(void *p) {
  delayed_close_t *dc = p;
  mu_tcp_connection_t *conn = dc->conn;
  conn_ext_t *ext = get_ext(conn);
  int s = get_state(conn);
  mu_timestamp_t when = mu_timestamp_add_seconds(mu_timestamp_mono_now(), dc->seconds);
  bool pending = ext != NULL && mu_timer_id_valid(ext->delayed_close);
  /* One timer per connection; as with muduo's independent timers, the earliest
   * requested close wins, and a later one changes nothing. */
  if ((s == MU_TCP_CONNECTED || s == MU_TCP_DISCONNECTING) &&
      (!pending || when.us < ext->delayed_close_when.us)) {
    if (ext != NULL) {
      if (pending) {
        mu_event_loop_cancel(loop_of(conn), ext->delayed_close); /* its reference moves */
      } else {
        mu_tcp_connection_ref(conn); /* the timer's (dropped on firing or cancel) */
      }
      ext->delayed_close_when = when;
      ext->delayed_close =
          mu_event_loop_run_at(loop_of(conn), when, delayed_close_fire, conn);
      if (!mu_timer_id_valid(ext->delayed_close))
        mu_tcp_connection_unref(conn);
    }
    /* The caller has been told the connection closes (it is DISCONNECTING,
     * sends are refused): without a timer, close now rather than never. */
    if (ext == NULL || !mu_timer_id_valid(ext->delayed_close)) {
      MU_LOG_ERROR("out of memory for a delayed close; closing now");
      queue_close(conn);
    }
  }
  mu_tcp_connection_unref(conn);
  mu_free(dc);
}

void mu_tcp_connection_force_close_with_delay(mu_tcp_connection_t *conn, double seconds) {
  if (!mark_disconnecting(conn))
    return;
  delayed_close_t *dc = mu_malloc(sizeof *dc);
  if (dc == NULL) {
    MU_LOG_ERROR("out of memory for a delayed close; closing now");
    mu_tcp_connection_force_close(conn);
    return;
  }
  *dc = (delayed_close_t){conn, seconds};
  mu_tcp_connection_ref(conn);
  if (mu_event_loop_run_in_loop(loop_of(conn), delayed_close_in_loop, dc) != 0) {
    mu_tcp_connection_unref(conn);
    mu_free(dc);
  }
}

static void mu_tcp_connection_shutdown_in_loop(void *p) {
  mu_tcp_connection_t *conn = p;
  if (get_state(conn) == MU_TCP_DISCONNECTING) {
    conn->flags |= k_shutdown_wanted;
    if (mu_channel_is_writing(&conn->channel)) {
      /* handle_write half-closes (or closes) once the output drains */
    } else if (conn->flags & k_peer_closed) {
      /* Half-open mode, the peer done already: both sides are, close. Queued,
       * as this may run inside a callback of this connection. */
      queue_close(conn);
    } else {
      mu_sockets_shutdown_write(conn->channel.fd);
    }
  }
  mu_tcp_connection_unref(conn);
}

void mu_tcp_connection_shutdown(mu_tcp_connection_t *conn) {
  uint16_t expected = MU_TCP_CONNECTED;
  if (atomic_compare_exchange_strong(&conn->state, &expected,
                                     (uint16_t)MU_TCP_DISCONNECTING)) {
    run_with_ref(conn, mu_tcp_connection_shutdown_in_loop);
  }
}

/* Counters are written by the loop thread only and read anywhere: a relaxed
 * load and store is enough, and avoids a locked instruction per message. */
static void add_counter(_Atomic uint64_t *c, uint64_t n) {
  atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                        memory_order_relaxed);
}

/* ---- read path ---------------------------------------------------------- */

static void update_reading(mu_tcp_connection_t *conn) {
  if (get_state(conn) == MU_TCP_DISCONNECTED)
    return;
  bool want =
      (conn->flags & k_reading) && !(conn->flags & (k_input_paused | k_peer_closed));
  if (want && !mu_channel_is_reading(&conn->channel)) {
    mu_channel_enable_reading(&conn->channel);
  } else if (!want && mu_channel_is_reading(&conn->channel)) {
    mu_channel_disable_reading(&conn->channel);
  }
}

/* After the message callback: keep unread bytes, give memory back, and stop
 * reading if the user lets input pile up past the cap. */
static COLD void settle_input_slow(mu_tcp_connection_t *conn) {
  if (conn->input.flags & MU_BUFFER_BORROWED) {
    if (mu_buffer_end_borrow(&conn->input) != 0) {
      MU_LOG_ERROR("out of memory keeping unread input; closing the connection");
      mu_tcp_connection_handle_close(&conn->channel, conn);
      return;
    }
  } else {
    mu_buffer_release_if_empty(&conn->input);
  }
  size_t cap = conn->owner->input_cap;
  if (cap != 0 && mu_buffer_readable_bytes(&conn->input) >= cap &&
      !(conn->flags & k_input_paused)) {
    MU_LOG_WARN(
        "connection %s%llu: %zu unread input bytes reached the cap; reading "
        "stops until they are consumed and start_read is called",
        conn->owner->name_prefix, (unsigned long long)conn->id,
        mu_buffer_readable_bytes(&conn->input));
    conn->flags |= k_input_paused;
    update_reading(conn);
  }
}

static inline void settle_input(mu_tcp_connection_t *conn) {
  mu_buffer_t *in = &conn->input;
  /* The common case: the callback consumed all of the loan; forget it. An
   * empty buffer is below any cap. */
  if (LIKELY(in->reader == in->writer && (in->flags & MU_BUFFER_BORROWED))) {
    *in = (mu_buffer_t)MU_BUFFER_INIT;
    return;
  }
  settle_input_slow(conn);
}

static void deliver_message(mu_tcp_connection_t *conn, mu_timestamp_t t) {
  mu_conn_owner_t *o = conn->owner;
  if (o->message_cb) {
    o->message_cb(conn, &conn->input, t, o->message_arg);
  } else {
    mu_buffer_retrieve_all(&conn->input); /* muduo's default: discard */
  }
}

static inline void on_input(mu_tcp_connection_t *conn, mu_timestamp_t t, size_t n) {
  atomic_store_explicit(&conn->last_receive_us, t.us, memory_order_relaxed);
  add_counter(&conn->bytes_received, (uint64_t)n);
  deliver_message(conn, t);
  settle_input(conn);
}

/* Half-open mode: the peer's FIN stops reading (level-triggered polling
 * would report the end of file again and again) and, unless the connection
 * is on its way down already, goes to the owner instead of closing. */
static void peer_half_closed(mu_tcp_connection_t *conn) {
  conn->flags |= k_peer_closed;
  update_reading(conn);
  if (conn->flags & k_shutdown_wanted) {
    /* Our side was done too: close now, or once the output drains. */
    if (!mu_channel_is_writing(&conn->channel))
      mu_tcp_connection_handle_close(&conn->channel, conn);
    return;
  }
  /* DISCONNECTING: a shutdown() on its way here (it closes, the peer being
   * done) or a close finishes the connection; the owner asked for that. */
  if (get_state(conn) == MU_TCP_CONNECTED)
    conn->owner->half_close_cb(conn, conn->owner->half_close_arg);
}

/* A read returned n <= 0 (err: its errno): end of stream or an error. */
static COLD void handle_read_end(mu_tcp_connection_t *conn, ssize_t n, int err) {
  mu_channel_t *ch = &conn->channel;
  if (conn->input.flags & MU_BUFFER_BORROWED)
    mu_buffer_end_borrow(&conn->input);
  if (n == 0) {
    if (conn->owner->half_close_cb != NULL && !(conn->flags & k_socket_error) &&
        get_state(conn) != MU_TCP_DISCONNECTED) {
      peer_half_closed(conn);
      return;
    }
    if ((mu_buffer_readable_bytes(&conn->output) > 0 || (conn->flags & k_sending_file)) &&
        get_state(conn) != MU_TCP_DISCONNECTED) {
      /* Peer half-closed: first write out what the user already sent. */
      conn->flags |= k_peer_closed;
      update_reading(conn);
      return;
    }
    mu_tcp_connection_handle_close(ch, conn);
    return;
  }
  if (err == EAGAIN || err == EWOULDBLOCK || err == EINTR)
    return;
  if (err != ECONNRESET) {
    errno = err;
    MU_LOG_SYSERR("read on connection %s%llu", conn->owner->name_prefix,
                  (unsigned long long)conn->id);
  }
  mu_tcp_connection_handle_close(ch, conn);
}

/* Input is left over from an earlier message: what mu_buffer_read_fd does,
 * with the caller's stack block as the spill (so no second 64 KiB frame): one
 * readv into the writable space and the block, the overflow appended. */
static COLD void read_into_input(mu_tcp_connection_t *conn, mu_timestamp_t t,
                                 char *spill) {
  mu_buffer_t *in = &conn->input;
  size_t writable = mu_buffer_writable_bytes(in);
  struct iovec vec[2] = {{in->data + in->writer, writable},
                         {spill, MU_BUFFER_EXTRA_READ}};
  ssize_t n = readv(conn->channel.fd, vec, writable < MU_BUFFER_EXTRA_READ ? 2 : 1);
  if (n <= 0) {
    handle_read_end(conn, n, n < 0 ? errno : 0);
    return;
  }
  if ((size_t)n <= writable) {
    in->writer += (uint32_t)n;
  } else {
    in->writer = in->cap;
    int rc = mu_buffer_append(in, spill, (size_t)n - writable);
    if (rc != 0) { /* the bytes that fitted stay; the overflow is lost */
      handle_read_end(conn, -1, -rc);
      return;
    }
  }
  on_input(conn, t, (size_t)n);
}

/* Idle connections own no input memory: read into a block on this stack,
 * lent to the input buffer while the message callback runs; only what the
 * user leaves unread is copied out afterwards (settle_input). muduo reads into
 * a stack buffer too, then copies it; lending it saves that copy, and using
 * the stack rather than a block of the loop's saves fetching it per message.
 * The same as mu_buffer_borrow + mu_buffer_read_fd (whose readv would have one
 * vector here), done in place. */
static void mu_tcp_connection_handle_read(mu_channel_t *ch, mu_timestamp_t t, void *arg) {
  (void)ch; /* &conn->channel */
  mu_tcp_connection_t *conn = arg;
  char mem[MU_BUFFER_CHEAP_PREPEND + MU_BUFFER_EXTRA_READ];
  if (UNLIKELY(conn->input.data != NULL)) {
    read_into_input(conn, t, mem);
    return;
  }
  /* Lent before the read, so that only the connection and the time live
   * across it. */
  conn->input = (mu_buffer_t){mem, sizeof mem, MU_BUFFER_CHEAP_PREPEND,
                              MU_BUFFER_CHEAP_PREPEND, MU_BUFFER_BORROWED};
  ssize_t n = read(conn->channel.fd, mem + MU_BUFFER_CHEAP_PREPEND, MU_BUFFER_EXTRA_READ);
  if (UNLIKELY(n <= 0)) {
    handle_read_end(conn, n, n < 0 ? errno : 0); /* ends the (empty) loan */
    return;
  }
  conn->input.writer += (uint32_t)n;
  on_input(conn, t, (size_t)n); /* the loan ends in settle_input */
}

static void start_read_in_loop(void *p) {
  mu_tcp_connection_t *conn = p;
  conn->flags |= k_reading;
  size_t cap = conn->owner->input_cap;
  if (cap == 0 || mu_buffer_readable_bytes(&conn->input) < cap)
    conn->flags &= ~k_input_paused;
  update_reading(conn);
  mu_tcp_connection_unref(conn);
}

static void stop_read_in_loop(void *p) {
  mu_tcp_connection_t *conn = p;
  conn->flags &= ~k_reading;
  update_reading(conn);
  mu_tcp_connection_unref(conn);
}

/* A disconnected connection may outlive its loop (a user reference): never
 * touch the loop then. */
void mu_tcp_connection_start_read(mu_tcp_connection_t *conn) {
  if (get_state(conn) != MU_TCP_DISCONNECTED)
    run_with_ref(conn, start_read_in_loop);
}
void mu_tcp_connection_stop_read(mu_tcp_connection_t *conn) {
  if (get_state(conn) != MU_TCP_DISCONNECTED)
    run_with_ref(conn, stop_read_in_loop);
}
bool mu_tcp_connection_is_reading(const mu_tcp_connection_t *conn) {
  return mu_channel_is_reading(&conn->channel);
}

/* ---- write path --------------------------------------------------------- */

static void write_complete_functor(void *p) {
  mu_tcp_connection_t *conn = p;
  mu_conn_owner_t *o = conn->owner;
  if (o->write_complete_cb)
    o->write_complete_cb(conn, o->write_complete_arg);
  mu_tcp_connection_unref(conn);
}

/* Queued, never called directly: a user who sends from write-complete would
 * otherwise recurse without bound. */
static void queue_write_complete(mu_tcp_connection_t *conn) {
  if (conn->owner->write_complete_cb)
    queue_with_ref(conn, write_complete_functor);
}

static void add_bytes_sent(mu_tcp_connection_t *conn, size_t n) {
  add_counter(&conn->bytes_sent, (uint64_t)n);
}

static bool is_fatal_write_error(int err) {
  return err != EAGAIN && err != EWOULDBLOCK && err != EINTR;
}

/* Queues what the socket did not take. Returns 0 or -ENOMEM. */
static int queue_output(mu_tcp_connection_t *conn, const char *data, size_t len) {
  size_t old = mu_buffer_readable_bytes(&conn->output);
  int rc = mu_buffer_append(&conn->output, data, len);
  if (rc != 0)
    return rc;
  /* Watch for writability before the user's callback runs: a shutdown() there
   * must see output pending, or it would half-close with the bytes unsent. */
  if (!mu_channel_is_writing(&conn->channel))
    mu_channel_enable_writing(&conn->channel);
  mu_conn_owner_t *o = conn->owner;
  size_t mark = high_water_mark(conn);
  if (mark != 0 && old < mark && old + len >= mark && o->high_water_mark_cb) {
    o->high_water_mark_cb(conn, old + len, o->high_water_mark_arg);
  }
  return 0;
}

/* mu_tcp_connection_send_in_loop may run inside a user callback of this connection:
 * closing there would run the down callback in the middle of the user's code. */
static void close_soon(mu_tcp_connection_t *conn) {
  set_state(conn, MU_TCP_DISCONNECTING);
  queue_close(conn);
}

/* Nothing queued (no output, not waiting for writability): the bytes may go
 * to the socket directly, ahead of nothing. */
static bool nothing_queued(const mu_tcp_connection_t *conn) {
  /* An output buffer without storage, the usual case, is empty: its data
   * pointer answers without a look at the rest of it, in a colder line. */
  return !(conn->channel.events & MU_EV_WRITE) &&
         (conn->output.data == NULL || mu_buffer_readable_bytes(&conn->output) == 0);
}

/* Queues what the socket did not take; closes when memory runs out. */
static int queue_rest(mu_tcp_connection_t *conn, const char *data, size_t len) {
  int rc = queue_output(conn, data, len);
  if (rc != 0) {
    MU_LOG_ERROR("out of memory queueing %zu output bytes; closing", len);
    close_soon(conn);
  }
  return rc;
}

/* After a direct send of len bytes returned n (bytes sent, or -errno). */
static int after_direct_send(mu_tcp_connection_t *conn, const char *data, size_t len,
                             ssize_t n) {
  if (n < 0) {
    if (!is_fatal_write_error((int)-n))
      return queue_rest(conn, data, len);
    if (n != -EPIPE && n != -ECONNRESET) {
      errno = (int)-n;
      MU_LOG_SYSERR("send on connection fd=%d", conn->channel.fd);
    }
    close_soon(conn); /* the peer is gone: close, do not queue */
    return (int)n;
  }
  size_t written = (size_t)n;
  add_bytes_sent(conn, written);
  if (written == len) {
    queue_write_complete(conn);
    return 0;
  }
  return queue_rest(conn, data + written, len - written);
}

/* Loop thread, connection not disconnected: write directly when nothing is
 * queued, queue what the socket does not take. */
static COLD int write_or_queue(mu_tcp_connection_t *conn, const char *data, size_t len) {
  if (!nothing_queued(conn))
    return queue_rest(conn, data, len);
  ssize_t n = len ? send(conn->channel.fd, data, len, MSG_NOSIGNAL) : 0;
  return after_direct_send(conn, data, len, n < 0 ? -errno : n);
}

static COLD int after_direct_send_cold(mu_tcp_connection_t *conn, const char *data,
                                       size_t len, ssize_t n) {
  return after_direct_send(conn, data, len, n);
}

/* write_or_queue's common case inline: nothing queued and the socket takes all.
 * No copy; send(2) itself rather than mu_sockets_send, a call that only
 * negates errno. */
static inline int write_in_loop(mu_tcp_connection_t *conn, const char *data, size_t len) {
  if (UNLIKELY(len == 0 || !nothing_queued(conn)))
    return write_or_queue(conn, data, len);
  ssize_t n = send(conn->channel.fd, data, len, MSG_NOSIGNAL);
  if (UNLIKELY(n != (ssize_t)len))
    return after_direct_send_cold(conn, data, len, n < 0 ? -errno : n);
  add_bytes_sent(conn, len);
  if (UNLIKELY(conn->owner->write_complete_cb != NULL))
    queue_write_complete(conn);
  return 0;
}

static int mu_tcp_connection_send_in_loop(mu_tcp_connection_t *conn, const char *data,
                                          size_t len) {
  if (get_state(conn) == MU_TCP_DISCONNECTED) {
    MU_LOG_DEBUG("disconnected, give up writing %zu bytes", len);
    return -ENOTCONN;
  }
  if ((conn->flags & k_shutdown_wanted) && !mu_channel_is_writing(&conn->channel)) {
    /* shutdown() has half-closed the socket already: bytes another thread
     * queued before it can no longer go out, and writing them would meet
     * EPIPE from our own SHUT_WR and close a connection that still reads. */
    MU_LOG_DEBUG("half-closed, give up writing %zu bytes", len);
    return -ENOTCONN;
  }
  return write_or_queue(conn, data, len);
}

static bool write_files(mu_tcp_connection_t *conn);

static void mu_tcp_connection_handle_write(mu_channel_t *ch, void *arg) {
  mu_tcp_connection_t *conn = arg;
  if (!mu_channel_is_writing(ch))
    return;
  if ((conn->flags & k_sending_file) && !write_files(conn))
    return;
  size_t queued = mu_buffer_readable_bytes(&conn->output);
  /* After the last file region there is often nothing left: no empty send. */
  ssize_t n =
      queued > 0 ? mu_sockets_send(ch->fd, mu_buffer_peek(&conn->output), queued) : 0;
  if (n < 0) {
    if (is_fatal_write_error((int)-n))
      mu_tcp_connection_handle_close(ch, conn);
    return;
  }
  mu_buffer_retrieve(&conn->output, (size_t)n);
  add_bytes_sent(conn, (size_t)n);
  if (mu_buffer_readable_bytes(&conn->output) > 0)
    return;
  mu_channel_disable_writing(ch);
  mu_buffer_release_if_empty(&conn->output);
  queue_write_complete(conn);
  if ((conn->flags & k_peer_closed) &&
      ((conn->flags & k_shutdown_wanted) || conn->owner->half_close_cb == NULL)) {
    /* Everything the user sent is out and the peer is done: finish the
     * close (in half-open mode only once the owner has said shutdown). */
    mu_tcp_connection_handle_close(ch, conn);
  } else if (conn->flags & k_shutdown_wanted) {
    mu_sockets_shutdown_write(ch->fd);
  }
}

typedef struct queued_send {
  mu_tcp_connection_t *conn;
  size_t len;
  char data[];
} queued_send_t;

static void send_functor(void *p) {
  queued_send_t *qs = p;
  mu_tcp_connection_send_in_loop(qs->conn, qs->data, qs->len);
  mu_tcp_connection_unref(qs->conn);
  mu_free(qs);
}

/* From another thread: a copy goes to the loop, with a reference. */
static COLD int send_from_other_thread(mu_tcp_connection_t *conn, const void *data,
                                       size_t len) {
  if (len > SIZE_MAX - sizeof(queued_send_t))
    return -ENOMEM; /* the block's size would wrap: a few bytes for len */
  queued_send_t *qs = mu_malloc(sizeof *qs + len);
  if (qs == NULL)
    return -ENOMEM;
  qs->conn = conn;
  qs->len = len;
  memcpy(qs->data, data, len);
  mu_tcp_connection_ref(conn);
  if (mu_event_loop_queue_in_loop(loop_of(conn), send_functor, qs) != 0) {
    mu_tcp_connection_unref(conn);
    mu_free(qs);
    return -ENOMEM;
  }
  return 0;
}

static inline int send_bytes(mu_tcp_connection_t *conn, const void *data, size_t len) {
  if (UNLIKELY(get_state(conn) != MU_TCP_CONNECTED))
    return -ENOTCONN;
  /* The same test as mu_event_loop_is_in_loop_thread (a thread has at most one
   * loop), one call cheaper. In the loop thread the state cannot have become
   * DISCONNECTED since it was read: only this thread sets that. */
  if (UNLIKELY(loop_of(conn) != mu_event_loop_of_current_thread()))
    return send_from_other_thread(conn, data, len);
  int rc = write_in_loop(conn, data, len);
  return LIKELY(rc == 0) || rc == -ENOMEM ? rc : -ENOTCONN;
}

int mu_tcp_connection_send(mu_tcp_connection_t *conn, const void *data, size_t len) {
  return send_bytes(conn, data, len);
}

/* ---- file regions (sendfile) ------------------------------------------- */

static void drop_files(conn_ext_t *ext) {
  while (ext->files != NULL) {
    out_file_t *f = ext->files;
    ext->files = f->next;
    mu_sockets_close(f->fd);
    mu_free(f);
  }
  ext->files_tail = NULL;
  ext->files_before = 0;
}

/* Per-thread state: this thread has blocked SIGPIPE for sendfile (see below). */
static __thread bool t_sigpipe_blocked;

/* sendfile(2) cannot take MSG_NOSIGNAL: a peer that has gone raises SIGPIPE,
 * and not only when the call fails: sendfile sends in pieces, and a piece that
 * meets the reset raises it even though the call returns the bytes sent
 * before. Blocking the signal around each call (and taking back one raised by
 * a failed call) cost two system calls per sendfile and still let that case
 * through when the mask was restored. So the first sendfile of a thread blocks
 * SIGPIPE in that thread for good: a SIGPIPE raised there stays pending,
 * harmlessly, and is taken back after a failed call. The process needs no
 * SIGPIPE handler, as with send. */
static void block_sigpipe_in_this_thread(void) {
  sigset_t pipe_set;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, NULL);
  t_sigpipe_blocked = true;
}

static void take_back_sigpipe(void) {
  sigset_t pipe_set;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  const struct timespec zero = {0, 0};
  while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR) {
  }
}

static ssize_t send_file_nosignal(int sock, int fd, uint64_t *offset, size_t count) {
  if (!t_sigpipe_blocked)
    block_sigpipe_in_this_thread();
  off_t off = (off_t)*offset;
  ssize_t n = sendfile(sock, fd, &off, count);
  if (n < 0) {
    int err = errno;
    if (err == EPIPE || err == ECONNRESET)
      take_back_sigpipe();
    return -err;
  }
  *offset = (uint64_t)off;
  return n;
}

/* Sends the stream in order while file regions are queued: buffered bytes up
 * to the first region, then the region, and so on. Returns true once no region
 * is left (the caller writes what remains of the buffer), false while the
 * socket is full or after the connection was closed. */
static bool write_files(mu_tcp_connection_t *conn) {
  conn_ext_t *ext = atomic_load(&conn->ext);
  int sock = conn->channel.fd;
  for (;;) {
    out_file_t *f = ext->files;
    if (f == NULL) {
      conn->flags &= ~k_sending_file;
      return true;
    }
    ssize_t n;
    size_t want;
    if (f->before > 0) {
      want = f->before;
      n = mu_sockets_send(sock, mu_buffer_peek(&conn->output), want);
      if (n > 0) {
        mu_buffer_retrieve(&conn->output, (size_t)n);
        f->before -= (size_t)n;
        ext->files_before -= (size_t)n;
      }
    } else if (f->left > 0) {
      want = f->left > (1u << 30) ? (1u << 30) : (size_t)f->left;
      n = send_file_nosignal(sock, f->fd, &f->offset, want);
      if (n == 0) {
        MU_LOG_ERROR("connection %s%llu: file fd=%d ended %llu bytes early; closing",
                     conn->owner->name_prefix, (unsigned long long)conn->id, f->fd,
                     (unsigned long long)f->left);
        mu_tcp_connection_handle_close(&conn->channel, conn);
        return false;
      }
      if (n > 0)
        f->left -= (uint64_t)n;
    } else {
      ext->files = f->next;
      if (ext->files == NULL)
        ext->files_tail = NULL;
      mu_sockets_close(f->fd);
      mu_free(f);
      continue;
    }
    if (n < 0) {
      if (is_fatal_write_error((int)-n))
        mu_tcp_connection_handle_close(&conn->channel, conn);
      return false;
    }
    add_bytes_sent(conn, (size_t)n);
    if ((size_t)n < want)
      return false; /* the socket is full: wait for the next writable event */
  }
}

/* send_file on an idle connection: sendfile at once, as send() writes at once,
 * so that a file the socket takes whole costs no allocation, no write-readiness
 * round trip and no epoll_ctl. Returns 1 when the region is done (sent, or the
 * connection is being closed), 0 when the caller queues what is left. */
static int send_file_direct(mu_tcp_connection_t *conn, int fd, uint64_t *offset,
                            uint64_t *len) {
  while (*len > 0) {
    size_t want = *len > (1u << 30) ? (1u << 30) : (size_t)*len;
    ssize_t n = send_file_nosignal(conn->channel.fd, fd, offset, want);
    if (n > 0) {
      add_bytes_sent(conn, (size_t)n);
      *len -= (uint64_t)n;
      if ((size_t)n < want)
        return 0; /* the socket is full */
      continue;
    }
    if (n < 0 && !is_fatal_write_error((int)-n))
      return 0;
    if (n == 0) {
      MU_LOG_ERROR("connection %s%llu: file fd=%d ended %llu bytes early; closing",
                   conn->owner->name_prefix, (unsigned long long)conn->id, fd,
                   (unsigned long long)*len);
    }
    mu_sockets_close(fd);
    close_soon(conn); /* maybe inside a callback of this connection */
    return 1;
  }
  mu_sockets_close(fd);
  queue_write_complete(conn);
  return 1;
}

int mu_tcp_connection_send_file(mu_tcp_connection_t *conn, int fd, uint64_t offset,
                                uint64_t len) {
  MU_ASSERT_IN_LOOP_THREAD(loop_of(conn));
  if (get_state(conn) != MU_TCP_CONNECTED) {
    mu_sockets_close(fd);
    return -ENOTCONN;
  }
  uint64_t asked = len;
  if (len > 0 && !mu_channel_is_writing(&conn->channel) &&
      mu_buffer_readable_bytes(&conn->output) == 0 &&
      send_file_direct(conn, fd, &offset, &len) == 1)
    return 0;
  conn_ext_t *ext = get_ext(conn);
  out_file_t *f = ext != NULL && len > 0 ? mu_malloc(sizeof *f) : NULL;
  if (f == NULL) {
    mu_sockets_close(fd);
    if (len == 0)
      return 0;
    if (len < asked) {
      /* Part of the region is on the wire and the rest cannot follow: the
       * next bytes sent would land in its place. End the stream there. */
      MU_LOG_ERROR("out of memory queueing a file region %llu bytes in; closing",
                   (unsigned long long)(asked - len));
      close_soon(conn);
    }
    return -ENOMEM;
  }
  f->next = NULL;
  f->fd = fd;
  f->offset = offset;
  f->left = len;
  f->before = mu_buffer_readable_bytes(&conn->output) - ext->files_before;
  ext->files_before += f->before;
  if (ext->files_tail != NULL) {
    ext->files_tail->next = f;
  } else {
    ext->files = f;
  }
  ext->files_tail = f;
  conn->flags |= k_sending_file;
  /* Writing stays enabled until the last region is out, which also keeps
   * send() from writing later bytes directly, ahead of the file. */
  if (!mu_channel_is_writing(&conn->channel))
    mu_channel_enable_writing(&conn->channel);
  return 0;
}

/* The head's direct send. MSG_MORE holds it in the kernel until the sendfile
 * that follows at once adds the file's first bytes: one segment, and one
 * wake-up of the peer instead of two (bench/README.md, "HTTP benchmarks":
 * wrk took 1 MiB responses more than twice as fast). The hold is never left
 * standing: the sendfile pushes it, or, when the socket is full and the
 * region is queued, the ACKs of the data in flight and the next sendfile do.
 * Unlike write_in_loop, no write-complete: the region's send queues it.
 * Returns 0, or what after_direct_send returns. */
static int send_head_more(mu_tcp_connection_t *conn, const char *head, size_t len) {
  ssize_t n = send(conn->channel.fd, head, len, MSG_NOSIGNAL | MSG_MORE);
  if (LIKELY(n == (ssize_t)len)) {
    add_bytes_sent(conn, len);
    return 0;
  }
  return after_direct_send(conn, head, len, n < 0 ? -errno : n);
}

int mu_tcp_connection_send_file_with_head(mu_tcp_connection_t *conn, const void *head,
                                          size_t head_len, int fd, uint64_t offset,
                                          uint64_t len) {
  MU_ASSERT_IN_LOOP_THREAD(loop_of(conn));
  if (get_state(conn) != MU_TCP_CONNECTED) {
    mu_sockets_close(fd);
    return -ENOTCONN;
  }
  if (head_len > 0) {
    int rc = len > 0 && nothing_queued(conn) ? send_head_more(conn, head, head_len)
                                             : write_or_queue(conn, head, head_len);
    if (rc != 0) {
      mu_sockets_close(fd);
      return rc == -ENOMEM ? rc : -ENOTCONN;
    }
  }
  return mu_tcp_connection_send_file(conn, fd, offset, len);
}

int mu_tcp_connection_send_str(mu_tcp_connection_t *conn, const char *s) {
  return mu_tcp_connection_send(conn, s, strlen(s));
}

static COLD int send_buffer_slow(mu_tcp_connection_t *conn, mu_buffer_t *buf) {
  int rc = send_bytes(conn, mu_buffer_peek(buf), mu_buffer_readable_bytes(buf));
  mu_buffer_retrieve_all(buf);
  return rc;
}

/* Loop thread, connected: the bytes of buf go out (or are queued). */
static inline int send_buffer_in_loop(mu_tcp_connection_t *conn, mu_buffer_t *buf) {
  /* peek without its test for no storage: with no readable bytes the
   * pointer is not used. */
  size_t len = mu_buffer_readable_bytes(buf);
  int rc = write_in_loop(conn, len ? buf->data + buf->reader : NULL, len);
  mu_buffer_retrieve_all(buf);
  return LIKELY(rc == 0) || rc == -ENOMEM ? rc : -ENOTCONN;
}

static __attribute__((noinline)) int send_other_buffer(mu_tcp_connection_t *conn,
                                                       mu_buffer_t *buf) {
  if (UNLIKELY(get_state(conn) != MU_TCP_CONNECTED) ||
      UNLIKELY(loop_of(conn) != mu_event_loop_of_current_thread()))
    return send_buffer_slow(conn, buf); /* consumes the bytes all the same */
  return send_buffer_in_loop(conn, buf);
}

int mu_tcp_connection_send_buffer(mu_tcp_connection_t *conn, mu_buffer_t *buf) {
  /* The connection's own input buffer (the echo's reply from its message
   * callback) may only be used in the loop's thread: no need to ask which
   * thread this is, and the buffer's address is known. */
  if (LIKELY(buf == &conn->input) && LIKELY(get_state(conn) == MU_TCP_CONNECTED))
    return send_buffer_in_loop(conn, &conn->input);
  return send_other_buffer(conn, buf);
}

/* ---- queries and settings ----------------------------------------------- */

mu_event_loop_t *mu_tcp_connection_get_loop(const mu_tcp_connection_t *conn) {
  return loop_of(conn);
}
mu_tcp_connection_state_t mu_tcp_connection_state(const mu_tcp_connection_t *conn) {
  return (mu_tcp_connection_state_t)get_state(conn);
}
bool mu_tcp_connection_connected(const mu_tcp_connection_t *conn) {
  return get_state(conn) == MU_TCP_CONNECTED;
}
bool mu_tcp_connection_disconnected(const mu_tcp_connection_t *conn) {
  return get_state(conn) == MU_TCP_DISCONNECTED;
}
uint64_t mu_tcp_connection_id(const mu_tcp_connection_t *conn) {
  return conn->id;
}
const mu_inet_address_t *mu_tcp_connection_peer_address(const mu_tcp_connection_t *conn) {
  return &conn->peer;
}
int mu_tcp_connection_local_address(const mu_tcp_connection_t *conn,
                                    mu_inet_address_t *out) {
  return mu_sockets_get_local_addr(conn->channel.fd, out);
}

/* When memory runs out the name cannot be built: the owner's prefix
 * ("Name-ip:port#", kept as long as the owner) stands in for it, so callers
 * that print or compare the name never get NULL. */
const char *mu_tcp_connection_name(mu_tcp_connection_t *conn) {
  conn_ext_t *ext = get_ext(conn);
  if (ext == NULL)
    return conn->owner->name_prefix;
  char *name = atomic_load_explicit(&ext->name, memory_order_acquire);
  if (name != NULL)
    return name;
  char buf[160];
  int n = snprintf(buf, sizeof buf, "%s%llu", conn->owner->name_prefix,
                   (unsigned long long)conn->id);
  char *fresh = mu_malloc((size_t)n + 1);
  if (fresh == NULL)
    return conn->owner->name_prefix;
  memcpy(fresh, buf, (size_t)n + 1);
  if (!atomic_compare_exchange_strong(&ext->name, &name, fresh)) {
    mu_free(fresh);
    return name;
  }
  return fresh;
}

int mu_tcp_connection_set_tcp_no_delay(mu_tcp_connection_t *conn, bool on) {
  return mu_sockets_set_tcp_no_delay(conn->channel.fd, on);
}
int mu_tcp_connection_set_keep_alive(mu_tcp_connection_t *conn, bool on) {
  return mu_sockets_set_keep_alive(conn->channel.fd, on);
}
int mu_tcp_connection_tcp_info(const mu_tcp_connection_t *conn, char *buf, size_t len) {
  return mu_sockets_tcp_info_string(conn->channel.fd, buf, len);
}

int mu_tcp_connection_set_context(mu_tcp_connection_t *conn, void *ctx,
                                  void (*free_fn)(void *)) {
  conn_ext_t *ext = get_ext(conn);
  if (ext == NULL)
    return -ENOMEM;
  if (ext->context_free && ext->context != ctx)
    ext->context_free(ext->context);
  ext->context = ctx;
  ext->context_free = free_fn;
  return 0;
}

void *mu_tcp_connection_get_context(const mu_tcp_connection_t *conn) {
  conn_ext_t *ext =
      atomic_load_explicit(&((mu_tcp_connection_t *)conn)->ext, memory_order_acquire);
  return ext ? ext->context : NULL;
}

int mu_tcp_connection_set_high_water_mark(mu_tcp_connection_t *conn, size_t mark) {
  MU_ASSERT_IN_LOOP_THREAD(loop_of(conn));
  conn_ext_t *ext = get_ext(conn);
  if (ext == NULL)
    return -ENOMEM;
  ext->high_water_mark = mark;
  ext->own_high_water_mark = true;
  return 0;
}
mu_buffer_t *mu_tcp_connection_input_buffer(mu_tcp_connection_t *conn) {
  return &conn->input;
}
mu_buffer_t *mu_tcp_connection_output_buffer(mu_tcp_connection_t *conn) {
  return &conn->output;
}
mu_timestamp_t mu_tcp_connection_created_time(const mu_tcp_connection_t *conn) {
  return (mu_timestamp_t){atomic_load_explicit(&conn->created_us, memory_order_relaxed)};
}
mu_timestamp_t mu_tcp_connection_last_receive_time(const mu_tcp_connection_t *conn) {
  return (mu_timestamp_t){
      atomic_load_explicit(&conn->last_receive_us, memory_order_relaxed)};
}
uint64_t mu_tcp_connection_bytes_received(const mu_tcp_connection_t *conn) {
  return atomic_load_explicit(&conn->bytes_received, memory_order_relaxed);
}
uint64_t mu_tcp_connection_bytes_sent(const mu_tcp_connection_t *conn) {
  return atomic_load_explicit(&conn->bytes_sent, memory_order_relaxed);
}
