/* libFuzzer target: chunked request bodies.
 *
 * Input: [cfg][seed][body...]. The body follows a fixed chunked request head.
 * cfg bit 0 picks a small max_body and max_chunk_line, bits 1-3 the largest
 * packet; seed drives the packet sizes. Checks:
 *  - fed whole and in packets, the transcripts are identical;
 *  - a plain reference decoder (strict about sizes and CRLFs, lenient about
 *    extensions and trailers) agrees with the parser: whatever the parser
 *    accepts, the reference decodes to the same bytes ending at the same
 *    offset; and whenever the reference finds a complete body, the parser is
 *    not still waiting for more. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmuduo/http/http_parser.h"
#include "test_http_parser_util.h"

static const char k_head[] =
    "POST /upload HTTP/1.1\r\nHost: fuzz\r\nTransfer-Encoding: chunked\r\n\r\n";

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

static int hexval(unsigned char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* Decodes a chunked body with trailers from s[0, n): the offset just past it,
 * 0 when it is malformed or incomplete or over max_body. */
static size_t ref_decode(const unsigned char *s, size_t n, char *out, size_t *out_len,
                         size_t max_body) {
  size_t i = 0, o = 0;
  for (;;) {
    size_t start = i;
    uint64_t size = 0;
    for (int d; i < n && (d = hexval(s[i])) >= 0; i++) {
      if (size >> 56)
        return 0;
      size = size * 16 + (uint64_t)d;
    }
    if (i == start)
      return 0;
    while (i < n && s[i] != '\r' && s[i] != '\n')
      i++; /* extensions: skipped */
    if (n - i < 2 || s[i] != '\r' || s[i + 1] != '\n')
      return 0;
    i += 2;
    if (size == 0)
      break;
    if (size > max_body - o || size > n - i)
      return 0;
    memcpy(out + o, s + i, (size_t)size);
    o += (size_t)size;
    i += (size_t)size;
    if (n - i < 2 || s[i] != '\r' || s[i + 1] != '\n')
      return 0;
    i += 2;
  }
  for (;;) { /* trailer lines up to an empty one */
    const unsigned char *lf = memchr(s + i, '\n', n - i);
    if (lf == NULL)
      return 0;
    size_t len = (size_t)(lf - (s + i)) + 1;
    if (len < 2 || s[i + len - 2] != '\r')
      return 0;
    i += len;
    if (len == 2)
      break;
  }
  *out_len = o;
  return i;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2)
    return 0;
  uint8_t cfg = data[0];
  packets_t pk = {0x85ebca6bu ^ (data[1] * 0x01000193u), (size_t)1 << ((cfg >> 1) & 7)};
  const unsigned char *body = data + 2;
  size_t n = size - 2;
  mu_http_limits_t lim = mu_http_limits_default();
  if (cfg & 1) {
    lim.max_body = 64;
    lim.max_chunk_line = 24;
  }
  size_t hlen = sizeof k_head - 1, total = hlen + n;
  char *in = malloc(total + 1);
  CHECK(in != NULL);
  memcpy(in, k_head, hlen);
  memcpy(in + hlen, body, n);

  char *whole = http_transcript(in, total, &lim, piece_all, NULL, NULL);
  char *split = http_transcript(in, total, &lim, piece_packets, &pk, NULL);
  if (strcmp(whole, split) != 0) {
    fprintf(stderr, "transcripts differ:\n  %s\nwhole:\n  %s\n", split, whole);
    abort();
  }
  free(split);
  free(whole);

  mu_http_parser_t p;
  mu_http_parser_init(&p, &lim);
  size_t used;
  CHECK_EQ(mu_http_parser_execute(&p, in, total, &used), MU_HTTP_HEADERS_DONE);
  CHECK_EQ(used, hlen);
  size_t body_used;
  mu_http_parse_result_t rc = mu_http_parser_execute(&p, in + hlen, n, &body_used);
  char *ref = malloc(n + 1);
  CHECK(ref != NULL);
  size_t ref_len = 0;
  size_t ref_end = ref_decode(body, n, ref, &ref_len, lim.max_body);
  if (rc == MU_HTTP_REQUEST_DONE) {
    mu_http_request_t *r = mu_http_parser_take_request(&p);
    size_t len;
    const char *got = mu_http_request_body(r, &len);
    if (ref_end != body_used || ref_len != len || memcmp(ref, got, len) != 0) {
      fprintf(stderr, "parser took %zu bytes, %zu body; reference %zu, %zu\n", body_used,
              len, ref_end, ref_len);
      abort();
    }
    CHECK(mu_http_request_chunked(r));
    CHECK(len <= lim.max_body);
    mu_http_request_free(r);
  } else if (rc == MU_HTTP_NEED_MORE) {
    CHECK_EQ(body_used, n);
    if (ref_end != 0) {
      fprintf(stderr, "reference finished at %zu, the parser wants more\n", ref_end);
      abort();
    }
  } else {
    CHECK_EQ(rc, MU_HTTP_ERROR);
    int s = mu_http_parser_error_status(&p);
    CHECK(s == 400 || s == 413 || s == 431);
  }
  mu_http_parser_destroy(&p);
  free(ref);
  free(in);
  return 0;
}
