/* One 256 MiB stream through the echo server, byte-exact: a sender thread
 * writes a position-keyed pattern in random chunks while the main thread reads
 * the echo and checks every byte at its offset. Checksums (FNV-1a) are taken
 * at three points and must agree: what the client sent, what the server's
 * message callback saw (client -> server), what came back (server -> client).
 * The client then half-closes and the server must close with nothing extra. */
#include <pthread.h>

#include "tcp_test_util.h"

/* 256 MiB in every build; the time limit is generous for TSan's slow copies. */
#define TOTAL_BYTES (256ull * 1024 * 1024)
#define MAX_CHUNK (512 * 1024)

typedef struct server_side {
  tt_conn_counters_t counters;
  uint64_t fnv; /* over every byte the server received; its loop thread only */
  uint64_t bytes;
} server_side_t;

static void on_message(mu_tcp_connection_t *conn, mu_buffer_t *buf, mu_timestamp_t t,
                       void *arg) {
  (void)t;
  server_side_t *ss = arg;
  ss->fnv = tt_fnv1a64(ss->fnv, mu_buffer_peek(buf), mu_buffer_readable_bytes(buf));
  ss->bytes += mu_buffer_readable_bytes(buf);
  mu_tcp_connection_send_buffer(conn, buf);
}

static void setup(mu_tcp_server_t *server, void *arg) {
  server_side_t *ss = arg;
  mu_tcp_server_set_connection_callback(server, tt_count_connection, &ss->counters);
  mu_tcp_server_set_message_callback(server, on_message, ss);
}

typedef struct sender {
  int fd;
  uint64_t stream;
  uint64_t seed;
  uint64_t fnv;
} sender_t;

static void *send_all(void *arg) {
  sender_t *s = arg;
  tt_rng_t rng = tt_rng_make(s->seed);
  char *buf = malloc(MAX_CHUNK);
  CHECK(buf != NULL);
  s->fnv = TT_FNV_INIT;
  for (uint64_t off = 0; off < TOTAL_BYTES;) {
    size_t n = tt_rng_log_size(&rng, 1, MAX_CHUNK);
    if (n > TOTAL_BYTES - off)
      n = (size_t)(TOTAL_BYTES - off);
    tt_pattern_fill(s->stream, off, buf, n);
    s->fnv = tt_fnv1a64(s->fnv, buf, n);
    tt_write_all(s->fd, buf, n);
    off += n;
  }
  /* Half-close: the server echoes the rest, then closes its side. */
  CHECK(shutdown(s->fd, SHUT_WR) == 0);
  free(buf);
  return NULL;
}

/* Reads the echo until end of file; returns its checksum. */
static uint64_t receive_all(int fd, uint64_t stream) {
  enum { k_buf = 256 * 1024 };
  char *buf = malloc(k_buf);
  CHECK(buf != NULL);
  uint64_t fnv = TT_FNV_INIT, off = 0, next_report = 64ull << 20;
  for (;;) {
    ssize_t n = tt_read_some(fd, buf, k_buf);
    if (n < 0) {
      fprintf(stderr, "read after %" PRIu64 " bytes: %s\n", off, strerror((int)-n));
      abort();
    }
    if (n == 0)
      break;
    if (off + (uint64_t)n > TOTAL_BYTES) {
      fprintf(stderr, "echo longer than the %llu bytes sent\n", TOTAL_BYTES);
      abort();
    }
    size_t bad = tt_pattern_check(stream, off, buf, (size_t)n);
    if (bad != (size_t)n) {
      fprintf(stderr, "echo differs at offset %" PRIu64 "\n", off + bad);
      abort();
    }
    fnv = tt_fnv1a64(fnv, buf, (size_t)n);
    off += (uint64_t)n;
    if (off >= next_report) {
      printf("  %" PRIu64 " MiB back\n", off >> 20);
      next_report += 64ull << 20;
    }
  }
  CHECK_EQ(off, TOTAL_BYTES);
  free(buf);
  return fnv;
}

int main(void) {
  tt_init("tcp_big_transfer", 280);
  uint64_t seed = tt_seed(0xb16b00);
  server_side_t ss = {.fnv = TT_FNV_INIT};
  tt_server_t srv;
  tt_server_start(&srv, "BigTransfer", 1, setup, &ss);
  sender_t snd = {.fd = tt_connect(srv.port), .stream = tt_mix64(seed), .seed = seed};
  double start = tt_now();
  pthread_t th;
  CHECK(pthread_create(&th, NULL, send_all, &snd) == 0);
  uint64_t back = receive_all(snd.fd, snd.stream);
  CHECK(pthread_join(th, NULL) == 0);
  double secs = tt_now() - start;
  CHECK(close(snd.fd) == 0);
  CHECK_EQ(tt_server_wait_connections(&srv, 0, 30), 0);
  tt_server_stop(&srv); /* joins the I/O thread: ss is ours to read now */
  printf("  %llu MiB each way in %.2f s; fnv sent %016" PRIx64 " server %016" PRIx64
         " back %016" PRIx64 "\n",
         TOTAL_BYTES >> 20, secs, snd.fnv, ss.fnv, back);
  CHECK_EQ(ss.bytes, TOTAL_BYTES);
  CHECK(ss.fnv == snd.fnv);
  CHECK(back == snd.fnv);
  CHECK_EQ(atomic_load(&ss.counters.up), 1);
  CHECK_EQ(atomic_load(&ss.counters.down), 1);
  TEST_PASS("tcp_big_transfer");
}
