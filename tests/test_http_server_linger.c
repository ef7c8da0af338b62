/* mu_http_server_set_linger: how long a connection the server is closing
 * waits for a client that got its last response but never closes.
 *
 * Server A (linger 0.2 s) and server B (linger 1000 s) each answer a bad
 * request with 400; neither client ever closes. A must drop its connection
 * well before the 5 s default could have (the bound, 4.5 s, is over twenty
 * times A's linger plus a sweep), and B must still hold its own then. Then
 * the values that cannot be a linger (0, negative, NaN) still end a closing
 * connection (as 1 ms). */
#include <math.h>

#include "test_http_server_util.h"

static void set_linger(mu_http_server_t *server, void *arg) {
  mu_http_server_set_linger(server, *(const double *)arg);
}

/* A client that sends a malformed request and reads the 400, leaving the
 * socket open. */
static ht_client_t *bad_request(uint16_t port) {
  ht_client_t *c = ht_connect(port);
  ht_send(c, "GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n");
  ht_resp_t r;
  CHECK(ht_read_response(c, &r, false));
  CHECK_EQ(r.status, 400);
  ht_resp_free(&r);
  return c;
}

static void test_short_and_long(void) {
  double long_s = 1000, short_s = 0.2;
  ht_server_t a, b;
  ht_server_start(&b, 0, NULL, NULL, set_linger, &long_s);
  ht_server_start(&a, 0, NULL, NULL, set_linger, &short_s);
  ht_client_t *cb = bad_request(b.port);
  double t0 = tt_now();
  ht_client_t *ca = bad_request(a.port);
  CHECK_EQ(ht_server_wait_connections(&a, 0, 60), 0);
  double took = tt_now() - t0;
  if (took >= 4.5) {
    fprintf(stderr, "linger 0.2 s: the connection closed after %.1f s\n", took);
    CHECK(false);
  }
  CHECK_EQ(ht_server_wait_connections(&b, 1, 0), 1);
  ht_close(ca);
  ht_close(cb);
  ht_server_stop(&a);
  ht_server_stop(&b); /* frees B with its lingering connection */
}

static void test_bad_values(void) {
  const double bad[] = {0, -1, NAN};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; ++i) {
    ht_server_t s;
    ht_server_start(&s, 1, NULL, NULL, set_linger, (void *)&bad[i]);
    ht_client_t *c = bad_request(s.port);
    CHECK_EQ(ht_server_wait_connections(&s, 0, 60), 0);
    ht_close(c);
    ht_server_stop(&s);
  }
}

int main(void) {
  tt_init("http_server_linger", 120);
  test_short_and_long();
  test_bad_values();
  TEST_PASS("http_server_linger");
}
