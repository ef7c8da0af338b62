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

#include "fault/fault.h"

/* Faults of every round: each common kind must occur over the three rounds
 * (one round alone may, by chance, miss a kind). */
static mu_fault_stats_t g_fault_sum;

#define FILE_SIZE (4u << 20)
#define CONNS (TT_SANITIZED ? 60 : 120)
#define REQUESTS 12
#define PIPELINE 4
#define MAX_SLICE (256u * 1024)
#define STALL_S 60

static uint64_t g_key;
static int g_file = -1;
static uint8_t *g_copy;
static tt_conn_counters_t g_counts;
static _Atomic long g_bad_requests;

static void put_u32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}
static uint32_t get_u32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

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
  put_u32(head, off);
  put_u32(head + 4, len);
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
    uint32_t off = get_u32(p), len = get_u32(p + 4);
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
  int fd, state; /* 0 idle, 1 connecting, 2 running, 3 done */
  uint16_t port;
  req_t req[REQUESTS];
  int sent_reqs, done_reqs;
  uint8_t head[8];
  size_t head_got, body_got;
} conn_t;

typedef struct client {
  conn_t c[CONNS];
  int ep, next, active, done, reset;
  uint64_t bytes;
} client_t;

static void fail(const conn_t *c, const char *what) {
  fprintf(stderr, "conn port %u (request %d of %d, header %zu, body %zu): %s\n", c->port,
          c->done_reqs, REQUESTS, c->head_got, c->body_got, what);
  mu_fault_print_stats("at failure");
  abort();
}

static void watch(client_t *cl, int i, uint32_t ev, int op) {
  struct epoll_event e = {.events = ev, .data.u32 = (uint32_t)i};
  CHECK(epoll_ctl(cl->ep, op, cl->c[i].fd, &e) == 0);
}

static void finish(client_t *cl, int i) {
  CHECK(close(cl->c[i].fd) == 0);
  cl->c[i].fd = -1;
  cl->c[i].state = 3;
  cl->active--;
  cl->done++;
}

static void ended_early(client_t *cl, int i, const char *how) {
  if (!mu_fault_port_was_reset(cl->c[i].port, true))
    fail(&cl->c[i], how);
  cl->reset++;
  finish(cl, i);
}

/* Keeps up to PIPELINE requests outstanding (8 bytes always fit). */
static void send_requests(client_t *cl, int i) {
  conn_t *c = &cl->c[i];
  while (c->sent_reqs < REQUESTS && c->sent_reqs - c->done_reqs < PIPELINE) {
    uint8_t r[8];
    put_u32(r, c->req[c->sent_reqs].off);
    put_u32(r + 4, c->req[c->sent_reqs].len);
    ssize_t w = send(c->fd, r, sizeof r, MSG_NOSIGNAL);
    if (w < 0 && (errno == ECONNRESET || errno == EPIPE)) {
      ended_early(cl, i, strerror(errno));
      return;
    }
    if (w != (ssize_t)sizeof r)
      fail(c, "request not sent whole");
    c->sent_reqs++;
  }
}

static void on_readable(client_t *cl, int i) {
  conn_t *c = &cl->c[i];
  uint8_t buf[65536];
  ssize_t n = recv(c->fd, buf, sizeof buf, 0);
  if (n < 0 && (errno == EAGAIN || errno == EINTR))
    return;
  if ((n < 0 && errno == ECONNRESET) || n == 0) {
    if (n == 0 && c->done_reqs == REQUESTS) {
      finish(cl, i);
      return;
    }
    ended_early(cl, i, n == 0 ? "end of file before the last answer" : "reset");
    return;
  }
  if (n < 0)
    fail(c, strerror(errno));
  if (c->done_reqs == REQUESTS)
    fail(c, "bytes after the last answer");
  for (size_t k = 0; k < (size_t)n;) {
    if (c->done_reqs == REQUESTS)
      fail(c, "bytes after the last answer");
    req_t *r = &c->req[c->done_reqs];
    if (c->head_got < 8) {
      c->head[c->head_got++] = buf[k++];
      if (c->head_got == 8 &&
          (get_u32(c->head) != r->off || get_u32(c->head + 4) != r->len))
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
    if (shutdown(c->fd, SHUT_WR) != 0)     /* then expect end of file */
      ended_early(cl, i, strerror(errno)); /* only a reset makes it fail */
    return;
  }
  send_requests(cl, i);
}

static void on_writable(client_t *cl, int i) {
  conn_t *c = &cl->c[i];
  int err = 0;
  socklen_t len = sizeof err;
  CHECK(getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0);
  if (err != 0)
    fail(c, strerror(err));
  c->state = 2;
  watch(cl, i, EPOLLIN, EPOLL_CTL_MOD);
  send_requests(cl, i);
}

static void run_clients(client_t *cl, uint16_t port) {
  cl->ep = epoll_create1(EPOLL_CLOEXEC);
  CHECK(cl->ep >= 0);
  struct epoll_event evs[64];
  double last = tt_now();
  while (cl->done < CONNS) {
    while (cl->next < CONNS && cl->active < 32) {
      int i = cl->next++;
      conn_t *c = &cl->c[i];
      c->fd = tt_connect_nonblocking_rcvbuf(port, i % 2 ? 8192 : 0);
      CHECK(c->fd >= 0);
      struct sockaddr_in me;
      socklen_t len = sizeof me;
      CHECK(getsockname(c->fd, (struct sockaddr *)&me, &len) == 0);
      c->port = ntohs(me.sin_port);
      mu_fault_port_was_reset(c->port, true);
      c->state = 1;
      cl->active++;
      watch(cl, i, EPOLLOUT, EPOLL_CTL_ADD);
    }
    int n = epoll_wait(cl->ep, evs, 64, 500);
    CHECK(n >= 0 || errno == EINTR);
    for (int k = 0; k < n; ++k) {
      int i = (int)evs[k].data.u32;
      if (cl->c[i].state == 3)
        continue;
      if (cl->c[i].state == 1)
        on_writable(cl, i);
      else
        on_readable(cl, i);
    }
    if (n > 0)
      last = tt_now();
    else if (tt_now() - last > STALL_S) {
      for (int i = 0; i < CONNS; ++i) {
        if (cl->c[i].state == 1 || cl->c[i].state == 2)
          fail(&cl->c[i], "no progress");
      }
    }
  }
  close(cl->ep);
}

static uint64_t one_round(uint64_t seed, int io_threads) {
  seed = mu_fault_init(seed);
  atomic_store(&g_counts.up, 0);
  atomic_store(&g_counts.down, 0);
  tt_server_t s;
  tt_server_start(&s, "fault-sendfile", io_threads, setup, NULL);
  tt_server_shrink_sndbuf(&s, 16384);
  tt_run_sync(s.loop, mu_fault_enable_functor, NULL);

  static client_t cl;
  memset(&cl, 0, sizeof cl);
  tt_rng_t rng = tt_rng_make(seed ^ 0xf11eULL);
  for (int i = 0; i < CONNS; ++i) {
    cl.c[i].fd = -1;
    for (int r = 0; r < REQUESTS; ++r) {
      uint32_t len = (uint32_t)tt_rng_log_size(&rng, 1, MAX_SLICE);
      cl.c[i].req[r] = (req_t){(uint32_t)tt_rng_range(&rng, 0, FILE_SIZE - len), len};
    }
  }
  double t0 = tt_now();
  run_clients(&cl, s.port);
  printf("round seed=%" PRIu64 " io_threads=%d: %d connections x %d requests, %" PRIu64
         " slice bytes checked, %d reset by injection, %.1f s\n",
         seed, io_threads, CONNS, REQUESTS, cl.bytes, cl.reset, tt_now() - t0);
  CHECK_EQ(tt_server_wait_connections(&s, 0, 60), 0);
  CHECK_EQ(atomic_load(&g_counts.up), CONNS);
  CHECK_EQ(atomic_load(&g_counts.down), CONNS);
  CHECK_EQ(atomic_load(&g_bad_requests), 0);
  mu_fault_print_stats("round");
  mu_fault_stats_t st;
  mu_fault_get_stats(&st);
  CHECK(st.injected > 0);
  for (int k = 0; k < MU_FAULT_KINDS; ++k)
    g_fault_sum.by_kind[k] += st.by_kind[k];
  tt_server_stop(&s);
  mu_fault_set_active(false);
  return seed;
}

int main(void) {
  tt_init("fault_send_file", 280);
  int fds0 = tt_count_open_fds();
  g_key = tt_seed(77);
  make_file();
  const char *env = getenv("MU_FAULT_SEED");
  int rounds = env != NULL && *env != '\0' ? 1 : 3;
  uint64_t first = one_round(0, 2);
  for (int r = 1; r < rounds; ++r)
    one_round(first + (uint64_t)r, r % 2 == 0 ? 2 : 0);
  close(g_file);
  free(g_copy);
  /* Every dup'ed file descriptor was closed by its connection. */
  CHECK_EQ(tt_count_open_fds(), fds0);
  if (rounds == 3) {
    CHECK(g_fault_sum.by_kind[MU_FAULT_SHORT_WRITE] > 0);
    CHECK(g_fault_sum.by_kind[MU_FAULT_EAGAIN] > 0);
  }
  printf("fault_send_file: ok\n");
  return 0;
}
