/* A TCP server (muduo's TcpServer): an acceptor on the base loop hands each new
 * connection to a loop of its thread pool (round-robin), or keeps it on the base
 * loop when the pool has no threads.
 *
 *   mu_tcp_server_t *s = mu_tcp_server_new(loop, &addr, "EchoServer", 0);
 *   mu_tcp_server_set_message_callback(s, on_message, NULL);
 *   mu_tcp_server_start(s);
 *   mu_event_loop_loop(loop);
 *
 * Set callbacks, the thread count and limits before start(). Functions are
 * base-loop-thread only, except start(), which is thread-safe. Callbacks run in
 * the connection's loop thread.
 */
#ifndef CMUDUO_NET_TCP_SERVER_H
#define CMUDUO_NET_TCP_SERVER_H

#include <stddef.h>

#include "cmuduo/net/event_loop.h"
#include "cmuduo/net/event_loop_thread.h"
#include "cmuduo/net/event_loop_thread_pool.h"
#include "cmuduo/net/inet_address.h"
#include "cmuduo/net/tcp_connection.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mu_tcp_server mu_tcp_server_t;

/* Options for mu_tcp_server_new. */
#define MU_TCP_SERVER_REUSE_PORT 1

/* Binds the listening socket now (listening starts with start()). Returns NULL
 * and sets errno on failure: EADDRINUSE, EACCES, EADDRNOTAVAIL, ENOMEM, ... */
mu_tcp_server_t *mu_tcp_server_new(mu_event_loop_t *loop, const mu_inet_address_t *addr,
                                   const char *name, int options);
/* Stops accepting, closes every connection (each gets its down callback in its
 * loop), stops the thread pool and frees the server. Base loop thread only; it
 * may run inside a callback of the base loop (with no I/O threads, inside a
 * connection's callbacks too; with I/O threads, queue it to the base loop).
 * A start() called from another thread whose work has not run yet then does
 * nothing. */
void mu_tcp_server_free(mu_tcp_server_t *server);

/* The number of I/O threads (0: all I/O on the base loop). Before start. */
void mu_tcp_server_set_thread_num(mu_tcp_server_t *server, int n);
void mu_tcp_server_set_thread_init_callback(mu_tcp_server_t *server, mu_thread_init_fn fn,
                                            void *arg);
void mu_tcp_server_set_connection_callback(mu_tcp_server_t *server, mu_connection_fn fn,
                                           void *arg);
void mu_tcp_server_set_message_callback(mu_tcp_server_t *server, mu_message_fn fn,
                                        void *arg);
void mu_tcp_server_set_write_complete_callback(mu_tcp_server_t *server,
                                               mu_write_complete_fn fn, void *arg);
/* Called when a connection's output queue crosses `mark` bytes upwards (once
 * per crossing; 0 disables), in the connection's loop thread, from inside the
 * send that crossed it (muduo queues the call instead): the callback may send,
 * stop reading or close. mu_tcp_connection_set_high_water_mark overrides the
 * mark for one connection. */
void mu_tcp_server_set_high_water_mark_callback(mu_tcp_server_t *server,
                                                mu_high_water_mark_fn fn, void *arg,
                                                size_t mark);
/* Unread input per connection past which reading stops (0: no cap).
 * Default MU_TCP_DEFAULT_INPUT_CAP. */
void mu_tcp_server_set_input_cap(mu_tcp_server_t *server, size_t bytes);
/* Half-open mode for the server's connections (fn non-NULL; NULL turns it
 * off, the default): when a peer half-closes (its FIN arrives), the
 * connection stops reading and fn runs once, in the connection's loop
 * thread, instead of the connection closing. It stays up for sending until
 * the owner calls mu_tcp_connection_shutdown (the output drains, then it
 * closes) or mu_tcp_connection_force_close: what a server needs whose
 * answer may be finished later (another thread, a timer) for a client that
 * half-closes after its request (`nc -N`). Until then nothing watches the
 * socket (a peer that goes away is seen at the next write): bound such a
 * connection with a timer. fn does not run when the connection was already
 * shutting down or closing (shutdown(), force_close*()): that goes on and
 * closes as without the mode. Before start. */
void mu_tcp_server_set_half_close_callback(mu_tcp_server_t *server, mu_half_close_fn fn,
                                           void *arg);

/* Starts the thread pool and listens. Thread-safe and idempotent. Returns 0 or
 * a negative errno (called from another thread, listening happens in the base
 * loop and a failure there is logged). */
int mu_tcp_server_start(mu_tcp_server_t *server);

const char *mu_tcp_server_name(const mu_tcp_server_t *server);
/* The bound "ip:port" (for port 0, the port the kernel chose); connection
 * names are "name-ip:port#N". */
const char *mu_tcp_server_ip_port(const mu_tcp_server_t *server);
/* The bound address, with the real port when the server was given port 0. */
int mu_tcp_server_listen_address(const mu_tcp_server_t *server, mu_inet_address_t *out);
mu_event_loop_t *mu_tcp_server_get_loop(const mu_tcp_server_t *server);
/* Valid after start. */
mu_event_loop_thread_pool_t *mu_tcp_server_thread_pool(mu_tcp_server_t *server);
/* Open connections. Base loop thread only. */
size_t mu_tcp_server_connection_count(const mu_tcp_server_t *server);

#ifdef __cplusplus
}
#endif
#endif
