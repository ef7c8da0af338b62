/* Streamed responses over 127.0.0.1: a 16 MiB chunked body written from the
 * loop thread respects the high-water mark (write() returns 1 while the
 * client is slow, the drain callback resumes it) and arrives intact; an
 * HTTP/1.0 stream is delimited by the close; HEAD and 204 streams carry no
 * body and keep the connection. */
#include "test_http_server_util.h"

#define TOTAL (16u << 20)
#define PIECE (16u * 1024)
#define MARK (64u * 1024)

typedef struct streamer {
  mu_http_response_t *resp;
  size_t sent;
  int above; /* write() returned 1 */
  int drains;
} streamer_t;

static streamer_t g_st;
static _Atomic int g_above, g_drains, g_finished;

static void pump(streamer_t *st) {
  char piece[PIECE];
  while (st->sent < TOTAL) {
    tt_pattern_fill(7, st->sent, piece, PIECE);
    int rc = mu_http_response_write(st->resp, piece, PIECE);
    CHECK(rc == 0 || rc == 1);
    st->sent += PIECE;
    if (rc == 1) {
      ++st->above;
      return; /* wait for on_drain */
    }
  }
  atomic_store(&g_above, st->above);
  atomic_store(&g_drains, st->drains);
  CHECK_EQ(mu_http_response_end(st->resp), 0);
  atomic_store(&g_finished, 1);
}

static void on_drain(mu_http_response_t *resp, void *arg) {
  streamer_t *st = arg;
  CHECK(resp == st->resp);
  ++st->drains;
  pump(st);
}

/* A stream to a client that never reads: written until the server gives up
 * on the client (idle timeout without progress) and write() says so. */
static _Atomic int g_stalled_rc = 1;

static void pump_stalled(mu_http_response_t *resp, void *arg) {
  (void)arg;
  static const char piece[PIECE];
  for (;;) {
    int rc = mu_http_response_write(resp, piece, sizeof piece);
    if (rc == 1)
      return; /* wait for drain */
    if (rc < 0) {
      atomic_store(&g_stalled_rc, rc);
      mu_http_response_end(resp);
      return;
    }
  }
}

static void on_request(const mu_http_request_t *req, mu_http_response_t *resp,
                       void *arg) {
  (void)arg;
  const char *path = mu_http_request_path(req);
  if (strcmp(path, "/stalled") == 0) {
    CHECK_EQ(mu_http_response_begin(resp, pump_stalled, NULL), 0);
    pump_stalled(resp, NULL);
  } else if (strcmp(path, "/big") == 0) {
    memset(&g_st, 0, sizeof g_st);
    g_st.resp = resp;
    mu_http_response_set_content_type(resp, "application/octet-stream");
    CHECK_EQ(mu_http_response_begin(resp, on_drain, &g_st), 0);
    pump(&g_st);
  } else if (strcmp(path, "/nocontent") == 0) {
    mu_http_response_set_status(resp, 204, NULL);
    CHECK_EQ(mu_http_response_begin(resp, NULL, NULL), 0);
    CHECK_EQ(mu_http_response_write(resp, "dropped", 7), 0);
    CHECK_EQ(mu_http_response_end(resp), 0);
  } else {
    CHECK_EQ(mu_http_response_begin(resp, NULL, NULL), 0);
    CHECK_EQ(mu_http_response_write(resp, "abc", 3), 0);
    CHECK_EQ(mu_http_response_write(resp, "", 0), 0);
    CHECK_EQ(mu_http_response_write(resp, "defg", 4), 0);
    CHECK_EQ(mu_http_response_end(resp), 0);
  }
}

static void setup(mu_http_server_t *server, void *arg) {
  (void)arg;
  mu_http_server_set_high_water_mark(server, MARK);
}

static void test_big(uint16_t port) {
  atomic_store(&g_finished, 0);
  ht_client_t *c = ht_connect(port);
  ht_send(c, "GET /big HTTP/1.1\r\nHost: t\r\n\r\n");
  tt_sleep_ms(300); /* slow client: the server's output backs up */
  ht_resp_t r;
  CHECK(ht_read_response(c, &r, false));
  CHECK_EQ(r.status, 200);
  CHECK(r.chunked);
  CHECK(ht_header(&r, "Content-Length") == NULL);
  CHECK_EQ(r.body_len, TOTAL);
  CHECK_EQ(tt_pattern_check(7, 0, r.body, r.body_len), TOTAL);
  ht_resp_free(&r);
  for (int i = 0; i < 5000 && !atomic_load(&g_finished); ++i)
    tt_sleep_ms(1);
  CHECK(atomic_load(&g_finished));
  printf("  16 MiB streamed: write() returned 1 %d times, drain called %d times\n",
         atomic_load(&g_above), atomic_load(&g_drains));
  CHECK(atomic_load(&g_above) > 0);
  CHECK_EQ(atomic_load(&g_drains), atomic_load(&g_above));
  /* The connection is still usable. */
  CHECK_EQ(ht_roundtrip(c, "GET /small HTTP/1.1\r\nHost: t\r\n\r\n", &r), 200);
  CHECK_STREQ(r.body, "abcdefg");
  ht_resp_free(&r);
  ht_close(c);
}

static void test_small_kinds(uint16_t port) {
  ht_client_t *c = ht_connect(port);
  ht_resp_t r;
  CHECK_EQ(ht_roundtrip(c, "HEAD /small HTTP/1.1\r\nHost: t\r\n\r\n", &r), 200);
  CHECK(r.chunked);
  ht_resp_free(&r);
  CHECK_EQ(ht_roundtrip(c, "GET /nocontent HTTP/1.1\r\nHost: t\r\n\r\n", &r), 204);
  CHECK(ht_header(&r, "Transfer-Encoding") == NULL);
  ht_resp_free(&r);
  CHECK_EQ(ht_roundtrip(c, "GET /small HTTP/1.1\r\nHost: t\r\n\r\n", &r), 200);
  CHECK_STREQ(r.body, "abcdefg");
  ht_resp_free(&r);
  /* HTTP/1.0 keep-alive asked, but a stream without a length ends with the
   * close. */
  CHECK_EQ(ht_roundtrip(c, "GET /small HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", &r),
           200);
  CHECK(!r.chunked);
  CHECK_STREQ(ht_header(&r, "Connection"), "close");
  CHECK_STREQ(r.body, "abcdefg");
  ht_resp_free(&r);
  ht_expect_closed(c);
  ht_close(c);
}

static void setup_idle(mu_http_server_t *server, void *arg) {
  (void)arg;
  mu_http_server_set_high_water_mark(server, MARK);
  mu_http_server_set_idle_timeout(server, 1.0);
}

static void test_stalled_reader(void) {
  ht_server_t s;
  ht_server_start(&s, 0, on_request, NULL, setup_idle, NULL);
  ht_client_t *c = calloc(1, sizeof *c);
  CHECK(c != NULL);
  c->fd = tt_connect_timeout(s.port, TT_IO_TIMEOUT_S, 16 * 1024);
  ht_send(c, "GET /stalled HTTP/1.1\r\nHost: t\r\n\r\n");
  for (int i = 0; i < 30000 && atomic_load(&g_stalled_rc) == 1; ++i)
    tt_sleep_ms(1);
  CHECK_EQ(atomic_load(&g_stalled_rc), -ECONNRESET);
  CHECK_EQ(ht_server_wait_connections(&s, 0, 30), 0);
  ht_close(c);
  ht_server_stop(&s);
  printf("  a stream to a client that stopped reading ends after the idle timeout\n");
}

int main(void) {
  tt_init("http_server_stream", 180);
  for (int threads = 0; threads <= 1; ++threads) {
    ht_server_t s;
    ht_server_start(&s, threads, on_request, NULL, setup, NULL);
    test_big(s.port);
    test_small_kinds(s.port);
    CHECK_EQ(ht_server_wait_connections(&s, 0, 30), 0);
    ht_server_stop(&s);
  }
  test_stalled_reader();
  printf("http_server_stream: OK\n");
  return 0;
}
