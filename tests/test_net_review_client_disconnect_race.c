/* TcpClient disconnect() from another thread while the loop is turning a
 * finished connect into a connection. tcp_client.h: disconnect() "half-closes
 * the connection once its output is sent, and stops connecting: an attempt in
 * progress ends". disconnect() read the client's connection (none yet), and
 * the loop, which had already seen connect wanted, then registered and
 * established the new connection: it stayed up for good, disconnect() lost.
 *
 * The interleaving is forced, not hoped for: the library logs (DEBUG) when it
 * creates the connection object, in the loop thread, after the "still
 * wanted?" check and before the connection is registered. The test's log
 * sink holds the loop thread right there while the main thread calls
 * disconnect(), then lets it go. Then the connection must go down (the echo
 * server closes once it sees our half-close); bounded wait. */
#include "cmuduo/cmuduo.h"
#include "tcp_test_util.h"
#include "test_util.h"

static mu_countdown_latch_t g_at_window; /* the loop thread is in the window */
static mu_countdown_latch_t g_go_on;     /* disconnect() has returned */
static _Atomic bool g_armed;
static _Atomic int g_up, g_down;

static void log_sink(const char *line, size_t len, void *arg) {
  (void)arg;
  bool ours = memmem(line, len, "Racer-", 6) != NULL;
  /* Our lines name the connection as mu_tcp_connection_name does,
   * "Racer-ip:port#N": the prefix already ends in '#'. */
  if (ours && memmem(line, len, "##", 2) != NULL) {
    fwrite(line, 1, len, stderr);
    CHECK(!"a doubled '#' in the connection's name");
  }
  if (ours && memmem(line, len, "created", 7) != NULL &&
      atomic_exchange(&g_armed, false)) {
    mu_countdown_latch_count_down(&g_at_window);
    mu_countdown_latch_wait(&g_go_on); /* the main thread calls disconnect() */
  }
  if (ours || memmem(line, len, " DEBUG ", 7) == NULL)
    fwrite(line, 1, len, stderr);
}

static void on_connection(mu_tcp_connection_t *conn, void *arg) {
  (void)arg;
  if (mu_tcp_connection_connected(conn)) {
    atomic_fetch_add(&g_up, 1);
  } else {
    atomic_fetch_add(&g_down, 1);
  }
}

typedef struct client_ctx {
  mu_event_loop_t *loop;
  uint16_t port;
  mu_tcp_client_t *client;
} client_ctx_t;

static void client_new_in_loop(void *p) {
  client_ctx_t *c = p;
  mu_inet_address_t addr = mu_inet_address_loopback(c->port);
  c->client = mu_tcp_client_new(c->loop, &addr, "Racer");
  CHECK(c->client != NULL);
  mu_tcp_client_set_connection_callback(c->client, on_connection, NULL);
}

static void client_free_in_loop(void *p) {
  client_ctx_t *c = p;
  mu_tcp_client_free(c->client);
  c->client = NULL;
}

int main(void) {
  tt_init("net_review_client_disconnect_race", 60);
  mu_countdown_latch_init(&g_at_window, 1);
  mu_countdown_latch_init(&g_go_on, 1);
  tt_server_t s;
  tt_server_start(&s, "Echo", 0, NULL, NULL);

  mu_event_loop_thread_t *thread = mu_event_loop_thread_new(NULL, NULL, "client");
  CHECK(thread != NULL);
  client_ctx_t c = {mu_event_loop_thread_start_loop(thread), s.port, NULL};
  CHECK(c.loop != NULL);
  tt_run_sync(c.loop, client_new_in_loop, &c);

  mu_log_set_output(log_sink, NULL);
  mu_log_set_level(MU_LOG_LEVEL_DEBUG);
  atomic_store(&g_armed, true);
  mu_tcp_client_connect(c.client); /* from this thread, a foreign one */
  mu_countdown_latch_wait(&g_at_window);
  mu_tcp_client_disconnect(c.client); /* the connect has finished; no connection yet */
  mu_countdown_latch_count_down(&g_go_on);
  mu_log_set_level(MU_LOG_LEVEL_INFO);

  double deadline = tt_now() + 20.0;
  while (atomic_load(&g_down) == 0 && tt_now() < deadline)
    tt_sleep_ms(5);
  printf("after disconnect(): up %d down %d\n", atomic_load(&g_up), atomic_load(&g_down));
  /* Brought up or not, the connection must not outlive disconnect(). */
  CHECK(atomic_load(&g_up) == atomic_load(&g_down));
  CHECK(tt_server_wait_connections(&s, 0, 20.0) == 0);

  tt_run_sync(c.loop, client_free_in_loop, &c);
  mu_event_loop_thread_free(thread);
  tt_server_stop(&s);
  mu_log_set_output(NULL, NULL);
  mu_countdown_latch_destroy(&g_at_window);
  mu_countdown_latch_destroy(&g_go_on);
  TEST_PASS("net_review_client_disconnect_race");
}
