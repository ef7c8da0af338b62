/* An HTTP/1.x response, built by a handler of mu_http_server_t.
 *
 * The server hands the handler a response for each request. The handler sets
 * a status, headers and a body and finishes it with one of:
 *   - mu_http_response_send():       the whole body from memory;
 *   - mu_http_response_send_file():  a file (region), written with sendfile(2);
 *   - mu_http_response_begin() + mu_http_response_write() ... +
 *     mu_http_response_end():        a streamed body (chunked for HTTP/1.1,
 *                                    delimited by the close for HTTP/1.0).
 *
 * The server adds Date (cached per loop, refreshed once a second), Server,
 * Content-Length or Transfer-Encoding, and Connection when needed. A response
 * to HEAD keeps its Content-Length but has its body dropped; 204 and 304
 * never carry one.
 *
 * Ownership and threads: while the handler runs, the response is the handler's
 * (in the connection's loop thread). If the handler returns without finishing
 * it, it stays the handler's, which may go on with it later from any thread,
 * one thread at a time (an async handler): the server reads nothing of it
 * until it is finished, and handles the connection's next request only then,
 * so responses go out in request order. Finishing gives it back to the server;
 * after send/send_file/end (or after begin, for everything but write/end) the
 * caller must not touch it again. Calls made from a thread other than the
 * connection's loop are carried there with queue_in_loop.
 *
 * Calls in the wrong state return -EINVAL and change nothing: set_status,
 * add_header, set_content_type and append_body after begin or a finishing
 * call; send, send_text, send_file and begin after begin or a finishing call;
 * write and end before begin or after end. After a finishing call this
 * holds only in the connection's loop thread until the caller returns to the
 * loop: later, or in another thread, the response may already be answering
 * the next request.
 *
 * If the connection closes before the response is finished, the calls still
 * succeed as far as the caller can tell (or return -ECONNRESET, as documented
 * on each) and the response is freed when it is finished: an async handler
 * must always finish what it started.
 *
 * The same holds from the moment mu_http_server_free begins, in every thread
 * and also while the free is still running: the calls touch no event loop
 * (the server's I/O loops are being freed), a finishing call releases the
 * response unsent (send, send_text, send_file return 0, end -ECONNRESET),
 * write returns -ECONNRESET and begin 0. The setters and append_body work
 * as before (their result is dropped with the response).
 */
#ifndef CMUDUO_HTTP_HTTP_RESPONSE_H
#define CMUDUO_HTTP_HTTP_RESPONSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cmuduo/http/http_request.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mu_http_response mu_http_response_t;

/* The request this response answers; valid until the response is finished. */
const mu_http_request_t *mu_http_response_request(const mu_http_response_t *resp);

/* The status (200-599; default 200) and its reason phrase: NULL gives the
 * standard phrase ("Not Found"); a custom one (copied; tab, space and visible
 * bytes, at most 256) replaces it. Returns 0, -EINVAL or -ENOMEM. A 1xx is
 * refused: it is interim, so the client would wait on for a final response
 * (or take the next request's for this one). */
int mu_http_response_set_status(mu_http_response_t *resp, int status, const char *reason);
int mu_http_response_status(const mu_http_response_t *resp);

/* Adds a header field line; repeated names are kept in order. The name must be
 * a token and the value free of CR, LF and every other control byte but tab:
 * otherwise -EINVAL (header injection is refused, not escaped). The server's own fields
 * (Content-Length, Transfer-Encoding, Date, Connection) are refused with
 * -EINVAL too: the server owns them. Returns 0, -EINVAL or -ENOMEM. */
int mu_http_response_add_header(mu_http_response_t *resp, const char *name,
                                const char *value);
/* Shorthand for add_header("Content-Type", type). */
int mu_http_response_set_content_type(mu_http_response_t *resp, const char *type);

/* Asks the server to close the connection after this response (adds
 * "Connection: close"). The server does so by itself when the request asked for
 * it, on HTTP/1.0 without keep-alive, and after errors. */
void mu_http_response_set_close(mu_http_response_t *resp, bool close);

/* Appends len bytes to the in-memory body (copied). Returns 0 or -ENOMEM. */
int mu_http_response_append_body(mu_http_response_t *resp, const void *data, size_t len);

/* Finishes the response: status line, headers and the in-memory body go out
 * (Content-Length set). Returns 0, or -ENOMEM (the connection is then closed). */
int mu_http_response_send(mu_http_response_t *resp);

/* Shorthand: set_status(status, NULL), Content-Type text/plain (if none was
 * added), append_body(body, strlen(body)) and send. Returns as send does: on
 * -ENOMEM the response is finished all the same and the connection closed;
 * -EINVAL (a bad status, a NULL body, the wrong state) leaves it unfinished. */
int mu_http_response_send_text(mu_http_response_t *resp, int status, const char *body);

/* Finishes the response with len bytes of the open file fd starting at offset
 * as its body (Content-Length: len), written with sendfile(2) as the socket
 * drains, never read into memory. The response takes fd in every case and
 * closes it when done, even on error. The in-memory body must be empty.
 * Returns 0, -EINVAL (a non-empty body or a negative fd: the response is not
 * finished, the caller still has to) or -ENOMEM (the connection is closed).
 * A file that shrinks under the server ends the connection (the length was
 * promised). */
int mu_http_response_send_file(mu_http_response_t *resp, int fd, uint64_t offset,
                               uint64_t len);

/* Called in the connection's loop thread when output queued by write() has
 * drained below the connection's high-water mark: write more. Also called
 * once when the connection closes while the stream waits for it (write() then
 * returns -ECONNRESET), so a stream always gets to call end(). */
typedef void (*mu_http_drain_fn)(mu_http_response_t *resp, void *arg);

/* Starts a streamed body: the head goes out now (Transfer-Encoding: chunked
 * for HTTP/1.1; for HTTP/1.0 no length, and the connection closes at the end).
 * drain (may be NULL) is how the server says "write more" after write()
 * returned 1. Returns 0 or -ENOMEM (the connection is then closed, but the
 * response is streaming all the same: finish it with end()); the wrong-state
 * errors are listed above. */
int mu_http_response_begin(mu_http_response_t *resp, mu_http_drain_fn drain, void *arg);

/* Writes len bytes of a streamed body (copied; len 0 is a no-op). Returns 0:
 * write more; 1: the bytes are queued but the connection's output is above
 * its high-water mark: stop and wait for the drain callback; -ECONNRESET: the
 * connection is gone (call end() to release the response); -ENOMEM: the
 * piece was not sent (write it again, or end; where part of it had left
 * already the connection is closed, and later calls say -ECONNRESET). From a
 * thread other than the loop's, the 1 comes from an estimate of the queued
 * output, and the drain callback still runs in the loop thread. */
int mu_http_response_write(mu_http_response_t *resp, const void *data, size_t len);

/* Ends a streamed body (the last chunk for HTTP/1.1) and finishes the
 * response. Returns 0 or -ECONNRESET (the connection was gone; the response is
 * freed all the same). */
int mu_http_response_end(mu_http_response_t *resp);

/* "OK", "Not Found", ...; "" for a code without a standard phrase. */
const char *mu_http_status_reason(int status);

/* Formats t (seconds since the epoch) as an IMF-fixdate, "Sun, 06 Nov 1994
 * 08:49:37 GMT", into buf (at least 30 bytes). Returns the length (29). */
size_t mu_http_format_date(int64_t t, char *buf, size_t size);
/* Parses an HTTP date (IMF-fixdate, and the obsolete RFC 850 and asctime
 * forms, as RFC 9110 §5.6.7 asks of a recipient). Returns 0 and sets *t, or
 * -EINVAL. */
int mu_http_parse_date(const char *s, int64_t *t);

#ifdef __cplusplus
}
#endif
#endif
