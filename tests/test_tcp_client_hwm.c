/* TcpClient's high-water-mark callback (mu_tcp_client_set_high_water_mark_callback),
 * against a plain socket of the test acting as a server that reads only when
 * told to. The client lives in its own loop thread; every send is made there
 * through tt_run_sync, and the callback runs inside the send that crossed the
 * mark, so each step's outcome is known as soon as the send returns:
 *
 *   1. one 16 MiB send: the queue crosses the 64 KiB mark once -> one call,
 *      `queued` equal to the bytes in the output buffer at that moment;
 *      then 64 sends of 16 KiB above the mark -> no further call;
 *   2. the server drains everything (the queue falls to 0), then one more
 *      16 MiB send: a second crossing -> a second call;
 *   3. mu_tcp_connection_set_high_water_mark(conn, 0) overrides the client's
 *      mark for this connection: after a drain, a 16 MiB send makes no call;
 *   4. a per-connection mark of 1 MiB: sends of 256 KiB after a drain call
 *      back once, on the send that takes the queue to 1 MiB or more.
 *
 * The server's receive buffer is small, so the output really queues in the
 * client's connection whatever the host's socket buffer tuning. */
#include "tcp_test_util.h"

#define MARK (64u * 1024)
#define BIG (16u * 1024 * 1024)
#define PIECE (16u * 1024)
#define OWN_MARK (1024u * 1024)
#define OWN_PIECE (256u * 1024)
#define MAX_CALLS 16

typedef struct hwm_call {
  size_t queued;
  size_t buffered; /* the output buffer's readable bytes inside the callback */
} hwm_call_t;

typedef struct state {
  mu_event_loop_t *loop;
  mu_tcp_client_t *client;
  uint16_t port;
  _Atomic(mu_tcp_connection_t *) conn; /* our reference */
  _Atomic int up, down;
  /* The loop thread only (read through tt_run_sync). */
  hwm_call_t calls[MAX_CALLS];
  size_t ncalls;
  uint64_t sent;
  size_t send_len, send_count; /* the next send_pieces() */
  int send_rc;
  size_t queued_now; /* output buffer bytes, for read_queued() */
  char *scratch;
} state_t;

static void on_high_water(mu_tcp_connection_t *conn, size_t queued, void *arg) {
  state_t *st = arg;
  CHECK(mu_event_loop_is_in_loop_thread(st->loop));
  CHECK(st->ncalls < MAX_CALLS);
  size_t buffered = mu_buffer_readable_bytes(mu_tcp_connection_output_buffer(conn));
  st->calls[st->ncalls++] = (hwm_call_t){queued, buffered};
}

static void on_connection(mu_tcp_connection_t *conn, void *arg) {
  state_t *st = arg;
  if (mu_tcp_connection_connected(conn)) {
    mu_tcp_connection_ref(conn);
    atomic_store(&st->conn, conn);
    atomic_fetch_add(&st->up, 1);
  } else {
    atomic_fetch_add(&st->down, 1);
  }
}

static void client_new_in_loop(void *p) {
  state_t *st = p;
  mu_inet_address_t addr = mu_inet_address_loopback(st->port);
  st->client = mu_tcp_client_new(st->loop, &addr, "HwmClient");
  CHECK(st->client != NULL);
  mu_tcp_client_set_connection_callback(st->client, on_connection, st);
  mu_tcp_client_set_high_water_mark_callback(st->client, on_high_water, st, MARK);
}

static void client_free_in_loop(void *p) {
  state_t *st = p;
  mu_tcp_client_free(st->client);
  st->client = NULL;
}

/* Loop thread: send_count sends of send_len bytes of the stream. */
static void send_pieces_in_loop(void *p) {
  state_t *st = p;
  mu_tcp_connection_t *conn = atomic_load(&st->conn);
  for (size_t i = 0; i < st->send_count; ++i) {
    tt_pattern_fill(1, st->sent, st->scratch, st->send_len);
    st->send_rc = mu_tcp_connection_send(conn, st->scratch, st->send_len);
    CHECK_EQ(st->send_rc, 0);
    st->sent += st->send_len;
  }
}

static void send_pieces(state_t *st, size_t len, size_t count) {
  st->send_len = len;
  st->send_count = count;
  tt_run_sync(st->loop, send_pieces_in_loop, st);
}

static void read_queued_in_loop(void *p) {
  state_t *st = p;
  mu_tcp_connection_t *conn = atomic_load(&st->conn);
  st->queued_now = mu_buffer_readable_bytes(mu_tcp_connection_output_buffer(conn));
}

static size_t read_queued(state_t *st) {
  tt_run_sync(st->loop, read_queued_in_loop, st);
  return st->queued_now;
}

static size_t ncalls(state_t *st) {
  return st->ncalls; /* read after a tt_run_sync: ordered by its latch */
}

static void set_own_mark_in_loop(void *p) {
  state_t *st = p;
  CHECK_EQ(mu_tcp_connection_set_high_water_mark(atomic_load(&st->conn), st->send_len),
           0);
}

static void set_own_mark(state_t *st, size_t mark) {
  st->send_len = mark;
  tt_run_sync(st->loop, set_own_mark_in_loop, st);
}

/* The server reads everything sent so far (checking every byte), then waits
 * (bounded) for the client's output buffer to be empty. */
static void drain(int fd, state_t *st, uint64_t *off) {
  static char buf[256 * 1024];
  while (*off < st->sent) {
    uint64_t left = st->sent - *off;
    size_t n = left < sizeof buf ? (size_t)left : sizeof buf;
    tt_read_exactly(fd, buf, n);
    CHECK_EQ(tt_pattern_check(1, *off, buf, n), n);
    *off += n;
  }
  double deadline = tt_now() + 20;
  while (read_queued(st) != 0 && tt_now() < deadline)
    tt_sleep_ms(5);
  CHECK_EQ(read_queued(st), 0);
}

static void check_call(state_t *st, size_t i, size_t mark) {
  printf("  call %zu: queued=%zu buffered=%zu (mark %zu)\n", i, st->calls[i].queued,
         st->calls[i].buffered, mark);
  CHECK(st->calls[i].queued >= mark);
  CHECK_EQ(st->calls[i].queued, st->calls[i].buffered);
}

int main(void) {
  tt_init("tcp_client_hwm", 120);
  state_t *st = calloc(1, sizeof *st);
  CHECK(st != NULL);
  st->scratch = malloc(BIG);
  CHECK(st->scratch != NULL);

  /* The server: a small receive window, set before listen so the accepted
   * socket inherits it. */
  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CHECK(lfd >= 0);
  tt_set_small_buffers(lfd, 16 * 1024);
  struct sockaddr_in sa = tt_loopback(0);
  CHECK(bind(lfd, (struct sockaddr *)&sa, sizeof sa) == 0);
  CHECK(listen(lfd, 4) == 0);
  socklen_t salen = sizeof sa;
  CHECK(getsockname(lfd, (struct sockaddr *)&sa, &salen) == 0);
  st->port = ntohs(sa.sin_port);

  mu_event_loop_thread_t *thread = mu_event_loop_thread_new(NULL, NULL, "hwm-client");
  CHECK(thread != NULL);
  st->loop = mu_event_loop_thread_start_loop(thread);
  CHECK(st->loop != NULL);
  tt_run_sync(st->loop, client_new_in_loop, st);
  mu_tcp_client_connect(st->client);
  int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
  CHECK(fd >= 0);
  tt_set_timeouts(fd, TT_IO_TIMEOUT_S);
  double deadline = tt_now() + 20;
  while (atomic_load(&st->conn) == NULL && tt_now() < deadline)
    tt_sleep_ms(1);
  CHECK(atomic_load(&st->conn) != NULL);
  uint64_t off = 0;

  /* 1. One crossing, however many sends follow above the mark. */
  send_pieces(st, BIG, 1);
  CHECK_EQ(ncalls(st), 1);
  check_call(st, 0, MARK);
  send_pieces(st, PIECE, 64);
  CHECK_EQ(ncalls(st), 1);

  /* 2. Drained to 0, then above the mark again: a second crossing. */
  drain(fd, st, &off);
  CHECK_EQ(ncalls(st), 1);
  send_pieces(st, BIG, 1);
  CHECK_EQ(ncalls(st), 2);
  check_call(st, 1, MARK);

  /* 3. The connection's own mark 0 overrides the client's: no call. */
  drain(fd, st, &off);
  set_own_mark(st, 0);
  send_pieces(st, BIG, 1);
  CHECK_EQ(ncalls(st), 2);
  CHECK(read_queued(st) > OWN_MARK); /* it did queue: the mark was not reached by luck */

  /* 4. The connection's own 1 MiB mark: one call, on the send reaching it. */
  drain(fd, st, &off);
  set_own_mark(st, OWN_MARK);
  for (int i = 0; i < 64 && ncalls(st) == 2; ++i)
    send_pieces(st, OWN_PIECE, 1);
  CHECK_EQ(ncalls(st), 3);
  check_call(st, 2, OWN_MARK);
  CHECK(st->calls[2].queued < OWN_MARK + OWN_PIECE);
  send_pieces(st, OWN_PIECE, 8);
  CHECK_EQ(ncalls(st), 3);

  drain(fd, st, &off);
  printf("  %zu high-water calls, %" PRIu64 " bytes received\n", ncalls(st), off);
  CHECK(close(fd) == 0);
  deadline = tt_now() + 20;
  while (atomic_load(&st->down) == 0 && tt_now() < deadline)
    tt_sleep_ms(5);
  CHECK_EQ(atomic_load(&st->down), 1);
  CHECK_EQ(atomic_load(&st->up), 1);

  tt_run_sync(st->loop, client_free_in_loop, st);
  mu_event_loop_thread_free(thread);
  mu_tcp_connection_unref(atomic_load(&st->conn));
  CHECK(close(lfd) == 0);
  free(st->scratch);
  free(st);
  TEST_PASS("tcp_client_hwm");
}
