/* Soak: 2,000 connections at once to a server with 4 I/O threads, for
 * MU_SOAK_SECONDS (default 10, 6 under TSan), every byte accounted for.
 *
 * Client -> server: frames of the chat codec (examples/common/length_codec.h),
 * the payload's first byte a type: 'D' data (random size, log-uniform in
 * [1 B, 16 KiB], position-keyed bytes of the connection's stream), 'Q' quiesce.
 * Server -> client: 'E' frames (each 'D' payload echoed), 'W' frames sent by
 * a worker thread (not a loop thread) into random live connections through
 * mu_tcp_connection_send (sequence number + bytes keyed by the client's port
 * and that number), and one 'A' frame answering 'Q' with the number of 'W'
 * frames the worker sent into that connection: after it the worker sends no
 * more there.
 *
 * The client, one epoll thread, keeps 2,000 connections open; each sends a
 * random number of 'D' frames, then ends one of three ways:
 *   graceful (70%)  'Q', then wait for every echo and exactly the announced
 *                   number of 'W' frames, half-close, expect end of file with
 *                   nothing extra: the whole exchange is exact;
 *   close (15%)     close() at once, echoes possibly in flight (the server may
 *                   meet a reset while writing);
 *   reset (15%)     SO_LINGER {1, 0} then close(): an RST.
 * and is replaced by a new connection until the time is up. Whatever a
 * connection receives is checked as it comes: the server's 'H' frame (its
 * connection id) first, echoes in order and byte-exact, 'W' frames numbered
 * 0, 1, 2, ... with the right bytes.
 *
 * Now and then (one pick in 512) the worker ends a connection from its
 * thread instead of sending to it: force_close, or shutdown, after which the
 * client must read every 'W' frame the worker sent before the shutdown, no
 * torn frame, then end of file (cross-thread shutdown must not overtake that
 * thread's sends). A connection may end early only if the worker ended it.
 *
 * At the end: the server holds no connection, saw one down per up, and as
 * many as the client made; the process has exactly the descriptors it had
 * with the server idle, and after the server is freed exactly those it had
 * before, and cmuduo's live heap blocks (counted through mu_set_allocator)
 * are back to the count before the server existed. */
#include "tcp_test_util.h"

#include <pthread.h>

#include "../examples/common/length_codec.h"

#define CONCURRENT 2000
#define CONNECTING_MAX 200
#define MAX_DATA 16384
#define MAX_W 2048
#define IO_THREADS 4
#define STALL_S 60

/* ---- wire format ------------------------------------------------------------ */

/* [u32 len][type][body]: len counts type + body. */
static size_t frame_header(uint8_t *out, uint8_t type, size_t body) {
  uint32_t len = (uint32_t)(body + 1);
  out[0] = (uint8_t)(len >> 24);
  out[1] = (uint8_t)(len >> 16);
  out[2] = (uint8_t)(len >> 8);
  out[3] = (uint8_t)len;
  out[4] = type;
  return 5;
}

/* The worker's frame `seq` into the connection whose client port is `port`. */
static uint64_t w_stream(uint16_t port, uint32_t seq) {
  return (uint64_t)port << 32 | seq;
}
static size_t w_size(uint16_t port, uint32_t seq) {
  return 1 + tt_mix64(w_stream(port, seq) ^ 0x77ULL) % MAX_W;
}

/* ---- the server ------------------------------------------------------------- */

typedef struct sctx {
  mu_tcp_connection_t *conn;
  uint64_t id;
  uint16_t port;
  bool quiesced;
  bool killed; /* the worker closed or shut it down */
  uint32_t wsent;
  size_t index; /* in the registry */
} sctx_t;

static struct {
  pthread_mutex_t mu;
  sctx_t **live;
  size_t n, cap;
} g_reg = {PTHREAD_MUTEX_INITIALIZER, NULL, 0, 0};

static tt_conn_counters_t g_counts;
static _Atomic long g_bad_frames;
/* What the worker did to a connection, by the connection's id (sent to the
 * client first thing, in an 'H' frame): KILL_CLOSE (force_close) or
 * KILL_SHUTDOWN, and the number of 'W' frames it had sent there, all of which
 * must arrive before a shutdown's end of file. Under g_reg.mu. Ports alone
 * cannot name a connection: a client may close one before the server accepts
 * it and reuse its port at once, so two server connections can share a peer
 * port for a while. */
enum { KILL_NONE, KILL_CLOSE, KILL_SHUTDOWN };
#define KILL_SLOTS (1u << 20)
typedef struct kill_note {
  uint64_t id;
  uint32_t w;
  uint8_t how;
} kill_note_t;
static kill_note_t *g_kill_notes; /* KILL_SLOTS, indexed by id */
/* Kills per client port, never reset: excuses a reset that came before the
 * 'H' frame could be read. */
static _Atomic uint32_t g_port_kills[65536];
static _Atomic uint64_t g_kills[3];
static _Atomic uint64_t g_w_frames, g_w_bytes;
static atomic_bool g_worker_stop;

static void on_connection(mu_tcp_connection_t *conn, void *arg) {
  tt_count_connection(conn, &g_counts);
  if (mu_tcp_connection_connected(conn)) {
    sctx_t *c = calloc(1, sizeof *c);
    CHECK(c != NULL);
    c->conn = conn;
    c->port = mu_inet_address_port(mu_tcp_connection_peer_address(conn));
    c->id = mu_tcp_connection_id(conn);
    uint8_t hello[5 + 8];
    size_t h = frame_header(hello, 'H', 8);
    tt_put_be32(hello + h, (uint32_t)(c->id >> 32));
    tt_put_be32(hello + h + 4, (uint32_t)c->id);
    mu_tcp_connection_send(conn, hello, sizeof hello); /* before any other frame */
    CHECK_EQ(mu_tcp_connection_set_context(conn, c, free), 0);
    mu_tcp_connection_ref(conn);
    pthread_mutex_lock(&g_reg.mu);
    if (g_reg.n == g_reg.cap) {
      g_reg.cap = g_reg.cap ? 2 * g_reg.cap : 1024;
      g_reg.live = realloc(g_reg.live, g_reg.cap * sizeof *g_reg.live);
      CHECK(g_reg.live != NULL);
    }
    c->index = g_reg.n;
    g_reg.live[g_reg.n++] = c;
    pthread_mutex_unlock(&g_reg.mu);
    return;
  }
  sctx_t *c = mu_tcp_connection_get_context(conn);
  if (c == NULL)
    return;
  pthread_mutex_lock(&g_reg.mu);
  sctx_t *last = g_reg.live[--g_reg.n];
  g_reg.live[c->index] = last;
  last->index = c->index;
  pthread_mutex_unlock(&g_reg.mu);
  mu_tcp_connection_unref(conn);
}

static void on_message(mu_tcp_connection_t *conn, mu_buffer_t *buf, mu_timestamp_t t,
                       void *arg) {
  sctx_t *c = mu_tcp_connection_get_context(conn);
  uint8_t out[5 + MAX_DATA];
  for (;;) {
    const char *msg;
    size_t len;
    length_codec_result_t r = length_codec_decode(buf, &msg, &len);
    if (r == LENGTH_CODEC_NEED_MORE)
      return;
    if (r == LENGTH_CODEC_INVALID || len < 1 || len > 1 + MAX_DATA) {
      atomic_fetch_add(&g_bad_frames, 1);
      mu_tcp_connection_force_close(conn);
      mu_buffer_retrieve_all(buf);
      return;
    }
    if (msg[0] == 'D') {
      size_t h = frame_header(out, 'E', len - 1);
      memcpy(out + h, msg + 1, len - 1);
      mu_tcp_connection_send(conn, out, h + len - 1);
    } else if (msg[0] == 'Q' && c != NULL) {
      pthread_mutex_lock(&g_reg.mu);
      c->quiesced = true;
      uint32_t n = c->wsent;
      pthread_mutex_unlock(&g_reg.mu);
      size_t h = frame_header(out, 'A', 4);
      tt_put_be32(out + h, n);
      mu_tcp_connection_send(conn, out, h + 4);
    } else {
      atomic_fetch_add(&g_bad_frames, 1);
    }
    length_codec_consume(buf, len);
  }
}

static void setup(mu_tcp_server_t *server, void *arg) {
  mu_tcp_server_set_connection_callback(server, on_connection, NULL);
  mu_tcp_server_set_message_callback(server, on_message, NULL);
}

/* Sends 'W' frames into random live connections from outside every loop. */
static void *worker_main(void *arg) {
  tt_rng_t rng = tt_rng_make(*(uint64_t *)arg ^ 0x3070ULL);
  uint8_t out[5 + 4 + MAX_W];
  for (unsigned k = 0; !atomic_load(&g_worker_stop); ++k) {
    pthread_mutex_lock(&g_reg.mu);
    if (g_reg.n > 0) {
      sctx_t *c = g_reg.live[tt_rng_next(&rng) % g_reg.n];
      if (!c->quiesced && !c->killed && tt_rng_next(&rng) % 512 == 0) {
        /* Now and then end a connection from this thread instead: a shutdown
         * must come after every frame this thread sent before it. */
        int how = tt_rng_next(&rng) & 1 ? KILL_SHUTDOWN : KILL_CLOSE;
        c->killed = true;
        g_kill_notes[c->id % KILL_SLOTS] = (kill_note_t){c->id, c->wsent, (uint8_t)how};
        atomic_fetch_add(&g_port_kills[c->port], 1);
        atomic_fetch_add(&g_kills[how], 1);
        if (how == KILL_SHUTDOWN)
          mu_tcp_connection_shutdown(c->conn);
        else
          mu_tcp_connection_force_close(c->conn);
      } else if (!c->quiesced && !c->killed) {
        size_t n = w_size(c->port, c->wsent);
        size_t h = frame_header(out, 'W', 4 + n);
        tt_put_be32(out + h, c->wsent);
        tt_pattern_fill(w_stream(c->port, c->wsent), 0, out + h + 4, n);
        if (mu_tcp_connection_send(c->conn, out, h + 4 + n) == 0) {
          c->wsent++;
          atomic_fetch_add(&g_w_frames, 1);
          atomic_fetch_add(&g_w_bytes, n);
        }
      }
    }
    pthread_mutex_unlock(&g_reg.mu);
    if (k % 32 == 31)
      tt_sleep_ms(1);
  }
  return NULL;
}

/* ---- the client --------------------------------------------------------------- */

enum { FREE, CONNECTING, RUNNING, QUIESCING, AWAIT_EOF };
enum { END_GRACEFUL, END_CLOSE, END_RESET };

typedef struct cconn {
  int fd, state, ending;
  uint16_t port;
  uint64_t stream;
  int msgs_left;
  uint64_t d_sent, echoed; /* data bytes */
  uint32_t w_next;
  int64_t w_expect; /* from 'A', -1 before */
  bool have_id;     /* the 'H' frame came */
  uint64_t id;
  uint32_t port_kills; /* g_port_kills[port] when it opened */
  uint8_t *out;        /* the frame being written */
  size_t out_len, out_off;
  uint8_t *in; /* bytes of an incomplete frame */
  size_t in_len, in_cap;
} cconn_t;

typedef struct client {
  cconn_t *c;
  int ep, open, connecting;
  uint16_t port;
  tt_rng_t rng;
  uint64_t made, graceful, closed, reset, killed, echo_bytes, w_frames_checked,
      w_bytes_checked;
  double last_progress;
} client_t;

static void cfail(const cconn_t *c, const char *what) {
  fprintf(stderr,
          "soak: conn port %u (state %d, ending %d, sent %" PRIu64 ", echoed %" PRIu64
          ", w_next %u, w_expect %" PRId64 "): %s\n",
          c->port, c->state, c->ending, c->d_sent, c->echoed, c->w_next, c->w_expect,
          what);
  abort();
}

static void cwatch(client_t *cl, int i, uint32_t ev, int op) {
  struct epoll_event e = {.events = ev, .data.u32 = (uint32_t)i};
  CHECK(epoll_ctl(cl->ep, op, cl->c[i].fd, &e) == 0);
}

static void cclose(client_t *cl, int i, bool rst) {
  cconn_t *c = &cl->c[i];
  if (rst)
    tt_close_with_rst(c->fd);
  else
    CHECK(close(c->fd) == 0);
  c->fd = -1;
  c->state = FREE;
  c->in_len = 0;
  c->out_len = c->out_off = 0;
  cl->open--;
}

static void copen(client_t *cl, int i) {
  cconn_t *c = &cl->c[i];
  c->fd = tt_connect_nonblocking(cl->port);
  if (c->fd < 0)
    cfail(c, strerror(-c->fd));
  struct sockaddr_in me;
  socklen_t len = sizeof me;
  CHECK(getsockname(c->fd, (struct sockaddr *)&me, &len) == 0);
  c->port = ntohs(me.sin_port);
  c->state = CONNECTING;
  uint64_t r = tt_rng_range(&cl->rng, 0, 99);
  c->ending = r < 70 ? END_GRACEFUL : r < 85 ? END_CLOSE : END_RESET;
  c->msgs_left = (int)tt_rng_log_size(&cl->rng, 1, 64);
  c->stream = tt_rng_next(&cl->rng);
  c->d_sent = c->echoed = 0;
  c->w_next = 0;
  c->w_expect = -1;
  c->have_id = false;
  c->port_kills = atomic_load(&g_port_kills[c->port]);
  cl->open++;
  cl->connecting++;
  cl->made++;
  cwatch(cl, i, EPOLLOUT, EPOLL_CTL_ADD);
}

/* The next frame to write, or none (then only input matters). */
static void next_frame(client_t *cl, int i) {
  cconn_t *c = &cl->c[i];
  c->out_len = c->out_off = 0;
  if (c->state != RUNNING)
    return;
  if (c->msgs_left > 0) {
    size_t n = tt_rng_log_size(&cl->rng, 1, MAX_DATA);
    size_t h = frame_header(c->out, 'D', n);
    tt_pattern_fill(c->stream, c->d_sent, c->out + h, n);
    c->out_len = h + n;
    c->d_sent += n;
    c->msgs_left--;
    return;
  }
  if (c->ending == END_GRACEFUL) {
    c->out_len = frame_header(c->out, 'Q', 0);
    c->state = QUIESCING;
    return;
  }
  /* Abrupt end: echoes and worker frames may still be on their way. */
  if (c->ending == END_CLOSE)
    cl->closed++;
  else
    cl->reset++;
  cclose(cl, i, c->ending == END_RESET);
}

static void check_graceful_done(client_t *cl, int i) {
  cconn_t *c = &cl->c[i];
  if (c->state == QUIESCING && c->out_off == c->out_len && c->w_expect >= 0 &&
      c->w_next == (uint32_t)c->w_expect && c->echoed == c->d_sent) {
    CHECK(shutdown(c->fd, SHUT_WR) == 0);
    c->state = AWAIT_EOF;
    cwatch(cl, i, EPOLLIN, EPOLL_CTL_MOD);
  }
}

static void on_frame(client_t *cl, int i, const uint8_t *f, size_t len) {
  cconn_t *c = &cl->c[i];
  if (len < 1)
    cfail(c, "empty frame");
  const uint8_t *body = f + 1;
  size_t n = len - 1;
  if ((f[0] == 'H') == c->have_id)
    cfail(c, "the first frame, and only it, must be 'H'");
  switch (f[0]) {
    case 'H':
      if (n != 8)
        cfail(c, "bad H frame");
      c->id = (uint64_t)tt_get_be32(body) << 32 | tt_get_be32(body + 4);
      c->have_id = true;
      break;
    case 'E': {
      if (c->echoed + n > c->d_sent)
        cfail(c, "echo of bytes never sent");
      size_t bad = tt_pattern_check(c->stream, c->echoed, body, n);
      if (bad != n)
        cfail(c, "wrong echo byte");
      c->echoed += n;
      cl->echo_bytes += n;
      break;
    }
    case 'W': {
      if (n < 4)
        cfail(c, "short W frame");
      uint32_t seq = tt_get_be32(body);
      if (seq != c->w_next)
        cfail(c, "W frame out of order or missing");
      if (c->w_expect >= 0 && seq >= (uint64_t)c->w_expect)
        cfail(c, "W frame beyond the announced count");
      if (n - 4 != w_size(c->port, seq) ||
          tt_pattern_check(w_stream(c->port, seq), 0, body + 4, n - 4) != n - 4)
        cfail(c, "wrong W frame bytes");
      c->w_next++;
      cl->w_frames_checked++;
      cl->w_bytes_checked += n - 4;
      break;
    }
    case 'A':
      if (n != 4 || c->state != QUIESCING || c->w_expect >= 0)
        cfail(c, "unexpected A frame");
      c->w_expect = tt_get_be32(body);
      if (c->w_next > c->w_expect)
        cfail(c, "more W frames than announced");
      break;
    default:
      cfail(c, "unknown frame type");
  }
}

/* The server ended the connection before the exchange was complete: only the
 * worker may have done that. After its shutdown the stream must end cleanly
 * with every 'W' frame the worker sent before it; after its force_close any
 * checked prefix is fine. */
static void ended_by_server(client_t *cl, int i, bool eof) {
  cconn_t *c = &cl->c[i];
  if (!c->have_id) {
    /* A reset can discard the 'H' frame unread: then only the port says. */
    if (eof || atomic_load(&g_port_kills[c->port]) == c->port_kills)
      cfail(c, eof ? "end of file before the H frame" : "reset by the server");
  } else {
    pthread_mutex_lock(&g_reg.mu);
    kill_note_t k = g_kill_notes[c->id % KILL_SLOTS];
    pthread_mutex_unlock(&g_reg.mu);
    if (k.id != c->id || k.how == KILL_NONE)
      cfail(c,
            eof ? "end of file before the exchange was complete" : "reset by the server");
    if (k.how == KILL_SHUTDOWN) {
      if (!eof)
        cfail(c, "reset after a shutdown");
      if (c->in_len != 0)
        cfail(c, "a torn frame before the end of file of a shutdown");
      if (c->w_next != k.w)
        cfail(c, "W frames sent before shutdown() missing at its end of file");
    }
  }
  cl->killed++;
  cclose(cl, i, false);
}

static void on_readable(client_t *cl, int i) {
  cconn_t *c = &cl->c[i];
  uint8_t buf[65536];
  ssize_t n = recv(c->fd, buf, sizeof buf, 0);
  if (n < 0 && (errno == EAGAIN || errno == EINTR))
    return;
  if (n < 0 && errno == ECONNRESET) {
    ended_by_server(cl, i, false);
    return;
  }
  if (n < 0)
    cfail(c, strerror(errno));
  if (n == 0) {
    if (c->state != AWAIT_EOF) {
      ended_by_server(cl, i, true);
      return;
    }
    if (c->in_len != 0)
      cfail(c, "a torn frame before end of file");
    cl->graceful++;
    cclose(cl, i, false);
    return;
  }
  if (c->state == AWAIT_EOF)
    cfail(c, "bytes after the exchange was complete");
  cl->last_progress = tt_now();
  /* Append to the partial frame and take every whole frame. */
  if (c->in_len + (size_t)n > c->in_cap) {
    c->in_cap = c->in_len + (size_t)n;
    c->in = realloc(c->in, c->in_cap);
    CHECK(c->in != NULL);
  }
  memcpy(c->in + c->in_len, buf, (size_t)n);
  c->in_len += (size_t)n;
  size_t off = 0;
  while (c->in_len - off >= 4) {
    uint32_t len = tt_get_be32(c->in + off);
    if (len < 1 || len > 5 + MAX_DATA)
      cfail(c, "bad frame length");
    if (c->in_len - off - 4 < len)
      break;
    on_frame(cl, i, c->in + off + 4, len);
    off += 4 + len;
  }
  memmove(c->in, c->in + off, c->in_len - off);
  c->in_len -= off;
  check_graceful_done(cl, i);
}

static void on_writable(client_t *cl, int i) {
  cconn_t *c = &cl->c[i];
  if (c->state == CONNECTING) {
    int err = 0;
    socklen_t len = sizeof err;
    CHECK(getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0);
    if (err != 0)
      cfail(c, strerror(err));
    c->state = RUNNING;
    cl->connecting--;
    cwatch(cl, i, EPOLLIN | EPOLLOUT, EPOLL_CTL_MOD);
    next_frame(cl, i);
    return;
  }
  if (c->out_off == c->out_len)
    return;
  ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
  if (w < 0 && (errno == EAGAIN || errno == EINTR))
    return;
  if (w < 0 && (errno == ECONNRESET || errno == EPIPE)) {
    ended_by_server(cl, i, false);
    return;
  }
  if (w <= 0)
    cfail(c, w < 0 ? strerror(errno) : "send returned 0");
  c->out_off += (size_t)w;
  cl->last_progress = tt_now();
  if (c->out_off < c->out_len)
    return;
  if (c->state == QUIESCING) {
    cwatch(cl, i, EPOLLIN, EPOLL_CTL_MOD);
    check_graceful_done(cl, i);
  } else {
    next_frame(cl, i);
  }
}

/* Runs until `seconds` pass, then lets every open connection end gracefully
 * and waits for all of them. */
static void client_run(client_t *cl, double seconds) {
  double end = tt_now() + seconds;
  struct epoll_event evs[256];
  cl->last_progress = tt_now();
  for (;;) {
    bool opening = tt_now() < end;
    if (opening) {
      for (int i = 0; i < CONCURRENT && cl->connecting < CONNECTING_MAX; ++i) {
        if (cl->c[i].state == FREE)
          copen(cl, i);
      }
    } else {
      if (cl->open == 0)
        break;
      for (int i = 0; i < CONCURRENT; ++i) { /* wind down: short, no abrupt ends */
        if (cl->c[i].state != FREE) {
          cl->c[i].ending = END_GRACEFUL;
          if (cl->c[i].msgs_left > 1)
            cl->c[i].msgs_left = 1;
        }
      }
    }
    int n = epoll_wait(cl->ep, evs, 256, 100);
    CHECK(n >= 0 || errno == EINTR);
    for (int k = 0; k < n; ++k) {
      int i = (int)evs[k].data.u32;
      if (cl->c[i].state == FREE)
        continue;
      if (evs[k].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
        on_readable(cl, i);
      if (cl->c[i].state != FREE && (evs[k].events & EPOLLOUT))
        on_writable(cl, i);
    }
    if (tt_now() - cl->last_progress > STALL_S) {
      for (int i = 0; i < CONCURRENT; ++i) {
        if (cl->c[i].state != FREE)
          cfail(&cl->c[i], "no progress");
      }
    }
  }
}

int main(void) {
  tt_count_allocations();
  g_kill_notes = calloc(KILL_SLOTS, sizeof *g_kill_notes);
  CHECK(g_kill_notes != NULL);
  const char *env = getenv("MU_SOAK_SECONDS");
  /* CI runs the suite six times: keep each run well under 20 s (TSan is slower). */
  double seconds = env ? atof(env) : TT_TSAN ? 6 : 10;
  CHECK(seconds > 0);
  tt_init("soak", (unsigned)seconds + 240);
  uint64_t seed = tt_seed((uint64_t)time(NULL));
  rlim_t have = tt_raise_nofile(2 * CONCURRENT + 200);
  if (have < 2 * CONCURRENT + 200) {
    printf("soak: SKIP: RLIMIT_NOFILE %lu is too low for %d connections\n",
           (unsigned long)have, CONCURRENT);
    return 0;
  }

  int fds_before = tt_count_open_fds();
  long blocks_before = tt_live_blocks();
  tt_server_t s;
  tt_server_start(&s, "soak", IO_THREADS, setup, NULL);
  int fds_idle = tt_count_open_fds();
  pthread_t worker;
  CHECK(pthread_create(&worker, NULL, worker_main, &seed) == 0);

  client_t cl;
  memset(&cl, 0, sizeof cl);
  cl.port = s.port;
  cl.rng = tt_rng_make(seed);
  cl.c = calloc(CONCURRENT, sizeof *cl.c);
  CHECK(cl.c != NULL);
  for (int i = 0; i < CONCURRENT; ++i) {
    cl.c[i].fd = -1;
    cl.c[i].out = malloc(5 + MAX_DATA);
    CHECK(cl.c[i].out != NULL);
  }
  cl.ep = epoll_create1(EPOLL_CLOEXEC);
  CHECK(cl.ep >= 0);
  double t0 = tt_now();
  client_run(&cl, seconds);
  double took = tt_now() - t0;
  close(cl.ep);

  CHECK_EQ(tt_server_wait_connections(&s, 0, 60), 0);
  atomic_store(&g_worker_stop, true);
  CHECK(pthread_join(worker, NULL) == 0);
  printf("soak: %.1f s, %" PRIu64 " connections (%d at once): %" PRIu64
         " graceful, %" PRIu64 " closed, %" PRIu64 " reset, %" PRIu64
         " ended by the worker (%" PRIu64 " force_close, %" PRIu64 " shutdown); %" PRIu64
         " echo bytes checked; worker sent %" PRIu64 " frames (%" PRIu64
         " bytes), %" PRIu64 " checked (%" PRIu64 " bytes)\n",
         took, cl.made, CONCURRENT, cl.graceful, cl.closed, cl.reset, cl.killed,
         (uint64_t)atomic_load(&g_kills[KILL_CLOSE]),
         (uint64_t)atomic_load(&g_kills[KILL_SHUTDOWN]), cl.echo_bytes,
         (uint64_t)atomic_load(&g_w_frames), (uint64_t)atomic_load(&g_w_bytes),
         cl.w_frames_checked, cl.w_bytes_checked);
  CHECK_EQ(atomic_load(&g_bad_frames), 0);
  CHECK_EQ(cl.graceful + cl.closed + cl.reset + cl.killed, cl.made);
  CHECK_EQ(atomic_load(&g_counts.up), (long)cl.made);
  CHECK_EQ(atomic_load(&g_counts.down), (long)cl.made);
  CHECK(cl.graceful > 0 && cl.closed + cl.reset > 0 && cl.w_frames_checked > 0);
  int fds_end = tt_count_open_fds();
  printf("soak: descriptors: %d before the server, %d idle server, %d at the end\n",
         fds_before, fds_idle, fds_end);
  CHECK_EQ(fds_end, fds_idle);

  tt_server_stop(&s);
  CHECK_EQ(g_reg.n, 0);
  free(g_reg.live);
  free(g_kill_notes);
  for (int i = 0; i < CONCURRENT; ++i) {
    free(cl.c[i].out);
    free(cl.c[i].in);
  }
  free(cl.c);
  int fds_after = tt_count_open_fds();
  long blocks_after = tt_live_blocks();
  printf(
      "soak: after freeing the server: %d descriptors (%d before), %ld live blocks "
      "(%ld before)\n",
      fds_after, fds_before, blocks_after, blocks_before);
  CHECK_EQ(fds_after, fds_before);
  CHECK_EQ(blocks_after, blocks_before);
  printf("soak: ok\n");
  return 0;
}
