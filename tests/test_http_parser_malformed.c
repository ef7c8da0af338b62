/* HTTP request parser: a table of malformed or over-limit inputs and the
 * status each must get (and the words of the reason), checked fed whole, byte
 * by byte, split in two at every point and in random pieces: every way of
 * feeding must report the same error with the same reason, and nothing else. */
#include "cmuduo/http/http_parser.h"
#include "test_http_parser_util.h"
#include "test_util.h"

#define S(lit) lit, sizeof(lit) - 1
#define H "Host: h\r\n"
#define POST_TE "POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n"
#define POST_CL(n) "POST / HTTP/1.1\r\n" H "Content-Length: " n "\r\n\r\n"

typedef struct bad_case {
  const char *in;
  size_t len;
  int status;
  const char *reason; /* a substring of the reason */
  bool small;         /* with small_limits() instead of the defaults */
} bad_case_t;

static const bad_case_t k_cases[] = {
    /* ---- request line ---- */
    {S("GET\r\n\r\n"), 400, "method", false},
    {S("GET /\r\n\r\n"), 400, "target", false}, /* HTTP/0.9 style */
    {S(" GET / HTTP/1.1\r\n" H "\r\n"), 400, "method", false},
    {S("GET  / HTTP/1.1\r\n" H "\r\n"), 400, "target", false},
    {S("GET / HTTP/1.1 \r\n" H "\r\n"), 400, "version", false},
    {S("GET /  HTTP/1.1\r\n" H "\r\n"), 400, "version", false},
    {S("GET\t/ HTTP/1.1\r\n" H "\r\n"), 400, "method", false},
    {S("GET /\tHTTP/1.1\r\n" H "\r\n"), 400, "target", false},
    {S("G(T / HTTP/1.1\r\n" H "\r\n"), 400, "method", false},
    {S("G:T / HTTP/1.1\r\n" H "\r\n"), 400, "method", false},
    {S("GE\0T / HTTP/1.1\r\n" H "\r\n"), 400, "method", false},
    {S("GET /a\0b HTTP/1.1\r\n" H "\r\n"), 400, "target", false},
    {S("GET /a\rb HTTP/1.1\r\n" H "\r\n"), 400, "target", false},
    {S("GET / HTTP/1.1\r\r\n" H "\r\n"), 400, "version", false},
    {S("GET / HTTP/1.1\rX\r\n" H "\r\n"), 400, "version", false},
    {S("GET / HTTP/1.1\n" H "\r\n"), 400, "CRLF", false},
    {S("GET / HTTP/1.1\r\n" H "\n"), 400, "CRLF", false},
    {S("GET /\x7f HTTP/1.1\r\n" H "\r\n"), 400, "target", false},
    {S("GET /\xc3\xa9 HTTP/1.1\r\n" H "\r\n"), 400, "target", false},
    {S("GET / HTTP/1.1x\r\n" H "\r\n"), 400, "version", false},
    {S("GET / HTTP/1\r\n" H "\r\n"), 400, "version", false},
    {S("GET / HTTP/1.\r\n" H "\r\n"), 400, "version", false},
    {S("GET / HTTP/1.a\r\n" H "\r\n"), 400, "version", false},
    {S("GET / HTTP/a.1\r\n" H "\r\n"), 400, "version", false},
    {S("GET / HTTP/1,1\r\n" H "\r\n"), 400, "version", false},
    {S("GET / HTTPS/1.1\r\n" H "\r\n"), 400, "version", false},
    {S("GET / Http/1.1\r\n" H "\r\n"), 400, "version", false},
    {S("GET / HTTP/01.1\r\n" H "\r\n"), 400, "version", false},
    {S("GET / HTTP/2.0\r\n" H "\r\n"), 505, "version", false},
    {S("GET / HTTP/9.9\r\n" H "\r\n"), 505, "version", false},
    {S("GET / HTTP/0.9\r\n" H "\r\n"), 505, "version", false},
    {S("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), 505, "version", false}, /* h2 preface */
    {S("GET * HTTP/1.1\r\n" H "\r\n"), 400, "OPTIONS", false},
    {S("OPTIONS ** HTTP/1.1\r\n" H "\r\n"), 400, "target", false},
    {S("GET example.com HTTP/1.1\r\n" H "\r\n"), 400, "target", false},
    {S("GET ?x HTTP/1.1\r\n" H "\r\n"), 400, "target", false},
    {S("GET 1http://x/ HTTP/1.1\r\n" H "\r\n"), 400, "target", false},
    {S("GET :x HTTP/1.1\r\n" H "\r\n"), 400, "target", false},
    {S("CONNECT / HTTP/1.1\r\n" H "\r\n"), 400, "CONNECT", false},
    {S("CONNECT example.com HTTP/1.1\r\n" H "\r\n"), 400, "CONNECT", false},
    {S("CONNECT example.com: HTTP/1.1\r\n" H "\r\n"), 400, "CONNECT", false},
    {S("CONNECT example.com:x HTTP/1.1\r\n" H "\r\n"), 400, "CONNECT", false},
    {S("CONNECT :443 HTTP/1.1\r\n" H "\r\n"), 400, "CONNECT", false},
    {S("CONNECT a/b:443 HTTP/1.1\r\n" H "\r\n"), 400, "CONNECT", false},
    {S("\r\n\n"), 400, "CRLF", false},
    {S("\n"), 400, "CRLF", false},
    {S("\r\r\n"), 400, "method", false},
    {S("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\n"), 400, "CRLF", false}, /* TLS */
    {S("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n"), 400, "method", false},

    /* ---- field lines ---- */
    {S("GET / HTTP/1.1\r\n" H " folded\r\n\r\n"), 400, "folding", false},
    {S("GET / HTTP/1.1\r\n" H "\tfolded\r\n\r\n"), 400, "folding", false},
    {S("GET / HTTP/1.1\r\n " H "\r\n"), 400, "folding",
     false}, /* space after start line */
    {S("GET / HTTP/1.1\r\nHost : h\r\n\r\n"), 400, "whitespace", false},
    {S("GET / HTTP/1.1\r\nHost\t: h\r\n\r\n"), 400, "whitespace", false},
    {S("GET / HTTP/1.1\r\n" H "Transfer-Encoding : chunked\r\n\r\n"), 400, "whitespace",
     false},
    {S("GET / HTTP/1.1\r\n" H "Host h\r\n\r\n"), 400, "whitespace", false},
    {S("GET / HTTP/1.1\r\n" H "X\r\n\r\n"), 400, "colon", false},
    {S("GET / HTTP/1.1\r\n" H ": v\r\n\r\n"), 400, "empty", false},
    {S("GET / HTTP/1.1\r\n" H "X(y: v\r\n\r\n"), 400, "name", false},
    {S("GET / HTTP/1.1\r\n" H "X\"y: v\r\n\r\n"), 400, "name", false},
    {S("GET / HTTP/1.1\r\n" H "\xc3\xa9: v\r\n\r\n"), 400, "name", false},
    {S("GET / HTTP/1.1\r\n" H "X\0: v\r\n\r\n"), 400, "name", false},
    {S("GET / HTTP/1.1\r\n" H "X: a\0b\r\n\r\n"), 400, "value", false},
    {S("GET / HTTP/1.1\r\n" H "X: a\rb\r\n\r\n"), 400, "value", false},
    {S("GET / HTTP/1.1\r\n" H "X: ab\r\r\n\r\n"), 400, "value", false},
    {S("GET / HTTP/1.1\r\n" H "X: a\x01"
       "b\r\n\r\n"),
     400, "value", false},
    {S("GET / HTTP/1.1\r\n" H "X: a\x1f\r\n\r\n"), 400, "value", false},
    {S("GET / HTTP/1.1\r\n" H "X: a\x7f\r\n\r\n"), 400, "value", false},
    {S("GET / HTTP/1.1\r\n" H "X: y\n\r\n"), 400, "CRLF", false},
    {S("GET / HTTP/1.1\r\n" H "X: y\r\n\n"), 400, "CRLF", false},
    {S("GET / HTTP/1.1\r\n" H "\r\r\n"), 400, "name", false},
    {S("GET / HTTP/1.1\r\n\r\n"), 400, "missing Host", false},
    {S("GET / HTTP/1.1\r\nX: h\r\n\r\n"), 400, "missing Host", false},
    {S("GET / HTTP/1.1\r\n" H H "\r\n"), 400, "more than one Host", false},
    {S("GET / HTTP/1.0\r\nHost: a\r\nHOST: a\r\n\r\n"), 400, "more than one Host", false},
    {S("GET / HTTP/1.1\r\nHost: a b\r\n\r\n"), 400, "invalid Host", false},
    {S("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"), 400, "invalid Host", false},
    {S("GET / HTTP/1.1\r\nHost: \xc3\xa9\r\n\r\n"), 400, "invalid Host", false},

    /* ---- framing: Transfer-Encoding and Content-Length ---- */
    {S("POST / HTTP/1.1\r\n" H "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"),
     400, "both", false},
    {S("POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"),
     400, "both", false},
    {S("POST / HTTP/1.1\r\n" H "Transfer-Encoding: foo\r\nContent-Length: 3\r\n\r\n"),
     400, "both", false},
    {S("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"), 400, "HTTP/1.0",
     false},
    {S("POST / HTTP/1.1\r\n" H "Transfer-Encoding: gzip\r\n\r\n"), 400, "final", false},
    {S("POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked, gzip\r\n\r\n"), 400, "final",
     false},
    {S("POST / HTTP/1.1\r\n" H
       "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n"),
     400, "final", false},
    {S("POST / HTTP/1.1\r\n" H "Transfer-Encoding: foo\r\n\r\n"), 501, "unknown", false},
    {S("POST / HTTP/1.1\r\n" H "Transfer-Encoding: identity\r\n\r\n"), 501, "unknown",
     false},
    {S("POST / HTTP/1.1\r\n" H "Transfer-Encoding: xchunked\r\n\r\n"), 501, "unknown",
     false},
    {S("POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked, foo\r\n\r\n"), 501, "unknown",
     false},
    {S("POST / HTTP/1.1\r\n" H "Transfer-Encoding: foo, chunked\r\n\r\n"), 501, "unknown",
     false},
    {S("POST / HTTP/1.1\r\n" H "Transfer-Encoding: gzip, chunked\r\n\r\n"), 501,
     "other than chunked", false},
    {S("POST / HTTP/1.1\r\n" H
       "Transfer-Encoding: deflate\r\nTransfer-Encoding: chunked\r\n\r\n"),
     501, "other than chunked", false},
    {S("POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked, chunked\r\n\r\n"), 400,
     "more than once", false},
    {S("POST / HTTP/1.1\r\n" H
       "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"),
     400, "more than once", false},
    {S("POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked;q=1\r\n\r\n"), 400,
     "invalid Transfer-Encoding", false},
    {S("POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked x\r\n\r\n"), 400,
     "invalid Transfer-Encoding", false},
    {S("POST / HTTP/1.1\r\n" H "Transfer-Encoding: \"chunked\"\r\n\r\n"), 400,
     "invalid Transfer-Encoding", false},
    {S("POST / HTTP/1.1\r\n" H "Transfer-Encoding:\r\n\r\n"), 400,
     "invalid Transfer-Encoding", false},
    {S("POST / HTTP/1.1\r\n" H "Transfer-Encoding: , ,\r\n\r\n"), 400,
     "invalid Transfer-Encoding", false},
    {S("POST / HTTP/1.1\r\n" H "Transfer-Encoding: gzip;q=\"a,chunked\"\r\n\r\n"), 400,
     "invalid Transfer-Encoding", false},
    {S(POST_CL("abc")), 400, "invalid Content-Length", false},
    {S(POST_CL("")), 400, "invalid Content-Length", false},
    {S(POST_CL("-1")), 400, "invalid Content-Length", false},
    {S(POST_CL("+5")), 400, "invalid Content-Length", false},
    {S(POST_CL("5 5")), 400, "invalid Content-Length", false},
    {S(POST_CL("0x10")), 400, "invalid Content-Length", false},
    {S(POST_CL("1.5")), 400, "invalid Content-Length", false},
    {S(POST_CL("1,")), 400, "invalid Content-Length", false},
    {S(POST_CL(",1")), 400, "invalid Content-Length", false},
    {S(POST_CL("1,,1")), 400, "invalid Content-Length", false},
    {S(POST_CL("5, 6")), 400, "conflicting", false},
    {S(POST_CL("5, 05, 6")), 400, "conflicting", false},
    {S("POST / HTTP/1.1\r\n" H "Content-Length: 5\r\nContent-Length: 6\r\n\r\n"), 400,
     "conflicting", false},
    {S("POST / HTTP/1.1\r\n" H "Content-Length: 99999999999999999999\r\n"
       "Content-Length: 99999999999999999998\r\n\r\n"),
     400, "conflicting", false},
    {S(POST_CL("1048577")), 413, "body", false},
    {S(POST_CL("33")), 413, "body", true},

    /* ---- chunked body ---- */
    {S(POST_TE "x\r\n"), 400, "chunk size", false},
    {S(POST_TE "\r\n"), 400, "chunk size", false},
    {S(POST_TE " 5\r\nhello\r\n0\r\n\r\n"), 400, "chunk size", false},
    {S(POST_TE "5 \r\nhello\r\n0\r\n\r\n"), 400, "extension", false},
    {S(POST_TE "0x5\r\nhello\r\n0\r\n\r\n"), 400, "extension", false},
    {S(POST_TE "-1\r\n"), 400, "chunk size", false},
    {S(POST_TE "+5\r\n"), 400, "chunk size", false},
    {S(POST_TE "5;\r\n"), 400, "extension", false},
    {S(POST_TE "5;=x\r\n"), 400, "extension", false},
    {S(POST_TE "5;a=\r\n"), 400, "extension", false},
    {S(POST_TE "5;a b\r\n"), 400, "extension", false},
    {S(POST_TE "5;a=b c\r\n"), 400, "extension", false},
    {S(POST_TE "5;a=\"x\r\n"), 400, "extension", false},
    {S(POST_TE "5;a=\"x\\\"\r\n"), 400, "extension", false},
    {S(POST_TE "5;a=\"x\x01\"\r\n"), 400, "extension", false},
    {S(POST_TE "5;a\x01\r\n"), 400, "extension", false},
    {S(POST_TE "5;a=\"x\"y\r\n"), 400, "extension", false},
    {S(POST_TE "5\rx\r\n"), 400, "extension", false},
    {S(POST_TE "5\n"), 400, "CRLF", false},
    {S(POST_TE "5\r\nhelloX"), 400, "CRLF", false},
    {S(POST_TE "5\r\nhello\rX"), 400, "CRLF", false},
    {S(POST_TE "5\r\nhello\n"), 400, "CRLF", false},
    {S(POST_TE "1\r\nab\r\n"), 400, "CRLF", false},
    {S(POST_TE "5\r\nhello\r\n0\r\n\n"), 400, "CRLF", false},
    {S(POST_TE "0\r\nBad Trailer\r\n\r\n"), 400, "whitespace", false},
    {S(POST_TE "0\r\nBadTrailer\r\n\r\n"), 400, "colon", false},
    {S(POST_TE "0\r\n X: folded\r\n\r\n"), 400, "folding", false},
    {S(POST_TE "0\r\nX : y\r\n\r\n"), 400, "whitespace", false},
    {S(POST_TE "0\r\nX: y\n\r\n"), 400, "CRLF", false},
    {S(POST_TE "0\r\nX: a\0b\r\n\r\n"), 400, "value", false},
    {S(POST_TE "100001\r\n"), 413, "body", false},
    {S(POST_TE "fffffffffffffffffff\r\n"), 413, "body", false},
    {S(POST_TE "21\r\n"), 413, "body", true},
    {S(POST_TE "10\r\n0123456789abcdef\r\n11\r\n"), 413, "body", true},

    /* ---- limits (small_limits: line 64, section 128, 4 fields, body 32,
     *      chunk line 16) ---- */
    {S("GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa HTTP/1.1\r\n" H "\r\n"),
     414, "request line", true},
    {S("GET "
       "/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
     414, "request line", true},
    {S("GET / HTTP/1.1\r\n" H "A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n"), 431,
     "too many header", true},
    {S("GET / HTTP/1.1\r\n" H
       "X: 0123456789012345678901234567890123456789012345678901234567890123456789\r\n"
       "Y: 01234567890123456789012345678901234567890123456789\r\n\r\n"),
     431, "header section", true},
    {S(POST_TE "1;aaaaaaaaaaaaaaa\r\n"), 400, "chunk-size line", true},
    {S(POST_TE "1;aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"), 400, "chunk-size line", true},
    {S(POST_TE "0\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n\r\n"), 431,
     "too many trailer", true},
    {S(POST_TE
       "0\r\n"
       "X: 0123456789012345678901234567890123456789012345678901234567890123456789\r\n"
       "Y: 0123456789012345678901234567890123456789012345678901234567890\r\n\r\n"),
     431, "trailer section", true},
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

static void check_case(size_t i, const bad_case_t *c) {
  mu_http_limits_t small = small_limits();
  const mu_http_limits_t *lim = c->small ? &small : NULL;
  int status = -1;
  char *whole = http_transcript(c->in, c->len, lim, piece_all, NULL, &status);
  if (status != c->status || (c->reason != NULL && strstr(whole, c->reason) == NULL)) {
    fprintf(stderr, "case %zu: want %d \"%s\", got: %s\n", i, c->status,
            c->reason ? c->reason : "", whole);
    abort();
  }
  /* only the error, or for the accepted entries no request at all yet */
  CHECK(strstr(whole, "|R") == NULL && whole[0] != 'R');
  char *t = http_transcript(c->in, c->len, lim, piece_one, NULL, NULL);
  if (strcmp(t, whole) != 0) {
    fprintf(stderr, "case %zu byte by byte:\n  %s\nwhole:\n  %s\n", i, t, whole);
    abort();
  }
  free(t);
  for (size_t k = 1; k < c->len; k++) {
    size_t first = k;
    t = http_transcript(c->in, c->len, lim, piece_split, &first, NULL);
    if (strcmp(t, whole) != 0) {
      fprintf(stderr, "case %zu split at %zu:\n  %s\nwhole:\n  %s\n", i, k, t, whole);
      abort();
    }
    free(t);
  }
  for (unsigned seed = 1; seed <= 8; seed++) {
    unsigned s = seed * 2654435761u;
    t = http_transcript(c->in, c->len, lim, piece_random, &s, NULL);
    CHECK_STREQ(t, whole);
    free(t);
  }
  free(whole);
}

int main(void) {
  test_time_limit(120);
  size_t n = sizeof k_cases / sizeof k_cases[0];
  for (size_t i = 0; i < n; i++)
    check_case(i, &k_cases[i]);
  printf("%zu malformed inputs checked\n", n);
  TEST_PASS("http_parser_malformed");
}
