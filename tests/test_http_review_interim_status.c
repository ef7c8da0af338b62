/* Review: a 1xx status is interim (RFC 9110 §15.2): a client reads on for the
 * final response. A handler that "finishes" a request with one therefore
 * leaves its client waiting, or, on a kept-alive connection, makes it take
 * the next request's response for this one. set_status and send_text must
 * refuse 1xx (-EINVAL, nothing changed), so that the handler can still
 * answer; the client must only ever see final responses, in order. */
#include "test_http_server_util.h"

static void on_request(const mu_http_request_t *req, mu_http_response_t *resp,
                       void *arg) {
  (void)arg;
  const char *path = mu_http_request_path(req);
  if (strcmp(path, "/text") == 0) {
    if (mu_http_response_send_text(resp, 103, "early") == 0)
      return;
  } else if (strcmp(path, "/status") == 0) {
    if (mu_http_response_set_status(resp, 100, NULL) == 0 &&
        mu_http_response_send(resp) == 0)
      return;
    CHECK_EQ(mu_http_response_status(resp), 200); /* unchanged */
  } else if (strcmp(path, "/stream") == 0) {
    if (mu_http_response_set_status(resp, 199, "Custom") == 0) {
      CHECK_EQ(mu_http_response_begin(resp, NULL, NULL), 0);
      CHECK_EQ(mu_http_response_end(resp), 0);
      return;
    }
  }
  mu_http_response_send_text(resp, 200, path); /* the 1xx was refused */
}

int main(void) {
  tt_init("test_http_review_interim_status", 60);
  ht_server_t s;
  ht_server_start(&s, 0, on_request, NULL, NULL, NULL);
  ht_client_t *c = ht_connect(s.port);
  static const char *const k_paths[] = {"/text", "/status", "/stream", "/last"};
  for (size_t i = 0; i < 4; ++i) {
    char req[128];
    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", k_paths[i]);
    ht_send(c, req);
  }
  for (size_t i = 0; i < 4; ++i) {
    ht_resp_t r;
    CHECK(ht_read_response(c, &r, false));
    printf("%s: %d %s\n", k_paths[i], r.status, r.body);
    CHECK_EQ(r.status, 200);
    CHECK_STREQ(r.body, k_paths[i]);
    ht_resp_free(&r);
  }
  ht_close(c);
  ht_server_stop(&s);
  printf("ok\n");
  return 0;
}
