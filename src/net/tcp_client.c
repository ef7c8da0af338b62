#include "cmuduo/net/tcp_client.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>

#include "cmuduo/base/alloc.h"
#include "cmuduo/base/logging.h"
#include "connector.h"
#include "event_loop_internal.h"
#include "sockets_ops.h"
#include "tcp_connection_internal.h"

struct mu_tcp_client {
  _Atomic int refcnt; /* the user's, plus one per queued cross-thread call */
  mu_event_loop_t *loop;
  char name[64];
  mu_connector_t *connector;
  mu_conn_owner_t *owner;
  bool retry;
  bool freed;
  _Atomic bool connect;
  uint64_t next_conn_id;
  /* connect() came while the connection was going down (from its down
   * callback, or after disconnect()): connect again once it is removed. Loop
   * thread only; kept away from `connect`, so that no load the compiler
   * widens over neighbouring flags also covers that atomic. */
  bool connect_after_close;
  pthread_mutex_t mutex;
  mu_tcp_connection_t *connection; /* guarded by mutex; holds the owner's reference */
};

static void mu_tcp_client_new_connection(int fd, void *arg);
static void mu_tcp_client_remove_connection_in_loop(void *client,
                                                    mu_tcp_connection_t *conn);

mu_tcp_client_t *mu_tcp_client_new(mu_event_loop_t *loop, const mu_inet_address_t *server,
                                   const char *name) {
  mu_tcp_client_t *c = mu_calloc(1, sizeof *c);
  if (c == NULL)
    return NULL;
  atomic_init(&c->refcnt, 1);
  c->loop = loop;
  snprintf(c->name, sizeof c->name, "%s", name ? name : "TcpClient");
  char ip_port[MU_INET_ADDRSTRLEN];
  char prefix[160];
  snprintf(prefix, sizeof prefix, "%s-%s#", c->name,
           mu_inet_address_to_ip_port(server, ip_port, sizeof ip_port));
  c->connector = mu_connector_new(loop, server, mu_tcp_client_new_connection, c);
  c->owner = c->connector ? mu_conn_owner_new(
                                loop, c, mu_tcp_client_remove_connection_in_loop, prefix)
                          : NULL;
  if (c->owner == NULL) {
    mu_connector_free(c->connector);
    mu_free(c);
    errno = ENOMEM;
    return NULL;
  }
  pthread_mutex_init(&c->mutex, NULL);
  return c;
}

static void client_unref(mu_tcp_client_t *c) {
  if (atomic_fetch_sub_explicit(&c->refcnt, 1, memory_order_acq_rel) == 1) {
    pthread_mutex_destroy(&c->mutex);
    mu_free(c);
  }
}

static mu_tcp_connection_t *take_connection(mu_tcp_client_t *c) {
  pthread_mutex_lock(&c->mutex);
  mu_tcp_connection_t *conn = c->connection;
  c->connection = NULL;
  pthread_mutex_unlock(&c->mutex);
  return conn;
}

static void free_connector_functor(void *connector) {
  mu_connector_free(connector);
}

void mu_tcp_client_free(mu_tcp_client_t *c) {
  if (c == NULL)
    return;
  MU_ASSERT_IN_LOOP_THREAD(c->loop);
  c->freed = true;
  atomic_store(&c->connect, false);
  /* Stopped now (socket closed, timers cancelled), freed from the loop's queue:
   * the up callback, which may free the client, runs inside the connector's
   * own channel callback. */
  mu_connector_stop(c->connector);
  if (mu_event_loop_queue_in_loop(c->loop, free_connector_functor, c->connector) != 0) {
    mu_connector_free(c->connector); /* no memory: now (unsafe only in the up callback) */
  }
  c->connector = NULL;
  c->owner->owner = NULL;
  mu_tcp_connection_t *conn = take_connection(c);
  if (conn != NULL)
    mu_tcp_connection_queue_destroy(conn); /* hands over our reference */
  mu_conn_owner_unref(c->owner);
  client_unref(c);
}

/* Runs fn(c) in the loop holding a reference; fn must end with client_unref. */
static void run_with_ref(mu_tcp_client_t *c, mu_functor_fn fn) {
  atomic_fetch_add_explicit(&c->refcnt, 1, memory_order_relaxed);
  if (mu_event_loop_run_in_loop(c->loop, fn, c) != 0) {
    MU_LOG_ERROR("TcpClient %s: out of memory queueing a call", c->name);
    client_unref(c);
  }
}

static void mu_tcp_client_connect_in_loop(void *p) {
  mu_tcp_client_t *c = p;
  /* One connection at a time: connect() while connected changes nothing. */
  mu_tcp_connection_t *conn = c->freed ? NULL : mu_tcp_client_connection_ref(c);
  if (!c->freed && atomic_load(&c->connect)) {
    if (conn == NULL) {
      mu_connector_start(c->connector);
    } else if (!mu_tcp_connection_connected(conn)) {
      c->connect_after_close = true; /* still ours until its removal runs */
    }
  }
  mu_tcp_connection_unref(conn);
  client_unref(c);
}

void mu_tcp_client_connect(mu_tcp_client_t *c) {
  MU_LOG_DEBUG("TcpClient %s: connecting", c->name);
  atomic_store(&c->connect, true);
  run_with_ref(c, mu_tcp_client_connect_in_loop);
}

static void mu_tcp_client_stop_in_loop(void *p) {
  mu_tcp_client_t *c = p;
  if (!c->freed)
    mu_connector_stop(c->connector);
  client_unref(c);
}

static void shutdown_connection(mu_tcp_client_t *c) {
  mu_tcp_connection_t *conn = mu_tcp_client_connection_ref(c);
  if (conn != NULL) {
    mu_tcp_connection_shutdown(conn);
    mu_tcp_connection_unref(conn);
  }
}

static void mu_tcp_client_disconnect_in_loop(void *p) {
  mu_tcp_client_t *c = p;
  if (!c->freed) {
    mu_connector_stop(c->connector);
    /* A connect that finished in the loop just before the flag changed may
     * have registered its connection after disconnect() looked: shut that
     * one down too, unless connect() has been called again since. */
    if (!atomic_load(&c->connect))
      shutdown_connection(c);
  }
  client_unref(c);
}

void mu_tcp_client_disconnect(mu_tcp_client_t *c) {
  atomic_store(&c->connect, false);
  shutdown_connection(c); /* now: behind this thread's sends, ahead of later ones */
  /* A connector still retrying (no connection yet) would connect anyway. */
  run_with_ref(c, mu_tcp_client_disconnect_in_loop);
}

void mu_tcp_client_stop(mu_tcp_client_t *c) {
  atomic_store(&c->connect, false);
  run_with_ref(c, mu_tcp_client_stop_in_loop);
}

mu_tcp_connection_t *mu_tcp_client_connection_ref(mu_tcp_client_t *c) {
  pthread_mutex_lock(&c->mutex);
  mu_tcp_connection_t *conn = c->connection;
  if (conn != NULL)
    mu_tcp_connection_ref(conn);
  pthread_mutex_unlock(&c->mutex);
  return conn;
}

/* The connector succeeded: wrap the socket in a connection. */
static void mu_tcp_client_new_connection(int fd, void *arg) {
  mu_tcp_client_t *c = arg;
  /* stop() or disconnect() from another thread came before its connector
   * stop could run here: that wish wins over a connect finishing meanwhile. */
  if (!atomic_load(&c->connect)) {
    mu_sockets_close(fd);
    return;
  }
  mu_inet_address_t peer;
  if (mu_sockets_get_peer_addr(fd, &peer) != 0)
    peer = mu_inet_address_any(0);
  mu_tcp_connection_t *conn =
      mu_tcp_connection_new(c->loop, c->owner, ++c->next_conn_id, fd, &peer);
  if (conn == NULL) {
    MU_LOG_ERROR("TcpClient %s: out of memory for the connection; retrying", c->name);
    mu_connector_handoff_failed(c->connector);
    return;
  }
  pthread_mutex_lock(&c->mutex);
  c->connection = conn;
  pthread_mutex_unlock(&c->mutex);
  mu_tcp_connection_connect_established(conn);
}

static void mu_tcp_client_remove_connection_in_loop(void *client,
                                                    mu_tcp_connection_t *conn) {
  mu_tcp_client_t *c = client;
  pthread_mutex_lock(&c->mutex);
  bool ours = c->connection == conn;
  if (ours)
    c->connection = NULL;
  pthread_mutex_unlock(&c->mutex);
  if (!ours)
    return;
  mu_tcp_connection_queue_destroy(conn);
  bool again = c->retry || c->connect_after_close;
  c->connect_after_close = false;
  if (again && atomic_load(&c->connect)) {
    MU_LOG_INFO("TcpClient %s: reconnecting", c->name);
    mu_connector_restart(c->connector);
  }
}

void mu_tcp_client_enable_retry(mu_tcp_client_t *c) {
  c->retry = true;
}
bool mu_tcp_client_retry(const mu_tcp_client_t *c) {
  return c->retry;
}
void mu_tcp_client_set_connect_timeout(mu_tcp_client_t *c, double seconds) {
  mu_connector_set_connect_timeout(c->connector, seconds);
}
int mu_tcp_client_set_retry_delays(mu_tcp_client_t *c, double initial, double max) {
  /* Written this way round so that NaN fails too. */
  if (!(initial >= 0.001 && initial <= max && max <= 86400.0))
    return -EINVAL;
  mu_connector_set_retry_delays(c->connector, initial, max);
  return 0;
}
int mu_tcp_client_failed_attempts(const mu_tcp_client_t *c) {
  return mu_connector_failed_attempts(c->connector);
}
void mu_tcp_client_set_connection_callback(mu_tcp_client_t *c, mu_connection_fn fn,
                                           void *arg) {
  c->owner->connection_cb = fn;
  c->owner->connection_arg = arg;
}
void mu_tcp_client_set_message_callback(mu_tcp_client_t *c, mu_message_fn fn, void *arg) {
  c->owner->message_cb = fn;
  c->owner->message_arg = arg;
}
void mu_tcp_client_set_write_complete_callback(mu_tcp_client_t *c,
                                               mu_write_complete_fn fn, void *arg) {
  c->owner->write_complete_cb = fn;
  c->owner->write_complete_arg = arg;
}
void mu_tcp_client_set_high_water_mark_callback(mu_tcp_client_t *c,
                                                mu_high_water_mark_fn fn, void *arg,
                                                size_t mark) {
  c->owner->high_water_mark_cb = fn;
  c->owner->high_water_mark_arg = arg;
  c->owner->high_water_mark = mark;
}
const char *mu_tcp_client_name(const mu_tcp_client_t *c) {
  return c->name;
}
mu_event_loop_t *mu_tcp_client_get_loop(const mu_tcp_client_t *c) {
  return c->loop;
}
