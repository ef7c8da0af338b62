/* The connector's connect timeout: a connect that gets no answer is abandoned
 * after the timeout, its socket closed, and retried; when the peer can answer
 * again, the next attempt connects.
 *
 * "No answer" on 127.0.0.1: a listener with backlog 0 that never accepts. Once
 * its accept queue is full (checked with TCP_INFO, not with a timer), Linux
 * drops further SYNs, so a connect stays in SYN_SENT: the kernel itself would
 * only give up after its SYN retries, i.e. minutes. */
#include <fcntl.h>
#include <stdatomic.h>

#include "cmuduo/cmuduo.h"
#include "tcp_test_util.h"
#include "test_util.h"

enum { k_max_fillers = 16, k_want_failures = 3 };
static const double k_timeout = 0.3;

typedef struct state {
  mu_tcp_client_t *client;
  int up;
  int down;
  tt_log_counter_t log;
} state_t;

static state_t g;

/* ---- a listener that cannot take more connections ----------------------- */

/* For a listening socket TCP_INFO reports the accept queue: tcpi_unacked is its
 * length, tcpi_sacked the backlog. */
static bool accept_queue_full(int lfd) {
  struct tcp_info ti;
  socklen_t len = sizeof ti;
  CHECK(getsockopt(lfd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0);
  return ti.tcpi_unacked > ti.tcpi_sacked;
}

static int full_listener(uint16_t *port, int *fillers, int *nfillers) {
  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CHECK(lfd >= 0);
  struct sockaddr_in sa = {.sin_family = AF_INET};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  CHECK(bind(lfd, (struct sockaddr *)&sa, sizeof sa) == 0);
  CHECK(listen(lfd, 0) == 0);
  socklen_t len = sizeof sa;
  CHECK(getsockname(lfd, (struct sockaddr *)&sa, &len) == 0);
  *port = ntohs(sa.sin_port);
  *nfillers = 0;
  while (!accept_queue_full(lfd)) {
    CHECK(*nfillers < k_max_fillers);
    /* Blocking connect: returns once the handshake completes into the queue. */
    fillers[(*nfillers)++] = tt_connect_timeout(*port, 10.0, 0);
  }
  return lfd;
}

/* ---- the client ----------------------------------------------------------- */

static void on_connection(mu_tcp_connection_t *conn, void *arg) {
  (void)arg;
  if (mu_tcp_connection_connected(conn)) {
    g.up++;
  } else {
    g.down++;
  }
}

static bool failed_enough(void *arg) {
  (void)arg;
  return mu_tcp_client_failed_attempts(g.client) >= k_want_failures;
}

static bool connected(void *arg) {
  (void)arg;
  return g.up == 1;
}

static bool disconnected(void *arg) {
  (void)arg;
  return g.down == 1;
}

int main(void) {
  signal(SIGPIPE, SIG_DFL);
  test_time_limit(60);
  mu_event_loop_t *loop = mu_event_loop_new();
  CHECK(loop != NULL);
  uint16_t port;
  int fillers[k_max_fillers];
  int nfillers;
  int lfd = full_listener(&port, fillers, &nfillers);
  printf("accept queue full after %d connections\n", nfillers);

  mu_inet_address_t addr = mu_inet_address_loopback(port);
  g.client = mu_tcp_client_new(loop, &addr, "Timeout");
  CHECK(g.client != NULL);
  mu_tcp_client_set_connect_timeout(g.client, k_timeout);
  mu_tcp_client_set_retry_delays(g.client, 0.05, 0.1);
  mu_tcp_client_set_connection_callback(g.client, on_connection, NULL);
  tt_log_capture(&g.log, "connect timed out");
  int fds_before = tt_count_open_fds();

  double t0 = tt_now();
  mu_tcp_client_connect(g.client);
  CHECK(tt_loop_run_until(loop, failed_enough, NULL, 20.0));
  double elapsed = tt_now() - t0;
  int failed = mu_tcp_client_failed_attempts(g.client);
  printf("%d attempts timed out in %.3f s\n", failed, elapsed);
  CHECK_EQ(g.up, 0);
  /* Each failure was the timeout, not a refusal: never sooner than it. */
  CHECK_EQ(atomic_load(&g.log.hits), failed);
  CHECK(elapsed >= k_want_failures * k_timeout);
  /* Abandoned sockets are closed: at most the attempt in flight is open. */
  CHECK(tt_count_open_fds() <= fds_before + 1);

  /* Make room in the accept queue: the next attempt's SYN is answered. */
  int taken = accept(lfd, NULL, NULL);
  CHECK(taken >= 0);
  CHECK(tt_loop_run_until(loop, connected, NULL, 20.0));
  mu_tcp_connection_t *conn = mu_tcp_client_connection_ref(g.client);
  CHECK(conn != NULL);
  CHECK_EQ(mu_inet_address_port(mu_tcp_connection_peer_address(conn)), port);
  mu_tcp_connection_unref(conn);

  /* The listener has not accepted it, but closing the listener resets it. */
  close(lfd);
  CHECK(tt_loop_run_until(loop, disconnected, NULL, 20.0));
  tt_log_restore();
  mu_tcp_client_free(g.client);
  mu_event_loop_free(loop);
  close(taken);
  for (int i = 0; i < nfillers; ++i)
    close(fillers[i]);
  CHECK_EQ(g.up, 1);
  CHECK_EQ(g.down, 1);
  TEST_PASS("tcp_connect_timeout");
}
