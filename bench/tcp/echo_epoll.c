/* The ceiling of the TCP benchmark: an echo server on a bare level-triggered
 * epoll loop, with no library between the kernel and the echo. Each readable
 * event is one read into a stack buffer and one send back; only what the socket
 * does not take is copied to the heap, and the connection then waits for
 * EPOLLOUT instead of reading (the client must drain before it gets more).
 *
 *   echo_epoll [-p PORT]          single-threaded, listens on 127.0.0.1 */
#define _GNU_SOURCE
#include <sys/epoll.h>

#include "peer_util.h"

typedef struct conn {
  int fd;
  uint32_t pending_len; /* bytes of `pending` not yet sent */
  uint32_t pending_off;
  char *pending; /* NULL unless a send was partial */
} conn_t;

enum { k_max_events = 1024, k_accept_budget = 64 };

static int g_epfd;

static void watch(conn_t *c, uint32_t events, int op) {
  struct epoll_event ev = {.events = events, .data.ptr = c};
  if (epoll_ctl(g_epfd, op, c->fd, &ev) != 0) {
    perror("epoll_ctl");
    exit(1);
  }
}

static void close_conn(conn_t *c) {
  close(c->fd); /* also removes it from the epoll set */
  free(c->pending);
  free(c);
}

static void on_accept(int lfd) {
  for (int i = 0; i < k_accept_budget; ++i) {
    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (peer_accept_again_later(errno))
        return;
      perror("accept4 (raise ulimit -n?)");
      exit(1);
    }
    peer_set_nodelay(fd);
    conn_t *c = calloc(1, sizeof *c);
    if (c == NULL) {
      close(fd);
      continue;
    }
    c->fd = fd;
    watch(c, EPOLLIN, EPOLL_CTL_ADD);
  }
}

/* Keeps the unsent tail and switches the connection to waiting for EPOLLOUT. */
static int keep_remainder(conn_t *c, const char *data, size_t len) {
  c->pending = malloc(len);
  if (c->pending == NULL)
    return -1;
  memcpy(c->pending, data, len);
  c->pending_len = (uint32_t)len;
  c->pending_off = 0;
  watch(c, EPOLLOUT, EPOLL_CTL_MOD);
  return 0;
}

static void on_readable(conn_t *c) {
  char buf[PEER_READ_SIZE];
  ssize_t n = read(c->fd, buf, sizeof buf);
  if (n < 0 && (errno == EAGAIN || errno == EINTR))
    return;
  if (n <= 0) {
    close_conn(c);
    return;
  }
  ssize_t w = send(c->fd, buf, (size_t)n, MSG_NOSIGNAL);
  if (w < 0 && errno != EAGAIN && errno != EINTR) {
    close_conn(c);
    return;
  }
  if (w < 0)
    w = 0;
  if (w < n && keep_remainder(c, buf + w, (size_t)(n - w)) != 0)
    close_conn(c);
}

static void on_writable(conn_t *c) {
  ssize_t w = send(c->fd, c->pending + c->pending_off, c->pending_len, MSG_NOSIGNAL);
  if (w < 0) {
    if (errno != EAGAIN && errno != EINTR)
      close_conn(c);
    return;
  }
  c->pending_off += (uint32_t)w;
  c->pending_len -= (uint32_t)w;
  if (c->pending_len > 0)
    return;
  free(c->pending);
  c->pending = NULL;
  watch(c, EPOLLIN, EPOLL_CTL_MOD);
}

int main(int argc, char **argv) {
  int lfd = peer_listen(peer_parse_port(argc, argv));
  g_epfd = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
  if (g_epfd < 0 || epoll_ctl(g_epfd, EPOLL_CTL_ADD, lfd, &lev) != 0) {
    perror("epoll");
    return 1;
  }
  static struct epoll_event events[k_max_events];
  for (;;) {
    int n = epoll_wait(g_epfd, events, k_max_events, -1);
    if (n < 0 && errno != EINTR) {
      perror("epoll_wait");
      return 1;
    }
    for (int i = 0; i < n; ++i) {
      conn_t *c = events[i].data.ptr;
      if (c == NULL) {
        on_accept(lfd);
      } else if (c->pending != NULL) {
        on_writable(c);
      } else {
        on_readable(c); /* EPOLLHUP/EPOLLERR too: the read reports them */
      }
    }
  }
}
