/* Helpers shared by the TCP integration tests (include after nothing else; it
 * pulls in test_util.h). Header-only, everything static inline, prefix tt_.
 *
 *   tt_init(name, seconds)        SIGPIPE back to SIG_DFL, time limit, banner
 *   tt_server_start/stop          a mu_tcp_server on 127.0.0.1:<ephemeral> run by
 *                                 a mu_event_loop_thread (its base loop)
 *   tt_server_new_loopback        a bound, not yet started mu_tcp_server on
 *                                 127.0.0.1:<ephemeral> in the caller's loop
 *   tt_server_shrink_sndbuf       small kernel send buffers for accepted sockets,
 *                                 so the server's output really queues up
 *   tt_run_sync(loop, fn, arg)    run fn in a loop thread and wait for it
 *   tt_loop_run_until/_run_for    run the caller's own loop until a predicate
 *                                 holds (bounded) or for a fixed time
 *   tt_connect, tt_write_all,     blocking client sockets with SO_RCVTIMEO /
 *   tt_read_exactly, ...          SO_SNDTIMEO; failures abort with a message
 *   tt_log_capture/_restore       count log lines containing a string
 *   tt_count_allocations,         count cmuduo's live heap blocks through its
 *   tt_live_blocks                allocator hooks (a leak check without ASan)
 *   tt_count_open_fds             descriptors open in this process
 *   tt_rng_*, tt_pattern_*        deterministic PRNG and position-keyed payloads
 *                                 (a receiver checks bytes without a copy)
 *   tt_raise_nofile               RLIMIT_NOFILE up to what is wanted/allowed
 *   tt_lower_fd_limit,            a process left N free descriptors, and a peer
 *   tt_fork_peer, tt_peer_status, process forked before it (the EMFILE tests)
 *   tt_peer_wait, tt_count_tick
 *   tt_put_be32, tt_get_be32      big-endian 32-bit fields of test protocols
 *   tt_conn_counters_t            up/down counts from a connection callback
 *   tt_echo_clients_run           one epoll thread driving N echo connections,
 *                                 every echoed byte checked
 *   TT_SANITIZER, TT_SANITIZED,   the build flavour, to scale sizes and to say so
 *   TT_TSAN
 *
 * Stability: other tests include this file; add to it, do not change what the
 * existing functions mean. */
#ifndef CMUDUO_TESTS_TCP_TEST_UTIL_H
#define CMUDUO_TESTS_TCP_TEST_UTIL_H

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>

#include "cmuduo/cmuduo.h"
#include "test_util.h"

/* ---- build flavour --------------------------------------------------------- */

/* GCC defines __SANITIZE_*__; clang answers __has_feature. Tests scale their
 * sizes down under sanitizers with TT_SANITIZED and say so in their output. */
#if defined(__SANITIZE_ADDRESS__)
#define TT_SANITIZER "address"
#elif defined(__SANITIZE_THREAD__)
#define TT_SANITIZER "thread"
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TT_SANITIZER "address"
#elif __has_feature(thread_sanitizer)
#define TT_SANITIZER "thread"
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define TT_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TT_TSAN 1
#endif
#endif
#ifndef TT_TSAN
#define TT_TSAN 0
#endif
#ifndef TT_SANITIZER
#define TT_SANITIZER "none"
#define TT_SANITIZED 0
#else
#define TT_SANITIZED 1
#endif

/* Blocking client sockets give up after this long: a stall fails with a message
 * well before the test's alarm would kill it silently. */
#define TT_IO_TIMEOUT_S 30

/* Every TCP test: the default SIGPIPE action (a stray write to a closed socket
 * would kill the test, which is what we want to catch), a hard time limit,
 * unbuffered stdout so a killed test still shows its progress. */
static inline void tt_init(const char *name, unsigned seconds) {
  signal(SIGPIPE, SIG_DFL);
  setvbuf(stdout, NULL, _IONBF, 0);
  test_time_limit(seconds);
  const char *poller = getenv("MU_POLLER");
  printf("%s: sanitizer=%s poller=%s limit=%us\n", name, TT_SANITIZER,
         poller ? poller : "epoll", seconds);
}

/* Monotonic seconds. */
static inline double tt_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline void tt_sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

/* ---- deterministic randomness ---------------------------------------------- */

/* splitmix64's finaliser: a good 64-bit mix, also used to key payload bytes. */
static inline uint64_t tt_mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

typedef struct tt_rng {
  uint64_t state;
} tt_rng_t;

static inline tt_rng_t tt_rng_make(uint64_t seed) {
  return (tt_rng_t){seed};
}
static inline uint64_t tt_rng_next(tt_rng_t *r) {
  r->state += 0x9e3779b97f4a7c15ULL;
  return tt_mix64(r->state);
}
/* Uniform-enough in [lo, hi] (inclusive); the modulo bias is irrelevant here. */
static inline uint64_t tt_rng_range(tt_rng_t *r, uint64_t lo, uint64_t hi) {
  return lo + tt_rng_next(r) % (hi - lo + 1);
}

/* The seed: $TT_SEED if set (to replay a failure), else `fallback`. Printed. */
static inline uint64_t tt_seed(uint64_t fallback) {
  const char *env = getenv("TT_SEED");
  uint64_t seed = env ? strtoull(env, NULL, 0) : fallback;
  printf("seed=%" PRIu64 " (set TT_SEED to replay)\n", seed);
  return seed;
}

/* Payload byte `off` of stream `stream`: any receiver can check any slice of a
 * stream without the sender's copy. */
static inline uint8_t tt_pattern_byte(uint64_t stream, uint64_t off) {
  return (uint8_t)(tt_mix64(stream * 0x9e3779b97f4a7c15ULL + (off >> 3)) >>
                   ((off & 7) * 8));
}

static inline void tt_pattern_fill(uint64_t stream, uint64_t off, void *buf, size_t len) {
  uint8_t *p = buf;
  size_t i = 0;
  while (i < len && ((off + i) & 7) != 0) {
    p[i] = tt_pattern_byte(stream, off + i);
    ++i;
  }
  for (; i + 8 <= len; i += 8) {
    uint64_t w = tt_mix64(stream * 0x9e3779b97f4a7c15ULL + ((off + i) >> 3));
    for (int k = 0; k < 8; ++k)
      p[i + (size_t)k] = (uint8_t)(w >> (k * 8));
  }
  for (; i < len; ++i)
    p[i] = tt_pattern_byte(stream, off + i);
}

/* Index of the first byte of buf that differs from the stream at `off`, or len. */
static inline size_t tt_pattern_check(uint64_t stream, uint64_t off, const void *buf,
                                      size_t len) {
  const uint8_t *p = buf;
  uint8_t want[4096];
  for (size_t done = 0; done < len;) {
    size_t n = len - done < sizeof want ? len - done : sizeof want;
    tt_pattern_fill(stream, off + done, want, n);
    if (memcmp(p + done, want, n) != 0) {
      for (size_t i = 0; i < n; ++i) {
        if (p[done + i] != want[i])
          return done + i;
      }
    }
    done += n;
  }
  return len;
}

/* FNV-1a, chained: h = tt_fnv1a64(h, ...) starting from TT_FNV_INIT. */
#define TT_FNV_INIT 0xcbf29ce484222325ULL
static inline uint64_t tt_fnv1a64(uint64_t h, const void *buf, size_t len) {
  const uint8_t *p = buf;
  for (size_t i = 0; i < len; ++i)
    h = (h ^ p[i]) * 0x100000001b3ULL;
  return h;
}

/* ---- resources ------------------------------------------------------------- */

/* Raises RLIMIT_NOFILE's soft limit to `want` (and the hard one if we are
 * allowed to); returns the soft limit now in force. */
static inline rlim_t tt_raise_nofile(rlim_t want) {
  struct rlimit rl;
  CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0);
  if (rl.rlim_cur >= want)
    return rl.rlim_cur;
  if (rl.rlim_max < want) {
    struct rlimit more = {want, want};
    if (setrlimit(RLIMIT_NOFILE, &more) == 0)
      return want;
  }
  rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
  CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0);
  return rl.rlim_cur;
}

static inline int tt_int_cmp(const void *a, const void *b) {
  int x = *(const int *)a, y = *(const int *)b;
  return (x > y) - (x < y);
}

/* Leaves the process exactly `free_fds` free descriptors: the soft limit is
 * set past the lowest free one, plus the open ones that then fall below it
 * (an open descriptor at or past the new limit takes no slot under it). The
 * old limit goes to *saved (setrlimit it back to free descriptors again). */
static inline void tt_lower_fd_limit(struct rlimit *saved, int free_fds) {
  enum { k_max_open = 4096 };
  static int open_fds[k_max_open]; /* test code, one caller at a time */
  CHECK(getrlimit(RLIMIT_NOFILE, saved) == 0);
  int lowest = dup(0);
  CHECK(lowest >= 0);
  close(lowest);
  int n = 0;
  DIR *d = opendir("/proc/self/fd");
  CHECK(d != NULL);
  for (struct dirent *e; (e = readdir(d)) != NULL;) {
    if (e->d_name[0] != '.' && atoi(e->d_name) > lowest) {
      CHECK(n < k_max_open);
      open_fds[n++] = atoi(e->d_name);
    }
  }
  closedir(d); /* the directory's own fd was `lowest` */
  qsort(open_fds, (size_t)n, sizeof open_fds[0], tt_int_cmp);
  int limit = lowest + free_fds; /* slots [lowest, limit): free_fds free so far */
  for (int i = 0; i < n && open_fds[i] < limit; ++i)
    limit++; /* that open one took a slot: one more to keep free_fds free */
  struct rlimit low = *saved;
  low.rlim_cur = (rlim_t)limit;
  CHECK(low.rlim_cur < saved->rlim_cur);
  CHECK(setrlimit(RLIMIT_NOFILE, &low) == 0);
}

/* Forks a peer process that runs child(cmd_fd, status_fd) and must _exit: it
 * reads commands from cmd_fd and writes status bytes to status_fd. Fork it
 * before any thread and before the descriptor limit is lowered, so its own
 * sockets do not count against the parent's budget. The parent gets the
 * command pipe's write end in *cmd_w and the status pipe's read end, made
 * non-blocking, in *status_r. */
static inline pid_t tt_fork_peer(void (*child)(int cmd_fd, int status_fd), int *cmd_w,
                                 int *status_r) {
  fflush(NULL); /* nothing buffered is written twice */
  int cmd[2], status[2];
  CHECK(pipe(cmd) == 0 && pipe(status) == 0);
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    close(cmd[1]);
    close(status[0]);
    child(cmd[0], status[1]);
    _exit(10); /* child must not return */
  }
  close(cmd[0]);
  close(status[1]);
  CHECK(fcntl(status[0], F_SETFL, O_NONBLOCK) == 0);
  *cmd_w = cmd[1];
  *status_r = status[0];
  return pid;
}

/* Reads every status byte the peer has written so far from the non-blocking
 * status_fd; the last one goes to *last. */
static inline void tt_peer_status(int status_fd, char *last) {
  char c;
  while (read(status_fd, &c, 1) == 1)
    *last = c;
}

/* A timer callback counting its runs into the int at `counter`: shows that a
 * loop kept running its timers. */
static inline void tt_count_tick(void *counter) {
  ++*(int *)counter;
}

/* Reaps the peer, which must have exited with status 0. */
static inline void tt_peer_wait(pid_t pid) {
  int wstatus = 0;
  CHECK(waitpid(pid, &wstatus, 0) == pid);
  CHECK(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0);
}

/* ---- big-endian fields ------------------------------------------------------ */

static inline void tt_put_be32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

static inline uint32_t tt_get_be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* ---- running code in a loop thread ----------------------------------------- */

typedef struct tt_sync_call {
  void (*fn)(void *);
  void *arg;
  mu_countdown_latch_t done;
} tt_sync_call_t;

static inline void tt_sync_trampoline(void *p) {
  tt_sync_call_t *c = p;
  c->fn(c->arg);
  mu_countdown_latch_count_down(&c->done);
}

/* Runs fn(arg) in `loop`'s thread and returns once it has run (in that thread
 * itself, run_in_loop calls fn at once). */
static inline void tt_run_sync(mu_event_loop_t *loop, void (*fn)(void *), void *arg) {
  tt_sync_call_t c;
  c.fn = fn;
  c.arg = arg;
  mu_countdown_latch_init(&c.done, 1);
  CHECK_EQ(mu_event_loop_run_in_loop(loop, tt_sync_trampoline, &c), 0);
  mu_countdown_latch_wait(&c.done);
  mu_countdown_latch_destroy(&c.done);
}

/* ---- running the caller's own loop ------------------------------------------ */

typedef bool (*tt_pred_fn)(void *arg);

typedef struct tt_loop_wait {
  mu_event_loop_t *loop;
  tt_pred_fn pred;
  void *arg;
  double deadline;
  bool met;
} tt_loop_wait_t;

static inline void tt_loop_wait_tick(void *p) {
  tt_loop_wait_t *w = p;
  if (w->pred(w->arg)) {
    w->met = true;
    mu_event_loop_quit(w->loop);
  } else if (tt_now() > w->deadline) {
    mu_event_loop_quit(w->loop);
  }
}

/* Runs `loop` (owned by the calling thread) until pred(arg) holds, checked
 * every 5 ms, or `seconds` pass. Returns whether it held: the caller CHECKs. */
static inline bool tt_loop_run_until(mu_event_loop_t *loop, tt_pred_fn pred, void *arg,
                                     double seconds) {
  tt_loop_wait_t w = {loop, pred, arg, tt_now() + seconds, false};
  if (pred(arg))
    return true;
  mu_timer_id_t id = mu_event_loop_run_every(loop, 0.005, tt_loop_wait_tick, &w);
  CHECK(mu_timer_id_valid(id));
  mu_event_loop_loop(loop);
  mu_event_loop_cancel(loop, id);
  return w.met;
}

static inline void tt_loop_quit(void *loop) {
  mu_event_loop_quit(loop);
}

/* Runs the loop for `seconds` whatever happens, waking it for nothing else (so
 * mu_event_loop_iteration counts only the loop's own wake-ups). */
static inline void tt_loop_run_for(mu_event_loop_t *loop, double seconds) {
  mu_timer_id_t id = mu_event_loop_run_after(loop, seconds, tt_loop_quit, loop);
  CHECK(mu_timer_id_valid(id));
  mu_event_loop_loop(loop);
  mu_event_loop_cancel(loop, id);
}

/* ---- a server in a loop thread --------------------------------------------- */

/* Called in the server's base loop thread after new() and before start(): set
 * callbacks, the I/O thread count is already set. */
typedef void (*tt_server_setup_fn)(mu_tcp_server_t *server, void *arg);

typedef struct tt_server {
  mu_event_loop_thread_t *thread;
  mu_event_loop_t *loop; /* the base loop (acceptor, server bookkeeping) */
  mu_tcp_server_t *server;
  uint16_t port;
  /* for the start call */
  const char *name;
  int io_threads;
  tt_server_setup_fn setup;
  void *setup_arg;
} tt_server_t;

/* muduo's EchoServer: everything received goes straight back. */
static inline void tt_echo_on_message(mu_tcp_connection_t *conn, mu_buffer_t *buf,
                                      mu_timestamp_t t, void *arg) {
  (void)t;
  (void)arg;
  mu_tcp_connection_send_buffer(conn, buf);
}

static inline void tt_server_start_in_loop(void *p) {
  tt_server_t *s = p;
  mu_inet_address_t addr = mu_inet_address_loopback(0);
  s->server = mu_tcp_server_new(s->loop, &addr, s->name, 0);
  CHECK(s->server != NULL);
  mu_tcp_server_set_thread_num(s->server, s->io_threads);
  if (s->setup != NULL) {
    s->setup(s->server, s->setup_arg);
  } else {
    mu_tcp_server_set_message_callback(s->server, tt_echo_on_message, NULL);
  }
  CHECK_EQ(mu_tcp_server_start(s->server), 0);
  mu_inet_address_t bound;
  CHECK_EQ(mu_tcp_server_listen_address(s->server, &bound), 0);
  s->port = mu_inet_address_port(&bound);
  CHECK(s->port != 0);
}

/* Starts a server on 127.0.0.1 with an ephemeral port (s->port) and
 * `io_threads` I/O threads; `setup` NULL makes it an echo server. */
static inline void tt_server_start(tt_server_t *s, const char *name, int io_threads,
                                   tt_server_setup_fn setup, void *arg) {
  memset(s, 0, sizeof *s);
  s->name = name;
  s->io_threads = io_threads;
  s->setup = setup;
  s->setup_arg = arg;
  s->thread = mu_event_loop_thread_new(NULL, NULL, "tt-server");
  CHECK(s->thread != NULL);
  s->loop = mu_event_loop_thread_start_loop(s->thread);
  CHECK(s->loop != NULL);
  tt_run_sync(s->loop, tt_server_start_in_loop, s);
}

typedef struct tt_count_call {
  tt_server_t *s;
  size_t n;
} tt_count_call_t;

static inline void tt_server_count_in_loop(void *p) {
  tt_count_call_t *c = p;
  c->n = mu_tcp_server_connection_count(c->s->server);
}

/* The server's open connections, asked in its base loop. */
static inline size_t tt_server_connection_count(tt_server_t *s) {
  tt_count_call_t c = {s, 0};
  tt_run_sync(s->loop, tt_server_count_in_loop, &c);
  return c.n;
}

/* Waits (bounded by `seconds`) until the server has `want` connections; closing
 * is asynchronous, so a test asks this instead of sleeping. Returns the last
 * count seen: the caller CHECKs it. */
static inline size_t tt_server_wait_connections(tt_server_t *s, size_t want,
                                                double seconds) {
  double deadline = tt_now() + seconds;
  size_t n;
  while ((n = tt_server_connection_count(s)) != want && tt_now() < deadline) {
    tt_sleep_ms(5);
  }
  return n;
}

static inline void tt_server_free_in_loop(void *p) {
  tt_server_t *s = p;
  mu_tcp_server_free(s->server);
  s->server = NULL;
}

/* Frees the server in its loop (open connections get their down callback),
 * then stops and joins the loop thread. */
static inline void tt_server_stop(tt_server_t *s) {
  tt_run_sync(s->loop, tt_server_free_in_loop, s);
  mu_event_loop_thread_free(s->thread);
  s->thread = NULL;
  s->loop = NULL;
}

/* For tests that run the loop themselves (in the calling thread): a server
 * bound to 127.0.0.1 with a kernel-chosen port, written to *port, with
 * `threads` I/O threads and no callbacks yet. Not started: the caller sets its
 * callbacks, then calls mu_tcp_server_start. */
static inline mu_tcp_server_t *tt_server_new_loopback(mu_event_loop_t *loop, int threads,
                                                      const char *name, uint16_t *port) {
  mu_inet_address_t addr = mu_inet_address_loopback(0);
  mu_tcp_server_t *s = mu_tcp_server_new(loop, &addr, name, 0);
  CHECK(s != NULL);
  mu_tcp_server_set_thread_num(s, threads);
  mu_inet_address_t bound;
  CHECK_EQ(mu_tcp_server_listen_address(s, &bound), 0);
  *port = mu_inet_address_port(&bound);
  CHECK(*port != 0);
  return s;
}

/* Whether fd is a listening IPv4 socket bound to `port`. */
static inline bool tt_fd_listens_on(int fd, uint16_t port) {
  int listening = 0;
  socklen_t len = sizeof listening;
  struct sockaddr_in sa;
  socklen_t salen = sizeof sa;
  return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == 0 && listening &&
         getsockname(fd, (struct sockaddr *)&sa, &salen) == 0 &&
         sa.sin_family == AF_INET && ntohs(sa.sin_port) == port;
}

/* Sets SO_SNDBUF on the server's listening socket, which every socket it
 * accepts from then on inherits: with a few KiB of kernel buffer, the server's
 * output backs up (partial writes, queued output, write-readiness events)
 * after a few KiB instead of the megabytes Linux autotunes to. The listener is
 * private to the library, so it is found among our descriptors by its port. */
static inline void tt_server_shrink_sndbuf(tt_server_t *s, int bytes) {
  DIR *dir = opendir("/proc/self/fd");
  CHECK(dir != NULL);
  int found = 0;
  struct dirent *de;
  while ((de = readdir(dir)) != NULL) {
    int fd = atoi(de->d_name);
    if (de->d_name[0] == '.' || fd == dirfd(dir) || !tt_fd_listens_on(fd, s->port))
      continue;
    CHECK(setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes) == 0);
    ++found;
  }
  closedir(dir);
  CHECK_EQ(found, 1);
}

/* Connection callback counters: up/down seen, for "down exactly once" checks. */
typedef struct tt_conn_counters {
  _Atomic long up;
  _Atomic long down;
} tt_conn_counters_t;

static inline void tt_count_connection(mu_tcp_connection_t *conn, void *arg) {
  tt_conn_counters_t *c = arg;
  if (mu_tcp_connection_connected(conn)) {
    atomic_fetch_add(&c->up, 1);
  } else {
    atomic_fetch_add(&c->down, 1);
  }
}

/* ---- blocking client sockets ----------------------------------------------- */

static inline void tt_set_timeouts(int fd, double seconds) {
  struct timeval tv = {(time_t)seconds,
                       (suseconds_t)((seconds - (double)(time_t)seconds) * 1e6)};
  CHECK(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0);
  CHECK(setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) == 0);
}

static inline struct sockaddr_in tt_loopback(uint16_t port) {
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return sa;
}

/* A connected blocking socket to 127.0.0.1:port whose reads and writes time
 * out after `seconds` (a missing end of file fails instead of hanging); its
 * SO_RCVBUF is set before connecting when rcvbuf > 0 (a slow reader). */
static inline int tt_connect_timeout(uint16_t port, double seconds, int rcvbuf) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CHECK(fd >= 0);
  tt_set_timeouts(fd, seconds);
  if (rcvbuf > 0) {
    CHECK(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf) == 0);
  }
  struct sockaddr_in sa = tt_loopback(port);
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    fprintf(stderr, "connect to 127.0.0.1:%u: %s\n", port, strerror(errno));
    abort();
  }
  return fd;
}

/* A connected blocking socket to 127.0.0.1:port with TT_IO_TIMEOUT_S timeouts. */
static inline int tt_connect(uint16_t port) {
  return tt_connect_timeout(port, TT_IO_TIMEOUT_S, 0);
}

/* A non-blocking socket whose connect to 127.0.0.1:port is under way (or
 * done), its SO_RCVBUF set first when rcvbuf > 0 (a fixed, small window makes
 * the server's output back up); -errno if the socket or the connect failed. */
static inline int tt_connect_nonblocking_rcvbuf(uint16_t port, int rcvbuf) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return -errno;
  }
  if (rcvbuf > 0) {
    CHECK(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf) == 0);
  }
  struct sockaddr_in sa = tt_loopback(port);
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0 && errno != EINPROGRESS) {
    int err = errno;
    close(fd);
    return -err;
  }
  return fd;
}

static inline int tt_connect_nonblocking(uint16_t port) {
  return tt_connect_nonblocking_rcvbuf(port, 0);
}

static inline void tt_write_all(int fd, const void *buf, size_t len) {
  const char *p = buf;
  size_t done = 0;
  while (done < len) {
    ssize_t n = send(fd, p + done, len - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      fprintf(stderr, "write_all fd %d: %zu of %zu bytes written: %s\n", fd, done, len,
              n < 0 ? strerror(errno) : "wrote 0");
      abort();
    }
    done += (size_t)n;
  }
}

/* > 0 bytes read, 0 at end of file, or -errno (-EAGAIN on timeout). */
static inline ssize_t tt_read_some(int fd, void *buf, size_t len) {
  for (;;) {
    ssize_t n = recv(fd, buf, len, 0);
    if (n >= 0)
      return n;
    if (errno != EINTR)
      return -errno;
  }
}

static inline void tt_read_exactly(int fd, void *buf, size_t len) {
  char *p = buf;
  size_t done = 0;
  while (done < len) {
    ssize_t n = tt_read_some(fd, p + done, len - done);
    if (n <= 0) {
      fprintf(stderr, "read_exactly fd %d: %zu of %zu bytes read: %s\n", fd, done, len,
              n == 0 ? "end of file" : strerror((int)-n));
      abort();
    }
    done += (size_t)n;
  }
}

/* Reads until end of file. Returns the byte count (the first `cap` bytes land
 * in buf, the rest is counted and dropped), or -errno: -EAGAIN when no end of
 * file came within the socket's timeout, -ECONNRESET when the peer reset. */
static inline long tt_read_until_eof(int fd, char *buf, size_t cap) {
  char sink[16384];
  long total = 0;
  for (;;) {
    size_t off = (size_t)total;
    char *dst = off < cap ? buf + off : sink;
    size_t room = off < cap ? cap - off : sizeof sink;
    ssize_t n = tt_read_some(fd, dst, room);
    if (n <= 0)
      return n == 0 ? total : (long)n;
    total += n;
  }
}

/* The peer must have closed its side with nothing more to read. */
static inline void tt_expect_eof(int fd) {
  char c;
  ssize_t n = tt_read_some(fd, &c, 1);
  if (n != 0) {
    fprintf(stderr, "expected end of file on fd %d, got %zd (%s)\n", fd, n,
            n < 0 ? strerror((int)-n) : "data");
    abort();
  }
}

/* Closes with SO_LINGER {1, 0}: the kernel sends RST instead of FIN. */
static inline void tt_close_with_rst(int fd) {
  struct linger lg = {1, 0};
  CHECK(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) == 0);
  CHECK(close(fd) == 0);
}

/* Shrinks the socket's kernel buffers so output backs up after little data. */
static inline void tt_set_small_buffers(int fd, int bytes) {
  CHECK(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes) == 0);
  CHECK(setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes) == 0);
}

/* ---- log capture -------------------------------------------------------------- */

/* Counts log lines containing `needle` (from any thread) and passes every line
 * on to stderr so a failure still shows the log. */
typedef struct tt_log_counter {
  const char *needle;
  _Atomic int hits;
  _Atomic int lines;
} tt_log_counter_t;

static inline void tt_log_output(const char *line, size_t len, void *arg) {
  tt_log_counter_t *c = arg;
  atomic_fetch_add(&c->lines, 1);
  if (c->needle != NULL && memmem(line, len, c->needle, strlen(c->needle)) != NULL) {
    atomic_fetch_add(&c->hits, 1);
  }
  fwrite(line, 1, len, stderr);
}

static inline void tt_log_capture(tt_log_counter_t *c, const char *needle) {
  c->needle = needle;
  atomic_store(&c->hits, 0);
  atomic_store(&c->lines, 0);
  mu_log_set_output(tt_log_output, c);
}

static inline void tt_log_restore(void) {
  mu_log_set_output(NULL, NULL);
}

/* ---- allocation accounting ---------------------------------------------------- */

/* Blocks cmuduo holds right now, counted through its allocator hooks: a
 * scenario that frees everything it made must bring this back to where it was
 * (a leak check that also works without ASan). */
static _Atomic long tt_alloc_live;

static inline void *tt_alloc_malloc(size_t n) {
  void *p = malloc(n);
  if (p != NULL)
    atomic_fetch_add(&tt_alloc_live, 1);
  return p;
}
static inline void *tt_alloc_realloc(void *old, size_t n) {
  void *p = realloc(old, n);
  if (p != NULL && old == NULL)
    atomic_fetch_add(&tt_alloc_live, 1);
  return p;
}
static inline void tt_alloc_free(void *p) {
  if (p != NULL)
    atomic_fetch_sub(&tt_alloc_live, 1);
  free(p);
}

/* Call first in main, before any other cmuduo call. */
static inline void tt_count_allocations(void) {
  static const mu_allocator_t k_counting = {tt_alloc_malloc, tt_alloc_realloc,
                                            tt_alloc_free};
  mu_set_allocator(&k_counting);
}

static inline long tt_live_blocks(void) {
  return atomic_load(&tt_alloc_live);
}

/* ---- descriptors -------------------------------------------------------------- */

static inline int tt_count_open_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  CHECK(d != NULL);
  int n = 0;
  for (struct dirent *e; (e = readdir(d)) != NULL;) {
    if (e->d_name[0] != '.')
      n++;
  }
  closedir(d);
  return n - 1; /* the directory's own descriptor */
}

/* ---- an epoll client driving many echo connections -------------------------- */

/* One thread, non-blocking sockets, level-triggered epoll. Connection i sends
 * stream tt_mix64(seed + i) (size log-uniform in [min_size, max_size], written
 * in chunks log-uniform in [1, max_chunk]) and checks every echoed byte as it
 * arrives. Any error, mismatch, extra byte or early end of file aborts with the
 * connection's index and offset; so does TT_IO_TIMEOUT_S without progress. */
typedef struct tt_echo_plan {
  uint16_t port;
  int conns;
  uint64_t seed;
  size_t min_size, max_size;
  size_t max_chunk;
  /* Connect all before any byte is sent: every connection is open at once.
   * Needs max_pending 0. */
  bool connect_all_first;
  /* Connections connecting or awaiting their echo at once (0: no limit): keeps
   * the listen backlog from overflowing with thousands of connects. */
  int max_pending;
  /* After its echo: shutdown(SHUT_WR), then expect end of file with no extra
   * byte (the server's half-close path), then close. */
  bool verify_eof;
  /* Keep echoed connections open until all are; then call on_all_echoed and
   * close them all. Not with verify_eof. */
  bool hold_open;
  void (*on_all_echoed)(void *arg);
  void *arg;
  /* SO_RCVBUF of the client sockets (0: the kernel's, which autotunes to
   * megabytes, so the server's output seldom backs up). */
  int rcvbuf;
  /* Each read takes log-uniform [1, max_read] bytes (0: 64 KiB): a slow
   * reader, so the server meets partial writes and queued output. */
  size_t max_read;
} tt_echo_plan_t;

typedef struct tt_echo_result {
  uint64_t bytes; /* echoed bytes, all connections */
  int max_open;   /* most sockets open at once */
  double seconds;
} tt_echo_result_t;

typedef struct tt_echo_conn {
  int fd;
  int state; /* 0 idle, 1 connecting, 2 transferring, 3 awaiting eof, 4 held, 5 closed */
  bool watched;
  uint32_t events;
  uint64_t stream;
  size_t size, sent, recvd;
} tt_echo_conn_t;

/* Log-uniform in [lo, hi]: small and large sizes are equally common. */
static inline size_t tt_rng_log_size(tt_rng_t *r, size_t lo, size_t hi) {
  if (lo >= hi)
    return lo;
  double a = log((double)lo), b = log((double)hi + 1);
  double u = (double)(tt_rng_next(r) >> 11) / 9007199254740992.0;
  size_t v = (size_t)exp(a + (b - a) * u);
  return v < lo ? lo : v > hi ? hi : v;
}

static inline void tt_echo_watch(int ep, tt_echo_conn_t *c, int i, uint32_t events) {
  if (c->watched && c->events == events)
    return;
  struct epoll_event ev = {.events = events, .data.u32 = (uint32_t)i};
  CHECK(epoll_ctl(ep, c->watched ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c->fd, &ev) == 0);
  c->watched = true;
  c->events = events;
}

static inline void tt_echo_fail(const tt_echo_plan_t *p, int i, const tt_echo_conn_t *c,
                                const char *what) {
  fprintf(stderr,
          "echo conn %d of %d (size %zu, sent %zu, echoed %zu, seed %" PRIu64 "): %s\n",
          i, p->conns, c->size, c->sent, c->recvd, p->seed, what);
  abort();
}

static inline void tt_echo_close(tt_echo_conn_t *c, int *open) {
  CHECK(close(c->fd) == 0);
  c->fd = -1;
  c->state = 5;
  --*open;
}

typedef struct tt_echo_run {
  const tt_echo_plan_t *p;
  tt_echo_conn_t *c;
  int ep, open, next, pending, connected, finished;
  tt_rng_t rng;
  char *scratch;
  uint64_t bytes;
  tt_echo_result_t *out;
} tt_echo_run_t;

static inline void tt_echo_start_more(tt_echo_run_t *r) {
  const tt_echo_plan_t *p = r->p;
  while (r->next < p->conns && (p->max_pending == 0 || r->pending < p->max_pending)) {
    tt_echo_conn_t *c = &r->c[r->next];
    c->fd = tt_connect_nonblocking_rcvbuf(p->port, p->rcvbuf);
    if (c->fd < 0)
      tt_echo_fail(p, r->next, c, strerror(-c->fd));
    c->state = 1;
    tt_echo_watch(r->ep, c, r->next, EPOLLOUT);
    ++r->next;
    ++r->pending;
    if (++r->open > r->out->max_open)
      r->out->max_open = r->open;
  }
}

/* Sends the next chunk; once all is sent only input matters. */
static inline void tt_echo_send(tt_echo_run_t *r, int i) {
  tt_echo_conn_t *c = &r->c[i];
  size_t n = tt_rng_log_size(&r->rng, 1, r->p->max_chunk);
  if (n > c->size - c->sent)
    n = c->size - c->sent;
  tt_pattern_fill(c->stream, c->sent, r->scratch, n);
  ssize_t w = send(c->fd, r->scratch, n, MSG_NOSIGNAL);
  if (w < 0 && (errno == EAGAIN || errno == EINTR))
    return;
  if (w <= 0)
    tt_echo_fail(r->p, i, c, w < 0 ? strerror(errno) : "send returned 0");
  c->sent += (size_t)w;
  if (c->sent == c->size)
    tt_echo_watch(r->ep, c, i, EPOLLIN);
}

static inline void tt_echo_done(tt_echo_run_t *r, int i) {
  tt_echo_conn_t *c = &r->c[i];
  --r->pending;
  if (r->p->verify_eof) {
    CHECK(shutdown(c->fd, SHUT_WR) == 0);
    c->state = 3;
  } else if (r->p->hold_open) {
    CHECK(epoll_ctl(r->ep, EPOLL_CTL_DEL, c->fd, NULL) == 0);
    c->state = 4;
    ++r->finished;
  } else {
    tt_echo_close(c, &r->open);
    ++r->finished;
  }
}

static inline void tt_echo_recv(tt_echo_run_t *r, int i) {
  tt_echo_conn_t *c = &r->c[i];
  char buf[65536];
  size_t want = sizeof buf;
  if (r->p->max_read != 0 && r->p->max_read < want) {
    want = tt_rng_log_size(&r->rng, 1, r->p->max_read);
  }
  ssize_t n = recv(c->fd, buf, want, 0);
  if (n < 0 && (errno == EAGAIN || errno == EINTR))
    return;
  if (n < 0)
    tt_echo_fail(r->p, i, c, strerror(errno));
  if (c->state == 3) {
    if (n > 0)
      tt_echo_fail(r->p, i, c, "bytes after the echo");
    tt_echo_close(c, &r->open); /* end of file: the server finished its close */
    ++r->finished;
    return;
  }
  if (n == 0)
    tt_echo_fail(r->p, i, c, "end of file before the whole echo");
  if ((size_t)n > c->size - c->recvd)
    tt_echo_fail(r->p, i, c, "more bytes than sent");
  size_t bad = tt_pattern_check(c->stream, c->recvd, buf, (size_t)n);
  if (bad != (size_t)n) {
    char what[96];
    snprintf(what, sizeof what, "wrong byte at offset %zu", c->recvd + bad);
    tt_echo_fail(r->p, i, c, what);
  }
  c->recvd += (size_t)n;
  r->bytes += (uint64_t)n;
  if (c->recvd == c->size)
    tt_echo_done(r, i);
}

static inline void tt_echo_connected(tt_echo_run_t *r, int i) {
  tt_echo_conn_t *c = &r->c[i];
  int err = 0;
  socklen_t len = sizeof err;
  CHECK(getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0);
  if (err != 0)
    tt_echo_fail(r->p, i, c, strerror(err));
  c->state = 2;
  ++r->connected;
  if (r->p->connect_all_first) {
    /* Parked until all are up (an error or hang-up is still reported). */
    tt_echo_watch(r->ep, c, i, 0);
    if (r->connected == r->p->conns) {
      for (int k = 0; k < r->p->conns; ++k) {
        tt_echo_watch(r->ep, &r->c[k], k, EPOLLIN | EPOLLOUT);
      }
    }
  } else {
    tt_echo_watch(r->ep, c, i, EPOLLIN | EPOLLOUT);
  }
}

static inline void tt_echo_event(tt_echo_run_t *r, int i, uint32_t ev) {
  tt_echo_conn_t *c = &r->c[i];
  if (c->state == 1) {
    tt_echo_connected(r, i);
    return;
  }
  if ((ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) && c->state >= 2)
    tt_echo_recv(r, i);
  if ((ev & EPOLLOUT) && c->state == 2 && c->sent < c->size)
    tt_echo_send(r, i);
}

static inline void tt_echo_clients_run(const tt_echo_plan_t *p, tt_echo_result_t *out) {
  CHECK(!(p->connect_all_first && p->max_pending != 0));
  CHECK(!(p->hold_open && p->verify_eof));
  CHECK(p->conns > 0 && p->min_size >= 1 && p->min_size <= p->max_size &&
        p->max_chunk >= 1);
  memset(out, 0, sizeof *out);
  tt_echo_run_t r = {.p = p, .out = out, .rng = tt_rng_make(p->seed ^ 0x5eedULL)};
  r.c = calloc((size_t)p->conns, sizeof *r.c);
  r.scratch = malloc(p->max_chunk);
  CHECK(r.c != NULL && r.scratch != NULL);
  for (int i = 0; i < p->conns; ++i) {
    r.c[i].fd = -1;
    r.c[i].stream = tt_mix64(p->seed + (uint64_t)i);
    r.c[i].size = tt_rng_log_size(&r.rng, p->min_size, p->max_size);
  }
  /* The extremes always occur when there is room for them. */
  if (p->conns >= 2) {
    r.c[0].size = p->min_size;
    r.c[p->conns - 1].size = p->max_size;
  }
  r.ep = epoll_create1(EPOLL_CLOEXEC);
  CHECK(r.ep >= 0);
  double start = tt_now(), last_progress = start;
  struct epoll_event evs[256];
  while (r.finished < p->conns) {
    tt_echo_start_more(&r);
    int n = epoll_wait(r.ep, evs, 256, 1000);
    if (n < 0 && errno == EINTR)
      continue;
    CHECK(n >= 0);
    for (int k = 0; k < n; ++k)
      tt_echo_event(&r, (int)evs[k].data.u32, evs[k].events);
    double now = tt_now();
    if (n > 0)
      last_progress = now;
    if (now - last_progress > TT_IO_TIMEOUT_S) {
      for (int i = 0; i < p->conns; ++i) {
        if (r.c[i].state != 5 && r.c[i].state != 4) {
          tt_echo_fail(p, i, &r.c[i], "no progress (state stuck)");
        }
      }
    }
  }
  if (p->hold_open) {
    if (p->on_all_echoed)
      p->on_all_echoed(p->arg);
    for (int i = 0; i < p->conns; ++i) {
      if (r.c[i].fd >= 0)
        tt_echo_close(&r.c[i], &r.open);
    }
  }
  CHECK_EQ(r.open, 0);
  close(r.ep);
  free(r.scratch);
  free(r.c);
  out->bytes = r.bytes;
  out->seconds = tt_now() - start;
}

#endif
