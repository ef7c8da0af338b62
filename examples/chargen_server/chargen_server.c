/* RFC 864 character generator: an endless stream of rotating printable lines,
 * paced by the write-complete callback so the output queue never grows.
 *   ./build/bin/chargen_server [-p 2019] [-t N] [-a ADDR] */
#include <stdio.h>
#include <string.h>

#include "../common/example_args.h"
#include "../common/example_main.h"
#include "cmuduo/cmuduo.h"

/* 95 lines of 72 characters + CRLF, each starting one character later. */
static char g_message[95 * 74];

static void build_message(void) {
  char *p = g_message;
  for (int line = 0; line < 95; ++line) {
    for (int i = 0; i < 72; ++i)
      *p++ = (char)(33 + (line + i) % 94);
    *p++ = '\r';
    *p++ = '\n';
  }
}

static void on_connection(mu_tcp_connection_t *conn, void *arg) {
  (void)arg;
  if (!mu_tcp_connection_connected(conn))
    return;
  mu_tcp_connection_set_tcp_no_delay(conn, true);
  mu_tcp_connection_send(conn, g_message, sizeof g_message);
}

static void on_message(mu_tcp_connection_t *conn, mu_buffer_t *buf, mu_timestamp_t when,
                       void *arg) {
  (void)conn;
  (void)when;
  (void)arg;
  mu_buffer_retrieve_all(buf); /* input is ignored */
}

static void on_write_complete(mu_tcp_connection_t *conn, void *arg) {
  (void)arg;
  mu_tcp_connection_send(conn, g_message, sizeof g_message);
}

int main(int argc, char **argv) {
  example_args_t args = example_parse_args(argc, argv, 2019, "chargen server (RFC 864)");
  example_init(args.log_dir, "chargen_server");
  build_message();
  mu_event_loop_t *loop = mu_event_loop_new();
  mu_inet_address_t addr = example_listen_address(&args);
  mu_tcp_server_t *server = mu_tcp_server_new(loop, &addr, "ChargenServer", 0);
  if (server == NULL) {
    MU_LOG_SYSERR("cannot listen on port %d", args.port);
    return 1;
  }
  mu_tcp_server_set_thread_num(server, args.threads);
  mu_tcp_server_set_connection_callback(server, on_connection, NULL);
  mu_tcp_server_set_message_callback(server, on_message, NULL);
  mu_tcp_server_set_write_complete_callback(server, on_write_complete, NULL);
  mu_tcp_server_start(server);
  example_run(loop); /* until SIGINT or SIGTERM */
  mu_tcp_server_free(server);
  mu_event_loop_free(loop);
  example_finish(); /* flushes the log */
  return 0;
}
