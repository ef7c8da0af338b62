/* muduo's EchoServer, for bench/run_scale.sh: several of these processes, each
 * on a port of its own, hold more connections than one process's descriptor
 * limit allows.
 *
 *   scale_server -p PORT [-t IO_THREADS]
 *
 * Listens on 127.0.0.1 only. Raises RLIMIT_NOFILE's soft limit to the hard
 * one. Silent except for warnings and errors; ends on SIGTERM or SIGINT. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include "cmuduo/cmuduo.h"

static void on_message(mu_tcp_connection_t *conn, mu_buffer_t *buf, mu_timestamp_t when,
                       void *arg) {
  (void)when;
  (void)arg;
  mu_tcp_connection_send_buffer(conn, buf);
}

int main(int argc, char **argv) {
  int port = 0, threads = 0, c;
  while ((c = getopt(argc, argv, "p:t:")) != -1) {
    if (c == 'p')
      port = atoi(optarg);
    else if (c == 't')
      threads = atoi(optarg);
    else
      port = -1;
  }
  if (port <= 0 || port > 65535 || threads < 0 || threads > 64) {
    fprintf(stderr, "usage: %s -p PORT [-t IO_THREADS]\n", argv[0]);
    return 2;
  }
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  mu_log_set_level(MU_LOG_LEVEL_WARN);
  mu_event_loop_t *loop = mu_event_loop_new();
  mu_inet_address_t addr = mu_inet_address_loopback((uint16_t)port);
  mu_tcp_server_t *server = loop ? mu_tcp_server_new(loop, &addr, "ScaleEcho", 0) : NULL;
  if (server == NULL) {
    perror("scale_server: listen");
    return 1;
  }
  mu_tcp_server_set_thread_num(server, threads);
  mu_tcp_server_set_message_callback(server, on_message, NULL);
  if (mu_tcp_server_start(server) != 0) {
    perror("scale_server: start");
    return 1;
  }
  mu_event_loop_loop(loop); /* until killed */
  mu_tcp_server_free(server);
  mu_event_loop_free(loop);
  return 0;
}
