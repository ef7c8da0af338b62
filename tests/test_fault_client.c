/* TcpClient, byte-exact, while the client's system calls fail at random
 * (tests/fault/fault.h): connect refused or interrupted, EINTR/EAGAIN and
 * short reads and writes on its sockets, resets, EINTR on epoll_wait/poll.
 *
 * The mirror of test_fault_echo: here the code under test is the client side
 * (connector, TcpClient, its connections) in a loop thread that opts in to
 * faults; the echo server runs in threads that do not, so it is the kernel as
 * it is. 120 clients (60 under sanitizers) on one loop each connect (short
 * retry delays, so refused connects are retried at once), send a stream of
 * log-uniform size in [1 B, 256 KiB] in random pieces, check every echoed byte
 * at its offset in the message callback, then disconnect (half-close after the
 * output drains) and must see the connection go down; then connect again, five
 * connections per client in all. A connection may go
 * down early only when the fault layer reset that very connection (its local
 * port). Three seeds, or MU_FAULT_SEED. */
#include "tcp_test_util.h"

#include "fault/fault_client.h"

#define CLIENTS (TT_SANITIZED ? 60 : 120)
#define MAX_SIZE (256 * 1024)
#define MAX_PIECE 16384
#define ROUNDS 5 /* connections per client, one after another */

typedef struct cli {
  mu_tcp_client_t *client;
  uint64_t stream;
  size_t size, sent, echoed;
  uint16_t port;
  int ups, downs, round;
  bool complete;
} cli_t;

static struct {
  cli_t c[CLIENTS];
  mu_event_loop_t *loop;
  tt_rng_t rng;
  _Atomic int finished;
  uint64_t bytes;
  int resets;
  int failed_attempts;
} g;

static void fail(const cli_t *c, const char *what) {
  fprintf(stderr, "client port %u (size %zu, sent %zu, echoed %zu): %s\n", c->port,
          c->size, c->sent, c->echoed, what);
  mu_fault_print_stats("at failure");
  abort();
}

static void send_all(cli_t *c, mu_tcp_connection_t *conn) {
  char piece[MAX_PIECE];
  while (c->sent < c->size) {
    size_t n = tt_rng_log_size(&g.rng, 1, MAX_PIECE);
    if (n > c->size - c->sent)
      n = c->size - c->sent;
    tt_pattern_fill(c->stream, c->sent, piece, n);
    if (mu_tcp_connection_send(conn, piece, n) != 0)
      return; /* went down meanwhile (an injected reset): seen in the down callback */
    c->sent += n;
  }
}

/* A new stream for the next connection of this client. */
static void next_stream(cli_t *c) {
  c->stream = tt_rng_next(&g.rng);
  c->size = tt_rng_log_size(&g.rng, 1, MAX_SIZE);
  c->sent = c->echoed = 0;
  c->complete = false;
}

static void reconnect(void *arg) {
  cli_t *c = arg;
  mu_tcp_client_connect(c->client);
}

static void on_connection(mu_tcp_connection_t *conn, void *arg) {
  cli_t *c = arg;
  if (mu_tcp_connection_connected(conn)) {
    c->ups++;
    if (c->ups != c->downs + 1)
      fail(c, "a second connection at once");
    mu_inet_address_t local;
    CHECK_EQ(mu_tcp_connection_local_address(conn, &local), 0);
    c->port = mu_inet_address_port(&local);
    send_all(c, conn);
    return;
  }
  c->downs++;
  if (c->downs != c->ups)
    fail(c, "down without up");
  if (!c->complete) {
    if (!mu_fault_port_was_reset(c->port, true))
      fail(c, "went down before the whole echo");
    g.resets++;
  }
  if (++c->round < ROUNDS) {
    next_stream(c);
    CHECK_EQ(mu_event_loop_queue_in_loop(g.loop, reconnect, c), 0);
  } else {
    atomic_fetch_add(&g.finished, 1);
  }
}

static void on_message(mu_tcp_connection_t *conn, mu_buffer_t *buf, mu_timestamp_t t,
                       void *arg) {
  (void)t;
  cli_t *c = arg;
  size_t n = mu_buffer_readable_bytes(buf);
  if (c->echoed + n > c->sent)
    fail(c, "more echo than was sent");
  size_t bad = tt_pattern_check(c->stream, c->echoed, mu_buffer_peek(buf), n);
  if (bad != n) {
    char what[64];
    snprintf(what, sizeof what, "wrong byte at offset %zu", c->echoed + bad);
    fail(c, what);
  }
  c->echoed += n;
  g.bytes += n;
  mu_buffer_retrieve_all(buf);
  if (c->echoed == c->size && !c->complete) {
    c->complete = true;
    mu_tcp_client_disconnect(c->client); /* half-close; the server then closes */
  }
  (void)conn;
}

static void start_clients(void *arg) {
  uint16_t port = *(uint16_t *)arg;
  mu_inet_address_t addr = mu_inet_address_loopback(port);
  for (int i = 0; i < CLIENTS; ++i) {
    cli_t *c = &g.c[i];
    char name[32];
    snprintf(name, sizeof name, "fc%d", i);
    c->client = mu_tcp_client_new(g.loop, &addr, name);
    CHECK(c->client != NULL);
    CHECK_EQ(mu_tcp_client_set_retry_delays(c->client, 0.001, 0.01), 0);
    mu_tcp_client_set_connection_callback(c->client, on_connection, c);
    mu_tcp_client_set_message_callback(c->client, on_message, c);
    mu_tcp_client_connect(c->client);
  }
}

static void free_clients(void *arg) {
  (void)arg;
  for (int i = 0; i < CLIENTS; ++i) {
    g.failed_attempts += mu_tcp_client_failed_attempts(g.c[i].client);
    mu_tcp_client_free(g.c[i].client);
  }
}

/* io_threads is unused: the faults are in the client's one loop. */
static uint64_t one_round(uint64_t seed, int io_threads) {
  (void)io_threads;
  seed = mu_fault_init(seed);
  memset(&g, 0, sizeof g);
  g.rng = tt_rng_make(seed ^ 0xc1ULL);
  for (int i = 0; i < CLIENTS; ++i)
    next_stream(&g.c[i]);
  tt_server_t s;
  tt_server_start(&s, "fault-client-peer", 1, NULL, NULL); /* not opted in */
  mu_event_loop_thread_t *t =
      mu_event_loop_thread_new(mu_fault_thread_init_cb, NULL, "fclient");
  CHECK(t != NULL);
  g.loop = mu_event_loop_thread_start_loop(t);
  CHECK(g.loop != NULL);
  double t0 = tt_now();
  tt_run_sync(g.loop, start_clients, &s.port);
  double deadline = tt_now() + 120;
  while (atomic_load(&g.finished) < CLIENTS && tt_now() < deadline)
    tt_sleep_ms(5);
  if (atomic_load(&g.finished) < CLIENTS) {
    for (int i = 0; i < CLIENTS; ++i) {
      if (g.c[i].downs == 0) /* racy read, only for the message */
        fail(&g.c[i], "never finished");
    }
  }
  tt_run_sync(g.loop, free_clients, NULL);
  printf("round seed=%" PRIu64 ": %d clients x %d connections, %" PRIu64
         " bytes echoed and checked, %d reset by injection, %d failed connect attempts "
         "retried, %.1f s\n",
         seed, CLIENTS, ROUNDS, g.bytes, g.resets, g.failed_attempts, tt_now() - t0);
  mu_fault_print_stats("round");
  mu_event_loop_thread_free(t);
  CHECK_EQ(tt_server_wait_connections(&s, 0, 60), 0);
  tt_server_stop(&s);
  mu_fault_stats_t st;
  mu_fault_get_stats(&st);
  CHECK(st.injected > 0);
  return seed;
}

int main(void) {
  tt_init("fault_client", 280);
  mu_log_set_level(MU_LOG_LEVEL_WARN); /* not a line per retried connect */
  int fds0 = tt_count_open_fds();
  fc_run_rounds(one_round);
  CHECK_EQ(tt_count_open_fds(), fds0); /* no socket of a refused connect kept */
  printf("fault_client: ok\n");
  return 0;
}
