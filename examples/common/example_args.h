/* Command-line handling shared by the example servers: -p PORT, -t THREADS,
 * -a ADDR, --log-dir DIR, -h. Header-only so each example stays one folder. */
#ifndef CMUDUO_EXAMPLES_COMMON_EXAMPLE_ARGS_H
#define CMUDUO_EXAMPLES_COMMON_EXAMPLE_ARGS_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmuduo/net/inet_address.h"

typedef struct example_args {
  int port;
  int threads;
  const char *log_dir; /* NULL: log to stdout */
  const char *addr;    /* -a: an IPv4 or IPv6 literal; NULL: 0.0.0.0 (muduo's) */
} example_args_t;

/* True if `ip` is an address -a takes: a numeric IPv4 or IPv6 one ("::1" or
 * "[::1]"), never a host name, which would need a blocking lookup. Otherwise
 * says why on stderr (the caller then prints its usage and exits 2). */
static inline bool example_addr_ok(const char *prog, const char *ip) {
  mu_inet_address_t a;
  if (mu_inet_address_from_ip_port(&a, ip, 0) == 0)
    return true;
  fprintf(stderr, "%s: -a %s: not a numeric IPv4 or IPv6 address\n", prog, ip);
  return false;
}

/* The address to listen on: `ip` (checked with example_addr_ok beforehand)
 * or, if NULL, every IPv4 address, as muduo's examples do; with `port`. */
static inline mu_inet_address_t example_address(const char *ip, int port) {
  mu_inet_address_t a = mu_inet_address_any((uint16_t)port);
  if (ip != NULL && mu_inet_address_from_ip_port(&a, ip, (uint16_t)port) != 0) {
    fprintf(stderr, "bad address %s\n", ip); /* not checked: a bug, say so */
    exit(2);
  }
  return a;
}

/* The listening address of example_parse_args's -a and -p. */
static inline mu_inet_address_t example_listen_address(const example_args_t *a) {
  return example_address(a->addr, a->port);
}

/* Takes "--log-dir DIR" or "--log-dir=DIR" out of argv (so an example's own
 * option parsing never sees it) and returns DIR, or NULL if absent. */
static inline const char *example_take_log_dir(int *argc, char **argv) {
  const char *dir = NULL;
  int out = 1;
  for (int i = 1; i < *argc; ++i) {
    if (strcmp(argv[i], "--log-dir") == 0 && i + 1 < *argc) {
      dir = argv[++i];
    } else if (strncmp(argv[i], "--log-dir=", 10) == 0) {
      dir = argv[i] + 10;
    } else {
      argv[out++] = argv[i];
    }
  }
  *argc = out;
  argv[out] = NULL;
  return dir;
}

/* Parses -p, -t, -a and --log-dir (and -h); exits with status 2 and the usage
 * lines on bad input (a bad -a address included, before anything starts). */
static inline example_args_t example_parse_args(int argc, char **argv, int default_port,
                                                const char *what) {
  example_args_t a = {default_port, 0, NULL, NULL};
  a.log_dir = example_take_log_dir(&argc, argv);
  int opt;
  while ((opt = getopt(argc, argv, "p:t:a:h")) != -1) {
    char *end = NULL;
    long v = optarg ? strtol(optarg, &end, 10) : 0;
    bool bad = optarg && (*optarg == '\0' || *end != '\0');
    if (opt == 'p' && !bad && v >= 0 && v <= 65535) {
      a.port = (int)v;
    } else if (opt == 't' && !bad && v >= 0 && v <= 1024) {
      a.threads = (int)v;
    } else if (opt == 'a' && example_addr_ok(argv[0], optarg)) {
      a.addr = optarg;
    } else {
      fprintf(opt == 'h' ? stdout : stderr,
              "%s\nusage: %s [-p PORT] [-t IO_THREADS] [-a ADDR] [--log-dir DIR]\n"
              "  -p PORT        port to listen on (default %d)\n"
              "  -t IO_THREADS  I/O threads besides the accepting loop (default 0)\n"
              "  -a ADDR        IPv4 or IPv6 address to listen on (default 0.0.0.0)\n"
              "  --log-dir DIR  log to rolling files in DIR, asynchronously\n"
              "                 (default: stdout)\n",
              what, argv[0], default_port);
      exit(opt == 'h' ? 0 : 2);
    }
  }
  return a;
}

#endif
