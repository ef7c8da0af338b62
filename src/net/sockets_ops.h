/* Thin, errno-clean wrappers over the socket calls (muduo's SocketsOps and
 * Socket). Functions that can fail return a negative errno. */
#ifndef CMUDUO_SRC_NET_SOCKETS_OPS_H
#define CMUDUO_SRC_NET_SOCKETS_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "cmuduo/net/inet_address.h"

/* A non-blocking, close-on-exec TCP socket; fd or -errno. */
int mu_sockets_create_nonblocking(sa_family_t family);
int mu_sockets_bind(int fd, const mu_inet_address_t *addr);
int mu_sockets_listen(int fd);
/* A non-blocking, close-on-exec connection and its peer; fd or -errno. */
int mu_sockets_accept(int fd, mu_inet_address_t *peer);
/* 0 or -errno (-EINPROGRESS is normal for a non-blocking socket). */
int mu_sockets_connect(int fd, const mu_inet_address_t *addr);
/* Never raises SIGPIPE (MSG_NOSIGNAL). Bytes written or -errno. */
ssize_t mu_sockets_send(int fd, const void *buf, size_t len);
void mu_sockets_close(int fd);
int mu_sockets_shutdown_write(int fd);

/* The pending error (SO_ERROR), as a positive errno, 0 if none. */
int mu_sockets_get_socket_error(int fd);
int mu_sockets_get_local_addr(int fd, mu_inet_address_t *out);
int mu_sockets_get_peer_addr(int fd, mu_inet_address_t *out);
/* A connection whose local and peer address are the same (a client that
 * connected to itself through the ephemeral port range). */
bool mu_sockets_is_self_connect(int fd);

int mu_sockets_set_tcp_no_delay(int fd, bool on);
int mu_sockets_set_keep_alive(int fd, bool on);
int mu_sockets_set_reuse_addr(int fd, bool on);
int mu_sockets_set_reuse_port(int fd, bool on);
/* TCP_INFO as "unrecovered=.. rto=.. ato=.. snd_mss=.. rcv_mss=.. lost=.. retrans=..
 * rtt=.. rttvar=.. ssthresh=.. cwnd=.. total_retrans=..". 0 or -errno. */
int mu_sockets_tcp_info_string(int fd, char *buf, size_t len);

#endif
