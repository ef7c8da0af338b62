/* TcpClient's API beyond connect-and-echo, against plain sockets of the test
 * acting as the server:
 * - stop() while retrying against a refused port (called from another thread):
 *   no more attempts, no connection callback; connect() later starts again;
 * - stop() while a connect is in flight: that socket is dropped, nothing is
 *   counted as failed; and stop()/disconnect() from another thread just as
 *   the connect completes: that socket is dropped too;
 * - disconnect() while retrying, before any connection: no more attempts;
 * - stop() while connected: the connection stays (muduo's contract), and when
 *   the peer later closes it no reconnect follows even with retry enabled;
 * - disconnect() while output is still queued: the peer receives every byte,
 *   then end of file, and no reconnect follows;
 * - the write-complete callback after a large send has drained; name,
 *   get_loop, connect() while connected changing nothing;
 * - bad calls: retry delays out of range are refused (-EINVAL) and leave the
 *   delays as they were; free(NULL) and connection_ref without a connection. */
#include <math.h>
#include <poll.h>

#include "cmuduo/cmuduo.h"
#include "tcp_test_util.h"
#include "test_util.h"

/* A client in its own loop thread; the test thread plays the server. */
typedef struct cli {
  mu_event_loop_thread_t *thread;
  mu_event_loop_t *loop;
  mu_tcp_client_t *client;
  const char *name;
  uint16_t port;
  bool retry;
  double delay, max_delay;
  _Atomic int up, down;
  _Atomic int write_completes;
  _Atomic size_t pending_at_write_complete; /* output queued when it last ran */
  _Atomic uint64_t sent_at_write_complete;  /* bytes_sent when it last ran */
  _Atomic size_t received;
} cli_t;

static void noop(void *arg) {
  (void)arg;
}

static void sync_loop(mu_event_loop_t *loop) {
  tt_run_sync(loop, noop, NULL);
}

static void on_connection(mu_tcp_connection_t *conn, void *arg) {
  cli_t *c = arg;
  CHECK(mu_event_loop_is_in_loop_thread(c->loop));
  CHECK(mu_tcp_connection_get_loop(conn) == c->loop);
  if (mu_tcp_connection_connected(conn)) {
    char prefix[96];
    snprintf(prefix, sizeof prefix, "%s-127.0.0.1:%u#", c->name, c->port);
    CHECK(strncmp(mu_tcp_connection_name(conn), prefix, strlen(prefix)) == 0);
    atomic_fetch_add(&c->up, 1);
  } else {
    atomic_fetch_add(&c->down, 1);
  }
}

static void on_message(mu_tcp_connection_t *conn, mu_buffer_t *buf, mu_timestamp_t t,
                       void *arg) {
  (void)conn;
  (void)t;
  cli_t *c = arg;
  atomic_fetch_add(&c->received, mu_buffer_readable_bytes(buf));
  mu_buffer_retrieve_all(buf);
}

static void on_write_complete(mu_tcp_connection_t *conn, void *arg) {
  cli_t *c = arg;
  CHECK(mu_event_loop_is_in_loop_thread(c->loop));
  mu_buffer_t *out = mu_tcp_connection_output_buffer(conn);
  atomic_store(&c->pending_at_write_complete, out ? mu_buffer_readable_bytes(out) : 0);
  atomic_store(&c->sent_at_write_complete, mu_tcp_connection_bytes_sent(conn));
  atomic_fetch_add(&c->write_completes, 1);
}

static void cli_new_in_loop(void *p) {
  cli_t *c = p;
  mu_inet_address_t addr = mu_inet_address_loopback(c->port);
  c->client = mu_tcp_client_new(c->loop, &addr, c->name);
  CHECK(c->client != NULL);
  CHECK_STREQ(mu_tcp_client_name(c->client), c->name);
  CHECK(mu_tcp_client_get_loop(c->client) == c->loop);
  CHECK(!mu_tcp_client_retry(c->client));
  if (c->retry) {
    mu_tcp_client_enable_retry(c->client);
    CHECK(mu_tcp_client_retry(c->client));
  }
  CHECK_EQ(mu_tcp_client_set_retry_delays(c->client, c->delay, c->max_delay), 0);
  mu_tcp_client_set_connection_callback(c->client, on_connection, c);
  mu_tcp_client_set_message_callback(c->client, on_message, c);
  mu_tcp_client_set_write_complete_callback(c->client, on_write_complete, c);
  CHECK_EQ(mu_tcp_client_failed_attempts(c->client), 0);
  CHECK(mu_tcp_client_connection_ref(c->client) == NULL);
}

/* A client of 127.0.0.1:port (not connecting yet) in a new loop thread. */
static void cli_open(cli_t *c, const char *name, uint16_t port, bool retry) {
  memset(c, 0, sizeof *c);
  c->name = name;
  c->port = port;
  c->retry = retry;
  c->delay = 0.01;
  c->max_delay = 0.02;
  c->thread = mu_event_loop_thread_new(NULL, NULL, "api-client");
  CHECK(c->thread != NULL);
  c->loop = mu_event_loop_thread_start_loop(c->thread);
  CHECK(c->loop != NULL);
  tt_run_sync(c->loop, cli_new_in_loop, c);
}

static void cli_free_in_loop(void *p) {
  cli_t *c = p;
  mu_tcp_client_free(c->client);
  c->client = NULL;
}

static void cli_close(cli_t *c) {
  tt_run_sync(c->loop, cli_free_in_loop, c);
  mu_event_loop_thread_free(c->thread);
}

typedef struct failed_call {
  cli_t *c;
  int n;
} failed_call_t;

static void failed_in_loop(void *p) {
  failed_call_t *f = p;
  f->n = mu_tcp_client_failed_attempts(f->c->client);
}

/* failed_attempts is a loop-thread call: asked there. */
static int cli_failed(cli_t *c) {
  failed_call_t f = {c, -1};
  tt_run_sync(c->loop, failed_in_loop, &f);
  return f.n;
}

static bool cli_wait_failed(cli_t *c, int want) {
  double deadline = tt_now() + 20.0;
  while (cli_failed(c) < want) {
    if (tt_now() > deadline)
      return false;
    tt_sleep_ms(2);
  }
  return true;
}

static bool wait_at_least(_Atomic int *v, int want) {
  double deadline = tt_now() + 20.0;
  while (atomic_load(v) < want) {
    if (tt_now() > deadline)
      return false;
    tt_sleep_ms(1);
  }
  return true;
}

/* ---- plain sockets playing the server ---------------------------------------- */

/* Bound to 127.0.0.1:<ephemeral> and not listening: connects to it are refused
 * while it is held, and nobody else can take the port. */
static int bound_socket(uint16_t *port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CHECK(fd >= 0);
  struct sockaddr_in sa = tt_loopback(0);
  CHECK(bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
  socklen_t len = sizeof sa;
  CHECK(getsockname(fd, (struct sockaddr *)&sa, &len) == 0);
  *port = ntohs(sa.sin_port);
  return fd;
}

static int listening_socket(uint16_t *port) {
  int fd = bound_socket(port);
  CHECK(listen(fd, 16) == 0);
  return fd;
}

/* Accepts one connection, waiting at most TT_IO_TIMEOUT_S. */
static int accept_one(int listen_fd) {
  tt_set_timeouts(listen_fd, TT_IO_TIMEOUT_S);
  int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
  if (fd < 0) {
    fprintf(stderr, "accept: %s\n", strerror(errno));
    abort();
  }
  tt_set_timeouts(fd, TT_IO_TIMEOUT_S);
  return fd;
}

/* True if a connection is waiting in listen_fd's queue. */
static bool connection_waiting(int listen_fd) {
  struct pollfd pfd = {.fd = listen_fd, .events = POLLIN};
  int n = poll(&pfd, 1, 0);
  CHECK(n >= 0);
  if (n == 0)
    return false;
  int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
  CHECK(fd >= 0);
  CHECK(close(fd) == 0);
  return true;
}

/* The client tries nothing more: its count of failed attempts and its
 * callbacks stay as they are for a while (many retry delays long), and no
 * connect reaches listen_fd (if >= 0). */
static void expect_quiet(cli_t *c, int listen_fd, int failed, int up, int down) {
  tt_sleep_ms(300); /* 15 times the longest retry delay */
  CHECK_EQ(cli_failed(c), failed);
  CHECK_EQ(atomic_load(&c->up), up);
  CHECK_EQ(atomic_load(&c->down), down);
  if (listen_fd >= 0)
    CHECK(!connection_waiting(listen_fd));
}

/* ---- stop ---------------------------------------------------------------------- */

/* stop() from another thread while the client retries a refused port. */
static void check_stop_while_retrying(void) {
  uint16_t port;
  int raw = bound_socket(&port);
  cli_t c;
  cli_open(&c, "StopRetrying", port, true);
  mu_tcp_client_connect(c.client); /* thread-safe */
  CHECK(cli_wait_failed(&c, 3));
  mu_tcp_client_stop(c.client); /* thread-safe */
  sync_loop(c.loop);
  int failed = cli_failed(&c);
  printf("stopped after %d refused attempts\n", failed);

  /* Now something listens on the port: a retry would be accepted there. */
  CHECK(listen(raw, 16) == 0);
  expect_quiet(&c, raw, failed, 0, 0);
  CHECK(mu_tcp_client_connection_ref(c.client) == NULL);

  /* connect() starts again after stop(). */
  mu_tcp_client_connect(c.client);
  int peer = accept_one(raw);
  CHECK(wait_at_least(&c.up, 1));
  CHECK_EQ(cli_failed(&c), failed);
  CHECK(close(peer) == 0);
  CHECK(wait_at_least(&c.down, 1)); /* with retry on, it reconnects */
  peer = accept_one(raw);
  CHECK(wait_at_least(&c.up, 2));
  CHECK(close(peer) == 0);
  CHECK(wait_at_least(&c.down, 2));
  mu_tcp_client_stop(c.client);
  sync_loop(c.loop);
  cli_close(&c);
  CHECK(close(raw) == 0);
  printf("stop while retrying: ok\n");
}

static void connect_then_stop_in_loop(void *p) {
  cli_t *c = p;
  /* In the loop thread both run at once: the connect is under way (its
   * socket not yet writable) when stop() drops it. */
  mu_tcp_client_connect(c->client);
  mu_tcp_client_stop(c->client);
}

static void check_stop_while_connecting(void) {
  uint16_t port;
  int raw = listening_socket(&port);
  cli_t c;
  cli_open(&c, "StopConnecting", port, true);
  tt_run_sync(c.loop, connect_then_stop_in_loop, &c);
  tt_sleep_ms(300);
  CHECK_EQ(cli_failed(&c), 0);
  CHECK_EQ(atomic_load(&c.up), 0);
  /* The kernel may have completed that handshake: drain it, then nothing. */
  connection_waiting(raw);
  expect_quiet(&c, raw, 0, 0, 0);

  mu_tcp_client_connect(c.client);
  int peer = accept_one(raw);
  CHECK(wait_at_least(&c.up, 1));
  cli_close(&c); /* free while connected: its down callback runs */
  CHECK_EQ(atomic_load(&c.down), 1);
  tt_expect_eof(peer);
  CHECK(close(peer) == 0);
  CHECK(close(raw) == 0);
  printf("stop while connecting: ok\n");
}

/* The loop is held inside a functor that has just started a connect (twice:
 * the second changes nothing), while the test thread calls stop() or
 * disconnect() and the kernel completes the handshake. Released, the loop
 * sees the socket writable before it runs the queued connector stop: the
 * finished connect must be dropped, not become a connection. */
typedef struct hold {
  cli_t *c;
  mu_countdown_latch_t connecting;
  mu_countdown_latch_t release;
} hold_t;

static void connect_and_hold_in_loop(void *p) {
  hold_t *h = p;
  mu_tcp_client_connect(h->c->client);
  mu_tcp_client_connect(h->c->client);
  mu_countdown_latch_count_down(&h->connecting);
  mu_countdown_latch_wait(&h->release);
}

static void wait_readable(int fd) {
  struct pollfd pfd = {.fd = fd, .events = POLLIN};
  CHECK(poll(&pfd, 1, TT_IO_TIMEOUT_S * 1000) == 1);
}

static void check_stop_racing_connect(bool use_disconnect) {
  uint16_t port;
  int raw = listening_socket(&port);
  cli_t c;
  cli_open(&c, "StopRacing", port, true);
  hold_t h = {.c = &c};
  mu_countdown_latch_init(&h.connecting, 1);
  mu_countdown_latch_init(&h.release, 1);
  CHECK_EQ(mu_event_loop_queue_in_loop(c.loop, connect_and_hold_in_loop, &h), 0);
  mu_countdown_latch_wait(&h.connecting);
  wait_readable(raw); /* the handshake is done */
  if (use_disconnect) {
    mu_tcp_client_disconnect(c.client);
  } else {
    mu_tcp_client_stop(c.client);
  }
  mu_countdown_latch_count_down(&h.release);
  sync_loop(c.loop);
  int peer = accept_one(raw);
  tt_expect_eof(peer); /* the client closed it */
  CHECK(close(peer) == 0);
  expect_quiet(&c, raw, 0, 0, 0);
  CHECK(mu_tcp_client_connection_ref(c.client) == NULL);

  mu_tcp_client_connect(c.client); /* and connects again when asked */
  peer = accept_one(raw);
  CHECK(wait_at_least(&c.up, 1));
  cli_close(&c);
  tt_expect_eof(peer);
  CHECK(close(peer) == 0);
  CHECK(close(raw) == 0);
  mu_countdown_latch_destroy(&h.connecting);
  mu_countdown_latch_destroy(&h.release);
  printf("%s racing a finishing connect: ok\n", use_disconnect ? "disconnect" : "stop");
}

/* stop() while connected: "stops connecting (an established connection
 * stays)". Data still flows both ways; when the peer closes, retry does not
 * bring the connection back, since stop() ended the wish to be connected. */
static void check_stop_while_connected(void) {
  uint16_t port;
  int raw = listening_socket(&port);
  cli_t c;
  cli_open(&c, "StopConnected", port, true);
  mu_tcp_client_connect(c.client);
  int peer = accept_one(raw);
  CHECK(wait_at_least(&c.up, 1));
  mu_tcp_client_stop(c.client);
  sync_loop(c.loop);

  mu_tcp_connection_t *conn = mu_tcp_client_connection_ref(c.client);
  CHECK(conn != NULL);
  CHECK(mu_tcp_connection_connected(conn));
  CHECK_EQ(mu_tcp_connection_send(conn, "hello", 5), 0);
  char got[5];
  tt_read_exactly(peer, got, sizeof got);
  CHECK(memcmp(got, "hello", 5) == 0);
  tt_write_all(peer, "world!", 6);
  double deadline = tt_now() + 20.0;
  while (atomic_load(&c.received) < 6) {
    CHECK(tt_now() < deadline);
    tt_sleep_ms(1);
  }
  CHECK_EQ(atomic_load(&c.received), 6);
  CHECK_EQ(atomic_load(&c.down), 0);

  CHECK(close(peer) == 0);
  CHECK(wait_at_least(&c.down, 1));
  CHECK(mu_tcp_connection_disconnected(conn));
  mu_tcp_connection_unref(conn);
  expect_quiet(&c, raw, 0, 1, 1);
  CHECK(mu_tcp_client_connection_ref(c.client) == NULL);
  cli_close(&c);
  CHECK(close(raw) == 0);
  printf("stop while connected: ok\n");
}

/* ---- disconnect ---------------------------------------------------------------- */

typedef struct pending_call {
  cli_t *c;
  size_t pending;
  mu_tcp_connection_state_t state;
} pending_call_t;

static void pending_in_loop(void *p) {
  pending_call_t *q = p;
  mu_tcp_connection_t *conn = mu_tcp_client_connection_ref(q->c->client);
  CHECK(conn != NULL);
  mu_buffer_t *out = mu_tcp_connection_output_buffer(conn);
  q->pending = out ? mu_buffer_readable_bytes(out) : 0;
  q->state = mu_tcp_connection_state(conn);
  mu_tcp_connection_unref(conn);
}

/* Reads until end of file, checking every byte against stream `stream`. */
static size_t read_pattern_until_eof(int fd, uint64_t stream) {
  static char buf[65536];
  size_t total = 0;
  for (;;) {
    ssize_t n = tt_read_some(fd, buf, sizeof buf);
    if (n == 0)
      return total;
    if (n < 0) {
      fprintf(stderr, "read after %zu bytes: %s\n", total, strerror((int)-n));
      abort();
    }
    CHECK_EQ(tt_pattern_check(stream, total, buf, (size_t)n), n);
    total += (size_t)n;
  }
}

static char *pattern_payload(uint64_t stream, size_t len) {
  char *p = malloc(len);
  CHECK(p != NULL);
  tt_pattern_fill(stream, 0, p, len);
  return p;
}

/* Larger than any kernel send buffer plus the small receive buffer: the tail
 * is still in the connection's output queue when disconnect() is called. */
static size_t big_size(void) {
  return TT_SANITIZED ? (size_t)8 << 20 : (size_t)16 << 20;
}

static void check_disconnect_with_pending_output(void) {
  uint16_t port;
  int raw = listening_socket(&port);
  int small = 4096;
  CHECK(setsockopt(raw, SOL_SOCKET, SO_RCVBUF, &small, sizeof small) == 0);
  cli_t c;
  cli_open(&c, "Disconnect", port, true);
  mu_tcp_client_connect(c.client);
  int peer = accept_one(raw);
  CHECK(wait_at_least(&c.up, 1));

  size_t len = big_size();
  char *data = pattern_payload(7, len);
  mu_tcp_connection_t *conn = mu_tcp_client_connection_ref(c.client);
  CHECK(conn != NULL);
  CHECK_EQ(mu_tcp_connection_send(conn, data, len), 0); /* thread-safe: a copy */
  free(data);
  mu_tcp_client_disconnect(c.client);
  pending_call_t q = {&c, 0, MU_TCP_CONNECTED};
  tt_run_sync(c.loop, pending_in_loop, &q);
  printf("disconnect with %zu of %zu bytes still queued\n", q.pending, len);
  CHECK(q.pending > 0);
  CHECK_EQ(q.state, MU_TCP_DISCONNECTING);

  CHECK_EQ(read_pattern_until_eof(peer, 7), len);
  CHECK(close(peer) == 0);
  CHECK(wait_at_least(&c.down, 1));
  CHECK(mu_tcp_connection_disconnected(conn));
  mu_tcp_connection_unref(conn);
  expect_quiet(&c, raw, 0, 1, 1); /* retry is on, but disconnect() said stop */

  mu_tcp_client_connect(c.client); /* and connect() brings it back */
  peer = accept_one(raw);
  CHECK(wait_at_least(&c.up, 2));
  cli_close(&c);
  tt_expect_eof(peer);
  CHECK(close(peer) == 0);
  CHECK(close(raw) == 0);
  printf("disconnect after queued output: ok\n");
}

/* ---- write complete, names, connect while connected ----------------------------- */

typedef struct big_send {
  cli_t *c;
  size_t len;
} big_send_t;

static void big_send_in_loop(void *p) {
  big_send_t *b = p;
  mu_tcp_connection_t *conn = mu_tcp_client_connection_ref(b->c->client);
  CHECK(conn != NULL);
  char *data = pattern_payload(11, b->len);
  CHECK_EQ(mu_tcp_connection_send(conn, data, b->len), 0);
  free(data);
  mu_buffer_t *out = mu_tcp_connection_output_buffer(conn);
  CHECK(out != NULL && mu_buffer_readable_bytes(out) > 0); /* it did back up */
  mu_tcp_connection_unref(conn);
}

static void check_write_complete(void) {
  uint16_t port;
  int raw = listening_socket(&port);
  int small = 4096;
  CHECK(setsockopt(raw, SOL_SOCKET, SO_RCVBUF, &small, sizeof small) == 0);
  cli_t c;
  cli_open(&c, "WriteComplete", port, false);
  mu_tcp_client_connect(c.client);
  int peer = accept_one(raw);
  CHECK(wait_at_least(&c.up, 1));

  /* Connected: connect() again changes nothing (no second connection). */
  mu_tcp_client_connect(c.client);
  sync_loop(c.loop);

  big_send_t b = {&c, big_size()};
  tt_run_sync(c.loop, big_send_in_loop, &b);
  CHECK_EQ(atomic_load(&c.write_completes), 0); /* not before it drained */
  size_t got = 0;
  static char buf[65536];
  while (got < b.len) {
    ssize_t n = tt_read_some(peer, buf, sizeof buf);
    CHECK(n > 0);
    CHECK_EQ(tt_pattern_check(11, got, buf, (size_t)n), n);
    got += (size_t)n;
  }
  CHECK(wait_at_least(&c.write_completes, 1));
  sync_loop(c.loop);
  CHECK_EQ(atomic_load(&c.write_completes), 1);
  CHECK_EQ(atomic_load(&c.pending_at_write_complete), 0);
  CHECK_EQ(atomic_load(&c.sent_at_write_complete), b.len);

  CHECK(!connection_waiting(raw));
  CHECK_EQ(atomic_load(&c.up), 1);
  CHECK(close(peer) == 0);
  CHECK(wait_at_least(&c.down, 1));
  expect_quiet(&c, raw, 0, 1, 1); /* no retry: it stays down */
  cli_close(&c);
  CHECK(close(raw) == 0);
  printf("write complete after %zu bytes drained: ok\n", b.len);
}

/* ---- bad calls ------------------------------------------------------------------ */

static void bad_delays_in_loop(void *p) {
  cli_t *c = p;
  const double bad[][2] = {{0.0, 0.02}, {-1.0, 0.02}, {0.0005, 0.02},   {0.03, 0.02},
                           {NAN, 0.02}, {0.01, NAN},  {0.01, INFINITY}, {0.01, 86401.0}};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; ++i)
    CHECK_EQ(mu_tcp_client_set_retry_delays(c->client, bad[i][0], bad[i][1]), -EINVAL);
}

/* A refused call leaves the delays set before it: eight refused attempts come
 * quickly (with the 0.5 s doubling default they would take over a minute). */
static void check_bad_calls(void) {
  mu_tcp_client_free(NULL);
  uint16_t port;
  int raw = bound_socket(&port);
  cli_t c;
  cli_open(&c, "BadCalls", port, true);
  tt_run_sync(c.loop, bad_delays_in_loop, &c);
  mu_tcp_client_connect(c.client);
  CHECK(cli_wait_failed(&c, 8));
  CHECK(mu_tcp_client_connection_ref(c.client) == NULL);
  cli_close(&c); /* free while retrying */
  CHECK_EQ(atomic_load(&c.up), 0);
  CHECK(close(raw) == 0);
  printf("bad calls: ok\n");
}

/* Not connected yet, disconnect() "stops retrying" as well. */
static void check_disconnect_while_retrying(void) {
  uint16_t port;
  int raw = bound_socket(&port);
  cli_t c;
  cli_open(&c, "DisconnectRetrying", port, true);
  mu_tcp_client_connect(c.client);
  CHECK(cli_wait_failed(&c, 3));
  mu_tcp_client_disconnect(c.client);
  sync_loop(c.loop);
  int failed = cli_failed(&c);
  CHECK(listen(raw, 16) == 0);
  expect_quiet(&c, raw, failed, 0, 0);
  cli_close(&c);
  CHECK(close(raw) == 0);
  printf("disconnect while retrying: ok\n");
}

int main(void) {
  tt_init("tcp_client_api", 240);
  check_bad_calls();
  check_stop_while_retrying();
  check_stop_while_connecting();
  check_stop_racing_connect(false);
  check_stop_racing_connect(true);
  check_disconnect_while_retrying();
  check_stop_while_connected();
  check_disconnect_with_pending_output();
  check_write_complete();
  TEST_PASS("tcp_client_api");
}
