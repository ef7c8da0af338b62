/* Helpers for the HTTP parser tests: drive a parser the way a server does
 * (bytes arrive in pieces, execute is called until it needs more, consumed
 * bytes are dropped) and write down everything it reports as one string, so
 * that two ways of feeding the same bytes can be compared exactly. */
#ifndef CMUDUO_TESTS_TEST_HTTP_PARSER_UTIL_H
#define CMUDUO_TESTS_TEST_HTTP_PARSER_UTIL_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmuduo/http/http_parser.h"
#include "test_util.h"

typedef struct tstr {
  char *s;
  size_t len, cap;
} tstr_t;

static inline void tstr_put(tstr_t *t, const char *data, size_t n) {
  if (t->len + n + 1 > t->cap) {
    size_t cap = t->cap ? t->cap : 256;
    while (cap < t->len + n + 1)
      cap *= 2;
    t->s = realloc(t->s, cap);
    CHECK(t->s != NULL);
    t->cap = cap;
  }
  memcpy(t->s + t->len, data, n);
  t->len += n;
  t->s[t->len] = '\0';
}

static inline void tstr_printf(tstr_t *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static inline void tstr_printf(tstr_t *t, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  CHECK(n >= 0);
  char *tmp = malloc((size_t)n + 1);
  CHECK(tmp != NULL);
  va_start(ap, fmt);
  vsnprintf(tmp, (size_t)n + 1, fmt, ap);
  va_end(ap);
  tstr_put(t, tmp, (size_t)n);
  free(tmp);
}

/* Bytes outside printable ASCII as \xHH, so transcripts stay readable. */
static inline void tstr_escaped(tstr_t *t, const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      tstr_put(t, (const char *)&c, 1);
    } else {
      tstr_printf(t, "\\x%02x", c);
    }
  }
}

static inline void put_fields(tstr_t *t,
                              const mu_http_header_t *(*at)(const mu_http_request_t *,
                                                            size_t),
                              const mu_http_request_t *r, size_t count) {
  for (size_t i = 0; i < count; i++) {
    const mu_http_header_t *h = at(r, i);
    CHECK(h != NULL);
    CHECK_EQ(strlen(h->name), h->name_len);
    CHECK_EQ(strlen(h->value), h->value_len);
    tstr_put(t, "[", 1);
    tstr_escaped(t, h->name, h->name_len);
    tstr_put(t, "=", 1);
    tstr_escaped(t, h->value, h->value_len);
    tstr_put(t, "]", 1);
  }
  CHECK(at(r, count) == NULL);
}

/* Everything a request says, on one line. */
static inline void describe_request(tstr_t *t, const mu_http_request_t *r) {
  size_t blen;
  const char *body = mu_http_request_body(r, &blen);
  CHECK_EQ(blen, mu_http_request_body_length(r));
  CHECK_EQ(body[blen], '\0');
  CHECK_STREQ(mu_http_request_method_str(r),
              mu_http_request_method(r) == MU_HTTP_METHOD_OTHER
                  ? mu_http_request_method_str(r)
                  : mu_http_method_name(mu_http_request_method(r)));
  tstr_printf(t, "%d:%s %s path=%s query%s%s HTTP/%d.%d ka=%d ec=%d ch=%d H",
              (int)mu_http_request_method(r), mu_http_request_method_str(r),
              mu_http_request_target(r), mu_http_request_path(r),
              mu_http_request_has_query(r) ? "=" : "-", mu_http_request_query(r),
              mu_http_request_version_major(r), mu_http_request_version_minor(r),
              mu_http_request_keep_alive(r), mu_http_request_expect_continue(r),
              mu_http_request_chunked(r));
  put_fields(t, mu_http_request_header_at, r, mu_http_request_header_count(r));
  tstr_printf(t, " B%zu<", blen);
  tstr_escaped(t, body, blen);
  tstr_put(t, "> T", 3);
  put_fields(t, mu_http_request_trailer_at, r, mu_http_request_trailer_count(r));
}

/* Piece sizes: next(ctx) gives the size of the next piece to deliver (>= 1). */
typedef size_t (*piece_fn)(void *ctx);

static inline size_t piece_all(void *ctx) {
  (void)ctx;
  return (size_t)-1;
}
static inline size_t piece_one(void *ctx) {
  (void)ctx;
  return 1;
}
/* Two pieces: the first *(size_t *)ctx bytes, then the rest. */
static inline size_t piece_split(void *ctx) {
  size_t *first = ctx;
  size_t n = *first != 0 ? *first : (size_t)-1;
  *first = 0;
  return n;
}
/* xorshift sizes in [1, 17]. */
static inline size_t piece_random(void *ctx) {
  unsigned *s = ctx;
  *s ^= *s << 13;
  *s ^= *s >> 17;
  *s ^= *s << 5;
  return 1 + *s % 17;
}

/* Feeds in[0, n) in pieces and returns the transcript (free() it):
 *   "H<target>|" at HEADERS_DONE, "R<request>|" at REQUEST_DONE,
 *   "E<status> <reason>|" at ERROR (feeding stops), and "idle" or "partial"
 *   at the end. Checks the consumed-bytes contract on every call. *status (if
 *   not NULL) gets the error status, 0 without error. */
static inline char *http_transcript(const char *in, size_t n, const mu_http_limits_t *lim,
                                    piece_fn next, void *ctx, int *status) {
  mu_http_parser_t p;
  mu_http_parser_init(&p, lim);
  tstr_t t = {0};
  char *pending = malloc(n + 1); /* the server's input buffer */
  CHECK(pending != NULL);
  size_t have = 0, sent = 0;
  bool failed = false;
  while (!failed && sent < n) {
    size_t k = next(ctx);
    if (k > n - sent)
      k = n - sent;
    memcpy(pending + have, in + sent, k);
    have += k;
    sent += k;
    for (;;) {
      size_t used = 12345;
      mu_http_parse_result_t rc = mu_http_parser_execute(&p, pending, have, &used);
      CHECK(used <= have);
      memmove(pending, pending + used, have - used);
      have -= used;
      if (rc == MU_HTTP_NEED_MORE) {
        CHECK_EQ(have, 0);
        CHECK(mu_http_parser_take_request(&p) == NULL);
        break;
      }
      if (rc == MU_HTTP_ERROR) {
        CHECK(mu_http_parser_take_request(&p) == NULL);
        CHECK(mu_http_parser_current_request(&p) == NULL);
        tstr_printf(&t, "E%d %s|", mu_http_parser_error_status(&p),
                    mu_http_parser_error_reason(&p));
        /* stays in error, consuming nothing */
        CHECK_EQ(mu_http_parser_execute(&p, "x", 1, &used), MU_HTTP_ERROR);
        CHECK_EQ(used, 0);
        failed = true;
        break;
      }
      if (rc == MU_HTTP_HEADERS_DONE) {
        const mu_http_request_t *cur = mu_http_parser_current_request(&p);
        CHECK(cur != NULL);
        CHECK_EQ(mu_http_request_body_length(cur), 0);
        CHECK(mu_http_parser_take_request(&p) == NULL);
        CHECK(!mu_http_parser_idle(&p));
        tstr_printf(&t, "H%s|", mu_http_request_target(cur));
        continue;
      }
      CHECK_EQ(rc, MU_HTTP_REQUEST_DONE);
      CHECK(mu_http_parser_current_request(&p) == NULL);
      mu_http_request_t *r = mu_http_parser_take_request(&p);
      CHECK(r != NULL);
      CHECK(mu_http_parser_take_request(&p) == NULL);
      tstr_put(&t, "R", 1);
      describe_request(&t, r);
      tstr_put(&t, "|", 1);
      mu_http_request_free(r);
    }
  }
  if (!failed)
    tstr_printf(&t, "%s", mu_http_parser_idle(&p) ? "idle" : "partial");
  if (status != NULL)
    *status = mu_http_parser_error_status(&p);
  mu_http_parser_destroy(&p);
  free(pending);
  if (t.s == NULL)
    tstr_put(&t, "", 0);
  return t.s;
}

static inline char *http_transcript_all(const char *in, size_t n,
                                        const mu_http_limits_t *lim) {
  return http_transcript(in, n, lim, piece_all, NULL, NULL);
}

/* The error status of in[0, n) fed whole, or 0 when it gave only requests. */
static inline int http_status_of(const char *in, size_t n, const mu_http_limits_t *lim) {
  int status;
  free(http_transcript(in, n, lim, piece_all, NULL, &status));
  return status;
}

#endif
