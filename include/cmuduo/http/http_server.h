/* An HTTP/1.1 server on a TcpServer (muduo's HttpServer, correct by default).
 *
 *   static void on_request(const mu_http_request_t *req, mu_http_response_t *resp,
 *                          void *arg) {
 *     if (strcmp(mu_http_request_path(req), "/hello") == 0)
 *       mu_http_response_send_text(resp, 200, "hello, world!\n");
 *     else
 *       mu_http_response_send_text(resp, 404, "not found\n");
 *   }
 *   ...
 *   mu_http_server_t *s = mu_http_server_new(loop, &addr, "HttpServer", 0);
 *   mu_http_server_set_handler(s, on_request, NULL);
 *   mu_http_server_start(s);
 *   mu_event_loop_loop(loop);
 *
 * What the server does without being asked:
 *  - parses with cmuduo/http/http_parser.h and its limits: a bad request gets
 *    its status (400, 413, 414, 431, 501, 505) with "Connection: close", and
 *    the connection is closed once that response is out;
 *  - handles every complete request already read in the same read event
 *    (pipelining), answering in request order: the next request is handed to
 *    the handler only once the previous response is finished;
 *  - answers "Expect: 100-continue" with 100 Continue before reading the body
 *    (or with 413 when the announced body is too large);
 *  - closes a connection whose request head is not complete within the header
 *    timeout, with 408 if part of a request had arrived (slowloris), and an
 *    idle keep-alive connection after the idle timeout, silently;
 *  - keeps or closes the connection by the request's version and Connection
 *    header and the response's set_close;
 *  - answers a client that half-closes after sending (shutdown(SHUT_WR),
 *    `nc -N`): every request it sent in full is answered, in order, also
 *    when the handler finishes later in another thread; the last response
 *    carries "Connection: close" and the connection closes once it is out.
 *    A request left incomplete is dropped; with nothing pending the
 *    connection closes at once. (A client that closes for good sends the
 *    same FIN: its pending response is still written, then the connection
 *    closes.)
 *
 * Threads: set everything before start(); the functions are base-loop-thread
 * only except start(), which is thread-safe. The handler runs in the
 * connection's loop thread (one of the I/O threads when set_thread_num > 0).
 */
#ifndef CMUDUO_HTTP_HTTP_SERVER_H
#define CMUDUO_HTTP_HTTP_SERVER_H

#include "cmuduo/http/http_parser.h"
#include "cmuduo/http/http_request.h"
#include "cmuduo/http/http_response.h"
#include "cmuduo/net/event_loop.h"
#include "cmuduo/net/inet_address.h"
#include "cmuduo/net/tcp_server.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mu_http_server mu_http_server_t;

/* The request is valid until the response is finished; the handler must finish
 * the response (now or later, see http_response.h). */
typedef void (*mu_http_handler_fn)(const mu_http_request_t *req, mu_http_response_t *resp,
                                   void *arg);

#define MU_HTTP_DEFAULT_HEADER_TIMEOUT 10.0             /* seconds */
#define MU_HTTP_DEFAULT_IDLE_TIMEOUT 60.0               /* seconds */
#define MU_HTTP_DEFAULT_HIGH_WATER_MARK (1024u * 1024u) /* bytes */
#define MU_HTTP_DEFAULT_LINGER 5.0                      /* seconds */

/* Binds now, as mu_tcp_server_new (options: MU_TCP_SERVER_REUSE_PORT).
 * Returns NULL and sets errno on failure. Without a handler every request gets
 * 404. */
mu_http_server_t *mu_http_server_new(mu_event_loop_t *loop, const mu_inet_address_t *addr,
                                     const char *name, int options);
/* Closes every connection and frees the server (with its I/O threads and
 * their loops). Base loop thread only.
 *
 * Responses not finished yet stay their handlers' threads' to finish, during
 * this call (it may run while other threads are inside response calls) and
 * after it: from the moment it begins, every response call, in any thread,
 * leaves the loops alone and answers as for a connection that closed:
 * send, send_text, send_file and begin return 0, write and end -ECONNRESET,
 * and a finishing call releases the response without sending it. Its memory
 * and the connection's go once no loop can still run work queued for it:
 * when the free returns (with I/O threads) or when the base loop next runs
 * its queue (without); a response finished later goes at once. A stream
 * waiting for drain gets its drain callback, where write() fails. To have
 * pending responses go out, finish them before calling this. */
void mu_http_server_free(mu_http_server_t *server);

void mu_http_server_set_handler(mu_http_server_t *server, mu_http_handler_fn fn,
                                void *arg);
void mu_http_server_set_thread_num(mu_http_server_t *server, int n);
/* Parser limits for every connection; NULL restores the defaults. */
void mu_http_server_set_limits(mu_http_server_t *server, const mu_http_limits_t *limits);
/* Seconds a client has to send a complete request head, from the connection's
 * start or, on a kept-alive connection, from the first byte of the request
 * (before that byte the idle timeout applies) (0: no limit). */
void mu_http_server_set_header_timeout(mu_http_server_t *server, double seconds);
/* Seconds an idle keep-alive connection stays open (0: no limit). The same
 * limit applies between two reads of a request body (then with 408), and to a
 * streamed response whose client has read nothing for that long (closed; its
 * drain callback runs and write() fails). Response bytes still leaving keep a
 * connection from counting as idle: a slow but steady download is not cut. */
void mu_http_server_set_idle_timeout(mu_http_server_t *server, double seconds);
/* Seconds a connection the server is closing (after a response with
 * Connection: close or an error status) waits, once its last response bytes
 * have left, for the client to close before it is closed hard; reading the
 * client's leftover input meanwhile keeps a reset from destroying a response
 * the client has not read yet (default MU_HTTP_DEFAULT_LINGER; at least 1 ms).
 * While those bytes are still being written, a client that pauses gets the
 * idle timeout instead (or this one when the idle timeout is off). */
void mu_http_server_set_linger(mu_http_server_t *server, double seconds);
/* Bytes of queued output above which mu_http_response_write() returns 1 and
 * the drain callback is awaited (default MU_HTTP_DEFAULT_HIGH_WATER_MARK).
 * The server owns the TcpServer's high-water-mark setting. */
void mu_http_server_set_high_water_mark(mu_http_server_t *server, size_t bytes);

/* Starts the I/O threads and listens. Thread-safe and idempotent. Returns 0 or
 * a negative errno. */
int mu_http_server_start(mu_http_server_t *server);

/* The TcpServer underneath: for its address, connection count, thread pool. */
mu_tcp_server_t *mu_http_server_tcp_server(mu_http_server_t *server);

#ifdef __cplusplus
}
#endif
#endif
