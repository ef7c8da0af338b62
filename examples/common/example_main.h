/* Start-up and clean shutdown shared by the example servers:
 *
 *   example_args_t args = example_parse_args(argc, argv, 2007, "echo server");
 *   example_init(args.log_dir, "echo_server"); // before any thread exists
 *   ... mu_event_loop_new, mu_tcp_server_new, mu_tcp_server_start ...
 *   example_run(loop);           // until SIGINT or SIGTERM
 *   mu_tcp_server_free(server);
 *   mu_event_loop_free(loop);
 *   example_finish();            // every log line is in the file
 *
 * example_init blocks SIGINT and SIGTERM in the calling thread, so that every
 * thread created afterwards (the server's I/O threads, the log back end)
 * inherits the mask and the signals can only be read from the signalfd that
 * example_run watches in the loop: Ctrl-C or a service manager's stop quits
 * the loop instead of killing the process, the server is freed, and the log is
 * flushed, losing no line. With --log-dir DIR the log goes asynchronously to
 * rolling files DIR/NAME.<date>-<time>.<host>.<pid>.log (DIR is created if
 * missing); without it, to stdout as before. Header-only; one program each. */
#ifndef CMUDUO_EXAMPLES_COMMON_EXAMPLE_MAIN_H
#define CMUDUO_EXAMPLES_COMMON_EXAMPLE_MAIN_H

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmuduo/base/async_logging.h"
#include "cmuduo/cmuduo.h"
#include "example_args.h"

/* The example's logger: one per program, set by example_init. */
static mu_async_logging_t *g_example_logger;

static inline void example_signal_set(sigset_t *set) {
  sigemptyset(set);
  sigaddset(set, SIGINT);
  sigaddset(set, SIGTERM);
}

/* Blocks SIGINT/SIGTERM and, with a log directory, starts async logging to
 * DIR/name. Exits with status 1 if the directory cannot be used. */
static inline void example_init(const char *log_dir, const char *name) {
  sigset_t set;
  example_signal_set(&set);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  if (log_dir == NULL)
    return;
  if (mkdir(log_dir, 0755) != 0 && errno != EEXIST) {
    fprintf(stderr, "%s: cannot create %s: %s\n", name, log_dir, strerror(errno));
    exit(1);
  }
  char base[4096];
  snprintf(base, sizeof base, "%s/%s", log_dir, name);
  g_example_logger = mu_async_logging_setup(base, NULL);
  if (g_example_logger == NULL) {
    fprintf(stderr, "%s: cannot log to %s: %s\n", name, base, strerror(errno));
    exit(1);
  }
}

static inline void example_on_signal(mu_channel_t *ch, mu_timestamp_t when, void *arg) {
  (void)when;
  struct signalfd_siginfo info;
  ssize_t n = read(mu_channel_fd(ch), &info, sizeof info);
  if (n != (ssize_t)sizeof info)
    return;
  MU_LOG_INFO("received %s; quitting", info.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM");
  mu_event_loop_quit(arg);
}

/* Runs the loop until SIGINT or SIGTERM arrives on a signalfd it watches.
 * Returns 0, or -1 if the signalfd could not be set up (the loop then runs
 * until killed, as it did before). */
static inline int example_run(mu_event_loop_t *loop) {
  sigset_t set;
  example_signal_set(&set);
  int fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  mu_channel_t *ch = fd >= 0 ? mu_channel_new(loop, fd, loop) : NULL;
  if (ch == NULL) {
    MU_LOG_SYSERR("signalfd");
    if (fd >= 0)
      close(fd);
    mu_event_loop_loop(loop);
    return -1;
  }
  mu_channel_set_read_callback(ch, example_on_signal);
  mu_channel_enable_reading(ch);
  mu_event_loop_loop(loop);
  mu_channel_free(ch);
  close(fd);
  return 0;
}

/* After the server and the loop are freed: the last line, then the log is
 * stopped and flushed, and the front end writes to stdout again. */
static inline void example_finish(void) {
  MU_LOG_INFO("stopped cleanly");
  mu_async_logging_free(g_example_logger);
  g_example_logger = NULL;
}

#endif
