/* Async handlers over 127.0.0.1: responses finished in another thread (a
 * worker) — headers and body set there, and a streamed body written there —
 * reach the client in order on several connections and I/O threads (TSan
 * checks the hand-overs); a client that closes while its response is pending
 * leaves nothing behind once the handler finishes (ASan); so does a server
 * freed while a response is pending. */
#include "test_http_server_util.h"

static ht_worker_t g_worker;

/* A response parked until main() releases it. */
static pthread_mutex_t g_park_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_park_cv = PTHREAD_COND_INITIALIZER;
static int g_parked;
static bool g_release;

static void finish_in_worker(void *p) {
  mu_http_response_t *resp = p;
  const mu_http_request_t *req = mu_http_response_request(resp);
  char tag[64];
  snprintf(tag, sizeof tag, "%s-worker", mu_http_request_path(req));
  CHECK_EQ(mu_http_response_add_header(resp, "X-Tag", tag), 0);
  CHECK_EQ(mu_http_response_set_content_type(resp, "text/x-test"), 0);
  const char *path = mu_http_request_path(req);
  CHECK_EQ(mu_http_response_append_body(resp, path, strlen(path)), 0);
  CHECK_EQ(mu_http_response_send(resp), 0);
}

static void stream_in_worker(void *p) {
  mu_http_response_t *resp = p;
  CHECK_EQ(mu_http_response_begin(resp, NULL, NULL), 0);
  for (int i = 0; i < 50; ++i) {
    char piece[32];
    int n = snprintf(piece, sizeof piece, "piece %d;", i);
    CHECK(mu_http_response_write(resp, piece, (size_t)n) >= 0);
  }
  CHECK_EQ(mu_http_response_end(resp), 0);
}

static void wait_release(void) {
  pthread_mutex_lock(&g_park_mu);
  ++g_parked;
  pthread_cond_broadcast(&g_park_cv);
  while (!g_release)
    pthread_cond_wait(&g_park_cv, &g_park_mu);
  pthread_mutex_unlock(&g_park_mu);
}

static _Atomic int g_late_rc = 1;
static _Atomic int g_late_write_rc = 1;

static void parked_send(void *p) {
  wait_release();
  atomic_store(&g_late_rc, mu_http_response_send_text(p, 200, "too late\n"));
}

static void parked_stream(void *p) {
  mu_http_response_t *resp = p;
  CHECK_EQ(mu_http_response_begin(resp, NULL, NULL), 0);
  CHECK(mu_http_response_write(resp, "first", 5) >= 0);
  wait_release();
  /* The client is gone: writes fail (perhaps not at once: the close reaches
   * the loop first), end() releases the response either way. */
  int rc = 0;
  for (int i = 0; i < 1000 && rc >= 0; ++i) {
    rc = mu_http_response_write(resp, "more", 4);
    if (rc >= 0)
      tt_sleep_ms(1);
  }
  atomic_store(&g_late_write_rc, rc);
  int end = mu_http_response_end(resp);
  CHECK(end == 0 || end == -ECONNRESET);
}

static void on_request(const mu_http_request_t *req, mu_http_response_t *resp,
                       void *arg) {
  (void)arg;
  const char *path = mu_http_request_path(req);
  if (strncmp(path, "/stream", 7) == 0)
    ht_worker_post(&g_worker, stream_in_worker, resp);
  else if (strcmp(path, "/park") == 0)
    ht_worker_post(&g_worker, parked_send, resp);
  else if (strcmp(path, "/park-stream") == 0)
    ht_worker_post(&g_worker, parked_stream, resp);
  else
    ht_worker_post(&g_worker, finish_in_worker, resp);
}

static void park_reset(void) {
  pthread_mutex_lock(&g_park_mu);
  g_parked = 0;
  g_release = false;
  pthread_mutex_unlock(&g_park_mu);
}

static void park_wait_parked(void) {
  pthread_mutex_lock(&g_park_mu);
  while (g_parked == 0)
    pthread_cond_wait(&g_park_cv, &g_park_mu);
  pthread_mutex_unlock(&g_park_mu);
}

static void park_release(void) {
  pthread_mutex_lock(&g_park_mu);
  g_release = true;
  pthread_cond_broadcast(&g_park_cv);
  pthread_mutex_unlock(&g_park_mu);
}

static void test_many(uint16_t port) {
  enum { NCONN = 4, NREQ = 20 };
  ht_client_t *c[NCONN];
  for (int i = 0; i < NCONN; ++i)
    c[i] = ht_connect(port);
  for (int round = 0; round < NREQ; ++round) {
    for (int i = 0; i < NCONN; ++i) {
      char req[128];
      snprintf(req, sizeof req,
               "GET /c%d/r%d HTTP/1.1\r\nHost: t\r\n\r\nGET /stream HTTP/1.1\r\nHost: "
               "t\r\n\r\n",
               i, round);
      ht_send(c[i], req);
    }
    for (int i = 0; i < NCONN; ++i) {
      ht_resp_t r;
      char want[64], tag[80];
      snprintf(want, sizeof want, "/c%d/r%d", i, round);
      snprintf(tag, sizeof tag, "%s-worker", want);
      CHECK(ht_read_response(c[i], &r, false));
      CHECK_EQ(r.status, 200);
      CHECK_STREQ(r.body, want);
      CHECK_STREQ(ht_header(&r, "X-Tag"), tag);
      CHECK_STREQ(ht_header(&r, "Content-Type"), "text/x-test");
      ht_resp_free(&r);
      CHECK(ht_read_response(c[i], &r, false));
      CHECK(r.chunked);
      CHECK(strncmp(r.body, "piece 0;piece 1;", 16) == 0);
      CHECK(strstr(r.body, "piece 49;") != NULL);
      ht_resp_free(&r);
    }
  }
  /* Pipelined, finished by loop timers: still in order. */
  ht_send(c[0],
          "GET /timer/1 HTTP/1.1\r\nHost: t\r\n\r\nGET /timer/2 HTTP/1.1\r\nHost: "
          "t\r\n\r\nGET /c0/x HTTP/1.1\r\nHost: t\r\n\r\n");
  const char *want[] = {"/timer/1", "/timer/2", "/c0/x"};
  for (int i = 0; i < 3; ++i) {
    ht_resp_t r;
    CHECK(ht_read_response(c[0], &r, false));
    CHECK_STREQ(r.body, want[i]);
    ht_resp_free(&r);
  }
  for (int i = 0; i < NCONN; ++i)
    ht_close(c[i]);
}

/* The client goes away (a reset: a FIN alone is a half-close, which the
 * server answers) while its response is pending; the handler finishes after
 * the server has seen the close. */
static void test_client_gone(ht_server_t *s, const char *path) {
  park_reset();
  ht_client_t *c = ht_connect(s->port);
  char req[128];
  snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", path);
  ht_send(c, req);
  park_wait_parked();
  tt_close_with_rst(c->fd);
  c->fd = -1;
  ht_close(c);
  CHECK_EQ(ht_server_wait_connections(s, 0, 30), 0);
  park_release();
}

static void test_server_freed(int threads) {
  ht_server_t s;
  ht_server_start(&s, threads, on_request, NULL, NULL, NULL);
  park_reset();
  atomic_store(&g_late_rc, 1);
  ht_client_t *c = ht_connect(s.port);
  ht_send(c, "GET /park HTTP/1.1\r\nHost: t\r\n\r\n");
  park_wait_parked();
  ht_server_stop(&s); /* the response is still pending */
  park_release();
  for (int i = 0; i < 3000 && atomic_load(&g_late_rc) == 1; ++i)
    tt_sleep_ms(1);
  CHECK_EQ(atomic_load(&g_late_rc), 0);
  ht_close(c);
}

int main(void) {
  tt_init("http_server_async", 180);
  ht_worker_start(&g_worker);
  for (int threads = 0; threads <= 2; threads += 2) {
    ht_server_t s;
    ht_server_start(&s, threads, on_request, NULL, NULL, NULL);
    test_many(s.port);
    atomic_store(&g_late_rc, 1);
    test_client_gone(&s, "/park");
    for (int i = 0; i < 3000 && atomic_load(&g_late_rc) == 1; ++i)
      tt_sleep_ms(1);
    CHECK_EQ(atomic_load(&g_late_rc), 0);
    atomic_store(&g_late_write_rc, 1);
    test_client_gone(&s, "/park-stream");
    for (int i = 0; i < 5000 && atomic_load(&g_late_write_rc) == 1; ++i)
      tt_sleep_ms(1);
    CHECK_EQ(atomic_load(&g_late_write_rc), -ECONNRESET);
    ht_server_stop(&s);
    printf("  threads=%d OK\n", threads);
  }
  test_server_freed(0);
  test_server_freed(2);
  printf("  server freed with a response pending: OK\n");
  ht_worker_stop(&g_worker);
  printf("http_server_async: OK\n");
  return 0;
}
