/* Holds many concurrent connections to an echo server and checks that it
 * still echoes, for bench/run_scale.sh.
 *
 *   scale_client -p PORT[,PORT...] [-n 100000] [-k SAMPLE] [-b BYTES]
 *                [-H HOLD_SECONDS] [-f MAX_CONNECTING] [-i FIRST_INDEX]
 *
 * Connection i connects from 127.0.0.1 to 127.0.0.1:PORTS[(FIRST_INDEX + i) %
 * number of ports]. The kernel picks the source port per 4-tuple, and one
 * destination has only the ephemeral range (~28,000 ports), so 100,000
 * connections need several server ports; no address but 127.0.0.1 is used.
 * At most MAX_CONNECTING connects are in flight at once, so the listen
 * backlog never overflows.
 *
 * Several clients may run at once (one process's descriptor limit caps its
 * connections): each prints when its phases ended in wall-clock seconds
 * (*_epoch), so a script can time all of them together.
 *
 * Phases, each timed and printed as "key value" lines:
 *   connect   all N connected (client side)
 *   ping      one byte sent on every connection, and every byte echoed back
 *             (so the server has accepted and serves all N)
 *   sample    SAMPLE random connections each send BYTES position-keyed bytes,
 *             read back and compared byte for byte
 * then "holding N" and sleeps HOLD_SECONDS (the script measures the server's
 * memory meanwhile and may end it sooner with SIGTERM). Exits 1 on any
 * failure, with a message. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { k_max_ports = 64 };

typedef struct options {
  int ports[k_max_ports];
  int nports;
  int count, sample, bytes, hold, max_connecting;
  int first; /* index of this process's first connection (port rotation) */
} options_t;

static void die(const char *what) {
  fprintf(stderr, "scale_client: %s\n", what);
  exit(1);
}

static void die_errno(const char *what, int i) {
  fprintf(stderr, "scale_client: connection %d: %s: %s\n", i, what, strerror(errno));
  exit(1);
}

static double wall(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

static uint8_t pattern(uint64_t conn, uint64_t off) {
  return (uint8_t)(mix64(conn * 0x9e3779b97f4a7c15ULL + (off >> 3)) >> ((off & 7) * 8));
}

static void usage(const char *prog) {
  fprintf(stderr,
          "usage: %s -p PORT[,PORT...] [-n COUNT] [-k SAMPLE] [-b BYTES] "
          "[-H HOLD_SECONDS] [-f MAX_CONNECTING] [-i FIRST_INDEX]\n",
          prog);
  exit(2);
}

static int number(const char *s, long lo, long hi, const char *prog) {
  char *end;
  long v = strtol(s, &end, 10);
  if (*s == '\0' || *end != '\0' || v < lo || v > hi)
    usage(prog);
  return (int)v;
}

/* "P1,P2,...": up to k_max_ports ports. */
static void parse_ports(options_t *o, char *list, const char *prog) {
  o->nports = 0;
  for (char *save = NULL, *t = strtok_r(list, ",", &save); t != NULL;
       t = strtok_r(NULL, ",", &save)) {
    if (o->nports == k_max_ports)
      usage(prog);
    o->ports[o->nports++] = number(t, 1, 65535, prog);
  }
}

static options_t parse(int argc, char **argv) {
  options_t o = {.count = 100000,
                 .sample = 1000,
                 .bytes = 16384,
                 .hold = 30,
                 .max_connecting = 1000};
  int c;
  while ((c = getopt(argc, argv, "p:n:k:b:H:f:i:")) != -1) {
    switch (c) {
      case 'p':
        parse_ports(&o, optarg, argv[0]);
        break;
      case 'n':
        o.count = number(optarg, 1, 1000000, argv[0]);
        break;
      case 'k':
        o.sample = number(optarg, 0, 1000000, argv[0]);
        break;
      case 'b':
        o.bytes = number(optarg, 1, 1 << 20, argv[0]);
        break;
      case 'H':
        o.hold = number(optarg, 0, 86400, argv[0]);
        break;
      case 'f':
        o.max_connecting = number(optarg, 1, 100000, argv[0]);
        break;
      case 'i':
        o.first = number(optarg, 0, 1000000, argv[0]);
        break;
      default:
        usage(argv[0]);
    }
  }
  if (o.nports == 0)
    usage(argv[0]);
  if (o.sample > o.count)
    o.sample = o.count;
  return o;
}

static void raise_nofile(int want) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
    die("getrlimit");
  if (rl.rlim_cur >= (rlim_t)want)
    return;
  rl.rlim_cur = rl.rlim_max >= (rlim_t)want ? (rlim_t)want : rl.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < (rlim_t)want) {
    fprintf(stderr, "scale_client: RLIMIT_NOFILE is %lu, need %d (ulimit -n)\n",
            (unsigned long)rl.rlim_cur, want);
    exit(1);
  }
}

/* Starts connect i; returns its descriptor. */
static int start_connect(const options_t *o, int i) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    die_errno("socket", i);
  int port = o->ports[(o->first + i) % o->nports];
  struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  dst.sin_addr.s_addr = htonl(0x7f000001u);
  if (connect(fd, (struct sockaddr *)&dst, sizeof dst) != 0 && errno != EINPROGRESS)
    die_errno("connect", i);
  return fd;
}

static void watch(int ep, int op, int fd, uint32_t events, int i) {
  struct epoll_event ev = {.events = events, .data.u32 = (uint32_t)i};
  if (epoll_ctl(ep, op, fd, &ev) != 0)
    die_errno("epoll_ctl", i);
}

static void connect_all(const options_t *o, int ep, int *fds) {
  int next = 0, connecting = 0, done = 0;
  struct epoll_event evs[1024];
  double last = now();
  while (done < o->count) {
    while (next < o->count && connecting < o->max_connecting) {
      fds[next] = start_connect(o, next);
      watch(ep, EPOLL_CTL_ADD, fds[next], EPOLLOUT, next);
      ++next;
      ++connecting;
    }
    int n = epoll_wait(ep, evs, 1024, 1000);
    if (n < 0 && errno != EINTR)
      die("epoll_wait");
    for (int k = 0; k < n; ++k) {
      int i = (int)evs[k].data.u32, err = 0;
      socklen_t len = sizeof err;
      if (getsockopt(fds[i], SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
        errno = err;
        die_errno("connect", i);
      }
      watch(ep, EPOLL_CTL_DEL, fds[i], 0, i);
      --connecting;
      ++done;
    }
    if (n > 0)
      last = now();
    else if (now() - last > 30)
      die("no connect completed for 30 s");
  }
}

/* One byte out and back on every connection. */
static void ping_all(const options_t *o, int ep, const int *fds) {
  for (int i = 0; i < o->count; ++i) {
    uint8_t b = pattern((uint64_t)i, 0);
    if (send(fds[i], &b, 1, MSG_NOSIGNAL) != 1)
      die_errno("ping send", i);
    watch(ep, EPOLL_CTL_ADD, fds[i], EPOLLIN, i);
  }
  int left = o->count;
  struct epoll_event evs[1024];
  double last = now();
  while (left > 0) {
    int n = epoll_wait(ep, evs, 1024, 1000);
    if (n < 0 && errno != EINTR)
      die("epoll_wait");
    for (int k = 0; k < n; ++k) {
      int i = (int)evs[k].data.u32;
      uint8_t b;
      ssize_t r = recv(fds[i], &b, 1, 0);
      if (r != 1)
        die_errno(r == 0 ? "ping: end of file" : "ping recv", i);
      if (b != pattern((uint64_t)i, 0))
        die("ping: wrong byte");
      watch(ep, EPOLL_CTL_DEL, fds[i], 0, i);
      --left;
    }
    if (n > 0)
      last = now();
    else if (now() - last > 30)
      die("no echo for 30 s");
  }
}

/* `sample` connections each echo `bytes` bytes, checked at every offset. */
static uint64_t sample_echo(const options_t *o, int ep, const int *fds) {
  uint8_t *buf = malloc((size_t)o->bytes);
  int *which = malloc(sizeof(int) * (size_t)(o->sample ? o->sample : 1));
  size_t *got = calloc((size_t)(o->sample ? o->sample : 1), sizeof *got);
  size_t *sent = calloc((size_t)(o->sample ? o->sample : 1), sizeof *sent);
  if (!buf || !which || !got || !sent)
    die("out of memory");
  uint64_t seed = 12345;
  for (int s = 0; s < o->sample; ++s) {
    seed = mix64(seed + (uint64_t)s);
    which[s] = (int)(seed % (uint64_t)o->count); /* repeats are fine */
    for (int t = 0; t < s; ++t) {
      if (which[t] == which[s]) {
        which[s] = (which[s] + 1) % o->count;
        t = -1;
      }
    }
    watch(ep, EPOLL_CTL_ADD, fds[which[s]], EPOLLIN | EPOLLOUT, s);
  }
  int left = o->sample;
  uint64_t total = 0;
  struct epoll_event evs[1024];
  double last = now();
  while (left > 0) {
    int n = epoll_wait(ep, evs, 1024, 1000);
    if (n < 0 && errno != EINTR)
      die("epoll_wait");
    for (int k = 0; k < n; ++k) {
      int s = (int)evs[k].data.u32, fd = fds[which[s]];
      uint64_t stream = (uint64_t)which[s] + 1000000;
      if ((evs[k].events & EPOLLOUT) && sent[s] < (size_t)o->bytes) {
        size_t len = (size_t)o->bytes - sent[s];
        for (size_t j = 0; j < len; ++j)
          buf[j] = pattern(stream, sent[s] + j);
        ssize_t w = send(fd, buf, len, MSG_NOSIGNAL);
        if (w < 0 && errno != EAGAIN)
          die_errno("sample send", which[s]);
        if (w > 0)
          sent[s] += (size_t)w;
        if (sent[s] == (size_t)o->bytes)
          watch(ep, EPOLL_CTL_MOD, fd, EPOLLIN, s);
      }
      if (evs[k].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        ssize_t r = recv(fd, buf, (size_t)o->bytes, 0);
        if (r < 0 && errno == EAGAIN)
          continue;
        if (r <= 0)
          die_errno(r == 0 ? "sample: end of file" : "sample recv", which[s]);
        for (ssize_t j = 0; j < r; ++j) {
          if (buf[j] != pattern(stream, got[s] + (size_t)j))
            die("sample: wrong byte in the echo");
        }
        got[s] += (size_t)r;
        total += (uint64_t)r;
        if (got[s] > sent[s])
          die("sample: more bytes than sent");
        if (got[s] == (size_t)o->bytes) {
          watch(ep, EPOLL_CTL_DEL, fd, 0, s);
          --left;
        }
      }
    }
    if (n > 0)
      last = now();
    else if (now() - last > 30)
      die("sample: no progress for 30 s");
  }
  free(buf);
  free(which);
  free(got);
  free(sent);
  return total;
}

int main(int argc, char **argv) {
  options_t o = parse(argc, argv);
  setvbuf(stdout, NULL, _IOLBF, 0);
  raise_nofile(o.count + 64);
  int *fds = malloc(sizeof(int) * (size_t)o.count);
  if (fds == NULL)
    die("out of memory");
  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0)
    die("epoll_create1");

  double t0 = now();
  connect_all(&o, ep, fds);
  double t1 = now();
  printf("connect_seconds %.3f\n", t1 - t0);
  printf("connect_rate_per_s %.0f\n", o.count / (t1 - t0));
  printf("connect_done_epoch %.3f\n", wall());
  ping_all(&o, ep, fds);
  double t2 = now();
  printf("ping_seconds %.3f\n", t2 - t1);
  printf("ping_done_epoch %.3f\n", wall());
  uint64_t echoed = sample_echo(&o, ep, fds);
  double t3 = now();
  printf("sample_connections %d\n", o.sample);
  printf("sample_bytes_checked %llu\n", (unsigned long long)echoed);
  printf("sample_seconds %.3f\n", t3 - t2);
  printf("holding %d\n", o.count);
  fflush(stdout);
  sleep((unsigned)o.hold);
  for (int i = 0; i < o.count; ++i)
    close(fds[i]);
  close(ep);
  free(fds);
  return 0;
}
