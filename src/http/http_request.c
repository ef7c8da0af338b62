#include "cmuduo/http/http_request.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

#include "cmuduo/base/alloc.h"
#include "http_request_internal.h"

/* Byte classes as tables: the parser tests every byte of a head against them,
 * and a load is cheaper than a chain of comparisons or a strchr per byte. */
#define MU_ALNUM_RANGES ['0' ... '9'] = true, ['A' ... 'Z'] = true, ['a' ... 'z'] = true

const bool mu_http_tchar_table[256] = {
    MU_ALNUM_RANGES, ['!'] = true, ['#'] = true, ['$'] = true, ['%'] = true, ['&'] = true,
    ['\''] = true,   ['*'] = true, ['+'] = true, ['-'] = true, ['.'] = true, ['^'] = true,
    ['_'] = true,    ['`'] = true, ['|'] = true, ['~'] = true,
};

const bool mu_http_host_char_table[256] = {
    MU_ALNUM_RANGES, ['-'] = true, ['.'] = true, ['_'] = true, ['~'] = true,
    ['%'] = true,    ['!'] = true, ['$'] = true, ['&'] = true, ['\''] = true,
    ['('] = true,    [')'] = true, ['*'] = true, ['+'] = true, [','] = true,
    [';'] = true,    ['='] = true, [':'] = true, ['['] = true, [']'] = true,
};

void *mu_http_request_release(mu_http_request_t *r, size_t *cap) {
  if (r->body != NULL)
    mu_free(r->body);
  if (r->trailer_block != NULL)
    mu_free(r->trailer_block);
  *cap = r->block_cap;
  return r; /* the head block starts with the object */
}

void mu_http_request_free(mu_http_request_t *r) {
  if (r == NULL)
    return;
  if (r->body != NULL) /* most requests have neither: no calls for them */
    mu_free(r->body);
  if (r->trailer_block != NULL)
    mu_free(r->trailer_block);
  mu_free(r); /* the head block starts with the object */
}

mu_http_method_t mu_http_request_method(const mu_http_request_t *r) {
  return r->method;
}

const char *mu_http_request_method_str(const mu_http_request_t *r) {
  return r->method_str;
}

const char *mu_http_request_target(const mu_http_request_t *r) {
  return r->target;
}

const char *mu_http_request_path(const mu_http_request_t *r) {
  return r->path;
}

const char *mu_http_request_query(const mu_http_request_t *r) {
  return r->query;
}

bool mu_http_request_has_query(const mu_http_request_t *r) {
  return r->has_query;
}

int mu_http_request_version_major(const mu_http_request_t *r) {
  return r->major;
}

int mu_http_request_version_minor(const mu_http_request_t *r) {
  return r->minor;
}

static bool name_equals(const mu_http_header_t *h, const char *name, size_t len) {
  return h->name_len == len && strncasecmp(h->name, name, len) == 0;
}

static const char *fields_next(const mu_http_header_t *f, size_t n, const char *name,
                               size_t *pos) {
  size_t len = strlen(name);
  for (size_t i = *pos; i < n; i++) {
    if (name_equals(&f[i], name, len)) {
      *pos = i + 1;
      return f[i].value;
    }
  }
  *pos = n;
  return NULL;
}

size_t mu_http_request_header_count(const mu_http_request_t *r) {
  return r->header_count;
}

const mu_http_header_t *mu_http_request_header_at(const mu_http_request_t *r, size_t i) {
  return i < r->header_count ? &r->headers[i] : NULL;
}

const char *mu_http_request_header(const mu_http_request_t *r, const char *name) {
  size_t pos = 0;
  return fields_next(r->headers, r->header_count, name, &pos);
}

const char *mu_http_request_header_next(const mu_http_request_t *r, const char *name,
                                        size_t *pos) {
  return fields_next(r->headers, r->header_count, name, pos);
}

size_t mu_http_request_trailer_count(const mu_http_request_t *r) {
  return r->trailer_count;
}

const mu_http_header_t *mu_http_request_trailer_at(const mu_http_request_t *r, size_t i) {
  return i < r->trailer_count ? &r->trailers[i] : NULL;
}

const char *mu_http_request_trailer(const mu_http_request_t *r, const char *name) {
  size_t pos = 0;
  return fields_next(r->trailers, r->trailer_count, name, &pos);
}

const char *mu_http_request_trailer_next(const mu_http_request_t *r, const char *name,
                                         size_t *pos) {
  return fields_next(r->trailers, r->trailer_count, name, pos);
}

const char *mu_http_request_body(const mu_http_request_t *r, size_t *len) {
  if (len != NULL)
    *len = r->body_len;
  return r->body != NULL ? r->body : "";
}

size_t mu_http_request_body_length(const mu_http_request_t *r) {
  return r->body_len;
}

bool mu_http_request_keep_alive(const mu_http_request_t *r) {
  return r->keep_alive;
}

bool mu_http_request_expect_continue(const mu_http_request_t *r) {
  return r->expect_continue;
}

bool mu_http_request_chunked(const mu_http_request_t *r) {
  return r->chunked;
}

/* ---- helpers ------------------------------------------------------------- */

static const char *const k_method_names[] = {
    "", "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
};

const char *mu_http_method_name(mu_http_method_t m) {
  size_t i = (size_t)m;
  return i < sizeof k_method_names / sizeof k_method_names[0] ? k_method_names[i] : "";
}

/* By length first: at most two fixed-size compares, which the compiler
 * inlines (this runs once per request). */
static bool is_name(const char *s, const char *lit, size_t len) {
  return memcmp(s, lit, len) == 0;
}

mu_http_method_t mu_http_method_from_string(const char *s, size_t len) {
  switch (len) {
    case 3:
      if (is_name(s, "GET", 3))
        return MU_HTTP_METHOD_GET;
      if (is_name(s, "PUT", 3))
        return MU_HTTP_METHOD_PUT;
      break;
    case 4:
      if (is_name(s, "HEAD", 4))
        return MU_HTTP_METHOD_HEAD;
      if (is_name(s, "POST", 4))
        return MU_HTTP_METHOD_POST;
      break;
    case 5:
      if (is_name(s, "TRACE", 5))
        return MU_HTTP_METHOD_TRACE;
      if (is_name(s, "PATCH", 5))
        return MU_HTTP_METHOD_PATCH;
      break;
    case 6:
      if (is_name(s, "DELETE", 6))
        return MU_HTTP_METHOD_DELETE;
      break;
    case 7:
      if (is_name(s, "CONNECT", 7))
        return MU_HTTP_METHOD_CONNECT;
      if (is_name(s, "OPTIONS", 7))
        return MU_HTTP_METHOD_OPTIONS;
      break;
    default:
      break;
  }
  return MU_HTTP_METHOD_OTHER;
}

static int hex_value(unsigned char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* The byte at *s (before end), decoded: a %XX escape, '+' as a space when
 * `plus`, else itself; *s is moved past it. -1 for a '%' not followed by two
 * hex digits. */
static int decode_one(const char **s, const char *end, bool plus) {
  const char *p = *s;
  if (*p == '%') {
    if (end - p < 3)
      return -1;
    int hi = hex_value((unsigned char)p[1]);
    int lo = hex_value((unsigned char)p[2]);
    if (hi < 0 || lo < 0)
      return -1;
    *s = p + 3;
    return hi * 16 + lo;
  }
  *s = p + 1;
  return *p == '+' && plus ? ' ' : (unsigned char)*p;
}

int mu_http_percent_decode(const char *src, size_t len, char *dst, size_t *out_len,
                           unsigned flags) {
  size_t o = 0;
  bool plus = (flags & MU_HTTP_DECODE_PLUS_AS_SPACE) != 0;
  for (const char *s = src, *end = src + len; s < end;) {
    bool escape = *s == '%';
    int c = decode_one(&s, end, plus);
    if (c < 0 || (c == 0 && escape && (flags & MU_HTTP_DECODE_REJECT_NUL)))
      return -EINVAL;
    dst[o++] = (char)c; /* o <= bytes read so far: safe when dst == src */
  }
  dst[o] = '\0';
  if (out_len != NULL)
    *out_len = o;
  return 0;
}

/* ---- form-urlencoded queries ------------------------------------------------ */

/* One pair of a query: [key, key_end) and [value, end); value == end when
 * there is no '='. */
typedef struct query_pair {
  const char *key, *key_end, *value, *end;
} query_pair_t;

/* The next non-empty pair at *cursor; false at the end. */
static bool next_pair(const char **cursor, query_pair_t *p) {
  const char *s = *cursor;
  while (*s == '&')
    s++;
  if (*s == '\0') {
    *cursor = s;
    return false;
  }
  const char *end = strchrnul(s, '&');
  const char *eq = memchr(s, '=', (size_t)(end - s));
  p->key = s;
  p->key_end = eq ? eq : end;
  p->value = eq ? eq + 1 : end;
  p->end = end;
  *cursor = end;
  return true;
}

/* Decodes [src, end) into dst[cap]; the decoded length (also when it does not
 * fit) in *len. Returns 0, -ENOSPC or -EINVAL. */
static int decode_form(const char *src, const char *end, char *dst, size_t cap,
                       size_t *len) {
  size_t n = 0;
  for (const char *s = src; s < end;) {
    int c = decode_one(&s, end, true);
    if (c <= 0)
      return -EINVAL; /* a bad escape, or "%00" (the query has no other NUL) */
    if (n + 1 < cap)
      dst[n] = (char)c;
    n++;
  }
  *len = n;
  if (n + 1 > cap)
    return -ENOSPC;
  dst[n] = '\0';
  return 0;
}

/* Whether the key [s, end) decodes to exactly `name` (a bad escape never
 * matches). */
static bool key_is(const char *s, const char *end, const char *name) {
  for (; s < end; ++name) {
    int c = decode_one(&s, end, true);
    if (c <= 0 || (unsigned char)*name != c)
      return false;
  }
  return *name == '\0';
}

int mu_http_query_get(const char *query, const char *name, char *buf, size_t cap,
                      size_t *len) {
  query_pair_t p;
  for (const char *cur = query; next_pair(&cur, &p);) {
    if (!key_is(p.key, p.key_end, name))
      continue;
    size_t n = 0;
    int rc = decode_form(p.value, p.end, buf, cap, &n);
    if (len != NULL)
      *len = n;
    return rc;
  }
  return -ENOENT;
}

int mu_http_query_next(const char **cursor, char *key, size_t key_cap, char *value,
                       size_t value_cap) {
  query_pair_t p;
  if (!next_pair(cursor, &p))
    return 0;
  size_t n;
  int rk = decode_form(p.key, p.key_end, key, key_cap, &n);
  int rv = decode_form(p.value, p.end, value, value_cap, &n);
  if (rk == -EINVAL || rv == -EINVAL)
    return -EINVAL;
  return rk != 0 ? rk : rv != 0 ? rv : 1;
}

static bool is_ows(char c) {
  return c == ' ' || c == '\t';
}

bool mu_http_list_has_token(const char *list, const char *token) {
  size_t tlen = strlen(token);
  const char *s = list;
  for (;;) {
    while (is_ows(*s) || *s == ',')
      s++;
    if (*s == '\0')
      return false;
    const char *end = s;
    while (*end != '\0' && *end != ',')
      end++;
    const char *e = end;
    while (e > s && is_ows(e[-1]))
      e--;
    if ((size_t)(e - s) == tlen && strncasecmp(s, token, tlen) == 0)
      return true;
    s = end;
  }
}
