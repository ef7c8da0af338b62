/* A TcpClient with retry enabled survives its server going away: the server
 * is freed (the client sees its connection go down), connects are refused for
 * a while, then a new server on the same port starts and the client connects
 * again by itself; echo works over both connections. After disconnect() it
 * stays down until connect() is called again.
 *
 * The second server binds the port (SO_REUSEPORT) before the first is freed and
 * listens only later, so no other socket on the machine can take the port in
 * between, and connects in the gap are refused rather than accepted. */
#include <stdatomic.h>

#include "cmuduo/cmuduo.h"
#include "tcp_test_util.h"
#include "test_util.h"

typedef struct state {
  mu_tcp_client_t *client;
  int up;
  int down;
  int echoes;
  char got[64];
  size_t got_len;
} state_t;

static state_t g;

/* ---- the servers: echo ---------------------------------------------------- */

static void echo(mu_tcp_connection_t *conn, mu_buffer_t *buf, mu_timestamp_t t,
                 void *arg) {
  (void)t;
  (void)arg;
  mu_tcp_connection_send_buffer(conn, buf);
}

static mu_tcp_server_t *echo_server(mu_event_loop_t *loop, uint16_t port, int threads) {
  mu_inet_address_t addr = mu_inet_address_loopback(port);
  mu_tcp_server_t *s = mu_tcp_server_new(loop, &addr, "Echo", MU_TCP_SERVER_REUSE_PORT);
  CHECK(s != NULL);
  mu_tcp_server_set_thread_num(s, threads);
  mu_tcp_server_set_message_callback(s, echo, NULL);
  return s;
}

/* ---- the client ----------------------------------------------------------- */

static void on_client_connection(mu_tcp_connection_t *conn, void *arg) {
  (void)arg;
  if (mu_tcp_connection_connected(conn)) {
    g.up++;
    g.got_len = 0;
    char msg[32];
    snprintf(msg, sizeof msg, "ping-%d", g.up);
    CHECK_EQ(mu_tcp_connection_send_str(conn, msg), 0);
  } else {
    g.down++;
  }
}

static void on_client_message(mu_tcp_connection_t *conn, mu_buffer_t *buf,
                              mu_timestamp_t t, void *arg) {
  (void)conn;
  (void)t;
  (void)arg;
  size_t room = sizeof g.got - 1 - g.got_len;
  g.got_len += mu_buffer_retrieve_into(buf, g.got + g.got_len, room);
  g.got[g.got_len] = '\0';
  char want[32];
  snprintf(want, sizeof want, "ping-%d", g.up);
  if (strcmp(g.got, want) == 0)
    g.echoes++;
}

static bool first_echo(void *arg) {
  (void)arg;
  return g.up == 1 && g.echoes == 1;
}

static bool down_and_refused(void *arg) {
  (void)arg;
  return g.down == 1 && mu_tcp_client_failed_attempts(g.client) >= 2;
}

static bool second_echo(void *arg) {
  (void)arg;
  return g.up == 2 && g.echoes == 2;
}

static bool third_echo(void *arg) {
  (void)arg;
  return g.up == 3 && g.echoes == 3;
}

static bool client_down(void *arg) {
  (void)arg;
  return g.down == 2;
}

int main(void) {
  signal(SIGPIPE, SIG_DFL);
  test_time_limit(60);
  mu_event_loop_t *loop = mu_event_loop_new();
  CHECK(loop != NULL);

  mu_tcp_server_t *first = echo_server(loop, 0, 1);
  mu_inet_address_t addr;
  CHECK_EQ(mu_tcp_server_listen_address(first, &addr), 0);
  uint16_t port = mu_inet_address_port(&addr);
  mu_tcp_server_t *second = echo_server(loop, port, 0); /* bound, not listening */
  CHECK_EQ(mu_tcp_server_start(first), 0);

  g.client = mu_tcp_client_new(loop, &addr, "Reconnect");
  CHECK(g.client != NULL);
  mu_tcp_client_enable_retry(g.client);
  CHECK(mu_tcp_client_retry(g.client));
  mu_tcp_client_set_retry_delays(g.client, 0.05, 0.2);
  mu_tcp_client_set_connection_callback(g.client, on_client_connection, NULL);
  mu_tcp_client_set_message_callback(g.client, on_client_message, NULL);
  mu_tcp_client_connect(g.client);

  CHECK(tt_loop_run_until(loop, first_echo, NULL, 10.0));
  CHECK_EQ(mu_tcp_client_failed_attempts(g.client), 0);
  mu_tcp_connection_t *c1 = mu_tcp_client_connection_ref(g.client);
  CHECK(c1 != NULL);

  /* The server goes away: the client's connection goes down, reconnects are
   * refused (nobody listens), and it keeps trying. */
  mu_tcp_server_free(first);
  CHECK(tt_loop_run_until(loop, down_and_refused, NULL, 10.0));
  CHECK_EQ(g.up, 1);
  CHECK(mu_tcp_connection_disconnected(c1));
  mu_tcp_connection_unref(c1);
  mu_tcp_connection_t *none = mu_tcp_client_connection_ref(g.client);
  CHECK(none == NULL);

  /* A new server on the same port: the client is back without being asked. */
  CHECK_EQ(mu_tcp_server_start(second), 0);
  CHECK(tt_loop_run_until(loop, second_echo, NULL, 10.0));
  mu_tcp_connection_t *c2 = mu_tcp_client_connection_ref(g.client);
  CHECK(c2 != NULL);
  CHECK(mu_tcp_connection_connected(c2));
  mu_inet_address_t peer = *mu_tcp_connection_peer_address(c2);
  CHECK_EQ(mu_inet_address_port(&peer), port);
  mu_tcp_connection_unref(c2);
  printf("reconnected after %d refused attempts\n",
         mu_tcp_client_failed_attempts(g.client));

  /* disconnect() ends it for good: no reconnect after this close. */
  mu_tcp_client_disconnect(g.client);
  CHECK(tt_loop_run_until(loop, client_down, NULL, 10.0));
  tt_loop_run_for(loop, 0.3); /* longer than the retry delay */
  CHECK_EQ(g.up, 2);
  CHECK_EQ(mu_tcp_server_connection_count(second), 0);

  /* ... until connect() is called again. */
  mu_tcp_client_connect(g.client);
  CHECK(tt_loop_run_until(loop, third_echo, NULL, 10.0));
  CHECK_EQ(mu_tcp_server_connection_count(second), 1);

  mu_tcp_client_free(g.client);
  mu_tcp_server_free(second);
  mu_event_loop_free(loop);
  CHECK_EQ(g.up, 3);
  CHECK_EQ(g.down, 3); /* the last one when the client was freed */
  TEST_PASS("tcp_client_reconnect");
}
