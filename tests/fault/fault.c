/* Syscall fault injection by link-time wrapping: see fault.h for the rules.
 *
 * Each __wrap_<call> below replaces <call> for every object linked with
 * -Wl,--wrap=<call>; __real_<call> is the C library's (or a sanitizer's
 * interceptor of it). */
#include "fault.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <netinet/in.h>

/* The real calls, bound by the linker. */
ssize_t __real_read(int fd, void *buf, size_t len);
ssize_t __real_readv(int fd, const struct iovec *iov, int iovcnt);
ssize_t __real_recv(int fd, void *buf, size_t len, int flags);
ssize_t __real_write(int fd, const void *buf, size_t len);
ssize_t __real_writev(int fd, const struct iovec *iov, int iovcnt);
ssize_t __real_send(int fd, const void *buf, size_t len, int flags);
ssize_t __real_sendfile(int out_fd, int in_fd, off_t *offset, size_t count);
int __real_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags);
int __real_epoll_wait(int epfd, struct epoll_event *events, int max, int timeout);
int __real_poll(struct pollfd *fds, nfds_t n, int timeout);
int __real_close(int fd);
int __real_connect(int fd, const struct sockaddr *addr, socklen_t len);

ssize_t __wrap_read(int fd, void *buf, size_t len);
ssize_t __wrap_readv(int fd, const struct iovec *iov, int iovcnt);
ssize_t __wrap_recv(int fd, void *buf, size_t len, int flags);
ssize_t __wrap_write(int fd, const void *buf, size_t len);
ssize_t __wrap_writev(int fd, const struct iovec *iov, int iovcnt);
ssize_t __wrap_send(int fd, const void *buf, size_t len, int flags);
ssize_t __wrap_sendfile(int out_fd, int in_fd, off_t *offset, size_t count);
int __wrap_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags);
int __wrap_epoll_wait(int epfd, struct epoll_event *events, int max, int timeout);
int __wrap_poll(struct pollfd *fds, nfds_t n, int timeout);
int __wrap_close(int fd);
int __wrap_connect(int fd, const struct sockaddr *addr, socklen_t len);

/* Descriptors above this are never faulted (the tests use far fewer). */
#define MAX_FD (1 << 20)
#define FD_SCOPED 1u /* from accept4 or connect in an opted-in thread */
#define FD_FATAL 2u  /* got its fatal fault already */

static _Atomic uint8_t g_fd[MAX_FD];
static _Atomic uint8_t g_reset_port[65536];
static atomic_bool g_active;
static uint64_t g_seed;
static double g_rate = 0.1, g_fatal = 0.01;
static atomic_uint g_thread_ordinal;
static _Atomic uint64_t g_count[MU_FAULT_KINDS];
static _Atomic uint64_t g_calls, g_injected;

static _Thread_local bool t_enabled;
static _Thread_local uint64_t t_rng;

static uint64_t mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

static uint64_t rng_next(void) {
  t_rng += 0x9e3779b97f4a7c15ULL;
  return mix64(t_rng);
}

/* Uniform in [0, 1). */
static double rng_unit(void) {
  return (double)(rng_next() >> 11) / 9007199254740992.0;
}

static double env_double(const char *name, double fallback) {
  const char *s = getenv(name);
  if (s == NULL || *s == '\0')
    return fallback;
  char *end;
  double v = strtod(s, &end);
  if (*end != '\0' || v < 0 || v > 1) {
    fprintf(stderr, "fault: %s=%s is not a number in [0, 1]\n", name, s);
    abort();
  }
  return v;
}

uint64_t mu_fault_init(uint64_t default_seed) {
  const char *s = getenv("MU_FAULT_SEED");
  if (s != NULL && *s != '\0') {
    g_seed = strtoull(s, NULL, 0);
  } else if (default_seed != 0) {
    g_seed = default_seed;
  } else {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
    g_seed = mix64(now ^ ((uint64_t)getpid() << 32)) >> 16; /* short to type */
  }
  g_rate = env_double("MU_FAULT_RATE", 0.1);
  g_fatal = env_double("MU_FAULT_FATAL", 0.01);
  atomic_store(&g_thread_ordinal, 0);
  mu_fault_reset_stats();
  printf("fault: seed=%" PRIu64 " rate=%g fatal=%g (replay: MU_FAULT_SEED=%" PRIu64
         " MU_FAULT_RATE=%g MU_FAULT_FATAL=%g)\n",
         g_seed, g_rate, g_fatal, g_seed, g_rate, g_fatal);
  fflush(stdout);
  atomic_store(&g_active, g_rate > 0);
  return g_seed;
}

void mu_fault_set_active(bool on) {
  atomic_store(&g_active, on && g_rate > 0);
}

void mu_fault_thread_enable(bool on) {
  t_enabled = on;
  if (on) {
    unsigned ordinal = atomic_fetch_add(&g_thread_ordinal, 1);
    t_rng = mix64(g_seed ^ mix64((uint64_t)ordinal + 1));
  }
}

void mu_fault_thread_init_cb(mu_event_loop_t *loop, void *arg) {
  (void)loop;
  (void)arg;
  mu_fault_thread_enable(true);
}

void mu_fault_enable_functor(void *arg) {
  (void)arg;
  mu_fault_thread_enable(true);
}

void mu_fault_get_stats(mu_fault_stats_t *out) {
  for (int k = 0; k < MU_FAULT_KINDS; ++k)
    out->by_kind[k] = atomic_load(&g_count[k]);
  out->calls = atomic_load(&g_calls);
  out->injected = atomic_load(&g_injected);
}

void mu_fault_reset_stats(void) {
  for (int k = 0; k < MU_FAULT_KINDS; ++k)
    atomic_store(&g_count[k], 0);
  atomic_store(&g_calls, 0);
  atomic_store(&g_injected, 0);
}

const char *mu_fault_kind_name(mu_fault_kind_t kind) {
  static const char *const names[MU_FAULT_KINDS] = {
      "EINTR",  "EAGAIN", "short_read",   "short_write",  "ECONNRESET",   "EPIPE",
      "EMFILE", "ENFILE", "ECONNABORTED", "ECONNREFUSED", "EADDRNOTAVAIL"};
  return (unsigned)kind < MU_FAULT_KINDS ? names[kind] : "?";
}

void mu_fault_print_stats(const char *label) {
  mu_fault_stats_t st;
  mu_fault_get_stats(&st);
  printf("fault: %s: %" PRIu64 " eligible calls, %" PRIu64 " faults:", label, st.calls,
         st.injected);
  for (int k = 0; k < MU_FAULT_KINDS; ++k) {
    if (st.by_kind[k] != 0)
      printf(" %s=%" PRIu64, mu_fault_kind_name((mu_fault_kind_t)k), st.by_kind[k]);
  }
  printf("\n");
  fflush(stdout);
}

bool mu_fault_port_was_reset(uint16_t port, bool forget) {
  return forget ? atomic_exchange(&g_reset_port[port], 0) != 0
                : atomic_load(&g_reset_port[port]) != 0;
}

/* ---- deciding ------------------------------------------------------------- */

static bool thread_eligible(void) {
  return t_enabled && atomic_load_explicit(&g_active, memory_order_relaxed);
}

static bool fd_eligible(int fd) {
  return fd >= 0 && fd < MAX_FD && thread_eligible() &&
         (atomic_load_explicit(&g_fd[fd], memory_order_relaxed) & FD_SCOPED);
}

/* One eligible call: true if it gets a fault this time. */
static bool roll(void) {
  atomic_fetch_add_explicit(&g_calls, 1, memory_order_relaxed);
  return rng_unit() < g_rate;
}

static void count(mu_fault_kind_t k) {
  atomic_fetch_add_explicit(&g_count[k], 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&g_injected, 1, memory_order_relaxed);
}

static int fail(mu_fault_kind_t k, int err) {
  count(k);
  errno = err;
  return -1;
}

static void remember_port(int fd, int (*name)(int, struct sockaddr *, socklen_t *)) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  if (name(fd, (struct sockaddr *)&ss, &len) != 0)
    return;
  uint16_t port = 0;
  if (ss.ss_family == AF_INET)
    port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
  else if (ss.ss_family == AF_INET6)
    port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
  atomic_store(&g_reset_port[port], 1);
}

/* A fatal fault, once per descriptor: remember the peer's port first, so the
 * client can ask before it sees the close this leads to. */
static bool take_fatal(int fd) {
  if (rng_unit() >= g_fatal)
    return false;
  if (atomic_fetch_or(&g_fd[fd], FD_FATAL) & FD_FATAL)
    return false;
  /* Both ends' ports: the peer's names a server-side connection (the
   * client's port), the local one a client-side connection. */
  remember_port(fd, getpeername);
  remember_port(fd, getsockname);
  return true;
}

/* The fault for an I/O call on a server socket, or -1 for none. A short
 * transfer is only possible when more than one byte was asked for. */
static int pick_io_fault(int fd, size_t len, bool is_write) {
  if (take_fatal(fd))
    return is_write && (rng_next() & 1) ? MU_FAULT_EPIPE : MU_FAULT_ECONNRESET;
  uint64_t r = rng_next() % 10;
  if (r < 3)
    return MU_FAULT_EINTR;
  if (r < 5)
    return MU_FAULT_EAGAIN;
  if (len > 1)
    return is_write ? MU_FAULT_SHORT_WRITE : MU_FAULT_SHORT_READ;
  return MU_FAULT_EAGAIN;
}

/* A length in [1, len - 1], smaller ones more likely (1 byte often). */
static size_t short_len(size_t len) {
  size_t cut = 1 + (size_t)(rng_next() % (len - 1));
  if (rng_next() & 1)
    cut = 1 + cut / 16;
  return cut < len ? cut : len - 1;
}

static size_t iov_total(const struct iovec *iov, int iovcnt) {
  size_t n = 0;
  for (int i = 0; i < iovcnt; ++i)
    n += iov[i].iov_len;
  return n;
}

/* Copies the first `keep` bytes' worth of iov into out (at most cap
 * entries); returns the new count. */
static int iov_cut(const struct iovec *iov, int iovcnt, size_t keep, struct iovec *out,
                   int cap) {
  int k = 0;
  for (int i = 0; i < iovcnt && keep > 0 && k < cap; ++i) {
    out[k] = iov[i];
    if (out[k].iov_len > keep)
      out[k].iov_len = keep;
    keep -= out[k].iov_len;
    if (out[k].iov_len > 0)
      ++k;
  }
  return k;
}

/* Applies a non-short fault; returns -1 with errno set. */
static ssize_t io_error(int kind) {
  switch (kind) {
    case MU_FAULT_EINTR:
      return fail(MU_FAULT_EINTR, EINTR);
    case MU_FAULT_EAGAIN:
      return fail(MU_FAULT_EAGAIN, EAGAIN);
    case MU_FAULT_EPIPE:
      return fail(MU_FAULT_EPIPE, EPIPE);
    default:
      return fail(MU_FAULT_ECONNRESET, ECONNRESET);
  }
}

/* ---- the wrappers ------------------------------------------------------- */

ssize_t __wrap_read(int fd, void *buf, size_t len) {
  if (!fd_eligible(fd) || !roll())
    return __real_read(fd, buf, len);
  int kind = pick_io_fault(fd, len, false);
  if (kind != MU_FAULT_SHORT_READ)
    return io_error(kind);
  count(MU_FAULT_SHORT_READ);
  return __real_read(fd, buf, short_len(len));
}

ssize_t __wrap_recv(int fd, void *buf, size_t len, int flags) {
  if (!fd_eligible(fd) || !roll())
    return __real_recv(fd, buf, len, flags);
  int kind = pick_io_fault(fd, len, false);
  if (kind != MU_FAULT_SHORT_READ)
    return io_error(kind);
  count(MU_FAULT_SHORT_READ);
  return __real_recv(fd, buf, short_len(len), flags);
}

ssize_t __wrap_readv(int fd, const struct iovec *iov, int iovcnt) {
  if (!fd_eligible(fd) || iovcnt <= 0 || !roll())
    return __real_readv(fd, iov, iovcnt);
  size_t total = iov_total(iov, iovcnt);
  int kind = pick_io_fault(fd, total, false);
  if (kind != MU_FAULT_SHORT_READ)
    return io_error(kind);
  struct iovec cut[64];
  int n = iov_cut(iov, iovcnt, short_len(total), cut, 64);
  count(MU_FAULT_SHORT_READ);
  return __real_readv(fd, cut, n);
}

ssize_t __wrap_write(int fd, const void *buf, size_t len) {
  if (!fd_eligible(fd) || !roll())
    return __real_write(fd, buf, len);
  int kind = pick_io_fault(fd, len, true);
  if (kind != MU_FAULT_SHORT_WRITE)
    return io_error(kind);
  count(MU_FAULT_SHORT_WRITE);
  return __real_write(fd, buf, short_len(len));
}

ssize_t __wrap_send(int fd, const void *buf, size_t len, int flags) {
  if (!fd_eligible(fd) || !roll())
    return __real_send(fd, buf, len, flags);
  int kind = pick_io_fault(fd, len, true);
  if (kind != MU_FAULT_SHORT_WRITE)
    return io_error(kind);
  count(MU_FAULT_SHORT_WRITE);
  return __real_send(fd, buf, short_len(len), flags);
}

ssize_t __wrap_writev(int fd, const struct iovec *iov, int iovcnt) {
  if (!fd_eligible(fd) || iovcnt <= 0 || !roll())
    return __real_writev(fd, iov, iovcnt);
  size_t total = iov_total(iov, iovcnt);
  int kind = pick_io_fault(fd, total, true);
  if (kind != MU_FAULT_SHORT_WRITE)
    return io_error(kind);
  struct iovec cut[64];
  int n = iov_cut(iov, iovcnt, short_len(total), cut, 64);
  count(MU_FAULT_SHORT_WRITE);
  return __real_writev(fd, cut, n);
}

ssize_t __wrap_sendfile(int out_fd, int in_fd, off_t *offset, size_t count_) {
  if (!fd_eligible(out_fd) || !roll())
    return __real_sendfile(out_fd, in_fd, offset, count_);
  int kind = pick_io_fault(out_fd, count_, true);
  if (kind != MU_FAULT_SHORT_WRITE)
    return io_error(kind);
  count(MU_FAULT_SHORT_WRITE);
  return __real_sendfile(out_fd, in_fd, offset, short_len(count_));
}

/* Nothing is accepted on a fault: the connection stays in the backlog. */
int __wrap_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags) {
  if (thread_eligible() && roll()) {
    switch (rng_next() % 8) {
      case 0:
      case 1:
        return fail(MU_FAULT_EINTR, EINTR);
      case 2:
      case 3:
        return fail(MU_FAULT_EAGAIN, EAGAIN);
      case 4:
        return fail(MU_FAULT_ECONNABORTED, ECONNABORTED);
      case 5:
        return fail(MU_FAULT_ENFILE, ENFILE);
      default:
        return fail(MU_FAULT_EMFILE, EMFILE);
    }
  }
  int conn = __real_accept4(fd, addr, len, flags);
  if (conn >= 0 && conn < MAX_FD && t_enabled)
    atomic_store(&g_fd[conn], FD_SCOPED);
  return conn;
}

/* A client's connect in an opted-in thread: its socket becomes scoped (its
 * I/O may fail from now on). A fault either refuses the connect without
 * making it (EAGAIN, ECONNREFUSED, EADDRNOTAVAIL: the caller retries with a
 * new socket) or makes it and reports EINTR, which on Linux means the
 * connection goes on being established in the background. */
int __wrap_connect(int fd, const struct sockaddr *addr, socklen_t len) {
  if (!thread_eligible())
    return __real_connect(fd, addr, len);
  if (roll()) {
    switch (rng_next() % 4) {
      case 0:
        return fail(MU_FAULT_EAGAIN, EAGAIN);
      case 1:
        return fail(MU_FAULT_ECONNREFUSED, ECONNREFUSED);
      case 2:
        return fail(MU_FAULT_EADDRNOTAVAIL, EADDRNOTAVAIL);
      default:
        break;
    }
    int rc = __real_connect(fd, addr, len);
    if (rc == 0 || errno == EINPROGRESS) {
      if (fd >= 0 && fd < MAX_FD)
        atomic_store(&g_fd[fd], FD_SCOPED);
      return fail(MU_FAULT_EINTR, EINTR);
    }
    return rc;
  }
  int rc = __real_connect(fd, addr, len);
  int err = errno;
  if ((rc == 0 || err == EINPROGRESS) && fd >= 0 && fd < MAX_FD)
    atomic_store(&g_fd[fd], FD_SCOPED);
  errno = err;
  return rc;
}

int __wrap_epoll_wait(int epfd, struct epoll_event *events, int max, int timeout) {
  if (thread_eligible() && roll())
    return fail(MU_FAULT_EINTR, EINTR);
  return __real_epoll_wait(epfd, events, max, timeout);
}

int __wrap_poll(struct pollfd *fds, nfds_t n, int timeout) {
  if (thread_eligible() && roll())
    return fail(MU_FAULT_EINTR, EINTR);
  return __real_poll(fds, n, timeout);
}

/* Forget the descriptor before it can be reused by anyone (a client socket
 * may get the same number right after). */
int __wrap_close(int fd) {
  if (fd >= 0 && fd < MAX_FD)
    atomic_store(&g_fd[fd], 0);
  return __real_close(fd);
}
