/* RFC 863 discard: read and throw away.
 *   ./build/bin/discard_server [-p 2009] [-t N] [-a ADDR] */
#include "../common/example_args.h"
#include "../common/example_main.h"
#include "cmuduo/cmuduo.h"

static void on_message(mu_tcp_connection_t *conn, mu_buffer_t *buf, mu_timestamp_t when,
                       void *arg) {
  (void)conn;
  (void)when;
  (void)arg;
  mu_buffer_retrieve_all(buf);
}

int main(int argc, char **argv) {
  example_args_t args = example_parse_args(argc, argv, 2009, "discard server (RFC 863)");
  example_init(args.log_dir, "discard_server");
  mu_event_loop_t *loop = mu_event_loop_new();
  mu_inet_address_t addr = example_listen_address(&args);
  mu_tcp_server_t *server = mu_tcp_server_new(loop, &addr, "DiscardServer", 0);
  if (server == NULL) {
    MU_LOG_SYSERR("cannot listen on port %d", args.port);
    return 1;
  }
  mu_tcp_server_set_thread_num(server, args.threads);
  mu_tcp_server_set_message_callback(server, on_message, NULL);
  mu_tcp_server_start(server);
  example_run(loop); /* until SIGINT or SIGTERM */
  mu_tcp_server_free(server);
  mu_event_loop_free(loop);
  example_finish(); /* flushes the log */
  return 0;
}
