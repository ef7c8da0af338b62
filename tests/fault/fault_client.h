/* The verifying client of the server-side fault tests (test_fault_echo.c,
 * test_fault_http.c, test_fault_send_file.c) and their round/seed handling.
 *
 * One thread, non-blocking sockets, level-triggered epoll: up to `in_flight`
 * connections at once, odd ones with an 8 KiB receive buffer (a slow reader,
 * so the server's output backs up). The test owns its connections (an array
 * whose elements start with fc_conn_t) and what goes over them: it gets every
 * event of a live connection through on_event and uses fc_send / fc_recv,
 * which end a connection early only when the fault layer says it reset that
 * very connection (its local port) and abort through the test's fail
 * otherwise. A connection with no event for FC_STALL_S aborts the test. */
#ifndef CMUDUO_TESTS_FAULT_CLIENT_H
#define CMUDUO_TESTS_FAULT_CLIENT_H

#include "tcp_test_util.h"

#include "fault/fault.h"

#define FC_STALL_S 60

enum { FC_IDLE, FC_CONNECTING, FC_RUNNING, FC_AWAIT_EOF, FC_DONE };

typedef struct fc_conn {
  int fd, state;
  uint16_t port; /* local: what mu_fault_port_was_reset knows it by */
} fc_conn_t;

typedef struct fc_client {
  /* Set by the test. */
  void *conns; /* array of `count` elements of `stride` bytes, each led by fc_conn_t */
  size_t stride;
  int count, in_flight;
  void *ctx;
  void (*on_event)(void *ctx, int i, uint32_t events); /* a live connection's events */
  void (*fail)(void *ctx, int i, const char *what);    /* prints and aborts */
  void (*on_finish)(void *ctx, int i);                 /* optional, before it is done */
  /* Kept by the driver. */
  int ep, next, active, done, reset;
} fc_client_t;

/* A client over conns[0..count-1], elements of `stride` bytes; on_finish is
 * left unset. */
static inline void fc_init(fc_client_t *f, void *conns, size_t stride, int count,
                           int in_flight, void *ctx,
                           void (*on_event)(void *ctx, int i, uint32_t events),
                           void (*fail)(void *ctx, int i, const char *what)) {
  *f = (fc_client_t){.conns = conns,
                     .stride = stride,
                     .count = count,
                     .in_flight = in_flight,
                     .ctx = ctx,
                     .on_event = on_event,
                     .fail = fail};
}

static inline fc_conn_t *fc_conn(const fc_client_t *f, int i) {
  return (fc_conn_t *)((char *)f->conns + (size_t)i * f->stride);
}

static inline void fc_watch(fc_client_t *f, int i, uint32_t events, int op) {
  struct epoll_event ev = {.events = events, .data.u32 = (uint32_t)i};
  CHECK(epoll_ctl(f->ep, op, fc_conn(f, i)->fd, &ev) == 0);
}

static inline void fc_finish(fc_client_t *f, int i) {
  fc_conn_t *c = fc_conn(f, i);
  if (f->on_finish != NULL)
    f->on_finish(f->ctx, i);
  CHECK(close(c->fd) == 0);
  c->fd = -1;
  c->state = FC_DONE;
  f->active--;
  f->done++;
}

/* The connection ended before the exchange was complete: only an injected
 * reset of this very connection excuses that. */
static inline void fc_ended_early(fc_client_t *f, int i, const char *how) {
  if (!mu_fault_port_was_reset(fc_conn(f, i)->port, true))
    f->fail(f->ctx, i, how);
  f->reset++;
  fc_finish(f, i);
}

static inline void fc_start_more(fc_client_t *f, uint16_t port) {
  while (f->next < f->count && f->active < f->in_flight) {
    int i = f->next++;
    fc_conn_t *c = fc_conn(f, i);
    c->fd = tt_connect_nonblocking_rcvbuf(port, i % 2 ? 8192 : 0);
    CHECK(c->fd >= 0);
    struct sockaddr_in me;
    socklen_t len = sizeof me;
    CHECK(getsockname(c->fd, (struct sockaddr *)&me, &len) == 0);
    c->port = ntohs(me.sin_port);
    mu_fault_port_was_reset(c->port, true); /* an earlier round's note */
    c->state = FC_CONNECTING;
    f->active++;
    fc_watch(f, i, EPOLLOUT, EPOLL_CTL_ADD);
  }
}

/* A connecting socket became writable: the connect must have succeeded (the
 * client's own calls are not faulted). Then watches `events`. */
static inline void fc_connected(fc_client_t *f, int i, uint32_t events) {
  fc_conn_t *c = fc_conn(f, i);
  int err = 0;
  socklen_t len = sizeof err;
  CHECK(getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0);
  if (err != 0)
    f->fail(f->ctx, i, strerror(err));
  c->state = FC_RUNNING;
  fc_watch(f, i, events, EPOLL_CTL_MOD);
}

/* Bytes sent (> 0); 0 when the socket is full or the call was interrupted;
 * -1 when an injected reset ended the connection (it is finished). */
static inline ssize_t fc_send(fc_client_t *f, int i, const void *buf, size_t n) {
  ssize_t w = send(fc_conn(f, i)->fd, buf, n, MSG_NOSIGNAL);
  if (w < 0 && (errno == EAGAIN || errno == EINTR))
    return 0;
  if (w < 0 && (errno == ECONNRESET || errno == EPIPE)) {
    fc_ended_early(f, i, strerror(errno));
    return -1;
  }
  if (w <= 0)
    f->fail(f->ctx, i, w < 0 ? strerror(errno) : "send returned 0");
  return w;
}

/* Bytes read (0: end of file); -1 when there is nothing to read now, or an
 * injected reset ended the connection (it is finished). */
static inline ssize_t fc_recv(fc_client_t *f, int i, void *buf, size_t cap) {
  ssize_t n = recv(fc_conn(f, i)->fd, buf, cap, 0);
  if (n < 0 && (errno == EAGAIN || errno == EINTR))
    return -1;
  if (n < 0 && errno == ECONNRESET) {
    fc_ended_early(f, i, "connection reset");
    return -1;
  }
  if (n < 0)
    f->fail(f->ctx, i, strerror(errno));
  return n;
}

/* All is sent and read: half-close, then expect end of file. Only a reset of
 * this connection makes shutdown fail. Returns false if that ended it. */
static inline bool fc_half_close(fc_client_t *f, int i) {
  if (shutdown(fc_conn(f, i)->fd, SHUT_WR) == 0)
    return true;
  fc_ended_early(f, i, strerror(errno));
  return false;
}

/* Runs every connection to its end (the test calls fc_finish). */
static inline void fc_run(fc_client_t *f, uint16_t port) {
  f->ep = epoll_create1(EPOLL_CLOEXEC);
  CHECK(f->ep >= 0);
  struct epoll_event evs[64];
  double last = tt_now();
  while (f->done < f->count) {
    fc_start_more(f, port);
    int n = epoll_wait(f->ep, evs, 64, 500);
    CHECK(n >= 0 || errno == EINTR);
    for (int k = 0; k < n; ++k) {
      int i = (int)evs[k].data.u32;
      if (fc_conn(f, i)->state != FC_DONE)
        f->on_event(f->ctx, i, evs[k].events);
    }
    if (n > 0)
      last = tt_now();
    else if (tt_now() - last > FC_STALL_S) {
      for (int i = 0; i < f->count; ++i) {
        int state = fc_conn(f, i)->state;
        if (state != FC_IDLE && state != FC_DONE)
          f->fail(f->ctx, i, "no progress");
      }
    }
  }
  close(f->ep);
}

/* Starts a round: seeds the fault layer (seed 0: from MU_FAULT_SEED or the
 * clock) and returns the seed used. Then the server: `setup` sets its callbacks (counting
 * into *counts, reset here), its sockets get a 16 KiB send buffer (so output backs up in
 * the server: queued output, write events, the write path's faults) and its base loop
 * opts in to faults (the I/O loops do through mu_fault_thread_init_cb). */
static inline uint64_t fc_server_start(tt_server_t *s, uint64_t seed, const char *name,
                                       int io_threads,
                                       void (*setup)(mu_tcp_server_t *server, void *arg),
                                       tt_conn_counters_t *counts) {
  seed = mu_fault_init(seed);
  atomic_store(&counts->up, 0);
  atomic_store(&counts->down, 0);
  tt_server_start(s, name, io_threads, setup, NULL);
  tt_server_shrink_sndbuf(s, 16384);
  tt_run_sync(s->loop, mu_fault_enable_functor, NULL);
  return seed;
}

/* After a round: prints its faults, checks some were injected and adds them
 * by kind to *sum (each common kind must occur over the three rounds; one
 * round alone may, by chance, miss a kind). */
static inline void fc_round_stats(mu_fault_stats_t *sum) {
  mu_fault_print_stats("round");
  mu_fault_stats_t st;
  mu_fault_get_stats(&st);
  CHECK(st.injected > 0);
  for (int k = 0; k < MU_FAULT_KINDS; ++k)
    sum->by_kind[k] += st.by_kind[k];
}

/* Three rounds with consecutive seeds (the first from the clock; I/O threads
 * 2, 0, 2), or one with MU_FAULT_SEED. round(seed, io_threads) takes seed 0 as
 * "from MU_FAULT_SEED or the clock" and returns the seed it used. Returns the
 * number of rounds run. */
static inline int fc_run_rounds(uint64_t (*round)(uint64_t seed, int io_threads)) {
  const char *env = getenv("MU_FAULT_SEED");
  int rounds = env != NULL && *env != '\0' ? 1 : 3;
  uint64_t first = round(0, 2);
  mu_fault_set_active(false);
  for (int r = 1; r < rounds; ++r) {
    round(first + (uint64_t)r, r % 2 == 0 ? 2 : 0);
    mu_fault_set_active(false);
  }
  return rounds;
}

/* Each of kinds[0..n-1] must have been injected in *sum. */
static inline void fc_require_kinds(const mu_fault_stats_t *sum,
                                    const mu_fault_kind_t *kinds, int n) {
  for (int k = 0; k < n; ++k) {
    if (sum->by_kind[kinds[k]] == 0) {
      fprintf(stderr, "fault kind %s was never injected in the rounds\n",
              mu_fault_kind_name(kinds[k]));
      abort();
    }
  }
}

#endif
