/* A sans-IO HTTP/1.x request parser (RFC 9112): bytes in, requests out.
 *
 * It does no I/O and needs no loop: feed it whatever bytes arrived, in pieces
 * of any size, and it reports each request when the last byte of it is in. It
 * copies what it keeps, so every byte it reports consumed may be dropped from
 * the caller's buffer at once. A connection's message callback drives it so:
 *
 *   for (;;) {
 *     size_t n;
 *     mu_http_parse_result_t rc = mu_http_parser_execute(
 *         p, mu_buffer_peek(in), mu_buffer_readable_bytes(in), &n);
 *     mu_buffer_retrieve(in, n);
 *     if (rc == MU_HTTP_NEED_MORE) break;      // all of `in` consumed
 *     if (rc == MU_HTTP_ERROR) {               // answer the status, close
 *       reply(mu_http_parser_error_status(p), mu_http_parser_error_reason(p));
 *       break;
 *     }
 *     if (rc == MU_HTTP_HEADERS_DONE) {        // a body follows
 *       if (mu_http_request_expect_continue(mu_http_parser_current_request(p)))
 *         send "HTTP/1.1 100 Continue\r\n\r\n";
 *       continue;
 *     }
 *     handle(mu_http_parser_take_request(p));  // MU_HTTP_REQUEST_DONE
 *   }
 *
 * Pipelined requests come out one per MU_HTTP_REQUEST_DONE, in order; the
 * bytes after a request stay in the caller's buffer until the next call, so a
 * server that stops after a request (Connection: close, an Upgrade, a CONNECT
 * tunnel) finds them there untouched.
 *
 * Strictness (what gets 400 and why) is listed at the end of this file.
 *
 * Memory: an idle parser holds no heap memory. Per request it allocates the
 * request head (usually one allocation, sized from the bytes at hand), the
 * body (grown by doubling, never past the declared length or max_body), and
 * the trailers, all through mu_malloc; the limits bound every allocation.
 *
 * Thread-safety: none; a parser belongs to one connection, hence one thread.
 */
#ifndef CMUDUO_HTTP_HTTP_PARSER_H
#define CMUDUO_HTTP_HTTP_PARSER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cmuduo/http/http_request.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MU_HTTP_DEFAULT_MAX_REQUEST_LINE 8192u
#define MU_HTTP_DEFAULT_MAX_HEADER_BYTES 16384u
#define MU_HTTP_DEFAULT_MAX_HEADERS 100u
#define MU_HTTP_DEFAULT_MAX_BODY (1024u * 1024u)
#define MU_HTTP_DEFAULT_MAX_CHUNK_LINE 1024u

/* What a request may not exceed, and the status the parser answers when one
 * does. Start from mu_http_limits_default() and change what you need. Values
 * above 1 GiB are treated as 1 GiB (max_body: SIZE_MAX / 2). */
typedef struct mu_http_limits {
  /* The request line without its CRLF: 414 URI Too Long. */
  size_t max_request_line;
  /* The header section: every byte after the request line up to and including
   * the empty line that ends it, so at least 2. 431 Request Header Fields Too
   * Large. The trailer section of a chunked body has the same limit. */
  size_t max_header_bytes;
  /* Header field lines (and, separately, trailer field lines): 431. */
  size_t max_headers;
  /* The body after de-chunking: 413 Content Too Large, as soon as a
   * Content-Length or a chunk size announces more. 0 allows no body. */
  size_t max_body;
  /* A chunk-size line with its extensions, without its CRLF: 400. */
  size_t max_chunk_line;
} mu_http_limits_t;

mu_http_limits_t mu_http_limits_default(void);

typedef enum mu_http_parse_result {
  /* Every byte given was consumed; call again when more arrive. */
  MU_HTTP_NEED_MORE = 0,
  /* The head of a request with a body (a Content-Length above 0, or chunked)
   * is complete and its body not yet read: mu_http_parser_current_request()
   * shows the head. This is when a server answers "Expect: 100-continue" with
   * 100 Continue, or refuses the body with a final status (then closes). A
   * request without a body skips this and goes straight to REQUEST_DONE. */
  MU_HTTP_HEADERS_DONE,
  /* A request is complete: take it with mu_http_parser_take_request(). The
   * next call parses the bytes after it (pipelining). */
  MU_HTTP_REQUEST_DONE,
  /* The input is not an acceptable request: mu_http_parser_error_status() and
   * _reason() say why. The parser stays in error (every later call returns
   * this again, consuming nothing) until reset; the connection should get
   * that status with "Connection: close", and be closed. */
  MU_HTTP_ERROR
} mu_http_parse_result_t;

/* The parser's state. Its fields are private: the struct is public only so a
 * connection can embed it. */
typedef struct mu_http_parser {
  mu_http_limits_t limits;
  int state;
  int error_status;
  const char *error_reason;
  char *buf; /* scratch: the head, trailers or a split chunk-size line */
  size_t buf_len;
  size_t buf_cap;
  size_t buf_base; /* bytes reserved at buf[0] for the request object */
  size_t line_start;
  size_t section_start;
  size_t fields;
  size_t method_len;
  size_t target_len;
  size_t body_cap;
  uint64_t remaining;
  struct mu_http_request *req;  /* being parsed */
  struct mu_http_request *done; /* complete, not yet taken */
  unsigned char major;
  unsigned char minor;
} mu_http_parser_t;

/* Prepares *p; limits NULL means mu_http_limits_default(). Allocates nothing,
 * cannot fail. */
void mu_http_parser_init(mu_http_parser_t *p, const mu_http_limits_t *limits);
/* Frees everything the parser holds, including a request it reported but that
 * was not taken. *p may be initialised again. */
void mu_http_parser_destroy(mu_http_parser_t *p);
/* Forgets any partial or untaken request and any error; keeps the limits. */
void mu_http_parser_reset(mu_http_parser_t *p);

/* Parses data[0, len) (data may be NULL when len is 0) until a request, a
 * request head or an error comes out, or the bytes run out. *consumed gets
 * how many bytes were used: all of them for NEED_MORE; for HEADERS_DONE and
 * REQUEST_DONE, those up to the last byte of that head or request (the rest
 * belongs to what follows: call again with data + *consumed); for ERROR,
 * those before the piece in which the error was found. A request reported and
 * not taken is freed when execute is called again. */
mu_http_parse_result_t mu_http_parser_execute(mu_http_parser_t *p, const char *data,
                                              size_t len, size_t *consumed);

/* After MU_HTTP_REQUEST_DONE: the request, now the caller's (free it with
 * mu_http_request_free). NULL otherwise, or when already taken. */
mu_http_request_t *mu_http_parser_take_request(mu_http_parser_t *p);
/* After MU_HTTP_HEADERS_DONE, until the body is complete: the request being
 * read, still the parser's; valid until the next execute, reset or destroy.
 * Its head is complete; its body is empty at HEADERS_DONE and, while it
 * grows, not yet NUL-terminated. NULL otherwise (and after an error). */
const mu_http_request_t *mu_http_parser_current_request(const mu_http_parser_t *p);

/* After MU_HTTP_ERROR: 400, 413, 414, 431, 501 or 505 (500 when memory ran
 * out), and a short static reason ("header name followed by whitespace").
 * 0 and "" when there is no error. */
int mu_http_parser_error_status(const mu_http_parser_t *p);
const char *mu_http_parser_error_reason(const mu_http_parser_t *p);

/* True when no byte of an unfinished request is held: the connection is
 * between requests. (A server closing on EOF or on an idle timeout answers 400
 * or 408 only when this is false.) Empty lines before a request do not count. */
bool mu_http_parser_idle(const mu_http_parser_t *p);

/* Strictness, with RFC 9112 reasons:
 *  - Lines end in CRLF. A bare LF or a bare CR, NUL or any other control byte
 *    but tab in the request line or a field line is 400 (§2.2 lets a parser
 *    accept bare LF; refusing it leaves no line an upstream proxy could split
 *    differently). Empty lines before the request line are skipped (§2.2).
 *  - Request line: method SP target SP HTTP/d.d, single spaces (§3). The method
 *    is a token; the target has visible ASCII only and is origin-form (starts
 *    with '/'), absolute-form (scheme ':'), "*" for OPTIONS, or authority-form
 *    for CONNECT (only). A malformed version is 400; major version 1 with any
 *    minor is served (1.2 is handled as 1.1), other majors are 505.
 *  - Field lines: a token name directly followed by ':' (whitespace before the
 *    colon is 400, §5.1), no obs-fold (a line starting with space or tab is
 *    400, §5.2), values of visible bytes, spaces, tabs and bytes >= 0x80.
 *  - An HTTP/1.1 request without exactly one Host field, or with more than
 *    one in any version, or with an invalid host, is 400 (§3.2).
 *  - Framing (§6.1, §6.3), in this order:
 *      Transfer-Encoding in an HTTP/1.0 request: 400 (§6.1: its framing is
 *        faulty; rejecting is the safe reading).
 *      Transfer-Encoding together with Content-Length: 400 (§6.3 item 3
 *        allows rejecting; it is the classic smuggling vector).
 *      A coding that is not chunked, gzip, x-gzip, deflate, compress or
 *        x-compress: 501 (§6.1: a transfer coding the server does not
 *        understand).
 *      Final coding not chunked ("gzip"): 400 (§6.3 item 4: the length cannot
 *        be determined, the server MUST answer 400).
 *      chunked twice (§7.1: applied at most once), parameters on chunked, or
 *        an empty or malformed list: 400.
 *      A known coding before chunked ("gzip, chunked"): 501; the framing is
 *        fine but the parser does not decode content codings, and handing out
 *        a body in a coding the caller cannot see would be wrong.
 *      Content-Length not 1*DIGIT, or several that differ, even as a list in
 *        one field: 400 (§6.3 item 5); the same value repeated is accepted
 *        (RFC 9110 §8.6). A length above max_body: 413.
 *      CONNECT with Transfer-Encoding or a Content-Length above 0: 400 (RFC
 *        9110 §9.3.6: a CONNECT request has no content; the bytes after its
 *        head are the tunnel's, as llhttp takes them).
 *  - Chunked body: chunk-size is 1*HEXDIG (no sign, no 0x, no spaces before
 *    it), chunk extensions follow RFC 9112 §7.1.1 exactly and are ignored, the
 *    data is followed by CRLF exactly; a size past max_body is 413. Trailer
 *    fields follow the field-line rules above.
 */

#ifdef __cplusplus
}
#endif
#endif
