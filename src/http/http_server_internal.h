/* What http_server.c (connections, loops, timeouts) and http_response.c (the
 * response object and how it is written) share. Never leaves src/.
 *
 * Threads: everything here belongs to a connection's loop thread, except the
 * fields of a response that an async handler fills in another thread while
 * it owns the response (status, headers, body), which the loop reads only
 * after the handler's finishing call reached it through queue_in_loop. */
#ifndef CMUDUO_SRC_HTTP_HTTP_SERVER_INTERNAL_H
#define CMUDUO_SRC_HTTP_HTTP_SERVER_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "../net/event_loop_internal.h"
#include "cmuduo/http/http_server.h"

typedef struct http_loop http_loop_t;
typedef struct http_shared http_shared_t;
typedef struct http_conn http_conn_t;

/* Where a response is in its life. */
enum {
  MU_RESP_IDLE = 0,  /* no request being answered */
  MU_RESP_BUILDING,  /* the handler's: status, headers, body */
  MU_RESP_STREAMING, /* begin() was called: write()/end() only */
  MU_RESP_DONE       /* finished; the server's again */
};

struct mu_http_response {
  http_conn_t *hc;
  mu_http_request_t *req;
  char *reason;     /* a custom reason phrase (owned), or NULL */
  mu_buffer_t hdrs; /* "Name: value\r\n" lines added by the handler */
  mu_buffer_t body; /* the in-memory body */
  mu_http_drain_fn drain;
  void *drain_arg;
  int status;
  /* Atomic because a handler thread moves it to STREAMING (begin) while the
   * loop may look at it; everything else about it is ordered by the queue. */
  _Atomic int state;
  bool close;            /* set_close(true) */
  bool has_content_type; /* a Content-Type was added */
  bool has_server;       /* a Server was added: ours is left out */
  bool default_text;     /* send_text: Content-Type text/plain unless added */
  bool async_ref;        /* finished after the handler returned: holds a conn ref */
  bool body_allowed;     /* streaming: chunks go out (not HEAD, 1xx, 204, 304) */
  bool chunked;          /* streaming with chunked framing */
  bool close_after;      /* streaming over HTTP/1.0: the close ends the body */
  bool drain_wait;       /* write() returned 1: call drain below the mark */
  /* Streaming from another thread: bytes queued to the loop and not yet
   * written, and the connection's queued output as last seen by the loop. */
  _Atomic size_t xq;
  _Atomic size_t outq;
  /* The finishing call carried from another thread (never allocates). */
  mu_loop_task_t fin_task;
  int fin_kind;
  int fin_fd;
  uint64_t fin_offset;
  uint64_t fin_len;
  /* Finished while the server was being freed: next in http_shared's parked
   * list (guarded by its mutex). */
  mu_http_response_t *park_next;
};

#define MU_HTTP_LOOP_SPARES 16
/* Request head blocks kept per loop, and the largest kept. */
#define MU_HTTP_LOOP_HEAD_SPARES 8
#define MU_HTTP_HEAD_KEEP_MAX 4096u

/* Per loop of a server: the connections it serves, the output batch of the
 * current read event, the Date line, the timeout sweep. */
struct http_loop {
  mu_event_loop_t *loop;
  http_shared_t *sh;
  http_conn_t *conns; /* intrusive list of the loop's connections */
  mu_buffer_t out;    /* responses gathered for out_conn, sent in one go */
  mu_tcp_connection_t *out_conn;
  mu_timer_id_t sweep;
  /* Header/body storage of finished responses, lent to the next ones. */
  mu_buffer_t spare[MU_HTTP_LOOP_SPARES];
  size_t nspare;
  /* Head blocks of finished requests, lent to the parsers of the loop's
   * connections for their next request heads (one allocation less each). */
  void *head_spare[MU_HTTP_LOOP_HEAD_SPARES];
  size_t head_spare_cap[MU_HTTP_LOOP_HEAD_SPARES];
  size_t nhead_spare;
  int64_t date_next_us; /* monotonic time at which the cached Date goes stale */
  size_t date_len;
  char date_line[48]; /* "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n" */
};

/* The server's settings and per-loop states, reference counted: a connection
 * (and an async response on it) may outlive mu_http_server_free. */
struct http_shared {
  _Atomic int refcnt;
  pthread_mutex_t mutex; /* guards loops/nloops (loops register lazily) and
                            the parked list */
  http_loop_t **loops;
  size_t nloops;
  size_t loops_cap;
  mu_http_handler_fn handler;
  void *handler_arg;
  mu_http_limits_t limits;
  double header_timeout;
  double idle_timeout;
  double linger; /* seconds a closing connection waits for the peer's FIN */
  size_t high_water_mark;
  /* Set when mu_http_server_free begins. From then on a response call, in
   * any thread, touches no loop (mu_http_server_free frees the I/O loops)
   * and a finishing call drops its response (http_response.c: route). */
  _Atomic bool stopping;
  /* Guarded by mutex: responses finished since `stopping`, kept until the
   * loops are done with them (they may still run work queued for them
   * before), then dropped by mu_http_shared_close_parking, which sets
   * parking_closed: finishing calls after it drop their response at once. */
  mu_http_response_t *parked;
  bool parking_closed;
  mu_loop_task_t close_task; /* close_parking queued to the base loop */
  /* Calls from other threads between "not stopping" and the end of their
   * queue_in_loop: mu_http_server_free waits for 0 before freeing a loop.
   * On a cache line of its own: workers write it, loops read the rest. */
  char pad_before_inflight[64];
  _Atomic unsigned inflight;
  char pad_after_inflight[64];
};

/* Connection phases, for the timeouts. */
enum {
  MU_HC_IDLE = 0, /* between requests, no byte of the next one yet */
  MU_HC_HEAD,     /* part of a request head arrived */
  MU_HC_BODY,     /* the head is complete, the body is arriving */
  MU_HC_PENDING,  /* the handler has the request */
  MU_HC_CLOSING   /* the last response is out or going; waiting for the FIN */
};

struct http_conn {
  mu_tcp_connection_t *conn; /* borrowed: the connection owns this (context) */
  http_shared_t *sh;
  http_loop_t *lp;
  http_conn_t *prev;
  http_conn_t *next;
  mu_http_parser_t parser;
  mu_http_response_t resp; /* reused: one request is answered at a time */
  int64_t t_mark_us;       /* when the current phase's clock started */
  int phase;
  bool fresh;            /* no request yet */
  bool dispatching;      /* inside process_input: responses are batched */
  bool answered;         /* the response to the last request handed over is done */
  bool out_blocked;      /* parsing paused: the output is above the high-water mark */
  uint64_t last_sent;    /* bytes_sent at the last sweep: output progress */
  unsigned files_queued; /* send_file regions since the output last drained */
  bool gone;             /* the down callback ran */
  /* The client half-closed: what it sent in full is answered (the last
   * response says Connection: close), then the connection closes. */
  bool peer_done;
  bool listed;
};

/* ---- http_server.c, for http_response.c (loop thread) ------------------- */

/* The buffer a response of hc is written into: the loop's batch, after
 * sending what another connection left there. */
mu_buffer_t *mu_http_conn_out(http_conn_t *hc);
/* Sends the loop's batch now: 0 or what mu_tcp_connection_send returned. */
int mu_http_loop_flush(http_loop_t *lp);
/* Like mu_http_loop_flush, followed by the file region (fd is owned from the
 * call on): the gathered bytes go out as the file's head, in one segment with
 * its first bytes. Returns what mu_tcp_connection_send_file_with_head returns. */
int mu_http_loop_flush_with_file(http_loop_t *lp, int fd, uint64_t offset, uint64_t len);
/* The cached "Date: ...\r\n" line, refreshed when the second changed. */
const char *mu_http_loop_date(http_loop_t *lp, size_t *len);
/* Frees req in the loop thread, keeping its head block for a next request. */
void mu_http_loop_recycle_request(http_loop_t *lp, mu_http_request_t *req);
/* The response's last byte is written (or dropped): frees the request, closes
 * or keeps the connection, goes on with the next request. */
void mu_http_conn_response_done(http_conn_t *hc, bool close);
/* Writes a minimal response with `status` and "Connection: close" and closes
 * once it is out (parser errors, 408). */
void mu_http_conn_send_error(http_conn_t *hc, int status);

/* ---- http_response.c, for http_server.c --------------------------------- */

/* Gets the embedded response ready for req (taken over). */
void mu_http_response_reset(mu_http_response_t *r, mu_http_request_t *req);
/* Frees what the response holds (request, buffers). Any thread. */
void mu_http_response_destroy(mu_http_response_t *r);
/* Appends a whole minimal response: status line, Server, Date, text body. */
int mu_http_response_format_simple(mu_buffer_t *out, const char *date, size_t date_len,
                                   int status, bool close);
/* The connection went down while the response was streaming: wake a handler
 * waiting for drain so that its next write sees -ECONNRESET. */
void mu_http_response_conn_gone(mu_http_response_t *r);
/* Write-complete: call the drain callback if one is waited for. */
void mu_http_response_output_drained(mu_http_response_t *r);
/* Releases a finished response without writing it: its storage, and the
 * connection reference an async response holds (may free the connection).
 * Only once no loop will run anything for it any more. */
void mu_http_response_drop(mu_http_response_t *r);

/* ---- http_server.c, for both -------------------------------------------- */

/* The loops are done with every parked response: drops them, and makes
 * later finishing calls drop theirs at once. Any thread. */
void mu_http_shared_close_parking(http_shared_t *sh);

#endif
