/* Pipelining over 127.0.0.1: 100 requests in one write are answered in
 * order (sync handler, async handler finishing in another thread, with and
 * without I/O threads); a "Connection: close" in the middle ends the
 * connection after its response and the rest is not answered; a client that
 * keeps pipelining while a response is pending is not buffered without bound
 * (its writes stall) and its connection ends cleanly. */
#include "test_http_server_util.h"

#define NREQ 100
#define BIG_BODY (64 * 1024)
#define NBIG 500

static ht_worker_t g_worker;
static _Atomic(mu_http_response_t *) g_blocked;
static _Atomic int g_handled;
static char g_big[BIG_BODY]; /* filled before the servers start */

static void finish_async(void *p) {
  mu_http_response_t *resp = p;
  const mu_http_request_t *req = mu_http_response_request(resp);
  tt_sleep_ms((int)(tt_mix64((uint64_t)(uintptr_t)req) % 2));
  CHECK_EQ(mu_http_response_send_text(resp, 200, mu_http_request_path(req)), 0);
}

static void on_request(const mu_http_request_t *req, mu_http_response_t *resp,
                       void *arg) {
  (void)arg;
  atomic_fetch_add(&g_handled, 1);
  const char *path = mu_http_request_path(req);
  if (strncmp(path, "/async/", 7) == 0) {
    ht_worker_post(&g_worker, finish_async, resp);
  } else if (strcmp(path, "/big") == 0) {
    mu_http_response_append_body(resp, g_big, sizeof g_big);
    mu_http_response_send(resp);
  } else if (strcmp(path, "/block") == 0) {
    atomic_store(&g_blocked, resp); /* finished by main() */
  } else {
    mu_http_response_send_text(resp, 200, path);
  }
}

static void test_in_order(uint16_t port, const char *prefix) {
  char *all = malloc(NREQ * 64);
  CHECK(all != NULL);
  size_t len = 0;
  for (int i = 0; i < NREQ; ++i)
    len += (size_t)sprintf(all + len, "GET %s%d HTTP/1.1\r\nHost: t\r\n\r\n", prefix, i);
  ht_client_t *c = ht_connect(port);
  tt_write_all(c->fd, all, len); /* one write */
  for (int i = 0; i < NREQ; ++i) {
    ht_resp_t r;
    CHECK(ht_read_response(c, &r, false));
    CHECK_EQ(r.status, 200);
    char want[64];
    sprintf(want, "%s%d", prefix, i);
    CHECK_STREQ(r.body, want);
    ht_resp_free(&r);
  }
  ht_close(c);
  free(all);
}

static void test_close_in_the_middle(uint16_t port) {
  ht_client_t *c = ht_connect(port);
  ht_send(c,
          "GET /a HTTP/1.1\r\nHost: t\r\n\r\n"
          "GET /async/b HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
          "GET /c HTTP/1.1\r\nHost: t\r\n\r\n");
  ht_resp_t r;
  CHECK(ht_read_response(c, &r, false));
  CHECK_STREQ(r.body, "/a");
  ht_resp_free(&r);
  CHECK(ht_read_response(c, &r, false));
  CHECK_STREQ(r.body, "/async/b");
  CHECK_STREQ(ht_header(&r, "Connection"), "close");
  ht_resp_free(&r);
  ht_expect_closed(c);
  ht_close(c);
}

typedef struct flood {
  int fd;
  _Atomic size_t sent;
  size_t target;
} flood_t;

static void *flood_main(void *p) {
  flood_t *f = p;
  static const char req[] = "GET /x HTTP/1.1\r\nHost: t\r\n\r\n";
  char chunk[64 * 1024];
  size_t per = sizeof chunk / (sizeof req - 1);
  for (size_t i = 0; i < per; ++i)
    memcpy(chunk + i * (sizeof req - 1), req, sizeof req - 1);
  size_t clen = per * (sizeof req - 1);
  while (atomic_load(&f->sent) < f->target) {
    ssize_t n = send(f->fd, chunk, clen, MSG_NOSIGNAL);
    if (n <= 0)
      break; /* timed out (SO_SNDTIMEO), or the server closed */
    atomic_fetch_add(&f->sent, (size_t)n);
  }
  return NULL;
}

static void test_bounded_input(ht_server_t *s) {
  atomic_store(&g_blocked, NULL);
  int before = atomic_load(&g_handled);
  ht_client_t *c = ht_connect(s->port);
  ht_send(c, "GET /block HTTP/1.1\r\nHost: t\r\n\r\n");
  for (int i = 0; i < 2000 && atomic_load(&g_blocked) == NULL; ++i)
    tt_sleep_ms(5);
  mu_http_response_t *blocked = atomic_load(&g_blocked);
  CHECK(blocked != NULL);
  /* 256 MiB would be answered only if the server buffered it all: it stops
   * reading instead, so the writer stalls (its send times out). */
  flood_t f = {c->fd, 0, 256u << 20};
  tt_set_timeouts(c->fd, 2.0);
  pthread_t th;
  CHECK_EQ(pthread_create(&th, NULL, flood_main, &f), 0);
  pthread_join(th, NULL);
  size_t sent = atomic_load(&f.sent);
  printf("  pipelined %zu bytes while a response was pending\n", sent);
  CHECK(sent < f.target);
  CHECK_EQ(atomic_load(&g_handled), before + 1); /* nothing else handed over */
  /* The client goes without reading. The server, not reading either, learns
   * it only when it writes: the pending response is finished from this
   * thread, then the connection ends (ASan: nothing leaks). */
  ht_close(c);
  CHECK_EQ(mu_http_response_send_text(blocked, 200, "late\n"), 0);
  CHECK_EQ(ht_server_wait_connections(s, 0, 60), 0);
}

/* Requests for 64 KiB responses, pipelined by a client that does not read:
 * the server answers a few (as many as fit under the high-water mark and in
 * the kernel's buffers), not all 500 into its memory; once the client reads,
 * the rest follow in order. */
static void test_unread_responses(uint16_t port) {
  static const char req[] = "GET /big HTTP/1.1\r\nHost: t\r\n\r\n";
  char *all = malloc(NBIG * sizeof req);
  CHECK(all != NULL);
  for (int i = 0; i < NBIG; ++i)
    memcpy(all + (size_t)i * (sizeof req - 1), req, sizeof req - 1);
  ht_client_t *c = calloc(1, sizeof *c);
  CHECK(c != NULL);
  c->fd = tt_connect_timeout(port, TT_IO_TIMEOUT_S, 64 * 1024);
  int before = atomic_load(&g_handled);
  tt_write_all(c->fd, all, NBIG * (sizeof req - 1));
  int last = -1, now = atomic_load(&g_handled) - before;
  for (int i = 0; i < 200 && now != last; ++i) { /* until the server stops */
    last = now;
    tt_sleep_ms(50);
    now = atomic_load(&g_handled) - before;
  }
  printf("  %d of %d large responses made while the client did not read\n", now, NBIG);
  CHECK(now < NBIG / 2);
  for (int i = 0; i < NBIG; ++i) {
    ht_resp_t r;
    CHECK(ht_read_response(c, &r, false));
    CHECK_EQ(r.status, 200);
    CHECK_EQ(r.body_len, BIG_BODY);
    CHECK(r.body[0] == 'b' && r.body[BIG_BODY - 1] == 'b');
    ht_resp_free(&r);
  }
  CHECK_EQ(atomic_load(&g_handled) - before, NBIG);
  ht_close(c);
  free(all);
}

/* The same pipelined requests (one with a chunked body, async ones among
 * them) arriving in random pieces of 1 to 7 bytes: every split gives the
 * same answers, in order. */
static void test_split_writes(uint16_t port) {
  static const char reqs[] =
      "GET /s/1 HTTP/1.1\r\nHost: t\r\n\r\n"
      "POST /s/2 HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
      "3\r\nabc\r\n0\r\n\r\n"
      "GET /async/3 HTTP/1.1\r\nHost: t\r\n\r\n"
      "\r\nGET /s/4?x=y HTTP/1.1\r\nHost: t\r\nX-Long: "
      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n"
      "GET /async/5 HTTP/1.0\r\n\r\n";
  static const char *want[] = {"/s/1", "/s/2", "/async/3", "/s/4", "/async/5"};
  tt_rng_t rng = tt_rng_make(tt_seed(42));
  for (int round = 0; round < 10; ++round) {
    ht_client_t *c = ht_connect(port);
    int one = 1;
    CHECK(setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == 0);
    size_t len = sizeof reqs - 1;
    for (size_t off = 0; off < len;) {
      size_t n = (size_t)tt_rng_range(&rng, 1, 7);
      if (n > len - off)
        n = len - off;
      tt_write_all(c->fd, reqs + off, n);
      off += n;
      if (tt_rng_range(&rng, 0, 9) == 0)
        tt_sleep_ms(1);
    }
    for (int i = 0; i < 5; ++i) {
      ht_resp_t r;
      CHECK(ht_read_response(c, &r, false));
      CHECK_EQ(r.status, 200);
      CHECK_STREQ(r.body, want[i]);
      ht_resp_free(&r);
    }
    ht_expect_closed(c); /* the last one was HTTP/1.0 */
    ht_close(c);
  }
}

int main(void) {
  tt_init("http_server_pipeline", 240);
  ht_worker_start(&g_worker);
  memset(g_big, 'b', sizeof g_big);
  for (int threads = 0; threads <= 2; threads += 2) {
    ht_server_t s;
    ht_server_start(&s, threads, on_request, NULL, NULL, NULL);
    test_in_order(s.port, "/sync/");
    test_in_order(s.port, "/async/");
    test_close_in_the_middle(s.port);
    test_split_writes(s.port);
    test_unread_responses(s.port);
    test_bounded_input(&s);
    CHECK_EQ(ht_server_wait_connections(&s, 0, 30), 0);
    ht_server_stop(&s);
    printf("  threads=%d OK\n", threads);
  }
  ht_worker_stop(&g_worker);
  printf("http_server_pipeline: OK\n");
  return 0;
}
