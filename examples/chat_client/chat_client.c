/* muduo's chat client: lines typed on stdin go to the chat server, messages
 * from it are printed. Ends at EOF on stdin.
 *   ./build/bin/chat_client [-a 127.0.0.1] [-p 9981] */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/length_codec.h"
#include "cmuduo/cmuduo.h"

static void on_connection(mu_tcp_connection_t *conn, void *arg) {
  (void)arg;
  char peer[MU_INET_ADDRSTRLEN];
  mu_inet_address_to_ip_port(mu_tcp_connection_peer_address(conn), peer, sizeof peer);
  MU_LOG_INFO("connection to %s is %s", peer,
              mu_tcp_connection_connected(conn) ? "UP" : "DOWN");
}

static void on_message(mu_tcp_connection_t *conn, mu_buffer_t *buf, mu_timestamp_t when,
                       void *arg) {
  (void)when;
  (void)arg;
  const char *msg;
  size_t len;
  length_codec_result_t r;
  while ((r = length_codec_decode(buf, &msg, &len)) == LENGTH_CODEC_MESSAGE) {
    printf("<<< %.*s\n", (int)len, msg);
    fflush(stdout);
    length_codec_consume(buf, len);
  }
  if (r == LENGTH_CODEC_INVALID)
    mu_tcp_connection_force_close(conn);
}

static void free_client(void *arg) {
  mu_tcp_client_free(arg);
}

int main(int argc, char **argv) {
  const char *ip = "127.0.0.1";
  int port = 9981, c;
  while ((c = getopt(argc, argv, "a:p:h")) != -1) {
    if (c == 'a') {
      ip = optarg;
    } else if (c == 'p') {
      port = atoi(optarg);
    } else {
      fprintf(c == 'h' ? stdout : stderr, "usage: %s [-a IP] [-p PORT]\n", argv[0]);
      return c == 'h' ? 0 : 2;
    }
  }
  mu_inet_address_t addr;
  if (port <= 0 || port > 65535 ||
      mu_inet_address_from_ip_port(&addr, ip, (uint16_t)port)) {
    fprintf(stderr, "bad address %s:%d\n", ip, port);
    return 2;
  }
  mu_event_loop_thread_t *thread = mu_event_loop_thread_new(NULL, NULL, "chat-io");
  mu_event_loop_t *loop = thread ? mu_event_loop_thread_start_loop(thread) : NULL;
  mu_tcp_client_t *client = loop ? mu_tcp_client_new(loop, &addr, "ChatClient") : NULL;
  if (client == NULL)
    return 1;
  mu_tcp_client_set_connection_callback(client, on_connection, NULL);
  mu_tcp_client_set_message_callback(client, on_message, NULL);
  mu_tcp_client_connect(client);

  char line[LENGTH_CODEC_MAX_MESSAGE];
  while (fgets(line, sizeof line, stdin) != NULL) {
    size_t len = strcspn(line, "\n");
    mu_tcp_connection_t *conn = mu_tcp_client_connection_ref(client);
    if (conn == NULL) {
      fprintf(stderr, "not connected; message dropped\n");
      continue;
    }
    mu_buffer_t frame = MU_BUFFER_INIT;
    if (length_codec_encode(&frame, line, len) == 0)
      mu_tcp_connection_send_buffer(conn, &frame);
    mu_buffer_destroy(&frame);
    mu_tcp_connection_unref(conn);
  }
  mu_tcp_client_disconnect(client);
  mu_event_loop_run_in_loop(loop, free_client, client);
  mu_event_loop_thread_free(thread); /* runs the queued free before the loop exits */
  return 0;
}
