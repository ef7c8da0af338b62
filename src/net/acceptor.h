/* The listening socket of a TcpServer (muduo's Acceptor). Loop thread only.
 *
 * It accepts in a loop, up to a budget per wake-up, so a burst of connections
 * costs one poll. When the process is out of descriptors (EMFILE, ENFILE) or
 * memory it does not spin: it stops watching the listener, logs once, and
 * retries on a timer; connections wait in the kernel's backlog meanwhile. */
#ifndef CMUDUO_SRC_NET_ACCEPTOR_H
#define CMUDUO_SRC_NET_ACCEPTOR_H

#include <stdbool.h>

#include "cmuduo/net/event_loop.h"
#include "cmuduo/net/inet_address.h"

typedef struct mu_acceptor mu_acceptor_t;

/* Owns `fd` from here on (closes it, or hands it on). */
typedef void (*mu_new_connection_fn)(int fd, const mu_inet_address_t *peer, void *arg);

/* Creates and binds the listening socket (SO_REUSEADDR; SO_REUSEPORT if asked).
 * NULL with errno set on failure (EADDRINUSE, EACCES, ...). */
mu_acceptor_t *mu_acceptor_new(mu_event_loop_t *loop, const mu_inet_address_t *addr,
                               bool reuse_port);
void mu_acceptor_free(mu_acceptor_t *a);
void mu_acceptor_set_new_connection_callback(mu_acceptor_t *a, mu_new_connection_fn fn,
                                             void *arg);
/* 0 or -errno. */
int mu_acceptor_listen(mu_acceptor_t *a);
bool mu_acceptor_listening(const mu_acceptor_t *a);
/* The bound address (the real port when bound to port 0). */
int mu_acceptor_local_address(const mu_acceptor_t *a, mu_inet_address_t *out);
/* Seconds the listener pauses after EMFILE/ENFILE/ENOBUFS/ENOMEM (default 0.1). */
void mu_acceptor_set_pause_on_exhaustion(mu_acceptor_t *a, double seconds);
/* Connections accepted per wake-up at most (default 64). */
void mu_acceptor_set_accept_budget(mu_acceptor_t *a, int budget);

#endif
