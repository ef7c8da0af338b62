/* Differential-test driver: runs cmuduo's HTTP request parser over each case
 * of a corpus and prints what it yields in the canonical form that
 * llhttp_dump.js prints for Node's parser (see README.md beside this file).
 *
 * Corpus on stdin: records "#CASE <name> <length>\n" followed by <length> raw
 * bytes and one "\n". Each case is fed whole to a fresh parser with the
 * default limits, the way the server drives it: requests are taken in order
 * until an error, the end of the bytes, or a request that does not keep the
 * connection alive (the server stops reading there). Output per case:
 *
 *   === <name>
 *   REQ <method> <target> <major>.<minor> ka=<0|1>
 *   H <name>: <value>            (each header field, in order)
 *   T <name>: <value>            (each trailer field)
 *   BODY <length> <fnv1a-64>     (only when the body is not empty)
 *   END idle | incomplete | closed | error <status> @<offset> <reason>
 *
 * Bytes outside 0x21-0x7e (and '\') in names, values and targets are printed
 * as \xHH. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmuduo/http/http_parser.h"

static void put_escaped(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c < 0x21 || c > 0x7e || c == '\\')
      printf("\\x%02x", c);
    else
      putchar(c);
  }
}

static uint64_t fnv1a(const char *s, size_t n) {
  uint64_t h = UINT64_C(0xcbf29ce484222325);
  for (size_t i = 0; i < n; i++) {
    h ^= (unsigned char)s[i];
    h *= UINT64_C(0x100000001b3);
  }
  return h;
}

static void put_field(char kind, const mu_http_header_t *h) {
  printf("%c ", kind);
  put_escaped(h->name, h->name_len);
  printf(": ");
  put_escaped(h->value, h->value_len);
  putchar('\n');
}

static void put_request(const mu_http_request_t *r) {
  printf("REQ ");
  const char *m = mu_http_request_method_str(r);
  put_escaped(m, strlen(m));
  putchar(' ');
  const char *t = mu_http_request_target(r);
  put_escaped(t, strlen(t));
  printf(" %d.%d ka=%d\n", mu_http_request_version_major(r),
         mu_http_request_version_minor(r), mu_http_request_keep_alive(r) ? 1 : 0);
  for (size_t i = 0; i < mu_http_request_header_count(r); i++)
    put_field('H', mu_http_request_header_at(r, i));
  for (size_t i = 0; i < mu_http_request_trailer_count(r); i++)
    put_field('T', mu_http_request_trailer_at(r, i));
  size_t len = 0;
  const char *body = mu_http_request_body(r, &len);
  if (len > 0)
    printf("BODY %zu %016llx\n", len, (unsigned long long)fnv1a(body, len));
}

static void run_case(const char *name, const char *data, size_t len) {
  printf("=== %s\n", name);
  mu_http_parser_t p;
  mu_http_parser_init(&p, NULL);
  size_t off = 0;
  for (;;) {
    size_t n = 0;
    mu_http_parse_result_t rc = mu_http_parser_execute(&p, data + off, len - off, &n);
    if (rc == MU_HTTP_ERROR) {
      printf("END error %d @%zu %s\n", mu_http_parser_error_status(&p), off + n,
             mu_http_parser_error_reason(&p));
      break;
    }
    off += n;
    if (rc == MU_HTTP_NEED_MORE) {
      printf("END %s\n", mu_http_parser_idle(&p) ? "idle" : "incomplete");
      break;
    }
    if (rc == MU_HTTP_HEADERS_DONE)
      continue;
    mu_http_request_t *r = mu_http_parser_take_request(&p);
    put_request(r);
    bool keep = mu_http_request_keep_alive(r);
    mu_http_request_free(r);
    if (!keep) {
      printf("END closed\n");
      break;
    }
  }
  mu_http_parser_destroy(&p);
}

static char *read_all(FILE *f, size_t *len) {
  size_t cap = 1 << 20, n = 0;
  char *b = malloc(cap);
  for (size_t got; b != NULL && (got = fread(b + n, 1, cap - n, f)) > 0;) {
    n += got;
    if (n == cap) {
      char *nb = realloc(b, cap *= 2);
      if (nb == NULL)
        free(b);
      b = nb;
    }
  }
  *len = n;
  return b;
}

int main(void) {
  size_t len;
  char *all = read_all(stdin, &len);
  if (all == NULL) {
    fprintf(stderr, "cmuduo_dump: out of memory\n");
    return 1;
  }
  size_t pos = 0;
  while (pos < len) {
    char name[256];
    size_t n;
    const char *nl = memchr(all + pos, '\n', len - pos);
    if (nl == NULL || sscanf(all + pos, "#CASE %255s %zu", name, &n) != 2 ||
        n > len - (size_t)(nl + 1 - all)) {
      fprintf(stderr, "cmuduo_dump: bad record at byte %zu\n", pos);
      free(all);
      return 1;
    }
    pos = (size_t)(nl + 1 - all);
    run_case(name, all + pos, n);
    pos += n + 1;
  }
  free(all);
  return fflush(stdout) == 0 ? 0 : 1;
}
