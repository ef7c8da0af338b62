/* HTTP request parser: every rule of the request (line, target forms,
 * versions, fields, keep-alive, Expect, Content-Length and chunked bodies,
 * trailers), every limit at its edge, the execute/consumed contract, reset,
 * and the request helpers (percent-decoding, methods, token lists). */
#include <errno.h>

#include "cmuduo/http/http_parser.h"
#include "test_http_parser_util.h"
#include "test_util.h"

#define S(lit) lit, sizeof(lit) - 1

/* Parses `in` fed whole; it must be exactly one request and nothing more. */
static mu_http_request_t *parse_one_lim(const char *in, size_t n,
                                        const mu_http_limits_t *lim) {
  mu_http_parser_t p;
  mu_http_parser_init(&p, lim);
  size_t used, off = 0;
  mu_http_parse_result_t rc = mu_http_parser_execute(&p, in, n, &used);
  if (rc == MU_HTTP_HEADERS_DONE) {
    off = used;
    rc = mu_http_parser_execute(&p, in + off, n - off, &used);
  }
  if (rc != MU_HTTP_REQUEST_DONE) {
    fprintf(stderr, "parse_one: rc %d status %d (%s) for:\n%.*s\n", rc,
            mu_http_parser_error_status(&p), mu_http_parser_error_reason(&p), (int)n, in);
  }
  CHECK_EQ(rc, MU_HTTP_REQUEST_DONE);
  CHECK_EQ(off + used, n);
  mu_http_request_t *r = mu_http_parser_take_request(&p);
  CHECK(r != NULL);
  CHECK(mu_http_parser_idle(&p));
  mu_http_parser_destroy(&p);
  return r;
}

static mu_http_request_t *parse_one(const char *in, size_t n) {
  return parse_one_lim(in, n, NULL);
}

static mu_http_limits_t small_limits(void) {
  mu_http_limits_t l = mu_http_limits_default();
  l.max_request_line = 64;
  l.max_header_bytes = 128;
  l.max_headers = 4;
  l.max_body = 32;
  l.max_chunk_line = 16;
  return l;
}

static void test_basic_get(void) {
  mu_http_request_t *r =
      parse_one(S("GET /index.html?a=1&b=%20 HTTP/1.1\r\n"
                  "Host: example.com\r\n"
                  "User-Agent:   curl/8.0 \t\r\n"
                  "Accept:*/*\r\n"
                  "X-Empty:\r\n"
                  "\r\n"));
  CHECK_EQ(mu_http_request_method(r), MU_HTTP_METHOD_GET);
  CHECK_STREQ(mu_http_request_method_str(r), "GET");
  CHECK_STREQ(mu_http_request_target(r), "/index.html?a=1&b=%20");
  CHECK_STREQ(mu_http_request_path(r), "/index.html");
  CHECK_STREQ(mu_http_request_query(r), "a=1&b=%20");
  CHECK(mu_http_request_has_query(r));
  CHECK_EQ(mu_http_request_version_major(r), 1);
  CHECK_EQ(mu_http_request_version_minor(r), 1);
  CHECK_EQ(mu_http_request_header_count(r), 4);
  CHECK_STREQ(mu_http_request_header(r, "host"), "example.com");
  CHECK_STREQ(mu_http_request_header(r, "USER-AGENT"), "curl/8.0");
  CHECK_STREQ(mu_http_request_header(r, "accept"), "*/*");
  CHECK_STREQ(mu_http_request_header(r, "x-empty"), "");
  CHECK(mu_http_request_header(r, "Accep") == NULL);
  CHECK(mu_http_request_header(r, "Accepts") == NULL);
  const mu_http_header_t *h = mu_http_request_header_at(r, 1);
  CHECK_STREQ(h->name, "User-Agent");
  CHECK_EQ(h->name_len, 10);
  CHECK_STREQ(h->value, "curl/8.0");
  CHECK_EQ(h->value_len, 8);
  CHECK(mu_http_request_header_at(r, 4) == NULL);
  CHECK(mu_http_request_keep_alive(r));
  CHECK(!mu_http_request_expect_continue(r));
  CHECK(!mu_http_request_chunked(r));
  size_t len = 99;
  CHECK_STREQ(mu_http_request_body(r, &len), "");
  CHECK_EQ(len, 0);
  CHECK_EQ(mu_http_request_trailer_count(r), 0);
  CHECK(mu_http_request_trailer(r, "host") == NULL);
  mu_http_request_free(r);
  mu_http_request_free(NULL);
}

static void test_repeated_headers(void) {
  mu_http_request_t *r = parse_one(
      S("GET / HTTP/1.1\r\nCookie: a=1\r\nHost: h\r\ncookie: b=2\r\nCOOKIE:c=3\r\n\r\n"));
  CHECK_EQ(mu_http_request_header_count(r), 4);
  CHECK_STREQ(mu_http_request_header(r, "Cookie"), "a=1");
  size_t pos = 0;
  CHECK_STREQ(mu_http_request_header_next(r, "cookie", &pos), "a=1");
  CHECK_STREQ(mu_http_request_header_next(r, "cookie", &pos), "b=2");
  CHECK_STREQ(mu_http_request_header_next(r, "cookie", &pos), "c=3");
  CHECK(mu_http_request_header_next(r, "cookie", &pos) == NULL);
  CHECK(mu_http_request_header_next(r, "cookie", &pos) == NULL);
  pos = 0;
  CHECK(mu_http_request_header_next(r, "missing", &pos) == NULL);
  /* order and original case kept */
  CHECK_STREQ(mu_http_request_header_at(r, 2)->name, "cookie");
  CHECK_STREQ(mu_http_request_header_at(r, 3)->name, "COOKIE");
  mu_http_request_free(r);
}

static void test_methods(void) {
  static const struct {
    const char *name;
    mu_http_method_t m;
  } table[] = {
      {"GET", MU_HTTP_METHOD_GET},        {"HEAD", MU_HTTP_METHOD_HEAD},
      {"POST", MU_HTTP_METHOD_POST},      {"PUT", MU_HTTP_METHOD_PUT},
      {"DELETE", MU_HTTP_METHOD_DELETE},  {"OPTIONS", MU_HTTP_METHOD_OPTIONS},
      {"TRACE", MU_HTTP_METHOD_TRACE},    {"PATCH", MU_HTTP_METHOD_PATCH},
      {"get", MU_HTTP_METHOD_OTHER},      {"PROPFIND", MU_HTTP_METHOD_OTHER},
      {"M-SEARCH", MU_HTTP_METHOD_OTHER}, {"GETS", MU_HTTP_METHOD_OTHER},
  };
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
    char req[128];
    int n = snprintf(req, sizeof req, "%s /x HTTP/1.1\r\nHost: h\r\n\r\n", table[i].name);
    mu_http_request_t *r = parse_one(req, (size_t)n);
    CHECK_EQ(mu_http_request_method(r), table[i].m);
    CHECK_STREQ(mu_http_request_method_str(r), table[i].name);
    mu_http_request_free(r);
    CHECK_EQ(mu_http_method_from_string(table[i].name, strlen(table[i].name)),
             table[i].m);
  }
  mu_http_request_t *r =
      parse_one(S("CONNECT example.com:443 HTTP/1.1\r\nHost: x\r\n\r\n"));
  CHECK_EQ(mu_http_request_method(r), MU_HTTP_METHOD_CONNECT);
  mu_http_request_free(r);
  CHECK_STREQ(mu_http_method_name(MU_HTTP_METHOD_PATCH), "PATCH");
  CHECK_STREQ(mu_http_method_name(MU_HTTP_METHOD_GET), "GET");
  CHECK_STREQ(mu_http_method_name(MU_HTTP_METHOD_OTHER), "");
  CHECK_STREQ(mu_http_method_name((mu_http_method_t)1000), "");
  CHECK_EQ(mu_http_method_from_string("GETX", 3), MU_HTTP_METHOD_GET);
  CHECK_EQ(mu_http_method_from_string("", 0), MU_HTTP_METHOD_OTHER);
}

typedef struct target_case {
  const char *line; /* method and target */
  const char *path;
  const char *query;
  bool has_query;
} target_case_t;

static void test_targets(void) {
  static const target_case_t table[] = {
      {"GET /", "/", "", false},
      {"GET /a/b", "/a/b", "", false},
      {"GET /a?", "/a", "", true},
      {"GET /a?x=1?y", "/a", "x=1?y", true},
      {"GET /%41%2f?q=%20", "/%41%2f", "q=%20", true},
      {"GET /?", "/", "", true},
      {"GET http://example.com:8080/a/b?x=1", "/a/b", "x=1", true},
      {"GET http://example.com", "/", "", false},
      {"GET http://example.com?q", "/", "q", true},
      {"GET https://u@h/p", "/p", "", false},
      {"GET urn:isbn:1", "isbn:1", "", false},
      {"OPTIONS *", "*", "", false},
      {"OPTIONS /", "/", "", false},
      {"CONNECT example.com:443", "", "", false},
      {"CONNECT [::1]:8443", "", "", false},
  };
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
    char req[256];
    int n = snprintf(req, sizeof req, "%s HTTP/1.1\r\nHost: h\r\n\r\n", table[i].line);
    mu_http_request_t *r = parse_one(req, (size_t)n);
    CHECK_STREQ(mu_http_request_target(r), strchr(table[i].line, ' ') + 1);
    CHECK_STREQ(mu_http_request_path(r), table[i].path);
    CHECK_STREQ(mu_http_request_query(r), table[i].query);
    CHECK_EQ(mu_http_request_has_query(r), table[i].has_query);
    mu_http_request_free(r);
  }
}

static void test_versions(void) {
  mu_http_request_t *r = parse_one(S("GET / HTTP/1.0\r\n\r\n"));
  CHECK_EQ(mu_http_request_version_minor(r), 0);
  CHECK_EQ(mu_http_request_header_count(r), 0);
  CHECK(!mu_http_request_keep_alive(r));
  mu_http_request_free(r);
  /* 1.2 is served as 1.1 (RFC 9110 §6.2): keep-alive by default, Host needed */
  r = parse_one(S("GET / HTTP/1.2\r\nHost: h\r\n\r\n"));
  CHECK_EQ(mu_http_request_version_major(r), 1);
  CHECK_EQ(mu_http_request_version_minor(r), 2);
  CHECK(mu_http_request_keep_alive(r));
  mu_http_request_free(r);
  CHECK_EQ(http_status_of(S("GET / HTTP/1.2\r\n\r\n"), NULL), 400);
  CHECK_EQ(http_status_of(S("GET / HTTP/2.0\r\nHost: h\r\n\r\n"), NULL), 505);
  CHECK_EQ(http_status_of(S("GET / HTTP/0.9\r\n\r\n"), NULL), 505);
  CHECK_EQ(http_status_of(S("GET / HTTP/3.0\r\n\r\n"), NULL), 505);
  CHECK_EQ(http_status_of(S("GET / HTTP/1.10\r\n\r\n"), NULL), 400);
  CHECK_EQ(http_status_of(S("GET / HTTP/11\r\n\r\n"), NULL), 400);
  CHECK_EQ(http_status_of(S("GET / http/1.1\r\n\r\n"), NULL), 400);
}

typedef struct ka_case {
  const char *version;
  const char *fields; /* extra field lines */
  bool keep_alive;
} ka_case_t;

static void test_keep_alive(void) {
  static const ka_case_t table[] = {
      {"1.1", "", true},
      {"1.1", "Connection: close\r\n", false},
      {"1.1", "Connection: Close\r\n", false},
      {"1.1", "Connection: CLOSE\r\n", false},
      {"1.1", "Connection: keep-alive\r\n", true},
      {"1.1", "Connection: upgrade, close\r\n", false},
      {"1.1", "Connection: close , upgrade\r\n", false},
      {"1.1", "Connection: upgrade\r\nConnection: close\r\n", false},
      {"1.1", "Connection: closed\r\n", true},
      {"1.1", "Connection: xclose\r\n", true},
      {"1.1", "Connection: \"close\"\r\n", true},
      {"1.1", "Connection:\r\n", true},
      {"1.1", "X-Connection: close\r\n", true},
      {"1.0", "", false},
      {"1.0", "Connection: keep-alive\r\n", true},
      {"1.0", "Connection: Keep-Alive\r\n", true},
      {"1.0", "Connection: foo,,keep-alive\r\n", true},
      {"1.0", "Connection: keep-alive, close\r\n", false},
      {"1.0", "Connection: close\r\nConnection: keep-alive\r\n", false},
      {"1.0", "Connection: keep-alives\r\n", false},
      {"1.0", "Keep-Alive: timeout=5\r\n", false},
      {"1.2", "", true},
      {"1.2", "Connection: close\r\n", false},
  };
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
    char req[256];
    int n = snprintf(req, sizeof req, "GET / HTTP/%s\r\nHost: h\r\n%s\r\n",
                     table[i].version, table[i].fields);
    mu_http_request_t *r = parse_one(req, (size_t)n);
    if (mu_http_request_keep_alive(r) != table[i].keep_alive) {
      fprintf(stderr, "keep-alive case %zu\n", i);
    }
    CHECK_EQ(mu_http_request_keep_alive(r), table[i].keep_alive);
    mu_http_request_free(r);
  }
}

static void test_expect_continue(void) {
  static const char head[] =
      "POST /up HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n";
  mu_http_parser_t p;
  mu_http_parser_init(&p, NULL);
  CHECK(mu_http_parser_current_request(&p) == NULL);
  size_t used;
  CHECK_EQ(mu_http_parser_execute(&p, head, sizeof head - 1, &used),
           MU_HTTP_HEADERS_DONE);
  CHECK_EQ(used, sizeof head - 1); /* up to the head's last byte, no further */
  const mu_http_request_t *cur = mu_http_parser_current_request(&p);
  CHECK(cur != NULL);
  CHECK(mu_http_request_expect_continue(cur));
  CHECK_STREQ(mu_http_request_path(cur), "/up");
  CHECK_EQ(mu_http_request_body_length(cur), 0);
  CHECK(mu_http_parser_take_request(&p) == NULL);
  CHECK(!mu_http_parser_idle(&p));
  /* the client waits for 100 Continue: nothing more arrives */
  CHECK_EQ(mu_http_parser_execute(&p, NULL, 0, &used), MU_HTTP_NEED_MORE);
  CHECK_EQ(used, 0);
  CHECK_EQ(mu_http_parser_execute(&p, "hel", 3, &used), MU_HTTP_NEED_MORE);
  CHECK_EQ(used, 3);
  CHECK(mu_http_parser_current_request(&p) == cur);
  CHECK_EQ(mu_http_request_body_length(cur), 3);
  CHECK_EQ(mu_http_parser_execute(&p, "loGET", 5, &used), MU_HTTP_REQUEST_DONE);
  CHECK_EQ(used, 2);
  CHECK(mu_http_parser_current_request(&p) == NULL);
  mu_http_request_t *r = mu_http_parser_take_request(&p);
  CHECK_STREQ(mu_http_request_body(r, NULL), "hello");
  CHECK(mu_http_request_expect_continue(r));
  mu_http_request_free(r);
  mu_http_parser_destroy(&p);

  struct {
    const char *req;
    bool expect;
  } table[] = {
      {"POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\nx",
       true},
      {"POST / HTTP/1.1\r\nHost: h\r\nexpect:100-CONTINUE \r\nContent-Length: 1\r\n\r\nx",
       true},
      {"POST / HTTP/1.1\r\nHost: h\r\nExpect: foo, 100-continue\r\n"
       "Transfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n",
       true},
      /* RFC 9110 §10.1.1: an HTTP/1.0 expectation is ignored */
      {"POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx", false},
      {"POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continued\r\nContent-Length: "
       "1\r\n\r\nx",
       false},
      {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\nx", false},
      /* no body: no HEADERS_DONE, but the request still says what it asked */
      {"GET / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n\r\n", true},
  };
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
    r = parse_one(table[i].req, strlen(table[i].req));
    CHECK_EQ(mu_http_request_expect_continue(r), table[i].expect);
    mu_http_request_free(r);
  }
}

static void test_content_length(void) {
  mu_http_request_t *r = parse_one(
      S("POST /f HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello\0world"));
  size_t len;
  const char *body = mu_http_request_body(r, &len);
  CHECK_EQ(len, 11);
  CHECK(memcmp(body, "hello\0world", 12) == 0); /* with its NUL terminator */
  CHECK(!mu_http_request_chunked(r));
  mu_http_request_free(r);

  static const char *const ok[] = {
      "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 3\r\n\r\nabc",
      "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\ncontent-length:3\r\n\r\nabc",
      "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 003\r\nContent-Length: 3\r\n\r\nabc",
      "POST / HTTP/1.1\r\nHost: h\r\nContent-Length:3 ,3,  03\r\n\r\nabc",
      "POST / HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc",
  };
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
    r = parse_one(ok[i], strlen(ok[i]));
    CHECK_STREQ(mu_http_request_body(r, NULL), "abc");
    mu_http_request_free(r);
  }
  /* Content-Length: 0 has no body: straight to REQUEST_DONE */
  char *t = http_transcript_all(
      S("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n"), NULL);
  CHECK(strncmp(t, "R", 1) == 0);
  CHECK(strstr(t, "B0<>") != NULL);
  free(t);
  /* a body on GET is read by its framing like any other */
  r = parse_one(S("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi"));
  CHECK_STREQ(mu_http_request_body(r, NULL), "hi");
  mu_http_request_free(r);
  /* an HTTP/1.0 request without a length has no body (RFC 9112 §6.3 item 7) */
  t = http_transcript_all(S("POST / HTTP/1.0\r\n\r\nGET / HTTP/1.0\r\n\r\n"), NULL);
  CHECK(strstr(t, "R3:POST") == t);
  CHECK(strstr(t, "|R1:GET") != NULL);
  free(t);
}

static void test_chunked(void) {
  mu_http_request_t *r =
      parse_one(S("POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                  "5\r\nhello\r\n"
                  "1;ext\r\n \r\n"
                  "A ; name = value ;q=\"a \\\"b\\\" c\"\r\n0123456789\r\n"
                  "00002\r\n\r\n\r\n"
                  "0;last=1\r\n"
                  "Expires: never\r\n"
                  "X-Checksum:  abc \r\n"
                  "x-checksum: def\r\n"
                  "\r\n"));
  size_t len;
  const char *body = mu_http_request_body(r, &len);
  CHECK_EQ(len, 18);
  CHECK(memcmp(body, "hello 0123456789\r\n", 18) == 0);
  CHECK(mu_http_request_chunked(r));
  CHECK_STREQ(mu_http_request_header(r, "transfer-encoding"), "chunked");
  CHECK_EQ(mu_http_request_trailer_count(r), 3);
  CHECK_STREQ(mu_http_request_trailer(r, "expires"), "never");
  CHECK_STREQ(mu_http_request_trailer(r, "X-CHECKSUM"), "abc");
  size_t pos = 0;
  CHECK_STREQ(mu_http_request_trailer_next(r, "x-checksum", &pos), "abc");
  CHECK_STREQ(mu_http_request_trailer_next(r, "x-checksum", &pos), "def");
  CHECK(mu_http_request_trailer_next(r, "x-checksum", &pos) == NULL);
  CHECK_STREQ(mu_http_request_trailer_at(r, 0)->name, "Expires");
  CHECK(mu_http_request_trailer_at(r, 3) == NULL);
  CHECK(mu_http_request_header(r, "expires") == NULL); /* trailers stay apart */
  mu_http_request_free(r);

  static const char *const ok[] = {
      "Transfer-Encoding: Chunked",        "Transfer-Encoding: CHUNKED ",
      "Transfer-Encoding: ,chunked",       "Transfer-Encoding: chunked,",
      "Transfer-Encoding: , , chunked , ",
  };
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
    char req[256];
    int n =
        snprintf(req, sizeof req,
                 "POST / HTTP/1.1\r\nHost: h\r\n%s\r\n\r\n3\r\nabc\r\n0\r\n\r\n", ok[i]);
    r = parse_one(req, (size_t)n);
    CHECK_STREQ(mu_http_request_body(r, NULL), "abc");
    CHECK_EQ(mu_http_request_trailer_count(r), 0);
    mu_http_request_free(r);
  }
  /* only the last chunk: an empty body */
  r =
      parse_one(S("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                  "000\r\n\r\n"));
  CHECK_EQ(mu_http_request_body_length(r), 0);
  CHECK_STREQ(mu_http_request_body(r, NULL), "");
  mu_http_request_free(r);
}

static void test_leading_empty_lines(void) {
  mu_http_request_t *r = parse_one(S("\r\n\r\n\r\nGET /x HTTP/1.1\r\nHost: h\r\n\r\n"));
  CHECK_STREQ(mu_http_request_target(r), "/x");
  mu_http_request_free(r);
  mu_http_parser_t p;
  mu_http_parser_init(&p, NULL);
  size_t used;
  CHECK_EQ(mu_http_parser_execute(&p, S("\r\n\r\n"), &used), MU_HTTP_NEED_MORE);
  CHECK(mu_http_parser_idle(&p));
  CHECK_EQ(mu_http_parser_execute(&p, S("\r\n\n"), &used), MU_HTTP_ERROR);
  CHECK_EQ(mu_http_parser_error_status(&p), 400);
  mu_http_parser_destroy(&p);
}

/* execute stops at the end of each request; the rest stays with the caller. */
static void test_consumed(void) {
#define REQ1 "GET /1 HTTP/1.1\r\nHost: h\r\n\r\n"
#define HEAD2 "POST /2 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\n"
  static const char in[] = REQ1 HEAD2
      "abc"
      "GET /3 HTTP/1.1\r\nHo";
  const size_t l1 = sizeof REQ1 - 1, l2h = sizeof HEAD2 - 1, l2 = l2h + 3;
  mu_http_parser_t p;
  mu_http_parser_init(&p, NULL);
  CHECK(mu_http_parser_idle(&p));
  size_t used, off = 0;
  CHECK_EQ(mu_http_parser_execute(&p, in, sizeof in - 1, &used), MU_HTTP_REQUEST_DONE);
  CHECK_EQ(used, l1);
  CHECK(mu_http_parser_idle(&p));
  mu_http_request_t *r1 = mu_http_parser_take_request(&p);
  off += used;
  CHECK_EQ(mu_http_parser_execute(&p, in + off, sizeof in - 1 - off, &used),
           MU_HTTP_HEADERS_DONE);
  CHECK_EQ(used, l2h);
  off += used;
  CHECK_EQ(mu_http_parser_execute(&p, in + off, sizeof in - 1 - off, &used),
           MU_HTTP_REQUEST_DONE);
  CHECK_EQ(used, 3);
  off += used;
  CHECK_EQ(off, l1 + l2);
  mu_http_request_t *r2 = mu_http_parser_take_request(&p);
  CHECK_EQ(mu_http_parser_execute(&p, in + off, sizeof in - 1 - off, &used),
           MU_HTTP_NEED_MORE);
  CHECK_EQ(used, sizeof in - 1 - off);
  CHECK(!mu_http_parser_idle(&p));
  CHECK(mu_http_parser_take_request(&p) == NULL);
  CHECK_EQ(mu_http_parser_execute(&p, S("st: h\r\n\r\n"), &used), MU_HTTP_REQUEST_DONE);
  mu_http_request_t *r3 = mu_http_parser_take_request(&p);
  CHECK_STREQ(mu_http_request_target(r1), "/1");
  CHECK_STREQ(mu_http_request_body(r2, NULL), "abc");
  CHECK_STREQ(mu_http_request_target(r3), "/3");
  CHECK_STREQ(mu_http_request_header(r3, "host"), "h");
  /* the requests are independent of the parser and of each other */
  mu_http_parser_destroy(&p);
  mu_http_request_free(r2);
  CHECK_STREQ(mu_http_request_header(r1, "host"), "h");
  mu_http_request_free(r1);
  mu_http_request_free(r3);
}

/* A request reported but never taken is freed by the next call, by reset and
 * by destroy (ASan's leak check fails this test otherwise). */
static void test_untaken_and_reset(void) {
  static const char two[] =
      "GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n";
  const size_t one = (sizeof two - 1) / 2;
  mu_http_parser_t p;
  mu_http_parser_init(&p, NULL);
  size_t used;
  CHECK_EQ(mu_http_parser_execute(&p, two, sizeof two - 1, &used), MU_HTTP_REQUEST_DONE);
  CHECK_EQ(mu_http_parser_execute(&p, two + used, sizeof two - 1 - used, &used),
           MU_HTTP_REQUEST_DONE);
  mu_http_request_t *r = mu_http_parser_take_request(&p);
  CHECK_STREQ(mu_http_request_target(r), "/b");
  mu_http_request_free(r);
  CHECK_EQ(mu_http_parser_execute(&p, two, one, &used), MU_HTTP_REQUEST_DONE);
  mu_http_parser_reset(&p); /* frees the untaken one */
  CHECK(mu_http_parser_take_request(&p) == NULL);
  CHECK_EQ(mu_http_parser_execute(&p, two, one, &used), MU_HTTP_REQUEST_DONE);
  mu_http_parser_destroy(&p); /* and so does destroy */

  /* reset drops a partial request and an error, and keeps the limits */
  mu_http_limits_t l = small_limits();
  mu_http_parser_init(&p, &l);
  CHECK_EQ(mu_http_parser_execute(
               &p, S("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 9\r\n\r\nab"), &used),
           MU_HTTP_HEADERS_DONE);
  CHECK_EQ(mu_http_parser_execute(&p, S("ab"), &used), MU_HTTP_NEED_MORE);
  mu_http_parser_reset(&p);
  CHECK(mu_http_parser_idle(&p));
  CHECK(mu_http_parser_current_request(&p) == NULL);
  CHECK_EQ(mu_http_parser_execute(&p, S("GET / HTTP/1.1\r\nHost: h\r\n\r\n"), &used),
           MU_HTTP_REQUEST_DONE);
  CHECK_EQ(mu_http_parser_execute(&p, S("BAD\r\n"), &used), MU_HTTP_ERROR);
  CHECK_EQ(mu_http_parser_error_status(&p), 400);
  CHECK(strlen(mu_http_parser_error_reason(&p)) > 0);
  CHECK(mu_http_parser_take_request(&p) == NULL); /* the untaken one went */
  mu_http_parser_reset(&p);
  CHECK_EQ(mu_http_parser_error_status(&p), 0);
  CHECK_STREQ(mu_http_parser_error_reason(&p), "");
  CHECK_EQ(mu_http_parser_execute(
               &p, S("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 33\r\n\r\n"), &used),
           MU_HTTP_ERROR);
  CHECK_EQ(mu_http_parser_error_status(&p), 413); /* small limits survived reset */
  mu_http_parser_destroy(&p);

  /* destroy in the middle of a body, of a chunked body, of trailers */
  static const char *const partial[] = {
      "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 9\r\n\r\nab",
      "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab",
      "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n1",
      "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nA: b\r\n",
      "GET / HTTP/1.1\r\nHost: h\r\nX-Long: aaaaaaaaaa",
  };
  for (size_t i = 0; i < sizeof partial / sizeof partial[0]; i++) {
    mu_http_parser_init(&p, NULL);
    size_t n = strlen(partial[i]), off = 0;
    mu_http_parse_result_t rc;
    do {
      rc = mu_http_parser_execute(&p, partial[i] + off, n - off, &used);
      off += used;
    } while (rc == MU_HTTP_HEADERS_DONE);
    CHECK_EQ(rc, MU_HTTP_NEED_MORE);
    CHECK(!mu_http_parser_idle(&p));
    mu_http_parser_destroy(&p);
  }
}

/* Each limit: accepted exactly at it, rejected one byte (or one field) past. */
static void test_limits(void) {
  mu_http_limits_t l = small_limits();
  char buf[512];
  /* request line: "GET /" + pad + " HTTP/1.1" is 14 + pad bytes */
  for (int over = 0; over <= 1; over++) {
    int pad = 64 - 14 + over;
    int n = snprintf(buf, sizeof buf, "GET /%.*s HTTP/1.1\r\nHost: h\r\n\r\n", pad,
                     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    CHECK_EQ(http_status_of(buf, (size_t)n, &l), over ? 414 : 0);
  }
  /* header section: "Host: h\r\n" (9) + "X: " pad "\r\n" (5 + pad) + "\r\n" (2) */
  for (int over = 0; over <= 1; over++) {
    int pad = 128 - 16 + over;
    int n =
        snprintf(buf, sizeof buf, "GET / HTTP/1.1\r\nHost: h\r\nX: %0*d\r\n\r\n", pad, 7);
    CHECK_EQ(http_status_of(buf, (size_t)n, &l), over ? 431 : 0);
  }
  /* field count */
  CHECK_EQ(
      http_status_of(S("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n"), &l),
      0);
  CHECK_EQ(
      http_status_of(
          S("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n"), &l),
      431);
  /* body by Content-Length: refused at the head, before any body byte */
  int n = snprintf(buf, sizeof buf,
                   "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 32\r\n\r\n%032d", 0);
  CHECK_EQ(http_status_of(buf, (size_t)n, &l), 0);
  CHECK_EQ(
      http_status_of(S("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 33\r\n\r\n"), &l),
      413);
  CHECK_EQ(http_status_of(S("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: "
                            "99999999999999999999999999\r\n\r\n"),
                          &l),
           413);
  CHECK_EQ(http_status_of(S("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: "
                            "18446744073709551616\r\n\r\n"),
                          NULL),
           413);
  /* chunked body: the sum of the chunks, refused at the chunk-size line */
  n = snprintf(buf, sizeof buf,
               "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
               "10\r\n%016d\r\n10\r\n%016d\r\n0\r\n\r\n",
               1, 2);
  CHECK_EQ(http_status_of(buf, (size_t)n, &l), 0);
  CHECK_EQ(
      http_status_of(S("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                       "10\r\n0123456789abcdef\r\n11\r\n"),
                     &l),
      413);
  CHECK_EQ(
      http_status_of(S("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                       "fffffffffffffffff\r\n"),
                     NULL),
      413);
  CHECK_EQ(
      http_status_of(S("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                       "00000000000000000000000001\r\nx\r\n0\r\n\r\n"),
                     NULL),
      0);
  /* chunk-size line of exactly 16 bytes, then 17 */
  CHECK_EQ(
      http_status_of(S("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                       "1;aaaaaaaaaaaaaa\r\nx\r\n0\r\n\r\n"),
                     &l),
      0);
  CHECK_EQ(
      http_status_of(S("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                       "1;aaaaaaaaaaaaaaa\r\nx\r\n0\r\n\r\n"),
                     &l),
      400);
  /* trailers: their own section of max_header_bytes and max_headers */
  CHECK_EQ(
      http_status_of(S("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                       "0\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n"),
                     &l),
      0);
  CHECK_EQ(
      http_status_of(S("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                       "0\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n\r\n"),
                     &l),
      431);
  n = snprintf(buf, sizeof buf,
               "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
               "0\r\nX: %0*d\r\n\r\n",
               128 - 7, 5);
  CHECK_EQ(http_status_of(buf, (size_t)n, &l), 0);
  n = snprintf(buf, sizeof buf,
               "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
               "0\r\nX: %0*d\r\n\r\n",
               128 - 6, 5);
  CHECK_EQ(http_status_of(buf, (size_t)n, &l), 431);
  /* max_body 0: no body at all */
  l.max_body = 0;
  CHECK_EQ(
      http_status_of(S("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n"), &l),
      0);
  CHECK_EQ(
      http_status_of(S("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\nx"), &l),
      413);
  CHECK_EQ(
      http_status_of(S("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                       "0\r\n\r\n"),
                     &l),
      0);
  CHECK_EQ(
      http_status_of(S("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                       "1\r\n"),
                     &l),
      413);
}

/* The defaults: 8 KiB request line (414), 16 KiB header section (431). A
 * too-long line is refused before its end arrives. */
static void test_default_limits(void) {
  mu_http_limits_t d = mu_http_limits_default();
  CHECK_EQ(d.max_request_line, 8192);
  CHECK_EQ(d.max_header_bytes, 16384);
  CHECK_EQ(d.max_headers, 100);
  CHECK_EQ(d.max_body, 1024 * 1024);
  size_t cap = 40000;
  char *buf = malloc(cap);
  CHECK(buf != NULL);
  for (int over = 0; over <= 1; over++) {
    size_t pad = 8192 - 14 + (size_t)over;
    memcpy(buf, "GET /", 5);
    memset(buf + 5, 'a', pad);
    int n = snprintf(buf + 5 + pad, cap - 5 - pad, " HTTP/1.1\r\nHost: h\r\n\r\n");
    CHECK_EQ(http_status_of(buf, 5 + pad + (size_t)n, NULL), over ? 414 : 0);
  }
  for (int over = 0; over <= 1; over++) {
    size_t pad = 16384 - 16 + (size_t)over;
    int n = snprintf(buf, cap, "GET / HTTP/1.1\r\nHost: h\r\nX: ");
    memset(buf + n, 'v', pad);
    memcpy(buf + (size_t)n + pad, "\r\n\r\n", 4);
    CHECK_EQ(http_status_of(buf, (size_t)n + pad + 4, NULL), over ? 431 : 0);
  }
  /* an endless request line is refused once it passes the limit */
  mu_http_parser_t p;
  mu_http_parser_init(&p, NULL);
  memset(buf, 'a', cap);
  memcpy(buf, "GET /", 5);
  size_t used;
  CHECK_EQ(mu_http_parser_execute(&p, buf, 8193, &used), MU_HTTP_NEED_MORE);
  CHECK_EQ(mu_http_parser_execute(&p, buf, 1, &used), MU_HTTP_ERROR);
  CHECK_EQ(mu_http_parser_error_status(&p), 414);
  mu_http_parser_destroy(&p);
  /* as is an endless header line */
  mu_http_parser_init(&p, NULL);
  CHECK_EQ(mu_http_parser_execute(&p, S("GET / HTTP/1.1\r\nX: "), &used),
           MU_HTTP_NEED_MORE);
  CHECK_EQ(mu_http_parser_execute(&p, buf, 16384 - 3, &used), MU_HTTP_NEED_MORE);
  CHECK_EQ(mu_http_parser_execute(&p, buf, 1, &used), MU_HTTP_ERROR);
  CHECK_EQ(mu_http_parser_error_status(&p), 431);
  mu_http_parser_destroy(&p);
  /* 100 header fields pass, 101 do not */
  for (int over = 0; over <= 1; over++) {
    size_t off = (size_t)snprintf(buf, cap, "GET / HTTP/1.1\r\n");
    for (int i = 0; i < 100 + over; i++) {
      off +=
          (size_t)snprintf(buf + off, cap - off, "%s: %d\r\n", i == 0 ? "Host" : "X", i);
    }
    off += (size_t)snprintf(buf + off, cap - off, "\r\n");
    CHECK_EQ(http_status_of(buf, off, NULL), over ? 431 : 0);
  }
  free(buf);
}

/* Huge limits are clamped rather than overflowing the arithmetic on them. */
static void test_huge_limits(void) {
  mu_http_limits_t l = {SIZE_MAX, SIZE_MAX, SIZE_MAX, SIZE_MAX, SIZE_MAX};
  mu_http_request_t *r =
      parse_one_lim(S("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "3\r\nabc\r\n0\r\nT: 1\r\n\r\n"),
                    &l);
  CHECK_STREQ(mu_http_request_body(r, NULL), "abc");
  CHECK_STREQ(mu_http_request_trailer(r, "t"), "1");
  mu_http_request_free(r);
  CHECK_EQ(http_status_of(S("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: "
                            "99999999999999999999999999\r\n\r\n"),
                          &l),
           413);
  CHECK_EQ(
      http_status_of(S("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                       "ffffffffffffffff\r\n"),
                     &l),
      413);
}

static void test_host_rules(void) {
  CHECK_EQ(http_status_of(S("GET / HTTP/1.1\r\n\r\n"), NULL), 400);
  CHECK_EQ(http_status_of(S("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"), NULL), 400);
  CHECK_EQ(http_status_of(S("GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n"), NULL), 400);
  CHECK_EQ(http_status_of(S("GET / HTTP/1.1\r\nHost: a b\r\n\r\n"), NULL), 400);
  CHECK_EQ(http_status_of(S("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"), NULL), 400);
  CHECK_EQ(http_status_of(S("GET / HTTP/1.1\r\nHost: a@b\r\n\r\n"), NULL), 400);
  CHECK_EQ(http_status_of(S("GET / HTTP/1.1\r\nHost:\r\n\r\n"), NULL), 0);
  CHECK_EQ(http_status_of(S("GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n"), NULL), 0);
  CHECK_EQ(
      http_status_of(S("GET / HTTP/1.1\r\nHost: xn--bcher-kva.example:80\r\n\r\n"), NULL),
      0);
  CHECK_EQ(http_status_of(S("GET / HTTP/1.0\r\n\r\n"), NULL), 0);
}

static void test_percent_decode(void) {
  char out[64];
  size_t len = 99;
  CHECK_EQ(mu_http_percent_decode(S("/a%20b%2Fc%2f%7e"), out, &len, 0), 0);
  CHECK_STREQ(out, "/a b/c/~");
  CHECK_EQ(len, 8);
  CHECK_EQ(mu_http_percent_decode(S("a+b%2B"), out, &len, 0), 0);
  CHECK_STREQ(out, "a+b+");
  CHECK_EQ(mu_http_percent_decode(S("a+b%2B"), out, &len, MU_HTTP_DECODE_PLUS_AS_SPACE),
           0);
  CHECK_STREQ(out, "a b+");
  CHECK_EQ(mu_http_percent_decode("", 0, out, &len, 0), 0);
  CHECK_STREQ(out, "");
  CHECK_EQ(len, 0);
  CHECK_EQ(mu_http_percent_decode(S("%"), out, &len, 0), -EINVAL);
  CHECK_EQ(mu_http_percent_decode(S("ab%2"), out, &len, 0), -EINVAL);
  CHECK_EQ(mu_http_percent_decode(S("%zz"), out, &len, 0), -EINVAL);
  CHECK_EQ(mu_http_percent_decode(S("%2g"), out, &len, 0), -EINVAL);
  CHECK_EQ(mu_http_percent_decode(S("%g2"), out, &len, 0), -EINVAL);
  /* only len bytes are read: the escape cut by len is malformed */
  CHECK_EQ(mu_http_percent_decode("%41%42", 5, out, &len, 0), -EINVAL);
  CHECK_EQ(mu_http_percent_decode("%41%42", 3, out, &len, 0), 0);
  CHECK_STREQ(out, "A");
  CHECK_EQ(mu_http_percent_decode(S("a%00b"), out, &len, 0), 0);
  CHECK_EQ(len, 3);
  CHECK(memcmp(out, "a\0b", 4) == 0);
  CHECK_EQ(mu_http_percent_decode(S("a%00b"), out, &len, MU_HTTP_DECODE_REJECT_NUL),
           -EINVAL);
  CHECK_EQ(mu_http_percent_decode(S("%ff%80"), out, &len, 0), 0);
  CHECK_EQ((unsigned char)out[0], 0xff);
  CHECK_EQ((unsigned char)out[1], 0x80);
  /* in place */
  char inplace[] = "/x%41y%2b%2B+";
  CHECK_EQ(mu_http_percent_decode(inplace, strlen(inplace), inplace, NULL,
                                  MU_HTTP_DECODE_PLUS_AS_SPACE),
           0);
  CHECK_STREQ(inplace, "/xAy++ ");
  /* the request's path is left encoded; decoding it is the caller's choice */
  mu_http_request_t *r = parse_one(S("GET /a%2Fb%20c?q=%41 HTTP/1.1\r\nHost: h\r\n\r\n"));
  const char *path = mu_http_request_path(r);
  CHECK_STREQ(path, "/a%2Fb%20c");
  CHECK_EQ(mu_http_percent_decode(path, strlen(path), out, &len, 0), 0);
  CHECK_STREQ(out, "/a/b c");
  CHECK_STREQ(mu_http_request_path(r), "/a%2Fb%20c");
  mu_http_request_free(r);
}

static void test_list_has_token(void) {
  CHECK(mu_http_list_has_token("close", "close"));
  CHECK(mu_http_list_has_token("Close", "close"));
  CHECK(mu_http_list_has_token("  keep-alive ,\tUpgrade ", "upgrade"));
  CHECK(mu_http_list_has_token(",,a,,b,,", "b"));
  CHECK(mu_http_list_has_token("a, b", "a"));
  CHECK(!mu_http_list_has_token("", "a"));
  CHECK(!mu_http_list_has_token(" , ", "a"));
  CHECK(!mu_http_list_has_token("ab", "a"));
  CHECK(!mu_http_list_has_token("a b", "a"));
  CHECK(!mu_http_list_has_token("xclose, closex", "close"));
}

/* The request outlives its parser and owns its strings. */
static void test_request_independent(void) {
  mu_http_parser_t p;
  mu_http_parser_init(&p, NULL);
  char in[] =
      "PUT /k?v HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
      "2\r\nhi\r\n0\r\nT: x\r\n\r\n";
  size_t used, off = 0;
  mu_http_parse_result_t rc;
  while ((rc = mu_http_parser_execute(&p, in + off, sizeof in - 1 - off, &used)) ==
         MU_HTTP_HEADERS_DONE) {
    off += used;
  }
  CHECK_EQ(rc, MU_HTTP_REQUEST_DONE);
  mu_http_request_t *r = mu_http_parser_take_request(&p);
  mu_http_parser_destroy(&p);
  memset(in, 'z', sizeof in - 1); /* the caller's bytes are not referenced */
  CHECK_STREQ(mu_http_request_method_str(r), "PUT");
  CHECK_STREQ(mu_http_request_target(r), "/k?v");
  CHECK_STREQ(mu_http_request_path(r), "/k");
  CHECK_STREQ(mu_http_request_query(r), "v");
  CHECK_STREQ(mu_http_request_header(r, "host"), "h");
  CHECK_STREQ(mu_http_request_body(r, NULL), "hi");
  CHECK_STREQ(mu_http_request_trailer(r, "t"), "x");
  mu_http_request_free(r);
}

int main(void) {
  test_time_limit(60);
  test_basic_get();
  test_repeated_headers();
  test_methods();
  test_targets();
  test_versions();
  test_keep_alive();
  test_expect_continue();
  test_content_length();
  test_chunked();
  test_leading_empty_lines();
  test_consumed();
  test_untaken_and_reset();
  test_limits();
  test_default_limits();
  test_huge_limits();
  test_host_rules();
  test_percent_decode();
  test_list_has_token();
  test_request_independent();
  TEST_PASS("http_parser");
}
