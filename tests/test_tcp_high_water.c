/* High-water mark (64 KiB) and write-complete callbacks, against a client that
 * stops reading. The client asks for data with a command byte and reads
 * nothing until it has checked the server's callbacks:
 *
 *   'G'  one 16 MiB send: the mark is crossed once -> one high-water call;
 *        no write-complete until the client drains, then exactly one.
 *   'G'  again after draining: a second crossing -> the count is now 2.
 *   'S'  a 1000-byte send: below the mark, written at once -> write-complete
 *        only.
 *   'M'  16 MiB in sends of 16 KiB: once the kernel buffers fill, the queue rises
 *        through the mark once -> exactly one more high-water call, however
 *        many sends follow above the mark.
 *
 * The loop thread logs every callback with the output bytes queued at that
 * moment. Write-complete is queued, never called inside send (as in muduo):
 * the sends the kernel took whole in 'M' report completion only after the
 * message callback has returned, when later sends are queued. Those stale
 * completions see a non-empty buffer; the one that ends each phase, after the
 * client drained, sees an empty one, and none may see an empty one before. */
#include "tcp_test_util.h"

#define MARK (64u * 1024)
#define BIG (16u * 1024 * 1024)
#define SMALL 1000u
#define PIECE (16u * 1024)
#define PIECES (BIG / PIECE)
#define MAX_EVENTS (PIECES + 64)

typedef struct event {
  char type; /* 'H' high water, 'W' write complete */
  size_t queued;
} event_t;

typedef struct state {
  tt_conn_counters_t counters;
  _Atomic(mu_tcp_connection_t *) conn; /* our reference */
  mu_event_loop_t *io_loop;
  /* The connection's loop thread only (read through tt_run_sync). */
  event_t log[MAX_EVENTS];
  size_t nlog;
  uint64_t sent; /* bytes of the stream sent so far */
  char *scratch;
} state_t;

static void log_event(state_t *st, char type, size_t queued) {
  CHECK(st->nlog < sizeof st->log / sizeof st->log[0]);
  st->log[st->nlog++] = (event_t){type, queued};
}

static void on_high_water(mu_tcp_connection_t *conn, size_t queued, void *arg) {
  (void)conn;
  log_event(arg, 'H', queued);
}

static void on_write_complete(mu_tcp_connection_t *conn, void *arg) {
  log_event(arg, 'W', mu_buffer_readable_bytes(mu_tcp_connection_output_buffer(conn)));
}

static void on_connection(mu_tcp_connection_t *conn, void *arg) {
  state_t *st = arg;
  tt_count_connection(conn, &st->counters);
  if (!mu_tcp_connection_connected(conn))
    return;
  mu_tcp_connection_ref(conn);
  atomic_store(&st->conn, conn);
}

/* Sends the next `len` bytes of the stream in one call. */
static void send_stream(mu_tcp_connection_t *conn, state_t *st, size_t len) {
  tt_pattern_fill(1, st->sent, st->scratch, len);
  CHECK_EQ(mu_tcp_connection_send(conn, st->scratch, len), 0);
  st->sent += len;
}

static void on_message(mu_tcp_connection_t *conn, mu_buffer_t *buf, mu_timestamp_t t,
                       void *arg) {
  (void)t;
  state_t *st = arg;
  while (mu_buffer_readable_bytes(buf) > 0) {
    char cmd = mu_buffer_peek(buf)[0];
    mu_buffer_retrieve(buf, 1);
    if (cmd == 'G') {
      send_stream(conn, st, BIG);
    } else if (cmd == 'S') {
      send_stream(conn, st, SMALL);
    } else if (cmd == 'M') {
      for (unsigned i = 0; i < PIECES; ++i)
        send_stream(conn, st, PIECE);
    } else {
      CHECK(!"unknown command");
    }
  }
}

static void setup(mu_tcp_server_t *server, void *arg) {
  mu_tcp_server_set_connection_callback(server, on_connection, arg);
  mu_tcp_server_set_message_callback(server, on_message, arg);
  mu_tcp_server_set_write_complete_callback(server, on_write_complete, arg);
  mu_tcp_server_set_high_water_mark_callback(server, on_high_water, arg, MARK);
}

/* ---- client side ----------------------------------------------------------- */

typedef struct snapshot {
  state_t *st;
  event_t log[MAX_EVENTS];
  size_t nlog;
} snapshot_t;

static void take_snapshot(void *arg) {
  snapshot_t *s = arg;
  s->nlog = s->st->nlog;
  memcpy(s->log, s->st->log, s->nlog * sizeof s->log[0]);
}

static void snap(state_t *st, snapshot_t *s) {
  s->st = st;
  tt_run_sync(st->io_loop, take_snapshot, s);
}

static size_t count(const snapshot_t *s, size_t from, char type) {
  size_t n = 0;
  for (size_t i = from; i < s->nlog; ++i)
    n += s->log[i].type == type;
  return n;
}

static void dump(const snapshot_t *s) {
  for (size_t i = 0; i < s->nlog; ++i) {
    fprintf(stderr, "  event %zu: %c queued=%zu\n", i, s->log[i].type, s->log[i].queued);
  }
}

#define CHECK_LOG(s, cond) \
  do {                     \
    if (!(cond)) {         \
      dump(s);             \
      CHECK(cond);         \
    }                      \
  } while (0)

/* Reads `len` bytes of the stream from offset *off. */
static void drain(int fd, uint64_t *off, size_t len) {
  static char buf[256 * 1024];
  for (size_t done = 0; done < len;) {
    size_t n = len - done < sizeof buf ? len - done : sizeof buf;
    tt_read_exactly(fd, buf, n);
    CHECK_EQ(tt_pattern_check(1, *off, buf, n), n);
    *off += n;
    done += n;
  }
}

/* Waits (bounded) for the log to reach `n` events; returns the snapshot. */
static void wait_events(state_t *st, snapshot_t *s, size_t n) {
  double deadline = tt_now() + 20;
  do {
    snap(st, s);
    if (s->nlog >= n)
      return;
    tt_sleep_ms(5);
  } while (tt_now() < deadline);
}

/* Every high-water call saw at least the mark. */
static void check_queued_values(const snapshot_t *s) {
  for (size_t i = 0; i < s->nlog; ++i) {
    if (s->log[i].type == 'H') {
      CHECK_LOG(s, s->log[i].queued >= MARK);
    }
  }
}

/* 'G': one crossing, no write-complete until drained, then one. */
static void phase_big(int fd, state_t *st, uint64_t *off, size_t expect_h) {
  static snapshot_t s;
  snap(st, &s);
  size_t from = s.nlog;
  tt_write_all(fd, "G", 1);
  wait_events(st, &s, from + 1);
  tt_sleep_ms(200); /* room for a wrong extra callback to show up */
  snap(st, &s);
  CHECK_LOG(&s, s.nlog == from + 1 && s.log[from].type == 'H');
  CHECK_LOG(&s, count(&s, 0, 'H') == expect_h);
  drain(fd, off, BIG);
  wait_events(st, &s, from + 2);
  tt_sleep_ms(50);
  snap(st, &s);
  CHECK_LOG(&s, s.nlog == from + 2 && s.log[from + 1].type == 'W');
  CHECK_LOG(&s, s.log[from + 1].queued == 0);
}

static void run(int io_threads) {
  state_t *st = calloc(1, sizeof *st);
  CHECK(st != NULL);
  st->scratch = malloc(BIG);
  CHECK(st->scratch != NULL);
  tt_server_t srv;
  tt_server_start(&srv, "HighWater", io_threads, setup, st);
  /* Small kernel buffers on both ends: the output queues in the connection
   * after a few KiB, whatever the host's socket buffer tuning. */
  tt_server_shrink_sndbuf(&srv, 8 * 1024);
  /* A small, fixed receive window, so the server's output backs up. */
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CHECK(fd >= 0);
  tt_set_timeouts(fd, TT_IO_TIMEOUT_S);
  tt_set_small_buffers(fd, 16 * 1024);
  struct sockaddr_in sa = tt_loopback(srv.port);
  CHECK(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
  while (atomic_load(&st->conn) == NULL)
    tt_sleep_ms(1);
  mu_tcp_connection_t *conn = atomic_load(&st->conn);
  st->io_loop = mu_tcp_connection_get_loop(conn);
  uint64_t off = 0;

  phase_big(fd, st, &off, 1);
  phase_big(fd, st, &off, 2); /* drained, then above the mark again: fires again */

  static snapshot_t s;
  snap(st, &s);
  size_t from = s.nlog;
  tt_write_all(fd, "S", 1);
  drain(fd, &off, SMALL);
  wait_events(st, &s, from + 1);
  tt_sleep_ms(50);
  snap(st, &s);
  CHECK_LOG(&s, s.nlog == from + 1 && s.log[from].type == 'W');
  CHECK_LOG(&s, s.log[from].queued == 0);

  /* Many sends: one crossing; stale write-completes for the sends the kernel
   * took whole; a drained one only after the client reads. */
  from = s.nlog;
  tt_write_all(fd, "M", 1);
  double deadline = tt_now() + 20;
  do {
    snap(st, &s);
    tt_sleep_ms(5);
  } while (count(&s, from, 'H') == 0 && tt_now() < deadline);
  tt_sleep_ms(200);
  snap(st, &s);
  CHECK_LOG(&s, count(&s, from, 'H') == 1);
  for (size_t i = from; i < s.nlog; ++i) {
    /* Not drained while the client is not reading. */
    if (s.log[i].type == 'W')
      CHECK_LOG(&s, s.log[i].queued > 0);
  }
  size_t before_drain = s.nlog;
  drain(fd, &off, (size_t)PIECE * PIECES);
  wait_events(st, &s, before_drain + 1);
  tt_sleep_ms(50);
  snap(st, &s);
  CHECK_LOG(&s, s.nlog == before_drain + 1 && s.log[before_drain].type == 'W');
  CHECK_LOG(&s, s.log[before_drain].queued == 0);
  CHECK_LOG(&s, count(&s, 0, 'H') == 3);
  check_queued_values(&s);

  CHECK(close(fd) == 0);
  CHECK_EQ(tt_server_wait_connections(&srv, 0, 20), 0);
  CHECK_EQ(atomic_load(&st->counters.down), 1);
  printf("  io_threads=%d: %zu callbacks (%zu high-water, %zu write-complete), %" PRIu64
         " bytes\n",
         io_threads, s.nlog, count(&s, 0, 'H'), count(&s, 0, 'W'), off);
  tt_server_stop(&srv);
  mu_tcp_connection_unref(conn);
  free(st->scratch);
  free(st);
}

int main(void) {
  tt_init("tcp_high_water", 200);
  run(0);
  run(2);
  TEST_PASS("tcp_high_water");
}
