/* An HTTP/1.x request, as the parser (cmuduo/http/http_parser.h) produces it.
 *
 * A request is one allocation for the head (this object, the request line and
 * the header fields), one for the body if it has one and one for the trailer
 * fields if it has any. It is immutable: every string it hands out lives as long
 * as the request, is NUL-terminated (the parser rejects NUL in the head, so the
 * NUL is the end) and is exactly as the client sent it, except that header
 * values lose their leading and trailing whitespace. Nothing is percent-decoded:
 * mu_http_percent_decode() does that into a buffer of the caller's.
 *
 * Thread-safety: a request may be moved to another thread; the functions that
 * read it may run in several threads at once; mu_http_request_free may not run
 * concurrently with anything else on the same request. The free helpers at the
 * end are thread-safe.
 */
#ifndef CMUDUO_HTTP_HTTP_REQUEST_H
#define CMUDUO_HTTP_HTTP_REQUEST_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The methods of RFC 9110 plus PATCH. Methods are case-sensitive: "get" is a
 * valid method token, but it is MU_HTTP_METHOD_OTHER, not GET. */
typedef enum mu_http_method {
  MU_HTTP_METHOD_OTHER = 0, /* a valid token that is none of the below */
  MU_HTTP_METHOD_GET,
  MU_HTTP_METHOD_HEAD,
  MU_HTTP_METHOD_POST,
  MU_HTTP_METHOD_PUT,
  MU_HTTP_METHOD_DELETE,
  MU_HTTP_METHOD_CONNECT,
  MU_HTTP_METHOD_OPTIONS,
  MU_HTTP_METHOD_TRACE,
  MU_HTTP_METHOD_PATCH
} mu_http_method_t;

/* One header (or trailer) field line. name is as sent (any case); value has no
 * leading or trailing spaces or tabs. Both are NUL-terminated. */
typedef struct mu_http_header {
  const char *name;
  const char *value;
  size_t name_len;
  size_t value_len;
} mu_http_header_t;

typedef struct mu_http_request mu_http_request_t;

/* Frees the request and everything it handed out. NULL is a no-op. */
void mu_http_request_free(mu_http_request_t *r);

mu_http_method_t mu_http_request_method(const mu_http_request_t *r);
/* The method as sent ("GET", "PROPFIND", ...). */
const char *mu_http_request_method_str(const mu_http_request_t *r);

/* The request-target as sent: "/a%20b?x=1", "http://host/p", "host:443" (CONNECT)
 * or "*" (OPTIONS). */
const char *mu_http_request_target(const mu_http_request_t *r);
/* The path of the target, still percent-encoded, without the query:
 *   origin-form "/a%20b?x=1"       -> "/a%20b"
 *   absolute-form "http://h/p?x"  -> "/p" ("/" when the URI has no path)
 *   asterisk-form "*"             -> "*"
 *   authority-form "host:443"     -> "" (CONNECT has no path) */
const char *mu_http_request_path(const mu_http_request_t *r);
/* What follows the first '?' of the target, still encoded; "" when there is no
 * query. has_query tells "/p?" (true) from "/p" (false). */
const char *mu_http_request_query(const mu_http_request_t *r);
bool mu_http_request_has_query(const mu_http_request_t *r);

/* HTTP/major.minor as sent; the parser accepts only major 1. */
int mu_http_request_version_major(const mu_http_request_t *r);
int mu_http_request_version_minor(const mu_http_request_t *r);

/* Header fields in the order received, repeated names kept. Lookups compare
 * names case-insensitively. */
size_t mu_http_request_header_count(const mu_http_request_t *r);
/* The i-th field line, or NULL when i >= count. */
const mu_http_header_t *mu_http_request_header_at(const mu_http_request_t *r, size_t i);
/* The value of the first field named `name`, or NULL. */
const char *mu_http_request_header(const mu_http_request_t *r, const char *name);
/* Iterates over every field named `name`: start with *pos = 0; each call returns
 * the next value and advances *pos, then NULL when there is none left.
 *   size_t pos = 0;
 *   for (const char *v; (v = mu_http_request_header_next(r, "Cookie", &pos));) */
const char *mu_http_request_header_next(const mu_http_request_t *r, const char *name,
                                        size_t *pos);

/* The trailer fields of a chunked body (none otherwise), kept apart from the
 * header fields: a trailer never overrides or adds to a header. */
size_t mu_http_request_trailer_count(const mu_http_request_t *r);
const mu_http_header_t *mu_http_request_trailer_at(const mu_http_request_t *r, size_t i);
const char *mu_http_request_trailer(const mu_http_request_t *r, const char *name);
const char *mu_http_request_trailer_next(const mu_http_request_t *r, const char *name,
                                         size_t *pos);

/* The body, de-chunked and contiguous; *len (if len is not NULL) gets its size.
 * A NUL follows the last byte (not counted), but the body itself may contain
 * NULs. A request without a body gives "" and 0. */
const char *mu_http_request_body(const mu_http_request_t *r, size_t *len);
size_t mu_http_request_body_length(const mu_http_request_t *r);

/* Whether the connection may carry another request after this one: HTTP/1.1
 * keeps it unless a Connection field lists "close"; HTTP/1.0 closes it unless a
 * Connection field lists "keep-alive" (and none lists "close"). A server that
 * answers with its own "Connection: close" closes regardless. */
bool mu_http_request_keep_alive(const mu_http_request_t *r);
/* True for an HTTP/1.1 request with "Expect: 100-continue" (RFC 9110 §10.1.1:
 * an HTTP/1.0 request's expectation is ignored). See MU_HTTP_HEADERS_DONE. */
bool mu_http_request_expect_continue(const mu_http_request_t *r);
/* True when the body came with Transfer-Encoding: chunked. */
bool mu_http_request_chunked(const mu_http_request_t *r);

/* ---- helpers ------------------------------------------------------------- */

/* "GET", "HEAD", ...; "" for MU_HTTP_METHOD_OTHER or an out-of-range value. */
const char *mu_http_method_name(mu_http_method_t m);
/* The enum of the len bytes at s (case-sensitive); MU_HTTP_METHOD_OTHER if none. */
mu_http_method_t mu_http_method_from_string(const char *s, size_t len);

/* Flags of mu_http_percent_decode. */
#define MU_HTTP_DECODE_PLUS_AS_SPACE 1u /* '+' is ' ' (form-urlencoded queries) */
#define MU_HTTP_DECODE_REJECT_NUL 2u    /* "%00" is an error (paths for C strings) */

/* Decodes the %XX escapes of src[0, len) into dst, which has room for len + 1
 * bytes and may be src itself (decoding never lengthens), and NUL-terminates it.
 * *out_len gets the decoded length. Returns 0, or -EINVAL when a '%' is not
 * followed by two hex digits (or "%00" with MU_HTTP_DECODE_REJECT_NUL); dst is
 * then unspecified. */
int mu_http_percent_decode(const char *src, size_t len, char *dst, size_t *out_len,
                           unsigned flags);

/* Form-urlencoded queries ("a=1&b=x+y&c", application/x-www-form-urlencoded,
 * as mu_http_request_query gives them): pairs split at '&', key and value at
 * the first '=' (a pair without one has the value ""), '+' and %XX decoded in
 * both. Empty pairs ("a=1&&b") are skipped.
 *
 * mu_http_query_get: the value of the first pair whose decoded key is `name`,
 * decoded into buf (cap bytes, NUL-terminated), its length in *len (may be
 * NULL). Returns 0; -ENOENT: no such key; -ENOSPC: the value needs *len + 1
 * bytes (buf then holds nothing useful); -EINVAL: a bad %XX in that value or
 * "%00" (never a NUL inside a decoded value or key). */
int mu_http_query_get(const char *query, const char *name, char *buf, size_t cap,
                      size_t *len);
/* Walks the pairs in order: *cursor starts at the query and is advanced past
 * one pair per call. Returns 1 with the decoded key and value (NUL-terminated)
 * in key[key_cap] and value[value_cap]; 0 at the end; -ENOSPC (a key or value
 * did not fit) or -EINVAL (a bad %XX or "%00") for that pair, the cursor
 * still advanced past it, so the walk can go on. */
int mu_http_query_next(const char **cursor, char *key, size_t key_cap, char *value,
                       size_t value_cap);

/* Whether the comma-separated list `list` (a field value such as Connection's)
 * has an element equal to `token`, ignoring case and the spaces around
 * elements: ("keep-alive, Upgrade", "upgrade") is true. */
bool mu_http_list_has_token(const char *list, const char *token);

#ifdef __cplusplus
}
#endif
#endif
