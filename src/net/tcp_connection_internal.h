/* What TcpServer and TcpClient share with their connections. */
#ifndef CMUDUO_SRC_NET_TCP_CONNECTION_INTERNAL_H
#define CMUDUO_SRC_NET_TCP_CONNECTION_INTERNAL_H

#include <stdatomic.h>

#include "cmuduo/net/tcp_connection.h"

/* The owner side of a connection (a server or a client): its callbacks and
 * settings, shared by all its connections instead of copied into each, and
 * reference counted so a connection that outlives its owner (queued work, a user
 * reference) still finds them. `owner` is cleared when the owner is freed; it is
 * read and written in the owner's loop thread only. */
typedef struct mu_conn_owner {
  _Atomic int refcnt;
  mu_event_loop_t *loop;
  void *owner;
  /* Runs in the owner's loop when a connection has closed: takes it out of the
   * owner's books and queues mu_tcp_connection_connect_destroyed. */
  void (*remove_connection_in_loop)(void *owner, mu_tcp_connection_t *conn);
  mu_connection_fn connection_cb;
  void *connection_arg;
  mu_message_fn message_cb;
  void *message_arg;
  mu_write_complete_fn write_complete_cb;
  void *write_complete_arg;
  mu_high_water_mark_fn high_water_mark_cb;
  void *high_water_mark_arg;
  size_t high_water_mark;
  size_t input_cap; /* 0: no cap */
  /* Half-open mode (set: the peer's FIN does not close; see
   * mu_tcp_server_set_half_close_callback). Read on the end-of-file and
   * drained-output paths only, never per message. */
  mu_half_close_fn half_close_cb;
  void *half_close_arg;
  char name_prefix[96]; /* "Name-ip:port#" */
} mu_conn_owner_t;

mu_conn_owner_t *mu_conn_owner_new(mu_event_loop_t *loop, void *owner,
                                   void (*remove_in_loop)(void *, mu_tcp_connection_t *),
                                   const char *name_prefix);
void mu_conn_owner_ref(mu_conn_owner_t *o);
void mu_conn_owner_unref(mu_conn_owner_t *o);

/* A connection on an accepted or connected `fd` (owned from here on, closed on
 * failure); NULL with errno ENOMEM. State: connecting. */
mu_tcp_connection_t *mu_tcp_connection_new(mu_event_loop_t *loop, mu_conn_owner_t *owner,
                                           uint64_t id, int fd,
                                           const mu_inet_address_t *peer);
/* In the connection's loop: start reading, connection callback (up). */
void mu_tcp_connection_connect_established(mu_tcp_connection_t *conn);
/* In the connection's loop, last step of the close path: callback (down) if
 * not yet given, remove the channel, drop the owner's reference. */
void mu_tcp_connection_connect_destroyed(mu_tcp_connection_t *conn);
/* Queues connect_destroyed into the connection's loop, handing it the owner's
 * reference. */
void mu_tcp_connection_queue_destroy(mu_tcp_connection_t *conn);

/* The owner's bookkeeping slot (index in its connection array). */
uint32_t mu_tcp_connection_owner_slot(const mu_tcp_connection_t *conn);
void mu_tcp_connection_set_owner_slot(mu_tcp_connection_t *conn, uint32_t slot);

#endif
