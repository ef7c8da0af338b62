/* Review: mu_http_response_send_text() from another thread when the copy of
 * the text cannot be allocated. docs/http.md: "the finishing call itself
 * never allocates, so it cannot be lost"; send's -ENOMEM means "the
 * connection is then closed" (http_response.h). The worker ignores the
 * return value, as the async example of docs/http.md does: the client must
 * not wait forever (it sees the connection close), and the connection must
 * go (the response's reference on it is released). The allocator fails the
 * next allocation of the worker's thread (tests/alloc_countdown.h). */
#include <poll.h>

#include "alloc_countdown.h"
#include "test_http_server_util.h"

static ht_worker_t g_worker;
static _Atomic int g_rc = 1;

static void answer_later(void *p) {
  tt_fail_in = 1;
  int rc = mu_http_response_send_text(p, 200, "late answer\n");
  tt_fail_in = 0;
  atomic_store(&g_rc, rc); /* and nothing more: the example ignores it */
}

static void on_request(const mu_http_request_t *req, mu_http_response_t *resp,
                       void *arg) {
  (void)req;
  (void)arg;
  ht_worker_post(&g_worker, answer_later, resp);
}

int main(void) {
  mu_set_allocator(&tt_countdown_allocator);
  tt_init("test_http_review_send_text_enomem", 120);
  ht_worker_start(&g_worker);
  for (int io = 0; io <= 1; ++io) {
    ht_server_t s;
    ht_server_start(&s, io, on_request, NULL, NULL, NULL);
    ht_client_t *c = ht_connect(s.port);
    ht_send(c, "GET /late HTTP/1.1\r\nHost: x\r\n\r\n");
    /* An answer or a close, well within 20 s (the worker answers at once). */
    struct pollfd pfd = {c->fd, POLLIN, 0};
    int ready = poll(&pfd, 1, 20000);
    double deadline = tt_now() + 30;
    while (atomic_load(&g_rc) == 1 && tt_now() < deadline)
      tt_sleep_ms(1);
    int rc = atomic_load(&g_rc);
    printf("io_threads=%d: send_text returned %d; the client %s\n", io, rc,
           ready == 1 ? "heard back" : "is still waiting after 20 s");
    CHECK_EQ(rc, -ENOMEM); /* the failure was injected */
    CHECK_EQ(ready, 1);
    ssize_t n = ht_fill(c);
    if (n > 0) { /* answered after all: a whole response */
      ht_resp_t r;
      CHECK(ht_read_response(c, &r, false));
      ht_resp_free(&r);
    } else {
      CHECK(n == 0 || n == -ECONNRESET);
    }
    ht_close(c);
    CHECK_EQ(ht_server_wait_connections(&s, 0, 30), 0);
    ht_server_stop(&s);
    atomic_store(&g_rc, 1);
  }
  ht_worker_stop(&g_worker);
  printf("ok\n");
  return 0;
}
