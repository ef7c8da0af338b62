/* force_close_with_delay when memory runs out on the way. It marks the
 * connection DISCONNECTING at once (sends are refused from then on), so the
 * close it promises must come whatever fails: the header says "closes after
 * `seconds` unless the connection is gone by then". The allocation that fails
 * is chosen exactly: a per-thread countdown in the allocator fails the k-th
 * allocation the loop thread makes inside the call (k = 1, 2, 3), and every
 * connection must still close (bounded wait). Before the fix, k = 2 (the
 * connection's lazily made extension block) left the connection open forever
 * in DISCONNECTING: no timer, no close, every send refused. */
#include "cmuduo/base/alloc.h"
#include "cmuduo/cmuduo.h"
#include "tcp_test_util.h"
#include "test_util.h"
#include "alloc_countdown.h"

/* (tests/alloc_countdown.h: tt_fail_in, tt_failed, tt_countdown_allocator) */

/* ---- the scenario ------------------------------------------------------- */

enum { k_max_k = 3 };

typedef struct state {
  mu_event_loop_t *loop;
  mu_tcp_server_t *server;
  int k; /* which allocation fails for the connection being accepted */
  int up;
  int down;
  int failed[k_max_k + 1]; /* allocations that did fail, per k */
} state_t;

static state_t g;

static void on_connection(mu_tcp_connection_t *conn, void *arg) {
  (void)arg;
  if (!mu_tcp_connection_connected(conn)) {
    g.down++;
    return;
  }
  g.up++;
  tt_failed = 0;
  tt_fail_in = g.k;
  mu_tcp_connection_force_close_with_delay(conn, 0.01);
  tt_fail_in = 0;
  g.failed[g.k] = tt_failed;
  /* Promised from here on: DISCONNECTING, sends refused, a close coming. */
  CHECK_EQ(mu_tcp_connection_state(conn), MU_TCP_DISCONNECTING);
  CHECK_EQ(mu_tcp_connection_send_str(conn, "refused"), -ENOTCONN);
}

static bool is_up(void *arg) {
  return g.up == *(int *)arg;
}

static bool is_down(void *arg) {
  return g.down == *(int *)arg;
}

int main(void) {
  mu_set_allocator(&tt_countdown_allocator);
  tt_init("net_review_delayed_close_oom", 120);
  g.loop = mu_event_loop_new();
  CHECK(g.loop != NULL);
  uint16_t port;
  g.server = tt_server_new_loopback(g.loop, 0, "DelayOom", &port);
  mu_tcp_server_set_connection_callback(g.server, on_connection, NULL);
  CHECK_EQ(mu_tcp_server_start(g.server), 0);
  for (int k = 1; k <= k_max_k; ++k) {
    g.k = k;
    int fd = tt_connect_nonblocking(port);
    CHECK(fd >= 0);
    CHECK(tt_loop_run_until(g.loop, is_up, &k, 20.0));
    bool closed = tt_loop_run_until(g.loop, is_down, &k, 20.0);
    printf("k=%d: %d allocation(s) failed; connection %s\n", k, g.failed[k],
           closed ? "closed" : "still open after 20 s");
    CHECK(closed);
    /* The peer sees the close too. */
    int flags = fcntl(fd, F_GETFL);
    CHECK(fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) == 0);
    tt_set_timeouts(fd, TT_IO_TIMEOUT_S);
    tt_expect_eof(fd);
    close(fd);
  }
  CHECK(g.failed[1] == 1 && g.failed[2] == 1); /* the scenario hit both points */
  mu_tcp_server_free(g.server);
  tt_loop_run_for(g.loop, 0.05);
  mu_event_loop_free(g.loop);
  TEST_PASS("net_review_delayed_close_oom");
}
