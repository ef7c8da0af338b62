/* muduo's chat server: every message (length-header framed) is broadcast to
 * every connection. Works with I/O threads: the connection list is shared under
 * a mutex and sends cross threads safely.
 *   ./build/bin/chat_server [-p 9981] [-t N] [-a ADDR] */
#include <pthread.h>
#include <stdlib.h>

#include "../common/example_args.h"
#include "../common/example_main.h"
#include "../common/length_codec.h"
#include "cmuduo/cmuduo.h"

typedef struct chat {
  pthread_mutex_t mutex;
  mu_tcp_connection_t **conns; /* each holds a reference */
  size_t n, cap;
} chat_t;

static void add_connection(chat_t *c, mu_tcp_connection_t *conn) {
  pthread_mutex_lock(&c->mutex);
  if (c->n == c->cap) {
    size_t cap = c->cap ? c->cap * 2 : 16;
    mu_tcp_connection_t **p = realloc(c->conns, cap * sizeof *p);
    if (p == NULL) {
      pthread_mutex_unlock(&c->mutex);
      mu_tcp_connection_force_close(conn);
      return;
    }
    c->conns = p;
    c->cap = cap;
  }
  mu_tcp_connection_ref(conn);
  c->conns[c->n++] = conn;
  pthread_mutex_unlock(&c->mutex);
}

static void remove_connection(chat_t *c, mu_tcp_connection_t *conn) {
  pthread_mutex_lock(&c->mutex);
  for (size_t i = 0; i < c->n; ++i) {
    if (c->conns[i] == conn) {
      c->conns[i] = c->conns[--c->n];
      mu_tcp_connection_unref(conn);
      break;
    }
  }
  pthread_mutex_unlock(&c->mutex);
}

static void on_connection(mu_tcp_connection_t *conn, void *arg) {
  chat_t *c = arg;
  char peer[MU_INET_ADDRSTRLEN];
  mu_inet_address_to_ip_port(mu_tcp_connection_peer_address(conn), peer, sizeof peer);
  bool up = mu_tcp_connection_connected(conn);
  MU_LOG_INFO("%s -> %s is %s", peer, mu_tcp_connection_name(conn), up ? "UP" : "DOWN");
  if (up) {
    add_connection(c, conn);
  } else {
    remove_connection(c, conn);
  }
}

/* Sends `frame` to every connection; sending is thread-safe, the list is not. */
static void broadcast(chat_t *c, const mu_buffer_t *frame) {
  pthread_mutex_lock(&c->mutex);
  for (size_t i = 0; i < c->n; ++i) {
    mu_tcp_connection_send(c->conns[i], mu_buffer_peek(frame),
                           mu_buffer_readable_bytes(frame));
  }
  pthread_mutex_unlock(&c->mutex);
}

static void on_message(mu_tcp_connection_t *conn, mu_buffer_t *buf, mu_timestamp_t when,
                       void *arg) {
  (void)when;
  const char *msg;
  size_t len;
  length_codec_result_t r;
  while ((r = length_codec_decode(buf, &msg, &len)) == LENGTH_CODEC_MESSAGE) {
    mu_buffer_t frame = MU_BUFFER_INIT;
    if (length_codec_encode(&frame, msg, len) == 0)
      broadcast(arg, &frame);
    mu_buffer_destroy(&frame);
    length_codec_consume(buf, len);
  }
  if (r == LENGTH_CODEC_INVALID) {
    MU_LOG_ERROR("%s: invalid length header; closing", mu_tcp_connection_name(conn));
    mu_tcp_connection_shutdown(conn);
    mu_buffer_retrieve_all(buf);
  }
}

int main(int argc, char **argv) {
  example_args_t args = example_parse_args(argc, argv, 9981, "chat server");
  example_init(args.log_dir, "chat_server");
  chat_t chat = {.mutex = PTHREAD_MUTEX_INITIALIZER};
  mu_event_loop_t *loop = mu_event_loop_new();
  mu_inet_address_t addr = example_listen_address(&args);
  mu_tcp_server_t *server = mu_tcp_server_new(loop, &addr, "ChatServer", 0);
  if (server == NULL) {
    MU_LOG_SYSERR("cannot listen on port %d", args.port);
    return 1;
  }
  mu_tcp_server_set_thread_num(server, args.threads);
  mu_tcp_server_set_connection_callback(server, on_connection, &chat);
  mu_tcp_server_set_message_callback(server, on_message, &chat);
  mu_tcp_server_start(server);
  example_run(loop); /* until SIGINT or SIGTERM */
  mu_tcp_server_free(server);
  mu_event_loop_free(loop);
  example_finish(); /* flushes the log */
  free(chat.conns);
  return 0;
}
