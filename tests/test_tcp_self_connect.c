/* Self-connect: a client connecting to 127.0.0.1:P from the ephemeral port P
 * meets its own SYN and is "connected" to itself (TCP simultaneous open). The
 * connector must refuse that connection and retry instead of delivering it.
 *
 * 1. mu_sockets_is_self_connect on a socket made self-connected by hand (bound
 *    to 127.0.0.1:P, then connected to 127.0.0.1:P), and on ordinary sockets.
 * 2. The connector's path, forced in a child process inside a network
 *    namespace of its own whose ephemeral port range is the single port P: the
 *    kernel then has no choice but to self-connect. (Skipped, and said so, where
 *    namespaces are not permitted.) */
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/ioctl.h>

#include "cmuduo/cmuduo.h"
#include "net/sockets_ops.h"
#include "tcp_test_util.h"
#include "test_util.h"

enum { k_skip_status = 77 };

/* ---- 1. the detection function ------------------------------------------- */

static int self_connected_socket(void) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CHECK(fd >= 0);
  tt_set_timeouts(fd, 10.0);
  struct sockaddr_in sa = {.sin_family = AF_INET};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  CHECK(bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
  socklen_t len = sizeof sa;
  CHECK(getsockname(fd, (struct sockaddr *)&sa, &len) == 0);
  CHECK(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
  return fd;
}

static void test_detection(void) {
  int self = self_connected_socket();
  CHECK(mu_sockets_is_self_connect(self));
  /* It really is talking to itself. */
  tt_write_all(self, "me", 2);
  char buf[2];
  tt_read_exactly(self, buf, 2);
  CHECK(memcmp(buf, "me", 2) == 0);
  close(self);

  /* An ordinary connection, seen from both ends, is not. */
  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CHECK(lfd >= 0);
  struct sockaddr_in sa = {.sin_family = AF_INET};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  CHECK(bind(lfd, (struct sockaddr *)&sa, sizeof sa) == 0);
  CHECK(listen(lfd, 4) == 0);
  socklen_t len = sizeof sa;
  CHECK(getsockname(lfd, (struct sockaddr *)&sa, &len) == 0);
  int client = tt_connect_timeout(ntohs(sa.sin_port), 10.0, 0);
  int server = accept(lfd, NULL, NULL);
  CHECK(server >= 0);
  CHECK(!mu_sockets_is_self_connect(client));
  CHECK(!mu_sockets_is_self_connect(server));
  /* Neither is a socket without a peer. */
  CHECK(!mu_sockets_is_self_connect(lfd));
  int fresh = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CHECK(fresh >= 0);
  CHECK(!mu_sockets_is_self_connect(fresh));
  close(fresh);
  close(client);
  close(server);
  close(lfd);
  printf("ok: detection\n");
}

/* ---- 2. the connector, in a namespace of our own -------------------------- */

static const uint16_t k_port = 40000; /* any: nothing else lives in the namespace */

static void bring_loopback_up(void) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  CHECK(fd >= 0);
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "lo");
  CHECK(ioctl(fd, SIOCGIFFLAGS, &ifr) == 0);
  ifr.ifr_flags |= IFF_UP;
  CHECK(ioctl(fd, SIOCSIFFLAGS, &ifr) == 0);
  close(fd);
}

/* Per namespace: changes nothing outside ours. */
static void set_ephemeral_range(uint16_t lo, uint16_t hi) {
  int fd = open("/proc/sys/net/ipv4/ip_local_port_range", O_WRONLY | O_CLOEXEC);
  CHECK(fd >= 0);
  char text[32];
  int n = snprintf(text, sizeof text, "%u %u\n", (unsigned)lo, (unsigned)hi);
  CHECK(write(fd, text, (size_t)n) == n);
  close(fd);
}

typedef struct ns_state {
  mu_tcp_client_t *client;
  int up;
  int down;
  tt_log_counter_t log;
} ns_state_t;

static ns_state_t g;

static void on_connection(mu_tcp_connection_t *conn, void *arg) {
  (void)arg;
  if (mu_tcp_connection_connected(conn)) {
    mu_inet_address_t local;
    CHECK_EQ(mu_tcp_connection_local_address(conn, &local), 0);
    /* A delivered connection is never the self-connected one. */
    CHECK(!mu_inet_address_equal(&local, mu_tcp_connection_peer_address(conn)));
    g.up++;
  } else {
    g.down++;
  }
}

static bool refused_twice(void *arg) {
  (void)arg;
  return atomic_load(&g.log.hits) >= 2 || g.up > 1;
}

static bool connected(void *arg) {
  (void)arg;
  return g.up == 1;
}

static bool disconnected(void *arg) {
  (void)arg;
  return g.down == 1;
}

/* Once the first source port is taken by TIME_WAIT the kernel has no port to
 * give for about a second (EADDRNOTAVAIL, also retried), then reuses it and
 * self-connects again. */
static void connector_in_namespace(void *arg) {
  (void)arg;
  if (unshare(CLONE_NEWNET) != 0) {
    printf("no network namespace (%s): connector part skipped\n", strerror(errno));
    fflush(NULL);
    _exit(k_skip_status);
  }
  bring_loopback_up();
  mu_event_loop_t *loop = mu_event_loop_new();
  CHECK(loop != NULL);
  mu_inet_address_t addr = mu_inet_address_loopback(k_port);
  g.client = mu_tcp_client_new(loop, &addr, "Self");
  CHECK(g.client != NULL);
  mu_tcp_client_set_retry_delays(g.client, 0.02, 0.05);
  mu_tcp_client_set_connection_callback(g.client, on_connection, NULL);
  tt_log_capture(&g.log, "self connect");

  /* The same client connects normally from another port: the refusal below
   * is about the self-connection, not the address. The client closes first,
   * so no TIME_WAIT is left on k_port. */
  set_ephemeral_range(k_port + 1, k_port + 1);
  mu_tcp_server_t *server = mu_tcp_server_new(loop, &addr, "Target", 0);
  CHECK(server != NULL);
  CHECK_EQ(mu_tcp_server_start(server), 0);
  mu_tcp_client_connect(g.client);
  CHECK(tt_loop_run_until(loop, connected, NULL, 20.0));
  mu_tcp_client_disconnect(g.client);
  CHECK(tt_loop_run_until(loop, disconnected, NULL, 20.0));
  mu_tcp_server_free(server);
  int failed_before = mu_tcp_client_failed_attempts(g.client);

  /* Only k_port is left to connect from, and nobody listens there. */
  set_ephemeral_range(k_port, k_port);
  mu_tcp_client_connect(g.client);
  CHECK(tt_loop_run_until(loop, refused_twice, NULL, 20.0));
  CHECK_EQ(g.up, 1);
  int failed = mu_tcp_client_failed_attempts(g.client) - failed_before;
  CHECK(failed >= 2);
  printf("self connects refused: %d, failed attempts: %d\n", atomic_load(&g.log.hits),
         failed);
  tt_log_restore();
  mu_tcp_client_free(g.client);
  mu_event_loop_free(loop);
  CHECK_EQ(g.down, 1);
  printf("ok: connector refuses a self-connection\n");
}

static void test_connector(void) {
  char out[65536];
  int status = test_run_in_child(connector_in_namespace, NULL, out, sizeof out);
  fputs(out, stdout);
  if (WIFEXITED(status) && WEXITSTATUS(status) == k_skip_status)
    return;
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

int main(void) {
  signal(SIGPIPE, SIG_DFL);
  test_time_limit(60);
  test_connector(); /* first: fork while there is a single thread */
  test_detection();
  TEST_PASS("tcp_self_connect");
}
