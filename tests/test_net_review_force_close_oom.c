/* mu_tcp_connection_force_close when the loop's functor queue cannot grow.
 * force_close marks the connection DISCONNECTING at once (sends are refused
 * from then on) and queues the close; when that queueing ran out of memory the
 * close was dropped: the connection stayed open, DISCONNECTING, for good,
 * though the header says "closes now".
 *
 * Exact, no chance involved: inside the up callback (loop thread) the test
 * fills the loop's functor queue until its next push must grow it (a push
 * with the thread's next allocation set to fail is refused exactly then),
 * then calls force_close with the next allocation failing again. The
 * connection must still close (bounded wait), and the peer sees it. */
#include "cmuduo/base/alloc.h"
#include "cmuduo/cmuduo.h"
#include "tcp_test_util.h"
#include "test_util.h"
#include "alloc_countdown.h"

/* (tests/alloc_countdown.h: tt_fail_in, tt_failed, tt_countdown_allocator) */

static mu_event_loop_t *g_loop;
static int g_up, g_down, g_fillers;

static void noop(void *arg) {
  (void)arg;
}

static void on_connection(mu_tcp_connection_t *conn, void *arg) {
  (void)arg;
  if (!mu_tcp_connection_connected(conn)) {
    g_down++;
    return;
  }
  g_up++;
  /* Fill the functor queue up to its capacity: the push that would grow it
   * is the one refused (and nothing else allocates in between). */
  int rc = 0;
  while (rc == 0 && g_fillers < 1000000) {
    tt_fail_in = 1;
    rc = mu_event_loop_queue_in_loop(g_loop, noop, NULL);
    g_fillers += rc == 0;
  }
  CHECK_EQ(rc, -ENOMEM);
  tt_fail_in = 1;
  mu_tcp_connection_force_close(conn);
  tt_fail_in = 0;
  CHECK_EQ(mu_tcp_connection_state(conn), MU_TCP_DISCONNECTING);
  CHECK_EQ(mu_tcp_connection_send_str(conn, "refused"), -ENOTCONN);
}

static bool is_up(void *arg) {
  (void)arg;
  return g_up == 1;
}

static bool is_down(void *arg) {
  (void)arg;
  return g_down == 1;
}

int main(void) {
  mu_set_allocator(&tt_countdown_allocator);
  tt_init("net_review_force_close_oom", 60);
  g_loop = mu_event_loop_new();
  CHECK(g_loop != NULL);
  uint16_t port;
  mu_tcp_server_t *server = tt_server_new_loopback(g_loop, 0, "CloseOom", &port);
  mu_tcp_server_set_connection_callback(server, on_connection, NULL);
  CHECK_EQ(mu_tcp_server_start(server), 0);
  int fd = tt_connect_nonblocking(port);
  CHECK(fd >= 0);
  CHECK(tt_loop_run_until(g_loop, is_up, NULL, 20.0));
  bool closed = tt_loop_run_until(g_loop, is_down, NULL, 20.0);
  printf("queue filled with %d functors; the connection %s\n", g_fillers,
         closed ? "closed" : "is still open after 20 s");
  CHECK(closed);
  int flags = fcntl(fd, F_GETFL);
  CHECK(fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) == 0);
  tt_set_timeouts(fd, TT_IO_TIMEOUT_S);
  tt_expect_eof(fd);
  close(fd);
  mu_tcp_server_free(server);
  tt_loop_run_for(g_loop, 0.05);
  mu_event_loop_free(g_loop);
  TEST_PASS("net_review_force_close_oom");
}
