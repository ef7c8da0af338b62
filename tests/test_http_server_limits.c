/* Parser limits and errors over 127.0.0.1: each gets its status (400, 413,
 * 414, 431, 501, 505) with "Connection: close", then the connection ends
 * cleanly; a valid request pipelined before the bad one is answered first;
 * the server goes on serving new connections. */
#include "test_http_server_util.h"

static void on_request(const mu_http_request_t *req, mu_http_response_t *resp,
                       void *arg) {
  (void)arg;
  mu_http_response_send_text(resp, 200, mu_http_request_path(req));
}

static void expect_status(uint16_t port, const char *what, const char *prefix,
                          const char *filler, size_t repeat, const char *suffix,
                          int status) {
  ht_client_t *c = ht_connect(port);
  ht_send(c, prefix);
  for (size_t i = 0; i < repeat; ++i)
    ht_send(c, filler);
  ht_send(c, suffix);
  ht_resp_t r;
  CHECK(ht_read_response(c, &r, false));
  if (r.status != status) {
    fprintf(stderr, "%s: got %d, want %d\n", what, r.status, status);
    abort();
  }
  CHECK_STREQ(ht_header(&r, "Connection"), "close");
  CHECK_STREQ(ht_header(&r, "Content-Type"), "text/plain");
  ht_resp_free(&r);
  ht_expect_closed(c);
  ht_close(c);
  printf("  %-34s %d\n", what, status);
}

static void test_pipelined_then_bad(uint16_t port) {
  ht_client_t *c = ht_connect(port);
  ht_send(c, "GET /ok HTTP/1.1\r\nHost: t\r\n\r\nGET /bad HTTP/1.1\r\nHost : t\r\n\r\n");
  ht_resp_t r;
  CHECK(ht_read_response(c, &r, false));
  CHECK_EQ(r.status, 200);
  CHECK_STREQ(r.body, "/ok");
  ht_resp_free(&r);
  CHECK(ht_read_response(c, &r, false));
  CHECK_EQ(r.status, 400);
  ht_resp_free(&r);
  ht_expect_closed(c);
  ht_close(c);
}

int main(void) {
  tt_init("http_server_limits", 120);
  ht_server_t s;
  ht_server_start(&s, 0, on_request, NULL, NULL, NULL);
  uint16_t p = s.port;
  char filler[1025];
  memset(filler, 'a', 1024);
  filler[1024] = '\0';
  expect_status(p, "request line over 8 KiB", "GET /", filler, 9,
                " HTTP/1.1\r\nHost: t\r\n\r\n", 414);
  expect_status(
      p, "header section over 16 KiB", "GET / HTTP/1.1\r\nHost: t\r\n",
      "X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n", 300,
      "\r\n", 431);
  expect_status(p, "more than 100 header fields", "GET / HTTP/1.1\r\nHost: t\r\n",
                "X-A: 1\r\n", 101, "\r\n", 431);
  expect_status(p, "Content-Length over max_body", "POST / HTTP/1.1\r\nHost: t\r\n", "",
                0, "Content-Length: 2000000\r\n\r\n", 413);
  expect_status(p, "whitespace before the colon", "GET / HTTP/1.1\r\n", "", 0,
                "Host : t\r\n\r\n", 400);
  expect_status(p, "bare LF", "GET / HTTP/1.1\nHost: t\n\n", "", 0, "", 400);
  expect_status(p, "HTTP/1.1 without Host", "GET / HTTP/1.1\r\n", "", 0, "\r\n", 400);
  expect_status(p, "Content-Length with chunked", "POST / HTTP/1.1\r\nHost: t\r\n", "", 0,
                "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400);
  expect_status(p, "unknown Transfer-Encoding", "POST / HTTP/1.1\r\nHost: t\r\n", "", 0,
                "Transfer-Encoding: foo\r\n\r\n", 501);
  expect_status(p, "HTTP/2.0", "GET / HTTP/2.0\r\nHost: t\r\n", "", 0, "\r\n", 505);
  expect_status(p, "garbage", "\x01\x02\x03 nonsense\r\n\r\n", "", 0, "", 400);
  test_pipelined_then_bad(p);
  /* Still serving. */
  ht_client_t *c = ht_connect(p);
  ht_resp_t r;
  CHECK_EQ(ht_roundtrip(c, "GET /still HTTP/1.1\r\nHost: t\r\n\r\n", &r), 200);
  CHECK_STREQ(r.body, "/still");
  ht_resp_free(&r);
  ht_close(c);
  CHECK_EQ(ht_server_wait_connections(&s, 0, 30), 0);
  ht_server_stop(&s);
  printf("http_server_limits: OK\n");
  return 0;
}
