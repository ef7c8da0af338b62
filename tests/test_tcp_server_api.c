/* TcpServer's API beyond the echo path:
 * - start() from a thread that is not the base loop's, once and from four
 *   threads at once: it returns 0, the server listens on one socket, its pool
 *   starts once, and later calls change nothing;
 * - start() whose listen fails (EADDRINUSE): the error comes back when called
 *   in the loop, is logged when called from another thread, and either way a
 *   later start() tries again;
 * - the accessors (name, ip_port, listen_address, get_loop, thread_pool,
 *   connection_count), and connections spread round-robin over a pool of two
 *   loops (or all on the base loop with none);
 * - the acceptor's tuning, reachable only through its internal header (the
 *   server does not expose it): the accept budget per wake-up, the pause after
 *   running out of descriptors, and an acceptor without a callback. */
#include <netinet/tcp.h>
#include <pthread.h>

#include "net/acceptor.h"
#include "cmuduo/cmuduo.h"
#include "tcp_test_util.h"
#include "test_util.h"

enum { k_max_conns = 8 };

/* A server in the base loop of its own thread, not started. */
typedef struct api {
  mu_event_loop_thread_t *thread;
  mu_event_loop_t *loop;
  mu_tcp_server_t *server;
  const char *name;
  int threads;
  uint16_t port;
  char conn_prefix[128]; /* "name-127.0.0.1:port#" */
  _Atomic int inits;     /* thread init callbacks */
  _Atomic int up, down;
  _Atomic(mu_event_loop_t *) conn_loop[k_max_conns]; /* by connection id - 1 */
  int start_rc;
} api_t;

static void noop(void *arg) {
  (void)arg;
}

/* Returns once everything queued to `loop` before this call has run. */
static void sync_loop(mu_event_loop_t *loop) {
  tt_run_sync(loop, noop, NULL);
}

static void on_thread_init(mu_event_loop_t *loop, void *arg) {
  api_t *a = arg;
  CHECK(mu_event_loop_is_in_loop_thread(loop));
  atomic_fetch_add(&a->inits, 1);
}

static void on_connection(mu_tcp_connection_t *conn, void *arg) {
  api_t *a = arg;
  mu_event_loop_t *loop = mu_tcp_connection_get_loop(conn);
  CHECK(mu_event_loop_is_in_loop_thread(loop));
  if (!mu_tcp_connection_connected(conn)) {
    atomic_fetch_add(&a->down, 1);
    return;
  }
  const char *name = mu_tcp_connection_name(conn);
  CHECK(strncmp(name, a->conn_prefix, strlen(a->conn_prefix)) == 0);
  uint64_t id = mu_tcp_connection_id(conn);
  CHECK(id >= 1 && id <= k_max_conns);
  atomic_store(&a->conn_loop[id - 1], loop);
  atomic_fetch_add(&a->up, 1);
}

static void api_new_in_loop(void *p) {
  api_t *a = p;
  mu_inet_address_t addr = mu_inet_address_loopback(0);
  a->server = mu_tcp_server_new(a->loop, &addr, a->name, 0);
  CHECK(a->server != NULL);
  mu_tcp_server_set_thread_num(a->server, a->threads);
  mu_tcp_server_set_thread_init_callback(a->server, on_thread_init, a);
  mu_tcp_server_set_connection_callback(a->server, on_connection, a);
  mu_tcp_server_set_message_callback(a->server, tt_echo_on_message, NULL);
  mu_inet_address_t bound;
  CHECK_EQ(mu_tcp_server_listen_address(a->server, &bound), 0);
  a->port = mu_inet_address_port(&bound);
  CHECK(a->port != 0);
  snprintf(a->conn_prefix, sizeof a->conn_prefix, "%s-127.0.0.1:%u#", a->name, a->port);
}

/* A bound, not started server with `threads` I/O threads in a new loop thread. */
static void api_open(api_t *a, const char *name, int threads) {
  memset(a, 0, sizeof *a);
  a->name = name;
  a->threads = threads;
  a->thread = mu_event_loop_thread_new(NULL, NULL, "api-base");
  CHECK(a->thread != NULL);
  a->loop = mu_event_loop_thread_start_loop(a->thread);
  CHECK(a->loop != NULL);
  tt_run_sync(a->loop, api_new_in_loop, a);
}

static void api_free_in_loop(void *p) {
  api_t *a = p;
  mu_tcp_server_free(a->server);
  a->server = NULL;
}

static void api_close(api_t *a) {
  tt_run_sync(a->loop, api_free_in_loop, a);
  mu_event_loop_thread_free(a->thread);
}

static void api_start_in_loop(void *p) {
  api_t *a = p;
  a->start_rc = mu_tcp_server_start(a->server);
}

/* start() called in the base loop's own thread; its return value. */
static int api_start_in_loop_thread(api_t *a) {
  a->start_rc = 1;
  tt_run_sync(a->loop, api_start_in_loop, a);
  return a->start_rc;
}

typedef struct count_call {
  api_t *a;
  size_t n;
} count_call_t;

static void count_in_loop(void *p) {
  count_call_t *c = p;
  c->n = mu_tcp_server_connection_count(c->a->server);
}

static size_t api_connection_count(api_t *a) {
  count_call_t c = {a, 0};
  tt_run_sync(a->loop, count_in_loop, &c);
  return c.n;
}

static bool api_wait_connections(api_t *a, size_t want) {
  double deadline = tt_now() + 20.0;
  while (api_connection_count(a) != want) {
    if (tt_now() > deadline)
      return false;
    tt_sleep_ms(2);
  }
  return true;
}

static bool wait_atomic_at_least(_Atomic int *v, int want) {
  double deadline = tt_now() + 20.0;
  while (atomic_load(v) < want) {
    if (tt_now() > deadline)
      return false;
    tt_sleep_ms(1);
  }
  return true;
}

/* Listening sockets of this process bound to 127.0.0.1:port; the last one's
 * descriptor goes to *fd_out (if not NULL). */
static int count_listeners(uint16_t port, int *fd_out) {
  DIR *dir = opendir("/proc/self/fd");
  CHECK(dir != NULL);
  int found = 0;
  for (struct dirent *de; (de = readdir(dir)) != NULL;) {
    int fd = atoi(de->d_name);
    if (de->d_name[0] == '.' || fd == dirfd(dir) || !tt_fd_listens_on(fd, port))
      continue;
    ++found;
    if (fd_out != NULL)
      *fd_out = fd;
  }
  closedir(dir);
  return found;
}

/* One round trip through the echo server on `port`. */
static void echo_once(uint16_t port) {
  int fd = tt_connect(port);
  tt_write_all(fd, "ping", 4);
  char got[4];
  tt_read_exactly(fd, got, sizeof got);
  CHECK(memcmp(got, "ping", 4) == 0);
  CHECK(close(fd) == 0);
}

/* ---- start() from other threads ---------------------------------------------- */

static void check_start_from_other_thread(void) {
  api_t a;
  api_open(&a, "StartOther", 2);
  CHECK_EQ(count_listeners(a.port, NULL), 0); /* bound only */
  CHECK(!mu_event_loop_is_in_loop_thread(a.loop));
  /* Queued to the base loop: 0 means "queued", listening follows there. */
  CHECK_EQ(mu_tcp_server_start(a.server), 0);
  sync_loop(a.loop);
  CHECK_EQ(count_listeners(a.port, NULL), 1);
  CHECK_EQ(atomic_load(&a.inits), 2);
  echo_once(a.port);

  /* Later calls, from this thread and from the loop's own: no-ops. */
  CHECK_EQ(mu_tcp_server_start(a.server), 0);
  CHECK_EQ(api_start_in_loop_thread(&a), 0);
  sync_loop(a.loop);
  CHECK_EQ(count_listeners(a.port, NULL), 1);
  CHECK_EQ(atomic_load(&a.inits), 2);
  echo_once(a.port);
  api_close(&a);
  printf("start from another thread: ok\n");
}

enum { k_starters = 4 };

typedef struct starter {
  api_t *a;
  pthread_barrier_t *barrier;
  int rc;
} starter_t;

static void *starter_main(void *p) {
  starter_t *s = p;
  pthread_barrier_wait(s->barrier);
  s->rc = mu_tcp_server_start(s->a->server);
  return NULL;
}

/* Four threads call start() at the same moment, several rounds. */
static void check_start_from_four_threads(void) {
  tt_log_counter_t log;
  tt_log_capture(&log, "cannot start");
  for (int round = 0; round < 5; ++round) {
    api_t a;
    api_open(&a, "StartMany", 2);
    pthread_barrier_t barrier;
    CHECK(pthread_barrier_init(&barrier, NULL, k_starters) == 0);
    pthread_t tids[k_starters];
    starter_t st[k_starters];
    for (int i = 0; i < k_starters; ++i) {
      st[i] = (starter_t){&a, &barrier, 1};
      CHECK(pthread_create(&tids[i], NULL, starter_main, &st[i]) == 0);
    }
    for (int i = 0; i < k_starters; ++i) {
      CHECK(pthread_join(tids[i], NULL) == 0);
      CHECK_EQ(st[i].rc, 0);
    }
    pthread_barrier_destroy(&barrier);
    sync_loop(a.loop);
    CHECK_EQ(count_listeners(a.port, NULL), 1);
    CHECK_EQ(atomic_load(&a.inits), 2); /* the pool started once */
    echo_once(a.port);
    CHECK_EQ(mu_tcp_server_start(a.server), 0);
    CHECK_EQ(api_start_in_loop_thread(&a), 0);
    echo_once(a.port);
    CHECK_EQ(count_listeners(a.port, NULL), 1);
    api_close(&a);
  }
  CHECK_EQ(atomic_load(&log.hits), 0);
  tt_log_restore();
  printf("start from %d threads at once: ok\n", k_starters);
}

/* A socket with SO_REUSEADDR listening on the server's port, which the server
 * (also SO_REUSEADDR) could bind because nobody listened yet: the server's
 * own listen() then fails with EADDRINUSE. */
static int listen_in_the_way(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CHECK(fd >= 0);
  int on = 1;
  CHECK(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) == 0);
  struct sockaddr_in sa = tt_loopback(port);
  CHECK(bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
  CHECK(listen(fd, 8) == 0);
  return fd;
}

static void check_start_failure(void) {
  api_t a;
  api_open(&a, "StartFails", 1);
  int blocker = listen_in_the_way(a.port);
  tt_log_counter_t log;
  tt_log_capture(&log, "cannot start");

  /* In the loop thread the error is returned... */
  CHECK_EQ(api_start_in_loop_thread(&a), -EADDRINUSE);
  CHECK_EQ(atomic_load(&log.hits), 1);
  /* ...and the server is not marked started: another thread's start() is
   * queued again (0), and its failure in the loop is logged. */
  CHECK_EQ(mu_tcp_server_start(a.server), 0);
  sync_loop(a.loop);
  CHECK_EQ(atomic_load(&log.hits), 2);
  int fd = -1;
  CHECK_EQ(count_listeners(a.port, &fd), 1);
  CHECK_EQ(fd, blocker);

  /* The way clear, the next start() listens. */
  CHECK(close(blocker) == 0);
  CHECK_EQ(mu_tcp_server_start(a.server), 0);
  sync_loop(a.loop);
  CHECK_EQ(count_listeners(a.port, NULL), 1);
  echo_once(a.port);
  CHECK_EQ(atomic_load(&log.hits), 2);
  CHECK_EQ(atomic_load(&a.inits), 1); /* the pool started on the first try */
  tt_log_restore();
  api_close(&a);
  printf("start failing with EADDRINUSE, then succeeding: ok\n");
}

/* ---- accessors and the thread pool --------------------------------------------- */

typedef struct pool_view {
  api_t *a;
  mu_event_loop_t *loops[4];
  size_t nloops;
} pool_view_t;

static void check_accessors_in_loop(void *p) {
  pool_view_t *v = p;
  api_t *a = v->a;
  mu_tcp_server_t *s = a->server;
  CHECK_STREQ(mu_tcp_server_name(s), a->name);
  char want[64];
  snprintf(want, sizeof want, "127.0.0.1:%u", a->port);
  CHECK_STREQ(mu_tcp_server_ip_port(s), want);
  mu_inet_address_t bound;
  CHECK_EQ(mu_tcp_server_listen_address(s, &bound), 0);
  char ip[MU_INET_ADDRSTRLEN];
  CHECK_STREQ(mu_inet_address_to_ip(&bound, ip, sizeof ip), "127.0.0.1");
  CHECK_EQ(mu_inet_address_port(&bound), a->port);
  CHECK(mu_tcp_server_get_loop(s) == a->loop);
  CHECK_EQ(mu_tcp_server_connection_count(s), 0);

  mu_event_loop_thread_pool_t *pool = mu_tcp_server_thread_pool(s);
  CHECK(pool != NULL);
  CHECK(!mu_event_loop_thread_pool_started(pool));
  CHECK_EQ(mu_event_loop_thread_pool_thread_num(pool), a->threads);
  CHECK_EQ(mu_tcp_server_start(s), 0);
  CHECK(mu_tcp_server_thread_pool(s) == pool);
  CHECK(mu_event_loop_thread_pool_started(pool));
  mu_event_loop_t *const *loops =
      mu_event_loop_thread_pool_get_all_loops(pool, &v->nloops);
  CHECK(v->nloops >= 1 && v->nloops <= 4);
  for (size_t i = 0; i < v->nloops; ++i)
    v->loops[i] = loops[i];
}

static bool in_pool(const pool_view_t *v, mu_event_loop_t *loop) {
  for (size_t i = 0; i < v->nloops; ++i) {
    if (v->loops[i] == loop)
      return true;
  }
  return false;
}

/* Connects `n` clients one after another (each up before the next), so the
 * accept order is the connection id order; returns their sockets in fds. */
static void connect_in_order(api_t *a, int *fds, int n) {
  for (int i = 0; i < n; ++i) {
    fds[i] = tt_connect(a->port);
    CHECK(wait_atomic_at_least(&a->up, i + 1));
    CHECK_EQ(atomic_load(&a->up), i + 1);
  }
}

/* Closes fds[from..to) and waits until the server has `left` connections. */
static void close_and_wait(api_t *a, int *fds, int from, int to, size_t left) {
  for (int i = from; i < to; ++i)
    CHECK(close(fds[i]) == 0);
  CHECK(api_wait_connections(a, left));
}

static void check_accessors_and_pool(void) {
  api_t a;
  api_open(&a, "ApiServer", 2);
  pool_view_t v = {.a = &a};
  tt_run_sync(a.loop, check_accessors_in_loop, &v);
  CHECK_EQ(v.nloops, 2);
  CHECK(v.loops[0] != v.loops[1]);
  CHECK(v.loops[0] != a.loop && v.loops[1] != a.loop);
  CHECK_EQ(atomic_load(&a.inits), 2);

  enum { n = k_max_conns - 2 };
  int fds[n];
  connect_in_order(&a, fds, n);
  CHECK_EQ(api_connection_count(&a), n);
  for (int i = 0; i < n; ++i) {
    mu_event_loop_t *l = atomic_load(&a.conn_loop[i]);
    CHECK(in_pool(&v, l));
    if (i + 1 < n)
      CHECK(l != atomic_load(&a.conn_loop[i + 1]));
    if (i + 2 < n)
      CHECK(l == atomic_load(&a.conn_loop[i + 2]));
  }
  for (int i = 0; i < n; ++i) { /* each still served */
    tt_write_all(fds[i], "x", 1);
    char c;
    tt_read_exactly(fds[i], &c, 1);
  }
  close_and_wait(&a, fds, 0, n / 2, n - n / 2);
  close_and_wait(&a, fds, n / 2, n, 0);
  CHECK(wait_atomic_at_least(&a.down, n));
  CHECK_EQ(atomic_load(&a.down), n);
  api_close(&a);
  printf("accessors, round robin over 2 loops, connection_count: ok\n");
}

static void check_no_pool_threads(void) {
  api_t a;
  api_open(&a, "NoThreads", 0);
  pool_view_t v = {.a = &a};
  tt_run_sync(a.loop, check_accessors_in_loop, &v);
  CHECK_EQ(v.nloops, 1);
  CHECK(v.loops[0] == a.loop);
  CHECK_EQ(atomic_load(&a.inits), 1); /* run on the base loop */
  int fds[2];
  connect_in_order(&a, fds, 2);
  CHECK(atomic_load(&a.conn_loop[0]) == a.loop);
  CHECK(atomic_load(&a.conn_loop[1]) == a.loop);
  CHECK_EQ(api_connection_count(&a), 2);
  api_close(&a); /* frees the open connections too */
  CHECK_EQ(atomic_load(&a.down), 2);
  for (int i = 0; i < 2; ++i) {
    tt_expect_eof(fds[i]);
    CHECK(close(fds[i]) == 0);
  }
  printf("no pool threads: everything on the base loop: ok\n");
}

/* ---- the acceptor's tuning --------------------------------------------------- */

typedef struct accepted {
  int n;
  int64_t iteration[k_max_conns];
  mu_event_loop_t *loop;
} accepted_t;

static void on_accept(int fd, const mu_inet_address_t *peer, void *arg) {
  accepted_t *acc = arg;
  CHECK(mu_inet_address_port(peer) != 0);
  CHECK(acc->n < k_max_conns);
  acc->iteration[acc->n++] = mu_event_loop_iteration(acc->loop);
  CHECK(close(fd) == 0);
}

typedef struct want_count {
  accepted_t *acc;
  int n;
} want_count_t;

static bool accepted_enough(void *p) {
  want_count_t *w = p;
  return w->acc->n >= w->n;
}

/* Connections waiting in the listener's accept queue (Linux reports it as
 * tcpi_unacked for a listening socket). */
static unsigned accept_queue_length(int listen_fd) {
  struct tcp_info info;
  socklen_t len = sizeof info;
  memset(&info, 0, sizeof info);
  CHECK(getsockopt(listen_fd, IPPROTO_TCP, TCP_INFO, &info, &len) == 0);
  return info.tcpi_unacked;
}

static void wait_accept_queue(int listen_fd, unsigned want) {
  double deadline = tt_now() + 20.0;
  while (accept_queue_length(listen_fd) < want) {
    CHECK(tt_now() < deadline);
    tt_sleep_ms(1);
  }
}

enum { k_burst = 4 };

/* k_burst connections wait in the queue before the loop looks; returns the
 * number of distinct loop iterations that accepted them. */
static int accept_burst(mu_event_loop_t *loop, accepted_t *acc, int listen_fd,
                        uint16_t port) {
  acc->n = 0;
  int fds[k_burst];
  for (int i = 0; i < k_burst; ++i)
    fds[i] = tt_connect(port);
  wait_accept_queue(listen_fd, k_burst);
  want_count_t w = {acc, k_burst};
  CHECK(tt_loop_run_until(loop, accepted_enough, &w, 20.0));
  CHECK_EQ(acc->n, k_burst);
  int distinct = 1;
  for (int i = 1; i < k_burst; ++i) {
    CHECK(acc->iteration[i] >= acc->iteration[i - 1]);
    distinct += acc->iteration[i] != acc->iteration[i - 1];
  }
  for (int i = 0; i < k_burst; ++i) {
    tt_expect_eof(fds[i]);
    CHECK(close(fds[i]) == 0);
  }
  return distinct;
}

static void check_accept_budget(mu_event_loop_t *loop, mu_acceptor_t *a, uint16_t port) {
  int listen_fd = -1;
  CHECK_EQ(count_listeners(port, &listen_fd), 1);
  accepted_t acc = {.loop = loop};
  mu_acceptor_set_new_connection_callback(a, on_accept, &acc);
  /* The default budget (64) takes the whole burst in one wake-up... */
  CHECK_EQ(accept_burst(loop, &acc, listen_fd, port), 1);
  /* ...a budget of one takes one per wake-up; 0 and below mean 1. */
  mu_acceptor_set_accept_budget(a, 1);
  CHECK_EQ(accept_burst(loop, &acc, listen_fd, port), k_burst);
  mu_acceptor_set_accept_budget(a, 0);
  CHECK_EQ(accept_burst(loop, &acc, listen_fd, port), k_burst);
  mu_acceptor_set_accept_budget(a, 2);
  CHECK_EQ(accept_burst(loop, &acc, listen_fd, port), k_burst / 2);
  mu_acceptor_set_accept_budget(a, 64);
  CHECK_EQ(accept_burst(loop, &acc, listen_fd, port), 1);
  mu_acceptor_set_new_connection_callback(a, NULL, NULL);
  printf("accept budget: ok\n");
}

static bool pause_logged(void *p) {
  return atomic_load(&((tt_log_counter_t *)p)->hits) >= 1;
}

enum { k_fill = 64 };

/* Lowers the descriptor limit (the old one to *saved) and takes the free
 * descriptors still below it (tt_lower_fd_limit can leave some when open
 * descriptors lie above a gap), returned in fill: accept() must meet EMFILE. */
static int use_up_descriptors(struct rlimit *saved, int *fill) {
  tt_lower_fd_limit(saved, 0);
  int n = 0;
  for (int d; n < k_fill && (d = dup(0)) >= 0;)
    fill[n++] = d;
  CHECK(n < k_fill && errno == EMFILE);
  return n;
}

/* Out of descriptors, the listener pauses for the configured time (named in
 * the log line) and accepts the waiting connection once it resumes. */
static void exhaust_and_resume(mu_event_loop_t *loop, mu_acceptor_t *a, uint16_t port,
                               double pause, const char *needle) {
  accepted_t acc = {.loop = loop};
  mu_acceptor_set_new_connection_callback(a, on_accept, &acc);
  mu_acceptor_set_pause_on_exhaustion(a, pause);
  tt_log_counter_t log;
  tt_log_capture(&log, needle);
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CHECK(fd >= 0);
  tt_set_timeouts(fd, TT_IO_TIMEOUT_S);
  struct rlimit saved;
  int fill[k_fill];
  int nfill = use_up_descriptors(&saved, fill);
  struct sockaddr_in sa = tt_loopback(port);
  CHECK(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
  bool logged = tt_loop_run_until(loop, pause_logged, &log, 20.0);
  CHECK(setrlimit(RLIMIT_NOFILE, &saved) == 0);
  for (int i = 0; i < nfill; ++i)
    CHECK(close(fill[i]) == 0);
  CHECK(logged);
  CHECK_EQ(acc.n, 0);
  want_count_t w = {&acc, 1};
  CHECK(tt_loop_run_until(loop, accepted_enough, &w, 20.0));
  tt_log_restore();
  tt_expect_eof(fd);
  CHECK(close(fd) == 0);
  mu_acceptor_set_new_connection_callback(a, NULL, NULL);
}

/* Without a callback the acceptor closes what it accepts. */
static bool peer_saw_eof(void *p) {
  char c;
  return recv(*(int *)p, &c, 1, MSG_DONTWAIT) == 0;
}

static void check_acceptor(void) {
  mu_event_loop_t *loop = mu_event_loop_new();
  CHECK(loop != NULL);
  mu_inet_address_t addr = mu_inet_address_loopback(0);
  mu_acceptor_t *a = mu_acceptor_new(loop, &addr, false);
  CHECK(a != NULL);
  mu_inet_address_t bound;
  CHECK_EQ(mu_acceptor_local_address(a, &bound), 0);
  uint16_t port = mu_inet_address_port(&bound);
  CHECK(port != 0);
  CHECK(!mu_acceptor_listening(a));
  CHECK_EQ(mu_acceptor_listen(a), 0);
  CHECK(mu_acceptor_listening(a));
  CHECK_EQ(mu_acceptor_listen(a), 0); /* again: nothing changes */
  CHECK_EQ(count_listeners(port, NULL), 1);

  int fd = tt_connect(port);
  CHECK(tt_loop_run_until(loop, peer_saw_eof, &fd, 20.0));
  CHECK(close(fd) == 0);

  check_accept_budget(loop, a, port);
  exhaust_and_resume(loop, a, port, 0.05, "pausing the listener for 0.050 s");
  exhaust_and_resume(loop, a, port, 0.0, "pausing the listener for 0.001 s");
  exhaust_and_resume(loop, a, port, -1.0, "pausing the listener for 0.001 s");
  printf("pause on exhaustion: ok\n");
  mu_acceptor_free(a);
  mu_acceptor_free(NULL);
  mu_event_loop_free(loop);
}

int main(void) {
  tt_init("tcp_server_api", 240);
  mu_tcp_server_free(NULL); /* a no-op, like free(NULL) */
  check_acceptor();
  check_start_from_other_thread();
  check_start_from_four_threads();
  check_start_failure();
  check_accessors_and_pool();
  check_no_pool_threads();
  TEST_PASS("tcp_server_api");
}
