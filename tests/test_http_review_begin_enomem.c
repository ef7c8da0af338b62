/* Review: mu_http_response_begin() from another thread when memory runs out.
 * http_response.h promises: "-ENOMEM (the connection is then closed, but the
 * response is streaming all the same: finish it with end())". Here the
 * allocation that carries the begin to the loop fails (an allocator that
 * fails the next allocation of the calling thread); the handler's thread
 * then writes and ends as told. The client pipelined a second request
 * behind: it must see the connection close with no response, never the
 * second request's response in the place of the first (no head went out
 * for the first, so anything after it would be taken for its answer). */
#include "test_http_server_util.h"

static _Thread_local int t_fail_next;

static void *failing_malloc(size_t n) {
  if (t_fail_next > 0) {
    --t_fail_next;
    errno = ENOMEM;
    return NULL;
  }
  return malloc(n);
}

static ht_worker_t g_worker;
static _Atomic int g_begin_rc = 1;

static void stream_in_worker(void *p) {
  mu_http_response_t *resp = p;
  t_fail_next = 1;
  int rc = mu_http_response_begin(resp, NULL, NULL);
  t_fail_next = 0;
  atomic_store(&g_begin_rc, rc);
  if (rc == 0) { /* the allocation was not where we aimed: stream as usual */
    mu_http_response_write(resp, "x", 1);
    mu_http_response_end(resp);
    return;
  }
  CHECK_EQ(rc, -ENOMEM);
  int w = mu_http_response_write(resp, "piece", 5);
  CHECK(w == 0 || w == 1 || w == -ECONNRESET);
  int e = mu_http_response_end(resp);
  CHECK(e == 0 || e == -ECONNRESET);
}

static void on_request(const mu_http_request_t *req, mu_http_response_t *resp,
                       void *arg) {
  (void)arg;
  if (strcmp(mu_http_request_path(req), "/stream") == 0)
    ht_worker_post(&g_worker, stream_in_worker, resp);
  else
    mu_http_response_send_text(resp, 200, mu_http_request_path(req));
}

int main(void) {
  mu_allocator_t a = {failing_malloc, realloc, free};
  mu_set_allocator(&a);
  tt_init("test_http_review_begin_enomem", 60);
  ht_worker_start(&g_worker);
  for (int io = 0; io <= 1; ++io) {
    ht_server_t s;
    ht_server_start(&s, io, on_request, NULL, NULL, NULL);
    ht_client_t *c = ht_connect(s.port);
    ht_send(c,
            "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n"
            "GET /next HTTP/1.1\r\nHost: x\r\n\r\n");
    /* End of file or a reset (the second request is unread), no byte. */
    ssize_t n = ht_fill(c);
    double deadline = tt_now() + 30; /* the worker may still be storing it */
    while (atomic_load(&g_begin_rc) == 1 && tt_now() < deadline)
      tt_sleep_ms(1);
    CHECK_EQ(atomic_load(&g_begin_rc), -ENOMEM);
    if (n > 0) {
      printf("io_threads=%d: the first request was answered: %.*s\n", io, (int)c->len,
             c->buf);
      CHECK(n <= 0);
    }
    CHECK(n == 0 || n == -ECONNRESET);
    printf("io_threads=%d: closed with no response, as promised\n", io);
    ht_close(c);
    ht_server_stop(&s);
    atomic_store(&g_begin_rc, 1);
  }
  ht_worker_stop(&g_worker);
  printf("ok\n");
  return 0;
}
