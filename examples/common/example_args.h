/* Command-line handling shared by the example servers: -p PORT, -t THREADS,
 * --log-dir DIR, -h. Header-only so each example stays one folder. */
#ifndef CMUDUO_EXAMPLES_COMMON_EXAMPLE_ARGS_H
#define CMUDUO_EXAMPLES_COMMON_EXAMPLE_ARGS_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct example_args {
  int port;
  int threads;
  const char *log_dir; /* NULL: log to stdout */
} example_args_t;

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

/* Parses -p, -t and --log-dir (and -h); exits with a usage line on bad input. */
static inline example_args_t example_parse_args(int argc, char **argv, int default_port,
                                                const char *what) {
  example_args_t a = {default_port, 0, NULL};
  a.log_dir = example_take_log_dir(&argc, argv);
  int opt;
  while ((opt = getopt(argc, argv, "p:t:h")) != -1) {
    char *end = NULL;
    long v = optarg ? strtol(optarg, &end, 10) : 0;
    bool bad = optarg && (*optarg == '\0' || *end != '\0');
    if (opt == 'p' && !bad && v >= 0 && v <= 65535) {
      a.port = (int)v;
    } else if (opt == 't' && !bad && v >= 0 && v <= 1024) {
      a.threads = (int)v;
    } else {
      fprintf(opt == 'h' ? stdout : stderr,
              "%s\nusage: %s [-p PORT] [-t IO_THREADS] [--log-dir DIR]\n"
              "  -p PORT        port to listen on (default %d)\n"
              "  -t IO_THREADS  I/O threads besides the accepting loop (default 0)\n"
              "  --log-dir DIR  log to rolling files in DIR, asynchronously\n"
              "                 (default: stdout)\n",
              what, argv[0], default_port);
      exit(opt == 'h' ? 0 : 2);
    }
  }
  return a;
}

#endif
