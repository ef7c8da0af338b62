/* The parts of the TcpConnection API a user calls by hand, each against a real
 * server on 127.0.0.1 (one I/O thread, so the connection's loop is neither the
 * test's thread nor the acceptor's):
 *
 *   reading    stop_read / start_read / is_reading: stopped from the message
 *              callback and from the test thread, started from both; while
 *              stopped the message callback gets nothing though the client
 *              writes until the kernel buffers are full; once started every
 *              byte arrives, in order. On a connection that is down (and after
 *              its loop is gone) both calls do nothing.
 *   counters   created_time, last_receive_time, bytes_received, bytes_sent
 *              (including a send that had to be queued, then drained).
 *   high water set_high_water_mark overrides the server's mark for one
 *              connection only; 0 disables it for another; out of memory, it
 *              fails and changes nothing.
 *   socket     set_keep_alive (SO_KEEPALIVE read back on the server's socket)
 *              and tcp_info (full, truncated, and on a socket that is gone).
 *   context    set_context frees the replaced context once, the last one when
 *              the connection is freed.
 *
 * Nothing here asserts on timing: "the kernel buffers are full" is a send
 * that fails with EAGAIN and a socket that then stays unwritable for a while,
 * and the checks that follow hold however long that took. */
#include <poll.h>

#include "tcp_test_util.h"

#define MAX_CONNS 4
#define WAIT_S 60.0
/* How long a full socket must stay unwritable before the client calls it full. */
#define FULL_POLL_MS 300
/* A client that can write this much after a stop_read was never stopped. */
#define FULL_CAP (256u * 1024 * 1024)

/* Waits (bounded) for a condition another thread makes true. */
#define WAIT_FOR(cond)                                                                   \
  do {                                                                                   \
    double deadline_ = tt_now() + WAIT_S;                                                \
    while (!(cond)) {                                                                    \
      if (tt_now() > deadline_) {                                                        \
        fprintf(stderr, "%s:%d: timed out waiting for %s\n", __FILE__, __LINE__, #cond); \
        abort();                                                                         \
      }                                                                                  \
      tt_sleep_ms(2);                                                                    \
    }                                                                                    \
  } while (0)

/* ---- shared: a server whose connections the test keeps -------------------- */

/* Allocations made by this thread fail while set: out-of-memory paths. */
static __thread bool t_fail_alloc;

static void *failing_malloc(size_t n) {
  return t_fail_alloc ? NULL : malloc(n);
}
static void *failing_realloc(void *p, size_t n) {
  return t_fail_alloc ? NULL : realloc(p, n);
}

/* Up to MAX_CONNS connections, in accept order, each with a reference of ours. */
typedef struct kept {
  _Atomic(mu_tcp_connection_t *) conn[MAX_CONNS];
  _Atomic int up, down;
  _Atomic int64_t up_at_us[MAX_CONNS]; /* mono time in the up callback */
} kept_t;

static void kept_on_connection(kept_t *k, mu_tcp_connection_t *conn) {
  if (!mu_tcp_connection_connected(conn)) {
    atomic_fetch_add(&k->down, 1);
    return;
  }
  int i = atomic_fetch_add(&k->up, 1);
  CHECK(i < MAX_CONNS);
  mu_tcp_connection_ref(conn);
  atomic_store(&k->up_at_us[i], mu_timestamp_mono_now().us);
  atomic_store(&k->conn[i], conn);
}

static mu_tcp_connection_t *kept_wait(kept_t *k, int i) {
  WAIT_FOR(atomic_load(&k->conn[i]) != NULL);
  return atomic_load(&k->conn[i]);
}

static void kept_release(kept_t *k) {
  for (int i = 0; i < MAX_CONNS; ++i) {
    mu_tcp_connection_unref(atomic_exchange(&k->conn[i], NULL));
  }
}

/* The server side of client socket `fd`: the one socket of this process whose
 * local port is the server's and whose peer port is the client's. The
 * connection's socket is private to the library; this finds it to read its
 * options back. */
static int server_fd_of(uint16_t server_port, int client_fd) {
  struct sockaddr_in me;
  socklen_t len = sizeof me;
  CHECK(getsockname(client_fd, (struct sockaddr *)&me, &len) == 0);
  DIR *dir = opendir("/proc/self/fd");
  CHECK(dir != NULL);
  int found = -1;
  for (struct dirent *de; (de = readdir(dir)) != NULL;) {
    int fd = atoi(de->d_name);
    struct sockaddr_in local, peer;
    socklen_t llen = sizeof local, plen = sizeof peer;
    if (de->d_name[0] == '.' || fd == dirfd(dir) ||
        getsockname(fd, (struct sockaddr *)&local, &llen) != 0 ||
        local.sin_family != AF_INET || ntohs(local.sin_port) != server_port ||
        getpeername(fd, (struct sockaddr *)&peer, &plen) != 0 ||
        peer.sin_port != me.sin_port) {
      continue;
    }
    CHECK_EQ(found, -1);
    found = fd;
  }
  closedir(dir);
  CHECK(found >= 0);
  return found;
}

static uint16_t local_port(int fd) {
  struct sockaddr_in sa;
  socklen_t len = sizeof sa;
  CHECK(getsockname(fd, (struct sockaddr *)&sa, &len) == 0);
  return ntohs(sa.sin_port);
}

/* Reads len bytes of stream `stream` from offset *off and checks each one. */
static void read_stream(int fd, uint64_t stream, uint64_t *off, size_t len) {
  char buf[65536];
  while (len > 0) {
    size_t n = len < sizeof buf ? len : sizeof buf;
    tt_read_exactly(fd, buf, n);
    size_t bad = tt_pattern_check(stream, *off, buf, n);
    if (bad != n) {
      fprintf(stderr, "stream %" PRIu64 ": wrong byte at offset %" PRIu64 "\n", stream,
              *off + bad);
      abort();
    }
    *off += n;
    len -= n;
  }
}

/* Writes len more bytes of `stream` from *off, blocking. */
static void write_stream(int fd, uint64_t stream, uint64_t *off, size_t len) {
  char buf[16384];
  while (len > 0) {
    size_t n = len < sizeof buf ? len : sizeof buf;
    tt_pattern_fill(stream, *off, buf, n);
    tt_write_all(fd, buf, n);
    *off += n;
    len -= n;
  }
}

/* Writes the stream on with non-blocking sends until the kernel takes no
 * more: a send fails with EAGAIN and the socket then stays unwritable for
 * FULL_POLL_MS. A server that kept reading would let the client go past
 * FULL_CAP (or wake it up for ever): that fails. Returns the bytes written. */
static uint64_t write_until_full(int fd, uint64_t stream, uint64_t *off) {
  char buf[16384];
  uint64_t start = *off;
  for (;;) {
    CHECK(*off - start < FULL_CAP);
    tt_pattern_fill(stream, *off, buf, sizeof buf);
    ssize_t n = send(fd, buf, sizeof buf, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0) {
      *off += (uint64_t)n;
      continue;
    }
    CHECK(n < 0);
    if (errno == EINTR)
      continue;
    CHECK(errno == EAGAIN || errno == EWOULDBLOCK);
    struct pollfd p = {fd, POLLOUT, 0};
    int r = poll(&p, 1, FULL_POLL_MS);
    if (r == 0)
      return *off - start;
    CHECK(r == 1 || (r < 0 && errno == EINTR));
  }
}

/* ---- 1. stop_read / start_read / is_reading -------------------------------- */

#define READ_STREAM 11
#define STOP_AT (64u * 1024) /* the message callback stops reading past this */
#define TOP_UP (96u * 1024)  /* bytes written after each start_read */

typedef struct read_case {
  kept_t kept;
  _Atomic uint64_t received;  /* bytes the message callback saw */
  _Atomic int64_t bad_offset; /* first wrong byte, or -1 */
  /* Set once by the message callback when it stops reading. */
  _Atomic bool stopped;
  _Atomic bool reading_after_stop;
  _Atomic uint64_t received_at_stop;
} read_case_t;

static void read_on_connection(mu_tcp_connection_t *conn, void *arg) {
  kept_on_connection(&((read_case_t *)arg)->kept, conn);
}

static void read_on_message(mu_tcp_connection_t *conn, mu_buffer_t *buf, mu_timestamp_t t,
                            void *arg) {
  (void)t;
  read_case_t *rc = arg;
  size_t n = mu_buffer_readable_bytes(buf);
  uint64_t off = atomic_load(&rc->received);
  size_t bad = tt_pattern_check(READ_STREAM, off, mu_buffer_peek(buf), n);
  if (bad != n && atomic_load(&rc->bad_offset) < 0)
    atomic_store(&rc->bad_offset, (int64_t)(off + bad));
  mu_buffer_retrieve_all(buf);
  atomic_store(&rc->received, off + n);
  if (off + n >= STOP_AT && !atomic_load(&rc->stopped)) {
    /* From the loop thread, inside the callback: at once. */
    mu_tcp_connection_stop_read(conn);
    atomic_store(&rc->reading_after_stop, mu_tcp_connection_is_reading(conn));
    atomic_store(&rc->received_at_stop, off + n);
    atomic_store(&rc->stopped, true);
  }
}

static void read_setup(mu_tcp_server_t *server, void *arg) {
  mu_tcp_server_set_connection_callback(server, read_on_connection, arg);
  mu_tcp_server_set_message_callback(server, read_on_message, arg);
}

/* Run in the connection's loop: optionally stop or start reading there, then
 * report is_reading (loop thread only) and the bytes received so far. */
typedef struct read_probe {
  read_case_t *rc;
  mu_tcp_connection_t *conn;
  char action; /* 0, 's' stop_read, 'r' start_read, 'b' both (stop, then start) */
  bool reading;
  uint64_t received;
} read_probe_t;

static void read_probe_in_loop(void *p) {
  read_probe_t *pr = p;
  if (pr->action == 's' || pr->action == 'b')
    mu_tcp_connection_stop_read(pr->conn);
  if (pr->action == 'r' || pr->action == 'b')
    mu_tcp_connection_start_read(pr->conn);
  pr->reading = mu_tcp_connection_is_reading(pr->conn);
  pr->received = atomic_load(&pr->rc->received);
}

static read_probe_t read_probe(read_case_t *rc, mu_tcp_connection_t *conn, char action) {
  read_probe_t pr = {rc, conn, action, false, 0};
  tt_run_sync(mu_tcp_connection_get_loop(conn), read_probe_in_loop, &pr);
  return pr;
}

/* Everything written so far arrives, in order. */
static void expect_all_received(read_case_t *rc, uint64_t sent) {
  WAIT_FOR(atomic_load(&rc->received) >= sent);
  CHECK_EQ(atomic_load(&rc->received), sent);
  CHECK_EQ(atomic_load(&rc->bad_offset), -1);
}

static void test_reading(void) {
  read_case_t rc;
  memset(&rc, 0, sizeof rc);
  atomic_store(&rc.bad_offset, -1);
  tt_server_t s;
  tt_server_start(&s, "ReadCtl", 1, read_setup, &rc);
  int fd = tt_connect(s.port);
  mu_tcp_connection_t *conn = kept_wait(&rc.kept, 0);
  CHECK(read_probe(&rc, conn, 0).reading);
  uint64_t sent = 0;

  /* Stopped from the message callback (the loop thread). The client writes
   * until full, then again once the stop is known to have happened, so that
   * the buffers are full after it. */
  write_until_full(fd, READ_STREAM, &sent);
  WAIT_FOR(atomic_load(&rc.stopped));
  CHECK(!atomic_load(&rc.reading_after_stop));
  uint64_t at_stop = atomic_load(&rc.received_at_stop);
  write_until_full(fd, READ_STREAM, &sent);
  read_probe_t pr = read_probe(&rc, conn, 0);
  CHECK(!pr.reading);
  CHECK_EQ(pr.received, at_stop);
  CHECK(sent > at_stop);
  printf("stopped in the callback at %" PRIu64 " bytes; client wrote %" PRIu64
         " until full\n",
         at_stop, sent);

  /* Started from the test thread: takes effect in the loop, before the probe
   * queued after it. */
  mu_tcp_connection_start_read(conn);
  CHECK(read_probe(&rc, conn, 0).reading);
  write_stream(fd, READ_STREAM, &sent, TOP_UP);
  expect_all_received(&rc, sent);

  /* Stopped from the test thread; stopping twice changes nothing. */
  mu_tcp_connection_stop_read(conn);
  mu_tcp_connection_stop_read(conn);
  pr = read_probe(&rc, conn, 0);
  CHECK(!pr.reading);
  uint64_t at_stop2 = pr.received;
  CHECK_EQ(at_stop2, sent);
  uint64_t more = write_until_full(fd, READ_STREAM, &sent);
  CHECK(more > 0);
  pr = read_probe(&rc, conn, 0);
  CHECK(!pr.reading);
  CHECK_EQ(pr.received, at_stop2);
  CHECK_EQ(atomic_load(&rc.received), at_stop2);

  /* Started from the loop thread: at once. */
  CHECK(read_probe(&rc, conn, 'r').reading);
  write_stream(fd, READ_STREAM, &sent, TOP_UP);
  expect_all_received(&rc, sent);
  /* Stop then start in one loop turn: reading again. */
  CHECK(read_probe(&rc, conn, 'b').reading);
  write_stream(fd, READ_STREAM, &sent, TOP_UP);
  expect_all_received(&rc, sent);
  printf("reading: %" PRIu64 " bytes received in order\n", sent);

  /* Down, with our reference: both calls do nothing, from either thread. */
  CHECK(close(fd) == 0);
  WAIT_FOR(atomic_load(&rc.kept.down) == 1);
  CHECK(mu_tcp_connection_disconnected(conn));
  mu_tcp_connection_start_read(conn);
  mu_tcp_connection_stop_read(conn);
  CHECK(!read_probe(&rc, conn, 'r').reading);
  CHECK(!read_probe(&rc, conn, 's').reading);
  CHECK(!read_probe(&rc, conn, 'b').reading);
  CHECK_EQ(tt_server_wait_connections(&s, 0, WAIT_S), 0);
  tt_server_stop(&s);
  /* Its loop is gone now: the calls must not touch it. */
  mu_tcp_connection_start_read(conn);
  mu_tcp_connection_stop_read(conn);
  CHECK_EQ(atomic_load(&rc.received), sent);
  CHECK_EQ(atomic_load(&rc.kept.up), 1);
  CHECK_EQ(atomic_load(&rc.kept.down), 1);
  kept_release(&rc.kept);
}

/* ---- 2. counters ------------------------------------------------------------ */

#define IN_STREAM 21  /* client -> server */
#define OUT_STREAM 22 /* server -> client */
#define FIRST_IN 3000u
#define SECOND_IN (200u * 1024)
#define SMALL_OUT 1000u
#define BIG_OUT (1u * 1024 * 1024)
#define CROSS_OUT 5000u

typedef struct counter_case {
  kept_t kept;
  _Atomic uint64_t received;
  _Atomic int64_t bad_offset;
  _Atomic int64_t last_cb_time_us;  /* receive_time of the last message */
  _Atomic int64_t last_cb_field_us; /* last_receive_time read inside it */
  /* The loop thread only. */
  mu_tcp_connection_t *conn;
  uint64_t out_off;
  char *scratch;
  size_t send_len;
  size_t queued_after; /* output buffer right after the send */
  uint64_t bytes_sent, bytes_received;
} counter_case_t;

static void counter_on_connection(mu_tcp_connection_t *conn, void *arg) {
  kept_on_connection(&((counter_case_t *)arg)->kept, conn);
}

static void counter_on_message(mu_tcp_connection_t *conn, mu_buffer_t *buf,
                               mu_timestamp_t t, void *arg) {
  counter_case_t *cc = arg;
  size_t n = mu_buffer_readable_bytes(buf);
  uint64_t off = atomic_load(&cc->received);
  size_t bad = tt_pattern_check(IN_STREAM, off, mu_buffer_peek(buf), n);
  if (bad != n && atomic_load(&cc->bad_offset) < 0)
    atomic_store(&cc->bad_offset, (int64_t)(off + bad));
  mu_buffer_retrieve_all(buf);
  atomic_store(&cc->last_cb_time_us, t.us);
  atomic_store(&cc->last_cb_field_us, mu_tcp_connection_last_receive_time(conn).us);
  atomic_store(&cc->received, off + n);
}

static void counter_setup(mu_tcp_server_t *server, void *arg) {
  mu_tcp_server_set_connection_callback(server, counter_on_connection, arg);
  mu_tcp_server_set_message_callback(server, counter_on_message, arg);
}

/* In the loop: sends send_len bytes of the out stream (0: none), then reads
 * the queue and the counters. */
static void counter_send_in_loop(void *p) {
  counter_case_t *cc = p;
  if (cc->send_len > 0) {
    tt_pattern_fill(OUT_STREAM, cc->out_off, cc->scratch, cc->send_len);
    CHECK_EQ(mu_tcp_connection_send(cc->conn, cc->scratch, cc->send_len), 0);
    cc->out_off += cc->send_len;
  }
  cc->queued_after = mu_buffer_readable_bytes(mu_tcp_connection_output_buffer(cc->conn));
  cc->bytes_sent = mu_tcp_connection_bytes_sent(cc->conn);
  cc->bytes_received = mu_tcp_connection_bytes_received(cc->conn);
}

static void counter_send(counter_case_t *cc, size_t len) {
  cc->send_len = len;
  tt_run_sync(mu_tcp_connection_get_loop(cc->conn), counter_send_in_loop, cc);
}

static void test_counters(void) {
  counter_case_t cc;
  memset(&cc, 0, sizeof cc);
  atomic_store(&cc.bad_offset, -1);
  cc.scratch = malloc(BIG_OUT);
  CHECK(cc.scratch != NULL);
  tt_server_t s;
  tt_server_start(&s, "Counters", 1, counter_setup, &cc);
  /* Small kernel buffers both ways, so a big send queues in the library. */
  tt_server_shrink_sndbuf(&s, 8192);
  mu_timestamp_t before_connect = mu_timestamp_mono_now();
  int fd = tt_connect_timeout(s.port, TT_IO_TIMEOUT_S, 8192);
  mu_tcp_connection_t *conn = kept_wait(&cc.kept, 0);
  cc.conn = conn;
  mu_timestamp_t created = mu_tcp_connection_created_time(conn);
  CHECK(before_connect.us <= created.us);
  CHECK(created.us <= atomic_load(&cc.kept.up_at_us[0]));
  CHECK_EQ(mu_tcp_connection_bytes_received(conn), 0);
  CHECK_EQ(mu_tcp_connection_bytes_sent(conn), 0);
  /* No data yet: no receive time at or after the connection was made. */
  mu_timestamp_t last0 = mu_tcp_connection_last_receive_time(conn);
  CHECK(last0.us < created.us);

  /* Data in: the receive time is that of the message, not earlier than the
   * client's send. */
  uint64_t in_off = 0;
  mu_timestamp_t before_send = mu_timestamp_mono_now();
  write_stream(fd, IN_STREAM, &in_off, FIRST_IN);
  WAIT_FOR(atomic_load(&cc.received) == FIRST_IN);
  mu_timestamp_t last1 = mu_tcp_connection_last_receive_time(conn);
  CHECK(last1.us >= before_send.us);
  CHECK_EQ(last1.us, atomic_load(&cc.last_cb_time_us));
  CHECK_EQ(last1.us, atomic_load(&cc.last_cb_field_us));
  CHECK_EQ(mu_tcp_connection_bytes_received(conn), FIRST_IN);

  /* Data out: a direct send, a queued one (the client reads nothing until it
   * is queued), one from another thread. None is a receive. */
  uint64_t client_got = 0;
  counter_send(&cc, SMALL_OUT);
  CHECK_EQ(cc.queued_after, 0);
  read_stream(fd, OUT_STREAM, &client_got, SMALL_OUT);
  counter_send(&cc, BIG_OUT);
  CHECK(cc.queued_after > 0);
  printf("counters: %zu of a %u-byte send queued\n", cc.queued_after, BIG_OUT);
  read_stream(fd, OUT_STREAM, &client_got, BIG_OUT);
  tt_pattern_fill(OUT_STREAM, cc.out_off, cc.scratch, CROSS_OUT);
  CHECK_EQ(mu_tcp_connection_send(conn, cc.scratch, CROSS_OUT), 0);
  cc.out_off += CROSS_OUT;
  read_stream(fd, OUT_STREAM, &client_got, CROSS_OUT);
  /* The client has every byte; the loop has finished the sends that wrote
   * them before it runs this. */
  counter_send(&cc, 0);
  CHECK_EQ(cc.queued_after, 0);
  CHECK_EQ(cc.bytes_sent, client_got);
  CHECK_EQ(mu_tcp_connection_bytes_sent(conn), client_got);
  CHECK_EQ(cc.bytes_received, FIRST_IN);
  CHECK_EQ(mu_tcp_connection_last_receive_time(conn).us, last1.us);

  /* More data in: the time moves on. */
  before_send = mu_timestamp_mono_now();
  write_stream(fd, IN_STREAM, &in_off, SECOND_IN);
  WAIT_FOR(atomic_load(&cc.received) == FIRST_IN + SECOND_IN);
  mu_timestamp_t last2 = mu_tcp_connection_last_receive_time(conn);
  CHECK(last2.us >= before_send.us);
  CHECK(last2.us >= last1.us);
  CHECK_EQ(last2.us, atomic_load(&cc.last_cb_time_us));
  CHECK_EQ(mu_tcp_connection_bytes_received(conn), in_off);
  CHECK_EQ(atomic_load(&cc.bad_offset), -1);

  /* Closing adds nothing; the counters outlive the connection. */
  CHECK(close(fd) == 0);
  WAIT_FOR(atomic_load(&cc.kept.down) == 1);
  CHECK_EQ(mu_tcp_connection_bytes_received(conn), in_off);
  CHECK_EQ(mu_tcp_connection_bytes_sent(conn), client_got);
  CHECK_EQ(mu_tcp_connection_created_time(conn).us, created.us);
  printf("counters: received %" PRIu64 ", sent %" PRIu64 "\n", in_off, client_got);
  tt_server_stop(&s);
  kept_release(&cc.kept);
  free(cc.scratch);
}

/* ---- 3. per-connection high-water mark ------------------------------------- */

#define SERVER_MARK (1u * 1024 * 1024)
#define OWN_MARK (64u * 1024)
#define HW_PIECE (16u * 1024)
#define HW_FIRST (512u * 1024)       /* past OWN_MARK, below SERVER_MARK */
#define HW_SECOND (1u * 1024 * 1024) /* then past SERVER_MARK */
#define HW_CONNS 3 /* 0: own mark, 1: the server's, 2: own mark 0 (none) */

typedef struct hw_case {
  kept_t kept;
  /* The loop thread only (read through tt_run_sync). */
  int calls[HW_CONNS];
  size_t first_queued[HW_CONNS];
  uint64_t out_off[HW_CONNS];
  char scratch[HW_PIECE];
  size_t send_len; /* per connection, in the next hw_send_in_loop */
} hw_case_t;

static int hw_index(hw_case_t *hc, const mu_tcp_connection_t *conn) {
  for (int i = 0; i < HW_CONNS; ++i) {
    if (atomic_load(&hc->kept.conn[i]) == conn)
      return i;
  }
  CHECK(!"high-water call for an unknown connection");
  return -1;
}

static void hw_on_connection(mu_tcp_connection_t *conn, void *arg) {
  kept_on_connection(&((hw_case_t *)arg)->kept, conn);
}

static void hw_on_high_water(mu_tcp_connection_t *conn, size_t queued, void *arg) {
  hw_case_t *hc = arg;
  int i = hw_index(hc, conn);
  if (hc->calls[i]++ == 0)
    hc->first_queued[i] = queued;
}

static void hw_setup(mu_tcp_server_t *server, void *arg) {
  mu_tcp_server_set_connection_callback(server, hw_on_connection, arg);
  mu_tcp_server_set_high_water_mark_callback(server, hw_on_high_water, arg, SERVER_MARK);
}

static void hw_marks_in_loop(void *p) {
  hw_case_t *hc = p;
  /* Out of memory for its first extension block, connection 1 keeps the
   * server's mark (and asking for that same mark changes nothing if the
   * block exists: at debug level the server builds the connection's name in
   * it before the up callback). */
  t_fail_alloc = true;
  int rc =
      mu_tcp_connection_set_high_water_mark(atomic_load(&hc->kept.conn[1]), SERVER_MARK);
  t_fail_alloc = false;
  CHECK(rc == -ENOMEM || (rc == 0 && mu_log_level() <= MU_LOG_LEVEL_DEBUG));
  CHECK_EQ(
      mu_tcp_connection_set_high_water_mark(atomic_load(&hc->kept.conn[0]), OWN_MARK), 0);
  CHECK_EQ(mu_tcp_connection_set_high_water_mark(atomic_load(&hc->kept.conn[2]), 0), 0);
}

/* Sends send_len more bytes to each connection, in pieces. */
static void hw_send_in_loop(void *p) {
  hw_case_t *hc = p;
  for (int i = 0; i < HW_CONNS; ++i) {
    mu_tcp_connection_t *conn = atomic_load(&hc->kept.conn[i]);
    for (size_t done = 0; done < hc->send_len; done += HW_PIECE) {
      tt_pattern_fill(100 + (uint64_t)i, hc->out_off[i], hc->scratch, HW_PIECE);
      CHECK_EQ(mu_tcp_connection_send(conn, hc->scratch, HW_PIECE), 0);
      hc->out_off[i] += HW_PIECE;
    }
  }
}

static void nothing(void *p) {
  (void)p;
}

/* hw_send_in_loop with `len`, then a turn of the loop: what the sends queued
 * there has run too (a high-water call queued rather than made inside send
 * would run then). */
static void hw_send(hw_case_t *hc, mu_event_loop_t *loop, size_t len) {
  hc->send_len = len;
  tt_run_sync(loop, hw_send_in_loop, hc);
  tt_run_sync(loop, nothing, NULL);
}

static void test_high_water(void) {
  hw_case_t hc;
  memset(&hc, 0, sizeof hc);
  tt_server_t s;
  tt_server_start(&s, "HighWater", 1, hw_setup, &hc);
  tt_server_shrink_sndbuf(&s, 8192);
  int fds[HW_CONNS];
  for (int i = 0; i < HW_CONNS; ++i) {
    fds[i] = tt_connect_timeout(s.port, TT_IO_TIMEOUT_S, 8192);
    kept_wait(&hc.kept, i); /* one at a time: index i is client i */
  }
  mu_event_loop_t *loop = mu_tcp_connection_get_loop(atomic_load(&hc.kept.conn[0]));
  tt_run_sync(loop, hw_marks_in_loop, &hc);

  /* Past the own mark only: connection 0 alone is told, once. The kernel took
   * a little of each, so what is queued is known only roughly. */
  hw_send(&hc, loop, HW_FIRST);
  CHECK_EQ(hc.calls[0], 1);
  CHECK(hc.first_queued[0] >= OWN_MARK && hc.first_queued[0] < OWN_MARK + HW_PIECE);
  CHECK_EQ(hc.calls[1], 0);
  CHECK_EQ(hc.calls[2], 0);

  /* Past the server's mark: connection 1 (the server's mark) is told once;
   * 0 is still above its own mark, not crossing it again; 2 has none. */
  hw_send(&hc, loop, HW_SECOND);
  CHECK_EQ(hc.calls[0], 1);
  CHECK_EQ(hc.calls[1], 1);
  CHECK(hc.first_queued[1] >= SERVER_MARK && hc.first_queued[1] < SERVER_MARK + HW_PIECE);
  CHECK_EQ(hc.calls[2], 0);
  printf("high water: own mark crossed at %zu, server's at %zu queued bytes\n",
         hc.first_queued[0], hc.first_queued[1]);

  /* Every byte still arrives; draining calls nothing. */
  for (int i = 0; i < HW_CONNS; ++i) {
    uint64_t got = 0;
    read_stream(fds[i], 100 + (uint64_t)i, &got, HW_FIRST + HW_SECOND);
    CHECK(close(fds[i]) == 0);
  }
  WAIT_FOR(atomic_load(&hc.kept.down) == HW_CONNS);
  tt_server_stop(&s);
  CHECK_EQ(hc.calls[0], 1);
  CHECK_EQ(hc.calls[1], 1);
  CHECK_EQ(hc.calls[2], 0);
  kept_release(&hc.kept);
}

/* ---- 4. keep-alive and tcp_info; 5. context -------------------------------- */

typedef struct ctx {
  _Atomic int freed;
} ctx_t;

static void ctx_free(void *p) {
  atomic_fetch_add(&((ctx_t *)p)->freed, 1);
}

typedef struct sock_case {
  kept_t kept; /* connection 0 only */
  _Atomic int up, down;
  ctx_t *unkept_ctx; /* set on connection 1, which the test does not keep */
} sock_case_t;

static void sock_on_connection(mu_tcp_connection_t *conn, void *arg) {
  sock_case_t *sc = arg;
  if (!mu_tcp_connection_connected(conn)) {
    atomic_fetch_add(&sc->down, 1);
    return;
  }
  if (atomic_fetch_add(&sc->up, 1) == 0) {
    kept_on_connection(&sc->kept, conn);
  } else {
    CHECK_EQ(mu_tcp_connection_set_context(conn, sc->unkept_ctx, ctx_free), 0);
  }
}

static void sock_setup(mu_tcp_server_t *server, void *arg) {
  mu_tcp_server_set_connection_callback(server, sock_on_connection, arg);
}

static int keep_alive_of(int fd) {
  int on = -1;
  socklen_t len = sizeof on;
  CHECK(getsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, &len) == 0);
  return on;
}

typedef struct keep_alive_call {
  mu_tcp_connection_t *conn;
  bool on;
  int rc;
} keep_alive_call_t;

static void keep_alive_in_loop(void *p) {
  keep_alive_call_t *c = p;
  c->rc = mu_tcp_connection_set_keep_alive(c->conn, c->on);
}

/* tcp_info into `len` bytes of a larger buffer: NUL-terminated within len,
 * nothing written past it; returns the text's length. */
static size_t tcp_info_into(mu_tcp_connection_t *conn, size_t len, char *out,
                            size_t out_size) {
  char buf[1024];
  CHECK(len <= sizeof buf);
  memset(buf, 'X', sizeof buf);
  CHECK_EQ(mu_tcp_connection_tcp_info(conn, buf, len), 0);
  char *nul = memchr(buf, '\0', len);
  CHECK(nul != NULL);
  for (size_t i = len; i < sizeof buf; ++i)
    CHECK(buf[i] == 'X');
  snprintf(out, out_size, "%s", buf);
  return (size_t)(nul - buf);
}

static void check_tcp_info(mu_tcp_connection_t *conn) {
  char full[1024];
  size_t n = tcp_info_into(conn, sizeof full, full, sizeof full);
  CHECK(n > 0 && n < sizeof full);
  CHECK(strstr(full, "rtt=") != NULL);
  CHECK(strstr(full, "cwnd=") != NULL);
  /* Truncated to any size, still a string, the start of the full text (its
   * first field's name is fixed; its value may change between calls). */
  const char *fixed = "unrecovered=";
  CHECK(strncmp(full, fixed, strlen(fixed)) == 0);
  for (size_t len = 1; len <= strlen(fixed) + 1; ++len) {
    char part[64];
    CHECK_EQ(tcp_info_into(conn, len, part, sizeof part), len - 1);
    CHECK(strncmp(part, fixed, len - 1) == 0);
  }
  /* No room at all: nothing is written. */
  char none[8];
  memset(none, 'X', sizeof none);
  int rc = mu_tcp_connection_tcp_info(conn, none, 0);
  CHECK(rc == 0 || rc == -EINVAL);
  for (size_t i = 0; i < sizeof none; ++i)
    CHECK(none[i] == 'X');
}

typedef struct ctx_call {
  mu_tcp_connection_t *conn;
  ctx_t *ctx;
  void (*free_fn)(void *);
  void *got;
} ctx_call_t;

static void ctx_set_in_loop(void *p) {
  ctx_call_t *c = p;
  CHECK_EQ(mu_tcp_connection_set_context(c->conn, c->ctx, c->free_fn), 0);
  c->got = mu_tcp_connection_get_context(c->conn);
}

static void ctx_get_in_loop(void *p) {
  ctx_call_t *c = p;
  c->got = mu_tcp_connection_get_context(c->conn);
}

static void ctx_set(mu_tcp_connection_t *conn, ctx_t *ctx, void (*free_fn)(void *)) {
  ctx_call_t c = {conn, ctx, free_fn, NULL};
  tt_run_sync(mu_tcp_connection_get_loop(conn), ctx_set_in_loop, &c);
  CHECK(c.got == ctx);
}

static void test_socket_and_context(void) {
  sock_case_t sc;
  memset(&sc, 0, sizeof sc);
  ctx_t ctx[5]; /* A B C D on the kept connection, E on the other */
  memset(ctx, 0, sizeof ctx);
  sc.unkept_ctx = &ctx[4];
  tt_server_t s;
  tt_server_start(&s, "SockCtx", 1, sock_setup, &sc);
  int fd = tt_connect(s.port);
  mu_tcp_connection_t *conn = kept_wait(&sc.kept, 0);
  mu_event_loop_t *loop = mu_tcp_connection_get_loop(conn);

  /* 4. Keep-alive: on from the start (the library sets it); off from this
   * thread, on again from the loop, each read back from the socket. */
  int sfd = server_fd_of(s.port, fd);
  mu_inet_address_t local;
  CHECK_EQ(mu_tcp_connection_local_address(conn, &local), 0);
  CHECK_EQ(mu_inet_address_port(&local), s.port);
  CHECK_EQ(mu_inet_address_port(mu_tcp_connection_peer_address(conn)), local_port(fd));
  CHECK_EQ(keep_alive_of(sfd), 1);
  CHECK_EQ(mu_tcp_connection_set_keep_alive(conn, false), 0);
  CHECK_EQ(keep_alive_of(sfd), 0);
  keep_alive_call_t kc = {conn, true, -1};
  tt_run_sync(loop, keep_alive_in_loop, &kc);
  CHECK_EQ(kc.rc, 0);
  CHECK_EQ(keep_alive_of(sfd), 1);
  CHECK_EQ(keep_alive_of(fd), 0); /* the client's own socket was never touched */
  check_tcp_info(conn);

  /* 5. Context: each replaced one is freed once, at once; setting the same
   * one again frees nothing; a context without a free function is not
   * freed; the last one is freed with the connection. */
  ctx_call_t none = {conn, NULL, NULL, (void *)1};
  tt_run_sync(loop, ctx_get_in_loop, &none);
  CHECK(none.got == NULL);
  ctx_set(conn, &ctx[0], ctx_free);
  ctx_set(conn, &ctx[1], ctx_free);
  CHECK_EQ(atomic_load(&ctx[0].freed), 1);
  CHECK_EQ(atomic_load(&ctx[1].freed), 0);
  ctx_set(conn, &ctx[1], ctx_free);
  CHECK_EQ(atomic_load(&ctx[1].freed), 0);
  ctx_set(conn, &ctx[2], NULL);
  CHECK_EQ(atomic_load(&ctx[1].freed), 1);
  ctx_set(conn, &ctx[3], ctx_free);
  CHECK_EQ(atomic_load(&ctx[2].freed), 0);

  /* A second connection, not kept: its context goes when the server drops it. */
  int fd2 = tt_connect(s.port);
  WAIT_FOR(atomic_load(&sc.up) == 2);
  CHECK(close(fd2) == 0);
  WAIT_FOR(atomic_load(&ctx[4].freed) == 1);

  /* Down, with our reference: the fd stays open (its number is not reused
   * under us), so the socket calls still work on it. */
  CHECK(close(fd) == 0);
  WAIT_FOR(atomic_load(&sc.down) == 2);
  CHECK_EQ(mu_tcp_connection_set_keep_alive(conn, true), 0);
  char text[256];
  CHECK(tcp_info_into(conn, sizeof text, text, sizeof text) > 0);
  tt_server_stop(&s);
  CHECK_EQ(atomic_load(&ctx[3].freed), 0); /* ours keeps it */
  CHECK(mu_tcp_connection_get_context(conn) == &ctx[3]);

  /* The socket gone: the library closes the fd only when the connection is
   * freed, so stand a non-socket in its place (its loop is gone, nothing
   * else uses it). The calls fail with an error and nothing crashes; the
   * freed connection closes the stand-in. */
  int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  CHECK(devnull >= 0);
  CHECK(dup2(devnull, sfd) == sfd);
  CHECK(close(devnull) == 0);
  CHECK_EQ(mu_tcp_connection_tcp_info(conn, text, sizeof text), -ENOTSOCK);
  CHECK_EQ(mu_tcp_connection_set_keep_alive(conn, true), -ENOTSOCK);

  kept_release(&sc.kept); /* the last reference */
  CHECK_EQ(atomic_load(&ctx[3].freed), 1);
  CHECK(fcntl(sfd, F_GETFD) == -1 && errno == EBADF);
  for (int i = 0; i < 5; ++i)
    CHECK_EQ(atomic_load(&ctx[i].freed), i == 2 ? 0 : 1);
}

int main(void) {
  static const mu_allocator_t k_failing = {failing_malloc, failing_realloc, free};
  mu_set_allocator(&k_failing); /* first, before any other cmuduo call */
  tt_init("tcp_connection_api", 240);
  test_reading();
  test_counters();
  test_high_water();
  test_socket_and_context();
  TEST_PASS("tcp_connection_api");
}
