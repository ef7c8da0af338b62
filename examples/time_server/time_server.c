/* RFC 868 time: send the seconds since 1900 as a 32-bit big-endian number, then
 * close.  ./build/bin/time_server [-p 2037] [-t N] [-a ADDR] */
#include <time.h>

#include "../common/example_args.h"
#include "../common/example_main.h"
#include "cmuduo/cmuduo.h"

/* Seconds from 1900-01-01 to the Unix epoch. */
#define RFC868_EPOCH_OFFSET 2208988800u

static void on_connection(mu_tcp_connection_t *conn, void *arg) {
  (void)arg;
  if (!mu_tcp_connection_connected(conn))
    return;
  mu_buffer_t buf = MU_BUFFER_INIT;
  uint32_t t =
      (uint32_t)time(NULL) + RFC868_EPOCH_OFFSET; /* wraps in 2036, as RFC 868 does */
  if (mu_buffer_append_int32(&buf, (int32_t)t) == 0)
    mu_tcp_connection_send_buffer(conn, &buf);
  mu_buffer_destroy(&buf);
  mu_tcp_connection_shutdown(conn);
}

int main(int argc, char **argv) {
  example_args_t args = example_parse_args(argc, argv, 2037, "time server (RFC 868)");
  example_init(args.log_dir, "time_server");
  mu_event_loop_t *loop = mu_event_loop_new();
  mu_inet_address_t addr = example_listen_address(&args);
  mu_tcp_server_t *server = mu_tcp_server_new(loop, &addr, "TimeServer", 0);
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
