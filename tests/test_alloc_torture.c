/* Allocation-failure torture. Each scenario runs in a forked child once per
 * allocation it makes: run n fails the n-th allocation (n = 1, 2, ...), until a
 * run makes fewer than n allocations and so completes with nothing injected.
 * Every run must end by itself, either completing or reporting the error it
 * met: no crash, no abort (a FATAL included), no hang (the child's alarm), and
 * no block left allocated once the scenario has torn everything down (counted
 * by the allocator; under ASan, LeakSanitizer checks the child's exit too).
 *
 * Allocation order across threads is not fixed, so the number of failure
 * points can vary a little between runs; each scenario prints its count. */
#include <poll.h>
#include <pthread.h>

#include "cmuduo/base/alloc.h"
#include "cmuduo/http/http_server.h"
#include "tcp_test_util.h"

/* ---- a thread-safe counting allocator that fails one chosen call -------- */

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static long g_calls;    /* malloc and realloc calls so far */
static long g_fail_at;  /* the call (1-based) that fails; 0: none */
static long g_failures; /* calls failed (0 or 1) */
static long g_live;     /* blocks handed out and not freed */

static bool admit(void) {
  pthread_mutex_lock(&g_mu);
  bool fail = ++g_calls == g_fail_at;
  if (fail)
    ++g_failures;
  pthread_mutex_unlock(&g_mu);
  return !fail;
}

static void live_add(long d) {
  pthread_mutex_lock(&g_mu);
  g_live += d;
  pthread_mutex_unlock(&g_mu);
}

static void *torture_malloc(size_t n) {
  if (!admit())
    return NULL;
  void *p = malloc(n);
  if (p != NULL)
    live_add(1);
  return p;
}

static void *torture_realloc(void *old, size_t n) {
  if (!admit())
    return NULL;
  void *p = realloc(old, n);
  if (p != NULL && old == NULL)
    live_add(1);
  return p;
}

static void torture_free(void *p) {
  if (p != NULL)
    live_add(-1);
  free(p);
}

/* ERROR lines the library logged in this child: a failure it could only
 * report that way (see sc_loop_timer). */
static _Atomic long g_errors_logged;

static void log_to_stderr(const char *line, size_t len, void *arg) {
  (void)arg;
  if (strstr(line, " ERROR ") != NULL)
    atomic_fetch_add(&g_errors_logged, 1);
  fwrite(line, 1, len, stderr);
}

static const mu_allocator_t k_torture = {torture_malloc, torture_realloc, torture_free};

/* ---- scenario plumbing --------------------------------------------------- */

enum { k_completed = 0, k_error = 1 };

typedef struct outcome {
  int code;
  char what[160];
} outcome_t;

static int fail_with(outcome_t *o, const char *fmt, const char *detail) {
  o->code = k_error;
  snprintf(o->what, sizeof o->what, fmt, detail);
  return k_error;
}

/* ---- scenario: a loop and its timers ------------------------------------ */

typedef struct timer_ctx {
  mu_event_loop_t *loop;
  int fired;
  bool watchdog;
} timer_ctx_t;

static void count_and_quit(void *p) {
  timer_ctx_t *t = p;
  if (++t->fired == 2)
    mu_event_loop_quit(t->loop);
}

static void watchdog(void *p) {
  timer_ctx_t *t = p;
  t->watchdog = true;
  mu_event_loop_quit(t->loop);
}

static void *add_remote_timer(void *p) {
  timer_ctx_t *t = p;
  mu_timer_id_t id = mu_event_loop_run_after(t->loop, 0.002, count_and_quit, t);
  return mu_timer_id_valid(id) ? NULL : p;
}

/* One timer added in the loop thread, one from another thread (the queued
 * path); both must fire. A cross-thread add that runs out of memory in the
 * loop cannot be reported to its caller, who already has an id: it must at
 * least log an ERROR (the watchdog finds the timer that never fired). */
static int sc_loop_timer(outcome_t *o) {
  mu_event_loop_t *loop = mu_event_loop_new();
  if (loop == NULL)
    return fail_with(o, "mu_event_loop_new: %s", strerror(errno));
  timer_ctx_t t = {loop, 0, false};
  int rc = k_completed;
  if (!mu_timer_id_valid(mu_event_loop_run_after(loop, 0.001, count_and_quit, &t)) ||
      !mu_timer_id_valid(mu_event_loop_run_after(loop, 2.0, watchdog, &t))) {
    rc = fail_with(o, "run_after: %s", strerror(errno));
  } else {
    pthread_t th;
    void *res;
    CHECK(pthread_create(&th, NULL, add_remote_timer, &t) == 0);
    CHECK(pthread_join(th, &res) == 0);
    if (res != NULL) {
      rc = fail_with(o, "run_after from another thread: %s", "ENOMEM");
    } else {
      mu_event_loop_loop(loop);
      if (t.watchdog) {
        CHECK_EQ(t.fired, 1);
        if (atomic_load(&g_errors_logged) == 0) {
          fprintf(stderr,
                  "HANG: a cross-thread timer never fired, and no ERROR said so\n");
          abort();
        }
        rc = fail_with(o, "cross-thread timer lost: %s", "ERROR logged");
      } else {
        CHECK_EQ(t.fired, 2);
      }
    }
  }
  mu_event_loop_free(loop);
  return rc;
}

/* ---- scenario: a TcpServer echoes one message to a raw-socket client ----- */

static const char k_msg[] = "hello, torture: echo me back byte for byte";

typedef struct client_ctx {
  mu_event_loop_t *loop;
  uint16_t port;
  outcome_t *o;
  /* for the TcpClient scenario's raw server */
  int listen_fd;
  _Atomic bool stop;
} client_ctx_t;

static int raw_socket(double timeout) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CHECK(fd >= 0);
  tt_set_timeouts(fd, timeout);
  return fd;
}

/* Connects, sends k_msg, expects it back, closes; then quits the loop. A
 * closed connection is the server's way of reporting its error; a timeout is a
 * hang (the server neither answered nor closed). */
static void *echo_client(void *p) {
  client_ctx_t *c = p;
  int fd = raw_socket(5.0);
  struct sockaddr_in sa = tt_loopback(c->port);
  char got[sizeof k_msg];
  size_t n = 0;
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    fail_with(c->o, "connect: %s", strerror(errno));
  } else {
    if (send(fd, k_msg, sizeof k_msg, MSG_NOSIGNAL) != (ssize_t)sizeof k_msg)
      n = sizeof k_msg + 1; /* reset before we could even send: reported below */
    while (n < sizeof k_msg) {
      ssize_t r = tt_read_some(fd, got + n, sizeof k_msg - n);
      if (r == -EAGAIN) {
        fprintf(stderr, "HANG: the server neither echoed nor closed in 5 s\n");
        abort();
      }
      if (r <= 0)
        break;
      n += (size_t)r;
    }
    if (n != sizeof k_msg) {
      fail_with(c->o, "server closed the connection: %s", "mid-echo");
    } else {
      CHECK(memcmp(got, k_msg, sizeof k_msg) == 0);
    }
  }
  close(fd);
  mu_event_loop_quit(c->loop);
  return NULL;
}

static void name_on_connect(mu_tcp_connection_t *conn, void *arg) {
  (void)arg;
  /* Its lazy allocation is a failure point too; the name is never NULL and
   * always starts with the server's prefix. */
  const char *name = mu_tcp_connection_name(conn);
  CHECK(name != NULL && strncmp(name, "torture-127.0.0.1:", 18) == 0);
}

static int server_echo(outcome_t *o, int io_threads) {
  mu_event_loop_t *loop = mu_event_loop_new();
  if (loop == NULL)
    return fail_with(o, "mu_event_loop_new: %s", strerror(errno));
  mu_inet_address_t addr = mu_inet_address_loopback(0);
  mu_tcp_server_t *server = mu_tcp_server_new(loop, &addr, "torture", 0);
  if (server == NULL) {
    fail_with(o, "mu_tcp_server_new: %s", strerror(errno));
    mu_event_loop_free(loop);
    return k_error;
  }
  mu_tcp_server_set_thread_num(server, io_threads);
  mu_tcp_server_set_connection_callback(server, name_on_connect, NULL);
  mu_tcp_server_set_message_callback(server, tt_echo_on_message, NULL);
  int rc = mu_tcp_server_start(server);
  if (rc != 0) {
    fail_with(o, "mu_tcp_server_start: %s", strerror(-rc));
  } else {
    mu_inet_address_t bound;
    CHECK_EQ(mu_tcp_server_listen_address(server, &bound), 0);
    client_ctx_t c = {.loop = loop, .port = mu_inet_address_port(&bound), .o = o};
    pthread_t th;
    CHECK(pthread_create(&th, NULL, echo_client, &c) == 0);
    mu_event_loop_loop(loop);
    CHECK(pthread_join(th, NULL) == 0);
  }
  mu_tcp_server_free(server);
  mu_event_loop_free(loop);
  return o->code;
}

static int sc_server_echo(outcome_t *o) {
  return server_echo(o, 0);
}

static int sc_server_echo_pool(outcome_t *o) {
  return server_echo(o, 2);
}

/* ---- scenario: an HTTP server answers pipelined requests ----------------- */

/* Three pipelined requests: a memory response, a streamed (chunked) one and a
 * last one that closes. Every response that comes back must be whole and in
 * order; a connection closed early is the server's way to report its error. */
static const char k_http_requests[] =
    "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"
    "POST /stream HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nabcde"
    "GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";

static void http_handler(const mu_http_request_t *req, mu_http_response_t *resp,
                         void *arg) {
  (void)arg;
  if (strcmp(mu_http_request_path(req), "/stream") != 0) {
    mu_http_response_send_text(resp, 200, "hello, world!\n");
    return;
  }
  if (mu_http_response_begin(resp, NULL, NULL) == 0) {
    mu_http_response_write(resp, "part one;", 9);
    mu_http_response_write(resp, "part two\n", 9);
  }
  mu_http_response_end(resp);
}

static void *http_client(void *p) {
  client_ctx_t *c = p;
  int fd = raw_socket(5.0);
  struct sockaddr_in sa = tt_loopback(c->port);
  static char got[8192];
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    fail_with(c->o, "connect: %s", strerror(errno));
  } else {
    long n = -1;
    if (send(fd, k_http_requests, sizeof k_http_requests - 1, MSG_NOSIGNAL) ==
        (ssize_t)sizeof k_http_requests - 1)
      n = tt_read_until_eof(fd, got, sizeof got - 1);
    if (n == -EAGAIN) {
      fprintf(stderr, "HANG: the HTTP server neither answered nor closed in 5 s\n");
      abort();
    }
    got[n > 0 ? n : 0] = '\0';
    /* Whatever arrived is whole responses in order, or an error status. */
    const char *first = strstr(got, "hello, world!\n");
    /* chunked: "9\r\npart one;\r\n9\r\npart two\n\r\n0\r\n\r\n" */
    const char *second = strstr(got, "part one;\r\n9\r\npart two\n\r\n0\r\n");
    const char *third = first ? strstr(first + 1, "hello, world!\n") : NULL;
    if (first && second && third) {
      CHECK(first < second && second < third);
    } else if (third != NULL) {
      fprintf(stderr, "HANG: the stream lost bytes and the server went on: %s\n", got);
      abort();
    } else if (n > 0 && strncmp(got, "HTTP/1.1 ", 9) != 0) {
      fprintf(stderr, "HANG: garbage from the HTTP server: %.60s\n", got);
      abort();
    } else {
      fail_with(c->o, "server answered %s", n > 0 ? "in part" : "nothing");
    }
  }
  close(fd);
  mu_event_loop_quit(c->loop);
  return NULL;
}

static int http_scenario(outcome_t *o, int io_threads) {
  mu_event_loop_t *loop = mu_event_loop_new();
  if (loop == NULL)
    return fail_with(o, "mu_event_loop_new: %s", strerror(errno));
  mu_inet_address_t addr = mu_inet_address_loopback(0);
  mu_http_server_t *server = mu_http_server_new(loop, &addr, "torture-http", 0);
  if (server == NULL) {
    fail_with(o, "mu_http_server_new: %s", strerror(errno));
    mu_event_loop_free(loop);
    return k_error;
  }
  mu_http_server_set_thread_num(server, io_threads);
  mu_http_server_set_handler(server, http_handler, NULL);
  int rc = mu_http_server_start(server);
  if (rc != 0) {
    fail_with(o, "mu_http_server_start: %s", strerror(-rc));
  } else {
    mu_inet_address_t bound;
    CHECK_EQ(mu_tcp_server_listen_address(mu_http_server_tcp_server(server), &bound), 0);
    client_ctx_t c = {.loop = loop, .port = mu_inet_address_port(&bound), .o = o};
    pthread_t th;
    CHECK(pthread_create(&th, NULL, http_client, &c) == 0);
    mu_event_loop_loop(loop);
    CHECK(pthread_join(th, NULL) == 0);
  }
  mu_http_server_free(server);
  mu_event_loop_free(loop);
  return o->code;
}

static int sc_http(outcome_t *o) {
  return http_scenario(o, 0);
}

static int sc_http_pool(outcome_t *o) {
  return http_scenario(o, 2);
}

/* ---- scenario: a TcpClient exchanges a message with a raw echo server ---- */

static void echo_one_connection(int fd) {
  char buf[4096];
  for (;;) {
    ssize_t r = tt_read_some(fd, buf, sizeof buf);
    if (r <= 0)
      break;
    if (send(fd, buf, (size_t)r, MSG_NOSIGNAL) != r)
      break;
  }
  close(fd);
}

/* Echoes every connection (the client may retry) until told to stop. */
static void *raw_echo_server(void *p) {
  client_ctx_t *c = p;
  while (!atomic_load(&c->stop)) {
    struct pollfd pfd = {c->listen_fd, POLLIN, 0};
    if (poll(&pfd, 1, 20) <= 0)
      continue;
    int fd = accept4(c->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0)
      continue;
    tt_set_timeouts(fd, 0.2); /* a read timeout ends the echo when we stop */
    echo_one_connection(fd);
  }
  return NULL;
}

typedef struct tcp_client_run {
  mu_event_loop_t *loop;
  outcome_t *o;
  size_t got;
  bool done;
} tcp_client_run_t;

static void client_on_connection(mu_tcp_connection_t *conn, void *arg) {
  tcp_client_run_t *r = arg;
  if (r->done)
    return;
  if (mu_tcp_connection_connected(conn)) {
    int rc = mu_tcp_connection_send(conn, k_msg, sizeof k_msg);
    if (rc == 0)
      return;
    fail_with(r->o, "send: %s", strerror(-rc));
  } else {
    fail_with(r->o, "connection closed: %s", "before the echo");
  }
  r->done = true;
  mu_event_loop_quit(r->loop);
}

static void client_on_message(mu_tcp_connection_t *conn, mu_buffer_t *buf,
                              mu_timestamp_t t, void *arg) {
  (void)conn;
  (void)t;
  tcp_client_run_t *r = arg;
  size_t n = mu_buffer_readable_bytes(buf);
  CHECK(r->got + n <= sizeof k_msg);
  CHECK(memcmp(mu_buffer_peek(buf), k_msg + r->got, n) == 0);
  mu_buffer_retrieve_all(buf);
  r->got += n;
  if (r->got == sizeof k_msg && !r->done) {
    r->done = true;
    mu_event_loop_quit(r->loop);
  }
}

static int sc_tcp_client(outcome_t *o) {
  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CHECK(lfd >= 0);
  struct sockaddr_in sa = tt_loopback(0);
  socklen_t len = sizeof sa;
  CHECK(bind(lfd, (struct sockaddr *)&sa, sizeof sa) == 0);
  CHECK(listen(lfd, 16) == 0);
  CHECK(getsockname(lfd, (struct sockaddr *)&sa, &len) == 0);
  client_ctx_t c = {.listen_fd = lfd, .o = o};
  pthread_t th;
  CHECK(pthread_create(&th, NULL, raw_echo_server, &c) == 0);

  mu_event_loop_t *loop = mu_event_loop_new();
  /* Outlives the client: its down callback runs when the loop is freed. */
  tcp_client_run_t r = {loop, o, 0, false};
  if (loop == NULL) {
    fail_with(o, "mu_event_loop_new: %s", strerror(errno));
  } else {
    mu_inet_address_t addr = mu_inet_address_loopback(ntohs(sa.sin_port));
    mu_tcp_client_t *client = mu_tcp_client_new(loop, &addr, "torture-client");
    if (client == NULL) {
      fail_with(o, "mu_tcp_client_new: %s", strerror(errno));
    } else {
      mu_tcp_client_set_retry_delays(client, 0.01, 0.05);
      mu_tcp_client_set_connection_callback(client, client_on_connection, &r);
      mu_tcp_client_set_message_callback(client, client_on_message, &r);
      mu_tcp_client_connect(client);
      mu_event_loop_loop(loop);
      mu_tcp_client_free(client);
    }
    mu_event_loop_free(loop);
  }
  atomic_store(&c.stop, true);
  CHECK(pthread_join(th, NULL) == 0);
  close(lfd);
  return o->code;
}

/* ---- scenario: a loop thread pool starts, runs work, stops -------------- */

typedef struct pool_work {
  mu_countdown_latch_t latch;
  _Atomic int ran;
  _Atomic int inits;
} pool_work_t;

static void pool_init(mu_event_loop_t *loop, void *arg) {
  (void)loop;
  atomic_fetch_add(&((pool_work_t *)arg)->inits, 1);
}

static void pool_task(void *arg) {
  pool_work_t *w = arg;
  atomic_fetch_add(&w->ran, 1);
  mu_countdown_latch_count_down(&w->latch);
}

static int sc_pool(outcome_t *o) {
  enum { k_threads = 3 };
  mu_event_loop_t *loop = mu_event_loop_new();
  if (loop == NULL)
    return fail_with(o, "mu_event_loop_new: %s", strerror(errno));
  mu_event_loop_thread_pool_t *pool = mu_event_loop_thread_pool_new(loop, "torture");
  if (pool == NULL) {
    fail_with(o, "pool_new: %s", strerror(errno));
    mu_event_loop_free(loop);
    return k_error;
  }
  mu_event_loop_thread_pool_set_thread_num(pool, k_threads);
  pool_work_t w = {0};
  mu_countdown_latch_init(&w.latch, k_threads);
  int rc = mu_event_loop_thread_pool_start(pool, pool_init, &w);
  if (rc != 0) {
    fail_with(o, "pool_start: %s", strerror(-rc));
  } else {
    CHECK_EQ(atomic_load(&w.inits), k_threads);
    for (int i = 0; i < k_threads; ++i) {
      mu_event_loop_t *l = mu_event_loop_thread_pool_get_next_loop(pool);
      CHECK(l != loop);
      if (mu_event_loop_run_in_loop(l, pool_task, &w) != 0) {
        fail_with(o, "run_in_loop: %s", "ENOMEM");
        mu_countdown_latch_count_down(&w.latch);
      }
    }
    mu_countdown_latch_wait(&w.latch);
  }
  mu_event_loop_thread_pool_free(pool);
  mu_countdown_latch_destroy(&w.latch);
  mu_event_loop_free(loop);
  return o->code;
}

/* ---- the driver ----------------------------------------------------------- */

typedef struct scenario {
  const char *name;
  int (*run)(outcome_t *o);
} scenario_t;

typedef struct child_report {
  outcome_t o;
  long calls, failures, live;
} child_report_t;

static void run_in_child(const scenario_t *sc, long fail_at, int report_fd) {
  test_time_limit(30);
  g_fail_at = fail_at;
  mu_log_set_output(log_to_stderr, NULL);
  mu_set_allocator(&k_torture);
  child_report_t rep = {0};
  rep.o.code = k_completed;
  sc->run(&rep.o);
  pthread_mutex_lock(&g_mu);
  rep.calls = g_calls;
  rep.failures = g_failures;
  rep.live = g_live;
  pthread_mutex_unlock(&g_mu);
  CHECK(write(report_fd, &rep, sizeof rep) == (ssize_t)sizeof rep);
  fflush(NULL);
  exit(0); /* exit, not _exit: LeakSanitizer checks at exit */
}

/* Runs one child; returns its wait status, its output in `out` and its report
 * (report->calls < 0 if it sent none). */
static int spawn(const scenario_t *sc, long fail_at, child_report_t *report, char *out,
                 size_t outlen) {
  int opipe[2], rpipe[2];
  CHECK(pipe(opipe) == 0 && pipe(rpipe) == 0);
  fflush(NULL);
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    dup2(opipe[1], STDOUT_FILENO);
    dup2(opipe[1], STDERR_FILENO);
    close(opipe[0]);
    close(opipe[1]);
    close(rpipe[0]);
    run_in_child(sc, fail_at, rpipe[1]);
  }
  close(opipe[1]);
  close(rpipe[1]);
  size_t n = 0;
  ssize_t r;
  char sink[512];
  /* Keep the first outlen-1 bytes, drain the rest. */
  while ((r = read(opipe[0], n + 1 < outlen ? out + n : sink,
                   n + 1 < outlen ? outlen - 1 - n : sizeof sink)) > 0) {
    if (n + 1 < outlen)
      n += (size_t)r;
  }
  out[n] = '\0';
  close(opipe[0]);
  memset(report, 0, sizeof *report);
  report->calls = -1;
  if (read(rpipe[0], report, sizeof *report) != (ssize_t)sizeof *report)
    report->calls = -1;
  close(rpipe[0]);
  int status;
  CHECK(waitpid(pid, &status, 0) == pid);
  return status;
}

/* A one-line diagnosis of a bad run, or NULL if the run was good. */
static const char *diagnose(int status, const child_report_t *rep, const char *out,
                            char *buf, size_t len) {
  if (WIFSIGNALED(status)) {
    const char *fatal = strstr(out, "FATAL");
    const char *hang = strstr(out, "HANG");
    if (WTERMSIG(status) == SIGALRM) {
      snprintf(buf, len, "hang (killed by the 30 s alarm)");
    } else if (hang != NULL) {
      snprintf(buf, len, "%.*s", (int)strcspn(hang, "\n"), hang);
    } else if (fatal != NULL) {
      snprintf(buf, len, "abort: %.*s", (int)strcspn(fatal, "\n"), fatal);
    } else {
      snprintf(buf, len, "killed by signal %d", WTERMSIG(status));
    }
    return buf;
  }
  if (WEXITSTATUS(status) != 0 || rep->calls < 0) {
    snprintf(buf, len, "exit status %d (LeakSanitizer exits 23)", WEXITSTATUS(status));
    return buf;
  }
  if (rep->live != 0) {
    snprintf(buf, len, "%ld blocks leaked", rep->live);
    return buf;
  }
  return NULL;
}

typedef struct tally {
  long points, completed, errors, bad;
} tally_t;

static tally_t torture(const scenario_t *sc) {
  tally_t t = {0};
  static char out[16384];
  char why[256];
  child_report_t rep;
  /* First without a failure: the scenario itself must work. */
  int status = spawn(sc, 0, &rep, out, sizeof out);
  if (diagnose(status, &rep, out, why, sizeof why) != NULL || rep.o.code != k_completed) {
    fprintf(stderr, "%s without injected failures: %s %s\n%s\n", sc->name, why,
            rep.o.what, out);
    abort();
  }
  long baseline = rep.calls;
  for (long n = 1; n < 100000; ++n) {
    status = spawn(sc, n, &rep, out, sizeof out);
    const char *bad = diagnose(status, &rep, out, why, sizeof why);
    if (bad == NULL && rep.failures == 0) {
      CHECK_EQ(rep.o.code, k_completed); /* nothing failed: it must work */
      break;
    }
    ++t.points;
    if (bad != NULL) {
      ++t.bad;
      printf("  %s: allocation %ld failing: %s\n", sc->name, n, bad);
      if (t.bad <= 3)
        printf("---- its output ----\n%s--------------------\n", out);
    } else if (rep.o.code == k_completed) {
      ++t.completed;
    } else {
      ++t.errors;
    }
  }
  printf(
      "%-18s %4ld allocations unfailed, %4ld failure points: %ld completed, %ld "
      "reported an error, %ld bad\n",
      sc->name, baseline, t.points, t.completed, t.errors, t.bad);
  return t;
}

static const scenario_t k_scenarios[] = {
    {"loop_timer", sc_loop_timer},
    {"server_echo", sc_server_echo},
    {"server_echo_pool", sc_server_echo_pool},
    {"tcp_client", sc_tcp_client},
    {"loop_thread_pool", sc_pool},
    {"http", sc_http},
    {"http_pool", sc_http_pool},
};

int main(int argc, char **argv) {
  tt_init("alloc_torture", 1200);
  long bad = 0;
  for (size_t i = 0; i < sizeof k_scenarios / sizeof k_scenarios[0]; ++i) {
    if (argc > 1 && strcmp(argv[1], k_scenarios[i].name) != 0)
      continue;
    tally_t t = torture(&k_scenarios[i]);
    CHECK(t.points > 0);
    bad += t.bad;
  }
  CHECK_EQ(bad, 0);
  TEST_PASS("alloc_torture");
}
