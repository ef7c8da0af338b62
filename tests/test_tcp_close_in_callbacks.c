/* Closing a connection from inside each kind of callback: force_close,
 * shutdown and force_close_with_delay(0) called in the up, message,
 * write-complete and high-water-mark callbacks; a user reference dropped in the
 * down callback; the server freed from a callback of its base loop. Each
 * connection must get its down callback exactly once, the server must forget
 * it, the peer must see the close, and every allocation must be given back
 * (counted through the allocator hooks, on top of ASan's leak check). */
#include <pthread.h>
#include <stdatomic.h>

#include "cmuduo/cmuduo.h"
#include "tcp_test_util.h"
#include "test_util.h"

/* ---- the scenario ------------------------------------------------------- */

typedef enum { k_force_close, k_shutdown, k_delay0, k_no_action } action_t;
typedef enum {
  k_site_up,
  k_site_message,
  k_site_write_complete,
  k_site_high_water,
  k_site_down_unref, /* the peer closes; the down callback drops a user reference */
  k_site_free_in_up,
  k_site_free_in_message,
  k_site_free_in_down,
} site_t;

static const char *const k_action_names[] = {"force_close", "shutdown", "delay(0)", "-"};
static const char *const k_site_names[] = {
    "up",         "message",    "write_complete",  "high_water_mark",
    "down_unref", "free_in_up", "free_in_message", "free_in_down"};

enum { k_big = 16 * 1024 * 1024, k_mark = 1024 * 1024 };

typedef struct scenario {
  action_t action;
  site_t site;
  int threads;
  mu_event_loop_t *base;
  mu_tcp_server_t *server; /* base loop thread only; NULL once freed */
  _Atomic int up;
  _Atomic int down;
  _Atomic int acted;
  _Atomic int down_while_connected; /* a down callback that saw "connected" */
  mu_tcp_connection_t *held;        /* the user reference (connection's loop only) */
  _Atomic bool client_done;
  _Atomic bool high_water_seen;
  long client_got;
  char client_head[8];
} scenario_t;

static scenario_t g;
static char *g_big;

static void act(mu_tcp_connection_t *conn) {
  if (atomic_fetch_add(&g.acted, 1) != 0)
    return; /* once per connection */
  switch (g.action) {
    case k_force_close:
      mu_tcp_connection_force_close(conn);
      break;
    case k_shutdown:
      mu_tcp_connection_shutdown(conn);
      break;
    case k_delay0:
      mu_tcp_connection_force_close_with_delay(conn, 0.0);
      break;
    case k_no_action:
      break;
  }
}

static void free_server_now(void) {
  CHECK(mu_event_loop_is_in_loop_thread(g.base));
  CHECK(g.server != NULL);
  atomic_fetch_add(&g.acted, 1);
  mu_tcp_server_free(g.server);
  g.server = NULL;
}

static void free_server_functor(void *arg) {
  (void)arg;
  free_server_now();
}

/* With I/O threads the callback runs outside the base loop, where freeing the
 * server is not allowed: hand it to the base loop instead. */
static void free_server_from_callback(void) {
  if (mu_event_loop_is_in_loop_thread(g.base)) {
    free_server_now();
  } else {
    CHECK_EQ(mu_event_loop_queue_in_loop(g.base, free_server_functor, NULL), 0);
  }
}

static void on_up(mu_tcp_connection_t *conn) {
  atomic_fetch_add(&g.up, 1);
  switch (g.site) {
    case k_site_up:
      act(conn);
      break;
    case k_site_write_complete:
      CHECK_EQ(mu_tcp_connection_send_str(conn, "hello"), 0);
      break;
    case k_site_high_water:
      CHECK_EQ(mu_tcp_connection_send(conn, g_big, k_big), 0);
      break;
    case k_site_down_unref:
      mu_tcp_connection_ref(conn);
      g.held = conn;
      break;
    case k_site_free_in_up:
      free_server_from_callback();
      break;
    default:
      break;
  }
}

static void on_down(mu_tcp_connection_t *conn) {
  if (atomic_fetch_add(&g.down, 1) != 0)
    return;
  if (!mu_tcp_connection_disconnected(conn))
    atomic_fetch_add(&g.down_while_connected, 1);
  if (g.site == k_site_down_unref) {
    CHECK(g.held == conn);
    g.held = NULL;
    atomic_fetch_add(&g.acted, 1);
    mu_tcp_connection_unref(
        conn); /* may be the next-to-last; the close path holds more */
  } else if (g.site == k_site_free_in_down) {
    free_server_from_callback();
  }
}

static void on_connection(mu_tcp_connection_t *conn, void *arg) {
  (void)arg;
  if (mu_tcp_connection_connected(conn)) {
    on_up(conn);
  } else {
    on_down(conn);
  }
}

static void on_message(mu_tcp_connection_t *conn, mu_buffer_t *buf, mu_timestamp_t t,
                       void *arg) {
  (void)t;
  (void)arg;
  mu_buffer_retrieve_all(buf);
  if (g.site == k_site_message)
    act(conn);
  if (g.site == k_site_free_in_message)
    free_server_from_callback();
}

static void on_write_complete(mu_tcp_connection_t *conn, void *arg) {
  (void)arg;
  if (g.site == k_site_write_complete)
    act(conn);
}

static void on_high_water(mu_tcp_connection_t *conn, size_t queued, void *arg) {
  (void)arg;
  CHECK(queued >= k_mark);
  atomic_store(&g.high_water_seen, true);
  if (g.site == k_site_high_water)
    act(conn);
}

/* ---- the peer ------------------------------------------------------------ */

typedef struct client_job {
  uint16_t port;
} client_job_t;

static bool client_sends(void) {
  return g.site == k_site_message || g.site == k_site_free_in_message;
}

/* Connects, optionally sends a byte, then reads until the server closes; for
 * the down-unref case the client is the one that closes. */
/* Waits (bounded) for `flag`; a scenario whose callback never comes fails on
 * its own checks afterwards. */
static void await_flag(_Atomic bool *flag) {
  for (int i = 0; i < 10000 && !atomic_load(flag); ++i)
    usleep(1000);
}

static void await_down(void) {
  for (int i = 0; i < 10000 && atomic_load(&g.down) == 0; ++i)
    usleep(1000);
}

static void *client_main(void *p) {
  client_job_t *job = p;
  /* A fixed small receive window keeps the server's big send from fitting. */
  int fd = tt_connect_timeout(job->port, 20.0, g.site == k_site_high_water ? 65536 : 0);
  if (client_sends())
    tt_write_all(fd, "x", 1);
  if (g.site == k_site_high_water) {
    /* Not reading yet: a concurrent reader lets one send() move megabytes
     * (the kernel processes ACKs during the call), and the output would not
     * queue. After a force close, reading only then shows what was dropped. */
    await_flag(&g.high_water_seen);
    if (g.action != k_shutdown)
      await_down();
  }
  if (g.site == k_site_down_unref || g.site == k_site_free_in_down) {
    g.client_got = 0;
  } else {
    g.client_got = tt_read_until_eof(fd, g.client_head, sizeof g.client_head);
  }
  close(fd);
  atomic_store(&g.client_done, true);
  return NULL;
}

static bool scenario_done(void *arg) {
  (void)arg;
  if (atomic_load(&g.down) < 1 || !atomic_load(&g.client_done))
    return false;
  return g.server == NULL || mu_tcp_server_connection_count(g.server) == 0;
}

static void check_client_saw(void) {
  long got = g.client_got;
  if (got < 0)
    fprintf(stderr, "client read error: %s\n", strerror((int)-got));
  CHECK(got >= 0); /* EOF, not a timeout or a reset */
  switch (g.site) {
    case k_site_write_complete:
      CHECK_EQ(got, 5);
      CHECK(memcmp(g.client_head, "hello", 5) == 0);
      break;
    case k_site_high_water:
      if (g.action == k_shutdown)
        CHECK_EQ(got, k_big); /* drained before SHUT_WR */
      if (g.action == k_force_close)
        CHECK(got < k_big); /* queued output dropped */
      CHECK(got <= k_big);
      break;
    default:
      CHECK_EQ(got, 0);
      break;
  }
}

static void run_scenario(action_t action, site_t site, int threads) {
  long blocks_before = tt_live_blocks();
  memset(&g, 0, sizeof g);
  g.action = action;
  g.site = site;
  g.threads = threads;
  g.base = mu_event_loop_new();
  CHECK(g.base != NULL);
  tt_log_counter_t log;
  tt_log_capture(&log, "accept");
  uint16_t port;
  g.server = tt_server_new_loopback(g.base, threads, "CloseIn", &port);
  mu_tcp_server_set_connection_callback(g.server, on_connection, NULL);
  mu_tcp_server_set_message_callback(g.server, on_message, NULL);
  mu_tcp_server_set_write_complete_callback(g.server, on_write_complete, NULL);
  mu_tcp_server_set_high_water_mark_callback(g.server, on_high_water, NULL, k_mark);
  CHECK_EQ(mu_tcp_server_start(g.server), 0);

  client_job_t job = {port};
  pthread_t client;
  CHECK(pthread_create(&client, NULL, client_main, &job) == 0);
  bool ok = tt_loop_run_until(g.base, scenario_done, NULL, 30.0);
  CHECK(pthread_join(client, NULL) == 0);
  if (!ok) {
    fprintf(stderr, "%s in %s (%d threads): up=%d down=%d done=%d\n",
            k_action_names[action], k_site_names[site], threads, atomic_load(&g.up),
            atomic_load(&g.down), (int)atomic_load(&g.client_done));
  }
  CHECK(ok);
  /* Let stray timers and queued work run: a second down would show here. */
  tt_loop_run_for(g.base, 0.05);
  if (g.server != NULL) {
    CHECK_EQ(mu_tcp_server_connection_count(g.server), 0);
    mu_tcp_server_free(g.server);
    g.server = NULL;
  }
  mu_event_loop_free(g.base);
  tt_log_restore();

  /* An acceptor that outlived its server would be caught by ASan; without it,
   * it shows as failed accepts on a closed descriptor. */
  CHECK_EQ(atomic_load(&log.hits), 0);
  CHECK_EQ(atomic_load(&g.up), 1);
  CHECK_EQ(atomic_load(&g.down), 1);
  CHECK_EQ(atomic_load(&g.down_while_connected), 0);
  if (action != k_no_action || site >= k_site_down_unref)
    CHECK_EQ(atomic_load(&g.acted), 1);
  CHECK(g.held == NULL);
  check_client_saw();
  CHECK_EQ(tt_live_blocks(), blocks_before);
  printf("ok: %-11s in %-15s with %d I/O threads\n", k_action_names[action],
         k_site_names[site], threads);
}

int main(void) {
  signal(SIGPIPE, SIG_DFL);
  test_time_limit(240);
  tt_count_allocations();
  g_big = malloc(k_big);
  CHECK(g_big != NULL);
  memset(g_big, 'b', k_big);

  static const int k_thread_counts[] = {0, 2};
  for (size_t t = 0; t < 2; ++t) {
    int threads = k_thread_counts[t];
    for (int a = k_force_close; a <= k_delay0; ++a) {
      for (int s = k_site_up; s <= k_site_high_water; ++s) {
        run_scenario((action_t)a, (site_t)s, threads);
      }
    }
    for (int s = k_site_down_unref; s <= k_site_free_in_down; ++s) {
      run_scenario(k_no_action, (site_t)s, threads);
    }
  }
  free(g_big);
  TEST_PASS("tcp_close_in_callbacks");
}
