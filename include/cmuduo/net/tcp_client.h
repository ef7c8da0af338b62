/* A TCP client with one connection at a time (muduo's TcpClient).
 *
 * connect() resolves nothing (give it an address) and never blocks: the
 * connector retries a failed connect after 500 ms, doubling up to 30 s. With
 * enable_retry(), a connection that closes is re-established.
 *
 * Threading: new/free and the setters are loop-thread only (set callbacks before
 * connect). connect, disconnect, stop and connection_ref are thread-safe.
 */
#ifndef CMUDUO_NET_TCP_CLIENT_H
#define CMUDUO_NET_TCP_CLIENT_H

#include <stdbool.h>

#include "cmuduo/net/event_loop.h"
#include "cmuduo/net/inet_address.h"
#include "cmuduo/net/tcp_connection.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mu_tcp_client mu_tcp_client_t;

/* NULL with errno ENOMEM on failure. */
mu_tcp_client_t *mu_tcp_client_new(mu_event_loop_t *loop, const mu_inet_address_t *server,
                                   const char *name);
/* Stops connecting; an open connection is closed (its down callback runs in the
 * loop). Safe while connecting and from the client's own callbacks. Loop thread
 * only. */
void mu_tcp_client_free(mu_tcp_client_t *client);

/* Thread-safe. Also connects again after disconnect() or after a connection
 * closed without retry; changes nothing while connected. Called while the
 * connection is closing (from its down callback, or after disconnect()), it
 * connects again once that connection is gone. */
void mu_tcp_client_connect(mu_tcp_client_t *client);
/* Half-closes the connection (mu_tcp_connection_shutdown) once its output is
 * sent, and stops connecting: an attempt in progress ends, and the connection
 * is not re-established when it closes, even with retry. Thread-safe;
 * connect() starts again. */
void mu_tcp_client_disconnect(mu_tcp_client_t *client);
/* Stops connecting: an attempt in progress ends, and a connection that closes
 * is not re-established, even with retry; an established connection stays.
 * Thread-safe; connect() starts again. */
void mu_tcp_client_stop(mu_tcp_client_t *client);
/* The current connection with a reference the caller drops with
 * mu_tcp_connection_unref, or NULL. */
mu_tcp_connection_t *mu_tcp_client_connection_ref(mu_tcp_client_t *client);

/* Loop thread only. */
void mu_tcp_client_enable_retry(mu_tcp_client_t *client);
bool mu_tcp_client_retry(const mu_tcp_client_t *client);
/* A connect attempt not finished in `seconds` is abandoned and retried. */
void mu_tcp_client_set_connect_timeout(mu_tcp_client_t *client, double seconds);
/* Retry delays (default 0.5 s doubling to 30 s). Returns 0, or -EINVAL unless
 * 0.001 <= initial <= max <= 86400 (a zero delay would retry in a tight
 * loop). */
int mu_tcp_client_set_retry_delays(mu_tcp_client_t *client, double initial, double max);
/* Connect attempts that failed since the client was made (a success does not
 * reset the count). */
int mu_tcp_client_failed_attempts(const mu_tcp_client_t *client);
void mu_tcp_client_set_connection_callback(mu_tcp_client_t *client, mu_connection_fn fn,
                                           void *arg);
void mu_tcp_client_set_message_callback(mu_tcp_client_t *client, mu_message_fn fn,
                                        void *arg);
void mu_tcp_client_set_write_complete_callback(mu_tcp_client_t *client,
                                               mu_write_complete_fn fn, void *arg);
/* Called when the connection's output queue crosses `mark` bytes upwards
 * (once per crossing; 0 disables; default MU_TCP_DEFAULT_HIGH_WATER_MARK with
 * no callback), in the loop thread, from inside the send that crossed it: the
 * callback may send, stop reading or close. Applies to the connections made
 * after the call as well as the current one, as the other callbacks do;
 * mu_tcp_connection_set_high_water_mark overrides the mark for one
 * connection. */
void mu_tcp_client_set_high_water_mark_callback(mu_tcp_client_t *client,
                                                mu_high_water_mark_fn fn, void *arg,
                                                size_t mark);
const char *mu_tcp_client_name(const mu_tcp_client_t *client);
mu_event_loop_t *mu_tcp_client_get_loop(const mu_tcp_client_t *client);

#ifdef __cplusplus
}
#endif
#endif
