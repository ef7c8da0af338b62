/* HttpServer: a TcpServer whose message callback drives the sans-IO parser,
 * hands complete requests to the handler one at a time (pipelining in order),
 * batches the responses of one read event into one send, and enforces the
 * limits and timeouts with one sweep timer per loop. */
#include "cmuduo/http/http_server.h"

#include <errno.h>
#include <sched.h>
#include <stddef.h>
#include <string.h>
#include <time.h>

#include "cmuduo/base/alloc.h"
#include "cmuduo/base/logging.h"
#include "http_request_internal.h"
#include "http_server_internal.h"

struct mu_http_server {
  mu_event_loop_t *loop;
  mu_tcp_server_t *tcp;
  http_shared_t *sh;
  bool configured; /* under sh->mutex: start() set the TCP server up */
};

/* The batch is given back when it grew past this (a large streamed chunk). */
#define OUT_KEEP_MAX (256u * 1024)

/* Pipelined file responses queued at once (each holds an open descriptor). */
#define MAX_FILES_QUEUED 8

static const char k_continue[] = "HTTP/1.1 100 Continue\r\n\r\n";

/* ---- shared state -------------------------------------------------------- */

static void shared_unref(http_shared_t *sh) {
  if (atomic_fetch_sub_explicit(&sh->refcnt, 1, memory_order_acq_rel) != 1)
    return;
  for (size_t i = 0; i < sh->nloops; ++i) {
    mu_buffer_destroy(&sh->loops[i]->out);
    for (size_t k = 0; k < sh->loops[i]->nspare; ++k)
      mu_buffer_destroy(&sh->loops[i]->spare[k]);
    for (size_t k = 0; k < sh->loops[i]->nhead_spare; ++k)
      mu_free(sh->loops[i]->head_spare[k]);
    mu_free(sh->loops[i]);
  }
  mu_free(sh->loops);
  pthread_mutex_destroy(&sh->mutex);
  mu_free(sh);
}

static int64_t loop_now_us(const http_loop_t *lp) {
  return mu_event_loop_poll_return_time(lp->loop).us;
}

/* ---- per-loop state ------------------------------------------------------ */

const char *mu_http_loop_date(http_loop_t *lp, size_t *len) {
  int64_t now = loop_now_us(lp);
  if (now >= lp->date_next_us) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    memcpy(lp->date_line, "Date: ", 6);
    size_t n = mu_http_format_date((int64_t)ts.tv_sec, lp->date_line + 6,
                                   sizeof lp->date_line - 8);
    memcpy(lp->date_line + 6 + n, "\r\n", 2);
    lp->date_len = 6 + n + 2;
    /* Stale at the next wall-clock second (measured on the loop's clock). */
    lp->date_next_us = now + (1000000 - ts.tv_nsec / 1000);
  }
  *len = lp->date_len;
  return lp->date_line;
}

/* Keeps a head block for the loop's next request, or frees it. */
static void keep_head_block(http_loop_t *lp, void *block, size_t cap) {
  if (lp->nhead_spare < MU_HTTP_LOOP_HEAD_SPARES && cap <= MU_HTTP_HEAD_KEEP_MAX) {
    lp->head_spare[lp->nhead_spare] = block;
    lp->head_spare_cap[lp->nhead_spare++] = cap;
  } else {
    mu_free(block);
  }
}

void mu_http_loop_recycle_request(http_loop_t *lp, mu_http_request_t *req) {
  if (req == NULL)
    return;
  size_t cap;
  void *block = mu_http_request_release(req, &cap);
  keep_head_block(lp, block, cap);
}

/* Before parsing: an idle parser gets a kept head block as its scratch. */
static void lend_head_block(http_loop_t *lp, mu_http_parser_t *parser) {
  size_t k = lp->nhead_spare - 1;
  if (mu_http_parser_lend(parser, lp->head_spare[k], lp->head_spare_cap[k]))
    lp->nhead_spare = k;
}

/* After parsing: a parser left idle gives an unused lent block back. */
static void reclaim_head_block(http_loop_t *lp, mu_http_parser_t *parser) {
  size_t cap;
  void *block = mu_http_parser_reclaim(parser, &cap);
  if (block != NULL)
    keep_head_block(lp, block, cap);
}

/* The batch has been handed to the connection: empty it, and give back
 * storage a burst of pipelined responses made big. */
static void batch_sent(http_loop_t *lp) {
  mu_buffer_retrieve_all(&lp->out);
  lp->out_conn = NULL;
  if (mu_buffer_internal_capacity(&lp->out) > OUT_KEEP_MAX)
    mu_buffer_destroy(&lp->out);
}

int mu_http_loop_flush(http_loop_t *lp) {
  int rc = 0;
  size_t n = mu_buffer_readable_bytes(&lp->out);
  if (lp->out_conn != NULL && n > 0)
    rc = mu_tcp_connection_send(lp->out_conn, mu_buffer_peek(&lp->out), n);
  batch_sent(lp);
  return rc;
}

int mu_http_loop_flush_with_file(http_loop_t *lp, int fd, uint64_t offset, uint64_t len) {
  size_t n = mu_buffer_readable_bytes(&lp->out);
  int rc = mu_tcp_connection_send_file_with_head(lp->out_conn, mu_buffer_peek(&lp->out),
                                                 n, fd, offset, len);
  batch_sent(lp);
  return rc;
}

mu_buffer_t *mu_http_conn_out(http_conn_t *hc) {
  http_loop_t *lp = hc->lp;
  if (lp->out_conn != hc->conn) {
    mu_http_loop_flush(lp);
    lp->out_conn = hc->conn;
  }
  return &lp->out;
}

static void sweep(void *arg);

static double sweep_period(const http_shared_t *sh) {
  double m = sh->linger;
  if (sh->header_timeout > 0 && sh->header_timeout < m)
    m = sh->header_timeout;
  if (sh->idle_timeout > 0 && sh->idle_timeout < m)
    m = sh->idle_timeout;
  m /= 4;
  return m < 0.02 ? 0.02 : (m > 1.0 ? 1.0 : m);
}

/* The state of the calling thread's loop, made on its first connection. */
static http_loop_t *loop_state(http_shared_t *sh, mu_event_loop_t *loop) {
  http_loop_t *lp = NULL;
  pthread_mutex_lock(&sh->mutex);
  for (size_t i = 0; i < sh->nloops; ++i) {
    if (sh->loops[i]->loop == loop) {
      lp = sh->loops[i];
      break;
    }
  }
  if (lp == NULL && sh->nloops == sh->loops_cap) {
    size_t cap = sh->loops_cap ? 2 * sh->loops_cap : 4;
    http_loop_t **v = mu_realloc(sh->loops, cap * sizeof *v);
    if (v != NULL) {
      sh->loops = v;
      sh->loops_cap = cap;
    }
  }
  if (lp == NULL && sh->nloops < sh->loops_cap &&
      (lp = mu_calloc(1, sizeof *lp)) != NULL) {
    lp->loop = loop;
    lp->sh = sh;
    lp->sweep = mu_event_loop_run_every(loop, sweep_period(sh), sweep, lp);
    sh->loops[sh->nloops++] = lp;
  }
  pthread_mutex_unlock(&sh->mutex);
  return lp;
}

/* ---- connections --------------------------------------------------------- */

static void hc_free(void *p) {
  http_conn_t *hc = p;
  mu_http_parser_destroy(&hc->parser);
  mu_http_response_destroy(&hc->resp);
  http_shared_t *sh = hc->sh;
  mu_free(hc);
  shared_unref(sh);
}

static void list_add(http_loop_t *lp, http_conn_t *hc) {
  hc->prev = NULL;
  hc->next = lp->conns;
  if (lp->conns != NULL)
    lp->conns->prev = hc;
  lp->conns = hc;
  hc->listed = true;
}

static void list_remove(http_loop_t *lp, http_conn_t *hc) {
  if (!hc->listed)
    return;
  if (hc->prev != NULL)
    hc->prev->next = hc->next;
  else
    lp->conns = hc->next;
  if (hc->next != NULL)
    hc->next->prev = hc->prev;
  hc->prev = hc->next = NULL;
  hc->listed = false;
}

static void conn_up(http_shared_t *sh, mu_tcp_connection_t *conn) {
  mu_event_loop_t *loop = mu_tcp_connection_get_loop(conn);
  http_loop_t *lp = loop_state(sh, loop);
  http_conn_t *hc = lp != NULL ? mu_calloc(1, sizeof *hc) : NULL;
  if (hc == NULL) {
    MU_LOG_ERROR("HTTP server: out of memory for a connection; closing it");
    mu_tcp_connection_force_close(conn);
    return;
  }
  hc->conn = conn;
  hc->sh = sh;
  hc->lp = lp;
  hc->resp.hc = hc;
  hc->resp.state = MU_RESP_IDLE;
  mu_http_parser_init(&hc->parser, &sh->limits);
  hc->fresh = true;
  hc->phase = MU_HC_IDLE;
  hc->t_mark_us = mu_timestamp_mono_now().us;
  atomic_fetch_add_explicit(&sh->refcnt, 1, memory_order_relaxed);
  if (mu_tcp_connection_set_context(conn, hc, hc_free) != 0) {
    hc_free(hc);
    mu_tcp_connection_force_close(conn);
    return;
  }
  list_add(lp, hc);
  /* Responses go out whole in one send; a later small write (a chunk) must
   * not wait for the ACK of the previous one. */
  mu_tcp_connection_set_tcp_no_delay(conn, true);
}

static void conn_down(mu_tcp_connection_t *conn) {
  http_conn_t *hc = mu_tcp_connection_get_context(conn);
  if (hc == NULL || hc->gone)
    return;
  hc->gone = true;
  list_remove(hc->lp, hc);
  if (hc->lp->out_conn == conn) {
    mu_buffer_retrieve_all(&hc->lp->out);
    hc->lp->out_conn = NULL;
  }
  mu_http_parser_destroy(&hc->parser);
  if (hc->resp.state == MU_RESP_STREAMING)
    mu_http_response_conn_gone(&hc->resp);
}

static void on_connection(mu_tcp_connection_t *conn, void *arg) {
  if (mu_tcp_connection_connected(conn))
    conn_up(arg, conn);
  else
    conn_down(conn);
}

static void enter_closing(http_conn_t *hc) {
  mu_http_loop_flush(hc->lp);
  mu_tcp_connection_shutdown(hc->conn);
  hc->phase = MU_HC_CLOSING;
  hc->t_mark_us = loop_now_us(hc->lp);
  /* Whatever else the client sent is not answered. */
  mu_buffer_retrieve_all(mu_tcp_connection_input_buffer(hc->conn));
}

void mu_http_conn_send_error(http_conn_t *hc, int status) {
  if (hc->gone || hc->phase == MU_HC_CLOSING)
    return;
  size_t date_len;
  const char *date = mu_http_loop_date(hc->lp, &date_len);
  if (mu_http_response_format_simple(mu_http_conn_out(hc), date, date_len, status,
                                     true) != 0) {
    mu_tcp_connection_force_close(hc->conn);
  }
  enter_closing(hc);
}

static void process_input(http_conn_t *hc, mu_buffer_t *in, int64_t now);
static void resume_input(http_conn_t *hc);

static void resume_functor(void *p) {
  mu_tcp_connection_t *conn = p;
  http_conn_t *hc = mu_tcp_connection_get_context(conn);
  if (hc != NULL && !hc->gone && hc->phase == MU_HC_IDLE && !hc->out_blocked)
    resume_input(hc);
  mu_tcp_connection_unref(conn); /* the async response's reference */
}

void mu_http_conn_response_done(http_conn_t *hc, bool close) {
  mu_http_response_t *r = &hc->resp;
  hc->answered = true;
  bool was_async = r->async_ref;
  r->async_ref = false;
  mu_tcp_connection_t *conn = hc->conn;
  if (!hc->gone) {
    if (close) {
      enter_closing(hc);
    } else {
      hc->phase = MU_HC_IDLE;
      hc->t_mark_us = loop_now_us(hc->lp);
      if (!hc->dispatching)
        mu_http_loop_flush(hc->lp);
    }
  }
  if (!was_async)
    return;
  if (!hc->gone && !close) {
    /* Go on with requests already buffered, outside whatever called us (a
     * timer, another connection's handler); the reference moves along. */
    if (mu_event_loop_queue_in_loop(mu_tcp_connection_get_loop(conn), resume_functor,
                                    conn) == 0)
      return;
    MU_LOG_ERROR("HTTP server: out of memory resuming a connection; closing it");
    mu_tcp_connection_force_close(conn);
  }
  mu_tcp_connection_unref(conn); /* may free hc: last */
}

static void dispatch(http_conn_t *hc, mu_http_request_t *req, int64_t now) {
  mu_http_response_t *r = &hc->resp;
  mu_http_response_reset(r, req);
  hc->phase = MU_HC_PENDING;
  hc->t_mark_us = now;
  hc->fresh = false;
  hc->answered = false;
  http_shared_t *sh = hc->sh;
  if (sh->handler != NULL)
    sh->handler(req, r, sh->handler_arg);
  else
    mu_http_response_send_text(r, 404, "Not Found\n");
  if (!hc->answered) {
    /* Async: the response keeps the connection until it is finished. */
    mu_tcp_connection_ref(hc->conn);
    r->async_ref = true;
  }
}

/* Output queued for hc: the batch and the connection's buffer. */
static size_t output_backlog(const http_conn_t *hc) {
  size_t n = mu_buffer_readable_bytes(mu_tcp_connection_output_buffer(hc->conn));
  if (hc->lp->out_conn == hc->conn)
    n += mu_buffer_readable_bytes(&hc->lp->out);
  return n;
}

/* Parses and answers every complete request in `in`, until one is pending,
 * or until the answers queued pass the high-water mark: a client that
 * pipelines requests without reading the responses then finds its requests
 * waiting in the (capped) input buffer, not its responses piling up. */
static void process_input(http_conn_t *hc, mu_buffer_t *in, int64_t now) {
  hc->dispatching = true;
  while (hc->phase != MU_HC_PENDING && hc->phase != MU_HC_CLOSING && !hc->gone) {
    if (hc->phase == MU_HC_IDLE && mu_buffer_readable_bytes(in) > 0 &&
        (output_backlog(hc) >= hc->sh->high_water_mark ||
         hc->files_queued >= MAX_FILES_QUEUED)) {
      hc->out_blocked = true; /* on_write_complete goes on */
      break;
    }
    if (hc->phase == MU_HC_IDLE && mu_buffer_readable_bytes(in) == 0)
      break; /* nothing left to parse: the parser is idle between requests */
    if (hc->lp->nhead_spare > 0)
      lend_head_block(hc->lp, &hc->parser);
    size_t n = 0;
    mu_http_parse_result_t rc = mu_http_parser_execute(&hc->parser, mu_buffer_peek(in),
                                                       mu_buffer_readable_bytes(in), &n);
    mu_buffer_retrieve(in, n);
    if (rc == MU_HTTP_NEED_MORE) {
      if (hc->phase == MU_HC_IDLE && !mu_http_parser_idle(&hc->parser)) {
        hc->phase = MU_HC_HEAD;
        /* A new connection's first head is timed from the connection's start
         * (kept in t_mark_us): restarting the clock at its first byte would
         * give a slow client the header timeout twice. */
        if (!hc->fresh)
          hc->t_mark_us = now;
      } else if (hc->phase == MU_HC_BODY) {
        hc->t_mark_us = now;
      }
      break;
    }
    if (rc == MU_HTTP_ERROR) {
      mu_http_conn_send_error(hc, mu_http_parser_error_status(&hc->parser));
      break;
    }
    if (rc == MU_HTTP_HEADERS_DONE) {
      hc->phase = MU_HC_BODY;
      hc->t_mark_us = now;
      if (mu_http_request_expect_continue(mu_http_parser_current_request(&hc->parser)) &&
          mu_buffer_append(mu_http_conn_out(hc), k_continue, sizeof k_continue - 1) !=
              0) {
        mu_tcp_connection_force_close(hc->conn);
        break;
      }
      continue;
    }
    dispatch(hc, mu_http_parser_take_request(&hc->parser), now);
  }
  /* The client half-closed and every request it sent in full is answered
   * (an incomplete one cannot be completed any more): close once the
   * responses are out. */
  if (hc->peer_done && !hc->gone && !hc->out_blocked && hc->phase != MU_HC_PENDING &&
      hc->phase != MU_HC_CLOSING)
    enter_closing(hc);
  if (hc->phase == MU_HC_CLOSING)
    mu_buffer_retrieve_all(in);
  if (!hc->gone)
    reclaim_head_block(hc->lp, &hc->parser);
  hc->dispatching = false;
  mu_http_loop_flush(hc->lp);
}

static void on_message(mu_tcp_connection_t *conn, mu_buffer_t *buf, mu_timestamp_t when,
                       void *arg) {
  (void)arg;
  http_conn_t *hc = mu_tcp_connection_get_context(conn);
  if (hc == NULL || hc->phase == MU_HC_CLOSING || hc->gone) {
    mu_buffer_retrieve_all(buf);
    return;
  }
  if (hc->phase == MU_HC_PENDING || hc->out_blocked)
    return; /* kept until the response is finished or the output drained
               (bounded by the input cap) */
  process_input(hc, buf, when.us);
}

/* Continues parsing after the response or the output that held it back. */
static void resume_input(http_conn_t *hc) {
  mu_tcp_connection_t *conn = hc->conn;
  process_input(hc, mu_tcp_connection_input_buffer(conn), loop_now_us(hc->lp));
  /* The input cap may have paused reading meanwhile. */
  if (!hc->gone && !mu_tcp_connection_is_reading(conn))
    mu_tcp_connection_start_read(conn);
}

/* The client half-closed (shutdown(SHUT_WR), `nc -N`): it sends nothing
 * more but still reads, so it is answered, as nginx and Node do, rather than
 * closed on (its answer may still be on a worker thread). The TCP layer has
 * stopped reading and waits for our shutdown or close. */
static void on_half_close(mu_tcp_connection_t *conn, void *arg) {
  (void)arg;
  http_conn_t *hc = mu_tcp_connection_get_context(conn);
  if (hc == NULL) {
    mu_tcp_connection_force_close(conn);
    return;
  }
  if (hc->gone)
    return;
  hc->peer_done = true;
  switch (hc->phase) {
    case MU_HC_IDLE:
      /* Requests held back (output above the mark) go on with the drain;
       * otherwise answer what is buffered now, or close if nothing is. */
      if (!hc->out_blocked)
        process_input(hc, mu_tcp_connection_input_buffer(conn), loop_now_us(hc->lp));
      break;
    case MU_HC_HEAD:
    case MU_HC_BODY:
      enter_closing(hc); /* the rest of this request cannot come */
      break;
    default:
      /* PENDING: once the response is done, process_input closes. CLOSING:
       * closing already. */
      break;
  }
}

static void on_write_complete(mu_tcp_connection_t *conn, void *arg) {
  (void)arg;
  http_conn_t *hc = mu_tcp_connection_get_context(conn);
  if (hc == NULL || hc->gone)
    return;
  if (hc->resp.state == MU_RESP_STREAMING)
    mu_http_response_output_drained(&hc->resp);
  if (mu_buffer_readable_bytes(mu_tcp_connection_output_buffer(conn)) == 0)
    hc->files_queued = 0; /* (approximate: this may trail a later send_file) */
  if (hc->out_blocked && output_backlog(hc) < hc->sh->high_water_mark &&
      hc->files_queued < MAX_FILES_QUEUED) {
    hc->out_blocked = false;
    if (hc->phase == MU_HC_IDLE)
      resume_input(hc);
  }
}

/* ---- timeouts ------------------------------------------------------------ */

static bool expired(int64_t now, int64_t mark, double seconds) {
  /* Past 1e12 s (and infinity) the microseconds would not fit: never. */
  return seconds > 0 && seconds < 1e12 && now - mark >= (int64_t)(seconds * 1e6);
}

/* How long a closing connection may go without progress. The linger starts
 * once the last response has left; while it is still being written, a client
 * that pauses gets the idle timeout, as any download does (files_queued may
 * trail a region still going out: then the linger, as before). With the idle
 * timeout off, the linger still ends a closing connection. */
static double closing_limit(const http_conn_t *hc) {
  const http_shared_t *sh = hc->sh;
  bool writing = hc->files_queued > 0 ||
                 mu_buffer_readable_bytes(mu_tcp_connection_output_buffer(hc->conn)) > 0;
  return writing && sh->idle_timeout > 0 ? sh->idle_timeout : sh->linger;
}

/* One timer per loop instead of one per connection: a pass over the loop's
 * connections a few times per shortest timeout. */
static void sweep(void *arg) {
  http_loop_t *lp = arg;
  const http_shared_t *sh = lp->sh;
  int64_t now = mu_timestamp_mono_now().us;
  for (http_conn_t *hc = lp->conns; hc != NULL; hc = hc->next) {
    /* Response bytes that left since the last pass restart the idle, stalled
     * stream and linger clocks: those are for a peer that stopped reading,
     * not for a slow download. */
    uint64_t sent = mu_tcp_connection_bytes_sent(hc->conn);
    bool moved = sent != hc->last_sent;
    hc->last_sent = sent;
    if (moved && (hc->phase == MU_HC_IDLE || hc->phase == MU_HC_PENDING ||
                  hc->phase == MU_HC_CLOSING))
      hc->t_mark_us = now;
    switch (hc->phase) {
      case MU_HC_IDLE:
        if (expired(now, hc->t_mark_us,
                    hc->fresh ? sh->header_timeout : sh->idle_timeout)) {
          hc->phase = MU_HC_CLOSING;
          hc->t_mark_us = now;
          mu_tcp_connection_force_close(hc->conn); /* silently */
        }
        break;
      case MU_HC_HEAD:
        if (expired(now, hc->t_mark_us, sh->header_timeout))
          mu_http_conn_send_error(hc, 408);
        break;
      case MU_HC_BODY:
        if (expired(now, hc->t_mark_us, sh->idle_timeout))
          mu_http_conn_send_error(hc, 408);
        break;
      case MU_HC_PENDING:
        /* A stream to a client that stopped reading: close, which wakes a
         * handler waiting for drain (its writes then fail). */
        if (hc->resp.state == MU_RESP_STREAMING &&
            mu_buffer_readable_bytes(mu_tcp_connection_output_buffer(hc->conn)) > 0 &&
            expired(now, hc->t_mark_us, sh->idle_timeout)) {
          hc->t_mark_us = INT64_MAX / 2; /* once */
          mu_tcp_connection_force_close(hc->conn);
        }
        break;
      case MU_HC_CLOSING:
        if (expired(now, hc->t_mark_us, closing_limit(hc))) {
          hc->t_mark_us = INT64_MAX / 2; /* once */
          mu_tcp_connection_force_close(hc->conn);
        }
        break;
      default:
        break;
    }
  }
}

/* ---- the server ---------------------------------------------------------- */

mu_http_server_t *mu_http_server_new(mu_event_loop_t *loop, const mu_inet_address_t *addr,
                                     const char *name, int options) {
  mu_http_server_t *s = mu_calloc(1, sizeof *s);
  http_shared_t *sh = mu_calloc(1, sizeof *sh);
  if (s == NULL || sh == NULL) {
    mu_free(s);
    mu_free(sh);
    errno = ENOMEM;
    return NULL;
  }
  s->tcp = mu_tcp_server_new(loop, addr, name ? name : "HttpServer", options);
  if (s->tcp == NULL) {
    int err = errno;
    mu_free(s);
    mu_free(sh);
    errno = err;
    return NULL;
  }
  s->loop = loop;
  s->sh = sh;
  atomic_init(&sh->refcnt, 1);
  pthread_mutex_init(&sh->mutex, NULL);
  sh->limits = mu_http_limits_default();
  sh->header_timeout = MU_HTTP_DEFAULT_HEADER_TIMEOUT;
  sh->idle_timeout = MU_HTTP_DEFAULT_IDLE_TIMEOUT;
  sh->linger = MU_HTTP_DEFAULT_LINGER;
  sh->high_water_mark = MU_HTTP_DEFAULT_HIGH_WATER_MARK;
  mu_tcp_server_set_connection_callback(s->tcp, on_connection, sh);
  mu_tcp_server_set_message_callback(s->tcp, on_message, sh);
  mu_tcp_server_set_write_complete_callback(s->tcp, on_write_complete, sh);
  mu_tcp_server_set_half_close_callback(s->tcp, on_half_close, sh);
  return s;
}

void mu_http_shared_close_parking(http_shared_t *sh) {
  pthread_mutex_lock(&sh->mutex);
  sh->parking_closed = true;
  mu_http_response_t *r = sh->parked;
  sh->parked = NULL;
  pthread_mutex_unlock(&sh->mutex);
  while (r != NULL) {
    mu_http_response_t *next = r->park_next;
    mu_http_response_drop(r); /* may free r */
    r = next;
  }
}

static void close_parking_functor(void *p) {
  http_shared_t *sh = p;
  mu_http_shared_close_parking(sh);
  shared_unref(sh);
}

static void close_parking_task(mu_loop_task_t *task) {
  close_parking_functor((char *)task - offsetof(http_shared_t, close_task));
}

/* From here on no response call touches a loop: the calls already queuing
 * into one (each holds a pass, see http_response.c: route) are let finish.
 * They only queue a functor, so this waits microseconds. */
static void stop_response_calls(http_shared_t *sh) {
  atomic_store_explicit(&sh->stopping, true, memory_order_seq_cst);
  while (atomic_load_explicit(&sh->inflight, memory_order_seq_cst) != 0)
    sched_yield();
}

void mu_http_server_free(mu_http_server_t *s) {
  if (s == NULL)
    return;
  mu_event_loop_assert_in_loop_thread(s->loop);
  http_shared_t *sh = s->sh;
  stop_response_calls(sh);
  /* The base loop outlives the server: its sweep must stop now. The I/O
   * loops' sweeps end with their loops, inside mu_tcp_server_free. */
  bool base_serves = false;
  pthread_mutex_lock(&sh->mutex);
  for (size_t i = 0; i < sh->nloops; ++i) {
    if (sh->loops[i]->loop == s->loop) {
      mu_event_loop_cancel(s->loop, sh->loops[i]->sweep);
      base_serves = true;
    }
  }
  pthread_mutex_unlock(&sh->mutex);
  mu_tcp_server_free(s->tcp);
  if (base_serves) {
    /* The base loop has yet to run the connections' destroys just queued,
     * and work queued for the parked responses before them: after those. */
    sh->close_task.fn = close_parking_task;
    atomic_fetch_add_explicit(&sh->refcnt, 1, memory_order_relaxed);
    mu_event_loop_queue_in_loop_or_task(s->loop, close_parking_functor, sh,
                                        &sh->close_task);
  } else {
    /* The I/O loops have run everything and are gone. */
    mu_http_shared_close_parking(sh);
  }
  shared_unref(sh);
  mu_free(s);
}

void mu_http_server_set_handler(mu_http_server_t *s, mu_http_handler_fn fn, void *arg) {
  s->sh->handler = fn;
  s->sh->handler_arg = arg;
}

void mu_http_server_set_thread_num(mu_http_server_t *s, int n) {
  mu_tcp_server_set_thread_num(s->tcp, n);
}

void mu_http_server_set_limits(mu_http_server_t *s, const mu_http_limits_t *limits) {
  s->sh->limits = limits ? *limits : mu_http_limits_default();
}

void mu_http_server_set_header_timeout(mu_http_server_t *s, double seconds) {
  s->sh->header_timeout = seconds > 0 ? seconds : 0;
}

void mu_http_server_set_idle_timeout(mu_http_server_t *s, double seconds) {
  s->sh->idle_timeout = seconds > 0 ? seconds : 0;
}

void mu_http_server_set_linger(mu_http_server_t *s, double seconds) {
  /* Never 0 (expired() takes 0 as "no limit": a closing connection must end);
   * NaN and below 1 ms become 1 ms. */
  s->sh->linger = seconds > 0.001 ? seconds : 0.001;
}

void mu_http_server_set_high_water_mark(mu_http_server_t *s, size_t bytes) {
  s->sh->high_water_mark = bytes > 0 ? bytes : 1;
}

/* Sets the TCP server up for HTTP once. Under the mutex, so that a second
 * start() racing the first waits until the settings are in before it may
 * start listening itself (an atomic flag let it through at once). */
static void configure_once(mu_http_server_t *s) {
  http_shared_t *sh = s->sh;
  pthread_mutex_lock(&sh->mutex);
  if (!s->configured) {
    s->configured = true;
    mu_tcp_server_set_high_water_mark_callback(s->tcp, NULL, NULL, sh->high_water_mark);
    /* Input waits unparsed only while a response is pending: a pipelining
     * client may run ahead by about one request head, not without bound. */
    size_t cap = sh->limits.max_request_line + sh->limits.max_header_bytes + 4096;
    if (cap < 64 * 1024)
      cap = 64 * 1024;
    if (cap > MU_TCP_DEFAULT_INPUT_CAP)
      cap = MU_TCP_DEFAULT_INPUT_CAP;
    mu_tcp_server_set_input_cap(s->tcp, cap);
  }
  pthread_mutex_unlock(&sh->mutex);
}

int mu_http_server_start(mu_http_server_t *s) {
  configure_once(s);
  return mu_tcp_server_start(s->tcp);
}

mu_tcp_server_t *mu_http_server_tcp_server(mu_http_server_t *s) {
  return s->tcp;
}
