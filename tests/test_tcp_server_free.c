/* Freeing a server with live connections, with 0 and 2 I/O threads: each
 * connection gets its down callback exactly once (in its own loop thread), the
 * peers see EOF (those whose connection the user still references when the
 * reference goes), user references stay valid and every call on them is a
 * harmless no-op even after the loops are gone, and nothing leaks. Freed
 * after the loop stopped, from a timer of the running base loop, and while
 * some peers are closing at the same moment (their close path races the
 * free in the I/O threads). */
#include <pthread.h>
#include <stdatomic.h>

#include "cmuduo/cmuduo.h"
#include "tcp_test_util.h"
#include "test_util.h"

enum { k_conns = 4, k_closing_peers = 2 };

typedef enum { k_after_loop, k_in_timer, k_peers_closing } mode_t_;
static const char *const k_mode_names[] = {"after_loop", "in_timer", "peers_closing"};

typedef struct scenario {
  mode_t_ mode;
  int threads;
  mu_event_loop_t *base;
  mu_tcp_server_t *server;
  int peers[k_conns];
  _Atomic int up;
  _Atomic int down;
  _Atomic int down_by_id[k_conns + 1]; /* connection ids start at 1 */
  _Atomic int off_thread;              /* callbacks outside the conn's loop */
  mu_tcp_connection_t *held[k_conns + 1];
} scenario_t;

static scenario_t g;

static void on_connection(mu_tcp_connection_t *conn, void *arg) {
  (void)arg;
  uint64_t id = mu_tcp_connection_id(conn);
  CHECK(id >= 1 && id <= k_conns);
  if (!mu_event_loop_is_in_loop_thread(mu_tcp_connection_get_loop(conn))) {
    atomic_fetch_add(&g.off_thread, 1);
  }
  if (mu_tcp_connection_connected(conn)) {
    if (id % 2 == 1) {
      mu_tcp_connection_ref(conn);
      g.held[id] = conn; /* published by the atomic increment below */
    }
    atomic_fetch_add(&g.up, 1);
  } else {
    atomic_fetch_add(&g.down_by_id[id], 1);
    atomic_fetch_add(&g.down, 1);
  }
}

static bool all_up(void *arg) {
  (void)arg;
  return atomic_load(&g.up) == k_conns;
}

static bool all_down(void *arg) {
  (void)arg;
  return atomic_load(&g.down) == k_conns && g.server == NULL;
}

static void free_server(void *arg) {
  (void)arg;
  if (g.mode == k_peers_closing) {
    for (int i = 0; i < k_closing_peers; ++i) {
      close(g.peers[i]);
      g.peers[i] = -1;
    }
  }
  mu_tcp_server_free(g.server);
  g.server = NULL;
}

/* Every call a user may make on a connection it still references. */
static void poke_closed_connection(mu_tcp_connection_t *conn) {
  CHECK(mu_tcp_connection_disconnected(conn));
  CHECK(!mu_tcp_connection_connected(conn));
  CHECK_EQ(mu_tcp_connection_send_str(conn, "late"), -ENOTCONN);
  mu_tcp_connection_shutdown(conn);
  mu_tcp_connection_force_close(conn);
  mu_tcp_connection_force_close_with_delay(conn, 0.01);
  mu_tcp_connection_start_read(conn);
  mu_tcp_connection_stop_read(conn);
  CHECK(mu_tcp_connection_name(conn) != NULL);
  CHECK(strstr(mu_tcp_connection_name(conn), "FreeMe") != NULL);
  CHECK(mu_tcp_connection_state(conn) == MU_TCP_DISCONNECTED);
}

static void expect_eof(int peer) {
  char buf[8];
  CHECK_EQ(tt_read_until_eof(g.peers[peer], buf, sizeof buf), 0);
  close(g.peers[peer]);
  g.peers[peer] = -1;
}

static void run_scenario(mode_t_ mode, int threads) {
  long blocks_before = tt_live_blocks();
  int fds_before = tt_count_open_fds();
  memset(&g, 0, sizeof g);
  g.mode = mode;
  g.threads = threads;
  g.base = mu_event_loop_new();
  CHECK(g.base != NULL);
  uint16_t port;
  g.server = tt_server_new_loopback(g.base, threads, "FreeMe", &port);
  mu_tcp_server_set_connection_callback(g.server, on_connection, NULL);
  CHECK_EQ(mu_tcp_server_start(g.server), 0);
  /* Connects complete in the backlog; the loop accepts them below. */
  for (int i = 0; i < k_conns; ++i) {
    g.peers[i] = tt_connect_timeout(port, 10.0, 0);
  }
  CHECK(tt_loop_run_until(g.base, all_up, NULL, 20.0));
  CHECK_EQ(mu_tcp_server_connection_count(g.server), k_conns);

  if (mode == k_after_loop) {
    free_server(NULL);
    if (threads > 0) {
      /* Joining the pool ran the I/O loops' queued destruction. */
      CHECK_EQ(atomic_load(&g.down), k_conns);
    }
  } else {
    CHECK(mu_timer_id_valid(mu_event_loop_run_after(g.base, 0.01, free_server, NULL)));
  }
  CHECK(tt_loop_run_until(g.base, all_down, NULL, 20.0));

  /* Peer i is connection i + 1: connected and accepted in order. Without a
   * user reference the socket is closed by now; with one it may stay open until
   * the last reference goes (checked below). */
  for (int i = 0; i < k_conns; ++i) {
    if (g.peers[i] >= 0 && g.held[i + 1] == NULL)
      expect_eof(i);
  }
  tt_loop_run_for(g.base, 0.02); /* a second down callback would land here */
  for (int id = 1; id <= k_conns; ++id)
    CHECK_EQ(atomic_load(&g.down_by_id[id]), 1);
  CHECK_EQ(atomic_load(&g.off_thread), 0);
  mu_event_loop_free(g.base);
  /* The last references outlive every loop, and using them touches none. */
  for (int id = 1; id <= k_conns; ++id) {
    if (g.held[id] == NULL)
      continue;
    poke_closed_connection(g.held[id]);
    mu_tcp_connection_unref(g.held[id]);
    if (g.peers[id - 1] >= 0)
      expect_eof(id - 1);
  }
  CHECK_EQ(tt_live_blocks(), blocks_before);
  CHECK_EQ(tt_count_open_fds(), fds_before);
  printf("ok: %-13s with %d I/O threads\n", k_mode_names[mode], threads);
}

int main(void) {
  signal(SIGPIPE, SIG_DFL);
  test_time_limit(120);
  tt_count_allocations();
  for (int threads = 0; threads <= 2; threads += 2) {
    for (int m = k_after_loop; m <= k_peers_closing; ++m) {
      run_scenario((mode_t_)m, threads);
    }
  }
  /* Repeat the racy one: the close path and the free meet at different points. */
  for (int i = 0; i < 20; ++i)
    run_scenario(k_peers_closing, 2);
  TEST_PASS("tcp_server_free");
}
