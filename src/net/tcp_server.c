/* TcpServer: the accept path (Acceptor -> mu_tcp_server_new_connection -> a loop from the
 * pool) and the server's half of the close path. */
#include "cmuduo/net/tcp_server.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "acceptor.h"
#include "cmuduo/base/alloc.h"
#include "cmuduo/base/logging.h"
#include "event_loop_internal.h"
#include "sockets_ops.h"
#include "tcp_connection_internal.h"

struct mu_tcp_server {
  /* The user's, plus one per start() queued from another thread: free() tears
   * the server down at once, the memory goes with the last reference. */
  _Atomic int refcnt;
  bool freed; /* base loop thread only */
  mu_event_loop_t *loop;
  char name[64];
  char ip_port[MU_INET_ADDRSTRLEN];
  mu_acceptor_t *acceptor;
  mu_event_loop_thread_pool_t *pool;
  mu_thread_init_fn thread_init;
  void *thread_init_arg;
  mu_conn_owner_t *owner;
  _Atomic bool started;
  uint64_t next_conn_id;
  /* Open connections; each holds one reference. Swap-remove via owner_slot. */
  mu_tcp_connection_t **conns;
  size_t nconns;
  size_t conns_cap;
};

static void mu_tcp_server_new_connection(int fd, const mu_inet_address_t *peer,
                                         void *arg);
static void mu_tcp_server_remove_connection_in_loop(void *server,
                                                    mu_tcp_connection_t *conn);

mu_tcp_server_t *mu_tcp_server_new(mu_event_loop_t *loop, const mu_inet_address_t *addr,
                                   const char *name, int options) {
  mu_tcp_server_t *s = mu_calloc(1, sizeof *s);
  if (s == NULL)
    return NULL;
  atomic_init(&s->refcnt, 1);
  s->loop = loop;
  snprintf(s->name, sizeof s->name, "%s", name ? name : "TcpServer");
  s->acceptor = mu_acceptor_new(loop, addr, (options & MU_TCP_SERVER_REUSE_PORT) != 0);
  int err = errno;
  /* Named after the bound address: port 0 becomes the port the kernel chose. */
  mu_inet_address_t bound = *addr;
  if (s->acceptor != NULL)
    mu_acceptor_local_address(s->acceptor, &bound);
  mu_inet_address_to_ip_port(&bound, s->ip_port, sizeof s->ip_port);
  char prefix[160];
  snprintf(prefix, sizeof prefix, "%s-%s#", s->name, s->ip_port);
  s->pool = s->acceptor ? mu_event_loop_thread_pool_new(loop, s->name) : NULL;
  s->owner = s->pool ? mu_conn_owner_new(loop, s, mu_tcp_server_remove_connection_in_loop,
                                         prefix)
                     : NULL;
  if (s->owner == NULL) {
    if (s->acceptor != NULL) {
      err = ENOMEM;
      mu_acceptor_free(s->acceptor);
    }
    mu_event_loop_thread_pool_free(s->pool);
    mu_free(s);
    errno = err;
    return NULL;
  }
  mu_acceptor_set_new_connection_callback(s->acceptor, mu_tcp_server_new_connection, s);
  return s;
}

static void server_unref(mu_tcp_server_t *s) {
  if (atomic_fetch_sub_explicit(&s->refcnt, 1, memory_order_acq_rel) == 1)
    mu_free(s);
}

void mu_tcp_server_free(mu_tcp_server_t *s) {
  if (s == NULL)
    return;
  MU_ASSERT_IN_LOOP_THREAD(s->loop);
  s->freed = true;
  MU_LOG_TRACE("TcpServer %s freed with %zu connections", s->name, s->nconns);
  mu_acceptor_free(s->acceptor);
  s->owner->owner = NULL; /* closes that race us in other loops find no server */
  for (size_t i = 0; i < s->nconns; ++i)
    mu_tcp_connection_queue_destroy(s->conns[i]);
  s->nconns = 0;
  /* Joining the pool runs what was just queued in its loops (they drain at quit). */
  mu_event_loop_thread_pool_free(s->pool);
  mu_conn_owner_unref(s->owner);
  mu_free(s->conns);
  server_unref(s);
}

void mu_tcp_server_set_thread_num(mu_tcp_server_t *s, int n) {
  mu_event_loop_thread_pool_set_thread_num(s->pool, n);
}
void mu_tcp_server_set_thread_init_callback(mu_tcp_server_t *s, mu_thread_init_fn fn,
                                            void *arg) {
  s->thread_init = fn;
  s->thread_init_arg = arg;
}
void mu_tcp_server_set_connection_callback(mu_tcp_server_t *s, mu_connection_fn fn,
                                           void *arg) {
  s->owner->connection_cb = fn;
  s->owner->connection_arg = arg;
}
void mu_tcp_server_set_message_callback(mu_tcp_server_t *s, mu_message_fn fn, void *arg) {
  s->owner->message_cb = fn;
  s->owner->message_arg = arg;
}
void mu_tcp_server_set_write_complete_callback(mu_tcp_server_t *s,
                                               mu_write_complete_fn fn, void *arg) {
  s->owner->write_complete_cb = fn;
  s->owner->write_complete_arg = arg;
}
void mu_tcp_server_set_high_water_mark_callback(mu_tcp_server_t *s,
                                                mu_high_water_mark_fn fn, void *arg,
                                                size_t mark) {
  s->owner->high_water_mark_cb = fn;
  s->owner->high_water_mark_arg = arg;
  s->owner->high_water_mark = mark;
}
void mu_tcp_server_set_input_cap(mu_tcp_server_t *s, size_t bytes) {
  s->owner->input_cap = bytes;
}
void mu_tcp_server_set_half_close_callback(mu_tcp_server_t *s, mu_half_close_fn fn,
                                           void *arg) {
  s->owner->half_close_cb = fn;
  s->owner->half_close_arg = arg;
}

static int mu_tcp_server_start_in_loop(mu_tcp_server_t *s) {
  int rc = mu_event_loop_thread_pool_start(s->pool, s->thread_init, s->thread_init_arg);
  if (rc == 0 || rc == -EALREADY)
    rc = mu_acceptor_listen(s->acceptor);
  if (rc != 0) {
    MU_LOG_ERROR("TcpServer %s cannot start on %s: %s", s->name, s->ip_port,
                 mu_strerror_tl(-rc));
  }
  return rc;
}

static void start_functor(void *p) {
  mu_tcp_server_t *s = p;
  /* Reported in the log only (the caller has returned); clearing the flag
   * lets a later start() try again. A server freed meanwhile stays down. */
  if (!s->freed && mu_tcp_server_start_in_loop(s) != 0)
    atomic_store(&s->started, false);
  server_unref(s);
}

int mu_tcp_server_start(mu_tcp_server_t *s) {
  if (atomic_exchange(&s->started, true))
    return 0;
  if (mu_event_loop_is_in_loop_thread(s->loop)) {
    int rc = mu_tcp_server_start_in_loop(s);
    if (rc != 0)
      atomic_store(&s->started, false);
    return rc;
  }
  atomic_fetch_add_explicit(&s->refcnt, 1, memory_order_relaxed);
  int rc = mu_event_loop_queue_in_loop(s->loop, start_functor, s);
  if (rc != 0) {
    atomic_store(&s->started, false);
    server_unref(s);
  }
  return rc;
}

/* ---- accept path -------------------------------------------------------- */

static int track(mu_tcp_server_t *s, mu_tcp_connection_t *conn) {
  if (s->nconns == s->conns_cap) {
    size_t cap = s->conns_cap ? s->conns_cap * 2 : 64;
    mu_tcp_connection_t **c = mu_realloc(s->conns, cap * sizeof *c);
    if (c == NULL)
      return -ENOMEM;
    s->conns = c;
    s->conns_cap = cap;
  }
  mu_tcp_connection_set_owner_slot(conn, (uint32_t)s->nconns);
  s->conns[s->nconns++] = conn;
  return 0;
}

static void establish_functor(void *p) {
  mu_tcp_connection_connect_established(p);
  mu_tcp_connection_unref(p);
}

/* TcpServer::newConnection: runs in the base loop for each accepted socket. */
static void mu_tcp_server_new_connection(int fd, const mu_inet_address_t *peer,
                                         void *arg) {
  mu_tcp_server_t *s = arg;
  mu_event_loop_t *io_loop = mu_event_loop_thread_pool_get_next_loop(s->pool);
  uint64_t id = ++s->next_conn_id;
  mu_tcp_connection_t *conn = mu_tcp_connection_new(io_loop, s->owner, id, fd, peer);
  if (conn == NULL || track(s, conn) != 0) {
    MU_LOG_ERROR("TcpServer %s: out of memory for a new connection; dropped", s->name);
    if (conn != NULL) {
      mu_tcp_connection_unref(conn);
    }
    return;
  }
  if (mu_log_level() <= MU_LOG_LEVEL_DEBUG) {
    char buf[MU_INET_ADDRSTRLEN];
    MU_LOG_DEBUG("TcpServer %s: new connection %s from %s", s->name,
                 mu_tcp_connection_name(conn),
                 mu_inet_address_to_ip_port(peer, buf, sizeof buf));
  }
  mu_tcp_connection_ref(conn);
  /* Queued even when io_loop is this loop: the up callback may free the server,
   * and with it the acceptor whose accept loop is running this function. */
  if (mu_event_loop_queue_in_loop(io_loop, establish_functor, conn) != 0) {
    MU_LOG_ERROR("TcpServer %s: out of memory starting a connection; dropped", s->name);
    /* Never established, so nothing else knows it: untrack it (it is still the
     * last one tracked) and drop both references, which closes the socket.
     * Kept in the list, the client would wait for an echo or a close forever. */
    s->conns[--s->nconns] = NULL;
    mu_tcp_connection_unref(conn);
    mu_tcp_connection_unref(conn);
  }
}

/* ---- close path --------------------------------------------------------- */

/* TcpServer::removeConnectionInLoop: the connection has closed in its loop;
 * forget it here and let its loop destroy it (with the list's reference). */
static void mu_tcp_server_remove_connection_in_loop(void *server,
                                                    mu_tcp_connection_t *conn) {
  mu_tcp_server_t *s = server;
  uint32_t slot = mu_tcp_connection_owner_slot(conn);
  if (slot >= s->nconns || s->conns[slot] != conn)
    return; /* already forgotten */
  mu_tcp_connection_t *last = s->conns[--s->nconns];
  s->conns[slot] = last;
  mu_tcp_connection_set_owner_slot(last, slot);
  mu_tcp_connection_queue_destroy(conn);
}

/* ---- queries ------------------------------------------------------------ */

const char *mu_tcp_server_name(const mu_tcp_server_t *s) {
  return s->name;
}
const char *mu_tcp_server_ip_port(const mu_tcp_server_t *s) {
  return s->ip_port;
}
int mu_tcp_server_listen_address(const mu_tcp_server_t *s, mu_inet_address_t *out) {
  return mu_acceptor_local_address(s->acceptor, out);
}
mu_event_loop_t *mu_tcp_server_get_loop(const mu_tcp_server_t *s) {
  return s->loop;
}
mu_event_loop_thread_pool_t *mu_tcp_server_thread_pool(mu_tcp_server_t *s) {
  return s->pool;
}
size_t mu_tcp_server_connection_count(const mu_tcp_server_t *s) {
  return s->nconns;
}
