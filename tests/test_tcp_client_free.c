/* Freeing a TcpClient at every stage: while a retry is pending, in the middle
 * of a connect, with a connect() queued from another thread, with an open
 * connection, and from its connection's down and up callbacks. Nothing may fire
 * afterwards (ASan would see a timer or channel of the freed connector), no
 * descriptor may stay open, and an open connection gets its down callback
 * exactly once while the server sees it close. */
#include <pthread.h>
#include <stdatomic.h>

#include "cmuduo/cmuduo.h"
#include "tcp_test_util.h"
#include "test_util.h"

typedef struct state {
  mu_event_loop_t *loop;
  mu_tcp_client_t *client;
  int up;
  int down;
  bool free_in_up;
  bool free_in_down;
  mu_tcp_connection_t *held;
  /* the server side */
  mu_tcp_server_t *server;
  int server_up;
  int server_down;
} state_t;

static state_t g;

static void on_client_connection(mu_tcp_connection_t *conn, void *arg) {
  (void)arg;
  if (mu_tcp_connection_connected(conn)) {
    g.up++;
    if (g.free_in_up) {
      mu_tcp_client_free(g.client); /* inside the connector's channel callback */
      g.client = NULL;
    }
    return;
  }
  g.down++;
  if (g.free_in_down) {
    mu_tcp_client_free(g.client);
    g.client = NULL;
  }
}

static void on_server_connection(mu_tcp_connection_t *conn, void *arg) {
  (void)arg;
  if (mu_tcp_connection_connected(conn)) {
    g.server_up++;
  } else {
    g.server_down++;
  }
}

static mu_tcp_client_t *new_client(uint16_t port) {
  mu_inet_address_t addr = mu_inet_address_loopback(port);
  mu_tcp_client_t *c = mu_tcp_client_new(g.loop, &addr, "FreeMe");
  CHECK(c != NULL);
  mu_tcp_client_set_connection_callback(c, on_client_connection, NULL);
  return c;
}

static void begin(void) {
  memset(&g, 0, sizeof g);
  g.loop = mu_event_loop_new();
  CHECK(g.loop != NULL);
}

static void end(const char *what, long blocks_before, int fds_before) {
  if (g.server != NULL)
    mu_tcp_server_free(g.server);
  mu_event_loop_free(g.loop);
  CHECK_EQ(tt_live_blocks(), blocks_before);
  CHECK_EQ(tt_count_open_fds(), fds_before);
  printf("ok: %s\n", what);
}

/* A port that refuses connections and that nobody else can take meanwhile:
 * bound, never listening. */
static int refusing_port(uint16_t *port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CHECK(fd >= 0);
  struct sockaddr_in sa = {.sin_family = AF_INET};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  CHECK(bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
  socklen_t len = sizeof sa;
  CHECK(getsockname(fd, (struct sockaddr *)&sa, &len) == 0);
  *port = ntohs(sa.sin_port);
  return fd;
}

static bool failed_once(void *arg) {
  (void)arg;
  return mu_tcp_client_failed_attempts(g.client) >= 1;
}

static void test_free_with_retry_pending(void) {
  long blocks = tt_live_blocks();
  int fds = tt_count_open_fds();
  begin();
  uint16_t port;
  int blocker = refusing_port(&port);
  g.client = new_client(port);
  mu_tcp_client_set_retry_delays(g.client, 0.1, 0.1);
  mu_tcp_client_connect(g.client);
  CHECK(tt_loop_run_until(g.loop, failed_once, NULL, 10.0));
  mu_tcp_client_free(g.client); /* the retry timer is pending */
  g.client = NULL;
  tt_loop_run_for(g.loop, 0.3); /* past the retry time */
  CHECK_EQ(g.up + g.down, 0);
  close(blocker);
  end("free with a retry pending", blocks, fds);
}

/* A listener with backlog 0 whose queue is full drops SYNs: a connect to it
 * stays in progress. */
static int full_listener(uint16_t *port, int *filler) {
  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CHECK(lfd >= 0);
  struct sockaddr_in sa = {.sin_family = AF_INET};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  CHECK(bind(lfd, (struct sockaddr *)&sa, sizeof sa) == 0);
  CHECK(listen(lfd, 0) == 0);
  socklen_t len = sizeof sa;
  CHECK(getsockname(lfd, (struct sockaddr *)&sa, &len) == 0);
  *port = ntohs(sa.sin_port);
  *filler = tt_connect_timeout(*port, 10.0, 0);
  struct tcp_info ti;
  len = sizeof ti;
  CHECK(getsockopt(lfd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0);
  CHECK(ti.tcpi_unacked > ti.tcpi_sacked); /* queue length > backlog: full */
  return lfd;
}

static void test_free_mid_connect(void) {
  long blocks = tt_live_blocks();
  int fds = tt_count_open_fds();
  begin();
  uint16_t port;
  int filler;
  int lfd = full_listener(&port, &filler);
  int fds_idle = tt_count_open_fds();
  g.client = new_client(port);
  mu_tcp_client_connect(g.client);
  tt_loop_run_for(g.loop, 0.1);
  CHECK_EQ(tt_count_open_fds(), fds_idle + 1); /* the connecting socket */
  CHECK_EQ(mu_tcp_client_failed_attempts(g.client), 0);
  mu_tcp_client_free(g.client);
  g.client = NULL;
  CHECK_EQ(tt_count_open_fds(), fds_idle); /* closed with the connector */
  tt_loop_run_for(g.loop, 0.1);
  CHECK_EQ(g.up + g.down, 0);
  close(filler);
  close(lfd);
  end("free in the middle of a connect", blocks, fds);
}

static void *connect_from_thread(void *client) {
  mu_tcp_client_connect(client);
  return NULL;
}

static void test_free_with_queued_connect(void) {
  long blocks = tt_live_blocks();
  int fds = tt_count_open_fds();
  begin();
  uint16_t port;
  g.server = tt_server_new_loopback(g.loop, 0, "Target", &port);
  mu_tcp_server_set_connection_callback(g.server, on_server_connection, NULL);
  CHECK_EQ(mu_tcp_server_start(g.server), 0);
  g.client = new_client(port);
  pthread_t t;
  CHECK(pthread_create(&t, NULL, connect_from_thread, g.client) == 0);
  CHECK(pthread_join(t, NULL) == 0);
  CHECK(mu_event_loop_queue_size(g.loop) >= 1); /* not run yet: the loop is idle */
  mu_tcp_client_free(g.client);
  g.client = NULL;
  tt_loop_run_for(g.loop, 0.2); /* the queued connect finds the client gone */
  CHECK_EQ(g.up + g.down, 0);
  CHECK_EQ(g.server_up, 0);
  end("free with a connect queued from another thread", blocks, fds);
}

static bool client_up(void *arg) {
  (void)arg;
  return g.up == 1 && g.server_up == 1;
}

static bool client_down(void *arg) {
  (void)arg;
  return g.down == 1;
}

static bool both_down(void *arg) {
  (void)arg;
  return g.down == 1 && g.server_down == 1;
}

static void test_free_with_connection(bool hold_ref) {
  long blocks = tt_live_blocks();
  int fds = tt_count_open_fds();
  begin();
  uint16_t port;
  g.server = tt_server_new_loopback(g.loop, 0, "Target", &port);
  mu_tcp_server_set_connection_callback(g.server, on_server_connection, NULL);
  CHECK_EQ(mu_tcp_server_start(g.server), 0);
  g.client = new_client(port);
  mu_tcp_client_connect(g.client);
  CHECK(tt_loop_run_until(g.loop, client_up, NULL, 10.0));
  mu_tcp_connection_t *conn = NULL;
  if (hold_ref) {
    conn = mu_tcp_client_connection_ref(g.client);
    CHECK(conn != NULL);
  }
  mu_tcp_client_free(g.client);
  g.client = NULL;
  CHECK_EQ(g.down, 0); /* the down callback runs in the loop, not inside free */
  if (hold_ref) {
    CHECK(tt_loop_run_until(g.loop, client_down, NULL, 10.0));
    CHECK(mu_tcp_connection_disconnected(conn));
    CHECK_EQ(mu_tcp_connection_send_str(conn, "late"), -ENOTCONN);
    mu_tcp_connection_unref(conn);
  }
  CHECK(tt_loop_run_until(g.loop, both_down, NULL, 10.0));
  tt_loop_run_for(g.loop, 0.02);
  CHECK_EQ(g.up, 1);
  CHECK_EQ(g.down, 1);
  end(hold_ref ? "free with an open connection, referenced"
               : "free with an open connection",
      blocks, fds);
}

static void force_close_all(mu_tcp_connection_t *conn, void *arg) {
  (void)arg;
  if (mu_tcp_connection_connected(conn)) {
    g.server_up++;
    mu_tcp_connection_force_close(conn); /* the client sees its connection drop */
  } else {
    g.server_down++;
  }
}

static bool client_gone(void *arg) {
  (void)arg;
  return g.client == NULL && g.server_down == 1;
}

static void test_free_in_down_callback(void) {
  long blocks = tt_live_blocks();
  int fds = tt_count_open_fds();
  begin();
  uint16_t port;
  g.server = tt_server_new_loopback(g.loop, 0, "Target", &port);
  mu_tcp_server_set_connection_callback(g.server, force_close_all, NULL);
  CHECK_EQ(mu_tcp_server_start(g.server), 0);
  g.client = new_client(port);
  mu_tcp_client_enable_retry(g.client); /* a reconnect must not outlive the free */
  mu_tcp_client_set_retry_delays(g.client, 0.01, 0.01);
  g.free_in_down = true;
  mu_tcp_client_connect(g.client);
  CHECK(tt_loop_run_until(g.loop, client_gone, NULL, 10.0));
  tt_loop_run_for(g.loop, 0.1);
  CHECK_EQ(g.up, 1);
  CHECK_EQ(g.down, 1);
  CHECK_EQ(g.server_up, 1); /* no reconnect */
  end("free in the connection's down callback", blocks, fds);
}

static bool freed_and_closed(void *arg) {
  (void)arg;
  return g.client == NULL && g.down == 1 && g.server_down == 1;
}

static void test_free_in_up_callback(void) {
  long blocks = tt_live_blocks();
  int fds = tt_count_open_fds();
  begin();
  uint16_t port;
  g.server = tt_server_new_loopback(g.loop, 0, "Target", &port);
  mu_tcp_server_set_connection_callback(g.server, on_server_connection, NULL);
  CHECK_EQ(mu_tcp_server_start(g.server), 0);
  g.client = new_client(port);
  g.free_in_up = true;
  mu_tcp_client_connect(g.client);
  CHECK(tt_loop_run_until(g.loop, freed_and_closed, NULL, 10.0));
  tt_loop_run_for(g.loop, 0.02);
  CHECK_EQ(g.up, 1);
  CHECK_EQ(g.down, 1);
  CHECK_EQ(g.server_up, 1);
  end("free in the connection's up callback", blocks, fds);
}

int main(void) {
  signal(SIGPIPE, SIG_DFL);
  test_time_limit(60);
  tt_count_allocations();
  test_free_with_retry_pending();
  test_free_mid_connect();
  test_free_with_queued_connect();
  test_free_with_connection(false);
  test_free_with_connection(true);
  test_free_in_down_callback();
  test_free_in_up_callback();
  TEST_PASS("tcp_client_free");
}
