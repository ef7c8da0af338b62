/* Peer reset (RST) in the middle of a stream, with SIGPIPE at its default
 * action: a write to a reset socket that is not MSG_NOSIGNAL kills the test.
 *
 * Backed-up reset: a client with a small window sends megabytes to the echo
 * server, reads a little of the echo and closes with SO_LINGER {1, 0}. The
 * server has output queued and is writing when the RST lands; the kernel
 * reports the error once (SO_ERROR or the first call), after which a write is
 * EPIPE, which raises SIGPIPE without MSG_NOSIGNAL. Every such connection must
 * go down exactly once and leave the server's books; then a fresh client must
 * still be served.
 *
 * Direct-write reset: the connection's loop is held in a functor while the
 * client resets; the functor then sends on the idle connection, which writes
 * straight to the reset socket.
 *
 * Force-close race: another thread calls force_close while the loop handles
 * the peer's RST or FIN; the down callback must still run exactly once (a
 * non-atomic state change once let the loop close the connection twice). */
#include <pthread.h>

#include "tcp_test_util.h"

typedef struct server_state {
  tt_conn_counters_t counters;
  _Atomic(mu_tcp_connection_t *) last; /* a reference to the newest connection */
} server_state_t;

static void on_connection(mu_tcp_connection_t *conn, void *arg) {
  server_state_t *st = arg;
  tt_count_connection(conn, &st->counters);
  if (mu_tcp_connection_connected(conn)) {
    mu_tcp_connection_ref(conn);
    mu_tcp_connection_t *old = atomic_exchange(&st->last, conn);
    if (old != NULL)
      mu_tcp_connection_unref(old);
  }
}

static void setup(mu_tcp_server_t *server, void *arg) {
  mu_tcp_server_set_connection_callback(server, on_connection, arg);
  mu_tcp_server_set_message_callback(server, tt_echo_on_message, NULL);
}

static int connect_small_window(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CHECK(fd >= 0);
  tt_set_timeouts(fd, TT_IO_TIMEOUT_S);
  tt_set_small_buffers(fd, 64 * 1024);
  struct sockaddr_in sa = tt_loopback(port);
  CHECK(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
  return fd;
}

/* Sends `len` bytes, reads `peek` bytes of the echo (checked), resets. */
static void reset_mid_stream(uint16_t port, uint64_t stream, size_t len, size_t peek) {
  static char buf[128 * 1024];
  int fd = connect_small_window(port);
  for (size_t off = 0; off < len;) {
    size_t n = len - off < sizeof buf ? len - off : sizeof buf;
    tt_pattern_fill(stream, off, buf, n);
    tt_write_all(fd, buf, n);
    off += n;
  }
  for (size_t got = 0; got < peek;) {
    size_t want = peek - got < sizeof buf ? peek - got : sizeof buf;
    ssize_t n = tt_read_some(fd, buf, want);
    CHECK(n > 0);
    CHECK_EQ(tt_pattern_check(stream, got, buf, (size_t)n), n);
    got += (size_t)n;
  }
  tt_close_with_rst(fd);
}

/* A new client gets a full, exact echo: the server survived and serves. */
static void check_still_serving(uint16_t port, uint64_t seed) {
  tt_echo_plan_t plan = {.port = port,
                         .conns = 4,
                         .seed = seed,
                         .min_size = 1,
                         .max_size = 2 * 1024 * 1024,
                         .max_chunk = 64 * 1024,
                         .connect_all_first = true,
                         .verify_eof = true};
  tt_echo_result_t res;
  tt_echo_clients_run(&plan, &res);
}

static void run_backed_up(int io_threads, uint64_t seed) {
  server_state_t st = {0};
  tt_server_t srv;
  tt_server_start(&srv, "ResetBackedUp", io_threads, setup, &st);
  tt_server_shrink_sndbuf(&srv, 8 * 1024); /* output queued when the RST lands */
  tt_rng_t rng = tt_rng_make(seed);
  enum { k_rounds = 24 };
  for (int i = 0; i < k_rounds; ++i) {
    size_t len = tt_rng_range(&rng, 256 * 1024, 8 * 1024 * 1024);
    size_t peek = i % 3 == 0 ? 0 : tt_rng_range(&rng, 1, 128 * 1024);
    reset_mid_stream(srv.port, tt_mix64(seed + (uint64_t)i), len, peek);
    /* Every other round overlaps the next connection with this teardown. */
    if (i % 2 == 1)
      CHECK_EQ(tt_server_wait_connections(&srv, 0, 20), 0);
  }
  CHECK_EQ(tt_server_wait_connections(&srv, 0, 20), 0);
  CHECK_EQ(atomic_load(&st.counters.up), k_rounds);
  CHECK_EQ(atomic_load(&st.counters.down), k_rounds);
  check_still_serving(srv.port, seed + 1000);
  CHECK_EQ(tt_server_wait_connections(&srv, 0, 20), 0);
  CHECK_EQ(atomic_load(&st.counters.down), k_rounds + 4);
  tt_server_stop(&srv);
  mu_tcp_connection_unref(atomic_exchange(&st.last, NULL));
  printf("  backed-up reset, io_threads=%d: %d resets, server fine\n", io_threads,
         k_rounds);
}

/* ---- the loop writes to a socket that was reset ---------------------------- */

typedef struct held_loop {
  mu_tcp_connection_t *conn;
  mu_countdown_latch_t holding, release;
  int rc;
} held_loop_t;

static void hold_then_send(void *arg) {
  held_loop_t *h = arg;
  mu_countdown_latch_count_down(&h->holding);
  mu_countdown_latch_wait(&h->release);
  /* The loop has not seen the RST: the connection still looks up and idle, so
   * this goes straight to the socket. */
  h->rc = mu_tcp_connection_send(h->conn, "after the reset", 15);
}

static void run_direct_write(int io_threads) {
  server_state_t st = {0};
  tt_server_t srv;
  tt_server_start(&srv, "ResetDirect", io_threads, setup, &st);
  int fd = tt_connect(srv.port);
  tt_write_all(fd, "ping", 4);
  char back[4];
  tt_read_exactly(fd, back, 4); /* the connection is up in its loop */
  held_loop_t h = {.conn = atomic_load(&st.last), .rc = 1};
  CHECK(h.conn != NULL);
  mu_countdown_latch_init(&h.holding, 1);
  mu_countdown_latch_init(&h.release, 1);
  mu_event_loop_t *io_loop = mu_tcp_connection_get_loop(h.conn);
  CHECK_EQ(mu_event_loop_queue_in_loop(io_loop, hold_then_send, &h), 0);
  mu_countdown_latch_wait(&h.holding);
  tt_close_with_rst(fd);
  tt_sleep_ms(200); /* loopback delivers the RST at once; this is slack */
  mu_countdown_latch_count_down(&h.release);
  CHECK_EQ(tt_server_wait_connections(&srv, 0, 20), 0);
  tt_run_sync(io_loop, (void (*)(void *))mu_event_loop_wakeup, io_loop); /* h.rc seen */
  CHECK_EQ(h.rc, -ENOTCONN); /* the kernel refused: the RST had arrived */
  CHECK_EQ(atomic_load(&st.counters.up), 1);
  CHECK_EQ(atomic_load(&st.counters.down), 1);
  CHECK(mu_tcp_connection_disconnected(h.conn));
  check_still_serving(srv.port, 77);
  tt_server_stop(&srv);
  mu_tcp_connection_unref(atomic_exchange(&st.last, NULL));
  mu_countdown_latch_destroy(&h.holding);
  mu_countdown_latch_destroy(&h.release);
  printf("  direct write after reset, io_threads=%d: send -> %d, closed once\n",
         io_threads, h.rc);
}

/* ---- another thread force-closes while the peer closes -------------------- */

typedef struct racer {
  mu_tcp_connection_t *conn;
  mu_countdown_latch_t ready;
  _Atomic bool go;
} racer_t;

/* Calls force_close (and force_close_with_delay) over and over while the
 * loop thread handles the peer's close: whatever the interleaving, the
 * connection goes down once. */
static void *race_force_close(void *arg) {
  racer_t *r = arg;
  mu_countdown_latch_count_down(&r->ready);
  while (!atomic_load(&r->go)) {
  }
  for (int i = 0; i < 500; ++i) {
    if (i % 2 == 0) {
      mu_tcp_connection_force_close(r->conn);
    } else {
      mu_tcp_connection_force_close_with_delay(r->conn, 0.0);
    }
  }
  return NULL;
}

static void run_force_close_race(int io_threads, int rounds) {
  server_state_t st = {0};
  tt_server_t srv;
  tt_server_start(&srv, "ResetRace", io_threads, setup, &st);
  for (int i = 0; i < rounds; ++i) {
    int fd = tt_connect(srv.port);
    mu_tcp_connection_t *conn;
    while ((conn = atomic_exchange(&st.last, NULL)) == NULL) {
    }
    racer_t r = {.conn = conn};
    mu_countdown_latch_init(&r.ready, 1);
    pthread_t th;
    CHECK(pthread_create(&th, NULL, race_force_close, &r) == 0);
    mu_countdown_latch_wait(&r.ready);
    atomic_store(&r.go, true);
    if (i % 2 == 0) {
      tt_close_with_rst(fd);
    } else {
      CHECK(close(fd) == 0);
    }
    CHECK(pthread_join(th, NULL) == 0);
    CHECK_EQ(tt_server_wait_connections(&srv, 0, 20), 0);
    long down = atomic_load(&st.counters.down);
    if (down != i + 1) {
      fprintf(stderr, "round %d: %ld down callbacks for %d connections\n", i, down,
              i + 1);
      abort();
    }
    mu_tcp_connection_unref(conn);
    mu_countdown_latch_destroy(&r.ready);
  }
  check_still_serving(srv.port, 99);
  tt_server_stop(&srv);
  mu_tcp_connection_unref(atomic_exchange(&st.last, NULL));
  printf(
      "  force_close racing the peer's close, io_threads=%d: %d rounds, one down each\n",
      io_threads, rounds);
}

int main(void) {
  tt_init("tcp_reset", 200);
  uint64_t seed = tt_seed(0x4e5e7);
  for (int io_threads = 0; io_threads <= 2; io_threads += 2) {
    run_backed_up(io_threads, seed + (uint64_t)io_threads);
    run_direct_write(io_threads);
    run_force_close_race(io_threads, TT_TSAN ? 300 : 1000);
  }
  TEST_PASS("tcp_reset");
}
