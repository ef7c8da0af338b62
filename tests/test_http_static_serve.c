/* mu_http_static_serve behind a mu_http_server on 127.0.0.1 (two I/O
 * threads), against a docroot made here. One server; the Host field picks
 * which mu_http_static_t answers, all made before the server starts:
 *
 *   a  defaults (openat2 when the kernel has it)
 *   f  defaults, forced onto the component walk (no openat2)
 *   p  url_prefix "/static/", max_age 60, no ETag
 *   h  dot files served, no index
 *   n  follow_symlinks false
 *
 * Checks: the same answers in "a" and "f" for files, directories, dot files,
 * a FIFO (403 at once: opening it must not block the loop), "file/",
 * "file/x", escapes through symlinks (relative, absolute, a directory, an
 * index file) — and the one difference: symlinks inside the docroot are
 * followed with openat2 and refused by the walk; the options; new()'s
 * errors; the docroot renamed after new() (still served, by descriptor); a
 * file truncated while it is being sent (the connection ends early instead
 * of hanging); and four clients at once on the same objects (for TSan). */
#include <fcntl.h>
#include <sys/stat.h>

#include "cmuduo/http/http_static.h"
#include "http/http_static_internal.h"
#include "test_http_server_util.h"

#define N_STATICS 5
static const char k_hosts[N_STATICS] = {'a', 'f', 'p', 'h', 'n'};
static mu_http_static_t *g_static[N_STATICS];

static char g_dir[256]; /* the test's temporary directory */
static char g_www[300]; /* the docroot */
static const char k_secret[] = "secret outside the docroot\n";

static void on_request(const mu_http_request_t *req, mu_http_response_t *resp,
                       void *arg) {
  (void)arg;
  const char *host = mu_http_request_header(req, "Host");
  for (int i = 0; host != NULL && i < N_STATICS; ++i) {
    if (host[0] == k_hosts[i] && host[1] == '\0') {
      mu_http_static_serve(g_static[i], req, resp);
      return;
    }
  }
  mu_http_response_send_text(resp, 421, "no such host\n");
}

/* ---- the docroot ------------------------------------------------------------ */

static void path_in(char *out, size_t cap, const char *rel) {
  CHECK((size_t)snprintf(out, cap, "%s/%s", g_dir, rel) < cap);
}

static void write_file(const char *rel, const void *data, size_t len) {
  char p[512];
  path_in(p, sizeof p, rel);
  int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  CHECK(fd >= 0);
  CHECK_EQ(write(fd, data, len), (long long)len);
  CHECK(close(fd) == 0);
}

static void make_dir(const char *rel) {
  char p[512];
  path_in(p, sizeof p, rel);
  CHECK(mkdir(p, 0755) == 0);
}

static void make_link(const char *target, const char *rel) {
  char p[512];
  path_in(p, sizeof p, rel);
  CHECK(symlink(target, p) == 0);
}

#define BIG_SIZE (8u * 1024 * 1024)

static void make_docroot(void) {
  snprintf(g_dir, sizeof g_dir, "/tmp/cmuduo-static-XXXXXX");
  CHECK(mkdtemp(g_dir) != NULL);
  snprintf(g_www, sizeof g_www, "%s/www", g_dir);
  make_dir("www");
  make_dir("outside");
  write_file("secret.txt", k_secret, strlen(k_secret));
  write_file("outside/secret.txt", k_secret, strlen(k_secret));
  write_file("www/a.txt", "file a\n", 7);
  write_file("www/index.html", "<p>root</p>\n", 12);
  write_file("www/.env", "dot\n", 4);
  make_dir("www/sub");
  write_file("www/sub/index.html", "<p>sub</p>\n", 11);
  make_dir("www/empty");
  make_dir("www/linkedindex");
  make_link("../a.txt", "www/linkedindex/index.html"); /* inside */
  make_dir("www/badindex");
  make_link("../../secret.txt", "www/badindex/index.html"); /* outside */
  make_link("a.txt", "www/in.txt");
  make_link("sub", "www/insub");
  make_link("../secret.txt", "www/out.txt");
  char abs[512];
  path_in(abs, sizeof abs, "secret.txt");
  make_link(abs, "www/abs.txt");
  make_link("../outside", "www/outdir");
  make_link("/dev/zero", "www/zero");
  make_link("/proc/self/root/etc/hostname", "www/proc");
  char fifo[512];
  path_in(fifo, sizeof fifo, "www/fifo");
  CHECK(mkfifo(fifo, 0644) == 0);
  /* big.bin: a position-keyed pattern, checked by the truncation test */
  char big[512];
  path_in(big, sizeof big, "www/big.bin");
  int fd = open(big, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  CHECK(fd >= 0);
  static char chunk[65536];
  for (uint64_t off = 0; off < BIG_SIZE; off += sizeof chunk) {
    tt_pattern_fill(9, off, chunk, sizeof chunk);
    CHECK_EQ(write(fd, chunk, sizeof chunk), (long long)sizeof chunk);
  }
  CHECK(close(fd) == 0);
}

static void remove_tree(void) {
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
  CHECK(system(cmd) == 0);
}

/* ---- requests ------------------------------------------------------------------ */

/* One request on c to host; the response in r (free it). */
static int request(ht_client_t *c, char host, const char *method, const char *path,
                   const char *extra, ht_resp_t *r) {
  char req[2048];
  snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: %c\r\n%s\r\n", method, path, host,
           extra ? extra : "");
  return ht_roundtrip(c, req, r);
}

static void expect(ht_client_t *c, char host, const char *path, int status,
                   const char *body) {
  ht_resp_t r;
  int got = request(c, host, "GET", path, NULL, &r);
  if (got != status || (body != NULL && strcmp(r.body, body) != 0)) {
    fprintf(stderr, "host %c GET %s: %d \"%s\", want %d \"%s\"\n", host, path, got,
            r.body, status, body ? body : "(any)");
    abort();
  }
  if (strstr(r.body, k_secret) != NULL) {
    fprintf(stderr, "host %c GET %s: served the file outside the docroot\n", host, path);
    abort();
  }
  ht_resp_free(&r);
}

static void expect_header(ht_client_t *c, char host, const char *path, const char *name,
                          const char *want) {
  ht_resp_t r;
  request(c, host, "GET", path, NULL, &r);
  const char *got = ht_header(&r, name);
  if ((want == NULL) != (got == NULL) || (want != NULL && strcmp(got, want) != 0)) {
    fprintf(stderr, "host %c GET %s: %s \"%s\", want \"%s\"\n", host, path, name,
            got ? got : "(none)", want ? want : "(none)");
    abort();
  }
  ht_resp_free(&r);
}

/* What the defaults answer, with or without openat2. */
static void check_common(ht_client_t *c, char h) {
  expect(c, h, "/a.txt", 200, "file a\n");
  expect(c, h, "/", 200, "<p>root</p>\n");
  expect(c, h, "/sub/", 200, "<p>sub</p>\n");
  expect(c, h, "/sub", 301, NULL);
  expect_header(c, h, "/sub", "Location", "/sub/");
  expect_header(c, h, "/sub?q=1&r", "Location", "/sub/?q=1&r");
  expect_header(c, h, "//sub", "Location", "/sub/"); /* never "//sub/": a host */
  expect_header(c, h, "/./sub", "Location", "/sub/");
  expect_header(c, h, "/sub%20", "Location", NULL); /* 404: no such directory */
  expect(c, h, "/.", 200, "<p>root</p>\n");
  expect(c, h, "/empty/", 403, NULL);
  expect(c, h, "/empty", 301, NULL);
  expect(c, h, "/missing", 404, NULL);
  expect(c, h, "/missing/", 404, NULL);
  expect(c, h, "/a.txt/", 404, NULL);
  expect(c, h, "/a.txt/x", 404, NULL);
  expect(c, h, "/.env", 404, NULL);
  expect(c, h, "/fifo", 403, NULL);
  expect(c, h, "/a%zz", 400, NULL);
  expect(c, h, "/a%00", 400, NULL);
  expect(c, h, "/../secret.txt", 403, NULL);
  expect(c, h, "/%2e%2e/secret.txt", 403, NULL);
  expect(c, h, "/sub/%2e%2e%2f%2e%2e%2fsecret.txt", 403, NULL);
  expect(c, h, "/out.txt", 403, NULL);
  expect(c, h, "/abs.txt", 403, NULL);
  expect(c, h, "/outdir/secret.txt", 403, NULL);
  expect(c, h, "/outdir/", 403, NULL);
  expect(c, h, "/badindex/", 403, NULL);
  expect(c, h, "/zero", 403, NULL);
  expect(c, h, "/proc", 403, NULL);
  ht_resp_t r;
  CHECK_EQ(request(c, h, "PUT", "/a.txt", "Content-Length: 0\r\n", &r), 405);
  CHECK_STREQ(ht_header(&r, "Allow"), "GET, HEAD");
  ht_resp_free(&r);
  CHECK_EQ(request(c, h, "HEAD", "/a.txt", NULL, &r), 200);
  CHECK_STREQ(ht_header(&r, "Content-Length"), "7");
  CHECK_EQ(r.body_len, 0);
  ht_resp_free(&r);
  /* the conditional and range answers carry what the 200 does */
  CHECK_EQ(request(c, h, "GET", "/a.txt", NULL, &r), 200);
  char etag[64], lm[64];
  snprintf(etag, sizeof etag, "%s", ht_header(&r, "ETag"));
  snprintf(lm, sizeof lm, "%s", ht_header(&r, "Last-Modified"));
  CHECK(ht_header(&r, "Cache-Control") == NULL);
  CHECK_STREQ(ht_header(&r, "Content-Type"), "text/plain; charset=utf-8");
  ht_resp_free(&r);
  char extra[256];
  snprintf(extra, sizeof extra, "If-None-Match: %s\r\n", etag);
  CHECK_EQ(request(c, h, "GET", "/a.txt", extra, &r), 304);
  CHECK_STREQ(ht_header(&r, "ETag"), etag);
  CHECK_STREQ(ht_header(&r, "Last-Modified"), lm);
  ht_resp_free(&r);
  snprintf(extra, sizeof extra, "If-Modified-Since: %s\r\n", lm);
  CHECK_EQ(request(c, h, "GET", "/a.txt", extra, &r), 304);
  ht_resp_free(&r);
  CHECK_EQ(request(c, h, "GET", "/a.txt", "Range: bytes=2-3\r\n", &r), 206);
  CHECK_STREQ(r.body, "le");
  CHECK_STREQ(ht_header(&r, "Content-Range"), "bytes 2-3/7");
  ht_resp_free(&r);
  CHECK_EQ(request(c, h, "HEAD", "/a.txt", "Range: bytes=2-3\r\n", &r), 200);
  ht_resp_free(&r);
  CHECK_EQ(request(c, h, "GET", "/a.txt", "Range: bytes=7-\r\n", &r), 416);
  CHECK_STREQ(ht_header(&r, "Content-Range"), "bytes */7");
  ht_resp_free(&r);
  snprintf(extra, sizeof extra, "Range: bytes=0-0\r\nIf-Range: %s\r\n", lm);
  CHECK_EQ(request(c, h, "GET", "/a.txt", extra, &r), 206);
  ht_resp_free(&r);
  snprintf(extra, sizeof extra, "Range: bytes=0-0\r\nIf-Range: W/%s\r\n", etag);
  CHECK_EQ(request(c, h, "GET", "/a.txt", extra, &r), 200); /* weak never matches */
  ht_resp_free(&r);
  CHECK_EQ(request(c, h, "GET", "/a.txt",
                   "Range: bytes=0-0\r\nIf-Range: Thu, 01 Jan 1970 00:00:00 GMT\r\n", &r),
           200);
  ht_resp_free(&r);
}

static void test_modes(uint16_t port) {
  CHECK(!mu_http_static_uses_openat2(g_static[1]));
  bool openat2 = mu_http_static_uses_openat2(g_static[0]);
  printf("openat2: %s\n", openat2 ? "yes" : "no (both runs use the component walk)");
  ht_client_t *c = ht_connect(port);
  check_common(c, 'a');
  check_common(c, 'f');
  /* symlinks that stay inside: followed by openat2, refused by the walk */
  int inside = openat2 ? 200 : 403;
  expect(c, 'a', "/in.txt", inside, openat2 ? "file a\n" : NULL);
  expect(c, 'a', "/insub/", inside, openat2 ? "<p>sub</p>\n" : NULL);
  expect(c, 'a', "/linkedindex/", inside, openat2 ? "file a\n" : NULL);
  expect(c, 'f', "/in.txt", 403, NULL);
  expect(c, 'f', "/insub/", 403, NULL);
  expect(c, 'f', "/insub/index.html", 403, NULL);
  expect(c, 'f', "/linkedindex/", 403, NULL);
  ht_close(c);
  printf("modes: defaults with%s openat2 and with the walk agree\n",
         openat2 ? "" : "out");
}

static void test_options(uint16_t port) {
  ht_client_t *c = ht_connect(port);
  /* p: url_prefix "/static/", max_age 60, no ETag */
  expect(c, 'p', "/static/a.txt", 200, "file a\n");
  expect(c, 'p', "/static//./a.txt", 200, "file a\n");
  expect(c, 'p', "/static/", 200, "<p>root</p>\n");
  expect(c, 'p', "/static", 301, NULL);
  expect_header(c, 'p', "/static", "Location", "/static/");
  expect_header(c, 'p', "/static/sub", "Location", "/static/sub/");
  expect(c, 'p', "/a.txt", 404, NULL);
  expect(c, 'p', "/staticx/a.txt", 404, NULL);
  expect(c, 'p', "/", 404, NULL);
  expect(c, 'p', "/static/../static/a.txt", 403, NULL);
  expect(c, 'p', "/static/.env", 404, NULL);
  expect_header(c, 'p', "/static/a.txt", "Cache-Control", "max-age=60");
  expect_header(c, 'p', "/static/a.txt", "ETag", NULL);
  ht_resp_t r;
  CHECK_EQ(request(c, 'p', "GET", "/static/a.txt", "If-None-Match: *\r\n", &r), 200);
  ht_resp_free(&r);
  CHECK_EQ(request(c, 'p', "GET", "/static/a.txt",
                   "Range: bytes=0-0\r\nIf-Range: \"anything\"\r\n", &r),
           200);
  ht_resp_free(&r);
  CHECK_EQ(request(c, 'p', "GET", "/static/a.txt",
                   "If-Modified-Since: Fri, 31 Dec 9999 23:59:59 GMT\r\n", &r),
           304);
  CHECK_STREQ(ht_header(&r, "Cache-Control"), "max-age=60");
  ht_resp_free(&r);
  /* h: dot files, no index */
  expect(c, 'h', "/.env", 200, "dot\n");
  expect(c, 'h', "/", 403, NULL);
  expect(c, 'h', "/sub/", 403, NULL);
  expect(c, 'h', "/sub/index.html", 200, "<p>sub</p>\n");
  expect(c, 'h', "/a.txt/", 404, NULL);
  expect(c, 'h', "/../x", 403, NULL);
  /* n: no symlink at all */
  expect(c, 'n', "/a.txt", 200, "file a\n");
  expect(c, 'n', "/in.txt", 403, NULL);
  expect(c, 'n', "/insub/", 403, NULL);
  expect(c, 'n', "/out.txt", 403, NULL);
  ht_close(c);
  printf("options: url_prefix, max_age, etag off, dot files, no index, no symlinks\n");
}

static void test_new_errors(void) {
  char p[512];
  path_in(p, sizeof p, "www/a.txt");
  errno = 0;
  CHECK(mu_http_static_new(p) == NULL && errno == ENOTDIR);
  path_in(p, sizeof p, "missing");
  errno = 0;
  CHECK(mu_http_static_new(p) == NULL && errno == ENOENT);
  errno = 0;
  CHECK(mu_http_static_new(NULL) == NULL && errno == EINVAL);
  static const char *const bad_index[] = {"a/b", "/x", ".", ".."};
  for (size_t i = 0; i < sizeof bad_index / sizeof bad_index[0]; ++i) {
    mu_http_static_options_t o = mu_http_static_options_default();
    o.index = bad_index[i];
    errno = 0;
    CHECK(mu_http_static_new_with_options(g_www, &o) == NULL && errno == EINVAL);
  }
  static const char *const bad_prefix[] = {"static", "/../x", "/a%zz"};
  for (size_t i = 0; i < sizeof bad_prefix / sizeof bad_prefix[0]; ++i) {
    mu_http_static_options_t o = mu_http_static_options_default();
    o.url_prefix = bad_prefix[i];
    errno = 0;
    CHECK(mu_http_static_new_with_options(g_www, &o) == NULL && errno == EINVAL);
  }
  mu_http_static_options_t d = mu_http_static_options_default();
  CHECK_STREQ(d.index, "index.html");
  CHECK(d.url_prefix == NULL && d.max_age == -1 && !d.serve_hidden && d.follow_symlinks &&
        d.etag);
  /* "/" as a prefix and "" as an index are allowed */
  d.url_prefix = "/";
  d.index = "";
  mu_http_static_t *s = mu_http_static_new_with_options(g_www, &d);
  CHECK(s != NULL);
  mu_http_static_free(s);
  mu_http_static_free(NULL);
  printf("new: ENOTDIR, ENOENT, EINVAL for bad docroot, index and prefix\n");
}

/* ---- several clients at once ------------------------------------------------------ */

typedef struct client_arg {
  uint16_t port;
  int id;
} client_arg_t;

static void *client_main(void *p) {
  client_arg_t *a = p;
  ht_client_t *c = ht_connect(a->port);
  for (int i = 0; i < 100; ++i) {
    char h = k_hosts[(a->id + i) % N_STATICS];
    const char *path = h == 'p' ? "/static/a.txt" : "/a.txt";
    expect(c, h, path, 200, "file a\n");
    expect(c, h, h == 'p' ? "/static/missing" : "/missing", 404, NULL);
  }
  ht_close(c);
  return NULL;
}

static void test_parallel(uint16_t port) {
  pthread_t t[4];
  client_arg_t args[4];
  for (int i = 0; i < 4; ++i) {
    args[i] = (client_arg_t){port, i};
    CHECK_EQ(pthread_create(&t[i], NULL, client_main, &args[i]), 0);
  }
  for (int i = 0; i < 4; ++i)
    CHECK_EQ(pthread_join(t[i], NULL), 0);
  printf("parallel: 4 clients x 200 requests on shared objects\n");
}

/* ---- a file that shrinks while it is sent --------------------------------------- */

static void test_truncated_while_sending(uint16_t port) {
  int fd = tt_connect_timeout(port, TT_IO_TIMEOUT_S, 32768);
  const char req[] = "GET /big.bin HTTP/1.1\r\nHost: a\r\n\r\n";
  tt_write_all(fd, req, sizeof req - 1);
  /* The head, then 256 KiB of the body. */
  char head[4096];
  size_t hl = 0;
  char *end = NULL;
  while (end == NULL) {
    CHECK(hl < sizeof head - 1);
    ssize_t n = tt_read_some(fd, head + hl, 1);
    CHECK(n == 1);
    hl += 1;
    head[hl] = '\0';
    end = strstr(head, "\r\n\r\n");
  }
  CHECK(strncmp(head, "HTTP/1.1 200", 12) == 0);
  static char buf[65536];
  uint64_t got = 0;
  while (got < 256 * 1024) {
    ssize_t n = tt_read_some(fd, buf, sizeof buf);
    CHECK(n > 0);
    CHECK_EQ(tt_pattern_check(9, got, buf, (size_t)n), n);
    got += (uint64_t)n;
  }
  char p[512];
  path_in(p, sizeof p, "www/big.bin");
  CHECK(truncate(p, 512 * 1024) == 0);
  /* The server cannot keep its promise: the connection ends, short. */
  for (;;) {
    ssize_t n = tt_read_some(fd, buf, sizeof buf);
    if (n <= 0) {
      CHECK(n == 0 || n == -ECONNRESET);
      break;
    }
    got += (uint64_t)n;
  }
  CHECK(got < BIG_SIZE);
  CHECK(close(fd) == 0);
  printf("truncated: the connection ended after %" PRIu64 " of %u bytes\n", got,
         BIG_SIZE);
}

/* The docroot is held by descriptor: renaming its path changes nothing. */
static void test_renamed_docroot(uint16_t port) {
  char moved[512];
  path_in(moved, sizeof moved, "www-moved");
  CHECK(rename(g_www, moved) == 0);
  ht_client_t *c = ht_connect(port);
  expect(c, 'a', "/a.txt", 200, "file a\n");
  expect(c, 'f', "/sub/", 200, "<p>sub</p>\n");
  ht_close(c);
  CHECK(rename(moved, g_www) == 0);
  printf("renamed: still served from the descriptor\n");
}

int main(void) {
  tt_init("http_static_serve", 240);
  make_docroot();
  test_new_errors();
  mu_http_static_options_t o[N_STATICS];
  for (int i = 0; i < N_STATICS; ++i)
    o[i] = mu_http_static_options_default();
  o[2].url_prefix = "/static/";
  o[2].max_age = 60;
  o[2].etag = false;
  o[3].serve_hidden = true;
  o[3].index = NULL;
  o[4].follow_symlinks = false;
  for (int i = 0; i < N_STATICS; ++i) {
    g_static[i] = mu_http_static_new_with_options(g_www, &o[i]);
    CHECK(g_static[i] != NULL);
  }
  mu_http_static_force_fallback(g_static[1]);
  int fds_before = tt_count_open_fds();

  ht_server_t s;
  ht_server_start(&s, 2, on_request, NULL, NULL, NULL);
  /* Small send buffers: a big file is sent in many sendfile calls, and the
   * truncation below happens with most of it still unsent. */
  tt_server_t sndbuf_of = {.port = s.port};
  tt_server_shrink_sndbuf(&sndbuf_of, 16384);
  test_modes(s.port);
  test_options(s.port);
  test_parallel(s.port);
  test_renamed_docroot(s.port);
  test_truncated_while_sending(s.port);
  CHECK_EQ(ht_server_wait_connections(&s, 0, 20), 0);
  ht_server_stop(&s);

  /* Every file descriptor the requests opened is closed. */
  double deadline = tt_now() + 20;
  int n;
  while ((n = tt_count_open_fds()) != fds_before && tt_now() < deadline)
    tt_sleep_ms(5);
  CHECK_EQ(n, fds_before);
  for (int i = 0; i < N_STATICS; ++i)
    mu_http_static_free(g_static[i]);
  remove_tree();
  printf("http_static_serve: OK\n");
  return 0;
}
