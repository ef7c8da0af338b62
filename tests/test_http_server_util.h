/* Helpers shared by the HTTP server tests (test_http_server_*.c): a
 * mu_http_server in a loop thread on 127.0.0.1:<ephemeral>, and a blocking
 * HTTP/1.1 client that reads responses framed by Content-Length, chunked
 * coding or the close. Header-only, prefix ht_. */
#ifndef CMUDUO_TESTS_TEST_HTTP_SERVER_UTIL_H
#define CMUDUO_TESTS_TEST_HTTP_SERVER_UTIL_H

#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <strings.h>

#include "cmuduo/http/http_server.h"
#include "tcp_test_util.h"

/* ---- the server ------------------------------------------------------------ */

typedef void (*ht_setup_fn)(mu_http_server_t *server, void *arg);

typedef struct ht_server {
  mu_event_loop_thread_t *thread;
  mu_event_loop_t *loop;
  mu_http_server_t *server;
  uint16_t port;
  int io_threads;
  mu_http_handler_fn handler;
  void *arg;
  ht_setup_fn setup;
  void *setup_arg;
} ht_server_t;

static inline void ht_server_start_in_loop(void *p) {
  ht_server_t *s = p;
  mu_inet_address_t addr = mu_inet_address_loopback(0);
  s->server = mu_http_server_new(s->loop, &addr, "HttpTest", 0);
  CHECK(s->server != NULL);
  mu_http_server_set_thread_num(s->server, s->io_threads);
  mu_http_server_set_handler(s->server, s->handler, s->arg);
  if (s->setup != NULL)
    s->setup(s->server, s->setup_arg);
  CHECK_EQ(mu_http_server_start(s->server), 0);
  mu_inet_address_t bound;
  CHECK_EQ(mu_tcp_server_listen_address(mu_http_server_tcp_server(s->server), &bound), 0);
  s->port = mu_inet_address_port(&bound);
  CHECK(s->port != 0);
}

/* Starts the server with `handler` (NULL: the server's default 404) and
 * `setup` (may be NULL) called before start. */
static inline void ht_server_start(ht_server_t *s, int io_threads,
                                   mu_http_handler_fn handler, void *arg,
                                   ht_setup_fn setup, void *setup_arg) {
  memset(s, 0, sizeof *s);
  s->io_threads = io_threads;
  s->handler = handler;
  s->arg = arg;
  s->setup = setup;
  s->setup_arg = setup_arg;
  s->thread = mu_event_loop_thread_new(NULL, NULL, "ht-server");
  CHECK(s->thread != NULL);
  s->loop = mu_event_loop_thread_start_loop(s->thread);
  CHECK(s->loop != NULL);
  tt_run_sync(s->loop, ht_server_start_in_loop, s);
}

static inline void ht_server_free_in_loop(void *p) {
  ht_server_t *s = p;
  mu_http_server_free(s->server);
  s->server = NULL;
}

static inline void ht_server_stop(ht_server_t *s) {
  tt_run_sync(s->loop, ht_server_free_in_loop, s);
  mu_event_loop_thread_free(s->thread);
}

typedef struct ht_count_call {
  ht_server_t *s;
  size_t n;
} ht_count_call_t;

static inline void ht_count_in_loop(void *p) {
  ht_count_call_t *c = p;
  c->n = mu_tcp_server_connection_count(mu_http_server_tcp_server(c->s->server));
}

/* Waits (bounded) until the server has `want` connections; returns the last
 * count seen. */
static inline size_t ht_server_wait_connections(ht_server_t *s, size_t want,
                                                double seconds) {
  double deadline = tt_now() + seconds;
  for (;;) {
    ht_count_call_t c = {s, 0};
    tt_run_sync(s->loop, ht_count_in_loop, &c);
    if (c.n == want || tt_now() > deadline)
      return c.n;
    tt_sleep_ms(5);
  }
}

/* ---- a worker thread for async handlers ------------------------------------ */

typedef struct ht_job {
  struct ht_job *next;
  void (*fn)(void *);
  void *arg;
} ht_job_t;

typedef struct ht_worker {
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  ht_job_t *head, *tail;
  bool stop;
} ht_worker_t;

static inline void *ht_worker_main(void *p) {
  ht_worker_t *w = p;
  pthread_mutex_lock(&w->mu);
  for (;;) {
    while (w->head == NULL && !w->stop)
      pthread_cond_wait(&w->cv, &w->mu);
    if (w->head == NULL)
      break;
    ht_job_t *j = w->head;
    w->head = j->next;
    if (w->head == NULL)
      w->tail = NULL;
    pthread_mutex_unlock(&w->mu);
    j->fn(j->arg);
    free(j);
    pthread_mutex_lock(&w->mu);
  }
  pthread_mutex_unlock(&w->mu);
  return NULL;
}

static inline void ht_worker_start(ht_worker_t *w) {
  memset(w, 0, sizeof *w);
  pthread_mutex_init(&w->mu, NULL);
  pthread_cond_init(&w->cv, NULL);
  CHECK_EQ(pthread_create(&w->thread, NULL, ht_worker_main, w), 0);
}

/* Runs fn(arg) in the worker thread, after the jobs posted before. */
static inline void ht_worker_post(ht_worker_t *w, void (*fn)(void *), void *arg) {
  ht_job_t *j = calloc(1, sizeof *j);
  CHECK(j != NULL);
  j->fn = fn;
  j->arg = arg;
  pthread_mutex_lock(&w->mu);
  if (w->tail)
    w->tail->next = j;
  else
    w->head = j;
  w->tail = j;
  pthread_cond_signal(&w->cv);
  pthread_mutex_unlock(&w->mu);
}

/* Runs what was posted, then joins. */
static inline void ht_worker_stop(ht_worker_t *w) {
  pthread_mutex_lock(&w->mu);
  w->stop = true;
  pthread_cond_signal(&w->cv);
  pthread_mutex_unlock(&w->mu);
  pthread_join(w->thread, NULL);
  pthread_mutex_destroy(&w->mu);
  pthread_cond_destroy(&w->cv);
}

/* ---- the client ------------------------------------------------------------ */

typedef struct ht_client {
  int fd;
  size_t len; /* buffered bytes not yet consumed */
  char buf[65536];
} ht_client_t;

typedef struct ht_resp {
  int status;
  char head[16384]; /* status line and fields, NUL-terminated */
  char *body;       /* malloc'd, NUL-terminated */
  size_t body_len;
  bool chunked;
} ht_resp_t;

static inline ht_client_t *ht_connect(uint16_t port) {
  ht_client_t *c = calloc(1, sizeof *c);
  CHECK(c != NULL);
  c->fd = tt_connect(port);
  return c;
}

static inline void ht_close(ht_client_t *c) {
  if (c->fd >= 0)
    close(c->fd);
  free(c);
}

static inline void ht_send(ht_client_t *c, const char *s) {
  tt_write_all(c->fd, s, strlen(s));
}

/* More bytes into the buffer: > 0, 0 at end of file, -errno. */
static inline ssize_t ht_fill(ht_client_t *c) {
  CHECK(c->len < sizeof c->buf);
  ssize_t n = tt_read_some(c->fd, c->buf + c->len, sizeof c->buf - c->len);
  if (n > 0)
    c->len += (size_t)n;
  return n;
}

static inline void ht_consume(ht_client_t *c, size_t n) {
  memmove(c->buf, c->buf + n, c->len - n);
  c->len -= n;
}

static inline void ht_take(ht_client_t *c, char *dst, size_t n) {
  size_t done = 0;
  while (done < n) {
    if (c->len == 0)
      CHECK(ht_fill(c) > 0);
    size_t k = c->len < n - done ? c->len : n - done;
    memcpy(dst + done, c->buf, k);
    ht_consume(c, k);
    done += k;
  }
}

/* A line ending in CRLF (returned without it, in line). */
static inline void ht_take_line(ht_client_t *c, char *line, size_t cap) {
  for (;;) {
    char *e = memmem(c->buf, c->len, "\r\n", 2);
    if (e != NULL) {
      size_t n = (size_t)(e - c->buf);
      CHECK(n < cap);
      memcpy(line, c->buf, n);
      line[n] = '\0';
      ht_consume(c, n + 2);
      return;
    }
    CHECK(ht_fill(c) > 0);
  }
}

/* The value of field `name` in a response head (copied into a static
 * buffer), or NULL. */
static inline const char *ht_header(const ht_resp_t *r, const char *name) {
  static _Thread_local char value[1024];
  size_t nl = strlen(name);
  const char *p = strstr(r->head, "\r\n");
  while (p != NULL && p[2] != '\0') {
    p += 2;
    const char *e = strstr(p, "\r\n");
    if (e == NULL)
      e = p + strlen(p);
    if ((size_t)(e - p) > nl && p[nl] == ':' && strncasecmp(p, name, nl) == 0) {
      const char *v = p + nl + 1;
      while (*v == ' ')
        ++v;
      size_t vl = (size_t)(e - v);
      CHECK(vl < sizeof value);
      memcpy(value, v, vl);
      value[vl] = '\0';
      return value;
    }
    p = e;
  }
  return NULL;
}

static inline void ht_resp_free(ht_resp_t *r) {
  free(r->body);
  r->body = NULL;
}

/* Reads one response. head_request: the request was HEAD (no body follows
 * whatever the fields say). Returns false at a clean end of file before the
 * first byte of a response. */
static inline bool ht_read_response(ht_client_t *c, ht_resp_t *r, bool head_request) {
  memset(r, 0, sizeof *r);
  char *e;
  while ((e = memmem(c->buf, c->len, "\r\n\r\n", 4)) == NULL) {
    ssize_t n = ht_fill(c);
    if (n == 0 && c->len == 0)
      return false;
    if (n <= 0) {
      fprintf(stderr, "response head cut short (%zd) after %zu bytes: %.*s\n", n, c->len,
              (int)c->len, c->buf);
      abort();
    }
  }
  size_t hl = (size_t)(e - c->buf) + 2;
  CHECK(hl < sizeof r->head);
  memcpy(r->head, c->buf, hl);
  r->head[hl] = '\0';
  ht_consume(c, hl + 2);
  CHECK(strncmp(r->head, "HTTP/1.1 ", 9) == 0);
  r->status = atoi(r->head + 9);
  const char *te = ht_header(r, "Transfer-Encoding");
  r->chunked = te != NULL && strcasecmp(te, "chunked") == 0;
  const char *cl = ht_header(r, "Content-Length");
  long long length = cl ? atoll(cl) : -1;
  bool no_body = head_request || r->status < 200 || r->status == 204 || r->status == 304;
  size_t cap = 1024, len = 0;
  char *body = malloc(cap);
  CHECK(body != NULL);
  if (no_body) {
    /* nothing */
  } else if (r->chunked) {
    for (;;) {
      char line[64];
      ht_take_line(c, line, sizeof line);
      size_t n = (size_t)strtoull(line, NULL, 16);
      if (n == 0) {
        ht_take_line(c, line, sizeof line); /* no trailers from our server */
        CHECK(line[0] == '\0');
        break;
      }
      while (len + n + 1 > cap)
        CHECK((body = realloc(body, cap *= 2)) != NULL);
      ht_take(c, body + len, n);
      len += n;
      char crlf[2];
      ht_take(c, crlf, 2);
      CHECK(crlf[0] == '\r' && crlf[1] == '\n');
    }
  } else if (length >= 0) {
    while ((size_t)length + 1 > cap)
      CHECK((body = realloc(body, cap *= 2)) != NULL);
    ht_take(c, body, (size_t)length);
    len = (size_t)length;
  } else {
    for (;;) { /* delimited by the close */
      if (c->len > 0) {
        while (len + c->len + 1 > cap)
          CHECK((body = realloc(body, cap *= 2)) != NULL);
        memcpy(body + len, c->buf, c->len);
        len += c->len;
        c->len = 0;
      }
      ssize_t n = ht_fill(c);
      CHECK(n >= 0);
      if (n == 0)
        break;
    }
  }
  body[len] = '\0';
  r->body = body;
  r->body_len = len;
  return true;
}

/* The server must close: end of file with nothing more buffered (a reset
 * after our unread bytes counts as closed too). */
static inline void ht_expect_closed(ht_client_t *c) {
  CHECK_EQ(c->len, 0);
  ssize_t n = ht_fill(c);
  if (n != 0 && n != -ECONNRESET) {
    fprintf(stderr, "expected the server to close, got %zd\n", n);
    abort();
  }
}

/* Sends `req` and reads its response; returns the status. */
static inline int ht_roundtrip(ht_client_t *c, const char *req, ht_resp_t *r) {
  ht_send(c, req);
  CHECK(ht_read_response(c, r, strncmp(req, "HEAD ", 5) == 0));
  return r->status;
}

#endif
