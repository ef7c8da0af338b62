/* HTTP request parser: every split of the input gives the same result. A
 * table of streams (single, pipelined, chunked with trailers, bodies with
 * CRLFs and NULs, requests exactly at each limit) is fed whole, byte by byte,
 * in two pieces at every split point and in random pieces; all transcripts must
 * match. Then 100 pipelined requests in one buffer come out as 100 requests in
 * order, fed whole and fed byte by byte. */
#include "cmuduo/http/http_parser.h"
#include "test_http_parser_util.h"
#include "test_util.h"

#define S(lit) lit, sizeof(lit) - 1
#define H "Host: h\r\n"
#define POST_TE(path) "POST " path " HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n"

typedef struct stream_case {
  const char *in;
  size_t len;
  int requests; /* complete requests in it */
  bool small;   /* small_limits(): requests exactly at each limit */
} stream_case_t;

static const stream_case_t k_streams[] = {
    {S("GET / HTTP/1.1\r\n" H "\r\n"), 1, false},
    {S("GET / HTTP/1.0\r\n\r\n"), 1, false},
    {S("\r\n\r\nGET /after-empty-lines HTTP/1.1\r\n" H "\r\n"), 1, false},
    {S("GET /a?b=c HTTP/1.1\r\n" H "User-Agent: t\r\nAccept: */*\r\n\r\n"
       "GET /b HTTP/1.1\r\n" H "Connection: close\r\n\r\n"),
     2, false},
    {S("OPTIONS * HTTP/1.1\r\n" H "\r\nCONNECT h:443 HTTP/1.1\r\n" H "\r\n"
       "GET http://example.com:80/x?y HTTP/1.1\r\n" H "\r\n"),
     3, false},
    {S("POST /cl HTTP/1.1\r\n" H "Content-Length: 12\r\n\r\nab\r\n\r\ncd\0\nef"
       "GET /next HTTP/1.1\r\n" H "\r\n"),
     2, false},
    {S("POST /e HTTP/1.1\r\n" H "Expect: 100-continue\r\nContent-Length: 4\r\n\r\nbody"
       "POST /e2 HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n"
       "Connection: keep-alive\r\n\r\nx"),
     2, false},
    {S(POST_TE("/c") "5\r\nhello\r\n6;x=\"a;b\"\r\n world\r\n0\r\n\r\n"
                     "GET /after-chunked HTTP/1.1\r\n" H "\r\n"),
     2, false},
    {S(POST_TE("/t") "3\r\n\r\n\n\r\n2 ; e\r\n\0\0\r\n0;z\r\nTrailer-A: 1\r\n"
                     "trailer-a:  2 \r\nChecksum: abc\r\n\r\n" POST_TE(
                         "/t2") "0\r\n\r\n"),
     2, false},
    {S("PATCH /x HTTP/1.1\r\n" H "Transfer-Encoding: Chunked\r\n\r\n"
       "A\r\n0123456789\r\n00001\r\nz\r\n0\r\n\r\n"
       "PROPFIND /dav HTTP/1.1\r\n" H "Depth: 1\r\nContent-Length: 0\r\n\r\n"),
     2, false},
    {S("GET / HTTP/1.1\r\n" H "X-Obs: caf\xc3\xa9\r\nX-Tab:\ta\tb\t\r\nX-Empty:\r\n"
       "Cookie: a=1\r\ncookie: b=2\r\n\r\n"),
     1, false},
    /* partial at the end: a request line, a head, a body, a chunk, trailers */
    {S("GET / HTTP/1.1\r\n" H "\r\nGET /partial HT"), 1, false},
    {S("POST / HTTP/1.1\r\n" H "Content-Length: 10\r\n\r\nhalf"), 0, false},
    {S(POST_TE("/pc") "a\r\n01234"), 0, false},
    {S(POST_TE("/pt") "0\r\nT: 1\r\n"), 0, false},
    /* exactly at each limit of small_limits() */
    {S("GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa HTTP/1.1\r\n" H "\r\n"
       "GET / HTTP/1.1\r\n" H "A: 1\r\nB: 2\r\nC: 3\r\n\r\n"),
     2, true},
    {S("GET / HTTP/1.1\r\n" H
       "X: 012345678901234567890123456789012345678901234567890123456789012345678\r\n"
       "Y: 01234567890123456789012345678901234567\r\n\r\n"),
     1, true},
    {S(POST_TE(
         "/l") "1;aaaaaaaaaaaaaa\r\nx\r\n1F;bbbbbbbbbbbbb\r\n"
               "0123456789abcdef0123456789abcde\r\n0\r\n"
               "X: "
               "012345678901234567890123456789012345678901234567890123456789012345678\r\n"
               "Y: 01234567890123456789012345678901234567890123456\r\n\r\n"),
     1, true},
    {S("POST / HTTP/1.1\r\n" H
       "Content-Length: 32\r\n\r\n0123456789abcdef0123456789abcdef"
       "POST / HTTP/1.1\r\n" H "Content-Length: 0\r\n\r\n"),
     2, true},
};

static mu_http_limits_t small_limits(void) {
  mu_http_limits_t l = mu_http_limits_default();
  l.max_request_line = 64;
  l.max_header_bytes = 128;
  l.max_headers = 4;
  l.max_body = 32;
  l.max_chunk_line = 16;
  return l;
}

static int count_requests(const char *t) {
  int n = t[0] == 'R';
  for (const char *q = t; (q = strstr(q, "|R")) != NULL; q++)
    n++;
  return n;
}

static void check_stream(size_t i, const stream_case_t *c) {
  mu_http_limits_t small = small_limits();
  const mu_http_limits_t *lim = c->small ? &small : NULL;
  int status;
  char *whole = http_transcript(c->in, c->len, lim, piece_all, NULL, &status);
  if (status != 0 || count_requests(whole) != c->requests) {
    fprintf(stderr, "stream %zu: want %d requests, got status %d: %s\n", i, c->requests,
            status, whole);
    abort();
  }
  char *t = http_transcript(c->in, c->len, lim, piece_one, NULL, NULL);
  if (strcmp(t, whole) != 0) {
    fprintf(stderr, "stream %zu byte by byte:\n  %s\nwhole:\n  %s\n", i, t, whole);
    abort();
  }
  free(t);
  for (size_t k = 1; k < c->len; k++) {
    size_t first = k;
    t = http_transcript(c->in, c->len, lim, piece_split, &first, NULL);
    if (strcmp(t, whole) != 0) {
      fprintf(stderr, "stream %zu split at %zu:\n  %s\nwhole:\n  %s\n", i, k, t, whole);
      abort();
    }
    free(t);
  }
  for (unsigned seed = 1; seed <= 16; seed++) {
    unsigned s = seed * 2654435761u;
    t = http_transcript(c->in, c->len, lim, piece_random, &s, NULL);
    CHECK_STREQ(t, whole);
    free(t);
  }
  free(whole);
}

/* A few transcripts spelled out, so that "all splits agree" cannot hide a
 * parser that is consistently wrong. */
static void test_known_transcripts(void) {
  char *t = http_transcript_all(k_streams[7].in, k_streams[7].len, NULL);
  CHECK_STREQ(t,
              "H/c|R3:POST /c path=/c query- HTTP/1.1 ka=1 ec=0 ch=1 H[Host=h]"
              "[Transfer-Encoding=chunked] B11<hello world> T|"
              "R1:GET /after-chunked path=/after-chunked query- HTTP/1.1 ka=1 ec=0 ch=0 "
              "H[Host=h] B0<> T|idle");
  free(t);
  t = http_transcript_all(k_streams[8].in, k_streams[8].len, NULL);
  CHECK_STREQ(t,
              "H/t|R3:POST /t path=/t query- HTTP/1.1 ka=1 ec=0 ch=1 H[Host=h]"
              "[Transfer-Encoding=chunked] B5<\\x0d\\x0a\\x0a\\x00\\x00> "
              "T[Trailer-A=1][trailer-a=2][Checksum=abc]|"
              "H/t2|R3:POST /t2 path=/t2 query- HTTP/1.1 ka=1 ec=0 ch=1 H[Host=h]"
              "[Transfer-Encoding=chunked] B0<> T|idle");
  free(t);
  t = http_transcript_all(k_streams[6].in, k_streams[6].len, NULL);
  CHECK_STREQ(
      t,
      "H/e|R3:POST /e path=/e query- HTTP/1.1 ka=1 ec=1 ch=0 H[Host=h]"
      "[Expect=100-continue][Content-Length=4] B4<body> T|"
      "H/e2|R3:POST /e2 path=/e2 query- HTTP/1.0 ka=1 ec=0 ch=0 "
      "H[Expect=100-continue][Content-Length=1][Connection=keep-alive] B1<x> T|idle");
  free(t);
  t = http_transcript_all(k_streams[11].in, k_streams[11].len, NULL);
  CHECK(strstr(t, "|partial") != NULL);
  free(t);
  t = http_transcript_all(k_streams[10].in, k_streams[10].len, NULL);
  CHECK_STREQ(
      t,
      "R1:GET / path=/ query- HTTP/1.1 ka=1 ec=0 ch=0 H[Host=h]"
      "[X-Obs=caf\\xc3\\xa9][X-Tab=a\\x09b][X-Empty=][Cookie=a=1][cookie=b=2] B0<> T|"
      "idle");
  free(t);
}

/* 100 requests of three kinds in one buffer: 100 requests, in order. */
static void test_pipelined_100(void) {
  size_t cap = 64 * 1024, len = 0;
  char *in = malloc(cap);
  CHECK(in != NULL);
  for (int i = 0; i < 100; i++) {
    int n;
    if (i % 3 == 0) {
      n = snprintf(in + len, cap - len, "GET /r%d HTTP/1.1\r\nHost: h\r\n\r\n", i);
    } else if (i % 3 == 1) {
      n = snprintf(in + len, cap - len,
                   "POST /r%d HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\nbody%d", i,
                   4 + (i >= 10 ? 2 : 1), i);
    } else {
      n = snprintf(in + len, cap - len,
                   "PUT /r%d HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                   "3\r\nabc\r\n%x\r\n%0*d\r\n0\r\nSeq: %d\r\n\r\n",
                   i, i, i, 0, i);
    }
    CHECK(n > 0 && (size_t)n < cap - len);
    len += (size_t)n;
  }
  mu_http_parser_t p;
  mu_http_parser_init(&p, NULL);
  size_t off = 0, used;
  int got = 0;
  while (off < len) {
    mu_http_parse_result_t rc = mu_http_parser_execute(&p, in + off, len - off, &used);
    off += used;
    if (rc == MU_HTTP_HEADERS_DONE)
      continue;
    CHECK_EQ(rc, MU_HTTP_REQUEST_DONE);
    mu_http_request_t *r = mu_http_parser_take_request(&p);
    char want[32];
    snprintf(want, sizeof want, "/r%d", got);
    CHECK_STREQ(mu_http_request_path(r), want);
    if (got % 3 == 1) {
      snprintf(want, sizeof want, "body%d", got);
      CHECK_STREQ(mu_http_request_body(r, NULL), want);
    } else if (got % 3 == 2) {
      CHECK_EQ(mu_http_request_body_length(r), 3 + (size_t)got);
      CHECK(memcmp(mu_http_request_body(r, NULL), "abc00", 5) == 0);
      CHECK_EQ(atoi(mu_http_request_trailer(r, "seq")), got);
    }
    got++;
    mu_http_request_free(r);
  }
  CHECK_EQ(off, len);
  CHECK_EQ(got, 100);
  CHECK(mu_http_parser_idle(&p));
  mu_http_parser_destroy(&p);

  char *whole = http_transcript_all(in, len, NULL);
  CHECK_EQ(count_requests(whole), 100);
  char *bytes = http_transcript(in, len, NULL, piece_one, NULL, NULL);
  CHECK_STREQ(bytes, whole);
  free(bytes);
  unsigned seed = 12345;
  char *rnd = http_transcript(in, len, NULL, piece_random, &seed, NULL);
  CHECK_STREQ(rnd, whole);
  free(rnd);
  free(whole);
  free(in);
}

int main(void) {
  test_time_limit(120);
  size_t n = sizeof k_streams / sizeof k_streams[0];
  for (size_t i = 0; i < n; i++)
    check_stream(i, &k_streams[i]);
  test_known_transcripts();
  test_pipelined_100();
  printf("%zu streams checked at every split point\n", n);
  TEST_PASS("http_parser_split");
}
