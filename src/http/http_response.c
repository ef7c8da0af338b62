/* HttpResponse: what a handler builds, and how it is written into the
 * connection's loop batch (status line, server fields, body framing). Calls
 * made outside the connection's loop thread are carried there as queued
 * operations; http_server.c decides what happens to the connection after. */
#include "cmuduo/http/http_response.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cmuduo/base/alloc.h"
#include "cmuduo/base/logging.h"
#include "cmuduo/net/tcp_connection.h"
#include "../net/event_loop_internal.h"
#include "http_format_internal.h"
#include "http_request_internal.h"
#include "http_server_internal.h"

/* Bodies up to this size are copied into the batch (one send with the head);
 * larger ones are sent from where they are, after the head. */
#define INLINE_BODY_MAX (64u * 1024)
/* Header and body storage up to this size goes back to the loop's spares
 * when a response is done (so that adding headers costs no allocation per
 * request, and an idle connection holds none); larger storage is freed. */
#define KEEP_STORAGE_MAX (16u * 1024)

/* ---- status reasons ------------------------------------------------------ */

/* Every status with a standard reason phrase, as X(code, reason). */
#define MU_HTTP_STATUSES(X)                 \
  X(100, "Continue")                        \
  X(101, "Switching Protocols")             \
  X(103, "Early Hints")                     \
  X(200, "OK")                              \
  X(201, "Created")                         \
  X(202, "Accepted")                        \
  X(203, "Non-Authoritative Information")   \
  X(204, "No Content")                      \
  X(205, "Reset Content")                   \
  X(206, "Partial Content")                 \
  X(300, "Multiple Choices")                \
  X(301, "Moved Permanently")               \
  X(302, "Found")                           \
  X(303, "See Other")                       \
  X(304, "Not Modified")                    \
  X(307, "Temporary Redirect")              \
  X(308, "Permanent Redirect")              \
  X(400, "Bad Request")                     \
  X(401, "Unauthorized")                    \
  X(402, "Payment Required")                \
  X(403, "Forbidden")                       \
  X(404, "Not Found")                       \
  X(405, "Method Not Allowed")              \
  X(406, "Not Acceptable")                  \
  X(407, "Proxy Authentication Required")   \
  X(408, "Request Timeout")                 \
  X(409, "Conflict")                        \
  X(410, "Gone")                            \
  X(411, "Length Required")                 \
  X(412, "Precondition Failed")             \
  X(413, "Content Too Large")               \
  X(414, "URI Too Long")                    \
  X(415, "Unsupported Media Type")          \
  X(416, "Range Not Satisfiable")           \
  X(417, "Expectation Failed")              \
  X(421, "Misdirected Request")             \
  X(422, "Unprocessable Content")           \
  X(426, "Upgrade Required")                \
  X(428, "Precondition Required")           \
  X(429, "Too Many Requests")               \
  X(431, "Request Header Fields Too Large") \
  X(451, "Unavailable For Legal Reasons")   \
  X(500, "Internal Server Error")           \
  X(501, "Not Implemented")                 \
  X(502, "Bad Gateway")                     \
  X(503, "Service Unavailable")             \
  X(504, "Gateway Timeout")                 \
  X(505, "HTTP Version Not Supported")

const char *mu_http_status_reason(int status) {
#define REASON_CASE(code, reason) \
  case code:                      \
    return reason;
  switch (status) {
    MU_HTTP_STATUSES(REASON_CASE)
    default:
      return "";
  }
#undef REASON_CASE
}

/* The whole status line of a standard status, a constant padded to a fixed
 * size: copied with one inlined move, no digits to format, no strlen. NULL
 * for other codes. */
#define STATUS_LINE_MAX 48
typedef struct status_line {
  char text[STATUS_LINE_MAX];
  unsigned char len;
} status_line_t;

static const status_line_t *status_line(int status) {
#define LINE_CASE(code, reason)                                                       \
  case code: {                                                                        \
    static const status_line_t l = {"HTTP/1.1 " #code " " reason "\r\n",              \
                                    sizeof("HTTP/1.1 " #code " " reason "\r\n") - 1}; \
    return &l;                                                                        \
  }
  switch (status) {
    MU_HTTP_STATUSES(LINE_CASE)
    default:
      return NULL;
  }
#undef LINE_CASE
}

/* ---- small formatting helpers (no snprintf on the hot path) -------------- */

static char *put(char *p, const char *s, size_t n) {
  memcpy(p, s, n);
  return p + n;
}
#define PUT_LIT(p, lit) put((p), (lit), sizeof(lit) - 1)

static bool no_body_status(int status) {
  return status < 200 || status == 204 || status == 304;
}

static bool is_head(const mu_http_response_t *r) {
  return r->req != NULL && r->req->method == MU_HTTP_METHOD_HEAD;
}

/* ---- the response object ------------------------------------------------- */

void mu_http_response_reset(mu_http_response_t *r, mu_http_request_t *req) {
  r->req = req;
  r->status = 200;
  atomic_store_explicit(&r->state, MU_RESP_BUILDING, memory_order_relaxed);
  r->close = false;
  r->has_content_type = false;
  r->has_server = false;
  r->default_text = false;
  r->async_ref = false;
  r->body_allowed = false;
  r->chunked = false;
  r->close_after = false;
  r->drain_wait = false;
  r->drain = NULL;
  r->drain_arg = NULL;
  atomic_store_explicit(&r->xq, 0, memory_order_relaxed);
}

/* Gives b's storage to the loop's spares (lp NULL: not in the loop thread)
 * or frees it. */
static void release_storage(http_loop_t *lp, mu_buffer_t *b) {
  if (b->data == NULL)
    return;
  mu_buffer_retrieve_all(b);
  if (lp != NULL && lp->nspare < MU_HTTP_LOOP_SPARES &&
      mu_buffer_internal_capacity(b) <= KEEP_STORAGE_MAX) {
    lp->spare[lp->nspare++] = *b;
    mu_buffer_init(b);
  } else {
    mu_buffer_destroy(b);
  }
}

/* Storage for an empty buffer from the loop's spares, when called in the
 * loop thread and one is there; otherwise the buffer allocates as usual.
 * The loop is compared, not asked: an async handler may build its response
 * after mu_http_server_free, when an I/O loop is gone. */
static void acquire_storage(mu_http_response_t *r, mu_buffer_t *b) {
  if (b->data != NULL)
    return;
  http_loop_t *lp = r->hc->lp;
  if (mu_event_loop_of_current_thread() == lp->loop && lp->nspare > 0)
    *b = lp->spare[--lp->nspare];
}

/* After the response is written (lp: the loop's state, NULL outside the
 * loop thread): everything it held goes. */
static void clear_after_finish(mu_http_response_t *r, http_loop_t *lp) {
  if (lp != NULL)
    mu_http_loop_recycle_request(lp, r->req);
  else
    mu_http_request_free(r->req);
  r->req = NULL;
  if (r->reason != NULL) {
    mu_free(r->reason);
    r->reason = NULL;
  }
  release_storage(lp, &r->hdrs);
  release_storage(lp, &r->body);
  r->drain = NULL;
  r->drain_arg = NULL;
  r->drain_wait = false;
  atomic_store_explicit(&r->state, MU_RESP_DONE, memory_order_relaxed);
}

void mu_http_response_destroy(mu_http_response_t *r) {
  mu_http_request_free(r->req);
  r->req = NULL;
  mu_free(r->reason);
  r->reason = NULL;
  mu_buffer_destroy(&r->hdrs);
  mu_buffer_destroy(&r->body);
}

const mu_http_request_t *mu_http_response_request(const mu_http_response_t *resp) {
  return resp->req;
}

/* A reason phrase: HTAB, SP and visible bytes (RFC 9112 §4). */
static bool valid_reason(const char *s) {
  for (const unsigned char *p = (const unsigned char *)s; *p; ++p) {
    if (*p != '\t' && (*p < 0x20 || *p == 0x7f))
      return false;
  }
  return true;
}

/* Status, fields and body change only while the response is being built:
 * after begin() or a finishing call they would be dropped unseen (and left
 * in storage the next response reuses), or race with the loop. */
static bool building(const mu_http_response_t *r) {
  return atomic_load_explicit(&r->state, memory_order_relaxed) == MU_RESP_BUILDING;
}

int mu_http_response_set_status(mu_http_response_t *resp, int status,
                                const char *reason) {
  if (!building(resp))
    return -EINVAL;
  /* A 1xx is interim: the client would wait on for the final response (or
   * take the next request's for it), so it cannot finish a request. */
  if (status < 200 || status > 599)
    return -EINVAL;
  char *copy = NULL;
  if (reason != NULL) {
    if (!valid_reason(reason) || strlen(reason) > 256)
      return -EINVAL;
    size_t n = strlen(reason) + 1;
    copy = mu_malloc(n);
    if (copy == NULL)
      return -ENOMEM;
    memcpy(copy, reason, n);
  }
  mu_free(resp->reason);
  resp->reason = copy;
  resp->status = status;
  return 0;
}

int mu_http_response_status(const mu_http_response_t *resp) {
  return resp->status;
}

static bool valid_name(const char *s, size_t *len) {
  size_t n = 0;
  for (; s[n]; ++n) {
    if (!mu_http_is_tchar((unsigned char)s[n]))
      return false;
  }
  *len = n;
  return n > 0;
}

/* Field values: no CR, LF or other control byte but HTAB (stricter than the
 * minimum: a DEL or a stray ESC in a header helps no one). */
static bool valid_value(const char *s, size_t *len) {
  size_t n = 0;
  for (; s[n]; ++n) {
    unsigned char c = (unsigned char)s[n];
    if (c != '\t' && (c < 0x20 || c == 0x7f))
      return false;
  }
  *len = n;
  return true;
}

int mu_http_response_add_header(mu_http_response_t *resp, const char *name,
                                const char *value) {
  size_t nl, vl;
  if (!building(resp))
    return -EINVAL;
  if (name == NULL || value == NULL || !valid_name(name, &nl) || !valid_value(value, &vl))
    return -EINVAL;
  if (strcasecmp(name, "Content-Length") == 0 ||
      strcasecmp(name, "Transfer-Encoding") == 0 || strcasecmp(name, "Date") == 0 ||
      strcasecmp(name, "Connection") == 0)
    return -EINVAL;
  acquire_storage(resp, &resp->hdrs);
  int rc = mu_buffer_ensure_writable(&resp->hdrs, nl + vl + 4);
  if (rc != 0)
    return rc;
  char *p = mu_buffer_begin_write(&resp->hdrs);
  p = put(p, name, nl);
  p = PUT_LIT(p, ": ");
  p = put(p, value, vl);
  PUT_LIT(p, "\r\n");
  mu_buffer_has_written(&resp->hdrs, nl + vl + 4);
  if (strcasecmp(name, "Content-Type") == 0)
    resp->has_content_type = true;
  else if (strcasecmp(name, "Server") == 0)
    resp->has_server = true;
  return 0;
}

int mu_http_response_set_content_type(mu_http_response_t *resp, const char *type) {
  return mu_http_response_add_header(resp, "Content-Type", type);
}

void mu_http_response_set_close(mu_http_response_t *resp, bool close) {
  resp->close = close;
}

int mu_http_response_append_body(mu_http_response_t *resp, const void *data, size_t len) {
  if (!building(resp))
    return -EINVAL;
  if (len == 0)
    return 0;
  acquire_storage(resp, &resp->body);
  return mu_buffer_append(&resp->body, data, len);
}

/* ---- writing the head ---------------------------------------------------- */

enum { FRAME_NONE, FRAME_LENGTH, FRAME_CHUNKED };

static const char k_server_line[] = "Server: cmuduo\r\n";

/* Status line and fields into out (the loop's batch). */
static int format_head(mu_http_response_t *r, mu_buffer_t *out, int framing,
                       uint64_t length, bool close) {
  http_loop_t *lp = r->hc->lp;
  size_t date_len;
  const char *date = mu_http_loop_date(lp, &date_len);
  const status_line_t *line = r->reason == NULL ? status_line(r->status) : NULL;
  const char *reason = "";
  size_t reason_len = 0;
  if (line == NULL) { /* a custom reason or a code without a standard one */
    reason = r->reason ? r->reason : mu_http_status_reason(r->status);
    reason_len = strlen(reason);
  }
  size_t hdrs_len = mu_buffer_readable_bytes(&r->hdrs);
  /* The Date line is copied as its whole fixed-size array (one inlined move
   * instead of a memcpy call); the bytes past date_len are overwritten. */
  int rc = mu_buffer_ensure_writable(
      out, 160 + STATUS_LINE_MAX + reason_len + sizeof lp->date_line + hdrs_len);
  if (rc != 0)
    return rc;
  char *start = mu_buffer_begin_write(out);
  char *p;
  if (line != NULL) {
    memcpy(start, line->text, STATUS_LINE_MAX); /* fixed size: inlined */
    p = start + line->len;
  } else {
    p = PUT_LIT(start, "HTTP/1.1 ");
    p = mu_http_put_u64(p, (uint64_t)r->status);
    *p++ = ' ';
    p = put(p, reason, reason_len);
    p = PUT_LIT(p, "\r\n");
  }
  if (!r->has_server)
    p = PUT_LIT(p, k_server_line);
  memcpy(p, date, sizeof lp->date_line);
  p += date_len;
  if (r->default_text && !r->has_content_type)
    p = PUT_LIT(p, "Content-Type: text/plain\r\n");
  if (hdrs_len > 0)
    p = put(p, mu_buffer_peek(&r->hdrs), hdrs_len);
  if (framing == FRAME_LENGTH) {
    p = PUT_LIT(p, "Content-Length: ");
    p = mu_http_put_u64(p, length);
    p = PUT_LIT(p, "\r\n");
  } else if (framing == FRAME_CHUNKED) {
    p = PUT_LIT(p, "Transfer-Encoding: chunked\r\n");
  }
  if (close) {
    p = PUT_LIT(p, "Connection: close\r\n");
  } else if (r->req != NULL && r->req->minor == 0) {
    p = PUT_LIT(p, "Connection: keep-alive\r\n");
  }
  p = PUT_LIT(p, "\r\n");
  mu_buffer_has_written(out, (size_t)(p - start));
  return 0;
}

int mu_http_response_format_simple(mu_buffer_t *out, const char *date, size_t date_len,
                                   int status, bool close) {
  const char *reason = mu_http_status_reason(status);
  size_t reason_len = strlen(reason);
  bool body = !no_body_status(status);
  int rc = mu_buffer_ensure_writable(out, 160 + 2 * reason_len + date_len);
  if (rc != 0)
    return rc;
  char *start = mu_buffer_begin_write(out);
  char *p = PUT_LIT(start, "HTTP/1.1 ");
  p = mu_http_put_u64(p, (uint64_t)status);
  *p++ = ' ';
  p = put(p, reason, reason_len);
  p = PUT_LIT(p, "\r\n");
  p = PUT_LIT(p, k_server_line);
  p = put(p, date, date_len);
  if (body) {
    p = PUT_LIT(p, "Content-Type: text/plain\r\nContent-Length: ");
    p = mu_http_put_u64(p, reason_len + 1);
    p = PUT_LIT(p, "\r\n");
  }
  if (close)
    p = PUT_LIT(p, "Connection: close\r\n");
  p = PUT_LIT(p, "\r\n");
  if (body) {
    p = put(p, reason, reason_len);
    *p++ = '\n';
  }
  mu_buffer_has_written(out, (size_t)(p - start));
  return 0;
}

/* The client half-closed and sent nothing after this request: the
 * connection's last response, which says so (it closes after it). A request
 * that follows in part only is dropped then; the close comes all the same. */
static bool last_before_peer_close(const mu_http_response_t *r) {
  const http_conn_t *hc = r->hc;
  return hc->peer_done &&
         mu_buffer_readable_bytes(mu_tcp_connection_input_buffer(hc->conn)) == 0;
}

static bool wants_close(const mu_http_response_t *r) {
  return r->close || r->req == NULL || !mu_http_request_keep_alive(r->req) ||
         last_before_peer_close(r);
}

/* ---- finishing, in the loop thread --------------------------------------- */

static void finish(mu_http_response_t *r, bool close) {
  clear_after_finish(r, r->hc->lp);
  mu_http_conn_response_done(r->hc, close);
}

/* The connection could not take the response (memory ran out): close it. */
static int fail(mu_http_response_t *r, int rc) {
  MU_LOG_ERROR("HTTP response: %s; closing the connection", mu_strerror_tl(-rc));
  mu_tcp_connection_force_close(r->hc->conn);
  finish(r, true);
  return rc;
}

/* The in-memory body plus `extra` (send_text's, not copied first). */
static int send_in_loop(mu_http_response_t *r, const char *extra, size_t extra_len) {
  http_conn_t *hc = r->hc;
  if (hc->gone) {
    finish(r, true);
    return 0;
  }
  bool close = wants_close(r);
  bool nobody = no_body_status(r->status);
  size_t blen = mu_buffer_readable_bytes(&r->body);
  uint64_t total = (uint64_t)blen + extra_len;
  mu_buffer_t *out = mu_http_conn_out(hc);
  size_t before = mu_buffer_readable_bytes(out);
  int rc = format_head(r, out, r->status == 304 || nobody ? FRAME_NONE : FRAME_LENGTH,
                       total, close);
  if (rc != 0)
    return fail(r, rc);
  if (!nobody && !is_head(r) && total > 0) {
    if (total <= INLINE_BODY_MAX) {
      if ((rc = mu_buffer_ensure_writable(out, total)) != 0) {
        /* No head without its body: the responses before it still go out. */
        mu_buffer_unwrite(out, mu_buffer_readable_bytes(out) - before);
        return fail(r, rc);
      }
      /* Room was made: copied in place, not through append. */
      char *p = mu_buffer_begin_write(out);
      if (blen > 0)
        p = put(p, mu_buffer_peek(&r->body), blen);
      if (extra_len > 0)
        put(p, extra, extra_len);
      mu_buffer_has_written(out, total);
    } else {
      mu_http_loop_flush(hc->lp);
      if (blen > 0)
        mu_tcp_connection_send(hc->conn, mu_buffer_peek(&r->body), blen);
      if (extra_len > 0)
        mu_tcp_connection_send(hc->conn, extra, extra_len);
    }
  }
  finish(r, close);
  return 0;
}

static int send_file_in_loop(mu_http_response_t *r, int fd, uint64_t offset,
                             uint64_t len) {
  http_conn_t *hc = r->hc;
  if (hc->gone) {
    close(fd);
    finish(r, true);
    return 0;
  }
  bool close_conn = wants_close(r);
  bool nobody = no_body_status(r->status);
  mu_buffer_t *out = mu_http_conn_out(hc);
  int rc = format_head(r, out, nobody ? FRAME_NONE : FRAME_LENGTH, len, close_conn);
  if (rc != 0) {
    close(fd);
    return fail(r, rc);
  }
  if (nobody || is_head(r) || len == 0) {
    close(fd);
  } else {
    /* The head (with any responses gathered before it) and the file leave
     * together. */
    rc = mu_http_loop_flush_with_file(hc->lp, fd, offset, len);
    if (rc == 0)
      ++hc->files_queued;
    if (rc == -ENOMEM)
      return fail(r, rc);
  }
  finish(r, close_conn);
  return 0;
}

static int begin_in_loop(mu_http_response_t *r) {
  http_conn_t *hc = r->hc;
  if (r->state != MU_RESP_STREAMING) /* set already when called from elsewhere */
    r->state = MU_RESP_STREAMING;
  if (hc->gone)
    return 0;
  bool nobody = no_body_status(r->status);
  bool v11 = r->req != NULL && r->req->minor >= 1;
  r->body_allowed = !nobody && !is_head(r);
  int framing = FRAME_NONE;
  if (!nobody && v11) {
    framing = FRAME_CHUNKED;
    r->chunked = true;
  } else if (r->body_allowed) {
    r->close_after = true; /* HTTP/1.0: the close delimits the body */
  }
  r->close = wants_close(r) || r->close_after;
  int rc = format_head(r, mu_http_conn_out(hc), framing, 0, r->close);
  if (rc != 0) {
    MU_LOG_ERROR("HTTP response: no memory for a head; closing the connection");
    mu_tcp_connection_force_close(hc->conn);
    return rc;
  }
  mu_http_loop_flush(hc->lp);
  return 0;
}

static size_t queued_output(http_conn_t *hc) {
  return mu_buffer_readable_bytes(mu_tcp_connection_output_buffer(hc->conn));
}

static int write_in_loop(mu_http_response_t *r, const void *data, size_t len) {
  http_conn_t *hc = r->hc;
  if (hc->gone || !mu_tcp_connection_connected(hc->conn))
    return -ECONNRESET;
  if (len > 0 && r->body_allowed) {
    mu_buffer_t *out = mu_http_conn_out(hc);
    int rc = 0;
    char line[24];
    size_t line_len = 0;
    if (r->chunked) {
      char *p = mu_http_put_hex(line, len);
      p = PUT_LIT(p, "\r\n");
      line_len = (size_t)(p - line);
    }
    if (len <= INLINE_BODY_MAX) {
      size_t before = mu_buffer_readable_bytes(out);
      if ((rc = mu_buffer_append(out, line, line_len)) != 0 ||
          (rc = mu_buffer_append(out, data, len)) != 0 ||
          (r->chunked && (rc = mu_buffer_append(out, "\r\n", 2)) != 0)) {
        /* No size line without its chunk: the piece is refused whole, the
         * framing stays intact and the caller may write it again. */
        mu_buffer_unwrite(out, mu_buffer_readable_bytes(out) - before);
        return rc;
      }
      rc = mu_http_loop_flush(hc->lp);
    } else {
      if ((rc = mu_buffer_append(out, line, line_len)) != 0)
        return rc;
      mu_http_loop_flush(hc->lp);
      rc = mu_tcp_connection_send(hc->conn, data, len);
      if (rc == 0 && r->chunked)
        rc = mu_tcp_connection_send(hc->conn, "\r\n", 2);
    }
    if (rc == -ENOTCONN)
      return -ECONNRESET;
    if (rc != 0)
      return rc;
  }
  size_t q = queued_output(hc);
  atomic_store_explicit(&r->outq, q, memory_order_relaxed);
  return q >= hc->sh->high_water_mark ? 1 : 0; /* the caller arms the drain */
}

static int end_in_loop(mu_http_response_t *r) {
  http_conn_t *hc = r->hc;
  bool gone = hc->gone || !mu_tcp_connection_connected(hc->conn);
  if (!gone && r->chunked && r->body_allowed) {
    mu_buffer_t *out = mu_http_conn_out(hc);
    if (mu_buffer_append(out, "0\r\n\r\n", 5) != 0)
      return fail(r, -ENOMEM);
  }
  finish(r, r->close);
  return gone ? -ECONNRESET : 0;
}

/* write() from another thread returned 1: here the loop decides whether the
 * output is already below the mark (drain now) or not (at write-complete). */
static void check_drain_in_loop(mu_http_response_t *r) {
  if (r->state != MU_RESP_STREAMING)
    return;
  if (r->hc->gone || queued_output(r->hc) < r->hc->sh->high_water_mark) {
    r->drain_wait = false;
    if (r->drain)
      r->drain(r, r->drain_arg);
  } else {
    r->drain_wait = true;
  }
}

void mu_http_response_output_drained(mu_http_response_t *r) {
  if (r->state != MU_RESP_STREAMING)
    return;
  size_t q = queued_output(r->hc);
  atomic_store_explicit(&r->outq, q, memory_order_relaxed);
  if (r->drain_wait && q < r->hc->sh->high_water_mark) {
    r->drain_wait = false;
    if (r->drain)
      r->drain(r, r->drain_arg);
  }
}

void mu_http_response_conn_gone(mu_http_response_t *r) {
  if (r->state == MU_RESP_STREAMING && r->drain_wait) {
    r->drain_wait = false;
    if (r->drain)
      r->drain(r, r->drain_arg);
  }
}

/* ---- where a call runs ---------------------------------------------------- */

/* Where a call on a response runs: in the connection's loop thread; queued to
 * that loop from another thread; or nowhere, because mu_http_server_free has
 * begun and will free the I/O loops (a finishing call then parks the
 * response: park_or_drop). */
enum { ROUTE_LOOP, ROUTE_QUEUE, ROUTE_STOPPING };

/* Ends a ROUTE_QUEUE call: its work is queued (or given up). */
static void route_leave(http_shared_t *sh) {
  atomic_fetch_sub_explicit(&sh->inflight, 1, memory_order_release);
}

/* ROUTE_QUEUE comes with a pass that the caller gives back with route_leave
 * once its work is queued: mu_http_server_free sets `stopping`, then waits
 * until no pass is out before it frees a loop, so a pass taken is a loop
 * alive until it is given back. Both sides use sequentially consistent
 * operations (store stopping / load inflight there, add inflight / load
 * stopping here): either the free sees the pass, or the caller sees
 * `stopping`.
 *
 * In the loop thread (the hot path) this costs one load of `stopping` and a
 * comparison with the thread's loop, no read-modify-write. The loop is
 * compared, not asked: after the free it may be gone. */
static int route(const mu_http_response_t *r) {
  http_shared_t *sh = r->hc->sh;
  if (atomic_load_explicit(&sh->stopping, memory_order_acquire))
    return ROUTE_STOPPING;
  if (mu_event_loop_of_current_thread() == r->hc->lp->loop)
    return ROUTE_LOOP;
  atomic_fetch_add_explicit(&sh->inflight, 1, memory_order_seq_cst);
  if (!atomic_load_explicit(&sh->stopping, memory_order_seq_cst))
    return ROUTE_QUEUE;
  route_leave(sh);
  return ROUTE_STOPPING;
}

void mu_http_response_drop(mu_http_response_t *r) {
  clear_after_finish(r, NULL);
  if (r->async_ref) {
    r->async_ref = false;
    mu_tcp_connection_unref(r->hc->conn); /* may free r: last */
  }
}

/* A finishing call made while the server is being freed: the connection is
 * closing, so the response is dropped, not written. Not here and now, while
 * its loop may still run work queued for it before (a begin, a write) or
 * call its drain callback: mu_http_shared_close_parking drops it once the
 * loops are done. After that, the caller's thread drops it itself. */
static void park_or_drop(mu_http_response_t *r) {
  http_shared_t *sh = r->hc->sh;
  pthread_mutex_lock(&sh->mutex);
  bool closed = sh->parking_closed;
  if (!closed) {
    r->park_next = sh->parked;
    sh->parked = r;
  }
  pthread_mutex_unlock(&sh->mutex);
  if (closed)
    mu_http_response_drop(r); /* closed under the lock: the loops are done */
}

/* ---- carrying calls from other threads ----------------------------------- */

/* Streaming calls (queued, allocated) and finishing calls (fin_kind, never
 * allocated). */
enum { OP_BEGIN, OP_WRITE, OP_CHECK_DRAIN, OP_SEND, OP_SEND_FILE, OP_END, OP_FAIL };

typedef struct resp_op {
  mu_http_response_t *r;
  int kind;
  size_t len;
  char data[];
} resp_op_t;

static void op_run(void *p) {
  resp_op_t *op = p;
  mu_http_response_t *r = op->r;
  switch (op->kind) {
    case OP_BEGIN:
      begin_in_loop(r);
      break;
    case OP_WRITE:
      atomic_fetch_sub_explicit(&r->xq, op->len, memory_order_relaxed);
      /* The writer's thread already told it 0 or 1: only the OP_CHECK_DRAIN
       * that comes with a 1 arms the drain callback, not this write. */
      if (r->state == MU_RESP_STREAMING)
        write_in_loop(r, op->data, op->len);
      break;
    case OP_CHECK_DRAIN:
      check_drain_in_loop(r);
      break;
  }
  mu_free(op);
}

/* Queues op into the connection's loop (the caller holds a route pass, so
 * the loop is alive and will run it). The response holds a reference on the
 * connection from the moment its handler returned unfinished, and the loop
 * runs queued work before it is freed, so the op finds both. */
static int queue_op(mu_http_response_t *r, int kind, const void *data, size_t len) {
  resp_op_t *op = mu_malloc(sizeof *op + len);
  if (op == NULL)
    return -ENOMEM;
  op->r = r;
  op->kind = kind;
  op->len = len;
  if (len > 0)
    memcpy(op->data, data, len);
  if (kind == OP_WRITE)
    atomic_fetch_add_explicit(&r->xq, len, memory_order_relaxed);
  if (mu_event_loop_queue_in_loop(mu_tcp_connection_get_loop(r->hc->conn), op_run, op) !=
      0) {
    if (kind == OP_WRITE)
      atomic_fetch_sub_explicit(&r->xq, len, memory_order_relaxed);
    mu_free(op);
    return -ENOMEM;
  }
  return 0;
}

/* The finishing call of a response from another thread: its storage is in
 * the response and the loop falls back to a task when memory runs out, so a
 * finish always reaches the loop (the client is never left waiting). */
static void fin_run(void *p) {
  mu_http_response_t *r = p;
  switch (r->fin_kind) {
    case OP_SEND:
      send_in_loop(r, NULL, 0);
      break;
    case OP_SEND_FILE:
      send_file_in_loop(r, r->fin_fd, r->fin_offset, r->fin_len);
      break;
    case OP_FAIL:
      fail(r, -ENOMEM);
      break;
    default:
      end_in_loop(r);
      break;
  }
}

static void fin_task(mu_loop_task_t *task) {
  fin_run((char *)task - offsetof(mu_http_response_t, fin_task));
}

static int queue_finish(mu_http_response_t *r, int kind, int fd, uint64_t offset,
                        uint64_t len) {
  r->fin_kind = kind;
  r->fin_fd = fd;
  r->fin_offset = offset;
  r->fin_len = len;
  r->fin_task.fn = fin_task;
  mu_event_loop_queue_in_loop_or_task(mu_tcp_connection_get_loop(r->hc->conn), fin_run, r,
                                      &r->fin_task);
  return 0;
}

/* ---- the finishing calls ------------------------------------------------- */

/* Once mu_http_server_free has begun (ROUTE_STOPPING) the calls return what
 * they return on a connection that closed: send, send_text, send_file and
 * begin 0, write and end -ECONNRESET; a finishing call releases the response
 * (park_or_drop). */

int mu_http_response_send(mu_http_response_t *resp) {
  if (resp->state != MU_RESP_BUILDING)
    return -EINVAL;
  switch (route(resp)) {
    case ROUTE_LOOP:
      return send_in_loop(resp, NULL, 0);
    case ROUTE_STOPPING:
      park_or_drop(resp);
      return 0;
    default:
      break;
  }
  http_shared_t *sh = resp->hc->sh; /* once finished, resp may be gone */
  int rc = queue_finish(resp, OP_SEND, -1, 0, 0);
  route_leave(sh);
  return rc;
}

int mu_http_response_send_text(mu_http_response_t *resp, int status, const char *body) {
  if (resp->state != MU_RESP_BUILDING || body == NULL)
    return -EINVAL;
  int rc;
  if (resp->reason == NULL && status >= 200 && status <= 599) {
    resp->status = status; /* set_status(status, NULL), without its calls */
  } else if ((rc = mu_http_response_set_status(resp, status, NULL)) != 0) {
    return rc;
  }
  resp->default_text = true;
  switch (route(resp)) {
    case ROUTE_LOOP:
      return send_in_loop(resp, body, strlen(body));
    case ROUTE_STOPPING:
      park_or_drop(resp);
      return 0;
    default:
      break;
  }
  http_shared_t *sh = resp->hc->sh;
  rc = mu_http_response_append_body(resp, body, strlen(body));
  /* Without the text the response is still finished, by a close (as the
   * loop's send does when memory runs out): a finishing call is never lost. */
  queue_finish(resp, rc == 0 ? OP_SEND : OP_FAIL, -1, 0, 0);
  route_leave(sh);
  return rc;
}

int mu_http_response_send_file(mu_http_response_t *resp, int fd, uint64_t offset,
                               uint64_t len) {
  if (resp->state != MU_RESP_BUILDING || mu_buffer_readable_bytes(&resp->body) > 0 ||
      fd < 0) {
    if (fd >= 0)
      close(fd);
    return -EINVAL;
  }
  switch (route(resp)) {
    case ROUTE_LOOP:
      return send_file_in_loop(resp, fd, offset, len);
    case ROUTE_STOPPING:
      close(fd);
      park_or_drop(resp);
      return 0;
    default:
      break;
  }
  http_shared_t *sh = resp->hc->sh;
  int rc = queue_finish(resp, OP_SEND_FILE, fd, offset, len);
  route_leave(sh);
  return rc;
}

int mu_http_response_begin(mu_http_response_t *resp, mu_http_drain_fn drain, void *arg) {
  if (resp->state != MU_RESP_BUILDING)
    return -EINVAL;
  resp->drain = drain;
  resp->drain_arg = arg;
  switch (route(resp)) {
    case ROUTE_LOOP:
      return begin_in_loop(resp);
    case ROUTE_STOPPING:
      resp->state = MU_RESP_STREAMING; /* for write() and end(); no head goes out */
      return 0;
    default:
      break;
  }
  /* The state changes here so that write() and end() from this thread see it;
   * the loop reads it only after the op below. */
  resp->state = MU_RESP_STREAMING;
  http_shared_t *sh = resp->hc->sh;
  int rc = queue_op(resp, OP_BEGIN, NULL, 0);
  if (rc != 0) {
    /* No head will go out, so nothing else may: close, as the loop's begin
     * does, and have end() finish with a close too (whatever the loop runs
     * first). Under the pass: the loop is alive. */
    resp->close = true;
    mu_tcp_connection_force_close(resp->hc->conn);
  }
  route_leave(sh);
  return rc;
}

/* write() from another thread, holding a route pass. */
static int write_queued(mu_http_response_t *resp, const void *data, size_t len) {
  if (!mu_tcp_connection_connected(resp->hc->conn))
    return -ECONNRESET;
  if (len == 0)
    return 0;
  int rc = queue_op(resp, OP_WRITE, data, len);
  if (rc != 0)
    return rc;
  size_t ahead = atomic_load_explicit(&resp->xq, memory_order_relaxed) +
                 atomic_load_explicit(&resp->outq, memory_order_relaxed);
  if (ahead < resp->hc->sh->high_water_mark)
    return 0;
  rc = queue_op(resp, OP_CHECK_DRAIN, NULL, 0);
  return rc == 0 ? 1 : rc;
}

int mu_http_response_write(mu_http_response_t *resp, const void *data, size_t len) {
  if (resp->state != MU_RESP_STREAMING)
    return -EINVAL;
  switch (route(resp)) {
    case ROUTE_LOOP: {
      int rc = write_in_loop(resp, data, len);
      if (rc == 1)
        resp->drain_wait = true; /* the caller was told to wait for drain */
      return rc;
    }
    case ROUTE_STOPPING:
      return -ECONNRESET;
    default:
      break;
  }
  http_shared_t *sh = resp->hc->sh;
  int rc = write_queued(resp, data, len);
  route_leave(sh);
  return rc;
}

int mu_http_response_end(mu_http_response_t *resp) {
  if (resp->state != MU_RESP_STREAMING)
    return -EINVAL;
  switch (route(resp)) {
    case ROUTE_LOOP:
      return end_in_loop(resp);
    case ROUTE_STOPPING:
      park_or_drop(resp);
      return -ECONNRESET;
    default:
      break;
  }
  http_shared_t *sh = resp->hc->sh;
  bool gone = !mu_tcp_connection_connected(resp->hc->conn);
  queue_finish(resp, OP_END, -1, 0, 0);
  route_leave(sh);
  return gone ? -ECONNRESET : 0;
}
