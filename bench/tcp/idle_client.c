/* Opens N connections to a server and holds them idle, for measuring what an
 * idle connection costs the server. Prints "connected N" once all are open,
 * then sleeps until killed or until the hold time runs out.
 *
 *   idle_client [-a 127.0.0.1] -p PORT [-n 10000] [-H HOLD_SECONDS]
 *
 * Connects one at a time with blocking connect(): on loopback each completes
 * in tens of microseconds, and a full accept queue only slows it down (the
 * kernel retransmits the SYN) instead of failing. */
#define _GNU_SOURCE
#include <sys/resource.h>
#include <time.h>

#include "peer_util.h"

typedef struct options {
  const char *ip;
  int port, count, hold;
} options_t;

static void usage(const char *prog) {
  fprintf(stderr, "usage: %s [-a IP] -p PORT [-n COUNT] [-H HOLD_SECONDS]\n", prog);
  exit(2);
}

static long number(const char *s, long lo, long hi, const char *prog) {
  char *end;
  long v = strtol(s, &end, 10);
  if (*s == '\0' || *end != '\0' || v < lo || v > hi)
    usage(prog);
  return v;
}

static options_t parse(int argc, char **argv) {
  options_t o = {"127.0.0.1", 0, 10000, 300};
  int c;
  while ((c = getopt(argc, argv, "a:p:n:H:")) != -1) {
    switch (c) {
      case 'a':
        o.ip = optarg;
        break;
      case 'p':
        o.port = (int)number(optarg, 1, 65535, argv[0]);
        break;
      case 'n':
        o.count = (int)number(optarg, 1, 1000000, argv[0]);
        break;
      case 'H':
        o.hold = (int)number(optarg, 0, 86400, argv[0]);
        break;
      default:
        usage(argv[0]);
    }
  }
  if (o.port == 0)
    usage(argv[0]);
  return o;
}

/* One descriptor per connection plus a few: take the hard limit if needed. */
static void raise_nofile(int count) {
  struct rlimit r;
  if (getrlimit(RLIMIT_NOFILE, &r) != 0 || r.rlim_cur >= (rlim_t)count + 16)
    return;
  r.rlim_cur = r.rlim_max;
  setrlimit(RLIMIT_NOFILE, &r);
}

static int connect_one(const struct sockaddr_in *a) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  if (connect(fd, (const struct sockaddr *)a, sizeof *a) != 0) {
    int err = errno;
    close(fd);
    errno = err;
    return -1;
  }
  return fd;
}

int main(int argc, char **argv) {
  options_t o = parse(argc, argv);
  raise_nofile(o.count);
  struct sockaddr_in a = peer_loopback(o.port);
  if (inet_pton(AF_INET, o.ip, &a.sin_addr) != 1)
    usage(argv[0]);
  for (int i = 0; i < o.count; ++i) {
    if (connect_one(&a) < 0) {
      fprintf(stderr, "idle_client: connection %d of %d: %s\n", i + 1, o.count,
              strerror(errno));
      return 1;
    }
  }
  printf("connected %d\n", o.count);
  fflush(stdout);
  /* Descriptors are never closed by hand: exit closes them all at once. */
  struct timespec hold = {o.hold, 0};
  while (nanosleep(&hold, &hold) != 0 && errno == EINTR) {
  }
  return 0;
}
