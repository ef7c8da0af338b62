/* HTTP server paths the other http_server tests leave alone, over 127.0.0.1:
 *
 *  1. in-memory bodies past the inline limit (64 KiB: copied with the head;
 *     larger: sent from where they are after the head): append_body + send,
 *     send_text, both together, from the loop and from a worker; byte-exact,
 *     the connection kept, pipelined requests behind them answered in order;
 *     streamed writes past the same limit, chunked and HTTP/1.0 (the close
 *     delimits the body: streaming has no Content-Length form);
 *  2. a body streamed by a worker thread (the handler only begins it) that
 *     stops when write() says 1 and goes on when the drain callback says so,
 *     to a client that reads slowly at first: every byte arrives, and the
 *     drain callback comes exactly once per 1;
 *  3. bad calls on a response get their documented error and nothing else
 *     happens: wrong states, bad arguments, a bad fd (taken and closed), calls
 *     after the client has gone (from the loop and from another thread) and
 *     after the server was freed; a status without a standard reason phrase
 *     goes out with an empty one;
 *  4. a connection closing after an error (400) or after a Connection: close
 *     response, to a peer that neither reads nor closes, is closed by the
 *     server after the linger while another client is served; a slow but
 *     steady reader of such a response, and of a stream, is not cut off;
 *  5. mu_http_static_serve: 500 when the descriptor limit is reached (through
 *     openat2 and through the component walk), the redirect of a directory
 *     whose name needs percent-encoding, and a path component longer than
 *     NAME_MAX (404). */
#include <fcntl.h>
#include <sys/stat.h>

#include "cmuduo/http/http_static.h"
#include "http/http_static_internal.h"
#include "test_http_server_util.h"

/* Must match INLINE_BODY_MAX in src/http/http_response.c: both sides of it are
 * tested. */
#define INLINE_MAX (64u * 1024)
#define MIB (1024u * 1024)

static ht_worker_t g_worker;

/* ---- bodies ---------------------------------------------------------------- */

enum { S_MEM = 11, S_TEXT = 12, S_SWRITE = 13, S_WSTREAM = 21, S_SLOW = 23 };

/* Text bodies (send_text takes a C string): letters keyed by position. */
static char text_byte(uint64_t off) {
  return (char)('a' + tt_pattern_byte(S_TEXT, off) % 26);
}

static char *make_text(uint64_t off, size_t n) {
  char *t = malloc(n + 1);
  CHECK(t != NULL);
  for (size_t i = 0; i < n; ++i)
    t[i] = text_byte(off + i);
  t[n] = '\0';
  return t;
}

static bool text_ok(const char *body, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    if (body[i] != text_byte(i))
      return false;
  }
  return true;
}

/* The number after "n=" in the query (0 when absent). */
static size_t query_n(const mu_http_request_t *req) {
  const char *q = strstr(mu_http_request_query(req), "n=");
  return q != NULL ? (size_t)strtoull(q + 2, NULL, 10) : 0;
}

/* len pattern bytes appended in three pieces of unequal size. */
static void append_pattern(mu_http_response_t *resp, uint64_t stream, size_t len) {
  char *buf = malloc(len > 0 ? len : 1);
  CHECK(buf != NULL);
  tt_pattern_fill(stream, 0, buf, len);
  size_t a = len < 1000 ? len : 1000, b = (len - a) / 3;
  CHECK_EQ(mu_http_response_append_body(resp, buf, a), 0);
  CHECK_EQ(mu_http_response_append_body(resp, buf + a, b), 0);
  CHECK_EQ(mu_http_response_append_body(resp, buf + a + b, len - a - b), 0);
  free(buf);
}

/* ---- streaming from the loop (part 1) --------------------------------------- */

/* Writes of these sizes, in turn, from the loop thread, stopping at 1 and
 * going on from the drain callback. */
static const size_t k_plan[] = {100, 100 * 1024, MIB + 3, INLINE_MAX, INLINE_MAX + 1,
                                7,   3 * MIB,    1};
#define PLAN_N (sizeof k_plan / sizeof k_plan[0])

static size_t plan_total(void) {
  size_t t = 0;
  for (size_t i = 0; i < PLAN_N; ++i)
    t += k_plan[i];
  return t;
}

typedef struct loop_stream {
  size_t next, off;
  int ones, drains;
} loop_stream_t;

static void loop_pump(mu_http_response_t *resp, loop_stream_t *st) {
  while (st->next < PLAN_N) {
    size_t n = k_plan[st->next++];
    char *buf = malloc(n);
    CHECK(buf != NULL);
    tt_pattern_fill(S_SWRITE, st->off, buf, n);
    int rc = mu_http_response_write(resp, buf, n);
    free(buf);
    CHECK(rc == 0 || rc == 1);
    st->off += n;
    if (rc == 1) {
      ++st->ones;
      return;
    }
  }
  CHECK_EQ(st->drains, st->ones);
  free(st);
  CHECK_EQ(mu_http_response_end(resp), 0);
}

static void loop_drain(mu_http_response_t *resp, void *arg) {
  loop_stream_t *st = arg;
  ++st->drains;
  loop_pump(resp, st);
}

/* ---- streaming from a worker (part 2) --------------------------------------- */

typedef struct worker_stream {
  mu_http_response_t *resp;
  uint64_t seed;
  size_t total;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int ones;   /* write() returned 1 */
  int drains; /* the drain callback ran */
  int big;    /* writes past the inline limit */
  _Atomic int done;
} worker_stream_t;

static worker_stream_t g_ws;

/* Loop thread: only says "go on"; the worker does the writing. */
static void worker_drain(mu_http_response_t *resp, void *arg) {
  worker_stream_t *ws = arg;
  pthread_mutex_lock(&ws->mu);
  CHECK(resp == ws->resp);
  ++ws->drains;
  pthread_cond_broadcast(&ws->cv);
  pthread_mutex_unlock(&ws->mu);
}

/* Sizes from a byte to three times the inline limit, many of them small. */
static size_t piece_size(tt_rng_t *rng) {
  uint64_t k = tt_rng_range(rng, 0, 99);
  if (k < 30)
    return (size_t)tt_rng_range(rng, 1, 64);
  if (k < 80)
    return (size_t)tt_rng_range(rng, 65, 16384);
  return (size_t)tt_rng_range(rng, INLINE_MAX + 1, 3 * INLINE_MAX);
}

static void worker_stream_run(void *p) {
  worker_stream_t *ws = p;
  tt_rng_t rng = tt_rng_make(ws->seed);
  char *buf = malloc(3 * INLINE_MAX);
  CHECK(buf != NULL);
  for (size_t off = 0; off < ws->total;) {
    size_t n = piece_size(&rng);
    if (n > ws->total - off)
      n = ws->total - off;
    tt_pattern_fill(S_WSTREAM, off, buf, n);
    /* The drain may come before write() has returned: count from here. */
    pthread_mutex_lock(&ws->mu);
    int before = ws->drains;
    pthread_mutex_unlock(&ws->mu);
    int rc = mu_http_response_write(ws->resp, buf, n);
    if (rc != 0 && rc != 1) {
      fprintf(stderr, "worker write of %zu bytes at %zu: %d\n", n, off, rc);
      abort();
    }
    off += n;
    ws->big += n > INLINE_MAX;
    if (rc == 1) {
      pthread_mutex_lock(&ws->mu);
      ++ws->ones;
      double deadline = tt_now() + 60;
      while (ws->drains == before && tt_now() < deadline) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&ws->cv, &ws->mu, &ts);
      }
      if (ws->drains == before) {
        fprintf(stderr, "no drain callback within 60 s after write() returned 1\n");
        abort();
      }
      pthread_mutex_unlock(&ws->mu);
    }
  }
  free(buf);
  CHECK_EQ(mu_http_response_end(ws->resp), 0);
  atomic_store(&ws->done, 1);
}

/* ---- bad calls (part 3) ------------------------------------------------------ */

/* A socketpair: the response is given sv[0]; sv[1] sees the end of file once
 * the response has closed it. */
static void make_pair(int sv[2]) {
  CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  tt_set_timeouts(sv[1], TT_IO_TIMEOUT_S);
}

static void expect_pair_closed(int sv[2]) {
  char c;
  ssize_t n = tt_read_some(sv[1], &c, 1);
  if (n != 0) {
    fprintf(stderr, "the descriptor given to send_file is still open (%zd)\n", n);
    abort();
  }
  close(sv[1]);
}

/* Calls that must fail before anything is finished; the response stays the
 * handler's. */
static void misuse_building(mu_http_response_t *resp) {
  CHECK_EQ(mu_http_response_write(resp, "x", 1), -EINVAL); /* before begin */
  CHECK_EQ(mu_http_response_end(resp), -EINVAL);
  CHECK_EQ(mu_http_response_set_status(resp, 99, NULL), -EINVAL);
  CHECK_EQ(mu_http_response_set_status(resp, 600, NULL), -EINVAL);
  CHECK_EQ(mu_http_response_set_status(resp, 101, NULL), -EINVAL);
  CHECK_EQ(mu_http_response_set_status(resp, 200, "bad\r\nX-Injected: 1"), -EINVAL);
  char long_reason[258];
  memset(long_reason, 'r', sizeof long_reason - 1);
  long_reason[257] = '\0';
  CHECK_EQ(mu_http_response_set_status(resp, 200, long_reason), -EINVAL);
  long_reason[256] = '\0';
  CHECK_EQ(mu_http_response_set_status(resp, 299, long_reason), 0); /* 256: fits */
  CHECK_EQ(mu_http_response_status(resp), 299);
  CHECK_EQ(mu_http_response_add_header(resp, "Bad Name", "v"), -EINVAL);
  CHECK_EQ(mu_http_response_add_header(resp, "", "v"), -EINVAL);
  CHECK_EQ(mu_http_response_add_header(resp, NULL, "v"), -EINVAL);
  CHECK_EQ(mu_http_response_add_header(resp, "X-A", NULL), -EINVAL);
  CHECK_EQ(mu_http_response_add_header(resp, "X-A", "a\nb"), -EINVAL);
  CHECK_EQ(mu_http_response_add_header(resp, "X-A", "a\x7f"), -EINVAL);
  static const char *const own[] = {"content-length", "Transfer-Encoding", "DATE",
                                    "Connection"};
  for (size_t i = 0; i < 4; ++i)
    CHECK_EQ(mu_http_response_add_header(resp, own[i], "1"), -EINVAL);
  CHECK_EQ(mu_http_response_send_text(resp, 200, NULL), -EINVAL);
  /* A custom reason is set: send_text goes through set_status, which fails. */
  CHECK_EQ(mu_http_response_send_text(resp, 600, "no"), -EINVAL);
  CHECK_EQ(mu_http_response_send_text(resp, 1000, "no"), -EINVAL);
  CHECK_EQ(mu_http_response_send_file(resp, -1, 0, 10), -EINVAL);
  int sv[2];
  make_pair(sv);
  CHECK_EQ(mu_http_response_append_body(resp, "body", 4), 0);
  CHECK_EQ(mu_http_response_send_file(resp, sv[0], 0, 1), -EINVAL); /* body not empty */
  expect_pair_closed(sv);
  CHECK_EQ(mu_http_response_set_status(resp, 200, NULL), 0);
}

/* The head and body setters and send_file, refused once the response is no
 * longer being built (send_file still takes, and closes, its fd). */
static void expect_building_calls_refused(mu_http_response_t *resp) {
  CHECK_EQ(mu_http_response_set_status(resp, 404, NULL), -EINVAL);
  CHECK_EQ(mu_http_response_add_header(resp, "X-Late", "1"), -EINVAL);
  CHECK_EQ(mu_http_response_append_body(resp, "late", 4), -EINVAL);
  int sv[2];
  make_pair(sv);
  CHECK_EQ(mu_http_response_send_file(resp, sv[0], 0, 1), -EINVAL);
  expect_pair_closed(sv);
}

/* Calls on a finished response, in the thread that finished it before it
 * returned to the server: every one is refused. */
static void misuse_finished(mu_http_response_t *resp) {
  CHECK_EQ(mu_http_response_send(resp), -EINVAL);
  CHECK_EQ(mu_http_response_send_text(resp, 200, "again"), -EINVAL);
  CHECK_EQ(mu_http_response_begin(resp, NULL, NULL), -EINVAL);
  CHECK_EQ(mu_http_response_write(resp, "x", 1), -EINVAL);
  CHECK_EQ(mu_http_response_end(resp), -EINVAL);
  expect_building_calls_refused(resp);
}

/* Calls that do not belong to a stream once it has begun. */
static void misuse_streaming(mu_http_response_t *resp) {
  CHECK_EQ(mu_http_response_begin(resp, NULL, NULL), -EINVAL);
  CHECK_EQ(mu_http_response_send(resp), -EINVAL);
  CHECK_EQ(mu_http_response_send_text(resp, 200, "x"), -EINVAL);
  expect_building_calls_refused(resp);
}

static void misuse_in_worker(void *p) {
  mu_http_response_t *resp = p;
  misuse_building(resp);
  CHECK_EQ(mu_http_response_begin(resp, NULL, NULL), 0);
  misuse_streaming(resp);
  CHECK_EQ(mu_http_response_write(resp, "worker ", 7), 0);
  CHECK_EQ(mu_http_response_write(resp, "", 0), 0);
  CHECK_EQ(mu_http_response_write(resp, "misuse ok", 9), 0);
  CHECK_EQ(mu_http_response_end(resp), 0);
}

/* Responses parked by the handler for main() to finish after the client (or
 * the server) has gone. */
#define N_PARK 8
static _Atomic(mu_http_response_t *) g_parked[N_PARK];

/* ---- static files (part 5) --------------------------------------------------- */

static mu_http_static_t *g_static;   /* Host: s (openat2 where the kernel has it) */
static mu_http_static_t *g_fallback; /* Host: f (the component walk) */
static char g_dir[256];

static void write_file(const char *rel, const char *text) {
  char p[512];
  CHECK((size_t)snprintf(p, sizeof p, "%s/%s", g_dir, rel) < sizeof p);
  int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  CHECK(fd >= 0);
  CHECK_EQ(write(fd, text, strlen(text)), (long long)strlen(text));
  CHECK(close(fd) == 0);
}

static void make_dir(const char *rel) {
  char p[512];
  CHECK((size_t)snprintf(p, sizeof p, "%s/%s", g_dir, rel) < sizeof p);
  CHECK(mkdir(p, 0755) == 0);
}

static void make_docroot(void) {
  snprintf(g_dir, sizeof g_dir, "/tmp/cmuduo-paths-XXXXXX");
  CHECK(mkdtemp(g_dir) != NULL);
  write_file("a.txt", "file a\n");
  make_dir("dir with space");
  write_file("dir with space/index.html", "<p>space</p>\n");
  make_dir("d\xc3\xa9j\xc3\xa0"); /* "déjà" in UTF-8 */
  write_file("d\xc3\xa9j\xc3\xa0/index.html", "<p>deja</p>\n");
  make_dir("x");
  make_dir("x/y");
  write_file("x/y/z.txt", "deep\n");
  g_static = mu_http_static_new(g_dir);
  g_fallback = mu_http_static_new(g_dir);
  CHECK(g_static != NULL && g_fallback != NULL);
  mu_http_static_force_fallback(g_fallback);
}

static void remove_docroot(void) {
  mu_http_static_free(g_static);
  mu_http_static_free(g_fallback);
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
  CHECK(system(cmd) == 0);
}

/* ---- the handler --------------------------------------------------------------- */

static void finish_mem_in_worker(void *p) {
  mu_http_response_t *resp = p;
  append_pattern(resp, S_MEM, query_n(mu_http_response_request(resp)));
  CHECK_EQ(mu_http_response_send(resp), 0);
}

static void on_request(const mu_http_request_t *req, mu_http_response_t *resp,
                       void *arg) {
  (void)arg;
  const char *host = mu_http_request_header(req, "Host");
  if (host != NULL && strcmp(host, "s") == 0) {
    mu_http_static_serve(g_static, req, resp);
    return;
  }
  if (host != NULL && strcmp(host, "f") == 0) {
    mu_http_static_serve(g_fallback, req, resp);
    return;
  }
  const char *path = mu_http_request_path(req);
  size_t n = query_n(req);
  if (strcmp(path, "/mem") == 0) {
    append_pattern(resp, S_MEM, n);
    CHECK_EQ(mu_http_response_send(resp), 0);
  } else if (strcmp(path, "/close-mem") == 0) {
    mu_http_response_set_close(resp, true);
    append_pattern(resp, S_MEM, n);
    CHECK_EQ(mu_http_response_send(resp), 0);
  } else if (strcmp(path, "/amem") == 0) {
    ht_worker_post(&g_worker, finish_mem_in_worker, resp);
  } else if (strcmp(path, "/text") == 0) {
    char *t = make_text(0, n);
    CHECK_EQ(mu_http_response_send_text(resp, 200, t), 0);
    free(t);
  } else if (strcmp(path, "/mixed") == 0) {
    /* The first half from append_body, the rest from send_text. */
    char *t = make_text(0, n);
    CHECK_EQ(mu_http_response_append_body(resp, t, n / 2), 0);
    CHECK_EQ(mu_http_response_send_text(resp, 200, t + n / 2), 0);
    free(t);
  } else if (strcmp(path, "/swrite") == 0) {
    loop_stream_t *st = calloc(1, sizeof *st);
    CHECK(st != NULL);
    CHECK_EQ(mu_http_response_begin(resp, loop_drain, st), 0);
    loop_pump(resp, st);
  } else if (strcmp(path, "/wstream") == 0) {
    pthread_mutex_lock(&g_ws.mu);
    g_ws.resp = resp;
    pthread_mutex_unlock(&g_ws.mu);
    CHECK_EQ(mu_http_response_begin(resp, worker_drain, &g_ws), 0);
    ht_worker_post(&g_worker, worker_stream_run, &g_ws);
  } else if (strcmp(path, "/misuse") == 0) {
    misuse_building(resp);
    CHECK_EQ(mu_http_response_send_text(resp, 200, "misuse ok"), 0);
    misuse_finished(resp);
  } else if (strcmp(path, "/misuse-stream") == 0) {
    CHECK_EQ(mu_http_response_begin(resp, NULL, NULL), 0);
    misuse_streaming(resp);
    CHECK_EQ(mu_http_response_write(resp, "stream misuse ok", 16), 0);
    CHECK_EQ(mu_http_response_end(resp), 0);
    misuse_finished(resp);
  } else if (strcmp(path, "/misuse-worker") == 0) {
    ht_worker_post(&g_worker, misuse_in_worker, resp);
  } else if (strcmp(path, "/odd-status") == 0) {
    CHECK_EQ(mu_http_response_send_text(resp, 299, "odd\n"), 0); /* no standard reason */
  } else if (strcmp(path, "/park") == 0) {
    CHECK(n < N_PARK);
    atomic_store(&g_parked[n], resp);
  } else {
    CHECK_EQ(mu_http_response_send_text(resp, 200, mu_http_request_target(req)), 0);
  }
}

/* ---- a slow reader ---------------------------------------------------------------- */

/* Reads a response at a bounded rate: at most `step` bytes per read, with a
 * pause before each, until `slow_for` bytes have come (then at full speed). */
typedef struct sreader {
  int fd;
  size_t pos, len;
  uint64_t total;
  uint64_t slow_for;
  size_t step;
  int pause_ms;
  char buf[65536];
} sreader_t;

/* More bytes, or false at the end of the stream (or a reset). */
static bool sr_fill(sreader_t *r) {
  if (r->pos > 0) {
    memmove(r->buf, r->buf + r->pos, r->len - r->pos);
    r->len -= r->pos;
    r->pos = 0;
  }
  CHECK(r->len < sizeof r->buf);
  size_t room = sizeof r->buf - r->len;
  if (r->total < r->slow_for) {
    if (room > r->step)
      room = r->step;
    tt_sleep_ms(r->pause_ms);
  }
  ssize_t n = tt_read_some(r->fd, r->buf + r->len, room);
  if (n <= 0)
    return false;
  r->len += (size_t)n;
  r->total += (uint64_t)n;
  return true;
}

/* One CRLF-terminated line (without it); false at the end of the stream. */
static bool sr_line(sreader_t *r, char *line, size_t cap) {
  for (;;) {
    char *e = memmem(r->buf + r->pos, r->len - r->pos, "\r\n", 2);
    if (e != NULL) {
      size_t n = (size_t)(e - (r->buf + r->pos));
      CHECK(n < cap);
      memcpy(line, r->buf + r->pos, n);
      line[n] = '\0';
      r->pos += n + 2;
      return true;
    }
    if (!sr_fill(r))
      return false;
  }
}

/* The head into h->head (for ht_header) and h->status. */
static void sr_head(sreader_t *r, ht_resp_t *h) {
  memset(h, 0, sizeof *h);
  size_t used = 0;
  for (;;) {
    char line[1024];
    CHECK(sr_line(r, line, sizeof line));
    if (line[0] == '\0')
      break;
    size_t n = strlen(line);
    CHECK(used + n + 3 < sizeof h->head);
    memcpy(h->head + used, line, n);
    memcpy(h->head + used + n, "\r\n", 3);
    used += n + 2;
  }
  CHECK(strncmp(h->head, "HTTP/1.1 ", 9) == 0);
  h->status = atoi(h->head + 9);
}

/* n body bytes checked against the pattern from *off; returns how many came
 * before the end of the stream. */
static size_t sr_body(sreader_t *r, uint64_t stream, uint64_t *off, size_t n) {
  size_t got = 0;
  while (got < n) {
    if (r->pos == r->len && !sr_fill(r))
      break;
    size_t k = r->len - r->pos < n - got ? r->len - r->pos : n - got;
    if (tt_pattern_check(stream, *off, r->buf + r->pos, k) != k) {
      fprintf(stderr, "body byte wrong near offset %llu\n", (unsigned long long)*off);
      abort();
    }
    r->pos += k;
    *off += k;
    got += k;
  }
  return got;
}

/* A chunked body checked against the pattern; returns its length, or the
 * negative count received when the stream ended early. */
static long long sr_chunked(sreader_t *r, uint64_t stream) {
  uint64_t off = 0;
  for (;;) {
    char line[64];
    if (!sr_line(r, line, sizeof line))
      return -(long long)off;
    size_t n = (size_t)strtoull(line, NULL, 16);
    if (n == 0) {
      CHECK(sr_line(r, line, sizeof line) && line[0] == '\0');
      return (long long)off;
    }
    if (sr_body(r, stream, &off, n) < n)
      return -(long long)off;
    CHECK(sr_line(r, line, sizeof line) && line[0] == '\0');
  }
}

/* The listener's SO_SNDBUF, inherited by the sockets it accepts: the kernel
 * takes a few KiB, the rest of a big response waits in the server. */
static void shrink_sndbuf(uint16_t port) {
  tt_server_t fake;
  memset(&fake, 0, sizeof fake);
  fake.port = port;
  tt_server_shrink_sndbuf(&fake, 16 * 1024);
}

static void send_str(int fd, const char *s) {
  tt_write_all(fd, s, strlen(s));
}

/* ---- part 1: bodies past the inline limit ---------------------------------------- */

static void expect_mem(ht_client_t *c, const char *path, size_t n) {
  char req[128];
  snprintf(req, sizeof req, "GET %s?n=%zu HTTP/1.1\r\nHost: t\r\n\r\n", path, n);
  ht_resp_t r;
  CHECK_EQ(ht_roundtrip(c, req, &r), 200);
  CHECK(!r.chunked);
  CHECK_EQ(r.body_len, n);
  CHECK_EQ(strtoull(ht_header(&r, "Content-Length"), NULL, 10), n);
  CHECK_EQ(tt_pattern_check(S_MEM, 0, r.body, n), n);
  ht_resp_free(&r);
}

static void expect_text(ht_client_t *c, const char *path, size_t n) {
  char req[128];
  snprintf(req, sizeof req, "GET %s?n=%zu HTTP/1.1\r\nHost: t\r\n\r\n", path, n);
  ht_resp_t r;
  CHECK_EQ(ht_roundtrip(c, req, &r), 200);
  CHECK_STREQ(ht_header(&r, "Content-Type"), "text/plain");
  CHECK_EQ(r.body_len, n);
  CHECK(text_ok(r.body, n));
  ht_resp_free(&r);
}

static void expect_small(ht_client_t *c, const char *target) {
  ht_resp_t r;
  CHECK(ht_read_response(c, &r, false));
  CHECK_EQ(r.status, 200);
  CHECK_STREQ(r.body, target);
  ht_resp_free(&r);
}

static void test_big_bodies(uint16_t port) {
  static const size_t sizes[] = {INLINE_MAX - 1, INLINE_MAX, INLINE_MAX + 1, MIB,
                                 3 * MIB + 5};
  ht_client_t *c = ht_connect(port);
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; ++i) {
    expect_mem(c, "/mem", sizes[i]);
    expect_mem(c, "/amem", sizes[i]);
    expect_text(c, "/text", sizes[i]);
    expect_text(c, "/mixed", sizes[i]);
  }
  /* HEAD: the length of the big body, no body. */
  ht_resp_t r;
  CHECK_EQ(ht_roundtrip(c, "HEAD /mem?n=1048576 HTTP/1.1\r\nHost: t\r\n\r\n", &r), 200);
  CHECK_STREQ(ht_header(&r, "Content-Length"), "1048576");
  ht_resp_free(&r);
  /* Pipelined behind big bodies, from the loop and from the worker: in order. */
  ht_send(c,
          "GET /mem?n=1048576 HTTP/1.1\r\nHost: t\r\n\r\n"
          "GET /small/1 HTTP/1.1\r\nHost: t\r\n\r\n"
          "GET /text?n=200000 HTTP/1.1\r\nHost: t\r\n\r\n"
          "GET /small/2 HTTP/1.1\r\nHost: t\r\n\r\n"
          "GET /amem?n=300000 HTTP/1.1\r\nHost: t\r\n\r\n"
          "GET /small/3 HTTP/1.1\r\nHost: t\r\n\r\n");
  CHECK(ht_read_response(c, &r, false));
  CHECK_EQ(r.body_len, MIB);
  CHECK_EQ(tt_pattern_check(S_MEM, 0, r.body, r.body_len), MIB);
  ht_resp_free(&r);
  expect_small(c, "/small/1");
  CHECK(ht_read_response(c, &r, false));
  CHECK_EQ(r.body_len, 200000);
  CHECK(text_ok(r.body, r.body_len));
  ht_resp_free(&r);
  expect_small(c, "/small/2");
  CHECK(ht_read_response(c, &r, false));
  CHECK_EQ(r.body_len, 300000);
  CHECK_EQ(tt_pattern_check(S_MEM, 0, r.body, r.body_len), 300000);
  ht_resp_free(&r);
  expect_small(c, "/small/3");
  ht_close(c);
}

static void test_big_writes(uint16_t port) {
  ht_client_t *c = ht_connect(port);
  ht_resp_t r;
  for (int round = 0; round < 2; ++round) {
    CHECK_EQ(ht_roundtrip(c, "GET /swrite HTTP/1.1\r\nHost: t\r\n\r\n", &r), 200);
    CHECK(r.chunked);
    CHECK_EQ(r.body_len, plan_total());
    CHECK_EQ(tt_pattern_check(S_SWRITE, 0, r.body, r.body_len), plan_total());
    ht_resp_free(&r);
  }
  /* Pipelined behind a stream. */
  ht_send(c,
          "GET /swrite HTTP/1.1\r\nHost: t\r\n\r\n"
          "GET /small/4 HTTP/1.1\r\nHost: t\r\n\r\n");
  CHECK(ht_read_response(c, &r, false));
  CHECK_EQ(r.body_len, plan_total());
  CHECK_EQ(tt_pattern_check(S_SWRITE, 0, r.body, r.body_len), plan_total());
  ht_resp_free(&r);
  expect_small(c, "/small/4");
  /* HTTP/1.0: no chunks; the close ends the body. */
  CHECK_EQ(ht_roundtrip(c, "GET /swrite HTTP/1.0\r\n\r\n", &r), 200);
  CHECK(!r.chunked);
  CHECK_STREQ(ht_header(&r, "Connection"), "close");
  CHECK_EQ(r.body_len, plan_total());
  CHECK_EQ(tt_pattern_check(S_SWRITE, 0, r.body, r.body_len), plan_total());
  ht_resp_free(&r);
  ht_expect_closed(c);
  ht_close(c);
}

/* ---- part 2: a worker's stream with drain ---------------------------------------- */

static void test_worker_stream(uint16_t port, uint64_t seed) {
  size_t total = (TT_SANITIZED ? 3 : 6) * MIB;
  pthread_mutex_lock(&g_ws.mu);
  g_ws.resp = NULL;
  g_ws.seed = seed;
  g_ws.total = total;
  g_ws.ones = g_ws.drains = g_ws.big = 0;
  atomic_store(&g_ws.done, 0);
  pthread_mutex_unlock(&g_ws.mu);
  sreader_t *rd = calloc(1, sizeof *rd);
  CHECK(rd != NULL);
  rd->fd = tt_connect_timeout(port, TT_IO_TIMEOUT_S, 32 * 1024);
  rd->slow_for = MIB; /* slowly at first: the output backs up */
  rd->step = 4096;
  rd->pause_ms = 1;
  send_str(rd->fd, "GET /wstream HTTP/1.1\r\nHost: t\r\n\r\n");
  /* Not a byte read until the output has passed the mark (the kernel's
   * buffers are small: see shrink_sndbuf). */
  pthread_mutex_lock(&g_ws.mu);
  for (double deadline = tt_now() + 60; g_ws.ones == 0 && tt_now() < deadline;) {
    pthread_mutex_unlock(&g_ws.mu);
    tt_sleep_ms(5);
    pthread_mutex_lock(&g_ws.mu);
  }
  CHECK(g_ws.ones > 0);
  pthread_mutex_unlock(&g_ws.mu);
  ht_resp_t h;
  sr_head(rd, &h);
  CHECK_EQ(h.status, 200);
  CHECK_STREQ(ht_header(&h, "Transfer-Encoding"), "chunked");
  long long got = sr_chunked(rd, S_WSTREAM);
  if (got != (long long)total) {
    fprintf(stderr, "worker stream: %lld of %zu bytes\n", got, total);
    abort();
  }
  for (int i = 0; i < 30000 && !atomic_load(&g_ws.done); ++i)
    tt_sleep_ms(1);
  CHECK(atomic_load(&g_ws.done));
  pthread_mutex_lock(&g_ws.mu);
  int ones = g_ws.ones, drains = g_ws.drains, big = g_ws.big;
  pthread_mutex_unlock(&g_ws.mu);
  printf(
      "  worker stream of %zu bytes: write() returned 1 %d times, drain called %d "
      "times, %d writes past 64 KiB\n",
      total, ones, drains, big);
  CHECK(ones > 0);
  CHECK(big > 0);
  CHECK_EQ(drains, ones); /* once per 1, never unasked */
  /* The connection goes on. */
  send_str(rd->fd, "GET /small/5 HTTP/1.1\r\nHost: t\r\n\r\n");
  sr_head(rd, &h);
  CHECK_EQ(h.status, 200);
  CHECK_STREQ(ht_header(&h, "Content-Length"), "8");
  char body[9];
  while (rd->len - rd->pos < 8)
    CHECK(sr_fill(rd));
  memcpy(body, rd->buf + rd->pos, 8);
  body[8] = '\0';
  CHECK_STREQ(body, "/small/5");
  close(rd->fd);
  free(rd);
}

/* ---- part 3: bad calls ------------------------------------------------------------ */

static void test_misuse(uint16_t port) {
  ht_client_t *c = ht_connect(port);
  ht_resp_t r;
  CHECK_EQ(ht_roundtrip(c, "GET /misuse HTTP/1.1\r\nHost: t\r\n\r\n", &r), 200);
  CHECK_STREQ(r.body, "bodymisuse ok"); /* append_body's, then send_text's */
  CHECK(ht_header(&r, "X-Late") == NULL);
  CHECK(strncmp(r.head, "HTTP/1.1 200 OK\r\n", 17) == 0);
  ht_resp_free(&r);
  CHECK_EQ(ht_roundtrip(c, "GET /misuse-stream HTTP/1.1\r\nHost: t\r\n\r\n", &r), 200);
  CHECK_STREQ(r.body, "stream misuse ok");
  CHECK(ht_header(&r, "X-Late") == NULL);
  ht_resp_free(&r);
  CHECK_EQ(ht_roundtrip(c, "GET /odd-status HTTP/1.1\r\nHost: t\r\n\r\n", &r), 299);
  CHECK(strncmp(r.head, "HTTP/1.1 299 \r\n", 15) == 0);
  CHECK_STREQ(r.body, "odd\n");
  ht_resp_free(&r);
  CHECK_EQ(ht_roundtrip(c, "GET /misuse-worker HTTP/1.1\r\nHost: t\r\n\r\n", &r), 200);
  CHECK_STREQ(r.body, "worker misuse ok");
  CHECK(ht_header(&r, "X-Late") == NULL);
  ht_resp_free(&r);
  ht_close(c);
}

/* Sends GET /park?n=slot on a new connection and waits for the handler to
 * park the response. */
static ht_client_t *park(uint16_t port, int slot) {
  atomic_store(&g_parked[slot], NULL);
  ht_client_t *c = ht_connect(port);
  char req[64];
  snprintf(req, sizeof req, "GET /park?n=%d HTTP/1.1\r\nHost: t\r\n\r\n", slot);
  ht_send(c, req);
  for (int i = 0; i < 30000 && atomic_load(&g_parked[slot]) == NULL; ++i)
    tt_sleep_ms(1);
  CHECK(atomic_load(&g_parked[slot]) != NULL);
  return c;
}

static void gone_stream_in_loop(void *p) {
  mu_http_response_t *resp = p;
  CHECK_EQ(mu_http_response_begin(resp, NULL, NULL), 0);
  CHECK_EQ(mu_http_response_write(resp, "x", 1), -ECONNRESET);
  CHECK_EQ(mu_http_response_end(resp), -ECONNRESET);
}

static void gone_send_file_in_loop(void *p) {
  mu_http_response_t *resp = p;
  int sv[2];
  make_pair(sv);
  CHECK_EQ(mu_http_response_send_file(resp, sv[0], 0, 10), 0);
  expect_pair_closed(sv);
}

/* The client goes away (a reset: a FIN alone is a half-close, which the
 * server answers) while its response is parked; then the response is used
 * from main() (another thread) and from the loop. */
static void test_client_gone(void) {
  ht_server_t s;
  ht_server_start(&s, 0, on_request, NULL, NULL, NULL);
  ht_client_t *c[4];
  for (int i = 0; i < 4; ++i)
    c[i] = park(s.port, i);
  for (int i = 0; i < 4; ++i) {
    tt_close_with_rst(c[i]->fd);
    c[i]->fd = -1;
    ht_close(c[i]);
  }
  CHECK_EQ(ht_server_wait_connections(&s, 0, 30), 0);
  /* From another thread. */
  int sv[2];
  make_pair(sv);
  CHECK_EQ(mu_http_response_send_file(atomic_load(&g_parked[0]), sv[0], 0, 10), 0);
  expect_pair_closed(sv);
  mu_http_response_t *resp = atomic_load(&g_parked[1]);
  CHECK_EQ(mu_http_response_begin(resp, NULL, NULL), 0);
  CHECK_EQ(mu_http_response_write(resp, "x", 1), -ECONNRESET);
  CHECK_EQ(mu_http_response_end(resp), -ECONNRESET);
  /* In the loop. */
  tt_run_sync(s.loop, gone_stream_in_loop, atomic_load(&g_parked[2]));
  tt_run_sync(s.loop, gone_send_file_in_loop, atomic_load(&g_parked[3]));
  ht_server_stop(&s);
  printf("  calls after the client has gone: OK\n");
}

/* The server is freed while responses are parked. */
static void test_server_gone(int threads) {
  ht_server_t s;
  ht_server_start(&s, threads, on_request, NULL, NULL, NULL);
  ht_client_t *c[3];
  for (int i = 0; i < 3; ++i)
    c[i] = park(s.port, 4 + i);
  ht_server_stop(&s);
  mu_http_response_t *resp = atomic_load(&g_parked[4]);
  CHECK_EQ(mu_http_response_begin(resp, NULL, NULL), 0);
  CHECK_EQ(mu_http_response_write(resp, "x", 1), -ECONNRESET);
  CHECK_EQ(mu_http_response_end(resp), -ECONNRESET);
  CHECK_EQ(mu_http_response_append_body(atomic_load(&g_parked[5]), "x", 1), 0);
  CHECK_EQ(mu_http_response_send(atomic_load(&g_parked[5])), 0);
  int sv[2];
  make_pair(sv);
  CHECK_EQ(mu_http_response_send_file(atomic_load(&g_parked[6]), sv[0], 0, 10), 0);
  expect_pair_closed(sv);
  for (int i = 0; i < 3; ++i)
    ht_close(c[i]);
  printf("  calls after the server was freed (threads=%d): OK\n", threads);
}

/* ---- part 4: closing and lingering ------------------------------------------------ */

#define SLOW_MARK (64u * 1024)

static void setup_slow(mu_http_server_t *server, void *arg) {
  (void)arg;
  mu_http_server_set_idle_timeout(server, 1.0);
  mu_http_server_set_high_water_mark(server, SLOW_MARK);
}

/* A stream written from the loop in 16 KiB pieces (pattern S_SLOW). */
static void slow_pump(mu_http_response_t *resp, void *arg) {
  size_t *off = arg;
  const size_t total = 3 * MIB;
  char piece[16384];
  while (*off < total) {
    tt_pattern_fill(S_SLOW, *off, piece, sizeof piece);
    int rc = mu_http_response_write(resp, piece, sizeof piece);
    if (rc < 0) { /* the server gave up on the client: the reader says so */
      CHECK_EQ(rc, -ECONNRESET);
      break;
    }
    *off += sizeof piece;
    if (rc == 1)
      return;
  }
  free(off);
  mu_http_response_end(resp);
}

static void on_slow_request(const mu_http_request_t *req, mu_http_response_t *resp,
                            void *arg) {
  if (strcmp(mu_http_request_path(req), "/slow-stream") == 0) {
    size_t *off = calloc(1, sizeof *off);
    CHECK(off != NULL);
    CHECK_EQ(mu_http_response_begin(resp, slow_pump, off), 0);
    slow_pump(resp, off);
    return;
  }
  on_request(req, resp, arg);
}

/* Reads everything up to the end of the stream (or a reset); returns what
 * came, NUL-terminated. */
static char *read_rest(int fd, long *len) {
  size_t cap = 8 * MIB;
  char *buf = malloc(cap + 1);
  CHECK(buf != NULL);
  long n = tt_read_until_eof(fd, buf, cap);
  CHECK(n >= 0 || n == -ECONNRESET);
  if (n < 0)
    n = 0; /* reset: what was read is lost with it; the close is what counts */
  buf[n < (long)cap ? n : (long)cap] = '\0';
  *len = n;
  return buf;
}

static void test_linger(void) {
  ht_server_t s;
  ht_server_start(&s, 0, on_slow_request, NULL, setup_slow, NULL);
  shrink_sndbuf(s.port);
  /* x: a bad request, answered with 400 and a close the peer never returns. */
  int x = tt_connect_timeout(s.port, TT_IO_TIMEOUT_S, 0);
  send_str(x, "NONSENSE\r\n\r\n");
  /* z: a 4 MiB Connection: close response it never reads. */
  int z = tt_connect_timeout(s.port, TT_IO_TIMEOUT_S, 16 * 1024);
  send_str(z, "GET /close-mem?n=4194304 HTTP/1.1\r\nHost: t\r\n\r\n");
  /* y is served all along. */
  ht_client_t *y = ht_connect(s.port);
  CHECK_EQ(ht_server_wait_connections(&s, 3, 30), 3);
  double deadline = tt_now() + 60;
  int served = 0;
  size_t left = 3;
  while ((left = ht_server_wait_connections(&s, 1, 0)) != 1 && tt_now() < deadline) {
    char target[32], req[96];
    snprintf(target, sizeof target, "/y/%d", served);
    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", target);
    ht_resp_t r;
    CHECK_EQ(ht_roundtrip(y, req, &r), 200);
    CHECK_STREQ(r.body, target);
    ht_resp_free(&r);
    ++served;
    tt_sleep_ms(20);
  }
  CHECK_EQ(left, 1);
  printf("  lingering peers closed by the server; %d requests served meanwhile\n",
         served);
  long n;
  char *got = read_rest(x, &n);
  CHECK(n == 0 || strncmp(got, "HTTP/1.1 400 ", 13) == 0);
  free(got);
  got = read_rest(z, &n);
  CHECK(n == 0 || strncmp(got, "HTTP/1.1 200 ", 13) == 0);
  free(got);
  close(x);
  close(z);
  ht_close(y);
  ht_server_stop(&s);
}

enum { SLOW_CLOSE, SLOW_STREAM, SLOW_KEEP };
static const char *const k_slow_what[] = {"Connection: close body", "stream",
                                          "keep-alive body"};

typedef struct slow_job {
  uint16_t port;
  int kind;
  long long got;
  long long want;
} slow_job_t;

/* 16 KiB every 20 ms: a body takes longer than the linger (5 s) or the idle
 * timeout (1 s), and bytes keep leaving all the time. */
static void *slow_reader_main(void *p) {
  slow_job_t *j = p;
  sreader_t *rd = calloc(1, sizeof *rd);
  CHECK(rd != NULL);
  rd->fd = tt_connect_timeout(j->port, TT_IO_TIMEOUT_S, 16 * 1024);
  rd->slow_for = UINT64_MAX;
  rd->step = 16384;
  rd->pause_ms = 20;
  static const char *const reqs[] = {
      "GET /close-mem?n=6291456 HTTP/1.1\r\nHost: t\r\n\r\n",
      "GET /slow-stream HTTP/1.1\r\nHost: t\r\n\r\n",
      "GET /mem?n=3145728 HTTP/1.1\r\nHost: t\r\n\r\n",
  };
  send_str(rd->fd, reqs[j->kind]);
  ht_resp_t h;
  sr_head(rd, &h);
  CHECK_EQ(h.status, 200);
  uint64_t off = 0;
  if (j->kind == SLOW_STREAM) {
    j->want = 3 * MIB;
    j->got = sr_chunked(rd, S_SLOW);
  } else {
    j->want = j->kind == SLOW_CLOSE ? 6 * MIB : 3 * MIB;
    CHECK_EQ(strtoull(ht_header(&h, "Content-Length"), NULL, 10), (uint64_t)j->want);
    j->got = (long long)sr_body(rd, S_MEM, &off, (size_t)j->want);
  }
  rd->slow_for = 0;
  if (j->got == j->want && j->kind == SLOW_CLOSE) {
    CHECK(!sr_fill(rd)); /* then the close */
  } else if (j->got == j->want) {
    /* Kept alive all along: one more request. */
    send_str(rd->fd, "GET /small/6 HTTP/1.1\r\nHost: t\r\n\r\n");
    sr_head(rd, &h);
    CHECK_EQ(h.status, 200);
    CHECK_STREQ(ht_header(&h, "Content-Length"), "8");
    while (rd->len - rd->pos < 8)
      CHECK(sr_fill(rd));
    CHECK(memcmp(rd->buf + rd->pos, "/small/6", 8) == 0);
  }
  close(rd->fd);
  free(rd);
  return NULL;
}

static void test_slow_readers(void) {
  ht_server_t s;
  ht_server_start(&s, 0, on_slow_request, NULL, setup_slow, NULL);
  shrink_sndbuf(s.port);
  slow_job_t jobs[3];
  pthread_t t[3];
  for (int i = 0; i < 3; ++i) {
    jobs[i] = (slow_job_t){s.port, i, 0, 0};
    CHECK_EQ(pthread_create(&t[i], NULL, slow_reader_main, &jobs[i]), 0);
  }
  for (int i = 0; i < 3; ++i)
    CHECK_EQ(pthread_join(t[i], NULL), 0);
  int failed = 0;
  for (int i = 0; i < 3; ++i) {
    if (jobs[i].got != jobs[i].want) {
      fprintf(stderr, "slow reader of a %s: %lld of %lld bytes, then the server closed\n",
              k_slow_what[i], jobs[i].got < 0 ? -jobs[i].got : jobs[i].got, jobs[i].want);
      ++failed;
    }
  }
  CHECK_EQ(failed, 0);
  CHECK_EQ(ht_server_wait_connections(&s, 0, 30), 0);
  ht_server_stop(&s);
  printf("  slow steady readers got every byte\n");
}

/* ---- part 5: static files -----------------------------------------------------------
 */

static void expect_status(ht_client_t *c, const char *req, int status, const char *body) {
  ht_resp_t r;
  int got = ht_roundtrip(c, req, &r);
  if (got != status || (body != NULL && strcmp(r.body, body) != 0)) {
    fprintf(stderr, "%s-> %d %s (wanted %d %s)\n", req, got, r.body, status,
            body ? body : "");
    abort();
  }
  ht_resp_free(&r);
}

static void expect_redirect(ht_client_t *c, const char *req, const char *location) {
  ht_resp_t r;
  CHECK_EQ(ht_roundtrip(c, req, &r), 301);
  CHECK_STREQ(ht_header(&r, "Location"), location);
  ht_resp_free(&r);
}

static void test_static(uint16_t port) {
  ht_client_t *c = ht_connect(port);
  char longname[300]; /* a directory name longer than NAME_MAX */
  memset(longname, 'n', sizeof longname - 1);
  longname[sizeof longname - 1] = '\0';
  for (char host = 's'; host != 0; host = host == 's' ? 'f' : 0) {
    char req[512];
    snprintf(req, sizeof req,
             "GET /dir%%20with%%20space?q=1 HTTP/1.1\r\nHost: %c\r\n\r\n", host);
    expect_redirect(c, req, "/dir%20with%20space/?q=1");
    snprintf(req, sizeof req, "GET /dir%%20with%%20space/ HTTP/1.1\r\nHost: %c\r\n\r\n",
             host);
    expect_status(c, req, 200, "<p>space</p>\n");
    snprintf(req, sizeof req, "GET /d%%c3%%a9j%%c3%%a0 HTTP/1.1\r\nHost: %c\r\n\r\n",
             host);
    expect_redirect(c, req, "/d%C3%A9j%C3%A0/");
    snprintf(req, sizeof req, "GET /d%%C3%%A9j%%C3%%A0/ HTTP/1.1\r\nHost: %c\r\n\r\n",
             host);
    expect_status(c, req, 200, "<p>deja</p>\n");
    snprintf(req, sizeof req, "GET /x/y/z.txt HTTP/1.1\r\nHost: %c\r\n\r\n", host);
    expect_status(c, req, 200, "deep\n");
    snprintf(req, sizeof req, "GET /%s/z.txt HTTP/1.1\r\nHost: %c\r\n\r\n", longname,
             host);
    expect_status(c, req, 404, "404 Not Found\n");
  }
  /* No descriptor left: every open fails with EMFILE, which is the server's
   * trouble (500), not the client's; the connection goes on. */
  static const char *const reqs[] = {
      "GET /a.txt HTTP/1.1\r\nHost: s\r\n\r\n",
      "GET /dir%20with%20space/ HTTP/1.1\r\nHost: s\r\n\r\n",
      "GET /a.txt HTTP/1.1\r\nHost: f\r\n\r\n",
      "GET /x/y/z.txt HTTP/1.1\r\nHost: f\r\n\r\n",
  };
  struct rlimit saved, none;
  CHECK(getrlimit(RLIMIT_NOFILE, &saved) == 0);
  int lowest = dup(0);
  CHECK(lowest >= 0);
  close(lowest);
  /* Below the lowest free number every descriptor is taken: no new one fits
   * under this limit (the ones open above it stay open). */
  none = saved;
  none.rlim_cur = (rlim_t)lowest;
  CHECK(setrlimit(RLIMIT_NOFILE, &none) == 0);
  for (size_t i = 0; i < 4; ++i)
    expect_status(c, reqs[i], 500, "500 Internal Server Error\n");
  CHECK(setrlimit(RLIMIT_NOFILE, &saved) == 0);
  expect_status(c, reqs[0], 200, "file a\n");
  expect_status(c, reqs[3], 200, "deep\n");
  ht_close(c);
  printf("  static: 500 at the descriptor limit, escaped directory redirects: OK\n");
}

/* Output above this makes write() return 1: a stream of a few MiB meets it
 * many times. */
static void setup_main(mu_http_server_t *server, void *arg) {
  (void)arg;
  mu_http_server_set_high_water_mark(server, 256 * 1024);
}

/* A small mark: the worker stream stops and drains hundreds of times. */
static void setup_drain(mu_http_server_t *server, void *arg) {
  (void)arg;
  mu_http_server_set_high_water_mark(server, 16 * 1024);
  /* Limits past the largest input cap: the server keeps the cap at that. */
  mu_http_limits_t limits = mu_http_limits_default();
  limits.max_header_bytes = 2 * (size_t)MU_TCP_DEFAULT_INPUT_CAP;
  mu_http_server_set_limits(server, &limits);
}

int main(void) {
  tt_init("http_server_paths", 280);
  uint64_t seed = tt_seed((uint64_t)time(NULL)); /* piece sizes of the worker stream */
  pthread_mutex_init(&g_ws.mu, NULL);
  pthread_cond_init(&g_ws.cv, NULL);
  ht_worker_start(&g_worker);
  make_docroot();
  for (int threads = 0; threads <= 1; ++threads) {
    ht_server_t s;
    ht_server_start(&s, threads, on_request, NULL, setup_main, NULL);
    test_big_bodies(s.port);
    test_big_writes(s.port);
    test_misuse(s.port);
    if (threads == 0)
      test_static(s.port);
    CHECK_EQ(ht_server_wait_connections(&s, 0, 30), 0);
    ht_server_stop(&s);
    ht_server_start(&s, threads, on_request, NULL, setup_drain, NULL);
    shrink_sndbuf(s.port);
    for (int round = 0; round < (TT_SANITIZED ? 4 : 8); ++round)
      test_worker_stream(s.port, seed + (uint64_t)(threads * 100 + round));
    CHECK_EQ(ht_server_wait_connections(&s, 0, 30), 0);
    ht_server_stop(&s);
    printf("  threads=%d: big bodies, big writes, worker stream, misuse: OK\n", threads);
  }
  test_client_gone();
  test_server_gone(0);
  test_server_gone(2);
  test_linger();
  test_slow_readers();
  ht_worker_stop(&g_worker);
  remove_docroot();
  pthread_mutex_destroy(&g_ws.mu);
  pthread_cond_destroy(&g_ws.cv);
  printf("http_server_paths: OK\n");
  return 0;
}
