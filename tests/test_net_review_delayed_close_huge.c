/* force_close_with_delay with a delay too large for the microsecond clock
 * (1e30 s, +infinity): the header promises "closes after `seconds`", which
 * for such a delay is never while the test runs. Converting seconds * 1e6 to
 * int64 out of range is undefined (x86 gives INT64_MIN, a deadline in the far
 * past), and the connection was closed at once.
 *
 * No timing assert: the check runs from a timer due 0.3 s from now, and the
 * timer queue fires timers in deadline order, so a close scheduled for any
 * earlier time (the past included) has happened by then. A 0.01 s delay on a
 * third connection shows the same setup does close. */
#include <math.h>

#include "cmuduo/cmuduo.h"
#include "tcp_test_util.h"
#include "test_util.h"

enum { k_conns = 3 };

static const double k_delays[k_conns] = {1e30, INFINITY, 0.01};

typedef struct state {
  mu_event_loop_t *loop;
  mu_tcp_server_t *server;
  mu_tcp_connection_t *conns[k_conns]; /* referenced, in accept order */
  int up;
  int down;
} state_t;

static state_t g;

static void on_connection(mu_tcp_connection_t *conn, void *arg) {
  (void)arg;
  if (!mu_tcp_connection_connected(conn)) {
    g.down++;
    return;
  }
  CHECK(g.up < k_conns);
  mu_tcp_connection_ref(conn);
  mu_tcp_connection_force_close_with_delay(conn, k_delays[g.up]);
  g.conns[g.up++] = conn;
}

static int g_want_up;

static bool enough_up(void *arg) {
  (void)arg;
  return g.up >= g_want_up;
}

static bool last_down(void *arg) {
  (void)arg;
  return mu_tcp_connection_disconnected(g.conns[k_conns - 1]);
}

int main(void) {
  tt_init("net_review_delayed_close_huge", 60);
  g.loop = mu_event_loop_new();
  CHECK(g.loop != NULL);
  uint16_t port;
  g.server = tt_server_new_loopback(g.loop, 0, "Delay", &port);
  mu_tcp_server_set_connection_callback(g.server, on_connection, NULL);
  CHECK_EQ(mu_tcp_server_start(g.server), 0);
  int fds[k_conns];
  for (int i = 0; i < k_conns; ++i) {
    /* One at a time, so conns[i] is the i-th client socket. */
    fds[i] = tt_connect_nonblocking(port);
    CHECK(fds[i] >= 0);
    g_want_up = i + 1;
    CHECK(tt_loop_run_until(g.loop, enough_up, NULL, 20.0));
  }
  /* The 0.01 s close happens; the others must not be due before 0.3 s. */
  CHECK(tt_loop_run_until(g.loop, last_down, NULL, 20.0));
  tt_loop_run_for(g.loop, 0.3);
  for (int i = 0; i < k_conns - 1; ++i) {
    printf("delay %g: state %d (%s)\n", k_delays[i], mu_tcp_connection_state(g.conns[i]),
           mu_tcp_connection_disconnected(g.conns[i]) ? "closed" : "open");
  }
  CHECK_EQ(g.down, 1);
  for (int i = 0; i < k_conns - 1; ++i)
    CHECK_EQ(mu_tcp_connection_state(g.conns[i]), MU_TCP_DISCONNECTING);
  mu_tcp_server_free(g.server); /* closes the two still waiting */
  tt_loop_run_for(g.loop, 0.05);
  CHECK_EQ(g.down, k_conns);
  for (int i = 0; i < k_conns; ++i) {
    mu_tcp_connection_unref(g.conns[i]);
    close(fds[i]);
  }
  mu_event_loop_free(g.loop);
  TEST_PASS("net_review_delayed_close_huge");
}
