/* Echo, byte-exact, while the server's system calls fail at random
 * (tests/fault/: EINTR, EAGAIN, short reads and writes, ECONNRESET/EPIPE,
 * EMFILE/ENFILE/ECONNABORTED on accept, EINTR on epoll_wait/poll).
 *
 * Faults are scoped to the server: only its loop threads opt in (the base
 * loop by a synchronous call, the I/O loops through the thread-init
 * callback), and only descriptors those threads accepted are touched, so the
 * verifying client in the main thread sees the kernel as it is.
 *
 * Per round: 400 connections (200 under sanitizers; at most 64 in flight),
 * payloads log-uniform in [1 B, 1 MiB] (256 KiB under sanitizers) written in
 * random chunks, every echoed byte checked at its offset. Odd connections
 * read through an 8 KiB window and the server's sockets get a 16 KiB send
 * buffer, so the echo backs up in the server (queued output, write events,
 * the write path's faults). Every third connection half-closes as soon as
 * it has sent everything, so the server reads end of file with echo still
 * queued and must send all of it before it closes; the others half-close
 * after their echo. Either way the client must then see the server's end of
 * file with no extra byte. A connection may end early only when the fault
 * layer says it reset that very connection (its peer port); then the bytes it
 * did get must still be a correct prefix. Afterwards the server has no
 * connection left, one up and one down per accepted connection, and the three
 * rounds together must have injected each of the common fault kinds.
 *
 * Three rounds with consecutive seeds (the first from the clock), or one with
 * MU_FAULT_SEED; MU_FAULT_RATE and MU_FAULT_FATAL set the rates. Every seed is
 * printed: rerun with it to replay. */
#include "tcp_test_util.h"

#include "fault/fault.h"

/* Faults of every round: each common kind must occur over the three rounds
 * (one round alone may, by chance, miss a kind). */
static mu_fault_stats_t g_fault_sum;

#define CONNS (TT_SANITIZED ? 200 : 400)
#define IN_FLIGHT 64
#define MAX_SIZE (TT_SANITIZED ? 256 * 1024 : 1024 * 1024)
#define MAX_CHUNK 32768
#define STALL_S 60

typedef struct conn {
  int fd;
  int state; /* 0 idle, 1 connecting, 2 echoing, 3 awaiting eof, 4 done */
  uint16_t port;
  uint64_t stream;
  size_t size, sent, recvd;
  bool early_fin; /* half-close as soon as all is sent, before the echo */
} conn_t;

typedef struct client {
  conn_t c[400];
  int ep, next, active, done, reset;
  tt_rng_t rng;
  char chunk[MAX_CHUNK];
  uint64_t bytes;
} client_t;

static tt_conn_counters_t g_counts;

static void setup(mu_tcp_server_t *server, void *arg) {
  (void)arg;
  mu_tcp_server_set_message_callback(server, tt_echo_on_message, NULL);
  mu_tcp_server_set_connection_callback(server, tt_count_connection, &g_counts);
  mu_tcp_server_set_thread_init_callback(server, mu_fault_thread_init_cb, NULL);
}

static void fail(client_t *cl, int i, const char *what) {
  conn_t *c = &cl->c[i];
  fprintf(stderr, "conn %d (port %u, size %zu, sent %zu, echoed %zu): %s\n", i, c->port,
          c->size, c->sent, c->recvd, what);
  mu_fault_print_stats("at failure");
  abort();
}

static void watch(client_t *cl, int i, uint32_t events, int op) {
  struct epoll_event ev = {.events = events, .data.u32 = (uint32_t)i};
  CHECK(epoll_ctl(cl->ep, op, cl->c[i].fd, &ev) == 0);
}

static void finish(client_t *cl, int i) {
  conn_t *c = &cl->c[i];
  CHECK(close(c->fd) == 0);
  c->fd = -1;
  c->state = 4;
  cl->active--;
  cl->done++;
}

/* The connection ended before its echo was complete: only an injected reset
 * of this very connection excuses that. */
static void ended_early(client_t *cl, int i, const char *how) {
  if (!mu_fault_port_was_reset(cl->c[i].port, true))
    fail(cl, i, how);
  cl->reset++;
  finish(cl, i);
}

static void start_more(client_t *cl, uint16_t port) {
  while (cl->next < CONNS && cl->active < IN_FLIGHT) {
    int i = cl->next++;
    conn_t *c = &cl->c[i];
    c->fd = tt_connect_nonblocking_rcvbuf(port, i % 2 ? 8192 : 0);
    CHECK(c->fd >= 0);
    struct sockaddr_in me;
    socklen_t len = sizeof me;
    CHECK(getsockname(c->fd, (struct sockaddr *)&me, &len) == 0);
    c->port = ntohs(me.sin_port);
    mu_fault_port_was_reset(c->port, true); /* an earlier round's note */
    c->state = 1;
    cl->active++;
    watch(cl, i, EPOLLOUT, EPOLL_CTL_ADD);
  }
}

static void on_writable(client_t *cl, int i) {
  conn_t *c = &cl->c[i];
  if (c->state == 1) {
    int err = 0;
    socklen_t len = sizeof err;
    CHECK(getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0);
    if (err != 0)
      fail(cl, i, strerror(err));
    c->state = 2;
    watch(cl, i, EPOLLIN | EPOLLOUT, EPOLL_CTL_MOD);
  }
  if (c->state != 2 || c->sent == c->size)
    return;
  size_t n = tt_rng_log_size(&cl->rng, 1, MAX_CHUNK);
  if (n > c->size - c->sent)
    n = c->size - c->sent;
  tt_pattern_fill(c->stream, c->sent, cl->chunk, n);
  ssize_t w = send(c->fd, cl->chunk, n, MSG_NOSIGNAL);
  if (w < 0 && (errno == EAGAIN || errno == EINTR))
    return;
  if (w < 0 && (errno == ECONNRESET || errno == EPIPE)) {
    ended_early(cl, i, strerror(errno));
    return;
  }
  if (w <= 0)
    fail(cl, i, w < 0 ? strerror(errno) : "send returned 0");
  c->sent += (size_t)w;
  if (c->sent == c->size) {
    watch(cl, i, EPOLLIN, EPOLL_CTL_MOD);
    /* The server reads end of file with echo still queued. Only a reset of
     * this connection can make shutdown fail. */
    if (c->early_fin && shutdown(c->fd, SHUT_WR) != 0)
      ended_early(cl, i, strerror(errno));
  }
}

static void on_readable(client_t *cl, int i) {
  conn_t *c = &cl->c[i];
  char buf[65536];
  ssize_t n = recv(c->fd, buf, sizeof buf, 0);
  if (n < 0 && (errno == EAGAIN || errno == EINTR))
    return;
  if (n < 0 && errno == ECONNRESET) {
    ended_early(cl, i, "connection reset");
    return;
  }
  if (n < 0)
    fail(cl, i, strerror(errno));
  if (c->state == 3) {
    if (n > 0)
      fail(cl, i, "bytes after the whole echo");
    finish(cl, i);
    return;
  }
  if (n == 0) {
    ended_early(cl, i, "end of file before the whole echo");
    return;
  }
  if ((size_t)n > c->size - c->recvd)
    fail(cl, i, "more bytes than sent");
  size_t bad = tt_pattern_check(c->stream, c->recvd, buf, (size_t)n);
  if (bad != (size_t)n) {
    char what[80];
    snprintf(what, sizeof what, "wrong byte at offset %zu", c->recvd + bad);
    fail(cl, i, what);
  }
  c->recvd += (size_t)n;
  cl->bytes += (uint64_t)n;
  if (c->recvd == c->size) {
    if (!c->early_fin && shutdown(c->fd, SHUT_WR) != 0) {
      ended_early(cl, i, strerror(errno)); /* only a reset makes it fail */
      return;
    }
    c->state = 3;
  }
}

static void run_clients(client_t *cl, uint16_t port) {
  cl->ep = epoll_create1(EPOLL_CLOEXEC);
  CHECK(cl->ep >= 0);
  double last = tt_now();
  struct epoll_event evs[64];
  while (cl->done < CONNS) {
    start_more(cl, port);
    int n = epoll_wait(cl->ep, evs, 64, 500);
    CHECK(n >= 0 || errno == EINTR);
    for (int k = 0; k < n; ++k) {
      int i = (int)evs[k].data.u32;
      uint32_t ev = evs[k].events;
      if (cl->c[i].state == 4)
        continue;
      if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR))
        on_readable(cl, i);
      if (cl->c[i].state != 4 && (ev & EPOLLOUT))
        on_writable(cl, i);
    }
    if (n > 0)
      last = tt_now();
    if (tt_now() - last > STALL_S) {
      for (int i = 0; i < CONNS; ++i) {
        if (cl->c[i].state != 4 && cl->c[i].state != 0)
          fail(cl, i, "no progress");
      }
    }
  }
  close(cl->ep);
}

/* seed 0: from MU_FAULT_SEED or the clock. Returns the seed used. */
static uint64_t round_with_seed(uint64_t seed, int io_threads) {
  seed = mu_fault_init(seed);
  atomic_store(&g_counts.up, 0);
  atomic_store(&g_counts.down, 0);
  tt_server_t s;
  tt_server_start(&s, "fault", io_threads, setup, NULL);
  tt_server_shrink_sndbuf(&s, 16384);
  tt_run_sync(s.loop, mu_fault_enable_functor, NULL);

  static client_t cl;
  memset(&cl, 0, sizeof cl);
  cl.rng = tt_rng_make(seed ^ 0xc11e47ULL);
  for (int i = 0; i < CONNS; ++i) {
    cl.c[i].fd = -1;
    cl.c[i].stream = tt_mix64(seed * 1000 + (uint64_t)i);
    cl.c[i].size = tt_rng_log_size(&cl.rng, 1, MAX_SIZE);
    cl.c[i].early_fin = i % 3 == 0;
  }
  double t0 = tt_now();
  run_clients(&cl, s.port);
  printf("round seed=%" PRIu64 " io_threads=%d: %d connections, %" PRIu64
         " bytes echoed and checked, %d reset by injection, %.1f s\n",
         seed, io_threads, CONNS, cl.bytes, cl.reset, tt_now() - t0);

  CHECK_EQ(tt_server_wait_connections(&s, 0, 60), 0);
  CHECK_EQ(atomic_load(&g_counts.up), atomic_load(&g_counts.down));
  /* Every connection was accepted once (none is lost in the backlog by an
   * injected accept failure). */
  CHECK_EQ(atomic_load(&g_counts.up), CONNS);
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
  tt_init("fault_echo", 280);
  const char *env = getenv("MU_FAULT_SEED");
  int rounds = env != NULL && *env != '\0' ? 1 : 3;
  uint64_t first = round_with_seed(0, 2);
  for (int r = 1; r < rounds; ++r) {
    round_with_seed(first + (uint64_t)r, r % 2 == 0 ? 2 : 0);
  }
  if (rounds == 3) {
    CHECK(g_fault_sum.by_kind[MU_FAULT_EINTR] > 0);
    CHECK(g_fault_sum.by_kind[MU_FAULT_EAGAIN] > 0);
    CHECK(g_fault_sum.by_kind[MU_FAULT_SHORT_READ] > 0);
    CHECK(g_fault_sum.by_kind[MU_FAULT_SHORT_WRITE] > 0);
  }
  printf("fault_echo: ok\n");
  return 0;
}
