/* Helpers for the TCP lifetime tests: a server on 127.0.0.1:0, blocking peer
 * sockets with timeouts, running a loop until a condition holds, counting log
 * lines. Header-only; include after test_util.h. */
#ifndef CMUDUO_TESTS_TCP_TEST_UTIL2_H
#define CMUDUO_TESTS_TCP_TEST_UTIL2_H

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "cmuduo/cmuduo.h"
#include "test_util.h"

static inline double tu2_now(void) {
  return (double)mu_timestamp_mono_now().us / 1e6;
}

/* A started server on 127.0.0.1 with a kernel-chosen port, written to *port. */
static inline mu_tcp_server_t *tu2_server_new(mu_event_loop_t *loop, int threads,
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

static inline void tu2_set_timeouts(int fd, double seconds) {
  struct timeval tv = {(time_t)seconds,
                       (suseconds_t)((seconds - (double)(time_t)seconds) * 1e6)};
  CHECK(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0);
  CHECK(setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) == 0);
}

/* A blocking socket connected to 127.0.0.1:port; reads and writes time out
 * after `seconds` (so a missing EOF fails the test instead of hanging it).
 * `rcvbuf` > 0 shrinks the receive buffer before connecting (a slow reader). */
static inline int tu2_connect_rcvbuf(uint16_t port, double seconds, int rcvbuf) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CHECK(fd >= 0);
  tu2_set_timeouts(fd, seconds);
  if (rcvbuf > 0)
    CHECK(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf) == 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    fprintf(stderr, "connect to 127.0.0.1:%u: %s\n", (unsigned)port, strerror(errno));
    CHECK(!"connect failed");
  }
  return fd;
}

static inline int tu2_connect(uint16_t port, double seconds) {
  return tu2_connect_rcvbuf(port, seconds, 0);
}

static inline void tu2_write_all(int fd, const void *data, size_t len) {
  const char *p = data;
  while (len > 0) {
    ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR)
      continue;
    CHECK(n > 0);
    p += n;
    len -= (size_t)n;
  }
}

/* Reads until EOF. Returns the byte count (the first `cap` bytes land in buf,
 * the rest is counted and dropped), or -errno: -EAGAIN when no EOF came in
 * time, -ECONNRESET when the peer reset. */
static inline long tu2_read_until_eof(int fd, char *buf, size_t cap) {
  char sink[16384];
  long total = 0;
  for (;;) {
    size_t off = (size_t)total;
    char *dst = off < cap ? buf + off : sink;
    size_t room = off < cap ? cap - off : sizeof sink;
    ssize_t n = recv(fd, dst, room, 0);
    if (n == 0)
      return total;
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return -errno;
    }
    total += n;
  }
}

/* Reads exactly len bytes (or fails the test). */
static inline void tu2_read_exact(int fd, char *buf, size_t len) {
  size_t got = 0;
  while (got < len) {
    ssize_t n = recv(fd, buf + got, len - got, 0);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      fprintf(stderr, "read_exact: %zd (%s)\n", n, n < 0 ? strerror(errno) : "EOF");
    CHECK(n > 0);
    got += (size_t)n;
  }
}

/* ---- running a loop until something holds ------------------------------- */

typedef bool (*tu2_pred_fn)(void *arg);

typedef struct tu2_wait {
  mu_event_loop_t *loop;
  tu2_pred_fn pred;
  void *arg;
  double deadline;
  bool met;
} tu2_wait_t;

static inline void tu2_wait_tick(void *p) {
  tu2_wait_t *w = p;
  if (w->pred(w->arg)) {
    w->met = true;
    mu_event_loop_quit(w->loop);
  } else if (tu2_now() > w->deadline) {
    mu_event_loop_quit(w->loop);
  }
}

/* Runs `loop` (in its own thread) until pred(arg) holds, checked every 5 ms,
 * or `seconds` pass. Returns whether it held. */
static inline bool tu2_run_until(mu_event_loop_t *loop, tu2_pred_fn pred, void *arg,
                                 double seconds) {
  tu2_wait_t w = {loop, pred, arg, tu2_now() + seconds, false};
  if (pred(arg))
    return true;
  mu_timer_id_t id = mu_event_loop_run_every(loop, 0.005, tu2_wait_tick, &w);
  CHECK(mu_timer_id_valid(id));
  mu_event_loop_loop(loop);
  mu_event_loop_cancel(loop, id);
  return w.met;
}

static inline void tu2_quit_functor(void *loop) {
  mu_event_loop_quit(loop);
}

/* Runs the loop for `seconds` whatever happens, waking it for nothing else (so
 * mu_event_loop_iteration counts only the loop's own wake-ups). */
static inline void tu2_run_for(mu_event_loop_t *loop, double seconds) {
  mu_timer_id_t id = mu_event_loop_run_after(loop, seconds, tu2_quit_functor, loop);
  CHECK(mu_timer_id_valid(id));
  mu_event_loop_loop(loop);
  mu_event_loop_cancel(loop, id);
}

/* ---- log capture --------------------------------------------------------- */

/* Counts log lines containing `needle` (from any thread) and passes every line
 * on to stderr so a failure still shows the log. */
typedef struct tu2_log_counter {
  const char *needle;
  _Atomic int hits;
  _Atomic int lines;
} tu2_log_counter_t;

static inline void tu2_log_output(const char *line, size_t len, void *arg) {
  tu2_log_counter_t *c = arg;
  atomic_fetch_add(&c->lines, 1);
  if (c->needle != NULL && memmem(line, len, c->needle, strlen(c->needle)) != NULL) {
    atomic_fetch_add(&c->hits, 1);
  }
  fwrite(line, 1, len, stderr);
}

static inline void tu2_log_capture(tu2_log_counter_t *c, const char *needle) {
  c->needle = needle;
  atomic_store(&c->hits, 0);
  atomic_store(&c->lines, 0);
  mu_log_set_output(tu2_log_output, c);
}

static inline void tu2_log_restore(void) {
  mu_log_set_output(NULL, NULL);
}

/* ---- allocation accounting ----------------------------------------------- */

/* Blocks cmuduo holds right now, counted through its allocator hooks: a
 * scenario that frees everything it made must bring this back to where it was
 * (a leak check that also works without ASan). */
static _Atomic long tu2_live_blocks;

static inline void *tu2_count_malloc(size_t n) {
  void *p = malloc(n);
  if (p != NULL)
    atomic_fetch_add(&tu2_live_blocks, 1);
  return p;
}
static inline void *tu2_count_realloc(void *old, size_t n) {
  void *p = realloc(old, n);
  if (p != NULL && old == NULL)
    atomic_fetch_add(&tu2_live_blocks, 1);
  return p;
}
static inline void tu2_count_free(void *p) {
  if (p != NULL)
    atomic_fetch_sub(&tu2_live_blocks, 1);
  free(p);
}

/* Call first in main, before any other cmuduo call. */
static inline void tu2_count_allocations(void) {
  static const mu_allocator_t k_counting = {tu2_count_malloc, tu2_count_realloc,
                                            tu2_count_free};
  mu_set_allocator(&k_counting);
}

static inline long tu2_live(void) {
  return atomic_load(&tu2_live_blocks);
}

/* ---- descriptors ---------------------------------------------------------- */

static inline int tu2_count_open_fds(void) {
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

#endif
