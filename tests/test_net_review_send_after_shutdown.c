/* A send from another thread that reaches the loop after the connection was
 * half-closed there. shutdown() "half-closes (SHUT_WR) once the output queue
 * has drained": the connection keeps reading, the peer may go on sending. The
 * other thread's bytes, accepted (0) while the connection was still
 * connected, can no longer go out; writing them anyway got EPIPE from our own
 * SHUT_WR, which the library took for a vanished peer and force-closed the
 * connection: the half-close became a full close, and what the peer sent
 * afterwards was answered with a reset.
 *
 * Deterministic, in the test's loop thread: in the up callback another thread
 * queues a send (and is joined), then shutdown() half-closes at once (nothing
 * queued); the queued send runs after the callback. The peer then sees end
 * of file, sends "ping", and the server must still receive it. */
#include <pthread.h>

#include "cmuduo/cmuduo.h"
#include "tcp_test_util.h"
#include "test_util.h"

static mu_tcp_connection_t *g_conn;
static int g_down;
static char g_got[16];
static size_t g_got_len;

static void *send_from_thread(void *conn) {
  CHECK_EQ(mu_tcp_connection_send_str(conn, "late"), 0); /* queued: still connected */
  return NULL;
}

static void on_connection(mu_tcp_connection_t *conn, void *arg) {
  (void)arg;
  if (!mu_tcp_connection_connected(conn)) {
    g_down++;
    return;
  }
  mu_tcp_connection_ref(conn);
  g_conn = conn;
  pthread_t t;
  CHECK(pthread_create(&t, NULL, send_from_thread, conn) == 0);
  CHECK(pthread_join(t, NULL) == 0);
  mu_tcp_connection_shutdown(conn); /* nothing queued here: SHUT_WR now */
}

static void on_message(mu_tcp_connection_t *conn, mu_buffer_t *buf, mu_timestamp_t t,
                       void *arg) {
  (void)conn;
  (void)t;
  (void)arg;
  size_t n = mu_buffer_readable_bytes(buf);
  if (n > sizeof g_got - g_got_len)
    n = sizeof g_got - g_got_len;
  memcpy(g_got + g_got_len, mu_buffer_peek(buf), n);
  g_got_len += n;
  mu_buffer_retrieve_all(buf);
}

static int g_fd;

static bool server_has_conn(void *arg) {
  (void)arg;
  return g_conn != NULL;
}

static bool client_sees_eof(void *arg) {
  (void)arg;
  char c;
  return recv(g_fd, &c, 1, MSG_DONTWAIT) == 0;
}

static bool server_got_ping(void *arg) {
  (void)arg;
  return g_got_len == 4 || g_down > 0;
}

int main(void) {
  tt_init("net_review_send_after_shutdown", 60);
  mu_event_loop_t *loop = mu_event_loop_new();
  CHECK(loop != NULL);
  uint16_t port;
  mu_tcp_server_t *server = tt_server_new_loopback(loop, 0, "HalfClose", &port);
  mu_tcp_server_set_connection_callback(server, on_connection, NULL);
  mu_tcp_server_set_message_callback(server, on_message, NULL);
  CHECK_EQ(mu_tcp_server_start(server), 0);
  g_fd = tt_connect_nonblocking(port);
  CHECK(g_fd >= 0);
  CHECK(tt_loop_run_until(loop, server_has_conn, NULL, 20.0));
  CHECK(tt_loop_run_until(loop, client_sees_eof, NULL, 20.0)); /* the half-close */
  ssize_t w = send(g_fd, "ping", 4, MSG_NOSIGNAL);
  CHECK_EQ(w, 4);
  CHECK(tt_loop_run_until(loop, server_got_ping, NULL, 20.0));
  printf("after the half-close: server got %zu bytes, down callbacks %d, state %d\n",
         g_got_len, g_down, mu_tcp_connection_state(g_conn));
  CHECK_EQ(g_down, 0); /* still half-open: reading goes on */
  CHECK(g_got_len == 4 && memcmp(g_got, "ping", 4) == 0);
  CHECK_EQ(mu_tcp_connection_state(g_conn), MU_TCP_DISCONNECTING);
  close(g_fd);
  mu_tcp_connection_unref(g_conn);
  mu_tcp_server_free(server);
  tt_loop_run_for(loop, 0.05);
  mu_event_loop_free(loop);
  TEST_PASS("net_review_send_after_shutdown");
}
