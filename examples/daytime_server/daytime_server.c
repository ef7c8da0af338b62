/* RFC 867 daytime: send the local time as text, then close.
 *   ./build/bin/daytime_server [-p 2013] [-t N] [-a ADDR] */
#include <time.h>

#include "../common/example_args.h"
#include "../common/example_main.h"
#include "cmuduo/cmuduo.h"

static void on_connection(mu_tcp_connection_t *conn, void *arg) {
  (void)arg;
  if (!mu_tcp_connection_connected(conn))
    return;
  char text[64];
  time_t now = time(NULL);
  struct tm tm;
  localtime_r(&now, &tm);
  strftime(text, sizeof text, "%A, %B %d, %Y %H:%M:%S-%Z\n", &tm);
  mu_tcp_connection_send_str(conn, text);
  mu_tcp_connection_shutdown(conn);
}

int main(int argc, char **argv) {
  example_args_t args = example_parse_args(argc, argv, 2013, "daytime server (RFC 867)");
  example_init(args.log_dir, "daytime_server");
  mu_event_loop_t *loop = mu_event_loop_new();
  mu_inet_address_t addr = example_listen_address(&args);
  mu_tcp_server_t *server = mu_tcp_server_new(loop, &addr, "DaytimeServer", 0);
  if (server == NULL) {
    MU_LOG_SYSERR("cannot listen on port %d", args.port);
    return 1;
  }
  mu_tcp_server_set_thread_num(server, args.threads);
  mu_tcp_server_set_connection_callback(server, on_connection, NULL);
  mu_tcp_server_start(server);
  example_run(loop); /* until SIGINT or SIGTERM */
  mu_tcp_server_free(server);
  mu_event_loop_free(loop);
  example_finish(); /* flushes the log */
  return 0;
}
