/* The HTTP/1.x request parser (see cmuduo/http/http_parser.h for the rules).
 *
 * Lines (request line, field lines, chunk-size lines) are gathered whole in a
 * scratch buffer, found with memchr, and checked when their LF arrives; the
 * limits are checked on every piece before it is copied. Both depend only on
 * the bytes, not on how they were split, so every split of the input gives
 * the same requests and the same errors.
 *
 * The scratch of a request head starts with room for the request object. At
 * the end of the head it is resized once to hold the header array too, its
 * strings are NUL-terminated in place, and it becomes the request: the head is
 * never copied, and an idle parser holds no memory. Trailers are handed over
 * the same way.
 */
#include "cmuduo/http/http_parser.h"

#include <stdalign.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "cmuduo/base/alloc.h"
#include "http_request_internal.h"

enum {
  S_REQUEST_LINE,
  S_HEADERS,
  S_BODY, /* Content-Length */
  S_CHUNK_SIZE,
  S_CHUNK_DATA,
  S_CHUNK_CR,
  S_CHUNK_LF,
  S_TRAILERS,
  S_ERROR,
};

/* A step that produced no event: go on with the next bytes. */
#define STEP_CONTINUE (-1)

#define LIMIT_CAP ((size_t)1 << 30)
#define SCRATCH_MIN 512u
#define BODY_MIN 4096u
/* A head block with more spare room than this is shrunk when it is handed over. */
#define SHRINK_SLACK 1024u

mu_http_limits_t mu_http_limits_default(void) {
  mu_http_limits_t l = {
      MU_HTTP_DEFAULT_MAX_REQUEST_LINE, MU_HTTP_DEFAULT_MAX_HEADER_BYTES,
      MU_HTTP_DEFAULT_MAX_HEADERS,      MU_HTTP_DEFAULT_MAX_BODY,
      MU_HTTP_DEFAULT_MAX_CHUNK_LINE,
  };
  return l;
}

static size_t clamp(size_t v, size_t max) {
  return v > max ? max : v;
}

static size_t align_up(size_t n, size_t a) {
  return (n + a - 1) / a * a;
}

static void start_request(mu_http_parser_t *p) {
  p->state = S_REQUEST_LINE;
  p->buf_base = MU_HTTP_REQUEST_RESERVE;
  p->buf_len = p->buf_base;
  p->line_start = p->buf_base;
  p->section_start = p->buf_base;
  p->fields = 0;
  p->body_cap = 0;
  p->remaining = 0;
}

void mu_http_parser_init(mu_http_parser_t *p, const mu_http_limits_t *limits) {
  memset(p, 0, sizeof *p);
  p->limits = limits != NULL ? *limits : mu_http_limits_default();
  p->limits.max_request_line = clamp(p->limits.max_request_line, LIMIT_CAP);
  p->limits.max_header_bytes = clamp(p->limits.max_header_bytes, LIMIT_CAP);
  p->limits.max_headers = clamp(p->limits.max_headers, LIMIT_CAP);
  p->limits.max_chunk_line = clamp(p->limits.max_chunk_line, LIMIT_CAP);
  p->limits.max_body = clamp(p->limits.max_body, SIZE_MAX / 2);
  start_request(p);
}

static void drop_scratch(mu_http_parser_t *p) {
  if (p->buf == NULL) /* after a head was handed over: no call */
    return;
  mu_free(p->buf);
  p->buf = NULL;
  p->buf_cap = 0;
}

void mu_http_parser_destroy(mu_http_parser_t *p) {
  drop_scratch(p);
  mu_http_request_free(p->req);
  mu_http_request_free(p->done);
  p->req = NULL;
  p->done = NULL;
}

void mu_http_parser_reset(mu_http_parser_t *p) {
  mu_http_limits_t limits = p->limits;
  mu_http_parser_destroy(p);
  mu_http_parser_init(p, &limits);
}

static int fail(mu_http_parser_t *p, int status, const char *reason) {
  p->state = S_ERROR;
  p->error_status = status;
  p->error_reason = reason;
  return MU_HTTP_ERROR;
}

static int fail_oom(mu_http_parser_t *p) {
  return fail(p, 500, "out of memory");
}

/* ---- scratch buffer -------------------------------------------------------- */

static bool scratch_resize(mu_http_parser_t *p, size_t cap) {
  char *b = mu_realloc(p->buf, cap);
  if (b == NULL)
    return false;
  p->buf = b;
  p->buf_cap = cap;
  return true;
}

/* Room for `need` bytes, doubling but never past `bound` (the most the limits
 * let the current section reach) unless need itself is larger. */
static bool scratch_reserve(mu_http_parser_t *p, size_t need, size_t bound) {
  if (need <= p->buf_cap)
    return true;
  size_t cap = p->buf_cap != 0 ? p->buf_cap * 2 : SCRATCH_MIN;
  if (cap > bound)
    cap = bound;
  if (cap < need)
    cap = need;
  return scratch_resize(p, cap);
}

static size_t scratch_bound(const mu_http_parser_t *p) {
  const mu_http_limits_t *l = &p->limits;
  if (p->state == S_REQUEST_LINE || p->state == S_HEADERS) {
    return p->buf_base + l->max_request_line + 2 + l->max_header_bytes;
  }
  size_t chunk = l->max_chunk_line + 2;
  return chunk > l->max_header_bytes ? chunk : l->max_header_bytes;
}

/* The first allocation of a head, sized from the bytes at hand: when the
 * whole head is there, big enough for the finished request block, so the
 * common request costs one allocation. */
static size_t head_estimate(const mu_http_parser_t *p, const char *s, size_t n) {
  size_t max = p->limits.max_request_line + 2 + p->limits.max_header_bytes;
  if (n > max)
    n = max;
  /* One pass over the lines: the head ends at the first line that is just
   * CRLF (a plain memmem for it would cost more than this whole walk). */
  size_t lines = 0, first = 0;
  const char *q = s, *e = s + n;
  for (;;) {
    const char *lf = memchr(q, '\n', (size_t)(e - q));
    if (lf == NULL)
      return n;
    if (++lines == 1)
      first = (size_t)(lf - s) + 1;
    q = lf + 1;
    if (e - q >= 2 && q[0] == '\r' && q[1] == '\n')
      break;
  }
  size_t head = (size_t)(q - s) + 2;
  return head + alignof(mu_http_header_t) + (lines + 1) * sizeof(mu_http_header_t) +
         first + 1;
}

/* ---- character classes ------------------------------------------------------ */

static bool is_ows(char c) {
  return c == ' ' || c == '\t';
}

static bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

static bool is_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int hex_digit(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

static bool is_tchar(char c) {
  return mu_http_is_tchar((unsigned char)c);
}

/* field-vchar, SP or HTAB (obs-text allowed): everything but controls and DEL. */
static bool is_field_char(char c) {
  unsigned char u = (unsigned char)c;
  return u == '\t' || (u >= 0x20 && u != 0x7f);
}

/* uri-host [ ":" port ] characters: reg-name, IP-literal, IPv4. */
static bool is_host_char(char c) {
  return mu_http_is_host_char((unsigned char)c);
}

/* Every byte of s[0, n) is a field-vchar, SP or HTAB. Eight bytes at a time:
 * a word with no byte below 0x20 and none equal to 0x7f needs no closer look
 * (the bit tricks are exact for "some byte"; a tab sends its word to the
 * byte loop). */
#define ONES UINT64_C(0x0101010101010101)
#define HIGHS UINT64_C(0x8080808080808080)

static bool all_field_chars(const char *s, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    memcpy(&w, s + i, 8);
    uint64_t del = w ^ (ONES * 0x7f);
    if ((((w - ONES * 0x20) & ~w) | ((del - ONES) & ~del)) & HIGHS) {
      for (size_t k = i; k < i + 8; k++) {
        if (!is_field_char(s[k]))
          return false;
      }
    }
  }
  for (; i < n; i++) {
    if (!is_field_char(s[i]))
      return false;
  }
  return true;
}

/* The index of the first byte from i on that is not a visible US-ASCII
 * character (0x21-0x7e), or n. Eight bytes at a time where the byte order
 * lets the lowest flagged byte be found with ctz: the flag of the first
 * offending byte is exact (a borrow or carry that spills into a higher byte
 * starts at a lower offending byte). */
static size_t span_vchar(const char *s, size_t i, size_t n) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    memcpy(&w, s + i, 8);
    uint64_t bad = (((w - ONES * 0x21) & ~w) | (w + ONES) | w) & HIGHS;
    if (bad != 0)
      return i + (size_t)__builtin_ctzll(bad) / 8;
  }
#endif
  while (i < n && (unsigned char)s[i] > 0x20 && (unsigned char)s[i] < 0x7f)
    i++;
  return i;
}

static size_t skip_ows(const char *s, size_t i, size_t n) {
  while (i < n && is_ows(s[i]))
    i++;
  return i;
}

static size_t skip_token(const char *s, size_t i, size_t n) {
  while (i < n && is_tchar(s[i]))
    i++;
  return i;
}

/* ---- request line ----------------------------------------------------------- */

static bool valid_scheme(const char *t, size_t n, size_t *colon) {
  if (n == 0 || !is_alpha(t[0]))
    return false;
  size_t i = 1;
  while (i < n && (is_alpha(t[i]) || is_digit(t[i]) || t[i] == '+' || t[i] == '-' ||
                   t[i] == '.')) {
    i++;
  }
  if (i == n || t[i] != ':')
    return false;
  *colon = i;
  return true;
}

/* authority-form (RFC 9112 §3.2.3): uri-host ":" port. */
static bool valid_authority(const char *t, size_t n) {
  size_t colon = n;
  for (size_t i = 0; i < n; i++) {
    if (!is_host_char(t[i]))
      return false;
    if (t[i] == ':')
      colon = i;
  }
  if (colon == 0 || colon == n || colon + 1 == n)
    return false;
  for (size_t i = colon + 1; i < n; i++) {
    if (!is_digit(t[i]))
      return false;
  }
  return true;
}

static int check_target(mu_http_parser_t *p, mu_http_method_t m, const char *t,
                        size_t n) {
  size_t colon;
  if (m == MU_HTTP_METHOD_CONNECT) {
    if (!valid_authority(t, n))
      return fail(p, 400, "CONNECT needs a host:port target");
    return STEP_CONTINUE;
  }
  if (t[0] == '/')
    return STEP_CONTINUE;
  if (n == 1 && t[0] == '*') {
    if (m != MU_HTTP_METHOD_OPTIONS)
      return fail(p, 400, "'*' target is for OPTIONS only");
    return STEP_CONTINUE;
  }
  if (!valid_scheme(t, n, &colon))
    return fail(p, 400, "invalid request target");
  return STEP_CONTINUE;
}

static int parse_request_line(mu_http_parser_t *p, const char *s, size_t n) {
  /* "GET " is all tokens and a space: what skip_token would find. */
  size_t i = n > 4 && memcmp(s, "GET ", 4) == 0 ? 3 : skip_token(s, 0, n);
  if (i == 0 || i == n || s[i] != ' ')
    return fail(p, 400, "invalid method");
  p->method_len = i;
  size_t t = i + 1, j = span_vchar(s, t, n);
  if (j == t || j == n || s[j] != ' ')
    return fail(p, 400, "invalid request target");
  p->target_len = j - t;
  const char *v = s + j + 1;
  if (n - j - 1 != 8 || memcmp(v, "HTTP/", 5) != 0 || !is_digit(v[5]) || v[6] != '.' ||
      !is_digit(v[7])) {
    return fail(p, 400, "invalid HTTP version");
  }
  if (v[5] != '1')
    return fail(p, 505, "HTTP version not supported");
  p->major = 1;
  p->minor = (unsigned char)(v[7] - '0');
  mu_http_method_t m = mu_http_method_from_string(s, p->method_len);
  /* Kept for head_done in the room reserved for the request object, unused
   * until then (realloc keeps it). */
  ((mu_http_request_t *)(void *)p->buf)->method = m;
  return check_target(p, m, s + t, p->target_len);
}

/* ---- field lines -------------------------------------------------------------- */

static int check_field_line(mu_http_parser_t *p, const char *s, size_t n) {
  if (is_ows(s[0]))
    return fail(p, 400, "obsolete line folding");
  size_t i = skip_token(s, 0, n);
  if (i == n)
    return fail(p, 400, "header line without a colon");
  if (s[i] != ':') {
    if (is_ows(s[i]))
      return fail(p, 400, "header name followed by whitespace");
    return fail(p, 400, "invalid header name");
  }
  if (i == 0)
    return fail(p, 400, "empty header name");
  if (!all_field_chars(s + i + 1, n - i - 1))
    return fail(p, 400, "invalid character in header value");
  return STEP_CONTINUE;
}

/* Splits the checked field lines in b[start, end) into out[], NUL-terminating
 * names (at the colon) and values (after their last non-blank byte) in place. */
static void fill_fields(char *b, size_t start, size_t end, mu_http_header_t *out) {
  char *s = b + start, *e = b + end;
  size_t i = 0;
  while (s < e) {
    char *lf = memchr(s, '\n', (size_t)(e - s));
    char *cr = lf - 1;
    char *colon = memchr(s, ':', (size_t)(cr - s));
    char *v = colon + 1;
    while (v < cr && is_ows(*v))
      v++;
    char *ve = cr;
    while (ve > v && is_ows(ve[-1]))
      ve--;
    *colon = '\0';
    *ve = '\0';
    out[i].name = s;
    out[i].name_len = (size_t)(colon - s);
    out[i].value = v;
    out[i].value_len = (size_t)(ve - v);
    i++;
    s = lf + 1;
  }
}

/* ---- framing and connection semantics --------------------------------------- */

typedef struct framing {
  size_t hosts;
  bool bad_host;
  bool has_cl;
  bool bad_cl;
  bool cl_differ;
  const char *cl; /* digits without leading zeros ("0" for zero) */
  size_t cl_len;
  bool has_te;
  bool bad_te;
  bool te_unknown;
  size_t codings;
  size_t chunked_count;
  bool last_chunked;
  bool conn_close;
  bool conn_keep_alive;
  bool expect_continue;
} framing_t;

static void scan_content_length(framing_t *f, const char *v, size_t n) {
  f->has_cl = true;
  size_t i = 0;
  for (;;) {
    i = skip_ows(v, i, n);
    size_t d = i;
    while (i < n && is_digit(v[i]))
      i++;
    if (i == d) {
      f->bad_cl = true;
      return;
    }
    size_t z = d;
    while (z + 1 < i && v[z] == '0')
      z++;
    if (f->cl == NULL) {
      f->cl = v + z;
      f->cl_len = i - z;
    } else if (f->cl_len != i - z || memcmp(f->cl, v + z, i - z) != 0) {
      f->cl_differ = true;
    }
    i = skip_ows(v, i, n);
    if (i == n)
      return;
    if (v[i] != ',') {
      f->bad_cl = true;
      return;
    }
    i++;
  }
}

static bool is_known_coding(const char *s, size_t n) {
  static const char *const known[] = {"gzip", "x-gzip", "deflate", "compress",
                                      "x-compress"};
  for (size_t k = 0; k < sizeof known / sizeof known[0]; k++) {
    if (strlen(known[k]) == n && strncasecmp(known[k], s, n) == 0)
      return true;
  }
  return false;
}

/* One element of a Transfer-Encoding list: token [ OWS ";" parameters ]. A
 * quoted-string parameter holding a comma is split wrongly here, but only
 * elements that are exactly "chunked" get a request through, so a wrong split
 * can only turn into a rejection. */
static void scan_coding(framing_t *f, const char *s, size_t n) {
  size_t t = skip_token(s, 0, n);
  size_t rest = skip_ows(s, t, n);
  bool params = rest < n;
  if (t == 0 || (params && s[rest] != ';')) {
    f->bad_te = true;
    return;
  }
  f->codings++;
  f->last_chunked = t == 7 && strncasecmp(s, "chunked", 7) == 0;
  if (f->last_chunked) {
    f->chunked_count++;
    if (params)
      f->bad_te = true;
  } else if (!is_known_coding(s, t)) {
    f->te_unknown = true;
  }
}

static void scan_transfer_encoding(framing_t *f, const char *v, size_t n) {
  f->has_te = true;
  size_t i = 0;
  while (i < n) {
    const char *comma = memchr(v + i, ',', n - i);
    size_t end = comma != NULL ? (size_t)(comma - v) : n;
    size_t s = skip_ows(v, i, end), e = end;
    while (e > s && is_ows(v[e - 1]))
      e--;
    if (e > s)
      scan_coding(f, v + s, e - s); /* empty elements are allowed */
    i = end + 1;
  }
}

/* name (lower case letters and '-') equals the field name h, ignoring case.
 * Field names are tokens, and the only token bytes that OR 0x20 turns into
 * a lower case letter or '-' are the letters themselves: no strncasecmp. */
/* Four table lookups per test: a Host value is checked on every request. */
static bool all_host_chars(const char *s, size_t n) {
  const unsigned char *u = (const unsigned char *)s;
  const bool *t = mu_http_host_char_table;
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    if (!(t[u[i]] & t[u[i + 1]] & t[u[i + 2]] & t[u[i + 3]]))
      return false;
  }
  for (; i < n; i++) {
    if (!t[u[i]])
      return false;
  }
  return true;
}

static bool name_is(const mu_http_header_t *h, const char *name, size_t len) {
  if (h->name_len != len)
    return false;
  for (size_t i = 0; i < len; i++) {
    if ((h->name[i] | 0x20) != name[i])
      return false;
  }
  return true;
}

static void scan_field(framing_t *f, const mu_http_header_t *h) {
  if (name_is(h, "host", 4)) {
    f->hosts++;
    if (!all_host_chars(h->value, h->value_len))
      f->bad_host = true;
  } else if (name_is(h, "content-length", 14)) {
    scan_content_length(f, h->value, h->value_len);
  } else if (name_is(h, "transfer-encoding", 17)) {
    scan_transfer_encoding(f, h->value, h->value_len);
  } else if (name_is(h, "connection", 10)) {
    if (mu_http_list_has_token(h->value, "close"))
      f->conn_close = true;
    if (mu_http_list_has_token(h->value, "keep-alive"))
      f->conn_keep_alive = true;
  } else if (name_is(h, "expect", 6)) {
    if (mu_http_list_has_token(h->value, "100-continue"))
      f->expect_continue = true;
  }
}

static int check_transfer_encoding(mu_http_parser_t *p, const framing_t *f) {
  if (p->minor == 0)
    return fail(p, 400, "Transfer-Encoding in an HTTP/1.0 request");
  if (f->has_cl)
    return fail(p, 400, "both Transfer-Encoding and Content-Length");
  if (f->bad_te || f->codings == 0)
    return fail(p, 400, "invalid Transfer-Encoding");
  if (f->te_unknown)
    return fail(p, 501, "unknown transfer coding");
  if (!f->last_chunked)
    return fail(p, 400, "final transfer coding is not chunked");
  if (f->chunked_count > 1)
    return fail(p, 400, "chunked applied more than once");
  if (f->codings > 1)
    return fail(p, 501, "transfer coding other than chunked");
  return STEP_CONTINUE;
}

/* Sets r's flags and p's body state from the header fields, or fails. */
static int apply_fields(mu_http_parser_t *p, mu_http_request_t *r) {
  framing_t f;
  memset(&f, 0, sizeof f);
  for (size_t i = 0; i < r->header_count; i++)
    scan_field(&f, &r->headers[i]);
  if (f.hosts > 1)
    return fail(p, 400, "more than one Host field");
  if (f.hosts == 0 && p->minor >= 1)
    return fail(p, 400, "missing Host field");
  if (f.bad_host)
    return fail(p, 400, "invalid Host field");
  if (f.has_te) {
    int rc = check_transfer_encoding(p, &f);
    if (rc != STEP_CONTINUE)
      return rc;
    r->chunked = true;
  } else if (f.has_cl) {
    if (f.bad_cl)
      return fail(p, 400, "invalid Content-Length");
    if (f.cl_differ)
      return fail(p, 400, "conflicting Content-Length values");
    uint64_t len = 0;
    for (size_t i = 0; i < f.cl_len; i++) {
      uint64_t d = (uint64_t)(f.cl[i] - '0');
      if (len > (UINT64_MAX - d) / 10 || (len = len * 10 + d) > p->limits.max_body) {
        return fail(p, 413, "body too large");
      }
    }
    p->remaining = len;
  }
  /* RFC 9110 §9.3.6: a CONNECT request has no content; what follows its head
   * belongs to the tunnel. Reading a body there would take tunnel bytes that
   * parsers that switch to the tunnel at once (llhttp) leave alone. */
  if (r->method == MU_HTTP_METHOD_CONNECT && (r->chunked || p->remaining > 0))
    return fail(p, 400, "CONNECT request with content");
  if (p->minor == 0) {
    r->keep_alive = f.conn_keep_alive && !f.conn_close;
  } else {
    r->keep_alive = !f.conn_close;
    r->expect_continue = f.expect_continue;
  }
  return STEP_CONTINUE;
}

/* ---- end of a request ------------------------------------------------------- */

/* Inlined into its three callers: out of line it cost a call per request. */
static inline __attribute__((always_inline)) int finish_request(mu_http_parser_t *p) {
  if (p->req->body != NULL)
    p->req->body[p->req->body_len] = '\0';
  p->done = p->req;
  p->req = NULL;
  drop_scratch(p);
  start_request(p);
  return MU_HTTP_REQUEST_DONE;
}

/* Where the path lies in the target t[0, n): *copy tells whether it needs a
 * NUL-terminated copy of its own (it is a proper part of the target). */
typedef struct target_parts {
  size_t path_off, path_len;
  size_t query_off; /* past the '?' */
  bool has_query;
  const char *fixed_path; /* a constant path instead of a slice, or NULL */
} target_parts_t;

static target_parts_t split_target(mu_http_method_t m, const char *t, size_t n) {
  target_parts_t tp = {0, 0, n, false, NULL};
  if (m == MU_HTTP_METHOD_CONNECT) {
    tp.fixed_path = "";
    return tp;
  }
  const char *q = memchr(t, '?', n);
  size_t end = q != NULL ? (size_t)(q - t) : n;
  if (q != NULL) {
    tp.has_query = true;
    tp.query_off = end + 1;
  }
  size_t start = 0;
  if (t[0] != '/' && !(n == 1 && t[0] == '*')) {
    /* absolute-form: skip scheme ":" and "//" authority */
    start = (size_t)((const char *)memchr(t, ':', n) - t) + 1;
    if (end - start >= 2 && t[start] == '/' && t[start + 1] == '/') {
      start += 2;
      while (start < end && t[start] != '/')
        start++;
    }
    if (start == end)
      tp.fixed_path = "/";
  }
  tp.path_off = start;
  tp.path_len = end - start;
  return tp;
}

static int head_done(mu_http_parser_t *p) {
  size_t base = p->buf_base;
  mu_http_method_t m =
      ((mu_http_request_t *)(void *)p->buf)->method; /* parse_request_line's */
  size_t target_off = base + p->method_len + 1;
  target_parts_t tp = split_target(m, p->buf + target_off, p->target_len);
  bool copy_path = tp.fixed_path == NULL && tp.path_len != p->target_len;
  size_t head_end = p->buf_len;
  size_t hdr_off = align_up(head_end, alignof(mu_http_header_t));
  size_t path_off = hdr_off + p->fields * sizeof(mu_http_header_t);
  size_t total = path_off + (copy_path ? tp.path_len + 1 : 0);
  if ((total > p->buf_cap || p->buf_cap - total > SHRINK_SLACK) &&
      !scratch_resize(p, total)) {
    return fail_oom(p);
  }
  char *b = p->buf;
  mu_http_request_t *r = (mu_http_request_t *)(void *)b;
  memset(r, 0, sizeof *r);
  r->block_cap = p->buf_cap;
  p->req = r; /* the block is the request's now */
  p->buf = NULL;
  p->buf_cap = 0;

  char *target = b + target_off;
  r->method = m;
  r->method_str = b + base;
  b[base + p->method_len] = '\0';
  r->target = target;
  target[p->target_len] = '\0';
  if (tp.fixed_path != NULL) {
    r->path = tp.fixed_path;
  } else if (copy_path) {
    memcpy(b + path_off, target + tp.path_off, tp.path_len);
    b[path_off + tp.path_len] = '\0';
    r->path = b + path_off;
  } else {
    r->path = target;
  }
  r->has_query = tp.has_query;
  r->query = tp.has_query ? target + tp.query_off : "";
  r->major = p->major;
  r->minor = p->minor;
  r->headers = (mu_http_header_t *)(void *)(b + hdr_off);
  r->header_count = p->fields;
  fill_fields(b, p->section_start, head_end - 2, r->headers);

  int rc = apply_fields(p, r);
  if (rc != STEP_CONTINUE)
    return rc;
  p->buf_base = 0;
  p->buf_len = 0;
  p->line_start = 0;
  if (r->chunked) {
    p->state = S_CHUNK_SIZE;
    return MU_HTTP_HEADERS_DONE;
  }
  if (p->remaining > 0) {
    p->state = S_BODY;
    return MU_HTTP_HEADERS_DONE;
  }
  return finish_request(p);
}

static int trailers_done(mu_http_parser_t *p) {
  if (p->fields == 0)
    return finish_request(p);
  size_t end = p->buf_len;
  size_t hdr_off = align_up(end, alignof(mu_http_header_t));
  size_t total = hdr_off + p->fields * sizeof(mu_http_header_t);
  if ((total > p->buf_cap || p->buf_cap - total > SHRINK_SLACK) &&
      !scratch_resize(p, total)) {
    return fail_oom(p);
  }
  mu_http_request_t *r = p->req;
  r->trailer_block = p->buf;
  r->trailers = (mu_http_header_t *)(void *)(p->buf + hdr_off);
  r->trailer_count = p->fields;
  fill_fields(p->buf, 0, end - 2, r->trailers);
  p->buf = NULL;
  p->buf_cap = 0;
  return finish_request(p);
}

/* ---- chunked body ------------------------------------------------------------ */

/* quoted-string starting at s[i] == '"'; the index past its closing quote, or
 * 0 if it is malformed. */
static size_t skip_quoted(const char *s, size_t i, size_t n) {
  for (i++; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"')
      return i + 1;
    if (c == '\\') {
      if (++i == n)
        return 0;
      c = (unsigned char)s[i];
      if (c != '\t' && (c < 0x20 || c == 0x7f))
        return 0;
    } else if (c != '\t' && (c < 0x20 || c == 0x7f)) {
      return 0;
    }
  }
  return 0;
}

/* chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] ) */
static bool valid_chunk_ext(const char *s, size_t i, size_t n) {
  while (i < n) {
    i = skip_ows(s, i, n);
    if (i == n || s[i] != ';')
      return false;
    i = skip_ows(s, i + 1, n);
    size_t e = skip_token(s, i, n);
    if (e == i)
      return false;
    i = e;
    size_t eq = skip_ows(s, i, n);
    if (eq < n && s[eq] == '=') {
      i = skip_ows(s, eq + 1, n);
      if (i < n && s[i] == '"') {
        i = skip_quoted(s, i, n);
        if (i == 0)
          return false;
      } else {
        e = skip_token(s, i, n);
        if (e == i)
          return false;
        i = e;
      }
    }
  }
  return true;
}

/* A whole chunk-size line, s[0, n) with its LF. */
static int chunk_size_line(mu_http_parser_t *p, const char *s, size_t n) {
  p->buf_len = 0;
  p->line_start = 0;
  if (n < 2 || s[n - 2] != '\r')
    return fail(p, 400, "line not ended by CRLF");
  n -= 2;
  uint64_t size = 0;
  bool overflow = false;
  size_t i = 0;
  for (int d; i < n && (d = hex_digit(s[i])) >= 0; i++) {
    if (size > (UINT64_MAX >> 4))
      overflow = true;
    size = size << 4 | (uint64_t)d;
  }
  if (i == 0)
    return fail(p, 400, "invalid chunk size");
  if (!valid_chunk_ext(s, i, n))
    return fail(p, 400, "invalid chunk extension");
  if (!overflow && size == 0) {
    p->state = S_TRAILERS;
    p->section_start = 0;
    p->fields = 0;
    return STEP_CONTINUE;
  }
  if (overflow || size > p->limits.max_body - p->req->body_len) {
    return fail(p, 413, "body too large");
  }
  p->remaining = size;
  p->state = S_CHUNK_DATA;
  return STEP_CONTINUE;
}

/* ---- the steps ----------------------------------------------------------------- */

static int line_done(mu_http_parser_t *p) {
  char *line = p->buf + p->line_start;
  size_t n = p->buf_len - p->line_start;
  if (p->state == S_CHUNK_SIZE)
    return chunk_size_line(p, line, n);
  if (n < 2 || line[n - 2] != '\r')
    return fail(p, 400, "line not ended by CRLF");
  n -= 2;
  if (p->state == S_REQUEST_LINE) {
    if (n == 0) { /* an empty line before the request: skipped, RFC 9112 §2.2 */
      drop_scratch(p);
      p->buf_len = p->line_start;
      return STEP_CONTINUE;
    }
    int rc = parse_request_line(p, line, n);
    if (rc != STEP_CONTINUE)
      return rc;
    p->state = S_HEADERS;
    p->section_start = p->buf_len;
    p->line_start = p->buf_len;
    p->fields = 0;
    return STEP_CONTINUE;
  }
  if (n == 0)
    return p->state == S_HEADERS ? head_done(p) : trailers_done(p);
  int rc = check_field_line(p, line, n);
  if (rc != STEP_CONTINUE)
    return rc;
  if (++p->fields > p->limits.max_headers) {
    return fail(
        p, 431,
        p->state == S_HEADERS ? "too many header fields" : "too many trailer fields");
  }
  p->line_start = p->buf_len;
  return STEP_CONTINUE;
}

/* Fails when adding seg bytes to the current line would break a limit. */
static int check_line_limits(mu_http_parser_t *p, size_t seg, bool complete) {
  const mu_http_limits_t *l = &p->limits;
  size_t line = p->buf_len - p->line_start + seg;
  size_t terminator = complete ? 2 : 1; /* an unfinished line may end in its CR */
  switch (p->state) {
    case S_REQUEST_LINE:
      if (line > l->max_request_line + terminator) {
        return fail(p, 414, "request line too long");
      }
      break;
    case S_CHUNK_SIZE:
      if (line > l->max_chunk_line + terminator) {
        return fail(p, 400, "chunk-size line too long");
      }
      break;
    default: /* header or trailer section */
      if (p->buf_len - p->section_start + seg > l->max_header_bytes) {
        return fail(p, 431,
                    p->state == S_HEADERS ? "header section too large"
                                          : "trailer section too large");
      }
      break;
  }
  return STEP_CONTINUE;
}

static int step_line(mu_http_parser_t *p, const char *data, size_t len, size_t *pos) {
  const char *s = data + *pos;
  size_t avail = len - *pos;
  const char *lf = memchr(s, '\n', avail);
  size_t seg = lf != NULL ? (size_t)(lf - s) + 1 : avail;
  int rc = check_line_limits(p, seg, lf != NULL);
  if (rc != STEP_CONTINUE)
    return rc;
  if (p->state == S_CHUNK_SIZE && lf != NULL && p->buf_len == 0) {
    *pos += seg; /* the whole line is at hand: no copy */
    return chunk_size_line(p, s, seg);
  }
  if (p->buf == NULL && p->state == S_REQUEST_LINE) {
    size_t est = head_estimate(p, s, avail);
    if (!scratch_resize(p, p->buf_base + (est > SCRATCH_MIN ? est : SCRATCH_MIN))) {
      return fail_oom(p);
    }
  }
  if (!scratch_reserve(p, p->buf_len + seg, scratch_bound(p)))
    return fail_oom(p);
  memcpy(p->buf + p->buf_len, s, seg);
  p->buf_len += seg;
  *pos += seg;
  return lf != NULL ? line_done(p) : STEP_CONTINUE;
}

/* Room for `need` body bytes (plus the NUL), doubling up to `bound`. */
static bool body_reserve(mu_http_parser_t *p, size_t need, size_t bound) {
  if (need <= p->body_cap)
    return true;
  size_t cap = p->body_cap != 0 ? p->body_cap * 2 : BODY_MIN;
  if (cap > bound)
    cap = bound;
  if (cap < need)
    cap = need;
  char *b = mu_realloc(p->req->body, cap + 1);
  if (b == NULL)
    return false;
  p->req->body = b;
  p->body_cap = cap;
  return true;
}

static int step_body(mu_http_parser_t *p, const char *data, size_t len, size_t *pos) {
  mu_http_request_t *r = p->req;
  size_t take = len - *pos;
  if (take > p->remaining)
    take = (size_t)p->remaining;
  size_t bound =
      p->state == S_BODY ? r->body_len + (size_t)p->remaining : p->limits.max_body;
  if (!body_reserve(p, r->body_len + take, bound))
    return fail_oom(p);
  memcpy(r->body + r->body_len, data + *pos, take);
  r->body_len += take;
  p->remaining -= take;
  *pos += take;
  if (p->remaining > 0)
    return STEP_CONTINUE;
  if (p->state == S_BODY)
    return finish_request(p);
  p->state = S_CHUNK_CR;
  return STEP_CONTINUE;
}

static int step_chunk_crlf(mu_http_parser_t *p, const char *data, size_t *pos) {
  char want = p->state == S_CHUNK_CR ? '\r' : '\n';
  if (data[*pos] != want)
    return fail(p, 400, "chunk data not followed by CRLF");
  (*pos)++;
  p->state = p->state == S_CHUNK_CR ? S_CHUNK_LF : S_CHUNK_SIZE;
  return STEP_CONTINUE;
}

static int step(mu_http_parser_t *p, const char *data, size_t len, size_t *pos) {
  switch (p->state) {
    case S_BODY:
    case S_CHUNK_DATA:
      return step_body(p, data, len, pos);
    case S_CHUNK_CR:
    case S_CHUNK_LF:
      return step_chunk_crlf(p, data, pos);
    default:
      return step_line(p, data, len, pos);
  }
}

mu_http_parse_result_t mu_http_parser_execute(mu_http_parser_t *p, const char *data,
                                              size_t len, size_t *consumed) {
  *consumed = 0;
  if (p->state == S_ERROR)
    return MU_HTTP_ERROR;
  if (p->done != NULL) {
    mu_http_request_free(p->done); /* reported and not taken: unwanted */
    p->done = NULL;
  }
  size_t pos = 0;
  while (pos < len) {
    size_t before = pos;
    int rc = step(p, data, len, &pos);
    if (rc != STEP_CONTINUE) {
      *consumed = rc == MU_HTTP_ERROR ? before : pos;
      return (mu_http_parse_result_t)rc;
    }
  }
  *consumed = len;
  return MU_HTTP_NEED_MORE;
}

mu_http_request_t *mu_http_parser_take_request(mu_http_parser_t *p) {
  mu_http_request_t *r = p->done;
  p->done = NULL;
  return r;
}

const mu_http_request_t *mu_http_parser_current_request(const mu_http_parser_t *p) {
  return p->state == S_ERROR ? NULL : p->req;
}

int mu_http_parser_error_status(const mu_http_parser_t *p) {
  return p->state == S_ERROR ? p->error_status : 0;
}

const char *mu_http_parser_error_reason(const mu_http_parser_t *p) {
  return p->state == S_ERROR ? p->error_reason : "";
}

bool mu_http_parser_idle(const mu_http_parser_t *p) {
  return p->state == S_REQUEST_LINE && p->buf_len == p->buf_base;
}

/* Any size will do: the lines grow a small block (scratch_reserve) and
 * head_done shrinks one far too big, as they do the parser's own. A block
 * refused here would stay at the top of the caller's stash, so the only
 * refusals are for the parser's state. */
bool mu_http_parser_lend(mu_http_parser_t *p, void *block, size_t cap) {
  if (p->buf != NULL || p->state != S_REQUEST_LINE || p->buf_len != p->buf_base ||
      cap <= p->buf_base)
    return false;
  p->buf = block;
  p->buf_cap = cap;
  return true;
}

void *mu_http_parser_reclaim(mu_http_parser_t *p, size_t *cap) {
  if (p->buf == NULL || !mu_http_parser_idle(p))
    return NULL;
  void *b = p->buf;
  *cap = p->buf_cap;
  p->buf = NULL;
  p->buf_cap = 0;
  return b;
}
