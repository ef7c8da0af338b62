/* Review: a client that pipelines requests and then half-closes its side
 * (shutdown(SHUT_WR), what `nc -N` or a batch client does) must still get an
 * answer to every request the server read. The responses are large (256 KiB
 * each, the high-water mark 64 KiB), so the server holds the later requests
 * back unparsed until its output drains; the client's FIN arrives meanwhile.
 * The client writes everything, half-closes, and only then reads. */
#include "test_http_server_util.h"

#define NREQ 12
#define BODY (256 * 1024)

static char g_body[BODY];

static void on_request(const mu_http_request_t *req, mu_http_response_t *resp,
                       void *arg) {
  (void)req;
  (void)arg;
  CHECK_EQ(mu_http_response_append_body(resp, g_body, sizeof g_body), 0);
  CHECK_EQ(mu_http_response_send(resp), 0);
}

static void setup(mu_http_server_t *server, void *arg) {
  (void)arg;
  mu_http_server_set_high_water_mark(server, 64 * 1024);
}

int main(void) {
  tt_init("test_http_review_half_close_pipelined", 120);
  memset(g_body, 'b', sizeof g_body);
  for (int io = 0; io <= 1; ++io) {
    ht_server_t s;
    ht_server_start(&s, io, on_request, NULL, setup, NULL);
    ht_client_t *c = ht_connect(s.port);
    char reqs[NREQ * 64];
    size_t n = 0;
    for (int i = 0; i < NREQ; ++i)
      n += (size_t)snprintf(reqs + n, sizeof reqs - n,
                            "GET /%d HTTP/1.1\r\nHost: x\r\n\r\n", i);
    tt_write_all(c->fd, reqs, n);
    CHECK_EQ(shutdown(c->fd, SHUT_WR), 0);
    int got = 0;
    ht_resp_t r;
    while (ht_read_response(c, &r, false)) {
      CHECK_EQ(r.status, 200);
      CHECK_EQ(r.body_len, (size_t)BODY);
      ht_resp_free(&r);
      ++got;
    }
    printf("io_threads=%d: %d of %d responses before the close\n", io, got, NREQ);
    CHECK_EQ(got, NREQ);
    ht_close(c);
    ht_server_stop(&s);
  }
  printf("ok\n");
  return 0;
}
