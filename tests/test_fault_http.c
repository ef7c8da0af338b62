/* The HTTP server, byte-exact, while its system calls fail at random
 * (tests/fault/fault.h: EINTR, EAGAIN, short reads and writes,
 * ECONNRESET/EPIPE, accept failures, EINTR on epoll_wait/poll).
 *
 * Each connection pipelines 1..8 POST requests (bodies log-uniform in
 * [0, 64 KiB], position-keyed bytes; every third request chunked, in random
 * chunk sizes), all written at once in random pieces; the last one asks for
 * "Connection: close". The handler answers 200 with the request's body. The
 * client parses the responses in order (status line, Content-Length, body)
 * and checks every body byte, then expects end of file right after the last
 * one. A connection may end early only when the fault layer reset that very
 * connection. Faults are scoped to the server's loop threads and accepted
 * sockets; three seeds, or MU_FAULT_SEED. */
#include "tcp_test_util.h"

#include <ctype.h>

#include "cmuduo/http/http_server.h"
#include "fault/fault_client.h"

/* Faults of every round (see fc_round_stats). */
static mu_fault_stats_t g_fault_sum;

#define CONNS (TT_SANITIZED ? 60 : 150)
#define MAX_REQS 8
#define MAX_BODY 65536

static _Atomic long g_handled;

static void on_request(const mu_http_request_t *req, mu_http_response_t *resp,
                       void *arg) {
  (void)arg;
  size_t len = 0;
  const char *body = mu_http_request_body(req, &len);
  atomic_fetch_add(&g_handled, 1);
  mu_http_response_set_status(resp, 200, NULL);
  mu_http_response_set_content_type(resp, "application/octet-stream");
  if (len > 0)
    CHECK_EQ(mu_http_response_append_body(resp, body, len), 0);
  mu_http_response_send(resp);
}

typedef struct http_srv {
  mu_event_loop_thread_t *thread;
  mu_event_loop_t *loop;
  mu_http_server_t *server;
  int io_threads;
  uint16_t port;
} http_srv_t;

static void start_in_loop(void *p) {
  http_srv_t *h = p;
  mu_inet_address_t addr = mu_inet_address_loopback(0);
  h->server = mu_http_server_new(h->loop, &addr, "fault-http", 0);
  CHECK(h->server != NULL);
  mu_http_server_set_handler(h->server, on_request, NULL);
  mu_http_server_set_thread_num(h->server, h->io_threads);
  mu_tcp_server_set_thread_init_callback(mu_http_server_tcp_server(h->server),
                                         mu_fault_thread_init_cb, NULL);
  CHECK_EQ(mu_http_server_start(h->server), 0);
  mu_inet_address_t bound;
  CHECK_EQ(mu_tcp_server_listen_address(mu_http_server_tcp_server(h->server), &bound), 0);
  h->port = mu_inet_address_port(&bound);
  mu_fault_thread_enable(true); /* the base loop's calls too */
}

static void free_in_loop(void *p) {
  http_srv_t *h = p;
  mu_http_server_free(h->server);
}

typedef struct count_call {
  http_srv_t *h;
  size_t n;
} count_call_t;

static void count_in_loop(void *p) {
  count_call_t *c = p;
  c->n = mu_tcp_server_connection_count(mu_http_server_tcp_server(c->h->server));
}

/* ---- client ---------------------------------------------------------------- */

typedef struct conn {
  fc_conn_t b;
  int nreq, answered;
  size_t body_len[MAX_REQS];
  uint64_t key;
  char *out; /* every request, back to back */
  size_t out_len, out_off;
  char *in; /* unparsed response bytes */
  size_t in_len, in_cap;
} conn_t;

typedef struct client {
  fc_client_t fc;
  conn_t c[CONNS];
  tt_rng_t rng;
  uint64_t body_bytes;
} client_t;

static void fail(const conn_t *c, const char *what) {
  fprintf(stderr, "conn port %u (answered %d of %d, sent %zu of %zu): %s\n", c->b.port,
          c->answered, c->nreq, c->out_off, c->out_len, what);
  mu_fault_print_stats("at failure");
  abort();
}

static void fail_at(void *ctx, int i, const char *what) {
  client_t *cl = ctx;
  fail(&cl->c[i], what);
}

static void out_append(conn_t *c, const void *p, size_t n, size_t *cap) {
  if (c->out_len + n > *cap) {
    *cap = 2 * (c->out_len + n);
    c->out = realloc(c->out, *cap);
    CHECK(c->out != NULL);
  }
  memcpy(c->out + c->out_len, p, n);
  c->out_len += n;
}

static uint64_t body_stream(const conn_t *c, int r) {
  return c->key * 16 + (uint64_t)r;
}

static void build_requests(client_t *cl, conn_t *c) {
  size_t cap = 0;
  char head[256], *body = malloc(MAX_BODY + 1);
  CHECK(body != NULL);
  c->nreq = (int)tt_rng_range(&cl->rng, 1, MAX_REQS);
  for (int r = 0; r < c->nreq; ++r) {
    size_t len = tt_rng_log_size(&cl->rng, 1, MAX_BODY + 1) - 1;
    c->body_len[r] = len;
    tt_pattern_fill(body_stream(c, r), 0, body, len);
    const char *conn_hdr = r == c->nreq - 1 ? "Connection: close\r\n" : "";
    if (r % 3 == 2) {
      int h = snprintf(
          head, sizeof head,
          "POST /echo HTTP/1.1\r\nHost: t\r\n%sTransfer-Encoding: chunked\r\n\r\n",
          conn_hdr);
      out_append(c, head, (size_t)h, &cap);
      for (size_t off = 0; off < len;) {
        size_t n = tt_rng_log_size(&cl->rng, 1, len - off);
        h = snprintf(head, sizeof head, "%zx\r\n", n);
        out_append(c, head, (size_t)h, &cap);
        out_append(c, body + off, n, &cap);
        out_append(c, "\r\n", 2, &cap);
        off += n;
      }
      out_append(c, "0\r\n\r\n", 5, &cap);
    } else {
      int h = snprintf(head, sizeof head,
                       "POST /echo HTTP/1.1\r\nHost: t\r\n%sContent-Length: %zu\r\n\r\n",
                       conn_hdr, len);
      out_append(c, head, (size_t)h, &cap);
      out_append(c, body, len, &cap);
    }
  }
  free(body);
}

static void free_buffers(void *ctx, int i) {
  conn_t *c = &((client_t *)ctx)->c[i];
  free(c->out);
  free(c->in);
  c->out = c->in = NULL;
}

/* Content-Length of a response head (NUL-terminated), or -1. */
static long content_length(const char *head) {
  for (const char *p = head; (p = strchr(p, '\n')) != NULL;) {
    ++p;
    if (strncasecmp(p, "Content-Length:", 15) == 0)
      return strtol(p + 15, NULL, 10);
  }
  return -1;
}

/* Takes every whole response from c->in. */
static void parse_responses(client_t *cl, conn_t *c) {
  size_t off = 0;
  while (c->answered < c->nreq) {
    char *start = c->in + off;
    size_t avail = c->in_len - off;
    char *end = memmem(start, avail, "\r\n\r\n", 4);
    if (end == NULL)
      break;
    size_t head_len = (size_t)(end - start) + 4;
    char head[2048];
    if (head_len >= sizeof head)
      fail(c, "response head too long");
    memcpy(head, start, head_len);
    head[head_len] = '\0';
    if (strncmp(head, "HTTP/1.1 200 ", 13) != 0)
      fail(c, "not a 200 response");
    long len = content_length(head);
    size_t want = c->body_len[c->answered];
    if (len < 0 || (size_t)len != want)
      fail(c, "wrong Content-Length");
    if (avail < head_len + want)
      break;
    if (tt_pattern_check(body_stream(c, c->answered), 0, start + head_len, want) != want)
      fail(c, "wrong body byte");
    cl->body_bytes += want;
    c->answered++;
    off += head_len + want;
  }
  memmove(c->in, c->in + off, c->in_len - off);
  c->in_len -= off;
}

static void on_readable(client_t *cl, int i) {
  conn_t *c = &cl->c[i];
  char buf[65536];
  ssize_t n = fc_recv(&cl->fc, i, buf, sizeof buf);
  if (n < 0)
    return;
  if (n == 0 && c->answered == c->nreq) {
    fc_finish(&cl->fc, i);
    return;
  }
  if (n == 0) {
    fc_ended_early(&cl->fc, i, "end of file before the last response");
    return;
  }
  if (c->answered == c->nreq)
    fail(c, "bytes after the last response");
  if (c->in_len + (size_t)n > c->in_cap) {
    c->in_cap = 2 * (c->in_len + (size_t)n);
    c->in = realloc(c->in, c->in_cap);
    CHECK(c->in != NULL);
  }
  memcpy(c->in + c->in_len, buf, (size_t)n);
  c->in_len += (size_t)n;
  parse_responses(cl, c);
  if (c->answered == c->nreq && c->in_len != 0)
    fail(c, "bytes after the last response");
}

static void on_writable(client_t *cl, int i) {
  conn_t *c = &cl->c[i];
  if (c->b.state == FC_CONNECTING)
    fc_connected(&cl->fc, i, EPOLLIN | EPOLLOUT);
  if (c->out_off == c->out_len)
    return;
  size_t n = tt_rng_log_size(&cl->rng, 1, c->out_len - c->out_off);
  ssize_t w = fc_send(&cl->fc, i, c->out + c->out_off, n);
  if (w <= 0)
    return;
  c->out_off += (size_t)w;
  if (c->out_off == c->out_len)
    fc_watch(&cl->fc, i, EPOLLIN, EPOLL_CTL_MOD);
}

static void on_event(void *ctx, int i, uint32_t ev) {
  client_t *cl = ctx;
  if (cl->c[i].b.state == FC_RUNNING && (ev & (EPOLLIN | EPOLLHUP | EPOLLERR)))
    on_readable(cl, i);
  if (cl->c[i].b.state != FC_DONE && (ev & EPOLLOUT))
    on_writable(cl, i);
}

static uint64_t one_round(uint64_t seed, int io_threads) {
  seed = mu_fault_init(seed);
  atomic_store(&g_handled, 0);
  http_srv_t h = {.io_threads = io_threads};
  h.thread = mu_event_loop_thread_new(NULL, NULL, "http-fault");
  CHECK(h.thread != NULL);
  h.loop = mu_event_loop_thread_start_loop(h.thread);
  CHECK(h.loop != NULL);
  tt_run_sync(h.loop, start_in_loop, &h);

  static client_t cl;
  memset(&cl, 0, sizeof cl);
  fc_init(&cl.fc, cl.c, sizeof cl.c[0], CONNS, 32, &cl, on_event, fail_at);
  cl.fc.on_finish = free_buffers;
  cl.rng = tt_rng_make(seed ^ 0x4771ULL);
  for (int i = 0; i < CONNS; ++i) {
    cl.c[i].b.fd = -1;
    cl.c[i].key = seed * 1000 + (uint64_t)i;
    build_requests(&cl, &cl.c[i]);
  }
  double t0 = tt_now();
  fc_run(&cl.fc, h.port);
  int requests = 0;
  for (int i = 0; i < CONNS; ++i)
    requests += cl.c[i].nreq;
  printf("round seed=%" PRIu64
         " io_threads=%d: %d connections, %d requests, %ld handled, "
         "%" PRIu64 " body bytes checked, %d reset by injection, %.1f s\n",
         seed, io_threads, CONNS, requests, atomic_load(&g_handled), cl.body_bytes,
         cl.fc.reset, tt_now() - t0);
  count_call_t cc = {&h, 1};
  double deadline = tt_now() + 60;
  while (cc.n != 0 && tt_now() < deadline) {
    tt_run_sync(h.loop, count_in_loop, &cc);
    if (cc.n != 0)
      tt_sleep_ms(5);
  }
  CHECK_EQ(cc.n, 0);
  fc_round_stats(&g_fault_sum);
  tt_run_sync(h.loop, free_in_loop, &h);
  mu_event_loop_thread_free(h.thread);
  return seed;
}

int main(void) {
  tt_init("fault_http", 280);
  static const mu_fault_kind_t kinds[] = {MU_FAULT_SHORT_READ, MU_FAULT_SHORT_WRITE};
  if (fc_run_rounds(one_round) == 3)
    fc_require_kinds(&g_fault_sum, kinds, 2);
  printf("fault_http: ok\n");
  return 0;
}
