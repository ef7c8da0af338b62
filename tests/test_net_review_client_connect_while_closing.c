/* TcpClient connect() while its connection is on the way down. tcp_client.h
 * promises that connect() "also connects again after disconnect() or after a
 * connection closed without retry; changes nothing while connected". Two
 * natural ways to ask for that, with no retry enabled:
 *  - connect() from the connection's own down callback (the connection is
 *    already disconnected there: the user reconnects by hand);
 *  - disconnect() followed at once by connect() (the connection is still
 *    half-closing when connect() runs).
 * Either must end with a new connection to the server. Everything runs in
 * the test's loop thread (server with no I/O threads, client in the same
 * loop), so no interleaving is left to chance; the waits are bounded. */
#include "cmuduo/cmuduo.h"
#include "tcp_test_util.h"
#include "test_util.h"

typedef struct state {
  mu_event_loop_t *loop;
  mu_tcp_server_t *server;
  mu_tcp_client_t *client;
  int server_up;
  int client_up;
  int client_down;
  bool reconnect_in_down; /* case 1: connect() from the first down callback */
} state_t;

static state_t g;

static void on_server_connection(mu_tcp_connection_t *conn, void *arg) {
  (void)arg;
  if (!mu_tcp_connection_connected(conn))
    return;
  g.server_up++;
  if (g.reconnect_in_down && g.server_up == 1)
    mu_tcp_connection_force_close(conn); /* the client sees its connection drop */
}

static void on_client_connection(mu_tcp_connection_t *conn, void *arg) {
  (void)arg;
  if (mu_tcp_connection_connected(conn)) {
    g.client_up++;
    return;
  }
  g.client_down++;
  if (g.reconnect_in_down && g.client_down == 1)
    mu_tcp_client_connect(g.client);
}

static bool up_once(void *arg) {
  (void)arg;
  return g.client_up == 1 && g.server_up == 1;
}

static bool up_twice(void *arg) {
  (void)arg;
  return g.client_up == 2 && g.server_up == 2;
}

static void begin(bool reconnect_in_down) {
  memset(&g, 0, sizeof g);
  g.reconnect_in_down = reconnect_in_down;
  g.loop = mu_event_loop_new();
  CHECK(g.loop != NULL);
  uint16_t port;
  g.server = tt_server_new_loopback(g.loop, 0, "Target", &port);
  mu_tcp_server_set_connection_callback(g.server, on_server_connection, NULL);
  CHECK_EQ(mu_tcp_server_start(g.server), 0);
  mu_inet_address_t addr = mu_inet_address_loopback(port);
  g.client = mu_tcp_client_new(g.loop, &addr, "Reconnector");
  CHECK(g.client != NULL);
  mu_tcp_client_set_connection_callback(g.client, on_client_connection, NULL);
  CHECK(!mu_tcp_client_retry(g.client));
}

static void end(void) {
  mu_tcp_client_free(g.client);
  mu_tcp_server_free(g.server);
  tt_loop_run_for(g.loop, 0.05);
  mu_event_loop_free(g.loop);
}

static void test_connect_from_down_callback(void) {
  begin(true);
  mu_tcp_client_connect(g.client);
  /* The server drops the first connection; the client's down callback calls
   * connect(), which must bring a second one. */
  bool ok = tt_loop_run_until(g.loop, up_twice, NULL, 20.0);
  printf("connect() in the down callback: client up %d down %d, server up %d\n",
         g.client_up, g.client_down, g.server_up);
  CHECK(ok);
  end();
}

static void test_disconnect_then_connect(void) {
  begin(false);
  mu_tcp_client_connect(g.client);
  CHECK(tt_loop_run_until(g.loop, up_once, NULL, 20.0));
  mu_tcp_client_disconnect(g.client); /* half-closes; the server closes back */
  mu_tcp_client_connect(g.client);    /* "connect() starts again" */
  bool ok = tt_loop_run_until(g.loop, up_twice, NULL, 20.0);
  printf("disconnect() then connect(): client up %d down %d, server up %d\n", g.client_up,
         g.client_down, g.server_up);
  CHECK(ok);
  CHECK_EQ(g.client_down, 1);
  end();
}

int main(void) {
  tt_init("net_review_client_connect_while_closing", 120);
  test_connect_from_down_callback();
  printf("ok: connect() from the down callback reconnects\n");
  test_disconnect_then_connect();
  printf("ok: disconnect() then connect() reconnects once the old connection is gone\n");
  TEST_PASS("net_review_client_connect_while_closing");
}
