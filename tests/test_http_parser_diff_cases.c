/* HTTP request parser: cases found by the differential test against llhttp
 * (fuzz/diff/), each fed whole, byte by byte and in random pieces. Two kinds:
 *  - framing bugs fixed here (a CONNECT request read a body that a parser
 *    switching to the tunnel, as llhttp does, leaves to the tunnel);
 *  - places where the two parsers disagree and cmuduo's answer was judged
 *    right by RFC 9110/9112, kept so a change to them is made knowingly. */
#include "cmuduo/http/http_parser.h"
#include "test_http_parser_util.h"
#include "test_util.h"

#define S(lit) lit, sizeof(lit) - 1
#define NEXT "GET /next HTTP/1.1\r\nHost: h\r\n\r\n"

typedef struct diff_case {
  const char *in;
  size_t len;
  const char *want; /* the whole transcript, or a substring of it (below) */
  bool exact;
} diff_case_t;

static const diff_case_t k_cases[] = {
    /* CONNECT has no content (RFC 9110 §9.3.6): a length or a chunked coding
     * on one is refused instead of eating the tunnel's first bytes. */
    {S("CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\nContent-Length: 5\r\n\r\nhello" NEXT),
     "E400 CONNECT request with content|", true},
    {S("CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\nTransfer-Encoding: chunked\r\n\r\n"
       "5\r\nhello\r\n0\r\n\r\n" NEXT),
     "E400 CONNECT request with content|", true},
    {S("CONNECT h:443 HTTP/1.0\r\nContent-Length: 5\r\n\r\nhello"),
     "E400 CONNECT request with content|", true},
    /* Content-Length: 0 is no content: accepted, and the bytes after the
     * head are the caller's (the next request here). */
    {S("CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\nContent-Length: 0\r\n\r\n" NEXT),
     "B0<> T|R1:GET /next", false},
    /* An upgrade request may have a body; llhttp reads it too. */
    {S("POST / HTTP/1.1\r\nHost: h\r\nUpgrade: x\r\nContent-Length: 5\r\n\r\nhello" NEXT),
     "B5<hello> T|R1:GET /next", false},

    /* HTTP/1.0 with both keep-alive and close: close wins (RFC 9112 §9.3
     * looks at "close" first); llhttp keeps the connection. */
    {S("GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n"), "ka=0",
     false},
    {S("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n"), "ka=0", false},

    /* Accepted by RFC, refused by llhttp: */
    /* the same length repeated, as a list or in two fields (RFC 9110 §8.6) */
    {S("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\n\r\nhello" NEXT),
     "B5<hello> T|R1:GET /next", false},
    {S("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: "
       "005\r\n\r\nhello" NEXT),
     "B5<hello> T|R1:GET /next", false},
    /* empty list elements and trailing OWS around "chunked" (RFC 9110 §5.6.1,
     * §5.5) */
    {S("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked,\r\n\r\n"
       "5\r\nhello\r\n0\r\n\r\n" NEXT),
     "B5<hello> T|R1:GET /next", false},
    {S("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\t\r\n\r\n"
       "5\r\nhello\r\n0\r\n\r\n" NEXT),
     "B5<hello> T|R1:GET /next", false},
    /* BWS around a chunk extension's ';' and '=' (RFC 9112 §7.1.1) */
    {S("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
       "5 ; a = 1\r\nhello\r\n0\r\n\r\n" NEXT),
     "B5<hello> T|R1:GET /next", false},
    /* framing fields in the trailer section do not frame anything */
    {S("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
       "5\r\nhello\r\n0\r\nContent-Length: 3\r\n\r\n" NEXT),
     "B5<hello> T[Content-Length=3]|R1:GET /next", false},
    /* a higher HTTP/1.x minor version is served as 1.1 (RFC 9110 §6.2) */
    {S("GET / HTTP/1.2\r\nHost: h\r\n\r\n" NEXT), "HTTP/1.2 ka=1", false},

    /* Refused by RFC, accepted by llhttp: */
    {S("GET / HTTP/1.1\r\nHost: h\r\nHost: h\r\n\r\n"), "E400 more than one Host", false},
    {S("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"), "E400 invalid Host", false},
    {S("POST / HTTP/1.0\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
       "5\r\nhello\r\n0\r\n\r\n"),
     "E400 Transfer-Encoding in an HTTP/1.0", false},
    {S("GET * HTTP/1.1\r\nHost: h\r\n\r\n"), "E400 '*' target", false},
    {S("CONNECT h HTTP/1.1\r\nHost: h\r\n\r\n"), "E400 CONNECT needs", false},
    {S("\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"), "E400 line not ended by CRLF", false},
    {S("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello\n" NEXT),
     "E400 line not ended by CRLF", false},
    {S("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
       "5\r\nhello\r\n0\r\n\r\n"),
     "E501", false},
};

static void check_case(size_t i, const diff_case_t *c) {
  char *whole = http_transcript(c->in, c->len, NULL, piece_all, NULL, NULL);
  bool ok = c->exact ? strcmp(whole, c->want) == 0 : strstr(whole, c->want) != NULL;
  if (!ok) {
    fprintf(stderr, "case %zu: want %s\"%s\", got:\n  %s\n", i, c->exact ? "" : "...",
            c->want, whole);
    abort();
  }
  char *t = http_transcript(c->in, c->len, NULL, piece_one, NULL, NULL);
  CHECK_STREQ(t, whole);
  free(t);
  for (unsigned seed = 1; seed <= 4; seed++) {
    unsigned s = seed * 2654435761u;
    t = http_transcript(c->in, c->len, NULL, piece_random, &s, NULL);
    CHECK_STREQ(t, whole);
    free(t);
  }
  free(whole);
}

int main(void) {
  test_time_limit(60);
  size_t n = sizeof k_cases / sizeof k_cases[0];
  for (size_t i = 0; i < n; i++)
    check_case(i, &k_cases[i]);
  printf("%zu differential cases checked\n", n);
  TEST_PASS("http_parser_diff_cases");
}
