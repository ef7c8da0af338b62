/* Half-open mode (mu_tcp_server_set_half_close_callback): a peer's FIN does
 * not close the connection; the owner is told once and answers at leisure.
 *
 *   answer later   the callback runs once with reading stopped; bytes sent
 *                  after it (from another thread, 4 MiB that queue in the
 *                  server) all reach the peer; shutdown() drains them, then
 *                  closes (the peer reads end of file; DOWN once)
 *   force_close    closes a half-open connection at once
 *   in callback    send + shutdown inside the callback itself
 *   ours first     our shutdown() before the peer's FIN: the FIN closes, no
 *                  callback
 *   reset          the peer resets after its FIN: the next sends close;
 *                  a reset without a FIN closes at once, no callback
 *   mode off       today's (muduo's) behaviour: the FIN closes once the echo
 *                  is out; later sends are refused */
#include "tcp_test_util.h"

enum { MODE_HOLD, MODE_ANSWER_IN_CALLBACK };

typedef struct st {
  tt_conn_counters_t counters;
  int mode;
  _Atomic int half_closes;
  _Atomic int reading_in_callback; /* is_reading as the callback saw it */
  _Atomic size_t received;
  _Atomic(mu_tcp_connection_t *) held; /* a reference, taken in the callback */
} st_t;

static void on_message(mu_tcp_connection_t *conn, mu_buffer_t *buf, mu_timestamp_t t,
                       void *arg) {
  (void)conn;
  (void)t;
  st_t *st = arg;
  atomic_fetch_add(&st->received, mu_buffer_readable_bytes(buf));
  mu_buffer_retrieve_all(buf);
}

static void on_half_close(mu_tcp_connection_t *conn, void *arg) {
  st_t *st = arg;
  atomic_store(&st->reading_in_callback, mu_tcp_connection_is_reading(conn) ? 1 : 0);
  if (st->mode == MODE_ANSWER_IN_CALLBACK) {
    CHECK_EQ(mu_tcp_connection_send_str(conn, "bye\n"), 0);
    mu_tcp_connection_shutdown(conn);
  } else if (atomic_load(&st->held) == NULL) {
    mu_tcp_connection_ref(conn);
    atomic_store(&st->held, conn);
  }
  atomic_fetch_add(&st->half_closes, 1); /* last: the test thread waits for it */
}

static void setup(mu_tcp_server_t *server, void *arg) {
  st_t *st = arg;
  mu_tcp_server_set_connection_callback(server, tt_count_connection, &st->counters);
  mu_tcp_server_set_message_callback(server, on_message, st);
  mu_tcp_server_set_half_close_callback(server, on_half_close, st);
}

static void wait_half_closes(st_t *st, int want) {
  double deadline = tt_now() + 20;
  while (atomic_load(&st->half_closes) < want && tt_now() < deadline)
    tt_sleep_ms(2);
  CHECK_EQ(atomic_load(&st->half_closes), want);
}

/* Connects, sends `req`, half-closes; the callback has run when this returns. */
static int request_and_half_close(st_t *st, uint16_t port, const char *req) {
  int before = atomic_load(&st->half_closes);
  int fd = tt_connect(port);
  tt_write_all(fd, req, strlen(req));
  CHECK_EQ(shutdown(fd, SHUT_WR), 0);
  wait_half_closes(st, before + 1);
  CHECK_EQ(atomic_load(&st->reading_in_callback), 0);
  return fd;
}

static mu_tcp_connection_t *take_held(st_t *st) {
  mu_tcp_connection_t *conn = atomic_exchange(&st->held, NULL);
  CHECK(conn != NULL);
  return conn;
}

static void answer_later(st_t *st, tt_server_t *srv, uint64_t stream) {
  const size_t big = (TT_SANITIZED ? 1u : 4u) * 1024 * 1024;
  int fd = request_and_half_close(st, srv->port, "question\n");
  mu_tcp_connection_t *conn = take_held(st);
  CHECK_EQ(atomic_load(&st->received), strlen("question\n"));
  /* Half-open a while: no second callback (a level-triggered end of file
   * read again and again would make one), the connection still up. */
  tt_sleep_ms(100);
  CHECK_EQ(atomic_load(&st->half_closes), 1);
  CHECK_EQ(tt_server_connection_count(srv), 1);
  CHECK(mu_tcp_connection_connected(conn));
  /* From this (another) thread: a short answer, then a large one that
   * queues behind the small kernel buffer, then shutdown. */
  CHECK_EQ(mu_tcp_connection_send_str(conn, "answer\n"), 0);
  char *buf = malloc(big);
  CHECK(buf != NULL);
  tt_pattern_fill(stream, 0, buf, big);
  CHECK_EQ(mu_tcp_connection_send(conn, buf, big), 0);
  mu_tcp_connection_shutdown(conn);
  char head[7];
  tt_read_exactly(fd, head, sizeof head);
  CHECK(memcmp(head, "answer\n", sizeof head) == 0);
  memset(buf, 0, big);
  tt_read_exactly(fd, buf, big);
  CHECK_EQ(tt_pattern_check(stream, 0, buf, big), big);
  free(buf);
  tt_expect_eof(fd);
  CHECK_EQ(tt_server_wait_connections(srv, 0, 20), 0);
  CHECK(mu_tcp_connection_disconnected(conn));
  CHECK_EQ(mu_tcp_connection_send_str(conn, "late"), -ENOTCONN);
  mu_tcp_connection_unref(conn);
  CHECK_EQ(close(fd), 0);
  CHECK_EQ(atomic_load(&st->half_closes), 1);
}

static void force_close_half_open(st_t *st, tt_server_t *srv) {
  int fd = request_and_half_close(st, srv->port, "q");
  mu_tcp_connection_t *conn = take_held(st);
  CHECK_EQ(tt_server_connection_count(srv), 1);
  mu_tcp_connection_force_close(conn);
  tt_expect_eof(fd);
  CHECK_EQ(tt_server_wait_connections(srv, 0, 20), 0);
  mu_tcp_connection_unref(conn);
  CHECK_EQ(close(fd), 0);
}

/* The peer goes away for good after its FIN: sends keep being accepted
 * until one meets the reset, which closes the connection. */
static void reset_after_half_close(st_t *st, tt_server_t *srv) {
  int fd = request_and_half_close(st, srv->port, "q");
  mu_tcp_connection_t *conn = take_held(st);
  tt_close_with_rst(fd);
  double deadline = tt_now() + 20;
  while (tt_server_connection_count(srv) != 0 && tt_now() < deadline) {
    int rc = mu_tcp_connection_send_str(conn, "anyone?\n");
    CHECK(rc == 0 || rc == -ENOTCONN);
    tt_sleep_ms(10);
  }
  CHECK_EQ(tt_server_connection_count(srv), 0);
  CHECK(mu_tcp_connection_disconnected(conn));
  mu_tcp_connection_unref(conn);
}

/* A reset with no FIN before it is no half-close (the error that polling
 * reports first must not make the read of 0 after it look like one): the
 * connection closes at once, without the callback. */
static void reset_without_fin(st_t *st, tt_server_t *srv) {
  int before = atomic_load(&st->half_closes);
  int fd = tt_connect(srv->port);
  tt_write_all(fd, "q", 1);
  CHECK_EQ(tt_server_wait_connections(srv, 1, 20), 1);
  tt_close_with_rst(fd);
  CHECK_EQ(tt_server_wait_connections(srv, 0, 20), 0);
  CHECK_EQ(atomic_load(&st->half_closes), before);
}

static void run_mode_on(int io_threads, uint64_t seed) {
  st_t st = {.mode = MODE_HOLD};
  tt_server_t srv;
  tt_server_start(&srv, "HalfOpen", io_threads, setup, &st);
  tt_server_shrink_sndbuf(&srv, 8 * 1024);
  answer_later(&st, &srv, tt_mix64(seed));
  force_close_half_open(&st, &srv);
  reset_after_half_close(&st, &srv);
  reset_without_fin(&st, &srv);
  CHECK_EQ(atomic_load(&st.half_closes), 3);
  CHECK_EQ(atomic_load(&st.counters.up), 4);
  CHECK_EQ(atomic_load(&st.counters.down), 4);
  tt_server_stop(&srv);
  printf("  half-open, io_threads=%d: answered later, force_close, resets\n", io_threads);
}

/* send + shutdown inside the callback: the answer, then end of file. */
static void run_answer_in_callback(int io_threads) {
  st_t st = {.mode = MODE_ANSWER_IN_CALLBACK};
  tt_server_t srv;
  tt_server_start(&srv, "HalfOpenCb", io_threads, setup, &st);
  for (int i = 0; i < 3; ++i) {
    int fd = request_and_half_close(&st, srv.port, "q");
    char got[4];
    tt_read_exactly(fd, got, sizeof got);
    CHECK(memcmp(got, "bye\n", 4) == 0);
    tt_expect_eof(fd);
    CHECK_EQ(close(fd), 0);
  }
  CHECK_EQ(tt_server_wait_connections(&srv, 0, 20), 0);
  CHECK_EQ(atomic_load(&st.counters.down), 3);
  tt_server_stop(&srv);
  printf("  half-open, io_threads=%d: answered and shut down in the callback\n",
         io_threads);
}

/* Our shutdown() first, then the peer's FIN: it closes, and the callback
 * (for a connection that has said it is done) does not run. */
static void on_first_connection(mu_tcp_connection_t *conn, void *arg) {
  st_t *st = arg;
  tt_count_connection(conn, &st->counters);
  if (mu_tcp_connection_connected(conn)) {
    CHECK_EQ(mu_tcp_connection_send_str(conn, "hello\n"), 0);
    mu_tcp_connection_shutdown(conn);
  }
}

static void setup_first(mu_tcp_server_t *server, void *arg) {
  setup(server, arg);
  mu_tcp_server_set_connection_callback(server, on_first_connection, arg);
}

static void run_ours_first(int io_threads) {
  st_t fs = {.mode = MODE_HOLD};
  tt_server_t srv;
  tt_server_start(&srv, "HalfOpenFirst", io_threads, setup_first, &fs);
  int fd = tt_connect(srv.port);
  char got[6];
  tt_read_exactly(fd, got, sizeof got);
  CHECK(memcmp(got, "hello\n", 6) == 0);
  tt_expect_eof(fd);
  /* The server still reads after its own half-close. */
  tt_write_all(fd, "late request", 12);
  CHECK_EQ(shutdown(fd, SHUT_WR), 0);
  CHECK_EQ(tt_server_wait_connections(&srv, 0, 20), 0);
  CHECK_EQ(atomic_load(&fs.received), 12);
  CHECK_EQ(atomic_load(&fs.half_closes), 0);
  CHECK_EQ(atomic_load(&fs.counters.down), 1);
  CHECK_EQ(close(fd), 0);
  tt_server_stop(&srv);
  printf("  half-open, io_threads=%d: our shutdown first, the FIN closes\n", io_threads);
}

/* Mode off: the FIN closes the connection once the echo is out (muduo). */
typedef struct off_st {
  st_t base;
  _Atomic(mu_tcp_connection_t *) conn;
} off_st_t;

static void on_off_connection(mu_tcp_connection_t *conn, void *arg) {
  off_st_t *os = arg;
  tt_count_connection(conn, &os->base.counters);
  if (mu_tcp_connection_connected(conn)) {
    mu_tcp_connection_ref(conn);
    atomic_store(&os->conn, conn);
  }
}

static void setup_off(mu_tcp_server_t *server, void *arg) {
  mu_tcp_server_set_connection_callback(server, on_off_connection, arg);
  mu_tcp_server_set_message_callback(server, tt_echo_on_message, NULL);
}

static void run_mode_off(int io_threads) {
  off_st_t os = {0};
  tt_server_t srv;
  tt_server_start(&srv, "HalfOpenOff", io_threads, setup_off, &os);
  int fd = tt_connect(srv.port);
  tt_write_all(fd, "echo me", 7);
  CHECK_EQ(shutdown(fd, SHUT_WR), 0);
  char got[7];
  tt_read_exactly(fd, got, sizeof got);
  CHECK(memcmp(got, "echo me", 7) == 0);
  tt_expect_eof(fd);
  CHECK_EQ(tt_server_wait_connections(&srv, 0, 20), 0);
  mu_tcp_connection_t *conn = atomic_load(&os.conn);
  CHECK(conn != NULL);
  CHECK(mu_tcp_connection_disconnected(conn));
  CHECK_EQ(mu_tcp_connection_send_str(conn, "late"), -ENOTCONN);
  CHECK_EQ(atomic_load(&os.base.counters.down), 1);
  mu_tcp_connection_unref(conn);
  CHECK_EQ(close(fd), 0);
  tt_server_stop(&srv);
  printf("  mode off, io_threads=%d: the FIN closed after the echo\n", io_threads);
}

int main(void) {
  tt_init("tcp_half_open", 120);
  uint64_t seed = tt_seed(0x4a1f09e7);
  for (int io_threads = 0; io_threads <= 2; io_threads += 2) {
    run_mode_on(io_threads, seed);
    run_answer_in_callback(io_threads);
    run_ours_first(io_threads);
    run_mode_off(io_threads);
  }
  TEST_PASS("tcp_half_open");
}
