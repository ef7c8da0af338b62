/* Shared by the peer echo servers of the TCP benchmark: the same command line
 * (-p PORT) and the same socket options as cmuduo's pingpong_server, so the
 * servers differ only in their event library. Header-only; every program of
 * bench/tcp/ is a single file plus this. */
#ifndef CMUDUO_BENCH_TCP_PEER_UTIL_H
#define CMUDUO_BENCH_TCP_PEER_UTIL_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Every server reads into one buffer this large per read, as cmuduo's
 * read_fd spills into a 64 KiB stack buffer. */
#define PEER_READ_SIZE 65536

static inline int peer_parse_port(int argc, char **argv) {
  int port = 33333;
  int opt;
  while ((opt = getopt(argc, argv, "p:h")) != -1) {
    char *end = NULL;
    long v = opt == 'p' ? strtol(optarg, &end, 10) : -1;
    if (opt == 'p' && *optarg != '\0' && *end == '\0' && v > 0 && v <= 65535) {
      port = (int)v;
    } else {
      fprintf(opt == 'h' ? stdout : stderr,
              "usage: %s [-p PORT]  (listens on 127.0.0.1)\n", argv[0]);
      exit(opt == 'h' ? 0 : 2);
    }
  }
  /* A client that goes away mid-write must not kill the server. */
  signal(SIGPIPE, SIG_IGN);
  return port;
}

static inline struct sockaddr_in peer_loopback(int port) {
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

/* A non-blocking listening socket on 127.0.0.1:port, for the servers whose
 * library has no listener of its own (libev, bare epoll). Exits on failure. */
static inline int peer_listen(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int on = 1;
  struct sockaddr_in a = peer_loopback(port);
  if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0 ||
      bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, SOMAXCONN) != 0) {
    perror("listen");
    exit(1);
  }
  return fd;
}

static inline void peer_set_nodelay(int fd) {
  int on = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
}

/* Accept errors that mean "nothing more right now" or "this one client went
 * away", as opposed to running out of descriptors. */
static inline int peer_accept_again_later(int err) {
  return err == EAGAIN || err == EWOULDBLOCK || err == EINTR || err == ECONNABORTED;
}

#endif
