/* muduo's pingpong server: echo with TCP_NODELAY, for throughput tests with
 * pingpong_client.  ./build/bin/pingpong_server [-p 33333] [-t N] [-a ADDR] */
#include "../common/example_args.h"
#include "../common/example_main.h"
#include "cmuduo/cmuduo.h"

static void on_connection(mu_tcp_connection_t *conn, void *arg) {
  (void)arg;
  if (mu_tcp_connection_connected(conn))
    mu_tcp_connection_set_tcp_no_delay(conn, true);
}

static void on_message(mu_tcp_connection_t *conn, mu_buffer_t *buf, mu_timestamp_t when,
                       void *arg) {
  (void)when;
  (void)arg;
  mu_tcp_connection_send_buffer(conn, buf);
}

int main(int argc, char **argv) {
  example_args_t args = example_parse_args(argc, argv, 33333, "pingpong server");
  example_init(args.log_dir, "pingpong_server");
  mu_event_loop_t *loop = mu_event_loop_new();
  mu_inet_address_t addr = example_listen_address(&args);
  mu_tcp_server_t *server = mu_tcp_server_new(loop, &addr, "PingPongServer", 0);
  if (server == NULL) {
    MU_LOG_SYSERR("cannot listen on port %d", args.port);
    return 1;
  }
  mu_tcp_server_set_thread_num(server, args.threads);
  mu_tcp_server_set_connection_callback(server, on_connection, NULL);
  mu_tcp_server_set_message_callback(server, on_message, NULL);
  mu_tcp_server_start(server);
  example_run(loop); /* until SIGINT or SIGTERM */
  mu_tcp_server_free(server);
  mu_event_loop_free(loop);
  example_finish(); /* flushes the log */
  return 0;
}
