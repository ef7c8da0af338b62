/* Half-close, both ways.
 *
 * Client half-close: the client sends N bytes and shuts down its write side;
 * the echo server must send every byte back before it closes (the client reads
 * to end of file and compares). With N small the FIN arrives right behind the
 * data; in the backed-up case the client reads nothing until after its
 * shutdown, so the server sees the FIN with megabytes of echo still queued.
 *
 * Server half-close: the server queues 16 MiB to a client that is not reading
 * and calls mu_tcp_connection_shutdown at once; the FIN must come after the
 * last byte, not instead of it.
 *
 * Held reference: a user reference to a connection that went down (peer
 * half-close, force_close) must not keep the peer waiting for our FIN. */
#include "tcp_test_util.h"

typedef struct server_state {
  tt_conn_counters_t counters;
  _Atomic size_t max_queued; /* the biggest output backlog seen after an echo */
} server_state_t;

/* Echo, and note how much output waits in the connection's buffer. */
static void on_message(mu_tcp_connection_t *conn, mu_buffer_t *buf, mu_timestamp_t t,
                       void *arg) {
  (void)t;
  server_state_t *st = arg;
  mu_tcp_connection_send_buffer(conn, buf);
  size_t queued = mu_buffer_readable_bytes(mu_tcp_connection_output_buffer(conn));
  if (queued > atomic_load(&st->max_queued)) {
    atomic_store(&st->max_queued, queued);
  }
}

static void setup_echo(mu_tcp_server_t *server, void *arg) {
  server_state_t *st = arg;
  mu_tcp_server_set_connection_callback(server, tt_count_connection, &st->counters);
  mu_tcp_server_set_message_callback(server, on_message, st);
}

/* Reads until end of file; the bytes must be exactly stream[0, len). */
static void expect_stream_then_eof(int fd, uint64_t stream, size_t len) {
  static char buf[128 * 1024];
  size_t got = 0;
  for (;;) {
    ssize_t n = tt_read_some(fd, buf, sizeof buf);
    if (n < 0) {
      fprintf(stderr, "read after %zu of %zu bytes: %s\n", got, len, strerror((int)-n));
      abort();
    }
    if (n == 0)
      break;
    if (got + (size_t)n > len) {
      fprintf(stderr, "%zu bytes past the %zu expected\n", got + (size_t)n - len, len);
      abort();
    }
    size_t bad = tt_pattern_check(stream, got, buf, (size_t)n);
    if (bad != (size_t)n) {
      fprintf(stderr, "byte %zu of %zu differs\n", got + bad, len);
      abort();
    }
    got += (size_t)n;
  }
  if (got != len) {
    fprintf(stderr, "end of file after %zu of %zu bytes\n", got, len);
    abort();
  }
}

static void send_stream(int fd, uint64_t stream, size_t len) {
  static char buf[256 * 1024];
  for (size_t off = 0; off < len;) {
    size_t n = len - off < sizeof buf ? len - off : sizeof buf;
    tt_pattern_fill(stream, off, buf, n);
    tt_write_all(fd, buf, n);
    off += n;
  }
}

/* Send, half-close, read the whole echo, end of file. */
static void client_half_close(uint16_t port, uint64_t stream, size_t len) {
  int fd = tt_connect(port);
  send_stream(fd, stream, len);
  CHECK(shutdown(fd, SHUT_WR) == 0);
  expect_stream_then_eof(fd, stream, len);
  CHECK(close(fd) == 0);
}

/* Like client_half_close, but the client's receive window is small and it
 * reads nothing until it has sent everything and shut down: the echo piles up
 * in the server's output buffer, and the FIN reaches the server with that
 * backlog queued. */
static void client_half_close_backed_up(tt_server_t *srv, server_state_t *st,
                                        uint64_t stream, size_t len) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CHECK(fd >= 0);
  tt_set_timeouts(fd, TT_IO_TIMEOUT_S);
  tt_set_small_buffers(fd, 64 * 1024); /* before connect: fixes the window */
  struct sockaddr_in sa = tt_loopback(srv->port);
  CHECK(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
  send_stream(fd, stream, len);
  CHECK(shutdown(fd, SHUT_WR) == 0);
  /* Give the server time to read the FIN while its backlog is queued (the
   * outcome must be the same either way, only the path differs). */
  tt_sleep_ms(200);
  size_t queued = atomic_load(&st->max_queued);
  printf("  backed up: server queued up to %zu bytes of %zu\n", queued, len);
  CHECK(queued >= len / 2);
  expect_stream_then_eof(fd, stream, len);
  CHECK(close(fd) == 0);
}

static void run_client_half_close(int io_threads, uint64_t seed) {
  server_state_t st = {0};
  tt_server_t srv;
  tt_server_start(&srv, "HalfClose", io_threads, setup_echo, &st);
  tt_server_shrink_sndbuf(&srv, 8 * 1024); /* the echo queues in the server */
  static const size_t k_lens[] = {1, 7, 4096, 65537, 1000000, 3 * 1024 * 1024};
  size_t ncases = sizeof k_lens / sizeof k_lens[0];
  for (size_t i = 0; i < ncases; ++i) {
    client_half_close(srv.port, tt_mix64(seed + i), k_lens[i]);
  }
  client_half_close_backed_up(&srv, &st, tt_mix64(seed + 100), 32 * 1024 * 1024);
  CHECK_EQ(tt_server_wait_connections(&srv, 0, 20), 0);
  CHECK_EQ(atomic_load(&st.counters.up), (long)ncases + 1);
  CHECK_EQ(atomic_load(&st.counters.down), (long)ncases + 1);
  tt_server_stop(&srv);
  printf("  client half-close, io_threads=%d: %zu connections ok\n", io_threads,
         ncases + 1);
}

/* ---- server half-close ------------------------------------------------------ */

#define SERVER_PUSH (16u * 1024 * 1024)

typedef struct push_state {
  tt_conn_counters_t counters;
  uint64_t stream;
  _Atomic int send_rc;
} push_state_t;

static void on_push_connection(mu_tcp_connection_t *conn, void *arg) {
  push_state_t *ps = arg;
  tt_count_connection(conn, &ps->counters);
  if (!mu_tcp_connection_connected(conn))
    return;
  char *buf = malloc(SERVER_PUSH);
  CHECK(buf != NULL);
  tt_pattern_fill(ps->stream, 0, buf, SERVER_PUSH);
  atomic_store(&ps->send_rc, mu_tcp_connection_send(conn, buf, SERVER_PUSH));
  free(buf);
  mu_tcp_connection_shutdown(conn); /* must wait for the 16 MiB to drain */
}

static void setup_push(mu_tcp_server_t *server, void *arg) {
  mu_tcp_server_set_connection_callback(server, on_push_connection, arg);
}

static void run_server_half_close(int io_threads, uint64_t seed) {
  push_state_t ps = {.stream = tt_mix64(seed), .send_rc = 1};
  tt_server_t srv;
  tt_server_start(&srv, "ServerShutdown", io_threads, setup_push, &ps);
  tt_server_shrink_sndbuf(&srv, 8 * 1024);
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CHECK(fd >= 0);
  tt_set_timeouts(fd, TT_IO_TIMEOUT_S);
  tt_set_small_buffers(fd, 64 * 1024);
  struct sockaddr_in sa = tt_loopback(srv.port);
  CHECK(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
  tt_sleep_ms(100); /* the server queues and asks for shutdown before we read */
  expect_stream_then_eof(fd, ps.stream, SERVER_PUSH);
  CHECK_EQ(atomic_load(&ps.send_rc), 0);
  /* The server half-closed only: it still reads, and closes on our FIN. */
  CHECK_EQ(tt_server_connection_count(&srv), 1);
  CHECK(shutdown(fd, SHUT_WR) == 0);
  CHECK_EQ(tt_server_wait_connections(&srv, 0, 20), 0);
  CHECK(close(fd) == 0);
  CHECK_EQ(atomic_load(&ps.counters.up), 1);
  CHECK_EQ(atomic_load(&ps.counters.down), 1);
  tt_server_stop(&srv);
  printf("  server half-close, io_threads=%d: 16 MiB then end of file\n", io_threads);
}

/* ---- a user reference does not keep the socket open ------------------------ */

/* A reference taken in the connection callback (to send from another thread,
 * say) keeps the memory and the descriptor number, not the connection: once
 * the connection is down, the peer must see the close at once. */
typedef struct held_state {
  tt_conn_counters_t counters;
  _Atomic(mu_tcp_connection_t *) held[2];
  _Atomic int nheld;
} held_state_t;

static void on_held_connection(mu_tcp_connection_t *conn, void *arg) {
  held_state_t *hs = arg;
  tt_count_connection(conn, &hs->counters);
  if (!mu_tcp_connection_connected(conn))
    return;
  int i = atomic_fetch_add(&hs->nheld, 1);
  CHECK(i < 2);
  mu_tcp_connection_ref(conn);
  atomic_store(&hs->held[i], conn);
}

static void setup_held(mu_tcp_server_t *server, void *arg) {
  mu_tcp_server_set_connection_callback(server, on_held_connection, arg);
  mu_tcp_server_set_message_callback(server, tt_echo_on_message, NULL);
}

static void run_held_reference(int io_threads) {
  held_state_t hs = {0};
  tt_server_t srv;
  tt_server_start(&srv, "HeldRef", io_threads, setup_held, &hs);
  /* The peer half-closes: echo, then end of file, reference or not. */
  int fd = tt_connect(srv.port);
  tt_set_timeouts(fd, 10);
  tt_write_all(fd, "hello", 5);
  CHECK(shutdown(fd, SHUT_WR) == 0);
  char back[5];
  tt_read_exactly(fd, back, 5);
  CHECK(memcmp(back, "hello", 5) == 0);
  tt_expect_eof(fd);
  CHECK(close(fd) == 0);
  CHECK_EQ(tt_server_wait_connections(&srv, 0, 20), 0);
  /* force_close from another thread while holding the reference. */
  fd = tt_connect(srv.port);
  tt_set_timeouts(fd, 10);
  tt_write_all(fd, "x", 1);
  tt_read_exactly(fd, back, 1); /* up, and its reference taken */
  mu_tcp_connection_t *conn = atomic_load(&hs.held[1]);
  CHECK(conn != NULL);
  mu_tcp_connection_force_close(conn);
  tt_expect_eof(fd);
  CHECK(close(fd) == 0);
  CHECK_EQ(tt_server_wait_connections(&srv, 0, 20), 0);
  CHECK_EQ(atomic_load(&hs.counters.down), 2);
  CHECK(mu_tcp_connection_disconnected(conn));
  CHECK_EQ(mu_tcp_connection_send(conn, "late", 4), -ENOTCONN);
  tt_server_stop(&srv);
  mu_tcp_connection_unref(atomic_load(&hs.held[0]));
  mu_tcp_connection_unref(conn);
  printf("  held reference, io_threads=%d: the peer saw both closes\n", io_threads);
}

int main(void) {
  tt_init("tcp_half_close", 200);
  uint64_t seed = tt_seed(0x4a1fc105e);
  for (int io_threads = 0; io_threads <= 2; io_threads += 2) {
    run_client_half_close(io_threads, seed);
    run_server_half_close(io_threads, seed + 1);
    run_held_reference(io_threads);
  }
  TEST_PASS("tcp_half_close");
}
