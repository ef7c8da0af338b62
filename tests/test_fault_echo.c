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

#include "fault/fault_client.h"

/* Faults of every round (see fc_round_stats). */
static mu_fault_stats_t g_fault_sum;

#define CONNS (TT_SANITIZED ? 200 : 400)
#define IN_FLIGHT 64
#define MAX_SIZE (TT_SANITIZED ? 256 * 1024 : 1024 * 1024)
#define MAX_CHUNK 32768

typedef struct conn {
  fc_conn_t b; /* FC_RUNNING: echoing, FC_AWAIT_EOF: awaiting end of file */
  uint64_t stream;
  size_t size, sent, recvd;
  bool early_fin; /* half-close as soon as all is sent, before the echo */
} conn_t;

typedef struct client {
  fc_client_t fc;
  conn_t c[400];
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

static void fail(void *ctx, int i, const char *what) {
  client_t *cl = ctx;
  conn_t *c = &cl->c[i];
  fprintf(stderr, "conn %d (port %u, size %zu, sent %zu, echoed %zu): %s\n", i, c->b.port,
          c->size, c->sent, c->recvd, what);
  mu_fault_print_stats("at failure");
  abort();
}

static void on_writable(client_t *cl, int i) {
  conn_t *c = &cl->c[i];
  if (c->b.state == FC_CONNECTING)
    fc_connected(&cl->fc, i, EPOLLIN | EPOLLOUT);
  if (c->b.state != FC_RUNNING || c->sent == c->size)
    return;
  size_t n = tt_rng_log_size(&cl->rng, 1, MAX_CHUNK);
  if (n > c->size - c->sent)
    n = c->size - c->sent;
  tt_pattern_fill(c->stream, c->sent, cl->chunk, n);
  ssize_t w = fc_send(&cl->fc, i, cl->chunk, n);
  if (w <= 0)
    return;
  c->sent += (size_t)w;
  if (c->sent == c->size) {
    fc_watch(&cl->fc, i, EPOLLIN, EPOLL_CTL_MOD);
    /* The server reads end of file with echo still queued. */
    if (c->early_fin)
      fc_half_close(&cl->fc, i);
  }
}

static void on_readable(client_t *cl, int i) {
  conn_t *c = &cl->c[i];
  char buf[65536];
  ssize_t n = fc_recv(&cl->fc, i, buf, sizeof buf);
  if (n < 0)
    return;
  if (c->b.state == FC_AWAIT_EOF) {
    if (n > 0)
      fail(cl, i, "bytes after the whole echo");
    fc_finish(&cl->fc, i);
    return;
  }
  if (n == 0) {
    fc_ended_early(&cl->fc, i, "end of file before the whole echo");
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
    if (!c->early_fin && !fc_half_close(&cl->fc, i))
      return;
    c->b.state = FC_AWAIT_EOF;
  }
}

static void on_event(void *ctx, int i, uint32_t ev) {
  client_t *cl = ctx;
  if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR))
    on_readable(cl, i);
  if (cl->c[i].b.state != FC_DONE && (ev & EPOLLOUT))
    on_writable(cl, i);
}

/* seed 0: from MU_FAULT_SEED or the clock. Returns the seed used. */
static uint64_t round_with_seed(uint64_t seed, int io_threads) {
  tt_server_t s;
  seed = fc_server_start(&s, seed, "fault", io_threads, setup, &g_counts);

  static client_t cl;
  memset(&cl, 0, sizeof cl);
  fc_init(&cl.fc, cl.c, sizeof cl.c[0], CONNS, IN_FLIGHT, &cl, on_event, fail);
  cl.rng = tt_rng_make(seed ^ 0xc11e47ULL);
  for (int i = 0; i < CONNS; ++i) {
    cl.c[i].b.fd = -1;
    cl.c[i].stream = tt_mix64(seed * 1000 + (uint64_t)i);
    cl.c[i].size = tt_rng_log_size(&cl.rng, 1, MAX_SIZE);
    cl.c[i].early_fin = i % 3 == 0;
  }
  double t0 = tt_now();
  fc_run(&cl.fc, s.port);
  printf("round seed=%" PRIu64 " io_threads=%d: %d connections, %" PRIu64
         " bytes echoed and checked, %d reset by injection, %.1f s\n",
         seed, io_threads, CONNS, cl.bytes, cl.fc.reset, tt_now() - t0);

  CHECK_EQ(tt_server_wait_connections(&s, 0, 60), 0);
  CHECK_EQ(atomic_load(&g_counts.up), atomic_load(&g_counts.down));
  /* Every connection was accepted once (none is lost in the backlog by an
   * injected accept failure). */
  CHECK_EQ(atomic_load(&g_counts.up), CONNS);
  fc_round_stats(&g_fault_sum);
  tt_server_stop(&s);
  return seed;
}

int main(void) {
  tt_init("fault_echo", 280);
  static const mu_fault_kind_t kinds[] = {MU_FAULT_EINTR, MU_FAULT_EAGAIN,
                                          MU_FAULT_SHORT_READ, MU_FAULT_SHORT_WRITE};
  if (fc_run_rounds(round_with_seed) == 3)
    fc_require_kinds(&g_fault_sum, kinds, 4);
  printf("fault_echo: ok\n");
  return 0;
}
