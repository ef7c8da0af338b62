/* Request bodies over 127.0.0.1: a Content-Length body and a chunked upload
 * (sent in pieces, with a trailer) reach the handler whole; "Expect:
 * 100-continue" gets 100 Continue before the body is sent, or 413 when the
 * announced body is too large; a body over the limit gets 413 (by
 * Content-Length at once, by chunk sizes as they come) and a clean close. */
#include "test_http_server_util.h"

#define MAX_BODY (64 * 1024)

static void on_request(const mu_http_request_t *req, mu_http_response_t *resp,
                       void *arg) {
  (void)arg;
  size_t len;
  const char *body = mu_http_request_body(req, &len);
  const char *trailer = mu_http_request_trailer(req, "X-Checksum");
  char text[256];
  snprintf(text, sizeof text, "len=%zu hash=%016llx chunked=%d trailer=%s\n", len,
           (unsigned long long)tt_fnv1a64(TT_FNV_INIT, body, len),
           mu_http_request_chunked(req) ? 1 : 0, trailer ? trailer : "-");
  mu_http_response_send_text(resp, 200, text);
}

static void setup(mu_http_server_t *server, void *arg) {
  (void)arg;
  mu_http_limits_t limits = mu_http_limits_default();
  limits.max_body = MAX_BODY;
  mu_http_server_set_limits(server, &limits);
}

static void expect_echo(const ht_resp_t *r, const char *body, size_t len, int chunked,
                        const char *trailer) {
  char want[256];
  snprintf(want, sizeof want, "len=%zu hash=%016llx chunked=%d trailer=%s\n", len,
           (unsigned long long)tt_fnv1a64(TT_FNV_INIT, body, len), chunked, trailer);
  CHECK_EQ(r->status, 200);
  CHECK_STREQ(r->body, want);
}

static char *make_body(size_t len, uint64_t stream) {
  char *b = malloc(len + 1);
  CHECK(b != NULL);
  tt_pattern_fill(stream, 0, b, len);
  return b;
}

static void test_content_length(uint16_t port) {
  ht_client_t *c = ht_connect(port);
  size_t len = 10000;
  char *body = make_body(len, 1);
  char head[128];
  snprintf(head, sizeof head,
           "POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: %zu\r\n\r\n", len);
  for (int i = 0; i < 2; ++i) { /* twice: the connection stays usable */
    ht_send(c, head);
    tt_write_all(c->fd, body, len);
    ht_resp_t r;
    CHECK(ht_read_response(c, &r, false));
    expect_echo(&r, body, len, 0, "-");
    ht_resp_free(&r);
  }
  free(body);
  ht_close(c);
}

static void test_chunked(uint16_t port) {
  ht_client_t *c = ht_connect(port);
  size_t len = 50000;
  char *body = make_body(len, 2);
  ht_send(c,
          "POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
          "Trailer: X-Checksum\r\n\r\n");
  size_t off = 0, size = 1;
  while (off < len) {
    size_t n = size < len - off ? size : len - off;
    char line[32];
    snprintf(line, sizeof line, "%zx;ext=1\r\n", n);
    ht_send(c, line);
    tt_write_all(c->fd, body + off, n);
    ht_send(c, "\r\n");
    off += n;
    size = size * 3 + 1;
    tt_sleep_ms(1); /* arrive in pieces */
  }
  ht_send(c, "0\r\nX-Checksum: abc\r\n\r\n");
  ht_resp_t r;
  CHECK(ht_read_response(c, &r, false));
  expect_echo(&r, body, len, 1, "abc");
  ht_resp_free(&r);
  free(body);
  ht_close(c);
}

static void test_continue(uint16_t port) {
  ht_client_t *c = ht_connect(port);
  ht_send(c,
          "POST /upload HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n"
          "Content-Length: 5\r\n\r\n");
  ht_resp_t r;
  CHECK(ht_read_response(c, &r, false));
  CHECK_EQ(r.status, 100);
  CHECK(strcmp(r.head, "HTTP/1.1 100 Continue\r\n") == 0);
  ht_resp_free(&r);
  ht_send(c, "hello");
  CHECK(ht_read_response(c, &r, false));
  expect_echo(&r, "hello", 5, 0, "-");
  ht_resp_free(&r);
  /* Too large: refused before the body is sent, and the connection ends. */
  ht_send(c,
          "POST /upload HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n"
          "Content-Length: 1000000\r\n\r\n");
  CHECK(ht_read_response(c, &r, false));
  CHECK_EQ(r.status, 413);
  CHECK_STREQ(ht_header(&r, "Connection"), "close");
  ht_resp_free(&r);
  ht_expect_closed(c);
  ht_close(c);
}

static void test_too_large(uint16_t port) {
  /* Announced by Content-Length: 413 without waiting for the body. */
  ht_client_t *c = ht_connect(port);
  ht_send(c, "POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 65537\r\n\r\n");
  ht_resp_t r;
  CHECK(ht_read_response(c, &r, false));
  CHECK_EQ(r.status, 413);
  CHECK_STREQ(ht_header(&r, "Connection"), "close");
  ht_resp_free(&r);
  ht_expect_closed(c);
  ht_close(c);

  /* Chunked: 413 when the chunks pass the limit, the rest is discarded. */
  c = ht_connect(port);
  size_t len = 40000;
  char *body = make_body(len, 3);
  ht_send(c, "POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
  for (int i = 0; i < 2; ++i) {
    ht_send(c, "9c40\r\n"); /* 40000 */
    tt_write_all(c->fd, body, len);
    ht_send(c, "\r\n");
  }
  CHECK(ht_read_response(c, &r, false));
  CHECK_EQ(r.status, 413);
  ht_resp_free(&r);
  ht_expect_closed(c);
  ht_close(c);
  free(body);
}

int main(void) {
  tt_init("http_server_body", 120);
  ht_server_t s;
  ht_server_start(&s, 1, on_request, NULL, setup, NULL);
  test_content_length(s.port);
  test_chunked(s.port);
  test_continue(s.port);
  test_too_large(s.port);
  CHECK_EQ(ht_server_wait_connections(&s, 0, 30), 0);
  ht_server_stop(&s);
  printf("http_server_body: OK\n");
  return 0;
}
