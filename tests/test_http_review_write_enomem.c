/* Review: mu_http_response_write() in the loop thread when the copy of the
 * piece cannot be allocated. write() returns -ENOMEM; the chunked framing
 * must stay intact all the same: no chunk-size line may go out without its
 * data (the client would read the bytes after it, the next chunk's size line
 * or the last chunk, as data). The handler retries the piece once memory is
 * back and ends; the client must read exactly the body written, and the
 * next pipelined request's response after it. The allocator fails every
 * allocation of 32 KiB or more made by the thread while asked to (only the
 * piece's copy is that large; the size line fits in the batch already). */
#include "test_http_server_util.h"

#define PIECE (60 * 1024)

static _Thread_local bool t_fail_large;
static _Atomic int g_enomem;

static void *test_malloc(size_t n) {
  if (t_fail_large && n >= 32 * 1024) {
    errno = ENOMEM;
    return NULL;
  }
  return malloc(n);
}

static void *test_realloc(void *p, size_t n) {
  if (t_fail_large && n >= 32 * 1024) {
    errno = ENOMEM;
    return NULL;
  }
  return realloc(p, n);
}

static char g_piece[PIECE];

static void on_request(const mu_http_request_t *req, mu_http_response_t *resp,
                       void *arg) {
  (void)arg;
  if (strcmp(mu_http_request_path(req), "/stream") != 0) {
    mu_http_response_send_text(resp, 200, mu_http_request_path(req));
    return;
  }
  CHECK_EQ(mu_http_response_begin(resp, NULL, NULL), 0);
  CHECK(mu_http_response_write(resp, "head-", 5) >= 0);
  t_fail_large = true;
  int rc = mu_http_response_write(resp, g_piece, sizeof g_piece);
  t_fail_large = false;
  if (rc == -ENOMEM) {
    atomic_fetch_add(&g_enomem, 1);
    rc = mu_http_response_write(resp, g_piece, sizeof g_piece); /* again */
  }
  CHECK(rc == 0 || rc == 1);
  CHECK(mu_http_response_write(resp, "-tail", 5) >= 0);
  CHECK_EQ(mu_http_response_end(resp), 0);
}

int main(void) {
  mu_allocator_t a = {test_malloc, test_realloc, free};
  mu_set_allocator(&a);
  tt_init("test_http_review_write_enomem", 60);
  for (size_t i = 0; i < sizeof g_piece; ++i)
    g_piece[i] = (char)('a' + i % 26);
  char want[PIECE + 10];
  memcpy(want, "head-", 5);
  memcpy(want + 5, g_piece, PIECE);
  memcpy(want + 5 + PIECE, "-tail", 5);
  ht_server_t s;
  ht_server_start(&s, 0, on_request, NULL, NULL, NULL);
  ht_client_t *c = ht_connect(s.port);
  ht_send(c,
          "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n"
          "GET /next HTTP/1.1\r\nHost: x\r\n\r\n");
  ht_resp_t r;
  CHECK(ht_read_response(c, &r, false));
  CHECK_EQ(r.status, 200);
  CHECK(r.chunked);
  printf("stream: %zu body bytes (want %zu), %d write(s) refused\n", r.body_len,
         sizeof want, atomic_load(&g_enomem));
  CHECK_EQ(atomic_load(&g_enomem), 1); /* the failure was injected */
  CHECK_EQ(r.body_len, sizeof want);
  CHECK(memcmp(r.body, want, sizeof want) == 0);
  ht_resp_free(&r);
  CHECK(ht_read_response(c, &r, false));
  CHECK_STREQ(r.body, "/next");
  ht_resp_free(&r);
  ht_close(c);
  ht_server_stop(&s);
  printf("ok\n");
  return 0;
}
