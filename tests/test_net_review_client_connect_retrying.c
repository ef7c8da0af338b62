/* connect() called again while the client waits to retry a refused connect:
 * the header promises it is harmless (connect "changes nothing while
 * connected" and is thread-safe at any time), and free() promises that
 * nothing of the client fires afterwards. The connector must keep one retry
 * timer, not start a second retry chain whose timer it has forgotten: stop()
 * and free() could not cancel that one, and it would fire on the freed
 * connector.
 *
 * Deterministic: every step runs in the test's own loop thread, and the
 * forgotten timer, if any, is due before the timer that ends the run (timers
 * fire in deadline order). A write through the freed connector is caught by
 * the quarantining allocator in every build (and the attempt count tells the
 * same story before the free). */
#include "cmuduo/cmuduo.h"
#include "net_review_quarantine.h"
#include "tcp_test_util.h"
#include "test_util.h"

static mu_event_loop_t *g_loop;
static mu_tcp_client_t *g_client;

/* Bound to 127.0.0.1:<ephemeral> and never listening: connects are refused,
 * and nobody else can take the port meanwhile. */
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

static int g_want_failed;

static bool failed_enough(void *arg) {
  (void)arg;
  return mu_tcp_client_failed_attempts(g_client) >= g_want_failed;
}

/* Runs the loop until the client has failed `n` attempts in all. */
static void wait_failed(int n) {
  g_want_failed = n;
  CHECK(tt_loop_run_until(g_loop, failed_enough, NULL, 20.0));
}

/* The retry delay: long enough that the loop thread always gets to the second
 * connect() before the first retry is due, even under a sanitizer. */
#define DELAY 1.0

static void scenario(bool free_client) {
  uint16_t port;
  int blocker = refusing_port(&port);
  mu_inet_address_t addr = mu_inet_address_loopback(port);
  g_client = mu_tcp_client_new(g_loop, &addr, "Retrying");
  CHECK(g_client != NULL);
  CHECK_EQ(mu_tcp_client_set_retry_delays(g_client, DELAY, DELAY), 0);

  mu_tcp_client_connect(g_client); /* refused: a retry is due in DELAY */
  wait_failed(1);
  double first_retry_due = tt_now() + DELAY;
  /* Again, while that retry waits: at most one more attempt now, and one retry
   * timer from here on. */
  mu_tcp_client_connect(g_client);
  wait_failed(2);

  if (free_client) {
    mu_tcp_client_free(g_client); /* must cancel every timer of the connector */
    g_client = NULL;
    /* Past both retry times: a forgotten timer fires on the freed connector. */
    tt_loop_run_for(g_loop, 2 * DELAY + 0.5);
  } else {
    /* One retry chain: each retry time brings one attempt. Two chains bring
     * two per period; stop() then cancels only one of them. */
    mu_tcp_client_stop(g_client);
    int failed = mu_tcp_client_failed_attempts(g_client);
    tt_loop_run_for(g_loop, 2 * DELAY + 0.5);
    CHECK(tt_now() > first_retry_due);
    /* stop() keeps every retry from connecting: no attempt after it. */
    CHECK_EQ(mu_tcp_client_failed_attempts(g_client), failed);
    mu_tcp_client_free(g_client);
    g_client = NULL;
    tt_loop_run_for(g_loop, 0.05);
  }
  close(blocker);
}

int main(void) {
  nr_quarantine_install();
  tt_init("net_review_client_connect_retrying", 120);
  g_loop = mu_event_loop_new();
  CHECK(g_loop != NULL);
  scenario(false);
  printf("ok: stop after connect() during a retry wait\n");
  scenario(true);
  printf("ok: free after connect() during a retry wait (loop ran past the retries)\n");
  mu_event_loop_free(g_loop);
  CHECK_EQ(nr_quarantine_check(), 0);
  TEST_PASS("net_review_client_connect_retrying");
}
