/* HTTP request parser and memory: one allocation per ordinary request, none
 * per byte however the bytes are split, a few per body (doubling), nothing
 * held by an idle parser, every allocation bounded by the limits (a body is
 * not allocated before it arrives), and each allocation failure reported as
 * 500 without a leak, at every allocation of a varied stream. */
#include "cmuduo/base/alloc.h"
#include "cmuduo/http/http_parser.h"
#include "test_http_parser_util.h"
#include "test_util.h"

static size_t g_allocs;   /* malloc and realloc calls that succeeded */
static long g_live;       /* blocks allocated and not freed */
static size_t g_max_size; /* the largest block asked for */
static long g_fail_at;    /* the allocation call (1-based) to fail; 0: none */
static long g_calls;

static bool should_fail(size_t n) {
  g_calls++;
  if (n > g_max_size)
    g_max_size = n;
  return g_fail_at != 0 && g_calls == g_fail_at;
}

static void *count_malloc(size_t n) {
  if (should_fail(n))
    return NULL;
  void *p = malloc(n);
  if (p != NULL) {
    g_allocs++;
    g_live++;
  }
  return p;
}

static void *count_realloc(void *old, size_t n) {
  if (should_fail(n))
    return NULL;
  void *p = realloc(old, n);
  if (p != NULL) {
    g_allocs++;
    if (old == NULL)
      g_live++;
  }
  return p;
}

static void count_free(void *p) {
  if (p != NULL)
    g_live--;
  free(p);
}

static void reset_counts(void) {
  g_allocs = 0;
  g_max_size = 0;
  g_calls = 0;
  g_fail_at = 0;
}

/* Feeds in[0, n) in pieces of `piece` bytes (0: whole), freeing each request;
 * returns the number of requests, or -status on error. Checks that the
 * parser holds no memory whenever it is idle. */
static int feed(mu_http_parser_t *p, const char *in, size_t n, size_t piece) {
  int requests = 0;
  size_t sent = 0, have = 0;
  char *pending = malloc(n + 1);
  CHECK(pending != NULL);
  while (sent < n) {
    size_t k = piece == 0 || piece > n - sent ? n - sent : piece;
    memcpy(pending + have, in + sent, k);
    have += k;
    sent += k;
    for (;;) {
      size_t used;
      mu_http_parse_result_t rc = mu_http_parser_execute(p, pending, have, &used);
      memmove(pending, pending + used, have - used);
      have -= used;
      if (rc == MU_HTTP_NEED_MORE)
        break;
      if (rc == MU_HTTP_ERROR) {
        free(pending);
        return -mu_http_parser_error_status(p);
      }
      if (rc == MU_HTTP_REQUEST_DONE) {
        mu_http_request_free(mu_http_parser_take_request(p));
        requests++;
        if (mu_http_parser_idle(p))
          CHECK_EQ(g_live, 0);
      }
    }
  }
  free(pending);
  return requests;
}

static char *repeat_requests(const char *fmt, int count, size_t *len) {
  size_t cap = (size_t)count * 256 + 64, off = 0;
  char *s = malloc(cap);
  CHECK(s != NULL);
  for (int i = 0; i < count; i++) {
    off += (size_t)snprintf(s + off, cap - off, fmt, i);
  }
  *len = off;
  return s;
}

static void test_one_allocation_per_request(void) {
  size_t len;
  char *in = repeat_requests(
      "GET /item/%d?x=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: test/1.0\r\n"
      "Accept: */*\r\nAccept-Encoding: gzip, deflate\r\nCookie: session=abcdef\r\n\r\n",
      100, &len);
  static const size_t pieces[] = {0, 1, 7, 100, 4096};
  for (size_t i = 0; i < sizeof pieces / sizeof pieces[0]; i++) {
    mu_http_parser_t p;
    mu_http_parser_init(&p, NULL);
    reset_counts();
    CHECK_EQ(feed(&p, in, len, pieces[i]), 100);
    if (g_allocs > 100) {
      fprintf(stderr, "piece %zu: %zu allocations for 100 requests\n", pieces[i],
              g_allocs);
    }
    printf("100 GETs in pieces of %zu: %zu allocations\n", pieces[i], g_allocs);
    CHECK(g_allocs <= 100); /* the head block, sized once */
    CHECK_EQ(g_live, 0);
    mu_http_parser_destroy(&p);
  }
  free(in);
  /* a large head fed in small pieces grows by doubling, not per piece */
  char big[12000];
  int n = snprintf(big, sizeof big, "GET / HTTP/1.1\r\nHost: h\r\n");
  for (int i = 0; i < 99; i++) { /* with Host: the 100 fields allowed */
    n += snprintf(big + n, sizeof big - (size_t)n, "X-%03d: %0100d\r\n", i, i);
  }
  n += snprintf(big + n, sizeof big - (size_t)n, "\r\n");
  for (size_t piece = 1; piece <= 64; piece *= 4) {
    mu_http_parser_t p;
    mu_http_parser_init(&p, NULL);
    reset_counts();
    CHECK_EQ(feed(&p, big, (size_t)n, piece), 1);
    printf("11 KB head in pieces of %zu: %zu allocations\n", piece, g_allocs);
    CHECK(g_allocs <= 8);
    mu_http_parser_destroy(&p);
  }
}

static void test_body_allocations(void) {
  size_t body = 100 * 1000;
  char *in = malloc(body + 256);
  CHECK(in != NULL);
  int h = snprintf(in, 256, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: %zu\r\n\r\n",
                   body);
  memset(in + h, 'b', body);
  for (size_t piece = 1; piece <= 1000; piece *= 10) {
    mu_http_parser_t p;
    mu_http_parser_init(&p, NULL);
    reset_counts();
    CHECK_EQ(feed(&p, in, (size_t)h + body, piece), 1);
    printf("100 KB body in pieces of %zu: %zu allocations\n", piece, g_allocs);
    CHECK(g_allocs <= 1 + 6); /* head + 4 KiB doubled to 100 KB */
    CHECK(g_max_size <= body + 1);
    mu_http_parser_destroy(&p);
  }
  free(in);

  /* a chunked body of 1-byte chunks: chunk lines cost no allocation */
  size_t chunks = 20000, cap = chunks * 6 + 256, off;
  in = malloc(cap);
  CHECK(in != NULL);
  off = (size_t)snprintf(
      in, cap, "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n");
  for (size_t i = 0; i < chunks; i++) {
    memcpy(in + off, "1\r\nx\r\n", 6);
    off += 6;
  }
  off += (size_t)snprintf(in + off, cap - off, "0\r\nT: 1\r\n\r\n");
  static const size_t pieces[] = {0, 1, 5, 4096};
  for (size_t i = 0; i < sizeof pieces / sizeof pieces[0]; i++) {
    mu_http_parser_t p;
    mu_http_parser_init(&p, NULL);
    reset_counts();
    CHECK_EQ(feed(&p, in, off, pieces[i]), 1);
    printf("20000 1-byte chunks in pieces of %zu: %zu allocations\n", pieces[i],
           g_allocs);
    CHECK(g_allocs <= 12);
    CHECK_EQ(g_live, 0);
    mu_http_parser_destroy(&p);
  }
  free(in);
}

/* Announcing a body allocates nothing for it: memory follows the bytes. */
static void test_no_allocation_ahead_of_data(void) {
  static const char *const heads[] = {
      "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1048575\r\n\r\n0123456789",
      "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: "
      "chunked\r\n\r\nfffff\r\n0123456789",
  };
  for (size_t i = 0; i < 2; i++) {
    mu_http_parser_t p;
    mu_http_parser_init(&p, NULL);
    reset_counts();
    CHECK_EQ(feed(&p, heads[i], strlen(heads[i]), 0), 0);
    CHECK(g_max_size <= 8192);
    CHECK(g_live >= 1);
    mu_http_parser_destroy(&p);
    CHECK_EQ(g_live, 0);
  }
}

/* The largest block is bounded by the limits, whatever the caller hands in. */
static void test_allocations_bounded(void) {
  size_t cap = 1 << 20;
  char *in = malloc(cap);
  CHECK(in != NULL);
  int n = snprintf(in, cap, "GET / HTTP/1.1\r\nHost: h\r\n");
  memset(in + n, 'x', cap - (size_t)n); /* one endless header line */
  in[n] = 'X';
  in[n + 1] = ':';
  mu_http_parser_t p;
  mu_http_parser_init(&p, NULL);
  reset_counts();
  CHECK_EQ(feed(&p, in, cap, 0), -431);
  CHECK(g_max_size <= 64 * 1024);
  mu_http_parser_destroy(&p);
  CHECK_EQ(g_live, 0);
  /* a full head at the limits */
  size_t off = (size_t)snprintf(in, cap, "GET /%08000d HTTP/1.1\r\n", 1);
  for (int i = 0; i < 99; i++)
    off += (size_t)snprintf(in + off, cap - off, "X: %0150d\r\n", i);
  off += (size_t)snprintf(in + off, cap - off, "Host: h\r\n\r\n");
  mu_http_parser_init(&p, NULL);
  reset_counts();
  CHECK_EQ(feed(&p, in, off, 0), 1);
  CHECK(g_max_size <= 64 * 1024);
  mu_http_parser_destroy(&p);
  free(in);
}

static const char k_mixed[] =
    "\r\nGET /a?q HTTP/1.1\r\nHost: h\r\nCookie: 1\r\n\r\n"
    "POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 5000\r\n\r\n"
    "%BODY%"
    "PUT /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
    "1000\r\n%CHUNK%\r\n3;x=y\r\nabc\r\n0\r\nT1: a\r\nT2: b\r\n\r\n"
    "GET http://h/d HTTP/1.1\r\nHost: h\r\n\r\n";

static char *mixed_stream(size_t *len) {
  size_t cap = sizeof k_mixed + 5000 + 4096;
  char *s = malloc(cap);
  CHECK(s != NULL);
  const char *body = strstr(k_mixed, "%BODY%"), *chunk = strstr(k_mixed, "%CHUNK%");
  size_t off = 0;
  memcpy(s, k_mixed, (size_t)(body - k_mixed));
  off += (size_t)(body - k_mixed);
  memset(s + off, 'B', 5000);
  off += 5000;
  memcpy(s + off, body + 6, (size_t)(chunk - body - 6));
  off += (size_t)(chunk - body - 6);
  memset(s + off, 'C', 4096);
  off += 4096;
  strcpy(s + off, chunk + 7);
  off += strlen(chunk + 7);
  *len = off;
  return s;
}

/* Fail the k-th allocation for every k: each failure is a 500 with no leak,
 * and the parser works again after reset. */
static void test_allocation_failures(void) {
  size_t len;
  char *in = mixed_stream(&len);
  static const size_t pieces[] = {0, 1, 3, 1000};
  for (size_t i = 0; i < sizeof pieces / sizeof pieces[0]; i++) {
    mu_http_parser_t p;
    mu_http_parser_init(&p, NULL);
    reset_counts();
    CHECK_EQ(feed(&p, in, len, pieces[i]), 4);
    mu_http_parser_destroy(&p);
    long total = g_calls;
    CHECK(total >= 5);
    printf("failing each of %ld allocations (pieces of %zu)\n", total, pieces[i]);
    for (long k = 1; k <= total; k++) {
      mu_http_parser_init(&p, NULL);
      reset_counts();
      g_fail_at = k;
      int rc = feed(&p, in, len, pieces[i]);
      CHECK_EQ(rc, -500);
      CHECK_STREQ(mu_http_parser_error_reason(&p), "out of memory");
      mu_http_parser_reset(&p);
      CHECK_EQ(g_live, 0);
      g_fail_at = 0;
      CHECK_EQ(feed(&p, in, len, pieces[i]), 4);
      mu_http_parser_destroy(&p);
      CHECK_EQ(g_live, 0);
    }
  }
  free(in);
}

int main(void) {
  test_time_limit(120);
  mu_allocator_t a = {count_malloc, count_realloc, count_free};
  mu_set_allocator(&a);
  test_one_allocation_per_request();
  test_body_allocations();
  test_no_allocation_ahead_of_data();
  test_allocations_bounded();
  test_allocation_failures();
  mu_set_allocator(NULL);
  TEST_PASS("http_parser_alloc");
}
