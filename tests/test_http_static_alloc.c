/* Static files when memory runs out. Each run is a forked child that fails
 * its n-th allocation (n = 1, 2, ...) and serves, on 127.0.0.1, five
 * pipelined requests from one client: a small file (read into memory), a
 * range of a big one (sendfile), a directory without its slash (301), a
 * conditional request (304) and a missing file (404). Every response that
 * arrives whole must be exactly right (status, framing fields, body); after
 * the first one that does not arrive, the connection must be closed, never
 * left hanging. mu_http_static_new may fail with ENOMEM instead. Then
 * everything is freed and no block may be left allocated. The runs stop at
 * the first n that the child never reaches. */
#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "cmuduo/base/alloc.h"
#include "cmuduo/http/http_server.h"
#include "cmuduo/http/http_static.h"
#include "tcp_test_util.h"

#define BIG_SIZE (1u << 20)
#define RANGE_FIRST 1000u
#define RANGE_LEN 300000u
static const char k_small[] = "a small file, read into memory\n";

/* Shared with the parent: how many allocations the child made. */
typedef struct shared {
  _Atomic long calls;
  _Atomic long fail_at;
  _Atomic long live;
  _Atomic long got_500; /* 500s received, over all runs */
} shared_t;

static shared_t *g_sh;
static char g_root[256];

static bool admit(void) {
  long n = atomic_fetch_add(&g_sh->calls, 1) + 1;
  return n != atomic_load(&g_sh->fail_at);
}
static void *t_malloc(size_t n) {
  void *p = admit() ? malloc(n) : NULL;
  if (p != NULL)
    atomic_fetch_add(&g_sh->live, 1);
  return p;
}
static void *t_realloc(void *old, size_t n) {
  void *p = admit() ? realloc(old, n) : NULL;
  if (p != NULL && old == NULL)
    atomic_fetch_add(&g_sh->live, 1);
  return p;
}
static void t_free(void *p) {
  if (p != NULL)
    atomic_fetch_sub(&g_sh->live, 1);
  free(p);
}
static const mu_allocator_t k_alloc = {t_malloc, t_realloc, t_free};

/* ---- the client --------------------------------------------------------------- */

typedef struct reader {
  int fd;
  size_t len;
  char buf[1 << 16];
} reader_t;

/* At least `want` bytes buffered; false at end of file or an error. */
static bool fill_to(reader_t *r, size_t want) {
  while (r->len < want) {
    ssize_t n = tt_read_some(r->fd, r->buf + r->len, sizeof r->buf - r->len);
    if (n == -EAGAIN) {
      fprintf(stderr, "HANG: the server neither answered nor closed in 10 s\n");
      abort();
    }
    if (n <= 0)
      return false;
    r->len += (size_t)n;
  }
  return true;
}

static void consume(reader_t *r, size_t n) {
  memmove(r->buf, r->buf + n, r->len - n);
  r->len -= n;
}

static const char *field(const char *head, const char *name, char *out, size_t cap) {
  const char *p = strcasestr(head, name);
  if (p == NULL)
    return NULL;
  p += strlen(name);
  size_t n = strcspn(p, "\r");
  if (n >= cap)
    return NULL;
  memcpy(out, p, n);
  out[n] = '\0';
  return out;
}

/* Reads one response; false if the connection ended before it was whole. A
 * whole response must have the expected status and body. */
static bool read_response(reader_t *r, int status, const char *body, size_t body_len,
                          const char *content_range) {
  char *end;
  while ((end = memmem(r->buf, r->len, "\r\n\r\n", 4)) == NULL) {
    if (r->len == sizeof r->buf || !fill_to(r, r->len + 1))
      return false;
  }
  size_t hl = (size_t)(end - r->buf) + 4;
  char head[4096];
  CHECK(hl < sizeof head);
  memcpy(head, r->buf, hl);
  head[hl] = '\0';
  char v[128];
  long long length = field(head, "\r\nContent-Length: ", v, sizeof v) ? atoll(v) : -1;
  int got = strncmp(head, "HTTP/1.1 ", 9) == 0 ? atoi(head + 9) : -1;
  if (got == 500) { /* out of memory, said so: the connection must close next */
    atomic_fetch_add(&g_sh->got_500, 1);
    return false;
  }
  if (got != status || (status != 304 && length != (long long)body_len)) {
    fprintf(stderr, "wrong response (want %d, %zu bytes):\n%s", status, body_len, head);
    abort();
  }
  if (content_range != NULL && (field(head, "\r\nContent-Range: ", v, sizeof v) == NULL ||
                                strcmp(v, content_range) != 0)) {
    fprintf(stderr, "206 without Content-Range %s:\n%s", content_range, head);
    abort();
  }
  consume(r, hl);
  size_t want = status == 304 ? 0 : body_len;
  for (size_t done = 0; done < want;) {
    if (r->len == 0 && !fill_to(r, 1))
      return false;
    size_t n = r->len < want - done ? r->len : want - done;
    if (memcmp(r->buf, body + done, n) != 0) {
      fprintf(stderr, "wrong body bytes at %zu (status %d)\n", done, status);
      abort();
    }
    consume(r, n);
    done += n;
  }
  return true;
}

typedef struct client_ctx {
  mu_event_loop_t *loop;
  uint16_t port;
  const char *big;
  int answered; /* whole responses */
} client_ctx_t;

static void *client_main(void *p) {
  client_ctx_t *c = p;
  static reader_t r;
  r.fd = tt_connect_timeout(c->port, 10, 0);
  r.len = 0;
  char req[1024];
  snprintf(req, sizeof req,
           "GET /small.txt HTTP/1.1\r\nHost: x\r\n\r\n"
           "GET /big.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=%u-%u\r\n\r\n"
           "GET /sub HTTP/1.1\r\nHost: x\r\n\r\n"
           "GET /small.txt HTTP/1.1\r\nHost: x\r\nIf-None-Match: *\r\n\r\n"
           "GET /missing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
           RANGE_FIRST, RANGE_FIRST + RANGE_LEN - 1);
  if (send(r.fd, req, strlen(req), MSG_NOSIGNAL) == (ssize_t)strlen(req)) {
    char range[64];
    snprintf(range, sizeof range, "bytes %u-%u/%u", RANGE_FIRST,
             RANGE_FIRST + RANGE_LEN - 1, BIG_SIZE);
    static const char k_moved[] = "301 Moved Permanently\n";
    static const char k_missing[] = "404 Not Found\n";
    if (read_response(&r, 200, k_small, sizeof k_small - 1, NULL) && ++c->answered &&
        read_response(&r, 206, c->big + RANGE_FIRST, RANGE_LEN, range) && ++c->answered &&
        read_response(&r, 301, k_moved, sizeof k_moved - 1, NULL) && ++c->answered &&
        read_response(&r, 304, "", 0, NULL) && ++c->answered &&
        read_response(&r, 404, k_missing, sizeof k_missing - 1, NULL))
      ++c->answered;
  }
  /* Whatever happened, the server must end the connection now. */
  char rest[4096];
  ssize_t n;
  while ((n = tt_read_some(r.fd, rest, sizeof rest)) > 0) {
  }
  if (n == -EAGAIN) {
    fprintf(stderr, "HANG: the connection stayed open after %d answers\n", c->answered);
    abort();
  }
  close(r.fd);
  mu_event_loop_quit(c->loop);
  return NULL;
}

/* ---- one run ------------------------------------------------------------------ */

static void on_request(const mu_http_request_t *req, mu_http_response_t *resp,
                       void *arg) {
  mu_http_static_serve(arg, req, resp);
}

/* Exit status: 0 all answered, 1 an error reported (ENOMEM or a closed
 * connection); anything else fails the test. */
static int run_child(const char *big) {
  mu_set_allocator(&k_alloc);
  mu_http_static_t *files = mu_http_static_new(g_root);
  if (files == NULL) {
    CHECK_EQ(errno, ENOMEM);
    CHECK_EQ(atomic_load(&g_sh->live), 0);
    return 1;
  }
  int rc = 1;
  mu_event_loop_t *loop = mu_event_loop_new();
  mu_http_server_t *server = NULL;
  if (loop != NULL) {
    mu_inet_address_t addr = mu_inet_address_loopback(0);
    server = mu_http_server_new(loop, &addr, "StaticAlloc", 0);
  }
  mu_inet_address_t bound;
  if (server != NULL)
    mu_http_server_set_handler(server, on_request, files);
  if (server != NULL && mu_http_server_start(server) == 0 &&
      mu_tcp_server_listen_address(mu_http_server_tcp_server(server), &bound) == 0) {
    client_ctx_t c = {loop, mu_inet_address_port(&bound), big, 0};
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, client_main, &c), 0);
    mu_event_loop_loop(loop);
    CHECK_EQ(pthread_join(t, NULL), 0);
    rc = c.answered == 5 ? 0 : 1;
  }
  mu_http_server_free(server);
  mu_event_loop_free(loop);
  mu_http_static_free(files);
  long live = atomic_load(&g_sh->live);
  if (live != 0) {
    fprintf(stderr, "LEAK: %ld blocks still allocated\n", live);
    abort();
  }
  return rc;
}

static void make_root(char *big) {
  snprintf(g_root, sizeof g_root, "/tmp/cmuduo-static-alloc-XXXXXX");
  CHECK(mkdtemp(g_root) != NULL);
  char p[512];
  snprintf(p, sizeof p, "%s/small.txt", g_root);
  int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  CHECK(fd >= 0 && write(fd, k_small, sizeof k_small - 1) == (ssize_t)sizeof k_small - 1);
  close(fd);
  snprintf(p, sizeof p, "%s/big.bin", g_root);
  fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  tt_pattern_fill(3, 0, big, BIG_SIZE);
  CHECK(fd >= 0 && write(fd, big, BIG_SIZE) == (ssize_t)BIG_SIZE);
  close(fd);
  snprintf(p, sizeof p, "%s/sub", g_root);
  CHECK(mkdir(p, 0755) == 0);
}

int main(void) {
  tt_init("http_static_alloc", 280);
  g_sh =
      mmap(NULL, sizeof *g_sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  CHECK(g_sh != MAP_FAILED);
  static char big[BIG_SIZE];
  make_root(big);
  int completed = 0, errors = 0;
  long n;
  for (n = 1;; ++n) {
    atomic_store(&g_sh->calls, 0);
    atomic_store(&g_sh->fail_at, n);
    atomic_store(&g_sh->live, 0);
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
      alarm(60);
      _exit(run_child(big));
    }
    int status;
    CHECK(waitpid(pid, &status, 0) == pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) > 1) {
      fprintf(stderr, "run failing allocation %ld: %s %d\n", n,
              WIFEXITED(status) ? "exit" : "signal",
              WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
      abort();
    }
    WEXITSTATUS(status) == 0 ? ++completed : ++errors;
    if (atomic_load(&g_sh->calls) < n) {
      CHECK_EQ(WEXITSTATUS(status), 0); /* nothing failed: all must be answered */
      break;
    }
    CHECK(n < 5000);
  }
  printf(
      "%ld runs: %d answered everything, %d reported an error (%ld by a 500); no crash, "
      "hang or leak\n",
      n, completed, errors, atomic_load(&g_sh->got_500));
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_root);
  CHECK(system(cmd) == 0);
  printf("http_static_alloc: OK\n");
  return 0;
}
