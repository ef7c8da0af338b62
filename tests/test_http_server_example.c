/* examples/http_server end to end (what bench/run_http.sh serves): started
 * with -a 127.0.0.1 -p 0 (the port is read from its log line), with 0 and 2
 * I/O threads: /hello is "hello, world!\n" as text/plain, / an HTML page,
 * anything else 404, pipelined requests in order; SIGTERM ends it with
 * status 0. The program is looked for next to this test (bin/); without it
 * (examples off) the test says so and passes. */
#include <limits.h>
#include <sys/wait.h>

#include "test_http_server_util.h"

static char g_bin[PATH_MAX];

typedef struct child {
  pid_t pid;
  int out; /* its stdout and stderr */
  uint16_t port;
} child_t;

static void start(child_t *c, const char *threads) {
  int fds[2];
  CHECK(pipe(fds) == 0);
  c->pid = fork();
  CHECK(c->pid >= 0);
  if (c->pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    dup2(fds[1], STDERR_FILENO);
    close(fds[0]);
    close(fds[1]);
    execl(g_bin, "http_server", "-a", "127.0.0.1", "-p", "0", "-t", threads,
          (char *)NULL);
    _exit(127);
  }
  close(fds[1]);
  c->out = fds[0];
  /* "... listening on port N ..." */
  char log[4096];
  size_t len = 0;
  const char *at = NULL;
  while (at == NULL || strchr(at, ' ') == NULL) {
    CHECK(len < sizeof log - 1);
    ssize_t n = read(c->out, log + len, sizeof log - 1 - len);
    CHECK(n > 0);
    len += (size_t)n;
    log[len] = '\0';
    at = strstr(log, "listening on port ");
    if (at != NULL)
      at += strlen("listening on port ");
  }
  c->port = (uint16_t)atoi(at);
  CHECK(c->port != 0);
}

static void stop(child_t *c) {
  CHECK(kill(c->pid, SIGTERM) == 0);
  int status = 0;
  double deadline = tt_now() + 30;
  while (waitpid(c->pid, &status, WNOHANG) == 0) {
    CHECK(tt_now() < deadline);
    tt_sleep_ms(10);
  }
  CHECK(WIFEXITED(status));
  CHECK_EQ(WEXITSTATUS(status), 0);
  close(c->out);
}

static void check(uint16_t port) {
  ht_client_t *c = ht_connect(port);
  ht_resp_t r;
  CHECK_EQ(ht_roundtrip(c, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n", &r), 200);
  CHECK_STREQ(r.body, "hello, world!\n");
  CHECK_STREQ(ht_header(&r, "Content-Type"), "text/plain");
  CHECK_STREQ(ht_header(&r, "Content-Length"), "14");
  ht_resp_free(&r);
  CHECK_EQ(ht_roundtrip(c, "GET / HTTP/1.1\r\nHost: t\r\n\r\n", &r), 200);
  CHECK(strncmp(ht_header(&r, "Content-Type"), "text/html", 9) == 0);
  CHECK(strstr(r.body, "<html") != NULL);
  ht_resp_free(&r);
  CHECK_EQ(ht_roundtrip(c, "GET /nope HTTP/1.1\r\nHost: t\r\n\r\n", &r), 404);
  ht_resp_free(&r);
  ht_send(c,
          "GET /hello HTTP/1.1\r\nHost: t\r\n\r\nGET /x HTTP/1.1\r\nHost: t\r\n\r\n"
          "GET /hello?q=1 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  int want[] = {200, 404, 200};
  for (int i = 0; i < 3; ++i) {
    CHECK(ht_read_response(c, &r, false));
    CHECK_EQ(r.status, want[i]);
    ht_resp_free(&r);
  }
  ht_expect_closed(c);
  ht_close(c);
}

int main(void) {
  tt_init("http_server_example", 120);
  test_sibling_path(g_bin, sizeof g_bin, "http_server");
  if (access(g_bin, X_OK) != 0) {
    printf("http_server_example: %s not built: skipped\n", g_bin);
    return 0;
  }
  const char *threads[] = {"0", "2"};
  for (int i = 0; i < 2; ++i) {
    child_t c;
    start(&c, threads[i]);
    check(c.port);
    stop(&c);
    printf("  -t %s: /hello, /, 404, pipelined, SIGTERM exit 0\n", threads[i]);
  }
  printf("http_server_example: OK\n");
  return 0;
}
