/* Out of descriptors: with RLIMIT_NOFILE lowered, a server runs out of fds
 * while a peer keeps connecting. The level-triggered listener must not spin the
 * loop (iterations over one second stay bounded while a repeating timer keeps
 * firing), the exhaustion is logged once, and once descriptors are freed the
 * server accepts the connections that waited in the backlog.
 *
 * The peer is a child process, forked before the limit is lowered, so its own
 * sockets do not count against the server's budget. */
#include <stdatomic.h>
#include <sys/resource.h>

#include "cmuduo/cmuduo.h"
#include "tcp_test_util.h"
#include "test_util.h"

enum {
  k_peers = 12,     /* connections the child makes */
  k_server_fds = 8, /* descriptors left to the server: fewer than k_peers */
  k_max_iterations = 200,
};

static const double k_tick = 0.02;

/* ---- the child: connects, then closes on command ---------------------- */

static void child_main(int cmd_fd, int status_fd) {
  test_time_limit(60);
  uint16_t port;
  if (read(cmd_fd, &port, sizeof port) != (ssize_t)sizeof port)
    _exit(2);
  int fds[k_peers];
  for (int i = 0; i < k_peers; ++i) {
    /* Completes in the kernel's backlog whether or not the server accepts. */
    fds[i] = tt_connect_timeout(port, 10.0, 0);
  }
  char c = 'c';
  if (write(status_fd, &c, 1) != 1)
    _exit(3);
  unsigned char n;
  if (read(cmd_fd, &n, 1) != 1)
    _exit(4);
  for (int i = 0; i < n && i < k_peers; ++i)
    close(fds[i]);
  c = 'd';
  if (write(status_fd, &c, 1) != 1)
    _exit(5);
  if (read(cmd_fd, &c, 1) < 0)
    _exit(6); /* 'q' or EOF: close the rest */
  for (int i = n; i < k_peers; ++i)
    close(fds[i]);
  _exit(0);
}

/* ---- the server side ------------------------------------------------------ */

typedef struct state {
  mu_tcp_server_t *server;
  int status_fd;
  char last_status;
  _Atomic int up;
  _Atomic int down;
  int ticks;
  tt_log_counter_t log;
} state_t;

static state_t g;

static void on_connection(mu_tcp_connection_t *conn, void *arg) {
  (void)arg;
  if (mu_tcp_connection_connected(conn)) {
    atomic_fetch_add(&g.up, 1);
  } else {
    atomic_fetch_add(&g.down, 1);
  }
}

static bool exhausted(void *arg) {
  (void)arg;
  tt_peer_status(g.status_fd, &g.last_status);
  return g.last_status == 'c' && atomic_load(&g.log.hits) >= 1 && atomic_load(&g.up) >= 1;
}

static bool all_accepted(void *arg) {
  (void)arg;
  tt_peer_status(g.status_fd, &g.last_status);
  return g.last_status == 'd' && atomic_load(&g.up) == k_peers;
}

static bool all_closed(void *arg) {
  (void)arg;
  return atomic_load(&g.down) == k_peers && mu_tcp_server_connection_count(g.server) == 0;
}

static void send_byte(int fd, unsigned char c) {
  CHECK(write(fd, &c, 1) == 1);
}

int main(void) {
  signal(SIGPIPE, SIG_DFL);
  test_time_limit(120);
  int cmd_fd;
  pid_t child = tt_fork_peer(child_main, &cmd_fd, &g.status_fd);

  mu_event_loop_t *loop = mu_event_loop_new();
  CHECK(loop != NULL);
  uint16_t port;
  g.server = tt_server_new_loopback(loop, 0, "Emfile", &port);
  mu_tcp_server_set_connection_callback(g.server, on_connection, NULL);
  CHECK_EQ(mu_tcp_server_start(g.server), 0);
  mu_timer_id_t ticker = mu_event_loop_run_every(loop, k_tick, tt_count_tick, &g.ticks);
  CHECK(mu_timer_id_valid(ticker));
  tt_log_capture(&g.log, "pausing the listener");

  struct rlimit saved;
  tt_lower_fd_limit(&saved, k_server_fds);
  CHECK(write(cmd_fd, &port, sizeof port) == (ssize_t)sizeof port);

  /* 1. The server fills its budget and hits EMFILE with peers still waiting. */
  CHECK(tt_loop_run_until(loop, exhausted, NULL, 20.0));
  tt_loop_run_for(loop, 0.05); /* settle: nothing more can be accepted */
  int accepted = atomic_load(&g.up);
  printf("accepted %d of %d before EMFILE\n", accepted, k_peers);
  CHECK(accepted < k_peers);
  CHECK(accepted * 2 >= k_peers); /* the rest fits once these are closed */

  /* 2. One second of exhaustion: the loop sleeps between resume attempts. */
  int64_t it0 = mu_event_loop_iteration(loop);
  int ticks0 = g.ticks;
  tt_loop_run_for(loop, 1.0);
  int64_t iterations = mu_event_loop_iteration(loop) - it0;
  int ticks = g.ticks - ticks0;
  printf("during 1 s of EMFILE: %lld loop iterations, %d timer ticks, %d log lines\n",
         (long long)iterations, ticks, atomic_load(&g.log.hits));
  CHECK(iterations < k_max_iterations);
  CHECK(ticks >= 10);                     /* 50 expected: the timer kept running */
  CHECK_EQ(atomic_load(&g.log.hits), 1);  /* logged once, not per retry */
  CHECK_EQ(atomic_load(&g.up), accepted); /* still out of descriptors */
  CHECK_EQ(atomic_load(&g.down), 0);

  /* 3. Free descriptors: the peers that waited in the backlog get in. */
  send_byte(cmd_fd, (unsigned char)accepted);
  CHECK(tt_loop_run_until(loop, all_accepted, NULL, 20.0));
  CHECK_EQ(atomic_load(&g.down), accepted);

  /* 4. Everyone leaves. */
  send_byte(cmd_fd, 'q');
  CHECK(tt_loop_run_until(loop, all_closed, NULL, 20.0));
  tt_peer_wait(child);

  CHECK(setrlimit(RLIMIT_NOFILE, &saved) == 0);
  tt_log_restore();
  mu_event_loop_cancel(loop, ticker);
  mu_tcp_server_free(g.server);
  mu_event_loop_free(loop);
  close(cmd_fd);
  close(g.status_fd);
  TEST_PASS("tcp_emfile");
}
