/* send_file responses over 127.0.0.1 with a temporary file: the whole file,
 * a region, HEAD (Content-Length, no body), a file response pipelined
 * between memory responses (order kept), send_file from another thread, a
 * non-empty body refused (-EINVAL), and a file shorter than promised (the
 * connection ends). Every file descriptor given to the server is closed. */
#include <fcntl.h>

#include "test_http_server_util.h"

#define FILE_SIZE (1u << 20)

static char g_path[64];
static ht_worker_t g_worker;

static int open_file(void) {
  int fd = open(g_path, O_RDONLY | O_CLOEXEC);
  CHECK(fd >= 0);
  return fd;
}

static void file_in_worker(void *p) {
  CHECK_EQ(mu_http_response_send_file(p, open_file(), 0, FILE_SIZE), 0);
}

static void on_request(const mu_http_request_t *req, mu_http_response_t *resp,
                       void *arg) {
  (void)arg;
  const char *path = mu_http_request_path(req);
  if (strcmp(path, "/file") == 0) {
    mu_http_response_set_content_type(resp, "application/octet-stream");
    CHECK_EQ(mu_http_response_send_file(resp, open_file(), 0, FILE_SIZE), 0);
  } else if (strcmp(path, "/region") == 0) {
    mu_http_response_set_status(resp, 206, NULL);
    CHECK_EQ(mu_http_response_send_file(resp, open_file(), 1000, 5000), 0);
  } else if (strcmp(path, "/async") == 0) {
    ht_worker_post(&g_worker, file_in_worker, resp);
  } else if (strcmp(path, "/short") == 0) {
    CHECK_EQ(mu_http_response_send_file(resp, open_file(), 0, FILE_SIZE + 100), 0);
  } else if (strcmp(path, "/bad") == 0) {
    mu_http_response_append_body(resp, "x", 1);
    CHECK_EQ(mu_http_response_send_file(resp, open_file(), 0, 10), -EINVAL);
    CHECK_EQ(mu_http_response_send_text(resp, 500, "refused\n"), 0);
  } else {
    mu_http_response_send_text(resp, 200, path);
  }
}

static void expect_file(ht_client_t *c, const char *req, uint64_t off, size_t len,
                        int status) {
  ht_resp_t r;
  CHECK_EQ(ht_roundtrip(c, req, &r), status);
  CHECK_EQ(r.body_len, len);
  CHECK_EQ(tt_pattern_check(9, off, r.body, r.body_len), len);
  ht_resp_free(&r);
}

static void test_files(uint16_t port) {
  ht_client_t *c = ht_connect(port);
  expect_file(c, "GET /file HTTP/1.1\r\nHost: t\r\n\r\n", 0, FILE_SIZE, 200);
  expect_file(c, "GET /region HTTP/1.1\r\nHost: t\r\n\r\n", 1000, 5000, 206);
  expect_file(c, "GET /async HTTP/1.1\r\nHost: t\r\n\r\n", 0, FILE_SIZE, 200);
  ht_resp_t r;
  CHECK_EQ(ht_roundtrip(c, "HEAD /file HTTP/1.1\r\nHost: t\r\n\r\n", &r), 200);
  CHECK_EQ(atoll(ht_header(&r, "Content-Length")), FILE_SIZE);
  ht_resp_free(&r);
  CHECK_EQ(ht_roundtrip(c, "GET /bad HTTP/1.1\r\nHost: t\r\n\r\n", &r), 500);
  CHECK_STREQ(r.body, "xrefused\n"); /* the refused call left the body alone */
  ht_resp_free(&r);
  /* Pipelined: memory, file, memory. */
  ht_send(c,
          "GET /a HTTP/1.1\r\nHost: t\r\n\r\nGET /file HTTP/1.1\r\nHost: t\r\n\r\n"
          "GET /b HTTP/1.1\r\nHost: t\r\n\r\n");
  CHECK(ht_read_response(c, &r, false));
  CHECK_STREQ(r.body, "/a");
  ht_resp_free(&r);
  CHECK(ht_read_response(c, &r, false));
  CHECK_EQ(r.body_len, FILE_SIZE);
  CHECK_EQ(tt_pattern_check(9, 0, r.body, r.body_len), FILE_SIZE);
  ht_resp_free(&r);
  CHECK(ht_read_response(c, &r, false));
  CHECK_STREQ(r.body, "/b");
  ht_resp_free(&r);
  ht_close(c);
}

static void test_short_file(uint16_t port) {
  ht_client_t *c = ht_connect(port);
  ht_send(c, "GET /short HTTP/1.1\r\nHost: t\r\n\r\n");
  char *e;
  while ((e = memmem(c->buf, c->len, "\r\n\r\n", 4)) == NULL)
    CHECK(ht_fill(c) > 0);
  CHECK(strstr(c->buf, "Content-Length: 1048676\r\n") != NULL);
  size_t body = c->len - (size_t)(e + 4 - c->buf);
  c->len = 0;
  char sink[65536];
  for (;;) {
    ssize_t n = tt_read_some(c->fd, sink, sizeof sink);
    CHECK(n >= 0 || n == -ECONNRESET);
    if (n <= 0)
      break;
    body += (size_t)n;
  }
  printf("  short file: %zu of %u promised bytes, then the close\n", body,
         FILE_SIZE + 100);
  CHECK(body <= FILE_SIZE);
  ht_close(c);
}

int main(void) {
  tt_init("http_server_send_file", 180);
  snprintf(g_path, sizeof g_path, "/tmp/cmuduo-sendfile-XXXXXX");
  int fd = mkstemp(g_path);
  CHECK(fd >= 0);
  char *data = malloc(FILE_SIZE);
  CHECK(data != NULL);
  tt_pattern_fill(9, 0, data, FILE_SIZE);
  CHECK_EQ(write(fd, data, FILE_SIZE), FILE_SIZE);
  close(fd);
  free(data);
  ht_worker_start(&g_worker);
  int fds_before = tt_count_open_fds();
  for (int threads = 0; threads <= 1; ++threads) {
    ht_server_t s;
    ht_server_start(&s, threads, on_request, NULL, NULL, NULL);
    test_files(s.port);
    test_short_file(s.port);
    CHECK_EQ(ht_server_wait_connections(&s, 0, 30), 0);
    ht_server_stop(&s);
  }
  CHECK_EQ(tt_count_open_fds(), fds_before);
  ht_worker_stop(&g_worker);
  unlink(g_path);
  printf("http_server_send_file: OK\n");
  return 0;
}
