/* File regions and buffered bytes in one stream, byte-exact, while the
 * server's send and sendfile (and reads, accepts and polls) fail at random
 * (tests/fault/fault.h): EINTR, EAGAIN, short writes, EPIPE/ECONNRESET.
 *
 * A 4 MiB file holds a position-keyed pattern. The client sends requests of
 * 8 bytes (offset, length; up to 4 pipelined); the server answers each with
 * an 8-byte header (the same two numbers), then the slice in three parts: the
 * first with send() from a copy in memory, the middle with
 * mu_tcp_connection_send_file() from a dup of the file's descriptor, the rest
 * with send() again; for odd offsets the first two parts go in one
 * mu_tcp_connection_send_file_with_head() call instead. The client checks the header and
 * every byte of the slice at its offset. Half the connections read through a small window
 * and the server's sockets have a small send buffer, so regions are sent in many short
 * pieces. A connection may end early only when the fault layer reset that very
 * connection. Three seeds (or MU_FAULT_SEED); faults are scoped to the server's threads
 * and accepted sockets. */
#include "tcp_test_util.h"

#include <fcntl.h>

#include "fault/fault_client.h"

/* Faults of every round (see fc_round_stats). */
static mu_fault_stats_t g_fault_sum;

#define FILE_SIZE (4u << 20)
#define CONNS (TT_SANITIZED ? 60 : 120)
#define REQUESTS 12
#define PIPELINE 4
#define MAX_SLICE (256u * 1024)

static uint64_t g_key;
static int g_file = -1;
static uint8_t *g_copy;
static tt_conn_counters_t g_counts;
static _Atomic long g_bad_requests;

static void make_file(void) {
  char path[] = "/tmp/mu_fault_sf_XXXXXX";
  g_file = mkstemp(path);
  CHECK(g_file >= 0);
  CHECK(unlink(path) == 0);
  g_copy = malloc(FILE_SIZE);
  CHECK(g_copy != NULL);
  tt_pattern_fill(g_key, 0, g_copy, FILE_SIZE);
  CHECK(write(g_file, g_copy, FILE_SIZE) == (ssize_t)FILE_SIZE);
}

/* ---- server ---------------------------------------------------------------- */

static void answer(mu_tcp_connection_t *conn, uint32_t off, uint32_t len) {
  uint8_t head[8];
  tt_put_be32(head, off);
  tt_put_be32(head + 4, len);
  mu_tcp_connection_send(conn, head, sizeof head);
  uint32_t a = len / 3, b = len - 2 * (len / 3);
  if (b > 0 && (off & 1)) {
    /* The first part as the region's head (MSG_MORE on an idle connection). */
    int fd = fcntl(g_file, F_DUPFD_CLOEXEC, 0);
    CHECK(fd >= 0);
    int rc = mu_tcp_connection_send_file_with_head(conn, g_copy + off, a, fd, off + a, b);
    CHECK(rc == 0 || rc == -ENOTCONN);
  } else {
    mu_tcp_connection_send(conn, g_copy + off, a);
    if (b > 0) {
      int fd = fcntl(g_file, F_DUPFD_CLOEXEC, 0);
      CHECK(fd >= 0);
      int rc = mu_tcp_connection_send_file(conn, fd, off + a, b);
      CHECK(rc == 0 || rc == -ENOTCONN);
    }
  }
  mu_tcp_connection_send(conn, g_copy + off + a + b, len - a - b);
}

static void on_message(mu_tcp_connection_t *conn, mu_buffer_t *buf, mu_timestamp_t t,
                       void *arg) {
  (void)t;
  (void)arg;
  while (mu_buffer_readable_bytes(buf) >= 8) {
    const uint8_t *p = (const uint8_t *)mu_buffer_peek(buf);
    uint32_t off = tt_get_be32(p), len = tt_get_be32(p + 4);
    mu_buffer_retrieve(buf, 8);
    if (len == 0 || len > MAX_SLICE || off > FILE_SIZE - len) {
      atomic_fetch_add(&g_bad_requests, 1);
      mu_tcp_connection_force_close(conn);
      return;
    }
    answer(conn, off, len);
  }
}

static void setup(mu_tcp_server_t *server, void *arg) {
  (void)arg;
  mu_tcp_server_set_message_callback(server, on_message, NULL);
  mu_tcp_server_set_connection_callback(server, tt_count_connection, &g_counts);
  mu_tcp_server_set_thread_init_callback(server, mu_fault_thread_init_cb, NULL);
}

/* ---- client ---------------------------------------------------------------- */

typedef struct req {
  uint32_t off, len;
} req_t;

typedef struct conn {
  fc_conn_t b;
  req_t req[REQUESTS];
  int sent_reqs, done_reqs;
  uint8_t head[8];
  size_t head_got, body_got;
} conn_t;

typedef struct client {
  fc_client_t fc;
  conn_t c[CONNS];
  uint64_t bytes;
} client_t;

static void fail(const conn_t *c, const char *what) {
  fprintf(stderr, "conn port %u (request %d of %d, header %zu, body %zu): %s\n",
          c->b.port, c->done_reqs, REQUESTS, c->head_got, c->body_got, what);
  mu_fault_print_stats("at failure");
  abort();
}

static void fail_at(void *ctx, int i, const char *what) {
  client_t *cl = ctx;
  fail(&cl->c[i], what);
}

/* Keeps up to PIPELINE requests outstanding (8 bytes always fit). */
static void send_requests(client_t *cl, int i) {
  conn_t *c = &cl->c[i];
  while (c->sent_reqs < REQUESTS && c->sent_reqs - c->done_reqs < PIPELINE) {
    uint8_t r[8];
    tt_put_be32(r, c->req[c->sent_reqs].off);
    tt_put_be32(r + 4, c->req[c->sent_reqs].len);
    ssize_t w = fc_send(&cl->fc, i, r, sizeof r);
    if (w < 0)
      return;
    if (w != (ssize_t)sizeof r)
      fail(c, "request not sent whole");
    c->sent_reqs++;
  }
}

static void on_readable(client_t *cl, int i) {
  conn_t *c = &cl->c[i];
  uint8_t buf[65536];
  ssize_t n = fc_recv(&cl->fc, i, buf, sizeof buf);
  if (n < 0)
    return;
  if (n == 0) {
    if (c->done_reqs == REQUESTS)
      fc_finish(&cl->fc, i);
    else
      fc_ended_early(&cl->fc, i, "end of file before the last answer");
    return;
  }
  if (c->done_reqs == REQUESTS)
    fail(c, "bytes after the last answer");
  for (size_t k = 0; k < (size_t)n;) {
    if (c->done_reqs == REQUESTS)
      fail(c, "bytes after the last answer");
    req_t *r = &c->req[c->done_reqs];
    if (c->head_got < 8) {
      c->head[c->head_got++] = buf[k++];
      if (c->head_got == 8 &&
          (tt_get_be32(c->head) != r->off || tt_get_be32(c->head + 4) != r->len))
        fail(c, "wrong answer header");
      continue;
    }
    size_t take = (size_t)n - k;
    if (take > r->len - c->body_got)
      take = r->len - c->body_got;
    if (tt_pattern_check(g_key, r->off + c->body_got, buf + k, take) != take)
      fail(c, "wrong byte in a slice");
    c->body_got += take;
    k += take;
    cl->bytes += take;
    if (c->body_got == r->len) {
      c->head_got = c->body_got = 0;
      c->done_reqs++;
    }
  }
  if (c->done_reqs == REQUESTS) {
    fc_half_close(&cl->fc, i); /* then expect end of file */
    return;
  }
  send_requests(cl, i);
}

static void on_event(void *ctx, int i, uint32_t ev) {
  client_t *cl = ctx;
  (void)ev;
  if (cl->c[i].b.state == FC_CONNECTING) {
    fc_connected(&cl->fc, i, EPOLLIN);
    send_requests(cl, i);
  } else {
    on_readable(cl, i);
  }
}

static uint64_t one_round(uint64_t seed, int io_threads) {
  tt_server_t s;
  seed = fc_server_start(&s, seed, "fault-sendfile", io_threads, setup, &g_counts);

  static client_t cl;
  memset(&cl, 0, sizeof cl);
  fc_init(&cl.fc, cl.c, sizeof cl.c[0], CONNS, 32, &cl, on_event, fail_at);
  tt_rng_t rng = tt_rng_make(seed ^ 0xf11eULL);
  for (int i = 0; i < CONNS; ++i) {
    cl.c[i].b.fd = -1;
    for (int r = 0; r < REQUESTS; ++r) {
      uint32_t len = (uint32_t)tt_rng_log_size(&rng, 1, MAX_SLICE);
      cl.c[i].req[r] = (req_t){(uint32_t)tt_rng_range(&rng, 0, FILE_SIZE - len), len};
    }
  }
  double t0 = tt_now();
  fc_run(&cl.fc, s.port);
  printf("round seed=%" PRIu64 " io_threads=%d: %d connections x %d requests, %" PRIu64
         " slice bytes checked, %d reset by injection, %.1f s\n",
         seed, io_threads, CONNS, REQUESTS, cl.bytes, cl.fc.reset, tt_now() - t0);
  CHECK_EQ(tt_server_wait_connections(&s, 0, 60), 0);
  CHECK_EQ(atomic_load(&g_counts.up), CONNS);
  CHECK_EQ(atomic_load(&g_counts.down), CONNS);
  CHECK_EQ(atomic_load(&g_bad_requests), 0);
  fc_round_stats(&g_fault_sum);
  tt_server_stop(&s);
  return seed;
}

int main(void) {
  tt_init("fault_send_file", 280);
  int fds0 = tt_count_open_fds();
  g_key = tt_seed(77);
  make_file();
  int rounds = fc_run_rounds(one_round);
  close(g_file);
  free(g_copy);
  /* Every dup'ed file descriptor was closed by its connection. */
  CHECK_EQ(tt_count_open_fds(), fds0);
  static const mu_fault_kind_t kinds[] = {MU_FAULT_SHORT_WRITE, MU_FAULT_EAGAIN};
  if (rounds == 3)
    fc_require_kinds(&g_fault_sum, kinds, 2);
  printf("fault_send_file: ok\n");
  return 0;
}
