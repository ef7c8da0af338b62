/* The TCP benchmark's echo server on libev: one ev_io per connection, a read
 * into a buffer shared by the loop, a send back; what the socket does not take
 * is kept on the heap and the watcher waits for EV_WRITE until it is gone.
 *
 *   echo_libev [-p PORT]          single-threaded, listens on 127.0.0.1 */
#define _GNU_SOURCE
#include <ev.h>

#include "peer_util.h"

typedef struct conn {
  ev_io io; /* first, so the watcher is the connection */
  uint32_t pending_len;
  uint32_t pending_off;
  char *pending;
} conn_t;

enum { k_accept_budget = 64 };

static char g_buf[PEER_READ_SIZE]; /* the loop runs one callback at a time */

static void close_conn(struct ev_loop *loop, conn_t *c) {
  ev_io_stop(loop, &c->io);
  close(c->io.fd);
  free(c->pending);
  free(c);
}

static void rewatch(struct ev_loop *loop, conn_t *c, int events) {
  ev_io_stop(loop, &c->io);
  ev_io_set(&c->io, c->io.fd, events);
  ev_io_start(loop, &c->io);
}

static int keep_remainder(struct ev_loop *loop, conn_t *c, const char *data, size_t len) {
  c->pending = malloc(len);
  if (c->pending == NULL)
    return -1;
  memcpy(c->pending, data, len);
  c->pending_len = (uint32_t)len;
  c->pending_off = 0;
  rewatch(loop, c, EV_WRITE);
  return 0;
}

static void on_readable(struct ev_loop *loop, conn_t *c) {
  ssize_t n = read(c->io.fd, g_buf, sizeof g_buf);
  if (n < 0 && (errno == EAGAIN || errno == EINTR))
    return;
  if (n <= 0) {
    close_conn(loop, c);
    return;
  }
  ssize_t w = send(c->io.fd, g_buf, (size_t)n, MSG_NOSIGNAL);
  if (w < 0 && errno != EAGAIN && errno != EINTR) {
    close_conn(loop, c);
    return;
  }
  if (w < 0)
    w = 0;
  if (w < n && keep_remainder(loop, c, g_buf + w, (size_t)(n - w)) != 0)
    close_conn(loop, c);
}

static void on_writable(struct ev_loop *loop, conn_t *c) {
  ssize_t w = send(c->io.fd, c->pending + c->pending_off, c->pending_len, MSG_NOSIGNAL);
  if (w < 0) {
    if (errno != EAGAIN && errno != EINTR)
      close_conn(loop, c);
    return;
  }
  c->pending_off += (uint32_t)w;
  c->pending_len -= (uint32_t)w;
  if (c->pending_len > 0)
    return;
  free(c->pending);
  c->pending = NULL;
  rewatch(loop, c, EV_READ);
}

static void conn_cb(struct ev_loop *loop, ev_io *w, int revents) {
  conn_t *c = (conn_t *)w;
  if (revents & EV_WRITE) {
    on_writable(loop, c);
  } else if (revents & EV_READ) {
    on_readable(loop, c);
  }
}

static void accept_cb(struct ev_loop *loop, ev_io *w, int revents) {
  (void)revents;
  for (int i = 0; i < k_accept_budget; ++i) {
    int fd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
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
    ev_io_init(&c->io, conn_cb, fd, EV_READ);
    ev_io_start(loop, &c->io);
  }
}

int main(int argc, char **argv) {
  int lfd = peer_listen(peer_parse_port(argc, argv));
  struct ev_loop *loop = ev_default_loop(EVBACKEND_EPOLL);
  if (loop == NULL) {
    fprintf(stderr, "libev: no epoll backend\n");
    return 1;
  }
  ev_io listener;
  ev_io_init(&listener, accept_cb, lfd, EV_READ);
  ev_io_start(loop, &listener);
  ev_run(loop, 0);
  return 0;
}
