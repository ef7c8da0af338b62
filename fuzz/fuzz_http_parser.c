/* libFuzzer target: the HTTP request parser fed in packets split at arbitrary
 * points.
 *
 * Input: [cfg][seed][bytes...]. cfg bit 0 picks small limits (so the limit
 * paths are reached), bits 1-3 the largest packet (1 to 128 bytes); seed
 * drives the packet sizes. The bytes are parsed fed whole, in those packets,
 * and (when short) byte by byte: the three transcripts (every request in full,
 * every error with its status and reason) must be identical. Each request is
 * also checked against the limits and its own target, and the percent-decoding
 * and token-list helpers run on the input. Any difference or broken invariant
 * aborts. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmuduo/http/http_parser.h"
#include "test_http_parser_util.h"

typedef struct packets {
  unsigned rng;
  size_t max;
} packets_t;

static size_t piece_packets(void *ctx) {
  packets_t *p = ctx;
  p->rng ^= p->rng << 13;
  p->rng ^= p->rng >> 17;
  p->rng ^= p->rng << 5;
  return 1 + p->rng % p->max;
}

static void same_or_die(const char *what, const char *a, const char *b) {
  if (strcmp(a, b) != 0) {
    fprintf(stderr, "transcripts differ (%s):\n  %s\nwhole:\n  %s\n", what, a, b);
    abort();
  }
}

static bool known_status(int s) {
  return s == 0 || s == 400 || s == 413 || s == 414 || s == 431 || s == 500 || s == 501 ||
         s == 505;
}

static void check_request(const mu_http_request_t *r, const mu_http_limits_t *lim) {
  CHECK(mu_http_request_header_count(r) <= lim->max_headers);
  CHECK(mu_http_request_trailer_count(r) <= lim->max_headers);
  CHECK(mu_http_request_body_length(r) <= lim->max_body);
  CHECK_EQ(mu_http_request_version_major(r), 1);
  const char *target = mu_http_request_target(r);
  const char *query = mu_http_request_query(r);
  const char *path = mu_http_request_path(r);
  size_t tlen = strlen(target);
  CHECK(tlen > 0 && tlen <= lim->max_request_line);
  if (mu_http_request_has_query(r)) {
    const char *q = strchr(target, '?');
    CHECK(q != NULL && strcmp(q + 1, query) == 0);
  } else {
    CHECK(query[0] == '\0');
    if (mu_http_request_method(r) != MU_HTTP_METHOD_CONNECT) {
      CHECK(strchr(target, '?') == NULL);
    }
  }
  if (target[0] == '/')
    CHECK(strncmp(target, path, strlen(path)) == 0);
  CHECK(strlen(mu_http_request_method_str(r)) > 0);
  /* the host was validated: at most one */
  size_t pos = 0, hosts = 0;
  while (mu_http_request_header_next(r, "host", &pos) != NULL)
    hosts++;
  CHECK(hosts <= 1);
  CHECK(!(mu_http_request_chunked(r) && mu_http_request_header(r, "content-length")));
  if (mu_http_request_version_minor(r) == 0)
    CHECK(!mu_http_request_expect_continue(r));
  char buf[8200];
  size_t n = strlen(path) < sizeof buf ? strlen(path) : sizeof buf - 1, out;
  if (mu_http_percent_decode(path, n, buf, &out, MU_HTTP_DECODE_REJECT_NUL) == 0) {
    CHECK(out <= n && buf[out] == '\0' && strlen(buf) == out);
  }
}

/* Parses fed whole and checks every request it gives. */
static void check_requests(const char *in, size_t n, const mu_http_limits_t *lim) {
  mu_http_parser_t p;
  mu_http_parser_init(&p, lim);
  size_t off = 0, used;
  while (off < n) {
    mu_http_parse_result_t rc = mu_http_parser_execute(&p, in + off, n - off, &used);
    CHECK(used <= n - off);
    off += used;
    if (rc == MU_HTTP_NEED_MORE) {
      CHECK_EQ(off, n);
      break;
    }
    if (rc == MU_HTTP_ERROR) {
      CHECK(known_status(mu_http_parser_error_status(&p)));
      break;
    }
    if (rc == MU_HTTP_HEADERS_DONE) {
      const mu_http_request_t *cur = mu_http_parser_current_request(&p);
      CHECK(cur != NULL);
      check_request(cur, lim);
      continue;
    }
    CHECK(used > 0);
    mu_http_request_t *r = mu_http_parser_take_request(&p);
    check_request(r, lim);
    mu_http_request_free(r);
  }
  mu_http_parser_destroy(&p);
}

/* The helpers on raw input: decoding never grows, in place equals a copy. */
static void check_helpers(const char *in, size_t n) {
  if (n > 4096)
    n = 4096;
  char a[4097], b[4097];
  size_t la, lb;
  for (unsigned flags = 0; flags < 4; flags++) {
    memcpy(b, in, n);
    int ra = mu_http_percent_decode(in, n, a, &la, flags);
    int rb = mu_http_percent_decode(b, n, b, &lb, flags);
    CHECK_EQ(ra, rb);
    if (ra == 0) {
      CHECK(la == lb && la <= n && memcmp(a, b, la + 1) == 0);
    }
  }
  memcpy(a, in, n);
  a[n] = '\0';
  char *comma = strchr(a, ',');
  const char *token = comma != NULL ? comma + 1 : "close";
  if (comma != NULL)
    *comma = '\0';
  (void)mu_http_list_has_token(a, token);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2)
    return 0;
  uint8_t cfg = data[0];
  packets_t pk = {0x9e3779b9u ^ (data[1] * 0x01000193u), (size_t)1 << ((cfg >> 1) & 7)};
  const char *in = (const char *)data + 2;
  size_t n = size - 2;
  mu_http_limits_t lim = mu_http_limits_default();
  if (cfg & 1) {
    lim.max_request_line = 64;
    lim.max_header_bytes = 256;
    lim.max_headers = 8;
    lim.max_body = 256;
    lim.max_chunk_line = 32;
  }
  int status;
  char *whole = http_transcript(in, n, &lim, piece_all, NULL, &status);
  CHECK(known_status(status));
  char *split = http_transcript(in, n, &lim, piece_packets, &pk, NULL);
  same_or_die("packets", split, whole);
  free(split);
  if (n <= 4096) {
    char *bytes = http_transcript(in, n, &lim, piece_one, NULL, NULL);
    same_or_die("byte by byte", bytes, whole);
    free(bytes);
  }
  free(whole);
  check_requests(in, n, &lim);
  check_helpers(in, n);
  return 0;
}
