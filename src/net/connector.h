/* Active connection establishment for TcpClient (muduo's Connector): a
 * non-blocking connect, retried with a delay that doubles from 500 ms up to
 * 30 s, with self-connect detection and an optional connect timeout.
 * Loop thread only. */
#ifndef CMUDUO_SRC_NET_CONNECTOR_H
#define CMUDUO_SRC_NET_CONNECTOR_H

#include "cmuduo/net/event_loop.h"
#include "cmuduo/net/inet_address.h"

typedef struct mu_connector mu_connector_t;

/* Receives the connected socket (owned from here on). */
typedef void (*mu_connector_connected_fn)(int fd, void *arg);

#define MU_CONNECTOR_INIT_RETRY_DELAY 0.5
#define MU_CONNECTOR_MAX_RETRY_DELAY 30.0

mu_connector_t *mu_connector_new(mu_event_loop_t *loop, const mu_inet_address_t *addr,
                                 mu_connector_connected_fn fn, void *arg);
/* Safe at any point, also while connecting or waiting to retry. */
void mu_connector_free(mu_connector_t *c);
/* Starts connecting (now, in the loop). */
void mu_connector_start(mu_connector_t *c);
/* Connects again from the initial retry delay (after a connection was lost). */
void mu_connector_restart(mu_connector_t *c);
/* Stops connecting and retrying; a socket being connected is closed. */
void mu_connector_stop(mu_connector_t *c);
/* The owner could not take the connected socket (out of memory; it has closed
 * it): count a failed attempt and try again after the retry delay. */
void mu_connector_handoff_failed(mu_connector_t *c);
/* A connect not finished within `seconds` is abandoned and retried (0: none). */
void mu_connector_set_connect_timeout(mu_connector_t *c, double seconds);
/* Delays for testing and tuning. */
void mu_connector_set_retry_delays(mu_connector_t *c, double initial, double max);
/* Attempts that failed so far (refused, timed out, self-connect, ...). */
int mu_connector_failed_attempts(const mu_connector_t *c);

#endif
