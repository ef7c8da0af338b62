/* force_close_with_delay: the connection closes after the delay (the peer sees
 * EOF no earlier than asked); when the peer closes first, or the connection is
 * closed another way or its server is freed, the pending delayed close gives
 * its reference back and never fires on a dead connection (one down callback,
 * nothing leaked, ASan clean). */
#include <pthread.h>
#include <stdatomic.h>

#include "cmuduo/cmuduo.h"
#include "tcp_test_util.h"
#include "test_util.h"

typedef enum {
  k_normal,           /* delay in the up callback; the server closes after it */
  k_cross_thread,     /* delay called from the base loop on an I/O-thread connection */
  k_twice,            /* a second, shorter delay takes over from a long one */
  k_peer_first,       /* the peer closes before the delay runs out */
  k_peer_first_held,  /* the same, with a user reference held past the delay */
  k_then_force_close, /* a long delay, then force_close: closes now */
  k_then_server_free, /* a long delay, then the server is freed */
} mode_t_;

static const char *const k_mode_names[] = {
    "normal",          "cross_thread",     "twice",           "peer_first",
    "peer_first_held", "then_force_close", "then_server_free"};

static const double k_delay = 0.3;
static const double k_long_delay = 30.0; /* never reached: the test ends sooner */

typedef struct scenario {
  mode_t_ mode;
  mu_event_loop_t *base;
  mu_tcp_server_t *server;
  _Atomic int up;
  _Atomic int down;
  _Atomic int64_t delay_called_us; /* when the delay was requested */
  _Atomic int64_t down_us;
  _Atomic(mu_tcp_connection_t *) held; /* user reference */
  _Atomic bool client_done;
  long client_got;
  double client_elapsed;
} scenario_t;

static scenario_t g;

static int64_t now_us(void) {
  return mu_timestamp_mono_now().us;
}

static void request_delay(mu_tcp_connection_t *conn, double seconds) {
  atomic_store(&g.delay_called_us, now_us());
  mu_tcp_connection_force_close_with_delay(conn, seconds);
}

static void on_up(mu_tcp_connection_t *conn) {
  atomic_fetch_add(&g.up, 1);
  switch (g.mode) {
    case k_normal:
    case k_peer_first:
      request_delay(conn, k_delay);
      break;
    case k_twice:
      /* As with muduo's independent timers, the earliest close wins. */
      mu_tcp_connection_force_close_with_delay(conn, k_long_delay);
      request_delay(conn, k_delay);
      break;
    case k_peer_first_held:
      mu_tcp_connection_ref(conn);
      atomic_store(&g.held, conn);
      request_delay(conn, k_delay);
      break;
    case k_cross_thread:
      mu_tcp_connection_ref(conn);
      atomic_store(&g.held, conn); /* the base loop picks it up */
      break;
    case k_then_force_close:
      request_delay(conn, k_long_delay);
      mu_tcp_connection_force_close(conn);
      break;
    case k_then_server_free:
      request_delay(conn, k_long_delay);
      break;
  }
}

static void on_connection(mu_tcp_connection_t *conn, void *arg) {
  (void)arg;
  if (mu_tcp_connection_connected(conn)) {
    on_up(conn);
    return;
  }
  CHECK(mu_tcp_connection_disconnected(conn));
  atomic_store(&g.down_us, now_us());
  atomic_fetch_add(&g.down, 1);
}

/* ---- the peer ------------------------------------------------------------ */

static bool peer_closes_first(void) {
  return g.mode == k_peer_first || g.mode == k_peer_first_held;
}

static void *client_main(void *p) {
  uint16_t port = *(uint16_t *)p;
  double t0 = tt_now();
  int fd = tt_connect_timeout(port, 20.0, 0);
  if (peer_closes_first()) {
    g.client_got = 0;
  } else {
    char buf[16];
    g.client_got = tt_read_until_eof(fd, buf, sizeof buf);
  }
  g.client_elapsed = tt_now() - t0;
  close(fd);
  atomic_store(&g.client_done, true);
  return NULL;
}

/* ---- driving ------------------------------------------------------------- */

static bool cross_thread_step(void) {
  mu_tcp_connection_t *conn = atomic_exchange(&g.held, NULL);
  if (conn != NULL) {
    CHECK(!mu_event_loop_is_in_loop_thread(mu_tcp_connection_get_loop(conn)));
    request_delay(conn, k_delay);
    mu_tcp_connection_unref(conn); /* the delayed close holds its own */
  }
  return false;
}

static bool scenario_done(void *arg) {
  (void)arg;
  if (g.mode == k_cross_thread)
    cross_thread_step();
  if (g.mode == k_then_server_free && g.server != NULL &&
      atomic_load(&g.delay_called_us) != 0) {
    mu_tcp_server_free(g.server);
    g.server = NULL;
  }
  if (atomic_load(&g.down) < 1 || !atomic_load(&g.client_done))
    return false;
  return g.server == NULL || mu_tcp_server_connection_count(g.server) == 0;
}

static void check_timing(void) {
  double waited =
      (double)(atomic_load(&g.down_us) - atomic_load(&g.delay_called_us)) / 1e6;
  switch (g.mode) {
    case k_normal:
    case k_cross_thread:
    case k_twice:
      /* Never early; the upper bound only catches "never closed" (or the long
       * delay winning), far below k_long_delay. */
      CHECK(waited >= k_delay);
      CHECK(waited < k_long_delay / 2);
      CHECK(g.client_elapsed >= k_delay);
      break;
    case k_then_force_close:
    case k_then_server_free:
      CHECK(waited < k_long_delay / 2);
      break;
    default:
      break;
  }
}

static void run_scenario(mode_t_ mode, int threads) {
  long blocks_before = tt_live_blocks();
  memset(&g, 0, sizeof g);
  g.mode = mode;
  g.base = mu_event_loop_new();
  CHECK(g.base != NULL);
  uint16_t port;
  g.server = tt_server_new_loopback(g.base, threads, "Delay", &port);
  mu_tcp_server_set_connection_callback(g.server, on_connection, NULL);
  CHECK_EQ(mu_tcp_server_start(g.server), 0);

  pthread_t client;
  CHECK(pthread_create(&client, NULL, client_main, &port) == 0);
  bool ok = tt_loop_run_until(g.base, scenario_done, NULL, 30.0);
  CHECK(pthread_join(client, NULL) == 0);
  if (!ok)
    fprintf(stderr, "%s: up=%d down=%d\n", k_mode_names[mode], atomic_load(&g.up),
            atomic_load(&g.down));
  CHECK(ok);
  if (peer_closes_first()) {
    /* Past the moment the delayed close would have fired. */
    tt_loop_run_for(g.base, k_delay * 2);
  }
  mu_tcp_connection_t *held = atomic_exchange(&g.held, NULL);
  if (held != NULL) {
    CHECK(mu_tcp_connection_disconnected(held));
    CHECK_EQ(mu_tcp_connection_send_str(held, "late"), -ENOTCONN);
    mu_tcp_connection_force_close_with_delay(held, 0.0); /* harmless now */
    mu_tcp_connection_unref(held);
  }
  tt_loop_run_for(g.base, 0.02);
  if (g.server != NULL) {
    CHECK_EQ(mu_tcp_server_connection_count(g.server), 0);
    mu_tcp_server_free(g.server);
  }
  mu_event_loop_free(g.base);

  CHECK_EQ(g.up, 1);
  CHECK_EQ(g.down, 1);
  CHECK_EQ(g.client_got, 0); /* EOF, no bytes, no timeout */
  check_timing();
  CHECK_EQ(tt_live_blocks(), blocks_before);
  printf("ok: %-16s %d I/O threads (client waited %.3f s)\n", k_mode_names[mode], threads,
         g.client_elapsed);
}

int main(void) {
  signal(SIGPIPE, SIG_DFL);
  test_time_limit(120);
  tt_count_allocations();
  for (int threads = 0; threads <= 2; threads += 2) {
    for (int m = k_normal; m <= k_then_server_free; ++m) {
      if (m == k_cross_thread && threads == 0)
        continue; /* needs another loop */
      run_scenario((mode_t_)m, threads);
    }
  }
  TEST_PASS("tcp_force_close_delay");
}
