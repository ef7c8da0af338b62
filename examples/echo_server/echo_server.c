/* The EchoServer of the seed analysis, line for line: every byte received is
 * sent back.  ./build/bin/echo_server [-p 2007] [-t THREADS] [-a ADDR] */
#include <stdio.h>

#include "../common/example_args.h"
#include "../common/example_main.h"
#include "cmuduo/cmuduo.h"

static void on_connection(mu_tcp_connection_t *conn, void *arg) {
  (void)arg;
  char peer[MU_INET_ADDRSTRLEN];
  mu_inet_address_to_ip_port(mu_tcp_connection_peer_address(conn), peer, sizeof peer);
  MU_LOG_INFO("EchoServer - %s -> %s is %s", peer, mu_tcp_connection_name(conn),
              mu_tcp_connection_connected(conn) ? "UP" : "DOWN");
}

static void on_message(mu_tcp_connection_t *conn, mu_buffer_t *buf, mu_timestamp_t when,
                       void *arg) {
  (void)when;
  (void)arg;
  mu_tcp_connection_send_buffer(conn, buf); /* echo it all back */
}

int main(int argc, char **argv) {
  example_args_t args = example_parse_args(argc, argv, 2007, "echo server");
  example_init(args.log_dir, "echo_server");
  mu_event_loop_t *loop = mu_event_loop_new();
  mu_inet_address_t addr = example_listen_address(&args);
  mu_tcp_server_t *server = mu_tcp_server_new(loop, &addr, "EchoServer", 0);
  if (server == NULL) {
    MU_LOG_SYSERR("cannot listen on port %d", args.port);
    return 1;
  }
  mu_tcp_server_set_thread_num(server, args.threads);
  mu_tcp_server_set_connection_callback(server, on_connection, NULL);
  mu_tcp_server_set_message_callback(server, on_message, NULL);
  mu_tcp_server_start(server);
  MU_LOG_INFO("EchoServer listening on port %d with %d I/O threads", args.port,
              args.threads);
  example_run(loop); /* until SIGINT or SIGTERM */
  mu_tcp_server_free(server);
  mu_event_loop_free(loop);
  example_finish(); /* flushes the log */
  return 0;
}
