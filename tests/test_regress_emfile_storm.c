/* Regression (classic reactor bug): an accept storm while the process is out
 * of descriptors, with several loops. A level-triggered listener that cannot
 * accept reports the same pending connection on every poll, so the loop spins
 * at 100% CPU; muduo's idle-descriptor trick closes the connection instead
 * (the client is dropped). cmuduo pauses the listener on a timer: nothing
 * spins, and nothing is dropped.
 *
 * A child process (forked before any thread, so its sockets do not count
 * against the server) connects 300 times at once, sends one byte on each
 * connection and waits for each echo. The server (4 I/O threads, its base loop
 * in this thread) gets a descriptor limit that leaves it room for 20
 * connections. Checked during 1 s of exhaustion: the base loop and every I/O
 * loop wake up a bounded number of times while a timer keeps firing, and the
 * exhaustion is logged once. Then the limit is restored: every one of the 300
 * connections is accepted (none was dropped while it waited in the backlog)
 * and echoes, spread over the I/O loops; then all close cleanly. */
#include "tcp_test_util.h"

#include <poll.h>

enum {
  k_peers = 300,
  k_server_fds = 20,
  k_io_threads = 4,
  k_max_iterations = 200, /* per loop per second of exhaustion */
};

/* ---- the child ---------------------------------------------------------- */

static void child_main(int cmd_fd, int status_fd) {
  test_time_limit(120);
  uint16_t port;
  if (read(cmd_fd, &port, sizeof port) != (ssize_t)sizeof port)
    _exit(2);
  static struct pollfd pfd[k_peers];
  for (int i = 0; i < k_peers; ++i) {
    pfd[i].fd = tt_connect_nonblocking(port);
    if (pfd[i].fd < 0)
      _exit(3);
    pfd[i].events = POLLOUT;
  }
  /* Connect, send one byte each, wait for each echo. */
  int echoed = 0;
  double deadline = tt_now() + 90;
  while (echoed < k_peers && tt_now() < deadline) {
    if (poll(pfd, k_peers, 1000) < 0 && errno != EINTR)
      _exit(4);
    for (int i = 0; i < k_peers; ++i) {
      if (pfd[i].revents & POLLOUT) {
        char b = (char)('a' + i % 26);
        if (send(pfd[i].fd, &b, 1, MSG_NOSIGNAL) != 1)
          _exit(5);
        pfd[i].events = POLLIN;
      } else if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR)) {
        char b;
        if (recv(pfd[i].fd, &b, 1, 0) != 1 || b != (char)('a' + i % 26))
          _exit(6); /* dropped or wrong */
        pfd[i].events = 0;
        echoed++;
      }
    }
  }
  unsigned char n = echoed == k_peers ? 'e' : 'x';
  if (write(status_fd, &n, 1) != 1)
    _exit(7);
  char c;
  if (read(cmd_fd, &c, 1) < 0) /* 'q' or end of file */
    _exit(8);
  for (int i = 0; i < k_peers; ++i)
    close(pfd[i].fd);
  _exit(echoed == k_peers ? 0 : 9);
}

/* ---- the server ----------------------------------------------------------- */

static struct {
  mu_tcp_server_t *server;
  mu_event_loop_t *io[k_io_threads];
  _Atomic int nio;
  tt_conn_counters_t counts;
  _Atomic int per_loop[k_io_threads];
  int status_fd;
  char status;
  int ticks;
  tt_log_counter_t log;
} g;

static void on_thread_init(mu_event_loop_t *loop, void *arg) {
  (void)arg;
  g.io[atomic_fetch_add(&g.nio, 1)] = loop;
}

static void on_connection(mu_tcp_connection_t *conn, void *arg) {
  (void)arg;
  tt_count_connection(conn, &g.counts);
  if (mu_tcp_connection_connected(conn)) {
    for (int i = 0; i < k_io_threads; ++i) {
      if (g.io[i] == mu_tcp_connection_get_loop(conn))
        atomic_fetch_add(&g.per_loop[i], 1);
    }
  }
}

static bool exhausted(void *arg) {
  (void)arg;
  return atomic_load(&g.log.hits) >= 1 && atomic_load(&g.counts.up) >= k_server_fds / 2;
}

static bool all_echoed(void *arg) {
  (void)arg;
  tt_peer_status(g.status_fd, &g.status);
  return g.status != 0;
}

static bool all_closed(void *arg) {
  (void)arg;
  return atomic_load(&g.counts.down) == k_peers &&
         mu_tcp_server_connection_count(g.server) == 0;
}

int main(void) {
  tt_init("regress_emfile_storm", 180);
  tt_raise_nofile(1024);
  int cmd_fd;
  pid_t child = tt_fork_peer(child_main, &cmd_fd, &g.status_fd);

  mu_event_loop_t *loop = mu_event_loop_new();
  CHECK(loop != NULL);
  uint16_t port;
  g.server = tt_server_new_loopback(loop, k_io_threads, "Storm", &port);
  mu_tcp_server_set_connection_callback(g.server, on_connection, NULL);
  mu_tcp_server_set_message_callback(g.server, tt_echo_on_message, NULL);
  mu_tcp_server_set_thread_init_callback(g.server, on_thread_init, NULL);
  CHECK_EQ(mu_tcp_server_start(g.server), 0);
  CHECK_EQ(atomic_load(&g.nio), k_io_threads);
  mu_timer_id_t ticker = mu_event_loop_run_every(loop, 0.02, tt_count_tick, &g.ticks);
  tt_log_capture(&g.log, "pausing the listener");

  struct rlimit saved;
  tt_lower_fd_limit(&saved, k_server_fds);
  CHECK(write(cmd_fd, &port, sizeof port) == (ssize_t)sizeof port);

  /* 1. The storm fills the budget; the rest wait in the backlog. */
  CHECK(tt_loop_run_until(loop, exhausted, NULL, 30));
  tt_loop_run_for(loop, 0.1);
  int accepted = atomic_load(&g.counts.up);
  printf("accepted %d of %d before EMFILE\n", accepted, k_peers);
  CHECK(accepted < k_peers);

  /* 2. One second out of descriptors: no loop spins. */
  int64_t base0 = mu_event_loop_iteration(loop), io0[k_io_threads];
  for (int i = 0; i < k_io_threads; ++i)
    io0[i] = mu_event_loop_iteration(g.io[i]);
  int ticks0 = g.ticks;
  tt_loop_run_for(loop, 1.0);
  int64_t base_it = mu_event_loop_iteration(loop) - base0;
  printf("1 s of EMFILE: base loop %lld iterations, %d timer ticks;", (long long)base_it,
         g.ticks - ticks0);
  CHECK(base_it < k_max_iterations);
  for (int i = 0; i < k_io_threads; ++i) {
    int64_t it = mu_event_loop_iteration(g.io[i]) - io0[i];
    printf(" io%d %lld", i, (long long)it);
    CHECK(it < k_max_iterations);
  }
  printf("; %d log lines\n", atomic_load(&g.log.hits));
  CHECK(g.ticks - ticks0 >= 10);
  CHECK_EQ(atomic_load(&g.log.hits), 1);
  CHECK_EQ(atomic_load(&g.counts.down), 0);

  /* 3. Descriptors back: every waiting connection gets in and echoes. */
  CHECK(setrlimit(RLIMIT_NOFILE, &saved) == 0);
  CHECK(tt_loop_run_until(loop, all_echoed, NULL, 60));
  CHECK_EQ(g.status, 'e');
  CHECK_EQ(atomic_load(&g.counts.up), k_peers);
  printf("all %d accepted and echoed; per I/O loop:", k_peers);
  for (int i = 0; i < k_io_threads; ++i) {
    printf(" %d", atomic_load(&g.per_loop[i]));
    CHECK(atomic_load(&g.per_loop[i]) > 0);
  }
  printf("\n");

  /* 4. Everyone leaves. */
  CHECK(write(cmd_fd, "q", 1) == 1);
  CHECK(tt_loop_run_until(loop, all_closed, NULL, 30));
  tt_peer_wait(child);

  tt_log_restore();
  mu_event_loop_cancel(loop, ticker);
  mu_tcp_server_free(g.server);
  mu_event_loop_free(loop);
  close(cmd_fd);
  close(g.status_fd);
  printf("regress_emfile_storm: ok\n");
  return 0;
}
