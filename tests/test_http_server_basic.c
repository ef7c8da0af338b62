/* HTTP server basics over 127.0.0.1: keep-alive and close by version,
 * Connection header and set_close; HEAD keeps Content-Length without a body;
 * 204 and 304 carry none; Date and Server fields; header injection and the
 * server's own fields refused; custom reason phrases; the default 404. */
#include "test_http_server_util.h"

static _Atomic int g_inject_checked;

static void check_injection(mu_http_response_t *resp) {
  CHECK_EQ(mu_http_response_add_header(resp, "X-Evil", "a\r\nSet-Cookie: x=1"), -EINVAL);
  CHECK_EQ(mu_http_response_add_header(resp, "X-Evil", "a\nb"), -EINVAL);
  CHECK_EQ(mu_http_response_add_header(resp, "X-Evil", "a\rb"), -EINVAL);
  CHECK_EQ(mu_http_response_add_header(resp, "X-Evil\r\nX-Other", "1"), -EINVAL);
  CHECK_EQ(mu_http_response_add_header(resp, "Bad Name", "1"), -EINVAL);
  CHECK_EQ(mu_http_response_add_header(resp, "", "1"), -EINVAL);
  CHECK_EQ(mu_http_response_add_header(resp, "X:Y", "1"), -EINVAL);
  CHECK_EQ(mu_http_response_add_header(resp, "content-length", "5"), -EINVAL);
  CHECK_EQ(mu_http_response_add_header(resp, "Transfer-Encoding", "chunked"), -EINVAL);
  CHECK_EQ(mu_http_response_add_header(resp, "DATE", "today"), -EINVAL);
  CHECK_EQ(mu_http_response_add_header(resp, "Connection", "keep-alive"), -EINVAL);
  CHECK_EQ(mu_http_response_set_status(resp, 200, "OK\r\nX-Evil: 1"), -EINVAL);
  CHECK_EQ(mu_http_response_set_status(resp, 101, NULL), -EINVAL);
  CHECK_EQ(mu_http_response_set_status(resp, 99, NULL), -EINVAL);
  CHECK_EQ(mu_http_response_set_status(resp, 600, NULL), -EINVAL);
  CHECK_EQ(mu_http_response_add_header(resp, "X-Fine", "tab\there"), 0);
  atomic_fetch_add(&g_inject_checked, 1);
}

static void on_request(const mu_http_request_t *req, mu_http_response_t *resp,
                       void *arg) {
  (void)arg;
  CHECK(mu_http_response_request(resp) == req);
  const char *path = mu_http_request_path(req);
  if (strcmp(path, "/close") == 0) {
    mu_http_response_set_close(resp, true);
    mu_http_response_send_text(resp, 200, "bye\n");
  } else if (strcmp(path, "/nocontent") == 0) {
    mu_http_response_append_body(resp, "dropped", 7);
    mu_http_response_set_status(resp, 204, NULL);
    mu_http_response_send(resp);
  } else if (strcmp(path, "/notmodified") == 0) {
    mu_http_response_add_header(resp, "ETag", "\"1\"");
    mu_http_response_append_body(resp, "dropped", 7);
    mu_http_response_set_status(resp, 304, NULL);
    mu_http_response_send(resp);
  } else if (strcmp(path, "/inject") == 0) {
    check_injection(resp);
    mu_http_response_send_text(resp, 200, "checked\n");
  } else if (strcmp(path, "/reason") == 0) {
    CHECK_EQ(mu_http_response_set_status(resp, 299, "Fine By Me"), 0);
    CHECK_EQ(mu_http_response_status(resp), 299);
    mu_http_response_add_header(resp, "X-A", "1");
    mu_http_response_add_header(resp, "X-A", "2");
    mu_http_response_add_header(resp, "Server", "custom");
    mu_http_response_set_content_type(resp, "application/json");
    mu_http_response_append_body(resp, "{}", 2);
    mu_http_response_append_body(resp, "\n", 1);
    mu_http_response_send(resp);
  } else if (strcmp(path, "/method") == 0) {
    mu_http_response_send_text(resp, 200, mu_http_request_method_str(req));
  } else {
    mu_http_response_send_text(resp, 200, "hello, world!\n");
  }
}

static void test_keep_alive_11(uint16_t port) {
  ht_client_t *c = ht_connect(port);
  ht_resp_t r;
  for (int i = 0; i < 3; ++i) {
    CHECK_EQ(ht_roundtrip(c, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n", &r), 200);
    CHECK_STREQ(r.body, "hello, world!\n");
    CHECK(ht_header(&r, "Connection") == NULL);
    CHECK_STREQ(ht_header(&r, "Content-Length"), "14");
    CHECK_STREQ(ht_header(&r, "Content-Type"), "text/plain");
    CHECK_STREQ(ht_header(&r, "Server"), "cmuduo");
    const char *date = ht_header(&r, "Date");
    CHECK(date != NULL && strlen(date) == 29);
    int64_t t;
    CHECK_EQ(mu_http_parse_date(date, &t), 0);
    CHECK(llabs((long long)(t - (int64_t)time(NULL))) < 120);
    ht_resp_free(&r);
  }
  /* "Connection: close" from the client: answered, then closed. */
  CHECK_EQ(
      ht_roundtrip(c, "GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", &r),
      200);
  CHECK_STREQ(ht_header(&r, "Connection"), "close");
  ht_resp_free(&r);
  ht_expect_closed(c);
  ht_close(c);
}

static void test_http10(uint16_t port) {
  ht_client_t *c = ht_connect(port);
  ht_resp_t r;
  CHECK_EQ(ht_roundtrip(c, "GET /hello HTTP/1.0\r\n\r\n", &r), 200);
  CHECK_STREQ(ht_header(&r, "Connection"), "close");
  CHECK_STREQ(r.body, "hello, world!\n");
  ht_resp_free(&r);
  ht_expect_closed(c);
  ht_close(c);

  c = ht_connect(port);
  for (int i = 0; i < 2; ++i) {
    CHECK_EQ(ht_roundtrip(c, "GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", &r),
             200);
    CHECK_STREQ(ht_header(&r, "Connection"), "keep-alive");
    ht_resp_free(&r);
  }
  CHECK_EQ(ht_roundtrip(c, "GET /hello HTTP/1.0\r\n\r\n", &r), 200);
  ht_resp_free(&r);
  ht_expect_closed(c);
  ht_close(c);
}

static void test_set_close(uint16_t port) {
  ht_client_t *c = ht_connect(port);
  ht_resp_t r;
  CHECK_EQ(ht_roundtrip(c, "GET /close HTTP/1.1\r\nHost: t\r\n\r\n", &r), 200);
  CHECK_STREQ(ht_header(&r, "Connection"), "close");
  CHECK_STREQ(r.body, "bye\n");
  ht_resp_free(&r);
  ht_expect_closed(c);
  ht_close(c);
}

/* HEAD, 204 and 304 on one connection: if any carried a body, the framing of
 * the next response would be off. */
static void test_no_body(uint16_t port) {
  ht_client_t *c = ht_connect(port);
  ht_resp_t r;
  CHECK_EQ(ht_roundtrip(c, "HEAD /hello HTTP/1.1\r\nHost: t\r\n\r\n", &r), 200);
  CHECK_STREQ(ht_header(&r, "Content-Length"), "14");
  ht_resp_free(&r);
  CHECK_EQ(ht_roundtrip(c, "GET /nocontent HTTP/1.1\r\nHost: t\r\n\r\n", &r), 204);
  CHECK(ht_header(&r, "Content-Length") == NULL);
  ht_resp_free(&r);
  CHECK_EQ(ht_roundtrip(c, "GET /notmodified HTTP/1.1\r\nHost: t\r\n\r\n", &r), 304);
  CHECK_STREQ(ht_header(&r, "ETag"), "\"1\"");
  ht_resp_free(&r);
  CHECK_EQ(ht_roundtrip(c, "GET /method HTTP/1.1\r\nHost: t\r\n\r\n", &r), 200);
  CHECK_STREQ(r.body, "GET");
  ht_resp_free(&r);
  /* Nothing stray after the last response. */
  tt_set_timeouts(c->fd, 0.2);
  CHECK_EQ(c->len, 0);
  CHECK_EQ(ht_fill(c), -EAGAIN);
  ht_close(c);
}

static void test_fields(uint16_t port) {
  ht_client_t *c = ht_connect(port);
  ht_resp_t r;
  CHECK_EQ(ht_roundtrip(c, "GET /inject HTTP/1.1\r\nHost: t\r\n\r\n", &r), 200);
  CHECK_EQ(atomic_load(&g_inject_checked), 1);
  CHECK_STREQ(ht_header(&r, "X-Fine"), "tab\there");
  CHECK(ht_header(&r, "X-Evil") == NULL && ht_header(&r, "Set-Cookie") == NULL);
  ht_resp_free(&r);
  CHECK_EQ(ht_roundtrip(c, "GET /reason HTTP/1.1\r\nHost: t\r\n\r\n", &r), 299);
  CHECK(strncmp(r.head, "HTTP/1.1 299 Fine By Me\r\n", 25) == 0);
  CHECK(strstr(r.head, "X-A: 1\r\nX-A: 2\r\n") != NULL);
  CHECK_STREQ(ht_header(&r, "Server"), "custom");
  CHECK(strstr(r.head, "cmuduo") == NULL);
  CHECK_STREQ(ht_header(&r, "Content-Type"), "application/json");
  CHECK_STREQ(r.body, "{}\n");
  ht_resp_free(&r);
  ht_close(c);
}

static void test_default_handler(void) {
  ht_server_t s;
  ht_server_start(&s, 0, NULL, NULL, NULL, NULL);
  ht_client_t *c = ht_connect(s.port);
  ht_resp_t r;
  CHECK_EQ(ht_roundtrip(c, "GET /anything HTTP/1.1\r\nHost: t\r\n\r\n", &r), 404);
  CHECK(strncmp(r.head, "HTTP/1.1 404 Not Found\r\n", 24) == 0);
  ht_resp_free(&r);
  ht_close(c);
  ht_server_stop(&s);
}

int main(void) {
  tt_init("http_server_basic", 120);
  CHECK_STREQ(mu_http_status_reason(200), "OK");
  CHECK_STREQ(mu_http_status_reason(413), "Content Too Large");
  CHECK_STREQ(mu_http_status_reason(299), "");
  for (int threads = 0; threads <= 2; threads += 2) {
    ht_server_t s;
    ht_server_start(&s, threads, on_request, NULL, NULL, NULL);
    test_keep_alive_11(s.port);
    test_http10(s.port);
    test_set_close(s.port);
    test_no_body(s.port);
    atomic_store(&g_inject_checked, 0);
    test_fields(s.port);
    CHECK_EQ(ht_server_wait_connections(&s, 0, 10), 0); /* every client has closed */
    ht_server_stop(&s);
  }
  test_default_handler();
  printf("http_server_basic: OK\n");
  return 0;
}
