/* Argument checks and names a new user trips on: retry delays that would spin
 * are refused, and a server bound to port 0 names its connections after the
 * port the kernel chose, not ":0". */
#include <math.h>
#include <string.h>

#include "cmuduo/cmuduo.h"
#include "tcp_test_util.h"
#include "test_util.h"

static void check_retry_delays(mu_event_loop_t *loop) {
  mu_inet_address_t addr = mu_inet_address_loopback(9);
  mu_tcp_client_t *c = mu_tcp_client_new(loop, &addr, "Delays");
  CHECK(c != NULL);
  CHECK_EQ(mu_tcp_client_set_retry_delays(c, 0.0, 1.0), -EINVAL);
  CHECK_EQ(mu_tcp_client_set_retry_delays(c, -1.0, 1.0), -EINVAL);
  CHECK_EQ(mu_tcp_client_set_retry_delays(c, 2.0, 1.0), -EINVAL);
  CHECK_EQ(mu_tcp_client_set_retry_delays(c, NAN, 1.0), -EINVAL);
  CHECK_EQ(mu_tcp_client_set_retry_delays(c, 0.5, INFINITY), -EINVAL);
  CHECK_EQ(mu_tcp_client_set_retry_delays(c, 0.001, 0.001), 0);
  CHECK_EQ(mu_tcp_client_set_retry_delays(c, 0.5, 30.0), 0);
  mu_tcp_client_free(c);
}

typedef struct names {
  mu_event_loop_t *loop;
  char name[256];
} names_t;

static void on_connection(mu_tcp_connection_t *conn, void *arg) {
  names_t *n = arg;
  if (mu_tcp_connection_connected(conn)) {
    snprintf(n->name, sizeof n->name, "%s", mu_tcp_connection_name(conn));
    mu_event_loop_quit(n->loop);
  }
}

static void check_names(mu_event_loop_t *loop) {
  mu_inet_address_t any = mu_inet_address_loopback(0);
  mu_tcp_server_t *s = mu_tcp_server_new(loop, &any, "Named", 0);
  CHECK(s != NULL);
  names_t n = {loop, ""};
  mu_tcp_server_set_connection_callback(s, on_connection, &n);
  CHECK_EQ(mu_tcp_server_start(s), 0);
  mu_inet_address_t bound;
  CHECK_EQ(mu_tcp_server_listen_address(s, &bound), 0);
  uint16_t port = mu_inet_address_port(&bound);
  CHECK(port != 0);
  int fd = tt_connect(port);
  mu_event_loop_run_after(loop, 10.0, tt_loop_quit,
                          loop); /* bound: the test fails below */
  mu_event_loop_loop(loop);
  char want[64];
  snprintf(want, sizeof want, "Named-127.0.0.1:%u#1", (unsigned)port);
  CHECK_STREQ(n.name, want);
  close(fd);
  mu_tcp_server_free(s);
}

int main(void) {
  tt_init("tcp_api_checks", 60);
  mu_event_loop_t *loop = mu_event_loop_new();
  CHECK(loop != NULL);
  check_retry_delays(loop);
  check_names(loop);
  mu_event_loop_free(loop);
  TEST_PASS("tcp_api_checks");
}
