/* muduo's pingpong client: S sessions each send a B-byte block and echo back
 * whatever they receive, for D seconds; then print the throughput.
 *
 *   ./build/bin/pingpong_client [-a 127.0.0.1] [-p 33333] [-t THREADS]
 *                               [-b BLOCK] [-s SESSIONS] [-d SECONDS]
 */
#include <getopt.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmuduo/cmuduo.h"

typedef struct options {
  const char *ip;
  int port, threads, block, sessions;
  double seconds;
} options_t;

typedef struct session {
  mu_tcp_client_t *client;
  uint64_t bytes_read;
  uint64_t messages_read;
} session_t;

typedef struct pingpong {
  options_t opt;
  mu_event_loop_t *main_loop;
  mu_event_loop_thread_pool_t *pool;
  session_t *sessions;
  char *block;
  _Atomic int connected;
  _Atomic int down;
  mu_timestamp_t start;
  mu_countdown_latch_t freed;
} pingpong_t;

static pingpong_t g_pp; /* the program's one instance, shared with callbacks via arg */

static void usage(const char *prog, int code) {
  fprintf(
      code ? stderr : stdout,
      "usage: %s [-a IP] [-p PORT] [-t THREADS] [-b BLOCK] [-s SESSIONS] [-d SECONDS]\n",
      prog);
  exit(code);
}

static long parse_long(const char *s, long lo, long hi, const char *prog) {
  char *end;
  long v = strtol(s, &end, 10);
  if (*s == '\0' || *end != '\0' || v < lo || v > hi)
    usage(prog, 2);
  return v;
}

static options_t parse(int argc, char **argv) {
  options_t o = {"127.0.0.1", 33333, 0, 16384, 1, 10};
  int c;
  while ((c = getopt(argc, argv, "a:p:t:b:s:d:h")) != -1) {
    switch (c) {
      case 'a':
        o.ip = optarg;
        break;
      case 'p':
        o.port = (int)parse_long(optarg, 1, 65535, argv[0]);
        break;
      case 't':
        o.threads = (int)parse_long(optarg, 0, 1024, argv[0]);
        break;
      case 'b':
        o.block = (int)parse_long(optarg, 1, 64 << 20, argv[0]);
        break;
      case 's':
        o.sessions = (int)parse_long(optarg, 1, 100000, argv[0]);
        break;
      case 'd':
        o.seconds = (double)parse_long(optarg, 1, 86400, argv[0]);
        break;
      case 'h':
        usage(argv[0], 0);
        break;
      default:
        usage(argv[0], 2);
    }
  }
  return o;
}

static void report(void *arg) {
  pingpong_t *pp = arg;
  double elapsed = mu_timestamp_diff_seconds(mu_timestamp_mono_now(), pp->start);
  uint64_t bytes = 0, messages = 0;
  for (int i = 0; i < pp->opt.sessions; ++i) {
    bytes += pp->sessions[i].bytes_read;
    messages += pp->sessions[i].messages_read;
  }
  printf("pingpong_client: %d sessions, %d-byte blocks, %d threads, %.2f s\n",
         pp->opt.sessions, pp->opt.block, pp->opt.threads, elapsed);
  printf("total bytes read %llu, messages read %llu, average message %.1f bytes\n",
         (unsigned long long)bytes, (unsigned long long)messages,
         messages ? (double)bytes / (double)messages : 0.0);
  printf("throughput %.3f MiB/s\n", (double)bytes / elapsed / (1024.0 * 1024.0));
  fflush(stdout);
  mu_event_loop_quit(pp->main_loop);
}

static void on_connection(mu_tcp_connection_t *conn, void *arg) {
  pingpong_t *pp = &g_pp;
  (void)arg;
  if (mu_tcp_connection_connected(conn)) {
    mu_tcp_connection_set_tcp_no_delay(conn, true);
    mu_tcp_connection_send(conn, pp->block, (size_t)pp->opt.block);
    if (atomic_fetch_add(&pp->connected, 1) + 1 == pp->opt.sessions) {
      MU_LOG_INFO("all %d sessions connected", pp->opt.sessions);
    }
  } else if (atomic_fetch_add(&pp->down, 1) + 1 == pp->opt.sessions) {
    mu_event_loop_queue_in_loop(pp->main_loop, report, pp);
  }
}

static void on_message(mu_tcp_connection_t *conn, mu_buffer_t *buf, mu_timestamp_t when,
                       void *arg) {
  (void)when;
  session_t *s = arg;
  s->messages_read++;
  s->bytes_read += mu_buffer_readable_bytes(buf);
  mu_tcp_connection_send_buffer(conn, buf);
}

static void stop_all(void *arg) {
  pingpong_t *pp = arg;
  for (int i = 0; i < pp->opt.sessions; ++i)
    mu_tcp_client_disconnect(pp->sessions[i].client);
}

/* Each client is freed in its own loop thread. */
static void free_client(void *arg) {
  session_t *s = arg;
  mu_tcp_client_free(s->client);
  mu_countdown_latch_count_down(&g_pp.freed);
}

static int start_sessions(pingpong_t *pp, const mu_inet_address_t *addr) {
  for (int i = 0; i < pp->opt.sessions; ++i) {
    mu_event_loop_t *loop = mu_event_loop_thread_pool_get_next_loop(pp->pool);
    char name[32];
    snprintf(name, sizeof name, "C%05d", i);
    session_t *s = &pp->sessions[i];
    s->client = mu_tcp_client_new(loop, addr, name);
    if (s->client == NULL)
      return -1;
    /* The setters only store fields; the thread-safe connect() publishes them. */
    mu_tcp_client_set_connection_callback(s->client, on_connection, s);
    mu_tcp_client_set_message_callback(s->client, on_message, s);
    mu_tcp_client_connect(s->client);
  }
  return 0;
}

int main(int argc, char **argv) {
  pingpong_t *pp = &g_pp;
  pp->opt = parse(argc, argv);
  mu_inet_address_t addr;
  if (mu_inet_address_from_ip_port(&addr, pp->opt.ip, (uint16_t)pp->opt.port) != 0) {
    fprintf(stderr, "bad address %s\n", pp->opt.ip);
    return 2;
  }
  pp->block = malloc((size_t)pp->opt.block);
  pp->sessions = calloc((size_t)pp->opt.sessions, sizeof *pp->sessions);
  if (pp->block == NULL || pp->sessions == NULL)
    return 1;
  for (int i = 0; i < pp->opt.block; ++i)
    pp->block[i] = (char)(i % 128);
  pp->main_loop = mu_event_loop_new();
  pp->pool = mu_event_loop_thread_pool_new(pp->main_loop, "pingpong");
  mu_event_loop_thread_pool_set_thread_num(pp->pool, pp->opt.threads);
  if (mu_event_loop_thread_pool_start(pp->pool, NULL, NULL) != 0)
    return 1;
  pp->start = mu_timestamp_mono_now();
  if (start_sessions(pp, &addr) != 0)
    return 1;
  mu_event_loop_run_after(pp->main_loop, pp->opt.seconds, stop_all, pp);
  mu_event_loop_loop(pp->main_loop);

  mu_countdown_latch_init(&pp->freed, pp->opt.sessions);
  for (int i = 0; i < pp->opt.sessions; ++i) {
    session_t *s = &pp->sessions[i];
    mu_event_loop_run_in_loop(mu_tcp_client_get_loop(s->client), free_client, s);
  }
  if (pp->opt.threads > 0)
    mu_countdown_latch_wait(&pp->freed);
  mu_countdown_latch_destroy(&pp->freed);
  mu_event_loop_thread_pool_free(pp->pool);
  mu_event_loop_free(pp->main_loop);
  free(pp->sessions);
  free(pp->block);
  return 0;
}
