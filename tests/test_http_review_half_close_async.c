/* Review: a request whose response is finished later by another thread,
 * from a client that half-closed its side right after sending it
 * (shutdown(SHUT_WR), as `nc -N` or an HTTP/1.0 batch client does): the
 * response must still reach the client, which is still reading.
 *
 * Also, for such clients (the server's half-open mode): the last response
 * says Connection: close and the server closes after it; pipelined requests
 * sent before the FIN are all answered in order, an incomplete one after
 * them is dropped; a client that half-closes with nothing pending (idle, or
 * in the middle of a request head) is closed without an answer; one that
 * closes for good while its response is pending is closed once it is sent. */
#include "test_http_server_util.h"

static ht_worker_t g_worker;
static _Atomic int g_calls;

typedef struct job {
  mu_http_response_t *resp;
  char body[80];
} job_t;

static void finish_later(void *p) {
  mu_http_response_t *resp = p;
  tt_sleep_ms(200); /* the FIN has long arrived */
  CHECK_EQ(mu_http_response_send_text(resp, 200, "late\n"), 0);
}

static void finish_job(void *p) {
  job_t *j = p;
  tt_sleep_ms(50);
  CHECK_EQ(mu_http_response_send_text(j->resp, 200, j->body), 0);
  free(j);
}

static void on_request(const mu_http_request_t *req, mu_http_response_t *resp,
                       void *arg) {
  (void)arg;
  atomic_fetch_add(&g_calls, 1);
  if (strcmp(mu_http_request_path(req), "/a") == 0) {
    ht_worker_post(&g_worker, finish_later, resp);
    return;
  }
  job_t *j = malloc(sizeof *j);
  CHECK(j != NULL);
  j->resp = resp;
  snprintf(j->body, sizeof j->body, "%s\n", mu_http_request_path(req));
  ht_worker_post(&g_worker, finish_job, j);
}

/* Reads one response: status 200, body `body`. */
static void expect_response(ht_client_t *c, const char *body, bool last) {
  ht_resp_t r;
  CHECK(ht_read_response(c, &r, false));
  CHECK_EQ(r.status, 200);
  CHECK_STREQ(r.body, body);
  const char *conn = ht_header(&r, "Connection");
  if (last) {
    CHECK(conn != NULL && strcasecmp(conn, "close") == 0);
  } else {
    CHECK(conn == NULL || strcasecmp(conn, "close") != 0);
  }
  ht_resp_free(&r);
}

/* Sends `reqs`, half-closes. */
static ht_client_t *send_and_half_close(uint16_t port, const char *reqs) {
  ht_client_t *c = ht_connect(port);
  if (reqs[0] != '\0')
    ht_send(c, reqs);
  CHECK_EQ(shutdown(c->fd, SHUT_WR), 0);
  return c;
}

/* Pipelined, then half-closed: each answered in order, the last saying
 * Connection: close, then the close. */
static void pipelined(uint16_t port) {
  int calls = atomic_load(&g_calls);
  ht_client_t *c = send_and_half_close(port,
                                       "GET /p1 HTTP/1.1\r\nHost: x\r\n\r\n"
                                       "GET /p2 HTTP/1.1\r\nHost: x\r\n\r\n"
                                       "GET /p3 HTTP/1.1\r\nHost: x\r\n\r\n");
  expect_response(c, "/p1\n", false);
  expect_response(c, "/p2\n", false);
  expect_response(c, "/p3\n", true);
  ht_expect_closed(c);
  ht_close(c);
  CHECK_EQ(atomic_load(&g_calls), calls + 3);
}

/* Two complete requests and the start of a third: the two are answered,
 * the third (which can never be completed) is dropped, then the close. */
static void pipelined_with_partial(uint16_t port) {
  int calls = atomic_load(&g_calls);
  ht_client_t *c = send_and_half_close(port,
                                       "GET /q1 HTTP/1.1\r\nHost: x\r\n\r\n"
                                       "GET /q2 HTTP/1.1\r\nHost: x\r\n\r\n"
                                       "GET /q3 HTTP/1.1\r\nHo");
  expect_response(c, "/q1\n", false);
  ht_resp_t r;
  CHECK(ht_read_response(c, &r, false));
  CHECK_EQ(r.status, 200);
  CHECK_STREQ(r.body, "/q2\n");
  ht_resp_free(&r);
  ht_expect_closed(c);
  ht_close(c);
  CHECK_EQ(atomic_load(&g_calls), calls + 2);
}

/* Nothing pending: closed at once, no answer. */
static void idle_and_mid_head(ht_server_t *s) {
  int calls = atomic_load(&g_calls);
  ht_client_t *c = send_and_half_close(s->port, "");
  ht_expect_closed(c);
  ht_close(c);
  c = send_and_half_close(s->port, "GET /never HTTP/1.1\r\nHost:");
  ht_expect_closed(c);
  ht_close(c);
  CHECK_EQ(atomic_load(&g_calls), calls);
  CHECK_EQ(ht_server_wait_connections(s, 0, 20), 0);
}

/* A client that closes for good (close(): a FIN too) while its response is
 * pending looks the same as a half-close: the connection waits for the
 * response, sends it (the client's kernel answers with a reset) and closes. */
static void closed_while_pending(ht_server_t *s) {
  int calls = atomic_load(&g_calls);
  ht_client_t *c = ht_connect(s->port);
  ht_send(c, "GET /gone HTTP/1.1\r\nHost: x\r\n\r\n");
  ht_close(c);
  CHECK_EQ(ht_server_wait_connections(s, 0, 20), 0);
  CHECK_EQ(atomic_load(&g_calls), calls + 1);
}

int main(void) {
  tt_init("test_http_review_half_close_async", 60);
  ht_worker_start(&g_worker);
  for (int io = 0; io <= 1; ++io) {
    ht_server_t s;
    ht_server_start(&s, io, on_request, NULL, NULL, NULL);
    ht_client_t *c = ht_connect(s.port);
    ht_send(c, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK_EQ(shutdown(c->fd, SHUT_WR), 0);
    ht_resp_t r;
    bool got = ht_read_response(c, &r, false);
    printf("io_threads=%d: %s\n", io, got ? "answered" : "closed without an answer");
    CHECK(got);
    CHECK_EQ(r.status, 200);
    CHECK_STREQ(r.body, "late\n");
    const char *conn = ht_header(&r, "Connection");
    CHECK(conn != NULL && strcasecmp(conn, "close") == 0);
    ht_resp_free(&r);
    ht_expect_closed(c);
    ht_close(c);
    pipelined(s.port);
    pipelined_with_partial(s.port);
    idle_and_mid_head(&s);
    closed_while_pending(&s);
    printf("io_threads=%d: pipelined, partial, idle and mid-head half-closes ok\n", io);
    ht_server_stop(&s);
  }
  ht_worker_stop(&g_worker);
  printf("ok\n");
  return 0;
}
