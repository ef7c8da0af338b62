#include "sockets_ops.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cmuduo/base/logging.h"

static int neg_errno(int rc) {
  return rc < 0 ? -errno : rc;
}

int mu_sockets_create_nonblocking(sa_family_t family) {
  return neg_errno(
      socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP));
}

int mu_sockets_bind(int fd, const mu_inet_address_t *addr) {
  return neg_errno(
      bind(fd, mu_inet_address_sockaddr(addr), mu_inet_address_socklen(addr)));
}

int mu_sockets_listen(int fd) {
  return neg_errno(listen(fd, SOMAXCONN));
}

int mu_sockets_accept(int fd, mu_inet_address_t *peer) {
  struct sockaddr_in6 sa;
  socklen_t len = sizeof sa;
  int conn = accept4(fd, (struct sockaddr *)&sa, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (conn < 0)
    return -errno;
  if (!mu_inet_address_from_sockaddr(peer, (struct sockaddr *)&sa, len)) {
    *peer = mu_inet_address_any(0);
  }
  return conn;
}

int mu_sockets_connect(int fd, const mu_inet_address_t *addr) {
  return neg_errno(
      connect(fd, mu_inet_address_sockaddr(addr), mu_inet_address_socklen(addr)));
}

ssize_t mu_sockets_send(int fd, const void *buf, size_t len) {
  ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
  return n < 0 ? -errno : n;
}

void mu_sockets_close(int fd) {
  if (close(fd) < 0 && errno != EINTR)
    MU_LOG_SYSERR("close fd %d", fd);
}

int mu_sockets_shutdown_write(int fd) {
  return neg_errno(shutdown(fd, SHUT_WR));
}

int mu_sockets_get_socket_error(int fd) {
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
    return errno;
  return err;
}

static int get_addr(int fd, mu_inet_address_t *out, bool peer) {
  struct sockaddr_in6 sa;
  socklen_t len = sizeof sa;
  int rc = peer ? getpeername(fd, (struct sockaddr *)&sa, &len)
                : getsockname(fd, (struct sockaddr *)&sa, &len);
  if (rc < 0)
    return -errno;
  return mu_inet_address_from_sockaddr(out, (struct sockaddr *)&sa, len) ? 0
                                                                         : -EAFNOSUPPORT;
}

int mu_sockets_get_local_addr(int fd, mu_inet_address_t *out) {
  return get_addr(fd, out, false);
}

int mu_sockets_get_peer_addr(int fd, mu_inet_address_t *out) {
  return get_addr(fd, out, true);
}

bool mu_sockets_is_self_connect(int fd) {
  mu_inet_address_t local, peer;
  if (mu_sockets_get_local_addr(fd, &local) != 0 ||
      mu_sockets_get_peer_addr(fd, &peer) != 0) {
    return false;
  }
  return mu_inet_address_equal(&local, &peer);
}

static int set_opt(int fd, int level, int name, bool on) {
  int v = on ? 1 : 0;
  return neg_errno(setsockopt(fd, level, name, &v, sizeof v));
}

int mu_sockets_set_tcp_no_delay(int fd, bool on) {
  return set_opt(fd, IPPROTO_TCP, TCP_NODELAY, on);
}
int mu_sockets_set_keep_alive(int fd, bool on) {
  return set_opt(fd, SOL_SOCKET, SO_KEEPALIVE, on);
}
int mu_sockets_set_reuse_addr(int fd, bool on) {
  return set_opt(fd, SOL_SOCKET, SO_REUSEADDR, on);
}
int mu_sockets_set_reuse_port(int fd, bool on) {
  return set_opt(fd, SOL_SOCKET, SO_REUSEPORT, on);
}

int mu_sockets_tcp_info_string(int fd, char *buf, size_t len) {
  struct tcp_info ti;
  socklen_t n = sizeof ti;
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &n) < 0) {
    int err = errno;
    if (len > 0) /* a caller that prints it anyway prints nothing */
      buf[0] = '\0';
    return -err;
  }
  snprintf(buf, len,
           "unrecovered=%u rto=%u ato=%u snd_mss=%u rcv_mss=%u lost=%u retrans=%u "
           "rtt=%u rttvar=%u ssthresh=%u cwnd=%u total_retrans=%u",
           ti.tcpi_retransmits, ti.tcpi_rto, ti.tcpi_ato, ti.tcpi_snd_mss,
           ti.tcpi_rcv_mss, ti.tcpi_lost, ti.tcpi_retrans, ti.tcpi_rtt, ti.tcpi_rttvar,
           ti.tcpi_snd_ssthresh, ti.tcpi_snd_cwnd, ti.tcpi_total_retrans);
  return 0;
}
