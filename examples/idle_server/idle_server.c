/* muduo's idleconnection example: an echo server that closes connections idle
 * for N seconds, with a timing wheel (one bucket per second; a message puts the
 * connection's entry into the newest bucket; when the last bucket holding an
 * entry expires, the connection is shut down). O(1) per message and per tick.
 * With I/O threads each loop has its own wheel.
 *   ./build/bin/idle_server [-p 2007] [-t N] [-i IDLE_SECONDS (default 8)] [-a ADDR]
 *                           [--log-dir DIR] */
#include <getopt.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "../common/example_main.h"
#include "cmuduo/cmuduo.h"

/* One per connection; freed when no bucket holds it any more. */
typedef struct entry {
  int refs;                  /* buckets holding it; loop thread only */
  mu_tcp_connection_t *conn; /* with a reference */
} entry_t;

typedef struct bucket {
  entry_t **items;
  size_t n, cap;
} bucket_t;

typedef struct wheel {
  mu_event_loop_t *loop;
  bucket_t *buckets;
  int nbuckets;
  int tail; /* the newest bucket */
} wheel_t;

#define MAX_WHEELS 1025
static wheel_t g_wheels[MAX_WHEELS]; /* one per loop, filled at start-up */
static _Atomic int g_nwheels;
static int g_idle_seconds = 8;

static wheel_t *wheel_of(mu_event_loop_t *loop) {
  int n = atomic_load(&g_nwheels);
  for (int i = 0; i < n; ++i) {
    if (g_wheels[i].loop == loop)
      return &g_wheels[i];
  }
  return NULL;
}

static void entry_unref(entry_t *e) {
  if (--e->refs > 0)
    return;
  if (mu_tcp_connection_get_context(e->conn) == e) {
    mu_tcp_connection_set_context(e->conn, NULL, NULL);
  }
  if (mu_tcp_connection_connected(e->conn)) {
    MU_LOG_INFO("%s idle for %d s; closing", mu_tcp_connection_name(e->conn),
                g_idle_seconds);
    mu_tcp_connection_shutdown(e->conn);
  }
  mu_tcp_connection_unref(e->conn);
  free(e);
}

static void bucket_clear(bucket_t *b) {
  for (size_t i = 0; i < b->n; ++i)
    entry_unref(b->items[i]);
  b->n = 0;
}

static void wheel_touch(wheel_t *w, entry_t *e) {
  bucket_t *b = &w->buckets[w->tail];
  if (b->n > 0 && b->items[b->n - 1] == e)
    return; /* already in the newest bucket */
  if (b->n == b->cap) {
    size_t cap = b->cap ? b->cap * 2 : 16;
    entry_t **p = realloc(b->items, cap * sizeof *p);
    if (p == NULL)
      return; /* the entry just expires earlier */
    b->items = p;
    b->cap = cap;
  }
  e->refs++;
  b->items[b->n++] = e;
}

static void on_tick(void *arg) {
  wheel_t *w = arg;
  w->tail = (w->tail + 1) % w->nbuckets;
  bucket_clear(&w->buckets[w->tail]); /* the oldest bucket becomes the newest */
}

static void init_wheel(mu_event_loop_t *loop, void *arg) {
  (void)arg;
  int i = atomic_fetch_add(&g_nwheels, 1);
  if (i >= MAX_WHEELS)
    abort();
  wheel_t *w = &g_wheels[i];
  w->loop = loop;
  w->nbuckets = g_idle_seconds + 1; /* idle time in (N, N+1] s, never less than N */
  w->buckets = calloc((size_t)w->nbuckets, sizeof *w->buckets);
  if (w->buckets == NULL)
    abort();
  mu_event_loop_run_every(loop, 1.0, on_tick, w);
}

static void on_connection(mu_tcp_connection_t *conn, void *arg) {
  (void)arg;
  if (!mu_tcp_connection_connected(conn))
    return; /* its entry expires by itself */
  entry_t *e = calloc(1, sizeof *e);
  if (e == NULL) {
    mu_tcp_connection_force_close(conn);
    return;
  }
  mu_tcp_connection_ref(conn);
  e->conn = conn;
  mu_tcp_connection_set_context(conn, e, NULL);
  wheel_touch(wheel_of(mu_tcp_connection_get_loop(conn)), e);
}

static void on_message(mu_tcp_connection_t *conn, mu_buffer_t *buf, mu_timestamp_t when,
                       void *arg) {
  (void)when;
  (void)arg;
  entry_t *e = mu_tcp_connection_get_context(conn);
  if (e != NULL)
    wheel_touch(wheel_of(mu_tcp_connection_get_loop(conn)), e);
  mu_tcp_connection_send_buffer(conn, buf);
}

int main(int argc, char **argv) {
  int port = 2007, threads = 0, c;
  const char *log_dir = example_take_log_dir(&argc, argv);
  const char *ip = NULL; /* -a; NULL: 0.0.0.0 */
  while ((c = getopt(argc, argv, "p:t:i:a:h")) != -1) {
    int v = optarg ? atoi(optarg) : 0;
    if (c == 'p' && v > 0 && v < 65536) {
      port = v;
    } else if (c == 't' && v >= 0 && v < MAX_WHEELS - 1) {
      threads = v;
    } else if (c == 'i' && v > 0 && v <= 3600) {
      g_idle_seconds = v;
    } else if (c == 'a' && example_addr_ok(argv[0], optarg)) {
      ip = optarg;
    } else {
      fprintf(c == 'h' ? stdout : stderr,
              "usage: %s [-p PORT] [-t IO_THREADS] [-i IDLE_SECONDS] [-a ADDR]"
              " [--log-dir DIR]\n",
              argv[0]);
      return c == 'h' ? 0 : 2;
    }
  }
  example_init(log_dir, "idle_server");
  mu_event_loop_t *loop = mu_event_loop_new();
  mu_inet_address_t addr = example_address(ip, port);
  mu_tcp_server_t *server = mu_tcp_server_new(loop, &addr, "IdleServer", 0);
  if (server == NULL) {
    MU_LOG_SYSERR("cannot listen on port %d", port);
    return 1;
  }
  mu_tcp_server_set_thread_num(server, threads);
  mu_tcp_server_set_thread_init_callback(server, init_wheel, NULL);
  mu_tcp_server_set_connection_callback(server, on_connection, NULL);
  mu_tcp_server_set_message_callback(server, on_message, NULL);
  mu_tcp_server_start(server);
  example_run(loop); /* until SIGINT or SIGTERM */
  mu_tcp_server_free(server);
  mu_event_loop_free(loop);
  example_finish(); /* flushes the log */
  return 0;
}
