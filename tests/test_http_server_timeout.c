/* Timeouts over 127.0.0.1: a slowloris client (a head trickled line by line)
 * gets 408 and a close while another client is served all along; an idle
 * keep-alive connection and a connection that never sends are closed
 * silently; a stalled body gets 408; with timeouts off nothing is closed. */
#include <poll.h>

#include "test_http_server_util.h"

static void on_request(const mu_http_request_t *req, mu_http_response_t *resp,
                       void *arg) {
  (void)arg;
  mu_http_response_send_text(resp, 200, mu_http_request_path(req));
}

static void setup_short(mu_http_server_t *server, void *arg) {
  (void)arg;
  mu_http_server_set_header_timeout(server, 1.0);
  mu_http_server_set_idle_timeout(server, 1.5);
}

static void setup_off(mu_http_server_t *server, void *arg) {
  (void)arg;
  mu_http_server_set_header_timeout(server, 0);
  mu_http_server_set_idle_timeout(server, 0);
}

static bool readable_within(int fd, int ms) {
  struct pollfd pfd = {fd, POLLIN, 0};
  return poll(&pfd, 1, ms) == 1;
}

static void test_slowloris(uint16_t port) {
  ht_client_t *slow = ht_connect(port);
  ht_client_t *good = ht_connect(port);
  ht_send(slow, "GET /slow HTTP/1.1\r\nHost: t\r\n");
  int served = 0, lines = 0;
  double deadline = tt_now() + 60;
  while (!readable_within(slow->fd, 100)) {
    CHECK(tt_now() < deadline);
    ht_send(slow, "X-Trickle: 1\r\n"); /* never the empty line */
    ++lines;
    ht_resp_t r;
    CHECK_EQ(ht_roundtrip(good, "GET /good HTTP/1.1\r\nHost: t\r\n\r\n", &r), 200);
    CHECK_STREQ(r.body, "/good");
    ht_resp_free(&r);
    ++served;
  }
  ht_resp_t r;
  CHECK(ht_read_response(slow, &r, false));
  CHECK_EQ(r.status, 408);
  CHECK_STREQ(ht_header(&r, "Connection"), "close");
  ht_resp_free(&r);
  ht_expect_closed(slow);
  printf("  slowloris: 408 after %d trickled lines; %d requests served meanwhile\n",
         lines, served);
  CHECK(served > 0);
  /* The good client is still served. */
  CHECK_EQ(ht_roundtrip(good, "GET /after HTTP/1.1\r\nHost: t\r\n\r\n", &r), 200);
  ht_resp_free(&r);
  ht_close(slow);
  ht_close(good);
}

static void test_idle(uint16_t port) {
  ht_client_t *c = ht_connect(port);
  ht_resp_t r;
  CHECK_EQ(ht_roundtrip(c, "GET /once HTTP/1.1\r\nHost: t\r\n\r\n", &r), 200);
  ht_resp_free(&r);
  ht_expect_closed(c); /* silently: no byte before the end of file */
  ht_close(c);
  c = ht_connect(port); /* never sends */
  ht_expect_closed(c);
  ht_close(c);
  printf("  idle keep-alive and silent connections closed without a response\n");
}

static void test_stalled_body(uint16_t port) {
  ht_client_t *c = ht_connect(port);
  ht_send(c, "POST /body HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc");
  ht_resp_t r;
  CHECK(ht_read_response(c, &r, false));
  CHECK_EQ(r.status, 408);
  ht_resp_free(&r);
  ht_expect_closed(c);
  ht_close(c);
  printf("  stalled body: 408\n");
}

static void test_timeouts_off(void) {
  ht_server_t s;
  ht_server_start(&s, 0, on_request, NULL, setup_off, NULL);
  ht_client_t *c = ht_connect(s.port);
  ht_client_t *partial = ht_connect(s.port);
  ht_send(partial, "GET /p HTTP/1.1\r\n");
  tt_sleep_ms(2500); /* longer than any sweep period */
  CHECK(!readable_within(c->fd, 0));
  CHECK(!readable_within(partial->fd, 0));
  ht_resp_t r;
  CHECK_EQ(ht_roundtrip(c, "GET /late HTTP/1.1\r\nHost: t\r\n\r\n", &r), 200);
  ht_resp_free(&r);
  CHECK_EQ(ht_roundtrip(partial, "Host: t\r\n\r\n", &r), 200);
  CHECK_STREQ(r.body, "/p");
  ht_resp_free(&r);
  ht_close(c);
  ht_close(partial);
  ht_server_stop(&s);
  printf("  timeouts off: nothing closed\n");
}

int main(void) {
  tt_init("http_server_timeout", 180);
  for (int threads = 0; threads <= 1; ++threads) {
    ht_server_t s;
    ht_server_start(&s, threads, on_request, NULL, setup_short, NULL);
    test_slowloris(s.port);
    test_idle(s.port);
    test_stalled_body(s.port);
    CHECK_EQ(ht_server_wait_connections(&s, 0, 30), 0);
    ht_server_stop(&s);
  }
  test_timeouts_off();
  printf("http_server_timeout: OK\n");
  return 0;
}
