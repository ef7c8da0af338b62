/* Review: the linger (mu_http_server_set_linger) counts "once its last
 * response bytes have left" (http_server.h); while a response with
 * "Connection: close" is still being written, a pause of the client is
 * governed by the idle timeout, as for any download (docs/http.md,
 * "Timeouts": "a client that stops reading altogether is closed after the
 * idle timeout").
 *
 * Linger 1 s, idle timeout 60 s. The response is a 64 MiB file region
 * (sparse, so cheap) with Connection: close; the client has a small receive
 * buffer, reads the head, pauses 4 s (the server's output backs up and stops
 * moving for longer than the linger, far less than the idle timeout), then
 * reads on: every byte of the body must arrive before the close. Once it
 * has, the linger applies again: the server closes within a few seconds
 * although the client keeps its end open. */
#include <fcntl.h>

#include "test_http_server_util.h"

#define FILE_SIZE (64ull << 20)

static char g_path[64];

static void on_request(const mu_http_request_t *req, mu_http_response_t *resp,
                       void *arg) {
  (void)req;
  (void)arg;
  int fd = open(g_path, O_RDONLY | O_CLOEXEC);
  CHECK(fd >= 0);
  mu_http_response_set_close(resp, true);
  CHECK_EQ(mu_http_response_send_file(resp, fd, 0, FILE_SIZE), 0);
}

static void setup(mu_http_server_t *server, void *arg) {
  (void)arg;
  mu_http_server_set_linger(server, 1.0);
  mu_http_server_set_idle_timeout(server, 60.0);
}

int main(void) {
  tt_init("test_http_review_linger_stalled_download", 120);
  snprintf(g_path, sizeof g_path, "/tmp/cmuduo-review-linger-%d", (int)getpid());
  int fd = open(g_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  CHECK(fd >= 0);
  CHECK_EQ(ftruncate(fd, (off_t)FILE_SIZE), 0);
  close(fd);
  for (int io = 0; io <= 1; ++io) {
    ht_server_t s;
    ht_server_start(&s, io, on_request, NULL, setup, NULL);
    ht_client_t *c = calloc(1, sizeof *c);
    CHECK(c != NULL);
    c->fd = tt_connect_timeout(s.port, TT_IO_TIMEOUT_S, 16 * 1024);
    ht_send(c, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n");
    char *e;
    while ((e = memmem(c->buf, c->len, "\r\n\r\n", 4)) == NULL)
      CHECK(ht_fill(c) > 0);
    size_t head = (size_t)(e - c->buf) + 4;
    CHECK(memmem(c->buf, head, "Connection: close", 17) != NULL);
    uint64_t got = c->len - head;
    tt_sleep_ms(4000); /* a pause: longer than the linger, far below idle */
    ssize_t n;
    while ((n = tt_read_some(c->fd, c->buf, sizeof c->buf)) > 0)
      got += (uint64_t)n;
    printf("io_threads=%d: %llu of %llu body bytes, then %zd\n", io,
           (unsigned long long)got, (unsigned long long)FILE_SIZE, n);
    CHECK_EQ(n, 0);
    CHECK_EQ(got, FILE_SIZE);
    /* Once the response has left, the linger (1 s) applies again, not the
     * idle timeout (60 s): the server closes although this client does not. */
    CHECK_EQ(ht_server_wait_connections(&s, 0, 20), 0);
    ht_close(c);
    ht_server_stop(&s);
  }
  unlink(g_path);
  printf("ok\n");
  return 0;
}
