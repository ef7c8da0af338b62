/* The TCP benchmark's echo server on libuv: uv_read_start with an alloc
 * callback that lends one loop-wide buffer (libuv hands it back to read_cb
 * before it allocates again), uv_try_write to answer without a copy, and a
 * uv_write of a heap copy for whatever the socket did not take. Reading pauses
 * while more than a read's worth is queued, and resumes when it drains.
 *
 *   echo_libuv [-p PORT]          single-threaded, listens on 127.0.0.1 */
#define _GNU_SOURCE
#include <uv.h>

#include "peer_util.h"

typedef struct write_req {
  uv_write_t req;
  uv_buf_t buf;
  char data[];
} write_req_t;

static char g_buf[PEER_READ_SIZE];
static char g_paused; /* a stream whose data points here stopped reading */

static void alloc_cb(uv_handle_t *handle, size_t suggested, uv_buf_t *buf) {
  (void)handle;
  (void)suggested;
  *buf = uv_buf_init(g_buf, sizeof g_buf);
}

static void free_handle(uv_handle_t *handle) {
  free(handle);
}

static void close_conn(uv_stream_t *s) {
  if (!uv_is_closing((uv_handle_t *)s))
    uv_close((uv_handle_t *)s, free_handle);
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

static void after_write(uv_write_t *req, int status) {
  uv_stream_t *s = req->handle;
  free(req);
  if (status < 0) {
    close_conn(s);
  } else if (s->write_queue_size == 0 && s->data == &g_paused &&
             !uv_is_closing((uv_handle_t *)s)) {
    s->data = NULL;
    uv_read_start(s, alloc_cb, read_cb);
  }
}

static void queue_copy(uv_stream_t *s, const char *data, size_t len) {
  write_req_t *w = malloc(sizeof *w + len);
  if (w == NULL) {
    close_conn(s);
    return;
  }
  memcpy(w->data, data, len);
  w->buf = uv_buf_init(w->data, (unsigned)len);
  if (uv_write(&w->req, s, &w->buf, 1, after_write) != 0) {
    free(w);
    close_conn(s);
    return;
  }
  if (s->write_queue_size >= PEER_READ_SIZE) {
    uv_read_stop(s);
    s->data = &g_paused;
  }
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  if (nread < 0) { /* UV_EOF or an error */
    close_conn(s);
    return;
  }
  if (nread == 0)
    return;
  uv_buf_t out = uv_buf_init(buf->base, (unsigned)nread);
  int w = uv_try_write(s, &out, 1);
  if (w == UV_EAGAIN)
    w = 0;
  if (w < 0) {
    close_conn(s);
  } else if (w < nread) {
    queue_copy(s, buf->base + w, (size_t)(nread - w));
  }
}

static void on_connection(uv_stream_t *server, int status) {
  if (status < 0) {
    fprintf(stderr, "listen: %s\n", uv_strerror(status));
    exit(1);
  }
  uv_tcp_t *c = malloc(sizeof *c);
  if (c == NULL)
    return;
  uv_tcp_init(server->loop, c);
  c->data = NULL;
  if (uv_accept(server, (uv_stream_t *)c) != 0) {
    uv_close((uv_handle_t *)c, free_handle);
    return;
  }
  uv_tcp_nodelay(c, 1);
  uv_read_start((uv_stream_t *)c, alloc_cb, read_cb);
}

int main(int argc, char **argv) {
  struct sockaddr_in a = peer_loopback(peer_parse_port(argc, argv));
  uv_loop_t *loop = uv_default_loop();
  uv_tcp_t server;
  uv_tcp_init(loop, &server);
  int rc = uv_tcp_bind(&server, (const struct sockaddr *)&a, 0);
  if (rc == 0)
    rc = uv_listen((uv_stream_t *)&server, SOMAXCONN, on_connection);
  if (rc != 0) {
    fprintf(stderr, "listen: %s\n", uv_strerror(rc));
    return 1;
  }
  return uv_run(loop, UV_RUN_DEFAULT);
}
